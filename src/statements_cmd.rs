//! `relance statements parse FILE`: one JSON object per transaction, in
//! document order (the evaluation shape of issue #4).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use relance_connectors::statements;
use relance_domain::BankLine;

#[derive(Subcommand)]
pub enum StatementsCommand {
    /// Parse a statement file (camt.052/053/054, MT940, CFONB 120, OFX, CSV; detected from the content).
    Parse { file: PathBuf },
}

pub fn run(cmd: StatementsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StatementsCommand::Parse { file } => {
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let parsed = match statements::parse(&bytes) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("relance: {}: {e}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for (index, tx) in parsed.lines().enumerate() {
                writeln!(out, "{}", transaction_json(index, tx))?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The evaluation shape of one transaction.
pub fn transaction_json(index: usize, tx: &BankLine) -> serde_json::Value {
    json!({
        "index": index,
        "booking_date": tx.booking_date,
        "value_date": tx.value_date,
        "amount": tx.amount.to_decimal_string(),
        "direction": tx.direction.as_str(),
        "currency": tx.amount.currency.code(),
        "counterparty_name": tx.counterparty_name,
        "counterparty_iban": tx.counterparty_iban,
        "remittance": tx.remittance,
        "structured_ref": tx.structured_ref,
        "end_to_end_id": tx.end_to_end_id,
        "bank_ref": tx.bank_ref,
    })
}
