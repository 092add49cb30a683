//! Cash application as a tenant service: matches the credits waiting in a
//! tenant's payments, applies the confident ones and leaves the others in the
//! review queue with their ranked candidates.
//!
//! One service per daemon, one set of settings per tenant (the tenant's
//! `[matching]`), whoever caused the work:
//! - the runtime wakes the tenant's round after any connector run that
//!   stored statements *or* invoices ([`CashService::notify`]), so a credit
//!   that arrived before its invoice is matched as soon as the invoice is
//!   imported, whatever the bank connector's schedule;
//! - `run --once` runs a round between the data sources and the mailbox;
//! - a person's accept or allocation through the API goes through
//!   [`CashService::accept`] / [`CashService::allocate`], which teach the
//!   payer's account to the matcher the way an automatic match does;
//! - a net payment (invoices less open credit notes) is applied as one set,
//!   the credit notes as negative allocations (the store checks them: a
//!   credit note of the same customer, within its open amount, the set
//!   summing to the payment), automatically or by a person alike.
//!
//! Crash safety comes from the store: each payment's decision is one
//! transaction guarded by its status, so a restart re-matches only what was
//! still `new`, and nothing is applied twice; rounds of one tenant never
//! overlap (a per-tenant lock).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use relance_config::Settings;
use relance_domain::money::{DecimalStyle, Money};
use relance_domain::{PaymentStatus, TenantId};
use relance_engine::matching::{Candidate, MatchConfig, MatchStatus, Matcher};
use relance_store::{AllocationRequest, CreditDecision, CreditOutcome, LearnIban, Store, StoreError};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CashSummary {
    pub matched: u64,
    pub suggested: u64,
    pub unmatched: u64,
}

/// How many recently closed invoices the matcher knows (a reference to one
/// of them sends the credit to review: paid twice, or a wrong reference?).
const CLOSED_INVOICES: u32 = 20_000;

/// Credits decided before their decisions are written, in one transaction
/// (see `relance_store::CreditDecision`): a tenth of the pass (so that it
/// commits its progress as it goes, and a crash loses little), within these
/// bounds (a large set rewrites the same index pages once instead of many
/// times; a bounded one holds the writer for a bounded time).
const DECISIONS_PER_SET: (usize, usize) = (500, 10_000);

/// Matches and applies every pending credit of the tenant. Stops early (with
/// what is done committed) when `stop()` says so.
///
/// Decisions are written a set at a time. The matcher consumes the invoices
/// of a match when it decides it, before the set is written: should the
/// store refuse that application (an invoice changed under us), the credit
/// goes to review and the rest of the pass merely sees less open than there
/// is, which can only send credits to review, never match them wrongly.
pub fn apply_pending(
    store: &Store,
    tenant: &TenantId,
    config: &MatchConfig,
    stop: &dyn Fn() -> bool,
) -> Result<CashSummary, StoreError> {
    let pending = store.payments_to_match(tenant)?;
    if pending.is_empty() {
        return Ok(CashSummary::default());
    }
    let (invoices, payers) = store.matching_inputs(tenant)?;
    let closed = store.closed_invoices(tenant, CLOSED_INVOICES)?;
    let mut matcher = Matcher::new(invoices, &payers, config.clone()).with_closed(closed);
    let per_set = (pending.len() / 10).clamp(DECISIONS_PER_SET.0, DECISIONS_PER_SET.1);
    // A writer thread writes each set while the next one is matched (the
    // matcher's CPU and the database's work overlap); at most one set waits.
    std::thread::scope(|s| {
        let (sets, to_write) = std::sync::mpsc::sync_channel::<Vec<Decided>>(1);
        let writer = s.spawn(move || -> Result<CashSummary, StoreError> {
            let mut summary = CashSummary::default();
            for mut set in to_write {
                write_set(store, tenant, &mut set, &mut summary)?;
            }
            Ok(summary)
        });
        let mut set: Vec<Decided> = Vec::with_capacity(per_set);
        for p in pending {
            if stop() {
                break;
            }
            set.push(decide(&mut matcher, p.id, &p.line));
            if set.len() >= per_set {
                let full = std::mem::replace(&mut set, Vec::with_capacity(per_set));
                if sets.send(full).is_err() {
                    break; // the writer stopped on an error: it is returned below
                }
            }
        }
        let _ = sets.send(set);
        drop(sets);
        writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The matcher's decision on one credit; a match consumes its invoices (and
/// teaches the payer's account) at once, for the credits after it.
fn decide(matcher: &mut Matcher, payment: i64, line: &relance_domain::BankLine) -> Decided {
    let result = matcher.match_credit(line);
    let verdict = match result.best() {
        Some(b) if result.status == MatchStatus::Matched => {
            let learn = match (&line.counterparty_iban, &b.customer_id) {
                (Some(iban), Some(c)) => Some((iban.clone(), c.clone())),
                _ => None,
            };
            let allocations = candidate_allocations(b);
            for a in &b.allocations {
                matcher.consume(&a.invoice, a.amount, a.write_off);
            }
            if let Some((iban, customer)) = &learn {
                matcher.learn_iban(iban, customer);
            }
            Verdict::Apply { allocations, learn }
        }
        _ if result.status == MatchStatus::Suggested => Verdict::Review(PaymentStatus::Suggested),
        _ => Verdict::Review(PaymentStatus::Unmatched),
    };
    Decided { payment, result, verdict }
}

/// One credit decided by the matcher, not written yet.
struct Decided {
    payment: i64,
    result: relance_engine::matching::MatchResult,
    verdict: Verdict,
}

enum Verdict {
    /// Apply, and learn the payer's account (IBAN, customer) when it names one.
    Apply {
        allocations: Vec<AllocationRequest>,
        learn: Option<(String, String)>,
    },
    Review(PaymentStatus),
}

/// Writes the decided credits in one set; an application the store refuses
/// (the store moved under us) is sent to review: a human decides.
fn write_set(
    store: &Store,
    tenant: &TenantId,
    set: &mut Vec<Decided>,
    summary: &mut CashSummary,
) -> Result<(), StoreError> {
    const FROM: [PaymentStatus; 2] = [PaymentStatus::New, PaymentStatus::Unmatched];
    let decisions: Vec<CreditDecision<'_>> = set
        .iter()
        .map(|d| match &d.verdict {
            Verdict::Apply { allocations, learn } => CreditDecision::Apply {
                payment: d.payment,
                from: &FROM,
                allocations: allocations.clone(),
                actor: "matcher",
                result: Some(&d.result),
                learn: match learn {
                    Some((iban, customer)) => LearnIban::Customer { iban, customer },
                    None => LearnIban::No,
                },
            },
            Verdict::Review(status) => {
                CreditDecision::Review { payment: d.payment, status: *status, result: &d.result }
            }
        })
        .collect();
    let outcomes = store.apply_credit_decisions(tenant, &decisions)?;
    let mut refused = Vec::new();
    for (d, outcome) in set.iter().zip(outcomes) {
        match (outcome, &d.verdict) {
            (CreditOutcome::Applied(_), _) => summary.matched += 1,
            (CreditOutcome::Refused(why), _) => {
                tracing::warn!(payment = d.payment, %why, "match could not be applied; sent to review");
                refused.push(CreditDecision::Review {
                    payment: d.payment,
                    status: PaymentStatus::Suggested,
                    result: &d.result,
                });
                summary.suggested += 1;
            }
            (CreditOutcome::Reviewed(_), Verdict::Review(PaymentStatus::Suggested)) => summary.suggested += 1,
            (CreditOutcome::Reviewed(_), _) => summary.unmatched += 1,
        }
    }
    store.apply_credit_decisions(tenant, &refused)?;
    drop(decisions);
    set.clear();
    Ok(())
}

/// One tenant's part of the service.
struct TenantCash {
    config: MatchConfig,
    /// Set when statements or invoices changed; a round consumes it.
    wake: Notify,
    /// Held for the length of a round: rounds of one tenant never overlap.
    round: Mutex<()>,
}

/// Cash application for every tenant of the daemon.
pub struct CashService {
    store: Store,
    tenants: HashMap<TenantId, TenantCash>,
}

/// A person's allocation of a payment, by invoice number and decimal amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualAllocation {
    pub invoice: String,
    pub amount: String,
}

impl CashService {
    pub fn new(store: Store, settings: &Settings) -> CashService {
        let tenants = settings
            .tenants
            .iter()
            .map(|t| {
                (t.id.clone(), TenantCash { config: t.matching.clone(), wake: Notify::new(), round: Mutex::new(()) })
            })
            .collect();
        CashService { store, tenants }
    }

    /// The tenant's statements or invoices changed: its next round should run.
    pub fn notify(&self, tenant: &TenantId) {
        if let Some(t) = self.tenants.get(tenant) {
            t.wake.notify_one();
        }
    }

    /// Waits until [`CashService::notify`] was called for the tenant (at
    /// once if it was since the last wait).
    pub async fn changed(&self, tenant: &TenantId) {
        match self.tenants.get(tenant) {
            Some(t) => t.wake.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Matches and applies the tenant's pending credits now, on the blocking
    /// pool; waits for a round already running. `stop()` ends it early.
    pub async fn round(
        self: &Arc<Self>,
        tenant: &TenantId,
        stop: impl Fn() -> bool + Send + 'static,
    ) -> Result<CashSummary, StoreError> {
        let Some(t) = self.tenants.get(tenant) else { return Ok(CashSummary::default()) };
        let _guard = t.round.lock().await;
        let (this, id) = (self.clone(), tenant.clone());
        tokio::task::spawn_blocking(move || {
            let config = this.tenants.get(&id).map(|t| t.config.clone()).unwrap_or_default();
            apply_pending(&this.store, &id, &config, &stop)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// A round whose outcome is logged rather than returned.
    pub async fn logged_round(self: &Arc<Self>, tenant: &TenantId, cancel: tokio_util::sync::CancellationToken) {
        match self.round(tenant, move || cancel.is_cancelled()).await {
            Ok(s) if s != CashSummary::default() => {
                tracing::info!(tenant = %tenant, matched = s.matched, suggested = s.suggested, unmatched = s.unmatched, "credits matched")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(tenant = %tenant, error = %e, "cash application failed; the next change retries"),
        }
    }

    /// Applies the matcher's candidate number `candidate` of a payment waiting
    /// for review, and learns the payer's account.
    pub fn accept(&self, tenant: &TenantId, id: i64, candidate: usize, actor: &str) -> Result<Vec<i64>, StoreError> {
        let p = self.store.payment(tenant, id)?.ok_or_else(|| StoreError::Rejected(format!("no payment {id}")))?;
        let cand = p
            .match_result
            .as_ref()
            .and_then(|r| r.candidates.get(candidate))
            .ok_or_else(|| StoreError::Rejected(format!("payment {id} has no candidate {candidate}")))?;
        let allocations = candidate_allocations(cand);
        self.store.apply_payment(
            tenant,
            id,
            &[PaymentStatus::Suggested, PaymentStatus::Unmatched],
            &allocations,
            actor,
            None,
            LearnIban::FromInvoices,
        )
    }

    /// Allocates a payment by hand (one or several invoices, partial amounts
    /// allowed), and learns the payer's account.
    pub fn allocate(
        &self,
        tenant: &TenantId,
        id: i64,
        allocations: &[ManualAllocation],
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let p = self.store.payment(tenant, id)?.ok_or_else(|| StoreError::Rejected(format!("no payment {id}")))?;
        let ccy = p.line.amount.currency;
        let allocations = allocations
            .iter()
            .map(|a| {
                Money::parse(&a.amount, ccy, DecimalStyle::Dot)
                    .map(|amount| AllocationRequest { invoice: a.invoice.clone(), amount, write_off: None })
                    .map_err(|e| StoreError::Rejected(format!("invoice {}: {e}", a.invoice)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.store.apply_payment(
            tenant,
            id,
            &[PaymentStatus::Suggested, PaymentStatus::Unmatched, PaymentStatus::Matched],
            &allocations,
            actor,
            None,
            LearnIban::FromInvoices,
        )
    }
}

/// What applying a candidate allocates.
fn candidate_allocations(cand: &Candidate) -> Vec<AllocationRequest> {
    cand.allocations
        .iter()
        .map(|a| AllocationRequest { invoice: a.invoice.clone(), amount: a.amount, write_off: a.write_off })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Credit notes and closed invoices through the store and the service.

    use chrono::NaiveDate;

    use super::*;
    use relance_domain::money::Currency;
    use relance_domain::{BankLine, CustomerRecord, InvoiceRecord, InvoiceStatus};
    use relance_engine::matching::MatchResult;
    use relance_store::{ImportKey, InvoiceBatch, InvoiceQuery, NewPayment};

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn rec(number: &str, total: i64, open: i64, status: Option<InvoiceStatus>) -> InvoiceRecord {
        InvoiceRecord {
            number: number.into(),
            customer: CustomerRecord { id: "C1".into(), name: "Dupont SA".into(), ..Default::default() },
            issue_date: NaiveDate::from_ymd_opt(2026, 9, 1),
            due_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            total: eur(total),
            open: eur(open),
            status,
        }
    }

    fn credit(store: &Store, t: &TenantId, key: &str, amount: i64, text: &str) {
        let line = BankLine {
            remittance: Some(text.into()),
            counterparty_name: Some("DUPONT SA".into()),
            ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), eur(amount))
        };
        let p = NewPayment { dedupe_key: key.into(), account: None, line };
        store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    }

    #[test]
    fn net_payments_offset_the_credit_note_and_closed_invoices_go_to_review() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _scratch) in relance_store::testing::stores(dir.path()) {
            net_payments_offset_the_credit_note_and_closed_invoices_go_to_review_on(&store);
        }
    }

    fn net_payments_offset_the_credit_note_and_closed_invoices_go_to_review_on(store: &Store) {
        let t = TenantId::new("t").unwrap();
        let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "u", full_export: false };
        let mut st = store.begin_import(&key).unwrap();
        let records = vec![
            rec("F-2026-0001", 100_000, 100_000, None),
            rec("F-2026-0002", 50_000, 50_000, None),
            rec("AV-2026-0001", -20_000, -20_000, None),
            rec("F-2026-0009", 30_000, 0, Some(InvoiceStatus::Paid)),
        ];
        store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 4, ..Default::default() }).unwrap();
        store.finish_import(&mut st, "u").unwrap();

        // The credit note is an open item of the matcher, negative; never an outstanding debt.
        let (open, _) = store.matching_inputs(&t).unwrap();
        let cn = open.iter().find(|i| i.number == "AV-2026-0001").expect("the credit note is loaded");
        assert_eq!(cn.open, eur(-20_000));
        let q = InvoiceQuery {
            statuses: vec![InvoiceStatus::CreditNote],
            customer_id: None,
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.invoices(&t, &q).unwrap().items.len(), 1, "stored as a credit note, not as a debt");
        let closed = store.closed_invoices(&t, 10).unwrap();
        assert_eq!(closed.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), ["F-2026-0009"]);

        credit(store, &t, "s1", 130_000, "Factures F-2026-0001 F-2026-0002 moins avoir AV-2026-0001");
        credit(store, &t, "s2", 30_000, "Facture F-2026-0009");
        let summary = apply_pending(store, &t, &MatchConfig::default(), &|| false).unwrap();
        // The second names a paid invoice, and its payer has nothing open left: for review, unmatched.
        assert_eq!(summary, CashSummary { matched: 1, suggested: 0, unmatched: 1 });

        let payments = store.payments_to_match(&t).unwrap();
        assert!(payments.is_empty(), "both decided");
        // The net payment: both invoices and the credit note referenced, the credit note deducted.
        let net = store.payment(&t, 1).unwrap().unwrap();
        assert_eq!((net.status, net.unallocated), (PaymentStatus::Matched, eur(0)));
        let best = net.match_result.as_ref().and_then(|r| r.best()).unwrap();
        let sum: i64 = best.allocations.iter().map(|a| a.amount.minor).sum();
        assert_eq!(sum, 130_000, "the credit note explains the net amount: {best:?}");
        let applied: Vec<(String, i64)> =
            store.allocations(&t, 1).unwrap().into_iter().map(|a| (a.invoice, a.amount.minor)).collect();
        assert_eq!(
            applied,
            [
                ("AV-2026-0001".to_string(), -20_000),
                ("F-2026-0001".to_string(), 100_000),
                ("F-2026-0002".to_string(), 50_000)
            ]
        );
        let twice = store.payment(&t, 2).unwrap().unwrap();
        assert_eq!(twice.status, PaymentStatus::Unmatched);
        let decision = twice.match_result.map(|r| r.decision).unwrap_or_default();
        assert!(decision.iter().any(|d| d.contains("F-2026-0009") && d.contains("already paid")), "{decision:?}");
        // The invoices are paid, the credit note used: nothing left to remind, no credit note listed.
        let q =
            InvoiceQuery { statuses: vec![InvoiceStatus::Open], customer_id: None, limit: 10, ..Default::default() };
        assert!(store.invoices(&t, &q).unwrap().items.is_empty());
        let (open, _) = store.matching_inputs(&t).unwrap();
        assert!(open.is_empty(), "{open:?}");
        let states = store.dunning_states(&t).unwrap();
        assert!(states.iter().all(|s| s.invoices.is_empty() && s.credit_notes.is_empty()), "{states:?}");
    }

    #[test]
    fn a_credit_note_offset_in_part_by_hand_is_listed_with_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _scratch) in relance_store::testing::stores(dir.path()) {
            a_credit_note_offset_in_part_by_hand_is_listed_with_what_is_left_on(&store);
        }
    }

    fn a_credit_note_offset_in_part_by_hand_is_listed_with_what_is_left_on(store: &Store) {
        let t = TenantId::new("t").unwrap();
        let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "u", full_export: false };
        let mut st = store.begin_import(&key).unwrap();
        let records = vec![
            rec("F-2026-0001", 100_000, 100_000, None),
            rec("F-2026-0002", 50_000, 50_000, None),
            rec("AV-2026-0001", -20_000, -20_000, None),
        ];
        store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 3, ..Default::default() }).unwrap();
        store.finish_import(&mut st, "u").unwrap();
        // Paid 92.00 for F-2026-0001 less 8.00 of the credit note: a person allocates it.
        credit(store, &t, "s1", 92_000, "virement");
        store
            .set_payment_review(
                &t,
                1,
                PaymentStatus::Suggested,
                &MatchResult {
                    status: relance_engine::matching::MatchStatus::Suggested,
                    candidates: Vec::new(),
                    decision: Vec::new(),
                },
            )
            .unwrap();
        // As `allocate` reads a person's amounts.
        let amount = |text: &str| Money::parse(text, Currency::EUR, DecimalStyle::Dot).unwrap();
        let set = [
            AllocationRequest { invoice: "F-2026-0001".into(), amount: amount("1000.00"), write_off: None },
            AllocationRequest { invoice: "AV-2026-0001".into(), amount: amount("-80.00"), write_off: None },
        ];
        let from = [PaymentStatus::Suggested];
        store.apply_payment(&t, 1, &from, &set, "alice", None, LearnIban::FromInvoices).unwrap();
        // F-2026-0002 is still owed; the credit note's 120.00 left is listed and deducted.
        let states = store.dunning_states(&t).unwrap();
        let s = states.iter().find(|s| s.customer_id == "C1").unwrap();
        assert_eq!(
            s.invoices.iter().map(|i| (i.number.as_str(), i.open)).collect::<Vec<_>>(),
            [("F-2026-0002", eur(50_000))]
        );
        assert_eq!(
            s.credit_notes.iter().map(|n| (n.number.as_str(), n.open)).collect::<Vec<_>>(),
            [("AV-2026-0001", eur(-12_000))]
        );
    }
}
