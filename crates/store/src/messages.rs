//! Inbound messages from collections mailboxes: where each was read, its raw
//! copy, what it was understood to say, and what was done about it.
//!
//! What a reply leads to is decided by the engine's reply-action policy
//! ([`relance_engine::replies::actions::plan`]); this module gathers the facts
//! it needs (the invoices a reply names, the reminder it answers, the
//! sender's customer, the credits waiting for review) and carries out the
//! typed actions it returns, in the transaction that records the message,
//! with their audit events.
//!
//! The understanding is stored as JSON with its version
//! (`understanding_version`, see [`UNDERSTANDING_VERSION`]) and read back as
//! an [`Understanding`]; rows written before the version existed are
//! version 1.
//!
//! Everything here runs on SQLite and PostgreSQL (issue #17). A message is
//! recorded once per mailbox slot (`ON CONFLICT … DO NOTHING`) and handled
//! once (an `UPDATE … WHERE status='stored'` guards it): two daemons on one
//! PostgreSQL database doing both at once conflict, and the one run again
//! finds the message recorded, then handled.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::db::{Db, Row, Value, args};
use super::sqlite::insert_event;
use super::{Page, Store, StoreError, Window, cut_page, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_engine::refs::{self, RefReader, Spelling};
use relance_engine::replies::actions::{self, LinkedInvoice, ReminderLink, ReplyAction, ReplyContext, ReviewCredit};
use relance_engine::replies::{Intent, UNDERSTANDING_VERSION, Understanding, token};

/// Where a message sits in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSlot<'a> {
    pub source: &'a str,
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// A stored message's state, as the connector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub status: MessageStatus,
    pub raw_path: String,
    pub moved_to: Option<String>,
    /// When it was fetched and recorded.
    pub stored_at: DateTime<Utc>,
}

/// What is recorded of a message's content, as the API shows it: what it
/// was understood to say, or `{}` when it could not be read at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UnderstandingView {
    Understood(Box<Understanding>),
    Unread(Unread),
}

/// Nothing could be read (`{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unread {}

/// A message for the API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub mailbox: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub status: MessageStatus,
    /// What the reply says (`payment_promise`, `dispute`…), when understood.
    #[schema(value_type = Option<String>)]
    pub intent: Option<Intent>,
    /// The reply understanding's details (the engine's, versioned).
    #[schema(value_type = Option<Object>)]
    pub understanding: Option<UnderstandingView>,
    pub error: Option<String>,
    pub moved_to: Option<String>,
    pub created_at: String,
}

/// A promise to pay, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PromiseView {
    pub id: i64,
    pub customer_id: Option<String>,
    /// The message it was read from.
    #[serde(rename = "message")]
    pub message_id: Option<i64>,
    pub invoices: Vec<String>,
    pub promised_date: Option<NaiveDate>,
    /// As stated (a decimal number).
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub status: PromiseStatus,
    pub created_at: String,
}

/// A task for a person, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub kind: TaskKind,
    pub customer_id: Option<String>,
    /// The message it came from, if any.
    #[serde(rename = "message")]
    pub message_id: Option<i64>,
    pub invoices: Vec<String>,
    pub note: String,
    pub status: TaskStatus,
    pub created_at: String,
    /// The person it is assigned to.
    pub assignee: Option<String>,
    /// The day it is due, when set.
    pub due_on: Option<NaiveDate>,
    /// Who created it by hand (`None`: Relance opened it).
    pub created_by: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub closed_note: Option<String>,
}

/// A state column read as its enum (a value outside the enum is corrupt
/// data: the `CHECK` constraints keep it out).
pub(super) fn state<T>(r: &Row, i: usize) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("column {i}: `{text}`: {e}")))
}

/// [`state`] of a nullable column.
fn state_opt<T>(r: &Row, i: usize) -> Result<Option<T>, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match r.get::<Option<String>>(i)? {
        None => Ok(None),
        Some(_) => state(r, i).map(Some),
    }
}

/// The columns [`stored_message`] reads, in its order.
const STORED_COLUMNS: &str = "id, status, raw_path, moved_to, created_at";

/// `id, status, raw_path, moved_to, created_at` as a [`StoredMessage`].
fn stored_message(r: &Row) -> Result<StoredMessage, StoreError> {
    let at: String = r.get(4)?;
    let stored_at = DateTime::parse_from_rfc3339(&at)
        .map_err(|e| StoreError::Corrupt(format!("message created_at `{at}`: {e}")))?
        .with_timezone(&Utc);
    Ok(StoredMessage { id: r.get(0)?, status: state(r, 1)?, raw_path: r.get(2)?, moved_to: r.get(3)?, stored_at })
}

/// The stored form of an understanding (version [`UNDERSTANDING_VERSION`]):
/// its JSON, or `{}` when nothing could be read.
pub(super) fn understanding_json(u: Option<&Understanding>) -> serde_json::Value {
    u.and_then(|u| serde_json::to_value(u).ok()).unwrap_or_else(|| json!({}))
}

/// An understanding as stored, read back; `None` (with a warning) for a
/// version this binary does not know or a document that does not read.
pub(super) fn read_understanding(id: i64, version: Option<u32>, text: Option<&str>) -> Option<UnderstandingView> {
    let text = text?;
    match version.unwrap_or(1) {
        1 => match serde_json::from_str::<UnderstandingView>(text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(message = id, error = %e, "stored understanding does not read as version 1");
                None
            }
        },
        v => {
            tracing::warn!(message = id, version = v, "stored understanding of an unknown version");
            None
        }
    }
}

impl Store {
    /// Message `id` of the tenant as stored (where its raw copy is), if any.
    pub fn stored_message(&self, tenant: &TenantId, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.db.read_any(|db| {
            db.query_opt(
                &format!("SELECT {STORED_COLUMNS} FROM inbound_messages WHERE tenant_id=?1 AND id=?2"),
                args![tenant.as_str(), id],
            )?
            .map(|r| stored_message(&r))
            .transpose()
        })
    }

    /// The message stored at this slot, if any.
    pub fn message_at(&self, tenant: &TenantId, slot: &MailboxSlot<'_>) -> Result<Option<StoredMessage>, StoreError> {
        self.db.read_any(|db| {
            db.query_opt(
                &format!(
                    "SELECT {STORED_COLUMNS} FROM inbound_messages
                     WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5"
                ),
                args![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid],
            )?
            .map(|r| stored_message(&r))
            .transpose()
        })
    }

    /// A message with the same content already handled from this mailbox (a
    /// UIDVALIDITY change renumbers messages: they are recognised by content).
    pub fn message_by_hash(
        &self,
        tenant: &TenantId,
        source: &str,
        mailbox: &str,
        sha256: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.db.read_any(|db| {
            db.query_opt(
                &format!(
                    "SELECT {STORED_COLUMNS} FROM inbound_messages
                     WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND sha256=?4 ORDER BY id LIMIT 1"
                ),
                args![tenant.as_str(), source, mailbox, sha256],
            )?
            .map(|r| stored_message(&r))
            .transpose()
        })
    }

    /// Records a message whose raw bytes are already on disk ([`MessageStatus::Stored`]).
    pub fn store_message(
        &self,
        tenant: &TenantId,
        slot: &MailboxSlot<'_>,
        sha256: &str,
        size: u64,
        raw_path: &str,
    ) -> Result<i64, StoreError> {
        let row = (slot.clone(), sha256.to_string(), size, raw_path.to_string());
        Ok(self.store_messages(tenant, std::slice::from_ref(&row))?.into_iter().next().unwrap_or_default())
    }

    /// Records what stored messages say and does what each calls for (see
    /// the module doc), in one transaction with their audit events; `today`
    /// is the day they are handled (the window of recent credits a payment
    /// claim is checked against ends on it). A message handled already is
    /// left as it is: nothing is done twice (on PostgreSQL too, by two
    /// daemons at once: the second one's transaction conflicts, is run
    /// again and finds the message handled).
    pub fn handle_messages(
        &self,
        tenant: &TenantId,
        today: NaiveDate,
        batch: &[HandleRequest],
    ) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            for h in batch {
                handle_in(db, tenant.as_str(), today, h)?;
            }
            Ok(())
        })
    }

    /// The stored messages among `uids` of one mailbox, by UID.
    pub fn messages_at(
        &self,
        tenant: &TenantId,
        source: &str,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, StoredMessage>, StoreError> {
        self.db.read_any(|db| {
            let mut out = std::collections::HashMap::new();
            for uid in uids {
                if let Some(r) = db.query_opt(
                    &format!(
                        "SELECT {STORED_COLUMNS} FROM inbound_messages
                         WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5"
                    ),
                    args![tenant.as_str(), source, mailbox, uidvalidity, uid],
                )? {
                    out.insert(*uid, stored_message(&r)?);
                }
            }
            Ok(out)
        })
    }

    /// Records several messages already written to disk, in one transaction;
    /// returns their ids. A slot recorded already (by this daemon or another)
    /// keeps its row: its id is returned.
    pub fn store_messages(
        &self,
        tenant: &TenantId,
        rows: &[(MailboxSlot<'_>, String, u64, String)],
    ) -> Result<Vec<i64>, StoreError> {
        self.db.write_any(|db| {
            let now = now_text();
            let mut ids = Vec::with_capacity(rows.len());
            for (slot, sha, size, path) in rows {
                let size = i64::try_from(*size)
                    .map_err(|_| StoreError::Corrupt(format!("message size {size} is out of range")))?;
                db.execute(
                    "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path, status, created_at, updated_at)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?10,?9,?9)
                     ON CONFLICT (tenant_id, source, mailbox, uidvalidity, uid) DO NOTHING",
                    args![
                        tenant.as_str(),
                        slot.source,
                        slot.mailbox,
                        slot.uidvalidity,
                        slot.uid,
                        sha,
                        size,
                        path,
                        now,
                        MessageStatus::Stored.as_str()
                    ],
                )?;
                ids.push(
                    db.query_one(
                        "SELECT id FROM inbound_messages WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5",
                        args![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid],
                    )?
                    .get(0)?,
                );
            }
            Ok(ids)
        })
    }

    /// Notes where messages were moved on the server.
    pub fn messages_moved(&self, tenant: &TenantId, ids: &[i64], folder: &str) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            let now = now_text();
            for id in ids {
                db.execute(
                    "UPDATE inbound_messages SET moved_to=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
                    args![tenant.as_str(), id, folder, now],
                )?;
            }
            Ok(())
        })
    }

    /// Promises (of one status, or all), newest first: those older than
    /// the promise `page.after` when given.
    pub fn promises(
        &self,
        tenant: &TenantId,
        status: Option<PromiseStatus>,
        page: impl Into<Window<i64>>,
    ) -> Result<Vec<PromiseView>, StoreError> {
        let page = page.into();
        self.db.read_any(|db| {
            let by_status = if status.is_some() { "status=?2" } else { "CAST(?2 AS TEXT) IS NULL" };
            db.query(
                &format!(
                    "SELECT {PROMISE_VIEW_COLUMNS} FROM promises
                     WHERE tenant_id=?1 AND {by_status} AND (CAST(?4 AS INTEGER) IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?3"
                ),
                args![tenant.as_str(), status.map(|s| s.as_str()), page.limit, page.after],
            )?
            .iter()
            .map(promise_view)
            .collect()
        })
    }

    /// Tasks for a person (of one status, or all), newest first: those
    /// older than the task `page.after` when given.
    pub fn tasks(
        &self,
        tenant: &TenantId,
        status: Option<TaskStatus>,
        page: impl Into<Window<i64>>,
    ) -> Result<Vec<TaskView>, StoreError> {
        let page = page.into();
        self.db.read_any(|db| {
            // The status condition only when there is one, so that the
            // (tenant, status, id) index serves it (an `?2 IS NULL OR …` never does).
            let by_status = if status.is_some() { "status=?2" } else { "CAST(?2 AS TEXT) IS NULL" };
            db.query(
                &format!(
                    "SELECT {TASK_VIEW_COLUMNS} FROM tasks WHERE tenant_id=?1 AND {by_status}
                     AND (CAST(?4 AS INTEGER) IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?3"
                ),
                args![tenant.as_str(), status.map(|s| s.as_str()), page.limit, page.after],
            )?
            .iter()
            .map(task_view)
            .collect()
        })
    }

    /// Each customer's state for the dunning engine: outstanding invoices
    /// (disputed ones flagged) and the latest promise not kept (a pending one
    /// pauses reminders; a broken one triggers the scenario's
    /// `promise_broken` step once), and its payment plan in force (else its
    /// latest broken one, see `plans`). A customer whose
    /// segment is `b2c`, `consumer` or `particulier` is a consumer.
    pub fn dunning_states(&self, tenant: &TenantId) -> Result<Vec<relance_engine::dunning::CustomerState>, StoreError> {
        self.db.read_any(|db| dunning_states_of(db, tenant, None))
    }

    /// One customer's state for the dunning engine, as [`Store::dunning_states`]
    /// gives it (`None` when it owes nothing), read through the customer's
    /// indexes only: the customer page's outlook.
    pub fn dunning_state(
        &self,
        tenant: &TenantId,
        customer_id: &str,
    ) -> Result<Option<relance_engine::dunning::CustomerState>, StoreError> {
        Ok(self.db.read_any(|db| dunning_states_of(db, tenant, Some(customer_id)))?.into_iter().next())
    }

    /// Messages by status (all when empty), newest first: those older than
    /// the message `page.after` when given.
    pub fn messages(
        &self,
        tenant: &TenantId,
        statuses: &[MessageStatus],
        page: impl Into<Window<i64>>,
    ) -> Result<Page<MessageView, i64>, StoreError> {
        let page = page.into();
        let offset = if page.after.is_some() { 0 } else { page.sql_offset() };
        self.db.read_any(|db| {
            let names: Vec<&str> = statuses.iter().map(MessageStatus::as_str).collect();
            let filter = super::status_filter(&names);
            let total: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM inbound_messages WHERE tenant_id=?1{filter}"),
                    args![tenant.as_str()],
                )?
                .get(0)?;
            let items = db
                .query(
                    &format!(
                        "SELECT {MESSAGE_VIEW_COLUMNS} FROM inbound_messages WHERE tenant_id=?1{filter}
                         AND (CAST(?4 AS INTEGER) IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                    ),
                    args![tenant.as_str(), page.probe(), offset, page.after],
                )?
                .iter()
                .map(message_view)
                .collect::<Result<Vec<_>, _>>()?;
            let (items, next_after) = cut_page(items, page.limit, |m: &MessageView| m.id);
            Ok(Page {
                items,
                total: u64::try_from(total).unwrap_or(0),
                limit: page.limit,
                offset: u64::try_from(offset).unwrap_or(0),
                next_after,
            })
        })
    }
}

/// The columns [`promise_view`] reads, in its order.
pub(super) const PROMISE_VIEW_COLUMNS: &str =
    "id, customer_id, message_id, invoice_numbers, promised_date, amount, currency, status, created_at";

/// A row of [`PROMISE_VIEW_COLUMNS`] as a [`PromiseView`].
pub(super) fn promise_view(r: &Row) -> Result<PromiseView, StoreError> {
    Ok(PromiseView {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        message_id: r.get(2)?,
        invoices: numbers(&r.get::<String>(3)?),
        promised_date: r.get::<Option<String>>(4)?.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        amount: r.get(5)?,
        currency: r.get(6)?,
        status: state(r, 7)?,
        created_at: r.get(8)?,
    })
}

/// The dunning states of every customer of `tenant` owing something, or of
/// `only` that one (each table then read through its customer index).
fn dunning_states_of(
    db: Db<'_>,
    tenant: &TenantId,
    only: Option<&str>,
) -> Result<Vec<relance_engine::dunning::CustomerState>, StoreError> {
    use relance_engine::dunning::{CustomerState, InvoiceState};
    // `?2` is the one customer; the tenant-wide statements do not name it.
    let args: Vec<Value> = std::iter::once(tenant.as_str()).chain(only).map(|s| Value::Text(s.to_string())).collect();
    let one = |column: &str| if only.is_some() { format!(" AND {column}=?2") } else { String::new() };
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d");
    let currency = |code: &str| Currency::parse(code).map_err(|e| StoreError::Corrupt(e.to_string()));
    let rows = db.query(
        &format!(
            "SELECT c.id, c.segment, c.language, i.number, i.due_date, i.open_minor, i.currency, i.status, c.name, i.issue_date
             FROM customers c JOIN invoices i ON i.tenant_id=c.tenant_id AND i.customer_id=c.id
             WHERE c.tenant_id=?1{} AND i.status IN ('open','partially_paid','disputed') AND i.open_minor > 0
             ORDER BY c.id, i.due_date, i.number",
            one("c.id")
        ),
        &args,
    )?;
    let mut out: Vec<CustomerState> = Vec::new();
    // Many rows (a tenant's open invoices): their texts are moved out, not copied.
    for mut r in rows {
        let cust: String = r.take(0)?;
        if out.last().is_none_or(|l| l.customer_id != cust) {
            let segment: Option<String> = r.take(1)?;
            let language: Option<String> = r.take(2)?;
            let b2c = segment
                .as_deref()
                .is_some_and(|s| matches!(s.to_lowercase().as_str(), "b2c" | "consumer" | "particulier"));
            out.push(CustomerState {
                customer_id: cust,
                name: r.take(8)?,
                language: language.as_deref().and_then(|l| l.parse().ok()).unwrap_or_default(),
                segment,
                b2c,
                ..Default::default()
            });
        }
        let (due, status, code): (String, String, String) = (r.take(4)?, r.take(7)?, r.take(6)?);
        if let Some(last) = out.last_mut() {
            last.invoices.push(InvoiceState {
                number: r.take(3)?,
                issue_date: r.take::<Option<String>>(9)?.and_then(|d| day(&d).ok()),
                due_date: day(&due).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                open: Money::new(r.take(5)?, currency(&code)?),
                disputed: status == "disputed",
            });
        }
    }
    let at: std::collections::HashMap<String, usize> =
        out.iter().enumerate().map(|(i, s)| (s.customer_id.clone(), i)).collect();
    // Open credit notes of the customers owing something: listed and deducted in reminders.
    let notes = db.query(
        &format!(
            "SELECT customer_id, number, issue_date, open_minor, currency FROM invoices
             WHERE tenant_id=?1{} AND status='credit_note' AND open_minor < 0 ORDER BY customer_id, issue_date, number",
            one("customer_id")
        ),
        &args,
    )?;
    for r in &notes {
        if let Some(s) = at.get(&r.get::<String>(0)?).and_then(|&i| out.get_mut(i)) {
            s.credit_notes.push(relance_engine::dunning::CreditNoteState {
                number: r.get(1)?,
                issue_date: r.get::<Option<String>>(2)?.and_then(|d| day(&d).ok()),
                open: Money::new(r.get(3)?, currency(&r.get::<String>(4)?)?),
            });
        }
    }
    let (pending, broken) = (PromiseStatus::Pending.as_str(), PromiseStatus::Broken.as_str());
    let promised = db.query(
        &format!(
            "SELECT customer_id, max(promised_date) FROM promises WHERE tenant_id=?1{} AND status IN ('{pending}', '{broken}') AND promised_date IS NOT NULL GROUP BY customer_id",
            one("customer_id")
        ),
        &args,
    )?;
    for r in &promised {
        let (cust, date): (Option<String>, String) = (r.get(0)?, r.get(1)?);
        if let Some(s) = cust.and_then(|c| at.get(&c)).and_then(|&i| out.get_mut(i)) {
            s.promise = day(&date).ok();
        }
    }
    for (cust, plan) in super::plans::agreed_plans(db, tenant.as_str(), only)? {
        if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
            s.plan = Some(plan);
        }
    }
    // What the outbox already holds: covered (step, invoice) pairs and the last reminder's day.
    // A reminder a person cancelled (`decided_by` set) counts as taken,
    // never planned again, but was not sent: it does not start the gap.
    let queued = db.query(
        &format!(
            "SELECT customer_id, covers, planned_for, CASE WHEN status='cancelled' THEN 1 ELSE 0 END FROM outbox
             WHERE tenant_id=?1{} AND (status<>'cancelled' OR decided_by IS NOT NULL) AND step_id<>'invoice_copy' ORDER BY customer_id",
            one("customer_id")
        ),
        &args,
    )?;
    for mut r in queued {
        if let Some(s) = at.get(&r.take::<String>(0)?).and_then(|&i| out.get_mut(i)) {
            let covers: Vec<(String, String)> = serde_json::from_str(&r.take::<String>(1)?).unwrap_or_default();
            s.sent.extend(covers);
            if !r.get::<bool>(3)? {
                s.last_reminder = s.last_reminder.max(day(&r.take::<String>(2)?).ok());
            }
        }
    }
    // Holds placed by a person and not lifted (see `holds`).
    for (cust, hold) in super::holds::open_holds(db, tenant.as_str(), only)? {
        if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
            s.holds.push(hold);
        }
    }
    // Credits waiting for review that name the customer (see `credit_holds`).
    for (cust, credit) in super::credit_holds::pending_credits(db, tenant.as_str(), only)? {
        if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
            s.credits.push(credit);
        }
    }
    // Active hand-offs to a collection agency (see `handoffs`).
    for (cust, h) in super::handoffs::handed_over(db, tenant.as_str(), only)? {
        if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
            s.handed_over = Some(h);
        }
    }
    // Absences (out-of-office replies): see `contacts::away_by_customer`.
    let mut emails: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for r in db.query(&format!("SELECT id, emails FROM customers WHERE tenant_id=?1{}", one("id")), &args)? {
        let id: String = r.get(0)?;
        if at.contains_key(&id) {
            let list: Vec<String> = serde_json::from_str(&r.get::<String>(1)?).unwrap_or_default();
            emails.insert(id, list.into_iter().map(|a| a.trim().to_lowercase()).collect());
        }
    }
    for (cust, away) in super::contacts::away_by_customer(db, tenant.as_str(), &emails)? {
        if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
            s.away = Some(away);
        }
    }
    Ok(out)
}

/// The columns [`task_view`] reads, in its order.
pub(super) const TASK_VIEW_COLUMNS: &str = "id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, assignee, due_on, created_by, closed_by, closed_at, closed_note";

/// A row of [`TASK_VIEW_COLUMNS`] as a [`TaskView`].
pub(super) fn task_view(r: &Row) -> Result<TaskView, StoreError> {
    Ok(TaskView {
        id: r.get(0)?,
        kind: state(r, 1)?,
        customer_id: r.get(2)?,
        message_id: r.get(3)?,
        invoices: numbers(&r.get::<String>(4)?),
        note: r.get(5)?,
        status: state(r, 6)?,
        created_at: r.get(7)?,
        assignee: r.get(8)?,
        due_on: r.get::<Option<String>>(9)?.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        created_by: r.get(10)?,
        closed_by: r.get(11)?,
        closed_at: r.get(12)?,
        closed_note: r.get(13)?,
    })
}

/// The columns [`message_view`] reads, in its order.
pub(super) const MESSAGE_VIEW_COLUMNS: &str = "id, mailbox, from_addr, subject, status, intent, understanding, error, moved_to, created_at, understanding_version";

/// A row of [`MESSAGE_VIEW_COLUMNS`] as a [`MessageView`].
pub(super) fn message_view(r: &Row) -> Result<MessageView, StoreError> {
    let id = r.get(0)?;
    let understanding = r.get::<Option<String>>(6)?;
    Ok(MessageView {
        id,
        mailbox: r.get(1)?,
        from: r.get(2)?,
        subject: r.get(3)?,
        status: state(r, 4)?,
        intent: state_opt(r, 5)?,
        understanding: read_understanding(id, r.get(10)?, understanding.as_deref()),
        error: r.get(7)?,
        moved_to: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// Invoice numbers stored as a JSON list (none when it does not read).
pub(super) fn numbers(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// What to record for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct HandleRequest {
    pub id: i64,
    /// What the message becomes: handled, for review or quarantined (a
    /// quarantined message is recorded, nothing is done about it).
    pub status: MessageStatus,
    /// What it says; `None` when it could not be read at all.
    pub understanding: Option<Understanding>,
    /// Why it is quarantined.
    pub error: Option<String>,
}

fn handle_in(tx: Db<'_>, t: &str, today: NaiveDate, h: &HandleRequest) -> Result<(), StoreError> {
    let now = now_text();
    let u = h.understanding.as_ref();
    let document = understanding_json(u);
    let n = tx.execute(
        "UPDATE inbound_messages SET status=?3, intent=?4, understanding=?5, understanding_version=?6, error=?7,
                message_id=?8, from_addr=?9, subject=?10, updated_at=?11
         WHERE tenant_id=?1 AND id=?2 AND status=?12",
        args![
            t,
            h.id,
            h.status.as_str(),
            u.map(|u| u.intent.as_str()),
            document.to_string(),
            UNDERSTANDING_VERSION,
            h.error,
            u.and_then(|u| u.message_id.as_deref()),
            u.and_then(|u| u.from.as_deref()),
            u.and_then(|u| u.subject.as_deref()),
            now,
            MessageStatus::Stored.as_str(),
        ],
    )?;
    if n != 1 {
        return Ok(()); // handled already (a restart raced us): nothing twice
    }
    let quarantined = h.status == MessageStatus::Quarantined;
    let mut disputed = Vec::new();
    let done = if quarantined {
        Vec::new()
    } else {
        let unread = Understanding::default();
        act(tx, t, h.id, u.unwrap_or(&unread), today, &now, &mut disputed)?
    };
    insert_event(
        tx,
        t,
        "replies",
        if quarantined { "message_quarantined" } else { "reply_received" },
        &format!("message:{}", h.id),
        &json!({
            "status": h.status, "intent": u.map(|u| u.intent), "error": h.error, "understanding": document,
            "disputed": disputed, "actions": done,
        }),
    )?;
    Ok(())
}

/// Gathers what the reply-action policy needs, asks it what to do, links the
/// message to its customer and carries the actions out; returns what was
/// done, for the audit trail, and adds the invoices marked disputed to `disputed`.
pub(super) fn act(
    tx: Db<'_>,
    t: &str,
    id: i64,
    u: &Understanding,
    today: NaiveDate,
    now: &str,
    disputed: &mut Vec<String>,
) -> Result<Vec<String>, StoreError> {
    let ctx = gather(tx, t, u, today)?;
    let plan = actions::plan(u, &ctx);
    tx.execute("UPDATE inbound_messages SET customer_id=?3 WHERE tenant_id=?1 AND id=?2", args![t, id, plan.customer])?;
    let subject = format!("message:{id}");
    let invoices = json!(plan.invoices);
    let mut done = Vec::new();
    for action in &plan.actions {
        if let ReplyAction::Dispute { invoices: marked, .. } = action {
            for number in marked {
                let changed = tx.execute(
                    "UPDATE invoices SET status='disputed', updated_at=?3 WHERE tenant_id=?1 AND upper(number)=upper(?2) AND status IN ('open','partially_paid')",
                    args![t, number, now],
                )?;
                if changed == 1 && !disputed.contains(number) {
                    insert_event(
                        tx,
                        t,
                        "replies",
                        "invoice_disputed",
                        &format!("invoice:{number}"),
                        &json!({ "message": id }),
                    )?;
                    disputed.push(number.clone());
                }
            }
        }
        if let Some((kind, note)) = action.task() {
            tx.execute(
                "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
                args![t, kind.as_str(), plan.customer, id, invoices.to_string(), note, TaskStatus::Open.as_str(), now],
            )?;
        }
        match action {
            ReplyAction::RecordPromise { promised_date, amount, currency } => {
                tx.execute(
                    "INSERT INTO promises (tenant_id, customer_id, message_id, invoice_numbers, promised_date, amount, currency, status, created_at, updated_at)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?9)",
                    args![
                        t,
                        plan.customer,
                        id,
                        invoices.to_string(),
                        promised_date.map(|d| d.to_string()),
                        amount,
                        currency,
                        PromiseStatus::Pending.as_str(),
                        now
                    ],
                )?;
                let data = json!({ "customer": plan.customer, "invoices": invoices, "promised_date": promised_date, "amount": amount });
                insert_event(tx, t, "replies", "promise_recorded", &subject, &data)?;
            }
            ReplyAction::CheckPayment { payments, .. } => {
                let data = json!({ "payments": payments, "invoices": invoices });
                insert_event(tx, t, "replies", "payment_claim_matched", &subject, &data)?;
            }
            ReplyAction::SendInvoiceCopy { to } => {
                let event = CopyRequestedEvent {
                    customer: plan.customer.clone(),
                    invoices: plan.invoices.clone(),
                    to: to.clone(),
                };
                let data = serde_json::to_value(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                insert_event(tx, t, "replies", "invoice_copy_requested", &subject, &data)?;
            }
            ReplyAction::ContactUndeliverable { .. } => {
                let reminder = plan.actions.iter().find_map(|a| match a {
                    ReplyAction::AnswersReminder { outbox_id } => Some(*outbox_id),
                    _ => None,
                });
                let (marked, foreign) =
                    super::contacts::mark_undeliverable(tx, t, id, u, plan.customer.as_deref(), reminder, now)?;
                let data = json!({ "customer": plan.customer, "addresses": marked, "not_the_customers": foreign });
                insert_event(tx, t, "replies", "contact_undeliverable", &subject, &data)?;
            }
            ReplyAction::IgnoreAutoReply { back_on: Some(until) }
                if u.auto_reply == Some(relance_engine::replies::AutoKind::OutOfOffice) =>
            {
                let address = u.from.as_deref();
                if super::contacts::record_away(tx, t, id, plan.customer.as_deref(), address, *until, now)? {
                    let data = json!({ "customer": plan.customer, "address": address, "until": until });
                    insert_event(tx, t, "replies", "contact_away", &subject, &data)?;
                }
            }
            ReplyAction::DraftPlan { proposal } => {
                if let Some(customer) = &plan.customer {
                    super::plans::record_draft(tx, t, customer, id, &plan.invoices, proposal)?;
                }
            }
            ReplyAction::AnswersReminder { .. }
            | ReplyAction::Dispute { .. }
            | ReplyAction::AwaitProof { .. }
            | ReplyAction::PaymentPlan { .. }
            | ReplyAction::IgnoreAutoReply { .. }
            | ReplyAction::Review => {}
        }
        // "We already paid": the claim is followed by the planner (see `claims`).
        if let (ReplyAction::AwaitProof { .. } | ReplyAction::CheckPayment { .. }, Some(customer)) =
            (action, plan.customer.as_deref())
            && super::claims::record_claim(tx, t, id, customer, &plan.invoices, u, today)?
        {
            done.push("payment claim recorded: reminders held while the payment is looked for".into());
        }
        done.push(action.summary(disputed));
    }
    // Someone wrote from this address: it is read (see `contacts`).
    if u.intent != Intent::AutoReply
        && let Some(from) = u.from.as_deref()
        && super::contacts::clear(tx, t, from)?
    {
        insert_event(tx, t, "replies", "contact_reachable", &subject, &json!({ "address": from.to_lowercase() }))?;
        done.push(format!("{} replied: no longer undeliverable or away", from.to_lowercase()));
    }
    Ok(done)
}

/// The reminder named by a verified reply token in one of the addresses the
/// message was delivered to (`collections+r<id>-<mac>@…`, a VERP bounce
/// address); a token that does not verify with the tenant's key is ignored.
fn by_reply_token(tx: Db<'_>, t: &str, u: &Understanding) -> Result<Option<ReminderLink>, StoreError> {
    let candidates: Vec<_> = u.addressed_to.iter().filter_map(|a| token::find(a)).collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let Some(key) = super::keys::existing(tx, t, super::keys::KeyPurpose::ReplyTokens)? else {
        return Ok(None);
    };
    for c in candidates {
        let row = tx.query_opt(
            "SELECT customer_id, invoice_numbers, message_id FROM outbox WHERE tenant_id=?1 AND id=?2 AND message_id IS NOT NULL",
            args![t, c.outbox_id],
        )?;
        let Some(x) = row else { continue };
        let (customer_id, list, message_token): (String, String, String) = (x.get(0)?, x.get(1)?, x.get(2)?);
        if token::verify(key.bytes(), &c, &message_token) {
            return Ok(Some(reminder_link(c.outbox_id, customer_id, &list)));
        }
    }
    Ok(None)
}

/// The link to outbox row `outbox_id` of `customer_id` naming the invoices of `list`.
fn reminder_link(outbox_id: i64, customer_id: String, list: &str) -> ReminderLink {
    let invoices = numbers(list)
        .into_iter()
        .map(|number| LinkedInvoice { number, customer_id: customer_id.clone(), open: None })
        .collect();
    ReminderLink { outbox_id, customer_id, invoices }
}

/// The customer one of whose addresses is exactly `sender` (lowercased),
/// the first by id: a coarse `LIKE` on the stored list finds the few
/// candidates, their lists are read here (`_` and `%` are literal).
fn customer_of_sender(tx: Db<'_>, t: &str, sender: &str) -> Result<Option<String>, StoreError> {
    let candidates = tx.query(
        "SELECT id, emails FROM customers WHERE tenant_id=?1 AND lower(emails) LIKE ?2 ESCAPE '\\' ORDER BY id",
        args![t, format!("%\"{}\"%", like_escape(sender))],
    )?;
    for r in &candidates {
        let list: Vec<serde_json::Value> = serde_json::from_str(&r.get::<String>(1)?).unwrap_or_default();
        // SQLite's `lower`, which the stored lists were matched with: ASCII letters only.
        if list.iter().filter_map(serde_json::Value::as_str).any(|a| a.to_ascii_lowercase() == sender) {
            return Ok(Some(r.get(0)?));
        }
    }
    Ok(None)
}

/// The facts [`actions::plan`] needs about a reply (see [`ReplyContext`]).
fn gather(tx: Db<'_>, t: &str, u: &Understanding, today: NaiveDate) -> Result<ReplyContext, StoreError> {
    let mut ctx = ReplyContext::default();
    // Invoices the message names, as stored (case, separators and a missing prefix aside).
    for r in &u.refs {
        if let Some((number, customer_id)) = resolve_ref(tx, t, r)?
            && !ctx.named.iter().any(|i| i.number == number && i.customer_id == customer_id)
        {
            ctx.named.push(LinkedInvoice { number, customer_id, open: None });
        }
    }
    // A reply to one of our reminders: In-Reply-To / References carry its Message-ID, `<rl-…@domain>`.
    for token in u.thread.iter().filter_map(|m| actions::reminder_token(m)) {
        let found = tx.query_opt(
            "SELECT id, customer_id, invoice_numbers FROM outbox WHERE tenant_id=?1 AND message_id=?2",
            args![t, token],
        )?;
        if let Some(x) = found {
            ctx.reminder = Some(reminder_link(x.get(0)?, x.get(1)?, &x.get::<String>(2)?));
            break;
        }
    }
    // No thread headers (or none of ours): the reply token in the address it was sent to.
    if ctx.reminder.is_none() {
        ctx.reminder = by_reply_token(tx, t, u)?;
    }
    // The sender's customer: the address exactly as one of the customer's.
    // A bounce comes from a mailer-daemon: the customer is the failed recipient's.
    let failed = u.delivery.iter().flat_map(|d| d.failed()).map(|r| r.final_recipient.as_str()).next();
    let sender = failed.or(u.from.as_deref()).unwrap_or("").to_lowercase();
    if ctx.reminder.is_none() && !sender.is_empty() {
        ctx.sender_customer = customer_of_sender(tx, t, &sender)?;
    }
    if actions::needs_credits(u) {
        // Open amounts, each read with its own currency's decimals (0 for JPY, 3 for BHD).
        let linked = ctx.named.iter_mut().chain(ctx.reminder.iter_mut().flat_map(|r| r.invoices.iter_mut()));
        for invoice in linked {
            let row = tx.query_opt(
                "SELECT open_minor, currency FROM invoices WHERE tenant_id=?1 AND number=?2",
                args![t, invoice.number],
            )?;
            if let Some(x) = row {
                let (minor, code): (i64, String) = (x.get(0)?, x.get(1)?);
                let ccy = Currency::parse(&code)
                    .map_err(|e| StoreError::Corrupt(format!("invoice {}: {e}", invoice.number)))?;
                invoice.open = Some(Money::new(minor, ccy));
            }
        }
        // Recent credits waiting for review.
        let since = today - chrono::Days::new(actions::PAID_CLAIM_LOOKBACK_DAYS);
        let credits = tx.query(
            "SELECT id, amount_minor, currency FROM payments WHERE tenant_id=?1 AND status IN ('suggested','unmatched')
             AND direction='credit' AND booking_date >= ?2 ORDER BY id",
            args![t, since.format("%Y-%m-%d").to_string()],
        )?;
        for x in &credits {
            let (payment_id, minor, code): (i64, i64, String) = (x.get(0)?, x.get(1)?, x.get(2)?);
            let Ok(ccy) = Currency::parse(&code) else { continue };
            ctx.review_credits.push(ReviewCredit { payment_id, amount: Money::new(minor, ccy) });
        }
    }
    Ok(ctx)
}

/// The stored invoice (number, customer) a reference written by a customer
/// designates, with the engine's tolerant rules ([`RefReader::resolve`]):
/// the same number (case aside), else the same letters and digits
/// (`FAC 1001`, `fac1001`), zero padding and a two- or four-digit year aside
/// (`FA-26-412` for `FA-2026-00412`), else the only invoice whose parts fit
/// with a missing or shortened prefix or year (`F1001`, `ST-000317`), else the
/// only invoice with that counter (`1001`, never `11001`). Never another kind
/// of document (`CMD-1001` is an order). Candidates are the tenant's invoices
/// whose number ends with one of the counters the reference may carry; an
/// ambiguous reference links nothing.
pub(super) fn resolve_ref<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    r: &str,
) -> Result<Option<(String, String)>, StoreError> {
    const LIMIT: usize = 5_000;
    let db = db.into();
    let pair = |x: &Row| -> Result<(String, String), StoreError> { Ok((x.get(0)?, x.get(1)?)) };
    if let Some(found) = db.query_opt(
        "SELECT number, customer_id FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) LIMIT 1",
        args![tenant, r],
    )? {
        return Ok(Some(pair(&found)?));
    }
    // Candidates end with a counter the reference may carry; the rest is decided by the engine.
    // Which candidates the limit keeps: the same, byte-wise, on both databases.
    let order = if db.is_postgres() { r#"number COLLATE "C""# } else { "number" };
    let by_suffix = format!(
        "SELECT number, customer_id FROM invoices WHERE tenant_id=?1 AND number LIKE '%' || ?2 ESCAPE '\\' \
         ORDER BY {order} LIMIT {LIMIT}"
    );
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut truncated = false;
    for suffix in refs::counter_suffixes(r) {
        let rows = db.query(&by_suffix, args![tenant, like_escape(&suffix)])?;
        truncated |= rows.len() >= LIMIT;
        for x in &rows {
            let c = pair(x)?;
            if !candidates.contains(&c) {
                candidates.push(c);
            }
        }
    }
    let reader = RefReader::learn(candidates.iter().map(|c| c.0.as_str()));
    let Some(found) = reader.resolve(r) else { return Ok(None) };
    // With candidates left out, a partial spelling may have had a rival among them.
    if truncated && found.spelling < Spelling::Full {
        return Ok(None);
    }
    Ok(candidates.into_iter().find(|c| c.0 == found.number))
}

/// Escapes backslash, `%` and `_` for a `LIKE … ESCAPE` pattern whose escape character is a backslash.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The data of an `invoice_copy_requested` audit event, written when a reply
/// asks for a copy and read back by the reminder planner, which answers it
/// (`Store::unanswered_copy_requests`): one type for both sides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CopyRequestedEvent {
    pub customer: Option<String>,
    #[serde(default)]
    pub invoices: Vec<String>,
    pub to: Option<String>,
}
