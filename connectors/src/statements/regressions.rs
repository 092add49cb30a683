//! Inputs that once made a parser panic, loop for long or echo megabytes into
//! an error: each must now parse, or be rejected with a short, clear error.
//! Inputs found by the fuzzers (`scripts/fuzz.sh`) are added here.

use super::*;

fn crash_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/statements/crashes").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every error stays short, whatever the input.
fn short(e: &ParseError) -> &ParseError {
    assert!(e.message.len() <= MAX_MESSAGE + '…'.len_utf8(), "error of {} bytes", e.message.len());
    e
}

#[test]
fn mt940_non_ascii_account_before_the_currency_suffix() {
    // `:25:NL54INGB0001234é12`: the currency suffix was cut at a fixed byte offset.
    let p = parse(&crash_fixture("min-mt940-panic-line142.sta")).unwrap();
    assert_eq!(p.statements[0].account.as_deref(), Some("NL54INGB0001234é12"));
    assert_eq!(p.transactions().count(), 1);
}

#[test]
fn mt940_non_ascii_transaction_type_code() {
    // `:61:…C10,00NTRéF//BANKREF`: the 4-character type code was skipped as 4 bytes.
    let p = parse(&crash_fixture("min-mt940-panic-line211.sta")).unwrap();
    let t: Vec<_> = p.lines().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].amount.minor, 1000);
    assert_eq!(t[0].bank_ref.as_deref(), Some("BANKREF"));
}

#[test]
fn mt940_non_ascii_after_the_code_of_a_structured_86() {
    // `:86:123é?20invoice`: the fourth byte was taken for the sub-field separator.
    let p = parse(&crash_fixture("min-mt940-panic-line254.sta")).unwrap();
    let t: Vec<_> = p.lines().collect();
    assert_eq!(t[0].remittance.as_deref(), Some("123é?20invoice"));
    // German sub-fields with non-ASCII text are still read as such.
    let text = ":20:S\n:25:DE89370400440532013000\n:60F:C260101EUR0,00\n:61:2601010101C10,00NTRFNONREF//B1\n\
                :86:166?00GUTSCHRIFT?20SVWZ+Rechnung Müller 42?32Müller GmbH\n";
    let p = parse(text.as_bytes()).unwrap();
    let t: Vec<_> = p.lines().collect();
    assert_eq!(t[0].remittance.as_deref(), Some("Rechnung Müller 42"));
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Müller GmbH"));
}

#[test]
fn mt940_errors_quote_little_of_a_huge_line() {
    let text = format!(":20:S\n:60F:C260101EUR0,00\n:61:26010{}\n", "x".repeat(1_000_000));
    let e = parse(text.as_bytes()).unwrap_err();
    assert!(short(&e).message.contains("statement line `26010xxx"), "{e}");
    let text = format!(":20:S\n:60F:C2601{}\n", "é".repeat(100_000));
    let e = parse(text.as_bytes()).unwrap_err();
    assert!(short(&e).message.contains("balance"), "{e}");
}

/// A CFONB 120 record: `fields` placed at their 1-based positions.
fn cfonb_record(fields: &[(usize, &str)]) -> String {
    let mut r: Vec<char> = vec![' '; 120];
    for (at, v) in fields {
        for (i, c) in v.chars().enumerate() {
            r[at - 1 + i] = c;
        }
    }
    r.into_iter().collect()
}

fn cfonb_file(label: &str) -> String {
    let head = [(1, "01"), (3, "30002"), (12, "00550"), (17, "EUR"), (20, "2"), (22, "0000123456F"), (35, "011126")];
    let open = cfonb_record(&[head.as_slice(), &[(91, "0000000100000{")]].concat());
    let movement = cfonb_record(
        &[
            &[(1, "04"), (3, "30002"), (12, "00550"), (17, "EUR"), (20, "2"), (22, "0000123456F")],
            &[(35, "021126"), (43, "021126"), (49, label), (82, "0000042"), (91, "0000000012345E")][..],
        ]
        .concat(),
    );
    let close =
        cfonb_record(&[(1, "07"), (3, "30002"), (17, "EUR"), (20, "2"), (35, "031126"), (91, "0000000112345E")]);
    format!("{open}\n{movement}\n{close}\n")
}

#[test]
fn cfonb_fields_are_counted_in_characters() {
    // Accented labels are common in French statements: the fields after the
    // label must not move by the extra bytes of each accent.
    let p = parse(cfonb_file("PRLV SEPA ÉLECTRICITÉ DE FRANCE").as_bytes()).unwrap();
    let t: Vec<_> = p.lines().collect();
    assert_eq!(t[0].remittance.as_deref(), Some("PRLV SEPA ÉLECTRICITÉ DE FRANCE"));
    assert_eq!(t[0].bank_ref.as_deref(), Some("0000042"));
    assert_eq!(t[0].amount.minor, 123_455);
    // Records back to back (no line breaks), accents included.
    let one_line = cfonb_file("VIR DE MÉLANIE").replace('\n', "");
    let p = cfonb::parse(one_line.as_bytes()).unwrap();
    assert_eq!(p.lines().next().map(|t| t.amount.minor), Some(123_455));
}

#[test]
fn cfonb_240_character_check_on_a_non_ascii_line() {
    // 240 characters whose 120th byte is inside an `é`: was sliced at byte 120.
    let line = format!("{}é{}", "0".repeat(119), "a".repeat(120));
    let e = cfonb::parse(line.as_bytes()).unwrap_err();
    assert!(short(&e).message.contains("CFONB 240"), "{e}");
}

#[test]
fn ofx_deep_nesting_is_refused() {
    let text = format!("<OFX>{}{}", "<A>".repeat(2_000), "</B>".repeat(2_000));
    let e = ofx::parse(text.as_bytes()).unwrap_err();
    assert!(short(&e).message.contains("nested deeper"), "{e}");
}

#[test]
fn camt_deep_nesting_is_refused() {
    let text = format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt><Stmt>{}",
        "<Ntry>".repeat(2_000)
    );
    let e = camt::parse(text.as_bytes()).unwrap_err();
    assert!(short(&e).message.contains("nested deeper"), "{e}");
}

#[test]
fn csv_header_is_not_echoed_whole() {
    // A 5 MB header: refused, with a few bytes of it.
    let header = format!("{}\n01/01/2026,10.00\n", "Colonne inconnue;".repeat(300_000));
    let e = csv::parse(header.as_bytes(), &csv::CsvMapping::default()).unwrap_err();
    assert!(short(&e).message.contains("not a CSV header"), "{e}");
    assert!(e.message.len() < 400, "{e}");
    // A wide header without a date column: the list of columns is cut.
    let header = format!("{}\n1;2\n", (0..1000).map(|i| format!("col{i}")).collect::<Vec<_>>().join(";"));
    let e = csv::parse(header.as_bytes(), &csv::CsvMapping::default()).unwrap_err();
    assert!(short(&e).message.contains("no date column found (header: col0, col1"), "{e}");
    assert!(e.message.len() < 500, "{e}");
}

#[test]
fn error_messages_are_cut() {
    let e = ParseError::new(Format::Csv, Some(1), "x".repeat(10_000));
    assert!(short(&e).message.ends_with('…'));
}

#[test]
fn csv_non_ascii_date_of_eight_bytes() {
    // Found by the csv_invoices fuzzer in the date reader CSV statements share:
    // an 8-byte cell was cut at bytes 4 and 6 as if it were `YYYYMMDD`.
    let text = "Date;Montant\nHÃ´tel;12,50\n";
    let e = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(short(&e).message.contains("`HÃ´tel` is not a valid date"), "{e}");
}
