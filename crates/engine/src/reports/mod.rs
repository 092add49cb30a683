//! Collections reporting figures, pure: aged balance (per customer or
//! segment), DSO (countback), DMP, overdue amount over time, promise-kept
//! rate, and the count tables (reminders by step and channel, replies by
//! intent); [`svg`] draws them as charts. The runtime gathers the inputs
//! from the store; nothing here reads the clock (`as_of` is an argument).
//!
//! Definitions (the README states them for users):
//! - **Aged balance**: open amounts by days past due on `as_of`: not due
//!   (due on or after `as_of`), 1–30, 31–60, 61–90, over 90 days; per
//!   customer or per segment, and per currency, never converted. Credit
//!   notes count negative.
//! - **Overdue over time** ([`overdue`]): at the close of each month, the
//!   sum of what was still unpaid on invoices due in or before that month.
//! - **DSO, countback method**: start from the receivables open on `as_of`
//!   and walk back month by month (the month of `as_of` first, counted up to
//!   `as_of`), taking each month's invoiced amount away from it; every month
//!   wholly absorbed adds its number of days, and the month where the balance
//!   runs out adds its days in proportion (remaining / that month's sales).
//!   If the history runs out first, DSO is the days of the whole history
//!   (a lower bound, flagged).
//! - **DMP** (délai moyen de paiement): over the invoices paid in the
//!   period, the average of (payment date − due date) in days, weighted by
//!   the amount paid; negative when customers pay early.
//! - **Promise-kept rate**: kept promises / (kept + broken) whose date fell
//!   in the period ([`counts`]).
//!
//! Figures that are ratios are exact rationals rounded once, half away from
//! zero, to tenths of a day or basis points; amounts stay [`Money`].

pub mod counts;
pub mod overdue;
pub mod svg;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use relance_domain::money::{Currency, Money, MoneyError};

pub use counts::{
    DmpFigure, IntentCount, PromiseCounts, ReminderCount, channel_name, dmp_by_currency, parse_channel,
    replies_by_intent,
};
pub use overdue::{OverduePiece, OverduePoint, OverdueSeries, month_ends, overdue_series};

/// Days-past-due buckets of the aged balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeBucket {
    NotDue,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl AgeBucket {
    pub const ALL: [AgeBucket; 5] =
        [AgeBucket::NotDue, AgeBucket::Days1To30, AgeBucket::Days31To60, AgeBucket::Days61To90, AgeBucket::Over90];

    /// The bucket of an item due on `due`, seen on `as_of`.
    pub fn of(due: NaiveDate, as_of: NaiveDate) -> AgeBucket {
        match (as_of - due).num_days() {
            d if d <= 0 => AgeBucket::NotDue,
            1..=30 => AgeBucket::Days1To30,
            31..=60 => AgeBucket::Days31To60,
            61..=90 => AgeBucket::Days61To90,
            _ => AgeBucket::Over90,
        }
    }

    /// The smallest due date of each bucket but the last, on `as_of`: an
    /// item is [`AgeBucket::NotDue`] when due on or after `[0]`, 1–30 when due
    /// on or after `[1]`, 31–60 from `[2]`, 61–90 from `[3]`, else over 90.
    /// The store compares due dates with them to group in SQL.
    pub fn thresholds(as_of: NaiveDate) -> [NaiveDate; 4] {
        let back = |days: u64| as_of.checked_sub_days(chrono::Days::new(days)).unwrap_or(NaiveDate::MIN);
        [as_of, back(30), back(60), back(90)]
    }

    /// The bucket's position in [`AgeBucket::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable name used in the API and CSV (`not_due`, `days_1_to_30`…).
    pub fn as_str(self) -> &'static str {
        match self {
            AgeBucket::NotDue => "not_due",
            AgeBucket::Days1To30 => "days_1_to_30",
            AgeBucket::Days31To60 => "days_31_to_60",
            AgeBucket::Days61To90 => "days_61_to_90",
            AgeBucket::Over90 => "over_90",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AgeBucket::NotDue => "not due",
            AgeBucket::Days1To30 => "1-30",
            AgeBucket::Days31To60 => "31-60",
            AgeBucket::Days61To90 => "61-90",
            AgeBucket::Over90 => "> 90",
        }
    }
}

/// One open item (an invoice's open amount, or a credit note's, negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub customer: String,
    pub due: NaiveDate,
    pub open: Money,
}

/// What the rows of an aged balance are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgedGrouping {
    /// One row per customer (id) and currency.
    #[default]
    Customer,
    /// One row per customer segment and currency; customers without a
    /// segment are grouped under the empty key.
    Segment,
}

impl AgedGrouping {
    pub fn as_str(self) -> &'static str {
        match self {
            AgedGrouping::Customer => "customer",
            AgedGrouping::Segment => "segment",
        }
    }

    /// Reads `customer` or `segment`.
    pub fn parse(text: &str) -> Option<AgedGrouping> {
        match text {
            "customer" => Some(AgedGrouping::Customer),
            "segment" => Some(AgedGrouping::Segment),
            _ => None,
        }
    }
}

/// Open amounts of one group (customer or segment) in one currency, by bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgedRow {
    /// The customer id or the segment (empty: no segment; empty in totals).
    pub key: String,
    /// The customer's name, when grouping by customer and it is known.
    pub name: Option<String>,
    pub currency: Currency,
    /// In [`AgeBucket::ALL`] order.
    pub buckets: [Money; 5],
    pub total: Money,
}

/// The aged balance on `as_of`: one row per (group, currency), sorted by
/// key then currency, and the totals per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgedBalance {
    pub as_of: NaiveDate,
    pub by: AgedGrouping,
    pub rows: Vec<AgedRow>,
    pub totals: Vec<AgedRow>,
}

impl AgedBalance {
    /// Keeps, per currency, the `top` rows owing the most (ties by key),
    /// largest first, currencies in code order; the totals still cover
    /// every row. Returns how many rows there were before.
    pub fn keep_largest(&mut self, top: usize) -> usize {
        let before = self.rows.len();
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_by(|a, b| {
            a.currency.code().cmp(b.currency.code()).then(b.total.minor.cmp(&a.total.minor)).then(a.key.cmp(&b.key))
        });
        let mut kept = 0usize;
        let mut current: Option<Currency> = None;
        for r in rows {
            if current != Some(r.currency) {
                current = Some(r.currency);
                kept = 0;
            }
            if kept < top {
                kept += 1;
                self.rows.push(r);
            }
        }
        before
    }
}

/// An amount already summed by the store for one group, currency and bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSum {
    pub key: String,
    pub name: Option<String>,
    pub bucket: AgeBucket,
    pub amount: Money,
}

/// Why a figure could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("amounts in {0} and {1} cannot be added")]
    Currency(Currency, Currency),
}

/// Builds the aged balance of `items` on `as_of`, per customer.
pub fn aged_balance(items: &[OpenItem], as_of: NaiveDate) -> Result<AgedBalance, ReportError> {
    let sums: Vec<BucketSum> = items
        .iter()
        .map(|i| BucketSum { key: i.customer.clone(), name: None, bucket: AgeBucket::of(i.due, as_of), amount: i.open })
        .collect();
    aged_balance_from_sums(&sums, as_of, AgedGrouping::Customer)
}

/// Builds the aged balance from amounts the store summed per group and
/// bucket (several sums of one group and bucket add up).
pub fn aged_balance_from_sums(
    sums: &[BucketSum],
    as_of: NaiveDate,
    by: AgedGrouping,
) -> Result<AgedBalance, ReportError> {
    let mut rows: BTreeMap<(String, Currency), AgedRow> = BTreeMap::new();
    let mut totals: BTreeMap<Currency, AgedRow> = BTreeMap::new();
    for sum in sums {
        let ccy = sum.amount.currency;
        let slot = sum.bucket.index();
        let row = rows.entry((sum.key.clone(), ccy)).or_insert_with(|| empty_row(&sum.key, ccy));
        if row.name.is_none() {
            row.name.clone_from(&sum.name);
        }
        add_to(row, slot, sum.amount)?;
        add_to(totals.entry(ccy).or_insert_with(|| empty_row("", ccy)), slot, sum.amount)?;
    }
    Ok(AgedBalance { as_of, by, rows: rows.into_values().collect(), totals: totals.into_values().collect() })
}

fn add_to(row: &mut AgedRow, slot: usize, amount: Money) -> Result<(), ReportError> {
    row.buckets[slot] = row.buckets[slot].checked_add(amount)?;
    row.total = row.total.checked_add(amount)?;
    Ok(())
}

fn empty_row(key: &str, ccy: Currency) -> AgedRow {
    let zero = Money::new(0, ccy);
    AgedRow { key: key.to_string(), name: None, currency: ccy, buckets: [zero; 5], total: zero }
}

/// Invoiced amount of one calendar month, in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSales {
    /// Any day of the month (the first, by convention).
    pub month: NaiveDate,
    pub invoiced: Money,
}

/// A DSO figure in tenths of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dso {
    pub tenths_of_days: i64,
    /// True when the receivables exceed the whole sales history given: the
    /// figure is then the history's length, a lower bound.
    pub history_exhausted: bool,
}

/// DSO by the countback method (see the module documentation). `receivables`
/// is what is open on `as_of`; `sales` the invoiced amount per month, in any
/// order, in the receivables' currency (other currencies are an error).
pub fn dso_countback(receivables: Money, sales: &[MonthSales], as_of: NaiveDate) -> Result<Dso, ReportError> {
    let ccy = receivables.currency;
    let mut by_month: BTreeMap<(i32, u32), i128> = BTreeMap::new();
    for s in sales {
        if s.invoiced.currency != ccy {
            return Err(ReportError::Currency(ccy, s.invoiced.currency));
        }
        *by_month.entry((s.month.year(), s.month.month())).or_default() += i128::from(s.invoiced.minor);
    }
    let mut remaining = i128::from(receivables.minor);
    // Whole days so far, and the proportional part as a rational (num / den) of days.
    let mut days: i128 = 0;
    let mut month = first_of_month(as_of);
    let oldest = by_month.keys().next().copied();
    loop {
        if remaining <= 0 {
            return Ok(Dso { tenths_of_days: to_tenths(days, 1), history_exhausted: false });
        }
        let key = (month.year(), month.month());
        if oldest.is_none_or(|o| key < o) {
            return Ok(Dso { tenths_of_days: to_tenths(days, 1), history_exhausted: true });
        }
        // Days of this month counted: up to as_of for the current month, else all of it.
        let month_days = if key == (as_of.year(), as_of.month()) {
            i128::from(as_of.day())
        } else {
            i128::from(days_in_month(month))
        };
        let invoiced = by_month.get(&key).copied().unwrap_or(0);
        if invoiced > 0 && remaining < invoiced {
            // days + month_days * remaining / invoiced, rounded once.
            let num = days * invoiced + month_days * remaining;
            return Ok(Dso { tenths_of_days: to_tenths(num, invoiced), history_exhausted: false });
        }
        remaining -= invoiced;
        days += month_days;
        month = previous_month(month);
    }
}

/// The DSO of one currency: what is open in it and the countback figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DsoFigure {
    pub currency: Currency,
    pub receivables: Money,
    pub dso: Dso,
}

/// DSO by the countback method for each currency of `receivables` (one
/// amount per currency; several of one currency add up), each against the
/// sales of its own currency. Sorted by currency code.
pub fn dso_by_currency(
    receivables: &[Money],
    sales: &[MonthSales],
    as_of: NaiveDate,
) -> Result<Vec<DsoFigure>, ReportError> {
    let mut open: BTreeMap<Currency, Money> = BTreeMap::new();
    for r in receivables {
        let sum = open.entry(r.currency).or_insert(Money::zero(r.currency));
        *sum = sum.checked_add(*r)?;
    }
    open.into_values()
        .map(|receivables| {
            let history: Vec<MonthSales> =
                sales.iter().filter(|s| s.invoiced.currency == receivables.currency).copied().collect();
            let dso = dso_countback(receivables, &history, as_of)?;
            Ok(DsoFigure { currency: receivables.currency, receivables, dso })
        })
        .collect()
}

/// A paid invoice for DMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub due: NaiveDate,
    pub paid_on: NaiveDate,
    pub amount: Money,
}

/// DMP: average of (paid − due) in days weighted by the amount, in tenths of
/// a day; `None` without settlements (or when they sum to zero).
pub fn dmp(settlements: &[Settlement]) -> Result<Option<i64>, ReportError> {
    let Some(first) = settlements.first() else { return Ok(None) };
    let ccy = first.amount.currency;
    let (mut weighted, mut total) = (0i128, 0i128);
    for s in settlements {
        if s.amount.currency != ccy {
            return Err(ReportError::Currency(ccy, s.amount.currency));
        }
        let amount = i128::from(s.amount.minor);
        weighted += amount * i128::from((s.paid_on - s.due).num_days());
        total += amount;
    }
    Ok((total != 0).then(|| to_tenths(weighted, total)))
}

/// Share of kept promises among those decided (kept or broken), in basis
/// points; `None` when none was decided.
pub fn promise_kept_rate_bp(kept: u64, broken: u64) -> Option<u32> {
    ratio_bp(kept, kept.saturating_add(broken))
}

/// Tenths as a decimal string: 533 → `53.3`, -13 → `-1.3`.
pub fn tenths_text(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{}", (v / 10).unsigned_abs(), (v % 10).unsigned_abs())
}

/// Basis points as a percentage string: 6667 → `66.67`.
pub fn bp_percent_text(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

/// `part / whole` in basis points, rounded half up once; `None` when
/// `whole` is zero.
pub fn ratio_bp(part: u64, whole: u64) -> Option<u32> {
    (whole > 0).then(|| {
        let (part, whole) = (u128::from(part), u128::from(whole));
        u32::try_from((part * 20_000 + whole) / (whole * 2)).unwrap_or(u32::MAX)
    })
}

/// `num / den` days in tenths, rounded half away from zero (`den > 0`).
pub(crate) fn to_tenths(num: i128, den: i128) -> i64 {
    let scaled = num * 10;
    let q = scaled / den;
    let r = scaled % den;
    let rounded = if 2 * r.abs() >= den { q + scaled.signum() } else { q };
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

pub(crate) fn previous_month(first: NaiveDate) -> NaiveDate {
    first.pred_opt().map(first_of_month).unwrap_or(first)
}

pub(crate) fn days_in_month(first: NaiveDate) -> u32 {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.map_or(30, |n| u32::try_from((n - first).num_days()).unwrap_or(30))
}

// Amounts in the tests are written `major_minor` (`100_00` is 100.00).
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn gbp() -> Currency {
        Currency::parse("GBP").unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    #[test]
    fn buckets_count_days_past_due_across_month_ends() {
        let as_of = d("2026-03-01");
        assert_eq!(AgeBucket::of(d("2026-03-01"), as_of), AgeBucket::NotDue, "due today is not late");
        assert_eq!(AgeBucket::of(d("2026-02-28"), as_of), AgeBucket::Days1To30, "1 day over February's end");
        assert_eq!(AgeBucket::of(d("2026-01-30"), as_of), AgeBucket::Days1To30, "30 days: 2 in Jan + 28 in Feb");
        assert_eq!(AgeBucket::of(d("2026-01-29"), as_of), AgeBucket::Days31To60);
        assert_eq!(AgeBucket::of(d("2025-12-31"), as_of), AgeBucket::Days31To60, "60 days");
        assert_eq!(AgeBucket::of(d("2025-12-30"), as_of), AgeBucket::Days61To90);
        assert_eq!(AgeBucket::of(d("2025-12-01"), as_of), AgeBucket::Days61To90, "90 days");
        assert_eq!(AgeBucket::of(d("2025-11-30"), as_of), AgeBucket::Over90);
    }

    #[test]
    fn the_largest_debtors_per_currency_are_kept_and_the_totals_cover_all() {
        let item = |c: &str, open: Money| OpenItem { customer: c.into(), due: d("2026-02-01"), open };
        let items = [
            item("A", eur(100_00)),
            item("B", eur(300_00)),
            item("C", eur(200_00)),
            item("D", eur(300_00)),
            item("E", Money::new(50_00, gbp())),
            item("F", Money::new(70_00, gbp())),
        ];
        let mut ab = aged_balance(&items, d("2026-03-01")).unwrap();
        let totals = ab.totals.clone();
        assert_eq!(ab.keep_largest(2), 6);
        let kept: Vec<(&str, &str)> = ab.rows.iter().map(|r| (r.currency.code(), r.key.as_str())).collect();
        assert_eq!(kept, [("EUR", "B"), ("EUR", "D"), ("GBP", "F"), ("GBP", "E")], "largest first, ties by key");
        assert_eq!(ab.totals, totals, "totals over every row");
    }

    #[test]
    fn aged_balance_per_customer_and_currency_with_credit_notes() {
        let items = [
            OpenItem { customer: "C1".into(), due: d("2026-03-10"), open: eur(100_00) },
            OpenItem { customer: "C1".into(), due: d("2026-02-10"), open: eur(250_00) },
            OpenItem { customer: "C1".into(), due: d("2026-02-20"), open: eur(-50_00) },
            OpenItem { customer: "C2".into(), due: d("2025-10-01"), open: eur(1_000_00) },
            OpenItem { customer: "C2".into(), due: d("2026-01-15"), open: Money::new(300_00, gbp()) },
        ];
        let ab = aged_balance(&items, d("2026-03-01")).unwrap();
        assert_eq!(ab.rows.len(), 3);
        let c1 = &ab.rows[0];
        assert_eq!((c1.key.as_str(), c1.currency), ("C1", Currency::EUR));
        // 10 Feb → 19 days late; 20 Feb credit note → 9 days: both in 1-30, netted.
        assert_eq!(c1.buckets, [eur(100_00), eur(200_00), eur(0), eur(0), eur(0)]);
        assert_eq!(c1.total, eur(300_00));
        let c2_eur = ab.rows.iter().find(|r| r.key == "C2" && r.currency == Currency::EUR).unwrap();
        assert_eq!(c2_eur.buckets[4], eur(1_000_00), "151 days late");
        let c2_gbp = ab.rows.iter().find(|r| r.currency == gbp()).unwrap();
        assert_eq!(c2_gbp.buckets[2], Money::new(300_00, gbp()), "45 days late");
        assert_eq!(ab.totals.len(), 2, "one total row per currency, never converted");
        let eur_total = ab.totals.iter().find(|r| r.currency == Currency::EUR).unwrap();
        assert_eq!(eur_total.total, eur(1_300_00));
    }

    #[test]
    fn dso_countback_hand_computed() {
        // As of 15 March: receivables 25,000. March (to the 15th) invoiced 10,000,
        // February 12,000, January 9,000.
        // 25,000 − 10,000 (15 days) − 12,000 (28 days) = 3,000 left of January's 9,000:
        // 31 × 3,000 / 9,000 = 10.33 days. DSO = 15 + 28 + 10.33 = 53.3.
        let sales = [
            MonthSales { month: d("2026-01-01"), invoiced: eur(9_000_00) },
            MonthSales { month: d("2026-02-01"), invoiced: eur(12_000_00) },
            MonthSales { month: d("2026-03-01"), invoiced: eur(10_000_00) },
        ];
        let dso = dso_countback(eur(25_000_00), &sales, d("2026-03-15")).unwrap();
        assert_eq!(dso, Dso { tenths_of_days: 533, history_exhausted: false });
        // Receivables within the current month: 15 × 4,000 / 10,000 = 6.0 days.
        assert_eq!(dso_countback(eur(4_000_00), &sales, d("2026-03-15")).unwrap().tenths_of_days, 60);
        // Nothing open: 0.
        assert_eq!(dso_countback(eur(0), &sales, d("2026-03-15")).unwrap().tenths_of_days, 0);
        // More open than the whole history: the history's length, flagged.
        let long = dso_countback(eur(40_000_00), &sales, d("2026-03-15")).unwrap();
        assert_eq!(long, Dso { tenths_of_days: (15 + 28 + 31) * 10, history_exhausted: true });
        // A month without sales is crossed whole (a leap February here: 29 days).
        let gap = [
            MonthSales { month: d("2024-01-01"), invoiced: eur(6_200_00) },
            MonthSales { month: d("2024-03-01"), invoiced: eur(1_000_00) },
        ];
        // 31 March: 4,100 − 1,000 (31 days) − 0 (29 days) = 3,100 of January's 6,200: 15.5 days.
        assert_eq!(dso_countback(eur(4_100_00), &gap, d("2024-03-31")).unwrap().tenths_of_days, 755);
        let gbp = [MonthSales { month: d("2026-03-01"), invoiced: Money::new(1, gbp()) }];
        assert!(dso_countback(eur(1), &gbp, d("2026-03-15")).is_err(), "no silent conversion");
    }

    #[test]
    fn dso_per_currency_across_30_and_31_day_months_hand_computed() {
        // As of 10 July 2025 (July counts 10 days).
        // EUR: open 50,000. July invoiced 8,000, June (30 days) 20,000, May (31) 15,000,
        // April (30) 30,000. 50,000 − 8,000 = 42,000 (10 d); − 20,000 = 22,000 (30 d);
        // − 15,000 = 7,000 (31 d); April: 30 × 7,000 / 30,000 = 7.0 d. DSO = 78.0.
        // GBP: open 1,000; nothing invoiced in July (10 days crossed whole), June 3,000:
        // 30 × 1,000 / 3,000 = 10.0 d. DSO = 20.0.
        let gbp = |m: i64| Money::new(m, gbp());
        let sales = [
            MonthSales { month: d("2025-04-01"), invoiced: eur(30_000_00) },
            MonthSales { month: d("2025-05-01"), invoiced: eur(15_000_00) },
            MonthSales { month: d("2025-06-01"), invoiced: eur(20_000_00) },
            MonthSales { month: d("2025-07-01"), invoiced: eur(8_000_00) },
            MonthSales { month: d("2025-06-01"), invoiced: gbp(3_000_00) },
        ];
        // Receivables come as open items: two EUR amounts add up (one a credit note).
        let open = [eur(50_500_00), gbp(1_000_00), eur(-500_00)];
        let figures = dso_by_currency(&open, &sales, d("2025-07-10")).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!((figures[0].currency, figures[0].receivables), (Currency::EUR, eur(50_000_00)));
        assert_eq!(figures[0].dso, Dso { tenths_of_days: 780, history_exhausted: false });
        assert_eq!(figures[1].currency, gbp(0).currency);
        assert_eq!(figures[1].dso, Dso { tenths_of_days: 200, history_exhausted: false });
        assert_eq!(tenths_text(figures[0].dso.tenths_of_days), "78.0");
    }

    #[test]
    fn thresholds_agree_with_buckets_and_segments_group_sums() {
        let as_of = d("2026-03-31");
        let [not_due, b30, b60, b90] = AgeBucket::thresholds(as_of);
        // 31 March − 30 days = 1 March; − 60 = 30 January; − 90 = 31 December.
        assert_eq!([not_due, b30, b60, b90], [as_of, d("2026-03-01"), d("2026-01-30"), d("2025-12-31")]);
        for (due, bucket) in [(b30, AgeBucket::Days1To30), (b60, AgeBucket::Days31To60), (b90, AgeBucket::Days61To90)] {
            assert_eq!(AgeBucket::of(due, as_of), bucket);
            assert_eq!(AgeBucket::of(due.pred_opt().unwrap(), as_of).index(), bucket.index() + 1);
        }
        let sums = [
            BucketSum { key: "retail".into(), name: None, bucket: AgeBucket::Over90, amount: eur(70_00) },
            BucketSum { key: "".into(), name: None, bucket: AgeBucket::NotDue, amount: eur(5_00) },
            BucketSum { key: "retail".into(), name: None, bucket: AgeBucket::Over90, amount: eur(30_00) },
            BucketSum { key: "retail".into(), name: None, bucket: AgeBucket::Days1To30, amount: eur(-10_00) },
        ];
        let ab = aged_balance_from_sums(&sums, as_of, AgedGrouping::Segment).unwrap();
        assert_eq!(ab.rows.len(), 2);
        assert_eq!((ab.rows[0].key.as_str(), ab.rows[0].total), ("", eur(5_00)), "no segment sorts first");
        assert_eq!(ab.rows[1].buckets, [eur(0), eur(-10_00), eur(0), eur(0), eur(100_00)]);
        assert_eq!(ab.totals[0].total, eur(95_00));
        assert_eq!(AgedGrouping::parse("segment"), Some(AgedGrouping::Segment));
        assert_eq!(AgedGrouping::parse("region"), None);
    }

    #[test]
    fn dmp_is_weighted_by_amount_and_can_be_negative() {
        let s = [
            // 10 days late on 1,000; 5 days early on 3,000: (10 000 − 15 000) / 4 000 = −1.25 → −1.3
            Settlement { due: d("2026-01-31"), paid_on: d("2026-02-10"), amount: eur(1_000_00) },
            Settlement { due: d("2026-02-28"), paid_on: d("2026-02-23"), amount: eur(3_000_00) },
        ];
        assert_eq!(dmp(&s).unwrap(), Some(-13));
        // Across a year end: 31 Dec → 30 Jan is 30 days.
        let y = [Settlement { due: d("2025-12-31"), paid_on: d("2026-01-30"), amount: eur(5_00) }];
        assert_eq!(dmp(&y).unwrap(), Some(300));
        assert_eq!(dmp(&[]).unwrap(), None);
    }

    #[test]
    fn promise_kept_rate_rounds_once() {
        assert_eq!(promise_kept_rate_bp(2, 1), Some(6667));
        assert_eq!(promise_kept_rate_bp(0, 0), None);
        assert_eq!(promise_kept_rate_bp(5, 0), Some(10_000));
    }

    #[test]
    fn texts_of_tenths_and_basis_points() {
        assert_eq!(tenths_text(-13), "-1.3");
        assert_eq!(tenths_text(-3), "-0.3");
        assert_eq!(tenths_text(0), "0.0");
        assert_eq!(bp_percent_text(6667), "66.67");
        assert_eq!(bp_percent_text(5), "0.05");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(to_tenths(1, 4), 3, "0.25 → 0.3");
        assert_eq!(to_tenths(-1, 4), -3, "−0.25 → −0.3");
        assert_eq!(to_tenths(1, 3), 3, "0.333 → 0.3");
    }
}
