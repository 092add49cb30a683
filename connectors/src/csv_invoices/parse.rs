//! Pure parsing of invoice CSV exports: decoding (UTF-8, UTF-16, Windows-1252),
//! delimiter detection, header mapping and row validation into
//! [`InvoiceRecord`]s. No I/O here: the connector feeds bytes in.

use std::borrow::Cow;

use chrono::NaiveDate;
use csv::StringRecord;
use serde::Deserialize;

use relance_domain::iban::normalize_iban;
use relance_domain::money::{Currency, DecimalStyle, Money};
use relance_domain::{CustomerRecord, InvoiceRecord, InvoiceStatus, Language};

/// Text encoding of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingSetting {
    /// UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.
    #[default]
    Auto,
    #[serde(alias = "utf8")]
    Utf8,
    #[serde(alias = "cp1252", alias = "latin1", alias = "iso-8859-1")]
    Windows1252,
}

/// Order of day, month and year in dates such as `04/12/2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// 04/12/2026 is 4 December (French and most of Europe).
    #[default]
    Dmy,
    /// 04/12/2026 is 12 April (United States).
    Mdy,
}

/// Header names of each field; unset means the canonical name (in brackets).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Column of the invoice number (canonical name `invoice_number`).
    pub invoice_number: Option<String>,
    /// Column of the ERP's customer id (`customer_id`).
    pub customer_id: Option<String>,
    /// Column of the customer's name (`customer_name`).
    pub customer_name: Option<String>,
    /// Column of the customer's email addresses, separated by `;` or `,` (`customer_email`).
    pub customer_email: Option<String>,
    /// Column of the customer's phone numbers (`customer_phone`).
    pub customer_phone: Option<String>,
    /// Column of the customer's IBAN, used to recognise their payments (`customer_iban`).
    pub customer_iban: Option<String>,
    /// Column of the customer's segment, for scenario conditions (`customer_segment`).
    pub customer_segment: Option<String>,
    /// Column of the customer's language, `fr` or `en` (`customer_language`).
    pub customer_language: Option<String>,
    /// Column of the postal address for letters; lines separated by newlines (a quoted field) or ` | `
    /// (`customer_address`).
    pub customer_address: Option<String>,
    /// Column of the invoice date (`issue_date`).
    pub issue_date: Option<String>,
    /// Column of the due date (`due_date`).
    pub due_date: Option<String>,
    /// Column of the currency code (`currency`).
    pub currency: Option<String>,
    /// Column of the invoice total (`amount_total`).
    pub amount_total: Option<String>,
    /// Column of the amount still owed (`amount_open`).
    pub amount_open: Option<String>,
    /// Column of the ERP's invoice status (`status`).
    pub status: Option<String>,
}

/// The fields Relance reads, in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    InvoiceNumber,
    CustomerId,
    CustomerName,
    CustomerEmail,
    CustomerPhone,
    CustomerIban,
    CustomerSegment,
    CustomerLanguage,
    CustomerAddress,
    IssueDate,
    DueDate,
    Currency,
    AmountTotal,
    AmountOpen,
    Status,
}

impl Field {
    const COUNT: usize = 15;
    const ALL: [Field; Field::COUNT] = [
        Field::InvoiceNumber,
        Field::CustomerId,
        Field::CustomerName,
        Field::CustomerEmail,
        Field::CustomerPhone,
        Field::CustomerIban,
        Field::CustomerSegment,
        Field::CustomerLanguage,
        Field::CustomerAddress,
        Field::IssueDate,
        Field::DueDate,
        Field::Currency,
        Field::AmountTotal,
        Field::AmountOpen,
        Field::Status,
    ];

    pub fn canonical(self) -> &'static str {
        match self {
            Field::InvoiceNumber => "invoice_number",
            Field::CustomerId => "customer_id",
            Field::CustomerName => "customer_name",
            Field::CustomerEmail => "customer_email",
            Field::CustomerPhone => "customer_phone",
            Field::CustomerIban => "customer_iban",
            Field::CustomerSegment => "customer_segment",
            Field::CustomerLanguage => "customer_language",
            Field::CustomerAddress => "customer_address",
            Field::IssueDate => "issue_date",
            Field::DueDate => "due_date",
            Field::Currency => "currency",
            Field::AmountTotal => "amount_total",
            Field::AmountOpen => "amount_open",
            Field::Status => "status",
        }
    }

    fn required(self) -> bool {
        matches!(self, Field::InvoiceNumber | Field::CustomerId | Field::DueDate | Field::AmountTotal)
    }

    fn mapped(self, map: &ColumnMap) -> Option<&str> {
        match self {
            Field::InvoiceNumber => map.invoice_number.as_deref(),
            Field::CustomerId => map.customer_id.as_deref(),
            Field::CustomerName => map.customer_name.as_deref(),
            Field::CustomerEmail => map.customer_email.as_deref(),
            Field::CustomerPhone => map.customer_phone.as_deref(),
            Field::CustomerIban => map.customer_iban.as_deref(),
            Field::CustomerSegment => map.customer_segment.as_deref(),
            Field::CustomerLanguage => map.customer_language.as_deref(),
            Field::CustomerAddress => map.customer_address.as_deref(),
            Field::IssueDate => map.issue_date.as_deref(),
            Field::DueDate => map.due_date.as_deref(),
            Field::Currency => map.currency.as_deref(),
            Field::AmountTotal => map.amount_total.as_deref(),
            Field::AmountOpen => map.amount_open.as_deref(),
            Field::Status => map.status.as_deref(),
        }
    }
}

/// How values are written in a file.
#[derive(Debug, Clone)]
pub struct ValueFormat {
    pub decimal: DecimalStyle,
    pub date_order: DateOrder,
    /// Used when the file has no currency column or the cell is empty.
    pub default_currency: Currency,
    /// Largest accepted amount, in major units (setting `max_amount`,
    /// default [`relance_domain::money::DEFAULT_MAX_AMOUNT`]): a row beyond it is
    /// quarantined, so no stored amount comes near the limits of `i64`.
    pub max_amount: u64,
}

/// Where each field is in the file, and the header names for messages.
#[derive(Debug, Clone)]
pub struct Layout {
    index: [Option<usize>; Field::COUNT],
    names: [String; Field::COUNT],
    width: usize,
}

/// A row that could not be turned into an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Header name of the faulty column, when one is to blame.
    pub column: Option<String>,
    pub reason: String,
    /// The invoice number, when it could be read: a full export must not close it.
    pub invoice_number: Option<String>,
}

/// Decodes file bytes to text. Errors say why the file is not a text file.
pub fn decode(bytes: &[u8], setting: EncodingSetting) -> Result<Cow<'_, str>, String> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes)
        && (enc == encoding_rs::UTF_8 || setting == EncodingSetting::Auto)
    {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(format!("invalid {} text", enc.name()));
        }
        return Ok(text);
    }
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err("binary content (NUL bytes): not a CSV text file".to_string());
    }
    match setting {
        EncodingSetting::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
            let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            format!(
                "invalid UTF-8 at byte {} (line {line}); set encoding = \"windows-1252\" if the export is not UTF-8",
                e.valid_up_to()
            )
        }),
        EncodingSetting::Windows1252 => Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0),
        EncodingSetting::Auto => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) => Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0),
        },
    }
}

/// Picks the delimiter from the header line: the most frequent of `; , \t |` outside quotes.
pub fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0), (b'|', 0)];
    let mut in_quotes = false;
    for b in header.bytes() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts.iter().max_by_key(|(d, n)| (*n, *d == b',')).filter(|(_, n)| *n > 0).map_or(b',', |(d, _)| *d)
}

fn norm_header(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').to_lowercase()
}

/// Maps header names to fields. Fails when a required column is missing.
pub fn read_layout(header: &StringRecord, map: &ColumnMap) -> Result<Layout, String> {
    let headers: Vec<String> = header.iter().map(norm_header).collect();
    let mut index = [None; Field::COUNT];
    let mut names: [String; Field::COUNT] = Default::default();
    let mut missing = Vec::new();
    for (i, f) in Field::ALL.iter().enumerate() {
        let name = f.mapped(map).unwrap_or(f.canonical());
        names[i] = name.to_string();
        index[i] = headers.iter().position(|h| *h == norm_header(name));
        if index[i].is_none() && (f.required() || f.mapped(map).is_some()) {
            missing.push(format!("`{name}`"));
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "missing column{} {} in the header (found: {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            header.iter().map(|h| h.trim()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Layout { index, names, width: headers.len() })
}

impl Layout {
    /// The row's invoice number (trimmed), when it has one.
    pub fn invoice_number<'r>(&self, rec: &'r StringRecord) -> Option<&'r str> {
        self.get(rec, Field::InvoiceNumber)
    }

    fn get<'r>(&self, rec: &'r StringRecord, f: Field) -> Option<&'r str> {
        self.index[f as usize].and_then(|i| rec.get(i)).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The header name of the invoice number column.
    pub fn invoice_number_column(&self) -> String {
        self.name(Field::InvoiceNumber)
    }

    fn name(&self, f: Field) -> String {
        self.names[f as usize].clone()
    }
}

/// True when every field of the row is empty (Excel's `;;;;` lines).
pub fn is_blank(rec: &StringRecord) -> bool {
    rec.iter().all(|f| f.trim().is_empty())
}

/// Turns one data row into an invoice record.
pub fn parse_row(rec: &StringRecord, layout: &Layout, fmt: &ValueFormat) -> Result<InvoiceRecord, RowError> {
    let number = layout.get(rec, Field::InvoiceNumber).map(str::to_string);
    let fail = |f: Option<Field>, reason: String| RowError {
        column: f.map(|f| layout.name(f)),
        reason,
        invoice_number: number.clone(),
    };
    if rec.len() < layout.width || rec.iter().skip(layout.width).any(|x| !x.trim().is_empty()) {
        return Err(fail(None, format!("{} fields where the header has {}", rec.len(), layout.width)));
    }
    let need = |f: Field| layout.get(rec, f).ok_or_else(|| fail(Some(f), "empty value".to_string()));
    let number_text = need(Field::InvoiceNumber)?;
    if number_text.chars().count() > 64 {
        return Err(fail(Some(Field::InvoiceNumber), "longer than 64 characters".to_string()));
    }
    let customer_id = need(Field::CustomerId)?;
    let currency = match layout.get(rec, Field::Currency) {
        Some(c) => Currency::parse(c).map_err(|e| fail(Some(Field::Currency), e.to_string()))?,
        None => fmt.default_currency,
    };
    let money = |f: Field, text: &str| {
        Money::parse(text, currency, fmt.decimal)
            .map_err(|e| fail(Some(f), format!("{e} ({currency})")))?
            .check_range(fmt.max_amount)
            .map_err(|e| fail(Some(f), e.to_string()))
    };
    let total = money(Field::AmountTotal, need(Field::AmountTotal)?)?;
    let open = match layout.get(rec, Field::AmountOpen) {
        Some(t) => money(Field::AmountOpen, t)?,
        None => total,
    };
    let open_ok = if total.minor >= 0 {
        (0..=total.minor).contains(&open.minor)
    } else {
        (total.minor..=0).contains(&open.minor)
    };
    if !open_ok {
        return Err(fail(
            Some(Field::AmountOpen),
            format!(
                "open amount {} is outside 0..{} (the invoice total)",
                open.to_decimal_string(),
                total.to_decimal_string()
            ),
        ));
    }
    let date = |f: Field, text: &str| parse_date(text, fmt.date_order).map_err(|e| fail(Some(f), e));
    let due_date = date(Field::DueDate, need(Field::DueDate)?)?;
    let issue_date = layout.get(rec, Field::IssueDate).map(|t| date(Field::IssueDate, t)).transpose()?;
    if let Some(issued) = issue_date
        && issued > due_date
    {
        return Err(fail(Some(Field::DueDate), format!("due date {due_date} is before the issue date {issued}")));
    }
    let emails = match layout.get(rec, Field::CustomerEmail) {
        Some(t) => split_emails(t).map_err(|e| fail(Some(Field::CustomerEmail), e))?,
        None => Vec::new(),
    };
    let ibans = match layout.get(rec, Field::CustomerIban) {
        Some(t) => vec![normalize_iban(t).map_err(|e| fail(Some(Field::CustomerIban), format!("`{t}`: {e}")))?],
        None => Vec::new(),
    };
    let language = layout
        .get(rec, Field::CustomerLanguage)
        .map(|t| t.parse::<Language>().map_err(|e| fail(Some(Field::CustomerLanguage), e.to_string())))
        .transpose()?;
    let status = layout
        .get(rec, Field::Status)
        .map(|t| parse_status(t).ok_or_else(|| fail(Some(Field::Status), format!("unknown status `{t}`"))))
        .transpose()?;
    Ok(InvoiceRecord {
        number: number_text.to_string(),
        customer: CustomerRecord {
            id: customer_id.to_string(),
            name: layout.get(rec, Field::CustomerName).unwrap_or(customer_id).to_string(),
            emails,
            phones: layout.get(rec, Field::CustomerPhone).map(|p| vec![p.to_string()]).unwrap_or_default(),
            ibans,
            segment: layout.get(rec, Field::CustomerSegment).map(str::to_string),
            language,
            address: layout.get(rec, Field::CustomerAddress).map(address_lines),
        },
        issue_date,
        due_date,
        total,
        open,
        status,
    })
}

/// A postal address with one line per `\n`, whether the file used line breaks or ` | `.
fn address_lines(text: &str) -> String {
    text.split(['\n', '|']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Records read from a whole file, and the rows that failed with their line.
pub type ParsedInvoices = (Vec<InvoiceRecord>, Vec<(u64, RowError)>);

/// Parses a whole invoice CSV held in memory: the records, and the rows that
/// failed with their line numbers. Fails only when the file has no usable header.
pub fn parse_all(bytes: &[u8], map: &ColumnMap, fmt: &ValueFormat) -> Result<ParsedInvoices, String> {
    let text = decode(bytes, EncodingSetting::Auto)?;
    let mut reader =
        csv::ReaderBuilder::new().delimiter(detect_delimiter(&text)).flexible(true).from_reader(text.as_bytes());
    let layout = read_layout(reader.headers().map_err(|e| format!("unreadable header: {e}"))?, map)?;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    let mut rec = StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) if is_blank(&rec) => {}
            Ok(true) => match parse_row(&rec, &layout, fmt) {
                Ok(r) => ok.push(r),
                Err(e) => bad.push((line, e)),
            },
            Err(e) => {
                bad.push((line, RowError { column: None, reason: e.to_string(), invoice_number: None }));
                break;
            }
        }
    }
    Ok((ok, bad))
}

/// Parses `2026-10-15`, `20261015`, `15/10/2026`, `15.10.2026`, `15-10-26`
/// (day/month order from `order`), ignoring a time part.
pub fn parse_date(text: &str, order: DateOrder) -> Result<NaiveDate, String> {
    let expected = match order {
        DateOrder::Dmy => "DD/MM/YYYY or YYYY-MM-DD",
        DateOrder::Mdy => "MM/DD/YYYY or YYYY-MM-DD",
    };
    let err = || format!("`{text}` is not a valid date (expected {expected})");
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    let parts: Vec<&str> = t.split(['/', '-', '.']).collect();
    let num = |s: &str| -> Result<u32, String> {
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        s.parse().map_err(|_| err())
    };
    let (y, m, d) = match parts.as_slice() {
        [one] if one.len() == 8 && one.is_ascii() => (num(&one[..4])?, num(&one[4..6])?, num(&one[6..])?),
        [a, b, c] if a.len() == 4 => (num(a)?, num(b)?, num(c)?),
        [a, b, c] if c.len() == 4 || c.len() == 2 => {
            let year = if c.len() == 2 { 2000 + num(c)? } else { num(c)? };
            match order {
                DateOrder::Dmy => (year, num(b)?, num(a)?),
                DateOrder::Mdy => (year, num(a)?, num(b)?),
            }
        }
        _ => return Err(err()),
    };
    if !(1900..=2200).contains(&y) {
        return Err(err());
    }
    NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(err)
}

fn split_emails(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in text.split([',', ';', ' ']).map(str::trim).filter(|e| !e.is_empty()) {
        let e = e.trim_start_matches('<').trim_end_matches('>');
        let ok = match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
        if !ok {
            return Err(format!("`{e}` is not an e-mail address"));
        }
        out.push(e.to_string());
    }
    Ok(out)
}

/// Canonical statuses plus the French and ERP words commonly exported.
fn parse_status(text: &str) -> Option<InvoiceStatus> {
    if let Ok(s) = text.parse() {
        return Some(s);
    }
    let t = text.trim().to_lowercase();
    Some(match t.as_str() {
        "ouverte" | "ouvert" | "non payée" | "non payee" | "unpaid" | "not_paid" | "posted" => InvoiceStatus::Open,
        "partiellement payée" | "partiellement payee" | "partial" | "partially" => InvoiceStatus::PartiallyPaid,
        "payée" | "payee" | "soldée" | "soldee" | "in_payment" => InvoiceStatus::Paid,
        "litige" | "contestée" | "contestee" => InvoiceStatus::Disputed,
        "annulée" | "annulee" | "canceled" | "cancel" => InvoiceStatus::Cancelled,
        "avoir" | "credit note" | "refund" => InvoiceStatus::CreditNote,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
