//! `relance match replay` and the cash application rates in `/metrics`, on a
//! small deployment: two credits applied by the matcher (one of them undone
//! by a person through the API), one suggestion, one unmatched credit.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::{Deployment, HEADER, wait_for};

/// A camt.053 with credits: (entry ref, amount, remittance).
fn camt(credits: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>S1</MsgId></GrpHdr>\n<Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n",
    );
    for (r, amount, text) in credits {
        let _ = writeln!(
            s,
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Client</Nm></Dbtr></RltdPties><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        );
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

fn deployment() -> Deployment {
    let tenant = "[api]\ntokens = [\"replay-token-1\"]\n\
         [connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\n\
         [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n";
    let d = Deployment::new("", &[("acme", tenant)]);
    let mut inv = String::from(HEADER);
    inv.push_str("F-1001,C1,Martin SARL,,,2026-10-01,2026-10-31,EUR,1200.00,1200.00\n");
    inv.push_str("F-1002,C2,Dupont SA,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    inv.push_str("F-1003,C3,Durand SAS,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    inv.push_str("F-1004,C4,Petit EURL,,,2026-10-01,2026-10-31,EUR,80.00,80.00\n");
    d.write("invoices/open.csv", inv);
    d.write(
        "bank/stmt.xml",
        camt(&[
            ("B1", "1200.00", "Facture F-1001"),
            ("B2", "500.00", "Virement"),
            ("B3", "33.00", "Loyer"),
            ("B4", "80.00", "Facture F-1004"),
        ]),
    );
    d
}

/// The row of `rules` in the replay's output, split in columns.
fn row(out: &str, rules: &str) -> Vec<String> {
    let line = out.lines().find(|l| l.starts_with(rules)).unwrap_or_else(|| panic!("no `{rules}` row in:\n{out}"));
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn replay_prints_current_and_decided_rates_and_metrics_show_them() {
    let d = deployment();
    let tok = "replay-token-1";
    let mut daemon = d.daemon();
    wait_for(Duration::from_secs(30), "matching", || {
        daemon.get_json("/api/v1/tenants/acme/review", Some(tok)).1["total"] == 2
    });
    // A person undoes the matcher's allocation of B4.
    let alloc: i64 = d
        .db()
        .query_row(
            "SELECT a.id FROM allocations a JOIN payments p ON p.id=a.payment_id WHERE p.bank_ref='B4' AND a.actor='matcher'",
            [],
            |r| r.get(0),
        )
        .expect("B4 was applied by the matcher");
    let (s, body) = daemon.post_json(&format!("/api/v1/tenants/acme/allocations/{alloc}/undo"), tok);
    assert_eq!(s, 200, "{body}");

    // /metrics: the rates as decided at the time, per tenant.
    let (s, metrics) = daemon.get("/metrics", None);
    assert_eq!(s, 200);
    for expected in [
        "relance_cash_credits{tenant=\"acme\"} 4",
        "relance_cash_envelope_auto_match_ratio{tenant=\"acme\"} 0.500000",
        "relance_cash_line_item_auto_ratio{tenant=\"acme\"} 1.000000",
        "relance_cash_review_ratio{tenant=\"acme\"} 0.500000",
        "relance_cash_false_match_ratio{tenant=\"acme\"} 0.500000",
        "# HELP relance_cash_review_ratio ",
    ] {
        assert!(metrics.contains(expected), "missing `{expected}` in:\n{metrics}");
    }
    daemon.terminate(Duration::from_secs(20));

    let out = d.run(&["match", "replay", "--tenant", "acme"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("tenant acme: 4 credits (all dates)"), "{text}");
    // As decided: B1 and B4 automatic, B4 undone by a person; B2, B3 in review;
    // only F-1001 is settled now, by the matcher.
    assert_eq!(
        row(&text, "as-decided"),
        ["as-decided", "4", "0.500", "(2/4)", "1.000", "(1/1)", "0.500", "(2/4)", "0.500", "(1/2)"],
        "{text}"
    );
    // The current rules match B1 to F-1001 again (agreeing with what stands)
    // and B4 to F-1004 (no outcome since the undo: not judged).
    assert_eq!(
        row(&text, "current"),
        ["current", "4", "0.500", "(2/4)", "1.000", "(1/1)", "0.500", "(2/4)", "0.000", "(0/2)"],
        "{text}"
    );
    assert!(text.contains("current: 1 automatic match(es) on credits with no outcome yet"), "{text}");
    // Nothing was applied by the replay.
    let live: i64 =
        d.db().query_row("SELECT count(*) FROM allocations WHERE undone_at IS NULL", [], |r| r.get(0)).expect("count");
    assert_eq!(live, 1);

    // A period without credits has no rates; an unknown tenant is an error.
    let out = d.run(&["match", "replay", "--tenant", "acme", "--since", "2026-12-01"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(row(&text, "current")[2..4], ["-", "(0/0)"], "{text}");
    let out = d.run(&["match", "replay", "--tenant", "nobody"]);
    assert!(!out.status.success());
}
