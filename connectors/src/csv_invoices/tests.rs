use std::fmt::Write as _;

use relance_config::Settings;
use relance_domain::{InvoiceStatus, TenantId};
use relance_store::{InvoiceQuery, Store};
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
        let connector = build(dir.path(), extra);
        let store = Store::open_sqlite(&dir.path().join("data/relance.db")).unwrap();
        Env { dir, store, connector }
    }

    /// The same connector with other settings (as after a configuration change and a restart).
    fn reconfigured(&self, extra: &str) -> CsvInvoices {
        build(self.dir.path(), extra)
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

    fn invoices(&self, statuses: &[InvoiceStatus]) -> Vec<relance_domain::Invoice> {
        let q = InvoiceQuery { statuses: statuses.to_vec(), limit: 1000, ..Default::default() };
        self.store.invoices(&TenantId::new("t").unwrap(), &q).unwrap().items
    }

    fn events(&self) -> Vec<relance_domain::AuditEvent> {
        self.store.events(&TenantId::new("t").unwrap(), 0, 1000).unwrap()
    }

    fn quarantine(&self) -> Vec<relance_domain::QuarantineItem> {
        self.store.quarantine(&TenantId::new("t").unwrap(), 1000).unwrap().items
    }
}

fn build(dir: &std::path::Path, extra: &str) -> CsvInvoices {
    let settle = if extra.contains("settle =") { "" } else { "settle = \"0s\"\n" };
    std::fs::write(
        dir.join("tenants/t.toml"),
        format!("[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../in\"\n{settle}{extra}"),
    )
    .unwrap();
    let settings = Settings::load_with_env(&dir.join("relance.toml"), &[]).unwrap();
    let tenant = &settings.tenants[0];
    CsvInvoices::from_config(tenant, &tenant.connectors[0]).unwrap()
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
fn quarantined_lines_are_the_same_with_crlf_line_ends() {
    let env = Env::new("");
    env.write("export.csv", rows(20, &[3, 12]).replace('\n', "\r\n"));
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (18, 2));
    let q = env.quarantine();
    assert_eq!(q.iter().map(|x| x.line).collect::<Vec<_>>(), vec![Some(5), Some(14)], "row i on line i + 2");
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
    let customers = env.store.customers(&TenantId::new("t").unwrap(), 10).unwrap();
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
    let closed_ev: Vec<_> = events.iter().filter(|e| e.kind == "invoices_closed").collect();
    assert_eq!(closed_ev.len(), 1, "one event for the closing pass");
    assert_eq!(closed_ev[0].data["count"], 1);
    assert_eq!(closed_ev[0].data["invoices"][0]["number"], "F-0000");
    assert_eq!(closed_ev[0].data["invoices"][0]["previous_amount_open"], "100.00");
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

fn t() -> TenantId {
    TenantId::new("t").unwrap()
}

fn numbers(invoices: &[relance_domain::Invoice]) -> Vec<&str> {
    invoices.iter().map(|i| i.number.as_str()).collect()
}

/// Rows `F-<i>` for `i` in `range`, open 100.00 + i.
fn rows_in(range: std::ops::Range<usize>) -> String {
    let mut s = String::from(HEADER);
    for i in range {
        writeln!(s, "F-{i:04},C{},,,,2026-10-01,2026-10-31,EUR,{}.00,{}.00", i % 7, 100 + i, 100 + i).unwrap();
    }
    s
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

#[test]
fn every_row_of_a_duplicated_invoice_number_is_quarantined_and_the_invoice_kept() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..5));
    env.run();
    let before = env.invoices(&[]);
    // F-0001 twice with other amounts (lines 3 and 5), F-0009 (new) twice, F-0004 missing.
    let mut next = String::from(HEADER);
    next.push_str("F-0000,C0,,,,2026-10-01,2026-10-31,EUR,100.00,100.00\n");
    next.push_str("F-0001,C1,,,,2026-10-01,2026-10-31,EUR,101.00,50.00\n");
    next.push_str("F-0009,C2,,,,2026-10-01,2026-10-31,EUR,9.00,9.00\n");
    next.push_str("F-0001,C1,,,,2026-10-01,2026-10-31,EUR,101.00,1.00\n");
    next.push_str("F-0002,C2,,,,2026-10-01,2026-10-31,EUR,102.00,102.00\n");
    next.push_str("F-0003,C3,,,,2026-10-01,2026-10-31,EUR,103.00,103.00\n");
    next.push_str("F-0009,C2,,,,2026-10-01,2026-10-31,EUR,9.50,9.50\n");
    env.write("2.csv", next);
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (3, 4));
    let q = env.quarantine();
    assert_eq!(q.iter().map(|x| x.line.unwrap()).collect::<Vec<_>>(), vec![3, 4, 5, 8]);
    let f1: Vec<_> = q.iter().filter(|x| x.raw.as_deref().unwrap().starts_with("F-0001")).collect();
    assert_eq!(f1.len(), 2);
    assert!(f1[0].reason.contains("`F-0001` appears on several rows of this file (lines 3, 5)"), "{}", f1[0].reason);
    assert_eq!(f1[0].column.as_deref(), Some("invoice_number"));
    let after = env.invoices(&[]);
    let f1_before = before.iter().find(|i| i.number == "F-0001").unwrap();
    let f1_after = after.iter().find(|i| i.number == "F-0001").unwrap();
    assert_eq!(f1_after, f1_before, "F-0001 keeps its previous state, and is not closed");
    assert!(!after.iter().any(|i| i.number == "F-0009"), "a duplicated new number is not created");
    assert_eq!(numbers(&env.invoices(&[InvoiceStatus::Closed])), vec!["F-0004"]);
    assert!(!env.events().iter().any(|e| e.kind == "invoice_updated"), "nothing was updated");
}

#[test]
fn a_header_only_full_export_is_held_and_closes_nothing_until_released() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..4));
    env.run();
    env.write("2.csv", HEADER);
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (0, 1));
    assert!(env.invoices(&[InvoiceStatus::Closed]).is_empty(), "nothing closed");
    let q = env.quarantine();
    assert_eq!(q.len(), 1);
    assert!(q[0].held && q[0].item.ends_with("2.csv"));
    assert!(q[0].reason.contains("no data rows (header only)"), "{}", q[0].reason);
    assert!(q[0].reason.contains("close all 4 open invoices"), "{}", q[0].reason);
    let kept = q[0].raw_path.clone().expect("the held file is kept");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), HEADER);
    // Later runs, even with a cold cache and any threshold, leave it held.
    let relaxed = env.reconfigured("mode = \"full\"\nmax_close_share = 1.0\n");
    relaxed.sync_blocking(&env.ctx()).unwrap();
    assert!(env.invoices(&[InvoiceStatus::Closed]).is_empty());
    assert_eq!(env.quarantine().len(), 1);
    // Confirmed: the next run closes everything, in one audit event.
    env.store.release_held_import(&t(), q[0].id, "api:t").unwrap();
    env.run();
    assert_eq!(env.invoices(&[InvoiceStatus::Closed]).len(), 4);
    let closing: Vec<_> = env.events().into_iter().filter(|e| e.kind == "invoices_closed").collect();
    assert_eq!(closing.len(), 1);
    assert_eq!(closing[0].data["count"], 4);
    assert_eq!(closing[0].data["invoices"].as_array().unwrap().len(), 4);
    let q = env.quarantine();
    assert!(!q[0].held && q[0].released_at.is_some());
}

#[test]
fn a_full_export_closing_more_than_the_share_is_held_then_released_from_its_kept_copy() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..10));
    env.run();
    // Half a file (a writer that paused): 6 of 10 would close. F-0000 also changes.
    let half = rows_in(0..4).replace(
        "F-0000,C0,,,,2026-10-01,2026-10-31,EUR,100.00,100.00",
        "F-0000,C0,,,,2026-10-01,2026-10-31,EUR,100.00,40.00",
    );
    env.write("2.csv", &half);
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (0, 1));
    assert_eq!(env.invoices(&[InvoiceStatus::Open]).len(), 10, "nothing closed, nothing updated");
    let q = env.quarantine();
    assert!(q[0].held);
    assert!(
        q[0].reason
            .contains("would close 6 of the tenant's 10 open invoices (60.00 %), more than max_close_share (50.00 %)"),
        "{}",
        q[0].reason
    );
    assert!(env.events().iter().any(|e| e.kind == "import_held"));
    // Released through the API, after the file was removed from the folder: applied from the kept copy.
    std::fs::remove_file(env.dir.path().join("in/2.csv")).unwrap();
    let released = env.store.release_held_import(&t(), q[0].id, "api:t:alice").unwrap();
    assert!(released.label.ends_with("2.csv"));
    assert!(matches!(
        env.store.release_held_import(&t(), q[0].id, "api:t"),
        Err(relance_store::StoreError::Rejected(_))
    ));
    let report = env.run();
    assert_eq!(report.items, 4);
    let closed = env.invoices(&[InvoiceStatus::Closed]);
    assert_eq!(numbers(&closed), vec!["F-0004", "F-0005", "F-0006", "F-0007", "F-0008", "F-0009"]);
    assert_eq!(env.invoices(&[InvoiceStatus::PartiallyPaid])[0].number, "F-0000");
    let events = env.events();
    let closing: Vec<_> = events.iter().filter(|e| e.kind == "invoices_closed").collect();
    assert_eq!(closing.len(), 1);
    let listed: Vec<&str> =
        closing[0].data["invoices"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap()).collect();
    assert_eq!(listed, numbers(&closed));
    let released_ev = events.iter().find(|e| e.kind == "import_released").unwrap();
    assert_eq!(released_ev.actor, "api:t:alice");
    // Done once: later runs do nothing.
    assert_eq!(env.run(), RunReport::default());
}

#[test]
fn a_held_export_is_picked_up_once_the_share_is_raised_unless_superseded() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..10));
    env.run();
    env.write("2.csv", rows_in(0..3));
    env.run();
    assert!(env.quarantine()[0].held);
    // Raised, and the daemon restarted: the next run imports it.
    let relaxed = env.reconfigured("mode = \"full\"\nmax_close_share = 0.8\n");
    let report = relaxed.sync_blocking(&env.ctx()).unwrap();
    assert_eq!(report.items, 3);
    assert_eq!(env.invoices(&[InvoiceStatus::Closed]).len(), 7);
    let q = env.quarantine();
    assert!(!q[0].held && q[0].released_at.is_some());
    assert!(env.events().iter().any(|e| e.kind == "import_resumed"));

    // A held export superseded by a later good one can no longer be released.
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..10));
    env.run();
    env.write("2.csv", rows_in(0..2));
    env.run();
    let held = env.quarantine()[0].id;
    env.write("3.csv", rows_in(0..9));
    env.run();
    assert_eq!(numbers(&env.invoices(&[InvoiceStatus::Closed])), vec!["F-0009"]);
    let err = env.store.release_held_import(&t(), held, "api:t").unwrap_err();
    assert!(err.to_string().contains("a later full export of `erp` was imported since"), "{err}");
    let relaxed = env.reconfigured("mode = \"full\"\nmax_close_share = 1.0\n");
    relaxed.sync_blocking(&env.ctx()).unwrap();
    assert_eq!(env.invoices(&[InvoiceStatus::Closed]).len(), 1, "the stale export stays held");
    // A quarantine item that is not a held export cannot be released.
    env.write("4.csv", "foo,bar\n1,2\n");
    env.run();
    let bad = env.quarantine().into_iter().find(|q| q.item.ends_with("4.csv")).unwrap();
    assert!(env.store.release_held_import(&t(), bad.id, "api:t").is_err());
}

#[test]
fn a_full_export_whose_last_line_is_cut_closes_nothing() {
    let env = Env::new("mode = \"full\"\n");
    env.write("1.csv", rows_in(0..4));
    env.run();
    // No final line break and the last row is cut inside its invoice number: taken as
    // truncated (F-0003 must not be closed as "missing").
    let mut cut = rows_in(0..3);
    cut.push_str("F-00");
    env.write("2.csv", cut);
    let report = env.run();
    assert_eq!((report.items, report.quarantined), (3, 1));
    assert!(env.invoices(&[InvoiceStatus::Closed]).is_empty(), "nothing closed");
    let q = env.quarantine();
    assert_eq!(q[0].line, Some(5));
    assert!(q[0].reason.contains("it looks truncated, so this export closes nothing"), "{}", q[0].reason);
    let done = env.events().into_iter().rfind(|e| e.kind == "import_completed").unwrap();
    assert_eq!(done.data["closing_skipped"], true);
    // Complete without a final line break (many exports): closes as usual.
    let complete = rows_in(0..3);
    env.write("3.csv", complete.trim_end());
    env.run();
    assert_eq!(numbers(&env.invoices(&[InvoiceStatus::Closed])), vec!["F-0003"]);
}

#[test]
fn a_file_still_being_written_is_waited_for_even_under_once() {
    // Issue #11: `run --once` skipped the settle wait and imported half a file.
    let env = Env::new("mode = \"full\"\nsettle = \"1s\"\n");
    env.write("1.csv", rows_in(0..10));
    std::thread::sleep(Duration::from_millis(1100));
    env.run();
    let path = env.dir.path().join("in/2.csv");
    // The new export starts with F-0000 partly paid; the writer appends the rest slowly.
    let start = rows_in(0..5).replace("EUR,100.00,100.00", "EUR,100.00,40.00");
    std::fs::write(&path, start).unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        for i in 5..10 {
            std::thread::sleep(Duration::from_millis(200));
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            writeln!(f, "F-{i:04},C{},,,,2026-10-01,2026-10-31,EUR,{}.00,{}.00", i % 7, 100 + i, 100 + i).unwrap();
        }
    });
    let started = std::time::Instant::now();
    let report = env.run(); // once = true
    writer.join().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for the file to settle");
    assert_eq!(report.items, 10, "the whole file");
    assert!(env.invoices(&[InvoiceStatus::Closed]).is_empty(), "nothing closed");
    assert_eq!(numbers(&env.invoices(&[InvoiceStatus::PartiallyPaid])), vec!["F-0000"]);
}

#[test]
fn settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("relance.toml"), "").unwrap();
    for (extra, key) in [
        ("max_close_share = 1.5\n", "max_close_share"),
        ("max_amount = 0\n", "max_amount"),
        ("max_amount = 1000000000000000\n", "max_amount"),
    ] {
        std::fs::write(
            dir.path().join("tenants/t.toml"),
            format!("[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../in\"\n{extra}"),
        )
        .unwrap();
        let settings = Settings::load_with_env(&dir.path().join("relance.toml"), &[]).unwrap();
        let tenant = &settings.tenants[0];
        let err = CsvInvoices::from_config(tenant, &tenant.connectors[0]).unwrap_err();
        assert!(err.to_string().contains(key), "{extra}: {err}");
    }
}
