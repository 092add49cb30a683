//! Cash application over the store: matches the credits waiting in a
//! tenant's payments, applies the confident ones and leaves the others in the
//! review queue with their ranked candidates.
//!
//! Crash safety comes from the store: each payment's decision is one
//! transaction guarded by its status, so a restart re-matches only what was
//! still `new`, and nothing is applied twice.

use serde::Serialize;

use crate::domain::TenantId;
use crate::matching::{Credit, MatchConfig, MatchStatus, Matcher};
use crate::store::{AllocationRequest, Store, StoreError};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CashSummary {
    pub matched: u64,
    pub suggested: u64,
    pub unmatched: u64,
}

/// Matches and applies every pending credit of the tenant. Stops early (with
/// what is done committed) when `stop()` says so.
pub fn apply_pending(
    store: &Store,
    tenant: &TenantId,
    config: &MatchConfig,
    stop: &dyn Fn() -> bool,
) -> Result<CashSummary, StoreError> {
    let pending = store.payments_to_match(tenant)?;
    let mut summary = CashSummary::default();
    if pending.is_empty() {
        return Ok(summary);
    }
    let (invoices, payers) = store.matching_inputs(tenant)?;
    let mut matcher = Matcher::new(invoices, &payers, config.clone());
    for p in pending {
        if stop() {
            break;
        }
        let credit = Credit {
            amount: p.amount_money,
            booking_date: p.booking_date,
            counterparty_name: p.counterparty_name.clone(),
            counterparty_iban: p.counterparty_iban.clone(),
            remittance: p.remittance.clone(),
            structured_ref: p.structured_ref.clone(),
            end_to_end_id: p.end_to_end_id.clone(),
        };
        let result = matcher.match_credit(&credit);
        let json = serde_json::to_value(&result).unwrap_or_default();
        let best = result.best();
        if result.status == MatchStatus::Matched
            && let Some(b) = best
        {
            let allocations: Vec<AllocationRequest> = b
                .allocations
                .iter()
                .map(|a| AllocationRequest { invoice: a.invoice.clone(), amount: a.amount, write_off: a.write_off })
                .collect();
            let learn = match (&p.counterparty_iban, &b.customer_id) {
                (Some(iban), Some(c)) => Some((iban.as_str(), c.as_str())),
                _ => None,
            };
            match store.apply_payment(tenant, p.id, &["new", "unmatched"], &allocations, "matcher", Some(&json), learn)
            {
                Ok(_) => {
                    for a in &b.allocations {
                        matcher.consume(&a.invoice, a.amount, a.write_off);
                    }
                    if let Some((iban, c)) = learn {
                        matcher.learn_iban(iban, c);
                    }
                    summary.matched += 1;
                }
                Err(StoreError::Rejected(why)) => {
                    // The store moved under us (an invoice changed): a human decides.
                    tracing::warn!(payment = p.id, %why, "match could not be applied; sent to review");
                    store.set_payment_review(tenant, p.id, "suggested", &json)?;
                    summary.suggested += 1;
                }
                Err(e) => return Err(e),
            }
        } else {
            let status = if result.status == MatchStatus::Suggested { "suggested" } else { "unmatched" };
            store.set_payment_review(tenant, p.id, status, &json)?;
            if status == "suggested" { summary.suggested += 1 } else { summary.unmatched += 1 }
        }
    }
    Ok(summary)
}
