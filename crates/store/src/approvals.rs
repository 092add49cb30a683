//! The approval gate: reminders of a scenario step marked `confirm` are
//! queued as `to_confirm` ([`Store::enqueue_to_confirm`]) and wait for a
//! person, who reads the rendered message ([`Store::outbox_entry`]), then
//! approves it, possibly with an edited subject and text
//! ([`Store::approve_outbox`]: it becomes `queued` and delivery sends it), or
//! cancels it with a reason ([`Store::cancel_outbox`]).
//!
//! Decisions are idempotent: approving an approved reminder again (without a
//! different edit) or cancelling a cancelled one changes nothing; approving a
//! cancelled reminder is refused. A person's cancellation is final: the row
//! keeps its idempotency key and `dunning_states` counts its step as taken,
//! so the planner never decides it again. Each decision records who and when
//! on the row and is an audit event (an edit keeps the original text in it).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::{Acted, ActionRefusal, actor as check_actor, required};
use super::db::{Db, Row, args};
use super::outbox::OutboxStatus;
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_engine::dunning::{Decision, templates::Rendered};

/// One outbox row, for the API and the pages (the rendered message as stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub scenario: String,
    pub step: String,
    /// `email`, `sms`, `letter`, `call_task`, `webhook`.
    pub channel: String,
    pub template: String,
    pub invoices: Vec<String>,
    pub planned_for: String,
    pub subject: String,
    /// The text as rendered at planning (or as edited when approved).
    pub body: String,
    pub why: Vec<String>,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub recipient: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub reference: Option<String>,
    /// Who approved or cancelled it, when, and why it was cancelled.
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub cancel_reason: Option<String>,
    /// The person changed the subject or the text when approving.
    pub edited: bool,
}

/// A person's edit of a reminder before approving it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxEdit {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

const COLUMNS: &str =
    "o.id, o.customer_id, c.name, o.scenario, o.step_id, o.channel, o.template, o.invoice_numbers, o.planned_for,
    o.subject, o.body, o.why, o.status, o.attempts, o.last_error, o.recipient, o.created_at, o.sent_at, o.reference,
    o.decided_by, o.decided_at, o.cancel_reason, o.edited";

fn view(r: &Row) -> Result<OutboxView, StoreError> {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    let status: String = r.get(12)?;
    Ok(OutboxView {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        customer_name: r.get(2)?,
        scenario: r.get(3)?,
        step: r.get(4)?,
        channel: r.get(5)?,
        template: r.get(6)?,
        invoices: list(r.get(7)?),
        planned_for: r.get(8)?,
        subject: r.get(9)?,
        body: r.get(10)?,
        why: list(r.get(11)?),
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox status `{status}`")))?,
        attempts: r.get(13)?,
        last_error: r.get(14)?,
        recipient: r.get(15)?,
        created_at: r.get(16)?,
        sent_at: r.get(17)?,
        reference: r.get(18)?,
        decided_by: r.get(19)?,
        decided_at: r.get(20)?,
        cancel_reason: r.get(21)?,
        edited: r.get::<i64>(22)? != 0,
    })
}

/// One outbox row as a person sees it.
fn read(db: Db<'_>, t: &str, id: i64) -> Result<Option<OutboxView>, StoreError> {
    db.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM outbox o LEFT JOIN customers c ON c.tenant_id=o.tenant_id AND c.id=o.customer_id
                 WHERE o.tenant_id=?1 AND o.id=?2"
        ),
        args![t, id],
    )?
    .map(|r| view(&r))
    .transpose()
}

fn not_found(id: i64) -> ActionRefusal {
    ActionRefusal::NotFound(format!("no outbox row {id}"))
}

impl Store {
    /// Queues a rendered decision of a step marked `confirm`: it waits as
    /// `to_confirm` for a person (see the module doc); `None` when the same
    /// key is already in the outbox.
    pub fn enqueue_to_confirm(
        &self,
        tenant: &TenantId,
        scenario: &str,
        day: NaiveDate,
        decision: &Decision,
        rendered: &Rendered,
    ) -> Result<Option<i64>, StoreError> {
        self.enqueue_as(tenant, scenario, day, decision, rendered, None, OutboxStatus::ToConfirm, None)
    }

    /// One outbox row with its rendered message.
    pub fn outbox_entry(&self, tenant: &TenantId, id: i64) -> Result<Option<OutboxView>, StoreError> {
        self.db.read_any(|db| read(db, tenant.as_str(), id))
    }

    /// `actor` approves a reminder waiting for confirmation, as rendered or
    /// with `edit`: it becomes `queued` and goes at the next delivery pass.
    pub fn approve_outbox(
        &self,
        tenant: &TenantId,
        id: i64,
        edit: &OutboxEdit,
        actor: &str,
    ) -> Result<Acted<OutboxView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let subject = match edit.subject.as_deref().map(|s| required(s, "subject")).transpose() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let body = match edit.body.as_deref().map(|s| required(s, "body")).transpose() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        self.db.write_any(|db| {
            let Some(row) = read(db, t, id)? else { return Ok(Err(not_found(id))) };
            match row.status {
                OutboxStatus::ToConfirm => {}
                OutboxStatus::Cancelled => {
                    return Ok(Err(ActionRefusal::Conflict(format!(
                        "reminder {id} was cancelled{}: it cannot be approved",
                        row.cancel_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                    ))));
                }
                _ if row.decided_by.is_some() => {
                    // Approved already: the same approval again is fine, a new edit is not.
                    let same = subject.as_ref().is_none_or(|s| *s == row.subject)
                        && body.as_ref().is_none_or(|b| *b == row.body);
                    return Ok(if same {
                        Ok(row)
                    } else {
                        Err(ActionRefusal::Conflict(format!(
                            "reminder {id} is approved already ({}): it can no longer be edited",
                            row.status
                        )))
                    });
                }
                other => {
                    return Ok(Err(ActionRefusal::Conflict(format!(
                        "reminder {id} is {other}: only a reminder waiting for confirmation is approved"
                    ))));
                }
            }
            let edited = subject.as_ref().is_some_and(|s| *s != row.subject) || body.as_ref().is_some_and(|b| *b != row.body);
            let now = now_text();
            db.execute(
                "UPDATE outbox SET status=?3, subject=?4, body=?5, decided_by=?6, decided_at=?7, edited=?8, updated_at=?7
                 WHERE tenant_id=?1 AND id=?2 AND status=?9",
                args![
                    t,
                    id,
                    OutboxStatus::Queued.as_str(),
                    subject.as_deref().unwrap_or(&row.subject),
                    body.as_deref().unwrap_or(&row.body),
                    actor,
                    now,
                    edited,
                    OutboxStatus::ToConfirm.as_str()
                ],
            )?;
            let original = edited.then(|| json!({ "subject": row.subject, "body": row.body }));
            insert_event(
                db,
                t,
                actor,
                "reminder_approved",
                &format!("outbox:{id}"),
                &json!({ "customer": row.customer_id, "step": row.step, "edited": edited, "original": original }),
            )?;
            Ok(read(db, t, id)?.ok_or_else(|| not_found(id)))
        })
    }

    /// Approves several reminders as rendered, each on its own (one refusal
    /// does not stop the others); answers in the order of `ids`.
    pub fn approve_outbox_many(
        &self,
        tenant: &TenantId,
        ids: &[i64],
        actor: &str,
    ) -> Result<Vec<(i64, Acted<OutboxView>)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.push((id, self.approve_outbox(tenant, id, &OutboxEdit::default(), actor)?));
        }
        Ok(out)
    }

    /// `actor` cancels a reminder not sent yet (waiting for confirmation,
    /// queued or failed), for `reason`: it is never sent, and its step is
    /// never planned again for the invoices it names.
    pub fn cancel_outbox(
        &self,
        tenant: &TenantId,
        id: i64,
        reason: &str,
        actor: &str,
    ) -> Result<Acted<OutboxView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let reason = match required(reason, "reason") {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        self.db.write_any(|db| {
            let Some(row) = read(db, t, id)? else { return Ok(Err(not_found(id))) };
            match row.status {
                OutboxStatus::ToConfirm | OutboxStatus::Queued | OutboxStatus::Failed => {}
                OutboxStatus::Cancelled if row.decided_by.is_some() => return Ok(Ok(row)),
                other => {
                    return Ok(Err(ActionRefusal::Conflict(format!(
                        "reminder {id} is {other}: only a reminder not sent yet is cancelled"
                    ))));
                }
            }
            let now = now_text();
            db.execute(
                "UPDATE outbox SET status=?3, decided_by=?4, decided_at=?5, cancel_reason=?6, next_attempt_at=NULL, updated_at=?5
                 WHERE tenant_id=?1 AND id=?2 AND status=?7",
                args![t, id, OutboxStatus::Cancelled.as_str(), actor, now, reason, row.status.as_str()],
            )?;
            insert_event(
                db,
                t,
                actor,
                "reminder_cancelled",
                &format!("outbox:{id}"),
                &json!({ "customer": row.customer_id, "step": row.step, "invoices": row.invoices, "reason": reason, "was": row.status }),
            )?;
            Ok(read(db, t, id)?.ok_or_else(|| not_found(id)))
        })
    }
}
