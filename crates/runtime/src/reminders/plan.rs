//! Planning a day of reminders over the store: reads each customer's state,
//! asks the pure engine ([`relance_engine::dunning::decide`]) what is due, renders the
//! template in the customer's language and queues the result in the outbox
//! under its idempotency key.
//!
//! Planning is idempotent: a decision already queued is skipped by the store,
//! and queued decisions count as sent for the next decisions (step order,
//! minimum gap, promise-broken once). A template that fails to render is
//! reported for that customer; the others are still planned.
//!
//! Requests for a copy of invoices, recorded by reply handling, are answered
//! in the same pass (queued once per request, to the address that asked).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use relance_config::TenantConfig;
use relance_config::load_scenario;
use relance_domain::Channel;
use relance_engine::dunning::templates::{DEFAULT_PENALTY_RATE_BP, InvoiceFacts, ReminderFacts, render};
use relance_engine::dunning::{Calendar, CustomerState, Decision, Outcome, Scenario, Step, decide};
use relance_store::{Store, StoreError};

/// What one planning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    /// The reminders queued now.
    pub queued: Vec<Queued>,
    /// Decisions found already queued.
    pub already_queued: u32,
    /// Customers with something due who must wait (weekend, gap, promise).
    pub waiting: u32,
    /// Customers whose reminder could not be prepared, with the reason.
    pub errors: Vec<String>,
    /// Copy requests answered (queued) now.
    pub copies: u32,
    /// Copy requests left unanswered: nothing open to send.
    pub copies_without_open_invoice: u32,
}

/// One reminder queued by a planning pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// Outbox id.
    pub id: i64,
    pub customer_id: String,
    pub step: String,
    pub channel: Channel,
    pub subject: String,
    pub invoices: Vec<String>,
}

impl Queued {
    fn new(id: i64, d: &Decision, subject: String) -> Queued {
        Queued {
            id,
            customer_id: d.customer_id.clone(),
            step: d.step.id.clone(),
            channel: d.step.channel,
            subject,
            invoices: d.invoices.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Scenario(String),
}

/// Loads the tenant's scenarios, in the order they are listed.
pub fn scenarios(dir: &std::path::Path, tenant: &TenantConfig) -> Result<Vec<(String, Scenario)>, PlanError> {
    tenant
        .scenarios
        .iter()
        .map(|n| load_scenario(dir, n).map(|s| (n.clone(), s)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PlanError::Scenario(e.to_string()))
}

/// Plans and queues `day`'s reminders for the tenant.
pub fn plan_day(
    store: &Store,
    tenant: &TenantConfig,
    scenarios: &[(String, Scenario)],
    day: NaiveDate,
) -> Result<PlanReport, PlanError> {
    let calendar = calendar(tenant, day);
    let mut report = PlanReport::default();
    let states = store.dunning_states(&tenant.id)?;
    answer_copy_requests(store, tenant, &states, day, &mut report)?;
    for c in states {
        let Some((name, scenario)) = scenario_for(tenant, scenarios, &c) else { continue };
        match decide(scenario, &calendar, &c, day) {
            Outcome::Send(d) => {
                let facts = facts(tenant, &c, &d.invoices, day);
                let rendered = match render(&d.step.template, &facts) {
                    Ok(r) => r,
                    Err(e) => {
                        report.errors.push(format!("customer {}: step {}: {e}", c.customer_id, d.step.id));
                        continue;
                    }
                };
                match store.enqueue_reminder(&tenant.id, name, day, &d, &rendered, None)? {
                    Some(id) => report.queued.push(Queued::new(id, &d, rendered.subject)),
                    None => report.already_queued += 1,
                }
            }
            Outcome::Wait { .. } => report.waiting += 1,
            Outcome::Nothing { .. } => {}
        }
    }
    Ok(report)
}

/// The tenant's business-day calendar around `day`: French public holidays
/// and the tenant's extra days off.
pub fn calendar(tenant: &TenantConfig, day: NaiveDate) -> Calendar {
    Calendar::french(day.year() - 1..=day.year() + 1, &tenant.dunning.extra_holidays)
}

/// The scenario a customer follows: the one assigned to it explicitly in
/// `[dunning.assign]`, else the first whose conditions match.
pub fn scenario_for<'s>(
    tenant: &TenantConfig,
    scenarios: &'s [(String, Scenario)],
    c: &CustomerState,
) -> Option<&'s (String, Scenario)> {
    match tenant.dunning.assign.get(&c.customer_id) {
        Some(name) => scenarios.iter().find(|(n, _)| n == name),
        None => scenarios.iter().find(|(_, s)| s.applies_to(c)),
    }
}

/// What a message about `numbers` of customer `c` shows.
fn facts(tenant: &TenantConfig, c: &CustomerState, numbers: &[String], day: NaiveDate) -> ReminderFacts {
    ReminderFacts {
        company: tenant.name.clone(),
        customer_name: if c.name.is_empty() { c.customer_id.clone() } else { c.name.clone() },
        language: c.language,
        b2c: c.b2c,
        today: day,
        invoices: c
            .invoices
            .iter()
            .filter(|i| numbers.contains(&i.number))
            .map(|i| InvoiceFacts {
                number: i.number.clone(),
                issue_date: i.issue_date,
                due_date: i.due_date,
                open: i.open,
            })
            .collect(),
        promised_date: c.promise,
        penalty_rate_bp: DEFAULT_PENALTY_RATE_BP,
    }
}

/// Queues an answer to each copy request: the invoices named (those still
/// open), else all the customer's open invoices, sent back to the address
/// that asked. Keyed by the request's message, so each is answered once.
fn answer_copy_requests(
    store: &Store,
    tenant: &TenantConfig,
    states: &[CustomerState],
    day: NaiveDate,
    report: &mut PlanReport,
) -> Result<(), PlanError> {
    for req in store.unanswered_copy_requests(&tenant.id)? {
        let Some(c) = states.iter().find(|s| s.customer_id == req.customer_id) else {
            report.copies_without_open_invoice += 1;
            continue;
        };
        let named: Vec<String> = c
            .invoices
            .iter()
            .filter(|i| req.invoices.is_empty() || req.invoices.iter().any(|n| n.eq_ignore_ascii_case(&i.number)))
            .map(|i| i.number.clone())
            .collect();
        if named.is_empty() {
            report.copies_without_open_invoice += 1;
            continue;
        }
        let decision = Decision {
            customer_id: c.customer_id.clone(),
            step: Step {
                id: "invoice_copy".into(),
                offset_days: 0,
                channel: Channel::Email,
                template: "invoice_copy".into(),
            },
            invoices: named.clone(),
            covers: Vec::new(),
            idempotency_key: format!("copy|message:{}", req.message_id),
            why: vec![format!("the customer asked for a copy (message {})", req.message_id)],
        };
        let rendered = match render("invoice_copy", &facts(tenant, c, &named, day)) {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(format!("customer {}: invoice copy: {e}", c.customer_id));
                continue;
            }
        };
        if let Some(id) =
            store.enqueue_reminder(&tenant.id, "replies", day, &decision, &rendered, req.reply_to.as_deref())?
        {
            report.queued.push(Queued::new(id, &decision, rendered.subject));
            report.copies += 1;
        }
    }
    Ok(())
}
