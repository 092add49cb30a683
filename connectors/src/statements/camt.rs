//! ISO 20022 camt.052 (account report), camt.053 (statement) and camt.054
//! (debit/credit notification), any version: the namespace version is not
//! checked, elements are matched by local name, unknown elements are skipped.
//!
//! Streaming pull parser over the document (quick-xml's buffered reader over
//! a [`BufRead`], one reused event buffer): memory does not grow with the
//! document; each entry is handed to the sink when it closes. Element names
//! are mapped to a small [`Tag`] enum so paths are compared without allocating.
//! An entry (`Ntry`) with one or no `TxDtls` gives one transaction with the
//! entry's booked amount; a batch entry with several `TxDtls` gives one
//! transaction per detail when every detail has an amount, else one
//! transaction for the entry with the details' remittances joined.

use std::io::{BufRead, Read};

use quick_xml::Reader;
use quick_xml::events::Event;

use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::{BankLine, Direction};

use super::stream::{Sink, StatementInfo, StreamError};
use super::{
    Format, ParseError, ParsedFile, Transaction, account_id, collect_text, decode_text, iso_date, join_text, narrative,
    quote,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Document,
    Stmt,
    Id,
    Acct,
    Iban,
    Othr,
    Ccy,
    Ntry,
    Amt,
    CdtDbtInd,
    RvslInd,
    BookgDt,
    ValDt,
    Dt,
    DtTm,
    AcctSvcrRef,
    NtryRef,
    AddtlNtryInf,
    TxDtls,
    Refs,
    EndToEndId,
    TxId,
    AmtDtls,
    TxAmt,
    InstdAmt,
    RltdPties,
    Dbtr,
    UltmtDbtr,
    Cdtr,
    UltmtCdtr,
    DbtrAcct,
    CdtrAcct,
    Pty,
    Nm,
    RmtInf,
    Ustrd,
    CdtrRefInf,
    Ref,
    RfrdDocInf,
    Nb,
    AddtlRmtInf,
    AddtlTxInf,
    Chrgs,
    Rcrd,
    TtlChrgsAndTaxAmt,
    ToDtTm,
    CreDtTm,
    Other,
}

/// An element name without its namespace prefix (`ns:Ntry` → `Ntry`): a
/// plain scan of the few bytes of a name, cheaper here than quick-xml's
/// `local_name` and its general searcher, on every element of the file.
fn local_name(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// The element's tag: matched on the name's length first (one or a few
/// comparisons per element instead of a scan of every name).
fn tag(name: &[u8]) -> Tag {
    match name.len() {
        2 => match name {
            b"Id" => Tag::Id,
            b"Dt" => Tag::Dt,
            b"Nm" => Tag::Nm,
            b"Nb" => Tag::Nb,
            _ => Tag::Other,
        },
        3 => match name {
            b"Rpt" => Tag::Stmt,
            b"Ccy" => Tag::Ccy,
            b"Amt" => Tag::Amt,
            b"Pty" => Tag::Pty,
            b"Ref" => Tag::Ref,
            _ => Tag::Other,
        },
        4 => match name {
            b"Stmt" => Tag::Stmt,
            b"Acct" => Tag::Acct,
            b"IBAN" => Tag::Iban,
            b"Othr" => Tag::Othr,
            b"Ntry" => Tag::Ntry,
            b"DtTm" => Tag::DtTm,
            b"Refs" => Tag::Refs,
            b"TxId" => Tag::TxId,
            b"Dbtr" => Tag::Dbtr,
            b"Cdtr" => Tag::Cdtr,
            b"Rcrd" => Tag::Rcrd,
            _ => Tag::Other,
        },
        5 => match name {
            b"ValDt" => Tag::ValDt,
            b"TxAmt" => Tag::TxAmt,
            b"Ustrd" => Tag::Ustrd,
            b"Chrgs" => Tag::Chrgs,
            _ => Tag::Other,
        },
        6 => match name {
            b"Ntfctn" => Tag::Stmt,
            b"TxDtls" => Tag::TxDtls,
            b"RmtInf" => Tag::RmtInf,
            b"ToDtTm" => Tag::ToDtTm,
            _ => Tag::Other,
        },
        7 => match name {
            b"RvslInd" => Tag::RvslInd,
            b"BookgDt" => Tag::BookgDt,
            b"NtryRef" => Tag::NtryRef,
            b"AmtDtls" => Tag::AmtDtls,
            b"CreDtTm" => Tag::CreDtTm,
            _ => Tag::Other,
        },
        8 => match name {
            b"Document" => Tag::Document,
            b"InstdAmt" => Tag::InstdAmt,
            b"DbtrAcct" => Tag::DbtrAcct,
            b"CdtrAcct" => Tag::CdtrAcct,
            _ => Tag::Other,
        },
        9 => match name {
            b"CdtDbtInd" => Tag::CdtDbtInd,
            b"RltdPties" => Tag::RltdPties,
            b"UltmtDbtr" => Tag::UltmtDbtr,
            b"UltmtCdtr" => Tag::UltmtCdtr,
            _ => Tag::Other,
        },
        10 => match name {
            b"EndToEndId" => Tag::EndToEndId,
            b"CdtrRefInf" => Tag::CdtrRefInf,
            b"RfrdDocInf" => Tag::RfrdDocInf,
            b"AddtlTxInf" => Tag::AddtlTxInf,
            _ => Tag::Other,
        },
        11 => match name {
            b"AcctSvcrRef" => Tag::AcctSvcrRef,
            b"AddtlRmtInf" => Tag::AddtlRmtInf,
            _ => Tag::Other,
        },
        12 => match name {
            b"AddtlNtryInf" => Tag::AddtlNtryInf,
            _ => Tag::Other,
        },
        17 => match name {
            b"TtlChrgsAndTaxAmt" => Tag::TtlChrgsAndTaxAmt,
            _ => Tag::Other,
        },
        _ => Tag::Other,
    }
}

/// An amount as written, with its currency attribute.
#[derive(Debug, Clone, Default)]
struct RawAmount {
    text: String,
    ccy: Option<String>,
    /// 1-based line, for an error message.
    line: usize,
}

#[derive(Debug, Default)]
struct Tx {
    amount: Option<RawAmount>,
    /// 3: TxDtls/Amt, 2: AmtDtls/TxAmt, 1: AmtDtls/InstdAmt.
    amount_rank: u8,
    cdi: Option<Direction>,
    e2e: Option<String>,
    acct_svcr_ref: Option<String>,
    tx_id: Option<String>,
    dbtr: Option<String>,
    ultmt_dbtr: Option<String>,
    cdtr: Option<String>,
    ultmt_cdtr: Option<String>,
    dbtr_iban: Option<String>,
    cdtr_iban: Option<String>,
    ustrd: Vec<String>,
    cdtr_ref: Option<String>,
    doc_numbers: Vec<String>,
    addtl_rmt: Vec<String>,
    addtl_tx_inf: Option<String>,
    charges: Vec<RawAmount>,
}

#[derive(Debug, Default)]
struct Entry {
    /// 1-based line of the entry's start, for an error message.
    line: usize,
    amount: Option<RawAmount>,
    cdi: Option<Direction>,
    reversal: bool,
    booking: Option<chrono::NaiveDate>,
    value: Option<chrono::NaiveDate>,
    acct_svcr_ref: Option<String>,
    ntry_ref: Option<String>,
    addtl_info: Option<String>,
    charges: Vec<RawAmount>,
    txs: Vec<Tx>,
}

#[derive(Debug, Default)]
struct Stmt {
    /// End of the period or creation date: the date of entries that give none.
    date: Option<chrono::NaiveDate>,
    info: StatementInfo,
}

/// Deepest element nesting accepted (real statements use about 12): paths
/// are searched on the element stack, so it must stay small.
const MAX_DEPTH: usize = 256;

/// Parses a camt.052/053/054 document.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, ParseError> {
    collect_text(Format::Camt, &decode_text(bytes), |text, sink| stream(text, sink))
}

/// The input through a buffer of its own, whose line breaks are counted
/// only when a line is asked for (an error's, an entry's or an amount's), each
/// byte once. quick-xml's position is the number of bytes it consumed.
struct Counted<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Line breaks of the input before `buf[counted..]`.
    line_breaks: usize,
    counted: usize,
}

impl<R: Read> Counted<R> {
    fn new(inner: R) -> Self {
        Counted { inner, buf: vec![0; 64 * 1024].into_boxed_slice(), pos: 0, filled: 0, line_breaks: 0, counted: 0 }
    }

    /// Line breaks of the input consumed so far.
    fn line_breaks(&mut self) -> usize {
        self.line_breaks += count_line_breaks(&self.buf[self.counted..self.pos]);
        self.counted = self.pos;
        self.line_breaks
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> Counted<R> {
    /// Reads the next block of the input (the buffer is consumed).
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> std::io::Result<()> {
        self.line_breaks();
        self.filled = loop {
            match self.inner.read(&mut self.buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        (self.pos, self.counted) = (0, 0);
        Ok(())
    }
}

impl<R: Read> BufRead for Counted<R> {
    // quick-xml asks for the buffer at every step of its scan: the common
    // case (bytes left) is inlined there, the refill is not.
    #[inline]
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.refill()?;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

/// 1-based line of byte position `pos`, in the event that started at `start`
/// and whose bytes (all of them, up to the position consumed, after
/// `line_breaks` line breaks) are `event`.
fn line_in_event(pos: u64, start: u64, line_breaks: usize, event: &[u8]) -> usize {
    if pos < start {
        // Only a position never set (0) is before the event.
        return if pos == 0 { 1 } else { line_breaks + 1 };
    }
    let within = ((pos - start) as usize).min(event.len());
    line_breaks - count_line_breaks(&event[within..]).min(line_breaks) + 1
}

/// Number of `\n` bytes (by blocks whose counts fit a byte: vectorized).
fn count_line_breaks(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(255);
    let mut n = 0;
    for block in &mut blocks {
        n += usize::from(block.iter().fold(0u8, |acc, b| acc + u8::from(*b == b'\n')));
    }
    n + blocks.remainder().iter().filter(|b| **b == b'\n').count()
}

/// Streams a camt.052/053/054 document (UTF-8 text) into `sink`, one
/// transaction per finished entry (or per detail of a batch entry).
pub(crate) fn stream<R: BufRead, S: Sink + ?Sized>(input: R, sink: &mut S) -> Result<(), StreamError> {
    let mut reader = Reader::from_reader(Counted::new(input));
    // The bytes of the current event (reused: no allocation per event).
    let mut event_buf: Vec<u8> = Vec::with_capacity(1024);
    let err = |line: usize, m: String| StreamError::Parse(ParseError::new(Format::Camt, Some(line), m));
    let mut stack: Vec<Tag> = Vec::with_capacity(32);
    let mut buf = String::new();
    let mut amt_ccy: Option<String> = None;
    let mut statements = 0usize;
    let mut stmt: Option<Stmt> = None;
    let mut entry: Option<Entry> = None;
    let mut saw_document = false;
    let mut header_date: Option<chrono::NaiveDate> = None;
    let mut out: Vec<Transaction> = Vec::new();
    loop {
        event_buf.clear();
        let start = reader.buffer_position();
        let event = match reader.read_event_into(&mut event_buf) {
            Ok(event) => event,
            Err(e) => {
                let breaks = reader.get_mut().line_breaks();
                let line = line_in_event(reader.error_position(), start, breaks, &event_buf);
                return Err(err(line, format!("malformed XML: {e}")));
            }
        };
        match event {
            Event::Start(e) => {
                // The line of the position after this event, counted only when needed.
                let mut line = || reader.get_mut().line_breaks() + 1;
                let t = tag(local_name(e.name().into_inner().as_bytes()));
                if stack.is_empty() {
                    check_root(&e, t).map_err(|m| err(line(), m))?;
                    saw_document = true;
                }
                buf.clear();
                match t {
                    Tag::Amt => {
                        amt_ccy = e.try_get_attribute("Ccy").ok().flatten().and_then(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.trim().to_string())
                        });
                    }
                    Tag::Stmt if stack.last() == Some(&Tag::Other) || stack.len() == 2 => {
                        if stmt.is_some() {
                            sink.abandon_statement();
                        }
                        stmt = Some(Stmt::default());
                    }
                    Tag::Ntry => entry = Some(Entry { line: line(), ..Default::default() }),
                    Tag::TxDtls => {
                        if let Some(en) = entry.as_mut() {
                            en.txs.push(Tx::default());
                        }
                    }
                    _ => {}
                }
                if stack.len() >= MAX_DEPTH {
                    let m = format!("elements nested deeper than {MAX_DEPTH} levels");
                    return Err(err(line(), m));
                }
                stack.push(t);
            }
            Event::Empty(e) => {
                if stack.is_empty() {
                    return Err(err(1, "empty document".into()));
                }
                let _ = e;
            }
            // Whitespace between tags is skipped; inside a value (after an entity) it is kept.
            Event::Text(t) if buf.is_empty() && t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) => {}
            Event::Text(t) => buf.push_str(&t.xml10_content()),
            Event::CData(c) => buf.push_str(&c.into_inner()),
            Event::GeneralRef(r) => buf.push_str(&resolve_entity(&r.into_inner())),
            Event::End(_) => {
                let mut line = || reader.get_mut().line_breaks() + 1;
                let Some(t) = stack.last().copied() else {
                    return Err(err(line(), "unexpected closing tag".into()));
                };
                let value = buf.trim();
                let n = stack.len();
                let parent = if n >= 2 { stack[n - 2] } else { Tag::Other };
                let grand = if n >= 3 { stack[n - 3] } else { Tag::Other };
                match (t, entry.as_mut()) {
                    (Tag::Ntry, Some(_)) => {
                        let en = entry.take().unwrap_or_default();
                        let st = stmt.as_mut().ok_or_else(|| err(line(), "entry outside a statement".into()))?;
                        let (cur, date) = (st.info.currency, st.date.or(header_date));
                        entry_transactions(en, cur, date, &mut out)?;
                        for tx in out.drain(..) {
                            sink.transaction(&st.info, tx)?;
                        }
                    }
                    (_, Some(en)) => {
                        // Only amounts keep their line (for an error about them later).
                        let line = if matches!(t, Tag::Amt | Tag::TtlChrgsAndTaxAmt) { line() } else { 0 };
                        on_entry_field(en, &stack, t, parent, grand, value, amt_ccy.take(), line)
                    }
                    (Tag::Stmt, None) => {
                        if let Some(s) = stmt.take() {
                            statements += 1;
                            sink.end_statement(s.info)?;
                        }
                    }
                    (Tag::Id, None) if parent == Tag::Stmt => {
                        if let Some(s) = stmt.as_mut() {
                            s.info.id = Some(value.to_string());
                        }
                    }
                    (Tag::Iban, None) if grand == Tag::Acct && n >= 4 && stack[n - 4] == Tag::Stmt => {
                        if let Some(s) = stmt.as_mut() {
                            s.info.account = account_id(value);
                        }
                    }
                    (Tag::Id, None) if parent == Tag::Othr && n >= 5 && stack[n - 4] == Tag::Acct => {
                        if let Some(s) = stmt.as_mut().filter(|s| s.info.account.is_none()) {
                            s.info.account = account_id(value);
                        }
                    }
                    (Tag::ToDtTm, None) if stmt.is_some() => {
                        if let Some(s) = stmt.as_mut() {
                            s.date = iso_date(value).or(s.date);
                        }
                    }
                    (Tag::CreDtTm, None) => match stmt.as_mut() {
                        Some(s) if parent == Tag::Stmt => s.date = s.date.or(iso_date(value)),
                        Some(_) => {}
                        None => header_date = header_date.or(iso_date(value)),
                    },
                    (Tag::Ccy, None) if parent == Tag::Acct && grand == Tag::Stmt => {
                        if let Some(s) = stmt.as_mut() {
                            s.info.currency = Currency::parse(value).ok();
                        }
                    }
                    _ => {}
                }
                buf.clear();
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_document {
        return Err(err(1, "no XML element found".into()));
    }
    if statements == 0 {
        return Err(StreamError::Parse(ParseError::new(
            Format::Camt,
            None,
            "no statement found (expected BkToCstmrStmt/Stmt, BkToCstmrDbtCdtNtfctn/Ntfctn or BkToCstmrAcctRpt/Rpt)",
        )));
    }
    Ok(())
}

/// The root must be an ISO 20022 camt `Document`.
fn check_root(e: &quick_xml::events::BytesStart<'_>, t: Tag) -> Result<(), String> {
    if t != Tag::Document {
        let name = e.local_name();
        return Err(format!("root element is <{}>, expected an ISO 20022 <Document>", quote(name.as_ref())));
    }
    let namespaces: Vec<String> = e
        .attributes()
        .flatten()
        .filter(|a| {
            let key = a.key.as_ref();
            key == "xmlns" || key.starts_with("xmlns:")
        })
        .map(|a| a.value.to_string())
        .collect();
    if namespaces.iter().any(|ns| ns.contains("camt.05")) {
        return Ok(());
    }
    match namespaces.iter().find(|ns| !ns.starts_with("http://www.w3.org/")) {
        Some(ns) => Err(format!("namespace `{}` is not an ISO 20022 camt.052/053/054 namespace", quote(ns))),
        None => Err("the <Document> has no camt namespace: cannot tell which ISO 20022 message it is".into()),
    }
}

fn resolve_entity(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        n => {
            let code = n
                .strip_prefix("#x")
                .or_else(|| n.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()));
            code.and_then(char::from_u32).map(String::from).unwrap_or_default()
        }
    }
}

fn direction(v: &str) -> Option<Direction> {
    match v {
        "CRDT" => Some(Direction::Credit),
        "DBIT" => Some(Direction::Debit),
        _ => None,
    }
}

/// Records the value of the element `t` that just closed inside an entry.
#[allow(clippy::too_many_arguments)]
fn on_entry_field(
    en: &mut Entry,
    stack: &[Tag],
    t: Tag,
    parent: Tag,
    grand: Tag,
    value: &str,
    ccy: Option<String>,
    line: usize,
) {
    let in_tx = stack.contains(&Tag::TxDtls);
    let some = || (!value.is_empty()).then(|| value.to_string());
    let raw = || RawAmount { text: value.to_string(), ccy: ccy.clone(), line };
    if !in_tx {
        match (t, parent) {
            (Tag::Amt, Tag::Ntry) => en.amount = Some(raw()),
            (Tag::CdtDbtInd, Tag::Ntry) => en.cdi = direction(value),
            (Tag::RvslInd, Tag::Ntry) => en.reversal = value.eq_ignore_ascii_case("true") || value == "1",
            (Tag::Dt | Tag::DtTm, Tag::BookgDt) if grand == Tag::Ntry => en.booking = iso_date(value),
            (Tag::Dt | Tag::DtTm, Tag::ValDt) if grand == Tag::Ntry => en.value = iso_date(value),
            (Tag::AcctSvcrRef, Tag::Ntry) => en.acct_svcr_ref = some(),
            (Tag::NtryRef, Tag::Ntry) => en.ntry_ref = some(),
            (Tag::AddtlNtryInf, Tag::Ntry) => en.addtl_info = some(),
            (Tag::Amt, Tag::Chrgs | Tag::Rcrd) | (Tag::TtlChrgsAndTaxAmt, Tag::Chrgs) => en.charges.push(raw()),
            _ => {}
        }
        return;
    }
    let Some(tx) = en.txs.last_mut() else { return };
    let party = stack.iter().rev().find_map(|s| match s {
        Tag::Dbtr | Tag::UltmtDbtr | Tag::Cdtr | Tag::UltmtCdtr | Tag::DbtrAcct | Tag::CdtrAcct => Some(*s),
        _ => None,
    });
    match (t, parent) {
        (Tag::Amt, Tag::TxDtls) if tx.amount_rank < 3 => {
            tx.amount = Some(raw());
            tx.amount_rank = 3;
        }
        (Tag::Amt, Tag::TxAmt) if tx.amount_rank < 2 => {
            tx.amount = Some(raw());
            tx.amount_rank = 2;
        }
        (Tag::Amt, Tag::InstdAmt) if tx.amount_rank < 1 => {
            tx.amount = Some(raw());
            tx.amount_rank = 1;
        }
        (Tag::Amt, Tag::Chrgs | Tag::Rcrd) | (Tag::TtlChrgsAndTaxAmt, Tag::Chrgs) => tx.charges.push(raw()),
        (Tag::CdtDbtInd, Tag::TxDtls) => tx.cdi = direction(value),
        (Tag::EndToEndId, Tag::Refs) if value != "NOTPROVIDED" => tx.e2e = some(),
        (Tag::AcctSvcrRef, Tag::Refs) => tx.acct_svcr_ref = some(),
        (Tag::TxId, Tag::Refs) => tx.tx_id = some(),
        (Tag::Nm, Tag::Dbtr | Tag::UltmtDbtr | Tag::Cdtr | Tag::UltmtCdtr | Tag::Pty)
            if stack.contains(&Tag::RltdPties) =>
        {
            match party {
                Some(Tag::Dbtr) => tx.dbtr = some(),
                Some(Tag::UltmtDbtr) => tx.ultmt_dbtr = some(),
                Some(Tag::Cdtr) => tx.cdtr = some(),
                Some(Tag::UltmtCdtr) => tx.ultmt_cdtr = some(),
                _ => {}
            }
        }
        (Tag::Iban, Tag::Id) => match party {
            Some(Tag::DbtrAcct) => tx.dbtr_iban = account_id(value),
            Some(Tag::CdtrAcct) => tx.cdtr_iban = account_id(value),
            _ => {}
        },
        (Tag::Ustrd, Tag::RmtInf) => tx.ustrd.push(value.to_string()),
        (Tag::Ref, Tag::CdtrRefInf) => tx.cdtr_ref = some(),
        (Tag::Nb, Tag::RfrdDocInf) => tx.doc_numbers.push(value.to_string()),
        (Tag::AddtlRmtInf, _) => tx.addtl_rmt.push(value.to_string()),
        (Tag::AddtlTxInf, Tag::TxDtls) => tx.addtl_tx_inf = some(),
        _ => {}
    }
}

fn money(raw: &RawAmount, fallback: Option<Currency>) -> Result<Money, ParseError> {
    let at = |m: String| ParseError::new(Format::Camt, Some(raw.line), m);
    let ccy = match raw.ccy.as_deref() {
        Some(c) => Currency::parse(c).map_err(|e| at(e.to_string()))?,
        None => fallback.ok_or_else(|| at("amount without currency (no Ccy attribute, no account currency)".into()))?,
    };
    super::amount(&raw.text, ccy, DecimalStyle::Dot).map_err(|e| at(format!("amount: {e}")))
}

fn charges(list: &[RawAmount], fallback: Option<Currency>) -> Result<Option<Money>, ParseError> {
    let mut total: Option<Money> = None;
    for c in list {
        let m = money(c, fallback)?;
        total = Some(match total {
            None => m,
            Some(t) => t.checked_add(m).unwrap_or(t),
        });
    }
    Ok(total)
}

/// Turns a finished entry into transactions.
fn entry_transactions(
    en: Entry,
    stmt_ccy: Option<Currency>,
    stmt_date: Option<chrono::NaiveDate>,
    out: &mut Vec<Transaction>,
) -> Result<(), ParseError> {
    let at = |m: &str| ParseError::new(Format::Camt, Some(en.line), m.to_string());
    let raw = en.amount.as_ref().ok_or_else(|| at("entry without <Amt>"))?;
    let amount = money(raw, stmt_ccy)?;
    let dir = en.cdi.ok_or_else(|| at("entry without <CdtDbtInd> (CRDT or DBIT)"))?;
    let booking = en
        .booking
        .or(en.value)
        .or(stmt_date)
        .ok_or_else(|| at("entry without booking or value date, in a statement without dates"))?;
    let entry_charges = charges(&en.charges, Some(amount.currency))?;
    let per_detail = en.txs.len() > 1 && en.txs.iter().all(|t| t.amount.is_some());
    if per_detail {
        for tx in &en.txs {
            let amt = money(tx.amount.as_ref().ok_or_else(|| at("detail without amount"))?, Some(amount.currency))?;
            let d = tx.cdi.unwrap_or(dir);
            out.push(build(&en, Some(tx), amt, d, booking, charges(&tx.charges, Some(amt.currency))?));
        }
    } else if en.txs.len() > 1 {
        // A batch whose details carry no amounts: one transaction, remittances joined.
        let mut merged = Tx::default();
        for tx in &en.txs {
            merged.ustrd.extend(tx.ustrd.iter().cloned());
            merged.doc_numbers.extend(tx.doc_numbers.iter().cloned());
            merged.addtl_rmt.extend(tx.addtl_rmt.iter().cloned());
        }
        out.push(build(&en, Some(&merged), amount, dir, booking, entry_charges));
    } else {
        let tx = en.txs.first();
        let tx_charges = match tx {
            Some(t) if !t.charges.is_empty() => charges(&t.charges, Some(amount.currency))?,
            _ => entry_charges,
        };
        out.push(build(&en, tx, amount, dir, booking, tx_charges));
    }
    Ok(())
}

fn build(
    en: &Entry,
    tx: Option<&Tx>,
    amount: Money,
    direction: Direction,
    booking_date: chrono::NaiveDate,
    charges: Option<Money>,
) -> Transaction {
    let (name, iban) = match (tx, direction) {
        (Some(t), Direction::Credit) => (t.dbtr.clone().or_else(|| t.ultmt_dbtr.clone()), t.dbtr_iban.clone()),
        (Some(t), Direction::Debit) => (t.cdtr.clone().or_else(|| t.ultmt_cdtr.clone()), t.cdtr_iban.clone()),
        (None, _) => (None, None),
    };
    let remittance = tx
        .and_then(|t| {
            join_text(
                t.ustrd
                    .iter()
                    .map(String::as_str)
                    .chain(t.doc_numbers.iter().map(String::as_str))
                    .chain(t.addtl_rmt.iter().map(String::as_str)),
            )
            .or_else(|| t.addtl_tx_inf.as_deref().and_then(|s| join_text([s])))
        })
        .or_else(|| en.addtl_info.as_deref().and_then(|s| join_text([s])));
    let mut line = BankLine {
        booking_date,
        value_date: en.value,
        amount,
        direction,
        reversal: en.reversal,
        counterparty_name: name,
        counterparty_iban: iban,
        remittance,
        structured_ref: tx.and_then(|t| t.cdtr_ref.clone()),
        end_to_end_id: tx.and_then(|t| t.e2e.clone()),
        bank_ref: tx
            .and_then(|t| t.acct_svcr_ref.clone().or_else(|| t.tx_id.clone()))
            .or_else(|| en.acct_svcr_ref.clone())
            .or_else(|| en.ntry_ref.clone()),
    };
    read_narrative(&mut line, en, tx);
    Transaction { line, charges }
}

/// Width of an `<Ustrd>`: a full one continues in the next without a space.
const USTRD_WIDTH: usize = 140;

/// Counterparty and purpose from the free texts when the structured fields
/// lack them (`<Ustrd>/DE ACME /MOTIF FA-12</Ustrd>`, or a French bank's
/// `<AddtlNtryInf>VIR SEPA RECU /DE …</AddtlNtryInf>`): see [`narrative`].
fn read_narrative(line: &mut BankLine, en: &Entry, tx: Option<&Tx>) {
    let ustrd = tx.map(|t| t.ustrd.join("\n")).filter(|u| !u.trim().is_empty());
    if let (Some(u), Some(t)) = (ustrd.as_deref(), tx)
        && let Some(n) = narrative::read(u, Some(USTRD_WIDTH), line.direction)
    {
        line.remittance = join_text(
            n.purpose
                .as_deref()
                .into_iter()
                .chain(t.doc_numbers.iter().map(String::as_str))
                .chain(t.addtl_rmt.iter().map(String::as_str)),
        );
        fill_missing(line, n);
        return;
    }
    if line.counterparty_name.is_some() && line.counterparty_iban.is_some() {
        return;
    }
    // The additional information texts: the remittance comes from them only
    // when there was no `<Ustrd>`.
    let no_remittance = ustrd.is_none() && tx.is_none_or(|t| t.doc_numbers.is_empty() && t.addtl_rmt.is_empty());
    let texts = [tx.and_then(|t| t.addtl_tx_inf.as_deref()), en.addtl_info.as_deref()];
    for (k, text) in texts.into_iter().flatten().enumerate() {
        if let Some(n) = narrative::read(text, Some(USTRD_WIDTH), line.direction) {
            // The remittance was read from the first of these texts.
            if no_remittance && k == 0 {
                line.remittance = n.purpose.clone();
            }
            fill_missing(line, n);
            return;
        }
    }
}

/// Sets the counterparty name, IBAN and end-to-end id where they are missing.
fn fill_missing(line: &mut BankLine, n: narrative::Narrative) {
    if line.counterparty_name.is_none() {
        line.counterparty_name = n.name;
    }
    if line.counterparty_iban.is_none() {
        line.counterparty_iban = n.iban;
    }
    if line.end_to_end_id.is_none() {
        line.end_to_end_id = n.end_to_end_id;
    }
}
