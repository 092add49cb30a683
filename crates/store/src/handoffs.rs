//! Hand-offs to a collection agency: a customer handed over by a scenario's
//! hand-off step (see `relance_engine::dunning::handoff`) gets no reminder
//! until a person reverses the hand-off.
//!
//! * [`Store::record_handoff`] records it (one transaction, a `handed_over`
//!   audit event); idempotent: while the customer has an active hand-off, a
//!   second one records nothing and returns the active one (a unique index
//!   on the active hand-off of a customer backs it).
//! * [`Store::set_handoff_dossier`] records the files written for the agency.
//! * [`Store::reverse_handoff`] reverses it (`handoff_reversed` audit event,
//!   who and why): reminders resume at the next planning.
//! * [`Store::dossier_facts`] reads what the agency's dossier shows: the
//!   customer and its contacts, its open invoices, the reminders sent, the
//!   replies received with their intent, its promises and its disputes.
//!   Penalties are computed by the caller (the dunning templates' rules).

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use super::db::{Db, Row, args};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_engine::dunning::handoff::HandedOver;

/// A hand-off as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandoffView {
    pub id: i64,
    pub customer_id: String,
    pub scenario: String,
    pub step: String,
    /// The day it was handed over (YYYY-MM-DD).
    pub handed_over_on: String,
    /// RFC 3339.
    pub handed_over_at: String,
    /// The dossier's files.
    pub dossier: Vec<String>,
    pub reversed_at: Option<String>,
    pub reversed_by: Option<String>,
}

/// One open invoice in the dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierInvoice {
    pub number: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    pub open: Money,
    pub disputed: bool,
}

/// A reminder sent to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierReminder {
    pub day: String,
    pub step: String,
    pub channel: String,
    pub subject: String,
}

/// A reply received from the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierMessage {
    /// RFC 3339, when it was read.
    pub received: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    /// The intent understood (`promise_to_pay`, `dispute`…), if any.
    pub intent: Option<String>,
}

/// A promise to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierPromise {
    pub promised_date: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub status: String,
}

/// What the agency's dossier shows (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierFacts {
    pub customer_id: String,
    pub name: String,
    pub segment: Option<String>,
    pub language: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub address: Option<String>,
    pub invoices: Vec<DossierInvoice>,
    pub reminders: Vec<DossierReminder>,
    pub replies: Vec<DossierMessage>,
    pub promises: Vec<DossierPromise>,
    /// The numbers of the invoices in dispute.
    pub disputes: Vec<String>,
}

const VIEW_COLUMNS: &str =
    "id, customer_id, scenario, step_id, handed_over_on, handed_over_at, dossier, reversed_at, reversed_by";

fn view(r: &Row) -> Result<HandoffView, StoreError> {
    let dossier: String = r.get(6)?;
    Ok(HandoffView {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        scenario: r.get(2)?,
        step: r.get(3)?,
        handed_over_on: r.get(4)?,
        handed_over_at: r.get(5)?,
        dossier: serde_json::from_str(&dossier).unwrap_or_default(),
        reversed_at: r.get(7)?,
        reversed_by: r.get(8)?,
    })
}

fn active_of(db: Db<'_>, t: &str, customer: &str) -> Result<Option<HandoffView>, StoreError> {
    db.query_opt(
        &format!("SELECT {VIEW_COLUMNS} FROM handoffs WHERE tenant_id=?1 AND customer_id=?2 AND reversed_at IS NULL"),
        args![t, customer],
    )?
    .map(|r| view(&r))
    .transpose()
}

/// The active hand-offs of `tenant` (of `only` that customer), by customer,
/// as the dunning engine sees them.
pub(crate) fn handed_over<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    only: Option<&str>,
) -> Result<Vec<(String, HandedOver)>, StoreError> {
    db.into()
        .query(
            "SELECT customer_id, id, handed_over_on, step_id FROM handoffs
              WHERE tenant_id=?1 AND reversed_at IS NULL AND (CAST(?2 AS TEXT) IS NULL OR customer_id=?2)",
            args![t, only],
        )?
        .iter()
        .map(|r| {
            let (customer, id, on, step): (String, i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let since = NaiveDate::parse_from_str(&on, "%Y-%m-%d")
                .map_err(|e| StoreError::Corrupt(format!("hand-off {id}: day `{on}`: {e}")))?;
            Ok((customer, HandedOver { id, since, step }))
        })
        .collect()
}

impl Store {
    /// Hands `customer` over (see the module doc); returns the hand-off and
    /// whether it was recorded now (`false`: one was already active).
    pub fn record_handoff(
        &self,
        tenant: &TenantId,
        customer: &str,
        scenario: &str,
        step: &str,
        outbox_id: Option<i64>,
        day: NaiveDate,
    ) -> Result<(HandoffView, bool), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            if let Some(active) = active_of(db, t, customer)? {
                return Ok((active, false));
            }
            let id: i64 = db
                .query_one(
                    "INSERT INTO handoffs (tenant_id, customer_id, scenario, step_id, outbox_id, handed_over_on, handed_over_at)
                     VALUES (?1,?2,?3,?4,?5,?6,?7) RETURNING id",
                    args![t, customer, scenario, step, outbox_id, day.to_string(), now_text()],
                )?
                .get(0)?;
            insert_event(
                db,
                t,
                "relance",
                "handed_over",
                customer,
                &json!({ "handoff": id, "scenario": scenario, "step": step, "outbox": outbox_id, "day": day }),
            )?;
            let v = active_of(db, t, customer)?.ok_or_else(|| StoreError::Corrupt(format!("hand-off {id} vanished")))?;
            Ok((v, true))
        })
    }

    /// Records the files of hand-off `id`'s dossier.
    pub fn set_handoff_dossier(&self, tenant: &TenantId, id: i64, files: &[String]) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            db.execute(
                "UPDATE handoffs SET dossier=?3 WHERE tenant_id=?1 AND id=?2",
                args![t, id, serde_json::to_string(files).unwrap_or_else(|_| "[]".into())],
            )?;
            insert_event(
                db,
                t,
                "relance",
                "handoff_dossier",
                &id.to_string(),
                &json!({ "handoff": id, "files": files }),
            )?;
            Ok(())
        })
    }

    /// Reverses the active hand-off of `customer` (who and why, an audit
    /// event); `None` when it has none.
    pub fn reverse_handoff(
        &self,
        tenant: &TenantId,
        customer: &str,
        actor: &str,
        note: &str,
    ) -> Result<Option<HandoffView>, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let Some(active) = active_of(db, t, customer)? else { return Ok(None) };
            db.execute(
                "UPDATE handoffs SET reversed_at=?3, reversed_by=?4, reverse_note=?5 WHERE tenant_id=?1 AND id=?2",
                args![t, active.id, now_text(), actor, note],
            )?;
            insert_event(db, t, actor, "handoff_reversed", customer, &json!({ "handoff": active.id, "note": note }))?;
            db.query_opt(
                &format!("SELECT {VIEW_COLUMNS} FROM handoffs WHERE tenant_id=?1 AND id=?2"),
                args![t, active.id],
            )?
            .map(|r| view(&r))
            .transpose()
        })
    }

    /// The active hand-offs of the tenant, oldest first.
    pub fn active_handoffs(&self, tenant: &TenantId) -> Result<Vec<HandoffView>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!("SELECT {VIEW_COLUMNS} FROM handoffs WHERE tenant_id=?1 AND reversed_at IS NULL ORDER BY id"),
                args![tenant.as_str()],
            )?
            .iter()
            .map(view)
            .collect()
        })
    }

    /// The active hand-off of `customer`, if any.
    pub fn active_handoff(&self, tenant: &TenantId, customer: &str) -> Result<Option<HandoffView>, StoreError> {
        self.db.read_any(|db| active_of(db, tenant.as_str(), customer))
    }

    /// What the agency's dossier on `customer` shows; `None` when there is
    /// no such customer.
    pub fn dossier_facts(&self, tenant: &TenantId, customer: &str) -> Result<Option<DossierFacts>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            let list = |s: Option<String>| -> Vec<String> {
                s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
            };
            let Some(r) = db.query_opt(
                "SELECT id, name, segment, language, emails, phones, address FROM customers WHERE tenant_id=?1 AND id=?2",
                args![t, customer],
            )?
            else {
                return Ok(None);
            };
            let mut f = DossierFacts {
                customer_id: r.get(0)?,
                name: r.get(1)?,
                segment: r.get(2)?,
                language: r.get(3)?,
                emails: list(r.get(4)?),
                phones: list(r.get(5)?),
                address: r.get(6)?,
                invoices: Vec::new(),
                reminders: Vec::new(),
                replies: Vec::new(),
                promises: Vec::new(),
                disputes: Vec::new(),
            };
            // Invoice numbers sort byte-wise on both databases.
            let number = if db.is_postgres() { r#"number COLLATE "C""# } else { "number" };
            let rows = db.query(
                &format!(
                    "SELECT number, issue_date, due_date, total_minor, open_minor, currency, status FROM invoices
                      WHERE tenant_id=?1 AND customer_id=?2 AND status IN ('open','partially_paid','disputed') AND open_minor > 0
                      ORDER BY due_date, {number}"
                ),
                args![t, customer],
            )?;
            for r in &rows {
                let (number, issued, due, total, open, ccy, status): (
                    String,
                    Option<String>,
                    String,
                    i64,
                    i64,
                    String,
                    String,
                ) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
                let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let due_date = NaiveDate::parse_from_str(&due, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("invoice {number}: due date `{due}`: {e}")))?;
                if status == "disputed" {
                    f.disputes.push(number.clone());
                }
                f.invoices.push(DossierInvoice {
                    number,
                    issue_date: issued.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    due_date,
                    total: Money::new(total, currency),
                    open: Money::new(open, currency),
                    disputed: status == "disputed",
                });
            }
            f.reminders = db
                .query(
                    "SELECT planned_for, step_id, channel, subject FROM outbox
                      WHERE tenant_id=?1 AND customer_id=?2 AND status='sent' ORDER BY planned_for, id",
                    args![t, customer],
                )?
                .iter()
                .map(|r| Ok(DossierReminder { day: r.get(0)?, step: r.get(1)?, channel: r.get(2)?, subject: r.get(3)? }))
                .collect::<Result<_, StoreError>>()?;
            f.replies = db
                .query(
                    "SELECT created_at, from_addr, subject, intent FROM inbound_messages
                      WHERE tenant_id=?1 AND customer_id=?2 ORDER BY id",
                    args![t, customer],
                )?
                .iter()
                .map(|r| Ok(DossierMessage { received: r.get(0)?, from: r.get(1)?, subject: r.get(2)?, intent: r.get(3)? }))
                .collect::<Result<_, StoreError>>()?;
            f.promises = db
                .query(
                    "SELECT promised_date, amount, currency, status FROM promises
                      WHERE tenant_id=?1 AND customer_id=?2 ORDER BY id",
                    args![t, customer],
                )?
                .iter()
                .map(|r| {
                    Ok(DossierPromise {
                        promised_date: r.get(0)?,
                        amount: r.get(1)?,
                        currency: r.get(2)?,
                        status: r.get(3)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(Some(f))
        })
    }
}
