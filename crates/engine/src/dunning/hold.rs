//! Holds: a person pauses the reminders of one customer, or of one of its
//! invoices, with a reason and an optional end date (pure).
//!
//! A hold is in force from the moment it is recorded until it is lifted (the
//! store drops lifted holds before the engine sees them) and, when it has an
//! `until` date, through that date: the day after, reminders resume on their
//! own ([`Hold::holds_on`]). While a customer-wide hold is in force nothing
//! is sent to the customer; an invoice hold leaves that invoice out of the
//! messages (it is neither listed nor moved to its next step). Every
//! decision says so in its `why`, naming the hold, who placed it and why.
//!
//! Relance places holds of its own ([`HoldKind`]): while a credit from the
//! customer awaits review (lifted when the credit is applied or rejected),
//! and after a customer says it already paid (for a number of days, while
//! its payment is looked for in the bank). They are the same holds, listed
//! and lifted the same way.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Who placed a hold and what ends it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// Placed by a person; lifted by a person or at its `until` day.
    #[default]
    Manual,
    /// Placed by Relance: a credit from the customer awaits review and could
    /// pay the invoices; lifted when the credit is applied or rejected.
    CreditReview,
    /// Placed by Relance: the customer says it already paid; runs until its
    /// `until` day while the payment is looked for in the bank.
    ClaimedPaid,
}

impl HoldKind {
    /// Every value, in declaration order.
    pub const ALL: &'static [HoldKind] = &[HoldKind::Manual, HoldKind::CreditReview, HoldKind::ClaimedPaid];

    /// The stored text.
    pub fn as_str(&self) -> &'static str {
        match self {
            HoldKind::Manual => "manual",
            HoldKind::CreditReview => "credit_review",
            HoldKind::ClaimedPaid => "claimed_paid",
        }
    }

    /// Placed by Relance rather than by a person: a reminder it catches
    /// between planning and sending waits (it is not cancelled).
    pub fn automatic(&self) -> bool {
        *self != HoldKind::Manual
    }
}

impl std::str::FromStr for HoldKind {
    type Err = relance_domain::replies::UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HoldKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| relance_domain::replies::UnknownState { kind: "hold kind", value: s.to_string() })
    }
}

/// A hold on the reminders of a customer or of one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Its id in the store (`hold #12` in the `why`).
    pub id: i64,
    /// The invoice held; `None` holds the whole customer.
    pub invoice: Option<String>,
    pub reason: String,
    /// Last day held (inclusive); `None` until lifted.
    pub until: Option<NaiveDate>,
    /// Who placed it (`user:alice`, `api:acme`, `relance`).
    pub by: String,
    #[serde(default)]
    pub kind: HoldKind,
    /// The credit it is about (a [`HoldKind::CreditReview`] hold, or a
    /// [`HoldKind::ClaimedPaid`] one once a credit was found).
    #[serde(default)]
    pub payment: Option<i64>,
}

impl Hold {
    /// Whether the hold is in force on `today` (through its `until` day).
    pub fn holds_on(&self, today: NaiveDate) -> bool {
        self.until.is_none_or(|u| today <= u)
    }

    /// Whether it holds invoice `number` (a customer hold holds them all; case aside).
    pub fn covers(&self, number: &str) -> bool {
        self.invoice.as_deref().is_none_or(|i| i.eq_ignore_ascii_case(number))
    }

    /// The `why` line of a decision it shaped.
    pub fn why(&self) -> String {
        let what = match &self.invoice {
            Some(n) => format!("invoice {n}"),
            None => "every invoice of the customer".to_string(),
        };
        let until = match self.until {
            Some(u) => format!("until {u}"),
            None => "until lifted".to_string(),
        };
        format!("reminders held for {what} {until} by {} (hold #{}): {}", self.by, self.id, self.reason)
    }
}

/// The first hold in force on `today` that covers `number`.
pub fn holding<'h>(holds: &'h [Hold], number: &str, today: NaiveDate) -> Option<&'h Hold> {
    holds.iter().find(|h| h.holds_on(today) && h.covers(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, m, day).unwrap()
    }

    #[test]
    fn a_hold_runs_through_its_until_day_and_names_itself() {
        let h = Hold {
            id: 3,
            invoice: Some("F-1".into()),
            reason: "litige".into(),
            until: Some(d(3, 10)),
            by: "user:alice".into(),
            kind: HoldKind::Manual,
            payment: None,
        };
        assert!(h.holds_on(d(3, 1)) && h.holds_on(d(3, 10)));
        assert!(!h.holds_on(d(3, 11)), "the day after `until` it no longer holds");
        assert!(h.covers("f-1") && !h.covers("F-2"));
        assert_eq!(h.why(), "reminders held for invoice F-1 until 2027-03-10 by user:alice (hold #3): litige");
        let all = Hold { id: 4, invoice: None, until: None, ..h.clone() };
        assert!(all.covers("F-9") && all.holds_on(d(12, 31)));
        assert!(all.why().contains("every invoice of the customer until lifted"));
        assert_eq!(holding(&[h.clone(), all.clone()], "F-2", d(3, 1)).map(|h| h.id), Some(4));
        assert_eq!(holding(&[h], "F-1", d(3, 11)), None);
        for k in HoldKind::ALL {
            assert_eq!(k.as_str().parse::<HoldKind>(), Ok(*k));
        }
        assert!("paused".parse::<HoldKind>().is_err());
        assert!(HoldKind::CreditReview.automatic() && !HoldKind::Manual.automatic());
    }
}
