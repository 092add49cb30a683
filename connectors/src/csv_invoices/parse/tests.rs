use super::*;

const CANONICAL: &str = "invoice_number,customer_id,customer_name,customer_email,customer_iban,issue_date,due_date,currency,amount_total,amount_open";

fn fmt(decimal: DecimalStyle, order: DateOrder) -> ValueFormat {
    ValueFormat {
        decimal,
        date_order: order,
        default_currency: Currency::EUR,
        max_amount: relance_domain::money::DEFAULT_MAX_AMOUNT,
    }
}

fn records(text: &str) -> (Layout, Vec<StringRecord>) {
    let delim = detect_delimiter(text);
    let mut r = csv::ReaderBuilder::new().delimiter(delim).flexible(true).from_reader(text.as_bytes());
    let layout = read_layout(r.headers().unwrap(), &ColumnMap::default()).unwrap();
    let recs = r.records().map(|x| x.unwrap()).collect();
    (layout, recs)
}

fn one(text: &str, f: &ValueFormat) -> Result<InvoiceRecord, RowError> {
    let (layout, recs) = records(text);
    parse_row(&recs[0], &layout, f)
}

#[test]
fn canonical_english_row() {
    let text = format!(
        "{CANONICAL}\nINV-1,C1,Acme Ltd,ap@acme.example,GB82 WEST 1234 5698 7654 32,2026-10-01,2026-10-31,GBP,\"1,250.00\",250.5\n"
    );
    let r = one(&text, &fmt(DecimalStyle::Auto, DateOrder::Dmy)).unwrap();
    assert_eq!(r.number, "INV-1");
    assert_eq!(r.customer.name, "Acme Ltd");
    assert_eq!(r.customer.emails, vec!["ap@acme.example"]);
    assert_eq!(r.customer.ibans, vec!["GB82WEST12345698765432"]);
    assert_eq!(r.total.currency.code(), "GBP");
    assert_eq!(r.total.minor, 125_000);
    assert_eq!(r.open.minor, 25_050);
    assert_eq!(r.due_date, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
    assert_eq!(r.effective_status(), InvoiceStatus::PartiallyPaid);
}

#[test]
fn french_row_with_semicolons() {
    let text = format!("{}\nFA-7;C9;Dupont SA;;;15/10/2026;14/11/2026;;1 250,00;0,00\n", CANONICAL.replace(',', ";"));
    assert_eq!(detect_delimiter(&text), b';');
    let r = one(&text, &fmt(DecimalStyle::Auto, DateOrder::Dmy)).unwrap();
    assert_eq!(r.total.minor, 125_000);
    assert_eq!(r.total.currency, Currency::EUR, "default currency applies to an empty cell");
    assert_eq!(r.issue_date, NaiveDate::from_ymd_opt(2026, 10, 15));
    assert_eq!(r.effective_status(), InvoiceStatus::Paid);
    assert!(r.customer.emails.is_empty() && r.customer.ibans.is_empty());
}

#[test]
fn dates_in_every_supported_shape() {
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    let cases = [
        ("2026-10-15", DateOrder::Dmy, d(2026, 10, 15)),
        ("2026/10/15", DateOrder::Dmy, d(2026, 10, 15)),
        ("20261015", DateOrder::Dmy, d(2026, 10, 15)),
        ("15/10/2026", DateOrder::Dmy, d(2026, 10, 15)),
        ("15.10.2026", DateOrder::Dmy, d(2026, 10, 15)),
        ("15-10-26", DateOrder::Dmy, d(2026, 10, 15)),
        ("04/12/2026", DateOrder::Dmy, d(2026, 12, 4)),
        ("04/12/2026", DateOrder::Mdy, d(2026, 4, 12)),
        ("2026-10-15 00:00:00", DateOrder::Dmy, d(2026, 10, 15)),
        ("2026-10-15T08:30:00Z", DateOrder::Dmy, d(2026, 10, 15)),
    ];
    for (text, order, want) in cases {
        assert_eq!(parse_date(text, order), Ok(want), "{text}");
    }
    for bad in ["31/02/2026", "2026-13-01", "15/10", "yesterday", "10/15/2026", "1/1/1800", ""] {
        assert!(parse_date(bad, DateOrder::Dmy).is_err(), "{bad}");
    }
}

#[test]
fn row_errors_name_the_column() {
    let f = fmt(DecimalStyle::Auto, DateOrder::Dmy);
    let row = |cells: &str| format!("{CANONICAL}\n{cells}\n");
    let cases = [
        ("INV-1,C1,,,,2026-10-01,2026-13-31,EUR,10,10", "due_date", "not a valid date"),
        ("INV-1,C1,,,,2026-10-01,2026-10-31,EUR,ten,10", "amount_total", "not an amount"),
        ("INV-1,C1,,,,2026-10-01,2026-10-31,EUX,10,10", "currency", "unknown currency"),
        ("INV-1,C1,,not-an-email,,2026-10-01,2026-10-31,EUR,10,10", "customer_email", "not an e-mail"),
        ("INV-1,C1,,,FR7630006000011234567890188,2026-10-01,2026-10-31,EUR,10,10", "customer_iban", "check digits"),
        ("INV-1,,,,,2026-10-01,2026-10-31,EUR,10,10", "customer_id", "empty value"),
        ("INV-1,C1,,,,2026-10-01,2026-10-31,EUR,10,12", "amount_open", "outside"),
        ("INV-1,C1,,,,2026-10-31,2026-10-01,EUR,10,10", "due_date", "before the issue date"),
        ("INV-1,C1,,,,2026-10-01,2026-10-31,EUR,10.1234,10", "amount_total", "decimals"),
    ];
    for (cells, column, reason) in cases {
        let e = one(&row(cells), &f).unwrap_err();
        assert_eq!(e.column.as_deref(), Some(column), "{cells}: {e:?}");
        assert!(e.reason.contains(reason), "{cells}: {}", e.reason);
        assert_eq!(e.invoice_number.as_deref(), Some("INV-1"));
    }
    let e = one(&row(",C1,,,,2026-10-01,2026-10-31,EUR,10,10"), &f).unwrap_err();
    assert_eq!(e.invoice_number, None, "a missing number is reported as such");
    let e = one(&row("INV-1,C1,2026-10-01"), &f).unwrap_err();
    assert_eq!(e.column, None);
    assert!(e.reason.contains("3 fields where the header has 10"), "{}", e.reason);
}

#[test]
fn credit_notes_and_explicit_status() {
    let text = format!(
        "{CANONICAL},status\nAV-1,C1,,,,2026-10-01,2026-10-31,EUR,-120.00,-120.00,avoir\nF-2,C1,,,,2026-10-01,2026-10-31,EUR,10,10,Annulée\n"
    );
    let (layout, recs) = records(&text);
    let f = fmt(DecimalStyle::Auto, DateOrder::Dmy);
    assert_eq!(parse_row(&recs[0], &layout, &f).unwrap().effective_status(), InvoiceStatus::CreditNote);
    assert_eq!(parse_row(&recs[1], &layout, &f).unwrap().effective_status(), InvoiceStatus::Cancelled);
}

#[test]
fn custom_column_mapping_and_missing_columns() {
    let map = ColumnMap {
        invoice_number: Some("Numéro".into()),
        customer_id: Some("Client".into()),
        due_date: Some("Échéance".into()),
        amount_total: Some("Montant".into()),
        ..Default::default()
    };
    let header = StringRecord::from(vec!["\u{feff}numéro ", "CLIENT", "Échéance", "Montant"]);
    let layout = read_layout(&header, &map).unwrap();
    let rec = StringRecord::from(vec!["F1", "C1", "01/12/2026", "99,90"]);
    let r = parse_row(&rec, &layout, &fmt(DecimalStyle::Comma, DateOrder::Dmy)).unwrap();
    assert_eq!((r.number.as_str(), r.open.minor, r.customer.name.as_str()), ("F1", 9990, "C1"));
    let err = read_layout(&StringRecord::from(vec!["Numéro", "Client"]), &map).unwrap_err();
    assert!(err.contains("`Échéance`") && err.contains("`Montant`"), "{err}");
}

#[test]
fn decoding_handles_bom_utf16_cp1252_and_binary() {
    assert_eq!(decode(b"\xef\xbb\xbfa;b", EncodingSetting::Auto).unwrap(), "a;b");
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("é;x".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    assert_eq!(decode(&utf16, EncodingSetting::Auto).unwrap(), "é;x");
    assert_eq!(decode(b"R\xe9f\xe9rence;\x80", EncodingSetting::Auto).unwrap(), "Référence;€");
    assert!(decode(b"R\xe9f", EncodingSetting::Utf8).unwrap_err().contains("invalid UTF-8 at byte 1"));
    assert!(decode(b"PK\x03\x04\x00\x00", EncodingSetting::Auto).unwrap_err().contains("binary"));
}

#[test]
fn delimiter_detection_ignores_quoted_text() {
    assert_eq!(detect_delimiter("a,b,c\n"), b',');
    assert_eq!(detect_delimiter("\"a;b;c\",d,e\n"), b',');
    assert_eq!(detect_delimiter("a\tb\tc\n"), b'\t');
    assert_eq!(detect_delimiter("a|b;c|d\n"), b'|');
    assert_eq!(detect_delimiter("single\n"), b',');
}

#[test]
fn amounts_beyond_max_amount_are_refused_with_the_column() {
    // Issue #11: 92233720368547758.07 fits an i64 but two of them overflow every sum.
    let text = format!("{CANONICAL}\nINV-1,C1,,,,2026-10-01,2026-10-31,GBP,92233720368547758.07,\n");
    let e = one(&text, &fmt(DecimalStyle::Auto, DateOrder::Dmy)).unwrap_err();
    assert_eq!(e.column.as_deref(), Some("amount_total"));
    assert!(e.reason.contains("outside the accepted range of ±1000000000000 GBP"), "{}", e.reason);
    assert_eq!(e.invoice_number.as_deref(), Some("INV-1"));
    let mut small = fmt(DecimalStyle::Auto, DateOrder::Dmy);
    small.max_amount = 1000;
    let text = format!("{CANONICAL}\nINV-2,C1,,,,2026-10-01,2026-10-31,EUR,-1000.01,-5\n");
    assert_eq!(one(&text, &small).unwrap_err().column.as_deref(), Some("amount_total"));
    let text = format!("{CANONICAL}\nINV-3,C1,,,,2026-10-01,2026-10-31,EUR,1000.00,1000\n");
    assert_eq!(one(&text, &small).unwrap().total.minor, 100_000);
}

/// Found by fuzzing: an eight-byte cell with a multi-byte character was cut
/// inside it (a panic); it is a bad date.
#[test]
fn a_non_ascii_eight_byte_date_is_an_error_not_a_panic() {
    for text in ["HÃ´tel", "2026é123", "ééé12"] {
        assert!(parse_date(text, DateOrder::Dmy).is_err(), "{text}");
    }
    assert_eq!(parse_date("20261201", DateOrder::Dmy), Ok(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()));
}
