//! The collections domain: tenants, customers, invoices, bank lines and
//! their statuses, audit events and quarantined inputs.
//!
//! These are plain data types with the rules that need no I/O (status
//! derivation, validation). Storage lives in `relance_store`; connectors
//! produce [`InvoiceRecord`]s and [`BankLine`]s that the store applies.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// A tenant identifier: lower-case snake_case (`[a-z][a-z0-9_]*`), because it
/// appears in environment variable overrides, which are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: &str) -> Result<TenantId, DomainError> {
        if is_snake_identifier(id) {
            Ok(TenantId(id.to_string()))
        } else {
            Err(DomainError::BadIdentifier(id.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for `[a-z][a-z0-9_]{0,63}`.
pub fn is_snake_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z')) && s.len() <= 64 && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("`{0}` is not a valid identifier (expected lower-case snake_case: a-z, 0-9, _)")]
    BadIdentifier(String),
    #[error("unknown invoice status `{0}`")]
    UnknownStatus(String),
    #[error("unknown payment status `{0}`")]
    UnknownPaymentStatus(String),
    #[error("unknown language `{0}` (expected fr or en)")]
    UnknownLanguage(String),
}

/// Language of a customer or message. Templates ship in French and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fr,
    En,
}

impl Language {
    pub fn as_str(&self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
        }
    }
}

impl FromStr for Language {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fr" | "fr-fr" | "fr_fr" | "french" | "français" | "francais" => Ok(Language::Fr),
            "en" | "en-gb" | "en-us" | "en_gb" | "en_us" | "english" | "anglais" => Ok(Language::En),
            _ => Err(DomainError::UnknownLanguage(s.to_string())),
        }
    }
}

/// A customer (debtor) as known by the tenant's ERP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
pub struct Customer {
    /// The ERP's customer id.
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub ibans: Vec<String>,
    pub segment: Option<String>,
    pub language: Option<Language>,
    pub timezone: Option<String>,
}

/// Lifecycle of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    /// Contested by the customer: reminders stop until resolved.
    Disputed,
    Cancelled,
    /// A negative invoice (French *avoir*).
    CreditNote,
    /// No longer open in the source (missing from a full export), reason unknown.
    Closed,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 7] = [
        InvoiceStatus::Open,
        InvoiceStatus::PartiallyPaid,
        InvoiceStatus::Paid,
        InvoiceStatus::Disputed,
        InvoiceStatus::Cancelled,
        InvoiceStatus::CreditNote,
        InvoiceStatus::Closed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::PartiallyPaid => "partially_paid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Disputed => "disputed",
            InvoiceStatus::Cancelled => "cancelled",
            InvoiceStatus::CreditNote => "credit_note",
            InvoiceStatus::Closed => "closed",
        }
    }

    /// Statuses for which money is still expected.
    pub fn is_outstanding(&self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::PartiallyPaid | InvoiceStatus::Disputed)
    }

    /// The status implied by the amounts of an invoice.
    pub fn from_amounts(total_minor: i64, open_minor: i64) -> InvoiceStatus {
        if total_minor < 0 {
            InvoiceStatus::CreditNote
        } else if open_minor <= 0 {
            InvoiceStatus::Paid
        } else if open_minor < total_minor {
            InvoiceStatus::PartiallyPaid
        } else {
            InvoiceStatus::Open
        }
    }

    /// The status to store when a source reports `incoming` for an invoice whose
    /// current status is `current`. A dispute is Relance's own knowledge (the ERP
    /// does not know it), so it survives a sync that still shows the invoice as
    /// unpaid; anything that settles the invoice wins.
    pub fn merge_from_source(current: Option<InvoiceStatus>, incoming: InvoiceStatus) -> InvoiceStatus {
        match (current, incoming) {
            (Some(InvoiceStatus::Disputed), InvoiceStatus::Open | InvoiceStatus::PartiallyPaid) => {
                InvoiceStatus::Disputed
            }
            _ => incoming,
        }
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvoiceStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        InvoiceStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == norm)
            .ok_or_else(|| DomainError::UnknownStatus(s.to_string()))
    }
}

/// An invoice as stored. Serialized flat, amounts as decimal strings:
/// `{"number", "customer_id", "issue_date", "due_date", "currency",
/// "amount_total", "amount_open", "amount_open_erp", "pending_erp", "status",
/// "source", "updated_at"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub customer_id: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    /// What is still owed: the ERP's open amount less `pending_erp`, never below zero.
    pub open: Money,
    /// The open amount the ERP last reported.
    pub open_erp: Money,
    /// Relance's allocations the ERP has not reflected yet (paid stays paid).
    pub pending_erp: Money,
    pub status: InvoiceStatus,
    /// Name of the connector that owns this invoice.
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

impl Serialize for Invoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Invoice", 12)?;
        st.serialize_field("number", &self.number)?;
        st.serialize_field("customer_id", &self.customer_id)?;
        st.serialize_field("issue_date", &self.issue_date)?;
        st.serialize_field("due_date", &self.due_date)?;
        st.serialize_field("currency", self.total.currency.code())?;
        st.serialize_field("amount_total", &self.total.to_decimal_string())?;
        st.serialize_field("amount_open", &self.open.to_decimal_string())?;
        st.serialize_field("amount_open_erp", &self.open_erp.to_decimal_string())?;
        st.serialize_field("pending_erp", &self.pending_erp.to_decimal_string())?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("updated_at", &self.updated_at)?;
        st.end()
    }
}

/// The OpenAPI schema of an [`Invoice`]: what its hand-written
/// [`Serialize`] writes (a test compares the two).
impl utoipa::PartialSchema for Invoice {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        InvoiceWire::schema()
    }
}

impl utoipa::ToSchema for Invoice {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        InvoiceWire::schemas(schemas)
    }
}

/// The serialized shape of an [`Invoice`], for its schema only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct InvoiceWire {
    number: String,
    customer_id: String,
    issue_date: Option<NaiveDate>,
    due_date: NaiveDate,
    /// ISO 4217 code of every amount.
    #[schema(example = "EUR")]
    currency: String,
    /// Decimal string.
    #[schema(example = "1250.00")]
    amount_total: String,
    /// What is still owed: the ERP's open amount less `pending_erp` (decimal string).
    amount_open: String,
    /// The open amount the ERP last reported (decimal string).
    amount_open_erp: String,
    /// Relance's allocations the ERP has not reflected yet (decimal string).
    pending_erp: String,
    status: InvoiceStatus,
    /// Name of the connector that owns this invoice.
    source: String,
    updated_at: DateTime<Utc>,
}

/// The customer part of a record coming from a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerRecord {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub ibans: Vec<String>,
    pub segment: Option<String>,
    pub language: Option<Language>,
    /// Postal address, lines separated by `\n` (for letters).
    pub address: Option<String>,
}

/// One invoice as read from a source (CSV row, SQL row, API object), already
/// validated: it is what every invoice source hands to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub number: String,
    pub customer: CustomerRecord,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    pub open: Money,
    /// A status stated by the source (e.g. cancelled); otherwise derived from the amounts.
    pub status: Option<InvoiceStatus>,
}

impl InvoiceRecord {
    pub fn effective_status(&self) -> InvoiceStatus {
        self.status.unwrap_or_else(|| InvoiceStatus::from_amounts(self.total.minor, self.open.minor))
    }
}

/// Direction of a bank transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        }
    }

    /// `credit` or `debit`, exactly (the stored form).
    pub fn parse(text: &str) -> Option<Direction> {
        [Direction::Credit, Direction::Debit].into_iter().find(|d| d.as_str() == text)
    }
}

/// One booked line of a bank statement, whatever the format it was read
/// from: what the statement parsers produce, the store keeps (as a payment)
/// and the matcher reads. The amount is always positive; `direction` says
/// which way the money went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BankLine {
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Always positive; see `direction`.
    pub amount: Money,
    pub direction: Direction,
    /// The bank reversed an earlier entry (camt `RvslInd`, MT940 `RC`/`RD`).
    pub reversal: bool,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    /// Free remittance text (several lines joined with spaces).
    pub remittance: Option<String>,
    /// Structured creditor reference (ISO 11649 `RF…`, Swiss QRR, Belgian +++…+++).
    pub structured_ref: Option<String>,
    pub end_to_end_id: Option<String>,
    /// The bank's reference of the entry.
    pub bank_ref: Option<String>,
}

impl BankLine {
    /// A credit of `amount` booked on `booking_date`, with nothing else known
    /// (fill the rest with struct update syntax).
    pub fn credit(booking_date: NaiveDate, amount: Money) -> BankLine {
        BankLine {
            booking_date,
            value_date: None,
            amount,
            direction: Direction::Credit,
            reversal: false,
            counterparty_name: None,
            counterparty_iban: None,
            remittance: None,
            structured_ref: None,
            end_to_end_id: None,
            bank_ref: None,
        }
    }

    /// Signed amount in minor units (credits positive).
    pub fn signed_minor(&self) -> i64 {
        match self.direction {
            Direction::Credit => self.amount.minor,
            Direction::Debit => -self.amount.minor,
        }
    }

    /// Whether cash application matches it: money received, not a reversal
    /// by the bank. Other lines are kept, never matched.
    pub fn is_to_match(&self) -> bool {
        self.direction == Direction::Credit && !self.reversal
    }
}

/// Where a stored bank line stands in cash application (`payments.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// A credit waiting for the matcher.
    New,
    /// Applied to invoices (by the matcher or a person).
    Matched,
    /// The matcher has candidates, none sure enough: a person decides.
    Suggested,
    /// The matcher found nothing; retried when invoices change, or a person decides.
    Unmatched,
    /// A person said it is not a customer payment (refund, not ours…).
    Rejected,
    /// Never matched: a debit or a reversal by the bank.
    Ignored,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::New,
        PaymentStatus::Matched,
        PaymentStatus::Suggested,
        PaymentStatus::Unmatched,
        PaymentStatus::Rejected,
        PaymentStatus::Ignored,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::New => "new",
            PaymentStatus::Matched => "matched",
            PaymentStatus::Suggested => "suggested",
            PaymentStatus::Unmatched => "unmatched",
            PaymentStatus::Rejected => "rejected",
            PaymentStatus::Ignored => "ignored",
        }
    }

    /// The stored name, exactly.
    pub fn parse(text: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Waiting for a person in the review queue.
    pub fn in_review(&self) -> bool {
        matches!(self, PaymentStatus::Suggested | PaymentStatus::Unmatched)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PaymentStatus::parse(s).ok_or_else(|| DomainError::UnknownPaymentStatus(s.to_string()))
    }
}

/// Channel of an outbound action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Webhook,
    Letter,
    CallTask,
}

/// One entry of the audit trail: who did what to which subject.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `connector:<name>`, `api:<token>`, `system`.
    pub actor: String,
    pub kind: String,
    /// `invoice:<number>`, `customer:<id>`, `import:<id>`…
    pub subject: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An input kept aside because it could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuarantineItem {
    pub id: i64,
    /// The connector that met it.
    pub source: String,
    /// The file path, message id or record the problem is in.
    pub item: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub reason: String,
    /// The offending input (a CSV line, a record) when small enough to keep inline.
    pub raw: Option<String>,
    /// Where a copy of the whole input was kept, when it was.
    pub raw_path: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A held full export waiting for `POST …/quarantine/{id}/release`.
    pub held: bool,
    /// When a held export was released (or picked up again by its connector).
    pub released_at: Option<DateTime<Utc>>,
    /// What a person did with it, when someone did.
    pub handled: Option<QuarantineHandled>,
}

/// What a person did with a quarantined input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineHandling {
    /// Fixed at the source, or not worth keeping: no longer shown as waiting.
    Dismissed,
    /// Read again by its connector at its next run (a rejected statement file).
    Retried,
}

impl QuarantineHandling {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineHandling::Dismissed => "dismissed",
            QuarantineHandling::Retried => "retried",
        }
    }

    pub fn parse(s: &str) -> Option<QuarantineHandling> {
        match s {
            "dismissed" => Some(QuarantineHandling::Dismissed),
            "retried" => Some(QuarantineHandling::Retried),
            _ => None,
        }
    }
}

/// Who handled a quarantined input, how, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuarantineHandled {
    pub handling: QuarantineHandling,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: Option<String>,
}

/// An applied payment, told back to the ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationNotice {
    pub tenant: TenantId,
    pub allocation_id: i64,
    pub invoice_number: String,
    pub amount: Money,
    pub payment_reference: Option<String>,
    pub booking_date: NaiveDate,
    /// True when an earlier allocation is undone.
    pub reversal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invoice_schema_declares_exactly_what_serialize_writes() {
        use crate::money::Currency;
        use utoipa::PartialSchema;
        let eur = |minor| Money::new(minor, Currency::EUR);
        let invoice = Invoice {
            number: "F-1".into(),
            customer_id: "C1".into(),
            issue_date: None,
            due_date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            total: eur(1000),
            open: eur(400),
            open_erp: eur(400),
            pending_erp: eur(0),
            status: InvoiceStatus::PartiallyPaid,
            source: "csv".into(),
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let written = serde_json::to_value(&invoice).unwrap();
        let schema = serde_json::to_value(Invoice::schema()).unwrap();
        let mut declared: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        declared.sort();
        keys.sort();
        assert_eq!(declared, keys);
    }

    #[test]
    fn tenant_ids_are_snake_case() {
        assert!(TenantId::new("demo").is_ok());
        assert!(TenantId::new("acme_fr2").is_ok());
        for bad in ["", "Demo", "9lives", "a-b", "a b", "é"] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_from_amounts() {
        assert_eq!(InvoiceStatus::from_amounts(1000, 1000), InvoiceStatus::Open);
        assert_eq!(InvoiceStatus::from_amounts(1000, 400), InvoiceStatus::PartiallyPaid);
        assert_eq!(InvoiceStatus::from_amounts(1000, 0), InvoiceStatus::Paid);
        assert_eq!(InvoiceStatus::from_amounts(-500, -500), InvoiceStatus::CreditNote);
    }

    #[test]
    fn a_dispute_survives_a_sync_but_not_a_payment() {
        let d = Some(InvoiceStatus::Disputed);
        assert_eq!(InvoiceStatus::merge_from_source(d, InvoiceStatus::Open), InvoiceStatus::Disputed);
        assert_eq!(InvoiceStatus::merge_from_source(d, InvoiceStatus::Paid), InvoiceStatus::Paid);
        assert_eq!(InvoiceStatus::merge_from_source(None, InvoiceStatus::Open), InvoiceStatus::Open);
    }

    #[test]
    fn payment_statuses_and_directions_round_trip() {
        for s in PaymentStatus::ALL {
            assert_eq!(s.as_str().parse::<PaymentStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("Matched".parse::<PaymentStatus>().is_err(), "the stored form is exact");
        assert!(PaymentStatus::parse("done").is_none());
        assert_eq!(PaymentStatus::ALL.iter().filter(|s| s.in_review()).count(), 2);
        assert_eq!(Direction::parse("debit"), Some(Direction::Debit));
        assert_eq!(Direction::parse(Direction::Credit.as_str()), Some(Direction::Credit));
        assert_eq!(Direction::parse("Credit"), None);
    }

    #[test]
    fn a_bank_line_is_matched_only_when_it_is_a_credit_and_no_reversal() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let line = BankLine::credit(date, Money::new(1_000, crate::money::Currency::EUR));
        assert!(line.is_to_match());
        assert_eq!(line.signed_minor(), 1_000);
        let debit = BankLine { direction: Direction::Debit, ..line.clone() };
        assert!(!debit.is_to_match());
        assert_eq!(debit.signed_minor(), -1_000);
        assert!(!BankLine { reversal: true, ..line }.is_to_match());
    }

    #[test]
    fn status_and_language_parse() {
        assert_eq!("Partially paid".parse::<InvoiceStatus>(), Ok(InvoiceStatus::PartiallyPaid));
        assert!("bogus".parse::<InvoiceStatus>().is_err());
        assert_eq!("FR".parse::<Language>(), Ok(Language::Fr));
        assert_eq!("en-GB".parse::<Language>(), Ok(Language::En));
    }
}
