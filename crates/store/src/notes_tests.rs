//! Notes, tasks and promises recorded by hand: each names its author, checks
//! that the invoices are the customer's, and is audited.

use super::holds_tests::{d, events, seeded, seeded_both};
use super::*;
use relance_domain::replies::{PromiseStatus, TaskKind, TaskStatus};

#[test]
fn notes_are_kept_in_order_with_their_author_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let n1 =
            store.add_note(&t, "C1", None, " Appelé le comptable, rappeler lundi ", "user:alice").unwrap().unwrap();
        assert_eq!(
            (n1.text.as_str(), n1.created_by.as_str(), n1.invoice),
            ("Appelé le comptable, rappeler lundi", "user:alice", None)
        );
        let n2 = store.add_note(&t, "C1", Some("f-2"), "BL manquant", "user:bob").unwrap().unwrap();
        assert_eq!(n2.invoice.as_deref(), Some("F-2"));
        assert!(
            matches!(store.add_note(&t, "C1", Some("G-1"), "x", "u").unwrap(), Err(ActionRefusal::Invalid(_))),
            "another customer's invoice"
        );
        assert!(matches!(store.add_note(&t, "C9", None, "x", "u").unwrap(), Err(ActionRefusal::NotFound(_))));
        assert!(matches!(store.add_note(&t, "C1", None, "\n", "u").unwrap(), Err(ActionRefusal::Invalid(_))));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(store.add_note(&t, "C1", None, &long, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
        let page = store.notes(&t, "C1", 0, 1).unwrap();
        assert_eq!((page.items[0].id, page.next_after), (n1.id, Some(n1.id)));
        let page = store.notes(&t, "C1", n1.id, 1).unwrap();
        assert_eq!((page.items[0].id, page.next_after), (n2.id, None));
        assert!(store.notes(&t, "C2", 0, 10).unwrap().items.is_empty());
        assert_eq!(events(&store, &t, "note_added").len(), 2);
    }
}

#[test]
fn a_task_is_created_assigned_and_closed_by_people() {
    let (_dir, store, t) = seeded();
    let new = NewTask {
        kind: None,
        customer: "C1".into(),
        invoices: vec!["f-1".into()],
        note: "Relancer par téléphone".into(),
        due_on: Some(d(2026, 12, 1)),
        assignee: Some(" alice ".into()),
    };
    let task = store.create_task(&t, &new, "user:bob").unwrap().unwrap();
    assert_eq!(
        (task.kind, task.status, task.invoices.clone()),
        (TaskKind::FollowUp, TaskStatus::Open, vec!["F-1".to_string()])
    );
    assert_eq!(
        (task.assignee.as_deref(), task.due_on, task.created_by.as_deref()),
        (Some("alice"), Some(d(2026, 12, 1)), Some("user:bob"))
    );
    let bad = NewTask { invoices: vec!["G-1".into()], ..new.clone() };
    assert!(matches!(store.create_task(&t, &bad, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
    let call = NewTask { kind: Some(TaskKind::Call), assignee: None, ..new.clone() };
    assert_eq!(store.create_task(&t, &call, "u").unwrap().unwrap().kind, TaskKind::Call);

    let moved = store.assign_task(&t, task.id, Some("carol"), "user:bob").unwrap().unwrap();
    assert_eq!(moved.assignee.as_deref(), Some("carol"));
    let closed = store.close_task(&t, task.id, Some("payé"), "user:carol").unwrap().unwrap();
    assert_eq!(
        (closed.status, closed.closed_by.as_deref(), closed.closed_note.as_deref()),
        (TaskStatus::Done, Some("user:carol"), Some("payé"))
    );
    assert_eq!(
        store.close_task(&t, task.id, None, "user:dave").unwrap().unwrap().closed_by.as_deref(),
        Some("user:carol"),
        "closing again changes nothing"
    );
    assert!(matches!(store.assign_task(&t, task.id, Some("dave"), "u").unwrap(), Err(ActionRefusal::Conflict(_))));
    assert!(matches!(store.close_task(&t, 999, None, "u").unwrap(), Err(ActionRefusal::NotFound(_))));
    let listed = store.tasks(&t, Some(TaskStatus::Done), 10).unwrap();
    assert_eq!(listed[0].closed_by.as_deref(), Some("user:carol"));
    assert_eq!(events(&store, &t, "task_created").len(), 2);
    assert_eq!(events(&store, &t, "task_assigned")[0].2["to"], "carol");
    assert_eq!(events(&store, &t, "task_closed").len(), 1);
}

#[test]
fn a_promise_heard_on_the_phone_pauses_reminders_like_one_read_in_a_reply() {
    let (_dir, store, t) = seeded();
    let p = NewPromise {
        promised_date: d(2026, 12, 10),
        amount: Some("1200.5".into()),
        currency: None,
        invoices: vec!["F-1".into()],
        note: Some("au téléphone".into()),
    };
    let view = store.record_promise(&t, "C1", &p, "user:alice").unwrap().unwrap();
    assert_eq!(
        (view.status, view.amount.as_deref(), view.currency.as_deref(), view.message_id),
        (PromiseStatus::Pending, Some("1200.50"), Some("EUR"), None)
    );
    let c1 = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C1").unwrap();
    assert_eq!(c1.promise, Some(d(2026, 12, 10)));
    let bad = NewPromise { amount: Some("12,50".into()), ..p.clone() };
    assert!(matches!(store.record_promise(&t, "C1", &bad, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
    let zero = NewPromise { amount: Some("0".into()), ..p.clone() };
    assert!(matches!(store.record_promise(&t, "C1", &zero, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
    assert!(matches!(store.record_promise(&t, "C9", &p, "u").unwrap(), Err(ActionRefusal::NotFound(_))));
    let ev = events(&store, &t, "promise_recorded");
    assert_eq!((ev.len(), ev[0].0.as_str(), ev[0].2["by_hand"].as_bool()), (1, "user:alice", Some(true)));
}

#[test]
fn tasks_and_promises_by_hand_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let new = NewTask {
            kind: None,
            customer: "C1".into(),
            invoices: vec!["f-1".into(), "F-1".into()],
            note: "Relancer par téléphone".into(),
            due_on: Some(d(2026, 12, 1)),
            assignee: Some(" alice ".into()),
        };
        let task = store.create_task(&t, &new, "user:bob").unwrap().unwrap();
        assert_eq!(
            (task.kind, task.status, task.invoices.clone(), task.assignee.as_deref(), task.due_on),
            (TaskKind::FollowUp, TaskStatus::Open, vec!["F-1".to_string()], Some("alice"), Some(d(2026, 12, 1)))
        );
        let other = NewTask { invoices: vec!["G-1".into()], ..new.clone() };
        assert!(matches!(store.create_task(&t, &other, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
        let nobody = NewTask { customer: "C9".into(), ..new.clone() };
        assert!(matches!(store.create_task(&t, &nobody, "u").unwrap(), Err(ActionRefusal::NotFound(_))));
        let moved = store.assign_task(&t, task.id, Some("carol"), "user:bob").unwrap().unwrap();
        assert_eq!(moved.assignee.as_deref(), Some("carol"));
        let closed = store.close_task(&t, task.id, Some("payé"), "user:carol").unwrap().unwrap();
        assert_eq!((closed.status, closed.closed_note.as_deref()), (TaskStatus::Done, Some("payé")));
        let again = store.close_task(&t, task.id, None, "user:dave").unwrap().unwrap();
        assert_eq!(again.closed_by.as_deref(), Some("user:carol"), "closing again changes nothing");
        assert!(matches!(store.assign_task(&t, task.id, Some("dave"), "u").unwrap(), Err(ActionRefusal::Conflict(_))));
        assert!(matches!(store.close_task(&t, 999, None, "u").unwrap(), Err(ActionRefusal::NotFound(_))));

        let p = NewPromise {
            promised_date: d(2026, 12, 10),
            amount: Some("1200.5".into()),
            currency: None,
            invoices: vec!["F-1".into()],
            note: None,
        };
        let view = store.record_promise(&t, "C1", &p, "user:alice").unwrap().unwrap();
        assert_eq!(
            (view.status, view.amount.as_deref(), view.currency.as_deref(), view.invoices.clone()),
            (PromiseStatus::Pending, Some("1200.50"), Some("EUR"), vec!["F-1".to_string()])
        );
        let zero = NewPromise { amount: Some("0".into()), ..p.clone() };
        assert!(matches!(store.record_promise(&t, "C1", &zero, "u").unwrap(), Err(ActionRefusal::Invalid(_))));
        assert_eq!(events(&store, &t, "task_created")[0].1, format!("task:{}", task.id));
        assert_eq!(events(&store, &t, "task_assigned")[0].2["to"], "carol");
        assert_eq!(events(&store, &t, "promise_recorded")[0].1, format!("promise:{}", view.id));
    }
}

#[test]
fn promises_are_checked_against_the_books_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let promise = |invoices: &[&str], day| NewPromise {
            promised_date: day,
            amount: None,
            currency: None,
            invoices: invoices.iter().map(|s| s.to_string()).collect(),
            note: None,
        };
        let kept = store.record_promise(&t, "C1", &promise(&["F-1"], d(2026, 12, 10)), "user:a").unwrap().unwrap();
        let broken = store.record_promise(&t, "C2", &promise(&[], d(2026, 12, 1)), "user:a").unwrap().unwrap();
        let waiting = store.record_promise(&t, "C1", &promise(&["F-2"], d(2026, 12, 20)), "user:a").unwrap().unwrap();
        store
            .db
            .write_any(|db| {
                db.execute(
                    "UPDATE invoices SET open_minor=0, status='paid' WHERE tenant_id='t' AND number='F-1'",
                    crate::db::args![],
                )
            })
            .unwrap();
        let check = store.check_promises(&t, d(2026, 12, 8), 3).unwrap();
        assert_eq!((check.kept, check.broken, check.lapsed, check.pending), (1, 1, 0, 1));
        assert_eq!(store.check_promises(&t, d(2026, 12, 8), 3).unwrap().pending, 1, "checking again changes nothing");
        let subjects = |kind: &str| events(&store, &t, kind).into_iter().map(|e| e.1).collect::<Vec<_>>();
        assert_eq!(subjects("promise_kept"), [format!("promise:{}", kept.id)]);
        assert_eq!(subjects("promise_broken"), [format!("promise:{}", broken.id)]);
        assert_eq!(events(&store, &t, "promise_broken")[0].2["still_open"], serde_json::json!(["G-1"]));
        assert!(subjects("promise_pending").is_empty() && waiting.status == PromiseStatus::Pending);
    }
}
