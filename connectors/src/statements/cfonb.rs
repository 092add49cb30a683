//! French CFONB 120 account statements (*relevé de compte 120 caractères*):
//! records `01` (old balance), `04` (movement), `05` (movement details:
//! `LIB`, `NPY`, `NBE`, `RCN`, `REF`, `LCC`…), `07` (new balance). Amounts carry
//! their sign and last digit in one over-punched character (`{`, `A`–`I`
//! positive; `}`, `J`–`R` negative) and the number of decimals in the record.
//! Files with line breaks (trailing spaces often trimmed) and without them
//! (records back to back) are both read. Records out of sequence are errors.

use relance_core::domain::Direction;
use relance_core::money::{Currency, Money};

use super::{Format, ParseError, ParsedFile, Statement, Transaction, clamp_date, decode_text, join_text};

const RECORD: usize = 120;

/// Heuristic used by format detection.
pub fn looks_like(bytes: &[u8]) -> bool {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or(bytes);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    first.len() >= 80
        && std::str::from_utf8(first).is_ok_and(|s| is_record_start(s) || (s.len() == 240 && s.starts_with('0')))
}

/// Whether a 120-character record starts here (code 01/04/05/07, then the bank code).
fn is_record_start(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7
        && matches!(&b[..2], b"01" | b"04" | b"05" | b"07")
        && b[2..7].iter().all(|c| c.is_ascii_digit() || *c == b' ')
}

/// Cuts the text into records with their line numbers.
fn records(text: &str) -> Result<Vec<(usize, String)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches(['\r', '\u{1a}']);
        if line.trim().is_empty() {
            continue;
        }
        let n = line.chars().count();
        if n == 240 && !is_record_start(&line[120..]) {
            return Err(ParseError::new(
                Format::Cfonb120,
                Some(i + 1),
                "240-character records: CFONB 240 is not supported, only CFONB 120",
            ));
        }
        if n > RECORD {
            // No line breaks: records back to back.
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(RECORD) {
                let rec: String = chunk.iter().collect();
                if !rec.trim().is_empty() {
                    out.push((i + 1, format!("{rec:<RECORD$}")));
                }
            }
        } else {
            out.push((i + 1, format!("{line:<RECORD$}")));
        }
    }
    Ok(out)
}

/// Parses a CFONB 120 file.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    let text = decode_text(bytes);
    let mut statements: Vec<Statement> = Vec::new();
    let mut open: Option<Statement> = None;
    let mut last_movement: Option<usize> = None;
    for (line, rec) in records(&text)? {
        let err = |m: String| ParseError::new(Format::Cfonb120, Some(line), m);
        let field = |from: usize, to: usize| rec.get(from - 1..to).unwrap_or("");
        match field(1, 2) {
            "01" => {
                if open.is_some() {
                    return Err(err("new statement (01) while the previous one was not closed by a 07 record".into()));
                }
                let account = format!("{} {} {}", field(3, 7), field(12, 16), field(22, 32).trim());
                let currency = currency(field(17, 19), None).map_err(err)?;
                let date =
                    date(field(35, 40)).ok_or_else(|| err(format!("invalid date `{}` (DDMMYY)", field(35, 40))))?;
                amount(field(91, 104), field(20, 20), currency).map_err(err)?;
                open = Some(Statement {
                    id: Some(format!("{}-{}", account.replace(' ', ""), date.format("%Y%m%d"))),
                    account: Some(account),
                    currency: Some(currency),
                    transactions: Vec::new(),
                });
                last_movement = None;
            }
            "04" => {
                let st = open
                    .as_mut()
                    .ok_or_else(|| err("movement (04) outside a statement (no 01 record before it)".into()))?;
                let currency = currency(field(17, 19), st.currency).map_err(err)?;
                let signed = amount(field(91, 104), field(20, 20), currency).map_err(err)?;
                let booking = date(field(35, 40))
                    .ok_or_else(|| err(format!("invalid booking date `{}` (DDMMYY)", field(35, 40))))?;
                let value = date(field(43, 48));
                let label = field(49, 79).trim();
                let entry = field(82, 88).trim();
                let reference = field(105, 120).trim();
                st.transactions.push(Transaction {
                    booking_date: booking,
                    value_date: value,
                    amount: Money::new(signed.minor.abs(), currency),
                    direction: if signed.minor < 0 { Direction::Debit } else { Direction::Credit },
                    reversal: false,
                    counterparty_name: None,
                    counterparty_iban: None,
                    remittance: join_text([label]),
                    structured_ref: None,
                    end_to_end_id: None,
                    bank_ref: [entry, reference].iter().find(|s| !s.is_empty()).map(|s| s.to_string()),
                    charges: None,
                });
                last_movement = Some(st.transactions.len() - 1);
            }
            "05" => {
                let st = open.as_mut().ok_or_else(|| err("movement detail (05) outside a statement".into()))?;
                let idx = last_movement
                    .ok_or_else(|| err("movement detail (05) without a movement (04) before it".into()))?;
                let tx = &mut st.transactions[idx];
                let info = field(49, 118).trim();
                match field(46, 48) {
                    "NPY" if tx.direction == Direction::Credit => tx.counterparty_name = join_text([info]),
                    "NBE" if tx.direction == Direction::Debit => tx.counterparty_name = join_text([info]),
                    "RCN" => {
                        let r = info.trim();
                        tx.end_to_end_id =
                            r.split_whitespace().next().map(str::to_string).filter(|s| s != "NOTPROVIDED");
                        tx.remittance = join_text([tx.remittance.as_deref().unwrap_or(""), r]);
                    }
                    "LIB" | "LCC" | "LC2" | "LCS" | "MMO" if !info.is_empty() => {
                        tx.remittance = join_text([tx.remittance.as_deref().unwrap_or(""), info]);
                    }
                    "REF" if !info.is_empty() => tx.bank_ref = Some(info.to_string()),
                    _ => {}
                }
            }
            "07" => {
                let st = open.take().ok_or_else(|| err("end of statement (07) without a beginning (01)".into()))?;
                let currency = st.currency.unwrap_or(Currency::EUR);
                amount(field(91, 104), field(20, 20), currency).map_err(err)?;
                date(field(35, 40)).ok_or_else(|| err(format!("invalid date `{}` (DDMMYY)", field(35, 40))))?;
                statements.push(st);
                last_movement = None;
            }
            other => return Err(err(format!("unknown record code `{other}` (expected 01, 04, 05 or 07)"))),
        }
    }
    if let Some(st) = open {
        let _ = st;
        return Err(ParseError::new(Format::Cfonb120, None, "statement not closed: the file ends without a 07 record"));
    }
    if statements.is_empty() {
        return Err(ParseError::new(Format::Cfonb120, None, "no statement (01 … 07) found"));
    }
    Ok(ParsedFile { format: Format::Cfonb120, statements })
}

/// The record's currency; a blank field (old files) means the statement's, else EUR.
fn currency(code: &str, statement: Option<Currency>) -> Result<Currency, String> {
    if code.trim().is_empty() {
        return Ok(statement.unwrap_or(Currency::EUR));
    }
    Currency::parse(code).map_err(|e| e.to_string())
}

/// `DDMMYY`.
fn date(s: &str) -> Option<chrono::NaiveDate> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize| s[a..a + 2].parse::<u32>().ok();
    let yy = n(4)? as i32;
    clamp_date(if yy < 80 { 2000 + yy } else { 1900 + yy }, n(2)?, n(0)?)
}

/// A 14-character amount whose last character carries the sign and last digit.
pub(crate) fn amount(field: &str, decimals: &str, currency: Currency) -> Result<Money, String> {
    let bad = || format!("invalid amount `{field}`");
    let chars: Vec<char> = field.chars().collect();
    let (last, head) = chars.split_last().ok_or_else(bad)?;
    let (digit, negative) = match last {
        '{' => (0, false),
        '}' => (0, true),
        'A'..='I' => (*last as u32 - 'A' as u32 + 1, false),
        'J'..='R' => (*last as u32 - 'J' as u32 + 1, true),
        '0'..='9' => (*last as u32 - '0' as u32, false),
        _ => return Err(bad()),
    };
    let mut value: i64 = 0;
    for c in head {
        let d = c.to_digit(10).ok_or_else(bad)?;
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(d))).ok_or_else(bad)?;
    }
    value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(digit))).ok_or_else(bad)?;
    // A blank decimals field (old files) means the usual two.
    let decimals: u32 = match decimals.trim() {
        "" => 2,
        d => d.parse().map_err(|_| format!("invalid number of decimals `{decimals}`"))?,
    };
    let exp = u32::from(currency.exponent());
    let minor = if decimals <= exp {
        value.checked_mul(10i64.pow(exp - decimals)).ok_or_else(bad)?
    } else {
        let div = 10i64.pow(decimals - exp);
        if value % div != 0 {
            return Err(format!("amount `{field}` has more decimals than {currency} allows"));
        }
        value / div
    };
    Ok(Money::new(if negative { -minor } else { minor }, currency))
}
