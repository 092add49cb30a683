//! Payment claims: a customer replied that it already paid. The claim is
//! recorded with the reply ([`record_claim`], in the transaction that
//! handles the message) and followed by the planner each day
//! (`relance_runtime::reminders::claims`):
//!
//! * **open**: the payment is looked for in the bank; reminders on the
//!   invoices claimed are held (`claimed_paid` holds, through
//!   [`PaymentClaim::hold_until`]) and a proof-of-payment request is sent
//!   once, threaded to the reply;
//! * **credit_found**: a credit waiting for review fits (matched with the
//!   reply's amount and references as extra evidence): it is linked to the
//!   claim's holds, so the review queue lists it first with the reason
//!   naming the reply; nothing is applied on the reply alone;
//! * **closed**: the invoices are settled, or the hold ran out without a
//!   payment (reminders resume), with a note.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use super::credit_holds::RELANCE_ACTOR;
use super::db::{Db, Row, args};
use super::holds::{AutoHold, insert_hold_of};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::replies::UnknownState;
use relance_engine::dunning::hold::HoldKind;
use relance_engine::replies::Understanding;

/// Where a payment claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// The payment is looked for; reminders are held, the proof requested.
    Open,
    /// A credit was linked for review.
    CreditFound,
    /// Settled, or the hold ran out without a payment.
    Closed,
}

impl ClaimStatus {
    pub const ALL: &'static [ClaimStatus] = &[ClaimStatus::Open, ClaimStatus::CreditFound, ClaimStatus::Closed];

    pub fn as_str(&self) -> &'static str {
        match self {
            ClaimStatus::Open => "open",
            ClaimStatus::CreditFound => "credit_found",
            ClaimStatus::Closed => "closed",
        }
    }
}

impl std::str::FromStr for ClaimStatus {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaimStatus::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownState { kind: "claim status", value: s.to_string() })
    }
}

/// A customer's "we already paid", as the planner follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentClaim {
    pub id: i64,
    pub customer_id: String,
    /// The inbound message that said it.
    pub message_id: i64,
    /// The invoices claimed paid (as stored); empty: the customer's open ones.
    pub invoices: Vec<String>,
    /// The amount and currency as the reply stated them.
    pub amount: Option<String>,
    pub currency: Option<String>,
    /// The references the reply wrote.
    pub refs: Vec<String>,
    /// Who wrote, and the reply's Message-ID (the proof request answers it).
    pub reply_to: Option<String>,
    pub reply_message: Option<String>,
    pub claimed_on: NaiveDate,
    pub status: ClaimStatus,
    /// The credit linked for review.
    pub payment_id: Option<i64>,
    /// Last day reminders are held for it; `None` before the hold is placed.
    pub hold_until: Option<NaiveDate>,
    /// The proof-of-payment request queued, if any.
    pub proof_outbox_id: Option<i64>,
}

/// Records the claim a reply makes (once per message).
pub(crate) fn record_claim<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    message: i64,
    customer: &str,
    invoices: &[String],
    u: &Understanding,
    today: NaiveDate,
) -> Result<bool, StoreError> {
    let db = db.into();
    let now = now_text();
    let id: Option<i64> = db
        .query_opt(
            "INSERT OR IGNORE INTO payment_claims (tenant_id, customer_id, message_id, invoice_numbers, amount, currency, refs,
                reply_to, reply_message, claimed_on, status, created_at, updated_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?12) RETURNING id",
            args![
            t,
            customer,
            message,
            json!(invoices).to_string(),
            u.amount,
            u.currency,
            json!(u.refs).to_string(),
            u.from,
            u.message_id,
            today.to_string(),
            ClaimStatus::Open.as_str(),
            now
        ],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    if let Some(id) = id {
        let data = json!({
            "claim": id, "message": message, "invoices": invoices, "amount": u.amount,
            "currency": u.currency, "claimed_on": today.to_string(),
        });
        super::events::emit(
            db,
            t,
            super::events::EventType::ClaimedPaid,
            Some(customer),
            &format!("message:{message}"),
            &data.to_string(),
        )?;
    }
    Ok(id.is_some())
}

const CLAIM_COLUMNS: &str =
    "id, customer_id, message_id, invoice_numbers, amount, currency, refs, reply_to, reply_message,
    claimed_on, status, payment_id, hold_until, proof_outbox_id";

fn claim_row(r: &Row) -> Result<PaymentClaim, StoreError> {
    let day = |i: usize| -> Result<Option<NaiveDate>, StoreError> {
        Ok(r.get::<Option<String>>(i)?.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
    };
    let status: String = r.get(10)?;
    Ok(PaymentClaim {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        message_id: r.get(2)?,
        invoices: super::messages::numbers(&r.get::<String>(3)?),
        amount: r.get(4)?,
        currency: r.get(5)?,
        refs: super::messages::numbers(&r.get::<String>(6)?),
        reply_to: r.get(7)?,
        reply_message: r.get(8)?,
        claimed_on: day(9)?.unwrap_or_default(),
        status: status.parse().map_err(|e| StoreError::Corrupt(format!("payment claim: {e}")))?,
        payment_id: r.get(11)?,
        hold_until: day(12)?,
        proof_outbox_id: r.get(13)?,
    })
}

impl Store {
    /// The claims not closed, oldest first.
    pub fn open_claims(&self, tenant: &TenantId) -> Result<Vec<PaymentClaim>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!(
                    "SELECT {CLAIM_COLUMNS} FROM payment_claims WHERE tenant_id=?1 AND status IN ('open','credit_found') ORDER BY id"
                ),
                args![tenant.as_str()],
            )?
            .iter()
            .map(claim_row)
            .collect()
        })
    }

    /// Every claim of the tenant, oldest first (for the API and tests).
    pub fn claims(&self, tenant: &TenantId) -> Result<Vec<PaymentClaim>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!("SELECT {CLAIM_COLUMNS} FROM payment_claims WHERE tenant_id=?1 ORDER BY id"),
                args![tenant.as_str()],
            )?
            .iter()
            .map(claim_row)
            .collect()
        })
    }

    /// Holds the reminders of the claim's invoices (each one; the whole
    /// customer when it named none) through `until`, once: `claimed_paid`
    /// holds placed by Relance, linked to the reply.
    pub fn hold_for_claim(
        &self,
        tenant: &TenantId,
        claim: &PaymentClaim,
        until: NaiveDate,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE payment_claims SET hold_until=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2 AND hold_until IS NULL",
                args![t, claim.id, until.to_string(), now_text()],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let auto = AutoHold { kind: HoldKind::ClaimedPaid, payment: claim.payment_id, message: Some(claim.message_id) };
            if claim.invoices.is_empty() {
                insert_hold_of(db, t, &claim.customer_id, None, reason, Some(until), RELANCE_ACTOR, auto)?;
            }
            for n in &claim.invoices {
                insert_hold_of(db, t, &claim.customer_id, Some(n), reason, Some(until), RELANCE_ACTOR, auto)?;
            }
            Ok(true)
        })
    }

    /// Links a credit found for the claim: the claim's holds name it (the
    /// review queue lists it first, with `reason`), a `credit_review` hold
    /// keeps the customer's reminders until a person decides on it, the
    /// claim is `credit_found`; an audit event `payment_claim_linked`.
    pub fn link_claim_credit(
        &self,
        tenant: &TenantId,
        claim: i64,
        payment: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            db.execute(
                "UPDATE payment_claims SET status=?4, payment_id=?3, note=?5, updated_at=?6 WHERE tenant_id=?1 AND id=?2",
                args![t, claim, payment, ClaimStatus::CreditFound.as_str(), reason, now_text()],
            )?;
            db.execute(
                "UPDATE holds SET payment_id=?3, reason=?4 WHERE tenant_id=?1 AND kind='claimed_paid' AND lifted_at IS NULL
                   AND message_id=(SELECT message_id FROM payment_claims WHERE tenant_id=?1 AND id=?2)",
                args![t, claim, payment, reason],
            )?;
            // The credit holds the customer's reminders until a person applies or rejects it.
            let customer: String = db
                .query_one("SELECT customer_id FROM payment_claims WHERE tenant_id=?1 AND id=?2", args![t, claim])?
                .get(0)?;
            super::credit_holds::hold_for_credits_in(db, t, &customer, &[(payment, reason.to_string())])?;
            insert_event(
                db,
                t,
                RELANCE_ACTOR,
                "payment_claim_linked",
                &format!("payment:{payment}"),
                &json!({ "claim": claim, "payment": payment, "reason": reason }),
            )?;
            Ok(())
        })
    }

    /// Back to `open`: the credit linked was rejected (or applied elsewhere).
    pub fn reopen_claim(&self, tenant: &TenantId, claim: i64, note: &str) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            db.execute(
                "UPDATE payment_claims SET status=?3, payment_id=NULL, note=?4, updated_at=?5 WHERE tenant_id=?1 AND id=?2",
                args![t, claim, ClaimStatus::Open.as_str(), note, now_text()],
            )?;
            db.execute(
                "UPDATE holds SET payment_id=NULL WHERE tenant_id=?1 AND kind='claimed_paid'
                   AND message_id=(SELECT message_id FROM payment_claims WHERE tenant_id=?1 AND id=?2)",
                args![t, claim],
            )?;
            Ok(())
        })
    }

    /// Records the proof-of-payment request queued for a claim.
    pub fn claim_proof_requested(&self, tenant: &TenantId, claim: i64, outbox: i64) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            db.execute(
                "UPDATE payment_claims SET proof_outbox_id=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2 AND proof_outbox_id IS NULL",
                args![tenant.as_str(), claim, outbox, now_text()],
            )?;
            Ok(())
        })
    }

    /// Closes a claim with a note; when `lift` (settled), its holds still in
    /// force are lifted. An audit event `payment_claim_closed`.
    pub fn close_claim(
        &self,
        tenant: &TenantId,
        claim: &PaymentClaim,
        note: &str,
        lift: bool,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let n = db.execute(
                "UPDATE payment_claims SET status=?3, note=?4, updated_at=?5 WHERE tenant_id=?1 AND id=?2 AND status<>?3",
                args![t, claim.id, ClaimStatus::Closed.as_str(), note, now_text()],
            )?;
            if n == 0 {
                return Ok(());
            }
            if lift {
                db.execute(
                    "UPDATE holds SET lifted_by=?3, lifted_at=?4, lift_note=?5 WHERE tenant_id=?1 AND kind='claimed_paid'
                       AND message_id=?2 AND lifted_at IS NULL",
                    args![t, claim.message_id, RELANCE_ACTOR, now_text(), note],
                )?;
            }
            insert_event(
                db,
                t,
                RELANCE_ACTOR,
                "payment_claim_closed",
                &format!("message:{}", claim.message_id),
                &json!({ "claim": claim.id, "customer": claim.customer_id, "note": note }),
            )?;
            Ok(())
        })
    }

    /// Credits waiting for review (suggested, unmatched) booked from `since`, oldest first.
    pub fn review_credits_since(
        &self,
        tenant: &TenantId,
        since: NaiveDate,
    ) -> Result<Vec<super::StoredPayment>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!(
                    "SELECT {} FROM payments WHERE tenant_id=?1 AND status IN ('suggested','unmatched') AND direction='credit'
                       AND reversal=0 AND booking_date>=?2 ORDER BY id",
                    super::payments::PAYMENT_COLUMNS
                ),
                args![tenant.as_str(), since.to_string()],
            )?
            .iter()
            .map(super::payments::payment_of)
            .collect()
        })
    }
}
