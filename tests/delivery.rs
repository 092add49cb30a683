//! Reminder delivery over a real SMTP server (aiosmtpd, started by
//! scripts/test.sh, which also hands every message to Dovecot over LMTP so
//! the sent archive can be read back over IMAP).
//!
//! - a simulated month of planning and delivery for one tenant: exactly the
//!   expected messages, none twice, none on a weekend, a holiday or outside
//!   the sending window; a payment stops the reminders; call tasks and
//!   letters; customers without an address are quarantined;
//! - SIGKILL in the middle of a send batch: after a restart every reminder
//!   was delivered exactly once, including one cut off between the server's
//!   250 and our commit (found in the sent archive, not sent again).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Timelike};
use common::smtp::{SmtpServer, server};
use common::{Deployment, repo_path, wait_for};

/// A tenant sending through the test SMTP server, with its sent archive in
/// Dovecot (`archive` user), letters in `letters/`, invoices from `input/`.
fn tenant(srv: &SmtpServer, archive: &str) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["b2b_standard"]
[api]
tokens = ["acme-token-0001"]
[dunning]
window = "08:30-18:00"
sender_address = ["Acme Industrie SAS", "1 rue de la Paix", "75002 Paris"]
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
{mail}[connectors.letters]
kind = "letters"
path = "../letters"
"#,
        mail = srv.mail_connector("reply_to = \"collections@acme.test\"\n") + &srv.archive_connector(archive),
    )
}

fn deployment(srv: &SmtpServer, archive: &str, csv: &str) -> Deployment {
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tenant(srv, archive))]);
    d.write("input/invoices.csv", csv);
    std::fs::create_dir_all(d.path("scenarios")).unwrap();
    std::fs::copy(repo_path("config/scenarios/b2b_standard.toml"), d.path("scenarios/b2b_standard.toml")).unwrap();
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    d
}

fn cli(d: &Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    if args.starts_with(&["dunning", "deliver"]) {
        // `deliver` fails (exit 1) exactly when a reminder was given up on.
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let failed = !(text.contains(" 0 failed") || text.contains("nothing sent"));
        assert_eq!(out.status.code(), Some(i32::from(failed)), "relance {args:?}: {text}");
        return text;
    }
    assert!(
        out.status.success(),
        "relance {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Approves every reminder waiting for confirmation, as a person would; returns (customer, step) of each.
fn approve_all(d: &Deployment) -> Vec<(String, String)> {
    let store = d.store();
    let t = relance_domain::TenantId::new("acme").unwrap();
    let waiting = store.outbox(&t, Some("to_confirm"), 100).unwrap();
    let ids: Vec<i64> = waiting.iter().map(|r| r.id).collect();
    let mut out = Vec::new();
    for (_, r) in store.approve_outbox_many(&t, &ids, "test:approver").unwrap() {
        let v = r.unwrap();
        out.push((v.customer_id, v.step));
    }
    out.sort();
    out
}

const MONTH_CSV: &str = "invoice_number,customer_id,customer_name,customer_email,customer_address,issue_date,due_date,currency,amount_total,amount_open
M-101,C1,Alice SARL,alice@month.test,,2026-11-15,2026-12-15,EUR,1200.00,1200.00
M-201,C2,Bob SA,bob@month.test,,2026-10-21,2026-11-20,EUR,800.00,800.00
M-202,C2,Bob SA,bob@month.test,,2026-10-28,2026-11-27,EUR,450.50,450.50
M-301,C3,Carol EURL,,,2026-10-01,2026-11-02,EUR,300.00,300.00
M-401,C4,Dave SAS,dave@month.test,\"Dave SAS | 3 avenue Foch | 69006 Lyon\",2026-09-20,2026-10-20,EUR,5000.00,5000.00
";

#[test]
fn a_month_of_reminders_over_smtp() {
    let Some(srv) = server("a_month_of_reminders_over_smtp") else { return };
    let since = srv.last_seq();
    let d = deployment(&srv, "archive-month@relance.test", MONTH_CSV);
    let tenant = ["--tenant", "acme"];
    let mut day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let mut approved = Vec::new();
    while day.month() == 12 {
        let ds = day.to_string();
        if ds == "2026-12-18" {
            // Alice pays M-101: the next export shows nothing left to pay.
            d.write(
                "input/invoices.csv",
                MONTH_CSV.replace("2026-12-15,EUR,1200.00,1200.00", "2026-12-15,EUR,1200.00,0.00"),
            );
            assert!(d.run(&["run", "--once"]).status.success());
        }
        cli(&d, &[&["dunning", "run", "--day", &ds], &tenant[..]].concat());
        // Formal notices wait for a person's approval (`confirm` by default): approved at once here.
        approved.extend(approve_all(&d));
        let early = cli(&d, &[&["dunning", "deliver", "--at", &format!("{ds}T07:00")], &tenant[..]].concat());
        assert!(early.contains("nothing sent"), "{ds} 07:00: {early}");
        let weekend = day.weekday().number_from_monday() > 5 || ds == "2026-12-25";
        let morning = cli(&d, &[&["dunning", "deliver", "--at", &format!("{ds}T10:00")], &tenant[..]].concat());
        assert_eq!(morning.contains("not a business day"), weekend, "{ds}: {morning}");
        let again = cli(&d, &[&["dunning", "deliver", "--at", &format!("{ds}T16:00")], &tenant[..]].concat());
        assert!(weekend || again.contains(": 0 sent, 0 to retry, 0 failed"), "{ds} 16:00 sent more: {again}");
        let evening = cli(&d, &[&["dunning", "deliver", "--at", &format!("{ds}T18:30")], &tenant[..]].concat());
        assert!(evening.contains("nothing sent"), "{ds} 18:30: {evening}");
        day = day.succ_opt().unwrap();
    }

    let mails = srv.delivered_to("month.test", since);
    let paris = chrono_tz::Europe::Paris;
    let mut got: Vec<(String, String, String, String)> = Vec::new();
    let mut ids = HashSet::new();
    let db = d.db();
    for m in &mails {
        let date = chrono::DateTime::parse_from_rfc2822(&m.header("Date").unwrap()).unwrap().with_timezone(&paris);
        assert!(
            date.weekday().number_from_monday() <= 5 && date.date_naive().to_string() != "2026-12-25",
            "sent on {date}"
        );
        let minutes = date.hour() * 60 + date.minute();
        assert!((8 * 60 + 30..18 * 60).contains(&minutes), "sent at {date}, outside 08:30-18:00");
        let id = m.header("Message-ID").unwrap();
        assert!(ids.insert(id.clone()), "{id} delivered twice");
        assert_eq!(m.header("Auto-Submitted").as_deref(), Some("auto-generated"));
        assert_eq!(m.header("Reply-To").as_deref(), Some("collections@acme.test"));
        assert_eq!(m.tls.as_deref(), Some("TLSv1.3"), "STARTTLS was used");
        assert!(m.rcpt_tos.contains(&"archive-month@relance.test".to_string()), "archived by Bcc");
        assert!(m.header("Bcc").is_none(), "the Bcc header is not shown to the customer");
        assert!(m.header("Content-Type").unwrap().starts_with("multipart/alternative"));
        // What the outbox recorded for this Message-ID: same subject and invoices.
        let (subject, invoices, status): (String, String, String) = db
            .query_row("SELECT subject, invoice_numbers, status FROM outbox WHERE reference=?1", [&id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap_or_else(|e| panic!("no outbox row for {id}: {e}"));
        assert_eq!(status, "sent");
        assert_eq!(m.subject, subject);
        let invoices: Vec<String> = serde_json::from_str(&invoices).unwrap();
        assert_eq!(m.header("X-Relance-Invoices").unwrap(), invoices.join(", "));
        let to: Vec<&String> = m.rcpt_tos.iter().filter(|r| r.ends_with("@month.test")).collect();
        assert_eq!(to.len(), 1);
        got.push((
            date.date_naive().to_string(),
            to[0].clone(),
            m.header("X-Relance-Step").unwrap(),
            invoices.join(","),
        ));
    }
    let want: Vec<(String, String, String, String)> = [
        ("2026-12-01", "bob", "courteous", "M-201,M-202"),
        ("2026-12-01", "dave", "courteous", "M-401"),
        ("2026-12-07", "bob", "firm", "M-201,M-202"),
        ("2026-12-07", "dave", "firm", "M-401"),
        ("2026-12-10", "alice", "pre_due", "M-101"),
        ("2026-12-16", "alice", "courteous", "M-101"),
        ("2026-12-21", "bob", "penalties", "M-201,M-202"),
        ("2026-12-21", "dave", "penalties", "M-401"),
        ("2026-12-28", "bob", "penalties", "M-201,M-202"),
    ]
    .iter()
    .map(|(d, who, step, inv)| (d.to_string(), format!("{who}@month.test"), step.to_string(), inv.to_string()))
    .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want, "delivered: {got:#?}");

    // Subjects escalate with the steps (French, the tenant's language).
    let penalties = mails.iter().find(|m| m.header("X-Relance-Step").as_deref() == Some("penalties")).unwrap();
    assert!(penalties.eml.contains("40,00"), "the 40 EUR indemnity is in the penalties reminder");

    // Call tasks on 14 December (Alice had paid by her call date), visible through the store.
    let calls: Vec<String> = db
        .prepare("SELECT customer_id FROM tasks WHERE kind='call' ORDER BY customer_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(calls, ["C2", "C3", "C4"]);

    // The formal notice to Dave is a letter (PDF in the outbox folder); Carol has no address.
    let letters: Vec<String> = std::fs::read_dir(d.path("letters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].starts_with("2026-12-28_C4_formal_notice_rl-"), "{}", letters[0]);
    let path = d.path("letters").join(&letters[0]);
    let pdf = std::fs::read(&path).unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF"));
    common::qpdf_check(&path);
    if let Some(text) = common::pdf_text(&path) {
        assert!(text.contains("Dave SAS") && text.contains("3 avenue Foch"), "recipient block:\n{text}");
        assert!(text.contains("69006 Lyon"), "address lines:\n{text}");
    }

    // The two formal notices (Dave's, Carol's) waited for approval; nothing else did.
    approved.sort();
    assert_eq!(approved, [("C3".to_string(), "formal_notice".to_string()), ("C4".into(), "formal_notice".into())]);

    // Carol (no email, no address) is quarantined with the reason, once per reminder.
    let failed: BTreeMap<String, String> = db
        .prepare("SELECT step_id, last_error FROM outbox WHERE status='failed' AND customer_id='C3'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(failed.keys().cloned().collect::<Vec<_>>(), ["courteous", "firm", "formal_notice", "penalties"]);
    assert_eq!(failed["firm"], "customer `C3` has no email address");
    assert_eq!(failed["formal_notice"], "customer `C3` has no postal address");
    let queued: i64 =
        db.query_row("SELECT count(*) FROM outbox WHERE status IN ('queued','sending')", [], |r| r.get(0)).unwrap();
    assert_eq!(queued, 0, "nothing left behind");
}

#[test]
fn sigkill_during_a_send_batch_delivers_each_reminder_exactly_once() {
    let Some(srv) = server("sigkill_during_a_send_batch_delivers_each_reminder_exactly_once") else { return };
    const N: usize = 240;
    let mut csv = String::from(
        "invoice_number,customer_id,customer_name,customer_email,issue_date,due_date,currency,amount_total,amount_open\n",
    );
    for i in 0..N {
        csv.push_str(&format!("K-{i:04},K{i:04},Client {i},c{i}@kill.test,2026-11-02,2026-12-02,EUR,100.00,100.00\n"));
    }
    let since = srv.last_seq();
    let d = deployment(&srv, "archive-kill@relance.test", &csv);
    let out = cli(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-03"]);
    assert!(out.contains(&format!("{N} reminder(s) queued")), "{out}");

    // Kill the sender twice, mid-batch, then let it finish.
    for stop_at in [N / 4, N / 2] {
        let mut child = d
            .relance()
            .args([
                "dunning",
                "deliver",
                "--tenant",
                "acme",
                "--at",
                "2026-12-03T10:00",
                "--concurrency",
                "4",
                "--config",
            ])
            .arg(d.config())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill while a reminder is claimed (`sending`): between two claims
        // nothing would be mid-send and the kill would test nothing.
        wait_for(Duration::from_secs(60), "part of the batch, with a reminder mid-send", || {
            srv.delivered_to("kill.test", since).len() >= stop_at
                && d.db()
                    .query_row("SELECT count(*) FROM outbox WHERE status='sending'", [], |r| r.get::<_, i64>(0))
                    .unwrap_or(0)
                    > 0
        });
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let sent: i64 = d.db().query_row("SELECT count(*) FROM outbox WHERE status='sent'", [], |r| r.get(0)).unwrap();
        assert!((sent as usize) < N, "killed before the end of the batch ({sent} sent)");
    }
    let interrupted: i64 =
        d.db().query_row("SELECT count(*) FROM outbox WHERE status='sending'", [], |r| r.get(0)).unwrap();
    assert!(interrupted > 0, "the kill left reminders mid-send");
    let out = cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T10:00"]);
    assert!(out.contains("0 to retry, 0 failed"), "{out}");

    // A crash between the server's 250 and our commit: the row says `sending`, the message is out.
    let (id, reference): (i64, String) = d
        .db()
        .query_row("SELECT id, reference FROM outbox WHERE status='sent' ORDER BY id LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    d.exec(&format!("UPDATE outbox SET status='sending' WHERE id={id}"));
    let out = cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T11:00"]);
    assert!(out.contains(": 1 sent"), "{out}");

    // Delivered means in the recipient's mailbox: the server hands each message to Dovecot
    // (LMTP) before it answers 250, so the archive mailbox, which receives every message in
    // the same transaction, shows what got through, including a transaction cut by the kill
    // after the data was sent (the server may then not write its own copy).
    let tokens: Vec<String> = d
        .db()
        .prepare("SELECT reference FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tokens.len(), N);
    assert!(tokens.contains(&reference));
    let mut archive = common::imap::Imap::login(srv.imap_port, "archive-kill@relance.test", "password");
    archive.cmd("SELECT INBOX");
    for id in &tokens {
        let found = archive.cmd(&format!("UID SEARCH HEADER Message-ID \"{id}\""));
        let uids =
            found.iter().find(|l| l.starts_with("* SEARCH")).map(|l| l.split_whitespace().count() - 2).unwrap_or(0);
        assert_eq!(uids, 1, "{id} is in the archive {uids} times");
    }
    // The server's own copies: never the same Message-ID twice.
    let mut seen = HashSet::new();
    for m in srv.delivered_to("kill.test", since) {
        let id = m.header("Message-ID").unwrap();
        assert!(seen.insert(id.clone()), "{id} delivered twice");
    }
    let db = d.db();
    let sent: i64 = db.query_row("SELECT count(*) FROM outbox WHERE status='sent'", [], |r| r.get(0)).unwrap();
    assert_eq!(sent as usize, N);
}

#[test]
fn implicit_tls_auth_refused_and_deferred_recipients() {
    let Some(srv) = server("implicit_tls_auth_refused_and_deferred_recipients") else { return };
    let since = srv.last_seq();
    let csv =
        "invoice_number,customer_id,customer_name,customer_email,issue_date,due_date,currency,amount_total,amount_open
F-1,F1,Ok SA,ok@fail.test,2026-11-02,2026-12-02,EUR,100.00,100.00
F-2,F2,Gone SA,reject-gone@fail.test,2026-11-02,2026-12-02,EUR,100.00,100.00
F-3,F3,Busy SA,tempfail-busy@fail.test,2026-11-02,2026-12-02,EUR,100.00,100.00
";
    let tls = tenant(&srv, "archive-fail@relance.test")
        .replace(
            &format!("port = {}\ntls = \"starttls\"", srv.port),
            &format!("port = {}\ntls = \"tls\"\nusername = \"relance\"\npassword = \"relance\"", srv.port + 1),
        )
        .replace("[dunning]\n", "[dunning]\nmax_attempts = 2\n");
    assert!(tls.contains("tls = \"tls\""), "{tls}");
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[("acme", &tls)]);
    d.write("input/invoices.csv", csv);
    std::fs::create_dir_all(d.path("scenarios")).unwrap();
    std::fs::copy(repo_path("config/scenarios/b2b_standard.toml"), d.path("scenarios/b2b_standard.toml")).unwrap();
    assert!(d.run(&["run", "--once"]).status.success());
    cli(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-03"]);
    let first = cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T10:00"]);
    assert!(first.contains("1 sent, 1 to retry, 1 failed"), "{first}");
    // The deferred one is tried again after the backoff, then given up (max_attempts = 2).
    let second = cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-03T10:05"]);
    assert!(second.contains("0 sent, 0 to retry, 1 failed"), "{second}");
    let errors: BTreeMap<String, String> = d
        .db()
        .prepare("SELECT customer_id, last_error FROM outbox WHERE status='failed'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(errors["F2"].contains("550"), "permanent: {}", errors["F2"]);
    assert!(errors["F3"].starts_with("gave up after 2 attempts") && errors["F3"].contains("451"), "{}", errors["F3"]);
    let ok = srv.delivered_to("fail.test", since);
    assert_eq!(ok.len(), 1, "only the accepted recipient");
    assert_eq!(ok[0].rcpt_tos[0], "ok@fail.test");
    assert_eq!(ok[0].auth_user.as_deref(), Some("relance"));
    assert_eq!(ok[0].listener_port, u64::from(srv.port + 1), "implicit TLS port");
    assert_eq!(ok[0].tls.as_deref(), Some("TLSv1.3"));
}
