//! The collections domain: tenants, customers, invoices, payments and their
//! allocations, inbound messages, promises, disputes, reminder actions and
//! audit events.
//!
//! These are plain data types with the rules that need no I/O (status
//! derivation, validation). Storage lives in [`relance_store`]; connectors
//! produce [`InvoiceRecord`]s that the store applies.

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
    #[error("unknown language `{0}` (expected fr or en)")]
    UnknownLanguage(String),
}

/// Language of a customer or message. Templates ship in French and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Credit,
    Debit,
}

/// An incoming or outgoing bank transaction (filled by cash application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub id: i64,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Always positive; see `direction`.
    pub amount: Money,
    pub direction: Direction,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub remittance: Option<String>,
    pub structured_ref: Option<String>,
    pub end_to_end_id: Option<String>,
    pub bank_ref: Option<String>,
}

/// Part of a payment applied to one invoice. Undoing keeps the row and sets `undone_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub id: i64,
    pub payment_id: i64,
    pub invoice_number: String,
    pub amount: Money,
    pub created_at: DateTime<Utc>,
    pub undone_at: Option<DateTime<Utc>>,
}

/// A message read from a collections mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    pub id: i64,
    pub mailbox: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub received_at: DateTime<Utc>,
    pub intent: Option<String>,
}

/// A customer's promise to pay, which pauses reminders until its date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promise {
    pub id: i64,
    pub customer_id: String,
    pub invoice_numbers: Vec<String>,
    pub promised_date: NaiveDate,
    pub amount: Option<Money>,
    pub status: PromiseStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromiseStatus {
    Pending,
    Kept,
    Broken,
}

/// A customer's dispute (*litige*): reminders stop on its invoices until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispute {
    pub id: i64,
    pub customer_id: String,
    pub invoice_numbers: Vec<String>,
    pub reason: String,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Channel of an outbound action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Webhook,
    Letter,
    CallTask,
}

/// A reminder or other outbound action planned or done for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub id: i64,
    pub customer_id: String,
    pub step: String,
    pub channel: Channel,
    /// (tenant, customer, step, invoice set): the same action is never sent twice.
    pub idempotency_key: String,
    pub invoice_numbers: Vec<String>,
    pub status: String,
    pub message_id: Option<String>,
}

/// One entry of the audit trail: who did what to which subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `connector:<name>`, `api:<token>`, `system`.
    pub actor: String,
    pub kind: String,
    /// `invoice:<number>`, `customer:<id>`, `import:<id>`…
    pub subject: String,
    pub data: serde_json::Value,
}

/// An input kept aside because it could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    fn status_and_language_parse() {
        assert_eq!("Partially paid".parse::<InvoiceStatus>(), Ok(InvoiceStatus::PartiallyPaid));
        assert!("bogus".parse::<InvoiceStatus>().is_err());
        assert_eq!("FR".parse::<Language>(), Ok(Language::Fr));
        assert_eq!("en-GB".parse::<Language>(), Ok(Language::En));
    }
}
