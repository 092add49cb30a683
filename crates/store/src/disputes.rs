//! Disputes: the open ones, and a person's resolution.
//!
//! One source of truth: an invoice is in dispute exactly when its status is
//! `disputed` (set by reply handling, see `messages`; the dunning engine
//! skips it). Resolving ([`Store::resolve_dispute`]) puts the invoice back
//! to `open` (or `partially_paid`), closes the open dispute tasks that name
//! it (when none of their other invoices is still disputed) and records a
//! `dispute_resolved` audit event with the resolution, the note and the
//! person, plus an `invoice_undisputed` event for each reply that held it
//! disputed (so correcting that reply later does not undo it twice). What
//! follows depends on the [`DisputeResolution`]: reminders resume, or, when
//! a credit note is expected, the invoice is held (a hold the person may
//! lift; the credit note, synced from the ERP, settles the invoice).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::{Acted, ActionRefusal, CursorPage, actor as check_actor};
use super::db::{Db, args};
use super::holds::insert_hold;
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{TaskKind, TaskStatus};

/// How a person resolves a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeResolution {
    /// The objection is rejected (the invoice is due as issued): reminders resume.
    CustomerWrong,
    /// The customer withdrew the objection: reminders resume.
    Withdrawn,
    /// The customer is right and a credit note will settle the invoice:
    /// no reminder for it (a hold until lifted).
    CreditNoteExpected,
}

impl DisputeResolution {
    pub const ALL: [DisputeResolution; 3] =
        [DisputeResolution::CustomerWrong, DisputeResolution::Withdrawn, DisputeResolution::CreditNoteExpected];

    /// The stored and shown text.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeResolution::CustomerWrong => "customer_wrong",
            DisputeResolution::Withdrawn => "withdrawn",
            DisputeResolution::CreditNoteExpected => "credit_note_expected",
        }
    }

    /// Whether reminders of the invoice resume.
    pub fn resumes_reminders(self) -> bool {
        !matches!(self, DisputeResolution::CreditNoteExpected)
    }
}

/// An open dispute, for the API and the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DisputeView {
    pub invoice: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub due_date: String,
    /// Open amount (decimal) in `currency`.
    pub open: String,
    pub currency: String,
    /// When the latest reply disputed it, and which message.
    pub disputed_at: Option<String>,
    pub message: Option<i64>,
    /// Open dispute tasks that name it.
    pub tasks: Vec<i64>,
}

/// What a resolution did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DisputeResolved {
    pub invoice: String,
    pub customer_id: String,
    pub resolution: DisputeResolution,
    /// The invoice's status now (`open` or `partially_paid`).
    pub status: String,
    pub tasks_closed: Vec<i64>,
    /// The hold placed (credit note expected).
    pub hold: Option<i64>,
    pub reminders_resume: bool,
}

/// Open dispute tasks naming `number` (case aside, ASCII only as SQLite's
/// `upper`), their JSON lists of invoices read here rather than with
/// SQLite's `json_each`, which PostgreSQL does not have.
fn dispute_tasks(db: Db<'_>, t: &str, number: &str) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
    let mut out = Vec::new();
    for r in db.query(
        "SELECT id, invoice_numbers FROM tasks WHERE tenant_id=?1 AND kind=?2 AND status=?3 ORDER BY id",
        args![t, TaskKind::Dispute.as_str(), TaskStatus::Open.as_str()],
    )? {
        let list: Vec<serde_json::Value> = serde_json::from_str(&r.get::<String>(1)?).unwrap_or_default();
        if list.iter().any(|n| n.as_str().is_some_and(|n| n.eq_ignore_ascii_case(number))) {
            let names = list.into_iter().filter_map(|n| n.as_str().map(String::from)).collect();
            out.push((r.get(0)?, names));
        }
    }
    Ok(out)
}

/// The reply an audit event's data names (`message`), if any.
fn message_of(data: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(data).ok()?.get("message")?.as_i64()
}

impl Store {
    /// `actor` resolves the dispute on invoice `number` (see the module doc).
    /// Refused when the invoice does not exist (404) or is not disputed (409).
    pub fn resolve_dispute(
        &self,
        tenant: &TenantId,
        number: &str,
        resolution: DisputeResolution,
        note: Option<&str>,
        actor: &str,
    ) -> Result<Acted<DisputeResolved>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        self.db.write_any(|db| {
            // Numbers that differ only in case sort byte-wise on both databases.
            let by_number = if db.is_postgres() { r#"number COLLATE "C""# } else { "number" };
            let found: Option<(String, String, String)> = db
                .query_opt(
                    &format!(
                        "SELECT number, customer_id, status FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2)
                         ORDER BY {by_number} LIMIT 1"
                    ),
                    args![t, number],
                )?
                .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?, r.get(2)?)))
                .transpose()?;
            let Some((number, customer, status)) = found else {
                return Ok(Err(ActionRefusal::NotFound(format!("no invoice {number}"))));
            };
            if status != "disputed" {
                return Ok(Err(ActionRefusal::Conflict(format!("invoice {number} is {status}, not disputed"))));
            }
            let now = now_text();
            db.execute(
                "UPDATE invoices SET status=CASE WHEN open_minor < total_minor THEN 'partially_paid' ELSE 'open' END,
                        updated_at=?3 WHERE tenant_id=?1 AND number=?2 AND status='disputed'",
                args![t, number, now],
            )?;
            let new_status: String =
                db.query_one("SELECT status FROM invoices WHERE tenant_id=?1 AND number=?2", args![t, number])?.get(0)?;
            // The replies that held it disputed let go of it (see `corrections`).
            let mut holders: HashMap<i64, bool> = HashMap::new();
            for r in db.query(
                "SELECT kind, data FROM audit_events WHERE tenant_id=?1 AND subject=?2
                 AND kind IN ('invoice_disputed', 'invoice_undisputed') ORDER BY id",
                args![t, format!("invoice:{number}")],
            )? {
                if let Some(m) = message_of(&r.get::<String>(1)?) {
                    holders.insert(m, r.get::<String>(0)? == "invoice_disputed");
                }
            }
            let mut messages: Vec<i64> = holders.into_iter().filter(|(_, held)| *held).map(|(m, _)| m).collect();
            messages.sort_unstable();
            for m in &messages {
                insert_event(
                    db,
                    t,
                    actor,
                    "invoice_undisputed",
                    &format!("invoice:{number}"),
                    &json!({ "message": m, "by": actor, "resolution": resolution.as_str() }),
                )?;
            }
            // Dispute tasks naming it, once none of their invoices is disputed any more.
            let mut closed = Vec::new();
            for (task, invoices) in dispute_tasks(db, t, &number)? {
                let mut other_disputed = false;
                for n in invoices.iter().filter(|n| !n.eq_ignore_ascii_case(&number)) {
                    let still: i64 = db
                        .query_one(
                            "SELECT count(*) FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) AND status='disputed'",
                            args![t, n],
                        )?
                        .get(0)?;
                    other_disputed |= still > 0;
                }
                if other_disputed {
                    continue;
                }
                let closing = format!("dispute resolved: {}", resolution.as_str());
                db.execute(
                    "UPDATE tasks SET status=?3, closed_by=?4, closed_at=?5, closed_note=?6, updated_at=?5
                     WHERE tenant_id=?1 AND id=?2 AND status=?7",
                    args![t, task, TaskStatus::Done.as_str(), actor, now, closing, TaskStatus::Open.as_str()],
                )?;
                closed.push(task);
            }
            let hold = if resolution.resumes_reminders() {
                None
            } else {
                let reason = match note {
                    Some(n) => format!("dispute upheld, credit note expected: {n}"),
                    None => "dispute upheld, credit note expected".to_string(),
                };
                Some(insert_hold(db, t, &customer, Some(&number), &reason, None, actor)?)
            };
            insert_event(
                db,
                t,
                actor,
                "dispute_resolved",
                &format!("invoice:{number}"),
                &json!({
                    "customer": customer, "resolution": resolution.as_str(), "note": note,
                    "status": new_status, "tasks_closed": closed, "hold": hold, "messages": messages,
                }),
            )?;
            Ok(Ok(DisputeResolved {
                invoice: number,
                customer_id: customer,
                resolution,
                status: new_status,
                tasks_closed: closed,
                hold,
                reminders_resume: resolution.resumes_reminders(),
            }))
        })
    }

    /// Invoices in dispute with money still due, by number, after the
    /// cursor (an invoice number).
    pub fn disputes(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<CursorPage<DisputeView, String>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            // The cursor is an invoice number: compared and sorted byte-wise on both databases.
            let number = if db.is_postgres() { r#"i.number COLLATE "C""# } else { "i.number" };
            let rows = db.query(
                &format!(
                    "SELECT i.number, i.customer_id, c.name, i.due_date, i.open_minor, i.currency FROM invoices i
                     LEFT JOIN customers c ON c.tenant_id=i.tenant_id AND c.id=i.customer_id
                     WHERE i.tenant_id=?1 AND i.status='disputed' AND (CAST(?2 AS TEXT) IS NULL OR {number}>?2)
                     ORDER BY {number} LIMIT ?3"
                ),
                args![t, after, i64::from(limit) + 1],
            )?;
            let mut items = Vec::new();
            for r in &rows {
                let (number, customer_id, customer_name, due_date, open, ccy): (
                    String,
                    String,
                    Option<String>,
                    String,
                    i64,
                    String,
                ) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
                let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let (disputed_at, message) = match db.query_opt(
                    "SELECT at, data FROM audit_events WHERE tenant_id=?1 AND subject=?2
                     AND kind='invoice_disputed' ORDER BY id DESC LIMIT 1",
                    args![t, format!("invoice:{number}")],
                )? {
                    Some(r) => (r.get::<Option<String>>(0)?, message_of(&r.get::<String>(1)?)),
                    None => (None, None),
                };
                let tasks = dispute_tasks(db, t, &number)?.into_iter().map(|(id, _)| id).collect();
                items.push(DisputeView {
                    invoice: number,
                    customer_id,
                    customer_name,
                    due_date,
                    open: Money::new(open, currency).to_decimal_string(),
                    currency: currency.code().to_string(),
                    disputed_at,
                    message,
                    tasks,
                });
            }
            let more = items.len() > limit as usize;
            items.truncate(limit as usize);
            let next_after = if more { items.last().map(|d| d.invoice.clone()) } else { None };
            Ok(CursorPage { items, next_after })
        })
    }
}
