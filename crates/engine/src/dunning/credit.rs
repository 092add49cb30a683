//! Bank-aware holds, pure: a credit from the customer waiting in the cash
//! review queue may already pay what a reminder is about to ask for.
//!
//! The rule ([`PendingCredit::could_cover`]): a credit waiting for review
//! (suggested or unmatched) whose payer evidence names the customer — its
//! account is one the customer is known by (from the ERP) or that was
//! learned from its earlier payments, or the matcher ranked the customer
//! among its candidates — **could cover** a reminder when its amount is at
//! least the smallest open amount among the invoices the reminder lists, in
//! the same currency (amounts of other currencies are never compared).
//!
//! While such a credit waits, the reminder is held ([`super::Outcome::Held`]):
//! a person looks at the credit first (the cash review lists it at the top
//! with the reason). Accepting the credit settles the invoices (nothing is
//! sent); rejecting it releases the reminder.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use relance_domain::money::Money;

use super::InvoiceState;

/// Why a credit is thought to come from the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "iban", rename_all = "snake_case")]
pub enum PayerEvidence {
    /// Sent from an account the ERP gives for the customer.
    KnownIban(String),
    /// Sent from an account learned from the customer's earlier payments.
    LearnedIban(String),
    /// The matcher ranked the customer among the credit's candidates.
    MatcherCandidate,
}

impl PayerEvidence {
    /// How it reads in a `why`.
    pub fn describe(&self) -> String {
        match self {
            PayerEvidence::KnownIban(i) => format!("from the customer's account {i}"),
            PayerEvidence::LearnedIban(i) => format!("from {i}, an account learned from the customer's payments"),
            PayerEvidence::MatcherCandidate => "the matcher suggests this customer".to_string(),
        }
    }
}

/// A credit waiting for review whose payer evidence names the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCredit {
    /// The payment's id in the store (`credit #12` in the `why`).
    pub payment_id: i64,
    pub amount: Money,
    pub booked: NaiveDate,
    pub evidence: PayerEvidence,
}

impl PendingCredit {
    /// Whether the credit could pay at least one of `invoices` (see the module doc).
    pub fn could_cover(&self, invoices: &[&InvoiceState]) -> bool {
        invoices
            .iter()
            .filter(|i| i.open.currency == self.amount.currency && i.open.minor > 0)
            .map(|i| i.open.minor)
            .min()
            .is_some_and(|smallest| self.amount.minor >= smallest)
    }

    /// The `why` line of a reminder it holds.
    pub fn why(&self) -> String {
        format!(
            "credit #{} of {} {} booked {} ({}) awaits review and could pay these invoices: reminder held until a person accepts or rejects it",
            self.payment_id,
            self.amount.to_decimal_string(),
            self.amount.currency.code(),
            self.booked,
            self.evidence.describe()
        )
    }
}

/// The credits of `credits` that could cover a reminder listing `invoices`
/// (each once, in the order given).
pub fn covering<'c>(credits: &'c [PendingCredit], invoices: &[&InvoiceState]) -> Vec<&'c PendingCredit> {
    let mut out: Vec<&PendingCredit> = Vec::new();
    for c in credits.iter().filter(|c| c.could_cover(invoices)) {
        if !out.iter().any(|o| o.payment_id == c.payment_id) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use relance_domain::money::Currency;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn invoice(number: &str, minor: i64, ccy: Currency) -> InvoiceState {
        InvoiceState {
            number: number.into(),
            issue_date: None,
            due_date: d(10, 1),
            open: Money::new(minor, ccy),
            disputed: false,
        }
    }

    fn credit(id: i64, minor: i64, ccy: Currency) -> PendingCredit {
        PendingCredit {
            payment_id: id,
            amount: Money::new(minor, ccy),
            booked: d(11, 3),
            evidence: PayerEvidence::KnownIban("FR7630006000011234567890189".into()),
        }
    }

    #[test]
    fn a_credit_covers_when_it_reaches_the_smallest_open_invoice_in_its_currency() {
        let (a, b) = (invoice("F-1", 50_000, Currency::EUR), invoice("F-2", 120_000, Currency::EUR));
        let usd = invoice("U-1", 1_000, Currency::parse("USD").unwrap());
        let listed = [&a, &b, &usd];
        assert!(credit(1, 50_000, Currency::EUR).could_cover(&listed), "exactly the smallest EUR invoice");
        assert!(credit(2, 70_000, Currency::EUR).could_cover(&listed), "more than the smallest");
        assert!(!credit(3, 49_999, Currency::EUR).could_cover(&listed), "one cent short of every EUR invoice");
        assert!(!credit(4, 40_000, Currency::parse("GBP").unwrap()).could_cover(&listed), "no invoice in its currency");
        assert!(credit(5, 1_000, Currency::parse("USD").unwrap()).could_cover(&listed), "the USD invoice");
        assert!(!credit(6, 1_000_000, Currency::EUR).could_cover(&[]), "nothing listed, nothing to cover");
        let credits =
            [credit(3, 49_999, Currency::EUR), credit(2, 70_000, Currency::EUR), credit(2, 70_000, Currency::EUR)];
        let ids: Vec<i64> = covering(&credits, &listed).iter().map(|c| c.payment_id).collect();
        assert_eq!(ids, [2], "each covering credit once");
    }

    #[test]
    fn the_why_names_the_credit_its_amount_and_the_payer_evidence() {
        assert_eq!(
            credit(12, 120_000, Currency::EUR).why(),
            "credit #12 of 1200.00 EUR booked 2026-11-03 (from the customer's account FR7630006000011234567890189) awaits review and could pay these invoices: reminder held until a person accepts or rejects it"
        );
        let learned = PendingCredit {
            evidence: PayerEvidence::LearnedIban("DE89370400440532013000".into()),
            ..credit(1, 1, Currency::EUR)
        };
        assert!(learned.why().contains("from DE89370400440532013000, an account learned from the customer's payments"));
        let cand = PendingCredit { evidence: PayerEvidence::MatcherCandidate, ..credit(1, 1, Currency::EUR) };
        assert!(cand.why().contains("(the matcher suggests this customer)"), "{}", cand.why());
    }
}
