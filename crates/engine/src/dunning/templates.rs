//! Reminder texts: French and English templates for every step of the
//! shipped scenarios (minijinja, embedded in the binary), with the invoice
//! table, totals, days overdue and, on penalty notices and formal notices, the
//! French late-payment penalties: interest at the tenant's rate (default ECB
//! main refinancing rate + 10 points) per day of delay, and the fixed 40 €
//! recovery indemnity per invoice (B2B only). Amounts are computed in integer
//! minor units with checked arithmetic (a total that would overflow is an
//! error for that reminder, never a wrapped number) and formatted per language.
//!
//! A tenant may override or add templates ([`Templates`]): the configuration
//! reads the files and hands their sources over as strings (this crate reads
//! no file), after [`check_source`] has compiled them and rendered them once
//! with sample facts.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use relance_domain::Language;
use relance_domain::money::{Currency, Money, MoneyError};

/// (language, template name, source): the subject line, `---`, then the body.
const TEMPLATES: &[(&str, &str, &str)] = &[
    ("fr", "pre_due", include_str!("templates/fr/pre_due.jinja")),
    ("fr", "courteous", include_str!("templates/fr/courteous.jinja")),
    ("fr", "invoice_copy", include_str!("templates/fr/invoice_copy.jinja")),
    ("fr", "proof_request", include_str!("templates/fr/proof_request.jinja")),
    ("fr", "firm", include_str!("templates/fr/firm.jinja")),
    ("fr", "call", include_str!("templates/fr/call.jinja")),
    ("fr", "penalties", include_str!("templates/fr/penalties.jinja")),
    ("fr", "formal_notice", include_str!("templates/fr/formal_notice.jinja")),
    ("fr", "handoff", include_str!("templates/fr/handoff.jinja")),
    ("fr", "promise_broken", include_str!("templates/fr/promise_broken.jinja")),
    ("fr", "pre_due_sms", include_str!("templates/fr/pre_due_sms.jinja")),
    ("fr", "reminder_sms", include_str!("templates/fr/reminder_sms.jinja")),
    ("fr", "reminder", include_str!("templates/fr/reminder.jinja")),
    ("fr", "final_letter", include_str!("templates/fr/final_letter.jinja")),
    ("fr", "promise_broken_sms", include_str!("templates/fr/promise_broken_sms.jinja")),
    ("en", "pre_due", include_str!("templates/en/pre_due.jinja")),
    ("en", "courteous", include_str!("templates/en/courteous.jinja")),
    ("en", "invoice_copy", include_str!("templates/en/invoice_copy.jinja")),
    ("en", "proof_request", include_str!("templates/en/proof_request.jinja")),
    ("en", "firm", include_str!("templates/en/firm.jinja")),
    ("en", "call", include_str!("templates/en/call.jinja")),
    ("en", "penalties", include_str!("templates/en/penalties.jinja")),
    ("en", "formal_notice", include_str!("templates/en/formal_notice.jinja")),
    ("en", "handoff", include_str!("templates/en/handoff.jinja")),
    ("en", "promise_broken", include_str!("templates/en/promise_broken.jinja")),
    ("en", "pre_due_sms", include_str!("templates/en/pre_due_sms.jinja")),
    ("en", "reminder_sms", include_str!("templates/en/reminder_sms.jinja")),
    ("en", "reminder", include_str!("templates/en/reminder.jinja")),
    ("en", "final_letter", include_str!("templates/en/final_letter.jinja")),
    ("en", "promise_broken_sms", include_str!("templates/en/promise_broken_sms.jinja")),
];

/// The languages templates are written in (every [`Language`]).
pub const LANGUAGES: [Language; 2] = [Language::Fr, Language::En];

/// Names of the built-in templates of a language.
pub fn builtin_names(lang: Language) -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().filter(move |(l, _, _)| *l == lang.as_str()).map(|(_, n, _)| *n)
}

fn builtin_source(lang: Language, name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(l, n, _)| *l == lang.as_str() && *n == name).map(|(_, _, s)| *s)
}

/// The template sources a tenant renders with: the built-in ones, and the
/// tenant's overrides (same name: replaces; new name: adds), by language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates {
    /// (language code, name) → source.
    overrides: BTreeMap<(&'static str, String), Arc<str>>,
}

impl Templates {
    /// Only the built-in templates.
    pub fn builtin() -> Templates {
        Templates::default()
    }

    /// Adds or replaces template `name` in `lang` (check it first with [`check_source`]).
    pub fn set(&mut self, lang: Language, name: &str, source: impl Into<Arc<str>>) {
        self.overrides.insert((lang.as_str(), name.to_string()), source.into());
    }

    /// The source of `name` in `lang`, an override first.
    pub fn source(&self, lang: Language, name: &str) -> Option<&str> {
        match self.overrides.get(&(lang.as_str(), name.to_string())) {
            Some(s) => Some(s),
            None => builtin_source(lang, name),
        }
    }

    pub fn has(&self, lang: Language, name: &str) -> bool {
        self.source(lang, name).is_some()
    }

    /// Whether `name` in `lang` is a tenant's override rather than built in.
    pub fn is_override(&self, lang: Language, name: &str) -> bool {
        self.overrides.contains_key(&(lang.as_str(), name.to_string()))
    }

    /// Renders template `name` for these facts (in the facts' language).
    pub fn render(&self, name: &str, facts: &ReminderFacts) -> Result<Rendered, TemplateError> {
        let lang = facts.language.as_str();
        let source =
            self.source(facts.language, name).ok_or_else(|| TemplateError::Missing { name: name.to_string(), lang })?;
        render_source(name, source, facts, minijinja::UndefinedBehavior::Lenient)
    }
}

/// A template that does not compile, or fails on sample facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TemplateProblem {
    /// 1-based line of the template where the problem is, when known.
    pub line: Option<usize>,
    pub message: String,
}

/// Compiles a template source and renders it once with sample facts in
/// `lang`, strictly (an undefined variable or unknown filter is an error), so
/// that a broken template is found when the configuration loads rather than
/// on the day a reminder needs it. The source must hold the subject line,
/// a `---` line, then the body.
pub fn check_source(name: &str, lang: Language, source: &str) -> Result<(), TemplateProblem> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(200_000));
    let problem = |e: &minijinja::Error| TemplateProblem {
        line: e.line(),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    env.add_template(name, source).map_err(|e| problem(&e))?;
    let text = source.replace("\r\n", "\n");
    if !text.lines().any(|l| l.trim_end() == "---") {
        return Err(TemplateProblem {
            line: None,
            message: "no `---` line: a template is the subject line, `---`, then the body".into(),
        });
    }
    let facts = sample_facts(lang);
    match render_source(name, source, &facts, minijinja::UndefinedBehavior::Strict) {
        Ok(_) => Ok(()),
        Err(TemplateError::Render { source, .. }) => Err(problem(&source)),
        Err(e) => Err(TemplateProblem { line: None, message: e.to_string() }),
    }
}

/// Facts used to try a template: two overdue invoices and a promise.
pub fn sample_facts(lang: Language) -> ReminderFacts {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
    ReminderFacts {
        company: "Démo Industries SAS".into(),
        customer_name: "Boulangerie Martin SARL".into(),
        language: lang,
        b2c: false,
        today: d(2026, 11, 23),
        invoices: vec![
            InvoiceFacts {
                number: "FA-2026-0001".into(),
                issue_date: Some(d(2026, 8, 20)),
                due_date: d(2026, 10, 4),
                open: Money::new(694_554, Currency::EUR),
            },
            InvoiceFacts {
                number: "FA-2026-0002".into(),
                issue_date: Some(d(2026, 9, 1)),
                due_date: d(2026, 10, 31),
                open: Money::new(110_702, Currency::EUR),
            },
        ],
        promised_date: Some(d(2026, 11, 20)),
        penalty_rate_bp: DEFAULT_PENALTY_RATE_BP,
        credit_notes: vec![CreditNoteFacts {
            number: "AV-2026-0001".into(),
            issue_date: Some(d(2026, 10, 2)),
            open: Money::new(-15_000, Currency::EUR),
        }],
    }
}

/// Templates that show the late-payment penalties.
const WITH_PENALTIES: &[&str] = &["penalties", "formal_notice"];

/// An invoice to mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFacts {
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub open: Money,
}

/// What a reminder is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderFacts {
    pub company: String,
    pub customer_name: String,
    pub language: Language,
    pub b2c: bool,
    pub today: NaiveDate,
    pub invoices: Vec<InvoiceFacts>,
    pub promised_date: Option<NaiveDate>,
    /// Late-payment interest rate in basis points (1215 = 12.15 %).
    pub penalty_rate_bp: i64,
    /// The customer's open credit notes (negative `open`): listed, and
    /// deducted in the net balance per currency.
    pub credit_notes: Vec<CreditNoteFacts>,
}

/// An open credit note to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteFacts {
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    /// Negative: what the customer is owed.
    pub open: Money,
}

/// ECB main refinancing rate (2.15 % since June 2025) + 10 points.
pub const DEFAULT_PENALTY_RATE_BP: i64 = DEFAULT_REFERENCE_RATE_BP + DEFAULT_LATE_INTEREST_MARGIN_BP;

/// The ECB's main refinancing rate assumed when a tenant configures none
/// (basis points).
pub const DEFAULT_REFERENCE_RATE_BP: i64 = 215;

/// The points French law adds to the reference rate (art. L. 441-10 of the
/// Code de commerce: ten points), in basis points.
pub const DEFAULT_LATE_INTEREST_MARGIN_BP: i64 = 1000;

/// How a tenant's late-payment interest rate is set: a contractual rate,
/// or the reference rate in force (the ECB rate of the half-year, as
/// configured: the latest `from` on or before the day) plus a margin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateInterest {
    /// A fixed contractual rate (basis points), which wins when set.
    pub contractual_bp: Option<i64>,
    /// Reference rates from a day on, in basis points.
    pub reference_bp: Vec<(NaiveDate, i64)>,
    /// Points added to the reference rate, in basis points.
    pub margin_bp: i64,
}

impl Default for LateInterest {
    fn default() -> Self {
        LateInterest { contractual_bp: None, reference_bp: Vec::new(), margin_bp: DEFAULT_LATE_INTEREST_MARGIN_BP }
    }
}

impl LateInterest {
    /// The yearly rate in force on `day`, in basis points.
    pub fn rate_bp(&self, day: NaiveDate) -> i64 {
        if let Some(fixed) = self.contractual_bp {
            return fixed;
        }
        let reference = self
            .reference_bp
            .iter()
            .filter(|(from, _)| *from <= day)
            .max_by_key(|(from, _)| *from)
            .map_or(DEFAULT_REFERENCE_RATE_BP, |(_, bp)| *bp);
        reference.saturating_add(self.margin_bp)
    }
}

/// A rendered reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no template `{name}` in {lang}")]
    Missing { name: String, lang: &'static str },
    #[error("template {lang}/{name}: {source}")]
    Render {
        name: String,
        lang: &'static str,
        #[source]
        source: minijinja::Error,
    },
    /// A total cannot be computed exactly (overflow, mixed currencies).
    #[error("template {name}: amounts cannot be totalled: {source}")]
    Amount {
        name: String,
        #[source]
        source: MoneyError,
    },
}

/// Money as people write it: `1 250,00 €` in French, `€1,250.00` in English.
pub fn format_money(m: Money, lang: Language) -> String {
    let text = m.to_decimal_string();
    let (int, frac) = text.split_once('.').map_or((text.as_str(), ""), |(a, b)| (a, b));
    let (neg, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let sep = if lang == Language::Fr { ' ' } else { ',' };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(sep);
        }
        grouped.push(ch);
    }
    let number = if frac.is_empty() {
        grouped
    } else {
        format!("{grouped}{}{frac}", if lang == Language::Fr { ',' } else { '.' })
    };
    match (lang, m.currency.code()) {
        (Language::Fr, "EUR") => format!("{neg}{number} €"),
        (Language::En, "EUR") => format!("{neg}€{number}"),
        (Language::En, "GBP") => format!("{neg}£{number}"),
        (Language::En, "USD") => format!("{neg}${number}"),
        (Language::Fr, code) => format!("{neg}{number} {code}"),
        (Language::En, code) => format!("{neg}{code} {number}"),
    }
}

fn format_date(d: NaiveDate, lang: Language) -> String {
    match lang {
        Language::Fr => d.format("%d/%m/%Y").to_string(),
        Language::En => d.format("%-d %B %Y").to_string(),
    }
}

/// Interest for `days` of delay on `open`, rounded half up to the minor unit
/// (computed in `i128`; a result beyond `i64` is an overflow error).
pub fn late_interest(open: Money, rate_bp: i64, days: i64) -> Result<Money, MoneyError> {
    if days <= 0 || open.minor <= 0 {
        return Ok(Money::zero(open.currency));
    }
    let overflow = || MoneyError::Overflow(format!("interest on {open} at {rate_bp} bp over {days} days"));
    let num = i128::from(open.minor)
        .checked_mul(i128::from(rate_bp))
        .and_then(|n| n.checked_mul(i128::from(days)))
        .ok_or_else(overflow)?;
    let den: i128 = 365 * 10_000;
    let minor = i64::try_from((num + den / 2) / den).map_err(|_| overflow())?;
    Ok(Money::new(minor, open.currency))
}

#[derive(Serialize)]
struct Line {
    number: String,
    issue_date: String,
    due_date: String,
    amount_open: String,
    days_overdue: i64,
}

#[derive(Serialize)]
struct PenaltyLine {
    number: String,
    days: i64,
    interest: String,
}

#[derive(Serialize)]
struct Penalties {
    rate: String,
    indemnity_per_invoice: Option<String>,
    lines: Vec<PenaltyLine>,
    total: String,
    grand_total: String,
}

/// Adds `m` to the running total of its currency in `sums` (a new entry
/// for a currency not seen yet): amounts of different currencies are never
/// added together.
fn add_per_currency(sums: &mut Vec<Money>, m: Money) -> Result<(), MoneyError> {
    match sums.iter_mut().find(|s| s.currency == m.currency) {
        Some(s) => *s = s.checked_add(m)?,
        None => sums.push(m),
    }
    Ok(())
}

/// Amounts of several currencies as one text: `1 000,00 € + 500,00 USD`
/// (nothing to add up across currencies); zero in euros when empty.
fn amounts_text(sums: &[Money], l: Language) -> String {
    if sums.is_empty() {
        return format_money(Money::zero(Currency::EUR), l);
    }
    sums.iter().map(|m| format_money(*m, l)).collect::<Vec<_>>().join(" + ")
}

/// Renders built-in template `name` for these facts.
pub fn render(name: &str, facts: &ReminderFacts) -> Result<Rendered, TemplateError> {
    Templates::builtin().render(name, facts)
}

fn render_source(
    name: &str,
    source: &str,
    facts: &ReminderFacts,
    undefined: minijinja::UndefinedBehavior,
) -> Result<Rendered, TemplateError> {
    let lang: &'static str = facts.language.as_str();
    let l = facts.language;
    let amount_err = |source| TemplateError::Amount { name: name.to_string(), source };
    // Amounts of several currencies are never added together: one total per
    // currency, in the order the invoices bring them.
    let mut totals: Vec<Money> = Vec::new();
    for i in &facts.invoices {
        add_per_currency(&mut totals, i.open).map_err(amount_err)?;
    }
    let lines: Vec<Line> = facts
        .invoices
        .iter()
        .map(|i| Line {
            number: i.number.clone(),
            issue_date: i.issue_date.map(|d| format_date(d, l)).unwrap_or_default(),
            due_date: format_date(i.due_date, l),
            amount_open: format_money(i.open, l),
            days_overdue: (facts.today - i.due_date).num_days().max(0),
        })
        .collect();
    let penalties = if WITH_PENALTIES.contains(&name) {
        let mut sums: Vec<Money> = Vec::new();
        let mut plines = Vec::new();
        let mut indemnity_shown = None;
        for i in &facts.invoices {
            let days = (facts.today - i.due_date).num_days();
            if days <= 0 {
                continue;
            }
            let interest = late_interest(i.open, facts.penalty_rate_bp, days).map_err(amount_err)?;
            add_per_currency(&mut sums, interest).map_err(amount_err)?;
            // The fixed indemnity is a B2B rule, in euros: on euro invoices only.
            if !facts.b2c && i.open.currency == Currency::EUR {
                let fixed = Money::new(4_000, Currency::EUR);
                add_per_currency(&mut sums, fixed).map_err(amount_err)?;
                indemnity_shown = Some(fixed);
            }
            plines.push(PenaltyLine { number: i.number.clone(), days, interest: format_money(interest, l) });
        }
        let mut grand = totals.clone();
        for m in &sums {
            add_per_currency(&mut grand, *m).map_err(amount_err)?;
        }
        let rate = relance_domain::money::format_minor(facts.penalty_rate_bp, 2);
        Some(Penalties {
            rate: if l == Language::Fr { format!("{} %", rate.replace('.', ",")) } else { format!("{rate} %") },
            indemnity_per_invoice: indemnity_shown.map(|m| format_money(m, l)),
            lines: plines,
            total: amounts_text(&sums, l),
            grand_total: amounts_text(&grand, l),
        })
    } else {
        None
    };
    // The net balance per currency: invoices less open credit notes.
    let mut net = totals.clone();
    for n in &facts.credit_notes {
        add_per_currency(&mut net, n.open).map_err(amount_err)?;
    }
    #[derive(Serialize)]
    struct CreditLine {
        number: String,
        issue_date: Option<String>,
        /// What the customer is owed, written as a positive amount.
        amount: String,
    }
    let credit_notes: Vec<CreditLine> = facts
        .credit_notes
        .iter()
        .map(|n| CreditLine {
            number: n.number.clone(),
            issue_date: n.issue_date.map(|d| format_date(d, l)),
            amount: format_money(Money::new(n.open.minor.checked_neg().unwrap_or(n.open.minor), n.open.currency), l),
        })
        .collect();
    #[derive(Serialize)]
    struct Context<'a> {
        company: &'a str,
        customer_name: &'a str,
        today: String,
        invoices: Vec<Line>,
        total: String,
        promised_date: Option<String>,
        penalties: Option<Penalties>,
        credit_notes: Vec<CreditLine>,
        net_total: String,
    }
    let ctx = minijinja::Value::from(minijinja::value::Serde(Context {
        company: &facts.company,
        customer_name: &facts.customer_name,
        today: format_date(facts.today, l),
        invoices: lines,
        total: amounts_text(&totals, l),
        promised_date: facts.promised_date.map(|d| format_date(d, l)),
        penalties,
        credit_notes,
        net_total: amounts_text(&net, l),
    }));
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(200_000));
    env.set_undefined_behavior(undefined);
    let err = |source| TemplateError::Render { name: name.to_string(), lang, source };
    let text = env.render_str(source, ctx).map_err(err)?;
    let (subject, body) = text.split_once("\n---\n").unwrap_or(("", text.as_str()));
    Ok(Rendered { subject: subject.trim().to_string(), body: body.trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(m: i64) -> Money {
        Money::new(m, Currency::EUR)
    }

    fn facts(lang: Language) -> ReminderFacts {
        sample_facts(lang)
    }

    #[test]
    fn money_is_written_per_language() {
        assert_eq!(format_money(eur(125_050), Language::Fr), "1 250,50 €");
        assert_eq!(format_money(eur(125_050), Language::En), "€1,250.50");
        assert_eq!(format_money(Money::new(1_234_567, Currency::parse("GBP").unwrap()), Language::En), "£12,345.67");
        assert_eq!(format_money(Money::new(1500, Currency::parse("JPY").unwrap()), Language::Fr), "1 500 JPY");
    }

    #[test]
    fn late_interest_is_exact() {
        // 6,945.54 € at 12.15 % for 50 days: 6945.54 × 0.1215 × 50 / 365 = 115.5978… → 115.60 €.
        assert_eq!(late_interest(eur(694_554), 1215, 50), Ok(eur(11_560)));
        assert_eq!(late_interest(eur(100), 1215, 0), Ok(eur(0)));
        assert!(matches!(late_interest(eur(i64::MAX), i64::MAX, i64::MAX), Err(MoneyError::Overflow(_))));
        assert!(matches!(late_interest(eur(i64::MAX), 1_000_000, 365), Err(MoneyError::Overflow(_))));
    }

    #[test]
    fn a_total_that_would_overflow_is_an_error_not_a_wrapped_amount() {
        // Issue #11: two invoices of 92233720368547758.07 GBP made the reminder say
        // `Total : 249,98 GBP` (the i64 sum wrapped). The total must be refused instead.
        let gbp = Currency::parse("GBP").unwrap();
        let mut f = facts(Language::Fr);
        for i in &mut f.invoices {
            i.open = Money::new(i64::MAX, gbp);
        }
        for name in ["courteous", "formal_notice"] {
            match render(name, &f) {
                Err(TemplateError::Amount { source: MoneyError::Overflow(_), .. }) => {}
                other => panic!("{name}: expected an overflow error, got {other:?}"),
            }
        }
        // Near the limit but representable: rendered exactly.
        for i in &mut f.invoices {
            i.open = Money::new(i64::MAX / 2, gbp);
        }
        let r = render("courteous", &f).unwrap();
        assert!(r.body.contains("92 233 720 368 547 758,06 GBP"), "{}", r.body);
    }

    #[test]
    fn amounts_of_several_currencies_are_never_added_together() {
        let usd = Currency::parse("USD").unwrap();
        let mut f = facts(Language::Fr);
        let eur_open = f.invoices[0].open;
        f.invoices[1].open = Money::new(50_000, usd);
        let r = render("courteous", &f).unwrap();
        let expected = format!("{} + 500,00 USD", format_money(eur_open, Language::Fr));
        assert!(r.body.contains(&expected), "{expected} in {}", r.body);
        let r = render("formal_notice", &f).unwrap();
        assert!(r.body.contains("USD"), "{}", r.body);
        // The 40 € indemnity applies to the euro invoice only: the euro
        // penalties are that invoice's interest plus 40,00 €.
        let late = (f.today - f.invoices[0].due_date).num_days();
        let interest = late_interest(eur_open, f.penalty_rate_bp, late).unwrap();
        let eur_penalties = interest.checked_add(Money::new(4_000, Currency::EUR)).unwrap();
        assert!(r.body.contains(&format_money(eur_penalties, Language::Fr)), "{}", r.body);
    }

    /// A statement of account that adds up: one total per currency, the open
    /// credit notes listed, the net balance per currency with them deducted.
    #[test]
    fn open_credit_notes_are_listed_and_deducted_per_currency() {
        let usd = Currency::parse("USD").unwrap();
        let mut f = facts(Language::Fr);
        f.invoices[1].open = Money::new(50_000, usd);
        f.credit_notes = vec![CreditNoteFacts {
            number: "AV-2026-0001".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 10, 2),
            open: Money::new(-15_000, Currency::EUR),
        }];
        for (lang, listed, net) in [
            (Language::Fr, "Avoir AV-2026-0001 du 02/10/2026 : 150,00 €", "6 795,54 € + 500,00 USD"),
            (Language::En, "Credit note AV-2026-0001 of 2 October 2026: €150.00", "€6,795.54 + $500.00"),
        ] {
            f.language = lang;
            for name in ["courteous", "reminder", "firm", "formal_notice", "final_letter"] {
                let r = render(name, &f).unwrap();
                assert!(r.body.contains(listed), "{name} {lang:?}: {listed} in {}", r.body);
                assert!(r.body.contains(net), "{name} {lang:?}: {net} in {}", r.body);
            }
        }
        // Without credit notes, nothing is said about them.
        f.credit_notes.clear();
        f.language = Language::Fr;
        let r = render("courteous", &f).unwrap();
        assert!(!r.body.contains("Avoir") && !r.body.contains("avoirs"), "{}", r.body);
    }

    #[test]
    fn the_late_interest_rate_is_the_reference_of_the_half_year_plus_the_margin() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let mut r = LateInterest::default();
        assert_eq!(r.rate_bp(day(3, 1)), 1215, "the built-in reference plus ten points");
        r.reference_bp = vec![(day(7, 1), 200), (day(1, 1), 240)];
        assert_eq!(r.rate_bp(day(6, 30)), 1240, "the first half-year's rate");
        assert_eq!(r.rate_bp(day(7, 1)), 1200, "the second's from its first day");
        r.margin_bp = 700;
        assert_eq!(r.rate_bp(day(12, 31)), 900);
        r.contractual_bp = Some(1500);
        assert_eq!(r.rate_bp(day(12, 31)), 1500, "a contractual rate wins");
    }

    #[test]
    fn every_step_of_the_shipped_scenarios_has_both_languages() {
        let names = [
            "pre_due",
            "courteous",
            "firm",
            "call",
            "penalties",
            "formal_notice",
            "handoff",
            "promise_broken",
            "pre_due_sms",
            "reminder_sms",
            "reminder",
            "final_letter",
            "promise_broken_sms",
            "invoice_copy",
            "proof_request",
        ];
        for lang in [Language::Fr, Language::En] {
            for n in names {
                let r = render(n, &facts(lang)).unwrap_or_else(|e| panic!("{e}"));
                assert!(!r.subject.is_empty() && !r.body.is_empty(), "{lang:?}/{n}");
                assert!(!r.body.contains("{{") && !r.body.contains("{%"), "{lang:?}/{n}: {}", r.body);
            }
        }
    }

    #[test]
    fn the_proof_request_asks_for_the_transfer_advice_in_both_languages() {
        let fr = render("proof_request", &facts(Language::Fr)).unwrap();
        assert_eq!(fr.subject, "Justificatif de paiement – Démo Industries SAS");
        assert!(
            fr.body.contains("Facture FA-2026-0001 du 20/08/2026") && fr.body.contains("justificatif"),
            "{}",
            fr.body
        );
        let en = render("proof_request", &facts(Language::En)).unwrap();
        assert_eq!(en.subject, "Proof of payment – Démo Industries SAS");
        assert!(en.body.contains("proof of payment (the transfer advice"), "{}", en.body);
    }

    #[test]
    fn the_formal_notice_states_the_penalties() {
        let r = render("formal_notice", &facts(Language::Fr)).unwrap();
        assert_eq!(r.subject, "Mise en demeure de payer – Démo Industries SAS");
        assert!(
            r.body
                .contains("Facture FA-2026-0001 du 20/08/2026, échéance 04/10/2026 : 6 945,54 € (50 jours de retard)"),
            "{}",
            r.body
        );
        assert!(r.body.contains("au taux de 12,15 % sur 50 jours : 115,60 €"), "{}", r.body);
        assert!(r.body.contains("indemnité forfaitaire pour frais de recouvrement : 40,00 €"), "{}", r.body);
        // 23 days on 1,107.02 € at 12.15 %: 8.48 €; penalties 115.60 + 8.48 + 2 × 40 = 204.08 €.
        assert!(r.body.contains("Pénalités au 23/11/2026 : 204,08 €"), "{}", r.body);
        assert!(r.body.contains("Montant total exigible : 8 256,64 €"), "{}", r.body);
        let mut consumer = facts(Language::En);
        consumer.b2c = true;
        let r = render("penalties", &consumer).unwrap();
        assert!(!r.body.contains("indemnity"), "no 40 € indemnity for consumers: {}", r.body);
        assert!(r.body.contains("late-payment interest at 12.15 % over 50 days: €115.60"), "{}", r.body);
    }

    #[test]
    fn an_unknown_template_is_an_error() {
        assert!(matches!(render("nope", &facts(Language::Fr)), Err(TemplateError::Missing { .. })));
    }

    #[test]
    fn an_override_replaces_or_adds_a_template_for_its_language_only() {
        let mut t = Templates::builtin();
        t.set(Language::Fr, "courteous", "Petit rappel {{ customer_name }}\n---\nTotal : {{ total }}");
        t.set(Language::En, "thanks", "Thanks\n---\nDear {{ customer_name }}");
        let r = t.render("courteous", &facts(Language::Fr)).unwrap();
        assert_eq!(r.subject, "Petit rappel Boulangerie Martin SARL");
        assert_eq!(r.body, "Total : 8 052,56 €");
        assert!(t.is_override(Language::Fr, "courteous"));
        // English keeps the built-in one.
        assert_eq!(
            t.render("courteous", &facts(Language::En)).unwrap(),
            render("courteous", &facts(Language::En)).unwrap()
        );
        assert!(t.has(Language::En, "thanks") && !t.has(Language::Fr, "thanks"));
        assert!(matches!(t.render("thanks", &facts(Language::Fr)), Err(TemplateError::Missing { .. })));
    }

    #[test]
    fn every_builtin_template_passes_the_load_check() {
        for lang in LANGUAGES {
            for name in builtin_names(lang) {
                let source = builtin_source(lang, name).unwrap();
                check_source(name, lang, source).unwrap_or_else(|e| panic!("{lang:?}/{name}: {e}"));
            }
        }
    }

    #[test]
    fn the_load_check_finds_syntax_errors_undefined_variables_and_unknown_filters() {
        let syntax = check_source("x", Language::Fr, "Sujet\n---\nBonjour\n{% for i in invoices %}\n{{ i.number }\n")
            .unwrap_err();
        assert_eq!(syntax.line, Some(5), "{syntax}");
        assert!(syntax.to_string().starts_with("line 5: syntax error"), "{syntax}");
        let undefined = check_source("x", Language::Fr, "Sujet\n---\nBonjour {{ custmer_name }}").unwrap_err();
        assert_eq!(undefined.line, Some(3), "{undefined}");
        assert!(undefined.message.contains("undefined"), "{undefined}");
        let filter = check_source("x", Language::En, "S\n---\n{{ total | shout }}").unwrap_err();
        assert!(filter.message.contains("unknown filter"), "{filter}");
        let no_subject = check_source("x", Language::En, "Just a body {{ total }}").unwrap_err();
        assert!(no_subject.message.contains("---"), "{no_subject}");
        assert_eq!(check_source("x", Language::En, "S {{ company }}\n---\n{{ total | upper }}"), Ok(()));
    }
}
