//! Checking promises to pay against the books.
//!
//! A promise recorded from a customer's reply is `pending`. It becomes
//! `kept` as soon as everything it covers is paid (the invoices it names, or
//! when it names none, every open invoice of its customer), whether the money
//! came before or after the promised date. It becomes `broken` once the
//! promised date plus a grace (bank delay) has passed with something still
//! open, and `lapsed` when it cannot be checked (no invoice and no customer
//! could be linked) and its date has passed. Each change is one audit event;
//! checking again changes nothing, so the check can run as often as wanted.

use chrono::{Duration, NaiveDate};
use serde::Serialize;
use serde_json::json;

use super::db::args;
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::replies::PromiseStatus;

/// What one check changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PromiseCheck {
    /// Promises now kept.
    pub kept: u32,
    /// Promises now broken.
    pub broken: u32,
    /// Promises that could not be verified and whose date passed.
    pub lapsed: u32,
    /// Promises still pending.
    pub pending: u32,
}

impl Store {
    /// Checks every pending promise of `tenant` on `today`; a promise is broken
    /// only after `promised_date + grace_days` (see the module doc).
    pub fn check_promises(
        &self,
        tenant: &TenantId,
        today: NaiveDate,
        grace_days: i64,
    ) -> Result<PromiseCheck, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|db| {
            let pending = db
                .query(
                    "SELECT id, customer_id, invoice_numbers, promised_date FROM promises WHERE tenant_id=?1 AND status=?2 ORDER BY id",
                    args![t, PromiseStatus::Pending.as_str()],
                )?
                .iter()
                .map(|r| {
                    Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?, r.get::<String>(2)?, r.get::<Option<String>>(3)?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut out = PromiseCheck::default();
            let now = now_text();
            for (id, customer, numbers, date) in pending {
                let numbers: Vec<String> = serde_json::from_str(&numbers).unwrap_or_default();
                // Invoices still open among those the promise covers; None when nothing can be checked.
                let still_open: Option<Vec<String>> = if !numbers.is_empty() {
                    let mut open = Vec::new();
                    for n in &numbers {
                        let o: Option<i64> = db
                            .query_opt(
                                "SELECT open_minor FROM invoices WHERE tenant_id=?1 AND number=?2 AND status NOT IN ('paid','cancelled')",
                                args![t, n],
                            )?
                            .map(|r| r.get(0))
                            .transpose()?;
                        if o.is_some_and(|o| o > 0) {
                            open.push(n.clone());
                        }
                    }
                    Some(open)
                } else if let Some(c) = &customer {
                    // Numbers sort byte-wise on both databases (they end up in the audit event).
                    let number = if db.is_postgres() { r#"number COLLATE "C""# } else { "number" };
                    let open = db
                        .query(
                            &format!(
                                "SELECT number FROM invoices WHERE tenant_id=?1 AND customer_id=?2 AND open_minor > 0
                                 AND status IN ('open','partially_paid','disputed') ORDER BY {number}"
                            ),
                            args![t, c],
                        )?
                        .iter()
                        .map(|r| r.get::<String>(0))
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(open)
                } else {
                    None
                };
                let date = date.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
                let passed = date.is_some_and(|d| today > d + Duration::days(grace_days));
                let new_status = match (&still_open, passed) {
                    (Some(open), _) if open.is_empty() => PromiseStatus::Kept,
                    (Some(_), true) => PromiseStatus::Broken,
                    (None, true) => PromiseStatus::Lapsed,
                    _ => {
                        out.pending += 1;
                        continue;
                    }
                };
                db.execute(
                    "UPDATE promises SET status=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2 AND status=?5",
                    args![t, id, new_status.as_str(), now, PromiseStatus::Pending.as_str()],
                )?;
                insert_event(
                    db,
                    t,
                    "promises",
                    &format!("promise_{new_status}"),
                    &format!("promise:{id}"),
                    &json!({
                        "customer": customer, "invoices": numbers,
                        "promised_date": date.map(|d| d.to_string()), "still_open": still_open,
                    }),
                )?;
                match new_status {
                    PromiseStatus::Kept => out.kept += 1,
                    PromiseStatus::Broken => out.broken += 1,
                    PromiseStatus::Lapsed => out.lapsed += 1,
                    PromiseStatus::Pending => out.pending += 1,
                    PromiseStatus::Cancelled => {}
                }
            }
            Ok(out)
        })
    }
}
