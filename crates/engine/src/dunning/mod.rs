//! The dunning engine: which reminder step is due for a customer today, and
//! why (or why not). Pure: the caller gives the customer's state and applies
//! the decision (outbox, channels — to come).
//!
//! A scenario is an ordered list of steps with an offset in days from the due
//! date (negative: before it). Each invoice goes through the steps once and in
//! order (an invoice found long overdue starts at the first overdue step, not
//! at the formal notice); on a day when steps are due, the customer gets
//! **one** message at the most escalated due step, listing all their outstanding invoices (statement of
//! account; a pre-due notice lists only the invoices it is about). Nothing is
//! sent on weekends and holidays, within the minimum gap since the last
//! reminder, while a promise to pay runs (plus grace; then the
//! "promise broken" step), on disputed invoices, under an agreed payment plan,
//! or when nothing is owed.
//!
//! **Out of office.** When the customer's contacts said they are away until
//! a date ([`CustomerState::away`], from an out-of-office reply with a return
//! date), the next step waits until the business day after that date in the
//! tenant's calendar (back on Friday 9: the step goes on Monday 12, or
//! Tuesday 13 when Monday is a holiday): a reminder read on the first morning
//! back sits under the pile of the absence. The `why` names the return date
//! and the message that gave it, while waiting and in the decision sent
//! after it.
//!
//! **Holds.** A person may hold the reminders of a customer or of one
//! invoice ([`CustomerState::holds`], see [`hold`]): held invoices are left
//! out as if paused, and the `why` names the hold.
//!
//! **Credits awaiting review.** A credit from the customer waiting in the
//! cash review queue ([`CustomerState::credits`], see [`credit`]) that could
//! pay an invoice the reminder lists holds the reminder
//! ([`Outcome::Held`]): the `why` names the credit, its amount and why it is
//! thought to be the customer's; the reminder goes once a person rejected
//! the credit, and is not needed once the credit is applied.
//!
//! **Confirmation.** A step with `confirm` ([`Step::needs_confirmation`],
//! by default the formal notice and the hand-off) is decided like any other;
//! the planner queues it for a person's approval instead of delivery.
//!
//! **Hand-off.** A customer handed over to a collection agency
//! ([`CustomerState::handed_over`], see [`handoff`]) gets no reminder any
//! more ([`Outcome::HandedOver`]) until a person reverses the hand-off.
//!
//! An accepted payment plan ([`plan::AgreedPlan`]) pauses the reminders of
//! the invoices it covers while it is on track (the scenario's
//! `promise_grace_days` is its grace after each instalment date); once an
//! instalment is missed they resume, and every decision's `why` says where
//! the plan stands (see [`plan`]).

pub mod calendar;
pub mod credit;
pub mod handoff;
pub mod hold;
pub mod plan;
pub mod templates;

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

pub use calendar::{Calendar, HolidayCountry, SendingWindow};
use relance_domain::money::Money;
use relance_domain::{Channel, Language};

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable name (`courteous`, `formal_notice`…): part of the idempotency key.
    pub id: String,
    /// Days from the due date (J-5 = -5, J+30 = 30).
    pub offset_days: i64,
    pub channel: Channel,
    /// Template name; the language is added when rendering.
    pub template: String,
    /// Whether a person approves its messages before they go (they wait
    /// in the outbox as `to_confirm`). When absent: yes for the steps whose
    /// template is a formal notice or a hand-off (`formal_notice`,
    /// `final_letter`, `handoff`), no otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
}

/// Templates whose steps wait for a person's approval unless `confirm = false`.
pub const CONFIRMED_TEMPLATES: &[&str] = &["formal_notice", "final_letter", "handoff"];

impl Step {
    /// Whether this step's messages wait for a person's approval (see [`Step::confirm`]).
    pub fn needs_confirmation(&self) -> bool {
        self.confirm.unwrap_or_else(|| CONFIRMED_TEMPLATES.contains(&self.template.as_str()))
    }
}

/// Which customers a scenario is for (all conditions must hold; empty = any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub languages: Vec<Language>,
    /// Consumers (B2C) or businesses (B2B); both when absent.
    #[serde(default)]
    pub b2c: Option<bool>,
    /// Total outstanding at least / at most, in minor units, per currency
    /// (amounts of different currencies are never added): `min` holds when
    /// the customer owes at least that much in one currency, `max` when it
    /// owes at most that much in every currency.
    #[serde(default)]
    pub min_open_minor: Option<i64>,
    #[serde(default)]
    pub max_open_minor: Option<i64>,
}

/// A reminder scenario (`scenarios/<name>.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub when: Conditions,
    pub steps: Vec<Step>,
    /// Minimum days between two reminders to the same customer.
    #[serde(default = "default_gap")]
    pub min_gap_days: i64,
    /// Days after a promised date before the promise counts as broken.
    #[serde(default = "default_grace")]
    pub promise_grace_days: i64,
    /// Sent once when a promise is broken.
    #[serde(default)]
    pub promise_broken: Option<Step>,
}

fn default_gap() -> i64 {
    5
}
fn default_grace() -> i64 {
    2
}

/// An open credit note of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteState {
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    /// Negative: what the customer is owed.
    pub open: Money,
}

/// An invoice as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceState {
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub open: Money,
    pub disputed: bool,
}

/// Everything the engine needs to know about one customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerState {
    pub customer_id: String,
    pub name: String,
    pub segment: Option<String>,
    pub language: Language,
    pub b2c: bool,
    pub invoices: Vec<InvoiceState>,
    /// Pending promise: the promised date.
    pub promise: Option<NaiveDate>,
    pub plan_active: bool,
    /// The customer's latest accepted (or broken) payment plan, if any.
    pub plan: Option<plan::AgreedPlan>,
    pub last_reminder: Option<NaiveDate>,
    /// (step id, invoice number) pairs already sent; (`promise_broken`, date) for broken promises.
    pub sent: BTreeSet<(String, String)>,
    /// The customer's contacts are away (an out-of-office reply with a return
    /// date): the next step waits until the business day after the return.
    pub away: Option<Away>,
    /// Holds placed by a person on the customer or its invoices (those not
    /// lifted; each says until when it holds).
    pub holds: Vec<hold::Hold>,
    /// Credits waiting for review (suggested or unmatched) whose payer
    /// evidence names the customer: a reminder they could pay is held.
    pub credits: Vec<credit::PendingCredit>,
    /// Open credit notes (negative `open`): never reminded, listed and
    /// deducted in the statement of account.
    pub credit_notes: Vec<CreditNoteState>,
    /// The customer was handed over to a collection agency (and the
    /// hand-off not reversed): no reminder any more ([`Outcome::HandedOver`]).
    pub handed_over: Option<handoff::HandedOver>,
}

/// An absence announced by an out-of-office reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Away {
    /// The address that said it.
    pub address: String,
    /// The day the person is back.
    pub until: NaiveDate,
    /// Where it was read (`out-of-office reply, message 12`), for the `why`.
    pub reason: String,
}

impl Away {
    /// The first day a step may go: the business day after the return date.
    pub fn resume(&self, calendar: &Calendar) -> NaiveDate {
        calendar.next_business_day(self.until.succ_opt().unwrap_or(self.until))
    }

    /// Why a step waits for the return, on a day before [`Away::resume`].
    fn wait(&self, calendar: &Calendar, step: &str) -> Outcome {
        Outcome::Wait {
            why: format!(
                "{} is away until {} ({}): `{step}` postponed to {}, the business day after the return",
                self.address,
                self.until,
                self.reason,
                self.resume(calendar)
            ),
        }
    }

    /// The `why` line of the first decision after the return (none when a
    /// reminder already went since then).
    fn after(&self, c: &CustomerState) -> Option<String> {
        c.last_reminder.is_none_or(|l| l <= self.until).then(|| {
            format!(
                "{} was away until {} ({}): postponed to the business day after the return",
                self.address, self.until, self.reason
            )
        })
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub customer_id: String,
    pub step: Step,
    /// Invoices listed in the message.
    pub invoices: Vec<String>,
    /// (step id, invoice) pairs this message covers: record them as sent.
    pub covers: Vec<(String, String)>,
    /// (customer, step, invoices taking the step) makes the key; the store adds the tenant.
    pub idempotency_key: String,
    pub why: Vec<String>,
}

/// What to do for a customer today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outcome {
    Send(Decision),
    /// Something is due but must wait (weekend, gap, promise).
    Wait {
        why: String,
    },
    /// Nothing to do.
    Nothing {
        why: String,
    },
    /// A reminder was due but credits from the customer awaiting review
    /// could pay it: held until they are resolved (see [`credit`]).
    Held {
        why: String,
        /// The payment ids of those credits.
        credits: Vec<i64>,
    },
    /// The customer was handed over to a collection agency: no reminder
    /// until the hand-off is reversed (see [`handoff`]).
    HandedOver {
        why: String,
    },
}

impl Scenario {
    /// Whether the scenario is for this customer.
    pub fn applies_to(&self, c: &CustomerState) -> bool {
        let w = &self.when;
        // Per currency, summed in i128: exact for any number of i64 amounts, never wraps.
        let mut open: Vec<(relance_domain::money::Currency, i128)> = Vec::new();
        for i in c.invoices.iter().filter(|i| !i.disputed) {
            match open.iter_mut().find(|(ccy, _)| *ccy == i.open.currency) {
                Some((_, sum)) => *sum += i128::from(i.open.minor),
                None => open.push((i.open.currency, i128::from(i.open.minor))),
            }
        }
        let most = open.iter().map(|(_, v)| *v).max().unwrap_or(0);
        (w.segments.is_empty() || c.segment.as_ref().is_some_and(|s| w.segments.contains(s)))
            && (w.languages.is_empty() || w.languages.contains(&c.language))
            && w.b2c.is_none_or(|b| b == c.b2c)
            && w.min_open_minor.is_none_or(|m| most >= i128::from(m))
            && w.max_open_minor.is_none_or(|m| most <= i128::from(m))
    }
}

/// Offsets, gaps and graces are bounded (ten years) so that date arithmetic
/// never overflows.
pub const MAX_DAYS: i64 = 3660;

/// Step id of the answers to copy requests (not a scenario step).
pub const INVOICE_COPY_STEP: &str = "invoice_copy";

/// Step id of the proof-of-payment requests sent after a customer says it
/// already paid (not a scenario step).
pub const PROOF_REQUEST_STEP: &str = "proof_request";

/// One problem of a scenario, at a key of its file (`steps[2].template`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioProblem {
    pub key: String,
    pub message: String,
}

impl Scenario {
    /// Checks what [`decide`] relies on: at least one step, steps listed in
    /// increasing order of their offsets (the order invoices take them in),
    /// unique ids (they key what was sent), no reserved id, bounded day
    /// counts, and a template for every step in each of `languages` (the
    /// languages of the customers who may follow the scenario: those of
    /// `when.languages` when given).
    pub fn check(&self, templates: &templates::Templates, languages: &[Language]) -> Vec<ScenarioProblem> {
        let mut out = Vec::new();
        let mut problem = |key: String, message: String| out.push(ScenarioProblem { key, message });
        if self.steps.is_empty() {
            problem("steps".into(), "a scenario needs at least one step".into());
        }
        let langs: Vec<Language> =
            if self.when.languages.is_empty() { languages.to_vec() } else { self.when.languages.clone() };
        let mut seen: Vec<(&str, String)> = Vec::new();
        let steps = self.steps.iter().enumerate().map(|(i, s)| (format!("steps[{i}]"), s));
        for (at, step) in steps.chain(self.promise_broken.iter().map(|s| ("promise_broken".to_string(), s))) {
            if step.id.trim().is_empty() || step.id.contains(['|', ',']) || step.id.chars().any(char::is_whitespace) {
                problem(
                    format!("{at}.id"),
                    format!("`{}`: a step id is a non-empty word without `|`, `,` or spaces", step.id),
                );
            } else if step.id == INVOICE_COPY_STEP || step.id == PROOF_REQUEST_STEP {
                problem(format!("{at}.id"), format!("`{}` is reserved for the answers to customers' replies", step.id));
            } else if let Some((other, _)) = seen.iter().find(|(id, _)| *id == step.id) {
                problem(format!("{at}.id"), format!("`{}` is already the id of {other}", step.id));
            }
            seen.push((step.id.as_str(), at.clone()));
            if step.offset_days.abs() > MAX_DAYS {
                problem(
                    format!("{at}.offset_days"),
                    format!("{}: at most {MAX_DAYS} days from the due date", step.offset_days),
                );
            }
            let missing: Vec<&str> =
                langs.iter().filter(|l| !templates.has(**l, &step.template)).map(|l| l.as_str()).collect();
            if !missing.is_empty() {
                let known: Vec<&str> = templates::builtin_names(Language::Fr).collect();
                problem(
                    format!("{at}.template"),
                    format!(
                        "unknown template `{}` in {} (built in: {}; or add <templates_dir>/<lang>/{}.jinja)",
                        step.template,
                        missing.join(", "),
                        known.join(", "),
                        step.template
                    ),
                );
            }
        }
        for pair in self.steps.windows(2).enumerate() {
            let (i, [a, b]) = pair else { continue };
            if b.offset_days <= a.offset_days {
                problem(
                    format!("steps[{}].offset_days", i + 1),
                    format!(
                        "J{:+} is not after the previous step `{}` (J{:+}): steps are listed in the order they are taken",
                        b.offset_days, a.id, a.offset_days
                    ),
                );
            }
        }
        for (key, v) in [("min_gap_days", self.min_gap_days), ("promise_grace_days", self.promise_grace_days)] {
            if !(0..=MAX_DAYS).contains(&v) {
                problem(key.into(), format!("{v}: expected 0 to {MAX_DAYS} days"));
            }
        }
        if let (Some(min), Some(max)) = (self.when.min_open_minor, self.when.max_open_minor)
            && min > max
        {
            problem("when.max_open_minor".into(), format!("{max} is below when.min_open_minor ({min})"));
        }
        out
    }
}

/// Decides for one customer on `today`.
pub fn decide(scenario: &Scenario, calendar: &Calendar, c: &CustomerState, today: NaiveDate) -> Outcome {
    if let Some(h) = &c.handed_over {
        return Outcome::HandedOver { why: h.why() };
    }
    let grace = scenario.promise_grace_days;
    let pausing = c.plan.as_ref().filter(|p| p.pauses(today, grace));
    let plan_why = c.plan.as_ref().and_then(|p| p.why(today, grace));
    let held = |i: &InvoiceState| hold::holding(&c.holds, &i.number, today);
    let outcome = decide_unplanned(scenario, calendar, c, today, |i| {
        pausing.is_some_and(|p| p.covers(&i.number)) || held(i).is_some()
    });
    // Holds on outstanding invoices, once each, in the order of the invoices.
    let mut holds: Vec<&hold::Hold> = Vec::new();
    for h in c.invoices.iter().filter(|i| i.open.minor > 0 && !i.disputed).filter_map(held) {
        if !holds.iter().any(|x| x.id == h.id) {
            holds.push(h);
        }
    }
    let hold_why: Vec<String> = holds.iter().map(|h| h.why()).collect();
    match (outcome, plan_why) {
        (Outcome::Send(mut d), plan_why) => {
            let listed: Vec<&InvoiceState> = c.invoices.iter().filter(|i| d.invoices.contains(&i.number)).collect();
            let covering = credit::covering(&c.credits, &listed);
            if !covering.is_empty() {
                let mut why: Vec<String> = covering.iter().map(|c| c.why()).collect();
                why.push(format!("`{}` about {} held", d.step.id, d.invoices.join(", ")));
                return Outcome::Held { why: why.join("; "), credits: covering.iter().map(|c| c.payment_id).collect() };
            }
            d.why.splice(0..0, plan_why.into_iter().chain(hold_why));
            Outcome::Send(d)
        }
        (Outcome::Nothing { .. }, _)
            if !hold_why.is_empty()
                && c.invoices.iter().any(|i| i.open.minor > 0 && !i.disputed)
                && c.invoices.iter().all(|i| {
                    i.open.minor <= 0 || i.disputed || held(i).is_some() || pausing.is_some_and(|p| p.covers(&i.number))
                }) =>
        {
            Outcome::Nothing { why: hold_why.join("; ") }
        }
        (Outcome::Nothing { .. }, Some(w))
            if c.invoices.iter().any(|i| i.open.minor > 0 && !i.disputed)
                && c.invoices
                    .iter()
                    .all(|i| i.open.minor <= 0 || i.disputed || pausing.is_some_and(|p| p.covers(&i.number))) =>
        {
            Outcome::Nothing { why: w }
        }
        (outcome, _) => outcome,
    }
}

/// [`decide`] without the payment plan: the invoices `paused` says are
/// under a plan on track are left aside.
fn decide_unplanned(
    scenario: &Scenario,
    calendar: &Calendar,
    c: &CustomerState,
    today: NaiveDate,
    paused: impl Fn(&InvoiceState) -> bool,
) -> Outcome {
    let outstanding: Vec<&InvoiceState> =
        c.invoices.iter().filter(|i| i.open.minor > 0 && !i.disputed && !paused(i)).collect();
    if outstanding.is_empty() {
        let why = if c.invoices.iter().any(|i| i.disputed && i.open.minor > 0) {
            "every open invoice is disputed: reminders stopped until the dispute is resolved"
        } else {
            "nothing outstanding"
        };
        return Outcome::Nothing { why: why.into() };
    }
    if c.plan_active {
        return Outcome::Nothing { why: "a payment plan is agreed: reminders paused".into() };
    }
    if let Some(promised) = c.promise {
        let until = promised + Duration::days(scenario.promise_grace_days);
        if today <= until {
            return Outcome::Wait { why: format!("promise to pay on {promised} (grace until {until})") };
        }
        if let Some(step) = &scenario.promise_broken {
            let key = (step.id.clone(), promised.to_string());
            if !c.sent.contains(&key) {
                if !calendar.is_business_day(today) {
                    return Outcome::Wait { why: format!("{today} is not a business day") };
                }
                if let Some(a) = c.away.as_ref().filter(|a| today < a.resume(calendar)) {
                    return a.wait(calendar, &step.id);
                }
                let invoices: Vec<String> = outstanding.iter().map(|i| i.number.clone()).collect();
                return Outcome::Send(Decision {
                    customer_id: c.customer_id.clone(),
                    idempotency_key: format!("{}|{}|{}|{}", c.customer_id, step.id, promised, invoices.join(",")),
                    step: step.clone(),
                    invoices,
                    covers: vec![key],
                    why: std::iter::once(format!(
                        "the promise to pay on {promised} was not kept (grace {} days)",
                        scenario.promise_grace_days
                    ))
                    .chain(c.away.as_ref().and_then(|a| a.after(c)))
                    .collect(),
                });
            }
        }
    }
    // Each invoice's next step: the first one it has not had whose day has come.
    // Steps are taken in order (never a formal notice to someone never
    // reminded), and a pre-due notice is pointless once the invoice is overdue.
    let mut due: Vec<(&InvoiceState, &Step)> = Vec::new();
    for inv in &outstanding {
        let days = (today - inv.due_date).num_days();
        if let Some(step) = scenario
            .steps
            .iter()
            .filter(|s| s.offset_days <= days && !(s.offset_days < 0 && days >= 0))
            .filter(|s| !c.sent.contains(&(s.id.clone(), inv.number.clone())))
            .min_by_key(|s| s.offset_days)
        {
            due.push((inv, step));
        }
    }
    let Some(top) = due.iter().map(|(_, s)| *s).max_by_key(|s| s.offset_days) else {
        return Outcome::Nothing { why: "no step due".into() };
    };
    if !calendar.is_business_day(today) {
        return Outcome::Wait { why: format!("{today} is not a business day: `{}` waits", top.id) };
    }
    if let Some(a) = c.away.as_ref().filter(|a| today < a.resume(calendar)) {
        return a.wait(calendar, &top.id);
    }
    if let Some(last) = c.last_reminder
        && (today - last).num_days() < scenario.min_gap_days
    {
        return Outcome::Wait {
            why: format!("last reminder on {last}: at least {} days between reminders", scenario.min_gap_days),
        };
    }
    let mut why: Vec<String> = due
        .iter()
        .map(|(inv, s)| {
            format!(
                "{} due {} is at J{:+} → step `{}` (J{:+})",
                inv.number,
                inv.due_date,
                (today - inv.due_date).num_days(),
                s.id,
                s.offset_days
            )
        })
        .collect();
    let mut invoices: Vec<String> = if top.offset_days < 0 {
        due.iter().map(|(i, _)| i.number.clone()).collect()
    } else {
        why.push("statement of account: every overdue invoice is listed".into());
        outstanding.iter().filter(|i| i.due_date <= today).map(|i| i.number.clone()).collect()
    };
    invoices.sort();
    why.extend(c.away.as_ref().and_then(|a| a.after(c)));
    // Only the invoices the message lists have had their step.
    let covers: Vec<(String, String)> = due
        .iter()
        .filter(|(i, _)| invoices.contains(&i.number))
        .map(|(i, s)| (s.id.clone(), i.number.clone()))
        .collect();
    // The action is "these invoices take this step": a later message at the
    // same step for other invoices (one that reached it since) is another action.
    let mut stepped: Vec<&str> = covers.iter().map(|(_, i): &(String, String)| i.as_str()).collect();
    stepped.sort_unstable();
    Outcome::Send(Decision {
        customer_id: c.customer_id.clone(),
        idempotency_key: format!("{}|{}|{}", c.customer_id, top.id, stepped.join(",")),
        step: top.clone(),
        invoices,
        covers,
        why,
    })
}

#[cfg(test)]
mod tests;
