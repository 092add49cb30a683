//! Agreed payment plans in the dunning decision, pure: where a plan stands
//! on a day, from its instalments and what the customer paid since it was
//! accepted.
//!
//! The rule ([`AgreedPlan::standing`]): instalments are due cumulatively
//! (the second one is due when the first two amounts are paid in all).
//!
//! * **completed** when the amount paid reaches the total of the plan;
//! * **missed** when an instalment's due date plus the grace days is past
//!   (strictly before today) and the amount paid is below the cumulative
//!   amount due up to it: reminders resume, the decision's `why` names the
//!   instalment;
//! * **on track** otherwise: the invoices the plan covers are not reminded,
//!   and the `why` names the plan and its next instalment.
//!
//! A plan already recorded as broken stays broken (reminders resume) even if
//! the customer catches up later: a person decides on a new plan.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use relance_domain::money::Money;
use relance_domain::replies::UnknownState;

/// Where a payment plan stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Read from a customer's request (or being prepared): waits for a person.
    Draft,
    /// Accepted by a person: reminders of its invoices pause while it is kept.
    Accepted,
    /// Refused by a person.
    Rejected,
    /// Every instalment paid.
    Completed,
    /// An instalment was missed: reminders resumed.
    Broken,
}

impl PlanStatus {
    /// Every value, in declaration order.
    pub const ALL: &'static [PlanStatus] =
        &[PlanStatus::Draft, PlanStatus::Accepted, PlanStatus::Rejected, PlanStatus::Completed, PlanStatus::Broken];

    /// The stored text.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlanStatus::Draft => "draft",
            PlanStatus::Accepted => "accepted",
            PlanStatus::Rejected => "rejected",
            PlanStatus::Completed => "completed",
            PlanStatus::Broken => "broken",
        }
    }
}

impl std::str::FromStr for PlanStatus {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlanStatus::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownState { kind: "plan status", value: s.to_string() })
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instalment of an agreed plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instalment {
    pub due: NaiveDate,
    pub amount: Money,
}

/// An accepted (or broken) plan as the dunning engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreedPlan {
    pub id: i64,
    /// [`PlanStatus::Accepted`] or [`PlanStatus::Broken`].
    pub status: PlanStatus,
    /// The invoices it covers (as stored).
    pub invoices: Vec<String>,
    /// In order of their due dates.
    pub instalments: Vec<Instalment>,
    /// What the customer paid toward it since it was accepted.
    pub paid: Money,
}

/// Where a plan stands on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Every instalment due so far is paid; `next` is the first one not
    /// wholly paid (1-based number and the instalment).
    OnTrack { next: Option<(usize, Instalment)> },
    /// Instalment `number` (1-based) is unpaid past its date and the grace:
    /// `due` is the cumulative amount due up to it.
    Missed { number: usize, instalment: Instalment, due: Money },
    /// Everything paid.
    Completed,
}

impl AgreedPlan {
    /// Where the plan stands on `today`, `grace_days` after each due date
    /// (see the module doc; the status is not looked at).
    pub fn standing(&self, today: NaiveDate, grace_days: i64) -> Standing {
        let paid = i128::from(self.paid.minor);
        let mut cumulative: i128 = 0;
        let mut next = None;
        for (k, i) in self.instalments.iter().enumerate() {
            cumulative += i128::from(i.amount.minor);
            if paid >= cumulative {
                continue;
            }
            if i.due + Duration::days(grace_days) < today {
                let due = Money::new(i64::try_from(cumulative).unwrap_or(i64::MAX), i.amount.currency);
                return Standing::Missed { number: k + 1, instalment: *i, due };
            }
            if next.is_none() {
                next = Some((k + 1, *i));
            }
        }
        match next {
            None => Standing::Completed,
            next => Standing::OnTrack { next },
        }
    }

    /// Whether the invoices it covers are paused on `today`: accepted and on track.
    pub fn pauses(&self, today: NaiveDate, grace_days: i64) -> bool {
        self.status == PlanStatus::Accepted && matches!(self.standing(today, grace_days), Standing::OnTrack { .. })
    }

    /// Whether `number` is one of the invoices the plan covers (case aside).
    pub fn covers(&self, number: &str) -> bool {
        self.invoices.iter().any(|n| n.eq_ignore_ascii_case(number))
    }

    /// Why the plan pauses or no longer pauses reminders on `today`, for a
    /// decision's `why`; `None` when it is completed (it says nothing then).
    pub fn why(&self, today: NaiveDate, grace_days: i64) -> Option<String> {
        let standing = self.standing(today, grace_days);
        let invoices = self.invoices.join(", ");
        let paid = format!("{} {}", self.paid.to_decimal_string(), self.paid.currency.code());
        match (self.status, standing) {
            (_, Standing::Missed { number, instalment, due }) => Some(format!(
                "payment plan #{} ({invoices}) broken: instalment {number} of {} {} due {} is unpaid after {grace_days} days of grace (paid {paid} of {} due by then): reminders resume",
                self.id,
                instalment.amount.to_decimal_string(),
                instalment.amount.currency.code(),
                instalment.due,
                due.to_decimal_string(),
            )),
            (PlanStatus::Broken, _) => {
                Some(format!("payment plan #{} ({invoices}) was broken: reminders resumed", self.id))
            }
            (_, Standing::OnTrack { next: Some((number, i)) }) => Some(format!(
                "payment plan #{} agreed for {invoices}, on track (paid {paid}): next instalment {number} of {} {} due {}; reminders of these invoices paused",
                self.id,
                i.amount.to_decimal_string(),
                i.amount.currency.code(),
                i.due
            )),
            (_, Standing::OnTrack { next: None }) | (_, Standing::Completed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relance_domain::money::Currency;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, m, day).unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }
    /// 500 € on 15 January, 700 € on 15 February.
    fn plan(paid: i64) -> AgreedPlan {
        AgreedPlan {
            id: 7,
            status: PlanStatus::Accepted,
            invoices: vec!["F1".into()],
            instalments: vec![
                Instalment { due: d(1, 15), amount: eur(50_000) },
                Instalment { due: d(2, 15), amount: eur(70_000) },
            ],
            paid: eur(paid),
        }
    }

    #[test]
    fn on_track_while_each_instalment_is_paid_by_its_date_and_grace() {
        let first = Instalment { due: d(1, 15), amount: eur(50_000) };
        let second = Instalment { due: d(2, 15), amount: eur(70_000) };
        assert_eq!(plan(0).standing(d(1, 10), 2), Standing::OnTrack { next: Some((1, first)) });
        // Within the grace after the first date, unpaid: still on track.
        assert_eq!(plan(0).standing(d(1, 17), 2), Standing::OnTrack { next: Some((1, first)) });
        assert!(plan(50_000).pauses(d(2, 1), 2));
        assert_eq!(plan(50_000).standing(d(2, 1), 2), Standing::OnTrack { next: Some((2, second)) });
        // Part of the second paid early: the second is next.
        assert_eq!(plan(60_000).standing(d(2, 17), 2), Standing::OnTrack { next: Some((2, second)) });
        let why = plan(50_000).why(d(2, 1), 2).unwrap();
        assert!(
            why.contains("payment plan #7") && why.contains("next instalment 2 of 700.00 EUR due 2027-02-15"),
            "{why}"
        );
    }

    #[test]
    fn missed_once_an_instalment_is_past_its_grace_and_the_cumulative_amount_unpaid() {
        let first = Instalment { due: d(1, 15), amount: eur(50_000) };
        assert_eq!(plan(0).standing(d(1, 18), 2), Standing::Missed { number: 1, instalment: first, due: eur(50_000) });
        // 499.99 € of 500 €: missed too.
        assert!(matches!(plan(49_999).standing(d(1, 18), 2), Standing::Missed { number: 1, .. }));
        let second = Instalment { due: d(2, 15), amount: eur(70_000) };
        assert_eq!(
            plan(50_000).standing(d(2, 18), 2),
            Standing::Missed { number: 2, instalment: second, due: eur(120_000) }
        );
        assert!(!plan(50_000).pauses(d(2, 18), 2));
        let why = plan(50_000).why(d(2, 18), 2).unwrap();
        assert!(why.contains("instalment 2 of 700.00 EUR due 2027-02-15") && why.contains("reminders resume"), "{why}");
    }

    #[test]
    fn completed_when_the_total_is_paid_even_late() {
        assert_eq!(plan(120_000).standing(d(3, 30), 2), Standing::Completed);
        assert_eq!(plan(130_000).standing(d(1, 1), 2), Standing::Completed);
        assert_eq!(plan(120_000).why(d(3, 30), 2), None);
    }

    #[test]
    fn a_broken_plan_stays_broken() {
        let p = AgreedPlan { status: PlanStatus::Broken, ..plan(50_000) };
        assert!(!p.pauses(d(2, 1), 2));
        assert!(p.why(d(2, 1), 2).unwrap().contains("was broken"));
        assert_eq!("broken".parse::<PlanStatus>(), Ok(PlanStatus::Broken));
        assert!("kept".parse::<PlanStatus>().is_err());
    }
}
