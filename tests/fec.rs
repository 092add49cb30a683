//! The FEC invoice source through the real daemon (issue #19): a first FEC
//! of the fiscal year imports the open items with their amounts and due
//! dates; a second export of the same year, with new lettering, closes what
//! was paid; a bad line is quarantined with its line number and the rest of
//! the file imported. The sample is `connectors/src/fec/testdata/`, whose
//! expected items are computed by hand in `connectors/src/fec/tests.rs`.

mod common;

use std::time::Duration;

use common::{Deployment, wait_for};
use serde_json::Value;

const TOKEN: &str = "acme-token-1";
const SAMPLE: &str = include_str!("../connectors/src/fec/testdata/123456789FEC20251231.txt");
const FILE: &str = "fec/123456789FEC20251231.txt";

fn tenant() -> String {
    format!(
        "[api]\ntokens = [\"{TOKEN}\"]\n[connectors.compta]\nkind = \"fec_invoices\"\npath = \"../fec\"\nsettle = \"0s\"\n\
         schedule = \"watch 1s\"\n[connectors.compta.terms_days]\nC002 = 45\n"
    )
}

/// A bank entry of two lines: the customer's credit (lettered `lettering`) and the bank's debit.
fn payment(n: u32, date: &str, aux: &str, name: &str, amount: &str, lettering: &str) -> String {
    format!(
        "BQ\tBanque\t{n}\t{date}\t411000\tClients\t{aux}\t{name}\tREL{n}\t{date}\tVirement\t0,00\t{amount}\t{lettering}\t{date}\t{date}\t\t\t\n\
         BQ\tBanque\t{n}\t{date}\t512000\tBanque\t\t\tREL{n}\t{date}\tVirement\t{amount}\t0,00\t\t\t{date}\t\t\t\n"
    )
}

/// The sample in April: F002's balance (1400,00) lettered AB, F003 lettered AE with its payment,
/// the draft F006 deleted.
fn second_export() -> String {
    let mut text: String = SAMPLE.lines().filter(|l| !l.contains("F006")).map(|l| format!("{l}\n")).collect();
    text = text.replacen(
        "\tF003\t20250131\tFacture F003 SGE\t600,00\t0,00\t\t",
        "\tF003\t20250131\tFacture F003 SGE\t600,00\t0,00\tAE\t20250402",
        1,
    );
    text.push_str(&payment(6, "20250401", "C001", "Dupont SA", "1400,00", "AB"));
    text.push_str(&payment(7, "20250402", "C002", "Société Générale d'Équipement", "600,00", "AE"));
    text
}

/// (number, status, currency, total, open, due date) of every invoice, by number.
fn invoices(daemon: &common::Daemon) -> Vec<(String, String, String, String, String, String)> {
    let (status, body) = daemon.get_json("/api/v1/tenants/acme/invoices?limit=1000", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let mut v: Vec<_> = body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        s(i, "number"),
                        s(i, "status"),
                        s(i, "currency"),
                        s(i, "amount_total"),
                        s(i, "amount_open"),
                        s(i, "due_date"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn rows(v: &[(&str, &str, &str, &str, &str, &str)]) -> Vec<(String, String, String, String, String, String)> {
    v.iter()
        .map(|(a, b, c, d, e, f)| {
            (a.to_string(), b.to_string(), c.to_string(), d.to_string(), e.to_string(), f.to_string())
        })
        .collect()
}

#[test]
fn fec_exports_import_open_items_close_what_was_paid_and_quarantine_bad_lines() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    d.write(FILE, SAMPLE);
    let daemon = d.daemon();
    wait_for(Duration::from_secs(30), "first FEC imported", || invoices(&daemon).len() == 7);
    assert_eq!(
        invoices(&daemon),
        rows(&[
            ("AV001", "credit_note", "EUR", "-240.00", "-240.00", "2025-02-19"),
            ("F001", "paid", "EUR", "1200.00", "0.00", "2025-02-09"),
            ("F002", "partially_paid", "EUR", "2400.00", "1400.00", "2025-02-15"),
            ("F003", "open", "EUR", "600.00", "600.00", "2025-03-17"),
            ("F004", "open", "USD", "1000.00", "1000.00", "2025-03-22"),
            ("F005", "paid", "EUR", "300.00", "0.00", "2025-04-15"),
            ("F006", "open", "EUR", "100.00", "100.00", "2026-01-19"),
        ])
    );
    let (_, customers) = daemon.get_json("/api/v1/tenants/acme/customers", Some(TOKEN));
    let names: Vec<&str> = customers["items"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Dupont SA", "Société Générale d'Équipement"]);

    // A second export of the same year: what was lettered since is paid, what it no longer lists is closed.
    d.write(FILE, second_export());
    wait_for(Duration::from_secs(30), "second FEC imported", || {
        invoices(&daemon).iter().any(|i| i.0 == "F002" && i.1 == "paid")
    });
    let after = invoices(&daemon);
    let state = |n: &str| after.iter().find(|i| i.0 == n).map(|i| (i.1.as_str(), i.4.as_str()));
    assert_eq!(state("F002"), Some(("paid", "0.00")));
    assert_eq!(state("F003"), Some(("paid", "0.00")));
    assert_eq!(state("F004"), Some(("open", "1000.00")));
    assert_eq!(state("F006"), Some(("closed", "0.00")));

    // A third export with two new invoices, one of whose lines has an unreadable date.
    let mut third = second_export();
    third.push_str(
        "VE\tVentes\t8\t20250410\t411000\tClients\tC001\tDupont SA\tF007\t20250410\tFacture F007\t480,00\t0,00\t\t\t20250410\t\t\t20250510\n\
         VE\tVentes\t8\t20250410\t706000\tVentes\t\t\tF007\t20250410\tFacture F007\t0,00\t480,00\t\t\t20250410\t\t\t\n\
         VE\tVentes\t9\t20250411\t411000\tClients\tC001\tDupont SA\tF008\t20250431\tFacture F008\t90,00\t0,00\t\t\t20250411\t\t\t\n\
         VE\tVentes\t9\t20250411\t706000\tVentes\t\t\tF008\t20250411\tFacture F008\t0,00\t90,00\t\t\t20250411\t\t\t\n",
    );
    let bad_line = third.lines().position(|l| l.contains("20250431")).unwrap() as i64 + 1;
    d.write(FILE, third);
    wait_for(Duration::from_secs(30), "third FEC imported", || invoices(&daemon).iter().any(|i| i.0 == "F007"));
    let (_, q) = daemon.get_json("/api/v1/tenants/acme/quarantine", Some(TOKEN));
    let items = q["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{q}");
    assert_eq!(items[0]["line"].as_i64(), Some(bad_line), "{q}");
    assert!(items[0]["item"].as_str().unwrap().ends_with("123456789FEC20251231.txt"), "{q}");
    let reason = items[0]["reason"].as_str().unwrap();
    assert_eq!(items[0]["column"], "PieceDate", "{q}");
    assert_eq!(items[0]["source"], "compta", "{q}");
    assert!(reason.contains("unreadable date `20250431`"), "{q}");
    let last = invoices(&daemon);
    assert!(last.iter().any(|i| *i == rows(&[("F007", "open", "EUR", "480.00", "480.00", "2025-05-10")])[0]));
    assert!(!last.iter().any(|i| i.0 == "F008"), "the invoice of the bad line is not imported");
    assert_eq!(last.iter().filter(|i| i.1 != "closed").count(), 7, "the rest is as before");
}
