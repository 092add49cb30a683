//! `relance store copy`: a whole deployment from one database to another
//! (issue #17: the path from SQLite to PostgreSQL when one machine is
//! outgrown, and back).
//!
//! The copy is schema-driven, not method-driven: every table of this
//! binary's schema (the SQLite migrations applied to an empty database give
//! the tables, their columns and the foreign keys that order them; the
//! PostgreSQL twins describe the same schema, which a test checks) is read
//! row by row from the source and written to the destination, so all
//! tenants, the audit trail, the outbox and the users travel together and a
//! new table needs no code here.
//!
//! - **Both sides at this binary's version**: each database is migrated
//!   first, as a daemon would.
//! - **A consistent source**: one read snapshot (a read transaction on
//!   SQLite, `REPEATABLE READ READ ONLY` on PostgreSQL); an SQLite source
//!   is locked as a daemon would lock it, so a running daemon makes the copy
//!   refuse rather than miss its later writes.
//! - **An empty destination, written atomically**: the copy refuses a
//!   destination holding any row, and writes everything in one transaction
//!   (foreign keys checked at commit on SQLite; PostgreSQL's `COPY` checks
//!   them at the end of each statement, tables in dependency order).
//!   PostgreSQL identity sequences are moved past the copied ids.
//! - **Verified**: every row of every table is digested on the way out, and
//!   the destination is read back after the commit and digested the same
//!   way ([`Digest`]: row count and an order-independent sum of each row's
//!   SHA-256 over its typed values). A table whose count or digest differs
//!   fails the copy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::postgres::PgConn;
use crate::{DatabaseUrl, StoreError};

/// Rows read and written at a time (bounded memory whatever the table size).
pub(crate) const BATCH_ROWS: usize = 5_000;

/// What receives a table's rows, a batch at a time.
pub(crate) type RowSink<'a> = dyn FnMut(&[Vec<Cell>]) -> Result<(), StoreError> + 'a;

/// One value ([`crate::db::Value`]: SQLite's storage classes, PostgreSQL's
/// `BIGINT`, `DOUBLE PRECISION`, `TEXT`, `BYTEA`).
pub(crate) use crate::db::Value as Cell;

fn feed(c: &Cell, h: &mut Sha256) {
    match c {
        Cell::Null => h.update([0]),
        Cell::Int(i) => {
            h.update([1]);
            h.update(i.to_le_bytes());
        }
        Cell::Real(r) => {
            h.update([2]);
            h.update(r.to_bits().to_le_bytes());
        }
        Cell::Text(t) => {
            h.update([3]);
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        Cell::Blob(b) => {
            h.update([4]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

/// A table's content fingerprint: its row count and the wrapping sum of
/// the first 128 bits of each row's SHA-256 (so the order rows are read in
/// does not matter, and collations never enter into it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    sum: u128,
}

impl Digest {
    fn add(&mut self, row: &[Cell]) {
        let mut h = Sha256::new();
        for c in row {
            feed(c, &mut h);
        }
        let out = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        self.rows += 1;
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
    }

    /// The sum in hexadecimal (what `store copy` prints).
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

/// A table of the schema: its name and columns in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableSpec {
    pub(crate) name: String,
    pub(crate) columns: Vec<String>,
}

impl TableSpec {
    /// `"a", "b", …` (identifiers quoted: they come from our own schema,
    /// quoted anyway so that a reserved word cannot break a statement).
    pub(crate) fn column_list(&self) -> String {
        self.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
    }
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// One table as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    pub name: String,
    /// What was read from the source.
    pub source: Digest,
    /// What the destination holds after the commit.
    pub destination: Digest,
}

impl CopiedTable {
    pub fn verified(&self) -> bool {
        self.source == self.destination
    }
}

/// What a copy did, table by table (dependency order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<CopiedTable>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.source.rows).sum()
    }

    /// The tables whose destination differs from the source.
    pub fn mismatches(&self) -> Vec<&CopiedTable> {
        self.tables.iter().filter(|t| !t.verified()).collect()
    }
}

/// The tables of this binary's schema in an order where every table comes
/// after the tables its foreign keys point to (alphabetical among equals),
/// read from an empty in-memory SQLite database migrated to this version.
pub(crate) fn schema() -> Result<Vec<TableSpec>, StoreError> {
    let mut conn = rusqlite::Connection::open_in_memory()?;
    crate::sqlite::migrate(&mut conn)?;
    let names: Vec<String> = {
        let mut st = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut specs = BTreeMap::new();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let columns: Vec<String> = {
            let mut st = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
            st.query_map([name], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let refs: BTreeSet<String> = {
            let mut st = conn.prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)")?;
            st.query_map([name], |r| r.get::<_, String>(0))?
                .collect::<Result<BTreeSet<_>, _>>()?
                .into_iter()
                .filter(|p| p != name)
                .collect()
        };
        parents.insert(name.clone(), refs);
        specs.insert(name.clone(), TableSpec { name: name.clone(), columns });
    }
    let mut ordered = Vec::with_capacity(names.len());
    let mut done = BTreeSet::new();
    while done.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|n| !done.contains(*n))
            .filter(|n| parents.get(*n).is_none_or(|ps| ps.iter().all(|p| done.contains(p) || !specs.contains_key(p))))
            .cloned()
            .collect();
        if ready.is_empty() {
            let left: Vec<&String> = names.iter().filter(|n| !done.contains(*n)).collect();
            return Err(StoreError::Corrupt(format!("the schema's foreign keys form a cycle among {left:?}")));
        }
        for n in ready {
            if let Some(spec) = specs.remove(&n) {
                ordered.push(spec);
            }
            done.insert(n);
        }
    }
    Ok(ordered)
}

/// One side of a copy, opened and migrated.
enum Side {
    Sqlite { conn: rusqlite::Connection, _lock: crate::DaemonLock },
    Postgres(PgConn),
}

impl Side {
    fn open(url: &DatabaseUrl) -> Result<Side, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let lock = crate::sqlite::lock_daemon(path)?;
                // Creates it if needed, restores deferred indexes, migrates.
                drop(crate::sqlite::Sqlite::open(path)?);
                Ok(Side::Sqlite { conn: open_sqlite(path)?, _lock: lock })
            }
            DatabaseUrl::Postgres(pg) => {
                let mut conn = PgConn::connect(pg)?;
                crate::postgres::migrate_conn(&mut conn)?;
                Ok(Side::Postgres(conn))
            }
        }
    }

    fn count(&mut self, t: &TableSpec) -> Result<u64, StoreError> {
        match self {
            Side::Sqlite { conn, .. } => {
                let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)), [], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            }
            Side::Postgres(pg) => pg.count(t),
        }
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        match self {
            Side::Sqlite { conn, .. } => Ok(conn.execute_batch("BEGIN DEFERRED")?),
            Side::Postgres(pg) => pg.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        }
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        match self {
            // Foreign keys checked at commit, like PostgreSQL's at the end of each COPY.
            Side::Sqlite { conn, .. } => Ok(conn.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON")?),
            Side::Postgres(pg) => pg.batch("BEGIN"),
        }
    }

    fn end(&mut self, commit: bool) -> Result<(), StoreError> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match self {
            Side::Sqlite { conn, .. } => Ok(conn.execute_batch(sql)?),
            Side::Postgres(pg) => pg.batch(sql),
        }
    }

    /// Calls `f` with the table's rows, [`BATCH_ROWS`] at a time.
    fn scan(&mut self, t: &TableSpec, f: &mut RowSink<'_>) -> Result<(), StoreError> {
        match self {
            Side::Sqlite { conn, .. } => {
                let mut st = conn.prepare(&format!("SELECT {} FROM {}", t.column_list(), quote(&t.name)))?;
                let mut rows = st.query([])?;
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                while let Some(r) = rows.next()? {
                    let row = (0..t.columns.len())
                        .map(|i| Cell::from_sqlite(r.get_ref(i)?))
                        .collect::<Result<Vec<_>, StoreError>>()
                        .map_err(|e| in_table(t, e))?;
                    batch.push(row);
                    if batch.len() == BATCH_ROWS {
                        f(&batch)?;
                        batch.clear();
                    }
                }
                if !batch.is_empty() {
                    f(&batch)?;
                }
                Ok(())
            }
            Side::Postgres(pg) => pg.scan(t, f),
        }
    }

    fn insert(&mut self, t: &TableSpec, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        match self {
            Side::Sqlite { conn, .. } => {
                let marks = (1..=t.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                let mut st = conn.prepare_cached(&format!(
                    "INSERT INTO {} ({}) VALUES ({marks})",
                    quote(&t.name),
                    t.column_list()
                ))?;
                for row in rows {
                    st.execute(rusqlite::params_from_iter(row.iter())).map_err(|e| in_table(t, e.into()))?;
                }
                Ok(())
            }
            Side::Postgres(pg) => pg.copy_in(t, rows),
        }
    }

    /// After the rows: PostgreSQL's identity sequences past the copied ids.
    fn finish_table(&mut self, t: &TableSpec) -> Result<(), StoreError> {
        match self {
            Side::Sqlite { .. } => Ok(()),
            Side::Postgres(pg) => pg.reset_identities(t),
        }
    }
}

fn open_sqlite(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|cause| StoreError::Open { path: path.display().to_string(), cause })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -64_000)?;
    Ok(conn)
}

/// An error, naming the table it happened in.
pub(crate) fn in_table(t: &TableSpec, e: StoreError) -> StoreError {
    StoreError::Copy { table: t.name.clone(), detail: e.to_string() }
}

/// Copies every table of `from` into `to` (which must hold no row), then
/// reads `to` back and compares each table's [`Digest`] with the source's.
/// `progress` is called after each table is written. A mismatch is not an
/// error here: the report says which tables differ (the caller fails).
pub fn copy(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    progress: &mut dyn FnMut(&str, Digest),
) -> Result<CopyReport, StoreError> {
    if from == to {
        return Err(StoreError::Rejected("`--from` and `--to` name the same database".into()));
    }
    let tables = schema()?;
    let mut source = Side::open(from)?;
    let mut dest = Side::open(to)?;
    for t in &tables {
        let n = dest.count(t)?;
        if n > 0 {
            return Err(StoreError::Rejected(format!(
                "the destination is not empty (table {} has {n} row(s)): `store copy` writes into a new, empty database",
                t.name
            )));
        }
    }
    source.begin_read()?;
    dest.begin_write()?;
    let mut digests = Vec::with_capacity(tables.len());
    let written = (|| {
        for t in &tables {
            let mut d = Digest::default();
            source.scan(t, &mut |rows| {
                rows.iter().for_each(|r| d.add(r));
                dest.insert(t, rows)
            })?;
            dest.finish_table(t)?;
            progress(&t.name, d);
            digests.push(d);
        }
        Ok::<_, StoreError>(())
    })();
    let _ = source.end(false);
    match written {
        Ok(()) => dest.end(true).map_err(|e| match e {
            StoreError::Sqlite(cause) => StoreError::Copy {
                table: "(commit)".into(),
                detail: format!("{cause} (a row points at a row that was not copied)"),
            },
            other => other,
        })?,
        Err(e) => {
            let _ = dest.end(false);
            return Err(e);
        }
    }
    // Read the destination back, in a snapshot of its own.
    dest.begin_read()?;
    let mut report = CopyReport { tables: Vec::with_capacity(tables.len()) };
    for (t, source) in tables.iter().zip(digests) {
        let mut d = Digest::default();
        dest.scan(t, &mut |rows| {
            rows.iter().for_each(|r| d.add(r));
            Ok(())
        })?;
        report.tables.push(CopiedTable { name: t.name.clone(), source, destination: d });
    }
    let _ = dest.end(false);
    Ok(report)
}

/// Each table's digest, read in one snapshot (to compare two deployments,
/// and in tests).
pub fn digests(url: &DatabaseUrl) -> Result<Vec<(String, Digest)>, StoreError> {
    let tables = schema()?;
    let mut side = Side::open(url)?;
    side.begin_read()?;
    let mut out = Vec::with_capacity(tables.len());
    for t in &tables {
        let mut d = Digest::default();
        side.scan(t, &mut |rows| {
            rows.iter().for_each(|r| d.add(r));
            Ok(())
        })?;
        out.push((t.name.clone(), d));
    }
    let _ = side.end(false);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_table_after_the_tables_it_points_to() {
        let tables = schema().unwrap();
        let pos = |n: &str| tables.iter().position(|t| t.name == n).unwrap_or_else(|| panic!("no table {n}"));
        assert!(pos("statement_files") < pos("payments"), "{tables:?}");
        assert!(pos("payments") < pos("allocations"));
        assert!(pos("inbound_messages") < pos("tasks"));
        assert_eq!(tables.len(), tables.iter().map(|t| &t.name).collect::<BTreeSet<_>>().len());
        assert!(tables.iter().all(|t| !t.name.starts_with("sqlite_") && !t.columns.is_empty()));
    }

    #[test]
    fn a_digest_ignores_row_order_and_sees_every_value_and_type() {
        let a = vec![Cell::Int(1), Cell::Text("x".into())];
        let b = vec![Cell::Int(2), Cell::Null];
        let (mut d1, mut d2) = (Digest::default(), Digest::default());
        d1.add(&a);
        d1.add(&b);
        d2.add(&b);
        d2.add(&a);
        assert_eq!(d1, d2);
        let mut d3 = Digest::default();
        d3.add(&a);
        d3.add(&[Cell::Int(2), Cell::Text(String::new())]);
        assert_ne!(d1, d3, "NULL and the empty text differ");
        let mut d4 = Digest::default();
        d4.add(&a);
        d4.add(&[Cell::Text("2".into()), Cell::Null]);
        assert_ne!(d1, d4, "an integer and its text differ");
    }

    #[test]
    fn sqlite_to_sqlite_copies_everything_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.db");
        let store = crate::Store::open_sqlite(&src).unwrap();
        let tenant = relance_domain::TenantId::new("acme").unwrap();
        store.record_event(&tenant, "tester", "test.event", "x", &serde_json::json!({"n": 1})).unwrap();
        store.set_connector_state(&tenant, "bank", "cursor", "42").unwrap();
        drop(store);
        let from = DatabaseUrl::Sqlite(src.clone());
        let to = DatabaseUrl::Sqlite(dir.path().join("b.db"));
        let mut seen = Vec::new();
        let report = copy(&from, &to, &mut |t, d| seen.push((t.to_string(), d.rows))).unwrap();
        assert!(report.mismatches().is_empty(), "{report:?}");
        assert_eq!(report.rows(), 2, "the event and the connector state: {report:?}");
        assert_eq!(seen.len(), report.tables.len());
        assert_eq!(digests(&from).unwrap(), digests(&to).unwrap());
        // The copy is a working database: the store reads it.
        let copied = crate::Store::open_sqlite(&dir.path().join("b.db")).unwrap();
        assert_eq!(copied.connector_state(&tenant, "bank", "cursor").unwrap().as_deref(), Some("42"));
        // And a changed value changes the digest.
        copied.set_connector_state(&tenant, "bank", "cursor", "43").unwrap();
        drop(copied);
        assert_ne!(digests(&from).unwrap(), digests(&to).unwrap());
        let again = copy(&from, &to, &mut |_, _| {}).unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");
    }
}
