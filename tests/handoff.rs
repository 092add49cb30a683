//! The hand-off that hands off: a scenario reaches its hand-off step; the
//! customer is recorded as handed over, the agency's dossier is written (a
//! CSV read back here, one row per open invoice with its amounts and
//! penalties; a PDF summary checked with `qpdf --check`) and sent with the
//! agency webhook; the next dunning run sends the customer nothing; after
//! the hand-off is reversed through the API, reminders resume.

mod common;

use std::sync::{Arc, Mutex};

use common::Deployment;
use common::http::Request;

const TOKEN: &str = "acme-token-0001";

fn scenario() -> &'static str {
    r#"description = "hand-off test"
min_gap_days = 1
[[steps]]
id = "nudge"
offset_days = 1
channel = "webhook"
template = "courteous"
[[steps]]
id = "agency"
offset_days = 10
channel = "webhook"
template = "handoff"
confirm = false
[[steps]]
id = "after"
offset_days = 22
channel = "webhook"
template = "firm"
"#
}

fn tenant(port: u16) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["handoff"]
[api]
tokens = ["{TOKEN}"]
[dunning]
sender_address = ["Acme Industrie SAS", "1 rue de la Paix", "75002 Paris"]
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
[connectors.agency]
kind = "webhook"
url = "http://127.0.0.1:{port}/hooks/agency"
secret = "webhook-secret-0123456789"
"#
    )
}

fn http_server() -> (u16, Arc<Mutex<Vec<Request>>>) {
    common::http::serve(Box::new(|_| (200, "{}".to_string())))
}

#[test]
fn the_hand_off_writes_the_dossier_stops_reminders_and_can_be_reversed() {
    let (port, seen) = http_server();
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(port))]);
    d.write("scenarios/handoff.toml", scenario());
    d.write(
        "input/invoices.csv",
        "invoice_number,customer_id,customer_name,customer_email,customer_phone,customer_address,issue_date,due_date,currency,amount_total,amount_open\n\
         H-1,C1,\"Dupré, Fils & Cie\",compta@dupre.test,+33612345678,\"Dupré | 12 rue des Écoles | 75005 Paris\",2027-01-15,2027-03-01,EUR,1234.56,1234.56\n\
         H-2,C1,\"Dupré, Fils & Cie\",compta@dupre.test,+33612345678,\"Dupré | 12 rue des Écoles | 75005 Paris\",2027-02-01,2027-03-01,EUR,500.00,200.00\n",
    );
    assert!(d.run(&["run", "--once"]).status.success());
    let plan = |day: &str| -> String {
        let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", day]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let deliver = |day: &str| -> String {
        let out = d.run(&["dunning", "deliver", "--tenant", "acme", "--at", &format!("{day}T10:00")]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    // J+1 (Tuesday 2 March 2027): the nudge; J+10 (Thursday 11 March): the hand-off.
    assert!(plan("2027-03-02").contains("nudge"));
    assert!(deliver("2027-03-02").contains("1 sent"));
    let handoff_plan = plan("2027-03-11");
    assert!(handoff_plan.contains("agency"), "{handoff_plan}");
    assert!(deliver("2027-03-11").contains("1 sent"));

    // The agency's webhook carries both files.
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let event: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(event["step"], "agency");
    let names: Vec<&str> =
        event["attachments"].as_array().unwrap().iter().map(|a| a["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["invoices.csv", "summary.pdf"], "{event}");
    assert!(event["attachments"][1]["content_base64"].as_str().unwrap().len() > 1000);

    // J+22 (Tuesday 23 March): the customer is handed over, nothing is planned.
    let after = plan("2027-03-23");
    assert!(!after.contains("queued #"), "a handed-over customer gets nothing: {after}");
    assert!(deliver("2027-03-23").contains("nothing sent") || deliver("2027-03-23").contains("0 sent"));
    assert_eq!(seen.lock().unwrap().len(), 2, "nothing more reached the agency's hook");

    let daemon = d.daemon();
    let (code, list) = daemon.get_json("/api/v1/tenants/acme/handoffs", Some(TOKEN));
    assert_eq!(code, 200, "{list}");
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["customer_id"], "C1");
    assert_eq!(items[0]["step"], "agency");
    assert_eq!(items[0]["handed_over_on"], "2027-03-11");
    let files: Vec<std::path::PathBuf> =
        items[0]["dossier"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().into()).collect();
    assert_eq!(files.len(), 2, "{list}");
    assert!(files[0].starts_with(d.path("data/handoffs/acme/C1-2027-03-11")), "{files:?}");

    // The CSV: one row per open invoice, amounts and penalties right.
    let mut rdr = csv::Reader::from_path(&files[0]).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let rows: Vec<std::collections::HashMap<String, String>> = rdr
        .records()
        .map(|r| headers.iter().map(String::from).zip(r.unwrap().iter().map(String::from)).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    let h1 = rows.iter().find(|r| r["invoice_number"] == "H-1").unwrap();
    let h2 = rows.iter().find(|r| r["invoice_number"] == "H-2").unwrap();
    assert_eq!(h1["customer_name"], "Dupré, Fils & Cie");
    assert_eq!((h1["currency"].as_str(), h1["amount_open"].as_str()), ("EUR", "1234.56"));
    assert_eq!((h2["amount_total"].as_str(), h2["amount_open"].as_str()), ("500.00", "200.00"));
    assert_eq!((h1["due_date"].as_str(), h1["issue_date"].as_str()), ("2027-03-01", "2027-01-15"));
    assert_eq!(h1["days_late"], "10");
    assert_eq!(h1["fixed_indemnity"], "40.00");
    let cents = |s: &str| -> i64 { s.replace('.', "").parse().unwrap() };
    assert!(cents(&h1["late_interest"]) > 0, "{h1:?}");
    assert_eq!(
        cents(&h1["total_claimed"]),
        cents(&h1["amount_open"]) + cents(&h1["late_interest"]) + cents(&h1["fixed_indemnity"])
    );

    // The PDF summary.
    let pdf = std::fs::read(&files[1]).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    common::qpdf_check(&files[1]);
    if let Some(text) = common::pdf_text(&files[1]) {
        for needle in ["Dossier de recouvrement", "Dupré, Fils & Cie", "compta@dupre.test", "H-1", "H-2", "nudge"] {
            assert!(text.contains(needle), "{needle} missing from the summary:\n{text}");
        }
    }

    // Reversing it: reminders resume.
    let (code, body) =
        daemon.send_json("POST", "/api/v1/tenants/acme/customers/C1/handoff/reverse", TOKEN, "{\"note\": \"paid\"}");
    assert_eq!(code, 200, "{body}");
    assert!(body["reversed_at"].is_string(), "{body}");
    let (code, _) = daemon.post_json("/api/v1/tenants/acme/customers/C1/handoff/reverse", TOKEN);
    assert_eq!(code, 404, "nothing left to reverse");
    let (_, list) = daemon.get_json("/api/v1/tenants/acme/handoffs", Some(TOKEN));
    assert_eq!(list, serde_json::json!([]));
    drop(daemon);
    let resumed = plan("2027-03-23");
    assert!(resumed.contains("after"), "reminders resume after the reversal: {resumed}");
    assert!(deliver("2027-03-23").contains("1 sent"));
    assert_eq!(seen.lock().unwrap().len(), 3);
}
