//! Checkpointed, idempotent invoice imports.
//!
//! An *import* is one unit of input (a file identified by its content hash,
//! an API page…). It is applied in batches; each batch is one transaction that
//! upserts customers and invoices, records quarantined records and advances the
//! import's `position`. A crash loses at most the batch in flight, and a restart
//! resumes at `position`, so every record is applied exactly once. A unit that
//! is `done` is never applied again.
//!
//! For a *full export*, finishing the import closes the invoices of the same
//! source that it did not contain (never deletes them) — unless a quarantined
//! record had no readable invoice number, in which case closing is skipped
//! because the missing invoice might be that one. Each closing pass is one
//! audit event (`invoices_closed`) listing what it closed (the first
//! [`CLOSED_LISTED`] invoices, and the count).
//!
//! Re-reporting an invoice compares the ERP's open amount with its previous
//! report to see Relance's pending allocations reflected ("paid stays paid",
//! [`super::reflection`]): the stored open amount is the ERP's less what is
//! still pending, so a stale export never reopens what Relance applied. A
//! closing pass reflects the pending allocations of the invoices it no longer
//! lists (the ERP closed them). An update whose currency differs from that of
//! pending allocations cannot be compared with them: it is quarantined and the
//! invoice kept as it is.
//!
//! A full export that looks wrong (it would close too large a share of the
//! tenant's open invoices, see [`Store::full_export_preview`], or it has no
//! data row) can be *held* before anything is applied ([`Store::hold_import`]):
//! the import waits in state `held` with one quarantine row naming it, until
//! that row is released through the API ([`Store::release_held_import`],
//! state `released`: the connector then applies it, closes included) or the
//! connector finds it acceptable again ([`Store::resume_held_import`]). A held
//! import that a later full import of the same source has superseded can no
//! longer be released: its data is stale.
//!
//! A connector that knows how many rows an input holds says so
//! ([`ImportState::expect_rows`]); a large load into a small table then
//! builds the invoice indexes once at the end instead of row by row
//! ([`bulk`]). Each batch's records are applied in invoice-number order (the
//! primary key's), so consecutive rows touch the same pages.

pub(crate) mod bulk;
mod pg_batch;

pub use bulk::{BULK_MIN_ROWS, BulkMode};

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::reflection::{self, ReflectedBy};
use super::sqlite::{insert_event, insert_quarantine};
use super::{NewQuarantine, Store, StoreError, now_text, status_filter};
use crate::db::{Backend, Db, Row, args};
use relance_domain::money::format_minor;
use relance_domain::{CustomerRecord, InvoiceRecord, InvoiceStatus, TenantId};

/// Identifies one unit of input.
#[derive(Debug, Clone)]
pub struct ImportKey<'a> {
    pub tenant: &'a TenantId,
    /// Connector name.
    pub source: &'a str,
    /// Stable identity of the input (e.g. `sha256:<hex>` of a file).
    pub unit: &'a str,
    /// Human label (the file path).
    pub label: &'a str,
    pub full_export: bool,
}

/// Invoices listed by number in the `invoices_closed` event of a closing pass (the count is always given).
pub const CLOSED_LISTED: usize = 1000;

/// Rows of a page of [`Store::full_export_preview`].
const PREVIEW_PAGE: usize = 20_000;

/// Statuses a full export closes when an invoice is missing from it.
const CLOSABLE: &[&str] = &["open", "partially_paid", "disputed"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Being applied (or to resume at `position`).
    Running,
    /// Applied; never applied again.
    Done,
    /// Refused whole; not retried while the content is unchanged.
    Quarantined,
    /// Waiting for a confirmation before anything is applied.
    Held,
    /// Confirmed through the API: to apply, closes included, whatever the limits.
    Released,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Quarantined => "quarantined",
            ImportStatus::Held => "held",
            ImportStatus::Released => "released",
        }
    }

    fn parse(text: &str) -> Option<ImportStatus> {
        [
            ImportStatus::Running,
            ImportStatus::Done,
            ImportStatus::Quarantined,
            ImportStatus::Held,
            ImportStatus::Released,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether records may be applied in this state.
    pub fn applies(self) -> bool {
        matches!(self, ImportStatus::Running | ImportStatus::Released)
    }
}

/// What a full export would close if it were applied now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClosePreview {
    /// Open invoices of the source that the export does not list.
    pub would_close: u64,
    /// Open invoices of the tenant, all sources.
    pub tenant_open: u64,
}

impl ClosePreview {
    /// Whether closing would take more than `share_bp` (basis points, 5000 =
    /// 50 %) of the tenant's open invoices.
    pub fn exceeds(&self, share_bp: u32) -> bool {
        self.would_close > 0
            && u128::from(self.would_close) * 10_000 > u128::from(share_bp) * u128::from(self.tenant_open)
    }
}

/// A held import released through the API, waiting for its connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedImport {
    pub import: i64,
    /// The input's identity (`sha256:<hex>` of a file).
    pub unit: String,
    /// The input's label (the file path).
    pub label: String,
    /// The copy kept when it was held.
    pub kept_path: Option<String>,
}

/// Where an import stands.
#[derive(Debug, Clone)]
pub struct ImportState {
    pub id: i64,
    pub tenant: TenantId,
    pub source: String,
    pub status: ImportStatus,
    /// Records already applied.
    pub position: u64,
    pub full_export: bool,
    /// Customer records this import already wrote, to skip identical rewrites
    /// (a customer appears on many invoices). Lost on restart, which only costs time.
    written_customers: Arc<std::sync::Mutex<HashMap<String, CustomerRecord>>>,
    /// Records the whole input holds, when the connector knows ([`ImportState::expect_rows`]).
    expected_rows: Option<u64>,
    /// Whether this import builds the invoice indexes at its end.
    bulk: bulk::BulkMode,
}

impl ImportState {
    /// Tells the store how many records the whole input holds (the rows of a
    /// file): with it, a large load into a small table defers the invoice
    /// indexes to the end of the import ([`bulk`]). Without it, indexes are
    /// always maintained row by row.
    pub fn expect_rows(&mut self, rows: u64) {
        self.expected_rows = Some(rows);
    }

    /// Whether this import has deferred the invoice indexes to its end.
    pub fn bulk_mode(&self) -> BulkMode {
        self.bulk
    }
}

/// One batch of records to apply, with the position reached after it.
#[derive(Debug, Clone, Default)]
pub struct InvoiceBatch {
    pub records: Vec<InvoiceRecord>,
    pub quarantined: Vec<NewQuarantine>,
    /// Invoice numbers read from quarantined records: they are not closed by a full export.
    pub quarantined_numbers: Vec<String>,
    /// A quarantined record had no readable invoice number.
    pub close_blocked: bool,
    /// Records consumed from the input once this batch is applied.
    pub position_after: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
}

/// Totals of a finished import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    pub closed: u64,
    pub close_blocked: bool,
}

/// The stored view of an invoice used to detect changes.
#[derive(Debug, PartialEq, Eq)]
struct Existing {
    customer_id: String,
    issue_date: Option<String>,
    due_date: String,
    currency: String,
    total_minor: i64,
    /// Effective: the ERP's open amount less Relance's pending allocations.
    open_minor: i64,
    status: String,
    /// As the ERP reported it.
    erp_open_minor: i64,
}

impl Store {
    /// Finds or creates the import for `key`. A `Done` or `Quarantined` state
    /// means the unit must not be applied again; `Running` carries the position
    /// to resume from.
    pub fn begin_import(&self, key: &ImportKey<'_>) -> Result<ImportState, StoreError> {
        self.db.write_any(|db| {
            let find = |db: Db<'_>| {
                db.query_opt(
                    "SELECT id, state, position, full_export FROM imports WHERE tenant_id=?1 AND source=?2 AND unit=?3",
                    args![key.tenant.as_str(), key.source, key.unit],
                )?
                .map(|r| Ok::<_, StoreError>((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?, r.get::<bool>(3)?)))
                .transpose()
            };
            let found = match find(db)? {
                Some(f) => f,
                None => {
                    // Two workers beginning the same unit at once: the second finds the first's row.
                    let inserted = db.query_opt(
                        "INSERT INTO imports (tenant_id, source, unit, label, full_export, state, started_at)
                         VALUES (?1,?2,?3,?4,?5,'running',?6) ON CONFLICT (tenant_id, source, unit) DO NOTHING RETURNING id",
                        args![key.tenant.as_str(), key.source, key.unit, key.label, key.full_export, now_text()],
                    )?;
                    match inserted {
                        Some(r) => (r.get(0)?, "running".to_string(), 0, key.full_export),
                        None => find(db)?.ok_or_else(|| StoreError::Corrupt("an import row vanished".into()))?,
                    }
                }
            };
            let (id, state, position, full_export) = found;
            let status = ImportStatus::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("import {id} has state `{state}`")))?;
            Ok(ImportState {
                id,
                tenant: key.tenant.clone(),
                source: key.source.to_string(),
                status,
                position: u64::try_from(position).unwrap_or(0),
                full_export,
                written_customers: Arc::default(),
                expected_rows: None,
                bulk: bulk::BulkMode::Undecided,
            })
        })
    }

    /// Records consumed so far by the latest import of `source` (the progress
    /// of a running one, as committed); `None` before the first.
    pub fn import_progress(&self, tenant: &TenantId, source: &str) -> Result<Option<u64>, StoreError> {
        self.db.read_any(|db| {
            let p: Option<i64> = db
                .query_opt(
                    "SELECT position FROM imports WHERE tenant_id=?1 AND source=?2 ORDER BY id DESC LIMIT 1",
                    args![tenant.as_str(), source],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            Ok(p.map(|p| u64::try_from(p).unwrap_or(0)))
        })
    }

    /// Applies one batch atomically and advances `state.position`.
    pub fn apply_invoice_batch(
        &self,
        state: &mut ImportState,
        batch: &InvoiceBatch,
    ) -> Result<BatchOutcome, StoreError> {
        let (outcome, customers) = self.db.write_any(|db| apply_batch(db, state, batch))?;
        {
            let mut written = state.written_customers.lock().unwrap_or_else(|p| p.into_inner());
            for c in customers {
                written.insert(c.id.clone(), c);
            }
        }
        state.position = batch.position_after;
        if state.bulk == bulk::BulkMode::Undecided {
            self.decide_bulk(state, &outcome)?;
        }
        Ok(outcome)
    }

    /// After the first batch with records: projects the rows this import will
    /// add from the share of that batch that was new, and defers the invoice
    /// indexes when that is at least the table's size ([`bulk::worth_deferring`]).
    fn decide_bulk(&self, state: &mut ImportState, outcome: &BatchOutcome) -> Result<(), StoreError> {
        let Some(total) = state.expected_rows else {
            state.bulk = bulk::BulkMode::RowByRow;
            return Ok(());
        };
        let seen = outcome.created + outcome.updated + outcome.unchanged + outcome.quarantined;
        if seen == 0 {
            return Ok(());
        }
        let remaining = total.saturating_sub(state.position);
        let projected =
            u64::try_from(u128::from(remaining) * u128::from(outcome.created) / u128::from(seen)).unwrap_or(u64::MAX);
        state.bulk = bulk::BulkMode::RowByRow;
        if projected < bulk::BULK_MIN_ROWS {
            return Ok(());
        }
        let id = state.id;
        if let Backend::Postgres(_) = &*self.db {
            let deferred = self.db.write_any(|db| {
                let table: u64 = db.query_one("SELECT count(*) FROM invoices", args![])?.get(0)?;
                if !bulk::worth_deferring(projected, table) {
                    return Ok(false);
                }
                Ok(bulk::defer_invoice_indexes_pg(db, id)? > 0)
            })?;
            if deferred {
                state.bulk = bulk::BulkMode::Deferred;
            }
            return Ok(());
        }
        let deferred = self.db.write(|tx| {
            // All tenants: the indexes are shared.
            let table: i64 = tx.query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))?;
            if !bulk::worth_deferring(projected, u64::try_from(table).unwrap_or(0)) {
                return Ok(false);
            }
            Ok(bulk::defer_invoice_indexes(tx, id)? > 0)
        })?;
        if deferred {
            state.bulk = bulk::BulkMode::Deferred;
        }
        Ok(())
    }

    /// Rebuilds the invoice indexes a bulk load deferred (see [`bulk`]);
    /// returns how many. Called when an import ends, by a connector that
    /// gives up on one, and when the database is opened.
    pub fn restore_deferred_indexes(&self) -> Result<usize, StoreError> {
        match &*self.db {
            Backend::Postgres(_) => {
                // One transaction per index, as on SQLite; two built at once
                // (PostgreSQL builds each with one process; indexes of one
                // table may be built concurrently).
                let builder = || -> Result<usize, StoreError> {
                    let mut rebuilt = 0;
                    // READ COMMITTED: builders of different rows never conflict.
                    while let Some(built) = self.db.write_queue(bulk::restore_next_pg)? {
                        rebuilt += usize::from(built);
                    }
                    Ok(rebuilt)
                };
                let rebuilt = std::thread::scope(|s| {
                    let other = s.spawn(builder);
                    let mine = builder();
                    let theirs = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    Ok::<_, StoreError>(mine? + theirs?)
                })?;
                if rebuilt > 0 {
                    // The planner's statistics describe the table before the load (autovacuum
                    // comes later): without them, a lookup of a few hundred invoices by number
                    // was planned as a scan of the million.
                    self.db.write_queue(bulk::analyze_pg)?;
                }
                Ok(rebuilt)
            }
            Backend::Sqlite(_) => self.db.with_writer(bulk::restore_deferred),
        }
    }

    /// Ends an import: closes what a full export no longer lists, writes the
    /// summary audit event and marks the unit done.
    pub fn finish_import(&self, state: &mut ImportState, label: &str) -> Result<ImportSummary, StoreError> {
        // Indexes first: the closing pass and everyone after it read through them.
        self.restore_deferred_indexes()?;
        let summary = self.db.write_any(|db| finish(db, state, label))?;
        state.status = ImportStatus::Done;
        self.db.release_memory();
        Ok(summary)
    }

    /// What finishing a full export of `source` would close now: the open
    /// invoices of the source for which `listed(number)` is false, and the
    /// tenant's open invoices. Reads only.
    pub fn full_export_preview(
        &self,
        tenant: &TenantId,
        source: &str,
        listed: impl Fn(&str) -> bool,
    ) -> Result<ClosePreview, StoreError> {
        let closable = status_filter(CLOSABLE);
        self.db.read_any(|db| {
            let tenant_open: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM invoices WHERE tenant_id=?1{closable}"),
                    args![tenant.as_str()],
                )?
                .get(0)?;
            // By pages in key order (one snapshot): a large tenant's numbers are never all in memory.
            let page_sql = format!(
                "SELECT number FROM invoices WHERE tenant_id=?1 AND source=?2 AND number > ?3{closable}
                 ORDER BY number LIMIT {PREVIEW_PAGE}"
            );
            let mut would_close = 0u64;
            let mut after = String::new();
            loop {
                let rows = db.query(&page_sql, args![tenant.as_str(), source, after])?;
                let full = rows.len() == PREVIEW_PAGE;
                for row in rows {
                    let number: String = row.get(0)?;
                    if !listed(&number) {
                        would_close += 1;
                    }
                    after = number;
                }
                if !full {
                    break;
                }
            }
            Ok(ClosePreview { would_close, tenant_open: u64::try_from(tenant_open).unwrap_or(0) })
        })
    }

    /// What finishing this running full import would close now: the open
    /// invoices of its source that none of its batches listed. Reads only.
    pub fn pass_close_preview(&self, state: &ImportState) -> Result<ClosePreview, StoreError> {
        let closable = status_filter(CLOSABLE);
        let tenant = state.tenant.as_str();
        self.db.read_any(|db| {
            let tenant_open: i64 = db
                .query_one(&format!("SELECT count(*) FROM invoices WHERE tenant_id=?1{closable}"), args![tenant])?
                .get(0)?;
            let would_close: i64 = db
                .query_one(
                    &format!(
                        "SELECT count(*) FROM invoices WHERE tenant_id=?1 AND source=?2
                         AND (last_import IS NULL OR last_import<>?3){closable}"
                    ),
                    args![tenant, state.source, state.id],
                )?
                .get(0)?;
            Ok(ClosePreview {
                would_close: u64::try_from(would_close).unwrap_or(0),
                tenant_open: u64::try_from(tenant_open).unwrap_or(0),
            })
        })
    }

    /// Holds a running import before anything of it is applied: state
    /// `held`, one quarantine row naming it (with the reason and where the
    /// input is kept), one audit event. Returns the quarantine id, which the
    /// API releases.
    pub fn hold_import(&self, state: &mut ImportState, q: &NewQuarantine) -> Result<i64, StoreError> {
        let id = self.db.write_any(|db| {
            let held = db.execute(
                "UPDATE imports SET state='held' WHERE tenant_id=?2 AND id=?1 AND state='running'",
                args![state.id, state.tenant.as_str()],
            )?;
            if held != 1 {
                return Err(StoreError::ImportConflict { import: state.id, expected: state.position });
            }
            let qid = insert_quarantine(db, state.tenant.as_str(), q)?;
            db.execute(
                "UPDATE quarantine SET import_id=?2 WHERE tenant_id=?3 AND id=?1",
                args![qid, state.id, state.tenant.as_str()],
            )?;
            insert_event(
                db,
                state.tenant.as_str(),
                &format!("connector:{}", state.source),
                "import_held",
                &q.item,
                &json!({ "import": state.id, "quarantine_id": qid, "reason": q.reason }),
            )?;
            Ok(qid)
        })?;
        state.status = ImportStatus::Held;
        Ok(id)
    }

    /// Takes a held import back to `running` when its connector finds it
    /// acceptable now (e.g. `max_close_share` was raised). Returns false, and
    /// leaves it held, when a later full import of the source superseded it.
    pub fn resume_held_import(&self, state: &mut ImportState, why: &str) -> Result<bool, StoreError> {
        let resumed = self.db.write_any(|db| {
            if superseded(db, state.id)? {
                return Ok(false);
            }
            if db.execute(
                "UPDATE imports SET state='running' WHERE tenant_id=?2 AND id=?1 AND state='held'",
                args![state.id, state.tenant.as_str()],
            )? != 1
            {
                return Err(StoreError::ImportConflict { import: state.id, expected: state.position });
            }
            let now = now_text();
            db.execute(
                "UPDATE quarantine SET released_at=?3 WHERE tenant_id=?1 AND import_id=?2 AND released_at IS NULL",
                args![state.tenant.as_str(), state.id, now],
            )?;
            insert_event(
                db,
                state.tenant.as_str(),
                &format!("connector:{}", state.source),
                "import_resumed",
                &format!("import:{}", state.id),
                &json!({ "import": state.id, "reason": why }),
            )?;
            Ok(true)
        })?;
        if resumed {
            state.status = ImportStatus::Running;
        }
        Ok(resumed)
    }

    /// Releases the held import named by quarantine row `quarantine_id`: its
    /// connector applies it at its next run, closes included. Refused
    /// ([`StoreError::Rejected`]) when the row is not a held import of this
    /// tenant, or when a later full import of the same source superseded it.
    pub fn release_held_import(
        &self,
        tenant: &TenantId,
        quarantine_id: i64,
        actor: &str,
    ) -> Result<ReleasedImport, StoreError> {
        self.db.write_any(|db| {
            let row: Option<(Option<i64>, Option<String>)> = db
                .query_opt(
                    "SELECT import_id, raw_path FROM quarantine WHERE tenant_id=?1 AND id=?2",
                    args![tenant.as_str(), quarantine_id],
                )?
                .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
                .transpose()?;
            let (import, kept_path) = match row {
                None => return Err(StoreError::Rejected(format!("no quarantine item {quarantine_id}"))),
                Some((None, _)) => {
                    return Err(StoreError::Rejected(format!(
                        "quarantine item {quarantine_id} is not a held import: there is nothing to release"
                    )));
                }
                Some((Some(import), kept)) => (import, kept),
            };
            let r = db.query_one(
                "SELECT source, unit, label, state FROM imports WHERE tenant_id=?1 AND id=?2",
                args![tenant.as_str(), import],
            )?;
            let (source, unit, label, state): (String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            if state != ImportStatus::Held.as_str() {
                return Err(StoreError::Rejected(format!(
                    "quarantine item {quarantine_id} is not held any more (its import is {state})"
                )));
            }
            if superseded(db, import)? {
                return Err(StoreError::Rejected(format!(
                    "quarantine item {quarantine_id}: a later full export of `{source}` was imported since; \
                     releasing this older one would apply stale data"
                )));
            }
            let now = now_text();
            db.execute(
                "UPDATE imports SET state='released' WHERE tenant_id=?2 AND id=?1",
                args![import, tenant.as_str()],
            )?;
            db.execute(
                "UPDATE quarantine SET released_at=?2 WHERE tenant_id=?3 AND id=?1",
                args![quarantine_id, now, tenant.as_str()],
            )?;
            insert_event(
                db,
                tenant.as_str(),
                actor,
                "import_released",
                &label,
                &json!({ "import": import, "quarantine_id": quarantine_id, "source": source }),
            )?;
            Ok(ReleasedImport { import, unit, label, kept_path })
        })
    }

    /// Imports of `source` released through the API and not applied yet, oldest first.
    pub fn released_imports(&self, tenant: &TenantId, source: &str) -> Result<Vec<ReleasedImport>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT i.id, i.unit, i.label,
                        (SELECT q.raw_path FROM quarantine q WHERE q.tenant_id=i.tenant_id AND q.import_id=i.id
                         ORDER BY q.id DESC LIMIT 1)
                 FROM imports i WHERE i.tenant_id=?1 AND i.source=?2 AND i.state='released' ORDER BY i.id",
                args![tenant.as_str(), source],
            )?
            .into_iter()
            .map(|r| Ok(ReleasedImport { import: r.get(0)?, unit: r.get(1)?, label: r.get(2)?, kept_path: r.get(3)? }))
            .collect()
        })
    }

    /// Marks a whole unit as quarantined (it will not be retried while its
    /// content is unchanged) and records why.
    pub fn quarantine_import(&self, state: &mut ImportState, q: &NewQuarantine) -> Result<i64, StoreError> {
        // A unit given up mid-way (a parser panic) may have deferred the indexes.
        self.restore_deferred_indexes()?;
        let id = self.db.write_any(|db| {
            let qid = insert_quarantine(db, state.tenant.as_str(), q)?;
            db.execute(
                "UPDATE quarantine SET import_id=?2 WHERE tenant_id=?3 AND id=?1",
                args![qid, state.id, state.tenant.as_str()],
            )?;
            db.execute(
                "UPDATE imports SET state='quarantined', quarantined=quarantined+1, finished_at=?2 WHERE tenant_id=?3 AND id=?1",
                args![state.id, now_text(), state.tenant.as_str()],
            )?;
            insert_event(
                db,
                state.tenant.as_str(),
                &format!("connector:{}", state.source),
                "quarantined",
                &q.item,
                &json!({ "import": state.id, "quarantine_id": qid, "reason": q.reason }),
            )?;
            Ok(qid)
        })?;
        state.status = ImportStatus::Quarantined;
        Ok(id)
    }
}

/// Applies one batch in the caller's transaction. Returns the outcome and the
/// customers written, which the caller adds to `state`'s cache once the
/// transaction has committed (on PostgreSQL it may run more than once).
fn apply_batch(
    db: Db<'_>,
    state: &ImportState,
    batch: &InvoiceBatch,
) -> Result<(BatchOutcome, Vec<CustomerRecord>), StoreError> {
    let tenant = state.tenant.as_str();
    // Claim the range: fails if another worker applied it meanwhile.
    let claimed = db.execute(
        "UPDATE imports SET position=?1 WHERE tenant_id=?4 AND id=?2 AND position=?3 AND state IN ('running','released')",
        args![as_i64(batch.position_after)?, state.id, as_i64(state.position)?, tenant],
    )?;
    if claimed != 1 {
        return Err(StoreError::ImportConflict { import: state.id, expected: state.position });
    }
    let now = now_text();
    let customers = {
        let written = state.written_customers.lock().unwrap_or_else(|p| p.into_inner());
        merged_customers(&batch.records, &written)
    };
    match db {
        Db::Postgres(pg) => pg_batch::upsert_customers(db, pg, tenant, &customers, &now)?,
        Db::Sqlite(_) => upsert_customers(db, tenant, &customers, &now)?,
    }
    let mut out = BatchOutcome::default();
    // In primary-key order: consecutive rows land on the same pages. Stable,
    // so two records of one number keep their order (the later one wins).
    let mut records: Vec<&InvoiceRecord> = batch.records.iter().collect();
    records.sort_by(|a, b| a.number.cmp(&b.number));
    let mut imported = Vec::new();
    let changes = match db {
        Db::Postgres(pg) => pg_batch::upsert_invoices(db, pg, state, &records, &now, &mut imported)?,
        Db::Sqlite(c) => {
            // The hot path of a large load: the insert prepared once per batch, its arguments borrowed.
            let mut insert = c.prepare_cached(INSERT_INVOICE)?;
            let mut changes = Vec::with_capacity(records.len());
            for rec in &records {
                changes.push(upsert_invoice(db, &mut insert, state, rec, &now, &mut imported)?);
            }
            changes
        }
    };
    for change in changes {
        match change {
            Change::Created => out.created += 1,
            Change::Updated => out.updated += 1,
            Change::Unchanged => out.unchanged += 1,
            Change::Quarantined => out.quarantined += 1,
        }
    }
    super::events::emit_imported(db, tenant, &state.source, state.id, &imported)?;
    for q in &batch.quarantined {
        insert_quarantine(db, tenant, q)?;
        out.quarantined += 1;
    }
    for n in &batch.quarantined_numbers {
        db.execute(TOUCH_INVOICE, args![state.id, tenant, n])?;
    }
    // `MAX(a, b)`, not `a OR b`: PostgreSQL's BIGINT is not a boolean.
    db.execute(
        "UPDATE imports SET created=created+?2, updated=updated+?3, unchanged=unchanged+?4,
                quarantined=quarantined+?5, close_blocked=MAX(close_blocked, ?6) WHERE tenant_id=?7 AND id=?1",
        args![
            state.id,
            as_i64(out.created)?,
            as_i64(out.updated)?,
            as_i64(out.unchanged)?,
            as_i64(out.quarantined)?,
            batch.close_blocked,
            tenant
        ],
    )?;
    Ok((out, customers))
}

/// A count or position as the databases store it.
fn as_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Rejected(format!("{n} is out of range")))
}

enum Change {
    Created,
    Updated,
    Unchanged,
    /// Refused (recorded in quarantine); the invoice is kept as it was.
    Quarantined,
}

/// The customers of a batch to write, merged (a customer appears on many
/// records), in first-seen order, less those this import already wrote
/// identically.
fn merged_customers(records: &[InvoiceRecord], written: &HashMap<String, CustomerRecord>) -> Vec<CustomerRecord> {
    let mut merged: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<CustomerRecord> = Vec::new();
    for r in records {
        let c = &r.customer;
        match merged.get(c.id.as_str()) {
            Some(&i) => merge_customer(&mut out[i], c),
            None => {
                if written.get(&c.id) == Some(c) {
                    continue;
                }
                merged.insert(&c.id, out.len());
                out.push(c.clone());
            }
        }
    }
    out
}

/// A customer as stored, read back into a record (IBANs apart).
fn stored_customer(
    id: &str,
    name: String,
    emails: &str,
    phones: &str,
    segment: Option<String>,
    language: Option<String>,
    address: Option<String>,
) -> CustomerRecord {
    CustomerRecord {
        id: id.to_string(),
        name,
        emails: serde_json::from_str(emails).unwrap_or_default(),
        phones: serde_json::from_str(phones).unwrap_or_default(),
        ibans: Vec::new(),
        segment,
        language: language.as_deref().and_then(|l| l.parse().ok()),
        address,
    }
}

/// Merges the customers of a batch (one write per customer) into the store:
/// the latest non-empty name, segment and language win; e-mails, phones and
/// IBANs accumulate.
fn upsert_customers(db: Db<'_>, tenant: &str, customers: &[CustomerRecord], now: &str) -> Result<(), StoreError> {
    for c in customers {
        let id = c.id.as_str();
        let existing = db.query_opt(
            "SELECT name, emails, phones, segment, language, address FROM customers WHERE tenant_id=?1 AND id=?2",
            args![tenant, id],
        )?;
        match existing {
            None => {
                db.execute(
                    "INSERT INTO customers (tenant_id, id, name, emails, phones, segment, language, created_at, updated_at, address)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8,?9)",
                    args![
                        tenant,
                        id,
                        c.name,
                        json!(c.emails).to_string(),
                        json!(c.phones).to_string(),
                        c.segment,
                        c.language.map(|l| l.as_str()),
                        now,
                        c.address
                    ],
                )?;
            }
            Some(r) => {
                let emails: String = r.get(1)?;
                let phones: String = r.get(2)?;
                let mut stored = stored_customer(id, r.get(0)?, &emails, &phones, r.get(3)?, r.get(4)?, r.get(5)?);
                let before = stored.clone();
                merge_customer(&mut stored, c);
                if stored != before {
                    db.execute(
                        "UPDATE customers SET name=?3, emails=?4, phones=?5, segment=?6, language=?7, updated_at=?8, address=?9
                         WHERE tenant_id=?1 AND id=?2",
                        args![
                            tenant,
                            id,
                            stored.name,
                            json!(stored.emails).to_string(),
                            json!(stored.phones).to_string(),
                            stored.segment,
                            stored.language.map(|l| l.as_str()),
                            now,
                            stored.address
                        ],
                    )?;
                }
            }
        }
        for i in &c.ibans {
            db.execute(
                "INSERT OR IGNORE INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES (?1,?2,?3,'source',?4)",
                args![tenant, i, id, now],
            )?;
        }
    }
    Ok(())
}

fn merge_customer(into: &mut CustomerRecord, from: &CustomerRecord) {
    if !from.name.is_empty() {
        into.name.clone_from(&from.name);
    }
    for (dst, src) in
        [(&mut into.emails, &from.emails), (&mut into.phones, &from.phones), (&mut into.ibans, &from.ibans)]
    {
        for v in src {
            if !dst.iter().any(|d| d.eq_ignore_ascii_case(v)) {
                dst.push(v.clone());
            }
        }
    }
    if from.segment.is_some() {
        into.segment.clone_from(&from.segment);
    }
    if from.language.is_some() {
        into.language = from.language;
    }
    if from.address.is_some() {
        into.address.clone_from(&from.address);
    }
}

const INSERT_INVOICE: &str =
    "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total_minor,
                           open_minor, status, source, last_import, created_at, updated_at, erp_open_minor)
     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?12,?8)
     ON CONFLICT (tenant_id, number) DO NOTHING";
const SELECT_INVOICE: &str =
    "SELECT customer_id, issue_date, due_date, currency, total_minor, open_minor, status, erp_open_minor
     FROM invoices WHERE tenant_id=?1 AND number=?2";
const TOUCH_INVOICE: &str = "UPDATE invoices SET last_import=?1 WHERE tenant_id=?2 AND number=?3";
const UPDATE_INVOICE: &str =
    "UPDATE invoices SET customer_id=?3, issue_date=?4, due_date=?5, currency=?6, total_minor=?7,
            open_minor=?8, status=?9, source=?10, last_import=?11, updated_at=?12, erp_open_minor=?13
     WHERE tenant_id=?1 AND number=?2";

/// An [`Existing`] from the columns of [`SELECT_INVOICE`], from column `at`.
fn existing_from(r: &Row, at: usize) -> Result<Existing, StoreError> {
    Ok(Existing {
        customer_id: r.get(at)?,
        issue_date: r.get(at + 1)?,
        due_date: r.get(at + 2)?,
        currency: r.get(at + 3)?,
        total_minor: r.get(at + 4)?,
        open_minor: r.get(at + 5)?,
        status: r.get(at + 6)?,
        erp_open_minor: r.get(at + 7)?,
    })
}

/// The row a record creates.
fn incoming_new(rec: &InvoiceRecord) -> Existing {
    incoming(rec, InvoiceStatus::merge_from_source(None, rec.effective_status()), rec.open.minor)
}

fn incoming(rec: &InvoiceRecord, status: InvoiceStatus, open_minor: i64) -> Existing {
    Existing {
        customer_id: rec.customer.id.clone(),
        issue_date: rec.issue_date.map(|d| d.to_string()),
        due_date: rec.due_date.to_string(),
        currency: rec.total.currency.code().to_string(),
        total_minor: rec.total.minor,
        open_minor,
        status: status.as_str().to_string(),
        erp_open_minor: rec.open.minor,
    }
}

/// SQLite: one record, row by row (most records of a large import are new:
/// the insert is tried first, one B-tree descent).
fn upsert_invoice(
    db: Db<'_>,
    insert: &mut rusqlite::CachedStatement<'_>,
    state: &ImportState,
    rec: &InvoiceRecord,
    now: &str,
    imported: &mut Vec<super::events::PackedInvoice>,
) -> Result<Change, StoreError> {
    let tenant = state.tenant.as_str();
    let new = incoming_new(rec);
    let inserted = insert.execute(rusqlite::params![
        tenant,
        rec.number,
        new.customer_id,
        new.issue_date,
        new.due_date,
        new.currency,
        new.total_minor,
        new.open_minor,
        new.status,
        state.source,
        state.id,
        now,
    ])?;
    if inserted == 1 {
        imported.push(packed_invoice(rec, &new, false));
        return Ok(Change::Created);
    }
    let old = existing_from(&db.query_one(SELECT_INVOICE, args![tenant, rec.number])?, 0)?;
    let pending = reflection::pending_allocations(db, tenant, &rec.number)?;
    update_existing(db, state, rec, old, &pending, now, imported, true)
}

/// A record of an invoice the store has (`old`, with its pending
/// allocations): updated when it changed, left as it is when not (touched,
/// for a full export, when `touch_unchanged`), quarantined when its currency
/// cannot be compared with pending allocations.
#[allow(clippy::too_many_arguments)]
fn update_existing(
    db: Db<'_>,
    state: &ImportState,
    rec: &InvoiceRecord,
    old: Existing,
    pending: &[reflection::PendingAllocation],
    now: &str,
    imported: &mut Vec<super::events::PackedInvoice>,
    touch_unchanged: bool,
) -> Result<Change, StoreError> {
    let tenant = state.tenant.as_str();
    let current_status = old.status.parse::<InvoiceStatus>().ok();
    let erp_status = InvoiceStatus::merge_from_source(current_status, rec.effective_status());
    // Paid stays paid: Relance's allocations the ERP has not reflected yet.
    if !pending.is_empty() && old.currency != rec.total.currency.code() {
        // Pending allocations are in the invoice's currency: an amount in
        // another one cannot be compared with them, nor lowered by them.
        insert_quarantine(
            db,
            tenant,
            &NewQuarantine {
                source: state.source.clone(),
                item: format!("invoice:{}", rec.number),
                reason: format!(
                    "the source now reports invoice {} in {}, but Relance applied payments to it in {} that the ERP \
                     has not reflected yet; the invoice is kept as it was (undo the allocations, or correct the source)",
                    rec.number,
                    rec.total.currency.code(),
                    old.currency
                ),
                ..Default::default()
            },
        )?;
        db.execute(TOUCH_INVOICE, args![state.id, tenant, rec.number])?;
        return Ok(Change::Quarantined);
    }
    let mut reflected = Vec::new();
    if !pending.is_empty() {
        if settled_by_erp(erp_status) {
            let all = reflection::pending_total(pending)?;
            reflected = reflection::reflect(db, tenant, pending, all, ReflectedBy::ErpSettled, now)?;
        } else {
            // An invoice's open amount dropped, or a credit note's rose toward zero.
            let drop = reflection::toward_zero(old.erp_open_minor, rec.open.minor);
            if drop > 0 {
                reflected = reflection::reflect(db, tenant, pending, drop, ReflectedBy::ErpOpenDrop, now)?;
            }
        }
    }
    let still_pending = reflection::pending_total(pending)? - reflection::reflected_total(&reflected);
    // A credit note offset by a net payment stays used while the ERP has not reflected it.
    let offset_note = erp_status == InvoiceStatus::CreditNote;
    let incoming = if still_pending > 0 && (erp_status.is_outstanding() || offset_note) {
        let open = reflection::effective_open(rec.open.minor, still_pending);
        incoming(rec, reflection::status_for(Some(erp_status), rec.total.minor, open), open)
    } else {
        incoming(rec, erp_status, rec.open.minor)
    };
    if old == incoming && reflected.is_empty() {
        if state.full_export && touch_unchanged {
            db.execute(TOUCH_INVOICE, args![state.id, tenant, rec.number])?;
        }
        return Ok(Change::Unchanged);
    }
    db.execute(
        UPDATE_INVOICE,
        args![
            tenant,
            rec.number,
            incoming.customer_id,
            incoming.issue_date,
            incoming.due_date,
            incoming.currency,
            incoming.total_minor,
            incoming.open_minor,
            incoming.status,
            state.source,
            state.id,
            now,
            incoming.erp_open_minor
        ],
    )?;
    let was_outstanding = current_status.is_some_and(|s| s.is_outstanding());
    if !was_outstanding && incoming.status.parse::<InvoiceStatus>().is_ok_and(|s| s.is_outstanding()) {
        imported.push(packed_invoice(rec, &incoming, true));
    }
    let mut data = json!({ "import": state.id, "changes": diff(&old, &incoming) });
    if !reflected.is_empty() || still_pending > 0 {
        let exp = rec.total.currency.exponent();
        data["reflected"] = reflection::reflected_json(&reflected, exp);
        data["pending_erp"] = json!(format_minor(still_pending, exp));
    }
    insert_event(
        db,
        tenant,
        &format!("connector:{}", state.source),
        "invoice_updated",
        &format!("invoice:{}", rec.number),
        &data,
    )?;
    Ok(Change::Updated)
}

/// Statuses with which the ERP says nothing more is to be paid: every
/// pending allocation is then reflected.
fn settled_by_erp(status: InvoiceStatus) -> bool {
    matches!(status, InvoiceStatus::Paid | InvoiceStatus::Cancelled | InvoiceStatus::Closed)
}

/// The `invoice.imported` event of an invoice the import created, or
/// `reopened` (outstanding again after being settled): packed with the
/// batch's others into one row (see [`super::events::emit_imported`]).
fn packed_invoice(rec: &InvoiceRecord, row: &Existing, reopened: bool) -> super::events::PackedInvoice {
    let exp = rec.total.currency.exponent();
    super::events::PackedInvoice(
        rec.number.clone(),
        row.customer_id.clone(),
        row.issue_date.clone(),
        row.due_date.clone(),
        row.currency.clone(),
        format_minor(row.total_minor, exp),
        format_minor(row.open_minor, exp),
        row.status.clone(),
        reopened,
    )
}

/// `{"field": [before, after]}` for every field that changed. The ERP's own
/// open amount (`amount_open_erp`) is listed when it changed and differs from
/// the effective one before or after (Relance's pending allocations).
fn diff(old: &Existing, new: &Existing) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let exp = relance_domain::money::Currency::parse(&new.currency).map(|c| c.exponent()).unwrap_or(2);
    let mut put = |k: &str, a: serde_json::Value, b: serde_json::Value| {
        if a != b {
            m.insert(k.to_string(), json!([a, b]));
        }
    };
    put("customer_id", json!(old.customer_id), json!(new.customer_id));
    put("issue_date", json!(old.issue_date), json!(new.issue_date));
    put("due_date", json!(old.due_date), json!(new.due_date));
    put("currency", json!(old.currency), json!(new.currency));
    put("amount_total", json!(format_minor(old.total_minor, exp)), json!(format_minor(new.total_minor, exp)));
    put("amount_open", json!(format_minor(old.open_minor, exp)), json!(format_minor(new.open_minor, exp)));
    if old.erp_open_minor != old.open_minor || new.erp_open_minor != new.open_minor {
        put(
            "amount_open_erp",
            json!(format_minor(old.erp_open_minor, exp)),
            json!(format_minor(new.erp_open_minor, exp)),
        );
    }
    put("status", json!(old.status), json!(new.status));
    serde_json::Value::Object(m)
}

/// Whether a full import of the same tenant and source, begun after `import`, has completed.
fn superseded(db: Db<'_>, import: i64) -> Result<bool, StoreError> {
    db.query_one(
        "SELECT EXISTS (SELECT 1 FROM imports h JOIN imports n ON n.tenant_id=h.tenant_id AND n.source=h.source
                        WHERE h.id=?1 AND n.id>h.id AND n.full_export=1 AND n.state='done')",
        args![import],
    )?
    .get(0)
}

/// A full export that no longer lists an invoice says the ERP closed it:
/// Relance's allocations on it that were pending are reflected, and the
/// ERP's open amount is taken as zero (whatever the invoice's status: one
/// that Relance's payments made `paid` is not closed, but its pending
/// allocations are reflected all the same). One audit event per pass.
fn reflect_missing(db: Db<'_>, state: &ImportState, label: &str, now: &str) -> Result<(), StoreError> {
    let tenant = state.tenant.as_str();
    let invoices: Vec<(String, String)> = db
        .query(
            "SELECT DISTINCT i.number, i.currency FROM allocations a
             JOIN invoices i ON i.tenant_id=a.tenant_id AND i.number=a.invoice_number
             WHERE a.tenant_id=?1 AND a.erp_state='pending' AND a.undone_at IS NULL
               AND i.source=?2 AND (i.last_import IS NULL OR i.last_import<>?3)
             ORDER BY i.number",
            args![tenant, state.source, state.id],
        )?
        .into_iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    if invoices.is_empty() {
        return Ok(());
    }
    let mut listed = Vec::new();
    let mut count = 0u64;
    for (number, currency) in &invoices {
        let pending = reflection::pending_allocations(db, tenant, number)?;
        let all = reflection::pending_total(&pending)?;
        let done = reflection::reflect(db, tenant, &pending, all, ReflectedBy::MissingFromFullExport, now)?;
        db.execute(
            "UPDATE invoices SET erp_open_minor=0, updated_at=?3 WHERE tenant_id=?1 AND number=?2",
            args![tenant, number, now],
        )?;
        let exp = relance_domain::money::Currency::parse(currency).map(|c| c.exponent()).unwrap_or(2);
        for r in &done {
            if listed.len() < CLOSED_LISTED {
                listed.push(json!({
                    "allocation": r.allocation,
                    "invoice": number,
                    "amount": format_minor(r.amount, exp),
                }));
            }
            count += 1;
        }
    }
    insert_event(
        db,
        tenant,
        &format!("connector:{}", state.source),
        "allocations_reflected",
        &format!("import:{}", state.id),
        &json!({
            "import": state.id,
            "label": label,
            "by": ReflectedBy::MissingFromFullExport.as_str(),
            "count": count,
            "allocations": listed,
            "truncated": count > CLOSED_LISTED as u64,
        }),
    )?;
    Ok(())
}

fn finish(db: Db<'_>, state: &ImportState, label: &str) -> Result<ImportSummary, StoreError> {
    let tenant = state.tenant.as_str();
    let r = db.query_one(
        "SELECT created, updated, unchanged, quarantined, close_blocked FROM imports WHERE id=?1",
        args![state.id],
    )?;
    let (created, updated, unchanged, quarantined, close_blocked): (u64, u64, u64, u64, bool) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    let actor = format!("connector:{}", state.source);
    let mut closed = 0u64;
    if state.full_export && !close_blocked {
        let missing_where = format!(
            "WHERE tenant_id=?1 AND source=?2 AND (last_import IS NULL OR last_import<>?3){}",
            status_filter(CLOSABLE)
        );
        // Listed in the event: the first CLOSED_LISTED; all are counted and closed.
        let listed_rows = db.query(
            &format!(
                "SELECT number, status, open_minor, currency FROM invoices {missing_where}
                 ORDER BY number LIMIT {CLOSED_LISTED}"
            ),
            args![tenant, state.source, state.id],
        )?;
        let mut listed = Vec::with_capacity(listed_rows.len());
        for r in &listed_rows {
            let (number, status, open, currency): (String, String, i64, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let exp = relance_domain::money::Currency::parse(&currency).map(|c| c.exponent()).unwrap_or(2);
            listed.push(json!({
                "number": number,
                "previous_status": status,
                "previous_amount_open": format_minor(open, exp),
            }));
        }
        let now = now_text();
        reflect_missing(db, state, label, &now)?;
        // One statement for the whole pass: the same rows as listed above
        // (reflecting changes neither their status nor `last_import`).
        closed = db.execute(
            &format!(
                "UPDATE invoices SET status='closed', open_minor=0, erp_open_minor=0, updated_at=?4 {missing_where}"
            ),
            args![tenant, state.source, state.id, now],
        )?;
        if closed > 0 {
            // One event per closing pass, however many invoices it closed.
            insert_event(
                db,
                tenant,
                &actor,
                "invoices_closed",
                &format!("import:{}", state.id),
                &json!({
                    "import": state.id,
                    "label": label,
                    "reason": "missing from full export",
                    "count": closed,
                    "invoices": listed,
                    "truncated": closed > CLOSED_LISTED as u64,
                }),
            )?;
        }
    }
    db.execute(
        "UPDATE imports SET state='done', closed=?2, finished_at=?3 WHERE tenant_id=?4 AND id=?1",
        args![state.id, as_i64(closed)?, now_text(), tenant],
    )?;
    let summary = ImportSummary {
        created,
        updated,
        unchanged,
        quarantined,
        closed,
        close_blocked: state.full_export && close_blocked,
    };
    insert_event(
        db,
        tenant,
        &actor,
        "import_completed",
        &format!("import:{}", state.id),
        &json!({
            "label": label,
            "full_export": state.full_export,
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "quarantined": summary.quarantined,
            "closed": summary.closed,
            "closing_skipped": summary.close_blocked,
        }),
    )?;
    Ok(summary)
}
