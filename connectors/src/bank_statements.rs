//! Bank statement source (`kind = "bank_statements"`): a drop folder of
//! statement files (camt.052/053/054, MT940, CFONB 120, OFX, CSV; detected
//! from the content). Each file's raw bytes are kept under the data directory
//! before anything else; its transactions are stored once (a dedupe key per
//! entry survives re-imports and overlapping statements); a file that does
//! not parse is quarantined with the line of the problem, and so is a file
//! that makes a parser panic (parsing runs under [`guard::contain`], so the
//! connector goes on with the next file); a transaction beyond `max_amount`
//! major units (default 10^12) is quarantined alone, the other transactions
//! of the file being stored. Matching the stored credits is not this
//! connector's job: the runtime's cash service (`relance_runtime::cash`)
//! runs after every run that stored something, with the tenant's
//! `[matching]` settings.
//!
//! ```toml
//! [connectors.bank]
//! kind = "bank_statements"
//! path = "../bank"            # folder or file
//! pattern = "*"
//! [connectors.bank.csv]        # optional column mapping for CSV statements
//! date = "Date opération"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, join_clean};
use relance_connector::guard;
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, RunContext, RunReport, StatementSource, run_blocking,
};
use relance_domain::{BankLine, Direction};
use relance_store::{NewPayment, NewQuarantine};

use crate::files;
use crate::statements::{self, ParseError, ParsedFile, csv::CsvMapping};

/// `bank_statements`: bank statement files (camt.053/054, MT940, CFONB 120, CSV) read as they arrive;
/// their credits go to cash application.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Folder where statement files arrive (relative to the tenant file).
    path: PathBuf,
    /// Glob of the files to read in `path`.
    #[serde(default = "default_pattern")]
    pattern: String,
    /// Column names of CSV statements, when the header cannot be guessed.
    #[serde(default)]
    csv: CsvMapping,
    /// Largest accepted transaction amount in major units; beyond it a transaction is quarantined.
    #[serde(default = "default_max_amount")]
    max_amount: u64,
}

fn default_pattern() -> String {
    "*".to_string()
}
fn default_max_amount() -> u64 {
    relance_domain::money::DEFAULT_MAX_AMOUNT
}

/// Factory for `kind = "bank_statements"`.
pub struct BankStatementsFactory;

impl ConnectorFactory for BankStatementsFactory {
    fn kind(&self) -> &'static str {
        "bank_statements"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Watch { poll: Duration::from_secs(60) }
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        if connector.settings.contains_key("matching") {
            return Err(ConfigError::new(
                &tenant.file,
                Some(&format!("connectors.{}.matching", connector.name)),
                "matching settings belong to the tenant: move this table to `[matching]` at the top of the tenant file (one set of thresholds for all the tenant's bank connectors)",
            ));
        }
        let s: Settings = connector_settings(tenant, connector)?;
        let path = join_clean(&tenant.base_dir, &s.path);
        if !path.exists() {
            return Err(ConfigError::new(
                &tenant.file,
                Some(&format!("connectors.{}.path", connector.name)),
                format!("{} does not exist", path.display()),
            ));
        }
        let max_amount = relance_domain::money::check_max_amount(s.max_amount).map_err(|e| {
            ConfigError::new(&tenant.file, Some(&format!("connectors.{}.max_amount", connector.name)), e)
        })?;
        Ok(AnyConnector::StatementSource(Arc::new(BankStatements {
            name: connector.name.clone(),
            path,
            pattern: s.pattern.to_lowercase(),
            csv: s.csv,
            max_amount,
            finished: files::Finished::default(),
        })))
    }
}

/// The built connector.
#[derive(Debug, Clone)]
pub struct BankStatements {
    name: String,
    path: PathBuf,
    pattern: String,
    csv: CsvMapping,
    max_amount: u64,
    finished: files::Finished,
}

#[async_trait]
impl StatementSource for BankStatements {
    async fn fetch(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let (this, ctx) = (self.clone(), ctx.clone());
        run_blocking("statement", move || this.fetch_blocking(&ctx)).await
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

impl BankStatements {
    /// Stores every new file.
    pub fn fetch_blocking(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let mut report = RunReport::default();
        // Files a person asked to read again (a quarantined statement after a parser upgrade).
        for label in ctx.store.take_statement_retries(&ctx.tenant, &self.name)? {
            self.finished.forget(Path::new(&label));
        }
        let list = files::list(&self.path, &self.pattern)
            .map_err(|e| ConnectorError::Transient(format!("cannot list {}: {e}", self.path.display())))?;
        for file in list {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let Some(stamp) = self.finished.changed(&file) else { continue };
            report.add(&self.import_file(ctx, &file)?);
            self.finished.mark(&file, stamp);
        }
        if ctx.cancel.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        Ok(report)
    }

    fn import_file(&self, ctx: &RunContext, file: &Path) -> Result<RunReport, ConnectorError> {
        let label = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                warn!(file = %label, error = %e, "cannot read statement file");
                return Err(ConnectorError::Transient(format!("cannot read {label}: {e}")));
            }
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        if ctx.store.statement_file_known(&ctx.tenant, &sha)? {
            return Ok(RunReport::default());
        }
        // The raw file is kept before anything is recorded.
        let kept = files::keep_copy(&ctx.keep_dir.join("raw"), &sha, file, &bytes);
        // Parsing runs under the panic guard: a parser that still panics
        // quarantines this file (with the panic message) instead of failing
        // the run, which would retry the same file forever and hold back the
        // files after it.
        let parsed = guard::contain(|| {
            statements::parse_with(&bytes, &self.csv).map(|parsed| (parsed.format, to_payments(parsed)))
        })
        .unwrap_or_else(|panic| Err(ParseError { format: None, line: None, message: panic.to_string() }));
        match parsed {
            Ok((format, all)) => {
                // Out-of-range amounts are quarantined (before the rest is stored: a crash in
                // between repeats a quarantine entry, never loses one).
                let (payments, out_of_range): (Vec<_>, Vec<_>) =
                    all.into_iter().partition(|p| p.line.amount.check_range(self.max_amount).is_ok());
                for p in &out_of_range {
                    let reason =
                        p.line.amount.check_range(self.max_amount).err().map(|e| e.to_string()).unwrap_or_default();
                    warn!(file = %label, %reason, "transaction quarantined");
                    ctx.store.record_quarantine(
                        &ctx.tenant,
                        &NewQuarantine {
                            source: self.name.clone(),
                            item: label.clone(),
                            reason: format!(
                                "transaction of {} booked {}: {reason}",
                                p.line.amount, p.line.booking_date
                            ),
                            raw: Some(p.dedupe_key.clone()),
                            raw_path: kept.clone(),
                            ..Default::default()
                        },
                    )?;
                }
                let out = ctx.store.store_statement(
                    &ctx.tenant,
                    &self.name,
                    &sha,
                    &label,
                    kept.as_deref(),
                    format.as_str(),
                    &payments,
                )?;
                info!(file = %label, format = format.as_str(), new = out.inserted, already_known = out.duplicates, "statement imported");
                Ok(RunReport { items: out.inserted, quarantined: out_of_range.len() as u64, units: 1 })
            }
            Err(e) => {
                warn!(file = %label, error = %e, "statement quarantined");
                ctx.store.record_quarantine(
                    &ctx.tenant,
                    &NewQuarantine {
                        source: self.name.clone(),
                        item: label.clone(),
                        line: e.line.map(|l| l as u64),
                        column: None,
                        reason: e.to_string(),
                        raw: None,
                        raw_path: kept.clone(),
                    },
                )?;
                ctx.store.record_statement_rejected(&ctx.tenant, &self.name, &sha, &label, kept.as_deref())?;
                Ok(RunReport { items: 0, quarantined: 1, units: 1 })
            }
        }
    }
}

/// Normalized transactions with their dedupe keys. The key is the account and
/// the bank's entry reference when there is one, else the entry's content;
/// identical keys within one file are numbered, so a genuine repeat is kept
/// while the same entry in an overlapping statement is recognised. The
/// transactions' texts are moved, not copied (a large statement is not held
/// twice).
pub fn to_payments(parsed: ParsedFile) -> Vec<NewPayment> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::with_capacity(parsed.transactions().count());
    for st in parsed.statements {
        let account = st.account.clone().unwrap_or_default();
        for t in st.transactions {
            let base = dedupe_base(&account, &t.line);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            out.push(NewPayment { dedupe_key: format!("{base}#{n}"), account: st.account.clone(), line: t.line });
        }
    }
    out
}

fn dedupe_base(account: &str, t: &BankLine) -> String {
    let dir = if t.direction == Direction::Credit { "C" } else { "D" };
    let amount = format!("{}{}", t.amount.to_decimal_string(), t.amount.currency);
    match &t.bank_ref {
        Some(r) => format!("{account}|ref:{r}|{dir}|{amount}|{}", t.end_to_end_id.as_deref().unwrap_or("")),
        None => {
            let content = format!(
                "{}|{}|{}|{}",
                t.remittance.as_deref().unwrap_or(""),
                t.counterparty_name.as_deref().unwrap_or(""),
                t.counterparty_iban.as_deref().unwrap_or(""),
                t.end_to_end_id.as_deref().unwrap_or("")
            );
            format!(
                "{account}|{}|{dir}|{amount}|{}",
                t.booking_date,
                hex::encode(&Sha256::digest(content.as_bytes())[..8])
            )
        }
    }
}
