//! Figures over a period: DMP per currency, promise counts and the
//! promise-kept rate, reminders sent by step and channel, replies by intent.
//!
//! - **DMP** per currency: [`super::dmp`] over the settlements of that
//!   currency (never mixed).
//! - **Promise-kept rate**: kept / (kept + broken), in basis points, rounded
//!   once; pending, lapsed (could not be checked) and cancelled (a person
//!   corrected the reading) promises are counted but not in the rate.
//! - **Reminders by step and channel**: reminders actually sent (outbox rows
//!   `sent`), grouped by scenario step and channel.
//! - **Replies by intent**: replies received in the period, under the intent
//!   a person gave when they corrected the reading, else the one read; every
//!   intent has a row (zero included), then the replies not understood.

use std::collections::BTreeMap;

use serde::Serialize;

use relance_domain::Channel;
use relance_domain::money::{Currency, Money};

use super::{ReportError, Settlement, dmp, ratio_bp};
use crate::replies::Intent;

/// DMP of one currency over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DmpFigure {
    pub currency: Currency,
    /// The amount paid in the period (the weights' sum).
    pub paid: Money,
    /// Weighted average days from due date to payment, in tenths; `None`
    /// when nothing was paid.
    pub tenths_of_days: Option<i64>,
}

/// DMP per currency of `settlements`, sorted by currency code.
pub fn dmp_by_currency(settlements: &[Settlement]) -> Result<Vec<DmpFigure>, ReportError> {
    let mut by: BTreeMap<Currency, Vec<Settlement>> = BTreeMap::new();
    for s in settlements {
        by.entry(s.amount.currency).or_default().push(*s);
    }
    by.into_iter()
        .map(|(currency, list)| {
            let paid = Money::checked_sum(currency, list.iter().map(|s| s.amount))?;
            Ok(DmpFigure { currency, paid, tenths_of_days: dmp(&list)? })
        })
        .collect()
}

/// Promises whose promised date fell in the period, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PromiseCounts {
    pub kept: u64,
    pub broken: u64,
    pub pending: u64,
    pub lapsed: u64,
    pub cancelled: u64,
}

impl PromiseCounts {
    /// Kept / (kept + broken) in basis points; `None` when none was decided.
    pub fn kept_rate_bp(&self) -> Option<u32> {
        super::promise_kept_rate_bp(self.kept, self.broken)
    }
}

/// Reminders sent in a period for one scenario step and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReminderCount {
    pub step: String,
    pub channel: Channel,
    pub sent: u64,
}

/// The stored and serialized name of a channel (`email`, `call_task`…).
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Webhook => "webhook",
        Channel::Letter => "letter",
        Channel::CallTask => "call_task",
    }
}

/// Reads a channel's name back.
pub fn parse_channel(text: &str) -> Option<Channel> {
    [Channel::Email, Channel::Sms, Channel::Webhook, Channel::Letter, Channel::CallTask]
        .into_iter()
        .find(|c| channel_name(*c) == text)
}

/// Replies received in a period with one intent (`None`: not understood,
/// such as a quarantined message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntentCount {
    pub intent: Option<Intent>,
    pub count: u64,
}

/// The complete table of replies by intent from the store's counts (in any
/// order, an intent possibly repeated): one row per intent of
/// [`Intent::ALL`], in that order, zero included, then the replies without
/// intent when there are any. Ratios are left to the reader: the table is
/// what the chart draws.
pub fn replies_by_intent(counts: &[(Option<Intent>, u64)]) -> Vec<IntentCount> {
    let mut table: Vec<IntentCount> = Intent::ALL.iter().map(|i| IntentCount { intent: Some(*i), count: 0 }).collect();
    let mut none = 0u64;
    for (intent, n) in counts {
        match intent.and_then(|i| Intent::ALL.iter().position(|x| *x == i)) {
            Some(at) => table[at].count = table[at].count.saturating_add(*n),
            None => none = none.saturating_add(*n),
        }
    }
    if none > 0 {
        table.push(IntentCount { intent: None, count: none });
    }
    table
}

/// The share of `count` in `total`, in basis points (for tables that show
/// percentages next to counts).
pub fn share_bp(count: u64, total: u64) -> Option<u32> {
    ratio_bp(count, total)
}

// Amounts in the tests are written `major_minor` (`100_00` is 100.00).
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dmp_per_currency_never_mixes_currencies() {
        let gbp = Currency::parse("GBP").unwrap();
        let s = [
            // EUR: 20 days late on 2,000 and 2 days early on 500:
            // (40 000 − 1 000) / 2 500 = 15.6 days.
            Settlement { due: d("2026-01-31"), paid_on: d("2026-02-20"), amount: Money::new(2_000_00, Currency::EUR) },
            Settlement { due: d("2026-03-01"), paid_on: d("2026-02-27"), amount: Money::new(500_00, Currency::EUR) },
            // GBP: 29 days late (leap February 2024: 1 Feb → 1 Mar) on 100.
            Settlement { due: d("2024-02-01"), paid_on: d("2024-03-01"), amount: Money::new(100_00, gbp) },
        ];
        let figures = dmp_by_currency(&s).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].currency, Currency::EUR);
        assert_eq!(figures[0].paid, Money::new(2_500_00, Currency::EUR));
        assert_eq!(figures[0].tenths_of_days, Some(156));
        assert_eq!(figures[1].currency, gbp);
        assert_eq!(figures[1].tenths_of_days, Some(290));
    }

    #[test]
    fn promise_rate_leaves_undecided_promises_out() {
        let c = PromiseCounts { kept: 3, broken: 1, pending: 5, lapsed: 2, cancelled: 1 };
        assert_eq!(c.kept_rate_bp(), Some(7500), "3 / (3 + 1)");
        assert_eq!(PromiseCounts { pending: 4, ..Default::default() }.kept_rate_bp(), None);
    }

    #[test]
    fn replies_table_has_every_intent_in_order_then_the_unread() {
        let t = replies_by_intent(&[
            (Some(Intent::Dispute), 2),
            (None, 1),
            (Some(Intent::PromiseToPay), 4),
            (Some(Intent::Dispute), 1),
        ]);
        assert_eq!(t.len(), Intent::ALL.len() + 1);
        assert_eq!(t[0], IntentCount { intent: Some(Intent::PromiseToPay), count: 4 });
        assert_eq!(t[1], IntentCount { intent: Some(Intent::Dispute), count: 3 });
        assert_eq!(t[2].count, 0);
        assert_eq!(t.last().copied(), Some(IntentCount { intent: None, count: 1 }));
        assert_eq!(replies_by_intent(&[]).len(), Intent::ALL.len(), "no row for replies without intent when none");
    }

    #[test]
    fn channel_names_match_serde() {
        for c in [Channel::Email, Channel::Sms, Channel::Webhook, Channel::Letter, Channel::CallTask] {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json.as_str(), Some(channel_name(c)));
            assert_eq!(parse_channel(channel_name(c)), Some(c));
        }
        assert_eq!(parse_channel("pigeon"), None);
    }

    #[test]
    fn shares_round_half_up_once() {
        assert_eq!(share_bp(1, 3), Some(3333));
        assert_eq!(share_bp(2, 3), Some(6667));
        assert_eq!(share_bp(1, 8), Some(1250));
        assert_eq!(share_bp(0, 0), None);
    }
}
