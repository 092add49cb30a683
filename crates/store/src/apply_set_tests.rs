//! Credit decisions applied a set at a time (`apply_set`): what fits is
//! applied, what does not is refused without a trace and does not change
//! what the next decisions see; the same rows on SQLite and PostgreSQL.

use chrono::NaiveDate;

use super::*;
use crate::payment_tests::seed_invoices;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, PaymentStatus};
use relance_engine::matching::{MatchResult, MatchStatus};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn alloc(invoice: &str, minor: i64) -> AllocationRequest {
    AllocationRequest { invoice: invoice.into(), amount: eur(minor), write_off: None }
}

fn verdict(status: MatchStatus) -> MatchResult {
    MatchResult { status, candidates: vec![], decision: vec!["test".into()] }
}

/// Four credits (ids in order): 300.00, 200.00, 100.00, 150.00, from
/// accounts IBAN-1 … IBAN-4.
fn credits(store: &Store, t: &TenantId) -> Vec<i64> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let lines: Vec<NewPayment> = [30_000, 20_000, 10_000, 15_000]
        .iter()
        .enumerate()
        .map(|(n, minor)| NewPayment {
            dedupe_key: format!("k{n}"),
            account: None,
            line: BankLine { counterparty_iban: Some(format!("IBAN-{}", n + 1)), ..BankLine::credit(day, eur(*minor)) },
        })
        .collect();
    store.store_statement(t, "bank", "s", "s", None, "camt", &lines).unwrap();
    store.payments_with_status(t, &[], 10).unwrap().items.iter().map(|p| p.id).collect()
}

/// What the set left, as text to compare across databases.
fn digest(store: &Store, t: &TenantId) -> Vec<String> {
    let queries = [
        "SELECT 'payment', status, unallocated_minor, coalesce(match_result_version, 0) FROM payments ORDER BY id",
        "SELECT 'invoice', number, open_minor, status FROM invoices ORDER BY number",
        "SELECT 'allocation', invoice_number, amount_minor, actor FROM allocations ORDER BY id",
        "SELECT 'writeback', count(*), 0, '' FROM writeback_queue",
        "SELECT 'audit', kind, subject, actor FROM audit_events WHERE kind <> 'statement_imported' ORDER BY id",
        "SELECT 'event', type, coalesce(customer_id, '-'), subject FROM domain_events ORDER BY id",
        "SELECT 'iban', iban, customer_id, origin FROM customer_ibans WHERE origin = 'learned' ORDER BY iban",
    ];
    let _ = t;
    store
        .db
        .read_any(|db| {
            let mut out = Vec::new();
            for q in queries {
                for r in db.query(q, crate::db::args![])? {
                    let cell = |i: usize| -> Result<String, StoreError> {
                        match r.get::<Option<String>>(i) {
                            Ok(s) => Ok(s.unwrap_or_default()),
                            Err(_) => Ok(r.get::<i64>(i)?.to_string()),
                        }
                    };
                    out.push(format!("{} {} {} {}", cell(0)?, cell(1)?, cell(2)?, cell(3)?));
                }
            }
            Ok(out)
        })
        .unwrap()
}

#[test]
fn a_set_applies_what_fits_and_refuses_the_rest_without_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        let t = TenantId::new("t").unwrap();
        seed_invoices(
            &store,
            &t,
            &[("F-1", "C1", 30_000, 30_000), ("F-2", "C1", 20_000, 20_000), ("F-3", "C2", 10_000, 10_000)],
        );
        let ids = credits(&store, &t);
        let (p1, p2, p3, p4) = (ids[0], ids[1], ids[2], ids[3]);
        let matched = verdict(MatchStatus::Matched);
        let unmatched = verdict(MatchStatus::Unmatched);
        let from = [PaymentStatus::New, PaymentStatus::Unmatched];
        let apply = |payment: i64, allocations: Vec<AllocationRequest>, learn: LearnIban<'static>| {
            CreditDecision::Apply { payment, from: &from, allocations, actor: "matcher", result: Some(&matched), learn }
        };
        let decisions = [
            apply(p1, vec![alloc("F-1", 30_000)], LearnIban::No),
            // Refused: no such invoice.
            apply(p2, vec![alloc("F-9", 20_000)], LearnIban::No),
            // Refused: the first decision left F-1 nothing open; its first allocation fits,
            // and must leave no trace either.
            apply(p3, vec![alloc("F-3", 5_000), alloc("F-1", 5_000)], LearnIban::No),
            CreditDecision::Review { payment: p4, status: PaymentStatus::Unmatched, result: &unmatched },
            // The refused payments, decided again in the same set, see the state as if
            // their refusals had not been asked.
            apply(p2, vec![alloc("F-2", 20_000)], LearnIban::Customer { iban: "IBAN-2", customer: "C1" }),
            apply(p3, vec![alloc("F-3", 10_000)], LearnIban::FromInvoices),
            // A payment already applied in this set is not applied again.
            apply(p1, vec![alloc("F-2", 1)], LearnIban::No),
        ];
        let outcomes = store.apply_credit_decisions(&t, &decisions).unwrap();
        let refused = |o: &CreditOutcome, what: &str| matches!(o, CreditOutcome::Refused(why) if why == what);
        assert!(matches!(&outcomes[0], CreditOutcome::Applied(ids) if ids.len() == 1), "{outcomes:?}");
        assert!(refused(&outcomes[1], "invoice F-9 does not exist"), "{outcomes:?}");
        assert!(refused(&outcomes[2], "invoice F-1 has 0.00 open, cannot apply 50.00"), "{outcomes:?}");
        assert_eq!(outcomes[3], CreditOutcome::Reviewed(true));
        assert!(matches!(&outcomes[4], CreditOutcome::Applied(ids) if ids.len() == 1), "{outcomes:?}");
        assert!(matches!(&outcomes[5], CreditOutcome::Applied(ids) if ids.len() == 1), "{outcomes:?}");
        assert!(refused(&outcomes[6], &format!("payment {p1} is matched, not new or unmatched")), "{outcomes:?}");
        let d = digest(&store, &t);
        let expected = [
            "payment matched 0 1",
            "payment matched 0 1",
            "payment matched 0 1",
            "payment unmatched 15000 1",
            "invoice F-1 0 paid",
            "invoice F-2 0 paid",
            "invoice F-3 0 paid",
            "allocation F-1 30000 matcher",
            "allocation F-2 20000 matcher",
            "allocation F-3 10000 matcher",
            "writeback 3 0 ",
        ];
        assert_eq!(&d[..expected.len()], expected, "{d:#?}");
        let audit: Vec<&String> = d.iter().filter(|l| l.starts_with("audit ")).collect();
        assert_eq!(
            audit,
            [
                "audit allocation_applied invoice:F-1 matcher".to_string(),
                format!("audit payment_applied payment:{p1} matcher"),
                format!("audit payment_unmatched payment:{p4} matcher"),
                "audit allocation_applied invoice:F-2 matcher".to_string(),
                format!("audit payment_applied payment:{p2} matcher"),
                "audit allocation_applied invoice:F-3 matcher".to_string(),
                format!("audit payment_applied payment:{p3} matcher"),
            ]
            .iter()
            .collect::<Vec<_>>()
        );
        let events: Vec<&String> = d.iter().filter(|l| l.starts_with("event ")).collect();
        assert_eq!(
            events,
            [
                "event payment.applied C1 invoice:F-1",
                "event payment.applied C1 invoice:F-2",
                "event payment.applied C2 invoice:F-3"
            ]
            .map(String::from)
            .iter()
            .collect::<Vec<_>>()
        );
        let ibans: Vec<&String> = d.iter().filter(|l| l.starts_with("iban ")).collect();
        assert_eq!(
            ibans,
            ["iban IBAN-2 C1 learned", "iban IBAN-3 C2 learned"].map(String::from).iter().collect::<Vec<_>>()
        );
        // The allocation ids are the rows' own, named in the audit.
        let named: i64 = store
            .db
            .read_any(|db| {
                db.query_one(
                    "SELECT count(*) FROM audit_events e JOIN allocations a ON e.subject = 'invoice:' || a.invoice_number
                     WHERE e.kind = 'allocation_applied' AND e.data LIKE '%\"allocation\":' || a.id || ',%'",
                    crate::db::args![],
                )?
                .get(0)
            })
            .unwrap();
        assert_eq!(named, 3);
        digests.push(d);
    }
    if let [sqlite, postgres] = &digests[..] {
        assert_eq!(sqlite, postgres, "the same rows on both databases");
    }
}
