//! `relance match eval DIR`: scores the whole cash-application pipeline on a
//! labelled corpus of real files (corpus/cash, made by
//! scripts/corpus/cash.py).
//!
//! A *case* is a folder with `invoices.csv` (the canonical invoice export),
//! statement files in any supported bank format, `labels.jsonl` (one line
//! per credit: the file, the bank reference or position of the entry, the
//! invoices it truly pays, its scenario kind and whether a careful clerk
//! would apply it without asking) and optionally `case.json` (settings a
//! tenant would configure, such as the currency of a CSV statement).
//!
//! Each case goes through the same path as the daemon: the CSV parser of the
//! `csv_invoices` connector and the invoices/payers the `relance match`
//! command builds from it, the statement parsers with format detection, and
//! one [`Matcher`] per case over the credits in document order (an applied
//! match consumes the invoices' open amounts and teaches the payer's IBAN).
//!
//! A credit is *correct* when the set of invoices allocated equals the label's
//! set. Printed per split and per kind: credits, matched, correct, precision
//! of `matched`, recall on unambiguous credits, ambiguous credits matched
//! (which must be 0), credits whose entry could not be found (a parser
//! dropped or misread it), and the first errors with the matcher's reasons.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use relance_connectors::csv_invoices::parse::{ColumnMap, DateOrder, ValueFormat, parse_all};
use relance_connectors::statements::{self, csv::CsvMapping};
use relance_domain::Direction;
use relance_domain::money::{Currency, DecimalStyle};
use relance_engine::matching::{MatchConfig, MatchStatus, Matcher};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A corpus folder: a case, a split (folders of cases), or a root of splits.
    dir: PathBuf,
    /// Print the first N errors of each split (wrong or ambiguous matches, missed unambiguous credits).
    #[arg(long, default_value_t = 10)]
    errors: usize,
    /// Confidence from which a match is applied (default: the matcher's).
    #[arg(long)]
    threshold: Option<f64>,
    /// Print the figures as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// One line of `labels.jsonl`.
#[derive(Debug, Clone, Deserialize)]
struct Label {
    file: String,
    /// The bank reference the parser reads back, when the layout has one.
    entry: Option<String>,
    /// Position of the entry among the file's transactions (document order).
    index: usize,
    amount: String,
    currency: String,
    truth: Vec<String>,
    kind: String,
    unambiguous: bool,
}

/// `case.json`: what a tenant would configure for these files.
#[derive(Debug, Default, Deserialize)]
struct CaseMeta {
    /// Currency of a CSV statement without a currency column.
    #[serde(default)]
    csv_currency: Option<String>,
    /// Order of day and month in a CSV statement's dates (`mdy` for US exports).
    #[serde(default)]
    csv_date_order: Option<DateOrder>,
    /// Credit notes of the export (negative rows).
    #[serde(default)]
    credit_notes: Vec<String>,
}

/// What happened to one labelled credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// The label's entry is not among the parsed credits (file unreadable, entry dropped or misread).
    NotFound,
    Matched,
    Suggested,
    Unmatched,
}

/// The figures of one group of credits.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Score {
    pub credits: u64,
    pub not_found: u64,
    pub matched: u64,
    pub correct: u64,
    pub unambiguous: u64,
    pub unambiguous_correct: u64,
    pub ambiguous_matched: u64,
    /// Not applied, but the first candidate is the truth (a one-click review).
    pub suggested_right: u64,
}

impl Score {
    fn add(&mut self, r: &Row) {
        self.credits += 1;
        let correct = r.outcome == Outcome::Matched && r.correct;
        match r.outcome {
            Outcome::NotFound => self.not_found += 1,
            Outcome::Matched => self.matched += 1,
            Outcome::Suggested | Outcome::Unmatched => {
                if r.correct {
                    self.suggested_right += 1
                }
            }
        }
        if correct {
            self.correct += 1;
        }
        if r.label.unambiguous {
            self.unambiguous += 1;
            if correct {
                self.unambiguous_correct += 1;
            }
        } else if r.outcome == Outcome::Matched {
            self.ambiguous_matched += 1;
        }
    }

    /// Correct / matched, in percent (100 when nothing was matched).
    pub fn precision(&self) -> f64 {
        if self.matched == 0 { 100.0 } else { 100.0 * self.correct as f64 / self.matched as f64 }
    }

    /// Unambiguous credits matched correctly / unambiguous credits, in percent.
    pub fn recall(&self) -> f64 {
        if self.unambiguous == 0 { 100.0 } else { 100.0 * self.unambiguous_correct as f64 / self.unambiguous as f64 }
    }
}

/// What the matcher did with one parsed credit.
#[derive(Debug, Clone)]
struct Verdict {
    outcome: Outcome,
    /// The invoices of the first candidate (the applied one when matched).
    first: Vec<String>,
    reasons: Vec<String>,
    /// What the parser read: payer name, IBAN and remittance.
    seen: String,
}

/// One labelled credit and what the pipeline did with it.
#[derive(Debug, Clone)]
struct Row {
    case: String,
    label: Label,
    outcome: Outcome,
    /// Matched: the allocation equals the truth. Otherwise: the first candidate does.
    correct: bool,
    allocated: Vec<String>,
    reasons: Vec<String>,
    /// What the parser read: payer name and remittance, to read errors.
    seen: String,
}

/// Figures of a split.
#[derive(Debug, Default, Serialize)]
pub struct SplitReport {
    pub split: String,
    pub cases: u64,
    pub total: Score,
    pub by_kind: BTreeMap<String, Score>,
    /// Invoice rows the CSV parser refused, statement files it could not read.
    pub rejected_invoice_rows: u64,
    pub unreadable_files: u64,
    /// Credit notes in the exports, and how many of them the matcher was given.
    pub credit_notes: u64,
    pub credit_notes_open_for_matcher: u64,
}

/// The split no rule is developed on: figures only.
const HELD_OUT: &str = "unseen";

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let splits = discover(&args.dir)?;
    if splits.is_empty() {
        anyhow::bail!("{}: no case found (a case is a folder with labels.jsonl)", args.dir.display());
    }
    let mut config = MatchConfig::default();
    if let Some(t) = args.threshold {
        config.auto_threshold = t;
    }
    let mut reports = Vec::new();
    let mut text = String::new();
    for (split, cases) in &splits {
        let mut report = SplitReport { split: split.clone(), ..Default::default() };
        let mut rows = Vec::new();
        for case in cases {
            report.cases += 1;
            rows.extend(eval_case(case, &config, &mut report)?);
        }
        for r in &rows {
            report.total.add(r);
            report.by_kind.entry(r.label.kind.clone()).or_default().add(r);
        }
        if !args.json {
            // The held-out split is reported by its figures only: its errors are never
            // listed, so that no rule is written from them (corpus/cash/README.md).
            let errors = if split == HELD_OUT { 0 } else { args.errors };
            print_split(&mut text, &report, &rows, errors);
            if split == HELD_OUT {
                let _ = writeln!(text, "   (errors of `{HELD_OUT}` are not listed: it is held out, figures only)");
            }
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The splits under `dir` and their cases, sorted by name.
fn discover(dir: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let is_case = |p: &Path| p.join("labels.jsonl").is_file();
    if is_case(dir) {
        return Ok(vec![(name(dir), vec![dir.to_path_buf()])]);
    }
    let children = subdirs(dir)?;
    let cases: Vec<PathBuf> = children.iter().filter(|c| is_case(c)).cloned().collect();
    if !cases.is_empty() {
        return Ok(vec![(name(dir), cases)]);
    }
    let mut out = Vec::new();
    for child in children {
        let cases: Vec<PathBuf> = subdirs(&child)?.into_iter().filter(|c| is_case(c)).collect();
        if !cases.is_empty() {
            out.push((name(&child), cases));
        }
    }
    Ok(out)
}

fn subdirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Runs one case through parsers and matcher; one row per label.
fn eval_case(dir: &Path, config: &MatchConfig, report: &mut SplitReport) -> anyhow::Result<Vec<Row>> {
    let case = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let labels_path = dir.join("labels.jsonl");
    let labels_text =
        std::fs::read_to_string(&labels_path).with_context(|| format!("cannot read {}", labels_path.display()))?;
    let mut labels = Vec::new();
    for (n, line) in labels_text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let l: Label = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}: not a label", labels_path.display(), n + 1))?;
        labels.push(l);
    }
    let meta: CaseMeta = match std::fs::read_to_string(dir.join("case.json")) {
        Ok(t) => serde_json::from_str(&t).with_context(|| format!("{}: case.json", dir.display()))?,
        Err(_) => CaseMeta::default(),
    };

    // Invoices: the rows the parser refuses are counted; the matcher gets what `relance match` builds.
    let invoices = dir.join("invoices.csv");
    let bytes = std::fs::read(&invoices).with_context(|| format!("cannot read {}", invoices.display()))?;
    let fmt = ValueFormat {
        decimal: DecimalStyle::Auto,
        date_order: DateOrder::Dmy,
        default_currency: Currency::EUR,
        max_amount: relance_domain::money::DEFAULT_MAX_AMOUNT,
    };
    let (_, bad) =
        parse_all(&bytes, &ColumnMap::default(), &fmt).map_err(|e| anyhow::anyhow!("{}: {e}", invoices.display()))?;
    report.rejected_invoice_rows += bad.len() as u64;
    let crate::match_cmd::Loaded { open, payers, closed } = crate::match_cmd::load_invoices(&invoices)?;
    report.credit_notes += meta.credit_notes.len() as u64;
    report.credit_notes_open_for_matcher +=
        open.iter().filter(|i| meta.credit_notes.contains(&i.number)).count() as u64;
    let mut matcher = Matcher::new(open, &payers, config.clone()).with_closed(closed);

    let mut mapping = CsvMapping::default();
    if let Some(c) = &meta.csv_currency {
        mapping.currency = Some(Currency::parse(c).map_err(|e| anyhow::anyhow!("{}: case.json: {e}", dir.display()))?);
    }
    if let Some(order) = meta.csv_date_order {
        mapping.date_order = order;
    }
    let mut files: Vec<&str> = labels.iter().map(|l| l.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let mut rows = Vec::new();
    for file in files {
        let path = dir.join(file);
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| statements::parse_with(&b, &mapping).map_err(|e| e.to_string()));
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                report.unreadable_files += 1;
                eprintln!("relance: {}: {e}", path.display());
                for l in labels.iter().filter(|l| l.file == file) {
                    rows.push(not_found(&case, l, format!("file unreadable: {e}")));
                }
                continue;
            }
        };
        // Match every credit of the file in document order, as the daemon does.
        let mut results: Vec<Option<Verdict>> = Vec::new();
        for tx in parsed.lines() {
            if tx.direction != Direction::Credit || tx.reversal {
                results.push(None);
                continue;
            }
            let result = matcher.match_credit(tx);
            let best = result.best();
            let first: Vec<String> =
                best.map(|b| b.allocations.iter().map(|a| a.invoice.clone()).collect()).unwrap_or_default();
            let outcome = match result.status {
                MatchStatus::Matched => Outcome::Matched,
                MatchStatus::Suggested => Outcome::Suggested,
                MatchStatus::Unmatched => Outcome::Unmatched,
            };
            if outcome == Outcome::Matched
                && let Some(b) = best
            {
                for a in &b.allocations {
                    matcher.consume(&a.invoice, a.amount, a.write_off);
                }
                if let (Some(iban), Some(cust)) = (&tx.counterparty_iban, &b.customer_id) {
                    matcher.learn_iban(iban, cust);
                }
            }
            let mut reasons: Vec<String> = best.map(|b| b.reasons.clone()).unwrap_or_default();
            reasons.extend(result.decision.iter().cloned());
            let seen = format!(
                "name={:?} iban={:?} text={:?} ref={:?} e2e={:?}",
                tx.counterparty_name.as_deref().unwrap_or(""),
                tx.counterparty_iban.as_deref().unwrap_or(""),
                tx.remittance.as_deref().unwrap_or(""),
                tx.structured_ref.as_deref().unwrap_or(""),
                tx.end_to_end_id.as_deref().unwrap_or("")
            );
            results.push(Some(Verdict { outcome, first, reasons, seen }));
        }
        let lines: Vec<_> = parsed.lines().collect();
        for l in labels.iter().filter(|l| l.file == file) {
            let at = match &l.entry {
                Some(entry) => lines.iter().position(|t| t.bank_ref.as_deref() == Some(entry.as_str())),
                None => Some(l.index),
            };
            let found = at.and_then(|i| Some((i, lines.get(i)?))).filter(|(_, t)| {
                t.direction == Direction::Credit
                    && t.amount.to_decimal_string() == l.amount
                    && t.amount.currency.code() == l.currency
            });
            let Some((i, _)) = found else {
                rows.push(not_found(&case, l, "entry not found among the parsed credits".to_string()));
                continue;
            };
            let Some(Some(Verdict { outcome, first: allocated, reasons, seen })) = results.get(i).cloned() else {
                rows.push(not_found(&case, l, "entry parsed as a reversal".to_string()));
                continue;
            };
            let got: BTreeSet<&str> = allocated.iter().map(String::as_str).collect();
            let want: BTreeSet<&str> = l.truth.iter().map(String::as_str).collect();
            // An empty truth is "pays nothing we know": never correct when matched, right when left alone.
            let correct = !want.is_empty() && got == want;
            rows.push(Row { case: case.clone(), label: l.clone(), outcome, correct, allocated, reasons, seen });
        }
    }
    Ok(rows)
}

fn not_found(case: &str, l: &Label, why: String) -> Row {
    Row {
        case: case.to_string(),
        label: l.clone(),
        outcome: Outcome::NotFound,
        correct: false,
        allocated: Vec::new(),
        reasons: vec![why],
        seen: String::new(),
    }
}

fn pct(x: f64) -> String {
    format!("{x:.1}%")
}

fn print_split(out: &mut String, r: &SplitReport, rows: &[Row], errors: usize) {
    let t = &r.total;
    let _ = writeln!(
        out,
        "== {}: {} cases, {} credits: precision {} ({} correct / {} matched), recall on unambiguous {} ({} / {}), \
         ambiguous matched {}, not found {}",
        r.split,
        r.cases,
        t.credits,
        pct(t.precision()),
        t.correct,
        t.matched,
        pct(t.recall()),
        t.unambiguous_correct,
        t.unambiguous,
        t.ambiguous_matched,
        t.not_found
    );
    let _ = writeln!(
        out,
        "   invoice rows rejected {}, statement files unreadable {}, credit notes {} (given to the matcher {})",
        r.rejected_invoice_rows, r.unreadable_files, r.credit_notes, r.credit_notes_open_for_matcher
    );
    let _ = writeln!(
        out,
        "   {:<26} {:>7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>8} {:>9} {:>9}",
        "kind", "credits", "matched", "correct", "precision", "unamb.", "recall", "amb.match", "not found", "sugg.ok"
    );
    for (kind, s) in &r.by_kind {
        let _ = writeln!(
            out,
            "   {:<26} {:>7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>8} {:>9} {:>9}",
            kind,
            s.credits,
            s.matched,
            s.correct,
            pct(s.precision()),
            s.unambiguous,
            pct(s.recall()),
            s.ambiguous_matched,
            s.not_found,
            s.suggested_right
        );
    }
    let errs: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            let matched = r.outcome == Outcome::Matched;
            let good = matched && r.correct && r.label.unambiguous;
            !good && (matched || r.label.unambiguous)
        })
        .collect();
    if errors > 0 && !errs.is_empty() {
        let _ = writeln!(out, "   errors ({}; first {}):", errs.len(), errors.min(errs.len()));
        for e in errs.iter().take(errors) {
            let what = match (&e.outcome, e.correct, e.label.unambiguous) {
                (Outcome::Matched, false, _) => "WRONG MATCH",
                (Outcome::Matched, true, false) => "AMBIGUOUS MATCHED",
                (Outcome::NotFound, _, _) => "NOT FOUND",
                _ => "MISSED",
            };
            let _ = writeln!(
                out,
                "   - {what} [{}] {} {} {} {} {}: truth {:?}, got {:?} as {:?}",
                e.label.kind,
                e.case,
                e.label.file,
                e.label.entry.as_deref().unwrap_or(&format!("#{}", e.label.index)),
                e.label.amount,
                e.label.currency,
                e.label.truth,
                e.allocated,
                e.outcome
            );
            if !e.seen.is_empty() {
                let _ = writeln!(out, "       read: {}", e.seen);
            }
            let _ = writeln!(out, "       reasons: {}", e.reasons.join("; "));
        }
    }
    let _ = writeln!(out);
}
