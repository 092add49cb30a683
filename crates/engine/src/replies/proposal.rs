//! The payment plan a customer proposes in a plan request, read from the new
//! text of the message (French and English). Pure: text and the message date
//! in, a [`PlanProposal`] out.
//!
//! Two shapes are read:
//!
//! * **parts**, one per clause (clauses are cut at `,` `;` `.`, line ends,
//!   `et`/`and`/`puis`/`then`): an amount (`500 €`, `$1,000`), a share
//!   (`la moitié`, `half`, `un tiers`) or the rest (`le solde`, `the rest`,
//!   `the balance`), and a date: `maintenant`/`now` is the message date,
//!   `fin du mois prochain`/`end of next month` the last day of the next
//!   month, `01/15` (mm/dd in English, dd/mm in French) its next occurrence,
//!   and any date [`super::dates`] reads (resolved like promised dates, from
//!   the message date). Two parts at least make a proposal;
//! * **a count**: `3 mensualités de 400 €`, `en 3 fois`, `in 4 instalments`,
//!   `over 3 months`, `sur 6 mois`: that many monthly instalments, of the
//!   amount stated or else of an equal share of the open amount; their dates
//!   are monthly from a stated first date (`à partir du 15 janvier`,
//!   `starting on 15 January`), else left empty.
//!
//! Whatever is not stated is left empty ([`ProposedAmount::Unknown`], no
//! date) for the person who accepts the plan to fill. Shares and the rest are
//! amounts of the open amount of the invoices the plan covers, which only
//! the store knows: [`resolve`] turns them into exact amounts when the draft
//! plan is recorded.

use std::sync::LazyLock;

use chrono::{Datelike, Duration, Months, NaiveDate};
use regex::Regex;
use serde::{Deserialize, Serialize};

use relance_domain::Language;
use relance_domain::money::{Currency, Money};

/// The longest plan read from a message (more instalments are left to a person).
pub const MAX_INSTALMENTS: u32 = 36;

/// A payment plan as the customer proposes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanProposal {
    /// In the order they were written (or monthly for a count).
    pub instalments: Vec<ProposedInstalment>,
    /// The phrases the proposal was read from, for the person who decides.
    pub phrases: Vec<String>,
}

/// One instalment as proposed: what was stated of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedInstalment {
    /// When it is to be paid; `None` when not stated.
    pub due: Option<NaiveDate>,
    pub amount: ProposedAmount,
}

/// How much an instalment is, as stated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposedAmount {
    /// An amount with its currency (`500 €`).
    Exact { money: Money },
    /// A share of the open amount (`la moitié`: 1/2; `over 3 months`: 1/3 each).
    Share { numerator: u32, denominator: u32 },
    /// What remains of the open amount after the other instalments.
    Rest,
    /// Not stated.
    Unknown,
}

/// An instalment of a proposal with the open amount applied: exact amounts
/// where they could be computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedInstalment {
    pub due: Option<NaiveDate>,
    pub amount: Option<Money>,
}

static CLAUSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:,\s|;|\.\s|\n|\bet\b|\band\b|\bpuis\b|\bthen\b)").unwrap());
static REST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(le solde|le reste|le restant|l'autre moitie|solde restant|the rest|the remainder|the balance|the other half|the remaining)\b").unwrap()
});
static SHARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(la moitie|une moitie|moitie|half|(?:un|one|a) (?:tiers|third)|(?:un|one|a) (?:quart|quarter))\b")
        .unwrap()
});
static NOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(maintenant|immediatement|tout de suite|des a present|des aujourd'hui|aujourd'hui|ce jour|now|right away|immediately|today)\b").unwrap()
});
static END_NEXT_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(fin du mois prochain|fin de mois prochain|fin le mois prochain|end of next month)\b").unwrap()
});
static SHORT_DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{1,2})/(\d{1,2})\b").unwrap());
const NUMBER: &str = r"(\d{1,2}|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|two|three|four|five|six|seven|eight|nine|ten|twelve)";
static COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b{NUMBER}\s+(mensualites?|versements?|paiements?|echeances?|fois|traites?|monthly (?:instal\w*|payments?)|instal\w*|payments?)\b"
    ))
    .unwrap()
});
static OVER_MONTHS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(?:sur|over|across)\s+(?:les\s+|the\s+next\s+|the\s+|a\s+period\s+of\s+)?{NUMBER}\s+(?:prochains\s+)?(?:mois|months)\b"
    ))
    .unwrap()
});
static START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(a partir du|a partir de|a compter du|des le|la premiere|le premier versement|starting|beginning|from|the first)\b").unwrap()
});
static PER_AMOUNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(?:de|d'|of|at)\s*").unwrap());

/// A count of instalments ("3", "trois", "three"): the date reader's numbers,
/// without the articles it reads as one ("a", "un").
fn count(word: &str) -> Option<u32> {
    let n = super::dates::number(word)?;
    if n < 2 && word.parse::<u32>().is_err() {
        return None;
    }
    u32::try_from(n).ok()
}

/// The exact amount stated in `text`, if any.
fn stated_amount(text: &str) -> Option<Money> {
    let (decimal, code) = super::amount(text)?;
    let currency = Currency::parse(&code?).ok()?;
    Money::parse_canonical(&decimal, currency).ok().filter(|m| m.minor > 0)
}

fn last_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?;
    first.checked_add_months(Months::new(1)).map(|n| n - Duration::days(1))
}

/// The date a clause states for its instalment (see the module doc).
fn clause_date(clause: &str, base: NaiveDate, lang: Language) -> Option<NaiveDate> {
    if END_NEXT_MONTH.is_match(clause) {
        return base.checked_add_months(Months::new(1)).and_then(last_of_month);
    }
    if NOW.is_match(clause) {
        return Some(base);
    }
    if let Some(c) = SHORT_DATE.captures(clause) {
        let end = c.get(0).map_or(0, |m| m.end());
        let after = &clause.as_bytes()[end..];
        // Not part of a full date (`01/15/2027`, `15.01.2027`).
        if !(after.len() > 1 && matches!(after[0], b'/' | b'.') && after[1].is_ascii_digit()) {
            let (a, b): (u32, u32) = (c[1].parse().ok()?, c[2].parse().ok()?);
            let (day, month) = if lang == Language::En { (b, a) } else { (a, b) };
            let this = NaiveDate::from_ymd_opt(base.year(), month, day)?;
            return if this >= base { Some(this) } else { NaiveDate::from_ymd_opt(base.year() + 1, month, day) };
        }
    }
    super::dates::find_dates(clause, base, lang).into_iter().map(|f| f.date).find(|d| *d >= base)
}

/// Reads the plan proposed in `new_text` (any case), with relative dates
/// read from `base` (the message date); `None` when no plan can be read.
pub fn extract(new_text: &str, base: NaiveDate, lang: Language) -> Option<PlanProposal> {
    let text = super::fold_lower(new_text);
    parts(&text, base, lang).or_else(|| counted(&text, base, lang))
}

fn parts(text: &str, base: NaiveDate, lang: Language) -> Option<PlanProposal> {
    let mut out = PlanProposal::default();
    for clause in CLAUSE.split(text) {
        let amount = if let Some(m) = stated_amount(clause) {
            ProposedAmount::Exact { money: m }
        } else if REST.is_match(clause) {
            ProposedAmount::Rest
        } else if let Some(m) = SHARE.find(clause) {
            let denominator = match m.as_str() {
                s if s.contains("tiers") || s.contains("third") => 3,
                s if s.contains("quart") => 4,
                _ => 2,
            };
            ProposedAmount::Share { numerator: 1, denominator }
        } else {
            continue;
        };
        out.instalments.push(ProposedInstalment { due: clause_date(clause, base, lang), amount });
        out.phrases.push(clause.trim().to_string());
    }
    // A rest is the last instalment, and there is one at most.
    let rests = out.instalments.iter().filter(|i| i.amount == ProposedAmount::Rest).count();
    let rest_last = out.instalments.last().is_some_and(|i| i.amount == ProposedAmount::Rest);
    let ok = out.instalments.len() >= 2
        && out.instalments.len() <= MAX_INSTALMENTS as usize
        && (rests == 0 || (rests == 1 && rest_last));
    ok.then_some(out)
}

/// The first `chars` characters of `text` (cut on a character boundary).
fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).map_or(text, |(i, _)| &text[..i])
}

fn counted(text: &str, base: NaiveDate, lang: Language) -> Option<PlanProposal> {
    let (n, per, phrase) = if let Some(c) = COUNT.captures(text) {
        let m = c.get(0)?;
        let after = &text[m.end()..];
        let per = PER_AMOUNT.find(after).and_then(|p| stated_amount(prefix(&after[p.end()..], 24)));
        (count(&c[1])?, per, m.as_str().to_string())
    } else {
        let c = OVER_MONTHS.captures(text)?;
        (count(&c[1])?, None, c.get(0)?.as_str().to_string())
    };
    if !(2..=MAX_INSTALMENTS).contains(&n) {
        return None;
    }
    let first = START.find(text).and_then(|s| clause_date(prefix(&text[s.end()..], 40), base, lang));
    let amount = match per {
        Some(money) => ProposedAmount::Exact { money },
        None => ProposedAmount::Share { numerator: 1, denominator: n },
    };
    let instalments = (0..n)
        .map(|k| ProposedInstalment {
            due: first.and_then(|f| f.checked_add_months(Months::new(k))),
            amount: amount.clone(),
        })
        .collect();
    Some(PlanProposal { instalments, phrases: vec![phrase] })
}

/// The proposal's amounts for an open amount `open` (the covered invoices'):
/// exact amounts in another currency are left empty; a share is its part of
/// `open` (rounded down; when every instalment is an equal share, the last
/// takes the cents left); the rest is what the others leave, when they are
/// all known and leave something.
pub fn resolve(proposal: &PlanProposal, open: Money) -> Vec<ResolvedInstalment> {
    let mut amounts: Vec<Option<i64>> = proposal
        .instalments
        .iter()
        .map(|i| match &i.amount {
            ProposedAmount::Exact { money } => (money.currency == open.currency).then_some(money.minor),
            ProposedAmount::Share { numerator, denominator } if *denominator > 0 => {
                i64::try_from(i128::from(open.minor) * i128::from(*numerator) / i128::from(*denominator)).ok()
            }
            ProposedAmount::Share { .. } | ProposedAmount::Rest | ProposedAmount::Unknown => None,
        })
        .collect();
    let rest = proposal.instalments.iter().position(|i| i.amount == ProposedAmount::Rest);
    let others: Option<i128> =
        amounts.iter().enumerate().filter(|(k, _)| Some(*k) != rest).map(|(_, a)| a.map(i128::from)).sum();
    if let (Some(r), Some(others)) = (rest, others) {
        let left = i128::from(open.minor) - others;
        amounts[r] = i64::try_from(left).ok().filter(|l| *l > 0);
    }
    let all_shares = proposal.instalments.iter().all(|i| matches!(i.amount, ProposedAmount::Share { .. }));
    if all_shares && let (Some(others), Some(Some(last))) = (others, amounts.last().copied()) {
        let left = i128::from(open.minor) - others;
        if left > 0 && left < proposal.instalments.len() as i128 {
            let n = amounts.len() - 1;
            amounts[n] = i64::try_from(i128::from(last) + left).ok();
        }
    }
    proposal
        .instalments
        .iter()
        .zip(amounts)
        .map(|(i, a)| ResolvedInstalment { due: i.due, amount: a.map(|m| Money::new(m, open.currency)) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }
    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }
    fn exact(minor: i64, c: Currency) -> ProposedAmount {
        ProposedAmount::Exact { money: Money::new(minor, c) }
    }
    fn shape(p: &PlanProposal) -> Vec<(Option<NaiveDate>, ProposedAmount)> {
        p.instalments.iter().map(|i| (i.due, i.amount.clone())).collect()
    }

    // Messages of Thursday 10 December 2026.
    const BASE: (i32, u32, u32) = (2026, 12, 10);
    fn base() -> NaiveDate {
        d(BASE.0, BASE.1, BASE.2)
    }

    #[test]
    fn an_amount_now_and_the_rest_on_a_date_in_french() {
        let p = extract(
            "Bonjour, nous pouvons vous verser 500 € maintenant et le solde le 15 janvier. Cordialement",
            base(),
            Language::Fr,
        )
        .unwrap();
        assert_eq!(
            shape(&p),
            vec![(Some(base()), exact(50_000, Currency::EUR)), (Some(d(2027, 1, 15)), ProposedAmount::Rest)]
        );
        let r = resolve(&p, eur(120_000));
        assert_eq!(r[1].amount, Some(eur(70_000)), "the rest of 1 200 € after 500 €");
    }

    #[test]
    fn dollars_now_and_the_rest_on_a_short_date_in_english() {
        let p = extract("We can send $1,000 now and the rest on 01/15.", base(), Language::En).unwrap();
        assert_eq!(
            shape(&p),
            vec![(Some(base()), exact(100_000, usd())), (Some(d(2027, 1, 15)), ProposedAmount::Rest)]
        );
        // In French, 01/02 is the first of February.
        let p = extract("1 000 € aujourd'hui puis le reste au 01/02", base(), Language::Fr).unwrap();
        assert_eq!(p.instalments[1].due, Some(d(2027, 2, 1)));
        // An amount in another currency than the invoices' is left for the person.
        let r = resolve(
            &extract("We can send $1,000 now and the rest on 01/15.", base(), Language::En).unwrap(),
            eur(250_000),
        );
        assert_eq!(r[0].amount, None);
        assert_eq!(r[1].amount, None, "the rest of an unknown amount is unknown");
    }

    #[test]
    fn half_now_and_the_rest_at_the_end_of_next_month() {
        let p = extract("Could we pay half now, the rest at the end of next month?", base(), Language::En).unwrap();
        assert_eq!(
            shape(&p),
            vec![
                (Some(base()), ProposedAmount::Share { numerator: 1, denominator: 2 }),
                (Some(d(2027, 1, 31)), ProposedAmount::Rest)
            ]
        );
        let r = resolve(&p, eur(100_001));
        assert_eq!(r.iter().map(|i| i.amount).collect::<Vec<_>>(), vec![Some(eur(50_000)), Some(eur(50_001))]);
        let fr =
            extract("la moitié tout de suite et l'autre moitié fin du mois prochain", base(), Language::Fr).unwrap();
        assert_eq!(shape(&fr), shape(&p));
    }

    #[test]
    fn a_count_of_monthly_instalments() {
        let p = extract("Serait-il possible de régler en 3 mensualités de 400 € ?", base(), Language::Fr).unwrap();
        assert_eq!(shape(&p), vec![(None, exact(40_000, Currency::EUR)); 3], "dates left for the person");
        let p =
            extract("Nous souhaiterions étaler le paiement sur 3 mois, à partir du 15 janvier.", base(), Language::Fr)
                .unwrap();
        let third = ProposedAmount::Share { numerator: 1, denominator: 3 };
        assert_eq!(
            shape(&p),
            vec![
                (Some(d(2027, 1, 15)), third.clone()),
                (Some(d(2027, 2, 15)), third.clone()),
                (Some(d(2027, 3, 15)), third.clone())
            ]
        );
        // Equal shares of 1 000,00 €: the last one takes the cent left.
        let r = resolve(&p, eur(100_000));
        assert_eq!(
            r.iter().map(|i| i.amount).collect::<Vec<_>>(),
            vec![Some(eur(33_333)), Some(eur(33_333)), Some(eur(33_334))]
        );
        let en = extract("Can we spread this over 3 months?", base(), Language::En).unwrap();
        assert_eq!(shape(&en), vec![(None, third); 3]);
        let en =
            extract("We would like to pay in four instalments of EUR 250 starting 4 January", base(), Language::En)
                .unwrap();
        assert_eq!(en.instalments.len(), 4);
        assert_eq!(en.instalments[0].due, Some(d(2027, 1, 4)));
        assert_eq!(en.instalments[3].due, Some(d(2027, 4, 4)));
        assert_eq!(en.instalments[3].amount, exact(25_000, Currency::EUR));
    }

    #[test]
    fn the_understanding_of_a_plan_request_carries_the_proposal() {
        let raw = "From: ap@client.example\r\nTo: relance@tenant.example\r\nSubject: Re: Relance facture F-1001\r\n\
                   Date: Thu, 10 Dec 2026 09:00:00 +0100\r\n\r\n\
                   Bonjour,\r\nNous ne pouvons pas tout payer d'un coup : 500 € maintenant et le solde le 15 janvier ?\r\n";
        let u = super::super::understand(raw.as_bytes(), d(2026, 12, 20)).unwrap();
        assert_eq!(u.intent, super::super::Intent::PaymentPlanRequest);
        let p = u.plan.clone().unwrap();
        assert_eq!(p.instalments[1].due, Some(d(2027, 1, 15)), "read from the message date");
        // Stored understandings without the field still read.
        let mut v = serde_json::to_value(&u).unwrap();
        v.as_object_mut().unwrap().remove("plan");
        let back: super::super::Understanding = serde_json::from_value(v).unwrap();
        assert_eq!(back.plan, None);
    }

    #[test]
    fn no_plan_is_read_where_none_is_stated() {
        assert_eq!(extract("Nous ne pouvons pas payer pour le moment.", base(), Language::Fr), None);
        assert_eq!(extract("We will pay 500 € on Friday.", base(), Language::En), None, "one payment is no plan");
        assert_eq!(extract("Paiement en 50 fois ?", base(), Language::Fr), None, "beyond the longest plan read");
        // Multi-byte characters right after a count are cut safely.
        let p = extract(
            "en 3 fois de €€€€€€€€€€€€€€€€€€€€€€€€€ à partir du €€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€",
            base(),
            Language::Fr,
        );
        assert_eq!(p.map(|p| p.instalments.len()), Some(3));
        // Two rests, or a rest before an amount, is no schedule.
        assert_eq!(extract("le solde maintenant et le reste demain", base(), Language::Fr), None);
    }
}
