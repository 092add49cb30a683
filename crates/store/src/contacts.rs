//! The state of customers' e-mail addresses (migration 0011): undeliverable
//! (a delivery report said so) or away until a date (an out-of-office reply).
//!
//! Written while a reply is handled ([`crate::messages`]), in its
//! transaction:
//! * a **delivery failure** marks the recipients its report says failed,
//!   each only when it is one of the customer's addresses (the report's
//!   `Original-Recipient`, else its `Final-Recipient`): an address the
//!   customer does not have is not ours to flag. A report naming no
//!   recipient marks the address of the reminder it returns when that one
//!   is known for sure (the reminder's own recipient, or the customer's only
//!   deliverable address); otherwise only the `contact` task is opened;
//! * an **out-of-office** with a return date, from one of the customer's
//!   addresses, records the absence (one without a date records nothing);
//! * a **real reply** (anything but an automatic one) from an address clears
//!   both: someone reads it. A successful send does not (an SMTP server's
//!   250 proves no delivery) and neither does an ERP import.
//!
//! Read back by delivery (undeliverable addresses are left out of a
//! reminder's recipients; see `claim_outbox`), by the dunning states (the
//! customer is away when every deliverable address is) and by the API.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::db::{Db, args};
use super::{Store, StoreError, Window};
use relance_domain::TenantId;
use relance_engine::dunning::Away;
use relance_engine::replies::Understanding;

impl ContactView {
    /// Its key in the list's order, the `after` of the next page: the
    /// customer id (empty for none) and the address, joined by a line feed.
    pub fn cursor(&self) -> String {
        format!("{}\n{}", self.customer_id.as_deref().unwrap_or(""), self.address)
    }
}

/// What is known of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Nothing against it.
    Ok,
    /// A delivery report said mail to it fails: delivery skips it.
    Undeliverable,
    /// Its owner is away until a date still to come: reminders wait.
    Away,
}

impl ContactState {
    pub const ALL: [ContactState; 3] = [ContactState::Ok, ContactState::Undeliverable, ContactState::Away];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactState::Ok => "ok",
            ContactState::Undeliverable => "undeliverable",
            ContactState::Away => "away",
        }
    }

    pub fn parse(text: &str) -> Option<ContactState> {
        ContactState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Why an address is undeliverable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UndeliverableView {
    /// When the report was handled (RFC 3339).
    pub since: String,
    /// The enhanced status code (`5.1.1`).
    pub status_code: Option<String>,
    pub diagnostic: Option<String>,
    /// The inbound message (the report) that said so.
    pub message: Option<i64>,
}

/// An announced absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AwayView {
    /// The day the person is back.
    pub until: NaiveDate,
    pub reason: String,
    /// The inbound message (the out-of-office reply) that said so.
    pub message: Option<i64>,
}

/// One address of a customer, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub customer_id: Option<String>,
    pub address: String,
    pub status: ContactState,
    pub undeliverable: Option<UndeliverableView>,
    /// The last absence announced (also once it is over: `status` says whether it runs).
    pub away: Option<AwayView>,
}

/// The undeliverable addresses of a tenant: address → status code.
pub(crate) fn undeliverable<'a>(db: impl Into<Db<'a>>, t: &str) -> Result<HashMap<String, Option<String>>, StoreError> {
    db.into()
        .query("SELECT address, status_code FROM contact_undeliverable WHERE tenant_id=?1", args![t])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// The customer's addresses, lower case, in their order.
fn emails_of(db: Db<'_>, t: &str, customer: &str) -> Result<Vec<String>, StoreError> {
    let text: Option<String> = db
        .query_opt("SELECT emails FROM customers WHERE tenant_id=?1 AND id=?2", args![t, customer])?
        .map(|r| r.get(0))
        .transpose()?;
    let list: Vec<String> = text.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    Ok(list.into_iter().map(|a| a.trim().to_lowercase()).collect())
}

/// Marks what a delivery failure says is undeliverable (see the module
/// doc); `reminder` is the outbox row it returns, if known. Returns the
/// addresses marked and those of the report left alone (not the customer's).
pub(crate) fn mark_undeliverable<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    message: i64,
    u: &Understanding,
    customer: Option<&str>,
    reminder: Option<i64>,
    now: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let Some(customer) = customer else { return Ok((Vec::new(), Vec::new())) };
    let db = db.into();
    let emails = emails_of(db, t, customer)?;
    let mut marked: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut foreign = Vec::new();
    let failed: Vec<_> = u.delivery.iter().flat_map(|d| d.failed()).collect();
    for r in &failed {
        match r.addresses().find(|a| emails.iter().any(|e| e == a)) {
            Some(a) if !marked.iter().any(|m| m.0 == a) => {
                marked.push((a.to_string(), r.status.clone(), r.diagnostic.clone()))
            }
            Some(_) => {}
            None => foreign.push(r.final_recipient.clone()),
        }
    }
    if failed.is_empty() {
        // No recipient named: the reminder's address, when it can only be that one.
        let recipient: Option<String> = match reminder {
            Some(id) => db
                .query_opt("SELECT recipient FROM outbox WHERE tenant_id=?1 AND id=?2", args![t, id])?
                .map(|r| r.get::<Option<String>>(0))
                .transpose()?
                .flatten(),
            None => None,
        };
        let known = undeliverable(db, t)?;
        let deliverable: Vec<&String> = emails.iter().filter(|e| !known.contains_key(*e)).collect();
        let only = match (recipient, deliverable.as_slice()) {
            (Some(r), _) => Some(r.trim().to_lowercase()).filter(|r| emails.contains(r)),
            (None, [one]) if reminder.is_some() => Some((*one).clone()),
            _ => None,
        };
        if let Some(a) = only {
            let diagnostic = Some(u.new_text.chars().take(300).collect::<String>()).filter(|d| !d.trim().is_empty());
            marked.push((a, None, diagnostic));
        }
    }
    for (address, code, diagnostic) in &marked {
        db.execute(
            "INSERT INTO contact_undeliverable (tenant_id, address, customer_id, since, status_code, diagnostic, message_id)
             VALUES (?1,?2,?3,?4,?5,?6,?7)
             ON CONFLICT (tenant_id, address) DO UPDATE SET customer_id=excluded.customer_id, since=excluded.since,
                 status_code=excluded.status_code, diagnostic=excluded.diagnostic, message_id=excluded.message_id",
            args![t, address, customer, now, code, diagnostic, message],
        )?;
    }
    Ok((marked.into_iter().map(|m| m.0).collect(), foreign))
}

/// Records an absence announced from `address` when it is one of the
/// customer's addresses; returns whether it was recorded.
pub(crate) fn record_away<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    message: i64,
    customer: Option<&str>,
    address: Option<&str>,
    until: NaiveDate,
    now: &str,
) -> Result<bool, StoreError> {
    let (Some(customer), Some(address)) = (customer, address) else { return Ok(false) };
    let address = address.trim().to_lowercase();
    let db = db.into();
    if !emails_of(db, t, customer)?.contains(&address) {
        return Ok(false);
    }
    db.execute(
        "INSERT INTO contact_away (tenant_id, address, customer_id, until, reason, message_id, recorded_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7)
         ON CONFLICT (tenant_id, address) DO UPDATE SET customer_id=excluded.customer_id, until=excluded.until,
             reason=excluded.reason, message_id=excluded.message_id, recorded_at=excluded.recorded_at",
        args![t, address, customer, until.to_string(), format!("out-of-office reply, message {message}"), message, now],
    )?;
    Ok(true)
}

/// A real reply came from `address`: it is neither undeliverable nor away.
/// Returns whether anything was cleared.
pub(crate) fn clear<'a>(db: impl Into<Db<'a>>, t: &str, address: &str) -> Result<bool, StoreError> {
    let db = db.into();
    let address = address.trim().to_lowercase();
    let a = db.execute("DELETE FROM contact_undeliverable WHERE tenant_id=?1 AND address=?2", args![t, address])?;
    let b = db.execute("DELETE FROM contact_away WHERE tenant_id=?1 AND address=?2", args![t, address])?;
    Ok(a + b > 0)
}

/// Per customer: the absence the dunning engine waits for, when every
/// deliverable address of the customer is away (the earliest return: the
/// customer can be reached from then on). `emails` gives each customer's
/// addresses.
pub(crate) fn away_by_customer<'a>(
    db: impl Into<Db<'a>>,
    t: &str,
    emails: &HashMap<String, Vec<String>>,
) -> Result<HashMap<String, Away>, StoreError> {
    let db = db.into();
    let dead = undeliverable(db, t)?;
    let away: HashMap<String, (String, String)> = db
        .query("SELECT address, until, reason FROM contact_away WHERE tenant_id=?1", args![t])?
        .iter()
        .map(|r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .collect::<Result<_, StoreError>>()?;
    let mut out = HashMap::new();
    if away.is_empty() {
        return Ok(out);
    }
    for (customer, list) in emails {
        let live: Vec<&String> = list.iter().filter(|a| !dead.contains_key(*a)).collect();
        let mut all: Vec<Away> = Vec::new();
        for a in &live {
            let Some((until, reason)) = away.get(*a) else { break };
            let Ok(until) = NaiveDate::parse_from_str(until, "%Y-%m-%d") else { break };
            all.push(Away { address: (*a).clone(), until, reason: reason.clone() });
        }
        if !live.is_empty()
            && all.len() == live.len()
            && let Some(first) = all.into_iter().min_by_key(|a| a.until)
        {
            out.insert(customer.clone(), first);
        }
    }
    Ok(out)
}

impl Store {
    /// Every address of the tenant's customers (and any address with a
    /// state whose customer no longer lists it), with its state on `today`,
    /// by customer and address; only those of `status` when given, and
    /// only those after the [`ContactView::cursor`] `page.after`.
    pub fn contacts(
        &self,
        tenant: &TenantId,
        today: NaiveDate,
        status: Option<ContactState>,
        page: impl Into<Window<String>>,
    ) -> Result<Vec<ContactView>, StoreError> {
        let page = page.into();
        let after = page.after.as_deref().map(|c| c.split_once('\n').unwrap_or(("", c)));
        let t = tenant.as_str();
        self.db.read_any(|db| {
            let mut all: BTreeMap<(Option<String>, String), ContactView> = BTreeMap::new();
            let blank = |customer: Option<String>, address: String| ContactView {
                customer_id: customer,
                address,
                status: ContactState::Ok,
                undeliverable: None,
                away: None,
            };
            // Each customer's JSON list of addresses, read here rather than
            // with SQLite's `json_each` (which PostgreSQL does not have).
            for r in db.query("SELECT id, emails FROM customers WHERE tenant_id=?1", args![t])? {
                let customer: String = r.get(0)?;
                let list: Vec<String> = serde_json::from_str(&r.get::<String>(1)?)
                    .map_err(|e| StoreError::Corrupt(format!("the addresses of customer {customer}: {e}")))?;
                for address in list {
                    let address = address.trim().to_lowercase();
                    all.entry((Some(customer.clone()), address.clone()))
                        .or_insert_with(|| blank(Some(customer.clone()), address));
                }
            }
            for r in db.query(
                "SELECT customer_id, address, since, status_code, diagnostic, message_id FROM contact_undeliverable WHERE tenant_id=?1",
                args![t],
            )? {
                let (customer, address): (Option<String>, String) = (r.get(0)?, r.get(1)?);
                let view =
                    UndeliverableView { since: r.get(2)?, status_code: r.get(3)?, diagnostic: r.get(4)?, message: r.get(5)? };
                let entry = all.entry((customer.clone(), address.clone())).or_insert_with(|| blank(customer, address));
                entry.undeliverable = Some(view);
            }
            for r in db.query(
                "SELECT customer_id, address, until, reason, message_id FROM contact_away WHERE tenant_id=?1",
                args![t],
            )? {
                let (customer, address, until, reason, message): (Option<String>, String, String, String, Option<i64>) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                let until = NaiveDate::parse_from_str(&until, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("contact_away {address}: {e}")))?;
                let entry = all.entry((customer.clone(), address.clone())).or_insert_with(|| blank(customer, address));
                entry.away = Some(AwayView { until, reason, message });
            }
            Ok(all
                .into_values()
                .map(|mut v| {
                    v.status = if v.undeliverable.is_some() {
                        ContactState::Undeliverable
                    } else if v.away.as_ref().is_some_and(|a| a.until >= today) {
                        ContactState::Away
                    } else {
                        ContactState::Ok
                    };
                    v
                })
                .filter(|v| status.is_none_or(|s| s == v.status))
                .filter(|v| after.is_none_or(|a| (v.customer_id.as_deref().unwrap_or(""), v.address.as_str()) > a))
                .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
                .collect())
        })
    }
}
