//! Several daemons on one PostgreSQL database (issue #17): three `relance
//! run` processes share two tenants (one sending reminders over the test
//! SMTP server, reading a bank statement and an IMAP mailbox; one with
//! 100,000 invoices), while the daemon doing the work is SIGKILLed twice and
//! started again. Every due reminder goes out once, every credit is applied
//! once, every reply is handled once, and the leases of a killed daemon are
//! taken over within 30 s.
//!
//! The first day, the invoices fall due on the days before today, so its
//! plan holds reminders at every step of the scenario at once. Then a month
//! goes by: thirty more days, each run by three daemons whose clock
//! libfaketime moves forward, two of them losing the reminders' holder to a
//! SIGKILL.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::imap::Imap;
use common::smtp::server;
use common::{Daemon, Deployment, HEADER, signal, wait_for};

const TOKEN: &str = "cluster-token-1";
const BIG_TOKEN: &str = "cluster-token-2";
const REMINDED: usize = 120;
const PAID: usize = 30;
const REPLIES: u32 = 8;
const BIG: usize = 100_000;

fn acme(srv: &common::smtp::SmtpServer, mailbox: &str, archive: &str) -> String {
    format!(
        r#"name = "Acme Industrie"
scenarios = ["b2b_standard"]
[api]
tokens = ["{TOKEN}"]
[dunning]
auto = true
window = "00:00-23:59"
sender_address = ["Acme Industrie SAS", "1 rue de la Paix", "75002 Paris"]
[connectors.erp]
kind = "csv_invoices"
path = "../acme"
settle = "0s"
[connectors.bank]
kind = "bank_statements"
path = "../bank"
{inbox}{mail}[connectors.letters]
kind = "letters"
path = "../letters"
"#,
        inbox = srv.inbox_connector(mailbox, "schedule = \"every 2s\"\n"),
        mail = srv.mail_connector("reply_to = \"collections@acme.test\"\n") + &srv.archive_connector(archive),
    )
}

/// The lease holders of a tenant, by lease name.
fn holders(d: &Daemon, tenant: &str) -> BTreeMap<String, String> {
    let token = if tenant == "big" { BIG_TOKEN } else { TOKEN };
    let (status, body) = d.get_json(&format!("/api/v1/tenants/{tenant}/daemons"), Some(token));
    if status != 200 {
        return BTreeMap::new();
    }
    body["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| Some((l["name"].as_str()?.to_string(), l["holder"].as_str()?.to_string())))
        .collect()
}

/// The daemon's pid, from its identity `<host>-<pid>-<random>`.
fn pid_of(holder: &str) -> Option<u32> {
    holder.rsplit('-').nth(1)?.parse().ok()
}

fn count(d: &Deployment, sql: &str) -> i64 {
    d.pg_i64(sql)
}

#[test]
fn three_daemons_share_the_work_and_one_killed_twice_loses_nothing() {
    if common::on_postgres() {
        return; // always on PostgreSQL: run once, in the first pass of scripts/test.sh
    }
    let Some(srv) = server("three_daemons_share_the_work") else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mailbox = format!("cluster-{}-{nanos}@tenant-a.test", std::process::id());
    let archive = format!("cluster-archive-{}-{nanos}@relance.test", std::process::id());
    let big = format!(
        "[api]\ntokens = [\"{BIG_TOKEN}\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../big\"\nsettle = \"0s\"\n"
    );
    let Some(d) = Deployment::new_on_postgres(
        "scenarios_dir = \"scenarios\"\n",
        &[("acme", &acme(&srv, &mailbox, &archive)), ("big", &big)],
    ) else {
        return;
    };
    std::fs::create_dir_all(d.path("scenarios")).unwrap();
    std::fs::copy(common::repo_path("config/scenarios/b2b_standard.toml"), d.path("scenarios/b2b_standard.toml"))
        .unwrap();

    // Acme: invoices fallen due 0 to 70 days ago (every step of the scenario is due for some),
    // the first PAID of them paid by the statement.
    let today = chrono::Utc::now().date_naive();
    let mut csv = String::from(HEADER);
    let mut credits = String::new();
    for i in 0..REMINDED {
        let due = today - chrono::Duration::days((i % 71) as i64 - 5);
        let issue = due - chrono::Duration::days(30);
        let _ = writeln!(
            csv,
            "K-{i:05},K{i:05},Client {i},c{i}@cluster.test,,{issue},{due},EUR,{a}.00,{a}.00",
            a = 100 + i
        );
        if i < PAID {
            let _ = writeln!(
                credits,
                "<Ntry><Amt Ccy=\"EUR\">{a}.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>{today}</Dt></BookgDt><AcctSvcrRef>CL-{i}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Client {i}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>Facture K-{i:05}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>",
                a = 100 + i
            );
        }
    }
    d.write("acme/open.csv", csv);
    // Big: 100,000 invoices not due for a year (no reminder).
    let mut csv = String::from(HEADER);
    let due = today + chrono::Duration::days(365);
    for i in 0..BIG {
        let _ = writeln!(
            csv,
            "B-{i:07},B{c:05},Big {c},b{c}@big.test,,{today},{due},EUR,{a}.50,{a}.50",
            c = i % 5000,
            a = 100 + i % 900
        );
    }
    d.write("big/open.csv", csv);
    let since = srv.last_seq();

    // The invoices are there before the daemons start (a daemon plans its day once, at its
    // first dunning round).
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // Three daemons; the work goes where the leases are. Then the bank statement and the
    // replies arrive.
    let mut daemons: Vec<Daemon> = (0..3).map(|i| d.daemon_logged(&format!("daemon-{i}.log"))).collect();
    d.write(
        "bank/statement.xml",
        format!(
            "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>CLUSTER-1</MsgId></GrpHdr>\n<Stmt><Id>CLUSTER-1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n{credits}</Stmt></BkToCstmrStmt></Document>\n"
        ),
    );
    // Replies waiting in the collections mailbox.
    let mut imap = Imap::login(srv.imap_port, &mailbox, "password");
    for n in 0..REPLIES {
        imap.append(
            "INBOX",
            &common::imap::reply(n, &format!("RE: Facture K-{:05}", 100 + n), "Nous avons payé hier."),
        );
    }

    let started = Instant::now();
    let (mut acme_leases, mut big_leases) = (BTreeMap::new(), BTreeMap::new());
    while started.elapsed() < Duration::from_secs(60) {
        (acme_leases, big_leases) = (holders(&daemons[0], "acme"), holders(&daemons[0], "big"));
        if acme_leases.len() >= 6 && big_leases.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        acme_leases.len() >= 6 && big_leases.len() >= 3,
        "every piece of work has a holder: {acme_leases:?} {big_leases:?}\n{}",
        daemons[0].log()
    );

    // Twice: kill (SIGKILL) the daemon holding acme's reminders while it works, and check that
    // another takes its leases over within 30 s; then start it again.
    for round in 0..2 {
        let before = holders(&daemons[0], "acme");
        let victim_id = before.get("tenant/acme/dunning").cloned().expect("acme's reminders are held");
        let pid = pid_of(&victim_id).expect("a pid in the daemon identity");
        let held: BTreeSet<String> = before.iter().filter(|(_, h)| **h == victim_id).map(|(n, _)| n.clone()).collect();
        if round == 0 {
            // Mid-work: some reminders out, not all.
            wait_for(Duration::from_secs(120), "the first reminders sent", || {
                srv.delivered_to("cluster.test", since).len() >= 3
            });
        }
        let at = daemons.iter().position(|x| x.child.id() == pid).expect("the holder is one of ours");
        let mut victim = daemons.remove(at);
        signal(victim.child.id(), "KILL");
        let _ = victim.child.wait();
        let killed = Instant::now();
        let observer = &daemons[0];
        wait_for(Duration::from_secs(40), "the killed daemon's leases taken over", || {
            let now = holders(observer, "acme");
            held.iter().all(|n| now.get(n).is_some_and(|h| *h != victim_id))
        });
        let took = killed.elapsed();
        assert!(took <= Duration::from_secs(30), "round {round}: leases taken over after {took:?}");
        daemons.push(d.daemon_logged(&format!("daemon-{}.log", 3 + round)));
    }

    // Everything settles: the imports, the statement, the replies, the reminders.
    let left = || {
        let checks = [
            ("big's invoices", "SELECT count(*) FROM invoices WHERE tenant_id='big'", BIG as i64),
            (
                "credits applied",
                "SELECT count(*) FROM payments WHERE tenant_id='acme' AND status='matched'",
                PAID as i64,
            ),
            (
                "replies handled",
                "SELECT count(*) FROM inbound_messages WHERE tenant_id='acme' AND status <> 'stored'",
                REPLIES as i64,
            ),
            // The reminders of the customers who said they paid wait, held, for the credit.
            (
                "emails waiting, not held",
                "SELECT count(*) FROM outbox o WHERE o.tenant_id='acme' AND o.channel='email'
                   AND (o.status='sending' OR (o.status='queued' AND NOT EXISTS (SELECT 1 FROM holds h
                     WHERE h.tenant_id=o.tenant_id AND h.customer_id=o.customer_id AND h.lifted_at IS NULL)))",
                0,
            ),
        ];
        let mut left: Vec<String> = checks
            .iter()
            .filter_map(|(what, sql, want)| {
                let got = d.pg_i64(sql);
                (got != *want).then(|| format!("{what}: {got}, expected {want}"))
            })
            .collect();
        if d.pg_i64("SELECT count(*) FROM outbox WHERE tenant_id='acme' AND channel='email' AND status='sent'") == 0 {
            left.push("no email sent".into());
        }
        left
    };
    let started = Instant::now();
    let mut pending = left();
    while !pending.is_empty() && started.elapsed() < Duration::from_secs(240) {
        std::thread::sleep(Duration::from_millis(500));
        pending = left();
    }
    if !pending.is_empty() {
        let mut logs = String::new();
        for i in 0..5 {
            let log = std::fs::read_to_string(d.path(&format!("daemon-{i}.log"))).unwrap_or_default();
            for l in log.lines().filter(|l| !l.contains(" INFO ") || l.contains("lease") || l.contains("inbox")) {
                logs.push_str(&format!("daemon-{i}: {l}\n"));
            }
        }
        panic!("not done after 240 s: {pending:?}\n{logs}");
    }

    // Each credit applied once, to its invoice, in full.
    assert_eq!(count(&d, "SELECT count(*) FROM allocations WHERE tenant_id='acme' AND undone_at IS NULL"), PAID as i64);
    assert_eq!(
        count(&d, "SELECT count(DISTINCT payment_id) FROM allocations WHERE tenant_id='acme' AND undone_at IS NULL"),
        PAID as i64
    );
    assert_eq!(count(&d, "SELECT count(*) FROM invoices WHERE tenant_id='acme' AND open_minor = 0"), PAID as i64);
    // Each reply handled once; the mailbox emptied, nothing moved twice.
    assert_eq!(count(&d, "SELECT count(*) FROM inbound_messages WHERE tenant_id='acme'"), REPLIES as i64);
    // (A daemon killed between its UID MOVE and recording it leaves `moved_to` empty: the
    // mailbox is what counts.)
    imap.cmd("NOOP");
    assert_eq!(imap.count("INBOX"), 0, "every reply moved out of the inbox");
    let sent = each_reminder_sent_once(&d, &srv, &archive, since);
    assert!(sent.len() >= REMINDED / 2, "the reminders went out: {}", sent.len());
    for d in &mut daemons {
        assert!(d.terminate(Duration::from_secs(30)).is_some(), "a clean stop");
    }
    a_month_goes_by(&d, &srv, &archive, since);
}

/// Days simulated after the first: each day three daemons run with the clock
/// moved forward (libfaketime), plan the day once and deliver it, then stop;
/// on two days the reminders' holder is SIGKILLed as soon as the day is
/// planned, and another takes over.
const DAYS: u32 = 30;
const KILL_DAYS: [u32; 2] = [9, 19];

fn a_month_goes_by(d: &Deployment, srv: &common::smtp::SmtpServer, archive: &str, since: u64) {
    let sent_before =
        count(d, "SELECT count(*) FROM outbox WHERE tenant_id='acme' AND channel='email' AND status='sent'");
    let mut planned_days = 0;
    for day in 1..=DAYS {
        let Some(env) = common::faketime_env(day) else { return };
        let mut daemons: Vec<Daemon> =
            (0..3).map(|i| d.daemon_with_env(&format!("day-{day:02}-{i}.log"), &env)).collect();
        let planned = |daemons: &[Daemon]| {
            daemons
                .iter()
                .any(|x| x.log().lines().any(|l| l.contains("reminders planned") && l.contains("tenant=acme")))
        };
        wait_for(Duration::from_secs(60), &format!("day {day} planned"), || planned(&daemons));
        planned_days += 1;
        if KILL_DAYS.contains(&day) {
            let before = holders(&daemons[0], "acme");
            let victim_id = before.get("tenant/acme/dunning").cloned().expect("acme's reminders are held");
            let pid = pid_of(&victim_id).expect("a pid in the daemon identity");
            let held: BTreeSet<String> =
                before.iter().filter(|(_, h)| **h == victim_id).map(|(n, _)| n.clone()).collect();
            let at = daemons.iter().position(|x| x.child.id() == pid).expect("the holder is one of ours");
            let mut victim = daemons.remove(at);
            signal(victim.child.id(), "KILL");
            let _ = victim.child.wait();
            let killed = Instant::now();
            wait_for(Duration::from_secs(40), "the killed daemon's leases taken over", || {
                let now = holders(&daemons[0], "acme");
                held.iter().all(|n| now.get(n).is_some_and(|h| *h != victim_id))
            });
            let took = killed.elapsed();
            assert!(took <= Duration::from_secs(30), "day {day}: leases taken over after {took:?}");
        }
        // The day is delivered: nothing due is left queued (but what waits on a hold) or sending.
        wait_for(Duration::from_secs(120), &format!("day {day} delivered"), || {
            count(
                d,
                "SELECT count(*) FROM outbox o WHERE o.tenant_id='acme' AND o.channel='email'
                   AND (o.status='sending' OR (o.status='queued' AND NOT EXISTS (SELECT 1 FROM holds h
                     WHERE h.tenant_id=o.tenant_id AND h.customer_id=o.customer_id AND h.lifted_at IS NULL)))",
            ) == 0
        });
        for x in &mut daemons {
            assert!(x.terminate(Duration::from_secs(30)).is_some(), "day {day}: a clean stop");
        }
    }
    assert_eq!(planned_days, DAYS);
    // The month sent reminders (steps fall due as the days go by), each once: in the archive
    // once, never twice on the server, never one the outbox does not record sent; each step
    // planned once per customer whichever daemon planned the day.
    let sent = count(d, "SELECT count(*) FROM outbox WHERE tenant_id='acme' AND channel='email' AND status='sent'");
    assert!(sent > sent_before, "the month sent reminders: {sent_before} before, {sent} after");
    let sent = each_reminder_sent_once(d, srv, archive, since);
    let days: BTreeSet<&str> = sent.iter().map(|(_, day)| day.as_str()).collect();
    assert!(days.len() > 10, "reminders went out on many days of the month: {days:?}");
    eprintln!(
        "a month of dunning: {sent_before} reminders sent the first day, {} in all, planned on {} days",
        sent.len(),
        days.len()
    );
}

/// Each reminder the outbox records sent went out once, and nothing else
/// went out; each step was planned once per customer, whichever daemon
/// planned the day. Returns the sent reminders' (Message-ID, day planned).
fn each_reminder_sent_once(
    d: &Deployment,
    srv: &common::smtp::SmtpServer,
    archive: &str,
    since: u64,
) -> Vec<(String, String)> {
    let db = d.db();
    let mut stmt = db
        .prepare("SELECT reference, planned_for, message_id FROM outbox WHERE tenant_id='acme' AND channel='email' AND status='sent'")
        .unwrap();
    let rows: Vec<(String, String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap();
    // The server's own copies (the customers' reminders; acknowledgements go to the repliers):
    // never one Message-ID twice, never one the outbox does not record as sent (a reminder that
    // went out just before its daemon was killed is found in the archive on the retry and
    // recorded sent, even when its invoice was paid meanwhile). The outbox keeps each row's
    // message token from the moment it is queued; the Message-ID is `<token@domain>`.
    let tokens: HashSet<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    let mut seen = HashSet::new();
    for m in srv.delivered_to("cluster.test", since) {
        let id = m.header("Message-ID").unwrap();
        let token = id.trim_start_matches('<').split('@').next().unwrap_or_default();
        assert!(tokens.contains(token), "{id} went out but the outbox does not record it sent");
        assert!(seen.insert(id.clone()), "{id} delivered twice");
    }
    // In the sent archive exactly once.
    let mut archived = Imap::login(srv.imap_port, archive, "password");
    archived.cmd("SELECT INBOX");
    for (reference, day, _) in &rows {
        let found = archived.cmd(&format!("UID SEARCH HEADER Message-ID \"{reference}\""));
        let n = found.iter().find(|l| l.starts_with("* SEARCH")).map(|l| l.split_whitespace().count() - 2).unwrap_or(0);
        assert_eq!(n, 1, "{reference} (planned for {day}) is in the archive {n} times");
    }
    let dup = count(
        d,
        "SELECT count(*) FROM (SELECT customer_id, step_id, count(*) AS n FROM outbox WHERE tenant_id='acme' GROUP BY customer_id, step_id) AS g WHERE n > 1",
    );
    assert_eq!(dup, 0, "a reminder planned twice");
    rows.into_iter().map(|(reference, day, _)| (reference, day)).collect()
}
