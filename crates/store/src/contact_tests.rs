//! Contact addresses (migration 0011): what delivery reports and
//! out-of-office replies record, what delivery and the dunning states read
//! back, what a real reply clears, and what the API lists.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, TaskKind};
use relance_domain::{Channel, CustomerRecord, InvoiceRecord};
use relance_engine::dunning::templates::Rendered;
use relance_engine::dunning::{Decision, Step};
use relance_engine::replies::dsn::{DeliveryReport, DsnAction, RecipientReport, ReportSource};
use relance_engine::replies::{AutoKind, Intent, Understanding};

const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

fn import(store: &Store, t: &TenantId, customer: &str, emails: &[&str]) {
    let record = InvoiceRecord {
        number: format!("F-{customer}"),
        customer: CustomerRecord {
            id: customer.into(),
            name: customer.into(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        },
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        total: Money::new(10_000, Currency::EUR),
        open: Money::new(10_000, Currency::EUR),
        status: None,
    };
    let key = ImportKey { tenant: t, source: "erp", unit: customer, label: customer, full_export: false };
    let mut st = store.begin_import(&key).unwrap();
    store
        .apply_invoice_batch(&mut st, &InvoiceBatch { records: vec![record], position_after: 1, ..Default::default() })
        .unwrap();
}

/// Queues a reminder for `customer`; returns its outbox id and message token.
fn reminder(store: &Store, t: &TenantId, customer: &str, step: &str) -> (i64, String) {
    let decision = Decision {
        customer_id: customer.into(),
        step: Step {
            id: step.into(),
            offset_days: 1,
            channel: Channel::Email,
            template: "courteous".into(),
            confirm: None,
        },
        invoices: vec![format!("F-{customer}")],
        covers: vec![(step.into(), format!("F-{customer}"))],
        idempotency_key: format!("{customer}|{step}"),
        why: vec![],
    };
    let rendered = Rendered { subject: "Rappel".into(), body: "…".into() };
    let id = store.enqueue_reminder(t, "b2b", TODAY, &decision, &rendered, None).unwrap().unwrap();
    let token =
        store.db.read(|c| Ok(c.query_row("SELECT message_id FROM outbox WHERE id=?1", [id], |r| r.get(0))?)).unwrap();
    (id, token)
}

fn message(store: &Store, t: &TenantId, uid: u32) -> i64 {
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    store.store_messages(t, &[(slot, format!("sha{uid}"), 10, format!("/m{uid}"))]).unwrap()[0]
}

fn handle(store: &Store, t: &TenantId, uid: u32, u: Understanding) -> i64 {
    let id = message(store, t, uid);
    let h = HandleRequest { id, status: MessageStatus::Handled, understanding: Some(u), error: None };
    store.handle_messages(t, TODAY, &[h]).unwrap();
    id
}

fn failed(address: &str, code: &str) -> RecipientReport {
    RecipientReport {
        final_recipient: address.into(),
        original_recipient: None,
        action: DsnAction::Failed,
        status: Some(code.into()),
        diagnostic: Some(format!("550 {code} user unknown")),
        remote_mta: None,
    }
}

fn bounce(token: Option<&str>, recipients: Vec<RecipientReport>) -> Understanding {
    Understanding {
        from: Some("mailer-daemon@mx.acme.test".into()),
        thread: token.map(|t| vec![format!("{t}@acme.test")]).unwrap_or_default(),
        intent: Intent::AutoReply,
        auto_reply: Some(AutoKind::DeliveryFailure),
        new_text: "delivery failed".into(),
        delivery: (!recipients.is_empty()).then_some(DeliveryReport {
            source: ReportSource::DeliveryStatus,
            reporting_mta: None,
            recipients,
            original_message_id: None,
        }),
        ..Default::default()
    }
}

fn claim(store: &Store, t: &TenantId) -> OutboxItem {
    let mut c = store.claim_outbox(t, TODAY, chrono::Utc::now(), 10).unwrap();
    assert_eq!(c.items.len(), 1, "{c:?}");
    c.items.remove(0)
}

#[test]
fn a_bounce_marks_the_failed_address_and_delivery_uses_the_other_one() {
    let (_dir, store, t) = store();
    import(&store, &t, "C1", &["Compta@C1.example", "dg@c1.example"]);
    let (outbox, token) = reminder(&store, &t, "C1", "courteous");
    // The report names the customer's first address and one that is not the customer's.
    let report =
        bounce(Some(&token), vec![failed("compta@c1.example", "5.1.1"), failed("stranger@x.example", "5.1.1")]);
    let msg = handle(&store, &t, 1, report);

    let contacts = store.contacts(&t, TODAY, None, 100).unwrap();
    let dead: Vec<&ContactView> = contacts.iter().filter(|c| c.status == ContactState::Undeliverable).collect();
    let [c] = dead.as_slice() else { panic!("{contacts:?}") };
    assert_eq!((c.customer_id.as_deref(), c.address.as_str()), (Some("C1"), "compta@c1.example"));
    let u = c.undeliverable.as_ref().unwrap();
    assert_eq!((u.status_code.as_deref(), u.message), (Some("5.1.1"), Some(msg)));
    assert_eq!(u.diagnostic.as_deref(), Some("550 5.1.1 user unknown"));
    assert!(contacts.iter().all(|c| c.address != "stranger@x.example"), "not the customer's: not flagged");
    assert_eq!(
        store
            .contacts(&t, TODAY, Some(ContactState::Ok), 100)
            .unwrap()
            .iter()
            .map(|c| c.address.as_str())
            .collect::<Vec<_>>(),
        ["dg@c1.example"]
    );
    // The audit trail names what was marked and what was left alone; the reply links to the reminder.
    let data: String = store
        .db
        .read(
            |c| Ok(c.query_row("SELECT data FROM audit_events WHERE kind='contact_undeliverable'", [], |r| r.get(0))?),
        )
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["addresses"], serde_json::json!(["compta@c1.example"]));
    assert_eq!(data["not_the_customers"], serde_json::json!(["stranger@x.example"]));
    let answered: i64 = store
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit_events WHERE kind='reply_received' AND data LIKE ?1",
                [format!("%outbox:{outbox}%")],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(answered, 1);

    // Delivery of the queued reminder leaves the address out.
    let item = claim(&store, &t);
    assert_eq!(item.emails, ["dg@c1.example"]);
    assert_eq!(item.undeliverable, ["Compta@C1.example (5.1.1)"]);

    // A real reply from the address: it is read again.
    let back = Understanding { from: Some("compta@c1.example".into()), intent: Intent::Other, ..Default::default() };
    handle(&store, &t, 2, back);
    assert!(store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap().is_empty());
}

#[test]
fn a_bounce_naming_nobody_marks_the_reminders_only_address_and_with_none_left_a_task_is_opened() {
    let (_dir, store, t) = store();
    import(&store, &t, "C1", &["ap@c1.example"]);
    import(&store, &t, "C2", &["a@c2.example", "b@c2.example"]);
    let (_, token) = reminder(&store, &t, "C1", "courteous");
    handle(&store, &t, 1, bounce(Some(&token), vec![]));
    let dead = store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap();
    assert_eq!(dead.iter().map(|c| c.address.as_str()).collect::<Vec<_>>(), ["ap@c1.example"]);
    // Two addresses, a report naming neither: nothing is guessed, only the task.
    let (_, token2) = reminder(&store, &t, "C2", "courteous");
    handle(&store, &t, 2, bounce(Some(&token2), vec![]));
    assert_eq!(store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap().len(), 1);
    let tasks = store.tasks(&t, None, 10).unwrap();
    assert_eq!(tasks.iter().filter(|x| x.kind == TaskKind::Contact).count(), 2, "{tasks:?}");

    // C1's reminder: no address left, the item says why; the contact task is opened once.
    let c = store.claim_outbox(&t, TODAY, chrono::Utc::now(), 10).unwrap();
    let item = c.items.iter().find(|i| i.customer_id == "C1").cloned().unwrap();
    assert!(item.emails.is_empty());
    assert_eq!(item.undeliverable, ["ap@c1.example (bounced)"]);
    let task = store.open_contact_task(&t, &item).unwrap();
    assert_eq!(store.open_contact_task(&t, &item).unwrap(), task, "keyed by the outbox row");
    let note = store.tasks(&t, None, 10).unwrap().into_iter().find(|x| x.id == task).unwrap().note;
    assert!(note.starts_with("no deliverable e-mail address left for C1: reminder `courteous` about F-C1"), "{note}");
    assert!(note.contains("undeliverable: ap@c1.example (bounced)"), "{note}");
}

#[test]
fn a_bounce_without_a_reminder_finds_the_customer_by_the_failed_address() {
    let (_dir, store, t) = store();
    import(&store, &t, "C1", &["ap@c1.example", "dg@c1.example"]);
    handle(&store, &t, 1, bounce(None, vec![failed("dg@c1.example", "5.2.1")]));
    let dead = store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap();
    assert_eq!(
        dead.iter().map(|c| (c.customer_id.as_deref(), c.address.as_str())).collect::<Vec<_>>(),
        [(Some("C1"), "dg@c1.example")]
    );
    // A delayed recipient is no failure: nothing marked.
    let delayed = RecipientReport {
        action: DsnAction::Delayed,
        status: Some("4.4.1".into()),
        ..failed("ap@c1.example", "4.4.1")
    };
    handle(&store, &t, 2, bounce(None, vec![delayed]));
    assert_eq!(store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap().len(), 1);
}

#[test]
fn an_out_of_office_with_a_return_date_makes_the_customer_away_when_no_other_address_is_reachable() {
    let (_dir, store, t) = store();
    import(&store, &t, "C1", &["ap@c1.example"]);
    import(&store, &t, "C2", &["a@c2.example", "b@c2.example"]);
    let back = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
    let ooo = |from: &str| Understanding {
        from: Some(from.into()),
        intent: Intent::AutoReply,
        auto_reply: Some(AutoKind::OutOfOffice),
        back_on: Some(back),
        ..Default::default()
    };
    let m1 = handle(&store, &t, 1, ooo("AP@c1.example"));
    handle(&store, &t, 2, ooo("a@c2.example"));
    // Without a date, nothing is recorded.
    handle(&store, &t, 3, Understanding { back_on: None, ..ooo("b@c2.example") });
    let states = store.dunning_states(&t).unwrap();
    let away = |c: &str| states.iter().find(|s| s.customer_id == c).unwrap().away.clone();
    let a = away("C1").expect("C1's only address is away");
    assert_eq!((a.address.as_str(), a.until), ("ap@c1.example", back));
    assert_eq!(a.reason, format!("out-of-office reply, message {m1}"));
    assert_eq!(away("C2"), None, "b@c2.example can still be reached");
    // By customer, then address.
    let listed = store.contacts(&t, TODAY, Some(ContactState::Away), 100).unwrap();
    assert_eq!(listed.iter().map(|c| c.address.as_str()).collect::<Vec<_>>(), ["ap@c1.example", "a@c2.example"]);
    assert_eq!(listed[0].away.as_ref().map(|a| (a.until, a.message)), Some((back, Some(m1))));
    // After the return day the API says ok (the row stays, for the engine's why).
    let later = back.succ_opt().unwrap();
    assert!(store.contacts(&t, later, Some(ContactState::Away), 100).unwrap().is_empty());
    // The other address bounces: C2's only reachable address is away now.
    handle(&store, &t, 4, bounce(None, vec![failed("b@c2.example", "5.1.1")]));
    assert_eq!(
        store
            .dunning_states(&t)
            .unwrap()
            .iter()
            .find(|s| s.customer_id == "C2")
            .unwrap()
            .away
            .as_ref()
            .map(|a| a.until),
        Some(back)
    );
    // A real reply from C1 clears the absence.
    handle(
        &store,
        &t,
        5,
        Understanding { from: Some("ap@c1.example".into()), intent: Intent::PromiseToPay, ..Default::default() },
    );
    assert_eq!(store.dunning_states(&t).unwrap().iter().find(|s| s.customer_id == "C1").unwrap().away, None);
}

#[test]
fn addresses_are_marked_listed_and_cleared_alike_on_both_databases() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in super::holds_tests::seeded_both(dir.path()) {
        let now = "2026-11-24T09:00:00.000Z";
        let back = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let (away, foreign_away, marked) = store
            .db
            .write_any(|db| {
                // The replies that said so (storing messages is not ported yet).
                let mut ids = Vec::new();
                for uid in [1, 2] {
                    let id: i64 = db
                        .query_one(
                            "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                                           status, created_at, updated_at)
                             VALUES ('t', 'mail', 'INBOX', 1, ?1, ?2, 10, '/m', 'handled', ?3, ?3) RETURNING id",
                            crate::db::args![uid, format!("sha{uid}"), now],
                        )?
                        .get(0)?;
                    ids.push(id);
                }
                let away = crate::contacts::record_away(db, "t", ids[0], Some("C1"), Some(" AP@c1.example "), back, now)?;
                let foreign = crate::contacts::record_away(db, "t", ids[0], Some("C1"), Some("ap@c2.example"), back, now)?;
                let u = bounce(None, vec![failed("ap@c2.example", "5.1.1"), failed("x@elsewhere.test", "5.1.1")]);
                let marked = crate::contacts::mark_undeliverable(db, "t", ids[1], &u, Some("C2"), None, now)?;
                Ok((away, foreign, marked))
            })
            .unwrap();
        assert!(away && !foreign_away, "only the customer's own address is recorded away");
        assert_eq!(marked, (vec!["ap@c2.example".to_string()], vec!["x@elsewhere.test".to_string()]));

        let listed = store.contacts(&t, TODAY, None, 100).unwrap();
        let states: Vec<(Option<&str>, &str, ContactState)> =
            listed.iter().map(|c| (c.customer_id.as_deref(), c.address.as_str(), c.status)).collect();
        assert_eq!(
            states,
            [
                (Some("C1"), "ap@c1.example", ContactState::Away),
                (Some("C2"), "ap@c2.example", ContactState::Undeliverable)
            ]
        );
        assert_eq!(listed[1].undeliverable.as_ref().and_then(|u| u.status_code.as_deref()), Some("5.1.1"));
        let after =
            store.contacts(&t, TODAY, None, Window { limit: 10, after: Some(listed[0].cursor()), offset: 0 }).unwrap();
        assert_eq!(after.len(), 1);
        let emails = HashMap::from([
            ("C1".to_string(), vec!["ap@c1.example".to_string()]),
            ("C2".to_string(), vec!["ap@c2.example".to_string()]),
        ]);
        let (by_customer, dead) = store
            .db
            .read_any(|db| {
                Ok((crate::contacts::away_by_customer(db, "t", &emails)?, crate::contacts::undeliverable(db, "t")?))
            })
            .unwrap();
        assert_eq!(by_customer.get("C1").map(|a| a.until), Some(back));
        assert!(!by_customer.contains_key("C2"), "an undeliverable address is not away");
        assert_eq!(dead.get("ap@c2.example"), Some(&Some("5.1.1".to_string())));

        let cleared = store.db.write_any(|db| crate::contacts::clear(db, "t", "AP@C2.example")).unwrap();
        assert!(cleared);
        assert!(store.contacts(&t, TODAY, Some(ContactState::Undeliverable), 100).unwrap().is_empty());
    }
}
