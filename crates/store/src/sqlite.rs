//! The SQLite backend: connection handling, pragmas, embedded migrations and
//! the small insert helpers shared by the other store modules.
//!
//! One writer connection (SQLite allows one writer at a time anyway) behind a
//! mutex, write transactions `BEGIN IMMEDIATE`; readers come from a small pool
//! and never block the writer thanks to WAL.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::db::{Db, args};
use super::{NewQuarantine, StoreError, now_text};

/// Embedded migrations, applied in order; `user_version` records the last one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_foundation.sql"),
    include_str!("../migrations/sqlite/0002_cash_application.sql"),
    include_str!("../migrations/sqlite/0003_inbound_messages.sql"),
    include_str!("../migrations/sqlite/0004_outbox.sql"),
    include_str!("../migrations/sqlite/0005_delivery.sql"),
    include_str!("../migrations/sqlite/0006_held_imports.sql"),
    include_str!("../migrations/sqlite/0007_paid_stays_paid.sql"),
    include_str!("../migrations/sqlite/0008_typed_payments.sql"),
    include_str!("../migrations/sqlite/0009_reply_states.sql"),
    include_str!("../migrations/sqlite/0010_one_outbox.sql"),
    include_str!("../migrations/sqlite/0011_contact_status.sql"),
    include_str!("../migrations/sqlite/0012_payment_plans.sql"),
    include_str!("../migrations/sqlite/0013_reply_corrections.sql"),
    include_str!("../migrations/sqlite/0014_holds_and_approvals.sql"),
    include_str!("../migrations/sqlite/0015_users_sessions.sql"),
    include_str!("../migrations/sqlite/0016_report_indexes.sql"),
    include_str!("../migrations/sqlite/0017_customer_view.sql"),
    include_str!("../migrations/sqlite/0018_quarantine_handling.sql"),
    include_str!("../migrations/sqlite/0019_list_indexes.sql"),
    include_str!("../migrations/sqlite/0020_bank_aware_holds.sql"),
    include_str!("../migrations/sqlite/0021_handoffs.sql"),
    include_str!("../migrations/sqlite/0022_deferred_indexes.sql"),
    include_str!("../migrations/sqlite/0023_domain_events.sql"),
    include_str!("../migrations/sqlite/0024_tenant_keys.sql"),
    include_str!("../migrations/sqlite/0025_drop_invoices_by_customer.sql"),
    include_str!("../migrations/sqlite/0026_leases.sql"),
];

/// The version of migration 0007 (paid stays paid).
const PAID_STAYS_PAID: i64 = 7;

const MAX_IDLE_READERS: usize = 4;

pub(crate) struct Sqlite {
    path: std::path::PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        create_parent(path)?;
        // SQLite only says "unable to open database file": open it ourselves
        // first so that the OS's reason (permission denied…) is reported.
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(
            |cause| StoreError::Io { what: "cannot open database file", path: path.display().to_string(), cause },
        )?;
        let mut writer = connect(path, false)?;
        // Indexes a bulk load dropped before a crash: back before anything else.
        super::import::bulk::restore_deferred(&mut writer)?;
        migrate(&mut writer)?;
        Ok(Sqlite { path: path.to_path_buf(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    /// Runs `f` in an immediate write transaction, committed when `f` succeeds.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the writer connection, outside any transaction (for work
    /// that commits in several steps, such as rebuilding deferred indexes).
    pub(crate) fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Returns cached pages to the allocator (after a large import, so an
    /// idle daemon does not keep a full page cache resident).
    pub(crate) fn release_memory(&self) {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = conn.execute_batch("PRAGMA shrink_memory");
    }

    /// Copies the write-ahead log into the database and truncates it (after
    /// a bulk load, so that readers are measured in a steady state).
    pub(crate) fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Runs `f` on a read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = {
            let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            pool.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => connect(&self.path, true)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }
}

fn connect(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let open_err = |cause| StoreError::Open { path: path.display().to_string(), cause };
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
    if !read_only {
        // Takes effect when the database is created (before WAL is enabled).
        conn.pragma_update(None, "page_size", 8192).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        // Checkpoint every ~40 MB of WAL rather than 4 MB: pages rewritten by
        // consecutive batches are copied to the database once.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000).map_err(open_err)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
    // The writer needs room for a whole batch of dirty pages (random index
    // pages of a large import), or SQLite spills them mid-transaction and
    // writes them several times; readers stay small. See `release_memory`.
    let cache_kib = if read_only { 4_000 } else { 128_000 };
    conn.pragma_update(None, "cache_size", -cache_kib).map_err(open_err)?;
    if !read_only {
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(open_err)?;
        // Index builds (`import::bulk`) sort with a helper thread.
        conn.pragma_update(None, "threads", 2).map_err(open_err)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies the migrations the database lacks, in one transaction.
///
/// Foreign keys are off while they run (SQLite ignores the pragma inside a
/// transaction, so it is set around it): a migration that rebuilds a table to
/// add a CHECK drops the referenced table before renaming its copy, which an
/// enforcing connection refuses. Every foreign key is checked before the
/// commit instead, and enforcement is back on whatever happened.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt(format!(
            "database schema version {version} is newer than this binary ({known}): upgrade Relance"
        )));
    }
    if version == known {
        return Ok(());
    }
    // A migration may rebuild a table other tables reference (0009: create,
    // copy, drop, rename): foreign keys are off while they run (the pragma
    // is a no-op inside a transaction) and checked all at once before commit.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let applied = apply_migrations(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    applied
}

fn apply_migrations(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    // 0007 (paid stays paid) ends with a repair written in Rust: it needs the
    // amount rules and audit events of `reflection`.
    if (1..PAID_STAYS_PAID).contains(&version) {
        super::reflection::repair_after_migration(&tx)?;
    }
    let broken: Vec<(String, i64, String)> = {
        let mut st = tx.prepare("PRAGMA foreign_key_check")?;
        st.query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or_default(), r.get(2)?)))?
            .take(5)
            .collect::<Result<_, _>>()?
    };
    if !broken.is_empty() {
        let rows: Vec<String> = broken.iter().map(|(t, id, parent)| format!("{t} row {id} → {parent}")).collect();
        return Err(StoreError::Corrupt(format!("the migration left rows pointing at nothing: {}", rows.join(", "))));
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn insert_event<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    actor: &str,
    kind: &str,
    subject: &str,
    data: &serde_json::Value,
) -> Result<i64, StoreError> {
    let db = db.into();
    let text = data.to_string();
    let id = db
        .query_one(
            "INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data) VALUES (?1,?2,?3,?4,?5,?6) RETURNING id",
            args![tenant, now_text(), actor, kind, subject, text],
        )?
        .get(0)?;
    // The catalogue's events ride on the audit row, in its transaction.
    super::events::from_audit(db, tenant, kind, subject, data, &text)?;
    Ok(id)
}

pub(crate) fn insert_quarantine<'a>(db: impl Into<Db<'a>>, tenant: &str, q: &NewQuarantine) -> Result<i64, StoreError> {
    db.into()
        .query_one(
            "INSERT INTO quarantine (tenant_id, source, item, line, column_name, reason, raw, raw_path, created_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) RETURNING id",
            args![
                tenant,
                q.source,
                q.item,
                q.line.map(|l| l as i64),
                q.column,
                q.reason,
                q.raw,
                q.raw_path,
                now_text()
            ],
        )?
        .get(0)
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|cause| StoreError::Io {
            what: "cannot create data directory",
            path: dir.display().to_string(),
            cause,
        })?;
    }
    Ok(())
}

/// The daemon's lock on an SQLite database, held until dropped (or the
/// process ends).
#[derive(Debug)]
pub struct DaemonLock {
    _file: Option<std::fs::File>,
}

impl DaemonLock {
    /// No lock (a PostgreSQL database, shared by the daemons).
    pub(crate) fn none() -> DaemonLock {
        DaemonLock { _file: None }
    }
}

pub(crate) fn lock_daemon(db: &Path) -> Result<DaemonLock, StoreError> {
    use std::io::{Read, Seek, Write};
    create_parent(db)?;
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let io = |cause| StoreError::Io { what: "cannot open lock file", path: path.display().to_string(), cause };
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StoreError::Locked { path: db.display().to_string(), holder: text.trim().parse().ok() });
        }
        Err(std::fs::TryLockError::Error(cause)) => return Err(io(cause)),
    }
    // The holder's pid, for the message a second daemon prints.
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(DaemonLock { _file: Some(file) })
}
