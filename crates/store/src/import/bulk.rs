//! Bulk loads: a large import into a small table builds the secondary
//! indexes of `invoices` once, sorted, instead of updating them row by row.
//!
//! Updating nine secondary indexes per row costs each batch (one
//! transaction) a write of every index page it touched; with keys spread at
//! random (the customer-keyed indexes) that is nearly every leaf page of
//! those indexes once the table is large, so the import slows down as the
//! table grows. When an import is expected to add at least [`BULK_MIN_ROWS`]
//! rows and at least as many as the table holds (an initial load, a new
//! large tenant), the store drops those indexes after its first batch and
//! rebuilds them when the import finishes: rows are then appended at the
//! cost of the table alone, and each index is built by one sort.
//!
//! Every non-unique index goes, those keyed by customer first: a batch
//! scatters its rows over all their leaf pages, so keeping even one of them
//! costs each batch a write of most of that index. Queries that name an
//! index (`INDEXED BY`, the customer view) would fail without it: they are
//! prepared through [`hinted`], which drops the clause while the index is
//! deferred (and retried once if it went between the two).
//!
//! Nothing else changes: each batch is still one transaction with its
//! position, re-imports stay idempotent, and queries stay correct without
//! the indexes (only slower) while the load runs. Each dropped index is
//! recorded in `deferred_indexes` in the transaction that drops it, and
//! deleted from it in the transaction that rebuilds it, so a crash leaves
//! the list of what to rebuild; [`restore_deferred`] runs at every open of
//! the database (before migrations), at the end of an import, and when a
//! connector gives up on one.
//!
//! PostgreSQL does the same (its index maintenance per row costs as much):
//! the definitions recorded are PostgreSQL's (`pg_indexes`), each rebuilt in
//! its own transaction; a load interrupted by a crash leaves them to the next
//! import's end, or to [`crate::Store::restore_deferred_indexes`] when the
//! store is opened.

use std::borrow::Cow;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::db::{Db, args};
use crate::{StoreError, now_text};

/// Fewest rows an import must be expected to add for its indexes to be deferred.
pub const BULK_MIN_ROWS: u64 = 50_000;

/// Whether an import defers the indexes, as decided after its first batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BulkMode {
    /// Not decided yet (no batch with records applied).
    #[default]
    Undecided,
    /// Indexes are maintained row by row.
    RowByRow,
    /// The secondary indexes of `invoices` are dropped until the import ends.
    Deferred,
}

/// Whether an import expected to add `projected_new` rows to a table of
/// `table_rows` rows should build the indexes at the end: building an index
/// sorts the whole table once, updating it costs every added row a random
/// index write, so the build pays when the load is at least the table's size.
pub fn worth_deferring(projected_new: u64, table_rows: u64) -> bool {
    projected_new >= BULK_MIN_ROWS && projected_new >= table_rows
}

/// Drops the secondary indexes of `invoices` (never a UNIQUE one: it enforces
/// a rule) and records how to rebuild them, in the caller's transaction.
/// Returns how many were dropped.
pub(crate) fn defer_invoice_indexes(tx: &Transaction<'_>, import: i64) -> Result<usize, StoreError> {
    let indexes: Vec<(String, String)> = {
        let mut st = tx.prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type='index' AND tbl_name='invoices' AND sql IS NOT NULL ORDER BY name",
        )?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
    };
    let now = now_text();
    let mut dropped = 0;
    for (name, sql) in indexes {
        if is_unique(&sql) {
            continue;
        }
        tx.execute(
            "INSERT OR REPLACE INTO deferred_indexes (name, sql, import_id, deferred_at) VALUES (?1,?2,?3,?4)",
            (&name, &sql, import, &now),
        )?;
        tx.execute_batch(&format!("DROP INDEX {}", quote_ident(&name)))?;
        dropped += 1;
    }
    Ok(dropped)
}

/// Rebuilds every index a bulk load deferred, one transaction per index.
/// Returns how many were rebuilt. Does nothing on a database that predates
/// the `deferred_indexes` table.
pub(crate) fn restore_deferred(conn: &mut Connection) -> Result<usize, StoreError> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type='table' AND name='deferred_indexes'", [], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(0);
    }
    let mut rebuilt = 0;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let next: Option<(String, String)> = tx
            .query_row("SELECT name, sql FROM deferred_indexes ORDER BY name LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((name, sql)) = next else { break };
        let present: Option<i64> = tx
            .query_row("SELECT 1 FROM sqlite_master WHERE type='index' AND name=?1", [&name], |r| r.get(0))
            .optional()?;
        if present.is_none() {
            tx.execute_batch(&sql)?;
            rebuilt += 1;
        }
        tx.execute("DELETE FROM deferred_indexes WHERE name=?1", [&name])?;
        tx.commit()?;
    }
    if rebuilt > 0 {
        // The builds went through the write-ahead log: copy it into the
        // database and truncate it rather than keep a log the size of the indexes.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    Ok(rebuilt)
}

/// PostgreSQL: drops the secondary indexes of `invoices` (never a unique
/// one) and records their definitions (`pg_indexes.indexdef`, PostgreSQL's
/// DDL) in `deferred_indexes`, in the caller's transaction, as
/// [`defer_invoice_indexes`] does on SQLite. Returns how many were dropped.
pub(crate) fn defer_invoice_indexes_pg(db: Db<'_>, import: i64) -> Result<usize, StoreError> {
    let Db::Postgres(pg) = db else { return Ok(0) };
    // From the catalog, the table first: `pg_indexes` may compute the
    // definition of any schema's index, and fails on one another session
    // is dropping (another deployment or test on the same server).
    let indexes = db.query(
        "SELECT CAST(c.relname AS TEXT), pg_get_indexdef(c.oid) FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = to_regclass('invoices') ORDER BY 1",
        args![],
    )?;
    let now = now_text();
    let mut dropped = 0;
    for r in indexes {
        let (name, sql): (String, String) = (r.get(0)?, r.get(1)?);
        if is_unique(&sql) {
            continue;
        }
        db.execute(
            "INSERT INTO deferred_indexes (name, sql, import_id, deferred_at) VALUES (?1,?2,?3,?4)
             ON CONFLICT (name) DO UPDATE SET sql=excluded.sql, import_id=excluded.import_id,
                                              deferred_at=excluded.deferred_at",
            args![name, sql, import, now],
        )?;
        pg.batch(&format!("DROP INDEX {}", quote_ident(&name)))?;
        dropped += 1;
    }
    Ok(dropped)
}

/// PostgreSQL: refreshes the planner's statistics of `invoices` after a bulk load.
pub(crate) fn analyze_pg(db: Db<'_>) -> Result<(), StoreError> {
    if let Db::Postgres(pg) = db {
        pg.batch("ANALYZE invoices")?;
    }
    Ok(())
}

/// Memory PostgreSQL may sort with while it rebuilds a deferred index.
const PG_INDEX_BUILD_MEMORY: &str = "256MB";

/// PostgreSQL: rebuilds one index a bulk load deferred, in the caller's
/// transaction; `None` when none is left to take. The row is locked first
/// (skipping rows others hold), so that builders restoring at once, in one
/// daemon or several, build different indexes, each once.
pub(crate) fn restore_next_pg(db: Db<'_>) -> Result<Option<bool>, StoreError> {
    let Db::Postgres(pg) = db else { return Ok(None) };
    let Some(r) =
        db.query_opt("SELECT name, sql FROM deferred_indexes ORDER BY name LIMIT 1 FOR UPDATE SKIP LOCKED", args![])?
    else {
        return Ok(None);
    };
    let (name, sql): (String, String) = (r.get(0)?, r.get(1)?);
    let present = db
        .query_opt("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?1", args![name])?
        .is_some();
    if !present {
        // Sorting a million keys in the default 64 MB spills to disk; the
        // setting lasts for this transaction only.
        pg.batch(&format!("SET LOCAL maintenance_work_mem = '{PG_INDEX_BUILD_MEMORY}'; {sql}"))?;
    }
    db.execute("DELETE FROM deferred_indexes WHERE name=?1", args![name])?;
    Ok(Some(!present))
}

/// `sql` without its `INDEXED BY` clauses that name an index a bulk load has
/// deferred (dropped until the load ends): a query naming a missing index
/// fails, so while the load runs it is planned freely (slower, still
/// correct). Every query of the store that names an `invoices` index is
/// prepared through this (a test checks it).
pub(crate) fn hinted<'a, 's>(db: impl Into<Db<'a>>, sql: &'s str) -> Result<Cow<'s, str>, StoreError> {
    let db = db.into();
    if db.is_postgres() {
        // Its translation drops every `INDEXED BY` (the planner chooses).
        return Ok(Cow::Borrowed(sql));
    }
    let mut out = Cow::Borrowed(sql);
    for r in db.query("SELECT name FROM deferred_indexes", args![])? {
        let name: String = r.get(0)?;
        if let Some(stripped) = strip_hint(&out, &name) {
            out = Cow::Owned(stripped);
        }
    }
    Ok(out)
}

/// Whether `err` is a query naming an index that is not there (one a bulk
/// load dropped between [`hinted`] and the statement's run): worth one retry.
pub(crate) fn is_missing_index(err: &StoreError) -> bool {
    matches!(err, StoreError::Sqlite(e) if e.to_string().contains("no such index"))
}

/// `sql` without the clauses `INDEXED BY <name>` (the whole name, not a
/// prefix of a longer one); `None` when it has none.
fn strip_hint(sql: &str, name: &str) -> Option<String> {
    let clause = format!("INDEXED BY {name}");
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut found = false;
    while let Some(i) = rest.find(&clause) {
        let after = &rest[i + clause.len()..];
        let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..i]);
        if whole {
            found = true;
        } else {
            out.push_str(&clause);
        }
        rest = after;
    }
    out.push_str(rest);
    found.then_some(out)
}

fn is_unique(sql: &str) -> bool {
    let mut words = sql.split_whitespace();
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("create"))
        && words.next().is_some_and(|w| w.eq_ignore_ascii_case("unique"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImportKey, ImportStatus, InvoiceBatch, Store};
    use chrono::NaiveDate;
    use relance_domain::money::{Currency, Money};
    use relance_domain::{CustomerRecord, InvoiceRecord, TenantId};

    fn rec(n: u32) -> InvoiceRecord {
        InvoiceRecord {
            number: format!("F-{n:06}"),
            customer: CustomerRecord {
                id: format!("C{}", n % 37),
                name: format!("Customer {}", n % 37),
                ..Default::default()
            },
            issue_date: NaiveDate::from_ymd_opt(2026, 10, 1 + n % 28),
            due_date: NaiveDate::from_ymd_opt(2026, 11, 1 + n % 28).unwrap_or_default(),
            total: Money::new(10_000 + i64::from(n), Currency::EUR),
            open: Money::new(10_000 + i64::from(n), Currency::EUR),
            status: None,
        }
    }

    fn batch(range: std::ops::Range<u32>) -> InvoiceBatch {
        InvoiceBatch {
            records: range.clone().map(rec).collect(),
            position_after: u64::from(range.end),
            ..Default::default()
        }
    }

    /// The secondary indexes of `invoices` (name, definition) and the rows of `deferred_indexes`.
    fn indexes(store: &Store) -> (Vec<(String, String)>, i64) {
        store
            .db
            .read(|c| {
                let mut st = c.prepare(
                    "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='invoices' AND sql IS NOT NULL
                     ORDER BY name",
                )?;
                let list = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
                let deferred = c.query_row("SELECT count(*) FROM deferred_indexes", [], |r| r.get(0))?;
                Ok((list, deferred))
            })
            .unwrap()
    }

    /// Counted through a deferred index (it must be back, and complete).
    fn by_customer(store: &Store, customer: &str) -> i64 {
        store
            .db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM invoices INDEXED BY invoices_by_due WHERE tenant_id='t' AND customer_id=?1
                     AND due_date >= ''",
                    [customer],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    }

    fn key(t: &TenantId) -> ImportKey<'_> {
        ImportKey { tenant: t, source: "erp", unit: "sha256:bulk", label: "big.csv", full_export: true }
    }

    #[test]
    fn a_large_load_into_a_small_table_builds_the_indexes_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        let (before, _) = indexes(&store);
        assert!(before.len() >= 8, "the invoice indexes of the migrations: {before:?}");
        let t = TenantId::new("t").unwrap();
        let mut st = store.begin_import(&key(&t)).unwrap();
        st.expect_rows(60_000);
        assert_eq!(st.bulk_mode(), BulkMode::Undecided);
        store.apply_invoice_batch(&mut st, &batch(0..1000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::Deferred, "59,000 new rows expected into a table of 1,000");
        let (during, deferred) = indexes(&store);
        assert!(during.is_empty(), "no secondary index while the load runs: {during:?}");
        assert_eq!(deferred, before.len() as i64);
        store.apply_invoice_batch(&mut st, &batch(1000..2000)).unwrap();
        let summary = store.finish_import(&mut st, "big.csv").unwrap();
        assert_eq!(summary.created, 2000);
        assert_eq!(indexes(&store), (before, 0), "the same indexes, rebuilt, and nothing left to rebuild");
        assert_eq!(by_customer(&store, "C5"), (0..2000).filter(|n| n % 37 == 5).count() as i64);
        let ok: String = store.db.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)).unwrap();
        assert_eq!(ok, "ok");
        let again = store.begin_import(&key(&t)).unwrap();
        assert_eq!(again.status, ImportStatus::Done, "applied once");
    }

    #[test]
    fn a_crash_during_a_bulk_load_leaves_the_indexes_to_rebuild_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let t = TenantId::new("t").unwrap();
        let before;
        {
            let store = Store::open_sqlite(&path).unwrap();
            before = indexes(&store).0;
            let mut st = store.begin_import(&key(&t)).unwrap();
            st.expect_rows(100_000);
            store.apply_invoice_batch(&mut st, &batch(0..500)).unwrap();
            assert_eq!(st.bulk_mode(), BulkMode::Deferred);
            assert!(indexes(&store).0.is_empty());
        } // the process dies here: no finish
        let store = Store::open_sqlite(&path).unwrap();
        assert_eq!(indexes(&store), (before.clone(), 0), "rebuilt when the database is opened");
        assert_eq!(by_customer(&store, "C3"), (0..500).filter(|n| n % 37 == 3).count() as i64);
        let mut st = store.begin_import(&key(&t)).unwrap();
        assert_eq!((st.status, st.position), (ImportStatus::Running, 500), "resumes where it stopped");
        store.apply_invoice_batch(&mut st, &batch(500..800)).unwrap();
        assert_eq!(store.finish_import(&mut st, "big.csv").unwrap().created, 800);
        assert_eq!(indexes(&store), (before, 0));
    }

    #[test]
    fn small_loads_updates_and_large_tables_keep_the_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        let t = TenantId::new("t").unwrap();
        let n = indexes(&store).0.len();
        // Too few rows to be worth a build.
        let mut st = store.begin_import(&ImportKey { unit: "u1", ..key(&t) }).unwrap();
        st.expect_rows(20_000);
        store.apply_invoice_batch(&mut st, &batch(0..1000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::RowByRow);
        store.finish_import(&mut st, "a.csv").unwrap();
        // Rows the table already holds: nothing new is projected.
        let mut st = store.begin_import(&ImportKey { unit: "u2", ..key(&t) }).unwrap();
        st.expect_rows(1_000_000);
        store.apply_invoice_batch(&mut st, &batch(0..1000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::RowByRow, "an export of known invoices updates them in place");
        store.finish_import(&mut st, "b.csv").unwrap();
        // No expected size: row by row.
        let mut st = store.begin_import(&ImportKey { unit: "u3", ..key(&t) }).unwrap();
        store.apply_invoice_batch(&mut st, &batch(1000..2000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::RowByRow);
        assert_eq!(indexes(&store), (indexes(&store).0, 0));
        assert_eq!(indexes(&store).0.len(), n);
        assert_eq!(store.restore_deferred_indexes().unwrap(), 0);
    }

    #[test]
    fn deferring_pays_only_for_a_load_as_large_as_the_table() {
        assert!(worth_deferring(1_000_000, 0));
        assert!(worth_deferring(1_000_000, 1_000_000));
        assert!(!worth_deferring(999_999, 1_000_000));
        assert!(!worth_deferring(BULK_MIN_ROWS - 1, 0), "a small load keeps the indexes");
    }

    #[test]
    fn every_query_naming_an_invoice_index_is_prepared_through_hinted() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut naming = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("bulk.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    // Code before its tests (a test may name an index to check a plan).
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    if code.contains("INDEXED BY invoices_") && !p.to_string_lossy().ends_with("_tests.rs") {
                        naming.push((
                            p.clone(),
                            code.matches("INDEXED BY invoices_").count(),
                            code.matches("hinted(").count(),
                        ));
                    }
                }
            }
        }
        assert!(!naming.is_empty(), "the customer view names invoice indexes");
        for (path, named, prepared) in naming {
            assert!(prepared > 0, "{}: {named} queries name an invoice index, none through `hinted`", path.display());
        }
    }

    #[test]
    fn the_customer_view_reads_while_a_bulk_load_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        let t = TenantId::new("t").unwrap();
        let mut st = store.begin_import(&key(&t)).unwrap();
        st.expect_rows(100_000);
        store.apply_invoice_batch(&mut st, &batch(0..2000)).unwrap();
        assert_eq!(st.bulk_mode(), BulkMode::Deferred);
        let open =
            |store: &Store| store.customer_open_items(&t, "C5", crate::Window::after(500, None)).unwrap().0.len();
        let expected = (0..2000).filter(|n| n % 37 == 5).count();
        assert_eq!(open(&store), expected, "read without the dropped index");
        let totals = store.customer_totals(&t, "C5").unwrap();
        assert_eq!(totals.len(), 1);
        let (timeline, _) = store.customer_timeline(&t, "C5", None, 20).unwrap();
        assert_eq!(timeline.len(), 20);
        assert!(store.customer_unapplied(&t, "C5", 10).unwrap().is_empty());
        store.finish_import(&mut st, "big.csv").unwrap();
        assert_eq!(open(&store), expected, "and through it once rebuilt");
        assert_eq!(store.customer_timeline(&t, "C5", None, 20).unwrap().0, timeline);
    }

    #[test]
    fn hints_of_deferred_indexes_are_dropped_whole_names_only() {
        let sql =
            "FROM invoices i INDEXED BY invoices_a JOIN x INDEXED BY invoices_ab ON 1 JOIN y INDEXED BY invoices_a";
        assert_eq!(
            strip_hint(sql, "invoices_a").as_deref(),
            Some("FROM invoices i  JOIN x INDEXED BY invoices_ab ON 1 JOIN y ")
        );
        assert_eq!(strip_hint(sql, "invoices_b"), None);
    }

    #[test]
    fn unique_indexes_are_recognised_and_names_quoted() {
        assert!(is_unique("CREATE UNIQUE INDEX x ON t (a)"));
        assert!(is_unique("create\n  unique index x on t (a)"));
        assert!(!is_unique("CREATE INDEX unique_x ON t (a)"));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
