//! The published cash application rates on a hand-built history: an
//! automatic match that stands, one undone by a person and reallocated, a
//! suggestion a person allocated, an unmatched credit, a credit not looked at
//! yet and a debit.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, Direction, InvoiceRecord, PaymentStatus};
use relance_engine::matching::{MatchResult, MatchStatus};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).expect("date")
}

fn rec(number: &str, open: i64) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord { id: "C1".into(), name: "Dupont SA".into(), ..Default::default() },
        issue_date: Some(day(9, 1)),
        due_date: day(10, 1),
        total: eur(open),
        open: eur(open),
        status: None,
    }
}

fn credit(store: &Store, t: &TenantId, key: &str, line: BankLine) -> i64 {
    let p = NewPayment { dedupe_key: key.into(), account: None, line };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).expect("stored");
    store.db.read(|c| Ok(c.query_row("SELECT max(id) FROM payments", [], |r| r.get(0))?)).expect("id")
}

fn alloc(invoice: &str, amount: i64) -> AllocationRequest {
    AllocationRequest { invoice: invoice.into(), amount: eur(amount), write_off: None }
}

fn review(status: MatchStatus) -> MatchResult {
    MatchResult { status, candidates: vec![], decision: vec!["test".into()] }
}

/// The history; returns the store and the undone allocation's payment.
fn history() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).expect("store");
    let t = TenantId::new("t").expect("tenant");
    let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "u", full_export: false };
    let mut st = store.begin_import(&key).expect("import");
    let records =
        vec![rec("F-1", 50_000), rec("F-2", 30_000), rec("F-3", 20_000), rec("F-4", 10_000), rec("F-5", 7_000)];
    store
        .apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 5, ..Default::default() })
        .expect("batch");
    store.finish_import(&mut st, "u").expect("finish");
    let new = [PaymentStatus::New];
    // A: applied by the matcher, stands.
    let a = credit(&store, &t, "A", BankLine::credit(day(11, 2), eur(50_000)));
    store.apply_payment(&t, a, &new, &[alloc("F-1", 50_000)], MATCHER_ACTOR, None, LearnIban::No).expect("A");
    // B: applied by the matcher to F-2, undone by a person who puts it on F-3.
    let b = credit(&store, &t, "B", BankLine::credit(day(11, 3), eur(20_000)));
    let ids = store.apply_payment(&t, b, &new, &[alloc("F-2", 20_000)], MATCHER_ACTOR, None, LearnIban::No).expect("B");
    store.undo_allocation(&t, ids[0], "api:alice").expect("undo");
    store
        .apply_payment(&t, b, &[PaymentStatus::Suggested], &[alloc("F-3", 20_000)], "api:alice", None, LearnIban::No)
        .expect("B again");
    // C: suggested, then allocated by a person.
    let c = credit(&store, &t, "C", BankLine::credit(day(11, 4), eur(10_000)));
    assert!(store.set_payment_review(&t, c, PaymentStatus::Suggested, &review(MatchStatus::Suggested)).expect("C"));
    store
        .apply_payment(&t, c, &[PaymentStatus::Suggested], &[alloc("F-4", 10_000)], "api:bob", None, LearnIban::No)
        .expect("C");
    // D: unmatched, still in review.
    let d = credit(&store, &t, "D", BankLine::credit(day(11, 5), eur(7_000)));
    assert!(store.set_payment_review(&t, d, PaymentStatus::Unmatched, &review(MatchStatus::Unmatched)).expect("D"));
    // E: booked earlier, not looked at yet; and a debit.
    credit(&store, &t, "E", BankLine::credit(day(10, 1), eur(99_900)));
    credit(&store, &t, "X", BankLine { direction: Direction::Debit, ..BankLine::credit(day(11, 6), eur(1_000)) });
    (dir, store, t)
}

#[test]
fn rates_as_decided_at_the_time() {
    let (_dir, store, t) = history();
    let r = store.cash_rates(&t, Some(day(11, 1))).expect("rates");
    assert_eq!(
        r,
        CashRates {
            credits: 4,
            auto_matched: 2,
            reviewed: 2,
            invoices_settled: 3,
            invoices_settled_auto: 1,
            auto_undone: 1,
        }
    );
    assert_eq!(r.envelope_auto_rate(), Some(0.5));
    assert_eq!(r.line_item_rate(), Some(1.0 / 3.0));
    assert_eq!(r.review_rate(), Some(0.5));
    assert_eq!(r.false_match_rate(), Some(0.5));
    // Without a date, the credit not looked at yet counts as a credit only.
    let all = store.cash_rates(&t, None).expect("rates");
    assert_eq!((all.credits, all.auto_matched, all.reviewed), (5, 2, 2));
    // Another tenant has nothing, and no rate.
    let other = store.cash_rates(&TenantId::new("u").expect("tenant"), None).expect("rates");
    assert_eq!(other, CashRates::default());
    assert_eq!((other.envelope_auto_rate(), other.false_match_rate()), (None, None));
}

#[test]
fn replay_inputs_restore_what_live_allocations_took() {
    let (_dir, store, t) = history();
    let ids = store.credit_ids_since(&t, Some(day(11, 1))).expect("ids");
    assert_eq!(ids.len(), 4, "credits A-D, not E (earlier) nor the debit");
    assert_eq!(store.credit_ids_since(&t, None).expect("ids").len(), 5);
    let (invoices, payers) = store.replay_inputs(&t).expect("inputs");
    let open: Vec<(&str, i64)> = invoices.iter().map(|i| (i.number.as_str(), i.open.minor)).collect();
    // F-1, F-3 and F-4 are settled now: open again for the replay; F-2 was undone.
    assert_eq!(open, vec![("F-1", 50_000), ("F-2", 30_000), ("F-3", 20_000), ("F-4", 10_000), ("F-5", 7_000)]);
    assert_eq!(payers.len(), 1);
}
