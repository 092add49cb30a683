//! SWIFT MT940 (customer statement) and MT942 (interim report), in the
//! dialects banks really send: with or without `{1:}{2:}{4:` block wrappers,
//! text preambles, CRLF or LF, amounts with `,` (or `.`), `RC`/`RD` reversals,
//! a funds code letter, invalid days (clamped), and three `:86:` styles:
//! German `?00..?63` sub-fields with SEPA `EREF+`/`SVWZ+` tags, Dutch slash
//! tags (`/EREF/…/REMI/…/NAME/…`), and free text.
//!
//! Read line by line from a [`BufRead`] into reused buffers, one field at a
//! time: memory does not grow with the file (one field is held, however long).

use std::borrow::Cow;
use std::io::BufRead;

use chrono::Datelike;

use relance_domain::money::{Currency, DecimalStyle};
use relance_domain::{BankLine, Direction};

use super::stream::{Sink, StatementInfo, StreamError};
use super::{
    Format, ParseError, ParsedFile, Transaction, account_id, clamp_date, collect_text, decode_text, join_text,
    narrative, quote,
};

/// A line without its `\r` and block wrappers such as `{1:F01…}{2:I940…}{4:`;
/// `None` for the end-of-block lines (`-}`, `-`).
fn clean_line(raw: &str) -> Option<&str> {
    let mut l = raw.trim_end_matches('\r');
    loop {
        if let Some(rest) = l.strip_prefix("{4:") {
            l = rest;
            break;
        }
        match (l.starts_with('{'), l.find('}')) {
            (true, Some(end)) => l = l[end + 1..].trim_start_matches('}'),
            _ => break,
        }
    }
    (!(l == "-}" || l == "-" || l.starts_with("-}"))).then_some(l)
}

/// The lines of a text read from a [`BufRead`], as [`str::lines`] splits
/// them, into one reused buffer.
struct Lines<R> {
    input: R,
    bytes: Vec<u8>,
    /// A line that is not UTF-8 (the input changed since its encoding was
    /// checked), read as Windows-1252.
    fallback: String,
    /// 1-based number of the last line read.
    number: usize,
}

impl<R: BufRead> Lines<R> {
    fn new(input: R) -> Self {
        Lines { input, bytes: Vec::with_capacity(256), fallback: String::new(), number: 0 }
    }

    /// The next line (without `\n` or `\r\n`) and its number.
    fn next_line(&mut self) -> std::io::Result<Option<(usize, &str)>> {
        self.bytes.clear();
        if self.input.read_until(b'\n', &mut self.bytes)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut line = &self.bytes[..];
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l.strip_suffix(b"\r").unwrap_or(l);
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(_) => {
                self.fallback = encoding_rs::WINDOWS_1252.decode_without_bom_handling(line).0.into_owned();
                &self.fallback
            }
        };
        Ok(Some((self.number, text)))
    }
}

/// The fields of the text, one at a time, into reused buffers (a statement
/// of many megabytes is never held whole).
struct Fields<R> {
    lines: Lines<R>,
    /// The current field: tag, value (continuation lines joined with `\n`), first line.
    tag: String,
    value: String,
    line: usize,
    /// The next field's first line, already read.
    next: Option<usize>,
    next_tag: String,
    next_value: String,
}

impl<R: BufRead> Fields<R> {
    fn new(input: R) -> Self {
        Fields {
            lines: Lines::new(input),
            tag: String::new(),
            value: String::new(),
            line: 0,
            next: None,
            next_tag: String::new(),
            next_value: String::new(),
        }
    }

    /// Reads the next field into `tag`, `value` and `line`; false at the end.
    /// Lines before the first field are dropped.
    fn advance(&mut self) -> std::io::Result<bool> {
        match self.next.take() {
            Some(line) => {
                std::mem::swap(&mut self.tag, &mut self.next_tag);
                std::mem::swap(&mut self.value, &mut self.next_value);
                self.line = line;
            }
            None => loop {
                let Some((n, raw)) = self.lines.next_line()? else { return Ok(false) };
                if let Some(l) = clean_line(raw)
                    && let Some(tag) = field_tag(l)
                {
                    set(&mut self.tag, tag);
                    set(&mut self.value, &l[tag.len() + 2..]);
                    self.line = n;
                    self.lines.shrink();
                    break;
                }
            },
        }
        while let Some((n, raw)) = self.lines.next_line()? {
            let Some(l) = clean_line(raw) else { continue };
            if let Some(tag) = field_tag(l) {
                set(&mut self.next_tag, tag);
                set(&mut self.next_value, &l[tag.len() + 2..]);
                self.next = Some(n);
                self.lines.shrink();
                break;
            }
            if !l.trim().is_empty() {
                self.value.push('\n');
                self.value.push_str(l);
            }
            self.lines.shrink();
        }
        Ok(true)
    }
}

/// `s = v`, reusing the buffer unless it is a huge one from an earlier field.
fn set(s: &mut String, v: &str) {
    if s.capacity() > 1 << 20 && v.len() < s.capacity() / 4 {
        *s = String::new();
    }
    s.clear();
    s.push_str(v);
}

impl<R> Lines<R> {
    /// Frees the line buffer after a huge line (a one-line `:86:` of
    /// megabytes), once its text is copied: it is not held twice while read.
    fn shrink(&mut self) {
        if self.bytes.capacity() > 1 << 20 {
            self.bytes = Vec::with_capacity(256);
        }
    }
}

/// `:20:` → `20`, `:60F:` → `60F`, `:NS:` → `NS`.
fn field_tag(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(':')?;
    let end = rest.find(':')?;
    let tag = &rest[..end];
    let b = tag.as_bytes();
    let ok = (b.len() == 2 || b.len() == 3)
        && ((b[0].is_ascii_digit() && b[1].is_ascii_digit() && (b.len() == 2 || b[2].is_ascii_uppercase()))
            || tag == "NS");
    ok.then_some(tag)
}

/// Parses an MT940/MT942 file (one or more messages).
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    collect_text(Format::Mt940, &decode_text(bytes), |text, sink| stream(text, sink))
}

/// Streams an MT940/MT942 text into `sink`: a `:61:` line is handed over
/// once the field after it is read (its `:86:`, or anything else).
pub(crate) fn stream<R: BufRead, S: Sink + ?Sized>(input: R, sink: &mut S) -> Result<(), StreamError> {
    let err = |line: usize, m: String| StreamError::Parse(ParseError::new(Format::Mt940, Some(line), m));
    let mut fields = Fields::new(input);
    let mut statements = 0usize;
    let mut current: Option<StatementInfo> = None;
    // The last `:61:`, until the field after it.
    let mut pending: Option<Transaction> = None;
    while fields.advance()? {
        let (tag, value, line) = (fields.tag.as_str(), fields.value.as_str(), fields.line);
        if let Some(mut tx) = pending.take() {
            if tag == "86" {
                apply_info(&mut tx.line, value);
            }
            sink.transaction(current.get_or_insert_with(StatementInfo::default), tx)?;
            if tag == "86" {
                continue;
            }
        }
        match tag {
            "20" => {
                if let Some(s) = current.take() {
                    statements += 1;
                    sink.end_statement(s)?;
                }
                current = Some(StatementInfo { id: Some(value.trim().to_string()), account: None, currency: None });
            }
            "25" => {
                let st = current.get_or_insert_with(StatementInfo::default);
                st.account = account_id(strip_currency_suffix(value.trim()));
            }
            "28C" | "28" => {
                if let Some(st) = current.as_mut() {
                    let seq = value.trim();
                    if !seq.is_empty() {
                        st.id = Some(format!("{}/{seq}", st.id.as_deref().unwrap_or("")));
                    }
                }
            }
            "60F" | "60M" | "62F" | "62M" | "34F" => {
                let st = current.get_or_insert_with(StatementInfo::default);
                if st.currency.is_none() {
                    st.currency = Some(balance_currency(tag, value).map_err(|m| err(line, m))?);
                }
            }
            "61" => {
                let st = current.get_or_insert_with(StatementInfo::default);
                let ccy = st
                    .currency
                    .ok_or_else(|| err(line, "statement line before any balance giving the currency (:60F:)".into()))?;
                pending = Some(statement_line(value, ccy).map_err(|m| err(line, m))?);
            }
            _ => {}
        }
    }
    if let Some(tx) = pending.take() {
        sink.transaction(current.get_or_insert_with(StatementInfo::default), tx)?;
    }
    if let Some(s) = current.take() {
        statements += 1;
        sink.end_statement(s)?;
    }
    if statements == 0 {
        return Err(StreamError::Parse(ParseError::new(
            Format::Mt940,
            None,
            "no MT940 statement found (no :20: field)",
        )));
    }
    Ok(())
}

/// `NL54INGB0001234500EUR` → `NL54INGB0001234500`; `0800003200000001610722 EUR` → the number.
fn strip_currency_suffix(v: &str) -> &str {
    let v = v.trim();
    let b = v.as_bytes();
    // Three ASCII letters at the end: the cut is on a character boundary.
    if b.len() > 3 && b[b.len() - 3..].iter().all(u8::is_ascii_uppercase) {
        let (head, tail) = v.split_at(v.len() - 3);
        if Currency::parse(tail).is_ok() {
            return head.trim();
        }
    }
    v
}

/// Currency of a balance field: `C150226EUR0100,00`, or MT942's `:34F:EURD0,00`.
fn balance_currency(tag: &str, v: &str) -> Result<Currency, String> {
    let v = v.trim();
    let code = if tag == "34F" { v.get(..3) } else { v.get(7..10) };
    let code = code.ok_or_else(|| format!("balance `{}` is too short", quote(v)))?;
    Currency::parse(code).map_err(|e| format!("balance `{}`: {e}", quote(v)))
}

/// Parses a `:61:` statement line.
fn statement_line(v: &str, ccy: Currency) -> Result<Transaction, String> {
    let (first, details) = match v.split_once('\n') {
        Some((a, b)) => (a.trim_end(), Some(b.trim())),
        None => (v.trim_end(), None),
    };
    let b = first.as_bytes();
    let bad = |what: &str| format!("statement line `{}`: {what}", quote(first));
    let num = |s: &str| s.parse::<u32>().ok();
    if b.len() < 6 || !b[..6].iter().all(u8::is_ascii_digit) {
        return Err(bad("expected a value date YYMMDD"));
    }
    let yy = num(&first[0..2]).ok_or_else(|| bad("bad year"))? as i32;
    let year = if yy < 80 { 2000 + yy } else { 1900 + yy };
    let value_date = clamp_date(year, num(&first[2..4]).unwrap_or(0), num(&first[4..6]).unwrap_or(0))
        .ok_or_else(|| bad("invalid value date"))?;
    let mut i = 6;
    let mut booking_date = value_date;
    if b.len() >= i + 4 && b[i..i + 4].iter().all(u8::is_ascii_digit) {
        let (m, d) = (num(&first[i..i + 2]).unwrap_or(0), num(&first[i + 2..i + 4]).unwrap_or(0));
        let mut y = value_date.year();
        if m == 12 && value_date.month() == 1 {
            y -= 1;
        } else if m == 1 && value_date.month() == 12 {
            y += 1;
        }
        booking_date = clamp_date(y, m, d).ok_or_else(|| bad("invalid entry date"))?;
        i += 4;
    }
    let (direction, reversal) = match b.get(i..i + 2) {
        Some(b"RC") => (Direction::Debit, true),
        Some(b"RD") => (Direction::Credit, true),
        _ => match b.get(i) {
            Some(b'C') => (Direction::Credit, false),
            Some(b'D') => (Direction::Debit, false),
            _ => return Err(bad("expected C, D, RC or RD after the dates")),
        },
    };
    i += if reversal { 2 } else { 1 };
    if b.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
        i += 1; // funds code (third letter of the currency)
    }
    let amount_end =
        first[i..].find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.')).map_or(first.len(), |p| i + p);
    let amount_text = &first[i..amount_end];
    if amount_text.is_empty() {
        return Err(bad("missing amount"));
    }
    let normalized = amount_text.replace(',', ".");
    let normalized = if normalized.ends_with('.') { format!("{normalized}0") } else { normalized };
    let amount = super::amount(&normalized, ccy, DecimalStyle::Dot).map_err(|e| bad(&e))?;
    let rest = &first[amount_end..];
    // Transaction type (N/F/S + 3 characters), then references. Counted in
    // characters: a non-ASCII character there must not split the text.
    let refs = rest.char_indices().nth(4).map_or("", |(at, _)| &rest[at..]);
    let (own_ref, bank_ref) = match refs.split_once("//") {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (refs.trim(), None),
    };
    let clean = |s: &str| (!s.is_empty() && s != "NONREF").then(|| s.to_string());
    Ok(Transaction {
        line: BankLine {
            booking_date,
            value_date: Some(value_date),
            amount,
            direction,
            reversal,
            counterparty_name: None,
            counterparty_iban: None,
            remittance: details.and_then(|d| join_text([d])).filter(|d| !d.starts_with("/TRCD/")),
            structured_ref: None,
            end_to_end_id: None,
            bank_ref: bank_ref.and_then(clean).or_else(|| clean(own_ref)),
        },
        charges: None,
    })
}

/// Applies the `:86:` information to its transaction.
fn apply_info(tx: &mut BankLine, info: &str) {
    // Continuation lines are a wrap of one field: join them without spaces.
    let flat: Cow<'_, str> = if info.contains('\n') { info.replace('\n', "").into() } else { info.into() };
    let b = flat.as_bytes();
    // What the `:61:` supplementary details put in the remittance: not a
    // purpose, it must not hide the `:86:` one (`/SEPA INSTANT`).
    let details = tx.remittance.clone();
    // `NNN?…`: three digits then an ASCII separator (so the text after it starts at byte 4).
    if b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3].is_ascii_punctuation() {
        german_subfields(tx, &flat, b[3] as char);
    } else if flat.trim_start().starts_with('/') && slash_tags(tx, &flat) {
        // Dutch/SEPA slash tags handled; the SWIFT keys (`/ORDP/`, `/BENM/`,
        // `/RMTINF/`) may still name the counterparty and the purpose.
        if let Some(n) = narrative::read(info, Some(INFO_WIDTH), tx.direction) {
            if tx.counterparty_name.is_none() {
                tx.counterparty_name = n.name;
            }
            if tx.counterparty_iban.is_none() {
                tx.counterparty_iban = n.iban;
            }
            if tx.end_to_end_id.is_none() {
                tx.end_to_end_id = n.end_to_end_id;
            }
            if tx.remittance == details {
                tx.remittance = join_text([n.purpose.as_deref().unwrap_or(""), details.as_deref().unwrap_or("")]);
            }
        }
    } else if let Some(details) = narrative_details(tx, info) {
        // A keyed free text (`VIR SEPA RECU /DE … /MOTIF … /IBAN …`): the
        // remittance is its purpose, then the :61: supplementary details.
        tx.remittance = join_text([tx.remittance.as_deref().unwrap_or(""), details.as_deref().unwrap_or("")]);
    } else if let Some(t) = join_text(info.lines()) {
        tx.remittance = Some(match tx.remittance.take() {
            Some(r) => format!("{t} {r}"),
            None => t,
        });
    }
}

/// Width of a `:86:` line: a line this long was cut by the bank and
/// continues on the next without a space.
const INFO_WIDTH: usize = 65;

/// Reads a free-text `:86:` with [`narrative::fill`]. When a layout is
/// recognised, returns the `:61:` supplementary details that were in the
/// remittance before (to keep after the purpose).
fn narrative_details(tx: &mut BankLine, info: &str) -> Option<Option<String>> {
    let before = tx.remittance.clone();
    narrative::fill(tx, info, Some(INFO_WIDTH)).then_some(before)
}

/// `106?00KARTENZAHLUNG?20SVWZ+…?21…?30BIC?31IBAN?32NAME`, and the Polish
/// variant with `~` (`034~00…~20…~25` purpose, `~27`/`~28` the
/// counterparty's name, `~29` its address, `~30` its bank, `~31` its account,
/// `~38` its IBAN).
fn german_subfields(tx: &mut BankLine, flat: &str, sep: char) {
    // Polish banks (PKO BP, mBank, Pekao…) write the name in `~27`/`~28` where
    // the German layout continues the purpose, and the IBAN in `~38`.
    let polish = sep == '~';
    let mut purpose = String::new();
    let mut name = String::new();
    for part in flat[4..].split(sep) {
        if part.len() < 2 || !part.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
            continue;
        }
        let (code, value) = part.split_at(2);
        match code.parse::<u8>().unwrap_or(0) {
            27 | 28 if polish => name.push_str(value),
            29 if polish => {}
            31 if polish => {}
            38 if polish => tx.counterparty_iban = account_id(value).or(tx.counterparty_iban.take()),
            20..=29 | 60..=63 => purpose.push_str(value),
            31 => tx.counterparty_iban = account_id(value).or(tx.counterparty_iban.take()),
            32 | 33 => name.push_str(value),
            _ => {}
        }
    }
    if !name.trim().is_empty() {
        tx.counterparty_name = join_text([name.as_str()]);
    }
    let sepa = sepa_tags(&purpose);
    if let Some(e) = sepa.iter().find(|(t, _)| *t == "EREF").map(|(_, v)| v.clone()) {
        tx.end_to_end_id = Some(e).filter(|e| e != "NOTPROVIDED");
    }
    if let Some(n) = sepa.iter().find(|(t, _)| *t == "ABWA").map(|(_, v)| v.clone()) {
        tx.counterparty_name.get_or_insert(n);
    }
    let remittance = sepa.iter().find(|(t, _)| *t == "SVWZ").map(|(_, v)| v.clone()).unwrap_or(purpose);
    tx.remittance = join_text([remittance.as_str()]).or(tx.remittance.take());
}

/// Splits `EREF+abc SVWZ+text ABWA+name` into tagged values (one scan for `+`).
fn sepa_tags(s: &str) -> Vec<(&'static str, String)> {
    const TAGS: [&str; 11] = ["EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE", "IBAN", "BIC", "COAM"];
    let mut marks: Vec<(usize, &'static str)> = Vec::new();
    for (plus, _) in s.match_indices('+') {
        if let Some(t) = TAGS
            .iter()
            .find(|t| plus >= t.len() && s.is_char_boundary(plus - t.len()) && &s[plus - t.len()..plus] == **t)
        {
            marks.push((plus - t.len(), t));
        }
    }
    let mut out = Vec::with_capacity(marks.len());
    for (i, (pos, t)) in marks.iter().enumerate() {
        let start = pos + t.len() + 1;
        let end = marks.get(i + 1).map_or(s.len(), |m| m.0);
        if start <= end {
            out.push((*t, s[start..end].trim().to_string()));
        }
    }
    out
}

/// Dutch slash tags. Returns false when no known tag was found.
fn slash_tags(tx: &mut BankLine, flat: &str) -> bool {
    const TAGS: [&str; 26] = [
        "TRTP", "EREF", "REMI", "NAME", "IBAN", "BIC", "ORDP", "BENM", "CNTP", "CSID", "MARF", "PURP", "ULTC", "ULTD",
        "RTRN", "PREF", "ISDT", "ADDR", "SUM", "OCMT", "CHGS", "ID", "TRCD", "BUSP", "ULTB", "ACCW",
    ];
    // Positions of `/TAG/` tokens.
    let mut marks: Vec<(usize, &str)> = Vec::new();
    let bytes = flat.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/'
            && let Some(t) =
                TAGS.iter().find(|t| flat[i + 1..].starts_with(*t) && flat[i + 1 + t.len()..].starts_with('/'))
        {
            marks.push((i, t));
            i += t.len() + 2;
            continue;
        }
        i += 1;
    }
    if marks.is_empty() {
        return false;
    }
    let value = |k: usize| {
        let start = marks[k].0 + marks[k].1.len() + 2;
        let end = marks.get(k + 1).map_or(flat.len(), |m| m.0);
        flat.get(start..end.max(start)).unwrap_or("").trim_matches('/').trim().to_string()
    };
    for (k, (_, tag)) in marks.iter().enumerate() {
        let v = value(k);
        match *tag {
            "EREF" if !v.is_empty() && v != "NOTPROVIDED" => tx.end_to_end_id = Some(v),
            "REMI" => {
                if let Some(r) = v.strip_prefix("STRD/CUR/").or_else(|| v.strip_prefix("STRD/")) {
                    tx.structured_ref = Some(r.trim_matches('/').to_string());
                    tx.remittance = join_text([r]);
                } else {
                    let r = v.strip_prefix("USTD//").or_else(|| v.strip_prefix("USTD/")).unwrap_or(&v);
                    tx.remittance = join_text([r]);
                }
            }
            "NAME" if tx.counterparty_name.is_none() && !v.is_empty() => tx.counterparty_name = join_text([v.as_str()]),
            "IBAN" if !v.is_empty() => tx.counterparty_iban = account_id(&v),
            "CNTP" => {
                // ING: /CNTP/IBAN/BIC/NAME/CITY/
                let parts: Vec<&str> = v.split('/').collect();
                if let Some(iban) = parts.first().filter(|p| !p.is_empty()) {
                    tx.counterparty_iban = account_id(iban);
                }
                if let Some(name) = parts.get(2).filter(|p| !p.is_empty()) {
                    tx.counterparty_name = join_text([*name]);
                }
            }
            _ => {}
        }
    }
    true
}
