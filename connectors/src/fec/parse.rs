//! Pure parsing of a FEC (Fichier des Écritures Comptables, art. A47 A-1 of
//! the Livre des procédures fiscales) into accounting lines with their line
//! numbers.
//!
//! The file is text (UTF-8 with or without BOM, or Windows-1252), fields
//! separated by a tab or a pipe, without quoting; its first line names the
//! columns (the 18 legal ones, in any case, possibly followed by extra
//! columns such as a due date). Amounts are either `Debit` and `Credit`, or
//! `Montant` and `Sens` (`D`/`C`, `+1`/`-1`), with a comma (or dot) decimal
//! mark and no thousands separator; dates are `AAAAMMJJ` (`AAAA-MM-JJ` and
//! `JJ/MM/AAAA` are accepted too).
//!
//! A line that cannot be read (wrong number of fields, unreadable amount or
//! date, unknown currency) is returned as a [`LineError`] with its line
//! number, column and whatever identifying fields could be read; the others
//! go on. A header lacking required columns fails the whole file with a
//! message naming them.

use std::collections::HashMap;

use chrono::NaiveDate;
use csv::StringRecord;

use relance_domain::money::{Currency, DecimalStyle, Money, parse_minor};

/// The column of a FEC field this parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    JournalCode,
    EcritureNum,
    EcritureDate,
    CompteNum,
    CompteLib,
    CompAuxNum,
    CompAuxLib,
    PieceRef,
    PieceDate,
    EcritureLib,
    Debit,
    Credit,
    Montant,
    Sens,
    EcritureLet,
    DateLet,
    Montantdevise,
    Idevise,
    /// An extra column with the due date (not one of the 18 legal columns).
    DueDate,
}

impl Column {
    /// The legal name of the column.
    pub fn name(self) -> &'static str {
        match self {
            Column::JournalCode => "JournalCode",
            Column::EcritureNum => "EcritureNum",
            Column::EcritureDate => "EcritureDate",
            Column::CompteNum => "CompteNum",
            Column::CompteLib => "CompteLib",
            Column::CompAuxNum => "CompAuxNum",
            Column::CompAuxLib => "CompAuxLib",
            Column::PieceRef => "PieceRef",
            Column::PieceDate => "PieceDate",
            Column::EcritureLib => "EcritureLib",
            Column::Debit => "Debit",
            Column::Credit => "Credit",
            Column::Montant => "Montant",
            Column::Sens => "Sens",
            Column::EcritureLet => "EcritureLet",
            Column::DateLet => "DateLet",
            Column::Montantdevise => "Montantdevise",
            Column::Idevise => "Idevise",
            Column::DueDate => "DateEcheance",
        }
    }

    const NAMED: [Column; 18] = [
        Column::JournalCode,
        Column::EcritureNum,
        Column::EcritureDate,
        Column::CompteNum,
        Column::CompteLib,
        Column::CompAuxNum,
        Column::CompAuxLib,
        Column::PieceRef,
        Column::PieceDate,
        Column::EcritureLib,
        Column::Debit,
        Column::Credit,
        Column::Montant,
        Column::Sens,
        Column::EcritureLet,
        Column::DateLet,
        Column::Montantdevise,
        Column::Idevise,
    ];

    /// Columns without which no open item can be built.
    const REQUIRED: [Column; 8] = [
        Column::JournalCode,
        Column::EcritureNum,
        Column::EcritureDate,
        Column::CompteNum,
        Column::CompAuxNum,
        Column::PieceRef,
        Column::EcritureLet,
        Column::DateLet,
    ];
}

/// Header names (normalized) of extra columns read as the due date.
const DUE_DATE_NAMES: [&str; 6] = ["dateecheance", "datedecheance", "echeance", "dateech", "echeancedate", "duedate"];

/// Lower-case letters and digits only, accents dropped: `Date d'échéance` → `datedecheance`.
pub fn normalize(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// Where each column is in the file.
#[derive(Debug, Clone)]
pub struct Layout {
    index: HashMap<Column, usize>,
    /// Fields of the header line.
    pub width: usize,
}

impl Layout {
    /// Reads the header; `due_date_column` names the due-date column when it
    /// is not one of the usual names. Fails naming every missing column.
    pub fn read(header: &StringRecord, due_date_column: Option<&str>) -> Result<Layout, String> {
        let names: Vec<String> = header.iter().map(normalize).collect();
        let find = |n: &str| names.iter().position(|h| h == n);
        let mut index = HashMap::new();
        for c in Column::NAMED {
            if let Some(i) = find(&normalize(c.name())) {
                index.insert(c, i);
            }
        }
        let due = match due_date_column {
            Some(name) => match find(&normalize(name)) {
                Some(i) => Some(i),
                None => return Err(format!("missing column: {name} (set as due_date_column)")),
            },
            None => DUE_DATE_NAMES.iter().find_map(|n| find(n)),
        };
        if let Some(i) = due {
            index.insert(Column::DueDate, i);
        }
        let mut missing: Vec<&str> =
            Column::REQUIRED.iter().filter(|c| !index.contains_key(c)).map(|c| c.name()).collect();
        let debit_credit = index.contains_key(&Column::Debit) && index.contains_key(&Column::Credit);
        let montant_sens = index.contains_key(&Column::Montant) && index.contains_key(&Column::Sens);
        if !debit_credit && !montant_sens {
            for c in [Column::Debit, Column::Credit] {
                if !index.contains_key(&c) {
                    missing.push(c.name());
                }
            }
            if index.contains_key(&Column::Montant) || index.contains_key(&Column::Sens) {
                missing.retain(|m| *m != "Debit" && *m != "Credit");
                missing.push(if index.contains_key(&Column::Montant) { "Sens" } else { "Montant" });
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "not a FEC file: missing column{} {} (the header has: {})",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                header.iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if debit_credit {
            index.remove(&Column::Montant);
            index.remove(&Column::Sens);
        }
        Ok(Layout { index, width: header.len() })
    }

    /// The trimmed value of `c`, `None` when the column is absent or the value empty.
    pub fn get<'r>(&self, rec: &'r StringRecord, c: Column) -> Option<&'r str> {
        self.index.get(&c).and_then(|i| rec.get(*i)).map(str::trim).filter(|s| !s.is_empty())
    }

    fn text(&self, rec: &StringRecord, c: Column) -> String {
        self.get(rec, c).unwrap_or("").to_string()
    }
}

/// One accounting line of the FEC, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FecLine {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    pub journal: String,
    /// `EcritureNum`.
    pub entry: String,
    pub entry_date: NaiveDate,
    /// `CompteNum`.
    pub account: String,
    pub account_label: String,
    /// `CompAuxNum`, when set.
    pub aux: Option<String>,
    pub aux_label: String,
    /// `PieceRef`, when set.
    pub piece_ref: Option<String>,
    pub piece_date: Option<NaiveDate>,
    pub label: String,
    /// Debit less credit, in minor units of the book currency.
    pub amount: i64,
    /// `EcritureLet`, when set.
    pub lettering: Option<String>,
    pub letter_date: Option<NaiveDate>,
    /// The amount in a currency other than the book's (`Montantdevise` in
    /// `Idevise`), signed like `amount`.
    pub foreign: Option<Money>,
    /// From an extra due-date column.
    pub due_date: Option<NaiveDate>,
}

/// The identifying fields of a line, as far as they could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineContext {
    pub journal: String,
    pub entry: String,
    pub account: String,
    pub aux: Option<String>,
    pub piece_ref: Option<String>,
    pub lettering: Option<String>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub column: Option<&'static str>,
    pub reason: String,
    /// The raw line.
    pub raw: String,
    /// `None` when the fields could not be told apart (wrong number of fields).
    pub context: Option<LineContext>,
}

/// What a FEC file holds.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub lines: Vec<FecLine>,
    pub errors: Vec<LineError>,
    /// Data lines read (good and bad, blank lines excepted).
    pub data_lines: u64,
    /// Earliest `EcritureDate`.
    pub first_date: Option<NaiveDate>,
    /// Entries (journal, number) whose debits and credits do not balance.
    pub unbalanced: Vec<(String, String)>,
}

/// How values are read.
#[derive(Debug, Clone)]
pub struct Format {
    /// The company's book currency (`Debit`/`Credit`).
    pub book_currency: Currency,
    /// Field separator; `None` guesses it from the header line.
    pub delimiter: Option<u8>,
    pub due_date_column: Option<String>,
}

/// Tab, pipe or semicolon: the first of them in the header line.
pub fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    [b'\t', b'|', b';'].into_iter().find(|d| header.as_bytes().contains(d)).unwrap_or(b'\t')
}

/// Parses a decoded FEC. `filter` says which lines to keep (by account);
/// every line is validated either way, so a bad line is reported whatever its account.
pub fn parse(text: &str, fmt: &Format, keep: impl Fn(&str) -> bool) -> Result<Parsed, String> {
    let delimiter = fmt.delimiter.unwrap_or_else(|| detect_delimiter(text));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(false)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| format!("unreadable header: {e}"))?.clone();
    let layout = Layout::read(&header, fmt.due_date_column.as_deref())?;
    let mut out = Parsed::default();
    let mut balances: HashMap<(String, String), i64> = HashMap::new();
    let mut record = StringRecord::new();
    // Line numbers are counted here: after a CR LF the reader's own count is one behind.
    let mut counted = (0usize, 1u64);
    loop {
        let start = reader.position().byte() as usize;
        let read = reader.read_record(&mut record);
        let begin = start + text.get(start..).map_or(0, |t| t.len() - t.trim_start_matches(['\r', '\n']).len());
        let newlines = text.get(counted.0..begin).map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count());
        counted = (begin.max(counted.0), counted.1 + newlines as u64);
        let line = counted.1;
        match read {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // Without quoting the reader fails only on I/O or UTF-8, which decoded text excludes.
                out.errors.push(LineError {
                    line,
                    column: None,
                    reason: format!("unreadable line: {e}"),
                    raw: String::new(),
                    context: None,
                });
                out.data_lines += 1;
                continue;
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.data_lines += 1;
        let end = reader.position().byte() as usize;
        let raw = text.get(begin..end).unwrap_or("").trim_end_matches(['\r', '\n']).to_string();
        match parse_line(&record, &layout, fmt, line) {
            Ok(l) => {
                let key = (l.journal.clone(), l.entry.clone());
                let sum = balances.entry(key).or_insert(0);
                *sum = sum.saturating_add(l.amount);
                if out.first_date.is_none_or(|d| l.entry_date < d) {
                    out.first_date = Some(l.entry_date);
                }
                if keep(&l.account) {
                    out.lines.push(l);
                }
            }
            Err(failure) => {
                let (column, reason, context) = *failure;
                out.errors.push(LineError { line, column, reason, raw, context });
            }
        }
    }
    let mut unbalanced: Vec<(String, String)> = balances.into_iter().filter(|(_, s)| *s != 0).map(|(k, _)| k).collect();
    unbalanced.sort();
    out.unbalanced = unbalanced;
    Ok(out)
}

type Failure = Box<(Option<&'static str>, String, Option<LineContext>)>;

fn parse_line(rec: &StringRecord, layout: &Layout, fmt: &Format, line: u64) -> Result<FecLine, Failure> {
    if rec.len() < layout.width || rec.iter().skip(layout.width).any(|x| !x.trim().is_empty()) {
        return Err(Box::new((None, format!("{} fields where the header has {}", rec.len(), layout.width), None)));
    }
    let context = LineContext {
        journal: layout.text(rec, Column::JournalCode),
        entry: layout.text(rec, Column::EcritureNum),
        account: layout.text(rec, Column::CompteNum),
        aux: layout.get(rec, Column::CompAuxNum).map(str::to_string),
        piece_ref: layout.get(rec, Column::PieceRef).map(str::to_string),
        lettering: layout.get(rec, Column::EcritureLet).map(str::to_string),
    };
    let fail = |c: Column, reason: String| -> Failure { Box::new((Some(c.name()), reason, Some(context.clone()))) };
    for c in [Column::JournalCode, Column::EcritureNum, Column::CompteNum] {
        if layout.get(rec, c).is_none() {
            return Err(fail(c, "empty value".to_string()));
        }
    }
    let date = |c: Column| -> Result<Option<NaiveDate>, Failure> {
        match layout.get(rec, c) {
            None => Ok(None),
            Some(t) => {
                parse_date(t).map(Some).ok_or_else(|| fail(c, format!("unreadable date `{t}` (expected AAAAMMJJ)")))
            }
        }
    };
    let entry_date = date(Column::EcritureDate)?.ok_or_else(|| fail(Column::EcritureDate, "empty value".into()))?;
    let exp = fmt.book_currency.exponent();
    let amount_of = |c: Column| -> Result<i64, Failure> {
        match layout.get(rec, c) {
            None => Ok(0),
            Some(t) => amount(t, exp).ok_or_else(|| fail(c, format!("unreadable amount `{t}`"))),
        }
    };
    let amount = if layout.index.contains_key(&Column::Debit) {
        let (d, c) = (amount_of(Column::Debit)?, amount_of(Column::Credit)?);
        d.checked_sub(c).ok_or_else(|| fail(Column::Credit, "amount out of range".into()))?
    } else {
        let m = amount_of(Column::Montant)?;
        match layout.get(rec, Column::Sens).map(str::to_ascii_uppercase).as_deref() {
            Some("D" | "+1" | "1" | "+") => m,
            Some("C" | "-1" | "-") => {
                m.checked_neg().ok_or_else(|| fail(Column::Montant, "amount out of range".into()))?
            }
            other => {
                return Err(fail(
                    Column::Sens,
                    format!("unreadable direction `{}` (expected D or C)", other.unwrap_or("")),
                ));
            }
        }
    };
    let foreign = match (layout.get(rec, Column::Idevise), layout.get(rec, Column::Montantdevise)) {
        (Some(code), Some(text)) if !code.eq_ignore_ascii_case(fmt.book_currency.code()) => {
            let currency = Currency::parse(code).map_err(|e| fail(Column::Idevise, e.to_string()))?;
            let m = self::amount(text, currency.exponent())
                .ok_or_else(|| fail(Column::Montantdevise, format!("unreadable amount `{text}`")))?;
            let m = m.checked_abs().ok_or_else(|| fail(Column::Montantdevise, "amount out of range".into()))?;
            Some(Money::new(if amount < 0 { -m } else { m }, currency))
        }
        _ => None,
    };
    Ok(FecLine {
        line,
        journal: context.journal.clone(),
        entry: context.entry.clone(),
        entry_date,
        account: context.account.clone(),
        account_label: layout.text(rec, Column::CompteLib),
        aux: context.aux.clone(),
        aux_label: layout.text(rec, Column::CompAuxLib),
        piece_ref: context.piece_ref.clone(),
        piece_date: date(Column::PieceDate)?,
        label: layout.text(rec, Column::EcritureLib),
        amount,
        lettering: context.lettering.clone(),
        letter_date: date(Column::DateLet)?,
        foreign,
        due_date: date(Column::DueDate)?,
    })
}

/// `AAAAMMJJ`, also `AAAA-MM-JJ` and `JJ/MM/AAAA`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(t, "%Y%m%d").ok();
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(t, "%d/%m/%Y")).ok()
}

/// An amount with a comma (legal form) or dot decimal mark, no thousands separator.
pub fn amount(text: &str, exponent: u8) -> Option<i64> {
    let style = if text.contains(',') { DecimalStyle::Comma } else { DecimalStyle::Dot };
    if text.contains(',') && text.contains('.') {
        return None;
    }
    parse_minor(text, exponent, style).ok()
}

/// The company (SIREN) and closing date from a file named as the law says,
/// `<SIREN>FEC<AAAAMMJJ>` (any case, anything around it).
pub fn legal_name(file_name: &str) -> Option<(String, NaiveDate)> {
    let lower = file_name.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower.get(from..).and_then(|s| s.find("fec")).map(|i| i + from) {
        from = i + 3;
        let (Some(siren), Some(date)) = (i.checked_sub(9).and_then(|s| lower.get(s..i)), lower.get(i + 3..i + 11))
        else {
            continue;
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let clean_before = i < 10 || !bytes[i - 10].is_ascii_digit();
        if digits(siren)
            && digits(date)
            && clean_before
            && let Ok(d) = NaiveDate::parse_from_str(date, "%Y%m%d")
        {
            return Some((siren.to_string(), d));
        }
    }
    None
}
