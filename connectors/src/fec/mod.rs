//! FEC invoice source (`kind = "fec_invoices"`): open invoices and credit
//! notes from the *Fichier des Écritures Comptables* (art. A47 A-1 of the
//! Livre des procédures fiscales), the legal export of every accounting
//! entry that every French accounting package produces (Sage, Cegid, EBP,
//! Pennylane, Odoo, Quadra…): one ERP-agnostic source.
//!
//! Files dropped in a folder are read once settled ([`parse`]: tab or pipe
//! separated, UTF-8 or Windows-1252, `Debit`/`Credit` or `Montant`/`Sens`);
//! the customer lines make open items ([`ledger`]: lettering, partial
//! lettering, credit notes, payments of other journals).
//!
//! Each file is a *full export of its company and fiscal year*: the store's
//! full-export semantics apply within that scope (the import's source is
//! `<connector>/<scope>`), so a second export of the same year in which a
//! payment was lettered closes the invoice, and no export closes the items
//! of another year. The scope is `<SIREN>-<closing date>` from a file named
//! as the law says (`<SIREN>FEC<AAAAMMJJ>.txt`), whose closing date is also
//! the as-of date of lettering (lettering dated later is ignored); for other
//! names it is `from-<earliest EcritureDate>`. A file is identified by the
//! SHA-256 of its content: the same content is never applied twice; its
//! items are applied in checkpointed batches (a crash resumes).
//!
//! Bad input never stops the import: a line that cannot be read is
//! quarantined with file, line, column and reason, and the invoices it
//! touches (its invoice, its lettering group) are left as they were (not
//! updated, not closed); a line whose fields cannot be told apart blocks
//! the closing pass. A file without the required columns (named in the
//! reason), undecodable or without entries is quarantined whole (a copy is
//! kept under the data directory). Unbalanced entries are logged.
//!
//! Unlettered customer credits of other journals (unapplied payments) and
//! debits are logged, not imported: payments come from the bank statements.
//!
//! ```toml
//! [connectors.fec]
//! kind = "fec_invoices"
//! path = "../fec"                    # folder or file, relative to the tenant file
//! pattern = "*.txt"
//! customer_account_prefixes = ["411"]
//! sales_journals = ["VE", "VT"]      # default: every journal code starting with V
//! opening_journals = ["AN", "RAN"]
//! default_terms_days = 30
//! currency = "EUR"                   # the book currency; the tenant's when unset
//! encoding = "auto"                  # utf8, windows1252
//! [connectors.fec.terms_days]
//! "C0002" = 45
//! ```

pub mod ledger;
pub mod parse;

use std::collections::BTreeMap;
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
use relance_domain::money::Currency;
use relance_domain::{CustomerRecord, InvoiceRecord};
use relance_store::{ImportKey, ImportStatus, InvoiceBatch, NewQuarantine};

use crate::csv_invoices::parse::{EncodingSetting, decode};
use crate::files;
use ledger::{Rules, Tainted};

/// `fec_invoices`: open invoices and credit notes from the FEC (Fichier des Écritures Comptables) of
/// any French accounting package, each file a full export of its company and fiscal year.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Folder of the FEC files, or one file (relative to the tenant file).
    path: PathBuf,
    /// Glob of the files to read in `path`.
    #[serde(default = "default_pattern")]
    pattern: String,
    /// Account number prefixes of customer accounts (`CompteNum`).
    #[serde(default = "default_prefixes")]
    customer_account_prefixes: Vec<String>,
    /// Codes of the sales journals whose customer lines are invoices and credit notes; every
    /// journal whose code starts with `V` (VE, VT…) when unset.
    #[serde(default)]
    sales_journals: Option<Vec<String>>,
    /// Codes of the opening-balance journals, read like sales journals (items carried over from the
    /// previous year).
    #[serde(default = "default_opening")]
    opening_journals: Vec<String>,
    /// Payment terms in days, from the invoice date, when the file has no due-date column.
    #[serde(default = "default_terms")]
    default_terms_days: u32,
    /// Payment terms in days by customer (auxiliary account, else account number).
    #[serde(default)]
    terms_days: BTreeMap<String, u32>,
    /// Header of the extra due-date column; `DateEcheance`, `Echeance`, `DateEch` or `DueDate`
    /// when unset.
    #[serde(default)]
    due_date_column: Option<String>,
    /// The book currency of `Debit`/`Credit` (ISO 4217); the tenant's `currency` when unset. Lines
    /// with another `Idevise` and a `Montantdevise` are in that currency.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    currency: Option<Currency>,
    /// Text encoding of the files.
    #[serde(default)]
    encoding: EncodingSetting,
    /// Field separator (`tab`, `|`); guessed from the header line when unset.
    #[serde(default)]
    delimiter: Option<String>,
    /// A file modified more recently than this is still being written: wait.
    #[serde(default = "default_settle")]
    settle: String,
    /// Items written to the store per transaction.
    #[serde(default = "default_batch")]
    batch_size: usize,
}

fn default_pattern() -> String {
    "*.txt".to_string()
}
fn default_prefixes() -> Vec<String> {
    vec!["411".to_string()]
}
fn default_opening() -> Vec<String> {
    vec!["AN".to_string(), "RAN".to_string()]
}
fn default_terms() -> u32 {
    30
}
fn default_settle() -> String {
    "2s".to_string()
}
fn default_batch() -> usize {
    5000
}

/// Factory for `kind = "fec_invoices"`.
pub struct FecInvoicesFactory;

impl ConnectorFactory for FecInvoicesFactory {
    fn kind(&self) -> &'static str {
        "fec_invoices"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Watch { poll: Duration::from_secs(60) }
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        Ok(AnyConnector::InvoiceSource(Arc::new(FecInvoices::from_config(tenant, connector)?)))
    }
}

/// The built connector.
#[derive(Debug, Clone)]
pub struct FecInvoices {
    name: String,
    path: PathBuf,
    pattern: String,
    rules: Rules,
    format: parse::Format,
    encoding: EncodingSetting,
    settle: Duration,
    batch_size: usize,
    finished: files::Finished,
}

impl FecInvoices {
    /// Validates the connector's settings.
    pub fn from_config(tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<FecInvoices, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let key = |k: &str| format!("connectors.{}.{k}", connector.name);
        let err = |k: &str, m: String| ConfigError::new(&tenant.file, Some(&key(k)), m);
        let path = relance_config::join_clean(&tenant.base_dir, &s.path);
        if !path.exists() {
            return Err(err("path", format!("{} does not exist", path.display())));
        }
        let prefixes: Vec<String> = s.customer_account_prefixes.iter().map(|p| p.trim().to_string()).collect();
        if prefixes.is_empty() || prefixes.iter().any(String::is_empty) {
            return Err(err("customer_account_prefixes", "expected non-empty account prefixes".into()));
        }
        let codes = |list: &[String]| list.iter().map(|c| c.trim().to_ascii_uppercase()).collect::<Vec<_>>();
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
        if s.default_terms_days > 3650 || s.terms_days.values().any(|d| *d > 3650) {
            return Err(err("default_terms_days", "terms beyond 3650 days".into()));
        }
        let book_currency = s.currency.unwrap_or(tenant.currency);
        Ok(FecInvoices {
            name: connector.name.clone(),
            path,
            pattern: s.pattern.to_lowercase(),
            rules: Rules {
                customer_prefixes: prefixes,
                sales_journals: s.sales_journals.as_deref().map(codes),
                opening_journals: codes(&s.opening_journals),
                book_currency,
                default_terms_days: s.default_terms_days,
                terms_days: s.terms_days,
                as_of: None,
            },
            format: parse::Format { book_currency, delimiter, due_date_column: s.due_date_column },
            encoding: s.encoding,
            settle,
            batch_size: s.batch_size,
            finished: files::Finished::default(),
        })
    }
}

#[async_trait]
impl InvoiceSource for FecInvoices {
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

/// How long past `settle` a file that keeps changing is waited for.
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);

/// One thing to write: in this order, so a resumed import skips what it applied.
enum Entry {
    Quarantine(NewQuarantine),
    Record(Box<InvoiceRecord>),
}

/// A file read into what to write.
struct Plan {
    /// `<SIREN>-<AAAAMMJJ>` or `from-<AAAA-MM-JJ>`.
    scope: String,
    entries: Vec<Entry>,
    /// Numbers of items left as they were (a line of theirs is quarantined).
    kept_numbers: Vec<String>,
    /// A line could not be attributed: nothing may be closed.
    close_blocked: bool,
}

impl FecInvoices {
    /// Imports every new file, oldest first.
    pub fn sync_blocking(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let mut report = RunReport::default();
        let list = files::list(&self.path, &self.pattern)
            .map_err(|e| ConnectorError::Transient(format!("cannot list {}: {e}", self.path.display())))?;
        for file in list {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            if !self.wait_until_settled(&file, ctx)? {
                info!(file = %file.display(), "still being written: left for the next run");
                continue;
            }
            report.add(&self.import_file(ctx, &file)?);
        }
        Ok(report)
    }

    fn wait_until_settled(&self, file: &Path, ctx: &RunContext) -> Result<bool, ConnectorError> {
        let deadline = std::time::Instant::now() + self.settle + SETTLE_PATIENCE;
        loop {
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

    /// Imports one file (or resumes it). A file that changes while it is read
    /// is left for the next run.
    pub fn import_file(&self, ctx: &RunContext, file: &Path) -> Result<RunReport, ConnectorError> {
        let Some(before) = self.finished.changed(file) else { return Ok(RunReport::default()) };
        let label = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                let meta = std::fs::metadata(file).ok();
                let unit = format!(
                    "unreadable:{label}:{}:{:?}",
                    meta.as_ref().map_or(0, |m| m.len()),
                    meta.and_then(|m| m.modified().ok())
                );
                let report = self.quarantine_whole(ctx, file, &[], &unit, &label, format!("cannot read file: {e}"))?;
                self.finished.mark(file, before);
                return Ok(report);
            }
        };
        if files::stamp(file) != before {
            info!(file = %label, "changed while it was read: left for the next run");
            return Ok(RunReport::default());
        }
        let unit = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let report = match relance_connector::guard::contain(|| self.import_bytes(ctx, file, &bytes, &unit, &label)) {
            Ok(report) => report?,
            Err(panicked) => self.quarantine_whole(ctx, file, &bytes, &unit, &label, panicked.to_string())?,
        };
        self.finished.mark(file, before);
        Ok(report)
    }

    /// Quarantines a whole file (once per content), keeping a copy of it.
    fn quarantine_whole(
        &self,
        ctx: &RunContext,
        file: &Path,
        bytes: &[u8],
        unit: &str,
        label: &str,
        reason: String,
    ) -> Result<RunReport, ConnectorError> {
        let mut state = ctx.store.begin_import(&ImportKey {
            tenant: &ctx.tenant,
            source: &self.name,
            unit,
            label,
            full_export: false,
        })?;
        if state.status != ImportStatus::Running {
            return Ok(RunReport::default());
        }
        let kept = if bytes.is_empty() {
            None
        } else {
            files::keep_copy(&ctx.keep_dir.join("quarantine"), unit.trim_start_matches("sha256:"), file, bytes)
        };
        warn!(file = %label, %reason, "file quarantined");
        ctx.store.quarantine_import(
            &mut state,
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
    }

    fn import_bytes(
        &self,
        ctx: &RunContext,
        file: &Path,
        bytes: &[u8],
        unit: &str,
        label: &str,
    ) -> Result<RunReport, ConnectorError> {
        let plan = match self.plan(file, bytes, label) {
            Ok(p) => p,
            Err(reason) => return self.quarantine_whole(ctx, file, bytes, unit, label, reason),
        };
        let source = format!("{}/{}", self.name, plan.scope);
        let mut state = ctx.store.begin_import(&ImportKey {
            tenant: &ctx.tenant,
            source: &source,
            unit,
            label,
            full_export: true,
        })?;
        if !state.status.applies() {
            return Ok(RunReport::default());
        }
        let resumed_at = state.position;
        let mut report = RunReport { units: 1, ..Default::default() };
        let skip = usize::try_from(state.position).unwrap_or(usize::MAX);
        let mut first = skip == 0;
        let mut done = skip.min(plan.entries.len());
        for chunk in plan.entries.get(done..).unwrap_or(&[]).chunks(self.batch_size) {
            let mut batch = InvoiceBatch::default();
            if first {
                batch.quarantined_numbers = plan.kept_numbers.clone();
                batch.close_blocked = plan.close_blocked;
                first = false;
            }
            for e in chunk {
                match e {
                    Entry::Quarantine(q) => batch.quarantined.push(q.clone()),
                    Entry::Record(r) => batch.records.push((**r).clone()),
                }
            }
            done += chunk.len();
            batch.position_after = done as u64;
            let out = ctx.store.apply_invoice_batch(&mut state, &batch)?;
            report.items += out.created + out.updated + out.unchanged;
            report.quarantined += out.quarantined;
            if done < plan.entries.len() && ctx.cancel.is_cancelled() {
                info!(file = %label, position = state.position, "stopping mid-file for shutdown; will resume");
                return Err(ConnectorError::Cancelled);
            }
        }
        if first && (plan.close_blocked || !plan.kept_numbers.is_empty()) {
            // Nothing to write, but what must not be closed still must not be.
            let batch = InvoiceBatch {
                quarantined_numbers: plan.kept_numbers.clone(),
                close_blocked: plan.close_blocked,
                position_after: done as u64,
                ..Default::default()
            };
            ctx.store.apply_invoice_batch(&mut state, &batch)?;
        }
        let summary = ctx.store.finish_import(&mut state, label)?;
        info!(
            file = %label,
            scope = %plan.scope,
            created = summary.created,
            updated = summary.updated,
            unchanged = summary.unchanged,
            quarantined = summary.quarantined,
            closed = summary.closed,
            resumed_at,
            "FEC imported"
        );
        if summary.close_blocked {
            warn!(file = %label, "a line whose fields could not be told apart was quarantined: invoices missing from this export were NOT closed");
        }
        Ok(report)
    }

    /// Reads a file into what to write, or why it is refused whole.
    fn plan(&self, file: &Path, bytes: &[u8], label: &str) -> Result<Plan, String> {
        let text = decode(bytes, self.encoding)?;
        let legal = file.file_name().and_then(|n| n.to_str()).and_then(parse::legal_name);
        let mut rules = self.rules.clone();
        rules.as_of = legal.as_ref().map(|(_, d)| *d);
        let parsed = parse::parse(&text, &self.format, |account| rules.is_customer(account))?;
        if parsed.data_lines == 0 {
            return Err("no entries (header only): nothing imported or closed".to_string());
        }
        let scope = match (&legal, parsed.first_date) {
            (Some((siren, closing)), _) => format!("{siren}-{}", closing.format("%Y%m%d")),
            (None, Some(first)) => format!("from-{first}"),
            (None, None) => "unknown".to_string(),
        };
        if !parsed.unbalanced.is_empty() {
            let some: Vec<String> = parsed.unbalanced.iter().take(5).map(|(j, n)| format!("{j} {n}")).collect();
            warn!(file = %label, count = parsed.unbalanced.len(), first = %some.join(", "), "unbalanced entries in the FEC");
        }
        let quarantine = |line: u64, column: Option<&str>, reason: String, raw: Option<String>| NewQuarantine {
            source: self.name.clone(),
            item: label.to_string(),
            line: Some(line),
            column: column.map(str::to_string),
            reason,
            raw: raw.map(|r| relance_connector::guard::truncate(&r, RAW_LIMIT)),
            raw_path: None,
        };
        let mut entries = Vec::new();
        let mut kept_numbers = Vec::new();
        let mut close_blocked = false;
        let mut tainted = Tainted::default();
        for e in &parsed.errors {
            warn!(file = %label, line = e.line, column = ?e.column, reason = %e.reason, "line quarantined");
            match &e.context {
                None => close_blocked = true,
                Some(c) if rules.is_customer(&c.account) => {
                    let customer = ledger::customer_of(&c.account, c.aux.as_deref());
                    if rules.makes_items(&c.journal) {
                        let number = ledger::number_of(&c.journal, &c.entry, c.piece_ref.as_deref());
                        if rules.is_opening(&c.journal) {
                            kept_numbers.push(ledger::opening_number(&number, &customer));
                        }
                        kept_numbers.push(number.clone());
                        tainted.items.insert((customer.clone(), number));
                    }
                    if let Some(code) = &c.lettering {
                        tainted.letterings.insert((customer, code.clone()));
                    }
                }
                Some(_) => {}
            }
            entries.push(Entry::Quarantine(quarantine(e.line, e.column, e.reason.clone(), Some(e.raw.clone()))));
        }
        let lines: Vec<&parse::FecLine> = parsed.lines.iter().collect();
        let built = ledger::build(&lines, &rules, &tainted);
        for issue in &built.issues {
            warn!(file = %label, lines = ?issue.lines, reason = %issue.reason, "item left as it was");
            kept_numbers.extend(issue.numbers.iter().cloned());
            if issue.follows_unreadable {
                // The unreadable line is quarantined with its reason; the item waits for a good export.
                continue;
            }
            for l in &issue.lines {
                entries.push(Entry::Quarantine(quarantine(*l, None, issue.reason.clone(), None)));
            }
        }
        if !built.unapplied.is_empty() {
            info!(file = %label, count = built.unapplied.len(), "unlettered customer credits of other journals (unapplied payments): not imported as invoices");
        }
        if !built.unattributed.is_empty() {
            info!(file = %label, count = built.unattributed.len(), "unlettered customer debits of other journals: not imported as invoices");
        }
        for it in built.items {
            entries.push(Entry::Record(Box::new(InvoiceRecord {
                number: it.number,
                customer: CustomerRecord { id: it.customer_id, name: it.customer_name, ..Default::default() },
                issue_date: Some(it.issue_date),
                due_date: it.due_date,
                total: it.total,
                open: it.open,
                status: None,
            })));
        }
        kept_numbers.sort();
        kept_numbers.dedup();
        Ok(Plan { scope, entries, kept_numbers, close_blocked })
    }
}

#[cfg(test)]
mod tests;
