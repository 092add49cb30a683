//! Cash application end to end through the real binary: statements dropped
//! in a folder, matching, the review queue API, write-back, idempotency and
//! crash safety.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{Deployment, HEADER, wait_for};

/// A camt.053 with the given credits: (entry ref, amount, remittance, debtor IBAN).
fn camt(stmt_id: &str, credits: &[(String, String, String, Option<String>)]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>{stmt_id}</MsgId></GrpHdr>\n<Stmt><Id>{stmt_id}</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
    );
    for (r, amount, text, iban) in credits {
        let acct = iban.as_ref().map(|i| format!("<DbtrAcct><Id><IBAN>{i}</IBAN></Id></DbtrAcct>")).unwrap_or_default();
        let _ = writeln!(
            s,
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Client</Nm></Dbtr>{acct}</RltdPties><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        );
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

fn tenant() -> String {
    "[api]\ntokens = [\"cash-token-1\"]\n\
     [connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\n\
     [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n\
     [connectors.writeback]\nkind = \"file_writeback\"\npath = \"../outbox\"\nschedule = \"every 1s\"\n"
        .to_string()
}

fn invoices() -> String {
    let mut s = String::from(HEADER);
    s.push_str("F-1001,C1,Martin SARL,,,2026-10-01,2026-10-31,EUR,1200.00,1200.00\n");
    s.push_str("F-1002,C2,Dupont SA,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    s.push_str("F-1003,C3,Durand SAS,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    s.push_str("F-1004,C4,Petit EURL,,,2026-10-01,2026-10-31,EUR,80.00,80.00\n");
    s
}

fn outbox_lines(d: &Deployment) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    for e in std::fs::read_dir(d.path("outbox")).into_iter().flatten().flatten() {
        for l in std::fs::read_to_string(e.path()).unwrap_or_default().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out.sort_by_key(|v| (v["allocation_id"].as_i64(), v["reversal"].as_bool()));
    out
}

#[test]
fn review_queue_suggest_accept_close_write_back_and_undo() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    d.write("invoices/open.csv", invoices());
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let mut daemon = d.daemon();
    let tok = Some("cash-token-1");
    wait_for(Duration::from_secs(20), "invoices", || {
        daemon.get_json("/api/v1/tenants/acme/invoices", tok).1["total"] == 4
    });
    d.write(
        "bank/stmt-1.xml",
        camt(
            "S1",
            &[
                ("B1".into(), "1200.00".into(), "Facture F-1001".into(), None),
                ("B2".into(), "500.00".into(), "Virement".into(), None),
                ("B3".into(), "33.00".into(), "Loyer".into(), None),
            ],
        ),
    );
    wait_for(Duration::from_secs(20), "matching", || {
        daemon.get_json("/api/v1/tenants/acme/review", tok).1["total"] == 2
    });
    let (_, inv) = daemon.get_json("/api/v1/tenants/acme/invoices?status=paid", tok);
    assert_eq!(inv["items"][0]["number"], "F-1001", "the referenced payment was applied: {inv}");

    // The ambiguous one: two invoices of 500.00 and no reference.
    let (_, queue) = daemon.get_json("/api/v1/tenants/acme/review", tok);
    let ambiguous = queue["items"].as_array().unwrap().iter().find(|p| p["amount"] == "500.00").unwrap().clone();
    assert_eq!(ambiguous["status"], "suggested");
    let cands = ambiguous["match_result"]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2, "{ambiguous}");
    let pick = cands.iter().position(|c| c["allocations"][0]["invoice"] == "F-1003").unwrap();
    let id = ambiguous["id"].as_i64().unwrap();

    // Another tenant's token or a bad body is refused; then accept.
    let (s, _) = post(&daemon, &format!("/api/v1/tenants/acme/payments/{id}/accept"), None, "{}");
    assert_eq!(s, 401);
    let (s, e) = post(&daemon, &format!("/api/v1/tenants/acme/payments/{id}/accept"), tok, "{\"candidat\": 1}");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")), "{e}");
    let (s, e) = post(&daemon, &format!("/api/v1/tenants/acme/payments/{id}/accept"), tok, "{\"candidate\": 2}");
    assert_eq!((s, e["error"]["message"].as_str()), (409, Some(&*format!("payment {id} has no candidate 2"))), "{e}");
    let (s, r) = post(
        &daemon,
        &format!("/api/v1/tenants/acme/payments/{id}/accept"),
        tok,
        &format!("{{\"candidate\": {pick}}}"),
    );
    assert_eq!(s, 200, "{r}");
    let (s, e) = post(
        &daemon,
        &format!("/api/v1/tenants/acme/payments/{id}/accept"),
        tok,
        &format!("{{\"candidate\": {pick}}}"),
    );
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")), "never applied twice: {e}");
    // The payment now: matched, the matcher's candidates kept, the allocation pending in the ERP.
    let (s, view) = daemon.get_json(&format!("/api/v1/tenants/acme/payments/{id}"), tok);
    assert_eq!(s, 200, "{view}");
    let payment = &view["payment"];
    assert_eq!(
        (payment["status"].as_str(), payment["unallocated"].as_str()),
        (Some("matched"), Some("0.00")),
        "{view}"
    );
    assert_eq!(payment["match_result"]["candidates"], ambiguous["match_result"]["candidates"], "{view}");
    let a = &view["allocations"][0];
    assert_eq!(
        (a["invoice"].as_str(), a["amount"].as_str(), a["currency"].as_str(), a["erp_state"].as_str()),
        (Some("F-1003"), Some("500.00"), Some("EUR"), Some("pending")),
        "{view}"
    );

    let (_, paid) = daemon.get_json("/api/v1/tenants/acme/invoices?status=paid", tok);
    let paid: Vec<&str> = paid["items"].as_array().unwrap().iter().filter_map(|i| i["number"].as_str()).collect();
    assert_eq!(paid, vec!["F-1001", "F-1003"]);
    wait_for(Duration::from_secs(10), "write-back lines", || outbox_lines(&d).len() == 2);
    let lines = outbox_lines(&d);
    assert_eq!((lines[1]["invoice"].as_str(), lines[1]["amount"].as_str()), (Some("F-1003"), Some("500.00")));

    // The unrelated credit: rejected, audited.
    let unrelated =
        queue["items"].as_array().unwrap().iter().find(|p| p["amount"] == "33.00").unwrap()["id"].as_i64().unwrap();
    let (s, _) = post(
        &daemon,
        &format!("/api/v1/tenants/acme/payments/{unrelated}/reject"),
        tok,
        "{\"reason\": \"rent, not ours\"}",
    );
    assert_eq!(s, 200);
    assert_eq!(daemon.get_json("/api/v1/tenants/acme/review", tok).1["total"], 0);

    // Undo the accepted allocation: the invoice is open again and a reversal is written back.
    let alloc = r["allocations"][0].as_i64().unwrap();
    let (s, _) = post(&daemon, &format!("/api/v1/tenants/acme/allocations/{alloc}/undo"), tok, "");
    assert_eq!(s, 200);
    let (_, open) = daemon.get_json("/api/v1/tenants/acme/invoices?status=open", tok);
    assert!(open["items"].as_array().unwrap().iter().any(|i| i["number"] == "F-1003"), "{open}");
    wait_for(Duration::from_secs(10), "reversal line", || outbox_lines(&d).iter().any(|l| l["reversal"] == true));

    // Manual allocation over two invoices, partial amounts.
    let (s, r) = post(
        &daemon,
        &format!("/api/v1/tenants/acme/payments/{id}/allocate"),
        tok,
        "{\"allocations\": [{\"invoice\": \"F-1002\", \"amount\": \"450.00\"}, {\"invoice\": \"F-1004\", \"amount\": \"50.00\"}]}",
    );
    assert_eq!(s, 200, "{r}");
    let (_, partial) = daemon.get_json("/api/v1/tenants/acme/invoices?status=partially_paid", tok);
    assert_eq!(partial["total"], 2, "{partial}");
    let (_, events) = daemon.get_json("/api/v1/tenants/acme/events?limit=1000", tok);
    let kinds: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in ["statement_imported", "payment_applied", "payment_suggested", "payment_rejected", "allocation_undone"] {
        assert!(kinds.contains(&k), "audit lacks {k}: {kinds:?}");
    }
    assert!(daemon.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()));
}

fn post(d: &common::Daemon, path: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn reimported_and_overlapping_statements_apply_nothing_twice() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    d.write("invoices/open.csv", invoices());
    let day1 = vec![
        ("B1".to_string(), "1200.00".to_string(), "F-1001".to_string(), None),
        ("B2".into(), "500.00".into(), "facture F-1002".into(), None),
    ];
    d.write("bank/day1.xml", camt("S1", &day1));
    assert!(d.run(&["run", "--once"]).status.success());
    // The same file again under another name, and a statement overlapping it.
    d.write("bank/day1-copy.xml", camt("S1", &day1));
    let mut overlap = day1.clone();
    overlap.push(("B3".into(), "80.00".into(), "F-1004".into(), None));
    d.write("bank/day1-2.xml", camt("S2", &overlap));
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = d.db();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM payments"), 3, "B1, B2 and B3 once each");
    assert_eq!(count("SELECT count(*) FROM allocations WHERE undone_at IS NULL"), 3);
    assert_eq!(count("SELECT open_minor FROM invoices WHERE number='F-1001'"), 0);
    assert_eq!(count("SELECT count(*) FROM invoices WHERE status='paid'"), 3);
    assert_eq!(count("SELECT open_minor FROM invoices WHERE number='F-1003'"), 50_000, "untouched");
    assert_eq!(count("SELECT count(*) FROM statement_files"), 2, "the byte-identical copy is recognised");
    assert_eq!(count("SELECT count(*) FROM writeback_queue WHERE delivered_at IS NULL"), 0);
    assert_eq!(outbox_lines(&d).len(), 3);
}

/// Allocations by payment key, and invoices' open amounts and statuses.
type FinalState = (Vec<(String, String, i64)>, Vec<(String, i64, String)>);

/// Final state of a deployment.
fn state(d: &Deployment) -> FinalState {
    let db = d.db();
    let allocs = db
        .prepare("SELECT p.dedupe_key, a.invoice_number, a.amount_minor FROM allocations a JOIN payments p ON p.id=a.payment_id WHERE a.undone_at IS NULL ORDER BY 1, 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let invoices = db
        .prepare("SELECT number, open_minor, status FROM invoices ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (allocs, invoices)
}

#[test]
fn sigkill_during_cash_application_then_restart_gives_the_same_state() {
    const N: usize = 6_000;
    let mut inv = String::from(HEADER);
    let mut credits = Vec::new();
    for i in 0..N {
        let _ = writeln!(
            inv,
            "G-{i:06},K{},Kunde {},,,2026-10-01,2026-10-31,EUR,{}.00,{}.00",
            i % 300,
            i % 300,
            100 + i,
            100 + i
        );
        // Every third one pays with a reference, the others in part; some for review.
        let (amount, text) = match i % 3 {
            0 => (format!("{}.00", 100 + i), format!("G-{i:06}")),
            1 => (format!("{}.00", (100 + i) / 2), format!("acompte G-{i:06}")),
            _ => (format!("{}.00", 100 + i), "virement".to_string()),
        };
        credits.push((format!("R{i}"), amount, text, None));
    }
    let stmt = camt("BIG", &credits);
    let make = || {
        let d = Deployment::new("", &[("acme", &tenant())]);
        d.write("invoices/open.csv", &inv);
        std::fs::create_dir_all(d.path("bank")).unwrap();
        assert!(d.run(&["run", "--once"]).status.success());
        d.write("bank/big.xml", &stmt);
        d
    };
    let clean = make();
    assert!(clean.run(&["run", "--once"]).status.success());

    let crashed = make();
    let mut child = crashed.relance().args(["run", "--once", "--config"]).arg(crashed.config()).spawn().unwrap();
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let progress: Option<(i64, i64)> = crashed.try_db().map(|db| {
            db.query_row("SELECT (SELECT count(*) FROM payments WHERE status<>'new'), (SELECT count(*) FROM payments WHERE status='new')", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap_or((0, 0))
        });
        if progress.is_some_and(|(done, left)| done > 100 && left > 100) {
            child.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
    assert!(killed, "cash application finished before it could be killed: raise N");
    let out = crashed.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (state(&clean), state(&crashed));
    assert_eq!(a.0.len(), b.0.len());
    assert_eq!(a, b, "same allocations and open amounts after a crash and a restart");
    assert!(a.0.len() >= N / 3, "the referenced payments were applied");
}

/// A payment that arrives before its invoice is matched once the invoice is synced.
#[test]
fn an_unmatched_credit_is_matched_when_its_invoice_arrives_later() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    std::fs::create_dir_all(d.path("invoices")).unwrap();
    d.write("bank/early.xml", camt("S9", &[("B9".into(), "1200.00".into(), "Facture F-1001".into(), None)]));
    assert!(d.run(&["run", "--once"]).status.success());
    let status =
        |d: &Deployment| -> String { d.db().query_row("SELECT status FROM payments", [], |r| r.get(0)).unwrap() };
    assert_eq!(status(&d), "unmatched", "no invoice yet");
    d.write("invoices/open.csv", invoices());
    assert!(d.run(&["run", "--once"]).status.success());
    assert_eq!(status(&d), "matched", "re-matched once the invoice exists");
    let open: i64 =
        d.db().query_row("SELECT open_minor FROM invoices WHERE number='F-1001'", [], |r| r.get(0)).unwrap();
    assert_eq!(open, 0);
    // A further run without invoice changes does not retry (nor audit) anything.
    let events =
        |d: &Deployment| -> i64 { d.db().query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0)).unwrap() };
    let before = events(&d);
    assert!(d.run(&["run", "--once"]).status.success());
    assert_eq!(events(&d), before);
}

/// Cash application is a tenant service, not a step of the bank connector:
/// a credit stored before its invoice is matched as soon as the invoice is
/// imported, although the bank connector will not run again for an hour; and
/// a statement dropped after its invoices is matched at once too.
#[test]
fn matching_runs_after_any_statement_or_invoice_change_whatever_the_bank_schedule() {
    let tenant = "[api]\ntokens = [\"cash-token-1\"]\n\
         [connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\nschedule = \"watch\"\n\
         [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\nschedule = \"every 1h\"\n";
    let d = Deployment::new("", &[("acme", tenant)]);
    std::fs::create_dir_all(d.path("invoices")).unwrap();
    d.write(
        "bank/stmt-1.xml",
        camt(
            "S1",
            &[("B1".into(), "1200.00".into(), "Facture F-1001".into(), Some("FR1420041010050500013M02606".into()))],
        ),
    );
    let mut daemon = d.daemon();
    let tok = Some("cash-token-1");
    wait_for(Duration::from_secs(30), "the credit stored, with nothing to match", || {
        let (_, q) = daemon.get_json("/api/v1/tenants/acme/review", tok);
        q["total"] == 1 && q["items"][0]["status"] == "unmatched"
    });
    // The invoice arrives through the ERP connector; the bank connector sleeps for an hour.
    let mut csv = String::from(HEADER);
    csv.push_str("F-1001,C1,Martin SARL,,,2026-10-01,2026-10-31,EUR,1200.00,1200.00\n");
    csv.push_str("F-1002,C2,Dupont SA,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    d.write("invoices/open.csv", &csv);
    wait_for(Duration::from_secs(20), "the credit matched once its invoice is imported", || {
        let (_, inv) = daemon.get_json("/api/v1/tenants/acme/invoices?status=paid", tok);
        inv["items"][0]["number"] == "F-1001"
    });
    assert_eq!(daemon.get_json("/api/v1/tenants/acme/review", tok).1["total"], 0);
    // The bank connector ran exactly once (its first run): the match did not wait for it.
    let (_, c) = daemon.get_json("/api/v1/tenants/acme/connectors", tok);
    let bank = c["items"].as_array().unwrap().iter().find(|x| x["name"] == "bank").unwrap().clone();
    assert_eq!(bank["status"]["runs"], 1, "{c}");
    daemon.terminate(Duration::from_secs(10));
}

/// A person's accept through the API teaches the payer's account, as an
/// automatic match does: the next credit from that account, with no
/// reference, goes to that customer.
#[test]
fn an_api_accept_learns_the_payers_iban() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    d.write("invoices/open.csv", invoices());
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let mut daemon = d.daemon();
    let tok = Some("cash-token-1");
    wait_for(Duration::from_secs(20), "invoices", || {
        daemon.get_json("/api/v1/tenants/acme/invoices", tok).1["total"] == 4
    });
    let iban = "DE89370400440532013000";
    d.write("bank/stmt-1.xml", camt("S1", &[("B1".into(), "500.00".into(), "Virement".into(), Some(iban.into()))]));
    wait_for(Duration::from_secs(20), "the ambiguous credit in review", || {
        daemon.get_json("/api/v1/tenants/acme/review", tok).1["total"] == 1
    });
    let learned = || -> Vec<(String, String)> {
        let db = d.db();
        let mut st = db.prepare("SELECT customer_id, origin FROM customer_ibans WHERE iban = ?1").unwrap();
        st.query_map([iban], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert!(learned().is_empty(), "nothing known of this account yet");
    let (_, queue) = daemon.get_json("/api/v1/tenants/acme/review", tok);
    let p = &queue["items"][0];
    let cands = p["match_result"]["candidates"].as_array().unwrap();
    let pick = cands.iter().position(|c| c["allocations"][0]["invoice"] == "F-1003").unwrap();
    let id = p["id"].as_i64().unwrap();
    let (s, r) = post(
        &daemon,
        &format!("/api/v1/tenants/acme/payments/{id}/accept"),
        tok,
        &format!("{{\"candidate\": {pick}}}"),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(learned(), vec![("C3".to_string(), "learned".to_string())], "the accept taught the account");
    daemon.terminate(Duration::from_secs(10));
}

/// Matching settings belong to the tenant: a bank connector's own `matching`
/// table (accepted before cash application became a tenant service) is a
/// configuration error that says where the settings go now; the tenant's
/// `[matching]` is checked with its key.
#[test]
fn matching_settings_are_the_tenants_not_a_connectors() {
    let old = "[connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n[connectors.bank.matching]\nauto_threshold = 0.95\n";
    let d = Deployment::new("", &[("acme", old)]);
    std::fs::create_dir_all(d.path("bank")).unwrap();
    let out = d.run(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("connectors.bank.matching") && err.contains("[matching]"), "{err}");

    let bad = "[matching]\nauto_threshold = 1.5\n[connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n";
    d.write("tenants/acme.toml", bad);
    let out = d.run(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("matching.auto_threshold") && err.contains("acme.toml"), "{err}");

    d.write("tenants/acme.toml", bad.replace("1.5", "0.95"));
    let out = d.run(&["check-config"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
