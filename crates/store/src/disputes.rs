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

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::{Acted, ActionRefusal, CursorPage, actor as check_actor};
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

/// Open dispute tasks naming `number` (case aside).
fn dispute_tasks(c: &rusqlite::Connection, t: &str, number: &str) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT DISTINCT k.id, k.invoice_numbers FROM tasks k, json_each(k.invoice_numbers) n
         WHERE k.tenant_id=?1 AND k.kind=?2 AND k.status=?3 AND upper(n.value)=upper(?4) ORDER BY k.id",
    )?;
    let rows = st
        .query_map(params![t, TaskKind::Dispute.as_str(), TaskStatus::Open.as_str(), number], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().map(|(id, list)| (id, serde_json::from_str(&list).unwrap_or_default())).collect())
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
        self.db.write(|tx| {
            let found: Option<(String, String, String)> = tx
                .query_row(
                    "SELECT number, customer_id, status FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) ORDER BY number LIMIT 1",
                    params![t, number],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((number, customer, status)) = found else {
                return Ok(Err(ActionRefusal::NotFound(format!("no invoice {number}"))));
            };
            if status != "disputed" {
                return Ok(Err(ActionRefusal::Conflict(format!("invoice {number} is {status}, not disputed"))));
            }
            let now = now_text();
            tx.execute(
                "UPDATE invoices SET status=CASE WHEN open_minor < total_minor THEN 'partially_paid' ELSE 'open' END,
                        updated_at=?3 WHERE tenant_id=?1 AND number=?2 AND status='disputed'",
                params![t, number, now],
            )?;
            let new_status: String =
                tx.query_row("SELECT status FROM invoices WHERE tenant_id=?1 AND number=?2", params![t, number], |r| {
                    r.get(0)
                })?;
            // The replies that held it disputed let go of it (see `corrections`).
            let mut holders: HashMap<i64, bool> = HashMap::new();
            {
                let mut st = tx.prepare_cached(
                    "SELECT kind, json_extract(data, '$.message') FROM audit_events WHERE tenant_id=?1 AND subject=?2
                     AND kind IN ('invoice_disputed', 'invoice_undisputed') ORDER BY id",
                )?;
                for row in st.query_map(params![t, format!("invoice:{number}")], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
                })? {
                    if let (kind, Some(m)) = row? {
                        holders.insert(m, kind == "invoice_disputed");
                    }
                }
            }
            let mut messages: Vec<i64> = holders.into_iter().filter(|(_, held)| *held).map(|(m, _)| m).collect();
            messages.sort_unstable();
            for m in &messages {
                insert_event(
                    tx,
                    t,
                    actor,
                    "invoice_undisputed",
                    &format!("invoice:{number}"),
                    &json!({ "message": m, "by": actor, "resolution": resolution.as_str() }),
                )?;
            }
            // Dispute tasks naming it, once none of their invoices is disputed any more.
            let mut closed = Vec::new();
            let mut still = tx.prepare_cached(
                "SELECT count(*) FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) AND status='disputed'",
            )?;
            for (task, invoices) in dispute_tasks(tx, t, &number)? {
                let mut other_disputed = false;
                for n in invoices.iter().filter(|n| !n.eq_ignore_ascii_case(&number)) {
                    other_disputed |= still.query_row(params![t, n], |r| r.get::<_, i64>(0))? > 0;
                }
                if other_disputed {
                    continue;
                }
                let closing = format!("dispute resolved: {}", resolution.as_str());
                tx.execute(
                    "UPDATE tasks SET status=?3, closed_by=?4, closed_at=?5, closed_note=?6, updated_at=?5
                     WHERE tenant_id=?1 AND id=?2 AND status=?7",
                    params![t, task, TaskStatus::Done.as_str(), actor, now, closing, TaskStatus::Open.as_str()],
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
                Some(insert_hold(tx, t, &customer, Some(&number), &reason, None, actor)?)
            };
            insert_event(
                tx,
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
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT i.number, i.customer_id, c.name, i.due_date, i.open_minor, i.currency FROM invoices i
                 LEFT JOIN customers c ON c.tenant_id=i.tenant_id AND c.id=i.customer_id
                 WHERE i.tenant_id=?1 AND i.status='disputed' AND (?2 IS NULL OR i.number>?2) ORDER BY i.number LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![t, after, i64::from(limit) + 1], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut latest = c.prepare_cached(
                "SELECT at, json_extract(data, '$.message') FROM audit_events WHERE tenant_id=?1 AND subject=?2
                 AND kind='invoice_disputed' ORDER BY id DESC LIMIT 1",
            )?;
            let mut items = Vec::new();
            for (number, customer_id, customer_name, due_date, open, ccy) in rows {
                let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let (disputed_at, message) = latest
                    .query_row(params![t, format!("invoice:{number}")], |r| {
                        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?))
                    })
                    .optional()?
                    .unwrap_or((None, None));
                let tasks = dispute_tasks(c, t, &number)?.into_iter().map(|(id, _)| id).collect();
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
