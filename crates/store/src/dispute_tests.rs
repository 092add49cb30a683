//! Resolving a dispute: the invoice status is the one source of truth; the
//! resolution ends it, closes the dispute task, and either lets reminders
//! resume or holds the invoice (credit note expected).

use super::holds_tests::{d, events, seeded, seeded_both};
use super::*;
use relance_domain::replies::{MessageStatus, TaskKind, TaskStatus};
use relance_engine::replies::{Intent, Understanding};

/// C1 writes that it disputes `refs`.
fn dispute(store: &Store, t: &TenantId, uid: u32, refs: &[&str]) -> i64 {
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    let ids = store.store_messages(t, &[(slot, format!("sha{uid}"), 10, format!("/m{uid}"))]).unwrap();
    let u = Understanding {
        intent: Intent::Dispute,
        from: Some("ap@c1.example".into()),
        refs: refs.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    let h = HandleRequest { id: ids[0], status: MessageStatus::Handled, understanding: Some(u), error: None };
    store.handle_messages(t, d(2026, 11, 10), &[h]).unwrap();
    ids[0]
}

fn disputed(store: &Store, t: &TenantId, number: &str) -> bool {
    store.dunning_states(t).unwrap().iter().flat_map(|s| &s.invoices).any(|i| i.number == number && i.disputed)
}

#[test]
fn a_rejected_dispute_resumes_reminders_and_closes_its_task() {
    let (_dir, store, t) = seeded();
    let message = dispute(&store, &t, 1, &["F-1"]);
    assert!(disputed(&store, &t, "F-1"));
    let open = store.disputes(&t, None, 10).unwrap();
    assert_eq!(open.items.len(), 1);
    let task = open.items[0].tasks[0];
    assert_eq!(
        (open.items[0].invoice.as_str(), open.items[0].message, open.items[0].open.as_str()),
        ("F-1", Some(message), "1200.00")
    );

    let r = store
        .resolve_dispute(&t, "f-1", DisputeResolution::CustomerWrong, Some("livraison signée"), "user:alice")
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.invoice.as_str(), r.status.as_str(), r.tasks_closed.clone(), r.hold, r.reminders_resume),
        ("F-1", "open", vec![task], None, true)
    );
    assert!(!disputed(&store, &t, "F-1"), "reminders resume");
    assert!(store.disputes(&t, None, 10).unwrap().items.is_empty());
    let closed = store.tasks(&t, Some(TaskStatus::Done), 10).unwrap();
    assert_eq!((closed[0].kind, closed[0].closed_by.as_deref()), (TaskKind::Dispute, Some("user:alice")));
    // Resolving again: not disputed any more.
    assert!(matches!(
        store.resolve_dispute(&t, "F-1", DisputeResolution::Withdrawn, None, "u").unwrap(),
        Err(ActionRefusal::Conflict(_))
    ));
    assert!(matches!(
        store.resolve_dispute(&t, "F-9", DisputeResolution::Withdrawn, None, "u").unwrap(),
        Err(ActionRefusal::NotFound(_))
    ));
    let ev = events(&store, &t, "dispute_resolved");
    assert_eq!((ev.len(), ev[0].0.as_str(), ev[0].2["resolution"].as_str()), (1, "user:alice", Some("customer_wrong")));
    // The reply lets go of it: correcting that reply later has nothing left to undo.
    let undisputed = events(&store, &t, "invoice_undisputed");
    assert_eq!(undisputed[0].2["message"].as_i64(), Some(message));
}

#[test]
fn an_upheld_dispute_holds_the_invoice_and_a_task_on_two_invoices_waits_for_both() {
    let (_dir, store, t) = seeded();
    dispute(&store, &t, 1, &["F-1", "F-2"]);
    let r = store
        .resolve_dispute(&t, "F-1", DisputeResolution::CreditNoteExpected, Some("avoir demandé"), "user:bob")
        .unwrap()
        .unwrap();
    assert!(r.tasks_closed.is_empty(), "F-2 is still disputed: the task stays open");
    assert!(!r.reminders_resume);
    let hold = r.hold.unwrap();
    let c1 = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C1").unwrap();
    assert_eq!(c1.holds.iter().map(|h| (h.id, h.invoice.as_deref())).collect::<Vec<_>>(), [(hold, Some("F-1"))]);
    assert!(c1.holds[0].reason.contains("avoir demandé"));
    let r2 = store.resolve_dispute(&t, "F-2", DisputeResolution::Withdrawn, None, "user:bob").unwrap().unwrap();
    assert_eq!(r2.tasks_closed.len(), 1, "now the task is closed");
}

#[test]
fn disputes_are_listed_and_resolved_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        store
            .db
            .write_any(|db| {
                db.execute(
                    "UPDATE invoices SET status='disputed' WHERE tenant_id='t' AND number IN ('F-1', 'F-2', 'G-1')",
                    crate::db::args![],
                )
            })
            .unwrap();
        store
            .record_event(&t, "reply", "invoice_disputed", "invoice:F-1", &serde_json::json!({ "message": 5 }))
            .unwrap();
        store
            .record_event(&t, "reply", "invoice_disputed", "invoice:F-1", &serde_json::json!({ "message": 7 }))
            .unwrap();
        let task = |invoices: &[&str]| {
            let new = NewTask {
                kind: Some(TaskKind::Dispute),
                customer: "C1".into(),
                invoices: invoices.iter().map(|s| s.to_string()).collect(),
                note: "conteste".into(),
                due_on: None,
                assignee: None,
            };
            store.create_task(&t, &new, "reply").unwrap().unwrap().id
        };
        let only_f1 = task(&["F-1"]);
        let both = task(&["F-1", "F-2"]);

        let page = store.disputes(&t, None, 2).unwrap();
        assert_eq!(page.items.iter().map(|d| d.invoice.as_str()).collect::<Vec<_>>(), ["F-1", "F-2"]);
        assert_eq!(page.next_after.as_deref(), Some("F-2"));
        let f1 = &page.items[0];
        assert_eq!((f1.message, f1.tasks.clone(), f1.open.as_str()), (Some(7), vec![only_f1, both], "1200.00"));
        assert_eq!(f1.customer_name.as_deref(), Some("Client C1"));
        let rest = store.disputes(&t, Some("F-2"), 2).unwrap();
        assert_eq!(
            (rest.items.iter().map(|d| d.invoice.as_str()).collect::<Vec<_>>(), rest.next_after),
            (vec!["G-1"], None)
        );

        let done = store
            .resolve_dispute(&t, "f-1", DisputeResolution::CreditNoteExpected, Some("avoir"), "user:alice")
            .unwrap();
        let done = done.unwrap();
        assert_eq!(
            (done.invoice.as_str(), done.status.as_str(), done.tasks_closed.clone()),
            ("F-1", "open", vec![only_f1])
        );
        assert!(done.hold.is_some() && !done.reminders_resume);
        let undisputed = events(&store, &t, "invoice_undisputed");
        assert_eq!(undisputed.iter().map(|e| e.2["message"].as_i64()).collect::<Vec<_>>(), [Some(5), Some(7)]);
        assert!(matches!(
            store.resolve_dispute(&t, "F-1", DisputeResolution::Withdrawn, None, "u").unwrap(),
            Err(ActionRefusal::Conflict(_))
        ));
        assert!(matches!(
            store.resolve_dispute(&t, "X-9", DisputeResolution::Withdrawn, None, "u").unwrap(),
            Err(ActionRefusal::NotFound(_))
        ));
        let f2 = store.resolve_dispute(&t, "F-2", DisputeResolution::Withdrawn, None, "user:bob").unwrap().unwrap();
        assert_eq!((f2.tasks_closed.clone(), f2.hold), (vec![both], None));
    }
}
