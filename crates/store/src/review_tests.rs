//! The review search: words found in the payer, remittance, references,
//! candidate and allocated invoice numbers, amounts in the payment's
//! currency; statuses; both orders with their cursors; tenants apart.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, InvoiceRecord, PaymentStatus};
use relance_engine::matching::{Allocation, Candidate, MatchResult, MatchStatus};

fn money(minor: i64, ccy: Currency) -> Money {
    Money::new(minor, ccy)
}

fn gbp() -> Currency {
    Currency::parse("GBP").unwrap()
}

fn jpy() -> Currency {
    Currency::parse("JPY").unwrap()
}

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

fn line(name: &str, remittance: &str, amount: Money) -> BankLine {
    BankLine {
        counterparty_name: Some(name.into()),
        remittance: Some(remittance.into()),
        ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), amount)
    }
}

fn credit(store: &Store, t: &TenantId, key: &str, line: BankLine) -> i64 {
    let p = NewPayment { dedupe_key: key.into(), account: None, line };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    store.db.read_any(|db| db.query_one("SELECT max(id) FROM payments", db::args![])?.get(0)).unwrap()
}

fn suggest(store: &Store, t: &TenantId, id: i64, invoice: &str, amount: Money) {
    let r = MatchResult {
        status: MatchStatus::Suggested,
        candidates: vec![Candidate {
            customer_id: Some("C1".into()),
            allocations: vec![Allocation { invoice: invoice.into(), amount, write_off: None }],
            confidence: 0.6,
            reasons: vec!["amount equals the invoice".into()],
        }],
        decision: vec!["one candidate, not sure enough".into()],
    };
    assert!(store.set_payment_review(t, id, PaymentStatus::Suggested, &r).unwrap());
}

fn ids(p: &Page<StoredPayment, i64>) -> Vec<i64> {
    p.items.iter().map(|p| p.id).collect()
}

fn find(store: &Store, t: &TenantId, text: &str) -> Vec<i64> {
    let q = PaymentSearch { text: text.into(), ..Default::default() };
    ids(&store.search_payments(t, &q, Window::after(100, None)).unwrap())
}

#[test]
fn words_are_found_in_every_place_a_person_remembers() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in db::both_backends(dir.path()) {
        words_are_found_in(&store, TenantId::new("t").unwrap());
    }
}

fn words_are_found_in(store: &Store, t: TenantId) {
    let a = credit(store, &t, "a", line("DUPONT SA", "VIR FACT 2026-17", money(125_000, Currency::EUR)));
    let b = credit(store, &t, "b", line("Martin SARL", "payment", money(50_000, Currency::EUR)));
    let c = credit(store, &t, "c", line("Smith Ltd", "INV 88", money(125_000, gbp())));
    let y = credit(store, &t, "y", line("Tanaka KK", "seikyu", money(125_000, jpy())));
    suggest(store, &t, b, "FA-0042", money(50_000, Currency::EUR));

    // Case-insensitive, in the payer or the remittance.
    assert_eq!(find(store, &t, "dupont"), vec![a]);
    assert_eq!(find(store, &t, "fact 2026-17"), vec![a]);
    // An invoice number among the candidates.
    assert_eq!(find(store, &t, "fa-0042"), vec![b]);
    // An amount, in either decimal style, in each currency's minor digits:
    // 1 250,00 EUR and 1,250.00 GBP are 125000 minor units; 1250 JPY is not.
    assert_eq!(find(store, &t, "1250,00"), vec![a, c]);
    assert_eq!(find(store, &t, "1,250.00"), vec![a, c]);
    assert_eq!(find(store, &t, "125000"), vec![y], "125000 yen, not 125000.00 of a two-digit currency");
    // Every word must be found, each anywhere.
    assert_eq!(find(store, &t, "smith 1250.00"), vec![c]);
    assert_eq!(find(store, &t, "smith dupont"), Vec::<i64>::new());
    // Nothing to search: everything.
    assert_eq!(find(store, &t, "  "), vec![a, b, c, y]);
    // Another tenant's payments never come back.
    let other = TenantId::new("other").unwrap();
    credit(store, &other, "o", line("DUPONT SA", "VIR", money(125_000, Currency::EUR)));
    assert_eq!(find(store, &t, "dupont"), vec![a]);
    assert_eq!(find(store, &other, "fa-0042"), Vec::<i64>::new());
}

#[test]
fn applied_payments_are_found_by_their_invoices_newest_first_a_page_at_a_time() {
    let (_d, store, t) = store();
    let rec = |n: &str| InvoiceRecord {
        number: n.into(),
        customer: CustomerRecord { id: "C1".into(), name: "Dupont SA".into(), ..Default::default() },
        issue_date: NaiveDate::from_ymd_opt(2026, 9, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        total: money(10_000, Currency::EUR),
        open: money(10_000, Currency::EUR),
        status: None,
    };
    let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "u", full_export: false };
    let mut st = store.begin_import(&key).unwrap();
    let records: Vec<_> = (1..=5).map(|i| rec(&format!("F-{i}"))).collect();
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 5, ..Default::default() }).unwrap();
    store.finish_import(&mut st, "u").unwrap();

    let mut applied = Vec::new();
    for i in 1..=5 {
        let id = credit(&store, &t, &format!("p{i}"), line("DUPONT SA", "VIR", money(10_000, Currency::EUR)));
        let alloc =
            AllocationRequest { invoice: format!("F-{i}"), amount: money(10_000, Currency::EUR), write_off: None };
        store.apply_payment(&t, id, &[PaymentStatus::New], &[alloc], "matcher", None, LearnIban::No).unwrap();
        applied.push(id);
    }
    let waiting = credit(&store, &t, "w", line("DUPONT SA", "VIR", money(10_000, Currency::EUR)));

    let q = PaymentSearch { statuses: vec![PaymentStatus::Matched], text: "f-3".into(), newest_first: true };
    assert_eq!(ids(&store.search_payments(&t, &q, Window::after(10, None)).unwrap()), vec![applied[2]]);

    // Newest first, two at a time, following the cursor.
    let q = PaymentSearch { statuses: vec![PaymentStatus::Matched], text: "dupont".into(), newest_first: true };
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = store.search_payments(&t, &q, Window::after(2, after)).unwrap();
        assert_eq!(page.total, 5);
        seen.extend(ids(&page));
        after = page.next_after;
        if after.is_none() {
            break;
        }
    }
    let mut newest_first = applied.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert!(!seen.contains(&waiting), "only the statuses asked");

    // Oldest first for the queue.
    let q = PaymentSearch { statuses: vec![PaymentStatus::New], ..Default::default() };
    assert_eq!(ids(&store.search_payments(&t, &q, Window::after(10, None)).unwrap()), vec![waiting]);
}
