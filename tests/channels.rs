//! SMS, webhook, call-task and letter channels against a local HTTP server
//! run by the test: a scenario that goes SMS → agency webhook → call task
//! (pushed to a CRM webhook) → letter (PDF in the outbox folder, also POSTed
//! to a print API). Checks the HMAC signature of every webhook, the SMS
//! provider's form and basic auth, the retry after a 503, and the PDF
//! (its text read back with `pdftotext`, its structure by `qpdf --check`;
//! both tools are required under scripts/test.sh).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::Deployment;
use common::http::Request;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The remote side: `/sms` answers 503 the first time, then 201 with a
/// provider id; everything else 200.
fn http_server() -> (u16, Arc<Mutex<Vec<Request>>>) {
    let sms_calls = AtomicUsize::new(0);
    common::http::serve(Box::new(move |r| match r.path.as_str() {
        "/sms" => match sms_calls.fetch_add(1, Ordering::SeqCst) {
            0 => (503, "{\"error\":\"busy\"}".to_string()),
            n => (201, format!("{{\"sid\":\"SM{n:04}\"}}")),
        },
        _ => (200, "{}".to_string()),
    }))
}

const SECRET: &str = "webhook-secret-0123456789";

/// The webhook step uses a plain template: a `handoff` one would hand the
/// customer over and stop the later steps (tests/handoff.rs).
fn scenario() -> &'static str {
    r#"description = "channels test: SMS, agency webhook, call task, letter"
min_gap_days = 1
[[steps]]
id = "sms_nudge"
offset_days = 1
channel = "sms"
template = "reminder_sms"
[[steps]]
id = "agency"
offset_days = 3
channel = "webhook"
template = "firm"
[[steps]]
id = "call"
offset_days = 5
channel = "call_task"
template = "call"
[[steps]]
id = "notice"
offset_days = 7
channel = "letter"
template = "formal_notice"
confirm = false
"#
}

fn tenant(port: u16) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["channels"]
[api]
tokens = ["acme-token-0001"]
[dunning]
sender_address = ["Acme Industrie SAS", "1 rue de la Paix", "75002 Paris"]
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
[connectors.sms]
kind = "http_sms"
url = "http://127.0.0.1:{port}/sms"
username = "AC0001"
password = "sms-token"
from = "+33100000000"
fields = {{ To = "{{to}}", From = "{{from}}", Body = "{{text}}" }}
id_field = "sid"
max_segments = 2
transliterate = true
[connectors.agency]
kind = "webhook"
url = "http://127.0.0.1:{port}/hooks/agency"
secret = "{SECRET}"
[connectors.crm]
kind = "webhook"
url = "http://127.0.0.1:{port}/hooks/crm"
secret = "{SECRET}"
channels = ["call_task"]
[connectors.letters]
kind = "letters"
path = "../letters"
post_url = "http://127.0.0.1:{port}/print"
"#
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (common::http::decode(k), common::http::decode(v)))
        .collect()
}

fn verify_signature(r: &Request) -> serde_json::Value {
    let ts: i64 = r.headers["x-relance-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 300, "fresh timestamp");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["x-relance-signature"], want, "HMAC-SHA256 over timestamp.body");
    let event: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(event["id"].as_str(), Some(r.headers["x-relance-event-id"].as_str()));
    event
}

#[test]
fn sms_webhook_call_task_and_letter_channels() {
    let (port, seen) = http_server();
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(port))]);
    d.write("scenarios/channels.toml", scenario());
    d.write(
        "input/invoices.csv",
        "invoice_number,customer_id,customer_name,customer_email,customer_phone,customer_address,issue_date,due_date,currency,amount_total,amount_open\n\
         H-1,C1,Hélène Dupré SARL,helene@example.test,+33612345678,\"Hélène Dupré SARL | 12 rue des Écoles | 75005 Paris\",2026-11-01,2026-12-01,EUR,1234.56,1234.56\n",
    );
    assert!(d.run(&["run", "--once"]).status.success());
    let day = |day: &str, times: &[&str]| -> Vec<String> {
        let out = d.run(&["dunning", "run", "--tenant", "acme", "--day", day]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        times
            .iter()
            .map(|t| {
                let out = d.run(&["dunning", "deliver", "--tenant", "acme", "--at", &format!("{day}T{t}")]);
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                // `deliver` fails (exit 1) exactly when a reminder was given up on.
                let failed = !(text.contains(" 0 failed") || text.contains("nothing sent"));
                assert_eq!(
                    out.status.code(),
                    Some(i32::from(failed)),
                    "{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                text
            })
            .collect()
    };

    // J+1: the SMS provider is busy (503): retried after the backoff, then accepted.
    let out = day("2026-12-02", &["10:00", "10:00", "10:02"]);
    assert!(out[0].contains("0 sent, 1 to retry"), "{}", out[0]);
    assert!(out[1].contains("0 sent, 0 to retry"), "not before the backoff: {}", out[1]);
    assert!(out[2].contains("1 sent"), "{}", out[2]);
    // J+3 agency webhook, J+5 (a Sunday) → Monday call task, J+7 letter.
    assert!(day("2026-12-04", &["10:00"])[0].contains("1 sent"));
    assert!(day("2026-12-06", &["10:00"])[0].contains("not a business day"));
    assert!(day("2026-12-07", &["10:00"])[0].contains("1 sent"));
    assert!(day("2026-12-08", &["10:00"])[0].contains("1 sent"));
    // Running the days again sends nothing more.
    for d2 in ["2026-12-02", "2026-12-04", "2026-12-07", "2026-12-08"] {
        assert!(day(d2, &["11:00"])[0].contains("0 sent"), "{d2}");
    }

    let requests = seen.lock().unwrap().clone();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/sms", "/sms", "/hooks/agency", "/hooks/crm", "/print"]);

    // SMS: Twilio-style form, basic auth, both attempts the same text, within 2 GSM parts.
    let sms = form(&requests[1].body);
    assert_eq!(sms["To"], "+33612345678");
    assert_eq!(sms["From"], "+33100000000");
    assert!(sms["Body"].contains("234,56") && sms["Body"].contains("Acme Industrie"), "{}", sms["Body"]);
    assert!(sms["Body"].chars().all(|c| !"êçâîôû".contains(c)), "transliterated: {}", sms["Body"]);
    assert!(sms["Body"].chars().count() <= 306, "two GSM parts at most");
    assert_eq!(form(&requests[0].body)["Body"], sms["Body"]);
    assert!(requests[1].headers["authorization"].starts_with("Basic "));

    // Webhooks: signed, one event id per action.
    let agency = verify_signature(&requests[2]);
    assert_eq!(agency["type"], "dunning.reminder");
    assert_eq!(agency["step"], "agency");
    assert_eq!(agency["customer"]["id"], "C1");
    assert_eq!(agency["invoices"], serde_json::json!(["H-1"]));
    let crm = verify_signature(&requests[3]);
    assert_eq!(crm["type"], "dunning.call_task");
    assert_ne!(agency["id"], crm["id"]);

    // The call task also exists in Relance; the outbox references both.
    let db = d.db();
    let (kind, customer): (String, String) =
        db.query_row("SELECT kind, customer_id FROM tasks", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((kind.as_str(), customer.as_str()), ("call", "C1"));
    let reference: String =
        db.query_row("SELECT reference FROM outbox WHERE step_id='call'", [], |r| r.get(0)).unwrap();
    assert!(reference.starts_with("task:") && reference.contains("event:rl-"), "{reference}");
    let sms_ref: String =
        db.query_row("SELECT reference FROM outbox WHERE step_id='sms_nudge'", [], |r| r.get(0)).unwrap();
    assert_eq!(sms_ref, "SM0001 (1 part(s))");

    // The letter: one PDF in the folder, the same bytes POSTed to the print API.
    let files: Vec<std::path::PathBuf> =
        std::fs::read_dir(d.path("letters")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let pdf = std::fs::read(&files[0]).unwrap();
    assert_eq!(requests[4].body, pdf);
    assert_eq!(requests[4].headers["content-type"], "application/pdf");
    assert!(requests[4].headers["idempotency-key"].starts_with("rl-"));
    assert!(pdf.starts_with(b"%PDF-"));
    common::qpdf_check(&files[0]);
    if let Some(text) = common::pdf_text(&files[0]) {
        for needle in [
            "Acme Industrie SAS",
            "Hélène Dupré SARL",
            "12 rue des Écoles",
            "75005 Paris",
            "À Paris, le ",
            "Lettre recommandée avec accusé de réception",
            "Objet : mise en demeure",
            "H-1",
            "Page 1 / 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from the letter:\n{text}");
        }
        assert_eq!(text.matches("Hélène Dupré SARL").count(), 1, "the name once, in the window:\n{text}");
    }
}
