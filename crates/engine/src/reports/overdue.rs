//! Overdue amount over time: at the close of each of the last months, the
//! sum of what was still unpaid on invoices due in or before that month, per
//! currency.
//!
//! An amount is **overdue at the close of day `d`** when its invoice was due
//! on or before `d` (`due <= d`: at the close of its due date an unpaid
//! invoice is late) and it was not settled by `d` (settled after `d`, or not
//! at all). At month ends this makes every figure a function of due and
//! settlement *months*, which the store groups by.
//!
//! The input is a list of [`OverduePiece`]s: pieces of receivables, each
//! open from its due date until it was settled. The store cuts every invoice
//! into such pieces (what is open today, each payment applied with the date
//! the bank booked it, and what was settled outside Relance dated when
//! Relance saw it); a piece may be negative when the store expresses a
//! correction as a difference. Summing pieces is exact (checked [`Money`]).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use relance_domain::money::{Currency, Money};

use super::{ReportError, days_in_month, first_of_month, previous_month};

/// A piece of receivables: `amount` was owed from `due` and settled on
/// `settled` (`None`: still open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverduePiece {
    pub due: NaiveDate,
    /// The settlement day; for month-end figures any day of the settlement
    /// month gives the same result (the store passes the first), and so
    /// does any day of the due month for `due`.
    pub settled: Option<NaiveDate>,
    pub amount: Money,
}

impl OverduePiece {
    /// Whether the piece counts as overdue at the close of `day`.
    pub fn overdue_at(&self, day: NaiveDate) -> bool {
        self.due <= day && self.settled.is_none_or(|s| s > day)
    }
}

/// One month end of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OverduePoint {
    pub month_end: NaiveDate,
    pub overdue: Money,
}

/// The overdue amount of one currency at each month end, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueSeries {
    pub currency: Currency,
    pub points: Vec<OverduePoint>,
}

/// The last `months` month ends on or before `as_of`, oldest first (the
/// month of `as_of` counts only when `as_of` is its last day).
pub fn month_ends(as_of: NaiveDate, months: u32) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(months as usize);
    let mut first = first_of_month(as_of);
    let last_of = |first: NaiveDate| first.with_day(days_in_month(first)).unwrap_or(first);
    if last_of(first) > as_of {
        first = previous_month(first);
    }
    for _ in 0..months {
        out.push(last_of(first));
        let before = previous_month(first);
        if before == first {
            break;
        }
        first = before;
    }
    out.reverse();
    out
}

/// The overdue amount at each of `ends` (sorted or not), one series per
/// currency of the pieces, sorted by currency code; every series has a
/// point for every end, zero when nothing was overdue.
pub fn overdue_series(pieces: &[OverduePiece], ends: &[NaiveDate]) -> Result<Vec<OverdueSeries>, ReportError> {
    let mut ends = ends.to_vec();
    ends.sort_unstable();
    ends.dedup();
    let mut by_currency: BTreeMap<Currency, Vec<Money>> = BTreeMap::new();
    for piece in pieces {
        let ccy = piece.amount.currency;
        let sums = by_currency.entry(ccy).or_insert_with(|| vec![Money::zero(ccy); ends.len()]);
        for (sum, end) in sums.iter_mut().zip(&ends) {
            if piece.overdue_at(*end) {
                *sum = sum.checked_add(piece.amount)?;
            }
        }
    }
    Ok(by_currency
        .into_iter()
        .map(|(currency, sums)| OverdueSeries {
            currency,
            points: ends.iter().zip(sums).map(|(&month_end, overdue)| OverduePoint { month_end, overdue }).collect(),
        })
        .collect())
}

// Amounts in the tests are written `major_minor` (`100_00` is 100.00).
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }
    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn month_ends_cross_short_and_leap_months() {
        assert_eq!(month_ends(d("2024-03-15"), 3), [d("2023-12-31"), d("2024-01-31"), d("2024-02-29")]);
        assert_eq!(month_ends(d("2026-03-31"), 2), [d("2026-02-28"), d("2026-03-31")], "as_of is a month end");
        assert_eq!(month_ends(d("2026-05-01"), 1), [d("2026-04-30")]);
        assert!(month_ends(d("2026-05-01"), 0).is_empty());
    }

    #[test]
    fn hand_computed_series_with_payments_between_month_ends() {
        // Invoice A, 1,000 due 15 Jan, paid 600 on 10 Feb and 400 on 5 Apr.
        // Invoice B, 500 due 31 Jan (the month end itself), still open: late at its close.
        // Invoice C, 200 due 28 Feb, paid 28 Feb (on the month end: settled by it).
        // Invoice D, 300 USD due 1 Jan, still open.
        let pieces = [
            OverduePiece { due: d("2026-01-15"), settled: Some(d("2026-02-10")), amount: eur(600_00) },
            OverduePiece { due: d("2026-01-15"), settled: Some(d("2026-04-05")), amount: eur(400_00) },
            OverduePiece { due: d("2026-01-31"), settled: None, amount: eur(500_00) },
            OverduePiece { due: d("2026-02-28"), settled: Some(d("2026-02-28")), amount: eur(200_00) },
            OverduePiece { due: d("2026-01-01"), settled: None, amount: Money::new(300_00, usd()) },
        ];
        let ends = month_ends(d("2026-04-10"), 3);
        assert_eq!(ends, [d("2026-01-31"), d("2026-02-28"), d("2026-03-31")]);
        let series = overdue_series(&pieces, &ends).unwrap();
        assert_eq!(series.len(), 2, "one series per currency");
        let eur_points: Vec<Money> = series[0].points.iter().map(|p| p.overdue).collect();
        // 31 Jan: A whole (1,000) + B, due that day and unpaid at its close (500) → 1,500.
        // 28 Feb: A's 400 (600 paid 10 Feb) + B 500; C paid on its due day → 900.
        // 31 Mar: A's 400 + B 500 → 900.
        assert_eq!(eur_points, [eur(1_500_00), eur(900_00), eur(900_00)]);
        assert_eq!(series[1].currency, usd());
        assert!(series[1].points.iter().all(|p| p.overdue == Money::new(300_00, usd())));
    }

    #[test]
    fn a_negative_correction_piece_nets_and_overflow_is_an_error() {
        let pieces = [
            OverduePiece { due: d("2026-01-01"), settled: None, amount: eur(100_00) },
            OverduePiece { due: d("2026-01-01"), settled: Some(d("2026-03-01")), amount: eur(-30_00) },
        ];
        let s = overdue_series(&pieces, &[d("2026-02-28"), d("2026-03-31")]).unwrap();
        assert_eq!(s[0].points[0].overdue, eur(70_00));
        assert_eq!(s[0].points[1].overdue, eur(100_00));
        let huge = [
            OverduePiece { due: d("2026-01-01"), settled: None, amount: eur(i64::MAX) },
            OverduePiece { due: d("2026-01-01"), settled: None, amount: eur(1) },
        ];
        assert!(overdue_series(&huge, &[d("2026-02-28")]).is_err());
    }
}
