//! Tests of the FEC source on sample files written for them following the
//! legal specification: `testdata/123456789FEC20251231.txt` (tab separated,
//! UTF-8, a `DateEcheance` extra column; journals VE, BQ, OD; customers
//! C001 and C002 as auxiliary accounts of 411000) and variants derived from
//! it (pipe and Windows-1252, BOM, `Montant`/`Sens`, bad lines).
//!
//! Expected open items of the sample, computed by hand (as of 2025-12-31):
//!
//! | item  | customer | total       | open        | due        | why                                         |
//! |-------|----------|-------------|-------------|------------|---------------------------------------------|
//! | F001  | C001     | 1200.00     | 0.00        | 2025-02-09 | lettered AA with BQ 1 (1200.00), balanced   |
//! | F002  | C001     | 2400.00     | 1400.00     | 2025-02-15 | AB: 2400.00 − 1000.00 (partial), due column |
//! | AV001 | C001     | −240.00     | −240.00     | 2025-02-19 | credit note of VE, unlettered               |
//! | F003  | C002     | 600.00      | 600.00      | 2025-03-17 | unlettered; PieceDate 01-31 + 45 days       |
//! | F004  | C002     | USD 1000.00 | USD 1000.00 | 2025-03-22 | Idevise USD, Montantdevise 1000,00          |
//! | F005  | C002     | 300.00      | 0.00        | 2025-04-15 | AC: 300.00 − 299.50 (BQ) − 0.50 (OD)        |
//! | F006  | C001     | 100.00      | 100.00      | 2026-01-19 | AD dated 2026-01-05, after the closing date |
//!
//! Unapplied payments: BQ 3 (C002, 150.00, unlettered) and BQ 5 (C001,
//! 100.00, lettering AD after the closing date).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use relance_config::Settings;
use relance_domain::money::{Currency, Money};
use relance_domain::{InvoiceStatus, TenantId};
use relance_store::{InvoiceQuery, Store};
use tokio_util::sync::CancellationToken;

use super::ledger::{self, Ledger, OpenItem, Rules, Tainted};
use super::parse::{self, Format, Parsed};
use super::*;

const SAMPLE: &str = include_str!("testdata/123456789FEC20251231.txt");

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn rules() -> Rules {
    Rules {
        customer_prefixes: vec!["411".into()],
        sales_journals: None,
        opening_journals: vec!["AN".into()],
        book_currency: eur(),
        default_terms_days: 30,
        terms_days: BTreeMap::from([("C002".to_string(), 45)]),
        as_of: Some(date("2025-12-31")),
    }
}

fn format() -> Format {
    Format { book_currency: eur(), delimiter: None, due_date_column: None }
}

fn parse_text(text: &str) -> Parsed {
    parse::parse(text, &format(), |_| true).unwrap()
}

fn ledger_of(parsed: &Parsed, rules: &Rules) -> Ledger {
    let customer: Vec<&parse::FecLine> = parsed.lines.iter().filter(|l| rules.is_customer(&l.account)).collect();
    ledger::build(&customer, rules, &Tainted::default())
}

/// (number, customer, total, open, due) of each item, amounts as decimal strings with their currency.
fn summary(items: &[OpenItem]) -> Vec<(String, String, String, String, String)> {
    let m = |x: &Money| format!("{} {}", x.currency.code(), x.to_decimal_string());
    items
        .iter()
        .map(|i| (i.number.clone(), i.customer_id.clone(), m(&i.total), m(&i.open), i.due_date.to_string()))
        .collect()
}

fn expected(f002_due: &str) -> Vec<(String, String, String, String, String)> {
    [
        ("AV001", "C001", "EUR -240.00", "EUR -240.00", "2025-02-19"),
        ("F001", "C001", "EUR 1200.00", "EUR 0.00", "2025-02-09"),
        ("F002", "C001", "EUR 2400.00", "EUR 1400.00", f002_due),
        ("F003", "C002", "EUR 600.00", "EUR 600.00", "2025-03-17"),
        ("F004", "C002", "USD 1000.00", "USD 1000.00", "2025-03-22"),
        ("F005", "C002", "EUR 300.00", "EUR 0.00", "2025-04-15"),
        ("F006", "C001", "EUR 100.00", "EUR 100.00", "2026-01-19"),
    ]
    .into_iter()
    .map(|(a, b, c, d, e)| (a.into(), b.into(), c.into(), d.into(), e.into()))
    .collect()
}

/// The sample with `|` separators, CRLF line ends, without the due-date column, in Windows-1252.
fn pipe_windows_1252() -> Vec<u8> {
    let text: String = SAMPLE
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('\t').collect();
            f.pop();
            f.join("|") + "\r\n"
        })
        .collect();
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// The sample with `Montant` and `Sens` instead of `Debit` and `Credit`.
fn montant_sens() -> String {
    SAMPLE
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
            if i == 0 {
                f[11] = "Montant".into();
                f[12] = "Sens".into();
            } else if f[11] == "0,00" {
                f[11] = f[12].clone();
                f[12] = "C".into();
            } else {
                f[12] = "D".into();
            }
            f.join("\t") + "\n"
        })
        .collect()
}

/// The sample with line `line` (1-based) changed by `edit` on its tab-separated fields.
fn with_line(line: usize, edit: impl Fn(&mut Vec<String>)) -> String {
    SAMPLE
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
            if i + 1 == line {
                edit(&mut f);
            }
            f.join("\t") + "\n"
        })
        .collect()
}

#[test]
fn the_legal_layout_is_read_with_line_numbers_amounts_dates_and_currencies() {
    let p = parse_text(SAMPLE);
    assert_eq!((p.data_lines, p.lines.len(), p.errors.len()), (33, 33, 0));
    assert_eq!(p.first_date, Some(date("2025-01-10")));
    assert!(p.unbalanced.is_empty(), "{:?}", p.unbalanced);
    let l = p.lines.iter().find(|l| l.line == 8).unwrap();
    assert_eq!((l.journal.as_str(), l.entry.as_str(), l.amount), ("VE", "3", -24_000));
    assert_eq!((l.aux.as_deref(), l.piece_ref.as_deref(), l.lettering.as_deref()), (Some("C001"), Some("AV001"), None));
    let l = p.lines.iter().find(|l| l.line == 16).unwrap();
    assert_eq!((l.amount, l.foreign), (92_000, Some(Money::new(100_000, usd()))));
    let l = p.lines.iter().find(|l| l.line == 5).unwrap();
    assert_eq!((l.due_date, l.letter_date), (Some(date("2025-02-15")), Some(date("2025-03-01"))));
    let l = p.lines.iter().find(|l| l.line == 13).unwrap();
    assert_eq!((l.piece_date, l.entry_date), (Some(date("2025-01-31")), date("2025-02-01")));
    assert_eq!(l.aux_label, "Société Générale d'Équipement");
}

#[test]
fn the_sample_makes_the_hand_computed_open_items() {
    let l = ledger_of(&parse_text(SAMPLE), &rules());
    assert_eq!(l.issues, vec![]);
    assert_eq!(summary(&l.items), expected("2025-02-15"));
    let f003 = l.items.iter().find(|i| i.number == "F003").unwrap();
    assert_eq!((f003.issue_date, f003.customer_name.as_str()), (date("2025-01-31"), "Société Générale d'Équipement"));
    let unapplied: Vec<(u64, &str, i64)> =
        l.unapplied.iter().map(|r| (r.line, r.customer_id.as_str(), r.open.minor)).collect();
    assert_eq!(unapplied, vec![(26, "C002", -15_000), (34, "C001", -10_000)]);
    assert_eq!(l.unattributed, vec![]);
}

#[test]
fn without_an_as_of_date_later_lettering_settles() {
    let l = ledger_of(&parse_text(SAMPLE), &Rules { as_of: None, ..rules() });
    let f006 = l.items.iter().find(|i| i.number == "F006").unwrap();
    assert_eq!(f006.open.minor, 0);
    assert_eq!(l.unapplied.len(), 1);
}

#[test]
fn pipe_separated_windows_1252_with_crlf_reads_the_same() {
    let bytes = pipe_windows_1252();
    let text = decode(&bytes, EncodingSetting::Auto).unwrap();
    let p = parse_text(&text);
    assert_eq!((p.lines.len(), p.errors.len()), (33, 0));
    assert_eq!(p.lines.iter().find(|l| l.line == 13).unwrap().aux_label, "Société Générale d'Équipement");
    // No due-date column: F002 is due 30 days after 2025-01-15.
    assert_eq!(summary(&ledger_of(&p, &rules()).items), expected("2025-02-14"));
}

#[test]
fn utf8_with_a_bom_and_lower_case_headers_read_the_same() {
    let mut lines = SAMPLE.lines();
    let header = lines.next().unwrap().to_lowercase();
    let text = format!("\u{feff}{header}\n{}\n", lines.collect::<Vec<_>>().join("\n"));
    let decoded = decode(text.as_bytes(), EncodingSetting::Auto).unwrap();
    assert_eq!(summary(&ledger_of(&parse_text(&decoded), &rules()).items), expected("2025-02-15"));
}

#[test]
fn montant_and_sens_read_like_debit_and_credit() {
    let p = parse_text(&montant_sens());
    assert_eq!(p.errors, vec![]);
    assert_eq!(summary(&ledger_of(&p, &rules()).items), expected("2025-02-15"));
    let bad = montant_sens().replacen("\t1200,00\tD\t", "\t1200,00\tX\t", 1);
    let p = parse_text(&bad);
    assert_eq!(p.errors.len(), 1);
    assert_eq!((p.errors[0].line, p.errors[0].column), (2, Some("Sens")));
}

#[test]
fn a_file_missing_required_columns_is_refused_naming_them() {
    let text = SAMPLE.replacen("EcritureLet\t", "Lettrage\t", 1).replacen("\tCredit\t", "\tCr\t", 1);
    let err = parse::parse(&text, &format(), |_| true).unwrap_err();
    assert!(err.contains("not a FEC file: missing columns EcritureLet, Credit"), "{err}");
    let only_montant = montant_sens().replacen("\tSens\t", "\tDirection\t", 1);
    let err = parse::parse(&only_montant, &format(), |_| true).unwrap_err();
    assert!(err.contains("missing column Sens"), "{err}");
}

#[test]
fn bad_lines_are_reported_with_line_and_column_and_the_rest_goes_on() {
    // Line 13: F003's customer line, unreadable debit; line 11: a payroll line, unreadable date;
    // line 21: Dupont's partial payment of F002 (lettering AB), a field short.
    let text = with_line(13, |f| f[11] = "6OO,00".into());
    let text: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i + 1 {
            11 => l.replacen("\t20250131\t641000", "\t20250231\t641000", 1) + "\n",
            21 => l.rsplit_once('\t').map_or("", |x| x.0).to_string() + "\n",
            _ => format!("{l}\n"),
        })
        .collect();
    let p = parse_text(&text);
    let errors: Vec<(u64, Option<&str>)> = p.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(errors, vec![(11, Some("EcritureDate")), (13, Some("Debit")), (21, None)]);
    assert!(p.errors[1].reason.contains("unreadable amount `6OO,00`"), "{}", p.errors[1].reason);
    assert!(p.errors[2].reason.contains("18 fields where the header has 19"), "{}", p.errors[2].reason);
    assert_eq!(p.lines.len(), 30);
    // What the connector derives from readable bad lines: F003's customer line is unreadable (its
    // item is left out), and were lettering AB touched by one, F002 would be held too.
    let c = p.errors[1].context.clone().unwrap();
    assert_eq!((c.journal.as_str(), c.account.as_str(), c.aux.as_deref()), ("VE", "411000", Some("C002")));
    let tainted = Tainted {
        items: [(ledger::customer_of(&c.account, c.aux.as_deref()), "F003".to_string())].into(),
        letterings: [("C001".to_string(), "AB".to_string())].into(),
    };
    let customer: Vec<&parse::FecLine> = p.lines.iter().filter(|l| rules().is_customer(&l.account)).collect();
    let l = ledger::build(&customer, &rules(), &tainted);
    assert_eq!(l.issues.len(), 1, "{:?}", l.issues);
    assert!(l.issues[0].follows_unreadable && l.issues[0].numbers == ["F002"], "{:?}", l.issues);
    let numbers: Vec<&str> = l.items.iter().map(|i| i.number.as_str()).collect();
    assert_eq!(numbers, ["AV001", "F001", "F004", "F005", "F006"]);
}

/// A FEC of the given lines (JournalCode, EcritureNum, EcritureDate, CompteNum, CompAuxNum, PieceRef, Debit, Credit, EcritureLet).
fn small(rows: &[[&str; 9]]) -> String {
    let mut s = String::from(
        "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise\n",
    );
    for [j, n, d, acct, aux, piece, debit, credit, lettering] in rows {
        let dlet = if lettering.is_empty() { "" } else { d };
        s.push_str(&format!(
            "{j}\t{j}\t{n}\t{d}\t{acct}\tCompte {acct}\t{aux}\t{aux}\t{piece}\t\tx\t{debit}\t{credit}\t{lettering}\t{dlet}\t{d}\t\t\n"
        ));
    }
    s
}

#[test]
fn a_partial_lettering_over_two_invoices_settles_the_oldest_first() {
    let text = small(&[
        ["VT", "1", "20250105", "411DUR", "", "A1", "100,00", "", "X"],
        ["VT", "1", "20250105", "706", "", "A1", "", "100,00", ""],
        ["VT", "2", "20250110", "411DUR", "", "A2", "50,00", "", "X"],
        ["VT", "2", "20250110", "706", "", "A2", "", "50,00", ""],
        ["BQ", "1", "20250120", "411DUR", "", "B1", "", "120,00", "X"],
        ["BQ", "1", "20250120", "512", "", "B1", "120,00", "", ""],
    ]);
    let l = ledger_of(&parse_text(&text), &Rules { as_of: None, ..rules() });
    let opens: Vec<(&str, &str, i64, i64)> =
        l.items.iter().map(|i| (i.number.as_str(), i.customer_id.as_str(), i.total.minor, i.open.minor)).collect();
    // No auxiliary account: the account is the customer. 120 pays A1 (older) then 20 of A2.
    assert_eq!(opens, vec![("A1", "411DUR", 10_000, 0), ("A2", "411DUR", 5_000, 3_000)]);
}

#[test]
fn an_overpayment_leaves_the_excess_as_an_unapplied_payment_and_configured_journals_rule() {
    let text = small(&[
        ["FAC", "1", "20250105", "411100", "C9", "A1", "100,00", "", "X"],
        ["FAC", "1", "20250105", "706", "", "A1", "", "100,00", ""],
        ["BQ", "1", "20250120", "411100", "C9", "B1", "", "130,00", "X"],
        ["BQ", "1", "20250120", "512", "", "B1", "130,00", "", ""],
        ["VE", "9", "20250121", "411100", "C9", "Z1", "10,00", "", ""],
    ]);
    let rules = Rules { as_of: None, sales_journals: Some(vec!["FAC".into()]), ..rules() };
    let l = ledger_of(&parse_text(&text), &rules);
    assert_eq!(
        summary(&l.items),
        vec![("A1".into(), "C9".into(), "EUR 100.00".into(), "EUR 0.00".into(), "2025-02-04".into())]
    );
    let unapplied: Vec<(u64, i64)> = l.unapplied.iter().map(|r| (r.line, r.open.minor)).collect();
    assert_eq!(unapplied, vec![(4, -3_000)]);
    // VE is not a sales journal here: its open debit is reported, not an invoice.
    assert_eq!(l.unattributed.iter().map(|r| r.line).collect::<Vec<_>>(), vec![6]);
}

#[test]
fn a_partial_lettering_across_currencies_is_an_issue_not_a_guess() {
    let text = small(&[
        ["VE", "1", "20250105", "411", "C1", "U1", "920,00", "", "Y"],
        ["VE", "1", "20250105", "706", "", "U1", "", "920,00", ""],
        ["BQ", "1", "20250120", "411", "C1", "B1", "", "500,00", "Y"],
        ["BQ", "1", "20250120", "512", "", "B1", "500,00", "", ""],
    ])
    .replacen("\tY\t20250105\t20250105\t\t\n", "\tY\t20250105\t20250105\t1000,00\tUSD\n", 1);
    let l = ledger_of(&parse_text(&text), &Rules { as_of: None, ..rules() });
    assert_eq!(l.items, vec![]);
    assert_eq!(l.issues.len(), 2, "{:?}", l.issues);
    assert!(l.issues.iter().all(|i| i.reason.contains("across currencies") && !i.follows_unreadable));
}

#[test]
fn opening_balances_shared_by_customers_are_one_item_each_and_a_shared_invoice_number_is_an_issue() {
    let text = small(&[
        ["AN", "1", "20250101", "411000", "C001", "AN2025", "80,00", "", ""],
        ["AN", "1", "20250101", "411000", "C002", "AN2025", "20,00", "", ""],
        ["AN", "1", "20250101", "890000", "", "AN2025", "", "100,00", ""],
        ["VE", "1", "20250105", "411000", "C001", "F9", "10,00", "", ""],
        ["VE", "1", "20250105", "411000", "C002", "F9", "10,00", "", ""],
        ["VE", "1", "20250105", "706000", "", "F9", "", "20,00", ""],
    ]);
    let l = ledger_of(&parse_text(&text), &rules());
    let items: Vec<(&str, &str, i64)> =
        l.items.iter().map(|i| (i.number.as_str(), i.customer_id.as_str(), i.open.minor)).collect();
    assert_eq!(items, vec![("AN2025/C001", "C001", 8_000), ("AN2025/C002", "C002", 2_000)]);
    let issues: Vec<(Vec<u64>, &str)> = l.issues.iter().map(|i| (i.lines.clone(), i.reason.as_str())).collect();
    assert_eq!(
        issues,
        vec![
            (vec![5], "invoice number F9 is used for 2 customers"),
            (vec![6], "invoice number F9 is used for 2 customers")
        ]
    );
}

#[test]
fn file_names_give_the_company_and_closing_date() {
    let d = date("2025-12-31");
    assert_eq!(parse::legal_name("123456789FEC20251231.txt"), Some(("123456789".into(), d)));
    assert_eq!(parse::legal_name("export-123456789fec20251231-v2.TXT"), Some(("123456789".into(), d)));
    assert_eq!(parse::legal_name("1234567890FEC20251231.txt"), None);
    assert_eq!(parse::legal_name("123456789FEC20251331.txt"), None);
    assert_eq!(parse::legal_name("FEC.txt"), None);
}

#[test]
fn amounts_and_dates_in_the_accepted_forms() {
    assert_eq!(parse::amount("1234,56", 2), Some(123_456));
    assert_eq!(parse::amount("1234.56", 2), Some(123_456));
    assert_eq!(parse::amount("-0,5", 2), Some(-50));
    assert_eq!(parse::amount("1.234,56", 2), None);
    assert_eq!(parse::amount("12,345", 2), None);
    assert_eq!(parse::parse_date("20250131"), Some(date("2025-01-31")));
    assert_eq!(parse::parse_date("2025-01-31"), Some(date("2025-01-31")));
    assert_eq!(parse::parse_date("31/01/2025"), Some(date("2025-01-31")));
    assert_eq!(parse::parse_date("20250231"), None);
}

// --- The connector with a store ---------------------------------------------

struct Env {
    dir: tempfile::TempDir,
    store: Store,
    connector: FecInvoices,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
        std::fs::create_dir_all(dir.path().join("fec")).unwrap();
        std::fs::write(dir.path().join("relance.toml"), "").unwrap();
        std::fs::write(
            dir.path().join("tenants/t.toml"),
            format!(
                "[connectors.fec]\nkind = \"fec_invoices\"\npath = \"../fec\"\nsettle = \"0s\"\n{extra}\n[connectors.fec.terms_days]\nC002 = 45\n"
            ),
        )
        .unwrap();
        let settings = Settings::load_with_env(&dir.path().join("relance.toml"), &[]).unwrap();
        let tenant = &settings.tenants[0];
        let connector = FecInvoices::from_config(tenant, &tenant.connectors[0]).unwrap();
        let store = Store::open_sqlite(&dir.path().join("data/relance.db")).unwrap();
        Env { dir, store, connector }
    }

    fn ctx(&self) -> RunContext {
        RunContext {
            tenant: TenantId::new("t").unwrap(),
            connector: "fec".into(),
            store: self.store.clone(),
            keep_dir: self.dir.path().join("data/t/fec"),
            cancel: CancellationToken::new(),
            once: true,
        }
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        std::fs::write(self.dir.path().join("fec").join(name), content).unwrap();
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join("fec").join(name)).unwrap();
    }

    fn run(&self) -> RunReport {
        self.connector.sync_blocking(&self.ctx()).unwrap()
    }

    /// (number, status, open) of every invoice.
    fn invoices(&self) -> Vec<(String, InvoiceStatus, String)> {
        let q = InvoiceQuery { limit: 1000, ..Default::default() };
        let mut v: Vec<_> = self
            .store
            .invoices(&TenantId::new("t").unwrap(), &q)
            .unwrap()
            .items
            .into_iter()
            .map(|i| (i.number, i.status, i.open.to_decimal_string()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn quarantine(&self) -> Vec<relance_domain::QuarantineItem> {
        self.store.quarantine(&TenantId::new("t").unwrap(), 1000).unwrap().items
    }
}

fn states(v: &[(&str, InvoiceStatus, &str)]) -> Vec<(String, InvoiceStatus, String)> {
    v.iter().map(|(n, s, o)| (n.to_string(), *s, o.to_string())).collect()
}

const FIRST: [(&str, InvoiceStatus, &str); 7] = [
    ("AV001", InvoiceStatus::CreditNote, "-240.00"),
    ("F001", InvoiceStatus::Paid, "0.00"),
    ("F002", InvoiceStatus::PartiallyPaid, "1400.00"),
    ("F003", InvoiceStatus::Open, "600.00"),
    ("F004", InvoiceStatus::Open, "1000.00"),
    ("F005", InvoiceStatus::Paid, "0.00"),
    ("F006", InvoiceStatus::Open, "100.00"),
];

/// The sample a few months later: F002's balance paid and lettered AB, F003 paid and lettered AE,
/// F006 (a draft) deleted.
fn second_export() -> String {
    let mut text: String = SAMPLE.lines().filter(|l| !l.contains("F006")).map(|l| format!("{l}\n")).collect();
    for (n, d, acct, lettering, debit, credit) in [
        ("6", "20250401", "411000\tClients\tC001\tDupont SA", "AB", "0,00", "1400,00"),
        ("6", "20250401", "512000\tBanque\t\t", "", "1400,00", "0,00"),
        ("7", "20250402", "411000\tClients\tC002\tSociété Générale d'Équipement", "AE", "0,00", "600,00"),
        ("7", "20250402", "512000\tBanque\t\t", "", "600,00", "0,00"),
    ] {
        let dlet = if lettering.is_empty() { "" } else { d };
        text.push_str(&format!(
            "BQ\tBanque\t{n}\t{d}\t{acct}\tREL{n}\t{d}\tVirement\t{debit}\t{credit}\t{lettering}\t{dlet}\t{d}\t\t\t\n"
        ));
    }
    text.replacen(
        "\tF003\t20250131\tFacture F003 SGE\t600,00\t0,00\t\t",
        "\tF003\t20250131\tFacture F003 SGE\t600,00\t0,00\tAE\t20250402",
        1,
    )
}

#[test]
fn a_second_export_of_the_year_closes_what_was_paid_and_reimports_are_idempotent() {
    let env = Env::new("");
    env.write("123456789FEC20251231.txt", SAMPLE);
    let r = env.run();
    assert_eq!((r.items, r.quarantined, r.units), (7, 0, 1));
    assert_eq!(env.invoices(), states(&FIRST));
    // The same content again (another name, same scope): nothing applied twice.
    env.write("copy-123456789FEC20251231.txt", SAMPLE);
    assert_eq!(env.run(), RunReport::default());
    env.remove("copy-123456789FEC20251231.txt");

    env.write("123456789FEC20251231.txt", second_export());
    let r = env.run();
    assert_eq!((r.items, r.quarantined, r.units), (6, 0, 1));
    assert_eq!(
        env.invoices(),
        states(&[
            ("AV001", InvoiceStatus::CreditNote, "-240.00"),
            ("F001", InvoiceStatus::Paid, "0.00"),
            ("F002", InvoiceStatus::Paid, "0.00"),
            ("F003", InvoiceStatus::Paid, "0.00"),
            ("F004", InvoiceStatus::Open, "1000.00"),
            ("F005", InvoiceStatus::Paid, "0.00"),
            ("F006", InvoiceStatus::Closed, "0.00"),
        ])
    );
}

#[test]
fn another_fiscal_year_closes_nothing_of_this_one() {
    let env = Env::new("");
    env.write("123456789FEC20251231.txt", SAMPLE);
    env.run();
    let next = small(&[
        ["VE", "1", "20260105", "411000", "C001", "G1", "50,00", "", ""],
        ["VE", "1", "20260105", "706000", "", "G1", "", "50,00", ""],
    ]);
    env.write("123456789FEC20261231.txt", next);
    let r = env.run();
    assert_eq!((r.items, r.units), (1, 1));
    let mut want = states(&FIRST);
    want.push(("G1".into(), InvoiceStatus::Open, "50.00".into()));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(env.invoices(), want);
}

#[test]
fn without_the_legal_name_a_file_is_scoped_by_its_first_entry_date() {
    let env = Env::new("");
    env.write("export.txt", SAMPLE);
    env.run();
    // No closing date: lettering AD, dated 2026, counts.
    assert_eq!(env.invoices()[6], ("F006".into(), InvoiceStatus::Paid, "0.00".into()));
    // Same first entry (2025-01-10), F003 gone: closed; F010 new.
    let mut text: String = SAMPLE.lines().filter(|l| !l.contains("F003")).map(|l| format!("{l}\n")).collect();
    text.push_str("VE\tVentes\t8\t20250110\t411000\tClients\tC001\tDupont SA\tF010\t\tx\t5,00\t0,00\t\t\t\t\t\t\n");
    text.push_str("VE\tVentes\t8\t20250110\t706000\tVentes\t\t\tF010\t\tx\t0,00\t5,00\t\t\t\t\t\t\n");
    env.write("export.txt", text);
    assert_eq!(env.run().items, 7);
    let inv = env.invoices();
    assert_eq!(inv[3], ("F003".into(), InvoiceStatus::Closed, "0.00".into()));
    assert_eq!(inv[7], ("F010".into(), InvoiceStatus::Open, "5.00".into()));
    // Another year's file (first entry 2026-01-05) closes nothing of it.
    env.write(
        "export-2026.txt",
        small(&[
            ["VE", "1", "20260105", "411000", "C001", "G1", "50,00", "", ""],
            ["VE", "1", "20260105", "706000", "", "G1", "", "50,00", ""],
        ]),
    );
    assert_eq!(env.run().items, 1);
    assert_eq!(env.invoices().iter().filter(|i| i.1 == InvoiceStatus::Closed).count(), 1);
}

#[test]
fn a_bad_line_is_quarantined_its_invoice_kept_as_it_was_and_the_rest_imported() {
    let env = Env::new("");
    env.write("123456789FEC20251231.txt", SAMPLE);
    env.run();
    // The second export, with the new payment of F003 unreadable: F003 stays as it was (open),
    // F002 is paid, F006 closed.
    let second = second_export().replacen("\t0,00\t600,00\tAE\t", "\t0,00\t6OO,00\tAE\t", 1);
    let bad_line = second.lines().position(|l| l.contains("6OO,00")).unwrap() as u64 + 1;
    env.write("123456789FEC20251231.txt", second);
    let r = env.run();
    assert_eq!((r.items, r.quarantined), (5, 1));
    let q = env.quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].line, q[0].column.as_deref()), (Some(bad_line), Some("Credit")));
    assert!(q[0].item.ends_with("123456789FEC20251231.txt") && q[0].reason.contains("unreadable amount `6OO,00`"));
    let inv = env.invoices();
    assert_eq!(inv[2], ("F002".into(), InvoiceStatus::Paid, "0.00".into()));
    assert_eq!(inv[3], ("F003".into(), InvoiceStatus::Open, "600.00".into()), "kept as it was, not closed");
    assert_eq!(inv[6], ("F006".into(), InvoiceStatus::Closed, "0.00".into()));
}

#[test]
fn a_file_without_the_required_columns_or_entries_is_quarantined_whole() {
    let env = Env::new("");
    env.write("a.txt", SAMPLE.replacen("PieceRef", "Piece", 1));
    env.write("b.txt", SAMPLE.lines().next().unwrap());
    let r = env.run();
    assert_eq!((r.items, r.quarantined, r.units), (0, 2, 2));
    let reasons: Vec<String> = env.quarantine().into_iter().map(|q| q.reason).collect();
    assert!(reasons.iter().any(|r| r.contains("missing column PieceRef")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("no entries (header only)")), "{reasons:?}");
    assert_eq!(env.run(), RunReport::default(), "reported once");
    assert!(env.invoices().is_empty());
}

#[test]
fn the_pipe_windows_1252_variant_imports_through_the_connector() {
    let env = Env::new("encoding = \"auto\"");
    env.write("123456789FEC20251231.txt", pipe_windows_1252());
    let r = env.run();
    assert_eq!((r.items, r.quarantined), (7, 0));
    assert_eq!(env.invoices(), states(&FIRST));
    let q = InvoiceQuery { limit: 10, ..Default::default() };
    let f004 = env.store.invoices(&TenantId::new("t").unwrap(), &q).unwrap().items;
    let f004 = f004.iter().find(|i| i.number == "F004").unwrap();
    assert_eq!((f004.total.currency.code(), f004.due_date), ("USD", date("2025-03-22")));
}
