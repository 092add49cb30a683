//! The approval gate in the store: a `to_confirm` reminder is not claimed
//! for delivery, approval (with an edit) queues it and is idempotent, a
//! cancelled one cannot be approved and its step counts as taken.

use chrono::{TimeZone, Utc};

use super::holds_tests::{d, events, seeded};
use super::*;
use relance_engine::dunning::Decision;
use relance_engine::dunning::templates::Rendered;

fn decision(customer: &str, step: &str, invoices: &[&str]) -> Decision {
    super::outbox_tests::decision_with(customer, step, invoices, "formal_notice", 45, "F-1 due 2026-10-31 is at J+45")
}

fn rendered() -> Rendered {
    Rendered { subject: "Mise en demeure".into(), body: "Madame, Monsieur,\n\nNous vous mettons en demeure.".into() }
}

#[test]
fn a_reminder_to_confirm_waits_then_goes_once_approved_with_the_edit() {
    let (_dir, store, t) = seeded();
    let day = d(2026, 12, 15);
    let id = store
        .enqueue_to_confirm(&t, "b2b", day, &decision("C1", "formal_notice", &["F-1", "F-2"]), &rendered())
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .enqueue_to_confirm(&t, "b2b", day, &decision("C1", "formal_notice", &["F-1", "F-2"]), &rendered())
            .unwrap(),
        None
    );
    let v = store.outbox_entry(&t, id).unwrap().unwrap();
    assert_eq!(
        (v.status, v.subject.as_str(), v.customer_name.as_deref()),
        (OutboxStatus::ToConfirm, "Mise en demeure", Some("Client C1"))
    );
    assert_eq!(store.outbox(&t, Some("to_confirm"), 10).unwrap().len(), 1);
    // The step counts as taken while it waits: the planner does not decide it again.
    let c1 = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C1").unwrap();
    assert!(c1.sent.contains(&("formal_notice".to_string(), "F-1".to_string())));
    // Not delivered while it waits.
    let now = Utc.with_ymd_and_hms(2026, 12, 15, 10, 0, 0).unwrap();
    assert!(store.claim_outbox(&t, day, now, 10).unwrap().items.is_empty());

    // An edit must not blank the text.
    let blank = OutboxEdit { subject: Some(" ".into()), body: None };
    assert!(matches!(store.approve_outbox(&t, id, &blank, "user:alice").unwrap(), Err(ActionRefusal::Invalid(_))));
    let edit = OutboxEdit { subject: None, body: Some("Madame, Monsieur,\n\nDernier avis avant contentieux.".into()) };
    let approved = store.approve_outbox(&t, id, &edit, "user:alice").unwrap().unwrap();
    assert_eq!(
        (approved.status, approved.decided_by.as_deref(), approved.edited),
        (OutboxStatus::Queued, Some("user:alice"), true)
    );
    assert!(approved.body.contains("Dernier avis"));
    // Approving again is fine (same text); a new edit now is refused; cancelling a sent one too.
    assert_eq!(
        store.approve_outbox(&t, id, &OutboxEdit::default(), "user:bob").unwrap().unwrap().decided_by.as_deref(),
        Some("user:alice")
    );
    let late = OutboxEdit { subject: Some("Autre".into()), body: None };
    assert!(matches!(store.approve_outbox(&t, id, &late, "user:bob").unwrap(), Err(ActionRefusal::Conflict(_))));
    let claimed = store.claim_outbox(&t, day, now, 10).unwrap().items;
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].body.contains("Dernier avis"), "delivery sends the edited text");
    store.mark_outbox_sent(&t, id, "mail", "<x@y>").unwrap();
    assert!(matches!(store.cancel_outbox(&t, id, "trop tard", "user:bob").unwrap(), Err(ActionRefusal::Conflict(_))));
    let ev = events(&store, &t, "reminder_approved");
    assert_eq!(ev.len(), 1, "approved once");
    assert_eq!(ev[0].0, "user:alice");
    assert_eq!(
        ev[0].2["original"]["body"], "Madame, Monsieur,\n\nNous vous mettons en demeure.",
        "the edit keeps the original"
    );
    assert_eq!(events(&store, &t, "reminder_to_confirm").len(), 1);
}

#[test]
fn a_cancelled_reminder_is_never_approved_nor_planned_again() {
    let (_dir, store, t) = seeded();
    let day = d(2026, 12, 15);
    let id = store
        .enqueue_to_confirm(&t, "b2b", day, &decision("C1", "formal_notice", &["F-1"]), &rendered())
        .unwrap()
        .unwrap();
    assert!(
        matches!(store.cancel_outbox(&t, id, "  ", "user:bob").unwrap(), Err(ActionRefusal::Invalid(_))),
        "a reason is required"
    );
    let v = store.cancel_outbox(&t, id, "client en redressement judiciaire", "user:bob").unwrap().unwrap();
    assert_eq!(
        (v.status, v.cancel_reason.as_deref(), v.decided_by.as_deref()),
        (OutboxStatus::Cancelled, Some("client en redressement judiciaire"), Some("user:bob"))
    );
    // Cancelling again changes nothing; approving is refused.
    assert_eq!(
        store.cancel_outbox(&t, id, "autre", "user:carol").unwrap().unwrap().cancel_reason.as_deref(),
        Some("client en redressement judiciaire")
    );
    let refused = store.approve_outbox(&t, id, &OutboxEdit::default(), "user:alice").unwrap().unwrap_err();
    assert!(matches!(refused, ActionRefusal::Conflict(_)) && refused.to_string().contains("redressement"), "{refused}");
    // The step is taken for the planner, but the cancelled message does not start the gap.
    let c1 = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C1").unwrap();
    assert!(c1.sent.contains(&("formal_notice".to_string(), "F-1".to_string())));
    assert_eq!(c1.last_reminder, None);
    // The same decision is never queued again.
    assert_eq!(
        store
            .enqueue_to_confirm(&t, "b2b", d(2026, 12, 16), &decision("C1", "formal_notice", &["F-1"]), &rendered())
            .unwrap(),
        None
    );
    // A reminder a person approves only when it waits: a plain queued one is not "approved".
    let plain = store
        .enqueue_reminder(&t, "b2b", day, &decision("C2", "courteous", &["G-1"]), &rendered(), None)
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.approve_outbox(&t, plain, &OutboxEdit::default(), "user:alice").unwrap(),
        Err(ActionRefusal::Conflict(_))
    ));
    assert!(matches!(
        store.approve_outbox(&t, 999, &OutboxEdit::default(), "user:alice").unwrap(),
        Err(ActionRefusal::NotFound(_))
    ));
    // Bulk: one answer per id, in order.
    let other = store
        .enqueue_to_confirm(&t, "b2b", day, &decision("C2", "formal_notice", &["G-1"]), &rendered())
        .unwrap()
        .unwrap();
    let bulk = store.approve_outbox_many(&t, &[other, id, 999], "user:alice").unwrap();
    assert_eq!(bulk.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [other, id, 999]);
    assert_eq!(bulk[0].1.as_ref().unwrap().status, OutboxStatus::Queued);
    assert!(matches!(bulk[1].1, Err(ActionRefusal::Conflict(_))));
    assert!(matches!(bulk[2].1, Err(ActionRefusal::NotFound(_))));
    let cancels = events(&store, &t, "reminder_cancelled");
    assert_eq!(cancels.len(), 1);
    assert_eq!(
        (cancels[0].0.as_str(), cancels[0].2["reason"].as_str()),
        ("user:bob", Some("client en redressement judiciaire"))
    );
}

#[test]
fn migration_0014_keeps_every_outbox_row_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let before = sqlite::MIGRATIONS.iter().position(|sql| sql.contains("CREATE TABLE holds")).expect("migration 0014");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &sqlite::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64).unwrap();
        for (key, status) in [("k1", "sent"), ("k2", "queued"), ("k3", "cancelled")] {
            conn.execute(
                "INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template, invoice_numbers,
                    covers, planned_for, subject, body, why, status, created_at, updated_at, message_id)
                 VALUES ('t', ?1, 'C0', 's', 'courteous', 'email', 'courteous', '[\"F-0\"]', '[[\"courteous\",\"F-0\"]]',
                    '2026-11-24', 'S', 'B', '[]', ?2, 'x', 'x', 'rl-1')",
                [key, status],
            )
            .unwrap();
        }
        // A task from a reply: the rebuilt table keeps its reference to the message.
        conn.execute_batch(
            "INSERT INTO inbound_messages (id, tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path, status, created_at, updated_at)
             VALUES (7, 't', 'mail', 'INBOX', 1, 1, 'h', 1, '/m', 'handled', 'x', 'x');
             INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
             VALUES ('t', 'dispute', 'C0', 7, '[\"F-0\"]', 'litige', 'open', 'x', 'x');",
        )
        .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    let statuses: Vec<String> =
        store.outbox(&t, None, 10).unwrap().iter().map(|r| r.status.as_str().to_string()).collect();
    assert_eq!(statuses, ["cancelled", "queued", "sent"]);
    let tasks = store.tasks(&t, None, 10).unwrap();
    assert_eq!(
        (tasks.len(), tasks[0].message_id, tasks[0].assignee.clone(), tasks[0].created_by.clone()),
        (1, Some(7), None, None)
    );
    // The new status is accepted, an unknown one still refused.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE outbox SET status='to_confirm' WHERE idempotency_key='k2'", []).unwrap();
    assert!(conn.execute("UPDATE outbox SET status='waiting' WHERE idempotency_key='k2'", []).is_err());
    assert!(conn.execute("UPDATE tasks SET kind='chat'", []).is_err());
    conn.execute("UPDATE tasks SET kind='follow_up'", []).unwrap();
}

/// A reminder waiting for confirmation, written row by row (queueing is
/// not ported to PostgreSQL yet).
fn to_confirm(store: &Store, customer: &str, key: &str) -> i64 {
    store
        .db
        .write_any(|db| {
            db.query_one(
                "INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                                     invoice_numbers, covers, planned_for, subject, body, why, status, created_at, updated_at)
                 VALUES ('t', ?1, ?2, 'b2b', 'formal_notice', 'email', 'formal_notice', '[\"F-1\"]', '[]', '2026-12-15',
                         'Mise en demeure', 'Madame, Monsieur', '[\"F-1 due\"]', 'to_confirm', ?3, ?3)
                 RETURNING id",
                crate::db::args![key, customer, now_text()],
            )?
            .get(0)
        })
        .unwrap()
}

#[test]
fn reminders_are_approved_and_cancelled_by_people_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in super::holds_tests::seeded_both(dir.path()) {
        let a = to_confirm(&store, "C1", "a");
        let b = to_confirm(&store, "C2", "b");
        let v = store.outbox_entry(&t, a).unwrap().unwrap();
        assert_eq!(
            (v.status, v.customer_name.as_deref(), v.invoices.clone(), v.edited),
            (OutboxStatus::ToConfirm, Some("Client C1"), vec!["F-1".to_string()], false)
        );
        assert!(store.outbox_entry(&t, 999).unwrap().is_none());
        let edit = OutboxEdit { subject: Some("Dernier rappel".into()), body: None };
        let approved = store.approve_outbox(&t, a, &edit, "user:alice").unwrap().unwrap();
        assert_eq!(
            (approved.status, approved.subject.as_str(), approved.edited, approved.decided_by.as_deref()),
            (OutboxStatus::Queued, "Dernier rappel", true, Some("user:alice"))
        );
        assert_eq!(store.approve_outbox(&t, a, &edit, "user:bob").unwrap().unwrap().decided_by, approved.decided_by);
        let other = OutboxEdit { subject: Some("Autre".into()), body: None };
        assert!(matches!(store.approve_outbox(&t, a, &other, "user:bob").unwrap(), Err(ActionRefusal::Conflict(_))));

        let cancelled = store.cancel_outbox(&t, b, "client en procédure", "user:carol").unwrap().unwrap();
        assert_eq!(
            (cancelled.status, cancelled.cancel_reason.as_deref()),
            (OutboxStatus::Cancelled, Some("client en procédure"))
        );
        assert_eq!(
            store.cancel_outbox(&t, b, "again", "user:dave").unwrap().unwrap().decided_by.as_deref(),
            Some("user:carol")
        );
        assert!(matches!(
            store.approve_outbox(&t, b, &OutboxEdit::default(), "user:alice").unwrap(),
            Err(ActionRefusal::Conflict(_))
        ));
        let approved_events = events(&store, &t, "reminder_approved");
        assert_eq!(approved_events.len(), 1);
        assert_eq!(approved_events[0].2["original"]["subject"], "Mise en demeure");
        assert_eq!(events(&store, &t, "reminder_cancelled")[0].1, format!("outbox:{b}"));
    }
}
