//! Inputs of the reporting figures (`relance_engine::reports`), aggregated
//! in SQL so that a report reads a few thousand rows, not every invoice:
//! aged balance sums per group and bucket, open amounts and invoiced amounts
//! per month and currency (DSO), receivables pieces for the overdue series,
//! settlements (DMP), promise counts, reminders sent by step and channel,
//! replies by intent. The figures themselves are computed by the engine.
//!
//! Migration 0016 adds the covering indexes these queries use (see
//! `reports_bench` figures in the README).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

use relance_domain::money::{Currency, Money};
use relance_domain::replies::{PromiseStatus, UnknownState};
use relance_domain::{InvoiceStatus, TenantId};
use relance_engine::replies::Intent;
use relance_engine::reports::{
    AgeBucket, AgedGrouping, BucketSum, MonthSales, OpenItem, OverduePiece, PromiseCounts, ReminderCount, Settlement,
    parse_channel,
};

use super::db::args;
use super::{Store, StoreError};

impl Store {
    /// What the tenant is owed item by item: outstanding invoices with an
    /// open amount, and open credit notes (negative).
    pub fn open_items(&self, tenant: &TenantId) -> Result<Vec<OpenItem>, StoreError> {
        let outstanding: Vec<String> =
            InvoiceStatus::ALL.iter().filter(|s| s.is_outstanding()).map(|s| format!("'{}'", s.as_str())).collect();
        self.db.read_any(|db| {
            let rows = db.query(
                &format!(
                    "SELECT customer_id, due_date, open_minor, currency FROM invoices
                      WHERE tenant_id=?1 AND ((status IN ({}) AND open_minor > 0)
                         OR (status='{}' AND open_minor < 0))",
                    outstanding.join(","),
                    InvoiceStatus::CreditNote.as_str()
                ),
                args![tenant.as_str()],
            )?;
            rows.iter()
                .map(|r| {
                    let (customer, due, open, ccy): (String, String, i64, String) =
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    let due = NaiveDate::parse_from_str(&due, "%Y-%m-%d")
                        .map_err(|e| StoreError::Corrupt(format!("due date `{due}`: {e}")))?;
                    let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(OpenItem { customer, due, open: Money::new(open, currency) })
                })
                .collect()
        })
    }

    /// The amount invoiced per issue month and currency, months from the one
    /// of `from` on (credit notes and cancelled invoices left out). Summed
    /// per issue day in SQL (the index `invoices_issued` streams them in
    /// order), then per month here.
    pub fn monthly_invoiced(&self, tenant: &TenantId, from: NaiveDate) -> Result<Vec<MonthSales>, StoreError> {
        let sql = format!(
            "SELECT i.issue_date, i.currency, sum(i.total_minor) FROM invoices i
              WHERE i.tenant_id=?1 AND i.issue_date >= ?2 AND {INVOICES}
              GROUP BY i.issue_date, i.currency"
        );
        self.db.read_any(|db| {
            let from = from.format("%Y-%m-01").to_string();
            let rows = db.query(&sql, args![tenant.as_str(), from.as_str()])?;
            let mut months: BTreeMap<(NaiveDate, Currency), i64> = BTreeMap::new();
            for r in &rows {
                let day: String = r.get(0)?;
                let month = parse_month(day.get(..7).unwrap_or(&day), "issue month")?;
                let sum = months.entry((month, currency(&r.get::<String>(1)?)?)).or_default();
                *sum = sum
                    .checked_add(r.get::<i64>(2)?)
                    .ok_or_else(|| StoreError::Corrupt(format!("invoiced amounts of {month} overflow")))?;
            }
            Ok(months
                .into_iter()
                .map(|((month, ccy), total)| MonthSales { month, invoiced: Money::new(total, ccy) })
                .collect())
        })
    }
}

/// What is owed (outstanding invoices and open credit notes), as a
/// condition on `invoices i` whose status list repeats the one of the
/// partial index `invoices_receivable` (migration 0016) word for word.
const RECEIVABLE: &str = "i.status IN ('open', 'partially_paid', 'disputed', 'credit_note')
    AND (CASE WHEN i.status = 'credit_note' THEN i.open_minor < 0 ELSE i.open_minor > 0 END)";

/// Outstanding invoices: the condition of the partial index `invoices_open_by_due`.
const OUTSTANDING: &str = "i.status IN ('open', 'partially_paid', 'disputed')";

/// Invoices proper (not credit notes, not cancelled): the condition of `invoices_changed`.
const INVOICES: &str = "i.total_minor > 0 AND i.status NOT IN ('cancelled', 'credit_note')";

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The aged balance's totals: see [`Store::aged_totals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgedTotals {
    /// Per currency and bucket, key `""`.
    pub totals: Vec<BucketSum>,
    /// What is owed per currency.
    pub open: Vec<Money>,
}

/// The largest debtors: see [`Store::largest_debtors`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LargestDebtors {
    /// Their amounts per bucket.
    pub top: Vec<BucketSum>,
    /// (customer, currency) rows of the whole aged balance.
    pub rows: u64,
}

/// An RFC 3339 UTC instant in the stored form (`2026-03-01T00:00:00.000Z`),
/// which sorts as text like the stored times.
fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_day(text: &str, what: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(format!("{what} `{text}`: {e}")))
}

/// `YYYY-MM` → the first day of that month.
fn parse_month(text: &str, what: &str) -> Result<NaiveDate, StoreError> {
    parse_day(&format!("{text}-01"), what)
}

fn currency(text: &str) -> Result<Currency, StoreError> {
    Currency::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The aged balance's amounts on `as_of`, summed in SQL per group
    /// (customer, or the customer's segment), currency and bucket (the bucket
    /// from the due date against [`AgeBucket::thresholds`]). Credit notes
    /// count negative. With customers, the name comes along. The index
    /// `invoices_receivable` gives the rows in (customer, currency) order, so
    /// the grouping streams without sorting.
    pub fn aged_sums(
        &self,
        tenant: &TenantId,
        as_of: NaiveDate,
        by: AgedGrouping,
    ) -> Result<Vec<BucketSum>, StoreError> {
        let [t0, t1, t2, t3] = AgeBucket::thresholds(as_of).map(day_text);
        let per_customer = format!(
            "SELECT i.customer_id AS customer_id, i.currency AS currency,
                    sum(CASE WHEN i.due_date >= ?2 THEN i.open_minor ELSE 0 END) AS b0,
                    sum(CASE WHEN i.due_date < ?2 AND i.due_date >= ?3 THEN i.open_minor ELSE 0 END) AS b1,
                    sum(CASE WHEN i.due_date < ?3 AND i.due_date >= ?4 THEN i.open_minor ELSE 0 END) AS b2,
                    sum(CASE WHEN i.due_date < ?4 AND i.due_date >= ?5 THEN i.open_minor ELSE 0 END) AS b3,
                    sum(CASE WHEN i.due_date < ?5 THEN i.open_minor ELSE 0 END) AS b4
               FROM invoices i WHERE i.tenant_id=?1 AND {RECEIVABLE}
              GROUP BY i.customer_id, i.currency"
        );
        let sql = match by {
            AgedGrouping::Customer => format!(
                "SELECT s.customer_id, c.name, s.currency, s.b0, s.b1, s.b2, s.b3, s.b4 FROM ({per_customer}) s
                   LEFT JOIN customers c ON c.tenant_id=?1 AND c.id=s.customer_id"
            ),
            AgedGrouping::Segment => format!(
                "SELECT coalesce(c.segment, ''), NULL, s.currency, sum(s.b0), sum(s.b1), sum(s.b2), sum(s.b3), sum(s.b4)
                   FROM ({per_customer}) s LEFT JOIN customers c ON c.tenant_id=?1 AND c.id=s.customer_id
                  GROUP BY coalesce(c.segment, ''), s.currency"
            ),
        };
        self.db.read_any(|db| {
            let rows = db.query(&sql, args![tenant.as_str(), t0, t1, t2, t3])?;
            let mut out = Vec::new();
            for r in &rows {
                let key: String = r.get(0)?;
                let name: Option<String> = r.get(1)?;
                let ccy = currency(&r.get::<String>(2)?)?;
                for (slot, bucket) in AgeBucket::ALL.iter().enumerate() {
                    let amount: i64 = r.get(3 + slot)?;
                    if amount != 0 {
                        out.push(BucketSum {
                            key: key.clone(),
                            name: name.clone(),
                            bucket: *bucket,
                            amount: Money::new(amount, ccy),
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    /// The aged balance's totals on `as_of` per currency and bucket (key
    /// `""`), without the 5 bucket sums of every customer
    /// ([`Store::aged_sums`]' cost): each bucket read as a due-date range of
    /// the index `invoices_open_by_due`, credit notes apart. Also what is
    /// owed per currency, as [`Store::open_by_currency`] gives it.
    pub fn aged_totals(&self, tenant: &TenantId, as_of: NaiveDate) -> Result<AgedTotals, StoreError> {
        let [t0, t1, t2, t3] = AgeBucket::thresholds(as_of).map(day_text);
        let bucket_of = "(CASE WHEN i.due_date < ?2 THEN 1 ELSE 0 END) + (CASE WHEN i.due_date < ?3 THEN 1 ELSE 0 END)
            + (CASE WHEN i.due_date < ?4 THEN 1 ELSE 0 END) + (CASE WHEN i.due_date < ?5 THEN 1 ELSE 0 END)";
        let range = |bucket: usize, cond: &str| {
            format!(
                "SELECT i.currency, {bucket}, sum(i.open_minor) FROM invoices i
                  WHERE i.tenant_id=?1 AND {OUTSTANDING} AND i.open_minor > 0 AND {cond} GROUP BY i.currency"
            )
        };
        let totals_sql = [
            range(0, "i.due_date >= ?2"),
            range(1, "i.due_date < ?2 AND i.due_date >= ?3"),
            range(2, "i.due_date < ?3 AND i.due_date >= ?4"),
            range(3, "i.due_date < ?4 AND i.due_date >= ?5"),
            range(4, "i.due_date < ?5"),
            format!(
                "SELECT i.currency, {bucket_of}, sum(i.open_minor) FROM invoices i
                  WHERE i.tenant_id=?1 AND i.status='credit_note' AND i.open_minor < 0 GROUP BY 1, 2"
            ),
        ]
        .join(" UNION ALL ");
        self.db.read_any(|db| {
            let mut out = AgedTotals::default();
            let mut open: BTreeMap<Currency, i64> = BTreeMap::new();
            let rows = db.query(&totals_sql, args![tenant.as_str(), t0, t1, t2, t3])?;
            for r in &rows {
                let ccy = currency(&r.get::<String>(0)?)?;
                let slot: i64 = r.get(1)?;
                let bucket = usize::try_from(slot)
                    .ok()
                    .and_then(|s| AgeBucket::ALL.get(s))
                    .ok_or_else(|| StoreError::Corrupt(format!("aged balance bucket {slot}")))?;
                let amount: i64 = r.get(2)?;
                let owed = open.entry(ccy).or_insert(0i64);
                *owed = owed.checked_add(amount).ok_or_else(|| StoreError::Corrupt("receivables overflow".into()))?;
                if amount != 0 {
                    out.totals.push(BucketSum {
                        key: String::new(),
                        name: None,
                        bucket: *bucket,
                        amount: Money::new(amount, ccy),
                    });
                }
            }
            out.open = open.into_iter().map(|(ccy, owed)| Money::new(owed, ccy)).collect();
            Ok(out)
        })
    }

    /// The `top` customers of each currency who owe the most on `as_of`
    /// (ties by id), with their aged buckets and names; and how many
    /// (customer, currency) rows the whole aged balance has.
    pub fn largest_debtors(&self, tenant: &TenantId, as_of: NaiveDate, top: u32) -> Result<LargestDebtors, StoreError> {
        let [t0, t1, t2, t3] = AgeBucket::thresholds(as_of).map(day_text);
        // The largest debts: one sum per row over `invoices_receivable` (in its
        // order, no sorting: SQLite sorts 50,000 groups slower than it sums them),
        // the `top` of each currency kept here; then the buckets of those few only.
        let per_sql = format!(
            "SELECT i.customer_id, i.currency, sum(i.open_minor) FROM invoices i
              WHERE i.tenant_id=?1 AND {RECEIVABLE} GROUP BY i.customer_id, i.currency"
        );
        let buckets_sql = format!(
            "SELECT (SELECT c.name FROM customers c WHERE c.tenant_id=?1 AND c.id=?6),
                    sum(CASE WHEN i.due_date >= ?2 THEN i.open_minor ELSE 0 END),
                    sum(CASE WHEN i.due_date < ?2 AND i.due_date >= ?3 THEN i.open_minor ELSE 0 END),
                    sum(CASE WHEN i.due_date < ?3 AND i.due_date >= ?4 THEN i.open_minor ELSE 0 END),
                    sum(CASE WHEN i.due_date < ?4 AND i.due_date >= ?5 THEN i.open_minor ELSE 0 END),
                    sum(CASE WHEN i.due_date < ?5 THEN i.open_minor ELSE 0 END)
               FROM invoices i WHERE i.tenant_id=?1 AND i.customer_id=?6 AND i.currency=?7 AND {RECEIVABLE}"
        );
        self.db.read_any(|db| {
            let mut out = LargestDebtors::default();
            // Per currency, a min-heap of the `top` largest (owed, then the smaller id).
            type Debt = std::cmp::Reverse<(i64, std::cmp::Reverse<String>)>;
            let mut largest: BTreeMap<String, std::collections::BinaryHeap<Debt>> = BTreeMap::new();
            let rows = db.query(&per_sql, args![tenant.as_str()])?;
            let keep = usize::try_from(top).unwrap_or(usize::MAX);
            for r in &rows {
                out.rows += 1;
                let debt: Debt = std::cmp::Reverse((r.get(2)?, std::cmp::Reverse(r.get(0)?)));
                let heap = largest.entry(r.get(1)?).or_default();
                // The heap's top is the smallest debt kept: a larger one takes its place.
                if heap.len() < keep || heap.peek().is_some_and(|least| debt < *least) {
                    heap.push(debt);
                    if heap.len() > keep {
                        heap.pop();
                    }
                }
            }
            for (code, heap) in largest {
                let ccy = currency(&code)?;
                for std::cmp::Reverse((_, std::cmp::Reverse(key))) in heap {
                    let r = db.query_one(&buckets_sql, args![tenant.as_str(), t0, t1, t2, t3, key, code])?;
                    let (name, amounts): (Option<String>, [i64; 5]) =
                        (r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]);
                    for (bucket, amount) in AgeBucket::ALL.iter().zip::<[i64; 5]>(amounts) {
                        if amount != 0 {
                            out.top.push(BucketSum {
                                key: key.clone(),
                                name: name.clone(),
                                bucket: *bucket,
                                amount: Money::new(amount, ccy),
                            });
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    /// The amounts invoiced per month and currency as
    /// [`Store::monthly_invoiced`] gives them from `from`, but read month by
    /// month back from `as_of`'s and only until the months read cover
    /// `owed` in each of its currencies (a DSO countback then needs no
    /// older month: its figure is the same as over the whole history).
    /// Each month is a range of the index `invoices_issued`.
    pub fn invoiced_months_back(
        &self,
        tenant: &TenantId,
        as_of: NaiveDate,
        from: NaiveDate,
        owed: &[Money],
    ) -> Result<Vec<MonthSales>, StoreError> {
        let sql = format!(
            "SELECT i.currency, sum(i.total_minor) FROM invoices i
              WHERE i.tenant_id=?1 AND i.issue_date >= ?2 AND i.issue_date < ?3 AND {INVOICES} GROUP BY i.currency"
        );
        let first = |d: NaiveDate| d.with_day(1).unwrap_or(d);
        let (oldest, mut month) = (first(from), first(as_of));
        let mut left: BTreeMap<Currency, i128> = BTreeMap::new();
        for o in owed {
            *left.entry(o.currency).or_default() += i128::from(o.minor);
        }
        self.db.read_any(|db| {
            let mut out = Vec::new();
            while month >= oldest && left.values().any(|l| *l > 0) {
                let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX);
                let rows = db.query(&sql, args![tenant.as_str(), day_text(month), day_text(next)])?;
                for r in &rows {
                    let ccy = currency(&r.get::<String>(0)?)?;
                    let invoiced: i64 = r.get(1)?;
                    if let Some(l) = left.get_mut(&ccy) {
                        *l -= i128::from(invoiced);
                    }
                    out.push(MonthSales { month, invoiced: Money::new(invoiced, ccy) });
                }
                let Some(previous) = month.checked_sub_months(chrono::Months::new(1)) else { break };
                month = previous;
            }
            Ok(out)
        })
    }

    /// What the tenant is owed now, one amount per currency (the aged
    /// balance's items: outstanding invoices and open credit notes).
    pub fn open_by_currency(&self, tenant: &TenantId) -> Result<Vec<Money>, StoreError> {
        let sql = format!(
            "SELECT i.currency, sum(i.open_minor) FROM invoices i WHERE i.tenant_id=?1 AND {RECEIVABLE}
              GROUP BY i.currency ORDER BY i.currency"
        );
        self.db.read_any(|db| {
            db.query(&sql, args![tenant.as_str()])?
                .iter()
                .map(|r| Ok(Money::new(r.get(1)?, currency(&r.get::<String>(0)?)?)))
                .collect()
        })
    }

    /// The pieces of receivables behind the overdue-over-time series at
    /// month ends from `first_end` to `last_end` (see
    /// `relance_engine::reports::overdue`), summed in SQL by due date and
    /// month. Invoices only (no credit notes, no cancelled invoices), due on
    /// or before `last_end`:
    ///
    /// - what is open today, never settled;
    /// - every live allocation, settled in the month its payment was booked;
    /// - what was settled outside Relance (total − open today − allocations),
    ///   dated in the month Relance last saw the invoice change: the store
    ///   keeps no history of the amounts an ERP reported, so this is the
    ///   approximation (exact for invoices only Relance settles; an invoice
    ///   first seen already paid counts as paid when first seen).
    ///
    /// The third kind is read as `(total − open)` settled at the last
    /// change, plus each allocation moved from the last change to its
    /// booking month (a negative piece at the one, a positive at the other).
    /// Invoices last changed in or before `first_end`'s month add nothing
    /// but their open amount, so their settled part is not read.
    pub fn overdue_pieces(
        &self,
        tenant: &TenantId,
        first_end: NaiveDate,
        last_end: NaiveDate,
    ) -> Result<Vec<OverduePiece>, StoreError> {
        let open_sql = format!(
            "SELECT i.due_date, i.currency, sum(i.open_minor) FROM invoices i
              WHERE i.tenant_id=?1 AND {OUTSTANDING} AND i.due_date <= ?2 AND i.total_minor > 0
              GROUP BY i.due_date, i.currency"
        );
        let changed_sql = format!(
            "SELECT substr(i.updated_at, 1, 7), i.due_date, i.currency,
                    sum(i.total_minor - CASE WHEN {OUTSTANDING} THEN i.open_minor ELSE 0 END)
               FROM invoices i
              WHERE i.tenant_id=?1 AND {INVOICES} AND substr(i.updated_at, 1, 7) > ?3 AND i.due_date <= ?2
              GROUP BY substr(i.updated_at, 1, 7), i.due_date, i.currency"
        );
        // Applying a payment changes its invoice, so an allocation's booking
        // month is never after its invoice's last change: invoices last
        // changed before the first month end have nothing to move.
        let allocations_sql = format!(
            "SELECT i.due_date, substr(p.booking_date, 1, 7) AS booked, substr(i.updated_at, 1, 7) AS changed,
                    i.currency, sum(a.amount_minor + a.write_off_minor)
               FROM invoices i
               JOIN allocations a ON a.tenant_id=i.tenant_id AND a.invoice_number=i.number AND a.undone_at IS NULL
               JOIN payments p ON p.id=a.payment_id
              WHERE i.tenant_id=?1 AND {INVOICES} AND substr(i.updated_at, 1, 7) > ?3 AND i.due_date <= ?2
                AND substr(p.booking_date, 1, 7) <> substr(i.updated_at, 1, 7)
              GROUP BY i.due_date, booked, changed, i.currency"
        );
        let (last, first_month) = (day_text(last_end), first_end.format("%Y-%m").to_string());
        let t = tenant.as_str();
        // The three reads are independent: each on its own connection, at once.
        let open = || -> Result<Vec<OverduePiece>, StoreError> {
            self.db.read_any(|db| {
                let mut out = Vec::new();
                for r in &db.query(&open_sql, args![t, last])? {
                    let due = parse_day(&r.get::<String>(0)?, "due date")?;
                    let ccy = currency(&r.get::<String>(1)?)?;
                    out.push(OverduePiece { due, settled: None, amount: Money::new(r.get(2)?, ccy) });
                }
                Ok(out)
            })
        };
        let changed = || -> Result<Vec<OverduePiece>, StoreError> {
            self.db.read_any(|db| {
                let mut out = Vec::new();
                for r in &db.query(&changed_sql, args![t, last, first_month])? {
                    let changed = parse_month(&r.get::<String>(0)?, "update month")?;
                    let due = parse_day(&r.get::<String>(1)?, "due date")?;
                    let ccy = currency(&r.get::<String>(2)?)?;
                    out.push(OverduePiece { due, settled: Some(changed), amount: Money::new(r.get(3)?, ccy) });
                }
                Ok(out)
            })
        };
        let moved = || -> Result<Vec<OverduePiece>, StoreError> {
            self.db.read_any(|db| {
                let mut out = Vec::new();
                for r in &db.query(&allocations_sql, args![t, last, first_month])? {
                    let due = parse_day(&r.get::<String>(0)?, "due date")?;
                    let booked = parse_month(&r.get::<String>(1)?, "booking month")?;
                    let changed = parse_month(&r.get::<String>(2)?, "update month")?;
                    let ccy = currency(&r.get::<String>(3)?)?;
                    let amount: i64 = r.get(4)?;
                    let minus =
                        amount.checked_neg().ok_or_else(|| StoreError::Corrupt(format!("allocation sum {amount}")))?;
                    out.push(OverduePiece { due, settled: Some(booked), amount: Money::new(amount, ccy) });
                    out.push(OverduePiece { due, settled: Some(changed), amount: Money::new(minus, ccy) });
                }
                Ok(out)
            })
        };
        let (a, b, c) = std::thread::scope(|scope| {
            let b = scope.spawn(changed);
            let c = scope.spawn(moved);
            let a = open();
            let join = |h: std::thread::ScopedJoinHandle<'_, Result<Vec<OverduePiece>, StoreError>>| {
                h.join().unwrap_or_else(|_| Err(StoreError::Corrupt("an overdue read panicked".into())))
            };
            (a, join(b), join(c))
        });
        let mut out = a?;
        out.extend(b?);
        out.extend(c?);
        Ok(out)
    }

    /// The money applied to invoices from payments booked between `from` and
    /// `to` (inclusive), as DMP settlements: live allocations (write-offs
    /// left out), paid on the payment's booking date, summed per due date,
    /// booking date and currency.
    pub fn settlements(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Settlement>, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT i.due_date, p.booking_date, a.currency, sum(a.amount_minor)
                   FROM payments p
                   JOIN allocations a ON a.tenant_id=p.tenant_id AND a.payment_id=p.id
                   JOIN invoices i ON i.tenant_id=a.tenant_id AND i.number=a.invoice_number
                  WHERE p.tenant_id=?1 AND p.booking_date >= ?2 AND p.booking_date <= ?3 AND a.undone_at IS NULL
                    AND a.amount_minor > 0
                  GROUP BY i.due_date, p.booking_date, a.currency",
                args![tenant.as_str(), day_text(from), day_text(to)],
            )?;
            rows.iter()
                .map(|r| {
                    let (due, paid, ccy, amount): (String, String, String, i64) =
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    Ok(Settlement {
                        due: parse_day(&due, "due date")?,
                        paid_on: parse_day(&paid, "booking date")?,
                        amount: Money::new(amount, currency(&ccy)?),
                    })
                })
                .collect()
        })
    }

    /// Promises whose promised date falls between `from` and `to`
    /// (inclusive), counted by status (promises without a date are left out).
    pub fn promise_counts(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<PromiseCounts, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT status, count(*) FROM promises
                  WHERE tenant_id=?1 AND promised_date >= ?2 AND promised_date <= ?3 GROUP BY status",
                args![tenant.as_str(), day_text(from), day_text(to)],
            )?;
            let mut out = PromiseCounts::default();
            for r in &rows {
                let (status, n): (String, i64) = (r.get(0)?, r.get(1)?);
                let status: PromiseStatus =
                    status.parse().map_err(|e: UnknownState| StoreError::Corrupt(e.to_string()))?;
                let slot = match status {
                    PromiseStatus::Kept => &mut out.kept,
                    PromiseStatus::Broken => &mut out.broken,
                    PromiseStatus::Pending => &mut out.pending,
                    PromiseStatus::Lapsed => &mut out.lapsed,
                    PromiseStatus::Cancelled => &mut out.cancelled,
                };
                *slot += count(n);
            }
            Ok(out)
        })
    }

    /// Reminders sent in `[from, to)` (the outbox rows `sent`, by the time
    /// they were sent), counted per scenario step and channel, sorted by step
    /// then channel.
    pub fn reminders_sent(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ReminderCount>, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT step_id, channel, count(*) FROM outbox
                  WHERE tenant_id=?1 AND status='sent' AND sent_at >= ?2 AND sent_at < ?3
                  GROUP BY step_id, channel ORDER BY step_id, channel",
                args![tenant.as_str(), instant_text(from), instant_text(to)],
            )?;
            rows.iter()
                .map(|r| {
                    let (step, channel, n): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                    let channel = parse_channel(&channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("outbox channel `{channel}`")))?;
                    Ok(ReminderCount { step, channel, sent: count(n) })
                })
                .collect()
        })
    }

    /// Replies received in `[from, to)` (by the time Relance read them),
    /// counted per intent: the stored intent, which a person's correction
    /// replaces, so corrected replies count under the corrected intent.
    /// `None`: not understood (stored, quarantined).
    pub fn replies_by_intent(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Option<Intent>, u64)>, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT intent, count(*) FROM inbound_messages
                  WHERE tenant_id=?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY intent",
                args![tenant.as_str(), instant_text(from), instant_text(to)],
            )?;
            rows.iter()
                .map(|r| {
                    let (intent, n): (Option<String>, i64) = (r.get(0)?, r.get(1)?);
                    let intent = intent
                        .map(|i| i.parse::<Intent>().map_err(|e| StoreError::Corrupt(e.to_string())))
                        .transpose()?;
                    Ok((intent, count(n)))
                })
                .collect()
        })
    }
}
