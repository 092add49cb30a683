//! What a customer's reply leads to: the reply-action policy, pure.
//!
//! [`plan`] takes what the message says (an [`Understanding`]) and the facts
//! the store gathered about it (a [`ReplyContext`]: the invoices it names,
//! the reminder it answers, the customer of its sender, the credits waiting
//! for review) and returns a [`ReplyPlan`]: the customer and invoices it is
//! linked to and the typed [`ReplyAction`]s to carry out. The store carries
//! them out in the transaction that records the message, with their audit
//! events; nothing here reads a database, a file or the clock.
//!
//! The policy, by intent:
//!
//! * **promise to pay**: a pending promise (its date, amount and currency as
//!   stated), which pauses reminders until its date;
//! * **dispute**: the invoices named (or those of the reminder answered) are
//!   marked disputed, and a dispute task opened;
//! * **already paid**: a recent credit waiting for review whose amount is the
//!   one stated, or the open amount of a named invoice, is a candidate: a
//!   `check_payment` task lists the candidates; without one, an
//!   `awaiting_proof` task asks for the proof of payment;
//! * **payment plan request**: a payment-plan task and, when the customer
//!   is known, a draft plan from the proposal read in the message (its
//!   instalments as stated, empty when none could be read) for a person to
//!   accept or reject;
//! * **invoice copy request**: a copy is requested from the outbound side,
//!   to the sender's address;
//! * **automatic reply**: a delivery failure flags the contact: the
//!   recipients its delivery report says failed are marked undeliverable by
//!   the store (a `contact` task names them); a report where no recipient
//!   failed (`delayed`, `delivered`) leads to nothing; an out-of-office
//!   with a return date postpones the reminders to that address (the store
//!   records it, the dunning engine waits), an acknowledgement leads to nothing;
//! * **other**: nothing, for a person to review.

use chrono::NaiveDate;

use super::{AutoKind, Intent, Understanding};
use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::replies::TaskKind;

/// How far back (days before the day the reply is handled) a credit waiting
/// for review may have been booked to be a candidate for "we already paid".
pub const PAID_CLAIM_LOOKBACK_DAYS: u64 = 120;

/// A stored invoice a reply is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedInvoice {
    /// The number as stored.
    pub number: String,
    pub customer_id: String,
    /// Its open amount; gathered only when [`needs_credits`] says so.
    pub open: Option<Money>,
}

/// The reminder a reply answers (its `In-Reply-To` / `References` carry the
/// Message-ID of one of our reminders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderLink {
    /// The outbox row of the reminder.
    pub outbox_id: i64,
    pub customer_id: String,
    /// The invoices the reminder was about.
    pub invoices: Vec<LinkedInvoice>,
}

/// A credit of a bank statement waiting for review (suggested or unmatched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewCredit {
    pub payment_id: i64,
    pub amount: Money,
}

/// What the store knows that the policy needs, gathered before [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyContext {
    /// The invoices the message names (its `refs`), resolved to stored ones,
    /// in order, without repeats.
    pub named: Vec<LinkedInvoice>,
    /// The first reminder of ours the message's thread names, if any.
    pub reminder: Option<ReminderLink>,
    /// The customer one of whose addresses is exactly the sender's; gathered
    /// only when no reminder was found (the reminder's customer comes first).
    pub sender_customer: Option<String>,
    /// Credits waiting for review booked in the last
    /// [`PAID_CLAIM_LOOKBACK_DAYS`] days, in id order; gathered only when
    /// [`needs_credits`] says so.
    pub review_credits: Vec<ReviewCredit>,
}

/// Whether [`plan`] needs the open amounts of the linked invoices and the
/// credits waiting for review (only a payment claim does).
pub fn needs_credits(u: &Understanding) -> bool {
    u.intent == Intent::AlreadyPaid
}

/// The token of one of our reminders in a Message-ID of the thread
/// (`<rl-…@domain>` gives `rl-…`), if it is one.
pub fn reminder_token(message_id: &str) -> Option<&str> {
    let token = message_id.trim_matches(['<', '>']).split('@').next().unwrap_or_default();
    token.starts_with("rl-").then_some(token)
}

/// One thing a reply leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyAction {
    /// The reply answers this reminder (noted in the audit trail).
    AnswersReminder { outbox_id: i64 },
    /// Record a pending promise to pay for the plan's customer and invoices.
    RecordPromise { promised_date: Option<NaiveDate>, amount: Option<String>, currency: Option<String> },
    /// Mark these invoices disputed (those still open or partially paid; the
    /// numbers are matched case aside), then open a dispute task.
    Dispute { invoices: Vec<String>, note: String },
    /// The customer says it paid and no credit fits: ask for the proof.
    AwaitProof { note: String },
    /// The customer says it paid and these credits fit: a person checks them.
    CheckPayment { payments: Vec<i64>, note: String },
    /// The customer asks for a payment plan: a person answers.
    PaymentPlan { note: String },
    /// Record a draft payment plan for the plan's customer and invoices, from
    /// the proposal read in the message (empty when none could be read).
    DraftPlan { proposal: super::proposal::PlanProposal },
    /// Send a copy of the invoices (the outbound side answers it).
    SendInvoiceCopy { to: Option<String> },
    /// A reminder bounced: the contact is flagged undeliverable.
    ContactUndeliverable { note: String },
    /// An out-of-office or an acknowledgement: nothing to do.
    IgnoreAutoReply { back_on: Option<NaiveDate> },
    /// Nothing known to do: a person reviews the message.
    Review,
}

impl ReplyAction {
    /// The task for a person this action opens, with its note.
    pub fn task(&self) -> Option<(TaskKind, &str)> {
        match self {
            ReplyAction::Dispute { note, .. } => Some((TaskKind::Dispute, note)),
            ReplyAction::AwaitProof { note } => Some((TaskKind::AwaitingProof, note)),
            ReplyAction::CheckPayment { note, .. } => Some((TaskKind::CheckPayment, note)),
            ReplyAction::PaymentPlan { note } => Some((TaskKind::PaymentPlan, note)),
            ReplyAction::ContactUndeliverable { note } => Some((TaskKind::Contact, note)),
            ReplyAction::AnswersReminder { .. }
            | ReplyAction::RecordPromise { .. }
            | ReplyAction::DraftPlan { .. }
            | ReplyAction::SendInvoiceCopy { .. }
            | ReplyAction::IgnoreAutoReply { .. }
            | ReplyAction::Review => None,
        }
    }

    /// What was done, for the audit trail; `disputed` are the invoices a
    /// [`ReplyAction::Dispute`] actually marked.
    pub fn summary(&self, disputed: &[String]) -> String {
        match self {
            ReplyAction::AnswersReminder { outbox_id } => format!("reply to reminder outbox:{outbox_id}"),
            ReplyAction::RecordPromise { promised_date, .. } => format!(
                "promise recorded for {}",
                promised_date.map_or_else(|| "an unstated date".to_string(), |d| d.to_string())
            ),
            ReplyAction::Dispute { .. } => format!("invoices disputed: {disputed:?}; dispute task opened"),
            ReplyAction::AwaitProof { .. } => "no matching credit: awaiting proof".into(),
            ReplyAction::CheckPayment { payments, .. } => format!("candidate credits {payments:?} linked"),
            ReplyAction::PaymentPlan { .. } => "payment-plan task opened".into(),
            ReplyAction::DraftPlan { proposal } => {
                format!("draft payment plan recorded ({} instalments proposed)", proposal.instalments.len())
            }
            ReplyAction::SendInvoiceCopy { .. } => "copy of the invoice requested (for the outbound side)".into(),
            ReplyAction::ContactUndeliverable { .. } => "contact flagged undeliverable".into(),
            ReplyAction::IgnoreAutoReply { back_on } => {
                format!("automatic reply, no action{}", back_on.map(|d| format!(" (back on {d})")).unwrap_or_default())
            }
            ReplyAction::Review => "for review".into(),
        }
    }
}

/// What to do about one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPlan {
    /// The customer the message comes from: the answered reminder's, else the
    /// sender's, else that of the first invoice named.
    pub customer: Option<String>,
    /// The invoices it is about (as stored): those it names, else those of
    /// the reminder it answers.
    pub invoices: Vec<String>,
    /// In the order they are carried out.
    pub actions: Vec<ReplyAction>,
}

/// The reply-action policy (see the module doc).
pub fn plan(u: &Understanding, ctx: &ReplyContext) -> ReplyPlan {
    let mut actions = Vec::new();
    let mut invoices: &[LinkedInvoice] = &ctx.named;
    let mut customer = None;
    if let Some(r) = &ctx.reminder {
        if invoices.is_empty() {
            invoices = &r.invoices;
        }
        actions.push(ReplyAction::AnswersReminder { outbox_id: r.outbox_id });
        customer = Some(r.customer_id.clone());
    }
    let customer =
        customer.or_else(|| ctx.sender_customer.clone()).or_else(|| invoices.first().map(|i| i.customer_id.clone()));
    let numbers: Vec<String> = invoices.iter().map(|i| i.number.clone()).collect();
    let action = match u.intent {
        Intent::PromiseToPay => ReplyAction::RecordPromise {
            promised_date: u.promised_date,
            amount: u.amount.clone(),
            currency: u.currency.clone(),
        },
        Intent::Dispute => {
            // The references as written too (a number the resolution missed but the store has).
            let mut marked = numbers.clone();
            for r in &u.refs {
                if !marked.contains(r) {
                    marked.push(r.clone());
                }
            }
            let which = if numbers.is_empty() { "an invoice".to_string() } else { numbers.join(", ") };
            ReplyAction::Dispute { invoices: marked, note: format!("customer disputes {which}: {}", u.new_text) }
        }
        Intent::AlreadyPaid => {
            let found = candidate_credits(u, invoices, &ctx.review_credits);
            if found.is_empty() {
                ReplyAction::AwaitProof {
                    note: "customer says it paid; no matching credit found yet: ask for the proof of payment".into(),
                }
            } else {
                let note = format!("customer says it paid; candidate credits in the review queue: {found:?}");
                ReplyAction::CheckPayment { payments: found, note }
            }
        }
        Intent::PaymentPlanRequest => {
            ReplyAction::PaymentPlan { note: format!("payment plan requested: {}", u.new_text) }
        }
        Intent::InvoiceCopyRequest => ReplyAction::SendInvoiceCopy { to: u.from.clone() },
        Intent::AutoReply => match u.auto_reply {
            Some(AutoKind::DeliveryFailure) => match &u.delivery {
                // Delayed or delivered: the message may still arrive.
                Some(report) if report.failed().next().is_none() => ReplyAction::IgnoreAutoReply { back_on: None },
                Some(report) => {
                    let failed: Vec<String> = report
                        .failed()
                        .map(|r| {
                            let why = [r.status.as_deref(), r.diagnostic.as_deref()].into_iter().flatten();
                            format!("{} ({})", r.final_recipient, why.collect::<Vec<_>>().join(": "))
                        })
                        .collect();
                    ReplyAction::ContactUndeliverable {
                        note: format!("reminder undeliverable to {}", failed.join(", ")),
                    }
                }
                None => ReplyAction::ContactUndeliverable { note: format!("reminder undeliverable: {}", u.new_text) },
            },
            _ => ReplyAction::IgnoreAutoReply { back_on: u.back_on },
        },
        Intent::Other => ReplyAction::Review,
    };
    actions.push(action);
    if u.intent == Intent::PaymentPlanRequest && customer.is_some() {
        actions.push(ReplyAction::DraftPlan { proposal: u.plan.clone().unwrap_or_default() });
    }
    ReplyPlan { customer, invoices: numbers, actions }
}

/// Credits waiting for review that fit a payment claim: the amount stated
/// (read with the credit's currency's decimals, 0 for JPY, 3 for BHD; in the
/// stated currency when one is stated and known), or the open amount of one
/// of the invoices.
fn candidate_credits(u: &Understanding, invoices: &[LinkedInvoice], credits: &[ReviewCredit]) -> Vec<i64> {
    let targets: Vec<Money> = invoices.iter().filter_map(|i| i.open).collect();
    let stated_ccy = u.currency.as_deref().and_then(|c| Currency::parse(c).ok());
    credits
        .iter()
        .filter(|c| {
            let ccy = c.amount.currency;
            let stated_fits = u.amount.as_deref().is_some_and(|a| {
                stated_ccy.is_none_or(|s| s == ccy)
                    && Money::parse(a, ccy, DecimalStyle::Dot).is_ok_and(|m| m == c.amount)
            });
            stated_fits || targets.contains(&c.amount)
        })
        .map(|c| c.payment_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn said(intent: Intent) -> Understanding {
        Understanding {
            from: Some("ap@client.example".into()),
            intent,
            new_text: "the customer's words".into(),
            ..Default::default()
        }
    }

    fn invoice(number: &str, customer: &str, open: Option<Money>) -> LinkedInvoice {
        LinkedInvoice { number: number.into(), customer_id: customer.into(), open }
    }

    fn named(invoices: Vec<LinkedInvoice>) -> ReplyContext {
        ReplyContext { named: invoices, ..Default::default() }
    }

    #[test]
    fn a_promise_with_a_date_is_recorded_for_the_invoices_named() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20);
        let u = Understanding {
            promised_date: date,
            amount: Some("1200.00".into()),
            currency: Some("EUR".into()),
            refs: vec!["F-1".into()],
            ..said(Intent::PromiseToPay)
        };
        let p = plan(&u, &named(vec![invoice("F-1", "C1", None)]));
        assert_eq!((p.customer.as_deref(), p.invoices.as_slice()), (Some("C1"), &["F-1".to_string()][..]));
        let want = ReplyAction::RecordPromise {
            promised_date: date,
            amount: Some("1200.00".into()),
            currency: Some("EUR".into()),
        };
        assert_eq!(p.actions, vec![want.clone()]);
        assert_eq!(want.summary(&[]), "promise recorded for 2026-11-20");
        assert_eq!(want.task(), None, "a promise is no work for a person");
        let undated = plan(&said(Intent::PromiseToPay), &ReplyContext::default());
        assert_eq!(undated.actions[0].summary(&[]), "promise recorded for an unstated date");
    }

    #[test]
    fn a_dispute_marks_the_named_invoices_and_the_references_as_written_and_opens_a_task() {
        let u = Understanding { refs: vec!["F-1".into(), "FAC-9".into()], ..said(Intent::Dispute) };
        let p = plan(&u, &named(vec![invoice("F-1", "C1", None)]));
        let [ReplyAction::Dispute { invoices, note }] = p.actions.as_slice() else { panic!("{:?}", p.actions) };
        assert_eq!(invoices, &["F-1", "FAC-9"], "resolved numbers, then the other references");
        assert_eq!(note, "customer disputes F-1: the customer's words");
        assert_eq!(p.actions[0].task().map(|t| t.0), Some(TaskKind::Dispute));
        assert_eq!(p.actions[0].summary(&["F-1".into()]), "invoices disputed: [\"F-1\"]; dispute task opened");
        // Naming nothing known: still a task for a person.
        let p = plan(&said(Intent::Dispute), &ReplyContext::default());
        let [ReplyAction::Dispute { invoices, note }] = p.actions.as_slice() else { panic!("{:?}", p.actions) };
        assert!(invoices.is_empty());
        assert!(note.starts_with("customer disputes an invoice: "), "{note}");
    }

    #[test]
    fn already_paid_with_a_credit_of_the_open_amount_or_the_stated_one_asks_to_check_it() {
        let u = Understanding { refs: vec!["F-1".into()], ..said(Intent::AlreadyPaid) };
        assert!(needs_credits(&u));
        let ctx = ReplyContext {
            named: vec![invoice("F-1", "C1", Some(eur(10_000)))],
            review_credits: vec![
                ReviewCredit { payment_id: 7, amount: eur(9_999) },
                ReviewCredit { payment_id: 8, amount: eur(10_000) },
            ],
            ..Default::default()
        };
        let p = plan(&u, &ctx);
        let want = ReplyAction::CheckPayment {
            payments: vec![8],
            note: "customer says it paid; candidate credits in the review queue: [8]".into(),
        };
        assert_eq!(p.actions, vec![want]);
        assert_eq!(p.actions[0].summary(&[]), "candidate credits [8] linked");
        assert_eq!(p.actions[0].task().map(|t| t.0), Some(TaskKind::CheckPayment));
        // The amount stated, in the credit's currency's decimals (3 for BHD).
        let bhd = Currency::parse("BHD").unwrap();
        let u =
            Understanding { amount: Some("10.500".into()), currency: Some("BHD".into()), ..said(Intent::AlreadyPaid) };
        let ctx = ReplyContext {
            review_credits: vec![
                ReviewCredit { payment_id: 1, amount: eur(1_050) },
                ReviewCredit { payment_id: 2, amount: Money::new(10_500, bhd) },
            ],
            ..Default::default()
        };
        assert!(
            matches!(&plan(&u, &ctx).actions[..], [ReplyAction::CheckPayment { payments, .. }] if payments == &[2])
        );
        // No currency stated: a credit of that amount in any currency.
        let u = Understanding { amount: Some("10.50".into()), ..said(Intent::AlreadyPaid) };
        assert!(
            matches!(&plan(&u, &ctx).actions[..], [ReplyAction::CheckPayment { payments, .. }] if payments == &[1, 2])
        );
    }

    #[test]
    fn already_paid_without_a_matching_credit_awaits_the_proof() {
        let u = Understanding { amount: Some("50.00".into()), ..said(Intent::AlreadyPaid) };
        let ctx = ReplyContext {
            named: vec![invoice("F-1", "C1", Some(eur(10_000)))],
            review_credits: vec![ReviewCredit { payment_id: 7, amount: eur(9_999) }],
            ..Default::default()
        };
        let p = plan(&u, &ctx);
        assert!(matches!(p.actions.as_slice(), [ReplyAction::AwaitProof { .. }]), "{:?}", p.actions);
        assert_eq!(p.actions[0].task().map(|t| t.0), Some(TaskKind::AwaitingProof));
        assert_eq!(p.actions[0].summary(&[]), "no matching credit: awaiting proof");
        assert!(!needs_credits(&said(Intent::PromiseToPay)));
    }

    #[test]
    fn a_payment_plan_request_opens_a_task() {
        let p = plan(&said(Intent::PaymentPlanRequest), &ReplyContext::default());
        let want = ReplyAction::PaymentPlan { note: "payment plan requested: the customer's words".into() };
        assert_eq!(p.actions, vec![want]);
        assert_eq!(p.actions[0].task().map(|t| t.0), Some(TaskKind::PaymentPlan));
        // With a known customer, a draft plan from the proposal read (empty when none was).
        let ctx = ReplyContext { sender_customer: Some("C1".into()), ..ReplyContext::default() };
        let proposal =
            super::super::proposal::PlanProposal { phrases: vec!["over 3 months".into()], ..Default::default() };
        let u = Understanding { plan: Some(proposal.clone()), ..said(Intent::PaymentPlanRequest) };
        let p = plan(&u, &ctx);
        assert_eq!(p.actions[1], ReplyAction::DraftPlan { proposal });
        assert_eq!(p.actions[1].task(), None);
        let p = plan(&said(Intent::PaymentPlanRequest), &ctx);
        assert_eq!(p.actions[1], ReplyAction::DraftPlan { proposal: Default::default() });
    }

    #[test]
    fn a_copy_request_is_answered_to_the_sender() {
        let p = plan(&said(Intent::InvoiceCopyRequest), &named(vec![invoice("F-1", "C1", None)]));
        assert_eq!(p.actions, vec![ReplyAction::SendInvoiceCopy { to: Some("ap@client.example".into()) }]);
        assert_eq!(p.actions[0].task(), None);
        assert_eq!(p.invoices, ["F-1"]);
    }

    #[test]
    fn an_out_of_office_leads_to_nothing_and_a_bounce_flags_the_contact() {
        let back = NaiveDate::from_ymd_opt(2026, 10, 12);
        let ooo = Understanding { auto_reply: Some(AutoKind::OutOfOffice), back_on: back, ..said(Intent::AutoReply) };
        let p = plan(&ooo, &ReplyContext::default());
        assert_eq!(p.actions, vec![ReplyAction::IgnoreAutoReply { back_on: back }]);
        assert_eq!(p.actions[0].summary(&[]), "automatic reply, no action (back on 2026-10-12)");
        let ack = Understanding { auto_reply: Some(AutoKind::Acknowledgement), ..said(Intent::AutoReply) };
        assert_eq!(plan(&ack, &ReplyContext::default()).actions[0].summary(&[]), "automatic reply, no action");
        let bounce = Understanding { auto_reply: Some(AutoKind::DeliveryFailure), ..said(Intent::AutoReply) };
        let p = plan(&bounce, &ReplyContext { sender_customer: Some("C1".into()), ..Default::default() });
        assert_eq!(
            p.actions,
            vec![ReplyAction::ContactUndeliverable { note: "reminder undeliverable: the customer's words".into() }]
        );
        assert_eq!(p.actions[0].task().map(|t| t.0), Some(TaskKind::Contact));
        assert_eq!(p.customer.as_deref(), Some("C1"));
    }

    #[test]
    fn anything_else_is_for_review() {
        let p = plan(&said(Intent::Other), &ReplyContext::default());
        assert_eq!((p.customer, p.actions), (None, vec![ReplyAction::Review]));
    }

    #[test]
    fn the_reminder_answered_gives_the_customer_and_the_invoices_when_none_is_named() {
        let reminder = ReminderLink {
            outbox_id: 42,
            customer_id: "C2".into(),
            invoices: vec![invoice("F-2", "C2", None), invoice("F-3", "C2", None)],
        };
        let ctx =
            ReplyContext { reminder: Some(reminder.clone()), sender_customer: Some("C9".into()), ..Default::default() };
        let p = plan(&said(Intent::Dispute), &ctx);
        assert_eq!((p.customer.as_deref(), p.invoices.as_slice()), (Some("C2"), &["F-2".into(), "F-3".into()][..]));
        assert_eq!(p.actions[0], ReplyAction::AnswersReminder { outbox_id: 42 });
        assert_eq!(p.actions[0].summary(&[]), "reply to reminder outbox:42");
        // Invoices named win over the reminder's; its customer still comes first.
        let ctx =
            ReplyContext { named: vec![invoice("F-7", "C7", None)], reminder: Some(reminder), ..Default::default() };
        let p = plan(&said(Intent::Dispute), &ctx);
        assert_eq!((p.customer.as_deref(), p.invoices.as_slice()), (Some("C2"), &["F-7".to_string()][..]));
    }

    #[test]
    fn without_a_reminder_the_sender_then_the_first_invoice_gives_the_customer() {
        let ctx = ReplyContext {
            named: vec![invoice("F-1", "C1", None), invoice("G-1", "C3", None)],
            sender_customer: Some("C5".into()),
            ..Default::default()
        };
        assert_eq!(plan(&said(Intent::Other), &ctx).customer.as_deref(), Some("C5"));
        let ctx = ReplyContext { sender_customer: None, ..ctx };
        assert_eq!(plan(&said(Intent::Other), &ctx).customer.as_deref(), Some("C1"));
    }

    #[test]
    fn reminder_tokens_are_read_from_message_ids() {
        assert_eq!(reminder_token("<rl-0123abcd@acme.example>"), Some("rl-0123abcd"));
        assert_eq!(reminder_token("rl-77"), Some("rl-77"));
        assert_eq!(reminder_token("<CAFE123@mail.example>"), None);
        assert_eq!(reminder_token(""), None);
    }
}
