//! Bank-aware reminders through the real binary and the test servers
//! (issue #18):
//! - an unmatched credit from a customer's account holds that customer's
//!   next reminder; accepting the credit means no reminder, rejecting it
//!   releases the reminder;
//! - an "already paid" reply holds the reminders of the invoices it names;
//!   the payer's credit, in a statement imported later, is found and linked
//!   for review; without a payment a proof of payment is asked for once
//!   (threaded to the reply) and reminders resume after the hold.

mod common;

use std::fmt::Write as _;

use common::Deployment;
use common::imap::Imap;
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

const TOKEN: &str = "holds-token-0001";

fn tenant(srv: &SmtpServer, user: &str) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["mails"]
[api]
tokens = ["{TOKEN}"]
[dunning]
window = "08:30-18:00"
claimed_paid_hold_days = 10
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
[connectors.bank]
kind = "bank_statements"
path = "../bank"
{mail}{inbox}"#,
        mail = srv.mail_connector(""),
        inbox = srv.inbox_connector(user, ""),
    )
}

/// A camt.053 of credits: (entry ref, booking day, amount, remittance, debtor IBAN).
fn camt(stmt_id: &str, credits: &[(&str, &str, &str, &str, Option<&str>)]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>{stmt_id}</MsgId></GrpHdr>\n<Stmt><Id>{stmt_id}</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
    );
    for (r, day, amount, text, iban) in credits {
        let acct = iban.map(|i| format!("<DbtrAcct><Id><IBAN>{i}</IBAN></Id></DbtrAcct>")).unwrap_or_default();
        let _ = writeln!(
            s,
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Client</Nm></Dbtr>{acct}</RltdPties><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        );
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

fn cli(d: &Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "relance {args:?}: {text}");
    text
}

fn plan_and_deliver(d: &Deployment, day: &str) {
    cli(d, &["dunning", "run", "--day", day, "--tenant", "acme"]);
    cli(d, &["dunning", "deliver", "--at", &format!("{day}T10:00"), "--tenant", "acme"]);
}

fn count(d: &Deployment, sql: &str) -> i64 {
    d.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A unique mail domain and IMAP user for one test run.
fn unique(tag: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (
        format!("{tag}{}-{nanos}.test", std::process::id()),
        format!("it-{tag}-{}-{nanos}@tenant-a.test", std::process::id()),
    )
}

const IBAN_A: &str = "FR1420041010050500013M02606";
const IBAN_B: &str = "DE89370400440532013000";

#[test]
fn a_credit_from_the_customers_account_holds_its_reminder_until_a_person_decides() {
    let test = "a_credit_from_the_customers_account_holds_its_reminder_until_a_person_decides";
    let Some(srv) = server(test) else { return };
    let (domain, user) = unique("bh");
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(&srv, &user))]);
    d.write("scenarios/mails.toml", SCENARIO);
    d.write(
        "input/invoices.csv",
        format!(
            "{}H-1,C1,Martin SARL,c1@{domain},{IBAN_A},2026-10-01,2026-11-27,EUR,1200.00,1200.00\n\
             H-2,C2,Dupont SA,c2@{domain},{IBAN_B},2026-10-01,2026-11-27,EUR,500.00,500.00\n\
             H-3,C3,Durand SAS,c3@{domain},,2026-10-01,2026-11-27,EUR,80.00,80.00\n",
            common::HEADER
        ),
    );
    std::fs::create_dir_all(d.path("bank")).unwrap();
    cli(&d, &["run", "--once"]);
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-01");
    assert_eq!(srv.delivered_to(&domain, since).len(), 3, "the first reminder to each customer");

    // Credits arrive: an unrelated one first, then one from each of C1's and C2's accounts,
    // overpaying (so that no rule applies them without a person).
    d.write(
        "bank/stmt-1.xml",
        camt(
            "S1",
            &[
                ("B0", "2026-12-03", "33.00", "LOYER DECEMBRE", None),
                ("B1", "2026-12-03", "1250.00", "VIREMENT MARTIN", Some(IBAN_A)),
                ("B2", "2026-12-03", "520.00", "VIREMENT DUPONT", Some(IBAN_B)),
            ],
        ),
    );
    cli(&d, &["run", "--once"]);
    assert_eq!(
        count(&d, "SELECT count(*) FROM payments WHERE status IN ('suggested','unmatched')"),
        3,
        "all three wait for a person"
    );
    let pay = |iban: &str| -> i64 {
        d.db().query_row("SELECT id FROM payments WHERE counterparty_iban=?1", [iban], |r| r.get(0)).unwrap()
    };
    let (p1, p2) = (pay(IBAN_A), pay(IBAN_B));

    // 8 December: the second step is due for all three; C1 and C2 are held, C3 is reminded.
    let plan = cli(&d, &["dunning", "run", "--day", "2026-12-08", "--tenant", "acme"]);
    let second = |c: &str| {
        count(
            &d,
            &format!(
                "SELECT count(*) FROM outbox WHERE step_id='second' AND customer_id='{c}' AND status<>'cancelled'"
            ),
        )
    };
    assert_eq!((second("C1"), second("C2"), second("C3")), (0, 0, 1), "{plan}");
    let holds: Vec<(String, String, i64, String)> = {
        let db = d.db();
        let mut st = db
            .prepare(
                "SELECT customer_id, kind, payment_id, reason FROM holds WHERE lifted_at IS NULL ORDER BY customer_id",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(holds.len(), 2, "{holds:?}");
    assert_eq!((holds[0].0.as_str(), holds[0].1.as_str(), holds[0].2), ("C1", "credit_review", p1));
    assert!(holds[0].3.contains(&format!("credit #{p1} of 1250.00 EUR")) && holds[0].3.contains(IBAN_A), "{holds:?}");
    assert_eq!((holds[1].0.as_str(), holds[1].2), ("C2", p2));
    // Planning again places no second hold.
    cli(&d, &["dunning", "run", "--day", "2026-12-08", "--tenant", "acme"]);
    assert_eq!(count(&d, "SELECT count(*) FROM holds"), 2);

    let daemon = d.daemon();
    // The review queue lists the credits holding reminders first, with the reason.
    let (code, review) = daemon.get_json("/api/v1/tenants/acme/review", Some(TOKEN));
    assert_eq!(code, 200, "{review}");
    let ids: Vec<i64> = review["items"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "{review}");
    assert_eq!(&ids[..2], &[p1, p2], "held credits first: {review}");
    let why = review["items"][0]["holds_reminders"][0].as_str().unwrap_or_default();
    assert!(why.contains("holds the reminders of C1") && why.contains("awaits review"), "{why}");
    assert_eq!(review["items"][2]["holds_reminders"], serde_json::json!([]));
    // Paging keeps the order.
    let (_, page) = daemon.get_json(&format!("/api/v1/tenants/acme/review?limit=1&after={p1}"), Some(TOKEN));
    assert_eq!(page["items"][0]["id"].as_i64(), Some(p2), "{page}");

    // A person applies C1's credit to its invoice, and rejects C2's.
    let body = r#"{"allocations":[{"invoice":"H-1","amount":"1200.00"}]}"#;
    let (code, out) = daemon.send_json("POST", &format!("/api/v1/tenants/acme/payments/{p1}/allocate"), TOKEN, body);
    assert_eq!(code, 200, "{out}");
    let (code, out) = daemon.send_json(
        "POST",
        &format!("/api/v1/tenants/acme/payments/{p2}/reject"),
        TOKEN,
        r#"{"reason":"not Dupont's payment"}"#,
    );
    assert_eq!(code, 200, "{out}");
    drop(daemon);
    assert_eq!(count(&d, "SELECT count(*) FROM holds WHERE lifted_at IS NULL"), 0, "both holds lifted");
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='hold_lifted' AND actor='relance'"), 2);

    // 9 December: C2's reminder is released and sent (with C3's, planned on the 8th); C1 paid, nothing goes to it.
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-09");
    assert_eq!((second("C1"), second("C2")), (0, 1));
    let mails = srv.delivered_to(&domain, since);
    let mut to: Vec<String> =
        mails.iter().flat_map(|m| m.rcpt_tos.iter().filter(|r| r.ends_with(&domain)).cloned()).collect();
    to.sort();
    assert_eq!(to, [format!("c2@{domain}"), format!("c3@{domain}")], "C2's released reminder and C3's, never C1's");
}

/// A customer's reply to a reminder saying it already paid.
fn paid_reply(from: &str, reminder_id: &str, n: u32, text: &str) -> Vec<u8> {
    format!(
        "From: Comptabilite <{from}>\r
To: relances@acme.test\r
Subject: RE: Relance\r
Date: Wed, 02 Dec 2026 09:0{n}:00 +0100\r
Message-ID: <paid-{n}@client.test>\r
In-Reply-To: {reminder_id}\r
References: {reminder_id}\r
MIME-Version: 1.0\r
Content-Type: text/plain; charset=utf-8\r
\r
{text}\r
"
    )
    .into_bytes()
}

#[test]
fn already_paid_holds_reminders_finds_the_credit_later_or_asks_for_proof_once_then_resumes() {
    let test = "already_paid_holds_reminders_finds_the_credit_later_or_asks_for_proof_once_then_resumes";
    let Some(srv) = server(test) else { return };
    let (domain, user) = unique("ap");
    let mut imap = Imap::login(srv.imap_port, &user, "password");
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(&srv, &user))]);
    d.write("scenarios/mails.toml", SCENARIO);
    let (c3, c4) = (format!("c3@{domain}"), format!("c4@{domain}"));
    d.write(
        "input/invoices.csv",
        format!(
            "{}P-1,C3,Durand SAS,{c3},,2026-10-01,2026-11-27,EUR,1200.00,1200.00\n\
             Q-1,C4,Petit EURL,{c4},,2026-10-01,2026-11-27,EUR,800.00,800.00\n",
            common::HEADER
        ),
    );
    std::fs::create_dir_all(d.path("bank")).unwrap();
    cli(&d, &["run", "--once"]);
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-01");
    let first = srv.delivered_to(&domain, since);
    assert_eq!(first.len(), 2);
    let reminder_to = |addr: &str| {
        first.iter().find(|m| m.rcpt_tos.contains(&addr.to_string())).and_then(|m| m.header("Message-ID")).unwrap()
    };

    // Both say they paid.
    imap.append(
        "INBOX",
        &paid_reply(
            &c3,
            &reminder_to(&c3),
            1,
            "Bonjour, nous avons payé la facture P-1 de 1 200,00 EUR par virement le 28 novembre.",
        ),
    );
    imap.append(
        "INBOX",
        &paid_reply(
            &c4,
            &reminder_to(&c4),
            2,
            "Bonjour, nous avons payé la facture Q-1 de 800,00 EUR par virement le 27 novembre.",
        ),
    );
    cli(&d, &["run", "--once"]);
    assert_eq!(count(&d, "SELECT count(*) FROM payment_claims WHERE status='open'"), 2);

    // 2 December: reminders held ten days, a proof of payment requested from each, threaded to its reply.
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-02");
    assert_eq!(count(&d, "SELECT count(*) FROM holds WHERE kind='claimed_paid' AND until='2026-12-12'"), 2);
    let proofs = srv.delivered_to(&domain, since);
    assert_eq!(proofs.len(), 2, "{proofs:?}");
    for (addr, n) in [(&c3, 1), (&c4, 2)] {
        let m = proofs.iter().find(|m| m.rcpt_tos.contains(addr)).expect("a proof request to the address that wrote");
        assert_eq!(m.header("X-Relance-Step").as_deref(), Some("proof_request"));
        assert_eq!(m.header("In-Reply-To"), Some(format!("<paid-{n}@client.test>")), "threaded to the reply");
        assert!(m.subject.contains("Justificatif de paiement"), "{}", m.subject);
    }

    // C3's payment arrives in a statement imported later, from an account nobody knows, without a reference.
    d.write("bank/stmt-2.xml", camt("S2", &[("B9", "2026-12-04", "1200.00", "VIR SEPA DURAND", Some(IBAN_B))]));
    cli(&d, &["run", "--once"]);
    let p: i64 = d.db().query_row("SELECT id FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(
        count(&d, &format!("SELECT count(*) FROM payments WHERE id={p} AND status IN ('suggested','unmatched')")),
        1,
        "nothing applied on the statement alone"
    );

    // 8 December: the credit is found for C3 and linked for review; both customers' reminders are still held.
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-08");
    let (status, linked): (String, Option<i64>) = d
        .db()
        .query_row("SELECT status, payment_id FROM payment_claims WHERE customer_id='C3'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), linked), ("credit_found", Some(p)));
    assert_eq!(
        count(&d, &format!("SELECT count(*) FROM payments WHERE id={p} AND status IN ('suggested','unmatched')")),
        1,
        "linked, not applied"
    );
    let reason: String = d
        .db()
        .query_row(&format!("SELECT reason FROM holds WHERE payment_id={p} AND customer_id='C3'"), [], |r| r.get(0))
        .unwrap();
    assert!(
        reason.contains("says it already paid (message") && reason.contains(&format!("credit #{p} of 1200.00 EUR")),
        "{reason}"
    );
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM payment_claims WHERE customer_id='C4' AND status='open' AND payment_id IS NULL"
        ),
        1,
        "C4's claim finds nothing: 800.00 was never paid"
    );
    assert!(srv.delivered_to(&domain, since).is_empty(), "no reminder while held, no second proof request");

    // The review queue lists the credit first, naming the reply.
    let daemon = d.daemon();
    let (_, review) = daemon.get_json("/api/v1/tenants/acme/review", Some(TOKEN));
    assert_eq!(review["items"][0]["id"].as_i64(), Some(p), "{review}");
    let why = review["items"][0]["holds_reminders"][0].as_str().unwrap_or_default();
    assert!(why.contains("holds the reminders of C3") && why.contains("says it already paid"), "{why}");
    drop(daemon);

    // 14 December, the hold ran out (12 December) without a payment from C4: its reminder resumes;
    // C3's stays held while its credit waits for review. No proof request twice.
    let since = srv.last_seq();
    plan_and_deliver(&d, "2026-12-14");
    let mails = srv.delivered_to(&domain, since);
    let steps: Vec<(Vec<String>, Option<String>)> =
        mails.iter().map(|m| (m.rcpt_tos.clone(), m.header("X-Relance-Step"))).collect();
    assert_eq!(mails.len(), 1, "{steps:?}");
    assert!(
        mails[0].rcpt_tos.contains(&c4) && mails[0].header("X-Relance-Step").as_deref() == Some("second"),
        "{steps:?}"
    );
    assert_eq!(
        count(&d, "SELECT count(*) FROM outbox WHERE step_id='proof_request'"),
        2,
        "one proof request per reply"
    );
    assert_eq!(count(&d, "SELECT count(*) FROM payment_claims WHERE customer_id='C4' AND status='closed'"), 1);
}
