//! "We already paid" closes the loop: each planning day follows the
//! customers' payment claims (`relance_store::PaymentClaim`, recorded with
//! their reply), before the day's reminders are decided.
//!
//! For each claim not closed:
//! 1. the invoices claimed are all settled: the claim is closed and its holds
//!    lifted;
//! 2. matching is run again for that payer: the credits waiting for review
//!    booked since [`PAID_CLAIM_LOOKBACK_DAYS`] before the reply are given to
//!    the [`Matcher`] (loaded with that customer's open invoices and
//!    accounts only), each with the reply's references and the invoices
//!    claimed added to its remittance as extra evidence — only for a credit
//!    of the amount stated (or of the open amount of the invoices claimed,
//!    or of one of them) or one whose account is the customer's. A credit
//!    the matcher then ranks for that customer is **linked for review**
//!    (the claim's holds name it: the review queue lists it first, the
//!    reason naming the reply). Nothing is applied on the reply alone: a
//!    person accepts the credit;
//! 3. otherwise the reminders of the invoices claimed are held for
//!    `[dunning] claimed_paid_hold_days` (`claimed_paid` holds) and a
//!    proof-of-payment request (template `proof_request`, FR/EN) is queued
//!    once, to the address that wrote, threaded to its reply;
//! 4. once the hold ran out without a payment the claim is closed and the
//!    reminders resume (the engine reads the hold's last day).
//!
//! A credit linked and then rejected by a person reopens the claim.

use chrono::{Days, NaiveDate};

use relance_config::TenantConfig;
use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::{Channel, PaymentStatus};
use relance_engine::dunning::{CustomerState, Decision, PROOF_REQUEST_STEP, Step};
use relance_engine::matching::{MatchStatus, Matcher};
use relance_engine::replies::actions::PAID_CLAIM_LOOKBACK_DAYS;
use relance_store::{ClaimStatus, PaymentClaim, Store, StoredPayment};

use super::plan::{PlanError, PlanReport, Queued};

/// Follows every claim not closed on `day` (see the module doc).
pub fn follow_claims(
    store: &Store,
    tenant: &TenantConfig,
    day: NaiveDate,
    report: &mut PlanReport,
) -> Result<(), PlanError> {
    let claims = store.open_claims(&tenant.id)?;
    if claims.is_empty() {
        return Ok(());
    }
    for claim in claims {
        let state = store.dunning_state(&tenant.id, &claim.customer_id)?;
        let open: Vec<String> = state
            .iter()
            .flat_map(|s| s.invoices.iter())
            .filter(|i| !i.disputed && (claim.invoices.is_empty() || claim.invoices.contains(&i.number)))
            .map(|i| i.number.clone())
            .collect();
        if open.is_empty() {
            store.close_claim(&tenant.id, &claim, "the invoices claimed are settled", true)?;
            report.claims_closed += 1;
            continue;
        }
        if claim.status == ClaimStatus::CreditFound {
            let still = match claim.payment_id {
                Some(id) => store
                    .payment(&tenant.id, id)?
                    .is_some_and(|p| matches!(p.status, PaymentStatus::Suggested | PaymentStatus::Unmatched)),
                None => false,
            };
            if still {
                continue;
            }
            store.reopen_claim(&tenant.id, claim.id, "the credit linked was not applied to the invoices claimed")?;
        }
        if let Some((payment, reason)) = find_credit(store, tenant, &claim, &open, day)? {
            if claim.hold_until.is_none() {
                let until = day + Days::new(u64::from(tenant.dunning.claimed_paid_hold_days));
                store.hold_for_claim(&tenant.id, &claim, until, &reason)?;
            }
            store.link_claim_credit(&tenant.id, claim.id, payment, &reason)?;
            report.claims_linked += 1;
            continue;
        }
        match claim.hold_until {
            None => {
                let until = day + Days::new(u64::from(tenant.dunning.claimed_paid_hold_days));
                let reason = format!(
                    "the customer says it already paid (message {}{}): payment looked for in the bank until {until}, proof of payment requested",
                    claim.message_id,
                    stated(&claim).map(|s| format!(", {s}")).unwrap_or_default()
                );
                if store.hold_for_claim(&tenant.id, &claim, until, &reason)? {
                    report.claims_held += 1;
                }
                if let Some(s) = &state {
                    request_proof(store, tenant, &claim, s, &open, day, report)?;
                }
            }
            Some(until) if day > until => {
                let note = format!("no payment found by {until}: reminders resume");
                store.close_claim(&tenant.id, &claim, &note, false)?;
                report.claims_closed += 1;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The amount the reply stated, as written (`1200.00 EUR`).
fn stated(claim: &PaymentClaim) -> Option<String> {
    let amount = claim.amount.as_deref()?;
    Some(match claim.currency.as_deref() {
        Some(c) => format!("{amount} {c}"),
        None => amount.to_string(),
    })
}

/// Matching re-run for the payer with the reply as extra evidence: the best
/// credit the matcher ranks for the claim's customer, with the reason.
fn find_credit(
    store: &Store,
    tenant: &TenantConfig,
    claim: &PaymentClaim,
    open: &[String],
    day: NaiveDate,
) -> Result<Option<(i64, String)>, PlanError> {
    let since = claim.claimed_on.checked_sub_days(Days::new(PAID_CLAIM_LOOKBACK_DAYS)).unwrap_or(claim.claimed_on);
    let credits: Vec<StoredPayment> =
        store.review_credits_since(&tenant.id, since)?.into_iter().filter(|p| p.line.booking_date <= day).collect();
    if credits.is_empty() {
        return Ok(None);
    }
    let (invoices, payers) = store.matching_inputs(&tenant.id)?;
    let mine: Vec<_> = invoices.into_iter().filter(|i| i.customer_id == claim.customer_id).collect();
    let claimed: Vec<_> = mine.iter().filter(|i| open.contains(&i.number)).cloned().collect();
    let payers: Vec<_> = payers.into_iter().filter(|p| p.customer_id == claim.customer_id).collect();
    let known: Vec<String> = payers.iter().flat_map(|p| p.ibans.iter().cloned()).collect();
    let matcher = Matcher::new(mine, &payers, tenant.matching.clone());
    let mut best: Option<(f64, i64, String)> = None;
    let mut fitting = 0;
    for p in &credits {
        let ccy = p.line.amount.currency;
        if !fits(claim, &claimed, ccy, p.line.amount, &known, p.line.counterparty_iban.as_deref()) {
            continue;
        }
        // The reply's references and the invoices claimed, as if the remittance said them.
        let mut line = p.line.clone();
        let words: Vec<&str> = claim.refs.iter().chain(claim.invoices.iter()).map(String::as_str).collect::<Vec<_>>();
        line.remittance = Some(format!("{} {}", line.remittance.as_deref().unwrap_or_default(), words.join(" ")));
        let result = matcher.match_credit(&line);
        if result.status == MatchStatus::Unmatched {
            continue;
        }
        let Some(cand) = result.candidates.iter().find(|c| c.customer_id.as_deref() == Some(&claim.customer_id)) else {
            continue;
        };
        fitting += 1;
        if best.as_ref().is_none_or(|(conf, _, _)| cand.confidence > *conf) {
            let invoices: Vec<&str> = cand.allocations.iter().map(|a| a.invoice.as_str()).collect();
            let why = format!(
                "the customer says it already paid (message {}{}): credit #{} of {} {} booked {} fits {} (matched again with the reply's references); a person confirms it",
                claim.message_id,
                stated(claim).map(|s| format!(", {s}")).unwrap_or_default(),
                p.id,
                p.line.amount.to_decimal_string(),
                ccy.code(),
                p.line.booking_date,
                invoices.join(", ")
            );
            best = Some((cand.confidence, p.id, why));
        }
    }
    Ok(best.map(|(_, id, why)| {
        if fitting > 1 { (id, format!("{why}; {} other credits also fit: check them", fitting - 1)) } else { (id, why) }
    }))
}

/// Whether a credit may be the payment claimed: of the amount stated (in
/// the credit's currency's decimals, when the currency stated is none or
/// the credit's), of the open amount of the invoices claimed or of one of
/// them, or from one of the customer's accounts.
fn fits(
    claim: &PaymentClaim,
    claimed: &[relance_engine::matching::OpenInvoice],
    ccy: Currency,
    amount: Money,
    known: &[String],
    iban: Option<&str>,
) -> bool {
    let stated_ccy_ok = claim.currency.as_deref().and_then(|c| Currency::parse(c).ok()).is_none_or(|c| c == ccy);
    let stated = claim.amount.as_deref().is_some_and(|a| {
        stated_ccy_ok
            && [DecimalStyle::Dot, DecimalStyle::Auto]
                .into_iter()
                .any(|style| Money::parse(a, ccy, style).is_ok_and(|m| m == amount))
    });
    let sum = claimed
        .iter()
        .filter(|i| i.open.currency == ccy)
        .try_fold(0i64, |s, i| s.checked_add(i.open.minor))
        .is_some_and(|s| s == amount.minor);
    let one = claimed.iter().any(|i| i.open == amount);
    let account = iban.is_some_and(|i| known.iter().any(|k| k == i));
    stated || sum || one || account
}

/// Queues the proof-of-payment request once (keyed by the reply), to the
/// address that wrote, threaded to its reply.
fn request_proof(
    store: &Store,
    tenant: &TenantConfig,
    claim: &PaymentClaim,
    c: &CustomerState,
    open: &[String],
    day: NaiveDate,
    report: &mut PlanReport,
) -> Result<(), PlanError> {
    if claim.proof_outbox_id.is_some() {
        return Ok(());
    }
    let decision = Decision {
        customer_id: c.customer_id.clone(),
        step: Step {
            id: PROOF_REQUEST_STEP.into(),
            offset_days: 0,
            channel: Channel::Email,
            template: "proof_request".into(),
            confirm: None,
        },
        invoices: open.to_vec(),
        covers: Vec::new(),
        idempotency_key: format!("proof|message:{}", claim.message_id),
        why: vec![format!(
            "the customer says it already paid (message {}): proof of payment requested",
            claim.message_id
        )],
    };
    let rendered = match tenant.templates.render("proof_request", &super::plan::facts(tenant, c, open, day)) {
        Ok(r) => r,
        Err(e) => {
            report.errors.push(format!("customer {}: proof request: {e}", c.customer_id));
            return Ok(());
        }
    };
    if let Some(id) = store.enqueue_answer(
        &tenant.id,
        "replies",
        day,
        &decision,
        &rendered,
        claim.reply_to.as_deref(),
        claim.reply_message.as_deref(),
    )? {
        store.claim_proof_requested(&tenant.id, claim.id, id)?;
        report.queued.push(Queued::new(id, &decision, rendered.subject, false));
        report.proof_requests += 1;
    }
    Ok(())
}
