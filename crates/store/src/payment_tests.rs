//! Typed cash application in the store: match results written and read back
//! as `MatchResult` (including rows stored before their version was
//! recorded), the CHECK constraints of `payments`, and the JSON the API
//! shows for a payment and its allocations; on SQLite and on PostgreSQL,
//! where two stores applying the same credits concurrently apply each once.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, Direction, InvoiceRecord, InvoiceStatus, PaymentStatus};
use relance_engine::matching::{Allocation, Candidate, MatchResult, MatchStatus};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

/// The stores of [`crate::db::both_backends`] (keep the directory and the
/// scratch schema alive with them).
fn both(dir: &std::path::Path) -> Vec<(Store, Option<crate::postgres::Scratch>, TenantId)> {
    crate::db::both_backends(dir).into_iter().map(|(s, scratch)| (s, scratch, TenantId::new("t").unwrap())).collect()
}

/// Writes invoices row by row, as an import would leave them (importing is
/// not ported to PostgreSQL yet): `(number, customer, total, open)` in EUR,
/// due 2026-10-01; a negative total is a credit note. Customers are added
/// when missing.
pub(crate) fn seed_invoices(store: &Store, t: &TenantId, rows: &[(&str, &str, i64, i64)]) {
    store
        .db
        .write_any(|db| {
            for (number, customer, total, open) in rows {
                db.execute(
                    "INSERT OR IGNORE INTO customers (tenant_id, id, name, emails, created_at, updated_at)
                     VALUES (?1, ?2, ?3, '[]', ?4, ?4)",
                    crate::db::args![t.as_str(), customer, format!("Customer {customer}"), now_text()],
                )?;
                let status = if *total < 0 {
                    InvoiceStatus::CreditNote
                } else {
                    InvoiceStatus::from_amounts(*total, *open)
                };
                db.execute(
                    "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency,
                                           total_minor, open_minor, erp_open_minor, status, source, created_at, updated_at)
                     VALUES (?1, ?2, ?3, '2026-09-01', '2026-10-01', 'EUR', ?4, ?5, ?5, ?6, 'erp', ?7, ?7)",
                    crate::db::args![t.as_str(), number, customer, total, open, status.as_str(), now_text()],
                )?;
            }
            Ok(())
        })
        .unwrap();
}

fn rec(number: &str, open: i64) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord { id: "C1".into(), name: "Dupont SA".into(), ..Default::default() },
        issue_date: NaiveDate::from_ymd_opt(2026, 9, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        total: eur(open),
        open: eur(open),
        status: None,
    }
}

fn invoices(store: &Store, t: &TenantId, records: Vec<InvoiceRecord>) {
    let key = ImportKey { tenant: t, source: "erp", unit: "u", label: "u", full_export: false };
    let mut st = store.begin_import(&key).unwrap();
    let n = records.len() as u64;
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: n, ..Default::default() }).unwrap();
    store.finish_import(&mut st, "u").unwrap();
}

fn line() -> BankLine {
    BankLine {
        value_date: NaiveDate::from_ymd_opt(2026, 11, 3),
        counterparty_name: Some("DUPONT SA".into()),
        counterparty_iban: Some("FR7630006000011234567890189".into()),
        remittance: Some("Factures F-1 F-2".into()),
        end_to_end_id: Some("E2E-1".into()),
        bank_ref: Some("BANK-1".into()),
        ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), eur(50_000))
    }
}

/// Stores one statement with `line`; returns the payment's id.
fn credit(store: &Store, t: &TenantId, key: &str, line: BankLine) -> i64 {
    let p = NewPayment { dedupe_key: key.into(), account: Some("FR76".into()), line };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    store.db.read_any(|db| db.query_one("SELECT max(id) FROM payments", crate::db::args![])?.get(0)).unwrap()
}

/// Two candidates for 500.00: F-1 with a fee written off, or F-2.
fn suggestion() -> MatchResult {
    MatchResult {
        status: MatchStatus::Suggested,
        candidates: vec![
            Candidate {
                customer_id: Some("C1".into()),
                allocations: vec![Allocation { invoice: "F-1".into(), amount: eur(50_000), write_off: Some(eur(700)) }],
                confidence: 0.8125,
                reasons: vec!["reference F-1 (exact)".into(), "fee 7.00".into()],
            },
            Candidate {
                customer_id: Some("C1".into()),
                allocations: vec![Allocation { invoice: "F-2".into(), amount: eur(50_000), write_off: None }],
                confidence: 0.5,
                reasons: vec!["amount".into()],
            },
        ],
        decision: vec!["two candidates come close".into()],
    }
}

#[test]
fn a_match_result_is_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        a_match_result_is_read_back_typed_on(&store, &t);
    }
}

fn a_match_result_is_read_back_typed_on(store: &Store, t: &TenantId) {
    let (store, t) = (store.clone(), t.clone());
    let id = credit(&store, &t, "k1", line());
    let p = store.payment(&t, id).unwrap().unwrap();
    assert_eq!(
        (p.status, &p.line, p.match_result.as_ref(), p.unallocated),
        (PaymentStatus::New, &line(), None, eur(50_000))
    );
    assert!(store.set_payment_review(&t, id, PaymentStatus::Suggested, &suggestion()).unwrap());
    let p = store.payment(&t, id).unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Suggested);
    assert_eq!(p.match_result, Some(suggestion()));
    let (version, event): (i64, String) = store
        .db
        .read_any(|db| {
            let r = db.query_one(
                "SELECT match_result_version, (SELECT data FROM audit_events WHERE kind='payment_suggested') FROM payments WHERE id=?1",
                crate::db::args![id],
            )?;
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(version, MATCH_RESULT_VERSION);
    assert_eq!(serde_json::from_str::<MatchResult>(&event).unwrap(), suggestion(), "the event carries the verdict");
    // Only the review statuses are a verdict to record.
    let err = store.set_payment_review(&t, id, PaymentStatus::Matched, &suggestion());
    assert!(matches!(err, Err(StoreError::Rejected(_))), "{err:?}");
    // A page of payments reads them typed too.
    let page = store.payments_with_status(&t, &[PaymentStatus::Suggested], 10).unwrap();
    assert_eq!((page.total, page.items[0].match_result.as_ref()), (1, Some(&suggestion())));
    assert_eq!(store.payments_with_status(&t, &[PaymentStatus::New, PaymentStatus::Matched], 10).unwrap().total, 0);
}

#[test]
fn an_applied_result_keeps_the_matcher_s_result() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        seed_invoices(&store, &t, &[("F-1", "C1", 50_700, 50_700)]);
        an_applied_result_keeps_the_matcher_s_result_on(&store, &t);
    }
    // The same through an import (SQLite).
    let (_d, store, t) = store();
    invoices(&store, &t, vec![rec("F-1", 50_700)]);
    an_applied_result_keeps_the_matcher_s_result_on(&store, &t);
}

fn an_applied_result_keeps_the_matcher_s_result_on(store: &Store, t: &TenantId) {
    let (store, t) = (store.clone(), t.clone());
    let id = credit(&store, &t, "k1", line());
    let mut result = suggestion();
    result.status = MatchStatus::Matched;
    result.candidates.truncate(1);
    let alloc = AllocationRequest { invoice: "F-1".into(), amount: eur(50_000), write_off: Some(eur(700)) };
    store.apply_payment(&t, id, &[PaymentStatus::New], &[alloc], "matcher", Some(&result), LearnIban::No).unwrap();
    let p = store.payment(&t, id).unwrap().unwrap();
    assert_eq!((p.status, p.unallocated, p.match_result), (PaymentStatus::Matched, eur(0), Some(result)));
    // Not applied twice: the payment is no longer new.
    let again = AllocationRequest { invoice: "F-1".into(), amount: eur(1), write_off: None };
    let err = store.apply_payment(&t, id, &[PaymentStatus::New], &[again], "matcher", None, LearnIban::No);
    assert!(
        matches!(&err, Err(StoreError::Rejected(why)) if why == &format!("payment {id} is matched, not new")),
        "{err:?}"
    );
}

/// A database of before migration 0008, with match results as the matcher
/// wrote them then (no version): they read as version 1.
#[test]
fn a_match_result_stored_before_versions_reads_as_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let legacy = r#"{"status":"suggested","candidates":[{"customer_id":"C1","allocations":[{"invoice":"F-1","amount":{"amount":"500.00","currency":"EUR"},"write_off":{"amount":"7.00","currency":"EUR"}}],"confidence":0.8125,"reasons":["reference F-1 (exact)","fee 7.00"]},{"customer_id":"C1","allocations":[{"invoice":"F-2","amount":{"amount":"500.00","currency":"EUR"},"write_off":null}],"confidence":0.5,"reasons":["amount"]}],"decision":["two candidates come close"]}"#;
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for sql in &sqlite::MIGRATIONS[..7] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch("PRAGMA user_version=7").unwrap();
        let insert = "INSERT INTO payments (id, tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction,
                  reversal, status, match_result, unallocated_minor, created_at, updated_at)
             VALUES (?1, 't', ?2, 'bank', '2026-11-02', 50000, 'EUR', 'credit', 0, ?3, ?4, ?5, '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z')";
        c.execute(insert, rusqlite::params![1, "k1", "suggested", legacy, 50_000]).unwrap();
        c.execute(insert, rusqlite::params![2, "k2", "new", None::<String>, 50_000]).unwrap();
        c.execute(
            "INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at)
             VALUES ('t', 1, 'F-9', 100, 'EUR', 'someone', '2026-11-02T10:00:00Z')",
            [],
        )
        .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    let p = store.payment(&t, 1).unwrap().unwrap();
    assert_eq!((p.status, p.match_result), (PaymentStatus::Suggested, Some(suggestion())));
    assert_eq!(store.payment(&t, 2).unwrap().unwrap().match_result, None);
    let versions: Vec<Option<i64>> = store
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT match_result_version FROM payments ORDER BY id")?;
            Ok(st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(versions, vec![Some(1), None]);
    // The rebuilt table is still the one allocations reference.
    assert_eq!(store.allocations(&t, 1).unwrap().len(), 1);
    // The reader treats a missing version as 1, and refuses a version it does not know.
    assert_eq!(payments::decode_match_result(None, legacy), Ok(suggestion()));
    assert!(payments::decode_match_result(Some(2), legacy).is_err());
}

#[test]
fn an_unreadable_match_result_leaves_the_payment_readable() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        let id = credit(&store, &t, "k1", line());
        store.set_payment_review(&t, id, PaymentStatus::Suggested, &suggestion()).unwrap();
        for (text, version) in [(r#"{"status":"maybe"}"#, 1), (&*serde_json::to_string(&suggestion()).unwrap(), 7)] {
            store
                .db
                .write_any(|db| {
                    db.execute(
                        "UPDATE payments SET match_result=?2, match_result_version=?3 WHERE id=?1",
                        crate::db::args![id, text, version],
                    )
                })
                .unwrap();
            let p = store.payment(&t, id).unwrap().unwrap();
            assert_eq!((p.status, p.match_result), (PaymentStatus::Suggested, None), "{text} v{version}");
            assert_eq!(store.payments_with_status(&t, &[], 10).unwrap().items.len(), 1);
        }
    }
}

/// The database refuses a payment status, direction or reversal flag the
/// code does not know, and a match result without its version.
#[test]
fn payments_refuse_unknown_statuses() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        let id = credit(&store, &t, "k1", line());
        let refused = |sql: &str| {
            let out = store.db.write_any(|db| db.execute(sql, crate::db::args![id]));
            match out {
                Err(StoreError::Sqlite(e)) => assert!(e.to_string().contains("CHECK constraint failed"), "{sql}: {e}"),
                Err(e @ StoreError::Postgres(_)) => assert!(e.to_string().contains("check constraint"), "{sql}: {e}"),
                other => panic!("{sql}: accepted ({other:?})"),
            }
        };
        refused("UPDATE payments SET status='done' WHERE id=?1");
        refused("UPDATE payments SET status='Matched' WHERE id=?1");
        refused("UPDATE payments SET direction='in' WHERE id=?1");
        refused("UPDATE payments SET reversal=2 WHERE id=?1");
        refused("UPDATE payments SET match_result='{}' WHERE id=?1");
        refused("UPDATE payments SET match_result_version=1 WHERE id=?1");
        refused(
        "INSERT INTO payments (tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction, status,
                               unallocated_minor, created_at, updated_at)
         SELECT 't', 'k' || CAST(CAST(?1 AS INTEGER) AS TEXT), 'bank', '2026-11-02', 1, 'EUR', 'credit', 'pending', 1, '', ''",
    );
        for s in PaymentStatus::ALL {
            store
                .db
                .write_any(|db| {
                    db.execute("UPDATE payments SET status=?2 WHERE id=?1", crate::db::args![id, s.as_str()])
                })
                .unwrap();
            assert_eq!(store.payment(&t, id).unwrap().unwrap().status, s, "every status the code knows is accepted");
        }
    }
}

#[test]
fn debits_and_reversals_are_stored_ignored() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        let debit = credit(&store, &t, "k1", BankLine { direction: Direction::Debit, ..line() });
        let reversal = credit(&store, &t, "k2", BankLine { reversal: true, ..line() });
        for id in [debit, reversal] {
            let p = store.payment(&t, id).unwrap().unwrap();
            assert_eq!((p.status, p.unallocated), (PaymentStatus::Ignored, eur(0)), "{p:?}");
        }
        assert_eq!(store.payment(&t, debit).unwrap().unwrap().line, BankLine { direction: Direction::Debit, ..line() });
        assert!(store.payments_to_match(&t).unwrap().is_empty());
    }
}

/// A statement's lines are stored once each, in the file's order, with every
/// field: a key repeated in the file or known from an earlier one is a
/// duplicate (PostgreSQL stores the lines with one statement, SQLite row by row).
#[test]
fn a_statement_s_lines_are_stored_once_in_order_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let mut stored = Vec::new();
    for (store, _scratch, t) in both(dir.path()) {
        let lines = [
            ("a", line()),
            ("b", BankLine { direction: Direction::Debit, remittance: None, ..line() }),
            ("c", BankLine { reversal: true, value_date: None, counterparty_iban: None, ..line() }),
            ("a", BankLine { remittance: Some("again".into()), ..line() }),
        ];
        let payments: Vec<NewPayment> = lines
            .iter()
            .map(|(k, l)| NewPayment { dedupe_key: (*k).into(), account: Some("FR76".into()), line: l.clone() })
            .collect();
        let first = store.store_statement(&t, "bank", "s1", "s1", None, "camt", &payments).unwrap();
        assert_eq!((first.inserted, first.duplicates), (3, 1));
        let again = store.store_statement(&t, "bank", "s2", "s2", None, "camt", &payments).unwrap();
        assert_eq!((again.inserted, again.duplicates), (0, 4));
        let page = store.payments_with_status(&t, &[], 10).unwrap();
        let got: Vec<(PaymentStatus, BankLine, Money)> =
            page.items.iter().map(|p| (p.status, p.line.clone(), p.unallocated)).collect();
        assert_eq!(
            got,
            vec![
                (PaymentStatus::New, lines[0].1.clone(), eur(50_000)),
                (PaymentStatus::Ignored, lines[1].1.clone(), eur(0)),
                (PaymentStatus::Ignored, lines[2].1.clone(), eur(0)),
            ]
        );
        stored.push(got);
    }
    assert!(stored.windows(2).all(|w| w[0] == w[1]));
}

/// The API shows a payment and its allocations flat, amounts as decimal
/// strings, as it did before the types.
#[test]
fn a_payment_and_its_allocations_serialize_as_the_api_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in both(dir.path()) {
        seed_invoices(&store, &t, &[("F-1", "C1", 50_700, 50_700)]);
        let id = credit(&store, &t, "k1", line());
        store.set_payment_review(&t, id, PaymentStatus::Suggested, &suggestion()).unwrap();
        let p = serde_json::to_value(store.payment(&t, id).unwrap().unwrap()).unwrap();
        assert_eq!(
            p,
            serde_json::json!({
                "id": id, "booking_date": "2026-11-02", "value_date": "2026-11-03", "currency": "EUR",
                "amount": "500.00", "unallocated": "500.00", "direction": "credit", "reversal": false,
                "counterparty_name": "DUPONT SA", "counterparty_iban": "FR7630006000011234567890189",
                "remittance": "Factures F-1 F-2", "structured_ref": null, "end_to_end_id": "E2E-1",
                "bank_ref": "BANK-1", "status": "suggested",
                "match_result": {
                    "status": "suggested",
                    "candidates": [
                        { "customer_id": "C1", "confidence": 0.8125, "reasons": ["reference F-1 (exact)", "fee 7.00"],
                          "allocations": [{ "invoice": "F-1", "amount": { "amount": "500.00", "currency": "EUR" },
                                            "write_off": { "amount": "7.00", "currency": "EUR" } }] },
                        { "customer_id": "C1", "confidence": 0.5, "reasons": ["amount"],
                          "allocations": [{ "invoice": "F-2", "amount": { "amount": "500.00", "currency": "EUR" },
                                            "write_off": null }] },
                    ],
                    "decision": ["two candidates come close"],
                },
                "holds_reminders": [],
            })
        );
        let alloc = AllocationRequest { invoice: "F-1".into(), amount: eur(50_000), write_off: Some(eur(700)) };
        let aid = store
            .apply_payment(&t, id, &[PaymentStatus::Suggested], &[alloc], "api:ops", None, LearnIban::No)
            .unwrap()[0];
        let allocations = store.allocations(&t, id).unwrap();
        assert_eq!(allocations.len(), 1);
        let a = &allocations[0];
        let created = a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let stored: String = store
            .db
            .read_any(|db| {
                db.query_one("SELECT created_at FROM allocations WHERE id=?1", crate::db::args![aid])?.get(0)
            })
            .unwrap();
        assert_eq!(created, stored, "timestamps are shown as stored");
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::json!({
                "id": aid, "invoice": "F-1", "amount": "500.00", "write_off": "7.00", "currency": "EUR",
                "actor": "api:ops", "created_at": stored, "undone_at": null, "erp_state": "pending",
                "pending_erp": "507.00", "reflected": "0.00", "reflected_at": null, "reflected_by": null,
            })
        );
        // Applied by a person: the matcher's result stays.
        let p = store.payment(&t, id).unwrap().unwrap();
        assert_eq!((p.status, p.match_result), (PaymentStatus::Matched, Some(suggestion())));
    }
}

/// Two daemons on one database (two stores) import overlapping statements
/// with the same credits, then apply every credit at the same time: each
/// credit is stored once and applied once, each invoice lowered once.
fn two_stores_apply_each_credit_once(a: &Store, b: &Store, t: &TenantId) {
    const N: usize = 30;
    let numbers: Vec<(String, String)> = (0..N).map(|i| (format!("F-{i}"), format!("C{}", i % 4))).collect();
    let rows: Vec<(&str, &str, i64, i64)> =
        numbers.iter().map(|(n, c)| (n.as_str(), c.as_str(), 10_000, 10_000)).collect();
    seed_invoices(a, t, &rows);
    let booked = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let lines: Vec<NewPayment> = (0..N)
        .map(|i| NewPayment {
            dedupe_key: format!("line-{i}"),
            account: None,
            line: BankLine { remittance: Some(format!("F-{i}")), ..BankLine::credit(booked, eur(6_000)) },
        })
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let run = |store: &Store, file: &str| -> (u64, usize) {
        // Each its own statement file, the same lines.
        let stored = store.store_statement(t, "bank", file, file, None, "camt", &lines).unwrap();
        barrier.wait();
        let payments = store.payments_with_status(t, &[], 1000u32).unwrap().items;
        assert_eq!(payments.len(), N, "both statements are stored");
        let mut applied = 0;
        for p in payments {
            let invoice = p.line.remittance.clone().unwrap();
            let alloc = AllocationRequest { invoice, amount: eur(6_000), write_off: None };
            match store.apply_payment(t, p.id, &[PaymentStatus::New], &[alloc], "matcher", None, LearnIban::No) {
                Ok(ids) => {
                    assert_eq!(ids.len(), 1);
                    applied += 1;
                }
                Err(StoreError::Rejected(why)) => assert_eq!(why, format!("payment {} is matched, not new", p.id)),
                Err(e) => panic!("payment {}: {e}", p.id),
            }
        }
        (stored.inserted, applied)
    };
    let ((inserted_a, applied_a), (inserted_b, applied_b)) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(a, "file-a"));
        let hb = s.spawn(|| run(b, "file-b"));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(inserted_a + inserted_b, N as u64, "each line stored once");
    assert_eq!(applied_a + applied_b, N, "each credit applied once");
    for p in a.payments_with_status(t, &[], 1000u32).unwrap().items {
        assert_eq!((p.status, p.unallocated), (PaymentStatus::Matched, eur(0)), "payment {}", p.id);
        let allocations = b.allocations(t, p.id).unwrap();
        assert_eq!(allocations.len(), 1, "payment {}: {allocations:?}", p.id);
    }
    let (open, statuses, queued, events) =
        a.db.read_any(|db| {
            let r = db.query_one(
                "SELECT sum(open_minor), count(DISTINCT status), (SELECT count(*) FROM writeback_queue),
                        (SELECT count(*) FROM audit_events WHERE kind='payment_applied')
                   FROM invoices WHERE tenant_id=?1",
                crate::db::args![t.as_str()],
            )?;
            Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<i64>(2)?, r.get::<i64>(3)?))
        })
        .unwrap();
    assert_eq!((open, statuses, queued, events), (4_000 * N as i64, 1, N as i64, N as i64));
    for (n, _) in &numbers {
        let (o, s): (i64, String) =
            a.db.read_any(|db| {
                let r = db.query_one(
                    "SELECT open_minor, status FROM invoices WHERE tenant_id=?1 AND number=?2",
                    crate::db::args![t.as_str(), n],
                )?;
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((o, s.as_str()), (4_000, "partially_paid"), "{n}");
    }
}

#[test]
fn two_stores_applying_the_same_credits_apply_each_once_on_postgres() {
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let a = Store::open_postgres(&scratch.url).unwrap();
    let b = Store::open_postgres(&scratch.url).unwrap();
    two_stores_apply_each_credit_once(&a, &b, &TenantId::new("t").unwrap());
}

#[test]
fn two_stores_applying_the_same_credits_apply_each_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let b = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    two_stores_apply_each_credit_once(&a, &b, &TenantId::new("t").unwrap());
}
