//! Hand-offs: recorded once while active, reversed with an audit event,
//! seen by the dunning state, and the dossier's facts.

use super::holds_tests::{d, events, seeded, seeded_both};
use relance_domain::money::{Currency, Money};

#[test]
fn a_hand_off_is_recorded_once_while_active_and_reaches_the_dunning_state() {
    let (_dir, store, t) = seeded();
    let (h, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 1)).unwrap();
    assert!(new);
    assert_eq!((h.customer_id.as_str(), h.step.as_str(), h.handed_over_on.as_str()), ("C1", "agency", "2026-12-01"));
    let (again, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 2)).unwrap();
    assert!(!new, "a second hand-off while one is active records nothing");
    assert_eq!(again.id, h.id);
    assert_eq!(again.handed_over_on, "2026-12-01");
    assert_eq!(store.active_handoffs(&t).unwrap().len(), 1);
    assert_eq!(events(&store, &t, "handed_over").len(), 1);
    let states = store.dunning_states(&t).unwrap();
    let c1 = states.iter().find(|s| s.customer_id == "C1").unwrap();
    let c2 = states.iter().find(|s| s.customer_id == "C2").unwrap();
    let ho = c1.handed_over.as_ref().expect("C1 handed over");
    assert_eq!((ho.id, ho.since, ho.step.as_str()), (h.id, d(2026, 12, 1), "agency"));
    assert!(c2.handed_over.is_none());
    store.set_handoff_dossier(&t, h.id, &["a.csv".into(), "a.pdf".into()]).unwrap();
    assert_eq!(store.active_handoff(&t, "C1").unwrap().unwrap().dossier, ["a.csv", "a.pdf"]);
}

#[test]
fn a_reversed_hand_off_lets_reminders_resume_and_a_new_one_may_follow() {
    let (_dir, store, t) = seeded();
    let (h, _) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 1)).unwrap();
    assert!(store.reverse_handoff(&t, "C2", "alice", "no").unwrap().is_none(), "C2 was never handed over");
    let r = store.reverse_handoff(&t, "C1", "alice", "the customer paid the agency's fee").unwrap().unwrap();
    assert_eq!((r.id, r.reversed_by.as_deref()), (h.id, Some("alice")));
    assert!(r.reversed_at.is_some());
    let ev = events(&store, &t, "handoff_reversed");
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].0.as_str(), ev[0].1.as_str()), ("alice", "C1"));
    assert_eq!(ev[0].2["handoff"], h.id);
    assert!(store.active_handoffs(&t).unwrap().is_empty());
    assert!(store.reverse_handoff(&t, "C1", "alice", "twice").unwrap().is_none(), "nothing left to reverse");
    let c1 = store.dunning_state(&t, "C1").unwrap().unwrap();
    assert!(c1.handed_over.is_none(), "reminders resume");
    let (h2, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2027, 1, 5)).unwrap();
    assert!(new && h2.id != h.id, "a new hand-off after the reversal");
}

#[test]
fn the_dossier_lists_the_customer_its_open_invoices_and_contacts() {
    let (_dir, store, t) = seeded();
    assert!(store.dossier_facts(&t, "nobody").unwrap().is_none());
    let f = store.dossier_facts(&t, "C1").unwrap().unwrap();
    assert_eq!(f.name, "Client C1");
    assert_eq!(f.emails, ["ap@c1.example"]);
    let numbers: Vec<&str> = f.invoices.iter().map(|i| i.number.as_str()).collect();
    assert_eq!(numbers, ["F-1", "F-2"]);
    assert_eq!(f.invoices[0].open, Money::new(120_000, Currency::EUR));
    assert_eq!(f.invoices[0].due_date, d(2026, 10, 31));
    assert!(f.reminders.is_empty() && f.replies.is_empty() && f.promises.is_empty() && f.disputes.is_empty());
}

#[test]
fn a_reminder_queued_before_the_hand_off_is_cancelled_and_the_hand_off_step_still_goes() {
    use crate::OutboxStatus;
    use chrono::{TimeZone, Utc};
    use relance_domain::Channel;
    use relance_engine::dunning::templates::Rendered;
    use relance_engine::dunning::{Decision, Step};
    let (_dir, store, t) = seeded();
    let decision = |customer: &str, step: &str, invoices: &[&str]| Decision {
        customer_id: customer.into(),
        step: Step { id: step.into(), offset_days: 1, channel: Channel::Email, template: step.into(), confirm: None },
        invoices: invoices.iter().map(|s| s.to_string()).collect(),
        covers: invoices.iter().map(|i| (step.to_string(), i.to_string())).collect(),
        idempotency_key: format!("{customer}|{step}|{}", invoices.join(",")),
        why: vec![],
    };
    let rendered = Rendered { subject: "Relance".into(), body: "Bonjour".into() };
    let day = d(2026, 12, 1);
    let agency =
        store.enqueue_reminder(&t, "b2b", day, &decision("C1", "agency", &["F-1"]), &rendered, None).unwrap().unwrap();
    let nudge =
        store.enqueue_reminder(&t, "b2b", day, &decision("C1", "nudge", &["F-2"]), &rendered, None).unwrap().unwrap();
    let other =
        store.enqueue_reminder(&t, "b2b", day, &decision("C2", "nudge", &["G-1"]), &rendered, None).unwrap().unwrap();
    // The hand-off step's delivery recorded the hand-off, then its send failed: it is retried.
    let (h, _) = store.record_handoff(&t, "C1", "b2b", "agency", Some(agency), day).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let claim = store.claim_outbox(&t, day, now, 10).unwrap();
    let mut claimed: Vec<i64> = claim.items.iter().map(|i| i.id).collect();
    claimed.sort();
    assert_eq!(claimed, [agency, other], "the hand-off's own step and another customer's reminder go");
    assert_eq!(claim.cancelled, 1);
    let row = store.outbox_entry(&t, nudge).unwrap().unwrap();
    assert_eq!(row.status, OutboxStatus::Cancelled);
    assert_eq!(row.last_error, Some(format!("customer handed over on 2026-12-01 (hand-off #{})", h.id)));
    let ev = events(&store, &t, "reminder_cancelled");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2["handoff"], h.id);
}

#[test]
fn hand_offs_are_recorded_reversed_and_their_dossier_read_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let (h, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 1)).unwrap();
        assert!(new);
        let (again, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 2)).unwrap();
        assert_eq!((again.id, new, again.handed_over_on.as_str()), (h.id, false, "2026-12-01"));
        store.set_handoff_dossier(&t, h.id, &["a.csv".into(), "a.pdf".into()]).unwrap();
        let active = store.active_handoff(&t, "C1").unwrap().unwrap();
        assert_eq!(active.dossier, ["a.csv", "a.pdf"]);
        let seen = store.db.read_any(|db| crate::handoffs::handed_over(db, "t", None)).unwrap();
        assert_eq!(seen.iter().map(|(c, h)| (c.as_str(), h.since)).collect::<Vec<_>>(), [("C1", d(2026, 12, 1))]);
        assert!(store.db.read_any(|db| crate::handoffs::handed_over(db, "t", Some("C2"))).unwrap().is_empty());

        let facts = store.dossier_facts(&t, "C1").unwrap().unwrap();
        assert_eq!((facts.name.as_str(), facts.emails.clone()), ("Client C1", vec!["ap@c1.example".to_string()]));
        assert_eq!(facts.invoices.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), ["F-1", "F-2"]);
        assert_eq!(facts.invoices[0].open, Money::new(120_000, Currency::EUR));
        assert!(store.dossier_facts(&t, "C9").unwrap().is_none());

        let reversed = store.reverse_handoff(&t, "C1", "user:alice", "paid the agency").unwrap().unwrap();
        assert_eq!((reversed.id, reversed.reversed_by.as_deref()), (h.id, Some("user:alice")));
        assert!(store.active_handoffs(&t).unwrap().is_empty());
        assert!(store.reverse_handoff(&t, "C1", "user:alice", "again").unwrap().is_none());
        let (next, new) = store.record_handoff(&t, "C1", "b2b", "agency", None, d(2026, 12, 5)).unwrap();
        assert!(new && next.id != h.id, "a new hand-off may follow a reversed one");
        assert_eq!(events(&store, &t, "handed_over").len(), 2);
        assert_eq!(events(&store, &t, "handoff_reversed")[0].0, "user:alice");
    }
}
