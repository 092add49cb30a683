//! `relance match eval`: the figures computed on a tiny hand-made case whose
//! answer is known, and the command running on the committed corpus.

mod common;

use std::fmt::Write as _;
use std::process::Command;

use common::{HEADER, repo_path};

/// A camt.053 with credits: (entry ref, amount, remittance).
fn camt(credits: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>M1</MsgId></GrpHdr>\n<Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id>\
         <Ccy>EUR</Ccy></Acct>\n",
    );
    for (r, amount, text) in credits {
        let _ = writeln!(
            s,
            "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-23</Dt></BookgDt>\
             <AcctSvcrRef>{r}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Someone</Nm></Dbtr></RltdPties>\
             <RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        );
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

fn label(entry: &str, amount: &str, truth: &[&str], kind: &str, unambiguous: bool) -> String {
    serde_json::json!({
        "file": "statement.xml", "entry": entry, "index": 0, "amount": amount, "currency": "EUR",
        "truth": truth, "kind": kind, "unambiguous": unambiguous,
    })
    .to_string()
}

fn eval(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["match", "eval"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run relance")
}

#[test]
fn figures_of_a_case_whose_answer_is_known() {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("tiny").join("case-1");
    std::fs::create_dir_all(&case).unwrap();
    let mut inv = String::from(HEADER);
    inv.push_str("F-1001,C1,Martin SARL,,,2026-10-01,2026-10-31,EUR,1200.00,1200.00\n");
    inv.push_str("F-1002,C2,Dupont SA,,,2026-10-01,2026-10-31,EUR,500.00,500.00\n");
    inv.push_str("F-1003,C3,Durand SAS,,,2026-10-01,2026-10-31,EUR,80.00,80.00\n");
    inv.push_str("F-1004,C4,Petit EURL,,,2026-10-01,2026-02-30,EUR,90.00,90.00\n"); // refused: no such date
    std::fs::write(case.join("invoices.csv"), inv).unwrap();
    std::fs::write(
        case.join("statement.xml"),
        camt(&[("R1", "1200.00", "Facture F-1001"), ("R2", "500.00", "Facture F-1002"), ("R3", "33.33", "Loyer")]),
    )
    .unwrap();
    let labels = [
        // Matched and right.
        label("R1", "1200.00", &["F-1001"], "exact", true),
        // Matched to F-1002, but the label says F-1003 and that a clerk would ask: wrong and ambiguous.
        label("R2", "500.00", &["F-1003"], "wrong_reference", false),
        // Left alone although a clerk would apply it: a miss.
        label("R3", "33.33", &["F-1003"], "exact", true),
        // Not in the file: not found, counts against recall.
        label("R9", "10.00", &["F-1003"], "exact", true),
    ];
    std::fs::write(case.join("labels.jsonl"), labels.join("\n") + "\n").unwrap();

    let out = eval(&root.path().join("tiny"), &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let split = &report[0];
    assert_eq!(split["split"], "tiny");
    assert_eq!(split["cases"], 1);
    assert_eq!(split["rejected_invoice_rows"], 1);
    let t = &split["total"];
    assert_eq!(t["credits"], 4);
    assert_eq!(t["not_found"], 1);
    assert_eq!(t["matched"], 2, "{t}");
    assert_eq!(t["correct"], 1);
    assert_eq!(t["unambiguous"], 3);
    assert_eq!(t["unambiguous_correct"], 1);
    assert_eq!(t["ambiguous_matched"], 1);
    assert_eq!(split["by_kind"]["exact"]["credits"], 3);
    assert_eq!(split["by_kind"]["wrong_reference"]["matched"], 1);
    assert_eq!(split["by_kind"]["wrong_reference"]["correct"], 0);

    // The text report: the same figures, and the errors named.
    let out = eval(&root.path().join("tiny"), &["--errors", "5"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("precision 50.0% (1 correct / 2 matched), recall on unambiguous 33.3% (1 / 3), ambiguous matched 1, not found 1"),
        "{text}"
    );
    assert!(text.contains("WRONG MATCH [wrong_reference]"), "{text}");
    assert!(text.contains("MISSED [exact]"), "{text}");
    assert!(text.contains("NOT FOUND [exact]"), "{text}");
}

/// Every file of the committed corpus is read and every label finds its entry.
#[test]
fn the_committed_corpus_is_read_whole() {
    let out = eval(&repo_path("corpus/cash"), &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let splits: Vec<&str> = report.as_array().unwrap().iter().map(|s| s["split"].as_str().unwrap()).collect();
    assert_eq!(splits, ["dev", "probe", "probe2", "probe3", "probe4", "probe5", "unseen"]);
    for s in report.as_array().unwrap() {
        assert!(s["total"]["credits"].as_u64().unwrap() >= 200, "{}", s["split"]);
        assert_eq!(s["unreadable_files"], 0, "{}", s["split"]);
        assert_eq!(s["total"]["not_found"], 0, "{}", s["split"]);
        assert_eq!(s["rejected_invoice_rows"], 0, "{}", s["split"]);
    }
}
