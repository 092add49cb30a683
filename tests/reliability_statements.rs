//! A statement that makes a parser panic, in the daemon: it is quarantined
//! with the panic message as its reason, it is not retried, and the valid
//! statements dropped after it are imported at once.
//!
//! No known input panics a parser any more, so the panic comes from the
//! debug-build test hook of `statements::parse_with`: a file containing the
//! value of `RELANCE_TEST_PANIC_MARKER` panics its parse.

mod common;

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use common::{Daemon, Deployment, free_port, wait_for};

const TOKEN: &str = "bank-token-1";
const MARKER: &str = "PANIC-MARKER-5e1f0c";

/// A camt.053 with one credit (bank reference `bank_ref`).
fn camt(stmt_id: &str, bank_ref: &str, amount: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>{stmt_id}</MsgId></GrpHdr><Stmt><Id>{stmt_id}</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id>\
         <Ccy>EUR</Ccy></Acct><Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt>\
         <AcctSvcrRef>{bank_ref}</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>Facture F-1</Ustrd></RmtInf></TxDtls></NtryDtls>\
         </Ntry></Stmt></BkToCstmrStmt></Document>\n"
    )
}

/// A valid MT940 statement whose remittance carries the panic marker.
fn panicking_mt940() -> String {
    format!(
        ":20:STMT1\n:25:NL54INGB0001234500EUR\n:28C:1\n:60F:C260101EUR0,00\n\
         :61:2601010101C10,00NTRFNONREF//BANKREF\n:86:{MARKER}\n:62F:C260101EUR10,00\n"
    )
}

/// `relance run` with the panic hook armed (the helper in `common` takes no environment).
fn daemon(d: &Deployment) -> Daemon {
    let port = free_port();
    let log = d.path("daemon.log");
    let child = d
        .relance()
        .args(["run", "--config"])
        .arg(d.config())
        .env("RELANCE__LISTEN", format!("127.0.0.1:{port}"))
        .env("RELANCE_TEST_PANIC_MARKER", MARKER)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("spawn daemon");
    let daemon = Daemon { child, port, log };
    wait_for(Duration::from_secs(30), "daemon health", || daemon.get("/healthz", None).0 == 200);
    daemon
}

fn set_age(d: &Deployment, rel: &str, seconds_ago: u64) {
    let f = std::fs::File::options().write(true).open(d.path(rel)).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(seconds_ago)).unwrap();
}

fn payments(d: &Deployment) -> i64 {
    let Ok(db) = std::panic::catch_unwind(|| d.db()) else { return -1 };
    db.query_row("SELECT count(*) FROM payments", [], |r| r.get(0)).unwrap_or(-1)
}

#[test]
fn a_statement_that_panics_the_parser_is_quarantined_and_the_next_is_imported() {
    let d = Deployment::new(
        "",
        &[(
            "bank",
            &format!(
                "[api]\ntokens = [\"{TOKEN}\"]\n[connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n"
            ),
        )],
    );
    // The panicking file is the oldest: it is read first.
    d.write("bank/1-panics.sta", panicking_mt940());
    set_age(&d, "bank/1-panics.sta", 120);
    d.write("bank/2-good.xml", camt("S2", "B2", "120.00"));
    set_age(&d, "bank/2-good.xml", 60);
    let mut daemon = daemon(&d);
    let tok = Some(TOKEN);

    // First pass: the valid statement after the panicking one is imported.
    wait_for(Duration::from_secs(20), "the valid statement", || payments(&d) == 1);
    let (status, q) = daemon.get_json("/api/v1/tenants/bank/quarantine", tok);
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["total"], 1, "{q}");
    let item = &q["items"][0];
    assert!(item["item"].as_str().unwrap().ends_with("bank/1-panics.sta"), "{item}");
    let reason = item["reason"].as_str().unwrap();
    assert!(
        reason.contains("panic: test hook: the statement contains the RELANCE_TEST_PANIC_MARKER marker"),
        "{reason}"
    );

    // A statement dropped while the daemon runs is imported at once: the
    // quarantined file is not retried in front of it.
    d.write("bank/3-good.xml", camt("S3", "B3", "80.00"));
    wait_for(Duration::from_secs(10), "the statement dropped later", || payments(&d) == 2);
    let (_, q) = daemon.get_json("/api/v1/tenants/bank/quarantine", tok);
    assert_eq!(q["total"], 1, "quarantined once, not at every run: {q}");
    let (_, c) = daemon.get_json("/api/v1/tenants/bank/connectors", tok);
    let bank = c["items"].as_array().unwrap().iter().find(|i| i["name"] == "bank").expect("bank connector");
    assert_eq!(bank["status"]["errors"], 0, "the panic is no connector error: {bank}");
    assert!(bank["status"]["quarantined"].as_u64() >= Some(1), "{bank}");
    // The raw file is kept for a human.
    let kept = item["raw_path"].as_str().expect("kept copy");
    assert!(std::fs::read_to_string(kept).unwrap().contains(MARKER), "{kept}");

    // A person asks for it to be read again (after a parser upgrade, say):
    // the connector reads it at its next run; it still panics, so it is
    // quarantined anew, and the first row stays, marked retried by her.
    let id = item["id"].as_i64().unwrap();
    let (status, body) = daemon.post_json(&format!("/api/v1/tenants/bank/quarantine/{id}/retry"), TOKEN);
    assert_eq!(status, 202, "{body}");
    // Its next run: the one a new statement in the folder starts.
    d.write("bank/4-good.xml", camt("S4", "B4", "42.00"));
    wait_for(Duration::from_secs(20), "the file read again", || {
        daemon.get_json("/api/v1/tenants/bank/quarantine", tok).1["total"] == 2
    });
    let (_, open) = daemon.get_json("/api/v1/tenants/bank/quarantine?state=open", tok);
    assert_eq!(open["total"], 1, "{open}");
    let again = open["items"][0]["id"].as_i64().unwrap();
    assert_ne!(again, id);
    let (_, all) = daemon.get_json("/api/v1/tenants/bank/quarantine", tok);
    assert_eq!(all["items"][0]["handled"]["handling"], "retried", "{all}");
    assert_eq!(payments(&d), 3, "the new statement, and nothing imported twice");
    // A retried item is not retried twice; the new one is dismissed with a note.
    let (status, _) = daemon.post_json(&format!("/api/v1/tenants/bank/quarantine/{id}/retry"), TOKEN);
    assert_eq!(status, 409);
    let (status, done) = daemon.post_json(&format!("/api/v1/tenants/bank/quarantine/{again}/dismiss"), TOKEN);
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["handling"], "dismissed");
    assert_eq!(daemon.get_json("/api/v1/tenants/bank/quarantine?state=open", tok).1["total"], 0);
    assert!(daemon.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", daemon.log());
}
