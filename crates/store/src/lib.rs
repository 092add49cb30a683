//! Durable storage.
//!
//! [`Store`] is the only door to the database: business code calls its
//! methods with domain types and never sees SQL. The methods are synchronous
//! (SQLite is an in-process library; an async wrapper would only add a thread
//! hop per statement), so async callers run them with
//! `tokio::task::spawn_blocking`. Every write that must be atomic (a batch of
//! invoices with its checkpoint, quarantine rows and audit events) is one
//! method, so a backend can give it one transaction.
//!
//! Today the backend is SQLite (one file per deployment, `tenant_id` on every
//! row, WAL). A PostgreSQL backend is a second implementation of the same
//! methods behind [`Store`]; nothing outside this module changes.

#![forbid(unsafe_code)]

mod actions;
mod apply_set;
mod approvals;
mod claims;
mod contacts;
mod copy;
mod corrections;
mod credit_holds;
mod customer_view;
mod db;
mod disputes;
mod events;
mod handoffs;
mod holds;
mod import;
mod keys;
mod leases;
mod messages;
mod notes;
mod outbox;
mod payments;
mod plans;
mod postgres;
mod promises;
mod quarantine;
mod queries;
mod rates;
mod reflection;
mod report_world;
mod reports;
mod review;
mod sqlite;
mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod ui_world;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use relance_domain::TenantId;

pub use actions::{Acted, ActionRefusal, CursorPage};
pub use apply_set::{CreditDecision, CreditOutcome};
pub use approvals::{OutboxEdit, OutboxView};
pub use claims::{ClaimStatus, PaymentClaim};
pub use contacts::{ContactState, ContactView};
pub use copy::{CopiedTable, CopyReport, Digest, copy as copy_database, digests as table_digests};
pub use corrections::{
    CorrectionInput, CorrectionOutcome, CorrectionRefusal, CorrectionSample, CorrectionView, MessageDetail,
    NewReplyModel, Reading, ReplyModelView,
};
pub use credit_holds::RELANCE_ACTOR;
pub use customer_view::{
    CurrencyTotals, CustomerOverview, CustomerSummary, OpenItem, OpenItemKind, PROMISES_SHOWN, TASKS_SHOWN,
    TimelineEntry, TimelineEvent, UNAPPLIED_SHOWN, UnappliedPayment, UnappliedVia,
};
pub use disputes::{DisputeResolution, DisputeResolved, DisputeView};
pub use events::{DomainEvent, EVENT_SCHEMA_VERSION, EventType, SubscriptionState};
pub use handoffs::{DossierFacts, DossierInvoice, DossierMessage, DossierPromise, DossierReminder, HandoffView};
pub use holds::{HoldFilter, HoldState, HoldTarget, HoldView};
pub use import::{
    BULK_MIN_ROWS, BatchOutcome, BulkMode, CLOSED_LISTED, ClosePreview, ImportKey, ImportState, ImportStatus,
    ImportSummary, InvoiceBatch, ReleasedImport,
};
pub use keys::{KEY_LEN, KeyPurpose, TenantKey};
pub use leases::{DaemonView, Lease};
pub use messages::{
    HandleRequest, MailboxSlot, MessageView, PromiseView, StoredMessage, TaskView, UnderstandingView, Unread,
};
pub use notes::{MAX_NOTE_CHARS, NoteView};
pub use outbox::{Claim, CopyRequest, OutboxItem, OutboxRow, OutboxStatus, message_token};
pub use payments::{
    AllocationRequest, LearnIban, MATCH_RESULT_VERSION, NewPayment, StatementOutcome, StoredAllocation, StoredPayment,
};
pub use plans::{InstalmentInput, InstalmentView, PlanRefusal, PlanView};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PgMigration, PostgresUrl, migrate as migrate_postgres};
pub use promises::PromiseCheck;
pub use quarantine::MAX_HANDLING_NOTE;
pub use queries::{InvoiceQuery, Page, TenantCounts, Window, Workload, cut_page};
pub use rates::{CashRates, MATCHER_ACTOR};
pub use reflection::{ErpState, ReflectedBy};
pub use report_world::{ReportWorld, ReportWorldCounts};
pub use review::{MAX_SEARCH_WORDS, PaymentSearch};
pub use sqlite::DaemonLock;
pub use tasks::{NewPromise, NewTask};
pub use ui_world::{LARGE_CUSTOMER, UiWorld, UiWorldCounts};
pub use users::{NewSession, NewUser, SessionRecord, UserRecord, UserSource, UserView};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// A PostgreSQL server (issue #17): only its schema exists so far
    /// (`relance store migrate`); [`Store::open`] refuses it.
    Postgres(PostgresUrl),
}

impl DatabaseUrl {
    /// Reads a `database.url` value (a secret reference already resolved):
    /// `sqlite:PATH` (relative to `data_dir`) or `postgres://…` /
    /// `postgresql://…`. The error does not repeat the value, which may
    /// hold a password.
    pub fn parse(url: &str, data_dir: &Path) -> Result<DatabaseUrl, String> {
        if let Some(p) = url.strip_prefix("sqlite:") {
            return Ok(DatabaseUrl::Sqlite(data_dir.join(p.trim_start_matches("//"))));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return PostgresUrl::parse(url).map(DatabaseUrl::Postgres);
        }
        Err("expected `sqlite:PATH` or `postgres://USER@HOST/DATABASE`".into())
    }
}

/// The SQLite schema version this binary writes (the number of migrations).
pub const SQLITE_SCHEMA_VERSION: i64 = sqlite::MIGRATIONS.len() as i64;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres::message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to the PostgreSQL server (`server`: its URL, password hidden).
    #[error("cannot connect to PostgreSQL {server}: {cause}")]
    Connect { server: String, cause: String, transient: bool },
    /// A PostgreSQL migration failed (the whole run was rolled back).
    #[error("PostgreSQL migration {name} failed: {cause}")]
    Migration { name: &'static str, cause: String },
    /// Something this version cannot do yet (the PostgreSQL store).
    #[error("{0}")]
    Unsupported(String),
    // The cause is in the message and not a `#[source]`, so that a report
    // that prints the chain (`{:#}`) says it once.
    #[error("cannot open database {path}: {cause}")]
    Open { path: String, cause: rusqlite::Error },
    /// A file or folder of the store cannot be created or opened (the OS's reason: permission denied, not a directory…).
    #[error("{what} {path}: {cause}")]
    Io { what: &'static str, path: String, cause: std::io::Error },
    /// Another daemon holds the data folder's lock.
    #[error(
        "another Relance daemon{} is using {path}; stop it, or give this one another `data_dir`",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { path: String, holder: Option<u32> },
    #[error("import {import} was advanced by another worker (expected position {expected})")]
    ImportConflict { import: i64, expected: u64 },
    /// `store copy` failed on a table (the whole copy was rolled back).
    #[error("store copy: table {table}: {detail}")]
    Copy { table: String, detail: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The blocking task running a store call died (a panic).
    #[error("store task failed: {0}")]
    Task(String),
    /// A business rule refused the change (payment already applied, amount too large…).
    #[error("{0}")]
    Rejected(String),
    /// A list's `after` cursor names no row (keyset pagination).
    #[error("unknown cursor: {0}")]
    UnknownCursor(String),
}

impl StoreError {
    /// Whether the failure can clear by itself (a busy or locked database,
    /// an I/O hiccup, a concurrent worker, a panicked task), so retrying
    /// helps. The others (a business rule's refusal, corrupt data, a
    /// database that cannot be opened, a constraint the input breaks) would
    /// only repeat until something changes.
    pub fn is_transient(&self) -> bool {
        use StoreError as S;
        match self {
            S::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::OutOfMemory
            ),
            S::Sqlite(_) => false,
            S::Postgres(e) => postgres::is_transient(e),
            S::Connect { transient, .. } => *transient,
            S::Migration { .. } | S::Unsupported(_) => false,
            S::ImportConflict { .. } | S::Task(_) => true,
            S::Open { .. }
            | S::Io { .. }
            | S::Locked { .. }
            | S::Corrupt(_)
            | S::Copy { .. }
            | S::Rejected(_)
            | S::UnknownCursor(_) => false,
        }
    }
}

/// A quarantined input to record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewQuarantine {
    pub source: String,
    pub item: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub reason: String,
    pub raw: Option<String>,
    pub raw_path: Option<String>,
}

/// Handle to the database, cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Store {
    db: Arc<db::Backend>,
    /// Each tenant's latest reply-model overlay, by version (see `corrections`).
    overlays: Arc<corrections::OverlayCache>,
}

impl Store {
    pub fn open(url: &DatabaseUrl) -> Result<Store, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => Store::open_sqlite(path),
            DatabaseUrl::Postgres(url) => Store::open_postgres(url),
        }
    }

    /// Connects to a PostgreSQL database and brings its schema to this
    /// binary's version (several daemons starting at once migrate once).
    pub fn open_postgres(url: &PostgresUrl) -> Result<Store, StoreError> {
        postgres::migrate(url)?;
        let store =
            Store { db: Arc::new(db::Backend::Postgres(postgres::PgPool::open(url)?)), overlays: Default::default() };
        // Indexes a bulk load deferred before a crash (see `import::bulk`).
        store.restore_deferred_indexes()?;
        Ok(store)
    }

    /// Opens (creating if needed) an SQLite database and applies migrations.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store { db: Arc::new(db::Backend::Sqlite(sqlite::Sqlite::open(path)?)), overlays: Default::default() })
    }

    /// Takes the lock that makes a daemon the only one working on an SQLite
    /// database (`<database>.lock`, an advisory `flock` released when the
    /// process ends, even by SIGKILL). A second daemon gets
    /// [`StoreError::Locked`] naming the holder's pid. Command-line tools
    /// (`dunning run`, `match replay`…) do not take it. On PostgreSQL there
    /// is no such lock: any number of daemons share the database, each
    /// loop running where it holds its lease (`leases`).
    pub fn lock_daemon(url: &DatabaseUrl) -> Result<DaemonLock, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => sqlite::lock_daemon(path),
            DatabaseUrl::Postgres(_) => Ok(DaemonLock::none()),
        }
    }

    /// Appends an audit event outside any other write.
    pub fn record_event(
        &self,
        tenant: &TenantId,
        actor: &str,
        kind: &str,
        subject: &str,
        data: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.db.write_any(|db| sqlite::insert_event(db, tenant.as_str(), actor, kind, subject, data))
    }

    /// Records one quarantined input outside an import (e.g. an unreadable file).
    pub fn record_quarantine(&self, tenant: &TenantId, q: &NewQuarantine) -> Result<i64, StoreError> {
        self.db.write_any(|db| {
            let id = sqlite::insert_quarantine(db, tenant.as_str(), q)?;
            sqlite::insert_event(
                db,
                tenant.as_str(),
                &format!("connector:{}", q.source),
                "quarantined",
                &q.item,
                &serde_json::json!({ "quarantine_id": id, "reason": q.reason }),
            )?;
            Ok(id)
        })
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.read_any(|db| db.query_one("SELECT 1", db::args![]).map(|_| ()))
    }

    /// Reads a connector's durable state value.
    pub fn connector_state(&self, tenant: &TenantId, connector: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.db.read_any(|db| {
            db.query_opt(
                "SELECT value FROM connector_state WHERE tenant_id=?1 AND connector=?2 AND key=?3",
                db::args![tenant.as_str(), connector, key],
            )?
            .map(|r| r.get(0))
            .transpose()
        })
    }

    /// Writes a connector's durable state value.
    pub fn set_connector_state(
        &self,
        tenant: &TenantId,
        connector: &str,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            db.execute(
                "INSERT INTO connector_state (tenant_id, connector, key, value, updated_at) VALUES (?1,?2,?3,?4,?5)
                 ON CONFLICT (tenant_id, connector, key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                db::args![tenant.as_str(), connector, key, value, now_text()],
            )?;
            Ok(())
        })
    }
}

/// ` AND status IN ('a','b')` for a list of status names, or nothing for all.
/// Only `[a-z_]` names are kept, so the SQL text can never be altered by input.
pub(crate) fn status_filter(statuses: &[&str]) -> String {
    let names: Vec<String> = statuses
        .iter()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(|s| format!("'{s}'"))
        .collect();
    if names.is_empty() { String::new() } else { format!(" AND status IN ({})", names.join(",")) }
}

/// Current time as stored (RFC 3339, UTC, milliseconds).
pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{text}`: {e}")))
}

#[cfg(test)]
mod apply_set_tests;
#[cfg(test)]
mod approvals_tests;
#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod contact_tests;
#[cfg(test)]
mod correction_tests;
#[cfg(test)]
mod credit_holds_tests;
#[cfg(test)]
mod customer_view_tests;
#[cfg(test)]
mod dispute_tests;
#[cfg(test)]
mod events_tests;
#[cfg(test)]
mod handoffs_tests;
#[cfg(test)]
mod holds_tests;
#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod notes_tests;
#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod paid_tests;
#[cfg(test)]
mod payment_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod quarantine_tests;
#[cfg(test)]
mod rates_tests;
#[cfg(test)]
mod reply_tests;
#[cfg(test)]
mod reports_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod user_tests;
