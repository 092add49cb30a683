//! CSV bank statements with a per-tenant column mapping. Columns not mapped
//! are found by their header names (English, French, German, Dutch, Spanish
//! synonyms); amounts come from one signed column or from credit/debit
//! columns. A row that cannot be read rejects the file with its line: a
//! half-read statement is worse than none for cash application.
//!
//! The header is the first of the file's first lines that names a date and
//! an amount column: account details some banks write above it (UK and
//! Swiss exports) are skipped. A structured-reference column (the Belgian
//! *gestructureerde mededeling*) gives the structured reference; dates may
//! also be written with English month names (`05 Apr 2026`, `5-Apr-26`),
//! or be timestamps (`2026-04-15T10:22:01.000Z`: the date is kept). Header
//! names are compared in lower case with `_` read as a space
//! (`counterparty_name`); numbered description columns (`Omschrijving-1`..`3`)
//! are one text, a 35-character piece continuing in the next without a space;
//! an end-to-end column (`Transactiereferentie`) gives the end-to-end id.

use serde::Deserialize;

use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::{BankLine, Direction};

use super::{
    Format, MAX_QUOTE, ParseError, ParsedFile, Statement, Transaction, account_id, decode_text, join_text, narrative,
    quote,
};
use crate::csv_invoices::parse::{DateOrder, detect_delimiter, parse_date};

/// `[connectors.<name>.csv]`: column names (header text) and value formats of a CSV statement.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// Column of the booking date.
    #[serde(default)]
    pub date: Option<String>,
    /// Column of the value date.
    #[serde(default)]
    pub value_date: Option<String>,
    /// One signed amount column…
    #[serde(default)]
    pub amount: Option<String>,
    /// Column of credits (unsigned), with `debit`, when there is no signed `amount` column.
    #[serde(default)]
    pub credit: Option<String>,
    /// Column of debits (unsigned).
    #[serde(default)]
    pub debit: Option<String>,
    /// Column of the currency code.
    #[serde(default)]
    pub currency_column: Option<String>,
    /// Column of the payer's name.
    #[serde(default)]
    pub counterparty_name: Option<String>,
    /// Column of the payer's IBAN.
    #[serde(default)]
    pub counterparty_iban: Option<String>,
    /// Columns joined into the remittance text.
    #[serde(default)]
    pub remittance: Vec<String>,
    /// Column of the bank's reference of the transaction.
    #[serde(default)]
    pub reference: Option<String>,
    /// Currency when there is no currency column (default EUR).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub currency: Option<Currency>,
    /// Decimal mark of amounts: `auto`, `comma` or `dot`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub decimal: DecimalStyle,
    /// Order of day, month and year in dates.
    #[serde(default)]
    pub date_order: DateOrder,
}

const DATE: &[&str] = &[
    "booking date",
    "date",
    "journaldate",
    "created",
    "created (utc)",
    "date operation",
    "date d'operation",
    "date comptable",
    "transaction date",
    "posted date",
    "posting date",
    "buchungstag",
    "buchungsdatum",
    "datum",
    "fecha",
    "fecha operacion",
    "completed date",
    "date/time",
    "settled at",
    "emitted at",
    "date de comptabilisation",
    "data contabile",
    "bokföringsdatum",
    "bokforingsdatum",
];
const VALUE_DATE: &[&str] = &[
    "value date",
    "date de valeur",
    "date valeur",
    "valuta",
    "valutadatum",
    "wertstellung",
    "fecha valor",
    "data valuta",
];
const AMOUNT: &[&str] = &[
    "amount",
    "netamount",
    "montant",
    "betrag",
    "bedrag",
    "importe",
    "amount (eur)",
    "net",
    "gross",
    "transaction amount",
    "belopp",
];
const CREDIT: &[&str] = &[
    "credit",
    "crédit",
    "credit amount",
    "haben",
    "gutschrift",
    "bij",
    "paid in",
    "money in",
    "deposit",
    "deposits",
    "entrate",
];
const DEBIT: &[&str] = &[
    "debit",
    "débit",
    "debit amount",
    "soll",
    "belastung",
    "debet",
    "af",
    "paid out",
    "money out",
    "withdrawal",
    "withdrawals",
    "uscite",
];
const CURRENCY: &[&str] = &["currency", "devise", "währung", "waehrung", "munt", "moneda", "ccy"];
const NAME: &[&str] = &[
    "partner name",
    "counterparty",
    "counterparty name",
    "payee",
    "payer",
    "name",
    "beneficiary",
    "tiers",
    "nom",
    "auftraggeber",
    "begünstigter",
    "naam tegenrekening",
    "naam tegenpartij",
    "naam tegenpartij bevat",
    "nom contrepartie",
    "nom contrepartie contient",
    "nom de la contrepartie",
    "payer name",
    "beschreibung1",
    "from",
    "to",
    // Swedish exports: the counterparty (or the bank's label) in `Text`.
    "text",
];
const IBAN: &[&str] = &[
    "partner iban",
    "iban",
    "counterparty iban",
    "counterparty account",
    "tegenrekening",
    "iban tegenrekening",
    "tegenrekening iban/bban",
    "rekeningnummer tegenpartij",
    "rekening tegenpartij",
    "compte contrepartie",
    "compte de la contrepartie",
    "compte",
];
const REMITTANCE: &[&str] = &[
    "payment reference",
    "description",
    "libellé",
    "libelle",
    "label",
    "memo",
    "verwendungszweck",
    "vrije mededeling",
    "communication libre",
    "omschrijving",
    "mededelingen",
    "communications",
    "beschreibung3",
    "omschrijving-1",
    "concepto",
    "desc",
    "details",
    "communication",
    "narrative",
    "reference",
    "libellé complémentaire",
    "libelle complementaire",
    "descrizione operazione",
    "meddelande",
];
const REFERENCE: &[&str] = &[
    "transaction id",
    "reference number",
    "ref",
    "id",
    "fitid",
    "num",
    "row",
    "transaktions-nr.",
    "transaction number",
    "référence de l'opération",
];
/// Columns of a structured creditor reference (Belgian structured communication, RF reference).
const STRUCTURED: &[&str] = &[
    "gestructureerde mededeling",
    "communication structuree",
    "structured communication",
    "structured reference",
    "creditor reference",
    "betalingskenmerk",
    "ocr-nummer",
    "ocr",
];
/// Columns of the payer's end-to-end reference.
const END_TO_END: &[&str] = &["end-to-end id", "end to end id", "end-to-end reference", "transactiereferentie"];

/// Width of a numbered remittance column (`Omschrijving-1`..`3`): the SEPA
/// remittance line of 35 characters. A piece this long was cut by the bank
/// and continues in the next numbered column without a space.
const PIECE_WIDTH: usize = 35;

/// How many of the file's first lines may come before the header.
const MAX_PREAMBLE: usize = 30;

/// Longest header line accepted, in bytes.
const MAX_HEADER: usize = 64 * 1024;

/// Longest part of the header quoted in an error message, in bytes.
const MAX_FOUND: usize = 300;

fn norm(h: &str) -> String {
    // `counterparty_name` (API-style exports) is `counterparty name`.
    h.trim().trim_start_matches('\u{feff}').trim_matches('"').to_lowercase().replace(['é', 'è'], "e").replace('_', " ")
}

fn find(
    headers: &[String],
    mapped: Option<&String>,
    synonyms: &[&str],
    used: &[usize],
) -> Result<Option<usize>, String> {
    if let Some(name) = mapped {
        let name_norm = norm(name);
        return headers
            .iter()
            .position(|h| *h == name_norm)
            .map(Some)
            .ok_or_else(|| format!("mapped column `{}` is not in the header", quote(name)));
    }
    for s in synonyms {
        let s = norm(s);
        if let Some(i) = headers.iter().position(|h| *h == s).filter(|i| !used.contains(i)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Where the header starts: its byte offset and the number of lines before it.
/// The header is the first of the first [`MAX_PREAMBLE`] lines that names a
/// date column and an amount (or credit, or debit) column; the first line
/// when none does (its error then says what is missing).
fn header_start(text: &str, mapping: &CsvMapping) -> (usize, usize) {
    let names = |mapped: [Option<&String>; 3], synonyms: [&[&str]; 3]| -> Vec<String> {
        let mut v: Vec<String> = mapped.into_iter().flatten().map(|m| norm(m)).collect();
        v.extend(synonyms.iter().flat_map(|s| s.iter()).map(|s| norm(s)));
        v
    };
    let dates = names([mapping.date.as_ref(), mapping.value_date.as_ref(), None], [DATE, VALUE_DATE, &[]]);
    let amounts =
        names([mapping.amount.as_ref(), mapping.credit.as_ref(), mapping.debit.as_ref()], [AMOUNT, CREDIT, DEBIT]);
    let mut offset = 0;
    for (k, line) in text.split_inclusive('\n').take(MAX_PREAMBLE).enumerate() {
        let delimiter = detect_delimiter(line);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_bytes());
        let mut record = csv::StringRecord::new();
        if reader.read_record(&mut record).unwrap_or(false) {
            let fields: Vec<String> = record.iter().map(norm).collect();
            if fields.iter().any(|f| dates.contains(f)) && fields.iter().any(|f| amounts.contains(f)) {
                return (offset, k);
            }
        }
        offset += line.len();
    }
    (0, 0)
}

/// A date written with an English month name: `05 Apr 2026`, `5-Apr-26`,
/// `05 April 2026`, `Apr 05, 2026`. `None` for anything else.
fn month_name_date(s: &str) -> Option<chrono::NaiveDate> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let parts: Vec<&str> = s.split([' ', '-', ',']).filter(|p| !p.is_empty()).collect();
    let month_of = |p: &str| {
        let p = p.to_ascii_lowercase();
        (p.len() >= 3 && p.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| MONTHS.iter().position(|m| p.starts_with(m)))
            .flatten()
            .map(|i| i as u32 + 1)
    };
    let (day, month, year) = match parts.as_slice() {
        [d, m, y] if month_of(m).is_some() => (d, month_of(m)?, y),
        [m, d, y] if month_of(m).is_some() => (d, month_of(m)?, y),
        _ => return None,
    };
    let day: u32 = day.parse().ok()?;
    let year: i32 = match year.len() {
        2 => 2000 + year.parse::<i32>().ok()?,
        4 => year.parse().ok()?,
        _ => return None,
    };
    chrono::NaiveDate::from_ymd_opt(year, month, day)
}

/// The date part of a timestamp: the text before a `T` or a space that is
/// followed by a time (`hh:mm`); the whole text otherwise.
fn date_of_timestamp(s: &str) -> &str {
    match s.find(['T', ' ']) {
        Some(i) if i >= 8 && s[i + 1..].chars().take(3).collect::<String>().ends_with(':') => &s[..i],
        _ => s,
    }
}

/// Columns numbered like `header` (`omschrijving-1` → `omschrijving-2`,
/// `omschrijving-3`), in order, up to the ninth.
fn numbered_siblings(headers: &[String], i: usize) -> Vec<usize> {
    let h = &headers[i];
    let Some(base) = h.strip_suffix('1') else { return Vec::new() };
    (2..=9).map_while(|k| headers.iter().position(|x| *x == format!("{base}{k}"))).collect()
}

/// Remittance pieces joined: a piece of [`PIECE_WIDTH`] characters or more
/// continues in the next without a space; others are joined with one.
fn join_pieces<'a>(pieces: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut out = String::new();
    let mut glue = false;
    for p in pieces {
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(p);
        glue = p.chars().count() >= PIECE_WIDTH;
    }
    join_text([out.as_str()])
}

/// Parses a CSV statement.
pub fn parse(bytes: &[u8], mapping: &CsvMapping) -> Result<ParsedFile, ParseError> {
    let text = decode_text(bytes);
    let err = |line: Option<usize>, m: String| ParseError::new(Format::Csv, line, m);
    // A header is a few hundred bytes: a longer first line is not a header
    // (and is not copied into normalized names and error messages).
    let first_line = text.as_bytes().split(|b| *b == b'\n').next().unwrap_or_default();
    if first_line.len() > MAX_HEADER {
        return Err(err(
            Some(1),
            format!(
                "first line of {} bytes is not a CSV header (at most {MAX_HEADER}): `{}`",
                first_line.len(),
                quote(&String::from_utf8_lossy(&first_line[..first_line.len().min(MAX_QUOTE)]))
            ),
        ));
    }
    let (start, skipped) = header_start(&text, mapping);
    let body = &text[start..];
    // Line numbers of the file: the header's, and after it.
    let header_line = skipped + 1;
    let delimiter = detect_delimiter(body);
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(body.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| err(Some(header_line), format!("unreadable header: {e}")))?
        .iter()
        .map(norm)
        .collect();
    let mut used = Vec::new();
    let mut col = |mapped: Option<&String>, syn: &[&str]| -> Result<Option<usize>, ParseError> {
        let r = find(&headers, mapped, syn, &used).map_err(|m| err(Some(header_line), m))?;
        used.extend(r);
        Ok(r)
    };
    let date = col(mapping.date.as_ref(), DATE)?;
    let value_date = col(mapping.value_date.as_ref(), VALUE_DATE)?;
    let amount = col(mapping.amount.as_ref(), AMOUNT)?;
    let credit = col(mapping.credit.as_ref(), CREDIT)?;
    let debit = col(mapping.debit.as_ref(), DEBIT)?;
    let currency_col = col(mapping.currency_column.as_ref(), CURRENCY)?;
    let name = col(mapping.counterparty_name.as_ref(), NAME)?;
    let iban = col(mapping.counterparty_iban.as_ref(), IBAN)?;
    let reference = col(mapping.reference.as_ref(), REFERENCE)?;
    let structured = col(None, STRUCTURED)?;
    let end_to_end = col(None, END_TO_END)?;
    // Groups of columns: a column alone, or a column and its numbered siblings.
    let remittance: Vec<Vec<usize>> =
        if mapping.remittance.is_empty() {
            let mut cols: Vec<Vec<usize>> = Vec::new();
            for i in REMITTANCE.iter().filter_map(|s| {
                let s = norm(s);
                headers.iter().position(|h| *h == s)
            }) {
                if !used.contains(&i) && !cols.iter().flatten().any(|c| *c == i) && cols.len() < 2 {
                    // The numbered siblings of a remittance column (`omschrijving-1`
                    // then `-2`, `-3`) are pieces of the same text.
                    let mut group = vec![i];
                    group.extend(numbered_siblings(&headers, i));
                    cols.push(group);
                }
            }
            cols
        } else {
            mapping
                .remittance
                .iter()
                .map(|n| {
                    let name = norm(n);
                    headers.iter().position(|h| *h == name).map(|i| vec![i]).ok_or_else(|| {
                        err(Some(header_line), format!("mapped column `{}` is not in the header", quote(n)))
                    })
                })
                .collect::<Result<_, _>>()?
        };
    // The header as found, for error messages: cut, as it may be anything.
    let found = relance_connector::guard::truncate(&headers.join(", "), MAX_FOUND);
    let date = date
        .or(value_date)
        .ok_or_else(|| err(Some(header_line), format!("no date column found (header: {found}); map it with `date`")))?;
    if amount.is_none() && credit.is_none() && debit.is_none() {
        return Err(err(
            Some(header_line),
            format!("no amount column found (header: {found}); map `amount`, or `credit` and `debit`"),
        ));
    }
    let default_ccy = mapping.currency.unwrap_or(Currency::EUR);
    let mut transactions = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as usize + skipped;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(err(Some(line), format!("unreadable CSV: {e}"))),
        }
        // Blank lines, and the header repeated inside the file (concatenated exports).
        let repeated_header = record.len() == headers.len() && record.iter().zip(&headers).all(|(f, h)| norm(f) == *h);
        if record.iter().all(|f| f.trim().is_empty()) || repeated_header {
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).filter(|s| !s.is_empty());
        let ccy = match get(currency_col) {
            Some(c) => Currency::parse(c).map_err(|e| err(Some(line), e.to_string()))?,
            None => default_ccy,
        };
        let money = |s: &str| Money::parse(s, ccy, mapping.decimal).map_err(|e| err(Some(line), e.to_string()));
        let signed = match (get(amount), get(credit), get(debit)) {
            (Some(a), _, _) => money(a)?.minor,
            (None, Some(c), _) if money(c)?.minor != 0 => money(c)?.minor.abs(),
            (None, _, Some(d)) => -money(d)?.minor.abs(),
            (None, Some(c), None) => money(c)?.minor,
            (None, None, None) => return Err(err(Some(line), "no amount on this row".into())),
        };
        let parse_d = |s: &str| {
            // Dates are ASCII; the shared date reader slices at fixed byte offsets.
            if !s.is_ascii() {
                return Err(err(Some(line), format!("`{}` is not a valid date", quote(s))));
            }
            if let Some(d) = month_name_date(s) {
                return Ok(d);
            }
            // A timestamp (`2026-04-15T10:22:01.000Z`, `15.04.2026 10:22`): its date.
            let s = date_of_timestamp(s);
            parse_date(s, mapping.date_order)
                .or_else(|e| if mapping.date_order == DateOrder::Dmy { parse_date(s, DateOrder::Mdy) } else { Err(e) })
                .map_err(|e| err(Some(line), e))
        };
        let booking = parse_d(get(Some(date)).ok_or_else(|| err(Some(line), "empty date".into()))?)?;
        let value = get(value_date).map(parse_d).transpose()?;
        let texts: Vec<String> =
            remittance.iter().filter_map(|group| join_pieces(group.iter().filter_map(|i| get(Some(*i))))).collect();
        transactions.push(Transaction {
            line: BankLine {
                booking_date: booking,
                value_date: value,
                amount: Money::new(signed.abs(), ccy),
                direction: if signed < 0 { Direction::Debit } else { Direction::Credit },
                reversal: false,
                counterparty_name: get(name).and_then(|n| join_text([n])),
                counterparty_iban: get(iban).and_then(account_id),
                remittance: join_text(texts.iter().map(String::as_str)),
                structured_ref: get(structured).map(str::to_string),
                end_to_end_id: get(end_to_end).filter(|e| *e != "NOTPROVIDED").map(str::to_string),
                bank_ref: get(reference).map(str::to_string),
            },
            charges: None,
        });
        if let Some(tx) = transactions.last_mut() {
            // A label column naming the payer in words (`VIR SEPA RECU DE ACME SA`)
            // and a second column with the payer's remittance (`Libellé
            // complémentaire`): the name ends with its column, so the first is
            // read alone and the second is the remittance after it.
            let first_alone = match texts.as_slice() {
                [first, rest @ ..] if !rest.is_empty() => {
                    narrative::read(first, None, tx.line.direction).filter(|n| n.name.is_some())
                }
                _ => None,
            };
            if let Some(n) = first_alone {
                if tx.line.counterparty_name.is_none() {
                    tx.line.counterparty_name = n.name;
                }
                if tx.line.counterparty_iban.is_none() {
                    tx.line.counterparty_iban = n.iban;
                }
                tx.line.remittance = join_text(texts[1..].iter().map(String::as_str));
            } else {
                // A label column holding a keyed narrative (`VIR SEPA RECU /DE …`).
                let raw = tx.line.remittance.clone().unwrap_or_default();
                narrative::fill(&mut tx.line, &raw, None);
            }
        }
    }
    Ok(ParsedFile {
        format: Format::Csv,
        statements: vec![Statement { id: None, account: None, currency: Some(default_ccy), transactions }],
    })
}
