//! French CFONB 120 account statements (*relevé de compte 120 caractères*):
//! records `01` (old balance), `04` (movement), `05` (movement details:
//! `LIB`, `NPY`, `NBE`, `RCN`, `REF`, `LCC`…), `07` (new balance). Amounts carry
//! their sign and last digit in one over-punched character (`{`, `A`–`I`
//! positive; `}`, `J`–`R` negative) and the number of decimals in the record.
//! Files with line breaks (trailing spaces often trimmed) and without them
//! (records back to back) are both read. Records out of sequence are errors.

use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, Direction};

use super::{Format, ParseError, ParsedFile, Statement, Transaction, clamp_date, decode_text, join_text, narrative};

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

/// One 120-character record, padded with spaces, and the line it is on.
struct Record {
    line: usize,
    text: String,
    /// Byte offset of each character and of the end, when the record is not
    /// all ASCII (fields are counted in characters, not bytes).
    offsets: Option<Vec<usize>>,
}

impl Record {
    fn new(line: usize, chunk: &str) -> Record {
        let text = format!("{chunk:<RECORD$}");
        let offsets = (!text.is_ascii())
            .then(|| text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect());
        Record { line, text, offsets }
    }

    /// Characters `from..=to` (1-based, as in the CFONB specification), or `""`.
    fn field(&self, from: usize, to: usize) -> &str {
        let (a, b) = (from.saturating_sub(1), to);
        match &self.offsets {
            None => self.text.get(a..b).unwrap_or(""),
            Some(o) => match (o.get(a), o.get(b)) {
                (Some(&x), Some(&y)) => self.text.get(x..y).unwrap_or(""),
                _ => "",
            },
        }
    }
}

/// Byte offset of the `n`th character of `s` (its length when `s` is shorter).
fn char_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Cuts the text into records, lazily: a file without line breaks (records
/// back to back) is cut 120 characters at a time without copying it whole.
struct Records<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    /// The rest of a line holding several records, and its line number.
    rest: Option<(usize, &'a str)>,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Records<'a> {
        Records { lines: text.lines().enumerate(), rest: None }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((line, rest)) = self.rest.take() {
                let cut = char_offset(rest, RECORD);
                let (chunk, tail) = rest.split_at(cut);
                if !tail.is_empty() {
                    self.rest = Some((line, tail));
                }
                if chunk.trim().is_empty() {
                    continue;
                }
                return Some(Ok(Record::new(line, chunk)));
            }
            let (i, line) = self.lines.next()?;
            let line = line.trim_end_matches(['\r', '\u{1a}']);
            if line.trim().is_empty() {
                continue;
            }
            // Only the first 241 characters are counted: a line may be megabytes long.
            let n = line.chars().take(2 * RECORD + 1).count();
            if n == 2 * RECORD && !is_record_start(&line[char_offset(line, RECORD)..]) {
                return Some(Err(ParseError::new(
                    Format::Cfonb120,
                    Some(i + 1),
                    "240-character records: CFONB 240 is not supported, only CFONB 120",
                )));
            }
            if n > RECORD {
                // No line breaks: records back to back.
                self.rest = Some((i + 1, line));
                continue;
            }
            return Some(Ok(Record::new(i + 1, line)));
        }
    }
}

/// Parses a CFONB 120 file.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    let text = decode_text(bytes);
    let mut statements: Vec<Statement> = Vec::new();
    let mut open: Option<Statement> = None;
    let mut last_movement: Option<usize> = None;
    // The free text of each movement of the open statement (its label, then
    // its LIB/LCC complements, one per line) and its client references.
    let mut texts: Vec<MovementText> = Vec::new();
    for rec in Records::new(&text) {
        let rec = rec?;
        let line = rec.line;
        let err = |m: String| ParseError::new(Format::Cfonb120, Some(line), m);
        let field = |from: usize, to: usize| rec.field(from, to);
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
                texts.clear();
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
                    line: BankLine {
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
                    },
                    charges: None,
                });
                last_movement = Some(st.transactions.len() - 1);
                texts.push(MovementText { raw: label.to_string(), references: Vec::new() });
            }
            "05" => {
                let st = open.as_mut().ok_or_else(|| err("movement detail (05) outside a statement".into()))?;
                let idx = last_movement
                    .ok_or_else(|| err("movement detail (05) without a movement (04) before it".into()))?;
                let tx = &mut st.transactions[idx].line;
                let info = field(49, 118).trim();
                let text = texts.get_mut(idx);
                match field(46, 48) {
                    "NPY" if tx.direction == Direction::Credit => tx.counterparty_name = join_text([info]),
                    "NBE" if tx.direction == Direction::Debit => tx.counterparty_name = join_text([info]),
                    "RCN" => {
                        let r = info.trim();
                        tx.end_to_end_id =
                            r.split_whitespace().next().map(str::to_string).filter(|s| s != "NOTPROVIDED");
                        tx.remittance = join_text([tx.remittance.as_deref().unwrap_or(""), r]);
                        if let Some(t) = text {
                            t.references.push(r.to_string());
                        }
                    }
                    "LIB" | "LCC" | "LC2" | "LCS" | "MMO" if !info.is_empty() => {
                        tx.remittance = join_text([tx.remittance.as_deref().unwrap_or(""), info]);
                        if let Some(t) = text {
                            // Trailing spaces kept off: a full 70-character
                            // line continues on the next record.
                            t.raw.push('\n');
                            t.raw.push_str(field(49, 118).trim_end());
                        }
                    }
                    // The payer's (IPY) or beneficiary's (IBE) identifier: kept when it is an IBAN.
                    "IPY" if tx.direction == Direction::Credit && tx.counterparty_iban.is_none() => {
                        tx.counterparty_iban = narrative::take_iban(info).filter(|(_, r)| r.is_empty()).map(|(i, _)| i);
                    }
                    "IBE" if tx.direction == Direction::Debit && tx.counterparty_iban.is_none() => {
                        tx.counterparty_iban = narrative::take_iban(info).filter(|(_, r)| r.is_empty()).map(|(i, _)| i);
                    }
                    "REF" if !info.is_empty() => tx.bank_ref = Some(info.to_string()),
                    _ => {}
                }
            }
            "07" => {
                let mut st = open.take().ok_or_else(|| err("end of statement (07) without a beginning (01)".into()))?;
                for (tx, text) in st.transactions.iter_mut().zip(texts.drain(..)) {
                    text.apply(&mut tx.line);
                }
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

/// Width of a `05` complement: a line this long continues on the next record.
const COMPLEMENT_WIDTH: usize = 70;

/// The free text of one movement, read with [`narrative`] when its statement ends.
struct MovementText {
    raw: String,
    /// Client references (RCN), kept after the purpose.
    references: Vec<String>,
}

impl MovementText {
    /// Fills the counterparty from a keyed label (`VIR SEPA RECU /DE … /MOTIF …`).
    fn apply(self, line: &mut BankLine) {
        if narrative::fill(line, &self.raw, Some(COMPLEMENT_WIDTH)) {
            let purpose = line.remittance.take();
            line.remittance =
                join_text(purpose.as_deref().into_iter().chain(self.references.iter().map(String::as_str)));
        }
    }
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
        10i64.checked_pow(exp - decimals).and_then(|m| value.checked_mul(m)).ok_or_else(bad)?
    } else {
        let div = 10i64.checked_pow(decimals - exp).ok_or_else(bad)?;
        if value % div != 0 {
            return Err(format!("amount `{field}` has more decimals than {currency} allows"));
        }
        value / div
    };
    Ok(Money::new(if negative { -minor } else { minor }, currency))
}
