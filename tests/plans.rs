//! Payment plans end to end (issue #14): a customer's plan request becomes a
//! draft, a person accepts it through the API, reminders pause while the
//! first instalment is paid on time, and once the second is missed the next
//! reminder is planned with a `why` naming it and the plan is broken.

mod common;

use chrono::NaiveDate;
use common::{Daemon, Deployment, HEADER, csv_tenant, repo_path};
use relance_domain::TenantId;
use relance_domain::replies::MessageStatus;
use relance_store::{HandleRequest, MailboxSlot};

const TOKEN: &str = "plans-token-0001";

/// POST a JSON body: (status, JSON answer).
fn post(d: &Daemon, path: &str, body: &str) -> (u16, serde_json::Value) {
    d.send_json("POST", path, TOKEN, body)
}

fn run(d: &Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

const REQUEST: &str = "From: Compta Client <ap@c1.example>\r\nTo: relance@acme.example\r\n\
Subject: Re: Relance facture F-1\r\nDate: Thu, 10 Dec 2026 09:30:00 +0100\r\nMessage-ID: <req1@c1.example>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
Bonjour,\r\n\r\nNous traversons une période difficile. Pourrions-nous échelonner : 500 € maintenant \
et le solde le 15 janvier ?\r\n\r\nCordialement,\r\nCompta Client\r\n";

#[test]
fn an_accepted_plan_pauses_and_a_missed_instalment_resumes() {
    let d = Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &format!("scenarios = [\"b2b_standard\"]\n{}", csv_tenant(TOKEN, "invoices", "")))],
    );
    d.write("scenarios/b2b_standard.toml", std::fs::read(repo_path("config/scenarios/b2b_standard.toml")).unwrap());
    let csv = |open: &str| format!("{HEADER}F-1,C1,Client,ap@c1.example,,2026-10-03,2026-11-02,EUR,1200.00,{open}\n");
    d.write("invoices/open.csv", csv("1200.00"));
    run(&d, &["run", "--once"]);

    // The reply is read (as the mailbox connector would) and handled on 10 December.
    let tenant = TenantId::new("acme").unwrap();
    {
        let store = d.store();
        let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 1 };
        let ids =
            store.store_messages(&tenant, &[(slot, "sha-req1".into(), REQUEST.len() as u64, "/req1".into())]).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
        let u = relance_engine::replies::understand(REQUEST.as_bytes(), day).unwrap();
        let h = HandleRequest { id: ids[0], status: MessageStatus::Handled, understanding: Some(u), error: None };
        store.handle_messages(&tenant, day, &[h]).unwrap();
    }

    let mut daemon = d.daemon();
    let tok = Some(TOKEN);
    let (s, plans) = daemon.get_json("/api/v1/tenants/acme/plans?status=draft", tok);
    assert_eq!(s, 200, "{plans}");
    let draft = &plans["items"][0];
    assert_eq!(draft["customer_id"], "C1", "{plans}");
    assert_eq!(draft["invoices"], serde_json::json!(["F-1"]));
    let schedule: Vec<(String, String)> = draft["instalments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["due_date"].as_str().unwrap().to_string(), i["amount"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(schedule, [("2026-12-10".into(), "500.00".into()), ("2027-01-15".into(), "700.00".into())]);
    let id = draft["id"].as_i64().unwrap();

    // Refused with clear errors: no person, amounts not summing to the open amount.
    let (s, e) = post(&daemon, &format!("/api/v1/tenants/acme/plans/{id}/accept"), "{\"by\": \" \"}");
    assert_eq!(s, 400, "{e}");
    let short = "{\"by\": \"Alice\", \"instalments\": [{\"due_date\": \"2026-12-10\", \"amount\": \"500.00\"}]}";
    let (s, e) = post(&daemon, &format!("/api/v1/tenants/acme/plans/{id}/accept"), short);
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_plan")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("1200.00 EUR"), "{e}");
    let (s, e) = post(&daemon, "/api/v1/tenants/acme/plans/999/accept", "{\"by\": \"Alice\"}");
    assert_eq!(s, 404, "{e}");

    // Accepted as drafted.
    let (s, p) = post(&daemon, &format!("/api/v1/tenants/acme/plans/{id}/accept"), "{\"by\": \"Alice\"}");
    assert_eq!(s, 200, "{p}");
    assert_eq!((p["status"].as_str(), p["decided_by"].as_str()), (Some("accepted"), Some("Alice")));
    let (s, e) = post(&daemon, &format!("/api/v1/tenants/acme/plans/{id}/reject"), "{\"by\": \"Bob\"}");
    assert_eq!(s, 409, "{e}");
    let (_, events) = daemon.get_json("/api/v1/tenants/acme/events", tok);
    let accepted: Vec<&serde_json::Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "plan_accepted").collect();
    assert_eq!(accepted.len(), 1, "{events}");
    assert_eq!(accepted[0]["data"]["by"], "Alice");
    assert!(daemon.terminate(std::time::Duration::from_secs(20)).is_some());

    // The first instalment is paid (the ERP's next export shows 700.00 open).
    d.write("invoices/open-2.csv", csv("700.00"));
    run(&d, &["run", "--once"]);

    // Nothing is sent while the plan is on track; after 15 January + 2 days of grace
    // (Sunday 17), Monday 18 January resumes with the missed instalment named.
    let out = run(&d, &["dunning", "simulate", "--tenant", "acme", "--from", "2026-12-11", "--to", "2027-01-20"]);
    let sent: Vec<&str> = out.lines().filter(|l| l.starts_with("20") && l.contains(" C1 ")).collect();
    assert_eq!(sent.len(), 1, "{out}");
    assert!(sent[0].starts_with("2027-01-18"), "{out}");
    assert!(
        out.contains("why: payment plan #1 (F-1) broken: instalment 2 of 700.00 EUR due 2027-01-15 is unpaid"),
        "{out}"
    );

    // The planner: nothing for C1 on 14 December; on 18 January the plan is broken and a reminder queued.
    let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-14"]);
    assert!(out.contains("0 reminder(s) queued"), "{out}");
    let out = run(&d, &["dunning", "run", "--tenant", "acme", "--day", "2027-01-18"]);
    assert!(out.contains("1 reminder(s) queued"), "{out}");
    let db = d.db();
    let status: String = db.query_row("SELECT status FROM payment_plans WHERE id=?1", [id], |r| r.get(0)).unwrap();
    assert_eq!(status, "broken");
    let broken: String = db
        .query_row(
            "SELECT data FROM audit_events WHERE kind='plan_broken' AND subject=?1",
            [format!("plan:{id}")],
            |r| r.get(0),
        )
        .unwrap();
    assert!(broken.contains("instalment 2 of 700.00 EUR due 2027-01-15"), "{broken}");
    let queued: i64 = db
        .query_row("SELECT count(*) FROM outbox WHERE customer_id='C1' AND planned_for='2027-01-18'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 1);
}
