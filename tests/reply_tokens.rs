//! Deterministic reply linking (issue #18): each reminder carries a reply
//! token in the plus address of its `Reply-To` and of its VERP envelope
//! sender. A reply whose mail client dropped `In-Reply-To` and `References`,
//! written from an address the customer record does not know, and a bounce
//! that quotes nothing of the returned message, both travel through the test
//! SMTP server into the tenant's Dovecot mailbox (plus-addressed, over LMTP)
//! and are linked to their reminder, its customer and its invoices by the
//! token alone. A token whose MAC was changed links nothing.

mod common;

use common::Deployment;
use common::smtp::{SmtpServer, server};

const SCENARIO: &str = r#"description = "two e-mails a week apart"
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
"#;

fn tenant(srv: &SmtpServer, mailbox: &str) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["mails"]
[dunning]
window = "08:30-18:00"
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
{mail}{inbox}"#,
        mail = srv.mail_connector(&format!(
            "reply_to = \"Acme Recouvrement <{mailbox}>\"\nreply_tokens = true\nreturn_path = \"{mailbox}\"\n"
        )),
        inbox = srv.inbox_connector(mailbox, ""),
    )
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

/// The address inside `Name <address>` (or the whole value).
fn address(header: &str) -> String {
    header.rsplit_once('<').map_or(header, |(_, a)| a.trim_end_matches('>')).trim().to_string()
}

/// A reply from the customer's accountant, whose client kept no thread headers.
fn reply(to: &str, n: u32) -> Vec<u8> {
    format!(
        "From: Cabinet Comptable <assistante@cabinet-{n}.example>\r\nTo: {to}\r\nSubject: Votre courrier\r\n\
         Date: Tue, 01 Dec 2026 15:0{n}:00 +0100\r\nMessage-ID: <reply-{n}-{pid}@cabinet.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n\r\nNotre client conteste cette facture : la \
         prestation n'a jamais été livrée. Merci de ne pas relancer tant que ce n'est pas réglé.\r\n\r\nCordialement\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

/// A delivery report that quotes nothing of the returned message (no
/// `text/rfc822-headers` part, no Message-ID), sent to the VERP address.
fn bounce(to: &str, failed: &str) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.client.test>\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Date: Tue, 01 Dec 2026 10:05:00 +0100\r\nMessage-ID: <bounce-{pid}@mx.client.test>\r\nAuto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n\
         --B1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
         --B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.test\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown\r\n\r\n--B1--\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

#[test]
fn replies_and_bounces_without_thread_headers_are_linked_by_the_reply_token() {
    let Some(srv) = server("replies_and_bounces_without_thread_headers_are_linked_by_the_reply_token") else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let domain = format!("rt{}-{nanos}.test", std::process::id());
    let (c1, c2) = (format!("compta-c1@{domain}"), format!("ap-c2@{domain}"));
    let mailbox = format!("it-rt-{}-{nanos}@tenant-a.test", std::process::id());
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(&srv, &mailbox))]);
    d.write("scenarios/mails.toml", SCENARIO);
    d.write(
        "input/invoices.csv",
        format!(
            "invoice_number,customer_id,customer_name,customer_email,customer_address,issue_date,due_date,currency,amount_total,amount_open\n\
             T-1,C1,Premier SARL,{c1},,2026-10-01,2026-11-27,EUR,300.00,300.00\n\
             T-2,C2,Second SAS,{c2},,2026-10-01,2026-11-27,EUR,450.00,450.00\n"
        ),
    );
    cli(&d, &["run", "--once"]);
    let since = srv.last_seq();
    let tenant = ["--tenant", "acme"];
    let planned = cli(&d, &[&["dunning", "run", "--day", "2026-12-01"], &tenant[..]].concat());
    let delivered = cli(&d, &[&["dunning", "deliver", "--at", "2026-12-01T10:00"], &tenant[..]].concat());
    let mails = srv.delivered_to(&domain, since);
    assert_eq!(mails.len(), 2, "{planned}\n{delivered}\n{mails:?}");
    let to_c1 = mails.iter().find(|m| m.rcpt_tos.contains(&c1)).expect("a reminder to C1");
    let to_c2 = mails.iter().find(|m| m.rcpt_tos.contains(&c2)).expect("a reminder to C2");

    // Each reminder has its own token, in Reply-To and in the envelope sender.
    let (local, host) = mailbox.split_once('@').unwrap();
    let reply_to = address(&to_c1.header("Reply-To").expect("a Reply-To"));
    assert!(reply_to.starts_with(&format!("{local}+r")) && reply_to.ends_with(&format!("@{host}")), "{reply_to}");
    assert_eq!(to_c1.mail_from, reply_to, "VERP: bounces come back to the token address");
    assert_ne!(address(&to_c2.header("Reply-To").unwrap()), reply_to, "one token per reminder");
    assert!(to_c1.header("Reply-To").unwrap().contains("Acme Recouvrement"), "the display name is kept");

    // The accountant answers to the Reply-To; the client kept no thread headers.
    srv.submit("assistante@cabinet-1.example", &reply_to, &reply(&reply_to, 1));
    // The same words to a token whose MAC was changed: not linked.
    let mac_at = reply_to[..reply_to.rfind('@').unwrap()].rfind('-').unwrap() + 1;
    let flipped = if &reply_to[mac_at..mac_at + 1] == "0" { "1" } else { "0" };
    let forged = format!("{}{flipped}{}", &reply_to[..mac_at], &reply_to[mac_at + 1..]);
    srv.submit("assistante@cabinet-2.example", &forged, &reply(&forged, 2));
    // C2's server bounces its reminder without quoting it.
    let verp_c2 = to_c2.mail_from.clone();
    assert!(verp_c2.starts_with(&format!("{local}+r")), "{verp_c2}");
    srv.submit("", &verp_c2, &bounce(&verp_c2, &c2));

    cli(&d, &["run", "--once"]);
    let statuses: Vec<String> = d
        .db()
        .prepare("SELECT status FROM inbound_messages ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let linked = |sender: &str| -> i64 {
        count(
            &d,
            &format!(
                "SELECT count(*) FROM audit_events WHERE kind='reply_received' AND data LIKE '%{sender}%' \
                 AND data LIKE '%reply to reminder outbox:%'"
            ),
        )
    };
    assert_eq!(linked("cabinet-1"), 1, "the reply is linked to C1's reminder by its token");
    assert_eq!(linked("cabinet-2"), 0, "a forged token links nothing");
    assert_eq!(
        count(&d, "SELECT count(*) FROM invoices WHERE number='T-1' AND status='disputed'"),
        1,
        "the reminder's invoice is disputed"
    );
    assert_eq!(count(&d, "SELECT count(*) FROM invoices WHERE number='T-2' AND status='disputed'"), 0);
    assert_eq!(count(&d, "SELECT count(*) FROM tasks WHERE kind='dispute' AND customer_id='C1'"), 1);
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM audit_events WHERE kind='reply_received' AND data LIKE '%MAILER-DAEMON%' AND data LIKE '%reply to reminder outbox:%'"
        ),
        1,
        "the bounce is linked to C2's reminder by its VERP address"
    );
    let (address, customer): (String, String) = d
        .db()
        .query_row("SELECT address, customer_id FROM contact_undeliverable", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((address.as_str(), customer.as_str()), (c2.as_str(), "C2"));
}

#[test]
fn reply_token_settings_are_checked() {
    let base = |extra: &str| {
        format!(
            "name = \"Acme\"\n[connectors.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n\
             allow_plaintext = true\nfrom = \"relances@acme.test\"\n{extra}"
        )
    };
    let check = |extra: &str| {
        let d = Deployment::new("", &[("acme", &base(extra))]);
        let out = d.run(&["check-config"]);
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, text) = check("reply_tokens = true\n");
    assert!(!ok && text.contains("connectors.mail.reply_tokens") && text.contains("reply_to"), "{text}");
    let (ok, text) = check("reply_to = \"collections@acme.test\"\nreply_tokens = true\naddress_delimiter = \"#\"\n");
    assert!(!ok && text.contains("connectors.mail.address_delimiter"), "{text}");
    let (ok, text) = check("reply_to = \"collections@acme.test\"\nreturn_path = \"not an address\"\n");
    assert!(!ok && text.contains("connectors.mail.return_path"), "{text}");
    let (ok, text) = check(
        "reply_to = \"collections@acme.test\"\nreply_tokens = true\naddress_delimiter = \"-\"\nreturn_path = \"bounces@acme.test\"\n",
    );
    assert!(ok, "{text}");
}
