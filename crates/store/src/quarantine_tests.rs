//! Handling quarantined inputs: dismissing keeps the row with who and why
//! and takes it off the open list and the Today count; a rejected statement
//! file is read again after a retry; what cannot be read again is refused;
//! nothing is handled twice; tenants apart.

use super::*;
use relance_domain::QuarantineHandling;

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

fn bad(source: &str, item: &str) -> NewQuarantine {
    NewQuarantine {
        source: source.into(),
        item: item.into(),
        line: Some(7),
        column: None,
        reason: "cannot read".into(),
        raw: Some("x;y".into()),
        raw_path: None,
    }
}

#[test]
fn a_dismissed_input_stays_with_who_and_why_but_no_longer_waits() {
    let (_d, store, t) = store();
    let a = store.record_quarantine(&t, &bad("erp", "export.csv")).unwrap();
    let b = store.record_quarantine(&t, &bad("erp", "export2.csv")).unwrap();
    assert_eq!(store.workload(&t).unwrap().quarantined, 2);

    let done = store.dismiss_quarantined(&t, a, Some("  fixed in the ERP  "), "user:alice").unwrap().unwrap();
    assert_eq!(
        (done.handling, done.by.as_str(), done.note.as_deref()),
        (QuarantineHandling::Dismissed, "user:alice", Some("fixed in the ERP"))
    );
    assert_eq!(store.workload(&t).unwrap().quarantined, 1);
    let open = store.quarantine_open(&t, 10).unwrap();
    assert_eq!((open.total, open.items.iter().map(|q| q.id).collect::<Vec<_>>()), (1, vec![b]));
    let all = store.quarantine(&t, 10).unwrap();
    assert_eq!(all.total, 2, "the row is kept");
    let kept = all.items.iter().find(|q| q.id == a).unwrap();
    assert_eq!(kept.handled.as_ref().map(|h| h.by.as_str()), Some("user:alice"));
    let events = store.events(&t, 0, 100).unwrap();
    assert!(events.iter().any(|e| e.kind == "quarantine_dismissed"
        && e.actor == "user:alice"
        && e.subject == format!("quarantine:{a}")));

    // Twice is refused; another tenant's item does not exist; a long note is refused.
    assert!(matches!(store.dismiss_quarantined(&t, a, None, "user:bob").unwrap(), Err(ActionRefusal::Conflict(_))));
    let other = TenantId::new("other").unwrap();
    assert!(matches!(store.dismiss_quarantined(&other, b, None, "user:eve").unwrap(), Err(ActionRefusal::NotFound(_))));
    let long = "x".repeat(MAX_HANDLING_NOTE + 1);
    assert!(matches!(
        store.dismiss_quarantined(&t, b, Some(&long), "user:alice").unwrap(),
        Err(ActionRefusal::Invalid(_))
    ));
    assert_eq!(store.quarantine_open(&t, 10).unwrap().total, 1);
}

#[test]
fn a_rejected_statement_file_is_read_again_after_a_retry_and_a_bad_line_is_not() {
    let (_d, store, t) = store();
    // What the statement connector does with a file it cannot parse.
    let q = store.record_quarantine(&t, &bad("bank", "2026-11.sta")).unwrap();
    store.record_statement_rejected(&t, "bank", "sha-1", "2026-11.sta", None).unwrap();
    assert!(store.statement_file_known(&t, "sha-1").unwrap(), "not read again while unchanged");

    store.retry_quarantined(&t, q, "user:alice").unwrap().unwrap();
    assert!(!store.statement_file_known(&t, "sha-1").unwrap(), "read again at the connector's next run");
    let item = store.quarantine(&t, 10).unwrap().items.into_iter().find(|i| i.id == q).unwrap();
    assert_eq!(item.handled.map(|h| h.handling), Some(QuarantineHandling::Retried));
    assert_eq!(store.workload(&t).unwrap().quarantined, 0);
    assert!(matches!(store.retry_quarantined(&t, q, "user:alice").unwrap(), Err(ActionRefusal::Conflict(_))));

    // A bad line of an export: nothing to read again by itself.
    let line = store.record_quarantine(&t, &bad("erp", "export.csv")).unwrap();
    match store.retry_quarantined(&t, line, "user:alice").unwrap() {
        Err(ActionRefusal::Conflict(why)) => assert!(why.contains("dismiss"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.quarantine_open(&t, 10).unwrap().total, 1, "still waiting");
}

#[test]
fn quarantined_inputs_are_listed_dismissed_and_retried_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::new("t").unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        let a = store.record_quarantine(&t, &bad("erp", "export.csv")).unwrap();
        let b = store.record_quarantine(&t, &bad("bank", "march.xml")).unwrap();
        let c = store.record_quarantine(&t, &bad("erp", "export3.csv")).unwrap();
        let all = store.quarantine(&t, 10).unwrap();
        assert_eq!((all.total, all.items.iter().map(|q| q.id).collect::<Vec<_>>()), (3, vec![a, b, c]));
        assert_eq!((all.items[0].line, all.items[0].held, all.items[0].handled.is_none()), (Some(7), false, true));
        let first = store.quarantine(&t, 1).unwrap();
        assert_eq!((first.items.len(), first.next_after), (1, Some(a)));

        let done = store.dismiss_quarantined(&t, a, Some("  fixed in the ERP "), "user:alice").unwrap().unwrap();
        assert_eq!((done.handling, done.note.as_deref()), (QuarantineHandling::Dismissed, Some("fixed in the ERP")));
        assert!(matches!(store.dismiss_quarantined(&t, a, None, "user:bob").unwrap(), Err(ActionRefusal::Conflict(_))));
        assert!(matches!(store.dismiss_quarantined(&t, 999, None, "u").unwrap(), Err(ActionRefusal::NotFound(_))));
        let open = store.quarantine_open(&t, 10).unwrap();
        assert_eq!((open.total, open.items.iter().map(|q| q.id).collect::<Vec<_>>()), (2, vec![b, c]));
        let kept = store.quarantine(&t, 10).unwrap().items.into_iter().find(|q| q.id == a).unwrap();
        assert_eq!(
            kept.handled.map(|h| (h.handling, h.by)),
            Some((QuarantineHandling::Dismissed, "user:alice".into()))
        );

        // A statement file rejected by the parser (no format) is forgotten and handed to its connector once.
        store
            .db
            .write_any(|db| {
                db.execute(
                    "INSERT INTO statement_files (tenant_id, source, sha256, label, format, received_at)
                     VALUES ('t', 'bank', 'ab12', 'march.xml', NULL, '2026-11-30T10:00:00.000Z')",
                    crate::db::args![],
                )
            })
            .unwrap();
        assert!(matches!(store.retry_quarantined(&t, c, "user:alice").unwrap(), Err(ActionRefusal::Conflict(_))));
        store.retry_quarantined(&t, b, "user:alice").unwrap().unwrap();
        assert_eq!(store.take_statement_retries(&t, "bank").unwrap(), ["march.xml"]);
        assert!(store.take_statement_retries(&t, "bank").unwrap().is_empty(), "taken once");
        let kinds: Vec<String> = store.events(&t, 0, 100).unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "quarantine_dismissed" || *k == "quarantine_retried").count(), 2);
    }
}
