//! Holds: a person pauses the reminders of a customer, or of one of its
//! invoices, with a reason and optionally a last day (`until`, inclusive).
//!
//! A hold is placed ([`Store::place_hold`]) and lifted
//! ([`Store::lift_hold`]) by a named actor, each an audit event; a lifted
//! hold stays listed with who lifted it and why. The dunning engine reads
//! the holds not lifted ([`open_holds`], in `dunning_states`) and decides
//! with their `until` day itself
//! ([`relance_engine::dunning::hold::Hold::holds_on`]): once the day has
//! passed reminders resume with no one lifting anything. A reminder queued
//! before the hold and not sent yet is cancelled by delivery when the hold
//! covers all its invoices ([`holding_reminder`]); it is planned again
//! after the hold. A hold Relance placed itself ([`HoldKind::automatic`]:
//! a credit awaiting review, a payment claim) does not cancel such a
//! reminder: it waits in the outbox and goes, or is cancelled as settled,
//! once the hold ends (see `credit_holds`).

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use super::actions::{Acted, ActionRefusal, CursorPage, actor as check_actor, required};
use super::db::{Db, Row, args};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_engine::dunning::hold::{Hold, HoldKind};

/// Where a hold stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Reminders are held.
    Active,
    /// Its `until` day has passed: reminders resumed.
    Expired,
    /// A person lifted it.
    Lifted,
}

/// A hold, for the API and the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    pub id: i64,
    pub customer_id: String,
    /// The invoice held; `null` for the whole customer.
    pub invoice: Option<String>,
    pub reason: String,
    /// Last day held (inclusive); `null` until lifted.
    pub until: Option<NaiveDate>,
    /// On the day it was read.
    pub state: HoldState,
    pub created_by: String,
    pub created_at: String,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<String>,
    pub lift_note: Option<String>,
    /// `manual` (a person's), `credit_review` or `claimed_paid` (Relance's).
    #[schema(value_type = String)]
    pub kind: HoldKind,
    /// The credit it is about, if any.
    pub payment_id: Option<i64>,
}

/// Which holds to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldFilter {
    /// One customer's (an invoice hold is its customer's).
    pub customer_id: Option<String>,
    /// Only those in force today.
    pub active_only: bool,
    /// Ids after this one (cursor).
    pub after: i64,
    pub limit: u32,
}

const COLUMNS: &str = "id, customer_id, invoice_number, reason, until, created_by, created_at, lifted_by, lifted_at, lift_note, kind, payment_id";

/// A stored hold kind (a CHECK in the schema keeps it one of them).
pub(crate) fn kind(r: &Row, i: usize) -> Result<HoldKind, StoreError> {
    let text: String = r.get(i)?;
    text.parse().map_err(|e| StoreError::Corrupt(format!("hold kind `{text}`: {e}")))
}

fn date(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
}

fn view(r: &Row, today: NaiveDate) -> Result<HoldView, StoreError> {
    let until = date(r.get(4)?);
    let lifted_at: Option<String> = r.get(8)?;
    let state = if lifted_at.is_some() {
        HoldState::Lifted
    } else if until.is_some_and(|u| today > u) {
        HoldState::Expired
    } else {
        HoldState::Active
    };
    Ok(HoldView {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        invoice: r.get(2)?,
        reason: r.get(3)?,
        until,
        state,
        created_by: r.get(5)?,
        created_at: r.get(6)?,
        lifted_by: r.get(7)?,
        lifted_at,
        lift_note: r.get(9)?,
        kind: kind(r, 10)?,
        payment_id: r.get(11)?,
    })
}

fn read(db: Db<'_>, t: &str, id: i64, today: NaiveDate) -> Result<Option<HoldView>, StoreError> {
    db.query_opt(&format!("SELECT {COLUMNS} FROM holds WHERE tenant_id=?1 AND id=?2"), args![t, id])?
        .map(|r| view(&r, today))
        .transpose()
}

/// The holds not lifted, by customer, for the dunning engine.
pub(crate) fn open_holds<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    only: Option<&str>,
) -> Result<Vec<(String, Hold)>, StoreError> {
    db.into()
        .query(
            "SELECT customer_id, id, invoice_number, reason, until, created_by, kind, payment_id FROM holds
             WHERE tenant_id=?1 AND (CAST(?2 AS TEXT) IS NULL OR customer_id=?2) AND lifted_at IS NULL ORDER BY id",
            args![t, only],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.get::<String>(0)?,
                Hold {
                    id: r.get(1)?,
                    invoice: r.get(2)?,
                    reason: r.get(3)?,
                    until: date(r.get(4)?),
                    by: r.get(5)?,
                    kind: kind(r, 6)?,
                    payment: r.get(7)?,
                },
            ))
        })
        .collect()
}

/// The hold in force on `today` that holds every invoice of a reminder of
/// `customer` (a customer hold, else invoice holds covering them all), if
/// any: delivery cancels such a reminder (it is planned again after the hold).
pub(crate) fn holding_reminder<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    invoices: &[String],
    today: NaiveDate,
) -> Result<Option<(i64, HoldKind)>, StoreError> {
    let mut holds = db
        .into()
        .query(
            "SELECT id, invoice_number, kind FROM holds WHERE tenant_id=?1 AND customer_id=?2 AND lifted_at IS NULL
             AND (until IS NULL OR until>=?3) ORDER BY id",
            args![t, customer, today.to_string()],
        )?
        .iter()
        .map(|r| Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?, kind(r, 2)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // A person's hold first: it cancels, Relance's only delays.
    holds.sort_by_key(|(id, _, k)| (k.automatic(), *id));
    if let Some((id, _, k)) = holds.iter().find(|(_, i, _)| i.is_none()) {
        return Ok(Some((*id, *k)));
    }
    let held = |n: &String| holds.iter().find(|(_, i, _)| i.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(n)));
    if invoices.is_empty() {
        return Ok(None);
    }
    let mut first = None;
    for n in invoices {
        match held(n) {
            Some((id, _, k)) => first = first.or(Some((*id, *k))),
            None => return Ok(None),
        }
    }
    Ok(first)
}

/// Places a hold in the transaction (shared with dispute resolutions that
/// hold the invoice); returns its id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_hold<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    invoice: Option<&str>,
    reason: &str,
    until: Option<NaiveDate>,
    actor: &str,
) -> Result<i64, StoreError> {
    insert_hold_of(db, t, customer, invoice, reason, until, actor, AutoHold::default())
}

/// What Relance records on a hold of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AutoHold {
    pub kind: HoldKind,
    pub payment: Option<i64>,
    pub message: Option<i64>,
}

/// [`insert_hold`] of any kind.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_hold_of<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    invoice: Option<&str>,
    reason: &str,
    until: Option<NaiveDate>,
    actor: &str,
    auto: AutoHold,
) -> Result<i64, StoreError> {
    let db = db.into();
    let id: i64 = db
        .query_one(
            "INSERT INTO holds (tenant_id, customer_id, invoice_number, reason, until, created_by, created_at, kind, payment_id, message_id)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) RETURNING id",
            args![
                t,
                customer,
                invoice,
                reason,
                until.map(|d| d.to_string()),
                actor,
                now_text(),
                auto.kind.as_str(),
                auto.payment,
                auto.message
            ],
        )?
        .get(0)?;
    let subject = match invoice {
        Some(n) => format!("invoice:{n}"),
        None => format!("customer:{customer}"),
    };
    insert_event(
        db,
        t,
        actor,
        "hold_placed",
        &subject,
        &json!({ "hold": id, "customer": customer, "invoice": invoice, "reason": reason, "until": until, "kind": auto.kind, "payment": auto.payment }),
    )?;
    Ok(id)
}

/// The stored (number, customer) of an invoice, its number matched case aside.
pub(crate) fn invoice_customer<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    number: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let db = db.into();
    // Numbers that differ only in case sort byte-wise on both databases.
    let order = if db.is_postgres() { r#"number COLLATE "C""# } else { "number" };
    db.query_opt(
        &format!(
            "SELECT number, customer_id FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) ORDER BY {order} LIMIT 1"
        ),
        args![t, number],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

/// Whether the tenant knows the customer.
pub(crate) fn customer_exists<'a>(db: impl Into<Db<'a>>, t: &str, customer: &str) -> Result<bool, StoreError> {
    Ok(db.into().query_opt("SELECT 1 FROM customers WHERE tenant_id=?1 AND id=?2", args![t, customer])?.is_some())
}

/// What a hold is placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldTarget<'a> {
    Customer(&'a str),
    Invoice(&'a str),
}

impl Store {
    /// `actor` holds the reminders of a customer or of one invoice, for
    /// `reason`, through `until` when given (refused when that day is before
    /// `today`). An audit event `hold_placed`.
    pub fn place_hold(
        &self,
        tenant: &TenantId,
        target: HoldTarget<'_>,
        reason: &str,
        until: Option<NaiveDate>,
        actor: &str,
        today: NaiveDate,
    ) -> Result<Acted<HoldView>, StoreError> {
        let t = tenant.as_str();
        let reason = match required(reason, "reason") {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(u) = until.filter(|u| *u < today) {
            return Ok(Err(ActionRefusal::Invalid(format!(
                "`until` {u} is in the past (today is {today}): a hold runs through its until day"
            ))));
        }
        self.db.write_any(|db| {
            let (customer, invoice) = match target {
                HoldTarget::Customer(c) => {
                    if !customer_exists(db, t, c)? {
                        return Ok(Err(ActionRefusal::NotFound(format!("no customer {c}"))));
                    }
                    (c.to_string(), None)
                }
                HoldTarget::Invoice(n) => match invoice_customer(db, t, n)? {
                    Some((number, customer)) => (customer, Some(number)),
                    None => return Ok(Err(ActionRefusal::NotFound(format!("no invoice {n}")))),
                },
            };
            let id = insert_hold(db, t, &customer, invoice.as_deref(), &reason, until, actor)?;
            Ok(read(db, t, id, today)?.ok_or_else(|| ActionRefusal::NotFound(format!("no hold {id}"))))
        })
    }

    /// `actor` lifts a hold (with an optional note): reminders resume at the
    /// next planning. Lifting a lifted hold changes nothing.
    pub fn lift_hold(
        &self,
        tenant: &TenantId,
        id: i64,
        actor: &str,
        note: Option<&str>,
        today: NaiveDate,
    ) -> Result<Acted<HoldView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        self.db.write_any(|db| {
            let Some(hold) = read(db, t, id, today)? else {
                return Ok(Err(ActionRefusal::NotFound(format!("no hold {id}"))));
            };
            if hold.state == HoldState::Lifted {
                return Ok(Ok(hold));
            }
            db.execute(
                "UPDATE holds SET lifted_by=?3, lifted_at=?4, lift_note=?5 WHERE tenant_id=?1 AND id=?2 AND lifted_at IS NULL",
                args![t, id, actor, now_text(), note],
            )?;
            let subject = match &hold.invoice {
                Some(n) => format!("invoice:{n}"),
                None => format!("customer:{}", hold.customer_id),
            };
            insert_event(
                db,
                t,
                actor,
                "hold_lifted",
                &subject,
                &json!({ "hold": id, "customer": hold.customer_id, "invoice": hold.invoice, "note": note }),
            )?;
            Ok(read(db, t, id, today)?.ok_or_else(|| ActionRefusal::NotFound(format!("no hold {id}"))))
        })
    }

    /// Holds by id (oldest first, after the cursor), as they stand on `today`.
    pub fn holds(
        &self,
        tenant: &TenantId,
        filter: &HoldFilter,
        today: NaiveDate,
    ) -> Result<CursorPage<HoldView>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            // Active: not lifted and `until` not before today (compared as YYYY-MM-DD text).
            let rows = db
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM holds WHERE tenant_id=?1 AND id>?2 AND (CAST(?3 AS TEXT) IS NULL OR customer_id=?3)
                         AND (?4=0 OR (lifted_at IS NULL AND (until IS NULL OR until>=?5))) ORDER BY id LIMIT ?6"
                    ),
                    args![
                        t,
                        filter.after,
                        filter.customer_id,
                        filter.active_only,
                        today.to_string(),
                        i64::from(filter.limit) + 1
                    ],
                )?
                .iter()
                .map(|r| view(r, today))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CursorPage::of(rows, filter.limit, |h| h.id))
        })
    }
}
