//! CSV invoice source (`kind = "csv_invoices"`): imports invoice exports
//! dropped in a folder (or one file rewritten in place).
//!
//! Each file is identified by the SHA-256 of its content, so a file already
//! imported is never applied again, wherever it lies. A file is applied in
//! checkpointed batches (see `relance_core::store`), so a crash or shutdown
//! mid-file resumes where it stopped. Bad rows are quarantined with file, line,
//! column and reason; a file that cannot be read or has no usable header is
//! quarantined whole (a copy is kept under the data directory). Amounts beyond
//! `max_amount` major units are bad rows.
//!
//! ```toml
//! [connectors.erp_export]
//! kind = "csv_invoices"
//! path = "../exports"          # folder or file, relative to the tenant file
//! pattern = "*.csv"
//! mode = "full"                # each file lists every open invoice
//! delimiter = "auto"           # or ";", ",", "tab", "|"
//! encoding = "auto"            # utf-8, windows-1252
//! decimal = "auto"             # comma, dot
//! date_order = "dmy"           # mdy
//! max_amount = 1000000000000   # major units; larger amounts are quarantined
//! [connectors.erp_export.columns]
//! invoice_number = "Numéro"
//! ```

pub mod parse;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use relance_core::config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration};
use relance_core::connector::{
    Connector, ConnectorError, ConnectorFactory, InvoiceSource, RunContext, RunReport, run_blocking,
};
use relance_core::money::{Currency, DEFAULT_MAX_AMOUNT, DecimalStyle, check_max_amount};
use relance_core::store::{ImportKey, ImportStatus, InvoiceBatch, NewQuarantine};

use crate::files;
use parse::{ColumnMap, DateOrder, EncodingSetting, ValueFormat};

/// Whether each file is a complete list of open invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportMode {
    /// Each file lists only changed invoices: nothing is closed.
    #[default]
    Incremental,
    /// Each file lists every open invoice: invoices of this source missing from it are closed.
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: PathBuf,
    #[serde(default = "default_pattern")]
    pattern: String,
    #[serde(default)]
    mode: ExportMode,
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    encoding: EncodingSetting,
    #[serde(default)]
    decimal: DecimalStyle,
    #[serde(default)]
    date_order: DateOrder,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default)]
    columns: ColumnMap,
    /// A file modified more recently than this is still being written: wait.
    #[serde(default = "default_settle")]
    settle: String,
    #[serde(default = "default_batch")]
    batch_size: usize,
    /// Largest accepted amount in major units; a row beyond it is quarantined.
    #[serde(default = "default_max_amount")]
    max_amount: u64,
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

/// Factory for `kind = "csv_invoices"`.
pub struct CsvInvoicesFactory;

impl ConnectorFactory for CsvInvoicesFactory {
    fn kind(&self) -> &'static str {
        "csv_invoices"
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Watch { poll: Duration::from_secs(60) }
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<Connector, ConfigError> {
        Ok(Connector::InvoiceSource(Arc::new(CsvInvoices::from_config(tenant, connector)?)))
    }
}

impl CsvInvoices {
    /// Validates the connector's settings.
    pub fn from_config(tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<CsvInvoices, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let key = |k: &str| format!("connectors.{}.{k}", connector.name);
        let err = |k: &str, m: String| ConfigError::new(&tenant.file, Some(&key(k)), m);
        let path = relance_core::config::join_clean(&tenant.base_dir, &s.path);
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

impl CsvInvoices {
    /// Imports every new file, oldest first.
    pub fn sync_blocking(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let mut report = RunReport::default();
        for file in self.list_files()? {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            if !ctx.once {
                self.wait_until_settled(&file, ctx)?;
            }
            report.add(&self.import_file(ctx, &file)?);
        }
        Ok(report)
    }

    fn list_files(&self) -> Result<Vec<PathBuf>, ConnectorError> {
        files::list(&self.path, &self.pattern)
            .map_err(|e| ConnectorError::Transient(format!("cannot list {}: {e}", self.path.display())))
    }

    /// Waits while the file is still being written (modified within `settle`).
    fn wait_until_settled(&self, file: &Path, ctx: &RunContext) -> Result<(), ConnectorError> {
        for _ in 0..100 {
            let age =
                files::modified(file).and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or(self.settle);
            if age >= self.settle {
                return Ok(());
            }
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            std::thread::sleep((self.settle - age).min(Duration::from_millis(500)));
        }
        Ok(())
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
    pub fn import_file(&self, ctx: &RunContext, file: &Path) -> Result<RunReport, ConnectorError> {
        let Some(before) = self.finished.changed(file) else { return Ok(RunReport::default()) };
        let report = self.import_unseen(ctx, file)?;
        self.finished.mark(file, before);
        Ok(report)
    }

    fn import_unseen(&self, ctx: &RunContext, file: &Path) -> Result<RunReport, ConnectorError> {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => return self.quarantine_unreadable(ctx, file, format!("cannot read file: {e}")),
        };
        let unit = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let label = file.display().to_string();
        let mut state = ctx.store.begin_import(&ImportKey {
            tenant: &ctx.tenant,
            source: &self.name,
            unit: &unit,
            label: &label,
            full_export: self.mode == ExportMode::Full,
        })?;
        if state.status != ImportStatus::Running {
            return Ok(RunReport::default());
        }
        let resumed_at = state.position;
        let whole_file_problem = |reason: String| -> Result<RunReport, ConnectorError> {
            let kept = self.keep_copy(ctx, file, &unit, &bytes);
            warn!(file = %label, %reason, "file quarantined");
            let mut st = state.clone();
            ctx.store.quarantine_import(
                &mut st,
                &NewQuarantine {
                    source: self.name.clone(),
                    item: label.clone(),
                    line: Some(1),
                    reason,
                    raw_path: kept,
                    ..Default::default()
                },
            )?;
            Ok(RunReport { quarantined: 1, units: 1, ..Default::default() })
        };
        let text = match parse::decode(&bytes, self.encoding) {
            Ok(t) => t,
            Err(reason) => return whole_file_problem(reason),
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
                Err(reason) => return whole_file_problem(reason),
            },
            Err(e) => return whole_file_problem(format!("unreadable header: {e}")),
        };
        let mut report = RunReport { units: 1, ..Default::default() };
        // Parsing (one core) overlaps with writing (the other); at most two
        // parsed batches wait, bounding memory.
        let skip = state.position;
        let outcome = std::thread::scope(|scope| -> Result<(), ConnectorError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(InvoiceBatch, bool)>(2);
            let text: &str = &text;
            let layout = &layout;
            let label = &label;
            scope.spawn(move || self.parse_batches(reader, text, layout, label, skip, tx));
            for (batch, more) in rx {
                let out = ctx.store.apply_invoice_batch(&mut state, &batch)?;
                report.items += out.created + out.updated + out.unchanged;
                report.quarantined += out.quarantined;
                if more && ctx.cancel.is_cancelled() {
                    info!(file = %label, position = state.position, "stopping mid-file for shutdown; will resume");
                    return Err(ConnectorError::Cancelled);
                }
            }
            Ok(())
        });
        outcome?;
        let summary = ctx.store.finish_import(&mut state, &label)?;
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
            warn!(file = %label, "a row without a readable invoice number was quarantined: invoices missing from this full export were NOT closed");
        }
        Ok(report)
    }

    /// Reads the data rows after the first `skip` and sends them in batches
    /// (with whether more follow). Stops when the receiver is gone.
    fn parse_batches(
        &self,
        mut reader: csv::Reader<&[u8]>,
        text: &str,
        layout: &parse::Layout,
        label: &str,
        skip: u64,
        tx: std::sync::mpsc::SyncSender<(InvoiceBatch, bool)>,
    ) {
        let mut record = csv::StringRecord::new();
        let mut consumed: u64 = 0;
        let mut batch = InvoiceBatch::default();
        loop {
            let start = reader.position().clone();
            let more = match reader.read_record(&mut record) {
                Ok(m) => m,
                Err(e) => {
                    // The csv reader cannot go on after a hard error (e.g. invalid quoting at end of file).
                    let line = e.position().map_or(start.line(), |p| p.line());
                    if consumed >= skip {
                        batch.quarantined.push(NewQuarantine {
                            source: self.name.clone(),
                            item: label.to_string(),
                            line: Some(line),
                            reason: format!("unreadable CSV from here on: {e}"),
                            raw: Some(clip(text.get(start.byte() as usize..).unwrap_or(""))),
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
                match parse::parse_row(&record, layout, &self.format) {
                    Ok(inv) => batch.records.push(inv),
                    Err(e) => {
                        let end = reader.position().byte() as usize;
                        let raw = text.get(start.byte() as usize..end).unwrap_or("").trim_end_matches(['\r', '\n']);
                        warn!(file = %label, line = start.line(), column = ?e.column, reason = %e.reason, "row quarantined");
                        match &e.invoice_number {
                            Some(n) => batch.quarantined_numbers.push(n.clone()),
                            None => batch.close_blocked = true,
                        }
                        batch.quarantined.push(NewQuarantine {
                            source: self.name.clone(),
                            item: label.to_string(),
                            line: Some(start.line()),
                            column: e.column,
                            reason: e.reason,
                            raw: Some(clip(raw)),
                            raw_path: None,
                        });
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
    if s.len() <= RAW_LIMIT {
        return s.to_string();
    }
    let mut end = RAW_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests;
