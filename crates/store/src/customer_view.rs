//! The customer page (issue #15), read for one customer only: every query
//! here is scoped in SQL by `(tenant_id, customer_id)` and goes through an
//! index that starts with those two columns (migration 0017), so its cost
//! is the customer's rows, never the tenant's.
//!
//! - **Open items** ([`Store::customer_open_items`]): the invoices with money
//!   due (`open`, `partially_paid`, `disputed`, open amount > 0) and the
//!   credit notes not used up (status `credit_note`, a negative open amount:
//!   the import keeps a credit note as a negative invoice), by due date and
//!   number, one page at a time (cursor: `due_date|number`).
//! - **Unapplied payments**: cash application links a payment to a customer
//!   only through its allocations (payments carry no customer), so a
//!   customer's unapplied payments are the credits with money not allocated
//!   that are the customer's by one of three links, strongest first
//!   ([`UnappliedVia`]): part of it was already applied to the customer's
//!   invoices (the remainder is the customer's credit); it came from one of
//!   the customer's known bank accounts (`customer_ibans`); or the review
//!   queue (`suggested`, `unmatched`) has it with one of the customer's
//!   invoices among its candidates. Only the first two count in the totals:
//!   a candidate may be another customer's payment.
//! - **Totals per currency** ([`CurrencyTotals`]): sums in SQL (SQLite's
//!   integer `sum` fails on overflow rather than wrapping), the balance
//!   computed with [`Money`]'s checked arithmetic.
//! - **Contacts**: the customer's addresses with their state (undeliverable,
//!   away), read by address (the primary key of the state tables).
//! - **Timeline** ([`Store::customer_timeline`]): one query, a `UNION ALL`
//!   over the tables that record what happened (invoices, allocations,
//!   outbox, inbound messages, promises, the dispute audit events, tasks,
//!   notes, holds), each branch limited to the page before the union,
//!   newest first, read back as a typed [`TimelineEvent`]. The joins name
//!   their index (`INDEXED BY`, `CROSS JOIN` for the loop order): the
//!   customer's invoices drive the allocation and audit lookups, whatever
//!   the statistics say. The cursor is
//!   the last entry's `at|source|key` (a total order: the key is unique
//!   within its source).
//!
//! Every read runs on SQLite and PostgreSQL (issue #17): the SQL is
//! SQLite's, translated (`postgres/dialect.rs` drops the index hints and
//! turns `json_object`, the zero-padded ids and `CROSS JOIN … ON` into their
//! PostgreSQL twins); only the candidate link reads the match result with a
//! PostgreSQL JSON path instead of `json_each`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::contacts::{AwayView, ContactState, ContactView, UndeliverableView};
use super::db::{Db, Row, args};
use super::disputes::DisputeResolution;
use super::import::bulk::{hinted, is_missing_index};
use super::messages::{
    PROMISE_VIEW_COLUMNS, PromiseView, TASK_VIEW_COLUMNS, TaskView, numbers, promise_view, task_view,
};
use super::outbox::OutboxStatus;
use super::{Store, StoreError, Window};
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_domain::{InvoiceStatus, TenantId};
use relance_engine::replies::Intent;

/// Whom a customer is: the page's heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: String,
    pub name: String,
    pub segment: Option<String>,
    pub language: Option<String>,
}

/// What kind of open item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenItemKind {
    /// Money the customer owes.
    Invoice,
    /// Money the customer is owed (a negative open amount).
    CreditNote,
}

/// An invoice or a credit note still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpenItem {
    pub kind: OpenItemKind,
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    /// What is still open (negative for a credit note).
    pub open: Money,
    pub status: InvoiceStatus,
}

impl OpenItem {
    /// Its key in the list's order, the `after` of the next page: `due_date|number`.
    pub fn cursor(&self) -> String {
        format!("{}|{}", self.due_date, self.number)
    }
}

/// Why a payment is shown as one of the customer's unapplied payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnappliedVia {
    /// Part of it was applied to the customer's invoices; the rest is not.
    PartlyApplied,
    /// It came from one of the customer's known bank accounts.
    KnownAccount,
    /// The review queue has one of the customer's invoices among its candidates.
    Candidate,
}

impl UnappliedVia {
    fn from_rank(rank: i64) -> Option<UnappliedVia> {
        match rank {
            1 => Some(UnappliedVia::PartlyApplied),
            2 => Some(UnappliedVia::KnownAccount),
            3 => Some(UnappliedVia::Candidate),
            _ => None,
        }
    }

    /// Whether the payment is surely the customer's (it counts in the totals).
    pub fn attributed(self) -> bool {
        !matches!(self, UnappliedVia::Candidate)
    }
}

/// A credit received and not (fully) allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnappliedPayment {
    /// The payment (`/payments/{id}`).
    pub payment: i64,
    pub booking_date: NaiveDate,
    pub amount: Money,
    /// What is not allocated yet.
    pub unallocated: Money,
    pub via: UnappliedVia,
    pub status: relance_domain::PaymentStatus,
    pub counterparty_name: Option<String>,
    pub remittance: Option<String>,
}

/// The customer's figures in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    /// Open amounts of the invoices (positive).
    pub invoices: Money,
    pub invoice_count: i64,
    /// Open amounts of the credit notes (negative).
    pub credit_notes: Money,
    pub credit_note_count: i64,
    /// Unallocated amounts of the payments surely the customer's
    /// ([`UnappliedVia::attributed`]), positive.
    pub unapplied: Money,
    /// `invoices + credit_notes - unapplied`: what the customer owes (negative: is owed).
    pub balance: Money,
}

/// The customer page without its timeline: one page of open items, the
/// totals over all of them, unapplied payments, contacts, open tasks and
/// recent promises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CustomerOverview {
    pub customer: CustomerSummary,
    /// Open items, by due date then number.
    pub items: Vec<OpenItem>,
    /// The `after` of the next page of open items; `null` on the last.
    pub next_after: Option<String>,
    /// Over every open item and unapplied payment, by currency.
    pub totals: Vec<CurrencyTotals>,
    /// Most recent first (at most [`UNAPPLIED_SHOWN`]).
    pub unapplied: Vec<UnappliedPayment>,
    pub contacts: Vec<ContactView>,
    /// Open tasks, newest first (at most [`TASKS_SHOWN`]).
    pub tasks: Vec<TaskView>,
    /// Promises, newest first (at most [`PROMISES_SHOWN`]).
    pub promises: Vec<PromiseView>,
}

/// Most unapplied payments, open tasks and promises an overview lists.
pub const UNAPPLIED_SHOWN: u32 = 100;
pub const TASKS_SHOWN: u32 = 100;
pub const PROMISES_SHOWN: u32 = 50;

/// One thing that happened to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// When: an RFC 3339 time, or a day (`YYYY-MM-DD`) for an invoice's issue.
    pub at: String,
    /// Give it as `after` to read what came before it.
    pub cursor: String,
    pub event: TimelineEvent,
}

/// What happened, by kind (`kind` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// An invoice or credit note from the ERP.
    InvoiceIssued {
        invoice: String,
        total: Money,
        due_date: NaiveDate,
        credit_note: bool,
    },
    /// Cash application allocated (part of) a payment to an invoice.
    PaymentApplied {
        allocation: i64,
        payment: i64,
        invoice: String,
        amount: Money,
        write_off: Money,
        /// By the matcher, not by a person.
        automatic: bool,
        by: String,
    },
    /// An allocation was undone.
    PaymentUndone {
        allocation: i64,
        payment: i64,
        invoice: String,
        amount: Money,
        by: Option<String>,
    },
    /// A reminder, whatever became of it (to confirm, queued, sent, failed, cancelled).
    Reminder {
        /// The outbox entry (`/approvals/{id}` shows it).
        outbox: i64,
        step: String,
        channel: String,
        status: OutboxStatus,
        subject: String,
        body: String,
        invoices: Vec<String>,
        planned_for: NaiveDate,
        sent_at: Option<String>,
        error: Option<String>,
    },
    /// A message read from the collections mailbox.
    ReplyReceived {
        message: i64,
        #[schema(value_type = Option<String>)]
        intent: Option<Intent>,
        status: MessageStatus,
        subject: Option<String>,
        from: Option<String>,
    },
    /// A promise to pay (read from a reply or recorded by hand).
    Promise {
        promise: i64,
        promised_date: Option<NaiveDate>,
        /// As stated (a decimal number).
        amount: Option<String>,
        currency: Option<String>,
        status: PromiseStatus,
    },
    /// A reply disputed an invoice.
    DisputeOpened {
        invoice: String,
        message: Option<i64>,
    },
    /// A person resolved an invoice's dispute.
    DisputeResolved {
        invoice: String,
        #[schema(value_type = String)]
        resolution: DisputeResolution,
        note: Option<String>,
        by: String,
    },
    TaskCreated {
        task: i64,
        task_kind: TaskKind,
        note: String,
        assignee: Option<String>,
        due_on: Option<NaiveDate>,
        /// `None`: Relance opened it.
        by: Option<String>,
    },
    TaskClosed {
        task: i64,
        task_kind: TaskKind,
        note: String,
        closed_note: Option<String>,
        by: Option<String>,
    },
    NoteAdded {
        note: i64,
        text: String,
        invoice: Option<String>,
        by: String,
    },
    HoldPlaced {
        hold: i64,
        invoice: Option<String>,
        reason: String,
        until: Option<NaiveDate>,
        by: String,
    },
    HoldLifted {
        hold: i64,
        invoice: Option<String>,
        note: Option<String>,
        by: String,
    },
}

/// Where a timeline entry comes from: its rank among entries at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    InvoiceIssued = 1,
    PaymentApplied = 2,
    PaymentUndone = 3,
    Reminder = 4,
    Reply = 5,
    Promise = 6,
    DisputeOpened = 7,
    DisputeResolved = 8,
    TaskCreated = 9,
    TaskClosed = 10,
    NoteAdded = 11,
    HoldPlaced = 12,
    HoldLifted = 13,
}

impl Source {
    const ALL: [Source; 13] = [
        Source::InvoiceIssued,
        Source::PaymentApplied,
        Source::PaymentUndone,
        Source::Reminder,
        Source::Reply,
        Source::Promise,
        Source::DisputeOpened,
        Source::DisputeResolved,
        Source::TaskCreated,
        Source::TaskClosed,
        Source::NoteAdded,
        Source::HoldPlaced,
        Source::HoldLifted,
    ];

    fn of(n: i64) -> Option<Source> {
        Source::ALL.into_iter().find(|s| *s as i64 == n)
    }
}

/// A timeline cursor: `at|source|key`.
fn parse_cursor(text: &str) -> Result<(String, i64, String), StoreError> {
    let bad = || StoreError::UnknownCursor(format!("`{text}` is not a timeline cursor (at|source|key)"));
    let mut parts = text.splitn(3, '|');
    let (Some(at), Some(src), Some(key)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    let src: i64 = src.parse().map_err(|_| bad())?;
    if at.is_empty() || Source::of(src).is_none() {
        return Err(bad());
    }
    Ok((at.to_string(), src, key.to_string()))
}

/// One branch of the timeline: `select` yields `at, src, key, data`
/// (`data` a JSON object) from `from_where`; the cursor and the page limit
/// apply inside the branch, so each contributes at most a page.
fn branch(at: &str, src: &str, key: &str, data: &str, from_where: &str) -> String {
    format!(
        "SELECT * FROM (SELECT {at} AS at, {src} AS src, {key} AS k, {data} AS data {from_where}
           AND (CAST(?3 AS TEXT) IS NULL OR {at} < ?3 OR ({at} = ?3 AND ({src} < ?4 OR ({src} = ?4 AND {key} < ?5))))
           ORDER BY 1 DESC, 2 DESC, 3 DESC LIMIT ?6) AS branch"
    )
}

/// The whole timeline query (parameters: tenant, customer, cursor at,
/// source and key or NULLs, page size + 1).
pub(crate) fn timeline_sql() -> String {
    let id = |col: &str| format!("printf('%012d', {col})");
    let branches = [
        branch(
            "coalesce(i.issue_date, substr(i.created_at, 1, 10))",
            "1",
            "i.number",
            "json_object('invoice', i.number, 'total', i.total_minor, 'currency', i.currency, 'due_date', i.due_date)",
            "FROM invoices i INDEXED BY invoices_issued_by_customer WHERE i.tenant_id=?1 AND i.customer_id=?2",
        ),
        branch(
            "a.created_at",
            "2",
            &id("a.id"),
            "json_object('allocation', a.id, 'payment', a.payment_id, 'invoice', a.invoice_number,
                         'amount', a.amount_minor, 'write_off', a.write_off_minor, 'currency', a.currency, 'by', a.actor)",
            "FROM invoices i INDEXED BY invoices_issued_by_customer
               CROSS JOIN allocations a INDEXED BY allocations_by_invoice
                 ON a.tenant_id=i.tenant_id AND a.invoice_number=i.number
             WHERE i.tenant_id=?1 AND i.customer_id=?2",
        ),
        branch(
            "a.undone_at",
            "3",
            &id("a.id"),
            "json_object('allocation', a.id, 'payment', a.payment_id, 'invoice', a.invoice_number,
                         'amount', a.amount_minor, 'currency', a.currency, 'by', a.undone_by)",
            "FROM invoices i INDEXED BY invoices_issued_by_customer
               CROSS JOIN allocations a INDEXED BY allocations_by_invoice
                 ON a.tenant_id=i.tenant_id AND a.invoice_number=i.number
             WHERE i.tenant_id=?1 AND i.customer_id=?2 AND a.undone_at IS NOT NULL",
        ),
        branch(
            "o.created_at",
            "4",
            &id("o.id"),
            "json_object('outbox', o.id, 'step', o.step_id, 'channel', o.channel, 'status', o.status,
                         'subject', o.subject, 'body', o.body, 'invoices', o.invoice_numbers,
                         'planned_for', o.planned_for, 'sent_at', o.sent_at, 'error', o.last_error)",
            "FROM outbox o WHERE o.tenant_id=?1 AND o.customer_id=?2",
        ),
        branch(
            "m.created_at",
            "5",
            &id("m.id"),
            "json_object('message', m.id, 'intent', m.intent, 'status', m.status, 'subject', m.subject, 'from', m.from_addr)",
            "FROM inbound_messages m WHERE m.tenant_id=?1 AND m.customer_id=?2",
        ),
        branch(
            "p.created_at",
            "6",
            &id("p.id"),
            "json_object('promise', p.id, 'promised_date', p.promised_date, 'amount', p.amount,
                         'currency', p.currency, 'status', p.status)",
            "FROM promises p WHERE p.tenant_id=?1 AND p.customer_id=?2",
        ),
        branch(
            "e.at",
            "CASE e.kind WHEN 'invoice_disputed' THEN 7 ELSE 8 END",
            &id("e.id"),
            "json_object('invoice', i.number, 'event', json(e.data), 'by', e.actor)",
            "FROM invoices i INDEXED BY invoices_issued_by_customer
               CROSS JOIN audit_events e INDEXED BY audit_disputes
                 ON e.tenant_id=i.tenant_id AND e.subject='invoice:' || i.number
               AND e.kind IN ('invoice_disputed', 'dispute_resolved')
             WHERE i.tenant_id=?1 AND i.customer_id=?2",
        ),
        branch(
            "t.created_at",
            "9",
            &id("t.id"),
            "json_object('task', t.id, 'kind', t.kind, 'note', t.note, 'assignee', t.assignee,
                         'due_on', t.due_on, 'by', t.created_by)",
            "FROM tasks t WHERE t.tenant_id=?1 AND t.customer_id=?2",
        ),
        branch(
            "t.closed_at",
            "10",
            &id("t.id"),
            "json_object('task', t.id, 'kind', t.kind, 'note', t.note, 'closed_note', t.closed_note, 'by', t.closed_by)",
            "FROM tasks t WHERE t.tenant_id=?1 AND t.customer_id=?2 AND t.closed_at IS NOT NULL",
        ),
        branch(
            "n.created_at",
            "11",
            &id("n.id"),
            "json_object('note', n.id, 'text', n.text, 'invoice', n.invoice_number, 'by', n.created_by)",
            "FROM notes n WHERE n.tenant_id=?1 AND n.customer_id=?2",
        ),
        branch(
            "h.created_at",
            "12",
            &id("h.id"),
            "json_object('hold', h.id, 'invoice', h.invoice_number, 'reason', h.reason, 'until', h.until, 'by', h.created_by)",
            "FROM holds h WHERE h.tenant_id=?1 AND h.customer_id=?2",
        ),
        branch(
            "h.lifted_at",
            "13",
            &id("h.id"),
            "json_object('hold', h.id, 'invoice', h.invoice_number, 'note', h.lift_note, 'by', h.lifted_by)",
            "FROM holds h WHERE h.tenant_id=?1 AND h.customer_id=?2 AND h.lifted_at IS NOT NULL",
        ),
    ];
    format!(
        "SELECT at, src, k, data FROM ({}) AS timeline ORDER BY 1 DESC, 2 DESC, 3 DESC LIMIT ?6",
        branches.join(" UNION ALL ")
    )
}

/// Reads the typed fields of one timeline row's JSON.
struct Fields<'a> {
    data: &'a Value,
    what: &'a str,
}

impl Fields<'_> {
    fn corrupt(&self, field: &str) -> StoreError {
        StoreError::Corrupt(format!("timeline {}: `{field}` missing or malformed in {}", self.what, self.data))
    }
    fn opt_text(&self, field: &str) -> Option<String> {
        self.data.get(field).and_then(Value::as_str).map(str::to_string)
    }
    fn text(&self, field: &str) -> Result<String, StoreError> {
        self.opt_text(field).ok_or_else(|| self.corrupt(field))
    }
    fn opt_int(&self, field: &str) -> Option<i64> {
        self.data.get(field).and_then(Value::as_i64)
    }
    fn int(&self, field: &str) -> Result<i64, StoreError> {
        self.opt_int(field).ok_or_else(|| self.corrupt(field))
    }
    fn opt_day(&self, field: &str) -> Option<NaiveDate> {
        self.opt_text(field).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    }
    fn day(&self, field: &str) -> Result<NaiveDate, StoreError> {
        self.opt_day(field).ok_or_else(|| self.corrupt(field))
    }
    fn currency(&self) -> Result<Currency, StoreError> {
        Currency::parse(&self.text("currency")?).map_err(|_| self.corrupt("currency"))
    }
    fn money(&self, field: &str) -> Result<Money, StoreError> {
        Ok(Money::new(self.int(field)?, self.currency()?))
    }
    fn parsed<T: std::str::FromStr>(&self, field: &str) -> Result<T, StoreError> {
        self.text(field)?.parse().map_err(|_| self.corrupt(field))
    }
}

fn timeline_event(src: Source, data: &Value) -> Result<TimelineEvent, StoreError> {
    let f = Fields { data, what: "entry" };
    Ok(match src {
        Source::InvoiceIssued => {
            let total = f.money("total")?;
            TimelineEvent::InvoiceIssued {
                invoice: f.text("invoice")?,
                credit_note: total.minor < 0,
                total,
                due_date: f.day("due_date")?,
            }
        }
        Source::PaymentApplied => {
            let by = f.text("by")?;
            TimelineEvent::PaymentApplied {
                allocation: f.int("allocation")?,
                payment: f.int("payment")?,
                invoice: f.text("invoice")?,
                amount: f.money("amount")?,
                write_off: f.money("write_off")?,
                automatic: by == super::MATCHER_ACTOR,
                by,
            }
        }
        Source::PaymentUndone => TimelineEvent::PaymentUndone {
            allocation: f.int("allocation")?,
            payment: f.int("payment")?,
            invoice: f.text("invoice")?,
            amount: f.money("amount")?,
            by: f.opt_text("by"),
        },
        Source::Reminder => TimelineEvent::Reminder {
            outbox: f.int("outbox")?,
            step: f.text("step")?,
            channel: f.text("channel")?,
            status: OutboxStatus::parse(&f.text("status")?).ok_or_else(|| f.corrupt("status"))?,
            subject: f.text("subject")?,
            body: f.text("body")?,
            invoices: numbers(&f.text("invoices")?),
            planned_for: f.day("planned_for")?,
            sent_at: f.opt_text("sent_at"),
            error: f.opt_text("error"),
        },
        Source::Reply => TimelineEvent::ReplyReceived {
            message: f.int("message")?,
            intent: f.opt_text("intent").map(|i| i.parse().map_err(|_| f.corrupt("intent"))).transpose()?,
            status: f.parsed("status")?,
            subject: f.opt_text("subject"),
            from: f.opt_text("from"),
        },
        Source::Promise => TimelineEvent::Promise {
            promise: f.int("promise")?,
            promised_date: f.opt_day("promised_date"),
            amount: f.opt_text("amount"),
            currency: f.opt_text("currency"),
            status: f.parsed("status")?,
        },
        Source::DisputeOpened => TimelineEvent::DisputeOpened {
            invoice: f.text("invoice")?,
            message: data.pointer("/event/message").and_then(Value::as_i64),
        },
        Source::DisputeResolved => {
            let resolution = data.pointer("/event/resolution").and_then(Value::as_str).unwrap_or_default();
            TimelineEvent::DisputeResolved {
                invoice: f.text("invoice")?,
                resolution: DisputeResolution::ALL
                    .into_iter()
                    .find(|r| r.as_str() == resolution)
                    .ok_or_else(|| f.corrupt("event.resolution"))?,
                note: data.pointer("/event/note").and_then(Value::as_str).map(str::to_string),
                by: f.text("by")?,
            }
        }
        Source::TaskCreated => TimelineEvent::TaskCreated {
            task: f.int("task")?,
            task_kind: f.parsed("kind")?,
            note: f.text("note")?,
            assignee: f.opt_text("assignee"),
            due_on: f.opt_day("due_on"),
            by: f.opt_text("by"),
        },
        Source::TaskClosed => TimelineEvent::TaskClosed {
            task: f.int("task")?,
            task_kind: f.parsed("kind")?,
            note: f.text("note")?,
            closed_note: f.opt_text("closed_note"),
            by: f.opt_text("by"),
        },
        Source::NoteAdded => TimelineEvent::NoteAdded {
            note: f.int("note")?,
            text: f.text("text")?,
            invoice: f.opt_text("invoice"),
            by: f.text("by")?,
        },
        Source::HoldPlaced => TimelineEvent::HoldPlaced {
            hold: f.int("hold")?,
            invoice: f.opt_text("invoice"),
            reason: f.text("reason")?,
            until: f.opt_day("until"),
            by: f.text("by")?,
        },
        Source::HoldLifted => TimelineEvent::HoldLifted {
            hold: f.int("hold")?,
            invoice: f.opt_text("invoice"),
            note: f.opt_text("note"),
            by: f.text("by")?,
        },
    })
}

/// The payments that are the customer's, each with its strongest link
/// (1 partly applied, 2 known account, 3 candidate): `id, rank`.
/// Parameters: tenant, customer. PostgreSQL reads the candidates of a
/// payment's match result with a JSON path (SQLite with `json_each`).
fn customer_payments(postgres: bool) -> String {
    let candidate = if postgres {
        "JSONB_PATH_EXISTS(CAST(p.match_result AS JSONB), '$.candidates[*] ? (@.customer_id == $c)',
                             JSONB_BUILD_OBJECT('c', CAST(?2 AS TEXT)))"
    } else {
        "EXISTS (SELECT 1 FROM json_each(p.match_result, '$.candidates') c
                  WHERE json_extract(c.value, '$.customer_id')=?2)"
    };
    format!(
        "
    WITH linked (id, rank) AS (
        SELECT a.payment_id, 1 FROM invoices i INDEXED BY invoices_issued_by_customer
          CROSS JOIN allocations a INDEXED BY allocations_by_invoice ON a.tenant_id=i.tenant_id AND a.invoice_number=i.number AND a.undone_at IS NULL
         WHERE i.tenant_id=?1 AND i.customer_id=?2
        UNION ALL
        SELECT p.id, 2 FROM customer_ibans ci INDEXED BY customer_ibans_by_customer
          CROSS JOIN payments p INDEXED BY payments_unapplied_by_iban ON p.tenant_id=ci.tenant_id AND p.counterparty_iban=ci.iban
           AND p.unallocated_minor > 0 AND p.direction='credit' AND p.reversal=0
         WHERE ci.tenant_id=?1 AND ci.customer_id=?2
        UNION ALL
        SELECT p.id, 3 FROM payments p INDEXED BY payments_by_status
         WHERE p.tenant_id=?1 AND p.status IN ('suggested', 'unmatched')
           AND {candidate}
    ),
    mine (id, rank) AS (SELECT id, min(rank) FROM linked GROUP BY id)
    SELECT p.id, m.rank, p.booking_date, p.amount_minor, p.unallocated_minor, p.currency, p.status,
           p.counterparty_name, p.remittance
      FROM mine m CROSS JOIN payments p NOT INDEXED ON p.id=m.id
     WHERE p.tenant_id=?1 AND p.unallocated_minor > 0 AND p.direction='credit' AND p.reversal=0
       AND p.status NOT IN ('ignored', 'rejected')"
    )
}

/// Which open items (the `invoices_open_by_customer` partial index's condition and more).
const OPEN_ITEM: &str = "i.status IN ('open', 'partially_paid', 'disputed', 'credit_note')
    AND (CASE WHEN i.status='credit_note' THEN i.open_minor < 0 ELSE i.open_minor > 0 END)";

/// One page of open items (parameters: tenant, customer, cursor due date
/// and number or NULLs, page size + 1).
pub(crate) fn open_items_sql() -> String {
    format!(
        "SELECT i.number, i.issue_date, i.due_date, i.total_minor, i.open_minor, i.currency, i.status
           FROM invoices i INDEXED BY invoices_open_by_customer
          WHERE i.tenant_id=?1 AND i.customer_id=?2 AND {OPEN_ITEM}
            AND (CAST(?3 AS TEXT) IS NULL OR i.due_date > ?3 OR (i.due_date = ?3 AND i.number > ?4))
          ORDER BY i.due_date, i.number LIMIT ?5"
    )
}

/// The customer's unapplied payments (parameters: tenant, customer, limit).
pub(crate) fn unapplied_sql(postgres: bool) -> String {
    format!("{} ORDER BY p.booking_date DESC, p.id DESC LIMIT ?3", customer_payments(postgres))
}

/// `sql` as run on `db`: on SQLite without the hints naming an index a bulk
/// load dropped ([`hinted`]); PostgreSQL's translation drops every hint.
fn hint<'s>(db: Db<'_>, sql: &'s str) -> Result<Cow<'s, str>, StoreError> {
    match db {
        Db::Sqlite(c) => hinted(c, sql),
        Db::Postgres(_) => Ok(Cow::Borrowed(sql)),
    }
}

impl Store {
    /// Runs `f` on a read connection, once more if a bulk load dropped an
    /// index `f` names between [`hinted`] and the query (see [`super::import::bulk`]).
    fn read_hinted<T>(&self, f: impl Fn(Db<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self.db.read_any(&f) {
            Err(e) if is_missing_index(&e) => self.db.read_any(&f),
            out => out,
        }
    }

    /// Whom `customer` is; `None` when the tenant has no such customer.
    pub fn customer_summary(&self, tenant: &TenantId, customer: &str) -> Result<Option<CustomerSummary>, StoreError> {
        self.db.read_any(|db| {
            db.query_opt(
                "SELECT id, name, segment, language FROM customers WHERE tenant_id=?1 AND id=?2",
                args![tenant.as_str(), customer],
            )?
            .map(|r| Ok(CustomerSummary { id: r.get(0)?, name: r.get(1)?, segment: r.get(2)?, language: r.get(3)? }))
            .transpose()
        })
    }

    /// The customer page without its timeline (see the module doc);
    /// `page` pages the open items (`after`: an [`OpenItem::cursor`]).
    /// `None` when the tenant has no such customer.
    pub fn customer_overview(
        &self,
        tenant: &TenantId,
        customer: &str,
        today: NaiveDate,
        page: Window<String>,
    ) -> Result<Option<CustomerOverview>, StoreError> {
        let Some(summary) = self.customer_summary(tenant, customer)? else { return Ok(None) };
        let (items, next_after) = self.customer_open_items(tenant, customer, page)?;
        let unapplied = self.customer_unapplied(tenant, customer, UNAPPLIED_SHOWN)?;
        let totals = self.customer_totals(tenant, customer)?;
        let contacts = self.customer_contacts(tenant, customer, today)?;
        let t = tenant.as_str();
        let (tasks, promises) = self.db.read_any(|db| {
            let tasks = db
                .query(
                    &format!(
                        "SELECT {TASK_VIEW_COLUMNS} FROM tasks WHERE tenant_id=?1 AND customer_id=?2 AND status=?3
                         ORDER BY id DESC LIMIT ?4"
                    ),
                    args![t, customer, TaskStatus::Open.as_str(), TASKS_SHOWN],
                )?
                .iter()
                .map(task_view)
                .collect::<Result<Vec<_>, _>>()?;
            let promises = db
                .query(
                    &format!(
                        "SELECT {PROMISE_VIEW_COLUMNS} FROM promises WHERE tenant_id=?1 AND customer_id=?2
                         ORDER BY id DESC LIMIT ?3"
                    ),
                    args![t, customer, PROMISES_SHOWN],
                )?
                .iter()
                .map(promise_view)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((tasks, promises))
        })?;
        Ok(Some(CustomerOverview {
            customer: summary,
            items,
            next_after,
            totals,
            unapplied,
            contacts,
            tasks,
            promises,
        }))
    }

    /// One page of the customer's open items (invoices and credit notes),
    /// by due date then number, after the cursor `due_date|number`; and
    /// the cursor of the next page.
    pub fn customer_open_items(
        &self,
        tenant: &TenantId,
        customer: &str,
        page: Window<String>,
    ) -> Result<(Vec<OpenItem>, Option<String>), StoreError> {
        let after = match page.after.as_deref() {
            None => None,
            Some(text) => {
                let (due, number) = text.split_once('|').ok_or_else(|| {
                    StoreError::UnknownCursor(format!("`{text}` is not an open item cursor (due_date|number)"))
                })?;
                Some((due.to_string(), number.to_string()))
            }
        };
        let (due, number) = after.unzip();
        let limit = page.limit;
        let sql = open_items_sql();
        self.read_hinted(|db| {
            let rows =
                db.query(&hint(db, &sql)?, args![tenant.as_str(), customer, due, number, i64::from(limit) + 1])?;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                let number: String = r.get(0)?;
                let corrupt = |what: &str| StoreError::Corrupt(format!("invoice {number}: {what}"));
                let (issued, due, ccy, status): (Option<String>, String, String, String) =
                    (r.get(1)?, r.get(2)?, r.get(5)?, r.get(6)?);
                let currency = Currency::parse(&ccy).map_err(|e| corrupt(&e.to_string()))?;
                let status: InvoiceStatus = status.parse().map_err(|_| corrupt("status"))?;
                items.push(OpenItem {
                    kind: if status == InvoiceStatus::CreditNote {
                        OpenItemKind::CreditNote
                    } else {
                        OpenItemKind::Invoice
                    },
                    issue_date: issued.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    due_date: NaiveDate::parse_from_str(&due, "%Y-%m-%d").map_err(|_| corrupt("due date"))?,
                    total: Money::new(r.get(3)?, currency),
                    open: Money::new(r.get(4)?, currency),
                    status,
                    number,
                });
            }
            let (items, next_after) = super::cut_page(items, limit, OpenItem::cursor);
            Ok((items, next_after))
        })
    }

    /// The customer's unapplied payments (see the module doc), most recent first, at most `limit`.
    pub fn customer_unapplied(
        &self,
        tenant: &TenantId,
        customer: &str,
        limit: u32,
    ) -> Result<Vec<UnappliedPayment>, StoreError> {
        self.read_hinted(|db| {
            let sql = unapplied_sql(db.is_postgres());
            db.query(&hint(db, &sql)?, args![tenant.as_str(), customer, limit])?
                .iter()
                .map(|r| {
                    let id: i64 = r.get(0)?;
                    let corrupt = |what: &str| StoreError::Corrupt(format!("payment {id}: {what}"));
                    let (booked, ccy, status): (String, String, String) = (r.get(2)?, r.get(5)?, r.get(6)?);
                    let currency = Currency::parse(&ccy).map_err(|e| corrupt(&e.to_string()))?;
                    Ok(UnappliedPayment {
                        payment: id,
                        booking_date: NaiveDate::parse_from_str(&booked, "%Y-%m-%d")
                            .map_err(|_| corrupt("booking date"))?,
                        amount: Money::new(r.get(3)?, currency),
                        unallocated: Money::new(r.get(4)?, currency),
                        via: UnappliedVia::from_rank(r.get(1)?).ok_or_else(|| corrupt("link"))?,
                        status: relance_domain::PaymentStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
                        counterparty_name: r.get(7)?,
                        remittance: r.get(8)?,
                    })
                })
                .collect()
        })
    }

    /// The customer's totals per currency, over every open item and the
    /// unapplied payments surely the customer's, by currency code.
    pub fn customer_totals(&self, tenant: &TenantId, customer: &str) -> Result<Vec<CurrencyTotals>, StoreError> {
        // currency → (invoices, invoice count, credit notes, credit note count, unapplied)
        let sums = self.read_hinted(|db| {
            let mut sums: BTreeMap<String, (i64, i64, i64, i64, i64)> = BTreeMap::new();
            let sql = format!(
                "SELECT i.currency, CASE WHEN i.status='credit_note' THEN 1 ELSE 0 END, sum(i.open_minor), count(*)
                   FROM invoices i INDEXED BY invoices_open_by_customer
                  WHERE i.tenant_id=?1 AND i.customer_id=?2 AND {OPEN_ITEM}
                  GROUP BY 1, 2"
            );
            for r in db.query(&hint(db, &sql)?, args![tenant.as_str(), customer])? {
                let entry = sums.entry(r.get(0)?).or_default();
                if r.get::<bool>(1)? {
                    (entry.2, entry.3) = (r.get(2)?, r.get(3)?);
                } else {
                    (entry.0, entry.1) = (r.get(2)?, r.get(3)?);
                }
            }
            let sql = format!(
                "SELECT currency, sum(unallocated_minor) FROM ({} AND m.rank < 3) AS mine GROUP BY 1",
                customer_payments(db.is_postgres())
            );
            for r in db.query(&hint(db, &sql)?, args![tenant.as_str(), customer])? {
                sums.entry(r.get(0)?).or_default().4 = r.get(1)?;
            }
            Ok(sums)
        })?;
        sums.into_iter()
            .map(|(code, (invoices, invoice_count, credit_notes, credit_note_count, unapplied))| {
                let currency =
                    Currency::parse(&code).map_err(|e| StoreError::Corrupt(format!("currency `{code}`: {e}")))?;
                let (invoices, credit_notes, unapplied) = (
                    Money::new(invoices, currency),
                    Money::new(credit_notes, currency),
                    Money::new(unapplied, currency),
                );
                let balance = invoices
                    .checked_add(credit_notes)
                    .and_then(|m| m.checked_sub(unapplied))
                    .map_err(|e| StoreError::Corrupt(format!("customer {customer}'s balance: {e}")))?;
                Ok(CurrencyTotals {
                    currency: code,
                    invoices,
                    invoice_count,
                    credit_notes,
                    credit_note_count,
                    unapplied,
                    balance,
                })
            })
            .collect()
    }

    /// The customer's addresses with their state on `today` (as
    /// [`Store::contacts`] says it), in the customer's order, then the
    /// addresses with a state the customer no longer lists.
    pub fn customer_contacts(
        &self,
        tenant: &TenantId,
        customer: &str,
        today: NaiveDate,
    ) -> Result<Vec<ContactView>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            let text: Option<String> = db
                .query_opt("SELECT emails FROM customers WHERE tenant_id=?1 AND id=?2", args![t, customer])?
                .map(|r| r.get(0))
                .transpose()?;
            let mut addresses: Vec<String> = Vec::new();
            for a in text.and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok()).unwrap_or_default() {
                let a = a.trim().to_lowercase();
                if !a.is_empty() && !addresses.contains(&a) {
                    addresses.push(a);
                }
            }
            // Addresses marked for this customer that it no longer lists (few: one row per bad address).
            for table in ["contact_undeliverable", "contact_away"] {
                for r in db.query(
                    &format!("SELECT address FROM {table} WHERE tenant_id=?1 AND customer_id=?2"),
                    args![t, customer],
                )? {
                    let a: String = r.get(0)?;
                    if !addresses.contains(&a) {
                        addresses.push(a);
                    }
                }
            }
            let mut out = Vec::with_capacity(addresses.len());
            for address in addresses {
                let undeliverable = db
                    .query_opt(
                        "SELECT since, status_code, diagnostic, message_id FROM contact_undeliverable WHERE tenant_id=?1 AND address=?2",
                        args![t, address],
                    )?
                    .map(|r| -> Result<UndeliverableView, StoreError> {
                        Ok(UndeliverableView {
                            since: r.get(0)?,
                            status_code: r.get(1)?,
                            diagnostic: r.get(2)?,
                            message: r.get(3)?,
                        })
                    })
                    .transpose()?;
                let absent = db.query_opt(
                    "SELECT until, reason, message_id FROM contact_away WHERE tenant_id=?1 AND address=?2",
                    args![t, address],
                )?;
                let away = absent
                    .map(|r: Row| {
                        let until: String = r.get(0)?;
                        NaiveDate::parse_from_str(&until, "%Y-%m-%d")
                            .map_err(|e| StoreError::Corrupt(format!("contact_away {address}: {e}")))
                            .and_then(|until| Ok(AwayView { until, reason: r.get(1)?, message: r.get(2)? }))
                    })
                    .transpose()?;
                let status = if undeliverable.is_some() {
                    ContactState::Undeliverable
                } else if away.as_ref().is_some_and(|a| a.until >= today) {
                    ContactState::Away
                } else {
                    ContactState::Ok
                };
                out.push(ContactView { customer_id: Some(customer.to_string()), address, status, undeliverable, away });
            }
            Ok(out)
        })
    }

    /// The customer's timeline, newest first: at most `limit` entries
    /// before the cursor `after` (a [`TimelineEntry::cursor`]), and the
    /// cursor of the next page (`None` on the last).
    pub fn customer_timeline(
        &self,
        tenant: &TenantId,
        customer: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<TimelineEntry>, Option<String>), StoreError> {
        let cursor = after.map(parse_cursor).transpose()?;
        let (at, src, key) = match cursor {
            Some((at, src, key)) => (Some(at), Some(src), Some(key)),
            None => (None, None, None),
        };
        let sql = timeline_sql();
        let rows = self.read_hinted(|db| {
            db.query(&hint(db, &sql)?, args![tenant.as_str(), customer, at, src, key, i64::from(limit) + 1])?
                .iter()
                .map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?, r.get::<String>(3)?)))
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let mut entries = Vec::with_capacity(rows.len());
        for (at, src, key, data) in rows {
            let source =
                Source::of(src).ok_or_else(|| StoreError::Corrupt(format!("timeline: unknown source {src}")))?;
            let data: Value = serde_json::from_str(&data)
                .map_err(|e| StoreError::Corrupt(format!("timeline: unreadable entry ({e})")))?;
            let event = timeline_event(source, &data)?;
            entries.push(TimelineEntry { cursor: format!("{at}|{src}|{key}"), at, event });
        }
        Ok(super::cut_page(entries, limit, |e| e.cursor.clone()))
    }
}
