//! The collections team's manual actions through the JSON API of the real
//! daemon (issue #15), with the planner and the simulation of the CLI:
//!
//! - holding a customer removes its next step from the simulation and the
//!   plan; lifting the hold brings it back; an invoice hold with an end day
//!   lets the step go the day after;
//! - resolving a dispute lets the invoice's reminders resume and closes the
//!   dispute task; tasks, promises and notes recorded by hand;
//! - a formal notice waits in `to_confirm`, is not delivered, and once
//!   approved (with an edited subject) reaches the test SMTP server; a
//!   cancelled one is never sent nor planned again.

mod common;

use chrono::{Duration, NaiveDate};
use common::smtp::server;
use common::{Daemon, Deployment, HEADER, csv_tenant, repo_path};
use relance_domain::TenantId;
use relance_domain::replies::MessageStatus;
use relance_engine::replies::{Intent, Understanding};
use relance_store::{HandleRequest, MailboxSlot};
use serde_json::{Value, json};

const TOKEN: &str = "workspace-token-0001";
const T: &str = "/api/v1/tenants/acme";

fn post(d: &Daemon, path: &str, body: Value) -> (u16, Value) {
    d.send_json("POST", &format!("{T}{path}"), TOKEN, &body.to_string())
}

fn get(d: &Daemon, path: &str) -> Value {
    let (s, v) = d.get_json(&format!("{T}{path}"), Some(TOKEN));
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

fn run(d: &Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The simulation's message lines for `customer` between two days.
fn simulated(d: &Deployment, customer: &str, from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let out =
        run(d, &["dunning", "simulate", "--tenant", "acme", "--from", &from.to_string(), "--to", &to.to_string()]);
    out.lines().filter(|l| l.starts_with("20") && l.contains(&format!(" {customer} "))).map(String::from).collect()
}

/// Today as the daemon sees it (the tenant's zone is Paris by default).
fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive()
}

#[test]
fn holds_disputes_tasks_promises_and_notes() {
    let today = today();
    let due = (today - Duration::days(30)).to_string();
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &format!("scenarios = [\"b2b_standard\"]\n{}", csv_tenant(TOKEN, "invoices", "")))],
    );
    d.write("scenarios/b2b_standard.toml", std::fs::read(repo_path("config/scenarios/b2b_standard.toml")).unwrap());
    let mut csv = String::from(HEADER);
    for (n, c) in [("H-1", "C1"), ("H-2", "C2"), ("H-3", "C3")] {
        csv.push_str(&format!("{n},{c},Client {c},ap@{c}.example,,2026-01-01,{due},EUR,500.00,500.00\n"));
    }
    d.write("invoices/open.csv", csv);
    run(&d, &["run", "--once"]);
    // C3 disputes H-3 in a reply (as the mailbox connector would record it).
    let tenant = TenantId::new("acme").unwrap();
    let message = {
        let store = d.store();
        let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 1 };
        let ids = store.store_messages(&tenant, &[(slot, "sha-d".into(), 10, "/d".into())]).unwrap();
        let u = Understanding {
            intent: Intent::Dispute,
            from: Some("ap@C3.example".into()),
            refs: vec!["H-3".into()],
            ..Default::default()
        };
        let h = HandleRequest { id: ids[0], status: MessageStatus::Handled, understanding: Some(u), error: None };
        store.handle_messages(&tenant, today, &[h]).unwrap();
        ids[0]
    };
    let (from, to) = (today + Duration::days(1), today + Duration::days(20));
    assert!(!simulated(&d, "C1", from, to).is_empty(), "C1 is reminded before the hold");
    assert!(simulated(&d, "C3", from, to).is_empty(), "a disputed invoice is not reminded");

    let daemon = d.daemon();
    // Hold C1 until lifted; hold C2's invoice through today + 7.
    let (s, c1) = post(&daemon, "/customers/C1/holds", json!({ "reason": "en attente du bon de commande" }));
    assert_eq!(s, 201, "{c1}");
    assert_eq!((c1["state"].as_str(), c1["created_by"].as_str()), (Some("active"), Some("api:acme")));
    let until = today + Duration::days(7);
    let (s, h2) = post(&daemon, "/invoices/h-2/holds", json!({ "reason": "litige commercial", "until": until }));
    assert_eq!((s, h2["invoice"].as_str(), h2["customer_id"].as_str()), (201, Some("H-2"), Some("C2")), "{h2}");
    let (s, e) = post(&daemon, "/customers/C1/holds", json!({ "reason": "x", "until": today - Duration::days(1) }));
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid")), "{e}");
    let (s, e) = post(&daemon, "/customers/C9/holds", json!({ "reason": "x" }));
    assert_eq!(s, 404, "{e}");
    let (s, e) = post(&daemon, "/customers/C1/holds", json!({ "until": until }));
    assert_eq!(s, 400, "a reason is required: {e}");
    let active = get(&daemon, "/holds?active=true");
    assert_eq!(active["items"].as_array().unwrap().len(), 2, "{active}");
    let page = get(&daemon, "/holds?limit=1");
    assert_eq!(page["next_after"], c1["id"], "{page}");

    // The simulation and the planner see the holds.
    assert!(simulated(&d, "C1", from, to).is_empty(), "a held customer has no next step");
    let c2 = simulated(&d, "C2", from, to);
    let first: NaiveDate = c2[0][..10].parse().unwrap();
    assert!(first > until, "H-2 is held through {until}: {c2:?}");
    let plan = run(&d, &["dunning", "run", "--tenant", "acme", "--day", &from.to_string()]);
    assert!(!plan.contains(" C1 "), "{plan}");

    // Lifted: C1's step comes back.
    let (s, lifted) = post(&daemon, &format!("/holds/{}/lift", c1["id"]), json!({ "note": "bon reçu" }));
    assert_eq!((s, lifted["state"].as_str(), lifted["lifted_by"].as_str()), (200, Some("lifted"), Some("api:acme")));
    let (s, again) = post(&daemon, &format!("/holds/{}/lift", c1["id"]), json!({}));
    assert_eq!((s, again["lift_note"].as_str()), (200, Some("bon reçu")), "lifting twice is fine");
    assert!(!simulated(&d, "C1", from, to).is_empty(), "reminders resume once the hold is lifted");

    // The open dispute, resolved: H-3's reminders resume and the dispute task is closed.
    let disputes = get(&daemon, "/disputes");
    assert_eq!(disputes["items"][0]["invoice"], "H-3", "{disputes}");
    assert_eq!(disputes["items"][0]["message"], message);
    let task = disputes["items"][0]["tasks"][0].as_i64().unwrap();
    let (s, e) = post(&daemon, "/invoices/H-3/dispute/resolve", json!({ "resolution": "upheld" }));
    assert_eq!(s, 400, "an unknown resolution: {e}");
    let (s, r) = post(
        &daemon,
        "/invoices/H-3/dispute/resolve",
        json!({ "resolution": "customer_wrong", "note": "livraison signée le 3" }),
    );
    assert_eq!((s, r["status"].as_str(), r["reminders_resume"].as_bool()), (200, Some("open"), Some(true)), "{r}");
    assert_eq!(r["tasks_closed"], json!([task]));
    let (s, _) = post(&daemon, "/invoices/H-3/dispute/resolve", json!({ "resolution": "withdrawn" }));
    assert_eq!(s, 409, "not disputed any more");
    assert!(get(&daemon, "/disputes")["items"].as_array().unwrap().is_empty());
    assert!(!simulated(&d, "C3", from, to).is_empty(), "reminders of H-3 resume");
    let done = get(&daemon, "/tasks?status=done");
    assert_eq!(done["items"][0]["closed_by"], "api:acme", "{done}");

    // A task by hand: created, assigned, closed.
    let (s, t) = post(
        &daemon,
        "/tasks",
        json!({ "customer": "C2", "invoices": ["H-2"], "note": "appeler la compta", "due_on": until, "assignee": "alice" }),
    );
    assert_eq!((s, t["kind"].as_str(), t["assignee"].as_str()), (201, Some("follow_up"), Some("alice")), "{t}");
    let id = t["id"].as_i64().unwrap();
    let (s, t) = post(&daemon, &format!("/tasks/{id}/assign"), json!({ "assignee": "bob" }));
    assert_eq!((s, t["assignee"].as_str()), (200, Some("bob")));
    let (s, t) = post(&daemon, &format!("/tasks/{id}/close"), json!({ "note": "rappel fait" }));
    assert_eq!((s, t["status"].as_str(), t["closed_note"].as_str()), (200, Some("done"), Some("rappel fait")));
    let (s, _) = post(&daemon, &format!("/tasks/{id}/assign"), json!({ "assignee": "carol" }));
    assert_eq!(s, 409, "a done task is not reassigned");
    let (s, e) = post(&daemon, "/tasks", json!({ "customer": "C2", "invoices": ["H-1"], "note": "x" }));
    assert_eq!(s, 422, "H-1 is C1's: {e}");

    // A promise heard on the phone.
    let (s, p) = post(
        &daemon,
        "/customers/C2/promises",
        json!({ "promised_date": until, "amount": "500", "invoices": ["H-2"] }),
    );
    assert_eq!((s, p["status"].as_str(), p["amount"].as_str()), (201, Some("pending"), Some("500.00")), "{p}");
    assert_eq!(get(&daemon, "/promises?status=pending")["items"][0]["id"], p["id"]);

    // Notes, read back with a cursor.
    for text in ["Client injoignable le matin", "Préfère les courriels"] {
        let (s, n) = post(&daemon, "/customers/C1/notes", json!({ "text": text }));
        assert_eq!((s, n["created_by"].as_str()), (201, Some("api:acme")), "{n}");
    }
    let (s, _) = post(&daemon, "/customers/C1/notes", json!({ "text": " " }));
    assert_eq!(s, 422);
    let first = get(&daemon, "/customers/C1/notes?limit=1");
    assert_eq!(first["items"][0]["text"], "Client injoignable le matin");
    let next = get(&daemon, &format!("/customers/C1/notes?limit=1&after={}", first["next_after"]));
    assert_eq!((next["items"][0]["text"].as_str(), &next["next_after"]), (Some("Préfère les courriels"), &Value::Null));

    // Every action is in the audit trail with its actor.
    let events = get(&daemon, "/events?limit=1000");
    let kinds: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "api:acme")
        .map(|e| (e["kind"].as_str().unwrap(), e["subject"].as_str().unwrap()))
        .collect();
    for want in [
        ("hold_placed", "customer:C1"),
        ("hold_placed", "invoice:H-2"),
        ("hold_lifted", "customer:C1"),
        ("dispute_resolved", "invoice:H-3"),
        ("task_created", &*format!("task:{id}")),
        ("task_closed", &*format!("task:{id}")),
        ("note_added", "customer:C1"),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
}

/// A scenario with a courteous e-mail and an e-mail formal notice (confirmed by default).
const SCENARIO: &str = r#"description = "workspace: courteous J+1, formal notice J+10 by e-mail"
min_gap_days = 1
[[steps]]
id = "courteous"
offset_days = 1
channel = "email"
template = "courteous"
[[steps]]
id = "formal_notice"
offset_days = 10
channel = "email"
template = "formal_notice"
"#;

#[test]
fn a_formal_notice_waits_for_approval_then_reaches_the_smtp_server() {
    let Some(srv) = server("a_formal_notice_waits_for_approval_then_reaches_the_smtp_server") else { return };
    let since = srv.last_seq();
    let extra = format!(
        "[dunning]\nwindow = \"08:30-18:00\"\n[connectors.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{}\"\nfrom = \"Acme Relances <relances@acme.test>\"\n",
        srv.port,
        srv.ca.display()
    );
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[(
            "acme",
            &format!("name = \"Acme\"\nscenarios = [\"workspace\"]\n{}", csv_tenant(TOKEN, "invoices", &extra)),
        )],
    );
    d.write("scenarios/workspace.toml", SCENARIO);
    d.write(
        "invoices/open.csv",
        format!(
            "{HEADER}W-1,C1,Alice SARL,alice@ws-approve.test,,2026-10-01,2026-11-20,EUR,900.00,900.00\n\
             W-2,C2,Bob SA,bob@ws-approve.test,,2026-10-01,2026-11-20,EUR,400.00,400.00\n"
        ),
    );
    run(&d, &["run", "--once"]);
    let deliver = |at: &str| run(&d, &["dunning", "deliver", "--tenant", "acme", "--at", at]);

    // Courteous reminders go without anyone.
    let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-11-23"]);
    assert!(out.contains("2 reminder(s) queued (0 invoice-copy answers, 0 to confirm)"), "{out}");
    assert!(deliver("2026-11-23T10:00").contains(": 2 sent"));
    // The formal notices wait; the simulation says so too.
    let sim = run(&d, &["dunning", "simulate", "--tenant", "acme", "--from", "2026-12-01", "--to", "2026-12-01"]);
    assert!(sim.contains("workspace/formal_notice via Email [formal_notice]: W-1 (to confirm)"), "{sim}");
    let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-01"]);
    assert!(out.contains("2 reminder(s) queued (0 invoice-copy answers, 2 to confirm)"), "{out}");
    assert!(out.contains("(to confirm: waits for a person's approval)"), "{out}");
    assert!(deliver("2026-12-01T10:00").contains(": 0 sent"), "nothing leaves before approval");

    let daemon = d.daemon();
    let waiting = get(&daemon, "/outbox?status=to_confirm");
    let ids: Vec<(String, i64)> = waiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["customer_id"].as_str().unwrap().to_string(), r["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(ids.len(), 2, "{waiting}");
    let alice = ids.iter().find(|(c, _)| c == "C1").unwrap().1;
    let bob = ids.iter().find(|(c, _)| c == "C2").unwrap().1;
    // The preview: the stored subject and text, and the HTML part delivery sends.
    let preview = get(&daemon, &format!("/outbox/{alice}"));
    assert_eq!((preview["status"].as_str(), preview["channel"].as_str()), (Some("to_confirm"), Some("email")));
    assert!(preview["preview"]["text"].as_str().unwrap().contains("W-1"), "{preview}");
    assert!(preview["preview"]["html"].as_str().unwrap().starts_with("<!DOCTYPE html>"), "{preview}");
    let (s, _) = daemon.get_json(&format!("{T}/outbox/999999"), Some(TOKEN));
    assert_eq!(s, 404);

    // Alice's is approved with an edited subject (twice: the second changes nothing).
    let subject = "Mise en demeure – dernier avis avant contentieux";
    let (s, a) = post(&daemon, &format!("/outbox/{alice}/approve"), json!({ "subject": subject }));
    assert_eq!((s, a["status"].as_str(), a["edited"].as_bool()), (200, Some("queued"), Some(true)), "{a}");
    let (s, a) = post(&daemon, &format!("/outbox/{alice}/approve"), json!({}));
    assert_eq!((s, a["decided_by"].as_str()), (200, Some("api:acme")), "{a}");
    // Bob's is cancelled with a reason; then it cannot be approved, alone or in bulk.
    let (s, e) = post(&daemon, &format!("/outbox/{bob}/cancel"), json!({}));
    assert_eq!(s, 400, "a reason is required: {e}");
    let (s, c) = post(&daemon, &format!("/outbox/{bob}/cancel"), json!({ "reason": "procédure collective ouverte" }));
    assert_eq!(
        (s, c["status"].as_str(), c["cancel_reason"].as_str()),
        (200, Some("cancelled"), Some("procédure collective ouverte"))
    );
    let (s, e) = post(&daemon, &format!("/outbox/{bob}/approve"), json!({}));
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")), "{e}");
    let (s, bulk) = post(&daemon, "/outbox/approve", json!({ "ids": [alice, bob] }));
    assert_eq!(s, 200, "{bulk}");
    assert_eq!(bulk["items"][0]["ok"], true);
    assert_eq!(
        (bulk["items"][1]["ok"].as_bool(), bulk["items"][1]["error"]["code"].as_str()),
        (Some(false), Some("conflict"))
    );
    let events = get(&daemon, "/events?limit=1000");
    let approvals: Vec<&Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "reminder_approved").collect();
    assert_eq!(approvals.len(), 1, "approved once: {events}");
    assert_eq!(approvals[0]["actor"], "api:acme");
    drop(daemon);

    // Delivered: Alice's formal notice, with the edited subject; never Bob's, nor planned again.
    assert!(deliver("2026-12-01T10:30").contains(": 1 sent"));
    for day in ["2026-12-02", "2026-12-03", "2026-12-04"] {
        let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", day]);
        assert!(out.contains(": 0 reminder(s) queued"), "{day}: {out}");
        deliver(&format!("{day}T10:00"));
    }
    let mails = srv.delivered_to("ws-approve.test", since);
    let mut steps: Vec<(String, String)> =
        mails.iter().map(|m| (m.rcpt_tos[0].clone(), m.header("X-Relance-Step").unwrap_or_default())).collect();
    steps.sort();
    let want = [
        ("alice@ws-approve.test", "courteous"),
        ("alice@ws-approve.test", "formal_notice"),
        ("bob@ws-approve.test", "courteous"),
    ];
    assert_eq!(steps, want.map(|(a, b)| (a.to_string(), b.to_string())), "{steps:?}");
    let notice = mails.iter().find(|m| m.header("X-Relance-Step").as_deref() == Some("formal_notice")).unwrap();
    assert_eq!(notice.subject, subject);
}

const LETTER_SCENARIO: &str = r#"description = "workspace: formal notice J+10 by letter"
min_gap_days = 1
[[steps]]
id = "formal_notice"
offset_days = 10
channel = "letter"
template = "formal_notice"
"#;

#[test]
fn a_letter_waiting_for_approval_is_previewed_as_its_pdf() {
    let extra = "[dunning]\nsender_address = [\"Acme Industrie SAS\", \"1 rue de la Paix\", \"75002 Paris\"]\n\
                 [connectors.letters]\nkind = \"letters\"\npath = \"../letters\"\n";
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &format!("scenarios = [\"letters\"]\n{}", csv_tenant(TOKEN, "invoices", extra)))],
    );
    d.write("scenarios/letters.toml", LETTER_SCENARIO);
    d.write(
        "invoices/open.csv",
        "invoice_number,customer_id,customer_name,customer_email,customer_address,issue_date,due_date,currency,amount_total,amount_open\n\
         L-1,C1,Dupont SA,,12 rue des Lilas | 69001 Lyon,2026-10-01,2026-11-01,EUR,1200.00,1200.00\n",
    );
    run(&d, &["run", "--once"]);
    let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-01"]);
    assert!(out.contains("1 to confirm"), "{out}");
    let daemon = d.daemon();
    let waiting = get(&daemon, "/outbox?status=to_confirm");
    let id = waiting["items"][0]["id"].as_i64().unwrap();
    let entry = get(&daemon, &format!("/outbox/{id}"));
    let preview = &entry["preview"];
    assert_eq!(
        (entry["channel"].as_str(), preview["connector"].as_str()),
        (Some("letter"), Some("letters")),
        "{entry}"
    );
    assert!(preview["html"].is_null() && preview["sms"].is_null(), "{preview}");
    let doc = &preview["document"];
    assert_eq!(doc["content_type"], "application/pdf", "{preview}");
    assert_eq!(doc["url"].as_str(), Some(&*format!("{T}/outbox/{id}/document")));
    let (status, pdf) = daemon.get_bytes(doc["url"].as_str().unwrap(), Some(TOKEN));
    assert_eq!(status, 200);
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    assert_eq!(Some(pdf.len() as u64), doc["bytes"].as_u64(), "the size announced");
    // Nothing was written to the letters folder: a preview is not a delivery.
    let written = std::fs::read_dir(d.path("letters")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(written, 0);
    // Another tenant's token, or a row without a document, is refused.
    let (s, _) = daemon.get(&format!("{T}/outbox/{id}/document"), Some("another-token"));
    assert!(s == 401 || s == 403, "{s}");
    let (s, _) = daemon.get(&format!("{T}/outbox/999999/document"), Some(TOKEN));
    assert_eq!(s, 404);
}
