//! The reminder outbox: what the dunning engine decided to send.
//!
//! A decision is queued under its idempotency key, unique per tenant, in the
//! same transaction as its audit event; queuing the same decision again
//! (planning twice in a day, a restart mid-plan) is a no-op. Queued rows are
//! what [`Store::dunning_states`] reads back as "already sent", so the engine
//! never decides the same step twice. Delivery by channel (SMTP, SMS, webhook,
//! letter) reads `queued` rows; it is not built yet.

use chrono::NaiveDate;
use rusqlite::params;
use serde_json::json;

use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use crate::domain::TenantId;
use crate::dunning::{Decision, templates::Rendered};

impl Store {
    /// Queues a rendered decision of `scenario` for `day`; returns the new
    /// row's id, or `None` when the same key is already queued.
    pub fn enqueue_reminder(
        &self,
        tenant: &TenantId,
        scenario: &str,
        day: NaiveDate,
        decision: &Decision,
        rendered: &Rendered,
        recipient: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let t = tenant.as_str();
        self.db.write(|tx| {
            let now = now_text();
            let channel = serde_json::to_value(decision.step.channel).unwrap_or_default();
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                    invoice_numbers, covers, planned_for, subject, body, why, status, created_at, updated_at, recipient)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,'queued',?14,?14,?15)",
                params![
                    t,
                    decision.idempotency_key,
                    decision.customer_id,
                    scenario,
                    decision.step.id,
                    channel.as_str().unwrap_or("email"),
                    decision.step.template,
                    json!(decision.invoices).to_string(),
                    json!(decision.covers).to_string(),
                    day.to_string(),
                    rendered.subject,
                    rendered.body,
                    json!(decision.why).to_string(),
                    now,
                    recipient
                ],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            insert_event(
                tx,
                t,
                "dunning",
                "reminder_queued",
                &format!("outbox:{id}"),
                &json!({ "customer": decision.customer_id, "step": decision.step.id, "invoices": decision.invoices, "day": day.to_string() }),
            )?;
            Ok(Some(id))
        })
    }

    /// Outbox rows (by status, all when `None`), newest first.
    pub fn outbox(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT id, customer_id, scenario, step_id, channel, template, invoice_numbers, planned_for, subject, body, why, status, attempts, last_error, created_at, recipient
                 FROM outbox WHERE tenant_id=?1 AND (?2 IS NULL OR status=?2) ORDER BY id DESC LIMIT ?3",
            )?;
            let json_of = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap_or_default();
            let rows = st
                .query_map(params![tenant.as_str(), status, limit], |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?, "customer_id": r.get::<_, String>(1)?, "scenario": r.get::<_, String>(2)?,
                        "step": r.get::<_, String>(3)?, "channel": r.get::<_, String>(4)?, "template": r.get::<_, String>(5)?,
                        "invoices": json_of(r.get(6)?), "planned_for": r.get::<_, String>(7)?,
                        "subject": r.get::<_, String>(8)?, "body": r.get::<_, String>(9)?, "why": json_of(r.get(10)?),
                        "status": r.get::<_, String>(11)?, "attempts": r.get::<_, i64>(12)?,
                        "last_error": r.get::<_, Option<String>>(13)?, "created_at": r.get::<_, String>(14)?,
                        "recipient": r.get::<_, Option<String>>(15)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

/// A request for a copy of invoices, not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// The inbound message that asked.
    pub message_id: i64,
    pub customer_id: String,
    /// Invoices named; empty means "my open invoices".
    pub invoices: Vec<String>,
    /// The address that asked.
    pub reply_to: Option<String>,
}

impl Store {
    /// Copy requests of linked customers with no answer in the outbox yet
    /// (answers are keyed `copy|message:<id>`).
    pub fn unanswered_copy_requests(&self, tenant: &TenantId) -> Result<Vec<CopyRequest>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT e.subject, e.data FROM audit_events e WHERE e.tenant_id=?1 AND e.kind='invoice_copy_requested'
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.tenant_id=e.tenant_id AND o.idempotency_key='copy|' || e.subject)
                 ORDER BY e.id",
            )?;
            let rows = st
                .query_map([tenant.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(subject, data)| {
                    let d: serde_json::Value = serde_json::from_str(&data).ok()?;
                    Some(CopyRequest {
                        message_id: subject.strip_prefix("message:")?.parse().ok()?,
                        customer_id: d["customer"].as_str()?.to_string(),
                        invoices: d["invoices"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                            .unwrap_or_default(),
                        reply_to: d["to"].as_str().map(String::from),
                    })
                })
                .collect())
        })
    }
}
