//! `relance match --invoices OPEN.csv --statement FILE`: matches every credit
//! of a statement against the open invoices of a canonical invoice CSV and
//! prints one JSON object per credit (the evaluation shape of issue #4).
//! Credits are matched in document order; an applied match reduces the
//! invoices' open amounts for the credits after it, as in the daemon.
//! `relance match replay` (src/match_replay.rs) replays a tenant's stored credits.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use relance_connectors::csv_invoices::parse::{ColumnMap, DateOrder, ValueFormat, parse_all};
use relance_connectors::statements;
use relance_domain::Direction;
use relance_domain::InvoiceStatus;
use relance_domain::money::{Currency, DecimalStyle};
use relance_engine::matching::{ClosedInvoice, MatchConfig, MatchStatus, Matcher, OpenInvoice, Payer};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MatchArgs {
    #[command(subcommand)]
    command: Option<MatchCommand>,
    /// Open invoices in the canonical CSV layout.
    #[arg(long, required = true)]
    invoices: Option<PathBuf>,
    /// A bank statement (any supported format).
    #[arg(long, required = true)]
    statement: Option<PathBuf>,
    /// Confidence from which a match is applied (default 0.9).
    #[arg(long)]
    threshold: Option<f64>,
}

/// `relance match <subcommand>`.
#[derive(clap::Subcommand)]
pub enum MatchCommand {
    /// Score the whole pipeline (parsers and matcher) on a labelled corpus such as corpus/cash.
    Eval(crate::match_eval::EvalArgs),
    /// Re-run the current rules over a tenant's stored credits (applies
    /// nothing) and print the cash application rates.
    Replay(crate::match_replay::ReplayArgs),
}

/// What an invoice export gives the matcher, as the daemon builds it: open
/// items (invoices, and credit notes with a negative open amount), the payers
/// they name, and the closed invoices (a reference to one is a question, not
/// a match).
pub struct Loaded {
    pub open: Vec<OpenInvoice>,
    pub payers: Vec<Payer>,
    pub closed: Vec<ClosedInvoice>,
}

/// Loads the open items, payers and closed invoices of an export.
pub fn load_invoices(path: &Path) -> anyhow::Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let fmt = ValueFormat {
        decimal: DecimalStyle::Auto,
        date_order: DateOrder::Dmy,
        default_currency: Currency::EUR,
        max_amount: relance_domain::money::DEFAULT_MAX_AMOUNT,
    };
    let (records, bad) =
        parse_all(&bytes, &ColumnMap::default(), &fmt).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (line, e) in &bad {
        eprintln!(
            "relance: {}: line {line}: {}{} (row skipped)",
            path.display(),
            e.column.as_ref().map(|c| format!("column `{c}`: ")).unwrap_or_default(),
            e.reason
        );
    }
    let mut payers: BTreeMap<String, Payer> = BTreeMap::new();
    let mut open = Vec::new();
    let mut closed = Vec::new();
    for r in records {
        let p = payers
            .entry(r.customer.id.clone())
            .or_insert_with(|| Payer { customer_id: r.customer.id.clone(), ..Default::default() });
        if !r.customer.name.is_empty() {
            p.name.clone_from(&r.customer.name);
        }
        for iban in &r.customer.ibans {
            if !p.ibans.contains(iban) {
                p.ibans.push(iban.clone());
            }
        }
        let status = r.effective_status();
        let credit_note = status == InvoiceStatus::CreditNote && r.open.minor < 0;
        let open_item = credit_note || (status.is_outstanding() && r.open.minor > 0);
        if !open_item {
            if matches!(status, InvoiceStatus::Paid | InvoiceStatus::Closed | InvoiceStatus::Cancelled) {
                closed.push(ClosedInvoice { number: r.number, customer_id: r.customer.id, status });
            }
            continue;
        }
        {
            open.push(OpenInvoice {
                number: r.number,
                customer_id: r.customer.id,
                issue_date: r.issue_date,
                due_date: r.due_date,
                total: r.total,
                open: r.open,
            });
        }
    }
    Ok(Loaded { open, payers: payers.into_values().collect(), closed })
}

pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(MatchCommand::Eval(eval)) => return crate::match_eval::run(eval),
        Some(MatchCommand::Replay(r)) => return crate::match_replay::run(r),
        None => {}
    }
    let (Some(invoices), Some(statement)) = (args.invoices, args.statement) else {
        anyhow::bail!("relance match needs --invoices and --statement (or a subcommand: `eval`, `replay`)");
    };
    let Loaded { open, payers, closed } = load_invoices(&invoices)?;
    let bytes = std::fs::read(&statement).with_context(|| format!("cannot read {}", statement.display()))?;
    let parsed = match statements::parse(&bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relance: {}: {e}", statement.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut config = MatchConfig::default();
    if let Some(t) = args.threshold {
        config.auto_threshold = t;
    }
    let mut matcher = Matcher::new(open, &payers, config).with_closed(closed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (index, tx) in parsed.lines().enumerate() {
        if tx.direction != Direction::Credit {
            continue;
        }
        let base = json!({ "index": index, "bank_ref": tx.bank_ref, "amount": tx.amount.to_decimal_string() });
        if tx.reversal {
            let line = merge(
                base,
                json!({ "status": "unmatched", "allocations": [], "confidence": 0.0,
                "reasons": ["a reversal by the bank, not a customer payment"] }),
            );
            writeln!(out, "{line}")?;
            continue;
        }
        let result = matcher.match_credit(tx);
        let best = result.best();
        if result.status == MatchStatus::Matched
            && let Some(b) = best
        {
            for a in &b.allocations {
                matcher.consume(&a.invoice, a.amount, a.write_off);
            }
            if let (Some(iban), Some(cust)) = (&tx.counterparty_iban, &b.customer_id) {
                matcher.learn_iban(iban, cust);
            }
        }
        let status = result.status.payment_status().as_str();
        let allocations: Vec<_> = best
            .map(|b| {
                b.allocations
                    .iter()
                    .map(|a| json!({ "invoice": a.invoice, "amount": a.amount.to_decimal_string() }))
                    .collect()
            })
            .unwrap_or_default();
        let mut reasons: Vec<String> = best.map(|b| b.reasons.clone()).unwrap_or_default();
        reasons.extend(result.decision.iter().cloned());
        let confidence = best.map_or(0.0, |b| (b.confidence * 1000.0).round() / 1000.0);
        let line = merge(
            base,
            json!({ "status": status, "allocations": allocations, "confidence": confidence, "reasons": reasons }),
        );
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
