//! Payments, allocations and the ERP write-back outbox.
//!
//! - A statement file is stored in one transaction with all its transactions
//!   (`INSERT OR IGNORE` on a dedupe key), so a re-import or an overlapping
//!   statement adds only what is new, and a crash leaves either the whole file
//!   or nothing.
//! - A payment's decision (applied, suggested, rejected) is one transaction
//!   guarded by the payment's current status: a payment is never applied twice,
//!   whatever crashes or concurrent reviewers do.
//! - Applying writes the allocations, the invoices' new open amounts and
//!   statuses, audit events and one outbox row per allocation together. A
//!   net payment offsets open credit notes by negative allocations, checked
//!   (`check_credit_note_offsets`) and undone as one set.
//! - An allocation is pending in the ERP until the ERP reflects it
//!   ([`super::reflection`]): the invoice's open amount is the ERP's less the
//!   pending allocations, so applying, undoing and a write-back that registers
//!   the payment all recompute it from those two figures.
//! - A payment is a [`BankLine`] with its [`PaymentStatus`] (a CHECK in the
//!   schema refuses any other status) and the matcher's [`MatchResult`],
//!   stored as JSON with its version ([`MATCH_RESULT_VERSION`]) and read back
//!   typed; a result that no longer reads leaves the payment readable,
//!   without candidates, and the row untouched.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::json;

use super::apply_set::{CreditDecision, CreditOutcome};
use super::db::{Db, Row, args};
use super::reflection::{self, ErpState, ReflectedBy};
use super::sqlite::insert_event;
use super::{Page, Store, StoreError, Window, cut_page, now_text, parse_time};
use relance_domain::AllocationNotice;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, Direction, InvoiceStatus, PaymentStatus, TenantId};
use relance_engine::matching::{ClosedInvoice, MatchResult, OpenInvoice, Payer};

/// The version of the JSON of [`MatchResult`] in `payments.match_result`
/// (`payments.match_result_version`). Results stored before the version was
/// recorded are version 1 (migration 0008).
pub const MATCH_RESULT_VERSION: i64 = 1;

/// A bank line to store, with what the statement file says around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// Identifies the line across re-imports and overlapping statements
    /// (stored once per tenant).
    pub dedupe_key: String,
    /// The statement's account (IBAN or number).
    pub account: Option<String>,
    pub line: BankLine,
}

/// A stored payment: a bank line and where cash application stands with it.
///
/// Serialized flat, as the API shows it: `{"id", "booking_date",
/// "value_date", "currency", "amount", "unallocated", "direction",
/// "reversal", "counterparty_name", "counterparty_iban", "remittance",
/// "structured_ref", "end_to_end_id", "bank_ref", "status", "match_result"}`,
/// amounts as decimal strings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayment {
    pub id: i64,
    pub status: PaymentStatus,
    pub line: BankLine,
    /// Ranked candidates with their reasons, as decided by the matcher.
    pub match_result: Option<MatchResult>,
    /// What is not allocated to invoices yet (zero for a line never matched).
    pub unallocated: Money,
    /// Why it is at the top of the review queue: the holds in force that
    /// name it (reminders held while it awaits review, a customer's payment
    /// claim); filled by the review queue's listings, empty elsewhere.
    pub holds_reminders: Vec<String>,
}

impl Serialize for StoredPayment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = &self.line;
        let mut st = s.serialize_struct("StoredPayment", 17)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("booking_date", &l.booking_date)?;
        st.serialize_field("value_date", &l.value_date)?;
        st.serialize_field("currency", l.amount.currency.code())?;
        st.serialize_field("amount", &l.amount.to_decimal_string())?;
        st.serialize_field("unallocated", &self.unallocated.to_decimal_string())?;
        st.serialize_field("direction", &l.direction)?;
        st.serialize_field("reversal", &l.reversal)?;
        st.serialize_field("counterparty_name", &l.counterparty_name)?;
        st.serialize_field("counterparty_iban", &l.counterparty_iban)?;
        st.serialize_field("remittance", &l.remittance)?;
        st.serialize_field("structured_ref", &l.structured_ref)?;
        st.serialize_field("end_to_end_id", &l.end_to_end_id)?;
        st.serialize_field("bank_ref", &l.bank_ref)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("match_result", &self.match_result)?;
        st.serialize_field("holds_reminders", &self.holds_reminders)?;
        st.end()
    }
}

/// One allocation of a payment (undone ones included), as the API shows it.
/// An offset of a credit note (a net payment) has a negative amount, and so
/// are its `pending_erp` and `reflected`.
///
/// Serialized flat: `{"id", "invoice", "amount", "write_off", "currency",
/// "actor", "created_at", "undone_at", "erp_state", "pending_erp",
/// "reflected", "reflected_at", "reflected_by"}`, amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAllocation {
    pub id: i64,
    pub invoice: String,
    pub amount: Money,
    /// What was closed on top of the amount (fee or discount); zero when nothing.
    pub write_off: Money,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub undone_at: Option<DateTime<Utc>>,
    pub erp_state: ErpState,
    /// What the ERP has still to reflect of it (nothing once undone or reflected).
    pub pending_erp: Money,
    /// How much of it (amount + write-off) the ERP reflects so far.
    pub reflected: Money,
    pub reflected_at: Option<DateTime<Utc>>,
    pub reflected_by: Option<ReflectedBy>,
}

impl Serialize for StoredAllocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut st = s.serialize_struct("StoredAllocation", 13)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("invoice", &self.invoice)?;
        st.serialize_field("amount", &self.amount.to_decimal_string())?;
        st.serialize_field("write_off", &self.write_off.to_decimal_string())?;
        st.serialize_field("currency", self.amount.currency.code())?;
        st.serialize_field("actor", &self.actor)?;
        st.serialize_field("created_at", &time(&self.created_at))?;
        st.serialize_field("undone_at", &self.undone_at.as_ref().map(time))?;
        st.serialize_field("erp_state", &self.erp_state)?;
        st.serialize_field("pending_erp", &self.pending_erp.to_decimal_string())?;
        st.serialize_field("reflected", &self.reflected.to_decimal_string())?;
        st.serialize_field("reflected_at", &self.reflected_at.as_ref().map(time))?;
        st.serialize_field("reflected_by", &self.reflected_by)?;
        st.end()
    }
}

impl utoipa::PartialSchema for StoredPayment {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        PaymentWire::schema()
    }
}

impl utoipa::ToSchema for StoredPayment {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        PaymentWire::schemas(schemas)
    }
}

/// The serialized shape of a [`StoredPayment`], for its schema only (a test
/// compares the two).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct PaymentWire {
    id: i64,
    booking_date: chrono::NaiveDate,
    value_date: Option<chrono::NaiveDate>,
    #[schema(example = "EUR")]
    currency: String,
    /// Decimal string, always positive (see `direction`).
    #[schema(example = "1250.00")]
    amount: String,
    /// What is not allocated to invoices yet (decimal string).
    unallocated: String,
    direction: relance_domain::Direction,
    reversal: bool,
    counterparty_name: Option<String>,
    counterparty_iban: Option<String>,
    remittance: Option<String>,
    structured_ref: Option<String>,
    end_to_end_id: Option<String>,
    bank_ref: Option<String>,
    status: PaymentStatus,
    /// Ranked candidates with their reasons, as decided by the matcher.
    #[schema(value_type = Option<Object>)]
    match_result: Option<()>,
    /// Why it is at the top of the review queue: the reminders it holds
    /// (a credit from the customer awaiting review, a payment claim).
    holds_reminders: Vec<String>,
}

impl utoipa::PartialSchema for StoredAllocation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        AllocationWire::schema()
    }
}

impl utoipa::ToSchema for StoredAllocation {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        AllocationWire::schemas(schemas)
    }
}

/// The serialized shape of a [`StoredAllocation`], for its schema only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AllocationWire {
    id: i64,
    invoice: String,
    /// Decimal string.
    amount: String,
    /// Closed on top of the amount (fee or discount), decimal string.
    write_off: String,
    currency: String,
    actor: String,
    created_at: DateTime<Utc>,
    undone_at: Option<DateTime<Utc>>,
    /// `pending` or `reflected`.
    erp_state: String,
    pending_erp: String,
    reflected: String,
    reflected_at: Option<DateTime<Utc>>,
    /// `erp_open_drop`, `erp_settled`, `missing_from_full_export` or `writeback_registered`.
    reflected_by: Option<String>,
}

/// An allocation to apply: invoice, amount taken from the payment, and what
/// is closed on top of it (fee or discount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationRequest {
    pub invoice: String,
    pub amount: Money,
    pub write_off: Option<Money>,
}

/// What a statement import stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementOutcome {
    pub file_id: i64,
    pub inserted: u64,
    pub duplicates: u64,
}

pub(crate) const PAYMENT_COLUMNS: &str =
    "id, booking_date, value_date, amount_minor, currency, direction, reversal, counterparty_name,
    counterparty_iban, remittance, structured_ref, end_to_end_id, bank_ref, status, match_result,
    match_result_version, unallocated_minor";

/// The currency of a stored row; an unknown code is corrupt data, never
/// silently read as another currency.
fn stored_currency(code: &str, what: impl FnOnce() -> String) -> Result<Currency, StoreError> {
    Currency::parse(code).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

/// A payment row as SQLite gives it, checked by [`PaymentRow::into_payment`].
pub(crate) struct PaymentRow {
    id: i64,
    booking_date: String,
    value_date: Option<String>,
    amount_minor: i64,
    currency: String,
    direction: String,
    reversal: bool,
    counterparty_name: Option<String>,
    counterparty_iban: Option<String>,
    remittance: Option<String>,
    structured_ref: Option<String>,
    end_to_end_id: Option<String>,
    bank_ref: Option<String>,
    status: String,
    match_result: Option<String>,
    match_result_version: Option<i64>,
    unallocated_minor: i64,
}

/// A payment row read through [`Db`] (columns [`PAYMENT_COLUMNS`]), checked.
pub(crate) fn payment_of(r: &Row) -> Result<StoredPayment, StoreError> {
    PaymentRow {
        id: r.get(0)?,
        booking_date: r.get(1)?,
        value_date: r.get(2)?,
        amount_minor: r.get(3)?,
        currency: r.get(4)?,
        direction: r.get(5)?,
        reversal: r.get(6)?,
        counterparty_name: r.get(7)?,
        counterparty_iban: r.get(8)?,
        remittance: r.get(9)?,
        structured_ref: r.get(10)?,
        end_to_end_id: r.get(11)?,
        bank_ref: r.get(12)?,
        status: r.get(13)?,
        match_result: r.get(14)?,
        match_result_version: r.get(15)?,
        unallocated_minor: r.get(16)?,
    }
    .into_payment()
}

impl PaymentRow {
    pub(crate) fn into_payment(self) -> Result<StoredPayment, StoreError> {
        let id = self.id;
        let corrupt = |what: String| StoreError::Corrupt(format!("payment {id}: {what}"));
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt(format!("date `{s}`: {e}")));
        let ccy = stored_currency(&self.currency, || format!("payment {id}"))?;
        let direction =
            Direction::parse(&self.direction).ok_or_else(|| corrupt(format!("direction `{}`", self.direction)))?;
        let status = PaymentStatus::parse(&self.status).ok_or_else(|| corrupt(format!("status `{}`", self.status)))?;
        let line = BankLine {
            booking_date: date(&self.booking_date)?,
            value_date: self.value_date.as_deref().map(date).transpose()?,
            amount: Money::new(self.amount_minor, ccy),
            direction,
            reversal: self.reversal,
            counterparty_name: self.counterparty_name,
            counterparty_iban: self.counterparty_iban,
            remittance: self.remittance,
            structured_ref: self.structured_ref,
            end_to_end_id: self.end_to_end_id,
            bank_ref: self.bank_ref,
        };
        let match_result = self.match_result.and_then(|text| {
            decode_match_result(self.match_result_version, &text)
                .map_err(|why| {
                    // The row stays as it is; the payment is shown and
                    // reviewed without candidates rather than not at all.
                    tracing::warn!(payment = id, %why, "stored match result unreadable; shown without candidates");
                })
                .ok()
        });
        Ok(StoredPayment {
            id,
            status,
            line,
            match_result,
            unallocated: Money::new(self.unallocated_minor, ccy),
            holds_reminders: Vec::new(),
        })
    }
}

/// Reads a stored match result of `version` (none recorded: version 1).
pub(crate) fn decode_match_result(version: Option<i64>, text: &str) -> Result<MatchResult, String> {
    match version.unwrap_or(1) {
        1 => serde_json::from_str(text).map_err(|e| format!("match result (version 1): {e}")),
        v => Err(format!("match result of unknown version {v}")),
    }
}

/// The JSON stored for a match result (version [`MATCH_RESULT_VERSION`]).
pub(crate) fn encode_match_result(result: &MatchResult) -> Result<String, StoreError> {
    serde_json::to_string(result).map_err(|e| StoreError::Rejected(format!("match result not storable: {e}")))
}

/// A match result as audit-event data.
pub(crate) fn match_result_event(result: &MatchResult) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(result).map_err(|e| StoreError::Rejected(format!("match result not storable: {e}")))
}

fn load_payment(db: Db<'_>, tenant: &str, id: i64) -> Result<Option<StoredPayment>, StoreError> {
    db.query_opt(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1 AND id=?2"), args![tenant, id])?
        .map(|r| payment_of(&r))
        .transpose()
}

/// A stored date (`YYYY-MM-DD`), or `None`.
fn day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

impl Store {
    /// Whether a statement file with this content was already handled.
    pub fn statement_file_known(&self, tenant: &TenantId, sha256: &str) -> Result<bool, StoreError> {
        self.db.read_any(|db| {
            Ok(db
                .query_opt(
                    "SELECT 1 FROM statement_files WHERE tenant_id=?1 AND sha256=?2",
                    args![tenant.as_str(), sha256],
                )?
                .is_some())
        })
    }

    /// Stores a parsed statement file and its transactions in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn store_statement(
        &self,
        tenant: &TenantId,
        source: &str,
        sha256: &str,
        label: &str,
        kept_path: Option<&str>,
        format: &str,
        payments: &[NewPayment],
    ) -> Result<StatementOutcome, StoreError> {
        self.db.write_any(|db| {
            let t = tenant.as_str();
            let now = now_text();
            let file_id: i64 = db
                .query_one(
                    "INSERT INTO statement_files (tenant_id, source, sha256, label, kept_path, format, transactions, received_at)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8) RETURNING id",
                    args![t, source, sha256, label, kept_path, format, payments.len() as i64, now],
                )?
                .get(0)?;
            let mut out = StatementOutcome { file_id, ..Default::default() };
            if let Db::Postgres(conn) = db {
                // One statement for the lot (a row each would be a round trip each).
                out.inserted = insert_payments_pg(conn, t, source, file_id, &now, payments)?;
                out.duplicates = payments.len() as u64 - out.inserted;
            } else {
                for p in payments {
                let l = &p.line;
                let to_match = l.is_to_match();
                let status = if to_match { PaymentStatus::New } else { PaymentStatus::Ignored };
                // Known already (a re-import, an overlapping statement, another
                // daemon storing the same line): nothing inserted.
                let n = db.execute(
                    "INSERT OR IGNORE INTO payments (tenant_id, dedupe_key, source, file_id, account, booking_date, value_date,
                        amount_minor, currency, direction, reversal, counterparty_name, counterparty_iban, remittance,
                        structured_ref, end_to_end_id, bank_ref, status, unallocated_minor, created_at, updated_at)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?20)",
                    args![
                        t,
                        p.dedupe_key,
                        source,
                        file_id,
                        p.account,
                        l.booking_date.to_string(),
                        l.value_date.map(|d| d.to_string()),
                        l.amount.minor,
                        l.amount.currency.code(),
                        l.direction.as_str(),
                        l.reversal,
                        l.counterparty_name,
                        l.counterparty_iban,
                        l.remittance,
                        l.structured_ref,
                        l.end_to_end_id,
                        l.bank_ref,
                        status.as_str(),
                        if to_match { l.amount.minor } else { 0 },
                        now,
                    ],
                )?;
                if n == 1 { out.inserted += 1 } else { out.duplicates += 1 }
            }
            }
            insert_event(
                db,
                t,
                &format!("connector:{source}"),
                "statement_imported",
                &format!("statement_file:{file_id}"),
                &json!({ "label": label, "format": format, "transactions": payments.len(), "new": out.inserted, "already_known": out.duplicates }),
            )?;
            Ok(out)
        })
    }

    /// Remembers a statement file that could not be parsed, so it is not retried while unchanged.
    pub fn record_statement_rejected(
        &self,
        tenant: &TenantId,
        source: &str,
        sha256: &str,
        label: &str,
        kept: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            db.execute(
                "INSERT OR IGNORE INTO statement_files (tenant_id, source, sha256, label, kept_path, format, received_at)
                 VALUES (?1,?2,?3,?4,?5,NULL,?6)",
                args![tenant.as_str(), source, sha256, label, kept, now_text()],
            )?;
            Ok(())
        })
    }

    /// Credits waiting for the matcher, oldest first: new ones, and unmatched
    /// ones whose last attempt is older than the latest invoice change (an
    /// invoice often reaches the ERP export after its payment reaches the bank).
    pub fn payments_to_match(&self, tenant: &TenantId) -> Result<Vec<StoredPayment>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1 AND (status='new' OR (status='unmatched'
                       AND updated_at < (SELECT coalesce(max(updated_at), '') FROM invoices WHERE tenant_id=?1))) ORDER BY id"
                ),
                args![tenant.as_str()],
            )?
            .iter()
            .map(payment_of)
            .collect()
        })
    }

    /// Payments with one of `statuses` (all when empty), oldest first:
    /// those after the payment `page.after` when given.
    pub fn payments_with_status(
        &self,
        tenant: &TenantId,
        statuses: &[PaymentStatus],
        page: impl Into<Window<i64>>,
    ) -> Result<Page<StoredPayment, i64>, StoreError> {
        let page = page.into();
        let offset = if page.after.is_some() { 0 } else { page.sql_offset() };
        self.db.read_any(|db| {
            let names: Vec<&str> = statuses.iter().map(PaymentStatus::as_str).collect();
            let filter = super::status_filter(&names);
            let total: i64 = db
                .query_one(&format!("SELECT count(*) FROM payments WHERE tenant_id=?1{filter}"), args![tenant.as_str()])?
                .get(0)?;
            let items = db
                .query(
                    &format!(
                        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1{filter} AND id > ?4 ORDER BY id LIMIT ?2 OFFSET ?3"
                    ),
                    args![tenant.as_str(), page.probe(), offset, page.after.unwrap_or(0)],
                )?
                .iter()
                .map(payment_of)
                .collect::<Result<Vec<_>, _>>()?;
            let (items, next_after) = cut_page(items, page.limit, |p: &StoredPayment| p.id);
            Ok(Page { items, total: total as u64, limit: page.limit, offset: offset as u64, next_after })
        })
    }

    pub fn payment(&self, tenant: &TenantId, id: i64) -> Result<Option<StoredPayment>, StoreError> {
        self.db.read_any(|db| load_payment(db, tenant.as_str(), id))
    }

    /// What the matcher needs: open invoices and payers (with source and learned IBANs).
    ///
    /// The invoices are read row by row ([`Db::query_each`]): a tenant has a
    /// million of them, the matcher's index is built from this list.
    pub fn matching_inputs(&self, tenant: &TenantId) -> Result<(Vec<OpenInvoice>, Vec<Payer>), StoreError> {
        self.db.read_any(|db| {
            let t = tenant.as_str();
            let mut invoices = Vec::new();
            db.query_each(
                "SELECT number, customer_id, issue_date, due_date, currency, total_minor, open_minor FROM invoices
                 WHERE tenant_id=?1 AND ((status IN ('open','partially_paid','disputed') AND open_minor > 0)
                                          OR (status='credit_note' AND open_minor < 0))",
                args![t],
                |r| {
                    let number: String = r.take(0)?;
                    let (customer_id, issue, due, ccy): (String, Option<String>, String, String) =
                        (r.take(1)?, r.take(2)?, r.take(3)?, r.take(4)?);
                    let (total, open): (i64, i64) = (r.get(5)?, r.get(6)?);
                    let ccy =
                        Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(format!("invoice {number}: {e}")))?;
                    invoices.push(OpenInvoice {
                        due_date: day(&due)
                            .ok_or_else(|| StoreError::Corrupt(format!("invoice {number}: due date `{due}`")))?,
                        issue_date: issue.as_deref().and_then(day),
                        number,
                        customer_id,
                        total: Money::new(total, ccy),
                        open: Money::new(open, ccy),
                    });
                    Ok(())
                },
            )?;
            let mut payers = Vec::new();
            db.query_each(
                "SELECT c.id, c.name, (SELECT group_concat(iban, ' ') FROM customer_ibans i WHERE i.tenant_id=c.tenant_id AND i.customer_id=c.id)
                 FROM customers c WHERE c.tenant_id=?1",
                args![t],
                |r| {
                    let ibans: Option<String> = r.take(2)?;
                    payers.push(Payer {
                        customer_id: r.take(0)?,
                        name: r.take(1)?,
                        ibans: ibans.map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default(),
                    });
                    Ok(())
                },
            )?;
            Ok((invoices, payers))
        })
    }

    /// The tenant's most recently closed invoices (paid, closed, cancelled),
    /// at most `limit`, newest first: the matcher raises a reference to one
    /// of them instead of matching the credit elsewhere.
    pub fn closed_invoices(&self, tenant: &TenantId, limit: u32) -> Result<Vec<ClosedInvoice>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT number, customer_id, status FROM invoices
                 WHERE tenant_id=?1 AND status IN ('paid','closed','cancelled')
                 ORDER BY updated_at DESC, number LIMIT ?2",
                args![tenant.as_str(), limit],
            )?
            .iter()
            .map(|r| {
                let (number, customer_id, status): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let status = status
                    .parse::<InvoiceStatus>()
                    .map_err(|e| StoreError::Corrupt(format!("invoice {number}: {e}")))?;
                Ok(ClosedInvoice { number, customer_id, status })
            })
            .collect()
        })
    }

    /// Records the matcher's verdict for a payment it did not apply:
    /// `status` is [`PaymentStatus::Suggested`] or [`PaymentStatus::Unmatched`]
    /// (anything else is refused). Only a payment still `new` or `unmatched`
    /// changes; returns whether it did.
    pub fn set_payment_review(
        &self,
        tenant: &TenantId,
        id: i64,
        status: PaymentStatus,
        result: &MatchResult,
    ) -> Result<bool, StoreError> {
        if !status.in_review() {
            return Err(StoreError::Rejected(format!("a payment is not sent to review as {status}")));
        }
        let decision = CreditDecision::Review { payment: id, status, result };
        match self.apply_credit_decisions(tenant, std::slice::from_ref(&decision))?.pop() {
            Some(CreditOutcome::Reviewed(changed)) => Ok(changed),
            other => Err(StoreError::Corrupt(format!("payment {id}: unexpected outcome {other:?}"))),
        }
    }

    /// Applies allocations to a payment whose status is one of `from`. Returns
    /// the allocation ids; `Rejected` when the payment moved on or an amount
    /// does not fit.
    ///
    /// Exactly once, whatever runs concurrently: SQLite has one writer; on
    /// PostgreSQL the transaction is `SERIALIZABLE`, so of two stores
    /// applying the same credit one commits and the other is run again (see
    /// `PgPool::write`), finds the payment matched and is refused.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_payment(
        &self,
        tenant: &TenantId,
        id: i64,
        from: &[PaymentStatus],
        allocations: &[AllocationRequest],
        actor: &str,
        result: Option<&MatchResult>,
        learn: LearnIban<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        let decision =
            CreditDecision::Apply { payment: id, from, allocations: allocations.to_vec(), actor, result, learn };
        match self.apply_credit_decisions(tenant, std::slice::from_ref(&decision))?.pop() {
            Some(CreditOutcome::Applied(ids)) => Ok(ids),
            Some(CreditOutcome::Refused(why)) => Err(StoreError::Rejected(why)),
            other => Err(StoreError::Corrupt(format!("payment {id}: unexpected outcome {other:?}"))),
        }
    }

    /// Rejects a payment from the review queue (not ours, refund…).
    pub fn reject_payment(&self, tenant: &TenantId, id: i64, actor: &str, reason: &str) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE payments SET status='rejected', updated_at=?3 WHERE tenant_id=?1 AND id=?2 AND status IN ('suggested','unmatched')",
                args![tenant.as_str(), id, now_text()],
            )?;
            if n != 1 {
                return Err(StoreError::Rejected(format!("payment {id} is not waiting for review")));
            }
            insert_event(db, tenant.as_str(), actor, "payment_rejected", &format!("payment:{id}"), &json!({ "reason": reason }))?;
            let note = format!("credit #{id} rejected by {actor}: reminders resume");
            super::credit_holds::release_payment_holds(db, tenant.as_str(), id, &note)?;
            Ok(())
        })
    }

    /// Undoes an allocation: the invoice owes it again, the payment goes back
    /// to review. An allocation of a net payment (one that offsets credit
    /// notes) is undone with the rest of its set: the invoices owe their
    /// amounts again and the credit notes are open again, the payment whole.
    pub fn undo_allocation(&self, tenant: &TenantId, allocation_id: i64, actor: &str) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            let t = tenant.as_str();
            let payment_id: Option<i64> = db
                .query_opt(
                    "SELECT payment_id FROM allocations WHERE tenant_id=?1 AND id=?2 AND undone_at IS NULL",
                    args![t, allocation_id],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            let Some(payment_id) = payment_id else {
                return Err(StoreError::Rejected(format!("allocation {allocation_id} does not exist or is already undone")));
            };
            let live = db
                .query(
                    "SELECT id, amount_minor FROM allocations WHERE tenant_id=?1 AND payment_id=?2 AND undone_at IS NULL ORDER BY id",
                    args![t, payment_id],
                )?
                .iter()
                .map(|r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let net = live.iter().any(|(_, amount)| *amount < 0);
            let now = now_text();
            for (id, _) in live.iter().filter(|(id, _)| net || *id == allocation_id) {
                undo_one(db, t, *id, actor, &now)?;
            }
            Ok(())
        })
    }

    /// Write-back notices not delivered yet, oldest first.
    pub fn pending_writebacks(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Vec<(i64, AllocationNotice)>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT o.id, o.reversal, a.id, a.invoice_number, a.amount_minor, a.currency, p.bank_ref, p.booking_date
                 FROM writeback_queue o JOIN allocations a ON a.id=o.allocation_id JOIN payments p ON p.id=a.payment_id
                 WHERE o.tenant_id=?1 AND o.delivered_at IS NULL ORDER BY o.id LIMIT ?2",
                args![tenant.as_str(), limit],
            )?
            .iter()
            .map(|r| {
                let ccy: String = r.get(5)?;
                let booking: String = r.get(7)?;
                let ccy = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((
                    r.get(0)?,
                    AllocationNotice {
                        tenant: tenant.clone(),
                        allocation_id: r.get(2)?,
                        invoice_number: r.get(3)?,
                        amount: Money::new(r.get(4)?, ccy),
                        payment_reference: r.get(6)?,
                        booking_date: NaiveDate::parse_from_str(&booking, "%Y-%m-%d")
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        reversal: r.get(1)?,
                    },
                ))
            })
            .collect()
        })
    }

    /// Marks a write-back notice delivered (or records the failure).
    pub fn mark_writeback(
        &self,
        tenant: &TenantId,
        outbox_id: i64,
        result: Result<(), &str>,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            match result {
                Ok(()) => db.execute(
                    "UPDATE writeback_queue SET delivered_at=?3, attempts=attempts+1 WHERE tenant_id=?1 AND id=?2",
                    args![t, outbox_id, now_text()],
                )?,
                Err(e) => db.execute(
                    "UPDATE writeback_queue SET attempts=attempts+1, last_error=?3 WHERE tenant_id=?1 AND id=?2",
                    args![t, outbox_id, e],
                )?,
            };
            Ok(())
        })
    }

    /// Marks a write-back notice delivered by a connector that registers
    /// payments in the ERP (Odoo's): in the same transaction, the
    /// allocation's amount is reflected and the ERP's open amount of the
    /// invoice lowered by it (see [`super::reflection`]). A reversal notice
    /// is only marked delivered.
    pub fn mark_writeback_registered(&self, tenant: &TenantId, outbox_id: i64) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let now = now_text();
            let row = db.query_opt(
                "SELECT allocation_id, reversal FROM writeback_queue WHERE tenant_id=?1 AND id=?2 AND delivered_at IS NULL",
                args![t, outbox_id],
            )?;
            let Some(r) = row else { return Ok(()) };
            let (allocation, reversal): (i64, bool) = (r.get(0)?, r.get(1)?);
            db.execute(
                "UPDATE writeback_queue SET delivered_at=?3, attempts=attempts+1 WHERE tenant_id=?1 AND id=?2",
                args![t, outbox_id, now],
            )?;
            if !reversal {
                reflection::reflect_registered(db, t, allocation, &now)?;
            }
            Ok(())
        })
    }

    /// Allocations of a payment (including undone ones), for the API.
    pub fn allocations(&self, tenant: &TenantId, payment_id: i64) -> Result<Vec<StoredAllocation>, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT id, invoice_number, amount_minor, write_off_minor, currency, actor, created_at, undone_at,
                        erp_state, reflected_minor, reflected_at, reflected_by FROM allocations
                 WHERE tenant_id=?1 AND payment_id=?2 ORDER BY id",
                args![tenant.as_str(), payment_id],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let (id, invoice, amount, write_off): (i64, String, i64, i64) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                let (ccy, actor, created_at): (String, String, String) = (r.get(4)?, r.get(5)?, r.get(6)?);
                let (undone_at, erp_state, reflected): (Option<String>, String, i64) =
                    (r.get(7)?, r.get(8)?, r.get(9)?);
                let (reflected_at, reflected_by): (Option<String>, Option<String>) = (r.get(10)?, r.get(11)?);
                let corrupt = |what: String| StoreError::Corrupt(format!("allocation {id}: {what}"));
                let ccy = stored_currency(&ccy, || format!("allocation {id}"))?;
                let erp_state =
                    ErpState::parse(&erp_state).ok_or_else(|| corrupt(format!("erp_state `{erp_state}`")))?;
                let reflected_by = reflected_by
                    .map(|b| ReflectedBy::parse(&b).ok_or_else(|| corrupt(format!("reflected_by `{b}`"))))
                    .transpose()?;
                // What the ERP has still to reflect of it (nothing once undone);
                // a credit note's offset is negative, and so are these.
                let sign = if amount < 0 { -1 } else { 1 };
                let pending_erp = if erp_state == ErpState::Pending && undone_at.is_none() {
                    amount.saturating_abs().saturating_add(write_off).saturating_sub(reflected).max(0) * sign
                } else {
                    0
                };
                let reflected = reflected * sign;
                out.push(StoredAllocation {
                    id,
                    invoice,
                    amount: Money::new(amount, ccy),
                    write_off: Money::new(write_off, ccy),
                    actor,
                    created_at: parse_time(&created_at)?,
                    undone_at: undone_at.as_deref().map(parse_time).transpose()?,
                    erp_state,
                    pending_erp: Money::new(pending_erp, ccy),
                    reflected: Money::new(reflected, ccy),
                    reflected_at: reflected_at.as_deref().map(parse_time).transpose()?,
                    reflected_by,
                });
            }
            Ok(out)
        })
    }
}

/// What an applied payment teaches about its payer's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnIban<'a> {
    /// Nothing (no account, or a correction that must not teach).
    No,
    /// This account belongs to this customer (the matcher's candidate said so).
    Customer { iban: &'a str, customer: &'a str },
    /// The payment's counterparty account belongs to the customer of the
    /// allocated invoices, when they all belong to one customer (a person
    /// accepted or allocated the payment).
    FromInvoices,
}

/// Undoes one live allocation: the invoice (or credit note) owes the ERP's
/// open amount again less what else is pending, the payment gets the amount
/// back and goes to review, a reversal notice is queued and audited.
fn undo_one(db: Db<'_>, t: &str, allocation_id: i64, actor: &str, now: &str) -> Result<(), StoreError> {
    let r = db.query_one(
        "SELECT payment_id, invoice_number, amount_minor, currency FROM allocations WHERE tenant_id=?1 AND id=?2",
        args![t, allocation_id],
    )?;
    let (payment_id, invoice, amount, ccy): (i64, String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    db.execute(
        "UPDATE allocations SET undone_at=?3, undone_by=?4 WHERE tenant_id=?1 AND id=?2",
        args![t, allocation_id, now, actor],
    )?;
    // No longer pending: the invoice owes the ERP's open amount less what is still pending.
    let refreshed = reflection::refresh_invoice(db, t, &invoice, now)?;
    db.execute(
        "UPDATE payments SET unallocated_minor=unallocated_minor+?3, status='suggested', updated_at=?4 WHERE tenant_id=?1 AND id=?2",
        args![t, payment_id, amount, now],
    )?;
    db.execute(
        "INSERT INTO writeback_queue (tenant_id, allocation_id, reversal, created_at) VALUES (?1,?2,1,?3)",
        args![t, allocation_id, now],
    )?;
    let exp = stored_currency(&ccy, || format!("allocation {allocation_id}"))?.exponent();
    insert_event(
        db,
        t,
        actor,
        "allocation_undone",
        &format!("invoice:{invoice}"),
        &json!({
            "allocation": allocation_id, "payment": payment_id, "amount": relance_domain::money::format_minor(amount, exp),
            "amount_open": relance_domain::money::format_minor(refreshed.open, exp),
            "pending_erp": relance_domain::money::format_minor(refreshed.pending, exp),
            "status": [refreshed.status_before, refreshed.status_after],
            "credit_note": amount < 0,
        }),
    )?;
    Ok(())
}

/// [`Store::store_statement`]'s lines on PostgreSQL, in one `INSERT … SELECT
/// FROM unnest(…) ON CONFLICT DO NOTHING`; returns how many were new.
fn insert_payments_pg(
    conn: &crate::postgres::PgConn,
    t: &str,
    source: &str,
    file_id: i64,
    now: &str,
    payments: &[NewPayment],
) -> Result<u64, StoreError> {
    if payments.is_empty() {
        return Ok(0);
    }
    let lines = || payments.iter().map(|p| &p.line);
    let text = |f: fn(&NewPayment) -> Option<&str>| payments.iter().map(f).collect::<Vec<Option<&str>>>();
    let keys: Vec<&str> = payments.iter().map(|p| p.dedupe_key.as_str()).collect();
    let accounts = text(|p| p.account.as_deref());
    let booking: Vec<String> = lines().map(|l| l.booking_date.to_string()).collect();
    let value: Vec<Option<String>> = lines().map(|l| l.value_date.map(|d| d.to_string())).collect();
    let amounts: Vec<i64> = lines().map(|l| l.amount.minor).collect();
    let currencies: Vec<&str> = lines().map(|l| l.amount.currency.code()).collect();
    let directions: Vec<&str> = lines().map(|l| l.direction.as_str()).collect();
    let reversals: Vec<i64> = lines().map(|l| i64::from(l.reversal)).collect();
    let names = text(|p| p.line.counterparty_name.as_deref());
    let ibans = text(|p| p.line.counterparty_iban.as_deref());
    let remittances = text(|p| p.line.remittance.as_deref());
    let structured = text(|p| p.line.structured_ref.as_deref());
    let end_to_end = text(|p| p.line.end_to_end_id.as_deref());
    let bank_refs = text(|p| p.line.bank_ref.as_deref());
    let statuses: Vec<&str> =
        lines().map(|l| if l.is_to_match() { PaymentStatus::New } else { PaymentStatus::Ignored }.as_str()).collect();
    let unallocated: Vec<i64> = lines().map(|l| if l.is_to_match() { l.amount.minor } else { 0 }).collect();
    let rows = conn.query(
        "INSERT INTO payments (tenant_id, dedupe_key, source, file_id, account, booking_date, value_date,
            amount_minor, currency, direction, reversal, counterparty_name, counterparty_iban, remittance,
            structured_ref, end_to_end_id, bank_ref, status, unallocated_minor, created_at, updated_at)
         SELECT $1, u.key, $2, $3, u.account, u.booking, u.value, u.amount, u.currency, u.direction, u.reversal,
                u.name, u.iban, u.remittance, u.structured, u.e2e, u.bank_ref, u.status, u.unallocated, $4, $4
         FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[],
                     $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
                     $19::text[], $20::bigint[])
              WITH ORDINALITY AS u(key, account, booking, value, amount, currency, direction, reversal, name, iban,
                                   remittance, structured, e2e, bank_ref, status, unallocated, n)
         ORDER BY u.n
         ON CONFLICT DO NOTHING
         RETURNING 1",
        &[
            &t,
            &source,
            &file_id,
            &now,
            &keys,
            &accounts,
            &booking,
            &value,
            &amounts,
            &currencies,
            &directions,
            &reversals,
            &names,
            &ibans,
            &remittances,
            &structured,
            &end_to_end,
            &bank_refs,
            &statuses,
            &unallocated,
        ],
    )?;
    Ok(rows.len() as u64)
}
