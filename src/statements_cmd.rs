//! `relance statements parse FILE`: one JSON object per transaction, in
//! document order (the evaluation shape of issue #4).
//!
//! The file is streamed ([`statements::stream::stream_file`]): each
//! transaction is written as it is read, as JSON written by hand into one
//! reused buffer (no `serde_json::Value` per line), so a 100 MB statement
//! runs in a few megabytes at the parser's speed. The bytes are those
//! `serde_json` wrote from a `json!` object (keys sorted, same escapes): a
//! test compares them.
//!
//! A rejected file prints nothing on stdout as long as its output fits in
//! [`HOLD_BACK`] (every statement a bank sends in practice); beyond that the
//! output flows, and a problem found later leaves the transactions before it
//! printed, then the error on stderr and exit code 1 as always.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Datelike, NaiveDate};
use clap::Subcommand;

use relance_connectors::statements::Transaction;
use relance_connectors::statements::csv::CsvMapping;
use relance_connectors::statements::stream::{self, Sink, StatementInfo, StreamError};
use relance_domain::BankLine;
use relance_domain::money::Money;

#[derive(Subcommand)]
pub enum StatementsCommand {
    /// Parse a statement file (camt.052/053/054, MT940, CFONB 120, OFX, CSV; detected from the content).
    Parse { file: PathBuf },
}

/// Output held back until the file is known to parse, in bytes.
const HOLD_BACK: usize = 8 << 20;

/// Output written in pieces of this size once it flows.
const CHUNK: usize = 64 << 10;

pub fn run(cmd: StatementsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StatementsCommand::Parse { file } => {
            let stdout = io::stdout();
            let mut out = JsonLines::new(stdout.lock());
            match stream::stream_file(&file, &CsvMapping::default(), &mut out) {
                Ok(_) => {
                    out.finish()?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(StreamError::Parse(e)) => {
                    out.rejected()?;
                    eprintln!("relance: {}: {e}", file.display());
                    Ok(ExitCode::FAILURE)
                }
                // Writing stdout failed (a closed pipe…).
                Err(StreamError::Io(e)) if out.write_failed => Err(e.into()),
                Err(StreamError::Io(e)) => Err(anyhow::anyhow!("{}: {e}", file.display())),
            }
        }
    }
}

/// The sink of `statements parse`: JSON lines to `out`.
struct JsonLines<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Nothing was written to `out` yet.
    holding: bool,
    index: usize,
    write_failed: bool,
}

impl<W: Write> JsonLines<W> {
    fn new(out: W) -> Self {
        JsonLines { out, buf: Vec::with_capacity(CHUNK + 4096), holding: true, index: 0, write_failed: false }
    }

    fn write_out(&mut self) -> io::Result<()> {
        let r = self.out.write_all(&self.buf);
        self.buf.clear();
        self.write_failed = r.is_err();
        r
    }

    /// The file parsed: everything is written.
    fn finish(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.out.flush()
    }

    /// The file was rejected: held output is dropped, flowing output ends
    /// with the transactions before the problem.
    fn rejected(&mut self) -> io::Result<()> {
        if self.holding {
            self.buf.clear();
            return Ok(());
        }
        self.finish()
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn transaction(&mut self, _: &StatementInfo, tx: Transaction) -> io::Result<()> {
        write_transaction(&mut self.buf, self.index, &tx.line);
        self.index += 1;
        let limit = if self.holding { HOLD_BACK } else { CHUNK };
        if self.buf.len() >= limit {
            self.holding = false;
            self.write_out()?;
            if self.buf.capacity() > 2 * CHUNK {
                self.buf.shrink_to(CHUNK + 4096);
            }
        }
        Ok(())
    }
}

/// Appends the evaluation shape of one transaction and a line break:
/// `{"amount":…,"bank_ref":…,"booking_date":…,"counterparty_iban":…,"counterparty_name":…,
/// "currency":…,"direction":…,"end_to_end_id":…,"index":…,"remittance":…,"structured_ref":…,
/// "value_date":…}`.
pub fn write_transaction(out: &mut Vec<u8>, index: usize, tx: &BankLine) {
    out.extend_from_slice(b"{\"amount\":\"");
    write_amount(out, tx.amount);
    out.extend_from_slice(b"\",\"bank_ref\":");
    write_opt_str(out, tx.bank_ref.as_deref());
    out.extend_from_slice(b",\"booking_date\":");
    write_date(out, tx.booking_date);
    out.extend_from_slice(b",\"counterparty_iban\":");
    write_opt_str(out, tx.counterparty_iban.as_deref());
    out.extend_from_slice(b",\"counterparty_name\":");
    write_opt_str(out, tx.counterparty_name.as_deref());
    out.extend_from_slice(b",\"currency\":");
    write_str(out, tx.amount.currency.code());
    out.extend_from_slice(b",\"direction\":");
    write_str(out, tx.direction.as_str());
    out.extend_from_slice(b",\"end_to_end_id\":");
    write_opt_str(out, tx.end_to_end_id.as_deref());
    out.extend_from_slice(b",\"index\":");
    write_u64(out, index as u64);
    out.extend_from_slice(b",\"remittance\":");
    write_opt_str(out, tx.remittance.as_deref());
    out.extend_from_slice(b",\"structured_ref\":");
    write_opt_str(out, tx.structured_ref.as_deref());
    out.extend_from_slice(b",\"value_date\":");
    match tx.value_date {
        Some(d) => write_date(out, d),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
}

/// `Money::to_decimal_string` without the allocation.
fn write_amount(out: &mut Vec<u8>, m: Money) {
    if m.minor < 0 {
        out.push(b'-');
    }
    let abs = m.minor.unsigned_abs();
    let exponent = u32::from(m.currency.exponent());
    let Some(scale) = 10u64.checked_pow(exponent) else {
        out.extend_from_slice(m.to_decimal_string().as_bytes());
        return;
    };
    write_u64(out, abs / scale);
    if exponent > 0 {
        out.push(b'.');
        let mut digits = [b'0'; 20];
        let mut frac = abs % scale;
        for d in digits[..exponent as usize].iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&digits[..exponent as usize]);
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `"YYYY-MM-DD"`, as chrono's serde writes it.
fn write_date(out: &mut Vec<u8>, d: NaiveDate) {
    let (y, m, day) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        // Signed and longer years: chrono's own form.
        write_str(out, &format!("{d:?}"));
        return;
    }
    let y = y as u32;
    let two = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    out.push(b'"');
    out.extend_from_slice(&two(y / 100));
    out.extend_from_slice(&two(y % 100));
    out.push(b'-');
    out.extend_from_slice(&two(m));
    out.push(b'-');
    out.extend_from_slice(&two(day));
    out.push(b'"');
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, `\b \t \n \f \r`,
/// other control characters as `\u00XX`; everything else as is.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    use relance_connectors::statements;
    use relance_domain::Direction;
    use relance_domain::money::Currency;
    use serde_json::json;

    /// The shape as it was built before: a `serde_json::Value` (keys sorted).
    fn reference(index: usize, tx: &BankLine) -> String {
        let v = json!({
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
        });
        format!("{v}\n")
    }

    fn written(index: usize, tx: &BankLine) -> String {
        let mut out = Vec::new();
        write_transaction(&mut out, index, tx);
        String::from_utf8(out).unwrap()
    }

    fn line(amount: Money) -> BankLine {
        BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), amount)
    }

    #[test]
    fn the_json_is_byte_for_byte_what_serde_json_wrote() {
        let mut every_byte: String = (0u8..0x80).map(char::from).collect();
        every_byte.push_str("é€😀\u{2028}\u{feff}\"\\/");
        let texts = ["", "FACTURE FA-2026-0001", "a\"b\\c\nd\re\tf\u{8}\u{c}\u{1}\u{1f}\u{7f}", every_byte.as_str()];
        let mut cases = Vec::new();
        for (k, text) in texts.iter().enumerate() {
            let ccy = ["EUR", "JPY", "KWD", "CHF"][k];
            let mut l = line(Money::new([0, 7, 123_456_789, i64::MAX][k], Currency::parse(ccy).unwrap()));
            l.direction = if k % 2 == 0 { Direction::Credit } else { Direction::Debit };
            l.remittance = Some(text.to_string());
            l.counterparty_name = Some(text.chars().rev().collect());
            l.bank_ref = (k > 0).then(|| text.to_string());
            l.value_date = NaiveDate::from_ymd_opt([1, 999, 2026, 9999][k], 1 + k as u32, 28);
            l.booking_date = NaiveDate::from_ymd_opt([-1, 0, 10_000, 262_000][k], 12, 31).unwrap();
            cases.push(l);
        }
        for (i, l) in cases.iter().enumerate() {
            for index in [0, 9, i, usize::MAX] {
                assert_eq!(written(index, l), reference(index, l));
            }
        }
        // Negative amounts (not given by the parsers, but the writer must not differ).
        let l = line(Money::new(-1_005, Currency::parse("EUR").unwrap()));
        assert_eq!(written(3, &l), reference(3, &l));
    }

    #[test]
    fn the_json_of_the_demo_and_fixture_statements_is_unchanged() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("config/demo/bank/demo/statement-2026-11-23.xml")];
        let shared = root.join("../shared/fixtures/external");
        for dir in ["camt", "mt940", "cfonb120", "ofx", "csv"] {
            if let Ok(rd) = std::fs::read_dir(shared.join(dir)) {
                for e in rd.flatten() {
                    if let Ok(inner) = std::fs::read_dir(e.path()) {
                        files.extend(inner.flatten().map(|f| f.path()));
                    }
                }
            }
        }
        let mut seen = 0;
        for f in files {
            let Ok(bytes) = std::fs::read(&f) else { continue };
            let Ok(parsed) = statements::parse(&bytes) else { continue };
            for (i, tx) in parsed.lines().enumerate() {
                assert_eq!(written(i, tx), reference(i, tx), "{}", f.display());
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen} transactions compared");
    }

    #[test]
    fn a_rejected_file_prints_nothing_while_held_back() {
        let mut out = JsonLines::new(Vec::new());
        let l = line(Money::new(100, Currency::parse("EUR").unwrap()));
        let tx = Transaction { line: l, charges: None };
        for _ in 0..100 {
            out.transaction(&StatementInfo::default(), tx.clone()).unwrap();
        }
        out.rejected().unwrap();
        assert!(out.out.is_empty());
        // Past the hold-back, the output flows; a later problem leaves whole lines.
        let mut out = JsonLines::new(Vec::new());
        let per_line = written(0, &tx.line).len();
        for _ in 0..(HOLD_BACK / per_line + 10) {
            out.transaction(&StatementInfo::default(), tx.clone()).unwrap();
        }
        assert!(!out.out.is_empty());
        out.rejected().unwrap();
        let text = String::from_utf8(out.out).unwrap();
        assert_eq!(text.lines().count(), HOLD_BACK / per_line + 10);
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }
}
