//! Imports on both databases: PostgreSQL applies a batch set-based
//! (`import/pg_batch.rs`) where SQLite goes row by row, with the same
//! outcome; and a unit is applied once even when two workers (two stores on
//! one database) apply it at the same time.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{CustomerRecord, InvoiceRecord, InvoiceStatus};

fn rec(number: &str, customer: &str, email: &str, total: i64, open: i64) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord {
            id: customer.into(),
            name: format!("Customer {customer}"),
            emails: vec![email.into()],
            ibans: vec![format!("FR76{customer}")],
            ..Default::default()
        },
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        total: Money::new(total, Currency::EUR),
        open: Money::new(open, Currency::EUR),
        status: None,
    }
}

fn key<'a>(tenant: &'a TenantId, unit: &'a str) -> ImportKey<'a> {
    ImportKey { tenant, source: "erp", unit, label: "file.csv", full_export: true }
}

/// What an import leaves, comparable across databases: invoices (number,
/// customer, open, status), customers (id, name, e-mails, IBANs), audit
/// kinds and subjects, summaries.
#[derive(Debug, PartialEq)]
struct Result {
    outcomes: Vec<BatchOutcome>,
    summaries: Vec<ImportSummary>,
    invoices: Vec<(String, String, i64, InvoiceStatus)>,
    customers: Vec<(String, String, Vec<String>, Vec<String>)>,
    audit: Vec<(String, String)>,
    imported_events: usize,
}

fn scenario(store: &Store) -> Result {
    let t = TenantId::new("t").unwrap();
    let mut outcomes = Vec::new();
    let mut summaries = Vec::new();
    // First export: F-1 twice in one batch (the later record wins), a customer on several invoices.
    let mut st = store.begin_import(&key(&t, "u1")).unwrap();
    let first = InvoiceBatch {
        records: vec![
            rec("F-2", "C1", "a@c1.example", 10_000, 10_000),
            rec("F-1", "C1", "b@c1.example", 5_000, 5_000),
            rec("F-3", "C2", "a@c2.example", 7_000, 7_000),
            rec("F-1", "C1", "b@c1.example", 5_000, 4_000),
        ],
        position_after: 4,
        ..Default::default()
    };
    outcomes.push(store.apply_invoice_batch(&mut st, &first).unwrap());
    let second = InvoiceBatch {
        records: vec![rec("F-4", "C2", "z@c2.example", 3_000, 3_000)],
        quarantined: vec![NewQuarantine { source: "erp".into(), item: "line 6".into(), ..Default::default() }],
        position_after: 6,
        ..Default::default()
    };
    outcomes.push(store.apply_invoice_batch(&mut st, &second).unwrap());
    summaries.push(store.finish_import(&mut st, "1.csv").unwrap());
    // Second export: F-1 paid, F-2 unchanged, F-3 in part, F-4 missing (closed), F-5 new.
    let mut st = store.begin_import(&key(&t, "u2")).unwrap();
    let next = InvoiceBatch {
        records: vec![
            rec("F-1", "C1", "b@c1.example", 5_000, 0),
            rec("F-2", "C1", "a@c1.example", 10_000, 10_000),
            rec("F-3", "C2", "A@C2.example", 7_000, 2_000),
            rec("F-5", "C3", "a@c3.example", 1_000, 1_000),
        ],
        position_after: 4,
        ..Default::default()
    };
    outcomes.push(store.apply_invoice_batch(&mut st, &next).unwrap());
    summaries.push(store.finish_import(&mut st, "2.csv").unwrap());
    let page = store.invoices(&t, &InvoiceQuery { limit: 100, ..Default::default() }).unwrap();
    let mut invoices: Vec<_> =
        page.items.into_iter().map(|i| (i.number, i.customer_id, i.open.minor, i.status)).collect();
    invoices.sort_by(|a, b| a.0.cmp(&b.0));
    let customers =
        store.customers(&t, 100).unwrap().items.into_iter().map(|c| (c.id, c.name, c.emails, c.ibans)).collect();
    let events = store.events(&t, 0, 1000).unwrap();
    let audit = events.iter().map(|e| (e.kind.clone(), e.subject.clone())).collect();
    let imported_events = store
        .db
        .read_any(|db| {
            db.query_one(
                "SELECT SUM(count) FROM domain_events WHERE tenant_id='t' AND type='invoice.imported'",
                db::args![],
            )?
            .get::<i64>(0)
        })
        .unwrap() as usize;
    Result { outcomes, summaries, invoices, customers, audit, imported_events }
}

#[test]
fn a_batch_applied_set_based_ends_as_one_applied_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let results: Vec<Result> = crate::db::both_backends(dir.path()).iter().map(|(s, _)| scenario(s)).collect();
    let sqlite = &results[0];
    assert_eq!(
        sqlite.outcomes,
        vec![
            BatchOutcome { created: 3, updated: 1, ..Default::default() },
            BatchOutcome { created: 1, quarantined: 1, ..Default::default() },
            BatchOutcome { created: 1, updated: 2, unchanged: 1, ..Default::default() },
        ]
    );
    assert_eq!(sqlite.summaries[1].closed, 1, "F-4 is missing from the second full export");
    assert_eq!(
        sqlite.invoices,
        vec![
            ("F-1".into(), "C1".into(), 0, InvoiceStatus::Paid),
            ("F-2".into(), "C1".into(), 10_000, InvoiceStatus::Open),
            ("F-3".into(), "C2".into(), 2_000, InvoiceStatus::PartiallyPaid),
            ("F-4".into(), "C2".into(), 0, InvoiceStatus::Closed),
            ("F-5".into(), "C3".into(), 1_000, InvoiceStatus::Open),
        ]
    );
    assert_eq!(sqlite.customers[0].2, vec!["a@c1.example", "b@c1.example"], "e-mails accumulate");
    assert_eq!(sqlite.customers[1].2, vec!["a@c2.example", "z@c2.example"], "case-insensitively");
    assert_eq!(sqlite.customers[0].3, vec!["FR76C1"]);
    assert_eq!(sqlite.imported_events, 5, "one invoice.imported per invoice created");
    for other in &results[1..] {
        assert_eq!(other, sqlite, "PostgreSQL (set-based) and SQLite (row by row) agree");
    }
}

/// Two workers, each with its own store (two daemons on one database),
/// apply the same unit at the same time: each batch is applied once, the
/// loser of each race gets `ImportConflict`, and the unit is done once.
#[test]
fn concurrent_workers_apply_a_unit_once_on_postgres() {
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let stores: Vec<Store> = (0..2).map(|_| Store::open_postgres(&scratch.url).unwrap()).collect();
    let t = TenantId::new("t").unwrap();
    let batches: Vec<InvoiceBatch> = (0..5u32)
        .map(|b| InvoiceBatch {
            records: (b * 200..(b + 1) * 200)
                .map(|n| rec(&format!("F-{n:05}"), &format!("C{}", n % 7), "x@y.example", 1_000, 1_000))
                .collect(),
            position_after: u64::from((b + 1) * 200),
            ..Default::default()
        })
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let (applied, conflicts): (Vec<u64>, Vec<u64>) = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let (t, batches, barrier) = (&t, &batches, &barrier);
                s.spawn(move || {
                    let (mut applied, mut conflicts) = (0u64, 0u64);
                    for b in batches {
                        barrier.wait();
                        // Each worker resumes from the committed position, as a restarted connector does.
                        let mut st = store.begin_import(&key(t, "u")).unwrap();
                        if st.position >= b.position_after {
                            // The other worker applied it before this one began.
                            conflicts += 1;
                            continue;
                        }
                        match store.apply_invoice_batch(&mut st, b) {
                            Ok(out) => applied += out.created,
                            Err(StoreError::ImportConflict { .. }) => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (applied, conflicts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    assert_eq!(applied.iter().sum::<u64>(), 1000, "every record applied once: {applied:?}");
    assert_eq!(conflicts.iter().sum::<u64>(), 5, "one loser per batch (refused, or too late): {conflicts:?}");
    let store = &stores[0];
    let counts = store.tenant_counts(&t).unwrap();
    assert_eq!(counts.invoices_by_status, vec![("open".to_string(), 1000)]);
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    assert_eq!(st.position, 1000);
    assert_eq!(store.finish_import(&mut st, "f.csv").unwrap().created, 1000);
    // Re-importing the same unit applies nothing.
    let again = stores[1].begin_import(&key(&t, "u")).unwrap();
    assert_eq!(again.status, ImportStatus::Done);
    assert_eq!(store.customers(&t, 100).unwrap().total, 7);
}

/// Two workers begin the same new unit at once: one import row, both see it.
#[test]
fn concurrent_workers_begin_one_import_on_postgres() {
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let stores: Vec<Store> = (0..4).map(|_| Store::open_postgres(&scratch.url).unwrap()).collect();
    let t = TenantId::new("t").unwrap();
    let barrier = std::sync::Barrier::new(stores.len());
    let ids: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let (t, barrier) = (&t, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    store.begin_import(&key(t, "same")).unwrap().id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

/// The secondary indexes of `invoices` on PostgreSQL, and the rows of `deferred_indexes`.
fn pg_indexes(store: &Store) -> (Vec<String>, i64) {
    store
        .db
        .read_any(|db| {
            let names = db
                .query(
                    "SELECT CAST(c.relname AS TEXT) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = to_regclass('invoices') AND NOT i.indisunique ORDER BY 1",
                    db::args![],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect::<std::result::Result<Vec<String>, _>>()?;
            let deferred = db.query_one("SELECT count(*) FROM deferred_indexes", db::args![])?.get(0)?;
            Ok((names, deferred))
        })
        .unwrap()
}

fn numbered(range: std::ops::Range<u32>) -> InvoiceBatch {
    InvoiceBatch {
        records: range
            .clone()
            .map(|n| rec(&format!("F-{n:06}"), &format!("C{}", n % 37), "x@y.example", 1_000, 1_000))
            .collect(),
        position_after: u64::from(range.end),
        ..Default::default()
    }
}

/// As on SQLite (`import::bulk`): a large load into a small table drops the
/// secondary indexes of `invoices` after its first batch and rebuilds them
/// at its end, or when the store is opened again after a crash.
#[test]
fn a_large_load_builds_the_indexes_at_the_end_on_postgres() {
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let t = TenantId::new("t").unwrap();
    let before;
    {
        let store = Store::open_postgres(&scratch.url).unwrap();
        before = pg_indexes(&store).0;
        assert!(before.len() >= 8, "the invoice indexes of the migrations: {before:?}");
        let mut st = store.begin_import(&key(&t, "big")).unwrap();
        st.expect_rows(60_000);
        store.apply_invoice_batch(&mut st, &numbered(0..1000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::Deferred, "59,000 new rows expected into a table of 1,000");
        assert_eq!(pg_indexes(&store), (vec![], before.len() as i64), "none while the load runs");
        store.apply_invoice_batch(&mut st, &numbered(1000..2000)).unwrap();
        let q = InvoiceQuery { limit: 10, ..Default::default() };
        assert_eq!(store.invoices(&t, &q).unwrap().total, 2000, "read without the indexes");
        assert_eq!(store.finish_import(&mut st, "big.csv").unwrap().created, 2000);
        assert_eq!(pg_indexes(&store), (before.clone(), 0), "rebuilt, nothing left to rebuild");
        // A second large load, interrupted: the process dies before the end.
        let mut st = store.begin_import(&key(&t, "bigger")).unwrap();
        st.expect_rows(100_000);
        store.apply_invoice_batch(&mut st, &numbered(2000..4000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::Deferred);
        assert!(pg_indexes(&store).0.is_empty());
    }
    let store = Store::open_postgres(&scratch.url).unwrap();
    assert_eq!(pg_indexes(&store), (before.clone(), 0), "rebuilt when the store is opened");
    let mut st = store.begin_import(&key(&t, "bigger")).unwrap();
    assert_eq!((st.status, st.position), (ImportStatus::Running, 4000), "resumes where it stopped");
    store.apply_invoice_batch(&mut st, &numbered(4000..4500)).unwrap();
    let summary = store.finish_import(&mut st, "bigger.csv").unwrap();
    assert_eq!((summary.created, summary.closed), (2500, 2000), "F-0..F-1999 are not in this full export");
    assert_eq!(pg_indexes(&store), (before, 0));
}
