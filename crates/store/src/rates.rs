//! Cash application rates from the stored history, and what a replay of the
//! matcher needs.
//!
//! [`Store::cash_rates`] computes the four published figures "as decided at
//! the time" with one aggregate query (cheap enough for every `/metrics`
//! scrape):
//!
//! - envelope auto-match rate: credits with an allocation by the matcher
//!   (undone later or not) / credits;
//! - line-item rate: invoices settled by live allocations of the matcher /
//!   invoices settled by live allocations of anyone (a credit note that a
//!   net payment offsets, by a negative allocation, is no invoice settled);
//! - review rate: credits the matcher looked at and did not apply (status
//!   other than `new`, no matcher allocation) / credits;
//! - false-match rate: automatic matches with an allocation undone by a
//!   person / automatic matches.
//!
//! Credits are the tenant's payments with direction `credit` that are not
//! bank reversals, booked on or after the given date.
//!
//! [`Store::credit_ids_since`] and [`Store::replay_inputs`] feed `relance
//! match replay`, which re-runs the current rules over the same credits.

use chrono::NaiveDate;

use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_engine::matching::{OpenInvoice, Payer};

use crate::db::args;
use crate::{Store, StoreError};

/// The actor of the allocations the matcher applies.
pub const MATCHER_ACTOR: &str = "matcher";

/// Counts behind the published cash application rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CashRates {
    /// Credits (not bank reversals) in the period.
    pub credits: u64,
    /// Credits the matcher applied.
    pub auto_matched: u64,
    /// Credits the matcher sent to review (suggested or unmatched).
    pub reviewed: u64,
    /// Invoices settled by live allocations, by anyone.
    pub invoices_settled: u64,
    /// Invoices settled by live allocations of the matcher.
    pub invoices_settled_auto: u64,
    /// Automatic matches undone by a person afterwards.
    pub auto_undone: u64,
}

impl CashRates {
    /// `part / whole`, `None` when there is nothing to divide.
    fn ratio(part: u64, whole: u64) -> Option<f64> {
        (whole > 0).then(|| part as f64 / whole as f64)
    }

    pub fn envelope_auto_rate(&self) -> Option<f64> {
        Self::ratio(self.auto_matched, self.credits)
    }

    pub fn line_item_rate(&self) -> Option<f64> {
        Self::ratio(self.invoices_settled_auto, self.invoices_settled)
    }

    pub fn review_rate(&self) -> Option<f64> {
        Self::ratio(self.reviewed, self.credits)
    }

    pub fn false_match_rate(&self) -> Option<f64> {
        Self::ratio(self.auto_undone, self.auto_matched)
    }
}

/// The date filter as text (`''` sorts before every date).
fn since_text(since: Option<NaiveDate>) -> String {
    since.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The credits of the period, as a subquery (`?1` tenant, `?2` date).
const CREDITS: &str = "SELECT id FROM payments WHERE tenant_id=?1 AND direction='credit' AND reversal=0
                         AND status<>'ignored' AND booking_date>=?2";

impl Store {
    /// The cash application rates of the tenant's credits booked on or after
    /// `since` (all when `None`), as decided at the time.
    pub fn cash_rates(&self, tenant: &TenantId, since: Option<NaiveDate>) -> Result<CashRates, StoreError> {
        let sql = format!(
            "WITH c AS ({CREDITS}),
                  auto AS (SELECT DISTINCT payment_id FROM allocations
                            WHERE tenant_id=?1 AND actor=?3 AND payment_id IN (SELECT id FROM c))
             SELECT (SELECT count(*) FROM c),
                    (SELECT count(*) FROM auto),
                    (SELECT count(*) FROM payments WHERE tenant_id=?1 AND id IN (SELECT id FROM c)
                       AND status<>'new' AND id NOT IN (SELECT payment_id FROM auto)),
                    (SELECT count(DISTINCT invoice_number) FROM allocations
                      WHERE tenant_id=?1 AND undone_at IS NULL AND amount_minor >= 0
                        AND payment_id IN (SELECT id FROM c)),
                    (SELECT count(DISTINCT invoice_number) FROM allocations
                      WHERE tenant_id=?1 AND undone_at IS NULL AND amount_minor >= 0 AND actor=?3
                        AND payment_id IN (SELECT id FROM c)),
                    (SELECT count(DISTINCT payment_id) FROM allocations
                      WHERE tenant_id=?1 AND actor=?3 AND undone_at IS NOT NULL
                        AND coalesce(undone_by, '')<>?3 AND payment_id IN (SELECT id FROM c))"
        );
        self.db.read_any(|db| {
            let r = db.query_one(&sql, args![tenant.as_str(), since_text(since), MATCHER_ACTOR])?;
            let counts: [i64; 6] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?];
            let [credits, auto_matched, reviewed, invoices_settled, invoices_settled_auto, auto_undone] =
                counts.map(|n| u64::try_from(n).unwrap_or(0));
            Ok(CashRates { credits, auto_matched, reviewed, invoices_settled, invoices_settled_auto, auto_undone })
        })
    }

    /// Ids of the tenant's credits (not bank reversals) booked on or after
    /// `since`, whatever their status, in booking order.
    pub fn credit_ids_since(&self, tenant: &TenantId, since: Option<NaiveDate>) -> Result<Vec<i64>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!("SELECT id FROM payments WHERE id IN ({CREDITS}) ORDER BY booking_date, id"),
                args![tenant.as_str(), since_text(since)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
    }

    /// What a replay matches against: the invoices and credit notes as they
    /// are now, each with its open amount before the live allocations (so a
    /// credit already applied can be matched again to what it settled, a net
    /// payment to the credit note it offset), those still open and those the
    /// allocations settled; and the payers.
    pub fn replay_inputs(&self, tenant: &TenantId) -> Result<(Vec<OpenInvoice>, Vec<Payer>), StoreError> {
        let (_, payers) = self.matching_inputs(tenant)?;
        let invoices = self.db.read_any(|db| {
            let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            let mut out = Vec::new();
            db.query_each(
                "SELECT i.number, i.customer_id, i.issue_date, i.due_date, i.currency, i.total_minor,
                        i.open_minor + coalesce((SELECT sum(a.amount_minor + a.write_off_minor) FROM allocations a
                          WHERE a.tenant_id=i.tenant_id AND a.invoice_number=i.number AND a.undone_at IS NULL), 0)
                   FROM invoices i
                  WHERE i.tenant_id=?1 AND i.total_minor <> 0
                    AND ((i.status IN ('open','partially_paid','disputed') AND i.open_minor > 0)
                         OR (i.status='credit_note' AND i.open_minor < 0)
                         OR EXISTS (SELECT 1 FROM allocations a WHERE a.tenant_id=i.tenant_id
                                      AND a.invoice_number=i.number AND a.undone_at IS NULL))",
                args![tenant.as_str()],
                |r| {
                    let number: String = r.take(0)?;
                    let (customer_id, issue, due, ccy): (String, Option<String>, String, String) =
                        (r.take(1)?, r.take(2)?, r.take(3)?, r.take(4)?);
                    let (total, open): (i64, i64) = (r.get(5)?, r.get(6)?);
                    let ccy =
                        Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(format!("invoice {number}: {e}")))?;
                    let due_date =
                        date(&due).ok_or_else(|| StoreError::Corrupt(format!("invoice {number}: due date `{due}`")))?;
                    // Never more open than the total (a credit note's are negative).
                    let open = if total < 0 { open.clamp(total, 0) } else { open.clamp(0, total) };
                    if open != 0 {
                        out.push(OpenInvoice {
                            number,
                            customer_id,
                            issue_date: issue.as_deref().and_then(date),
                            due_date,
                            total: Money::new(total, ccy),
                            open: Money::new(open, ccy),
                        });
                    }
                    Ok(())
                },
            )?;
            // By number, byte-wise on both databases (PostgreSQL's text order follows its collation).
            out.sort_by(|a, b| a.number.cmp(&b.number));
            Ok(out)
        })?;
        Ok((invoices, payers))
    }
}
