//! The IMAP mailbox connector against a real Dovecot started by
//! scripts/test.sh (TEST_IMAP_PORT). Each test logs in as its own user (the
//! server accepts any user with the test password), so tests run in parallel.

mod common;

use std::time::{Duration, Instant};

use common::imap::{Imap, port, reply};
use common::{Deployment, HEADER, wait_for};

const PASSWORD: &str = "password";

/// A mailbox user of its own for each test and run (the server accepts any user).
fn unique_user(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("it-{name}-{}-{nanos}@tenant-a.test", std::process::id())
}

fn deployment(user: &str, port: u16, extra: &str) -> Deployment {
    let tenant = format!(
        "[api]\ntokens = [\"imap-token-1\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../in\"\nsettle = \"0s\"\n\
         [connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\n\
         username = \"{user}\"\npassword = \"{PASSWORD}\"\n{extra}"
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    d.write(
        "in/open.csv",
        format!("{HEADER}FAC-1001,C1,Client,,,2026-09-01,2026-10-01,EUR,100.00,100.00\nFAC-2002,C2,Client Deux,client2@client.example,,2026-09-01,2026-10-01,EUR,250.00,250.00\n"),
    );
    d
}

macro_rules! server_or_skip {
    () => {
        match port() {
            Some(p) => p,
            None => return,
        }
    };
}

fn count(d: &Deployment, sql: &str) -> i64 {
    d.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Same, but 0 while the database or its tables do not exist yet (polling a starting process).
fn try_count(d: &Deployment, sql: &str) -> i64 {
    d.try_db().map_or(0, |db| db.query_row(sql, [], |r| r.get(0)).unwrap_or(0))
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn new_messages_are_stored_understood_and_moved() {
    let port = server_or_skip!();
    let user = &unique_user("new");
    let mut imap = Imap::login(port, user, PASSWORD);
    imap.append(
        "INBOX",
        &reply(1, "RE: Facture FAC-1001", "Nous contestons cette facture FAC-1001, la livraison était incomplète."),
    );
    imap.append("INBOX", &reply(2, "RE: Relance", "Le virement partira vendredi."));
    imap.append("INBOX", &b"From: a@b.example\r\nSubject: Automatic reply: Relance\r\nAuto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n"[..]);
    let d = deployment(user, port, "");
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(imap.count("INBOX"), 0, "everything moved out of the inbox");
    assert_eq!(imap.count("Relance/Processed"), 3);
    assert_eq!(
        count(&d, "SELECT count(*) FROM inbound_messages WHERE status='handled' AND moved_to='Relance/Processed'"),
        3
    );
    assert_eq!(
        count(&d, "SELECT count(*) FROM invoices WHERE number='FAC-1001' AND status='disputed'"),
        1,
        "the dispute stops reminders"
    );
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='reply_received'"), 3);
    // Actions: the promise is recorded for the sender's customer, the dispute has a task.
    // Its date (Friday after the reply of October 2026) has passed with the invoice
    // still open, so the same run's promise check marks it broken.
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM promises WHERE customer_id='C2' AND promised_date='2026-10-09' AND status='broken'"
        ),
        1
    );
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='promise_broken'"), 1);
    assert_eq!(count(&d, "SELECT count(*) FROM tasks WHERE kind='dispute' AND customer_id='C1'"), 1);
    assert_eq!(count(&d, "SELECT count(*) FROM inbound_messages WHERE customer_id IS NOT NULL"), 2);
    let kept: String = d.db().query_row("SELECT raw_path FROM inbound_messages LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(std::fs::read(&kept).unwrap().starts_with(b"From: client1@"), "the raw message is kept");
    // Running again reads nothing and does nothing twice.
    assert!(d.run(&["run", "--once"]).status.success());
    assert_eq!(count(&d, "SELECT count(*) FROM inbound_messages"), 3);
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='reply_received'"), 3);
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='promise_broken'"), 1);
}

#[test]
fn malformed_huge_and_odd_charset_messages_are_kept_quarantined_and_sent_to_review() {
    let port = server_or_skip!();
    let user = &unique_user("bad");
    let mut imap = Imap::login(port, user, PASSWORD);
    imap.append("INBOX", b"From: a@b.example\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=\"nope\"\r\n\r\nthis is not a part\r\n");
    let mut huge = b"From: a@b.example\r\nSubject: scan\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nvoir PJ\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = [b'A'; 76];
    while huge.len() < 30 * 1024 * 1024 {
        huge.extend_from_slice(&line);
        huge.extend_from_slice(b"\r\n");
    }
    huge.extend_from_slice(b"--b1--\r\n");
    imap.append("INBOX", &huge);
    imap.append(
        "INBOX",
        b"From: a@b.example\r\nSubject: odd\r\nContent-Type: text/plain; charset=x-klingon-9\r\n\r\nqapla\r\n",
    );
    imap.append("INBOX", &reply(4, "RE: Relance", "Nous avons payé cette facture le 2 octobre."));
    let d = deployment(user, port, "");
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(imap.count("INBOX"), 0);
    assert_eq!(imap.count("Relance/Needs review"), 3);
    assert_eq!(imap.count("Relance/Processed"), 1, "the good message after the bad ones is handled");
    let reasons: Vec<String> = d
        .db()
        .prepare("SELECT error FROM inbound_messages WHERE status='quarantined' ORDER BY uid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("boundary `nope`"), "{reasons:?}");
    assert!(reasons[1].contains("exceeds the 10.0 MB analysis limit"), "{reasons:?}");
    assert!(reasons[2].contains("unknown charset"), "{reasons:?}");
    let size: i64 = count(&d, "SELECT size FROM inbound_messages WHERE uid=2");
    assert!(size > 30_000_000, "the 30 MB message is stored whole");
}

#[test]
fn sigkill_mid_batch_then_restart_loses_nothing_and_repeats_nothing() {
    let port = server_or_skip!();
    let user = &unique_user("kill");
    let mut imap = Imap::login(port, user, PASSWORD);
    const N: u32 = 120;
    for i in 0..N {
        imap.append(
            "INBOX",
            &reply(100 + i, &format!("RE: Relance FAC-{i}"), "Nous paierons cette facture vendredi prochain."),
        );
    }
    let d = deployment(user, port, "");
    let mut child = KillOnDrop(d.relance().args(["run", "--once", "--config"]).arg(d.config()).spawn().unwrap());
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.0.try_wait() {
            break;
        }
        if try_count(&d, "SELECT count(*) FROM inbound_messages") >= 15 {
            child.0.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.0.wait().unwrap();
    assert!(killed, "the batch finished before it could be killed");
    assert!(imap.count("INBOX") > 0, "killed mid-batch");
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(imap.count("INBOX"), 0);
    assert_eq!(imap.count("Relance/Processed"), N, "no message lost or duplicated on the server");
    assert_eq!(count(&d, "SELECT count(*) FROM inbound_messages"), i64::from(N));
    assert_eq!(
        count(&d, "SELECT count(*) FROM audit_events WHERE kind='reply_received'"),
        i64::from(N),
        "each handled once"
    );
}

#[test]
fn idle_push_is_handled_within_two_seconds() {
    let port = server_or_skip!();
    let user = &unique_user("idle");
    let mut imap = Imap::login(port, user, PASSWORD);
    let d = deployment(user, port, "idle_timeout = \"1m\"\n");
    let mut daemon = d.daemon();
    // Let the connector finish its first pass and enter IDLE.
    wait_for(Duration::from_secs(15), "first pass", || try_count(&d, "SELECT count(*) FROM connector_state") > 0);
    std::thread::sleep(Duration::from_millis(500));
    imap.append("INBOX", &reply(7, "RE: Relance", "Paiement demain."));
    let appended = Instant::now();
    wait_for(Duration::from_secs(10), "pushed message", || {
        try_count(&d, "SELECT count(*) FROM inbound_messages WHERE status='handled'") == 1
    });
    let took = appended.elapsed();
    assert!(took <= Duration::from_secs(2), "took {took:?}");
    assert!(
        daemon.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "stops from IDLE on SIGTERM: {}",
        daemon.log()
    );
}

#[test]
fn a_uidvalidity_change_does_not_handle_messages_twice() {
    let port = server_or_skip!();
    let user = &unique_user("uidv");
    let mut imap = Imap::login(port, user, PASSWORD);
    imap.cmd("CREATE \"Replies\"");
    let (a, b) =
        (reply(21, "RE: Relance", "Le virement partira lundi."), reply(22, "RE: Relance", "Nous contestons FAC-1001."));
    imap.append("Replies", &a);
    imap.append("Replies", &b);
    let d = deployment(user, port, "mailboxes = [\"Replies\"]\n");
    assert!(d.run(&["run", "--once"]).status.success());
    assert_eq!(count(&d, "SELECT count(*) FROM audit_events WHERE kind='reply_received'"), 2);
    let before: String = d
        .db()
        .query_row("SELECT value FROM connector_state WHERE key='uidvalidity:Replies'", [], |r| r.get(0))
        .unwrap();
    // The folder is recreated (new UIDVALIDITY) and the same messages land in it again, plus a new one.
    imap.cmd("DELETE \"Replies\"");
    imap.cmd("CREATE \"Replies\"");
    imap.append("Replies", &a);
    imap.append("Replies", &b);
    imap.append("Replies", &reply(23, "RE: Relance", "Pourriez-vous nous renvoyer la facture en PDF ?"));
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after: String = d
        .db()
        .query_row("SELECT value FROM connector_state WHERE key='uidvalidity:Replies'", [], |r| r.get(0))
        .unwrap();
    assert_ne!(before, after, "the server gave a new UIDVALIDITY");
    assert_eq!(
        count(&d, "SELECT count(*) FROM audit_events WHERE kind='reply_received'"),
        3,
        "only the new message is handled"
    );
    assert_eq!(imap.count("Replies"), 0);
}

#[test]
fn starttls_and_implicit_tls_with_the_test_ca() {
    let port = server_or_skip!();
    let Ok(ca) = std::env::var("TEST_IMAP_CA") else {
        eprintln!("note: TEST_IMAP_CA is not set; TLS test skipped");
        return;
    };
    let user = &unique_user("tls");
    let mut imap = Imap::login(port, user, PASSWORD);
    imap.append("INBOX", &reply(31, "RE: Relance", "Paiement vendredi."));
    for (mode, p) in [("starttls", port), ("implicit", port + 1)] {
        let tenant = format!(
            "[connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"localhost\"\nport = {p}\ntls = \"{mode}\"\nca_file = \"{ca}\"\nusername = \"{user}\"\npassword = \"{PASSWORD}\"\n"
        );
        let d = Deployment::new("", &[("acme", &tenant)]);
        let out = d.run(&["run", "--once"]);
        assert!(
            out.status.success(),
            "{mode}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(imap.count("INBOX"), 0);
    // A wrong password is a clear, permanent error.
    let tenant = format!(
        "[connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"localhost\"\nport = {port}\ntls = \"starttls\"\nca_file = \"{ca}\"\nusername = \"{user}\"\npassword = \"wrong\"\n"
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    let out = d.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("login as {user} refused")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
