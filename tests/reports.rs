//! Reporting figures through the API, against hand-computed values: the
//! aged balance (credit notes netted, per customer and currency) and DSO by
//! the countback method; then a world with a bank statement applied: DMP,
//! overdue over time, cash rates, the count tables, and every report's CSV
//! against its JSON.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
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

/// A raw GET: (status, headers in lower case, body).
fn raw_get(port: u16, path: &str, token: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The CSV answer of a report: checks the headers, returns the records (header first).
fn csv_of(port: u16, path: &str, token: &str, file: &str) -> Vec<Vec<String>> {
    let (status, headers, body) = raw_get(port, path, token);
    assert_eq!(status, 200, "{path}: {body}");
    let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(h("content-type"), "text/csv; charset=utf-8", "{path}");
    assert_eq!(h("content-disposition"), format!("attachment; filename=\"{file}\""), "{path}");
    assert!(body.ends_with("\r\n"), "RFC 4180 line ends");
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
    r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()).collect()
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn a_paid_invoice_gives_dmp_overdue_and_cash_figures_and_every_csv_matches_its_json() {
    let tenant = "[api]\ntokens = [\"reports-token-2\"]\n\
        [connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\n\
        [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n";
    let d = Deployment::new("", &[("acme", tenant)]);
    let mut csv = String::from(HEADER);
    csv.push_str("A-1,C1,\"Alpha, Ltd\",,,2026-01-05,2026-02-04,EUR,1000.00,1000.00\n");
    csv.push_str("A-2,C2,Beta,,,2026-02-01,2026-03-03,EUR,400.00,400.00\n");
    csv.push_str("A-3,C2,Beta,,,2025-12-01,2025-12-31,EUR,250.00,250.00\n");
    d.write("invoices/open.csv", &csv);
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let mut daemon = d.daemon();
    let tok = "reports-token-2";
    wait_for(Duration::from_secs(20), "invoices", || {
        daemon.get_json("/api/v1/tenants/acme/invoices", Some(tok)).1["total"] == 3
    });
    // 1,000.00 booked on 2 March 2026 with A-1's number: applied by the matcher.
    d.write(
        "bank/stmt.xml",
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>R1</MsgId></GrpHdr><Stmt><Id>R1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id>\
         <Ccy>EUR</Ccy></Acct><Ntry><Amt Ccy=\"EUR\">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-03-02</Dt>\
         </BookgDt><AcctSvcrRef>R1-1</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Alpha</Nm></Dbtr></RltdPties>\
         <RmtInf><Ustrd>Facture A-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>\n",
    );
    wait_for(Duration::from_secs(20), "the credit applied", || {
        daemon.get_json("/api/v1/tenants/acme/invoices?status=paid", Some(tok)).1["total"] == 1
    });
    let base = "/api/v1/tenants/acme/reports";
    let get = |q: &str| {
        let (s, v) = daemon.get_json(&format!("{base}/{q}"), Some(tok));
        assert_eq!(s, 200, "{q}: {v}");
        v
    };

    // Aged balance on 15 March: A-2 12 days late (1-30), A-3 74 days (61-90); A-1 paid.
    let ab = get("aged-balance?as_of=2026-03-15");
    assert_eq!(ab["rows"].as_array().unwrap().len(), 1, "{ab}");
    assert_eq!(ab["rows"][0]["customer"], "C2");
    let amounts: Vec<String> =
        ab["rows"][0]["buckets"].as_array().unwrap().iter().map(|m| text(&m["amount"])).collect();
    assert_eq!(amounts, ["0.00", "400.00", "0.00", "250.00", "0.00"]);
    let seg = get("aged-balance?as_of=2026-03-15&by=segment");
    assert_eq!(
        (seg["rows"][0]["segment"].as_str(), text(&seg["rows"][0]["total"]["amount"])),
        (Some(""), "650.00".into())
    );

    // DSO: 650 open. March (15 days) invoiced nothing, February (28) 400 → 250 left of
    // January's 1,000: 31 × 250 / 1,000 = 7.75. 15 + 28 + 7.75 = 50.75 → 50.8.
    let dso = get("dso?as_of=2026-03-15");
    assert_eq!(dso["dso"][0]["days"], "50.8", "{dso}");

    // DMP in March: 1,000 paid on 2 March, due 4 February: 26 days.
    let dmp = get("dmp?from=2026-03-01&to=2026-03-15");
    assert_eq!(
        (text(&dmp["dmp"][0]["days"]), text(&dmp["dmp"][0]["paid"]["amount"])),
        ("26.0".into(), "1000.00".into())
    );
    assert_eq!(
        get("dmp?from=2026-02-01&to=2026-02-28")["dmp"].as_array().unwrap().len(),
        0,
        "nothing paid in February"
    );

    // Overdue at the close of December, January, February: A-3 (250, due 31 Dec) from December;
    // A-1 (1,000, due 4 Feb, paid 2 Mar) at the end of February.
    let over = get("overdue?as_of=2026-03-15&months=3");
    assert_eq!(over["month_ends"], serde_json::json!(["2025-12-31", "2026-01-31", "2026-02-28"]));
    let points: Vec<String> =
        over["series"][0]["points"].as_array().unwrap().iter().map(|p| text(&p["overdue"]["amount"])).collect();
    assert_eq!(points, ["250.00", "250.00", "1250.00"], "{over}");

    // Cash rates: one credit, applied by the matcher.
    let cash = get("cash?since=2026-03-01");
    let rate = |name: &str| cash["rates"].as_array().unwrap().iter().find(|r| r["rate"] == name).unwrap().clone();
    assert_eq!((rate("envelope_auto")["part"].as_u64(), rate("envelope_auto")["whole"].as_u64()), (Some(1), Some(1)));
    assert_eq!(rate("envelope_auto")["percent"], "100.00");
    assert_eq!(rate("review")["percent"], "0.00");
    assert_eq!(get("cash?since=2026-04-01")["rates"][0]["percent"], serde_json::Value::Null, "no credit: no rate");

    // Nothing sent, nothing received, no promise: empty tables, every intent at zero.
    let rem = get("reminders?from=2026-01-01&to=2026-03-31");
    assert_eq!((rem["rows"].as_array().unwrap().len(), rem["total"].as_u64()), (0, Some(0)));
    let rep = get("replies?from=2026-01-01&to=2026-03-31");
    assert_eq!(rep["rows"].as_array().unwrap().len(), 7);
    assert_eq!(rep["rows"][0]["intent"], "promise_to_pay");
    let pro = get("promises?from=2026-01-01&to=2026-03-31");
    assert_eq!((pro["kept"].as_u64(), pro["kept_rate_percent"].is_null()), (Some(0), true));

    // Every CSV holds its JSON's rows.
    let port = daemon.port;
    let rows = csv_of(
        port,
        &format!("{base}/aged-balance?as_of=2026-03-15&format=csv"),
        tok,
        "aged-balance-by-customer-2026-03-15.csv",
    );
    assert_eq!(
        rows[0],
        [
            "kind",
            "customer",
            "name",
            "currency",
            "not_due",
            "days_1_to_30",
            "days_31_to_60",
            "days_61_to_90",
            "over_90",
            "total"
        ]
    );
    assert_eq!(rows[1], ["row", "C2", "Beta", "EUR", "0.00", "400.00", "0.00", "250.00", "0.00", "650.00"]);
    assert_eq!(rows[2], ["total", "", "", "EUR", "0.00", "400.00", "0.00", "250.00", "0.00", "650.00"]);
    let rows = csv_of(port, &format!("{base}/dso?as_of=2026-03-15&format=csv"), tok, "dso-2026-03-15.csv");
    assert_eq!(rows[1], ["EUR", "650.00", "50.8", "false"]);
    let rows = csv_of(
        port,
        &format!("{base}/dmp?from=2026-03-01&to=2026-03-15&format=csv"),
        tok,
        "dmp-2026-03-01-2026-03-15.csv",
    );
    assert_eq!(rows, [vec!["currency", "paid", "days"], vec!["EUR", "1000.00", "26.0"]]);
    let rows =
        csv_of(port, &format!("{base}/overdue?as_of=2026-03-15&months=3&format=csv"), tok, "overdue-2026-03-15.csv");
    let from_json: Vec<Vec<String>> = over["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| vec![text(&p["month_end"]), "EUR".into(), text(&p["overdue"]["amount"])])
        .collect();
    assert_eq!(rows[1..], from_json[..]);
    let rows =
        csv_of(port, &format!("{base}/cash?since=2026-03-01&format=csv"), tok, "cash-rates-since-2026-03-01.csv");
    let from_json: Vec<Vec<String>> = cash["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| vec![text(&r["rate"]), text(&r["part"]), text(&r["whole"]), text(&r["percent"])])
        .collect();
    assert_eq!(rows[1..], from_json[..]);
    let rows = csv_of(
        port,
        &format!("{base}/replies?from=2026-01-01&to=2026-03-31&format=csv"),
        tok,
        "replies-2026-01-01-2026-03-31.csv",
    );
    assert_eq!(rows.len(), 8, "header and the seven intents");
    assert_eq!(rows[1], ["promise_to_pay", "0"]);
    let rows = csv_of(
        port,
        &format!("{base}/promises?from=2026-01-01&to=2026-03-31&format=csv"),
        tok,
        "promises-2026-01-01-2026-03-31.csv",
    );
    assert_eq!(rows[1], ["0", "0", "0", "0", "0", ""]);
    let rows = csv_of(
        port,
        &format!("{base}/reminders?from=2026-01-01&to=2026-03-31&format=csv"),
        tok,
        "reminders-2026-01-01-2026-03-31.csv",
    );
    assert_eq!(rows, [vec!["step", "channel", "sent"]]);

    // Bad parameters are 400s that name them.
    for (q, needle) in [
        ("aged-balance?by=region", "`by`"),
        ("dso?format=xml", "`format`"),
        ("overdue?months=0", "`months`"),
        ("overdue?months=twelve", "`months`"),
        ("dmp?from=2026-03-10&to=2026-03-01", "after"),
        ("promises?from=yesterday", "`from`"),
        ("replies?form=2026-01-01", "`form`"),
        ("cash?since=2026-13-01", "`since`"),
    ] {
        let (s, e) = daemon.get_json(&format!("{base}/{q}"), Some(tok));
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")), "{q}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(needle), "{q}: {e}");
    }
    daemon.terminate(Duration::from_secs(10));
}
