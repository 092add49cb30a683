//! Crash safety: SIGKILL in the middle of a large import, then a restart,
//! imports every row exactly once.

mod common;

use std::time::{Duration, Instant};

use common::{Deployment, csv_rows, csv_tenant};

const ROWS: usize = 150_000;
const BAD: [usize; 3] = [10, 70_001, 149_990];

#[test]
fn sigkill_mid_import_then_restart_applies_every_row_once() {
    let d = Deployment::new("", &[("acme", &csv_tenant("acme-token-1", "in", "mode = \"full\"\nbatch_size = 1000\n"))]);
    d.write("in/big.csv", csv_rows(ROWS, &BAD));

    let mut child = d.relance().args(["run", "--once", "--config"]).arg(d.config()).spawn().unwrap();
    // Wait until some batches are committed, then kill without warning.
    let start = Instant::now();
    let mut killed_at = None;
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("import finished ({st}) before it could be killed: raise ROWS");
        }
        let pos: Option<i64> = d.try_db().map(|db| {
            db.query_row("SELECT coalesce(max(position), 0) FROM imports WHERE state='running'", [], |r| r.get(0))
                .unwrap_or(0)
        });
        if pos.is_some_and(|p| p >= 20_000) {
            child.kill().unwrap(); // SIGKILL
            killed_at = pos;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let killed_at = killed_at.expect("the import never reached 20,000 rows");
    let (state, position): (String, i64) =
        d.db().query_row("SELECT state, position FROM imports", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(state, "running", "killed mid-import");
    assert!(position >= killed_at && (position as usize) < ROWS, "position {position}");

    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let db = d.db();
    let (state, created, updated, unchanged, quarantined): (String, i64, i64, i64, i64) = db
        .query_row("SELECT state, created, updated, unchanged, quarantined FROM imports", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    assert_eq!(state, "done");
    // Every good row was created exactly once: none re-applied (no `unchanged`), none lost.
    assert_eq!((created, updated, unchanged), ((ROWS - BAD.len()) as i64, 0, 0));
    assert_eq!(quarantined, BAD.len() as i64);
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM invoices"), (ROWS - BAD.len()) as i64);
    assert_eq!(count("SELECT count(*) FROM quarantine"), BAD.len() as i64, "each bad row quarantined once");
    assert_eq!(count("SELECT count(*) FROM audit_events WHERE kind='import_completed'"), 1);
    assert_eq!(count("SELECT count(*) FROM invoices WHERE status <> 'open'"), 0);
    let lines: Vec<i64> = db
        .prepare("SELECT line FROM quarantine ORDER BY line")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, BAD.iter().map(|i| *i as i64 + 2).collect::<Vec<_>>());
    let (open, cust): (i64, String) = db
        .query_row("SELECT open_minor, customer_id FROM invoices WHERE number='F-0123456'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((open, cust.as_str()), ((100 + 123_456 % 900) * 100 + 50, "C03456"));
}
