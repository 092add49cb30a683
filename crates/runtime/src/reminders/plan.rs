//! Planning a day of reminders over the store: reads each customer's state,
//! asks the pure engine ([`relance_engine::dunning::decide`]) what is due, renders the
//! template in the customer's language and queues the result in the outbox
//! under its idempotency key. Scenarios, templates and the holiday calendar
//! come compiled in the [`TenantConfig`]: no file is read here.
//!
//! Planning is idempotent: a decision already queued is skipped by the store,
//! and queued decisions count as sent for the next decisions (step order,
//! minimum gap, promise-broken once). A template that fails to render is
//! reported for that customer; the others are still planned.
//!
//! Accepted payment plans are followed in the same pass: the engine pauses
//! the reminders of a plan's invoices while it is on track; a plan with a
//! missed instalment (past its date plus the scenario's
//! `promise_grace_days`) is marked broken here (an audit event) and its
//! invoices are reminded again, the decision's `why` naming the missed
//! instalment; a plan paid in full is marked completed.
//!
//! Reminders of a step marked `confirm` (by default the formal notice and
//! the hand-off) are queued as `to_confirm`: they wait for a person's
//! approval (`relance_store::Store::approve_outbox`) and are not delivered
//! before. Holds placed by a person reach the engine with the customer's
//! state: held customers and invoices are not reminded.
//!
//! A reminder that a credit from the customer awaiting review could pay is
//! held (`Outcome::Held`): the planner places a `credit_review` hold on the
//! customer for that credit, which the cash review lists first; applying
//! or rejecting the credit lifts it.
//!
//! Customers' payment claims ("we already paid") are followed first, in
//! the same pass (see [`super::claims`]).
//!
//! Requests for a copy of invoices, recorded by reply handling, are answered
//! in the same pass (queued once per request, to the address that asked).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use relance_config::{CompiledScenario, TenantConfig};
use relance_domain::Channel;
use relance_engine::dunning::plan::{PlanStatus, Standing};
use relance_engine::dunning::templates::{InvoiceFacts, ReminderFacts};
use relance_engine::dunning::{Calendar, CustomerState, Decision, INVOICE_COPY_STEP, Outcome, Step, decide};
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
    /// Customers whose due reminder is held: a credit from them awaiting
    /// review could pay it (see `relance_engine::dunning::credit`).
    pub held: u32,
    /// Holds placed now for such credits (one per credit and customer).
    pub held_for_credits: u32,
    /// Payment claims ("we already paid") whose invoices' reminders were held now.
    pub claims_held: u32,
    /// Payment claims for which a credit was linked for review now.
    pub claims_linked: u32,
    /// Payment claims closed now (settled, or the hold ran out).
    pub claims_closed: u32,
    /// Proof-of-payment requests queued now.
    pub proof_requests: u32,
    /// Payment plans marked broken now (an instalment missed).
    pub plans_broken: u32,
    /// Payment plans marked completed now (paid in full).
    pub plans_completed: u32,
    /// Customers owing something who were handed over to a collection
    /// agency: sent nothing (see `relance_engine::dunning::handoff`).
    pub handed_over: u32,
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
    /// Waits in the outbox as `to_confirm` for a person's approval.
    pub to_confirm: bool,
}

impl Queued {
    pub(crate) fn new(id: i64, d: &Decision, subject: String, to_confirm: bool) -> Queued {
        Queued {
            id,
            customer_id: d.customer_id.clone(),
            step: d.step.id.clone(),
            channel: d.step.channel,
            subject,
            invoices: d.invoices.clone(),
            to_confirm,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Plans and queues `day`'s reminders for the tenant, with its compiled scenarios.
pub fn plan_day(store: &Store, tenant: &TenantConfig, day: NaiveDate) -> Result<PlanReport, PlanError> {
    let calendar = calendar(tenant, day);
    let mut report = PlanReport::default();
    report.plans_completed += store.complete_paid_plans(&tenant.id)?;
    // Payment claims first: the holds they place count for today's decisions.
    super::claims::follow_claims(store, tenant, day, &mut report)?;
    let states = store.dunning_states(&tenant.id)?;
    answer_copy_requests(store, tenant, &states, day, &mut report)?;
    for c in states {
        let Some(compiled) = scenario_for(tenant, &c) else { continue };
        follow_plan(store, tenant, &c, compiled.scenario.promise_grace_days, day, &mut report)?;
        match decide(&compiled.scenario, &calendar, &c, day) {
            Outcome::Send(d) => {
                let facts = facts(tenant, &c, &d.invoices, day);
                let rendered = match tenant.templates.render(&d.step.template, &facts) {
                    Ok(r) => r,
                    Err(e) => {
                        report.errors.push(format!("customer {}: step {}: {e}", c.customer_id, d.step.id));
                        continue;
                    }
                };
                let confirm = d.step.needs_confirmation();
                let id = if confirm {
                    store.enqueue_to_confirm(&tenant.id, &compiled.name, day, &d, &rendered)?
                } else {
                    store.enqueue_reminder(&tenant.id, &compiled.name, day, &d, &rendered, None)?
                };
                match id {
                    Some(id) => report.queued.push(Queued::new(id, &d, rendered.subject, confirm)),
                    None => report.already_queued += 1,
                }
            }
            Outcome::Wait { .. } => report.waiting += 1,
            Outcome::Held { credits, .. } => {
                // Relance's hold on the customer while each credit awaits review (once per credit).
                let reasons: Vec<(i64, String)> = c
                    .credits
                    .iter()
                    .filter(|p| credits.contains(&p.payment_id))
                    .map(|p| (p.payment_id, p.why()))
                    .collect();
                report.held_for_credits += store.hold_for_credits(&tenant.id, &c.customer_id, &reasons)?;
                report.held += 1;
            }
            Outcome::HandedOver { .. } => report.handed_over += 1,
            Outcome::Nothing { .. } => {}
        }
    }
    Ok(report)
}

/// What the planner would do for one customer on `day`, and under which
/// scenario (the customer page's "next step" with its `why`); `None` when
/// the customer owes nothing or no scenario applies. Reads that customer's
/// state only (`Store::dunning_state`), the same as [`plan_day`] sees it.
pub fn customer_outlook(
    store: &Store,
    tenant: &TenantConfig,
    customer_id: &str,
    day: NaiveDate,
) -> Result<Option<(String, Outcome)>, PlanError> {
    let Some(c) = store.dunning_state(&tenant.id, customer_id)? else { return Ok(None) };
    let Some(compiled) = scenario_for(tenant, &c) else { return Ok(None) };
    Ok(Some((compiled.name.clone(), decide(&compiled.scenario, &calendar(tenant, day), &c, day))))
}

/// Marks the customer's accepted plan broken when an instalment is missed on
/// `day`, completed when paid in full (each once, audited by the store).
fn follow_plan(
    store: &Store,
    tenant: &TenantConfig,
    c: &CustomerState,
    grace_days: i64,
    day: NaiveDate,
    report: &mut PlanReport,
) -> Result<(), PlanError> {
    let Some(p) = c.plan.as_ref().filter(|p| p.status == PlanStatus::Accepted) else { return Ok(()) };
    match p.standing(day, grace_days) {
        Standing::Missed { .. } => {
            let why = p.why(day, grace_days).unwrap_or_default();
            if store.close_plan(&tenant.id, p.id, PlanStatus::Broken, &why)? {
                report.plans_broken += 1;
            }
        }
        Standing::Completed => {
            if store.close_plan(&tenant.id, p.id, PlanStatus::Completed, "every instalment paid")? {
                report.plans_completed += 1;
            }
        }
        Standing::OnTrack { .. } => {}
    }
    Ok(())
}

/// The tenant's business-day calendar around `day`: its country's public
/// holidays (`[dunning] country`) and its extra days off.
pub fn calendar(tenant: &TenantConfig, day: NaiveDate) -> Calendar {
    calendar_between(tenant, day, day)
}

/// The tenant's business-day calendar from the year before `from` to the year after `to`.
pub fn calendar_between(tenant: &TenantConfig, from: NaiveDate, to: NaiveDate) -> Calendar {
    Calendar::for_country(tenant.dunning.country, from.year() - 1..=to.year() + 1, &tenant.dunning.extra_holidays)
}

/// The scenario a customer follows: the one assigned to it explicitly in
/// `[dunning.assign]`, else the first whose conditions match.
pub fn scenario_for<'s>(tenant: &'s TenantConfig, c: &CustomerState) -> Option<&'s CompiledScenario> {
    match tenant.dunning.assign.get(&c.customer_id) {
        Some(name) => tenant.scenarios.iter().find(|s| &s.name == name),
        None => tenant.scenarios.iter().find(|s| s.scenario.applies_to(c)),
    }
}

/// What a message about `numbers` of customer `c` shows.
pub(crate) fn facts(tenant: &TenantConfig, c: &CustomerState, numbers: &[String], day: NaiveDate) -> ReminderFacts {
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
        penalty_rate_bp: tenant.dunning.late_interest.rate_bp(day),
        credit_notes: c
            .credit_notes
            .iter()
            .map(|n| relance_engine::dunning::templates::CreditNoteFacts {
                number: n.number.clone(),
                issue_date: n.issue_date,
                open: n.open,
            })
            .collect(),
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
                id: INVOICE_COPY_STEP.into(),
                offset_days: 0,
                channel: Channel::Email,
                template: "invoice_copy".into(),
                confirm: None,
            },
            invoices: named.clone(),
            covers: Vec::new(),
            idempotency_key: format!("copy|message:{}", req.message_id),
            why: vec![format!("the customer asked for a copy (message {})", req.message_id)],
        };
        let rendered = match tenant.templates.render("invoice_copy", &facts(tenant, c, &named, day)) {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(format!("customer {}: invoice copy: {e}", c.customer_id));
                continue;
            }
        };
        if let Some(id) =
            store.enqueue_reminder(&tenant.id, "replies", day, &decision, &rendered, req.reply_to.as_deref())?
        {
            report.queued.push(Queued::new(id, &decision, rendered.subject, false));
            report.copies += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(dunning: &str) -> TenantConfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("relance.toml"), "").unwrap();
        std::fs::write(dir.path().join("tenants/t.toml"), format!("[dunning]\n{dunning}")).unwrap();
        let s = relance_config::Settings::load_with_env(&dir.path().join("relance.toml"), &[]).unwrap();
        s.tenants[0].clone()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_calendar_follows_the_tenant_country() {
        // Default: France, as before the setting existed.
        let fr = calendar(&tenant(""), d(2026, 7, 1));
        assert!(!fr.is_business_day(d(2026, 7, 14)));
        let gb = tenant("country = \"GB\"\nextra_holidays = [\"2026-07-15\"]\n");
        let c = calendar(&gb, d(2026, 7, 1));
        assert!(c.is_business_day(d(2026, 7, 14)), "Bastille Day is a working day in England");
        assert!(!c.is_business_day(d(2026, 7, 15)), "the tenant's extra day off");
        assert!(!c.is_business_day(d(2026, 8, 31)), "Summer bank holiday");
        // The calendar spans the years around the day asked (a plan on 31 December sees New Year).
        assert!(!calendar(&gb, d(2026, 12, 31)).is_business_day(d(2027, 1, 1)));
        let none = calendar(&tenant("country = \"none\"\n"), d(2026, 12, 1));
        assert!(none.is_business_day(d(2026, 12, 25)));
    }
}
