//! OFX 1.x (SGML, leaf elements left unclosed) and 2.x (XML) bank and
//! credit-card statements. One tolerant tag scanner reads both: a tag followed
//! by text is a leaf with that value, a tag followed by another tag opens an
//! aggregate. Investment statements and sign-on-only files are rejected.

use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::{BankLine, Direction};

use super::{
    Format, ParseError, ParsedFile, Statement, Transaction, account_id, clamp_date, decode_text, join_text, line_of,
    narrative, quote,
};

#[derive(Default)]
struct Trn {
    line: usize,
    trntype: Option<String>,
    posted: Option<String>,
    user: Option<String>,
    avail: Option<String>,
    amount: Option<String>,
    fitid: Option<String>,
    refnum: Option<String>,
    checknum: Option<String>,
    name: Option<String>,
    memo: Option<String>,
    currency: Option<String>,
    account_to: Option<String>,
}

/// Deepest nesting of aggregates accepted (real files use about 10): the
/// stack is searched at each closing tag, so it must stay small.
const MAX_DEPTH: usize = 256;

/// Parses an OFX file.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    let text = decode_text(bytes);
    let text: &str = &text;
    let start = text
        .find("<OFX>")
        .or_else(|| text.find("<ofx>"))
        .ok_or_else(|| ParseError::new(Format::Ofx, None, "no <OFX> element: not an OFX document"))?;
    let mut statements = Vec::new();
    let mut stmt: Option<Statement> = None;
    let mut trn: Option<Trn> = None;
    let mut path: Vec<String> = Vec::new();
    let mut saw_invest = false;
    let mut pos = start;
    let bytes = text.as_bytes();
    while let Some(lt) = text[pos..].find('<').map(|p| pos + p) {
        let gt = text[lt..]
            .find('>')
            .map(|p| lt + p)
            .ok_or_else(|| ParseError::new(Format::Ofx, Some(line_of(text, lt)), "unterminated tag"))?;
        let raw_tag = &text[lt + 1..gt];
        pos = gt + 1;
        if raw_tag.starts_with('?') || raw_tag.starts_with('!') {
            continue;
        }
        let line = lt; // byte offset; made a line only for errors
        if let Some(name) = raw_tag.strip_prefix('/') {
            let name = name.trim().to_ascii_uppercase();
            // Close back to the matching aggregate (SGML leaves are never on the stack).
            if let Some(i) = path.iter().rposition(|p| *p == name) {
                path.truncate(i);
            }
            match name.as_str() {
                "STMTTRN" => finish_trn(trn.take(), &mut stmt, line).map_err(|e| with_line(e, text))?,
                "STMTRS" | "CCSTMTRS" => {
                    finish_trn(trn.take(), &mut stmt, line).map_err(|e| with_line(e, text))?;
                    statements.extend(stmt.take());
                }
                _ => {}
            }
            continue;
        }
        let name = raw_tag.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let value_end = text[pos..].find('<').map_or(text.len(), |p| pos + p);
        let value = text[pos..value_end].trim();
        let is_leaf =
            !value.is_empty() || (value_end < bytes.len() && text[value_end..].starts_with(&format!("</{name}>")));
        if !is_leaf {
            match name.as_str() {
                "STMTRS" | "CCSTMTRS" => {
                    stmt = Some(Statement { id: None, account: None, currency: None, transactions: Vec::new() });
                }
                "STMTTRN" => {
                    finish_trn(trn.take(), &mut stmt, line).map_err(|e| with_line(e, text))?;
                    trn = Some(Trn { line, ..Default::default() });
                }
                "INVSTMTRS" | "INVBANKTRAN" | "INVTRANLIST" => saw_invest = true,
                _ => {}
            }
            if path.len() >= MAX_DEPTH {
                return Err(ParseError::new(
                    Format::Ofx,
                    Some(line_of(text, lt)),
                    format!("aggregates nested deeper than {MAX_DEPTH} levels"),
                ));
            }
            path.push(name);
            continue;
        }
        let value = decode_entities(value);
        let parent = path.last().map(String::as_str).unwrap_or("");
        if let Some(t) = trn.as_mut() {
            let v = Some(value.clone());
            match (name.as_str(), parent) {
                ("TRNTYPE", _) => t.trntype = v,
                ("DTPOSTED", _) => t.posted = v,
                ("DTUSER", _) => t.user = v,
                ("DTAVAIL", _) => t.avail = v,
                ("TRNAMT", _) => t.amount = v,
                ("FITID", _) => t.fitid = v,
                ("REFNUM", _) => t.refnum = v,
                ("CHECKNUM", _) => t.checknum = v,
                ("NAME", _) => t.name = v,
                ("MEMO", _) => t.memo = v,
                ("CURSYM", "CURRENCY" | "ORIGCURRENCY") => t.currency = v,
                ("ACCTID", "BANKACCTTO" | "CCACCTTO") => t.account_to = v,
                _ => {}
            }
        } else if let Some(s) = stmt.as_mut() {
            match (name.as_str(), parent) {
                ("CURDEF", _) => s.currency = Currency::parse(&value).ok(),
                ("ACCTID", "BANKACCTFROM" | "CCACCTFROM") => s.account = account_id(&value),
                _ => {}
            }
        }
    }
    finish_trn(trn.take(), &mut stmt, text.len()).map_err(|e| with_line(e, text))?;
    statements.extend(stmt.take());
    if statements.is_empty() {
        let why = if saw_invest {
            "an investment statement (INVSTMTRS): only bank and credit-card statements are supported"
        } else {
            "no bank or credit-card statement (STMTRS/CCSTMTRS) in this OFX file"
        };
        return Err(ParseError::new(Format::Ofx, None, why));
    }
    Ok(ParsedFile { format: Format::Ofx, statements })
}

/// Transaction errors carry a byte offset in `line`: make it a line.
fn with_line(mut e: ParseError, text: &str) -> ParseError {
    e.line = e.line.map(|offset| line_of(text, offset));
    e
}

fn decode_entities(v: &str) -> String {
    if !v.contains('&') {
        return v.to_string();
    }
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// `20130525225731.258[-5:EST]` → 2013-05-25.
fn ofx_date(s: &str) -> Option<chrono::NaiveDate> {
    let d = s.trim().get(..8)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    clamp_date(d[..4].parse().ok()?, d[4..6].parse().ok()?, d[6..8].parse().ok()?)
}

fn finish_trn(trn: Option<Trn>, stmt: &mut Option<Statement>, _line: usize) -> Result<(), ParseError> {
    let Some(t) = trn else { return Ok(()) };
    let err = |m: String| ParseError::new(Format::Ofx, Some(t.line), m);
    // Cash movements inside investment statements (INVBANKTRAN) are not bank statement lines.
    let Some(st) = stmt.as_mut() else { return Ok(()) };
    let ccy = match t.currency.as_deref() {
        Some(c) => Currency::parse(c).map_err(|e| err(e.to_string()))?,
        None => st.currency.ok_or_else(|| err("no currency (CURDEF) for this statement".into()))?,
    };
    let amount_text = t.amount.as_deref().ok_or_else(|| err("transaction without TRNAMT".into()))?;
    let signed = Money::parse(amount_text, ccy, DecimalStyle::Auto).map_err(|e| err(format!("TRNAMT: {e}")))?;
    let posted = t.posted.as_deref().or(t.user.as_deref()).ok_or_else(|| err("transaction without DTPOSTED".into()))?;
    let booking_date = ofx_date(posted).ok_or_else(|| err(format!("invalid date `{}`", quote(posted))))?;
    let value_date = t.avail.as_deref().and_then(ofx_date);
    let direction = if signed.minor < 0 || (signed.minor == 0 && t.trntype.as_deref() == Some("DEBIT")) {
        Direction::Debit
    } else {
        Direction::Credit
    };
    st.transactions.push(Transaction {
        line: BankLine {
            booking_date,
            value_date,
            amount: Money::new(signed.minor.abs(), ccy),
            direction,
            reversal: false,
            counterparty_name: t.name.as_deref().and_then(|n| join_text([n])),
            counterparty_iban: t.account_to.as_deref().and_then(account_id),
            remittance: t.memo.as_deref().and_then(|m| join_text([m])),
            structured_ref: None,
            end_to_end_id: None,
            bank_ref: t.fitid.or(t.refnum).or(t.checknum),
        },
        charges: None,
    });
    if let Some(tx) = st.transactions.last_mut() {
        read_narrative(&mut tx.line, t.name.as_deref(), t.memo.as_deref());
    }
    Ok(())
}

/// Width of an OFX `NAME`: a full one continues in `MEMO` without a space.
const NAME_WIDTH: usize = 32;

/// French banks write `NAME`/`MEMO` as one narrative (`VIR SEPA RECU /DE ACME`
/// then `/MOTIF FA-12 /IBAN …`): when [`narrative`] recognises a layout in
/// them, its name replaces the `NAME` (which was the narrative's start) and
/// its purpose the `MEMO`.
fn read_narrative(line: &mut BankLine, name: Option<&str>, memo: Option<&str>) {
    let raw = match (name, memo) {
        (Some(n), Some(m)) => format!("{}\n{}", n.trim_start(), m.trim()),
        (Some(t), None) | (None, Some(t)) => t.trim().to_string(),
        (None, None) => return,
    };
    let Some(n) = narrative::read(&raw, Some(NAME_WIDTH), line.direction) else { return };
    if n.name.is_some() {
        line.counterparty_name = n.name;
    }
    if line.counterparty_iban.is_none() {
        line.counterparty_iban = n.iban;
    }
    if line.end_to_end_id.is_none() {
        line.end_to_end_id = n.end_to_end_id;
    }
    line.remittance = n.purpose;
}
