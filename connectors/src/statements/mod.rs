//! Bank statement parsers: ISO 20022 camt.052/053/054, SWIFT MT940/MT942,
//! French CFONB 120, OFX 1.x (SGML) and 2.x (XML), and CSV.
//!
//! Every parser is a pure function from bytes to a [`ParsedFile`]: one or
//! more statements of normalized [`Transaction`]s, each a
//! [`relance_domain::BankLine`] (amount always positive, with a direction).
//! A file that is not a statement, or is broken, gives a [`ParseError`]
//! with the line where the problem is. [`parse`] detects the format from
//! the content. [`stream`] hands the transactions over one at a time as the
//! file is read (camt and MT940 without holding the file in memory).

pub mod camt;
pub mod cfonb;
pub mod csv;
pub mod mt940;
pub mod narrative;
pub mod ofx;
pub mod stream;

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use relance_connector::guard;
use relance_domain::BankLine;
use relance_domain::money::{Currency, DecimalStyle, Money};

/// A statement file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Camt,
    Mt940,
    Cfonb120,
    Ofx,
    Csv,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Camt => "camt",
            Format::Mt940 => "mt940",
            Format::Cfonb120 => "cfonb120",
            Format::Ofx => "ofx",
            Format::Csv => "csv",
        }
    }
}

/// One bank transaction as a parser read it: the [`BankLine`] that Relance
/// stores and matches, and what else the format told about it that is not
/// kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    #[serde(flatten)]
    pub line: BankLine,
    /// Charges the bank reported for this entry, when any.
    pub charges: Option<Money>,
}

/// One statement (an account over a period) inside a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The bank's statement identifier, when the format has one.
    pub id: Option<String>,
    /// Account IBAN or number.
    pub account: Option<String>,
    pub currency: Option<Currency>,
    pub transactions: Vec<Transaction>,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedFile {
    pub format: Format,
    pub statements: Vec<Statement>,
}

impl ParsedFile {
    /// All transactions in document order.
    pub fn transactions(&self) -> impl Iterator<Item = &Transaction> {
        self.statements.iter().flat_map(|s| s.transactions.iter())
    }

    /// The bank lines of all transactions, in document order.
    pub fn lines(&self) -> impl Iterator<Item = &BankLine> {
        self.transactions().map(|t| &t.line)
    }
}

/// Why a file could not be read as a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub format: Option<Format>,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmt) = self.format {
            write!(f, "{}: ", fmt.as_str())?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// An error of `format` at `line`. The message is cut to [`MAX_MESSAGE`]
    /// bytes: it travels to the quarantine reason, the log and the API, and
    /// may quote input.
    pub fn new(format: Format, line: Option<usize>, message: impl Into<String>) -> ParseError {
        let message = message.into();
        let message = if message.len() > MAX_MESSAGE { guard::truncate(&message, MAX_MESSAGE) } else { message };
        ParseError { format: Some(format), line, message }
    }
}

/// Longest error message kept, in bytes.
pub const MAX_MESSAGE: usize = 500;

/// Longest piece of input quoted in an error message, in bytes.
pub(crate) const MAX_QUOTE: usize = 120;

/// `s` cut to [`MAX_QUOTE`] bytes for quoting in an error message.
pub(crate) fn quote(s: &str) -> String {
    guard::truncate(s, MAX_QUOTE)
}

/// Detects the format from the content.
pub fn detect(bytes: &[u8]) -> Result<Format, ParseError> {
    match detect_head(&bytes[..bytes.len().min(stream::HEAD)])? {
        Some(format) => Ok(format),
        None => detect_rest(bytes),
    }
}

fn unknown(m: &str) -> ParseError {
    ParseError { format: None, line: Some(1), message: m.to_string() }
}

/// The format when the first [`stream::HEAD`] bytes decide it (ZIP, OFX,
/// camt, QIF, MT940); `None` when it takes the whole content (CFONB 120, CSV).
pub(crate) fn detect_head(head: &[u8]) -> Result<Option<Format>, ParseError> {
    if head.starts_with(b"PK\x03\x04") {
        return Err(unknown("a ZIP archive: unpack it and import the statements it contains"));
    }
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let upper = t.to_ascii_uppercase();
    if upper.contains("OFXHEADER") || upper.contains("<OFX>") || upper.contains("<?OFX") {
        return Ok(Some(Format::Ofx));
    }
    if t.starts_with('<') {
        return Ok(Some(Format::Camt));
    }
    if t.starts_with("!Type:") || t.starts_with("!Account") || t.starts_with("!Option") {
        return Err(unknown(
            "a QIF file: QIF carries no bank references; export camt.053, MT940, CFONB or OFX instead",
        ));
    }
    let mt_tag = |l: &str| {
        let l = l.trim_start_matches(['{', '}', '-']).trim_start_matches("4:");
        l.strip_prefix(':').and_then(|r| r.find(':').map(|e| &r[..e])).is_some_and(|tag| {
            let b = tag.as_bytes();
            (2..=3).contains(&b.len()) && b[0].is_ascii_digit() && b[1].is_ascii_digit()
        })
    };
    if t.starts_with("{1:") || t.lines().take(40).any(mt_tag) {
        return Ok(Some(Format::Mt940));
    }
    Ok(None)
}

/// The rest of [`detect`], for content whose head decided nothing.
pub(crate) fn detect_rest(bytes: &[u8]) -> Result<Format, ParseError> {
    if cfonb::looks_like(bytes) {
        return Ok(Format::Cfonb120);
    }
    let head = &bytes[..bytes.len().min(stream::HEAD)];
    if head.contains(&0) {
        return Err(unknown("binary content: not a bank statement"));
    }
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.lines().next().is_some_and(|l| l.contains([',', ';', '\t', '|'])) {
        return Ok(Format::Csv);
    }
    Err(unknown("unknown statement format (expected camt XML, MT940, CFONB 120, OFX or CSV)"))
}

/// Detects the format and parses the file (CSV with the default heuristic mapping).
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    parse_with(bytes, &csv::CsvMapping::default())
}

/// Detects the format and parses the file, CSV with `mapping`: the whole
/// file in memory. camt and MT940 are a collect over their stream
/// ([`stream`]); the bank connector and `relance statements parse` stream.
///
/// In debug builds, a file containing the value of the environment variable
/// `RELANCE_TEST_PANIC_MARKER` makes this panic: the integration tests use it
/// to check that a parser panic is contained (there is no known input left
/// that panics a parser). Release builds have no such hook.
pub fn parse_with(bytes: &[u8], mapping: &csv::CsvMapping) -> Result<ParsedFile, ParseError> {
    #[cfg(debug_assertions)]
    relance_connector::guard::test_panic_hook("statement", bytes);
    parse_format(detect(bytes)?, bytes, mapping)
}

/// Parses the file as `format`.
pub(crate) fn parse_format(format: Format, bytes: &[u8], mapping: &csv::CsvMapping) -> Result<ParsedFile, ParseError> {
    match format {
        Format::Camt => camt::parse(bytes),
        Format::Mt940 => mt940::parse(bytes),
        Format::Cfonb120 => cfonb::parse(bytes),
        Format::Ofx => ofx::parse(bytes),
        Format::Csv => csv::parse(bytes, mapping),
    }
}

/// A whole text streamed by `stream` into a [`ParsedFile`] of `format`.
pub(crate) fn collect_text<F>(format: Format, text: &str, stream: F) -> Result<ParsedFile, ParseError>
where
    F: FnOnce(&[u8], &mut stream::Collect) -> Result<(), stream::StreamError>,
{
    let mut sink = stream::Collect::default();
    match stream(text.as_bytes(), &mut sink) {
        Ok(()) => Ok(ParsedFile { format, statements: sink.statements }),
        Err(stream::StreamError::Parse(e)) => Err(e),
        // Reading a string and collecting cannot fail.
        Err(stream::StreamError::Io(e)) => Err(ParseError::new(format, None, e.to_string())),
    }
}

/// Decodes text: UTF-8 (BOM stripped) or, failing that, Windows-1252.
pub(crate) fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Parses a positive amount (`1234.56`, `1234,56`) into money of `currency`.
pub(crate) fn amount(text: &str, currency: Currency, style: DecimalStyle) -> Result<Money, String> {
    let text = text.trim();
    if let Some(minor) = plain_amount(text, currency.exponent(), style) {
        return Ok(Money::new(minor, currency));
    }
    let m = Money::parse(text, currency, style).map_err(|e| e.to_string())?;
    Ok(Money::new(m.minor.abs(), currency))
}

/// The common shape of a statement amount, read without allocating: up to 15
/// digits, then the decimal mark of `style` (`Dot`) and up to `exponent`
/// digits. What [`Money::parse`] gives for it; `None` for any other text
/// (read by [`Money::parse`]).
fn plain_amount(text: &str, exponent: u8, style: DecimalStyle) -> Option<i64> {
    if style != DecimalStyle::Dot || exponent > 3 {
        return None;
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || frac.len() > usize::from(exponent) || !digits(int) || !digits(frac) {
        return None;
    }
    let mut value: i64 = 0;
    for b in int.bytes() {
        value = value * 10 + i64::from(b - b'0');
    }
    for i in 0..usize::from(exponent) {
        value = value * 10 + frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    Some(value)
}

/// Joins non-empty parts with single spaces; `None` if nothing is left.
pub(crate) fn join_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        // At most the part's length is added: reserved at once, so that a
        // huge field is not copied again and again as the text grows.
        out.reserve(p.len());
        for w in p.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Normalizes an IBAN-looking value; keeps other account identifiers as given.
pub(crate) fn account_id(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(relance_domain::iban::normalize_iban(t).unwrap_or_else(|_| t.to_string()))
}

/// A date from `YYYY-MM-DD` (a time part after it is ignored).
pub(crate) fn iso_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let b = t.as_bytes();
    // `YYYY-MM-DD` as digits: read without the format parser (same result).
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit())
    {
        let n = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        return NaiveDate::from_ymd_opt(n(0..4) as i32, n(5..7), n(8..10));
    }
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()
}

/// A date from numbers, clamping an impossible day (banks book interest on
/// "30 February") to the last day of the month.
pub(crate) fn clamp_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&month) || day == 0 || day > 31 {
        return None;
    }
    (0..4).find_map(|back| NaiveDate::from_ymd_opt(year, month, day.saturating_sub(back)))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod regressions;

#[cfg(test)]
mod narrative_parsers;
