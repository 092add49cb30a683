//! The outbox on both databases (issue #17): queuing, listing, claiming,
//! delivery outcomes and retries; and, on PostgreSQL, claims made at once
//! by several stores (daemons), each row claimed exactly once.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::holds_tests::{events, seeded_both};
use relance_domain::Channel;
use relance_engine::dunning::templates::Rendered;
use relance_engine::dunning::{Decision, Step};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 10).unwrap()
}

/// A reminder decision for `customer`'s `invoices` at `step`, by email with
/// `template` (the outbox and approval tests' one builder).
pub(crate) fn decision_with(
    customer: &str,
    step: &str,
    invoices: &[&str],
    template: &str,
    offset_days: i64,
    why: &str,
) -> Decision {
    let invoices: Vec<String> = invoices.iter().map(|s| s.to_string()).collect();
    Decision {
        customer_id: customer.into(),
        step: Step { id: step.into(), offset_days, channel: Channel::Email, template: template.into(), confirm: None },
        covers: invoices.iter().map(|i| (step.to_string(), i.clone())).collect(),
        idempotency_key: format!("{customer}|{step}|{}", invoices.join(",")),
        invoices,
        why: vec![why.into()],
    }
}

fn decision(customer: &str, step: &str, invoices: &[&str]) -> Decision {
    decision_with(customer, step, invoices, "courteous", 1, "due")
}

fn rendered() -> Rendered {
    Rendered { subject: "Relance".into(), body: "Bonjour".into() }
}

fn ids(claim: &Claim) -> Vec<i64> {
    claim.items.iter().map(|i| i.id).collect()
}

#[test]
fn the_outbox_queues_claims_delivers_and_retries_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, scratch, t) in seeded_both(dir.path()) {
        let on = if scratch.is_some() { "postgres" } else { "sqlite" };
        let now = Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap();
        let a = store
            .enqueue_reminder(&t, "b2b", day(), &decision("C1", "courteous", &["F-1"]), &rendered(), None)
            .unwrap();
        let a = a.expect(on);
        assert_eq!(
            store
                .enqueue_reminder(&t, "b2b", day(), &decision("C1", "courteous", &["F-1"]), &rendered(), None)
                .unwrap(),
            None,
            "{on}: the same key is queued once"
        );
        let confirm = store
            .enqueue_to_confirm(&t, "b2b", day(), &decision("C2", "formal", &["G-1"]), &rendered())
            .unwrap()
            .unwrap();
        assert_eq!(events(&store, &t, "reminder_queued").len(), 1, "{on}");
        assert_eq!(events(&store, &t, "reminder_to_confirm").len(), 1, "{on}");

        // Listed newest first, by status; an unknown status lists nothing.
        let all = store.outbox(&t, None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
            [(confirm, OutboxStatus::ToConfirm), (a, OutboxStatus::Queued)]
        );
        assert_eq!(
            (all[1].invoices.clone(), all[1].planned_for.as_str(), all[1].why.clone()),
            (vec!["F-1".to_string()], "2026-11-10", json!(["due"])),
            "{on}"
        );
        assert_eq!(store.outbox(&t, None, Window::after(10, Some(confirm))).unwrap().len(), 1, "{on}: the page after");
        assert_eq!(store.outbox(&t, Some("queued"), 10).unwrap()[0].id, a);
        assert!(store.outbox(&t, Some("sent"), 10).unwrap().is_empty());
        assert!(store.outbox(&t, Some("lost"), 10).unwrap().is_empty());

        // Claimed once (the row to confirm is not), with its customer's contacts.
        assert!(store.claim_outbox(&t, day().pred_opt().unwrap(), now, 10).unwrap().items.is_empty(), "{on}: not due");
        let claim = store.claim_outbox(&t, day(), now, 10).unwrap();
        assert_eq!(ids(&claim), [a], "{on}");
        let item = &claim.items[0];
        assert_eq!(
            (item.attempt, item.customer_name.as_str(), item.emails.clone(), item.interrupted),
            (1, "Client C1", vec!["ap@c1.example".to_string()], false),
            "{on}"
        );
        assert!(item.token.starts_with("rl-"), "{on}");
        assert_eq!(store.outbox_item(&t, a).unwrap().unwrap().token, item.token, "{on}: the token is kept");
        assert!(store.outbox_item(&t, 999_999).unwrap().is_none());
        assert_eq!(ids(&store.claim_outbox(&t, day(), now, 10).unwrap()), Vec::<i64>::new(), "{on}: nothing twice");

        // An interrupted send goes back to the queue, flagged; claimed for delivery to ask the
        // channel whether it went out (not an attempt). Not found: queued again, unflagged,
        // and claimed as any row (a second attempt).
        assert_eq!(store.requeue_interrupted(&t).unwrap(), 1, "{on}");
        let probe = store.claim_outbox(&t, day(), now, 10).unwrap();
        assert_eq!((ids(&probe), probe.items[0].attempt, probe.items[0].interrupted), (vec![a], 2, true), "{on}");
        assert!(store.requeue_undelivered(&t, a).unwrap(), "{on}");
        assert!(!store.requeue_undelivered(&t, a).unwrap(), "{on}: only a row being sent");
        let again = store.claim_outbox(&t, day(), now, 10).unwrap();
        assert_eq!((ids(&again), again.items[0].attempt, again.items[0].interrupted), (vec![a], 2, false), "{on}");
        store.mark_outbox_sent(&t, a, "smtp", "<ref@x>").unwrap();
        let sent = store.outbox(&t, Some("sent"), 10).unwrap();
        assert_eq!(
            (sent[0].id, sent[0].connector.as_deref(), sent[0].reference.as_deref(), sent[0].attempts),
            (a, Some("smtp"), Some("<ref@x>"), 2),
            "{on}"
        );
        assert_eq!(events(&store, &t, "reminder_sent").len(), 1, "{on}");
        assert!(store.claim_outbox(&t, day(), now, 10).unwrap().items.is_empty(), "{on}: sent is not claimed");

        // A transient failure waits for its retry time; a permanent one is retried by a person.
        let b = store
            .enqueue_reminder(&t, "b2b", day(), &decision("C1", "firm", &["F-2"]), &rendered(), Some("x@c1.example"))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&store.claim_outbox(&t, day(), now, 10).unwrap()), [b]);
        let later = now + chrono::Duration::minutes(30);
        store.mark_outbox_failed(&t, b, "421 try later", Some(later)).unwrap();
        assert!(store.claim_outbox(&t, day(), now, 10).unwrap().items.is_empty(), "{on}: before its retry time");
        assert_eq!(ids(&store.claim_outbox(&t, day(), later, 10).unwrap()), [b], "{on}");
        store.mark_outbox_failed(&t, b, "550 no such user", None).unwrap();
        let failed = store.outbox(&t, Some("failed"), 10).unwrap();
        assert_eq!((failed[0].id, failed[0].last_error.as_deref()), (b, Some("550 no such user")), "{on}");
        assert_eq!(events(&store, &t, "reminder_failed").len(), 1, "{on}");
        assert!(store.claim_outbox(&t, day(), later, 10).unwrap().items.is_empty(), "{on}: failed is not claimed");
        assert!(store.retry_outbox(&t, b, "user:alice").unwrap(), "{on}");
        assert!(!store.retry_outbox(&t, b, "user:alice").unwrap(), "{on}: no longer failed");
        let retried = store.claim_outbox(&t, day(), later, 10).unwrap();
        assert_eq!(
            (ids(&retried), retried.items[0].attempt, retried.items[0].recipient.as_deref()),
            (vec![b], 1, Some("x@c1.example")),
            "{on}"
        );

        // Tasks keyed by the row: a repeat returns the same one.
        let item = &retried.items[0];
        let call = store.open_call_task(&t, item).unwrap();
        assert_eq!(store.open_call_task(&t, item).unwrap(), call, "{on}");
        let contact = store.open_contact_task(&t, item).unwrap();
        assert_ne!(contact, call);
        assert_eq!(store.open_contact_task(&t, item).unwrap(), contact, "{on}");
        assert_eq!(events(&store, &t, "reminder_to_task").len(), 1, "{on}");

        // A copy request is unanswered until its answer is queued.
        store
            .db
            .write_any(|db| {
                crate::sqlite::insert_event(
                    db,
                    t.as_str(),
                    "mail",
                    "invoice_copy_requested",
                    "message:7",
                    &json!({ "customer": "C2", "invoices": ["G-1"], "to": "ap@c2.example" }),
                )
            })
            .unwrap();
        let asked = store.unanswered_copy_requests(&t).unwrap();
        assert_eq!(
            asked,
            [CopyRequest {
                message_id: 7,
                customer_id: "C2".into(),
                invoices: vec!["G-1".into()],
                reply_to: Some("ap@c2.example".into())
            }],
            "{on}"
        );
        let mut answer = decision("C2", relance_engine::dunning::INVOICE_COPY_STEP, &["G-1"]);
        answer.idempotency_key = "copy|message:7".into();
        let id = store
            .enqueue_answer(&t, "copy", day(), &answer, &rendered(), Some("ap@c2.example"), Some("<m7@x>"))
            .unwrap()
            .unwrap();
        assert!(store.unanswered_copy_requests(&t).unwrap().is_empty(), "{on}");
        let claim = store.claim_outbox(&t, day(), later, 10).unwrap();
        assert_eq!((ids(&claim), claim.items[0].in_reply_to.as_deref()), (vec![id], Some("<m7@x>")), "{on}");
    }
}

#[test]
fn daemons_claiming_at_once_on_postgres_each_get_different_rows() {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, Some(scratch), t)) = seeded_both(dir.path()).into_iter().find(|(_, s, _)| s.is_some()) else {
        return; // no test server (noted by `Scratch::for_test`)
    };
    let mut queued = BTreeSet::new();
    for i in 0..40 {
        let id = store
            .enqueue_reminder(&t, "b2b", day(), &decision("C1", &format!("step{i}"), &["F-1"]), &rendered(), None)
            .unwrap()
            .unwrap();
        queued.insert(id);
    }
    let now = Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap();
    // Four daemons, connected first, start claiming together.
    let daemons: Vec<Store> = (0..4).map(|_| Store::open_postgres(&scratch.url).unwrap()).collect();
    let start = std::sync::Barrier::new(daemons.len());
    let claimed: Vec<(Vec<i64>, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = daemons
            .iter()
            .map(|daemon| {
                let (t, start) = (t.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    let (mut mine, mut gave_up) = (Vec::new(), 0u32);
                    loop {
                        match daemon.claim_outbox(&t, day(), now, 3) {
                            Ok(claim) if claim.items.is_empty() => break,
                            Ok(claim) => {
                                mine.extend(ids(&claim));
                                // Delivering them, as a daemon does between claims.
                                std::thread::sleep(std::time::Duration::from_millis(5));
                            }
                            // Conflicts past the retries: the daemon's next pass claims again.
                            Err(e) if e.is_transient() && gave_up < 100 => gave_up += 1,
                            Err(e) => panic!("claim: {e}"),
                        }
                    }
                    (mine, gave_up)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<i64> = claimed.iter().flat_map(|(mine, _)| mine.iter().copied()).collect();
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "a row claimed twice: {claimed:?}");
    assert_eq!(distinct, queued, "every row claimed: {claimed:?}");
    let sending = store.outbox(&t, Some("sending"), 100).unwrap();
    assert!(sending.iter().all(|r| r.attempts == 1), "each row's attempt counted once");
    assert_eq!(sending.len(), 40);
    drop((daemons, store));
}
