//! Hand-off to a collection agency, pure: once a scenario's hand-off step
//! went (a step whose template is [`HANDOFF_TEMPLATE`]), the customer is
//! handed over and Relance sends it nothing more
//! ([`super::Outcome::HandedOver`], whatever else is due) until a person
//! reverses the hand-off. The runtime records the hand-off and writes the
//! agency's dossier; this module only says what it means for planning.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The template of the hand-off steps.
pub const HANDOFF_TEMPLATE: &str = "handoff";

/// Whether `step` hands the customer over (its template is [`HANDOFF_TEMPLATE`]).
pub fn is_handoff(step: &super::Step) -> bool {
    step.template == HANDOFF_TEMPLATE
}

/// An active hand-off of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedOver {
    /// The hand-off's id in the store (`hand-off #3` in the `why`).
    pub id: i64,
    /// The day it was handed over.
    pub since: NaiveDate,
    /// The step that handed it over.
    pub step: String,
}

impl HandedOver {
    /// The `why` of every decision while it lasts.
    pub fn why(&self) -> String {
        format!(
            "handed over to the collection agency on {} (hand-off #{}, step `{}`): no reminder until the hand-off is reversed",
            self.since, self.id, self.step
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dunning::{Calendar, CustomerState, HolidayCountry, InvoiceState, Outcome, Scenario, Step, decide};
    use relance_domain::Channel;
    use relance_domain::money::{Currency, Money};

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn scenario() -> Scenario {
        let step = |id: &str, offset_days: i64, channel: Channel, template: &str| Step {
            id: id.into(),
            offset_days,
            channel,
            template: template.into(),
            confirm: None,
        };
        Scenario {
            description: String::new(),
            when: Default::default(),
            steps: vec![step("first", 1, Channel::Email, "courteous"), step("agency", 30, Channel::Webhook, "handoff")],
            min_gap_days: 5,
            promise_grace_days: 2,
            promise_broken: None,
        }
    }

    #[test]
    fn a_handed_over_customer_gets_nothing_and_the_why_says_so() {
        let s = scenario();
        assert!(!is_handoff(&s.steps[0]) && is_handoff(&s.steps[1]));
        let cal = Calendar::for_country(HolidayCountry::Fr, 2025..=2027, &[]);
        let mut c = CustomerState {
            customer_id: "C1".into(),
            invoices: vec![InvoiceState {
                number: "F-1".into(),
                issue_date: None,
                due_date: d(10, 1),
                open: Money::new(10_000, Currency::EUR),
                disputed: false,
            }],
            ..Default::default()
        };
        // Monday 5 October: the first step is due.
        assert!(matches!(decide(&s, &cal, &c, d(10, 5)), Outcome::Send(_)));
        c.handed_over = Some(HandedOver { id: 3, since: d(10, 2), step: "agency".into() });
        let Outcome::HandedOver { why } = decide(&s, &cal, &c, d(10, 5)) else { panic!("handed over") };
        assert_eq!(
            why,
            "handed over to the collection agency on 2026-10-02 (hand-off #3, step `agency`): no reminder until the hand-off is reversed"
        );
    }
}
