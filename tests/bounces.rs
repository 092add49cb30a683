//! Bounces and out-of-office replies through the real servers (issue #14):
//! a reminder goes out over the test SMTP server, a delivery report for it
//! (RFC 3464, naming the reminder's Message-ID) is appended to the test
//! Dovecot mailbox, the daemon reads it, and the next reminder goes to the
//! customer's other address only; with no address left, a task is opened
//! instead of a send, and the API shows each address's state.

mod common;

use common::Deployment;
use common::imap::Imap;
use common::smtp::{SmtpServer, server};

const SCENARIO: &str = r#"description = "three e-mails a week apart"
min_gap_days = 5
[[steps]]
id = "first"
offset_days = 1
channel = "email"
template = "courteous"
[[steps]]
id = "second"
offset_days = 8
channel = "email"
template = "firm"
[[steps]]
id = "third"
offset_days = 15
channel = "email"
template = "penalties"
"#;

fn tenant(srv: &SmtpServer, user: &str) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["mails"]
[api]
tokens = ["bounce-token-0001"]
[dunning]
window = "08:30-18:00"
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
{mail}{inbox}"#,
        mail = srv.mail_connector(""),
        inbox = srv.inbox_connector(user, ""),
    )
}

/// An RFC 3464 report from the sender's MTA: `failed` is refused for good.
fn dsn(failed: &str, message_id: &str, n: u32) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r
To: relances@acme.test\r
Subject: Undelivered Mail Returned to Sender\r
Date: Tue, 01 Dec 2026 10:05:0{n} +0100\r
Message-ID: <bounce-{n}@mx.acme.test>\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary=\"R{n}\"\r
\r
--R{n}\r
Content-Type: text/plain\r
\r
Your message could not be delivered to one or more recipients.\r
\r
--R{n}\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.acme.test\r
\r
Final-Recipient: rfc822; {failed}\r
Action: failed\r
Status: 5.1.1\r
Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown\r
\r
--R{n}\r
Content-Type: text/rfc822-headers\r
\r
From: Acme Relances <relances@acme.test>\r
To: {failed}\r
Subject: Relance\r
Message-ID: {message_id}\r
\r
--R{n}--\r
"
    )
    .into_bytes()
}

fn cli(d: &Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "relance {args:?}: {text}");
    text
}

fn count(d: &Deployment, sql: &str) -> i64 {
    d.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_bounce_moves_the_next_reminder_to_the_other_address_then_to_a_task() {
    let Some(srv) = server("a_bounce_moves_the_next_reminder_to_the_other_address_then_to_a_task") else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let domain = format!("dsn{}-{nanos}.test", std::process::id());
    let (first, second) = (format!("first@{domain}"), format!("second@{domain}"));
    let user = format!("it-dsn-{}-{nanos}@tenant-a.test", std::process::id());
    let mut imap = Imap::login(srv.imap_port, &user, "password");
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(&srv, &user))]);
    d.write("scenarios/mails.toml", SCENARIO);
    d.write(
        "input/invoices.csv",
        format!(
            "invoice_number,customer_id,customer_name,customer_email,customer_address,issue_date,due_date,currency,amount_total,amount_open\n\
             D-1,C1,Dsn SARL,{first}; {second},,2026-10-01,2026-11-27,EUR,300.00,300.00\n"
        ),
    );
    cli(&d, &["run", "--once"]);
    let since = srv.last_seq();
    let tenant = ["--tenant", "acme"];

    // 1 December: the first reminder goes to both addresses.
    cli(&d, &[&["dunning", "run", "--day", "2026-12-01"], &tenant[..]].concat());
    cli(&d, &[&["dunning", "deliver", "--at", "2026-12-01T10:00"], &tenant[..]].concat());
    let mails = srv.delivered_to(&domain, since);
    let [one] = mails.as_slice() else { panic!("{mails:?}") };
    assert!(one.rcpt_tos.contains(&first) && one.rcpt_tos.contains(&second), "{:?}", one.rcpt_tos);
    let id = one.header("Message-ID").expect("a Message-ID");

    // The first address bounces; the daemon reads the report from the mailbox.
    imap.append("INBOX", &dsn(&first, &id, 1));
    cli(&d, &["run", "--once"]);
    assert_eq!(count(&d, "SELECT count(*) FROM inbound_messages WHERE status='handled'"), 1);
    let (address, code, customer): (String, String, String) = d
        .db()
        .query_row("SELECT address, status_code, customer_id FROM contact_undeliverable", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((address.as_str(), code.as_str(), customer.as_str()), (first.as_str(), "5.1.1", "C1"));
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM audit_events WHERE kind='reply_received' AND data LIKE '%reply to reminder outbox:%'"
        ),
        1,
        "the report is linked to the reminder by its Message-ID"
    );

    // 8 December: the next step goes to the second address only.
    cli(&d, &[&["dunning", "run", "--day", "2026-12-08"], &tenant[..]].concat());
    cli(&d, &[&["dunning", "deliver", "--at", "2026-12-08T10:00"], &tenant[..]].concat());
    let mails = srv.delivered_to(&domain, since);
    let [_, two] = mails.as_slice() else { panic!("{mails:?}") };
    assert_eq!(two.header("X-Relance-Step").as_deref(), Some("second"));
    let ours: Vec<&String> = two.rcpt_tos.iter().filter(|r| r.ends_with(&domain)).collect();
    assert_eq!(ours, [&second], "not to the undeliverable address");

    // The second address bounces too: the third step becomes a task, nothing is sent.
    imap.append("INBOX", &dsn(&second, &two.header("Message-ID").unwrap(), 2));
    cli(&d, &["run", "--once"]);
    assert_eq!(count(&d, "SELECT count(*) FROM contact_undeliverable"), 2);
    cli(&d, &[&["dunning", "run", "--day", "2026-12-15"], &tenant[..]].concat());
    cli(&d, &[&["dunning", "deliver", "--at", "2026-12-15T10:00"], &tenant[..]].concat());
    assert_eq!(srv.delivered_to(&domain, since).len(), 2, "no third mail");
    let note: String = d
        .db()
        .query_row(
            "SELECT note FROM tasks WHERE kind='contact' AND customer_id='C1' AND note LIKE 'no deliverable%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(note.contains("reminder `third` about D-1"), "{note}");
    assert!(note.contains(&format!("{first} (5.1.1)")) && note.contains(&format!("{second} (5.1.1)")), "{note}");
    let (status, connector): (String, String) = d
        .db()
        .query_row("SELECT status, connector FROM outbox WHERE step_id='third'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), connector.as_str()), ("sent", "tasks"), "the step is taken, not retried daily");
    // Planning and delivering again changes nothing.
    cli(&d, &[&["dunning", "run", "--day", "2026-12-16"], &tenant[..]].concat());
    cli(&d, &[&["dunning", "deliver", "--at", "2026-12-16T10:00"], &tenant[..]].concat());
    assert_eq!(count(&d, "SELECT count(*) FROM tasks WHERE kind='contact' AND note LIKE 'no deliverable%'"), 1);

    // The API shows each address's state.
    let daemon = d.daemon();
    let (code, body) = daemon.get_json("/api/v1/tenants/acme/contacts", Some("bounce-token-0001"));
    assert_eq!(code, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    for item in items {
        assert_eq!(item["status"], "undeliverable", "{item}");
        assert_eq!(item["undeliverable"]["status_code"], "5.1.1", "{item}");
        assert!(item["undeliverable"]["message"].is_i64(), "{item}");
    }
    let (code, body) = daemon.get_json("/api/v1/tenants/acme/contacts?status=ok", Some("bounce-token-0001"));
    assert_eq!((code, body["items"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
    let (code, _) = daemon.get_json("/api/v1/tenants/acme/contacts?status=gone", Some("bounce-token-0001"));
    assert_eq!(code, 400);
}
