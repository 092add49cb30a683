//! CSV invoice source (`kind = "csv_invoices"`): imports invoice exports
//! dropped in a folder (or one file rewritten in place).
//!
//! Each file is identified by the SHA-256 of its content, so a file already
//! imported is never applied again, wherever it lies. A file is read only once
//! it has not changed for `settle` (also under `relance run --once`), and
//! skipped for this run if it changes while it is read. It is applied in
//! checkpointed batches (see `relance_store`), so a crash or shutdown
//! mid-file resumes where it stopped. Bad rows are quarantined with file, line,
//! column and reason; a file that cannot be read or has no usable header is
//! quarantined whole (a copy is kept under the data directory). Amounts beyond
//! `max_amount` major units are bad rows.
//!
//! Before anything is applied, a first pass ([`scan`]) reads the invoice
//! numbers: every row of a number that appears on several rows is quarantined
//! (the invoice keeps its previous state and a full export does not close it).
//!
//! A full export closes the invoices of this source it does not list, only
//! when the file is known complete:
//! - its last line is complete: the file ends with a line break, or its last
//!   row parses with all its columns (many exports have no final line break;
//!   a last row cut inside its last field cannot be told from a complete one,
//!   which the settle time and the size check around the read guard against).
//!   A last row that does not parse in a file without a final line break is
//!   taken as truncated: quarantined, and nothing is closed;
//! - it has data rows: a header-only full export is *held* (nothing applied);
//! - it would close at most `max_close_share` of the tenant's open invoices
//!   (default 0.5), else it is *held*.
//!
//! A held file is kept under the data directory and listed in quarantine
//! (`held: true`); `POST /api/v1/tenants/{t}/quarantine/{id}/release` has it
//! imported with its closes at the connector's next run, and raising
//! `max_close_share` has the next run (after a restart) import it.
//!
//! ```toml
//! [connectors.erp_export]
//! kind = "csv_invoices"
//! path = "../exports"          # folder or file, relative to the tenant file
//! pattern = "*.csv"
//! mode = "full"                # each file lists every open invoice
//! delimiter = "auto"           # or ";", ",", "tab", "|"
//! encoding = "auto"            # or "utf8", "windows1252"
//! decimal = "auto"             # comma, dot
//! date_order = "dmy"           # mdy
//! max_amount = 1000000000000   # major units; larger amounts are quarantined
//! max_close_share = 0.5        # full exports closing more are held for confirmation
//! [connectors.erp_export.columns]
//! invoice_number = "Numéro"
//! ```

pub mod parse;
pub mod scan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration};
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, InvoiceSource, RunContext, RunReport, run_blocking,
};
use relance_domain::money::{Currency, DEFAULT_MAX_AMOUNT, DecimalStyle, check_max_amount};
use relance_store::{ImportKey, ImportState, ImportStatus, InvoiceBatch, NewQuarantine, ReleasedImport};

use crate::files;
use parse::{ColumnMap, DateOrder, EncodingSetting, ValueFormat};
use scan::Scan;

/// Whether each file is a complete list of open invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportMode {
    /// Each file lists only changed invoices: nothing is closed.
    #[default]
    Incremental,
    /// Each file lists every open invoice: invoices of this source missing from it are closed.
    Full,
}

/// `csv_invoices`: invoices from CSV exports of the ERP, read when files appear (full or incremental
/// exports, any encoding, French or English number and date formats).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Folder of the ERP's CSV exports (relative to the tenant file).
    path: PathBuf,
    /// Glob of the files to read in `path`.
    #[serde(default = "default_pattern")]
    pattern: String,
    /// Whether each file lists every open invoice or only the changed ones.
    #[serde(default)]
    mode: ExportMode,
    /// Field separator (`;`, `,`, `\t`…); guessed from the header line when unset.
    #[serde(default)]
    delimiter: Option<String>,
    /// Text encoding of the files.
    #[serde(default)]
    encoding: EncodingSetting,
    /// Decimal mark of amounts: `auto` (decided per value), `comma` (`1 250,00`) or `dot` (`1,250.00`).
    #[serde(default)]
    #[schemars(with = "String")]
    decimal: DecimalStyle,
    /// Order of day, month and year in dates such as `04/12/2026`.
    #[serde(default)]
    date_order: DateOrder,
    /// Currency of rows without a currency column (ISO 4217); the tenant's `currency` when unset.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    currency: Option<Currency>,
    /// Header names of the columns, when they are not the canonical ones.
    #[serde(default)]
    columns: ColumnMap,
    /// A file modified more recently than this is still being written: wait.
    #[serde(default = "default_settle")]
    settle: String,
    /// Rows written to the store per transaction.
    #[serde(default = "default_batch")]
    batch_size: usize,
    /// Largest accepted amount in major units; a row beyond it is quarantined.
    #[serde(default = "default_max_amount")]
    max_amount: u64,
    /// Full exports: one that would close more than this share of the
    /// tenant's open invoices is held for confirmation.
    #[serde(default = "default_max_close_share")]
    max_close_share: f64,
}

fn default_pattern() -> String {
    "*.csv".to_string()
}
fn default_settle() -> String {
    "2s".to_string()
}
fn default_batch() -> usize {
    5000
}
fn default_max_amount() -> u64 {
    DEFAULT_MAX_AMOUNT
}
fn default_max_close_share() -> f64 {
    0.5
}

/// Factory for `kind = "csv_invoices"`.
pub struct CsvInvoicesFactory;

impl ConnectorFactory for CsvInvoicesFactory {
    fn kind(&self) -> &'static str {
        "csv_invoices"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Watch { poll: Duration::from_secs(60) }
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        Ok(AnyConnector::InvoiceSource(Arc::new(CsvInvoices::from_config(tenant, connector)?)))
    }
}

impl CsvInvoices {
    /// Validates the connector's settings.
    pub fn from_config(tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<CsvInvoices, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let key = |k: &str| format!("connectors.{}.{k}", connector.name);
        let err = |k: &str, m: String| ConfigError::new(&tenant.file, Some(&key(k)), m);
        let path = relance_config::join_clean(&tenant.base_dir, &s.path);
        if !path.exists() {
            return Err(err("path", format!("{} does not exist", path.display())));
        }
        let delimiter = match s.delimiter.as_deref() {
            None | Some("auto") => None,
            Some("tab") | Some("\t") => Some(b'\t'),
            Some(d) if d.len() == 1 && d.is_ascii() => Some(d.as_bytes()[0]),
            Some(d) => return Err(err("delimiter", format!("`{d}`: expected one character, `tab` or `auto`"))),
        };
        let settle = parse_duration(&s.settle).map_err(|e| err("settle", e))?;
        if s.batch_size == 0 || s.batch_size > 100_000 {
            return Err(err("batch_size", "expected 1..=100000".into()));
        }
        check_max_amount(s.max_amount).map_err(|e| err("max_amount", e))?;
        let max_close_share_bp =
            relance_connector::paging::close_share_bp(s.max_close_share).map_err(|e| err("max_close_share", e))?;
        Ok(CsvInvoices {
            name: connector.name.clone(),
            path,
            pattern: s.pattern.to_lowercase(),
            mode: s.mode,
            delimiter,
            encoding: s.encoding,
            format: ValueFormat {
                decimal: s.decimal,
                date_order: s.date_order,
                default_currency: s.currency.unwrap_or(tenant.currency),
                max_amount: s.max_amount,
            },
            columns: s.columns,
            settle,
            batch_size: s.batch_size,
            max_close_share_bp,
            finished: files::Finished::default(),
        })
    }
}

/// The built connector.
#[derive(Debug, Clone)]
pub struct CsvInvoices {
    name: String,
    path: PathBuf,
    pattern: String,
    mode: ExportMode,
    delimiter: Option<u8>,
    encoding: EncodingSetting,
    format: ValueFormat,
    columns: ColumnMap,
    settle: Duration,
    batch_size: usize,
    /// `max_close_share` in basis points (5000 = 50 %).
    max_close_share_bp: u32,
    /// Files known to be finished (imported or quarantined), by path, size and
    /// modification time: spares re-reading and re-hashing them at every poll.
    finished: files::Finished,
}

#[async_trait]
impl InvoiceSource for CsvInvoices {
    async fn sync(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let (this, ctx) = (self.clone(), ctx.clone());
        run_blocking("import", move || this.sync_blocking(&ctx)).await
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

/// Limit on the raw line kept inline in a quarantine entry.
const RAW_LIMIT: usize = 4096;

/// How long past `settle` a file that keeps changing is waited for before
/// it is left for the next run.
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);

/// How a unit is to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmation {
    /// Safeguards apply (header-only and `max_close_share` holds).
    Checked,
    /// Released through the API: applied with its closes.
    Released,
}

impl CsvInvoices {
    /// Applies the imports released through the API, then imports every new
    /// file, oldest first.
    pub fn sync_blocking(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let mut report = RunReport::default();
        for released in ctx.store.released_imports(&ctx.tenant, &self.name)? {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            report.add(&self.import_released(ctx, &released)?);
        }
        for file in self.list_files()? {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            // `--once` included: a file still being written is never read.
            if !self.wait_until_settled(&file, ctx)? {
                info!(file = %file.display(), "still being written: left for the next run");
                continue;
            }
            report.add(&self.import_file(ctx, &file)?);
        }
        Ok(report)
    }

    fn list_files(&self) -> Result<Vec<PathBuf>, ConnectorError> {
        files::list(&self.path, &self.pattern)
            .map_err(|e| ConnectorError::Transient(format!("cannot list {}: {e}", self.path.display())))
    }

    /// Waits until the file has not been modified for `settle`; false when it
    /// still changes after `settle` + [`SETTLE_PATIENCE`].
    fn wait_until_settled(&self, file: &Path, ctx: &RunContext) -> Result<bool, ConnectorError> {
        let deadline = std::time::Instant::now() + self.settle + SETTLE_PATIENCE;
        loop {
            // A modification time in the future (clock skew) counts as settled.
            let age =
                files::modified(file).and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or(self.settle);
            if age >= self.settle {
                return Ok(true);
            }
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep((self.settle - age).min(Duration::from_millis(500)));
        }
    }

    fn quarantine_unreadable(
        &self,
        ctx: &RunContext,
        file: &Path,
        reason: String,
    ) -> Result<RunReport, ConnectorError> {
        // Identify the failure by path, size and time so it is reported once, not at every poll.
        let meta = std::fs::metadata(file).ok();
        let unit = format!(
            "unreadable:{}:{}:{:?}",
            file.display(),
            meta.as_ref().map_or(0, |m| m.len()),
            meta.and_then(|m| m.modified().ok())
        );
        let label = file.display().to_string();
        let mut state = ctx.store.begin_import(&ImportKey {
            tenant: &ctx.tenant,
            source: &self.name,
            unit: &unit,
            label: &label,
            full_export: false,
        })?;
        if state.status != ImportStatus::Running {
            return Ok(RunReport::default());
        }
        warn!(file = %label, %reason, "file quarantined");
        ctx.store.quarantine_import(
            &mut state,
            &NewQuarantine { source: self.name.clone(), item: label, reason, ..Default::default() },
        )?;
        Ok(RunReport { quarantined: 1, units: 1, ..Default::default() })
    }

    /// Imports one file (or resumes it), returning what this call applied.
    /// A file that changes while it is read is left for the next run.
    pub fn import_file(&self, ctx: &RunContext, file: &Path) -> Result<RunReport, ConnectorError> {
        let Some(before) = self.finished.changed(file) else { return Ok(RunReport::default()) };
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                let report = self.quarantine_unreadable(ctx, file, format!("cannot read file: {e}"))?;
                self.finished.mark(file, before);
                return Ok(report);
            }
        };
        if files::stamp(file) != before {
            info!(file = %file.display(), "changed while it was read: left for the next run");
            return Ok(RunReport::default());
        }
        let unit = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let label = file.display().to_string();
        // A parser panic quarantines this file (batches already committed stay;
        // nothing is closed) and the connector goes on with the next one.
        let report = match relance_connector::guard::contain(|| {
            self.import_bytes(ctx, file, &bytes, &unit, &label, Confirmation::Checked)
        }) {
            Ok(report) => report?,
            Err(panicked) => self.quarantine_panicked(ctx, file, &bytes, &unit, &label, &panicked)?,
        };
        self.finished.mark(file, before);
        Ok(report)
    }

    /// Begins (or finds) the import of `unit` in this connector's mode.
    fn begin(&self, ctx: &RunContext, unit: &str, label: &str) -> Result<ImportState, ConnectorError> {
        Ok(ctx.store.begin_import(&ImportKey {
            tenant: &ctx.tenant,
            source: &self.name,
            unit,
            label,
            full_export: self.mode == ExportMode::Full,
        })?)
    }

    fn quarantine_panicked(
        &self,
        ctx: &RunContext,
        file: &Path,
        bytes: &[u8],
        unit: &str,
        label: &str,
        panicked: &relance_connector::guard::Panicked,
    ) -> Result<RunReport, ConnectorError> {
        let mut state = self.begin(ctx, unit, label)?;
        let kept = self.keep_copy(ctx, file, unit, bytes);
        warn!(file = %label, reason = %panicked, "file quarantined after a parser panic");
        ctx.store.quarantine_import(
            &mut state,
            &NewQuarantine {
                source: self.name.clone(),
                item: label.to_string(),
                reason: panicked.to_string(),
                raw_path: kept,
                ..Default::default()
            },
        )?;
        Ok(RunReport { quarantined: 1, units: 1, ..Default::default() })
    }

    /// Applies a held file released through the API, from the copy kept when
    /// it was held (or the original file when that copy is gone).
    fn import_released(&self, ctx: &RunContext, released: &ReleasedImport) -> Result<RunReport, ConnectorError> {
        let label = PathBuf::from(&released.label);
        let candidates = released.kept_path.iter().map(PathBuf::from).chain([label.clone()]);
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if format!("sha256:{}", hex::encode(Sha256::digest(&bytes))) == released.unit {
                info!(file = %released.label, import = released.import, "applying a held export released through the API");
                return self.import_bytes(ctx, &label, &bytes, &released.unit, &released.label, Confirmation::Released);
            }
        }
        // Neither the kept copy nor the original holds that content any more.
        let mut state = self.begin(ctx, &released.unit, &released.label)?;
        let reason = "released, but neither the kept copy nor the original file holds the held content any more: \
                      nothing imported";
        warn!(file = %released.label, reason, "released export quarantined");
        ctx.store.quarantine_import(
            &mut state,
            &NewQuarantine {
                source: self.name.clone(),
                item: released.label.clone(),
                reason: reason.to_string(),
                raw_path: released.kept_path.clone(),
                ..Default::default()
            },
        )?;
        Ok(RunReport { quarantined: 1, units: 1, ..Default::default() })
    }

    /// Imports the content `bytes` of `file` (unit `unit`), or resumes it.
    fn import_bytes(
        &self,
        ctx: &RunContext,
        file: &Path,
        bytes: &[u8],
        unit: &str,
        label: &str,
        confirmation: Confirmation,
    ) -> Result<RunReport, ConnectorError> {
        let mut state = self.begin(ctx, unit, label)?;
        // As recorded when the unit was first seen (a held unit is always a full export).
        let full = state.full_export;
        let checked = match (state.status, confirmation) {
            (ImportStatus::Done | ImportStatus::Quarantined, _) => return Ok(RunReport::default()),
            (ImportStatus::Released, _) | (_, Confirmation::Released) => false,
            // Held: checked again (the limit may have been raised since).
            (ImportStatus::Running | ImportStatus::Held, Confirmation::Checked) => true,
        };
        let resumed_at = state.position;
        let whole_file_problem = |state: &mut ImportState, reason: String| -> Result<RunReport, ConnectorError> {
            let kept = self.keep_copy(ctx, file, unit, bytes);
            warn!(file = %label, %reason, "file quarantined");
            ctx.store.quarantine_import(
                state,
                &NewQuarantine {
                    source: self.name.clone(),
                    item: label.to_string(),
                    line: Some(1),
                    reason,
                    raw_path: kept,
                    ..Default::default()
                },
            )?;
            Ok(RunReport { quarantined: 1, units: 1, ..Default::default() })
        };
        let text = match parse::decode(bytes, self.encoding) {
            Ok(t) => t,
            Err(reason) => return whole_file_problem(&mut state, reason),
        };
        let delimiter = self.delimiter.unwrap_or_else(|| parse::detect_delimiter(&text));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(text.as_bytes());
        let layout = match reader.headers() {
            Ok(h) => match parse::read_layout(h, &self.columns) {
                Ok(l) => l,
                Err(reason) => return whole_file_problem(&mut state, reason),
            },
            Err(e) => return whole_file_problem(&mut state, format!("unreadable header: {e}")),
        };
        let scan = Scan::run(&text, delimiter, &layout);
        if full && checked {
            match self.hold_reason(ctx, &scan)? {
                Some(reason) if state.status == ImportStatus::Held => {
                    info!(file = %label, %reason, "full export still held");
                    return Ok(RunReport::default());
                }
                Some(reason) => {
                    let kept = self.keep_copy(ctx, file, unit, bytes);
                    warn!(file = %label, %reason, "full export held for confirmation");
                    let q = NewQuarantine {
                        source: self.name.clone(),
                        item: label.to_string(),
                        reason,
                        raw_path: kept,
                        ..Default::default()
                    };
                    ctx.store.hold_import(&mut state, &q)?;
                    return Ok(RunReport { quarantined: 1, units: 1, ..Default::default() });
                }
                None if state.status == ImportStatus::Held => {
                    let why = "within max_close_share now";
                    if !ctx.store.resume_held_import(&mut state, why)? {
                        info!(file = %label, "held full export superseded by a later one: left held");
                        return Ok(RunReport::default());
                    }
                    info!(file = %label, "held full export picked up: {why}");
                }
                None => {}
            }
        }
        let mut report = RunReport { units: 1, ..Default::default() };
        // A large file into a small table builds the invoice indexes at the end.
        state.expect_rows(scan.rows);
        // Parsing (one core) overlaps with writing (the other); at most two
        // parsed batches wait, bounding memory.
        let skip = state.position;
        let outcome = std::thread::scope(|scope| -> Result<(), ConnectorError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(InvoiceBatch, bool)>(2);
            let text: &str = &text;
            let (layout, scan) = (&layout, &scan);
            let parser = scope.spawn(move || self.parse_batches(reader, text, layout, scan, label, skip, tx));
            for (batch, more) in rx {
                let out = ctx.store.apply_invoice_batch(&mut state, &batch)?;
                report.items += out.created + out.updated + out.unchanged;
                report.quarantined += out.quarantined;
                if more && ctx.cancel.is_cancelled() {
                    info!(file = %label, position = state.position, "stopping mid-file for shutdown; will resume");
                    return Err(ConnectorError::Cancelled);
                }
            }
            // A parser panic goes on with its own message (the caller's guard quarantines the file).
            if let Err(payload) = parser.join() {
                std::panic::resume_unwind(payload);
            }
            Ok(())
        });
        if let Err(e) = outcome {
            // Indexes a bulk load deferred are rebuilt now, not left missing
            // until the file is imported (on shutdown, the next start does it).
            if !matches!(e, ConnectorError::Cancelled)
                && let Err(restore) = ctx.store.restore_deferred_indexes()
            {
                warn!(file = %label, error = %restore, "cannot rebuild the invoice indexes");
            }
            return Err(e);
        }
        let summary = ctx.store.finish_import(&mut state, label)?;
        info!(
            file = %label,
            created = summary.created,
            updated = summary.updated,
            unchanged = summary.unchanged,
            quarantined = summary.quarantined,
            closed = summary.closed,
            resumed_at,
            "file imported"
        );
        if summary.close_blocked {
            warn!(file = %label, "the file looks truncated or a row without a readable invoice number was quarantined: invoices missing from this full export were NOT closed");
        }
        Ok(report)
    }

    /// Why a full export must wait for a confirmation before anything of it
    /// is applied: it has no data row, or it would close more than
    /// `max_close_share` of the tenant's open invoices.
    fn hold_reason(&self, ctx: &RunContext, scan: &Scan) -> Result<Option<String>, ConnectorError> {
        let release = format!(
            "release this quarantine item (POST /api/v1/tenants/{}/quarantine/<its id>/release) to import it with its closes",
            ctx.tenant
        );
        if scan.rows == 0 {
            let preview = ctx.store.full_export_preview(&ctx.tenant, &self.name, |_| false)?;
            return Ok(Some(format!(
                "full export with no data rows (header only): held, nothing imported or closed; it would close all {} \
                 open invoices of this source; if that is intended, {release}",
                preview.would_close
            )));
        }
        if scan.unreadable {
            // Closing is skipped anyway: the missing invoice might be the unreadable one.
            return Ok(None);
        }
        let preview = ctx.store.full_export_preview(&ctx.tenant, &self.name, |n| scan.lists(n))?;
        if !preview.exceeds(self.max_close_share_bp) {
            return Ok(None);
        }
        let share = |bp: u128| format!("{}.{:02} %", bp / 100, bp % 100);
        let actual = u128::from(preview.would_close) * 10_000 / u128::from(preview.tenant_open.max(1));
        Ok(Some(format!(
            "full export would close {} of the tenant's {} open invoices ({}), more than max_close_share ({}): held, \
             nothing imported or closed; if the export is right, {release}, or raise max_close_share",
            preview.would_close,
            preview.tenant_open,
            share(actual),
            share(u128::from(self.max_close_share_bp)),
        )))
    }

    /// Reads the data rows after the first `skip` and sends them in batches
    /// (with whether more follow). Stops when the receiver is gone.
    #[allow(clippy::too_many_arguments)]
    fn parse_batches(
        &self,
        mut reader: csv::Reader<&[u8]>,
        text: &str,
        layout: &parse::Layout,
        scan: &Scan,
        label: &str,
        skip: u64,
        tx: std::sync::mpsc::SyncSender<(InvoiceBatch, bool)>,
    ) {
        #[cfg(debug_assertions)]
        relance_connector::guard::test_panic_hook("export", text.as_bytes());
        let mut record = csv::StringRecord::new();
        let mut consumed: u64 = 0;
        let mut batch = InvoiceBatch::default();
        let ends_with_line_break = text.ends_with(['\n', '\r']);
        let mut lines = LineCounter::default();
        loop {
            let position = reader.position().clone();
            // Where the row really starts and its line (the reader's own line
            // count is one behind after CR LF line ends).
            let start = lines.row_at(text, position.byte() as usize);
            let more = match reader.read_record(&mut record) {
                Ok(m) => m,
                Err(e) => {
                    // The csv reader cannot go on after a hard error (e.g. invalid quoting at end of file).
                    let line = e.position().map_or(start.line, |p| lines.row_at(text, p.byte() as usize).line);
                    if consumed >= skip {
                        batch.quarantined.push(NewQuarantine {
                            source: self.name.clone(),
                            item: label.to_string(),
                            line: Some(line),
                            reason: format!("unreadable CSV from here on: {e}"),
                            raw: Some(clip(text.get(start.byte..).unwrap_or(""))),
                            ..Default::default()
                        });
                        batch.close_blocked = true;
                    }
                    consumed += 1;
                    false
                }
            };
            if more {
                consumed += 1;
                if consumed <= skip || parse::is_blank(&record) {
                    continue;
                }
                let end = reader.position().byte() as usize;
                let raw = || text.get(start.byte..end).unwrap_or("").trim_end_matches(['\r', '\n']);
                let duplicate = layout.invoice_number(&record).and_then(|n| Some((n, scan.duplicate_reason(n)?)));
                if let Some((number, reason)) = duplicate {
                    warn!(file = %label, line = start.line, number, "row quarantined: duplicate invoice number");
                    batch.quarantined_numbers.push(number.to_string());
                    batch.quarantined.push(NewQuarantine {
                        source: self.name.clone(),
                        item: label.to_string(),
                        line: Some(start.line),
                        column: Some(layout.invoice_number_column()),
                        reason,
                        raw: Some(clip(raw())),
                        raw_path: None,
                    });
                } else {
                    match parse::parse_row(&record, layout, &self.format) {
                        Ok(inv) => batch.records.push(inv),
                        Err(mut e) => {
                            // The last row of a file without a final line break that does
                            // not parse: the file is taken as truncated.
                            let truncated =
                                !ends_with_line_break && text.get(end..).is_none_or(|r| r.trim().is_empty());
                            if truncated {
                                batch.close_blocked = true;
                                e.reason.push_str(
                                    " (last line, and the file does not end with a line break: it looks truncated, \
                                     so this export closes nothing)",
                                );
                            }
                            warn!(file = %label, line = start.line, column = ?e.column, reason = %e.reason, "row quarantined");
                            match &e.invoice_number {
                                Some(n) => batch.quarantined_numbers.push(n.clone()),
                                None => batch.close_blocked = true,
                            }
                            batch.quarantined.push(NewQuarantine {
                                source: self.name.clone(),
                                item: label.to_string(),
                                line: Some(start.line),
                                column: e.column,
                                reason: e.reason,
                                raw: Some(clip(raw())),
                                raw_path: None,
                            });
                        }
                    }
                }
            }
            let full = batch.records.len() + batch.quarantined.len() >= self.batch_size;
            if full || (!more && (consumed > skip || !batch.quarantined.is_empty())) {
                batch.position_after = consumed.max(skip);
                if tx.send((std::mem::take(&mut batch), more)).is_err() {
                    return;
                }
            }
            if !more {
                return;
            }
        }
    }

    /// Keeps a copy of a quarantined file under the data directory; returns its path.
    fn keep_copy(&self, ctx: &RunContext, file: &Path, unit: &str, bytes: &[u8]) -> Option<String> {
        files::keep_copy(&ctx.keep_dir.join("quarantine"), unit.trim_start_matches("sha256:"), file, bytes)
    }
}

fn clip(s: &str) -> String {
    relance_connector::guard::truncate(s, RAW_LIMIT)
}

/// Where a row starts: its first byte and its line (1-based).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RowStart {
    byte: usize,
    line: u64,
}

/// Lines of a text counted once, forward, as rows are read.
#[derive(Debug, Default)]
struct LineCounter {
    /// Bytes counted so far, and the line breaks in them.
    byte: usize,
    breaks: u64,
}

impl LineCounter {
    /// The row at or after byte `at`: line ends before it skipped (a reader
    /// may stop between the CR and the LF of a line end).
    fn row_at(&mut self, text: &str, at: usize) -> RowStart {
        let bytes = text.as_bytes();
        let mut byte = at.min(bytes.len());
        while byte < bytes.len() && (bytes[byte] == b'\r' || bytes[byte] == b'\n') {
            byte += 1;
        }
        if byte >= self.byte {
            self.breaks += bytes[self.byte..byte].iter().filter(|b| **b == b'\n').count() as u64;
            self.byte = byte;
        }
        let behind = bytes.get(byte..self.byte).map_or(0, |t| t.iter().filter(|b| **b == b'\n').count() as u64);
        RowStart { byte, line: self.breaks - behind + 1 }
    }
}

#[cfg(test)]
mod tests;
