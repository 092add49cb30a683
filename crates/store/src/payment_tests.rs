//! Typed cash application in the store: match results written and read back
//! as `MatchResult` (including rows stored before their version was
//! recorded), the CHECK constraints of `payments`, and the JSON the API
//! shows for a payment and its allocations.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, Direction, InvoiceRecord, PaymentStatus};
use relance_engine::matching::{Allocation, Candidate, MatchResult, MatchStatus};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
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
    store.db.read(|c| Ok(c.query_row("SELECT max(id) FROM payments", [], |r| r.get(0))?)).unwrap()
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
    let (_d, store, t) = store();
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
        .read(|c| {
            Ok(c.query_row(
                "SELECT match_result_version, (SELECT data FROM audit_events WHERE kind='payment_suggested') FROM payments WHERE id=?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
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
    let (_d, store, t) = store();
    invoices(&store, &t, vec![rec("F-1", 50_700)]);
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
    let (_d, store, t) = store();
    let id = credit(&store, &t, "k1", line());
    store.set_payment_review(&t, id, PaymentStatus::Suggested, &suggestion()).unwrap();
    for (text, version) in [(r#"{"status":"maybe"}"#, 1), (&*serde_json::to_string(&suggestion()).unwrap(), 7)] {
        store
            .db
            .write(|tx| {
                Ok(tx.execute(
                    "UPDATE payments SET match_result=?2, match_result_version=?3 WHERE id=?1",
                    rusqlite::params![id, text, version],
                )?)
            })
            .unwrap();
        let p = store.payment(&t, id).unwrap().unwrap();
        assert_eq!((p.status, p.match_result), (PaymentStatus::Suggested, None), "{text} v{version}");
        assert_eq!(store.payments_with_status(&t, &[], 10).unwrap().items.len(), 1);
    }
}

/// The database refuses a payment status, direction or reversal flag the
/// code does not know, and a match result without its version.
#[test]
fn payments_refuse_unknown_statuses() {
    let (_d, store, t) = store();
    let id = credit(&store, &t, "k1", line());
    let refused = |sql: &str| {
        let out = store.db.write(|tx| Ok(tx.execute(sql, [id])?));
        match out {
            Err(StoreError::Sqlite(e)) => assert!(e.to_string().contains("CHECK constraint failed"), "{sql}: {e}"),
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
         SELECT 't', 'k' || ?1, 'bank', '2026-11-02', 1, 'EUR', 'credit', 'pending', 1, '', ''",
    );
    for s in PaymentStatus::ALL {
        store
            .db
            .write(|tx| Ok(tx.execute("UPDATE payments SET status=?2 WHERE id=?1", rusqlite::params![id, s.as_str()])?))
            .unwrap();
        assert_eq!(store.payment(&t, id).unwrap().unwrap().status, s, "every status the code knows is accepted");
    }
}

#[test]
fn debits_and_reversals_are_stored_ignored() {
    let (_d, store, t) = store();
    let debit = credit(&store, &t, "k1", BankLine { direction: Direction::Debit, ..line() });
    let reversal = credit(&store, &t, "k2", BankLine { reversal: true, ..line() });
    for id in [debit, reversal] {
        let p = store.payment(&t, id).unwrap().unwrap();
        assert_eq!((p.status, p.unallocated), (PaymentStatus::Ignored, eur(0)), "{p:?}");
    }
    assert_eq!(store.payment(&t, debit).unwrap().unwrap().line, BankLine { direction: Direction::Debit, ..line() });
    assert!(store.payments_to_match(&t).unwrap().is_empty());
}

/// The API shows a payment and its allocations flat, amounts as decimal
/// strings, as it did before the types.
#[test]
fn a_payment_and_its_allocations_serialize_as_the_api_shows_them() {
    let (_d, store, t) = store();
    invoices(&store, &t, vec![rec("F-1", 50_700)]);
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
    let aid =
        store.apply_payment(&t, id, &[PaymentStatus::Suggested], &[alloc], "api:ops", None, LearnIban::No).unwrap()[0];
    let allocations = store.allocations(&t, id).unwrap();
    assert_eq!(allocations.len(), 1);
    let a = &allocations[0];
    let created = a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let stored: String = store
        .db
        .read(|c| Ok(c.query_row("SELECT created_at FROM allocations WHERE id=?1", [aid], |r| r.get(0))?))
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
