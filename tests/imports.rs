//! Safe imports through the real binary (issue #11): amounts beyond the
//! accepted range.

mod common;

use common::{Deployment, HEADER, csv_tenant};

const TOKEN: &str = "acme-token-1";

#[test]
fn amounts_beyond_the_range_are_quarantined_by_run_once() {
    let d = Deployment::new("", &[("acme", &csv_tenant(TOKEN, "in", ""))]);
    let mut text = String::from(HEADER);
    text.push_str("BIG-1,C1,Big,,,2026-10-01,2026-12-31,GBP,92233720368547758.07,92233720368547758.07\n");
    text.push_str("BIG-2,C1,Big,,,2026-10-01,2026-12-31,GBP,92233720368547758.07,92233720368547758.07\n");
    d.write("in/export.csv", text);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme/erp: ok (0 items, 2 quarantined, 1 units)"), "{stdout}");
    let db = d.db();
    let n: i64 = db.query_row("SELECT count(*) FROM invoices", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    let reason: String = db.query_row("SELECT reason FROM quarantine WHERE line=2", [], |r| r.get(0)).unwrap();
    assert!(reason.contains("outside the accepted range"), "{reason}");
}

#[test]
fn a_bank_transaction_beyond_the_range_is_quarantined_and_the_others_stored() {
    let tenant =
        format!("[api]\ntokens = [\"{TOKEN}\"]\n[connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n");
    let d = Deployment::new("", &[("acme", &tenant)]);
    let entry = |r: &str, amount: &str| {
        format!(
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>F-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
        )
    };
    let camt = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>S1</MsgId></GrpHdr>\n<Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n{}{}</Stmt></BkToCstmrStmt></Document>\n",
        entry("R1", "100.00"),
        entry("R2", "92233720368547758.07")
    );
    d.write("bank/s1.xml", camt);
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme/bank: ok (1 items, 1 quarantined, 1 units)"), "{stdout}");
    let db = d.db();
    let amounts: Vec<i64> = db
        .prepare("SELECT amount_minor FROM payments")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(amounts, vec![10_000]);
    let reason: String = db.query_row("SELECT reason FROM quarantine", [], |r| r.get(0)).unwrap();
    assert!(reason.contains("92233720368547758.07 EUR is outside the accepted range"), "{reason}");
}
