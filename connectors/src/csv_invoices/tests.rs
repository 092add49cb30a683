use std::fmt::Write as _;

use relance_core::config::Settings;
use relance_core::domain::{InvoiceStatus, TenantId};
use relance_core::store::{InvoiceQuery, Store};
use tokio_util::sync::CancellationToken;

use super::*;

const HEADER: &str = "invoice_number,customer_id,customer_name,customer_email,customer_iban,issue_date,due_date,currency,amount_total,amount_open\n";

/// A tenant `t` with one csv_invoices connector `erp` reading `<dir>/in`.
struct Env {
    dir: tempfile::TempDir,
    store: Store,
    connector: CsvInvoices,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        std::fs::write(dir.path().join("relance.toml"), "").unwrap();
        std::fs::write(
            dir.path().join("tenants/t.toml"),
            format!("[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../in\"\nsettle = \"0s\"\n{extra}"),
        )
        .unwrap();
        let settings = Settings::load_with_env(&dir.path().join("relance.toml"), &[]).unwrap();
        let tenant = &settings.tenants[0];
        let connector = CsvInvoices::from_config(tenant, &tenant.connectors[0]).unwrap();
        let store = Store::open_sqlite(&dir.path().join("data/relance.db")).unwrap();
        Env { dir, store, connector }
    }

    fn ctx(&self) -> RunContext {
        RunContext {
            tenant: TenantId::new("t").unwrap(),
            connector: "erp".into(),
            store: self.store.clone(),
            keep_dir: self.dir.path().join("data/t/erp"),
            cancel: CancellationToken::new(),
            once: true,
        }
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        std::fs::write(self.dir.path().join("in").join(name), content).unwrap();
    }

    fn run(&self) -> RunReport {
        self.connector.sync_blocking(&self.ctx()).unwrap()
    }

    fn invoices(&self, statuses: &[InvoiceStatus]) -> Vec<relance_core::domain::Invoice> {
        let q = InvoiceQuery { statuses: statuses.to_vec(), limit: 1000, ..Default::default() };
        self.store.invoices(&TenantId::new("t").unwrap(), &q).unwrap().items
    }

    fn events(&self) -> Vec<relance_core::domain::AuditEvent> {
        self.store.events(&TenantId::new("t").unwrap(), 0, 1000).unwrap()
    }

    fn quarantine(&self) -> Vec<relance_core::domain::QuarantineItem> {
        self.store.quarantine(&TenantId::new("t").unwrap(), 1000, 0).unwrap().items
    }
}

fn rows(n: usize, bad: &[usize]) -> String {
    let mut s = String::from(HEADER);
    for i in 0..n {
        if bad.contains(&i) {
            writeln!(s, "F-{i:04},C{},,,,2026-10-01,not-a-date,EUR,100.00,100.00", i % 7).unwrap();
        } else {
            writeln!(
                s,
                "F-{i:04},C{},Client {},c{}@x.example,,2026-10-01,2026-10-31,EUR,{}.00,{}.00",
                i % 7,
                i % 7,
                i % 7,
                100 + i,
                100 + i
            )
            .unwrap();
        }
    }
    s
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let env = Env::new("");
    env.write("a.csv", rows(50, &[]));
    let first = env.run();
    assert_eq!((first.items, first.units), (50, 1));
    let invoices = env.invoices(&[]);
    let events = env.events().len();
    // Same content under another name, and the same file again on a fresh connector (no cache).
    env.write("b.csv", rows(50, &[]));
    let second = env.run();
    let fresh = CsvInvoices { finished: crate::files::Finished::default(), ..env.connector.clone() };
    let third = fresh.sync_blocking(&env.ctx()).unwrap();
    assert_eq!(second, RunReport::default());
    assert_eq!(third, RunReport::default());
    assert_eq!(env.invoices(&[]), invoices, "stored invoices unchanged, updated_at included");
    assert_eq!(env.events().len(), events, "no new audit event");
}

#[test]
fn three_malformed_rows_out_of_100_are_quarantined_with_their_lines() {
    let env = Env::new("");
    env.write("export.csv", rows(100, &[9, 41, 77]));
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (97, 3));
    assert_eq!(env.invoices(&[]).len(), 97);
    let q = env.quarantine();
    // Line 1 is the header, so row i sits on line i + 2.
    assert_eq!(q.iter().map(|x| x.line).collect::<Vec<_>>(), vec![Some(11), Some(43), Some(79)]);
    assert!(q.iter().all(|x| x.column.as_deref() == Some("due_date") && x.item.ends_with("export.csv")));
    assert!(q[0].reason.contains("`not-a-date` is not a valid date"), "{}", q[0].reason);
    assert_eq!(q[0].raw.as_deref(), Some("F-0009,C2,,,,2026-10-01,not-a-date,EUR,100.00,100.00"));
}

#[test]
fn windows_1252_french_export_with_mapping() {
    let env = Env::new(
        "decimal = \"comma\"\n[connectors.erp.columns]\ninvoice_number = \"N° facture\"\ncustomer_id = \"Code\"\ncustomer_name = \"Raison sociale\"\ndue_date = \"Échéance\"\namount_total = \"Montant TTC\"\namount_open = \"Reste dû\"\n",
    );
    let text = "N° facture;Code;Raison sociale;Échéance;Montant TTC;Reste dû\r\nFA-1;C1;Société Générale d'Éclairage;15/12/2026;1 234,56;1 000,00\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    env.write("export.csv", bytes);
    env.run();
    let inv = env.invoices(&[]);
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].total.to_decimal_string(), "1234.56");
    assert_eq!(inv[0].open.to_decimal_string(), "1000.00");
    assert_eq!(inv[0].status, InvoiceStatus::PartiallyPaid);
    let customers = env.store.customers(&TenantId::new("t").unwrap(), 10, 0).unwrap();
    assert_eq!(customers.items[0].name, "Société Générale d'Éclairage");
}

#[test]
fn a_full_export_closes_missing_invoices_and_records_changes() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows(10, &[]));
    env.run();
    // Next export: F-0000 disappears, F-0001 is partly paid.
    let mut next = String::from(HEADER);
    for line in rows(10, &[]).lines().skip(2) {
        next.push_str(&line.replace(
            "C1,Client 1,c1@x.example,,2026-10-01,2026-10-31,EUR,101.00,101.00",
            "C1,Client 1,c1@x.example,,2026-10-01,2026-10-31,EUR,101.00,1.00",
        ));
        next.push('\n');
    }
    env.write("2.csv", next);
    env.run();
    let closed = env.invoices(&[InvoiceStatus::Closed]);
    assert_eq!(closed.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), vec!["F-0000"]);
    assert_eq!(closed[0].open.minor, 0);
    let partial = env.invoices(&[InvoiceStatus::PartiallyPaid]);
    assert_eq!(partial[0].number, "F-0001");
    let events = env.events();
    let upd = events.iter().find(|e| e.kind == "invoice_updated").unwrap();
    assert_eq!(upd.subject, "invoice:F-0001");
    assert_eq!(upd.data["changes"]["amount_open"], serde_json::json!(["101.00", "1.00"]));
    assert_eq!(upd.data["changes"]["status"], serde_json::json!(["open", "partially_paid"]));
    let closed_ev = events.iter().find(|e| e.kind == "invoice_closed").unwrap();
    assert_eq!(closed_ev.data["previous_amount_open"], "100.00");
}

#[test]
fn a_full_export_with_an_unreadable_invoice_number_closes_nothing() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows(5, &[]));
    env.run();
    let mut next = String::from(HEADER);
    next.push_str(",C1,,,,2026-10-01,2026-10-31,EUR,1.00,1.00\n");
    next.push_str("F-0001,C1,,,,2026-10-01,2026-10-31,EUR,101.00,101.00\n");
    env.write("2.csv", next);
    env.run();
    assert!(env.invoices(&[InvoiceStatus::Closed]).is_empty());
    let done = env.events().into_iter().rfind(|e| e.kind == "import_completed").unwrap();
    assert_eq!(done.data["closing_skipped"], true);
}

#[test]
fn a_quarantined_row_with_a_number_is_not_closed_by_a_full_export() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows(3, &[]));
    env.run();
    let mut next = String::from(HEADER);
    next.push_str("F-0000,C0,,,,2026-10-01,garbage,EUR,100.00,100.00\n");
    next.push_str("F-0001,C1,,,,2026-10-01,2026-10-31,EUR,101.00,101.00\n");
    env.write("2.csv", next);
    env.run();
    let closed: Vec<_> = env.invoices(&[InvoiceStatus::Closed]).into_iter().map(|i| i.number).collect();
    assert_eq!(closed, vec!["F-0002"], "F-0000 is quarantined, not missing");
}

#[test]
fn unusable_files_are_quarantined_whole_once_and_kept() {
    let env = Env::new("");
    env.write("zip.csv", b"PK\x03\x04\x00\x00binary");
    env.write("wrong.csv", "foo,bar\n1,2\n");
    let report = env.run();
    assert_eq!(report.quarantined, 2);
    let q = env.quarantine();
    assert_eq!(q.len(), 2);
    let missing = q.iter().find(|x| x.item.ends_with("wrong.csv")).unwrap();
    assert!(missing.reason.contains("missing columns `invoice_number`"), "{}", missing.reason);
    let kept = missing.raw_path.as_deref().unwrap();
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "foo,bar\n1,2\n");
    // Later polls do not report them again, even with a cold cache.
    let fresh = CsvInvoices { finished: crate::files::Finished::default(), ..env.connector.clone() };
    fresh.sync_blocking(&env.ctx()).unwrap();
    assert_eq!(env.quarantine().len(), 2);
}

fn numbers(invoices: &[relance_core::domain::Invoice]) -> Vec<&str> {
    invoices.iter().map(|i| i.number.as_str()).collect()
}

#[test]
fn amounts_at_the_i64_limit_are_quarantined_not_imported() {
    // Issue #11: two invoices of 92233720368547758.07 GBP were imported, and the
    // reminder total wrapped to `249,98 GBP`.
    let env = Env::new("");
    let mut text = String::from(HEADER);
    text.push_str("BIG-1,C1,Big Spender,,,2026-10-01,2026-10-31,GBP,92233720368547758.07,92233720368547758.07\n");
    text.push_str("BIG-2,C1,Big Spender,,,2026-10-01,2026-10-31,GBP,92233720368547758.07,92233720368547758.07\n");
    text.push_str("OK-1,C1,Big Spender,,,2026-10-01,2026-10-31,GBP,249.98,249.98\n");
    env.write("big.csv", text);
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (1, 2));
    assert_eq!(numbers(&env.invoices(&[])), vec!["OK-1"]);
    let q = env.quarantine();
    assert_eq!(q.iter().map(|x| x.line).collect::<Vec<_>>(), vec![Some(2), Some(3)]);
    assert!(q.iter().all(|x| x.column.as_deref() == Some("amount_total")));
    assert!(q[0].reason.contains("outside the accepted range of ±1000000000000 GBP"), "{}", q[0].reason);
    // A lower limit per connector.
    let env = Env::new("max_amount = 1000\n");
    let mut text = String::from(HEADER);
    text.push_str(
        "A-1,C1,,,,2026-10-01,2026-10-31,EUR,1000.00,1000.00\nA-2,C1,,,,2026-10-01,2026-10-31,EUR,1000.01,5\n",
    );
    env.write("a.csv", text);
    assert_eq!((env.run().items, env.quarantine().len()), (1, 1));
}
