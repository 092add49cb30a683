//! Learning from corrections (issue #14), through the real daemon and the
//! Dovecot of scripts/test.sh (TEST_IMAP_PORT): a reply the shipped model
//! reads as `other` is corrected to a dispute through the API by Alice, so
//! the invoice is disputed and no reminder is planned for it, and the audit
//! names her; after a few corrections of the same tenant phrasing, a new
//! reply with it is read as a dispute for that tenant, and still as `other`
//! for a tenant without corrections.

mod common;

use std::time::Duration;

use common::imap::{Imap, port, reply};
use common::{Daemon, Deployment, HEADER, repo_path, wait_for};
use serde_json::{Value, json};

const PASSWORD: &str = "password";

/// A tenant's code word for a dispute, which the shipped model cannot know.
const CORRECTED: [&str; 4] = [
    "Dossier classé code rouge chez nous.",
    "Code rouge sur ce dossier, merci.",
    "Code rouge pour celui-ci également.",
    "Classé code rouge par notre service.",
];
const NEW: &str = "Nous classons ce dossier en code rouge.";

fn unique_user(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("it-{name}-{}-{nanos}@tenant-a.test", std::process::id())
}

fn tenant(token: &str, input: &str, user: &str, port: u16) -> String {
    format!(
        "scenarios = [\"b2b_standard\"]\n[api]\ntokens = [\"{token}\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../{input}\"\nsettle = \"0s\"\n\
         [connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\n\
         username = \"{user}\"\npassword = \"{PASSWORD}\"\n"
    )
}

fn request(d: &Daemon, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    d.send_json(method, path, token, body)
}

/// The tenant's messages, newest first.
fn messages(d: &Daemon, t: &str, token: &str) -> Vec<Value> {
    let (status, page) = request(d, "GET", &format!("/api/v1/tenants/{t}/messages"), token, "");
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until the tenant has `n` messages read; the newest.
fn nth_message(d: &Daemon, t: &str, token: &str, n: usize) -> Value {
    wait_for(Duration::from_secs(30), "the reply to be read", || {
        let m = messages(d, t, token);
        m.len() == n && m.iter().all(|x| x["status"] != "stored")
    });
    messages(d, t, token).remove(0)
}

fn model(d: &Daemon, token: &str) -> Value {
    let (status, m) = request(d, "GET", "/api/v1/tenants/acme/replies/model", token, "");
    assert_eq!(status, 200, "{m}");
    m
}

fn correct(d: &Daemon, id: &Value, by: &str) -> (u16, Value) {
    let body = json!({ "by": by, "intent": "dispute", "promised_date": null, "amount": null,
                       "invoices": ["FAC-1001"], "comment": "code rouge means a dispute here" });
    request(d, "POST", &format!("/api/v1/tenants/acme/messages/{id}/correction"), "acme-token-1", &body.to_string())
}

fn simulate(deployment: &Deployment) -> String {
    let out =
        deployment.run(&["dunning", "simulate", "--tenant", "acme", "--from", "2026-11-23", "--to", "2026-12-31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_correction_disputes_the_invoice_and_corrections_teach_the_tenant_model() {
    let Some(port) = port() else { return };
    let (user_a, user_b) = (unique_user("corr-a"), unique_user("corr-b"));
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[
            ("acme", &tenant("acme-token-1", "in-a", &user_a, port)),
            ("beta", &tenant("beta-token-1", "in-b", &user_b, port)),
        ],
    );
    d.write("scenarios/b2b_standard.toml", std::fs::read(repo_path("config/scenarios/b2b_standard.toml")).unwrap());
    let csv = format!("{HEADER}FAC-1001,C1,Client,client1@client.example,,2026-09-01,2026-10-01,EUR,100.00,100.00\n");
    d.write("in-a/open.csv", &csv);
    d.write("in-b/open.csv", &csv);
    let (mut imap_a, mut imap_b) = (Imap::login(port, &user_a, PASSWORD), Imap::login(port, &user_b, PASSWORD));
    let daemon = d.daemon();
    let token = "acme-token-1";

    // The shipped model cannot read the tenant's code word: `other`, sent to review.
    imap_a.append("INBOX", &reply(1, "RE: Relance FAC-1001", CORRECTED[0]));
    let first = nth_message(&daemon, "acme", token, 1);
    assert_eq!(first["intent"], "other", "{first}");
    assert_eq!(model(&daemon, token)["version"], 0, "no model before any correction");
    wait_for(Duration::from_secs(30), "the invoices", || {
        d.db()
            .query_row("SELECT count(*) FROM invoices WHERE number='FAC-1001'", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            == 2
    });
    assert!(simulate(&d).contains("FAC-1001"), "a reminder is planned before the correction");

    // Bad corrections are refused with a clear answer.
    let path = format!("/api/v1/tenants/acme/messages/{}/correction", first["id"]);
    let (status, e) = request(&daemon, "POST", &path, token, r#"{"by": "Alice", "intent": "disputed"}"#);
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("unknown variant `disputed`"), "{e}");
    let (status, e) =
        request(&daemon, "POST", &path, token, r#"{"by": "Alice", "intent": "dispute", "invoices": ["FAC-9"]}"#);
    assert_eq!(status, 422, "{e}");
    let (status, _) = request(
        &daemon,
        "POST",
        &path,
        token,
        r#"{"by": "Alice", "intent": "dispute", "promised_date": "12/01/2026"}"#,
    );
    assert_eq!(status, 400);

    // Alice corrects it to a dispute: the invoice is disputed, no reminder is planned for it.
    let (status, out) = correct(&daemon, &first["id"], "Alice");
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["changed"], true);
    let disputed = |tenant: &str| -> i64 {
        d.db()
            .query_row(
                "SELECT count(*) FROM invoices WHERE tenant_id=?1 AND number='FAC-1001' AND status='disputed'",
                [tenant],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(disputed("acme"), 1);
    assert_eq!(disputed("beta"), 0);
    assert!(!simulate(&d).contains("FAC-1001"), "the dispute stops reminders: {}", simulate(&d));
    let (_, events) = request(&daemon, "GET", "/api/v1/tenants/acme/events", token, "");
    let corrected: Vec<&Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "reply_corrected").collect();
    assert_eq!(corrected.len(), 1, "{events}");
    assert_eq!(corrected[0]["data"]["by"], "Alice");
    assert_eq!(corrected[0]["data"]["from"]["intent"], "other");
    let (_, detail) = request(&daemon, "GET", &format!("/api/v1/tenants/acme/messages/{}", first["id"]), token, "");
    assert_eq!(detail["intent"], "dispute");
    assert_eq!(detail["corrections"][0]["by"], "Alice");
    assert_eq!(detail["corrections"][0]["previous"]["intent"], "other");
    // The same correction again changes nothing.
    let (status, again) = correct(&daemon, &first["id"], "Alice");
    assert_eq!((status, &again["changed"]), (200, &json!(false)), "{again}");
    // Retrained in the background.
    wait_for(Duration::from_secs(60), "the tenant model", || model(&daemon, token)["version"].as_i64() >= Some(1));

    // More corrections of the same phrasing.
    for (k, text) in CORRECTED.iter().enumerate().skip(1) {
        imap_a.append("INBOX", &reply(10 + k as u32, "RE: Relance FAC-1001", text));
        let m = nth_message(&daemon, "acme", token, k + 1);
        let (status, out) = correct(&daemon, &m["id"], "Alice");
        assert_eq!(status, 200, "{out}");
    }
    wait_for(Duration::from_secs(60), "the model to learn every correction", || {
        model(&daemon, token)["examples"] == CORRECTED.len()
    });
    let m = model(&daemon, token);
    assert_eq!(m["accuracy"], 1.0, "{m}");
    assert!(m["shipped_accuracy"].as_f64().unwrap() < 1.0, "{m}");

    // A new reply with the phrasing: a dispute for this tenant, still `other` for the other one.
    imap_a.append("INBOX", &reply(20, "RE: Relance FAC-1001", NEW));
    let new = nth_message(&daemon, "acme", token, CORRECTED.len() + 1);
    assert_eq!(new["intent"], "dispute", "{new}");
    imap_b.append("INBOX", &reply(21, "RE: Relance FAC-1001", NEW));
    let other = nth_message(&daemon, "beta", "beta-token-1", 1);
    assert_eq!(other["intent"], "other", "{other}");

    // `relance replies eval --tenant` scores the model on the corrections.
    let out = d.run(&["replies", "eval", "--tenant", "acme"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 corrected messages: intent accuracy 100.0 % (4/4)"), "{text}");
    assert!(text.contains("shipped model alone: 0.0 % (0/4)"), "{text}");
}
