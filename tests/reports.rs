//! Reporting figures through the API, against hand-computed values: the
//! aged balance (credit notes netted, per customer and currency) and DSO by
//! the countback method.

mod common;

use std::time::Duration;

use common::{Deployment, HEADER, wait_for};

#[test]
fn aged_balance_and_dso_through_the_api_match_hand_computed_figures() {
    let tenant = "[api]\ntokens = [\"reports-token-1\"]\n\
        [connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\n";
    let d = Deployment::new("", &[("acme", tenant)]);
    let mut csv = String::from(HEADER);
    csv.push_str("F-0,C3,Gamma,,,2025-11-01,2025-12-01,EUR,4000.00,0.00\n");
    csv.push_str("F-1,C1,Alpha,,,2026-01-10,2026-02-09,EUR,9000.00,9000.00\n");
    csv.push_str("F-2,C1,Alpha,,,2026-02-05,2026-03-07,EUR,12000.00,6000.00\n");
    csv.push_str("F-3,C2,Beta,,,2026-03-02,2026-04-01,EUR,10000.00,10000.00\n");
    csv.push_str("AV-1,C2,Beta,,,2026-03-03,2026-03-03,EUR,-500.00,-500.00\n");
    csv.push_str("G-1,C2,Beta,,,2026-01-01,2026-01-20,GBP,300.00,300.00\n");
    d.write("invoices/open.csv", &csv);
    let mut daemon = d.daemon();
    let tok = Some("reports-token-1");
    wait_for(Duration::from_secs(20), "invoices", || {
        daemon.get_json("/api/v1/tenants/acme/invoices", tok).1["total"] == 6
    });

    let (s, ab) = daemon.get_json("/api/v1/tenants/acme/reports/aged-balance?as_of=2026-03-15", tok);
    assert_eq!(s, 200, "{ab}");
    let amounts = |row: &serde_json::Value| -> Vec<String> {
        row["buckets"].as_array().unwrap().iter().map(|m| m["amount"].as_str().unwrap().to_string()).collect()
    };
    let row = |customer: &str, ccy: &str| {
        ab["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["customer"] == customer && r["currency"] == ccy)
            .unwrap()
            .clone()
    };
    // F-1 is 34 days late, F-2 8 days; F-3 not due; the credit note (due 3 March) nets in 1-30.
    assert_eq!(amounts(&row("C1", "EUR")), ["0.00", "6000.00", "9000.00", "0.00", "0.00"]);
    assert_eq!(amounts(&row("C2", "EUR")), ["10000.00", "-500.00", "0.00", "0.00", "0.00"]);
    assert_eq!(
        amounts(&row("C2", "GBP")),
        ["0.00", "0.00", "300.00", "0.00", "0.00"],
        "54 days late, in its own currency"
    );
    assert!(ab["rows"].as_array().unwrap().iter().all(|r| r["customer"] != "C3"), "paid invoices owe nothing");
    let eur_total = ab["totals"].as_array().unwrap().iter().find(|r| r["currency"] == "EUR").unwrap().clone();
    assert_eq!(eur_total["total"]["amount"], "24500.00");

    // Receivables 24,500: March (15 days) invoiced 10,000 → 14,500 left; February (28 days)
    // 12,000 → 2,500 left of January's 9,000: 31 × 2,500 / 9,000 = 8.6 days. 15 + 28 + 8.6 = 51.6.
    let (s, dso) = daemon.get_json("/api/v1/tenants/acme/reports/dso?as_of=2026-03-15", tok);
    assert_eq!(s, 200, "{dso}");
    let eur = dso["dso"].as_array().unwrap().iter().find(|r| r["currency"] == "EUR").unwrap().clone();
    assert_eq!((eur["days"].as_str(), eur["history_exhausted"].as_bool()), (Some("51.6"), Some(false)), "{dso}");
    assert_eq!(eur["receivables"]["amount"], "24500.00");

    let (s, e) = daemon.get_json("/api/v1/tenants/acme/reports/dso?as_of=15/03/2026", tok);
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")), "{e}");
    let (s, _) = daemon.get_json("/api/v1/tenants/acme/reports/aged-balance", None);
    assert_eq!(s, 401);
    daemon.terminate(Duration::from_secs(10));
}
