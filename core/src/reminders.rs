//! Planning a day of reminders over the store: reads each customer's state,
//! asks the pure engine ([`crate::dunning::decide`]) what is due, renders the
//! template in the customer's language and queues the result in the outbox
//! under its idempotency key.
//!
//! Planning is idempotent: a decision already queued is skipped by the store,
//! and queued decisions count as sent for the next decisions (step order,
//! minimum gap, promise-broken once). A template that fails to render is
//! reported for that customer; the others are still planned.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::config::TenantConfig;
use crate::dunning::templates::{DEFAULT_PENALTY_RATE_BP, InvoiceFacts, ReminderFacts, render};
use crate::dunning::{Calendar, Outcome, Scenario, decide, load_scenario};
use crate::store::{Store, StoreError};

/// What one planning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    /// Outbox ids of the reminders queued now.
    pub queued: Vec<i64>,
    /// Decisions found already queued.
    pub already_queued: u32,
    /// Customers with something due who must wait (weekend, gap, promise).
    pub waiting: u32,
    /// Customers whose reminder could not be prepared, with the reason.
    pub errors: Vec<String>,
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
    let calendar = Calendar::french(day.year() - 1..=day.year() + 1, &[]);
    let mut report = PlanReport::default();
    for c in store.dunning_states(&tenant.id)? {
        let Some((name, scenario)) = scenarios.iter().find(|(_, s)| s.applies_to(&c)) else { continue };
        match decide(scenario, &calendar, &c, day) {
            Outcome::Send(d) => {
                let facts = ReminderFacts {
                    company: tenant.name.clone(),
                    customer_name: if c.name.is_empty() { c.customer_id.clone() } else { c.name.clone() },
                    language: c.language,
                    b2c: c.b2c,
                    today: day,
                    invoices: c
                        .invoices
                        .iter()
                        .filter(|i| d.invoices.contains(&i.number))
                        .map(|i| InvoiceFacts {
                            number: i.number.clone(),
                            issue_date: i.issue_date,
                            due_date: i.due_date,
                            open: i.open,
                        })
                        .collect(),
                    promised_date: c.promise,
                    penalty_rate_bp: DEFAULT_PENALTY_RATE_BP,
                };
                let rendered = match render(&d.step.template, &facts) {
                    Ok(r) => r,
                    Err(e) => {
                        report.errors.push(format!("customer {}: step {}: {e}", c.customer_id, d.step.id));
                        continue;
                    }
                };
                match store.enqueue_reminder(&tenant.id, name, day, &d, &rendered)? {
                    Some(id) => report.queued.push(id),
                    None => report.already_queued += 1,
                }
            }
            Outcome::Wait { .. } => report.waiting += 1,
            Outcome::Nothing { .. } => {}
        }
    }
    Ok(report)
}
