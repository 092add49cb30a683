//! Bank statement source (`kind = "bank_statements"`): a drop folder of
//! statement files (camt.052/053/054, MT940, CFONB 120, OFX, CSV; detected
//! from the content). Each file's raw bytes are kept under the data directory
//! before anything else (the file is hashed, copied and then parsed from the
//! copy as a stream, never held whole in memory); its transactions are stored once (a dedupe key per
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
use std::io::{Read, Write};
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
use crate::statements::stream::{EncodingCheck, Sink, StatementInfo, StreamError, TextEncoding};
use crate::statements::{self, ParseError, Transaction, csv::CsvMapping};

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
        let unreadable = |e: std::io::Error| {
            warn!(file = %label, error = %e, "cannot read statement file");
            ConnectorError::Transient(format!("cannot read {label}: {e}"))
        };
        // One pass for the hash and the text encoding; the file is never held whole.
        let (sha, encoding) = hash_file(file).map_err(unreadable)?;
        if ctx.store.statement_file_known(&ctx.tenant, &sha)? {
            return Ok(RunReport::default());
        }
        // The raw file is kept before anything is recorded, and parsed from
        // that copy: what is stored is what was kept, even if the original
        // is being rewritten.
        let kept = match keep_file(&ctx.keep_dir.join("raw"), &sha, file) {
            Ok(kept) => kept,
            Err(KeepError::Changed) => {
                return Err(ConnectorError::Transient(format!(
                    "{label} changed while it was read; read again next run"
                )));
            }
            Err(KeepError::Read(e)) => return Err(unreadable(e)),
        };
        let source = kept.as_ref().map_or_else(|| file.to_path_buf(), PathBuf::from);
        // Parsing runs under the panic guard: a parser that still panics
        // quarantines this file (with the panic message) instead of failing
        // the run, which would retry the same file forever and hold back the
        // files after it. The statement is streamed into its payments.
        let parsed = guard::contain(|| {
            let mut sink = Payments::default();
            let input = std::io::BufReader::with_capacity(64 * 1024, std::fs::File::open(&source)?);
            let format = statements::stream::stream_reader(input, encoding, &self.csv, &mut sink)?;
            Ok::<_, StreamError>((format, sink.out))
        })
        .unwrap_or_else(|panic| {
            Err(StreamError::Parse(ParseError { format: None, line: None, message: panic.to_string() }))
        });
        let parsed = match parsed {
            Ok(p) => Ok(p),
            Err(StreamError::Parse(e)) => Err(e),
            Err(StreamError::Io(e)) => return Err(unreadable(e)),
        };
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

/// The file's SHA-256 (hex) and text encoding, in one pass.
fn hash_file(path: &Path) -> std::io::Result<(String, TextEncoding)> {
    let mut file = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut check = EncodingCheck::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&chunk[..n]);
        check.update(&chunk[..n]);
    }
    Ok((hex::encode(sha.finalize()), check.finish()))
}

enum KeepError {
    /// The file's content is no longer the one hashed.
    Changed,
    Read(std::io::Error),
}

/// Copies `file` to `dir` (see [`files::kept_path`]), checking on the way that
/// its content still has `sha`. `Ok(None)` (logged) when the copy cannot be
/// written: the original is then read, as before.
fn keep_file(dir: &Path, sha: &str, file: &Path) -> Result<Option<String>, KeepError> {
    let target = files::kept_path(dir, sha, file);
    if target.exists() {
        return Ok(Some(target.display().to_string()));
    }
    let mut input = std::fs::File::open(file).map_err(KeepError::Read)?;
    // A name of its own: another connector may be keeping the same file.
    static PARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let part = dir.join(format!(".{}.{}-{n}.part", sha.get(..16).unwrap_or("file"), std::process::id()));
    let mut output = match std::fs::create_dir_all(dir).and_then(|_| std::fs::File::create(&part)) {
        Ok(f) => Some(f),
        Err(e) => {
            warn!(path = %part.display(), error = %e, "cannot keep a copy of the input");
            None
        }
    };
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(KeepError::Read(e));
            }
        };
        hash.update(&chunk[..n]);
        if let Some(out) = output.as_mut()
            && let Err(e) = out.write_all(&chunk[..n])
        {
            warn!(path = %part.display(), error = %e, "cannot keep a copy of the input");
            output = None;
            let _ = std::fs::remove_file(&part);
        }
    }
    if hex::encode(hash.finalize()) != sha {
        let _ = std::fs::remove_file(&part);
        return Err(KeepError::Changed);
    }
    let Some(out) = output else { return Ok(None) };
    match out.sync_all().and_then(|_| std::fs::rename(&part, &target)) {
        Ok(()) => Ok(Some(target.display().to_string())),
        Err(e) => {
            warn!(path = %target.display(), error = %e, "cannot keep a copy of the input");
            let _ = std::fs::remove_file(&part);
            Ok(None)
        }
    }
}

/// Normalized transactions with their dedupe keys, as a statement streams
/// in. The key is the account and the bank's entry reference when there is
/// one, else the entry's content; identical keys within one file are
/// numbered, so a genuine repeat is kept while the same entry in an
/// overlapping statement is recognised. The account is the statement's as
/// known when the transaction is read (every format gives it before the
/// entries). The transactions' texts are moved, not copied.
#[derive(Debug, Default)]
pub struct Payments {
    seen: HashMap<String, u32>,
    pub out: Vec<NewPayment>,
    /// Where the statement being read starts in `out`.
    statement_start: usize,
}

impl Sink for Payments {
    fn transaction(&mut self, statement: &StatementInfo, tx: Transaction) -> std::io::Result<()> {
        let base = dedupe_base(statement.account.as_deref().unwrap_or(""), &tx.line);
        let n = self.seen.entry(base.clone()).or_insert(0);
        *n += 1;
        self.out.push(NewPayment {
            dedupe_key: format!("{base}#{n}"),
            account: statement.account.clone(),
            line: tx.line,
        });
        Ok(())
    }

    fn end_statement(&mut self, _: StatementInfo) -> std::io::Result<()> {
        self.statement_start = self.out.len();
        Ok(())
    }

    fn abandon_statement(&mut self) {
        for p in self.out.drain(self.statement_start..) {
            if let Some((base, _)) = p.dedupe_key.rsplit_once('#')
                && let Some(n) = self.seen.get_mut(base)
            {
                *n = n.saturating_sub(1);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MT940: &str = ":20:S1\n:25:DE89370400440532013000\n:60F:C260101EUR0,00\n\
        :61:2601010101C10,00NTRFNONREF\n:86:FACTURE 1\n:61:2601010101C10,00NTRFNONREF\n:86:FACTURE 1\n\
        :61:2601010101C12,00NTRFNONREF//B9\n:62F:C260101EUR32,00\n";

    fn payments(text: &str) -> Vec<NewPayment> {
        let mut sink = Payments::default();
        let check = {
            let mut c = EncodingCheck::new();
            c.update(text.as_bytes());
            c.finish()
        };
        statements::stream::stream_reader(text.as_bytes(), check, &CsvMapping::default(), &mut sink).unwrap();
        sink.out
    }

    #[test]
    fn streamed_payments_number_repeats_and_carry_the_account() {
        let p = payments(MT940);
        let keys: Vec<&str> = p.iter().map(|p| p.dedupe_key.as_str()).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys[0].ends_with("#1") && keys[1].ends_with("#2"), "{keys:?}");
        assert_eq!(keys[0].trim_end_matches("#1"), keys[1].trim_end_matches("#2"));
        assert!(keys[2].starts_with("DE89370400440532013000|ref:B9|C|12.00EUR|"), "{}", keys[2]);
        assert!(p.iter().all(|p| p.account.as_deref() == Some("DE89370400440532013000")));
        // The same file again gives the same keys (idempotent re-import).
        assert_eq!(payments(MT940).iter().map(|p| &p.dedupe_key).collect::<Vec<_>>(), keys);
    }

    #[test]
    fn an_abandoned_statement_takes_its_payments_and_their_numbers_back() {
        let mut sink = Payments::default();
        let info = StatementInfo { account: Some("A".into()), ..Default::default() };
        let tx = statements::parse(MT940.as_bytes()).unwrap().statements[0].transactions[0].clone();
        sink.transaction(&info, tx.clone()).unwrap();
        sink.end_statement(info.clone()).unwrap();
        sink.transaction(&info, tx.clone()).unwrap();
        sink.abandon_statement();
        sink.transaction(&info, tx).unwrap();
        let keys: Vec<&str> = sink.out.iter().map(|p| p.dedupe_key.as_str()).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].ends_with("#1") && keys[1].ends_with("#2"), "{keys:?}");
    }
}
