//! The reminder outbox: what the dunning engine decided to send.
//!
//! A decision is queued under its idempotency key, unique per tenant, in the
//! same transaction as its audit event; queuing the same decision again
//! (planning twice in a day, a restart mid-plan) is a no-op. Queued rows are
//! what [`Store::dunning_states`] reads back as "already sent", so the engine
//! never decides the same step twice.
//!
//! Delivery (`relance_runtime::reminders::deliver`) claims due rows (`queued` → `sending`,
//! attempts + 1) in one transaction before it talks to a channel, then marks
//! each `sent`, back to `queued` after a backoff, or `failed` (quarantined
//! with the reason). Each row carries a deterministic message token, set when
//! it is queued, from which channels derive the Message-ID or event id: a
//! row sent again after a crash carries the same id. The claim is safe between
//! daemons sharing a PostgreSQL database: its transaction is `SERIALIZABLE`,
//! so of two claims that read the same queued row one is aborted and run
//! again (see [`Store::claim_outbox`]).
//!
//! A row's status is an [`OutboxStatus`]; the table's CHECK constraint
//! (migration 0010) refuses any other value. ("Outbox" means this reminder
//! queue only; notices for the ERP wait in the write-back queue.)

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::db::{Row, args};
use super::sqlite::insert_event;
use super::{Store, StoreError, Window, now_text};
use relance_domain::TenantId;
use relance_domain::replies::{TaskKind, TaskStatus};
use relance_engine::dunning::{Decision, templates::Rendered};

/// Where a reminder is in its life: `queued` → `sending` (claimed by a
/// delivery pass) → `sent`, back to `queued` (transient failure, after a
/// backoff), or `failed` (quarantined; `queued` again on retry); `cancelled`
/// when its invoices were settled or disputed before it left, or by a
/// person. A reminder of a step marked `confirm` starts as `to_confirm` and
/// waits for a person: approved it becomes `queued` (see `approvals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    ToConfirm,
    Queued,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] = [
        OutboxStatus::ToConfirm,
        OutboxStatus::Queued,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Failed,
        OutboxStatus::Cancelled,
    ];

    /// The value stored in the `status` column and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::ToConfirm => "to_confirm",
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<OutboxStatus> {
        OutboxStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored outbox status (the table's CHECK keeps it one of them).
fn status_of(r: &Row, i: usize) -> Result<OutboxStatus, StoreError> {
    let text: String = r.get(i)?;
    OutboxStatus::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown outbox status `{text}`")))
}

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
        self.enqueue_as(tenant, scenario, day, decision, rendered, recipient, OutboxStatus::Queued, None)
    }

    /// Queues an answer to a customer's message: to `recipient`, threaded
    /// to `in_reply_to` (its Message-ID). Idempotent like [`Store::enqueue_reminder`].
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_answer(
        &self,
        tenant: &TenantId,
        scenario: &str,
        day: NaiveDate,
        decision: &Decision,
        rendered: &Rendered,
        recipient: Option<&str>,
        in_reply_to: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        self.enqueue_as(tenant, scenario, day, decision, rendered, recipient, OutboxStatus::Queued, in_reply_to)
    }

    /// [`Store::enqueue_reminder`] with the row's first status: `queued`, or
    /// `to_confirm` for a step a person approves first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue_as(
        &self,
        tenant: &TenantId,
        scenario: &str,
        day: NaiveDate,
        decision: &Decision,
        rendered: &Rendered,
        recipient: Option<&str>,
        status: OutboxStatus,
        in_reply_to: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let now = now_text();
            let channel = serde_json::to_value(decision.step.channel).unwrap_or_default();
            let token = message_token(t, &decision.idempotency_key, &now);
            let inserted = db.query_opt(
                "INSERT OR IGNORE INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                    invoice_numbers, covers, planned_for, subject, body, why, status, created_at, updated_at, recipient, message_id,
                    in_reply_to)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?17,?14,?14,?15,?16,?18) RETURNING id",
                args![
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
                    recipient,
                    token,
                    status.as_str(),
                    in_reply_to
                ],
            )?;
            // No row: the same key is already queued (`OR IGNORE` returns nothing).
            let Some(row) = inserted else { return Ok(None) };
            let id: i64 = row.get(0)?;
            insert_event(
                db,
                t,
                "dunning",
                if status == OutboxStatus::ToConfirm { "reminder_to_confirm" } else { "reminder_queued" },
                &format!("outbox:{id}"),
                &json!({ "customer": decision.customer_id, "step": decision.step.id, "invoices": decision.invoices, "day": day.to_string() }),
            )?;
            Ok(Some(id))
        })
    }

    /// Outbox rows (by status, all when `None`), newest first: those older
    /// than the row `page.after` when given. No row has a status that is not
    /// an [`OutboxStatus`]: asking for one lists nothing.
    pub fn outbox(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        page: impl Into<Window<i64>>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let page = page.into();
        let status = match status.map(OutboxStatus::parse) {
            None => None,
            Some(Some(s)) => Some(s),
            Some(None) => return Ok(Vec::new()),
        };
        self.db.read_any(|db| {
            // The status condition only when there is one: the (tenant, status, id)
            // index then serves the page (an `?2 IS NULL OR …` never uses it).
            let by_status = if status.is_some() { "status=?2" } else { "CAST(?2 AS TEXT) IS NULL" };
            let json_of = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap_or_default();
            db.query(&format!(
                "SELECT id, customer_id, scenario, step_id, channel, template, invoice_numbers, planned_for, subject, body, why, status, attempts, last_error, created_at, recipient,
                        message_id, next_attempt_at, sent_at, reference, connector
                 FROM outbox WHERE tenant_id=?1 AND {by_status} AND (CAST(?4 AS INTEGER) IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?3"
            ),
                args![tenant.as_str(), status.map(OutboxStatus::as_str), page.limit, page.after],
            )?
            .iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    customer_id: r.get(1)?,
                    scenario: r.get(2)?,
                    step: r.get(3)?,
                    channel: r.get(4)?,
                    template: r.get(5)?,
                    invoices: serde_json::from_str(&r.get::<String>(6)?).unwrap_or_default(),
                    planned_for: r.get(7)?,
                    subject: r.get(8)?,
                    body: r.get(9)?,
                    why: json_of(r.get(10)?),
                    status: status_of(r, 11)?,
                    attempts: r.get(12)?,
                    last_error: r.get(13)?,
                    created_at: r.get(14)?,
                    recipient: r.get(15)?,
                    message_token: r.get(16)?,
                    next_attempt_at: r.get(17)?,
                    sent_at: r.get(18)?,
                    reference: r.get(19)?,
                    connector: r.get(20)?,
                })
            })
            .collect()
        })
    }
}

/// A row of the outbox as listed: a reminder (or answer) planned, sent or failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxRow {
    pub id: i64,
    pub customer_id: String,
    pub scenario: String,
    /// The scenario step.
    pub step: String,
    pub channel: String,
    pub template: String,
    pub invoices: Vec<String>,
    /// The day it is planned for (`YYYY-MM-DD`).
    pub planned_for: String,
    pub subject: String,
    pub body: String,
    /// Why it was planned (the dunning engine's explanation).
    #[schema(value_type = Object)]
    pub why: serde_json::Value,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub recipient: Option<String>,
    /// The `Message-ID` of the mail sent (replies are tied to it).
    pub message_token: Option<String>,
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    /// The channel's reference of the delivery.
    pub reference: Option<String>,
    pub connector: Option<String>,
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
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT e.subject, e.data FROM audit_events e WHERE e.tenant_id=?1 AND e.kind='invoice_copy_requested'
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.tenant_id=e.tenant_id AND o.idempotency_key='copy|' || e.subject)
                 ORDER BY e.id",
                args![tenant.as_str()],
            )?;
            let rows = rows
                .iter()
                .map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(subject, data)| {
                    let d: crate::messages::CopyRequestedEvent = serde_json::from_str(&data).ok()?;
                    Some(CopyRequest {
                        message_id: subject.strip_prefix("message:")?.parse().ok()?,
                        customer_id: d.customer?,
                        invoices: d.invoices,
                        reply_to: d.to,
                    })
                })
                .collect())
        })
    }
}

/// The token of an outbox row, fixed when it is queued: every attempt to
/// deliver the row uses it, hence the same Message-ID. The queuing time is
/// part of it, so that another installation (or a fresh database) queuing
/// the same action does not reuse the id of a message sent long ago.
pub fn message_token(tenant: &str, idempotency_key: &str, queued_at: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\u{0}{idempotency_key}\u{0}{queued_at}").as_bytes());
    format!("rl-{}", &hex::encode(digest)[..24])
}

/// An outbox row claimed for delivery, with what the channels need to know
/// about its customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub idempotency_key: String,
    pub token: String,
    pub customer_id: String,
    pub customer_name: String,
    /// The address that asked (copy answers); else the customer's contacts are used.
    pub recipient: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub address: Option<String>,
    pub language: Option<String>,
    pub step: String,
    pub channel: String,
    pub invoices: Vec<String>,
    pub planned_for: String,
    pub subject: String,
    pub body: String,
    /// This delivery attempt (1 for the first).
    pub attempt: u32,
    /// A previous attempt was cut off mid-send (crash): ask the channel
    /// whether it got through before sending again.
    pub interrupted: bool,
    /// The Message-ID of the customer's message this one answers (a
    /// proof-of-payment request is threaded to the reply it follows).
    pub in_reply_to: Option<String>,
    /// The customer's addresses left out of `emails` because a delivery
    /// report said they fail, with the status code (`a@x (5.1.1)`).
    pub undeliverable: Vec<String>,
}

/// The columns [`item_row`] reads, from `outbox o LEFT JOIN customers c`.
const ITEM_COLUMNS: &str =
    "o.id, o.idempotency_key, o.message_id, o.customer_id, c.name, o.recipient, c.emails, c.phones, c.address,
     c.language, o.step_id, o.channel, o.invoice_numbers, o.planned_for, o.subject, o.body, o.attempts, o.interrupted, o.in_reply_to";

/// An outbox row with its customer's contacts, as delivery reads it.
fn item_row(r: &Row) -> Result<OutboxItem, StoreError> {
    let list = |s: Option<String>| -> Vec<String> { s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default() };
    Ok(OutboxItem {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        token: r.get::<Option<String>>(2)?.unwrap_or_default(),
        customer_id: r.get(3)?,
        customer_name: r.get::<Option<String>>(4)?.unwrap_or_default(),
        recipient: r.get(5)?,
        emails: list(r.get(6)?),
        phones: list(r.get(7)?),
        address: r.get(8)?,
        language: r.get(9)?,
        step: r.get(10)?,
        channel: r.get(11)?,
        invoices: list(r.get(12)?),
        planned_for: r.get(13)?,
        subject: r.get(14)?,
        body: r.get(15)?,
        attempt: r.get::<u32>(16)?.saturating_add(1),
        interrupted: r.get::<i64>(17)? != 0,
        undeliverable: Vec::new(),
        in_reply_to: r.get(18)?,
    })
}

/// Moves the addresses a delivery report said fail out of `emails` (see `contacts`).
fn skip_undeliverable(item: &mut OutboxItem, dead: &std::collections::HashMap<String, Option<String>>) {
    let (kept, skipped): (Vec<String>, Vec<String>) =
        item.emails.drain(..).partition(|e| !dead.contains_key(&e.trim().to_lowercase()));
    item.emails = kept;
    item.undeliverable = skipped
        .into_iter()
        .map(|e| {
            let code = dead.get(&e.trim().to_lowercase()).cloned().flatten();
            format!("{e} ({})", code.as_deref().unwrap_or("bounced"))
        })
        .collect();
}

/// What a claim found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    pub items: Vec<OutboxItem>,
    /// Rows cancelled instead: every invoice they name is paid, closed or
    /// disputed by now, or held by a person (see `holds`).
    pub cancelled: u32,
    /// Rows left waiting in the queue (retried in an hour): held by Relance
    /// while a credit from the customer awaits review or a payment claim
    /// is followed (see `credit_holds`).
    pub held: u32,
}

/// Whether an outbox step is a reminder of a scenario (not an answer to a
/// reply: a copy of invoices, a proof-of-payment request).
fn is_reminder(step: &str) -> bool {
    step != relance_engine::dunning::INVOICE_COPY_STEP && step != relance_engine::dunning::PROOF_REQUEST_STEP
}

impl Store {
    /// Puts rows left `sending` by an interrupted process back in the queue
    /// (their attempt is counted); returns how many.
    pub fn requeue_interrupted(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE outbox SET status=?3, interrupted=1, last_error='interrupted while sending', updated_at=?2
                 WHERE tenant_id=?1 AND status=?4",
                args![tenant.as_str(), now_text(), OutboxStatus::Queued.as_str(), OutboxStatus::Sending.as_str()],
            )?;
            usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} rows requeued")))
        })
    }

    /// An interrupted row its channel did not find delivered goes back to the
    /// queue, no longer interrupted: the next claim checks it (settled, held,
    /// handed over) as any other row. Returns whether it was `sending`.
    pub fn requeue_undelivered(&self, tenant: &TenantId, id: i64) -> Result<bool, StoreError> {
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE outbox SET status=?3, interrupted=0, updated_at=?4 WHERE tenant_id=?1 AND id=?2 AND status=?5",
                args![tenant.as_str(), id, OutboxStatus::Queued.as_str(), now_text(), OutboxStatus::Sending.as_str()],
            )?;
            Ok(n == 1)
        })
    }

    /// Claims up to `limit` rows due by `today` (local day) and `now`: moves
    /// them to `sending` and counts the attempt. Reminders whose invoices are
    /// all settled or disputed since they were planned are cancelled instead.
    pub fn claim_outbox(
        &self,
        tenant: &TenantId,
        today: NaiveDate,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Claim, StoreError> {
        let t = tenant.as_str();
        let now_s = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // On PostgreSQL several daemons (and several senders of one daemon)
        // claim at once: the rows are locked `FOR UPDATE … SKIP LOCKED` in a
        // READ COMMITTED transaction (`write_queue`), so each claim takes rows
        // no other holds and a row another claim moved to `sending` no longer
        // matches; no row is ever claimed twice. SQLite has no `FOR UPDATE`:
        // its single writer serializes claims.
        let lock = if self.db.is_postgres() { " FOR UPDATE OF o SKIP LOCKED" } else { "" };
        self.db.write_queue(|db| {
            let mut claim = Claim::default();
            let rows = db
                .query(
                    &format!(
                        "SELECT {ITEM_COLUMNS}
                 FROM outbox o LEFT JOIN customers c ON c.tenant_id=o.tenant_id AND c.id=o.customer_id
                 WHERE o.tenant_id=?1 AND o.status=?5 AND o.planned_for<=?2
                   AND (o.next_attempt_at IS NULL OR o.next_attempt_at<=?3)
                 ORDER BY o.id LIMIT ?4{lock}"
                    ),
                    args![t, today.to_string(), now_s, limit, OutboxStatus::Queued.as_str()],
                )?
                .iter()
                .map(item_row)
                .collect::<Result<Vec<_>, _>>()?;
            // Addresses a delivery report said fail are not used (see `contacts`).
            let dead = super::contacts::undeliverable(db, t)?;
            for mut item in rows {
                skip_undeliverable(&mut item, &dead);
                if item.token.is_empty() {
                    item.token = message_token(t, &item.idempotency_key, &format!("outbox:{}", item.id));
                }
                if item.interrupted {
                    // Interrupted mid-send by a stopped process: it may have gone out. Delivery
                    // first asks the channel (then it is recorded sent, whatever happened since);
                    // if it did not, the row comes back queued (`requeue_undelivered`) and is
                    // claimed again with the checks below. Probing is not an attempt.
                    db.execute(
                        "UPDATE outbox SET status=?5, message_id=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
                        args![t, item.id, item.token, now_s, OutboxStatus::Sending.as_str()],
                    )?;
                    claim.items.push(item);
                    continue;
                }
                // Handed over to an agency since it was planned: nothing more goes out (the
                // hand-off's own step, retried after a failed attempt, still does).
                let handoff = db
                    .query_opt(
                        "SELECT id, handed_over_on, outbox_id FROM handoffs WHERE tenant_id=?1 AND customer_id=?2 AND reversed_at IS NULL",
                        args![t, item.customer_id],
                    )?
                    .map(|r| Ok::<_, StoreError>((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<Option<i64>>(2)?)))
                    .transpose()?;
                if let Some((id, on, _)) = handoff.filter(|h| h.2 != Some(item.id)) {
                    db.execute(
                        "UPDATE outbox SET status=?4, last_error=?5, updated_at=?3,
                            idempotency_key = idempotency_key || '#cancelled:' || id
                         WHERE tenant_id=?1 AND id=?2",
                        args![
                            t,
                            item.id,
                            now_s,
                            OutboxStatus::Cancelled.as_str(),
                            format!("customer handed over on {on} (hand-off #{id})")
                        ],
                    )?;
                    insert_event(db, t, "delivery", "reminder_cancelled", &format!("outbox:{}", item.id), &json!({ "invoices": item.invoices, "handoff": id }))?;
                    claim.cancelled += 1;
                    continue;
                }
                let mut due = item.step == "invoice_copy";
                for n in &item.invoices {
                    due = due
                        || db
                            .query_one(
                                "SELECT count(*) FROM invoices WHERE tenant_id=?1 AND number=?2 AND status IN ('open','partially_paid') AND open_minor>0",
                                args![t, n],
                            )?
                            .get::<i64>(0)?
                            > 0;
                }
                // Right before sending: a credit from the customer awaiting review that could pay it holds it.
                if due && is_reminder(&item.step) {
                    super::credit_holds::check_before_sending(db, t, &item.customer_id, &item.invoices)?;
                }
                // Held since it was planned: by a person, not sent (planned again after the hold);
                // by Relance (a credit awaiting review, a payment claim), it waits in the queue.
                let held = if due && is_reminder(&item.step) {
                    super::holds::holding_reminder(db, t, &item.customer_id, &item.invoices, today)?
                } else {
                    None
                };
                if let Some((hold, kind)) = held.filter(|(_, k)| k.automatic()) {
                    let retry = (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    let why = format!("held by Relance (hold #{hold}, {}): waits until it ends", kind.as_str());
                    db.execute(
                        "UPDATE outbox SET next_attempt_at=?3, last_error=?4, updated_at=?5 WHERE tenant_id=?1 AND id=?2",
                        args![t, item.id, retry, why, now_s],
                    )?;
                    claim.held += 1;
                    continue;
                }
                if let Some((hold, _)) = held {
                    db.execute(
                        // The key is freed (suffixed with the row's id) so that the step
                        // is planned again once the hold is lifted.
                        "UPDATE outbox SET status=?4, last_error=?5, updated_at=?3,
                            idempotency_key = idempotency_key || '#cancelled:' || id
                         WHERE tenant_id=?1 AND id=?2",
                        args![t, item.id, now_s, OutboxStatus::Cancelled.as_str(), format!("held since planning (hold #{hold})")],
                    )?;
                    insert_event(db, t, "delivery", "reminder_cancelled", &format!("outbox:{}", item.id), &json!({ "invoices": item.invoices, "hold": hold }))?;
                    claim.cancelled += 1;
                    continue;
                }
                if !due {
                    db.execute(
                        "UPDATE outbox SET status=?4, last_error='every invoice is settled or disputed since planning', updated_at=?3,
                            idempotency_key = idempotency_key || '#cancelled:' || id
                         WHERE tenant_id=?1 AND id=?2",
                        args![t, item.id, now_s, OutboxStatus::Cancelled.as_str()],
                    )?;
                    insert_event(db, t, "delivery", "reminder_cancelled", &format!("outbox:{}", item.id), &json!({ "invoices": item.invoices }))?;
                    claim.cancelled += 1;
                    continue;
                }
                db.execute(
                    "UPDATE outbox SET status=?5, attempts=attempts+1, message_id=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
                    args![t, item.id, item.token, now_s, OutboxStatus::Sending.as_str()],
                )?;
                claim.items.push(item);
            }
            Ok(claim)
        })
    }

    /// One outbox row as delivery would read it now (its customer's current
    /// contacts, failing addresses left out), without claiming it: what a
    /// preview renders.
    pub fn outbox_item(&self, tenant: &TenantId, id: i64) -> Result<Option<OutboxItem>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            let item = db
                .query_opt(
                    &format!(
                        "SELECT {ITEM_COLUMNS} FROM outbox o LEFT JOIN customers c ON c.tenant_id=o.tenant_id AND c.id=o.customer_id
                         WHERE o.tenant_id=?1 AND o.id=?2"
                    ),
                    args![t, id],
                )?
                .map(|r| item_row(&r))
                .transpose()?;
            let Some(mut item) = item else { return Ok(None) };
            let dead = super::contacts::undeliverable(db, t)?;
            skip_undeliverable(&mut item, &dead);
            if item.token.is_empty() {
                item.token = message_token(t, &item.idempotency_key, &format!("outbox:{}", item.id));
            }
            Ok(Some(item))
        })
    }

    /// Records a delivery.
    pub fn mark_outbox_sent(
        &self,
        tenant: &TenantId,
        id: i64,
        connector: &str,
        reference: &str,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE outbox SET status=?6, sent_at=?3, reference=?4, connector=?5, last_error=NULL, next_attempt_at=NULL, interrupted=0, updated_at=?3
                 WHERE tenant_id=?1 AND id=?2 AND status=?7",
                args![t, id, now_text(), reference, connector, OutboxStatus::Sent.as_str(), OutboxStatus::Sending.as_str()],
            )?;
            if n > 0 {
                insert_event(db, t, "delivery", "reminder_sent", &format!("outbox:{id}"), &json!({ "connector": connector, "reference": reference }))?;
            }
            Ok(())
        })
    }

    /// Records a failed attempt: back to the queue at `retry_at`, or, when
    /// `retry_at` is `None`, quarantined as `failed` with the reason.
    pub fn mark_outbox_failed(
        &self,
        tenant: &TenantId,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            match retry_at {
                Some(at) => {
                    db.execute(
                        "UPDATE outbox SET status=?6, last_error=?3, next_attempt_at=?4, interrupted=0, updated_at=?5 WHERE tenant_id=?1 AND id=?2 AND status=?7",
                        args![
                            t,
                            id,
                            error,
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            now_text(),
                            OutboxStatus::Queued.as_str(),
                            OutboxStatus::Sending.as_str()
                        ],
                    )?;
                }
                None => {
                    let n = db.execute(
                        "UPDATE outbox SET status=?5, last_error=?3, next_attempt_at=NULL, updated_at=?4 WHERE tenant_id=?1 AND id=?2 AND status=?6",
                        args![t, id, error, now_text(), OutboxStatus::Failed.as_str(), OutboxStatus::Sending.as_str()],
                    )?;
                    if n > 0 {
                        insert_event(db, t, "delivery", "reminder_failed", &format!("outbox:{id}"), &json!({ "reason": error }))?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Puts a failed row back in the queue (after the cause was fixed);
    /// returns false when the row is not `failed`.
    pub fn retry_outbox(&self, tenant: &TenantId, id: i64, actor: &str) -> Result<bool, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE outbox SET status=?4, attempts=0, next_attempt_at=NULL, updated_at=?3 WHERE tenant_id=?1 AND id=?2 AND status=?5",
                args![t, id, now_text(), OutboxStatus::Queued.as_str(), OutboxStatus::Failed.as_str()],
            )?;
            if n > 0 {
                insert_event(db, t, actor, "reminder_retry", &format!("outbox:{id}"), &json!({}))?;
            }
            Ok(n > 0)
        })
    }

    /// Opens a `contact` task for an e-mail reminder none of whose
    /// customer's addresses is deliverable any more (see `contacts`): a
    /// person finds another way. Keyed by the outbox row, like call tasks.
    pub fn open_contact_task(&self, tenant: &TenantId, item: &OutboxItem) -> Result<i64, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let key = format!("[outbox:{}]", item.id);
            let existing = db.query_opt(
                "SELECT id FROM tasks WHERE tenant_id=?1 AND kind=?2 AND note LIKE ?3",
                args![t, TaskKind::Contact.as_str(), format!("%{key}")],
            )?;
            if let Some(r) = existing {
                return r.get(0);
            }
            let note = format!(
                "no deliverable e-mail address left for {}: reminder `{}` about {} not sent ({}); undeliverable: {} {key}",
                if item.customer_name.is_empty() { &item.customer_id } else { &item.customer_name },
                item.step,
                item.invoices.join(", "),
                item.subject,
                item.undeliverable.join(", ")
            );
            let id: i64 = db
                .query_one(
                    "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
                 VALUES (?1,?2,?3,NULL,?4,?5,?6,?7,?7) RETURNING id",
                    args![
                    t,
                    TaskKind::Contact.as_str(),
                    item.customer_id,
                    json!(item.invoices).to_string(),
                    note,
                    TaskStatus::Open.as_str(),
                    now_text()
                ],
                )?
                .get(0)?;
            insert_event(db, t, "delivery", "reminder_to_task", &format!("outbox:{}", item.id), &json!({ "task": id, "undeliverable": item.undeliverable }))?;
            Ok(id)
        })
    }

    /// Opens a call task for a reminder step whose channel is a call; the
    /// task is keyed by the outbox row, so a repeat returns the same task.
    pub fn open_call_task(&self, tenant: &TenantId, item: &OutboxItem) -> Result<i64, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let note = format!("call {} about {}: {}", item.customer_name, item.invoices.join(", "), item.subject);
            let existing = db.query_opt(
                "SELECT id FROM tasks WHERE tenant_id=?1 AND kind='call' AND note LIKE ?2",
                args![t, format!("%[outbox:{}]", item.id)],
            )?;
            if let Some(r) = existing {
                return r.get(0);
            }
            db.query_one(
                "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
                 VALUES (?1,'call',?2,NULL,?3,?4,'open',?5,?5) RETURNING id",
                args![t, item.customer_id, json!(item.invoices).to_string(), format!("{note} [outbox:{}]", item.id), now_text()],
            )?
            .get(0)
        })
    }
}
