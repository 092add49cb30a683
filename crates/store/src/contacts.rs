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
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

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
pub(crate) fn undeliverable(c: &rusqlite::Connection, t: &str) -> Result<HashMap<String, Option<String>>, StoreError> {
    let mut st = c.prepare_cached("SELECT address, status_code FROM contact_undeliverable WHERE tenant_id=?1")?;
    let rows = st.query_map([t], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The customer's addresses, lower case, in their order.
fn emails_of(c: &rusqlite::Connection, t: &str, customer: &str) -> Result<Vec<String>, StoreError> {
    let text: Option<String> = c
        .query_row("SELECT emails FROM customers WHERE tenant_id=?1 AND id=?2", params![t, customer], |r| r.get(0))
        .optional()?;
    let list: Vec<String> = text.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    Ok(list.into_iter().map(|a| a.trim().to_lowercase()).collect())
}

/// Marks what a delivery failure says is undeliverable (see the module
/// doc); `reminder` is the outbox row it returns, if known. Returns the
/// addresses marked and those of the report left alone (not the customer's).
pub(crate) fn mark_undeliverable(
    tx: &rusqlite::Transaction<'_>,
    t: &str,
    message: i64,
    u: &Understanding,
    customer: Option<&str>,
    reminder: Option<i64>,
    now: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let Some(customer) = customer else { return Ok((Vec::new(), Vec::new())) };
    let emails = emails_of(tx, t, customer)?;
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
            Some(id) => tx
                .query_row("SELECT recipient FROM outbox WHERE tenant_id=?1 AND id=?2", params![t, id], |r| r.get(0))
                .optional()?
                .flatten(),
            None => None,
        };
        let known = undeliverable(tx, t)?;
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
    let mut st = tx.prepare_cached(
        "INSERT INTO contact_undeliverable (tenant_id, address, customer_id, since, status_code, diagnostic, message_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7)
         ON CONFLICT (tenant_id, address) DO UPDATE SET customer_id=excluded.customer_id, since=excluded.since,
             status_code=excluded.status_code, diagnostic=excluded.diagnostic, message_id=excluded.message_id",
    )?;
    for (address, code, diagnostic) in &marked {
        st.execute(params![t, address, customer, now, code, diagnostic, message])?;
    }
    Ok((marked.into_iter().map(|m| m.0).collect(), foreign))
}

/// Records an absence announced from `address` when it is one of the
/// customer's addresses; returns whether it was recorded.
pub(crate) fn record_away(
    tx: &rusqlite::Transaction<'_>,
    t: &str,
    message: i64,
    customer: Option<&str>,
    address: Option<&str>,
    until: NaiveDate,
    now: &str,
) -> Result<bool, StoreError> {
    let (Some(customer), Some(address)) = (customer, address) else { return Ok(false) };
    let address = address.trim().to_lowercase();
    if !emails_of(tx, t, customer)?.contains(&address) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO contact_away (tenant_id, address, customer_id, until, reason, message_id, recorded_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7)
         ON CONFLICT (tenant_id, address) DO UPDATE SET customer_id=excluded.customer_id, until=excluded.until,
             reason=excluded.reason, message_id=excluded.message_id, recorded_at=excluded.recorded_at",
        params![
            t,
            address,
            customer,
            until.to_string(),
            format!("out-of-office reply, message {message}"),
            message,
            now
        ],
    )?;
    Ok(true)
}

/// A real reply came from `address`: it is neither undeliverable nor away.
/// Returns whether anything was cleared.
pub(crate) fn clear(tx: &rusqlite::Transaction<'_>, t: &str, address: &str) -> Result<bool, StoreError> {
    let address = address.trim().to_lowercase();
    let a = tx.execute("DELETE FROM contact_undeliverable WHERE tenant_id=?1 AND address=?2", params![t, address])?;
    let b = tx.execute("DELETE FROM contact_away WHERE tenant_id=?1 AND address=?2", params![t, address])?;
    Ok(a + b > 0)
}

/// Per customer: the absence the dunning engine waits for, when every
/// deliverable address of the customer is away (the earliest return: the
/// customer can be reached from then on). `emails` gives each customer's
/// addresses.
pub(crate) fn away_by_customer(
    c: &rusqlite::Connection,
    t: &str,
    emails: &HashMap<String, Vec<String>>,
) -> Result<HashMap<String, Away>, StoreError> {
    let dead = undeliverable(c, t)?;
    let mut st = c.prepare_cached("SELECT address, until, reason FROM contact_away WHERE tenant_id=?1")?;
    let away: HashMap<String, (String, String)> = st
        .query_map([t], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, String>(1)?, r.get::<_, String>(2)?))))?
        .collect::<Result<_, _>>()?;
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
        self.db.read(|c| {
            let mut all: BTreeMap<(Option<String>, String), ContactView> = BTreeMap::new();
            let blank = |customer: Option<String>, address: String| ContactView {
                customer_id: customer,
                address,
                status: ContactState::Ok,
                undeliverable: None,
                away: None,
            };
            let mut st = c.prepare("SELECT c.id, e.value FROM customers c, json_each(c.emails) e WHERE c.tenant_id=?1")?;
            for row in st.query_map([t], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (customer, address) = row?;
                let address = address.trim().to_lowercase();
                all.entry((Some(customer.clone()), address.clone())).or_insert_with(|| blank(Some(customer), address));
            }
            let mut st = c.prepare(
                "SELECT customer_id, address, since, status_code, diagnostic, message_id FROM contact_undeliverable WHERE tenant_id=?1",
            )?;
            for row in st.query_map([t], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    UndeliverableView { since: r.get(2)?, status_code: r.get(3)?, diagnostic: r.get(4)?, message: r.get(5)? },
                ))
            })? {
                let (customer, address, view) = row?;
                let entry = all.entry((customer.clone(), address.clone())).or_insert_with(|| blank(customer, address));
                entry.undeliverable = Some(view);
            }
            let mut st =
                c.prepare("SELECT customer_id, address, until, reason, message_id FROM contact_away WHERE tenant_id=?1")?;
            for row in st.query_map([t], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })? {
                let (customer, address, until, reason, message) = row?;
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
