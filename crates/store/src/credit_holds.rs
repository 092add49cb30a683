//! Bank-aware holds in the store: which credits waiting for review name a
//! customer, the holds Relance places while they wait, and their release.
//!
//! * A credit waiting for review (`suggested` or `unmatched`, a credit, not a
//!   reversal) names a customer when its counterparty account is one of the
//!   customer's (`customer_ibans`: from the ERP, `source`, or `learned`), or
//!   when the matcher ranked the customer among its candidates
//!   ([`pending_credits`]). The dunning engine decides whether it could pay
//!   a reminder ([`relance_engine::dunning::credit`]).
//! * The planner, and delivery right before sending, place a
//!   `credit_review` hold on the customer for each such credit
//!   ([`Store::hold_for_credits`], once per credit and customer). A reminder
//!   already queued waits in the outbox (see `outbox`).
//! * Applying or rejecting the credit lifts its `credit_review` holds in the
//!   same transaction ([`release_payment_holds`], an audit event each):
//!   reminders resume, or are cancelled by delivery as settled.
//! * The review queue lists first the credits that hold reminders, each with
//!   the reasons of its holds ([`holding_reasons`]).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::json;

use super::db::{Db, args};
use super::holds::{AutoHold, insert_hold_of};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_engine::dunning::InvoiceState;
use relance_engine::dunning::credit::{self, PayerEvidence, PendingCredit};
use relance_engine::dunning::hold::HoldKind;

/// Who Relance's own holds are placed and lifted by.
pub const RELANCE_ACTOR: &str = "relance";

/// The credits waiting for review that name a customer (see the module
/// doc), by customer (of `only` when given), strongest evidence per credit
/// and customer: a known account, then a learned one, then the matcher's
/// candidate.
pub(crate) fn pending_credits<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    only: Option<&str>,
) -> Result<Vec<(String, PendingCredit)>, StoreError> {
    let db = db.into();
    const CREDITS: &str = "p.tenant_id=?1 AND p.status IN ('suggested','unmatched') AND p.direction='credit'
        AND p.reversal=0 AND p.unallocated_minor > 0";
    /// customer, payment id, unallocated minor units, currency, booking day, rank, account.
    type Evidence = (String, i64, i64, String, String, i64, Option<String>);
    let mut rows: Vec<Evidence> = db
        .query(
            &format!(
                "SELECT ci.customer_id, p.id, p.unallocated_minor, p.currency, p.booking_date,
                        CASE ci.origin WHEN 'source' THEN 1 ELSE 2 END, ci.iban
                   FROM payments p JOIN customer_ibans ci ON ci.tenant_id=p.tenant_id AND ci.iban=p.counterparty_iban
                  WHERE {CREDITS} AND (CAST(?2 AS TEXT) IS NULL OR ci.customer_id=?2)"
            ),
            args![t, only],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .collect::<Result<_, StoreError>>()?;
    // The matcher's candidates, read from the stored match result here
    // (SQLite's `json_each` has no PostgreSQL twin); an unreadable result names none.
    for r in db.query(
        &format!(
            "SELECT p.id, p.unallocated_minor, p.currency, p.booking_date, p.match_result FROM payments p
              WHERE {CREDITS} AND p.match_result IS NOT NULL"
        ),
        args![t],
    )? {
        let Ok(result) = serde_json::from_str::<serde_json::Value>(&r.get::<String>(4)?) else { continue };
        let candidates: Vec<&serde_json::Value> = match result.get("candidates") {
            Some(serde_json::Value::Array(list)) => list.iter().collect(),
            Some(serde_json::Value::Object(map)) => map.values().collect(),
            Some(other) => vec![other],
            None => Vec::new(),
        };
        for customer in candidates.into_iter().filter_map(|c| c.get("customer_id")?.as_str()) {
            if only.is_none_or(|o| o == customer) {
                rows.push((customer.to_string(), r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, 3, None));
            }
        }
    }
    // By customer (byte-wise), credit and strength of the evidence.
    rows.sort_by(|a, b| (&a.0, a.1, a.5).cmp(&(&b.0, b.1, b.5)));
    let mut out: Vec<(String, PendingCredit)> = Vec::new();
    for (customer, id, minor, code, booked, rank, iban) in rows {
        if out.last().is_some_and(|(c, p)| *c == customer && p.payment_id == id) {
            continue; // a weaker evidence of the same credit
        }
        let Ok(ccy) = Currency::parse(&code) else { continue };
        let Ok(booked) = NaiveDate::parse_from_str(&booked, "%Y-%m-%d") else { continue };
        let evidence = match (rank, iban) {
            (1, Some(i)) => PayerEvidence::KnownIban(i),
            (2, Some(i)) => PayerEvidence::LearnedIban(i),
            _ => PayerEvidence::MatcherCandidate,
        };
        out.push((customer, PendingCredit { payment_id: id, amount: Money::new(minor, ccy), booked, evidence }));
    }
    Ok(out)
}

/// Places a `credit_review` hold on `customer` for each of `credits` that
/// has none in force; returns how many were placed.
pub(crate) fn hold_for_credits_in<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    credits: &[(i64, String)],
) -> Result<u32, StoreError> {
    let db = db.into();
    let mut placed = 0;
    for (payment, reason) in credits {
        let exists = db
            .query_opt(
                "SELECT 1 FROM holds WHERE tenant_id=?1 AND customer_id=?2 AND payment_id=?3
                    AND kind='credit_review' AND lifted_at IS NULL LIMIT 1",
                args![t, customer, payment],
            )?
            .is_some();
        if !exists {
            let auto = AutoHold { kind: HoldKind::CreditReview, payment: Some(*payment), message: None };
            insert_hold_of(db, t, customer, None, reason, None, RELANCE_ACTOR, auto)?;
            placed += 1;
        }
    }
    Ok(placed)
}

/// Lifts the `credit_review` holds of a credit a person (or the matcher)
/// applied or rejected, each with an audit event; returns how many.
pub(crate) fn release_payment_holds<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    payment: i64,
    note: &str,
) -> Result<u32, StoreError> {
    let db = db.into();
    let holds = db
        .query(
            "SELECT id, customer_id FROM holds WHERE tenant_id=?1 AND payment_id=?2 AND kind='credit_review' AND lifted_at IS NULL",
            args![t, payment],
        )?
        .iter()
        .map(|r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    for (id, customer) in &holds {
        db.execute(
            "UPDATE holds SET lifted_by=?3, lifted_at=?4, lift_note=?5 WHERE tenant_id=?1 AND id=?2 AND lifted_at IS NULL",
            args![t, id, RELANCE_ACTOR, now_text(), note],
        )?;
        insert_event(
            db,
            t,
            RELANCE_ACTOR,
            "hold_lifted",
            &format!("customer:{customer}"),
            &json!({ "hold": id, "customer": customer, "invoice": null, "note": note, "payment": payment }),
        )?;
    }
    Ok(holds.len() as u32)
}

/// The reasons of the holds in force today (UTC, as SQLite's `date('now')`)
/// that name each credit of `ids` (a credit holding a reminder, or linked
/// to a customer's payment claim).
pub(crate) fn holding_reasons<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    let db = db.into();
    let today = today_text();
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for id in ids {
        for r in db.query(
            "SELECT customer_id, reason, id FROM holds INDEXED BY holds_by_payment
              WHERE tenant_id=?1 AND payment_id IS NOT NULL AND payment_id=?2 AND lifted_at IS NULL
                AND (until IS NULL OR until>=?3) ORDER BY id",
            args![t, id, today],
        )? {
            let (customer, reason, hold): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            out.entry(*id).or_default().push(format!("holds the reminders of {customer} (hold #{hold}): {reason}"));
        }
    }
    Ok(out)
}

/// The SQL value "the payment `id` holds reminders" (1 or 0): a hold in
/// force on the day `today` (a parameter, `?N`, bound to the day as
/// `YYYY-MM-DD`, UTC as [`today_text`] gives it) names it.
pub(crate) fn holding_sql(id: &str, today: &str) -> String {
    format!(
        "(CASE WHEN EXISTS (SELECT 1 FROM holds h INDEXED BY holds_by_payment WHERE h.tenant_id=?1 AND h.payment_id IS NOT NULL
           AND h.payment_id={id} AND h.lifted_at IS NULL AND (h.until IS NULL OR h.until>={today})) THEN 1 ELSE 0 END)"
    )
}

/// Today (UTC) as the holds' days are stored, for [`holding_sql`].
pub(crate) fn today_text() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// The pre-send check of one reminder (in the claiming transaction): the
/// credits naming `customer` that could pay one of `invoices` as they stand
/// now hold the customer's reminders; returns how many holds were placed.
pub(crate) fn check_before_sending<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    invoices: &[String],
) -> Result<u32, StoreError> {
    let db = db.into();
    let credits: Vec<PendingCredit> = pending_credits(db, t, Some(customer))?.into_iter().map(|(_, p)| p).collect();
    if credits.is_empty() {
        return Ok(0);
    }
    let mut states = Vec::new();
    for n in invoices {
        let row = db.query_opt(
            "SELECT number, due_date, open_minor, currency FROM invoices WHERE tenant_id=?1 AND number=?2
                AND status IN ('open','partially_paid') AND open_minor>0",
            args![t, n],
        )?;
        let Some(r) = row else { continue };
        let (number, due, minor, code): (String, String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let (Ok(ccy), Ok(due_date)) = (Currency::parse(&code), NaiveDate::parse_from_str(&due, "%Y-%m-%d")) else {
            continue;
        };
        states.push(InvoiceState { number, issue_date: None, due_date, open: Money::new(minor, ccy), disputed: false });
    }
    let listed: Vec<&InvoiceState> = states.iter().collect();
    let found: Vec<(i64, String)> = credit::covering(&credits, &listed)
        .iter()
        .map(|c| (c.payment_id, format!("{} (found before sending)", c.why())))
        .collect();
    hold_for_credits_in(db, t, customer, &found)
}

impl Store {
    /// Holds the reminders of `customer` while each of `credits` (payment
    /// id, reason) awaits review (once per credit); returns how many holds
    /// were placed now.
    pub fn hold_for_credits(
        &self,
        tenant: &TenantId,
        customer: &str,
        credits: &[(i64, String)],
    ) -> Result<u32, StoreError> {
        self.db.write_any(|db| hold_for_credits_in(db, tenant.as_str(), customer, credits))
    }

    /// The credits waiting for review that name `customer` (see the module doc).
    pub fn pending_credits_of(&self, tenant: &TenantId, customer: &str) -> Result<Vec<PendingCredit>, StoreError> {
        self.db.read_any(|db| {
            Ok(pending_credits(db, tenant.as_str(), Some(customer))?.into_iter().map(|(_, p)| p).collect())
        })
    }
}
