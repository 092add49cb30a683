//! Streaming statements: a file's transactions handed to a [`Sink`] one at a
//! time, in document order, as they are read.
//!
//! camt.052/053/054 and MT940/MT942 are read incrementally from a
//! [`BufRead`] (quick-xml's buffered reader with one reused event buffer;
//! MT940 line by line, one field at a time), so memory does not grow with the
//! file: a 100 MB statement is parsed in a few megabytes. The other formats
//! (CFONB 120, OFX, CSV: small files in practice) are read whole and then
//! handed over the same way.
//!
//! The semantics are those of [`super::parse`], which is a collect over this
//! stream: the same transactions with the same fields, the same errors at the
//! same lines. Two things follow from reading as one goes:
//!
//! - the transactions read before a problem have been handed to the sink
//!   when the error comes (a consumer that must be all-or-nothing buffers, as
//!   [`super::parse`] and the bank connector do);
//! - a transaction comes with its statement as known when it is read
//!   ([`StatementInfo`]: the account, identifier and currency, which every
//!   format puts before the entries); the final one comes with
//!   [`Sink::end_statement`].
//!
//! The text encoding is a property of the whole file (UTF-8, or else
//! Windows-1252, as [`super::decode_text`] decides): [`EncodingCheck`] finds it
//! in one pass over the bytes (the bank connector does it while hashing the
//! file; [`stream_file`] reads the file twice).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use relance_domain::money::Currency;

use super::{Format, ParseError, ParsedFile, Statement, Transaction, camt, csv, detect_head, detect_rest, mt940};

/// Bytes of the file's start that decide its format (see [`super::detect`]).
pub const HEAD: usize = 4096;

/// Buffer of the readers [`stream_file`] opens.
const READ_BUFFER: usize = 64 * 1024;

/// A statement's header: what a transaction belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementInfo {
    /// The bank's statement identifier, when the format has one.
    pub id: Option<String>,
    /// Account IBAN or number.
    pub account: Option<String>,
    pub currency: Option<Currency>,
}

/// The consumer of a stream of transactions.
pub trait Sink {
    /// One transaction, in document order, with its statement as known so far.
    fn transaction(&mut self, statement: &StatementInfo, tx: Transaction) -> io::Result<()>;

    /// The end of a statement, with its final header (after its transactions).
    fn end_statement(&mut self, statement: StatementInfo) -> io::Result<()> {
        let _ = statement;
        Ok(())
    }

    /// The statement being read is dropped, with the transactions handed over
    /// since its start: a camt statement element opened inside an open one
    /// (never schema-valid) replaces it. A consumer that buffers forgets them.
    fn abandon_statement(&mut self) {}
}

/// Why a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The content is not a statement, or is broken (with its line).
    #[error("{0}")]
    Parse(ParseError),
    /// Reading the input, or the sink, failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<ParseError> for StreamError {
    fn from(e: ParseError) -> StreamError {
        StreamError::Parse(e)
    }
}

/// The text encoding of a whole statement file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// Valid UTF-8 (after an optional BOM).
    Utf8,
    /// Anything else is read as Windows-1252, byte by byte.
    Windows1252,
}

/// Finds a file's [`TextEncoding`] from its bytes, given in chunks of any size.
#[derive(Debug, Default)]
pub struct EncodingCheck {
    invalid: bool,
    /// The start of a UTF-8 sequence cut by the end of the last chunk.
    carry: [u8; 4],
    carry_len: usize,
}

impl EncodingCheck {
    pub fn new() -> EncodingCheck {
        EncodingCheck::default()
    }

    /// Checks the next bytes of the file.
    pub fn update(&mut self, mut chunk: &[u8]) {
        if self.invalid {
            return;
        }
        if self.carry_len > 0 {
            let want = utf8_sequence_len(self.carry[0]);
            let take = (want - self.carry_len).min(chunk.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&chunk[..take]);
            self.carry_len += take;
            chunk = &chunk[take..];
            if self.carry_len < want {
                return;
            }
            if std::str::from_utf8(&self.carry[..want]).is_err() {
                self.invalid = true;
                return;
            }
            self.carry_len = 0;
        }
        if let Err(e) = std::str::from_utf8(chunk) {
            let rest = &chunk[e.valid_up_to()..];
            match e.error_len() {
                // A sequence cut at the end of the chunk: completed by the next one.
                None if rest.len() < 4 => {
                    self.carry[..rest.len()].copy_from_slice(rest);
                    self.carry_len = rest.len();
                }
                _ => self.invalid = true,
            }
        }
    }

    /// The encoding of the bytes seen.
    pub fn finish(&self) -> TextEncoding {
        if self.invalid || self.carry_len > 0 { TextEncoding::Windows1252 } else { TextEncoding::Utf8 }
    }
}

/// Length of the UTF-8 sequence a (valid) lead byte starts.
fn utf8_sequence_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Streams a statement file (format detected from its start; CSV with `mapping`).
/// The file is read twice: once for its encoding, then to parse it.
pub fn stream_file(path: &Path, mapping: &csv::CsvMapping, sink: &mut impl Sink) -> Result<Format, StreamError> {
    let mut file = File::open(path)?;
    let mut check = EncodingCheck::new();
    let mut chunk = vec![0u8; READ_BUFFER];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        check.update(&chunk[..n]);
    }
    drop(chunk);
    let file = File::open(path)?;
    stream_reader(BufReader::with_capacity(READ_BUFFER, file), check.finish(), mapping, sink)
}

/// Streams a statement from `input`, whose whole content has `encoding`
/// (format detected from its start; CSV with `mapping`).
///
/// In debug builds, when the environment variable `RELANCE_TEST_PANIC_MARKER`
/// is set, the input is read whole first and an input containing its value
/// makes this panic, as [`super::parse_with`] does.
pub fn stream_reader<R: BufRead>(
    input: R,
    encoding: TextEncoding,
    mapping: &csv::CsvMapping,
    sink: &mut impl Sink,
) -> Result<Format, StreamError> {
    #[cfg(debug_assertions)]
    if std::env::var_os(relance_connector::guard::TEST_PANIC_MARKER_VAR).is_some() {
        let mut input = input;
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        relance_connector::guard::test_panic_hook("statement", &bytes);
        return stream_detected(&bytes[..], encoding, mapping, sink);
    }
    stream_detected(input, encoding, mapping, sink)
}

fn stream_detected<R: BufRead>(
    mut input: R,
    encoding: TextEncoding,
    mapping: &csv::CsvMapping,
    sink: &mut impl Sink,
) -> Result<Format, StreamError> {
    let mut head = Vec::with_capacity(HEAD);
    (&mut input).take(HEAD as u64).read_to_end(&mut head)?;
    let format = match detect_head(&head)? {
        Some(f @ (Format::Camt | Format::Mt940)) => f,
        known => {
            // The other formats are read whole (and so is what the head could not decide).
            let mut bytes = head;
            input.read_to_end(&mut bytes)?;
            let format = match known {
                Some(f) => f,
                None => detect_rest(&bytes)?,
            };
            let parsed = super::parse_format(format, &bytes, mapping)?;
            drop(bytes);
            hand_over(parsed, sink)?;
            return Ok(format);
        }
    };
    let skip = if head.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
    let mut input = io::Cursor::new(head).chain(input);
    // The byte-order mark is not part of the text.
    input.consume(skip);
    match encoding {
        TextEncoding::Utf8 => stream_text(format, input, sink)?,
        TextEncoding::Windows1252 => stream_text(format, Windows1252Reader::new(input), sink)?,
    }
    Ok(format)
}

/// Streams UTF-8 text of a known streaming format.
fn stream_text<R: BufRead>(format: Format, text: R, sink: &mut impl Sink) -> Result<(), StreamError> {
    match format {
        Format::Camt => camt::stream(text, sink),
        _ => mt940::stream(text, sink),
    }
}

/// Hands a file parsed whole to a sink.
fn hand_over(parsed: ParsedFile, sink: &mut impl Sink) -> io::Result<()> {
    for st in parsed.statements {
        let info = StatementInfo { id: st.id, account: st.account, currency: st.currency };
        for tx in st.transactions {
            sink.transaction(&info, tx)?;
        }
        sink.end_statement(info)?;
    }
    Ok(())
}

/// The sink of [`super::parse`]: the whole file in memory.
#[derive(Debug, Default)]
pub(crate) struct Collect {
    pub statements: Vec<Statement>,
    current: Vec<Transaction>,
}

impl Sink for Collect {
    fn transaction(&mut self, _: &StatementInfo, tx: Transaction) -> io::Result<()> {
        self.current.push(tx);
        Ok(())
    }

    fn end_statement(&mut self, s: StatementInfo) -> io::Result<()> {
        let transactions = std::mem::take(&mut self.current);
        self.statements.push(Statement { id: s.id, account: s.account, currency: s.currency, transactions });
        Ok(())
    }

    fn abandon_statement(&mut self) {
        self.current.clear();
    }
}

/// Windows-1252 bytes read as UTF-8 text (every byte is one character).
struct Windows1252Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    text: String,
    pos: usize,
    done: bool,
}

impl<R: BufRead> Windows1252Reader<R> {
    fn new(inner: R) -> Self {
        Windows1252Reader {
            inner,
            decoder: encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling(),
            text: String::with_capacity(2 * READ_BUFFER),
            pos: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Windows1252Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Windows1252Reader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.text.len() && !self.done {
            self.text.clear();
            self.pos = 0;
            let raw = self.inner.fill_buf()?;
            let last = raw.is_empty();
            self.done = last;
            // A byte gives at most 3 bytes of UTF-8: reserve so that the whole chunk decodes.
            self.text.reserve(raw.len() * 3 + 16);
            let (_, read, _) = self.decoder.decode_to_string(raw, &mut self.text, last);
            self.inner.consume(read);
        }
        Ok(&self.text.as_bytes()[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` streamed through buffers of `capacity` bytes, collected.
    fn streamed(bytes: &[u8], capacity: usize) -> Result<ParsedFile, ParseError> {
        let mut check = EncodingCheck::new();
        for chunk in bytes.chunks(capacity.max(1)) {
            check.update(chunk);
        }
        let mut sink = Collect::default();
        let input = BufReader::with_capacity(capacity, bytes);
        match stream_reader(input, check.finish(), &csv::CsvMapping::default(), &mut sink) {
            Ok(format) => Ok(ParsedFile { format, statements: sink.statements }),
            Err(StreamError::Parse(e)) => Err(e),
            Err(StreamError::Io(e)) => panic!("reading memory failed: {e}"),
        }
    }

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("tests/fixtures/statements"), root.join("../../shared/fixtures/external")];
        let mut out = Vec::new();
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Ok(bytes) = std::fs::read(&p)
                    && bytes.len() < 2_000_000
                {
                    out.push((p.display().to_string(), bytes));
                }
            }
        }
        out
    }

    #[test]
    fn any_buffer_size_gives_what_parse_gives() {
        let mut cases = fixtures();
        let camt = "<?xml version=\"1.0\"?>\r\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\
            <BkToCstmrStmt><Stmt><Id>S</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n\
            <Ntry><Amt Ccy=\"EUR\">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-01-02</Dt></BookgDt>\n\
            <NtryDtls><TxDtls><RmtInf><Ustrd>Caf\u{e9} &amp; FA-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n\
            <Ntry><Amt Ccy=\"EUR\">1x</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>\n</Stmt></BkToCstmrStmt></Document>";
        let mt940 = ":20:S\r\n:25:DE89370400440532013000\r\n:60F:C260101EUR0,00\r\n\
            :61:2601010101C10,00NTRFNONREF//B1\r\n:86:166?00GUTSCHRIFT?20SVWZ+Caf\u{e9}\r\n?21 FA-1\r\n\
            :61:2601010101C1x\r\n";
        for text in [camt, mt940] {
            cases.push(("camt".into(), text.as_bytes().to_vec()));
            // Windows-1252 (the é as one byte), a BOM, cut anywhere.
            let latin: Vec<u8> = text.bytes().flat_map(|b| if b == 0xC3 { None } else { Some(b) }).collect();
            let latin: Vec<u8> = latin.iter().map(|b| if *b == 0xA9 { 0xE9 } else { *b }).collect();
            cases.push(("latin".into(), latin));
            cases.push(("bom".into(), [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat()));
            for cut in (1..text.len()).step_by(37) {
                cases.push((format!("cut {cut}"), text.as_bytes()[..cut].to_vec()));
            }
        }
        assert!(cases.len() > 20);
        let mut parsed = 0;
        for (name, bytes) in &cases {
            let whole = super::super::parse(bytes);
            parsed += usize::from(whole.is_ok());
            for capacity in [1, 2, 7, 64, 4096, 65536] {
                assert_eq!(streamed(bytes, capacity), whole, "{name}, buffer of {capacity}");
            }
        }
        assert!(parsed >= 3, "{parsed}");
    }

    #[test]
    fn the_encoding_check_agrees_with_utf8_validation_however_cut() {
        let texts: [&[u8]; 6] =
            [b"plain", "Caf\u{e9} \u{20ac} \u{1f600}".as_bytes(), b"Caf\xe9", b"\xe2\x82", b"a\xf0\x9f\x98", b""];
        for t in texts {
            let expected = if std::str::from_utf8(t).is_ok() { TextEncoding::Utf8 } else { TextEncoding::Windows1252 };
            for size in 1..=t.len().max(1) {
                let mut check = EncodingCheck::new();
                for chunk in t.chunks(size) {
                    check.update(chunk);
                }
                assert_eq!(check.finish(), expected, "{t:?} by {size}");
            }
        }
    }

    #[test]
    fn a_file_streams_and_a_broken_one_stops_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.sta");
        std::fs::write(&file, ":20:S\n:60F:C260101EUR0,00\n:61:2601010101C10,00NTRF//B1\n:61:26013\n").unwrap();
        let mut sink = Collect::default();
        let e = stream_file(&file, &csv::CsvMapping::default(), &mut sink).unwrap_err();
        let StreamError::Parse(e) = e else { panic!("{e}") };
        assert_eq!((e.format, e.line), (Some(Format::Mt940), Some(4)));
        // The transaction before the problem was handed over.
        assert_eq!(sink.current.len(), 1);
        let missing = stream_file(&dir.path().join("none"), &csv::CsvMapping::default(), &mut sink);
        assert!(matches!(missing, Err(StreamError::Io(_))));
    }
}
