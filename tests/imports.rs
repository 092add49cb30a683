//! Safe imports through the real binary (issue #11): amounts beyond the
//! accepted range, a full export that would close too much (held in
//! quarantine, then released through the API), a header-only full export.

mod common;

use std::time::Duration;

use common::{Deployment, HEADER, csv_tenant, wait_for};

const TOKEN: &str = "acme-token-1";

/// Rows `F-<i>` for `i` in `range`.
fn rows(range: std::ops::Range<usize>) -> String {
    let mut s = String::from(HEADER);
    for i in range {
        s.push_str(&format!(
            "F-{i:04},C{},Customer,,,2026-10-01,2026-12-31,EUR,{}.00,{}.00\n",
            i % 3,
            100 + i,
            100 + i
        ));
    }
    s
}

#[test]
fn amounts_beyond_the_range_are_quarantined_by_run_once() {
    let d = Deployment::new("", &[("acme", &csv_tenant(TOKEN, "in", ""))]);
    let mut text = String::from(HEADER);
    text.push_str("BIG-1,C1,Big,,,2026-10-01,2026-12-31,GBP,92233720368547758.07,92233720368547758.07\n");
    text.push_str("BIG-2,C1,Big,,,2026-10-01,2026-12-31,GBP,92233720368547758.07,92233720368547758.07\n");
    d.write("in/export.csv", text);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme/erp: ok (0 items, 2 quarantined, 1 units)"), "{stdout}");
    let db = d.db();
    let n: i64 = db.query_row("SELECT count(*) FROM invoices", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    let reason: String = db.query_row("SELECT reason FROM quarantine WHERE line=2", [], |r| r.get(0)).unwrap();
    assert!(reason.contains("outside the accepted range"), "{reason}");
}

#[test]
fn a_full_export_that_would_close_too_much_is_held_until_released_through_the_api() {
    let d = Deployment::new("", &[("acme", &csv_tenant(TOKEN, "in", "mode = \"full\"\nschedule = \"watch 1s\"\n"))]);
    d.write("in/1.csv", rows(0..10));
    let daemon = d.daemon();
    let tok = Some(TOKEN);
    let count = |status: &str| {
        daemon.get_json(&format!("/api/v1/tenants/acme/invoices?status={status}"), tok).1["total"].clone()
    };
    wait_for(Duration::from_secs(20), "first import", || count("open") == 10);

    // Half an export: 6 of 10 would close (60 % > 50 %). Held: nothing applied.
    d.write("in/2.csv", rows(0..4));
    let mut held = serde_json::Value::Null;
    wait_for(Duration::from_secs(20), "held export", || {
        let (_, q) = daemon.get_json("/api/v1/tenants/acme/quarantine", tok);
        held = q["items"].as_array().and_then(|i| i.iter().find(|x| x["held"] == true).cloned()).unwrap_or_default();
        !held.is_null()
    });
    assert!(held["item"].as_str().unwrap().ends_with("in/2.csv"), "{held}");
    assert!(held["reason"].as_str().unwrap().contains("would close 6 of the tenant's 10 open invoices"), "{held}");
    assert!(std::path::Path::new(held["raw_path"].as_str().unwrap()).exists(), "the held file is kept: {held}");
    assert_eq!((count("open"), count("closed")), (10.into(), 0.into()));

    // Another tenant's token cannot release it; a non-held item cannot be released.
    let id = held["id"].as_i64().unwrap();
    let (s, _) = daemon.post_json(&format!("/api/v1/tenants/acme/quarantine/{id}/release"), "not-a-token");
    assert_eq!(s, 401);
    let (s, e) = daemon.post_json(&format!("/api/v1/tenants/acme/quarantine/{}/release", id + 1000), TOKEN);
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")), "{e}");

    // Released: the connector's next run imports it with its closes.
    let (s, body) = daemon.post_json(&format!("/api/v1/tenants/acme/quarantine/{id}/release"), TOKEN);
    assert_eq!((s, body["status"].as_str()), (202, Some("released")), "{body}");
    wait_for(Duration::from_secs(20), "released export applied", || count("closed") == 6);
    assert_eq!(count("open"), 4);
    let (_, events) = daemon.get_json("/api/v1/tenants/acme/events?limit=1000", tok);
    let items = events["items"].as_array().unwrap();
    let closing: Vec<_> = items.iter().filter(|e| e["kind"] == "invoices_closed").collect();
    assert_eq!(closing.len(), 1, "one audit event for the closing pass");
    assert_eq!(closing[0]["data"]["count"], 6);
    assert!(items.iter().any(|e| e["kind"] == "import_released" && e["actor"] == "api:acme"));
    let (_, q) = daemon.get_json("/api/v1/tenants/acme/quarantine", tok);
    assert_eq!(q["items"][0]["held"], false);
    assert!(q["items"][0]["released_at"].is_string(), "{q}");
    // Released once only.
    let (s, _) = daemon.post_json(&format!("/api/v1/tenants/acme/quarantine/{id}/release"), TOKEN);
    assert_eq!(s, 409);
}

#[test]
fn a_header_only_full_export_closes_nothing_under_run_once() {
    let d = Deployment::new("", &[("acme", &csv_tenant(TOKEN, "in", "mode = \"full\"\nmax_close_share = 1.0\n"))]);
    d.write("in/1.csv", rows(0..3));
    assert!(d.run(&["run", "--once"]).status.success());
    d.write("in/2.csv", HEADER);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme/erp: ok (0 items, 1 quarantined, 1 units)"), "{stdout}");
    let db = d.db();
    let open: i64 = db.query_row("SELECT count(*) FROM invoices WHERE status='open'", [], |r| r.get(0)).unwrap();
    assert_eq!(open, 3, "nothing closed");
    let (reason, state): (String, String) = db
        .query_row("SELECT q.reason, i.state FROM quarantine q JOIN imports i ON i.id=q.import_id", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(reason.contains("no data rows (header only)"), "{reason}");
    assert_eq!(state, "held");
}

#[test]
fn a_bank_transaction_beyond_the_range_is_quarantined_and_the_others_stored() {
    let tenant =
        format!("[api]\ntokens = [\"{TOKEN}\"]\n[connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n");
    let d = Deployment::new("", &[("acme", &tenant)]);
    let entry = |r: &str, amount: &str| {
        format!(
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>F-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
        )
    };
    let camt = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>S1</MsgId></GrpHdr>\n<Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n{}{}</Stmt></BkToCstmrStmt></Document>\n",
        entry("R1", "100.00"),
        entry("R2", "92233720368547758.07")
    );
    d.write("bank/s1.xml", camt);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme/bank: ok (1 items, 1 quarantined, 1 units)"), "{stdout}");
    let db = d.db();
    let amounts: Vec<i64> = db
        .prepare("SELECT amount_minor FROM payments")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(amounts, vec![10_000]);
    let reason: String = db.query_row("SELECT reason FROM quarantine", [], |r| r.get(0)).unwrap();
    assert!(reason.contains("92233720368547758.07 EUR is outside the accepted range"), "{reason}");
}

/// A parser panic on one export (the debug-build test hook of
/// `core::guard::test_panic_hook`) quarantines that file with the panic
/// message, and the next export is imported in the same run.
#[test]
fn an_export_that_panics_the_parser_is_quarantined_and_the_next_imported() {
    let d = common::Deployment::new("", &[("acme", &common::csv_tenant("acme-token-1", "in", ""))]);
    let marker = "PANIC-MARKER-CSV-77";
    d.write(
        "in/1-bad.csv",
        format!("{}F-{marker},C1,Client,c@x.example,,2026-10-01,2026-11-01,EUR,10.00,10.00\n", common::HEADER),
    );
    d.write("in/2-good.csv", common::csv_rows(3, &[]));
    let out = d
        .relance()
        .args(["run", "--once", "--config"])
        .arg(d.config())
        .env("RELANCE_TEST_PANIC_MARKER", marker)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("acme/erp: ok (3 items, 1 quarantined"), "{text}");
    let reason: String =
        d.db().query_row("SELECT reason FROM quarantine WHERE item LIKE '%1-bad.csv'", [], |r| r.get(0)).unwrap();
    assert!(reason.contains("panic: test hook: the export contains the RELANCE_TEST_PANIC_MARKER marker"), "{reason}");
    // Not retried: the next run has nothing to do.
    let again = d
        .relance()
        .args(["run", "--once", "--config"])
        .arg(d.config())
        .env("RELANCE_TEST_PANIC_MARKER", marker)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("acme/erp: ok (0 items, 0 quarantined"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}
