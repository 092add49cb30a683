//! Net payments through the real binary (issue #13): a credit that pays two
//! referenced invoices less the customer's open credit note, referenced too,
//! is applied automatically, the credit note offset by a
//! negative allocation that the write-back shows as such; the ERP's next
//! export, which still lists the credit note open, does not reopen it.

mod common;

use std::collections::BTreeMap;

use common::{Deployment, HEADER};

fn tenant() -> String {
    "[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../invoices\"\nsettle = \"0s\"\n\
     [connectors.bank]\nkind = \"bank_statements\"\npath = \"../bank\"\n\
     [connectors.writeback]\nkind = \"file_writeback\"\npath = \"../outbox\"\n"
        .to_string()
}

const ROWS: &str = "F-2001,C1,Martin SARL,,,2026-10-01,2026-10-31,EUR,1000.00,1000.00\n\
                    F-2002,C1,Martin SARL,,,2026-10-05,2026-11-04,EUR,500.00,500.00\n\
                    AV-2001,C1,Martin SARL,,,2026-10-10,2026-10-10,EUR,-200.00,-200.00\n\
                    F-2003,C2,Dupont SA,,,2026-10-01,2026-10-31,EUR,700.00,700.00\n";

/// A camt.053 with one credit of 1,300.00: F-2001 + F-2002 less AV-2001.
fn statement() -> String {
    "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
     <GrpHdr><MsgId>S1</MsgId></GrpHdr><Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\
     <Ntry><Amt Ccy=\"EUR\">1300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>\
     <NtryDtls><TxDtls><RltdPties><Dbtr><Nm>MARTIN SARL</Nm></Dbtr></RltdPties><RmtInf><Ustrd>Factures F-2001 F-2002 moins avoir AV-2001</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\
     </Stmt></BkToCstmrStmt></Document>\n"
        .to_string()
}

fn run_once(d: &Deployment) {
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// number → (open, ERP's open, status).
fn invoices(d: &Deployment) -> BTreeMap<String, (i64, i64, String)> {
    let db = d.db();
    let mut st =
        db.prepare("SELECT number, open_minor, erp_open_minor, status FROM invoices WHERE tenant_id='acme'").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))).unwrap().map(Result::unwrap).collect()
}

/// (invoice, amount, erp_state) of the live allocations.
fn allocations(d: &Deployment) -> Vec<(String, i64, String)> {
    let db = d.db();
    let mut st = db
        .prepare("SELECT invoice_number, amount_minor, erp_state FROM allocations WHERE undone_at IS NULL ORDER BY invoice_number")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_net_payment_offsets_the_credit_note_and_a_stale_export_keeps_it_used() {
    let d = Deployment::new("", &[("acme", &tenant())]);
    d.write("invoices/open-1.csv", format!("{HEADER}{ROWS}"));
    d.write("bank/stmt-1.xml", statement());
    run_once(&d);

    let pending = |n: &str, a: i64| (n.to_string(), a, "pending".to_string());
    assert_eq!(allocations(&d), [pending("AV-2001", -20_000), pending("F-2001", 100_000), pending("F-2002", 50_000)]);
    let status: String = d.db().query_row("SELECT status FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "matched");
    let now = invoices(&d);
    assert_eq!(now["F-2001"], (0, 100_000, "paid".to_string()));
    assert_eq!(now["F-2002"], (0, 50_000, "paid".to_string()));
    assert_eq!(now["AV-2001"], (0, -20_000, "credit_note".to_string()), "the credit note is used");
    assert_eq!(now["F-2003"], (70_000, 70_000, "open".to_string()));
    // The ERP is told of the offset as such: a negative amount on the credit note.
    let notices: Vec<(String, i64)> = {
        let db = d.db();
        let mut st = db
            .prepare(
                "SELECT a.invoice_number, a.amount_minor FROM writeback_queue o JOIN allocations a ON a.id=o.allocation_id
                 WHERE o.reversal=0 ORDER BY a.invoice_number",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(notices, [("AV-2001".into(), -20_000), ("F-2001".into(), 100_000), ("F-2002".into(), 50_000)]);

    // The ERP's next export has not processed the write-back: everything still open, plus a new invoice.
    d.write(
        "invoices/open-2.csv",
        format!("{HEADER}{ROWS}F-2004,C2,Dupont SA,,,2026-11-01,2026-12-01,EUR,90.00,90.00\n"),
    );
    run_once(&d);
    let after = invoices(&d);
    assert_eq!(after["F-2004"].0, 9_000, "the new invoice is imported");
    for n in ["F-2001", "F-2002", "AV-2001", "F-2003"] {
        assert_eq!(after[n], now[n], "{n}: paid stays paid, the credit note stays used");
    }
    assert!(allocations(&d).iter().all(|a| a.2 == "pending"));

    // The ERP used the credit note: its open amount moved to zero, the offset is reflected.
    let reflected = ROWS.replace("EUR,-200.00,-200.00", "EUR,-200.00,0.00");
    d.write("invoices/open-3.csv", format!("{HEADER}{reflected}"));
    run_once(&d);
    assert_eq!(invoices(&d)["AV-2001"], (0, 0, "credit_note".to_string()));
    let states: Vec<(String, String)> = allocations(&d).into_iter().map(|(n, _, s)| (n, s)).collect();
    assert!(states.contains(&("AV-2001".to_string(), "reflected".to_string())), "{states:?}");
    assert!(states.contains(&("F-2001".to_string(), "pending".to_string())), "{states:?}");
}
