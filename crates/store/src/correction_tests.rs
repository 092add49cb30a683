//! Corrections of replies: stored with what they replaced and who made them,
//! the wrong reading's actions undone and the right one's done, idempotent,
//! validated; tenant models stored by version and their overlay cached.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_domain::{CustomerRecord, InvoiceRecord};
use relance_engine::replies::{Intent, Understanding};

const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();

/// Stores on each database with C1's open invoices F-1 and F-2.
fn setups(dir: &tempfile::TempDir) -> Vec<(Store, Option<crate::postgres::Scratch>, TenantId)> {
    let records = ["F-1", "F-2"]
        .iter()
        .map(|n| InvoiceRecord {
            number: (*n).into(),
            customer: CustomerRecord {
                id: "C1".into(),
                name: "Client".into(),
                emails: vec!["ap@c1.example".into()],
                ..Default::default()
            },
            issue_date: NaiveDate::from_ymd_opt(2026, 10, 1),
            due_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            total: Money::new(10_000, Currency::EUR),
            open: Money::new(10_000, Currency::EUR),
            status: None,
        })
        .collect::<Vec<_>>();
    let stores = super::reply_tests::stores(dir);
    for (store, _, t) in &stores {
        super::reply_tests::write_invoices(store, t, &records);
    }
    stores
}

/// A reply from C1 read as `u`, handled; its id.
fn reply(store: &Store, t: &TenantId, uid: u32, u: Understanding) -> i64 {
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    let id = store.store_messages(t, &[(slot, format!("sha{uid}"), 10, format!("/m{uid}"))]).unwrap()[0];
    let status = if u.intent == Intent::Other { MessageStatus::Review } else { MessageStatus::Handled };
    store.handle_messages(t, TODAY, &[HandleRequest { id, status, understanding: Some(u), error: None }]).unwrap();
    id
}

fn read_as(intent: Intent, refs: &[&str]) -> Understanding {
    Understanding {
        intent,
        from: Some("ap@c1.example".into()),
        subject: Some("RE: Relance".into()),
        confidence: 0.8,
        refs: refs.iter().map(|r| r.to_string()).collect(),
        new_text: "the customer's words".into(),
        ..Default::default()
    }
}

fn correction(by: &str, intent: Intent, invoices: Option<&[&str]>) -> CorrectionInput {
    CorrectionInput {
        by: by.into(),
        intent,
        promised_date: None,
        amount: None,
        currency: None,
        invoices: invoices.map(|i| i.iter().map(|n| n.to_string()).collect()),
        comment: Some("read it again".into()),
    }
}

fn count(store: &Store, sql: &str) -> i64 {
    store.db.read_any(|db| db.query_one(sql, crate::db::args![])?.get(0)).unwrap()
}

fn disputed(store: &Store, t: &TenantId, number: &str) -> bool {
    store.dunning_states(t).unwrap().iter().flat_map(|s| &s.invoices).any(|i| i.number == number && i.disputed)
}

#[test]
fn a_misread_promise_corrected_to_a_dispute_is_cancelled_and_the_invoice_disputed() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in setups(&dir) {
        let promise = Understanding {
            promised_date: NaiveDate::from_ymd_opt(2026, 12, 4),
            ..read_as(Intent::PromiseToPay, &["F-1"])
        };
        let id = reply(&store, &t, 1, promise);
        assert_eq!(store.promises(&t, Some(PromiseStatus::Pending), 10).unwrap().len(), 1);
        assert!(!disputed(&store, &t, "F-1"));

        let out = store.correct_reply(&t, id, "api:t", &correction("Alice", Intent::Dispute, Some(&["f-1"])), TODAY);
        let out = out.unwrap().unwrap();
        assert!(out.changed && !out.correction.confirmed);
        assert_eq!(out.correction.reading.invoices, vec!["F-1".to_string()], "the stored number");
        assert_eq!(out.correction.previous.intent, Intent::PromiseToPay);
        assert_eq!(out.correction.previous.promised_date, NaiveDate::from_ymd_opt(2026, 12, 4));
        assert_eq!(out.correction.by, "Alice");
        assert!(out.undone.iter().any(|u| u.contains("cancelled")), "{:?}", out.undone);
        // The promise no longer pauses reminders; the dispute stops them.
        let promises = store.promises(&t, None, 10).unwrap();
        assert_eq!(promises.len(), 1);
        assert_eq!(promises[0].status, PromiseStatus::Cancelled);
        assert!(store.dunning_states(&t).unwrap().iter().all(|s| s.promise.is_none()));
        assert!(disputed(&store, &t, "F-1"));
        assert!(!disputed(&store, &t, "F-2"));
        let tasks = store.tasks(&t, Some(TaskStatus::Open), 10).unwrap();
        assert_eq!(tasks.iter().map(|x| x.kind).collect::<Vec<_>>(), vec![TaskKind::Dispute]);
        // The message now says dispute, the original reading is kept in the correction.
        let detail = store.message(&t, id).unwrap().unwrap();
        assert_eq!(detail.message.intent, Some(Intent::Dispute));
        assert_eq!(detail.message.status, MessageStatus::Handled);
        assert_eq!(detail.corrections.len(), 1);
        let original: String = store
            .db
            .read_any(|db| {
                db.query_one("SELECT previous_understanding FROM reply_corrections", crate::db::args![])?.get(0)
            })
            .unwrap();
        assert!(original.contains("\"promise_to_pay\"") && original.contains("2026-12-04"), "{original}");
        // Audited with the person.
        let events = store.events(&t, 0, 1000).unwrap();
        let corrected: Vec<_> = events.iter().filter(|e| e.kind == "reply_corrected").collect();
        assert_eq!(corrected.len(), 1);
        assert_eq!(corrected[0].data["by"], "Alice");
        assert_eq!(corrected[0].actor, "api:t");
        assert_eq!(corrected[0].data["from"]["intent"], "promise_to_pay");
        assert_eq!(corrected[0].data["to"]["intent"], "dispute");
        assert_eq!(events.iter().filter(|e| e.kind == "promise_cancelled").count(), 1);

        // The same correction again changes nothing.
        let n_events = events.len();
        let again = store
            .correct_reply(&t, id, "api:t", &correction("Bob", Intent::Dispute, Some(&["F-1"])), TODAY)
            .unwrap()
            .unwrap();
        assert!(!again.changed);
        assert_eq!(again.correction.id, out.correction.id);
        assert_eq!(store.events(&t, 0, 1000).unwrap().len(), n_events);
        assert_eq!(count(&store, "SELECT count(*) FROM reply_corrections"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM tasks"), 1);
    }
}

#[test]
fn a_misread_dispute_corrected_to_other_undisputes_and_closes_its_task() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in setups(&dir) {
        let id = reply(&store, &t, 1, read_as(Intent::Dispute, &["F-1", "F-2"]));
        // Another reply disputes F-2 too.
        reply(&store, &t, 2, read_as(Intent::Dispute, &["F-2"]));
        assert!(disputed(&store, &t, "F-1") && disputed(&store, &t, "F-2"));
        let out = store
            .correct_reply(&t, id, "api:t", &correction("Alice", Intent::Other, Some(&[])), TODAY)
            .unwrap()
            .unwrap();
        assert!(!disputed(&store, &t, "F-1"), "undisputed: reminders resume");
        assert!(disputed(&store, &t, "F-2"), "still disputed by the other reply");
        assert_eq!(count(&store, "SELECT count(*) FROM invoices WHERE number='F-1' AND status='open'"), 1);
        assert!(out.undone.iter().any(|u| u.contains("F-2 stays disputed")), "{:?}", out.undone);
        let tasks = store.tasks(&t, None, 10).unwrap();
        let first: Vec<_> = tasks.iter().filter(|x| x.message_id == Some(id)).collect();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].status, TaskStatus::Done);
        assert!(first[0].note.contains("corrected to other by Alice"), "{}", first[0].note);
        // Corrected back to a dispute of F-1: disputed again, a new task.
        store
            .correct_reply(&t, id, "api:t", &correction("Bob", Intent::Dispute, Some(&["F-1"])), TODAY)
            .unwrap()
            .unwrap();
        assert!(disputed(&store, &t, "F-1"));
        assert_eq!(store.message(&t, id).unwrap().unwrap().corrections.len(), 2);
        assert_eq!(count(&store, &format!("SELECT count(*) FROM tasks WHERE message_id={id} AND status='open'")), 1);
    }
}

#[test]
fn a_confirmation_is_recorded_once_and_does_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in setups(&dir) {
        let id = reply(&store, &t, 1, read_as(Intent::Dispute, &["F-1"]));
        let before = count(&store, "SELECT count(*) FROM tasks");
        let input = correction("Alice", Intent::Dispute, None);
        let out = store.correct_reply(&t, id, "api:t", &input, TODAY).unwrap().unwrap();
        assert!(out.changed && out.correction.confirmed && out.undone.is_empty() && out.actions.is_empty());
        assert!(disputed(&store, &t, "F-1"));
        assert_eq!(count(&store, "SELECT count(*) FROM tasks"), before);
        assert!(!store.correct_reply(&t, id, "api:t", &input, TODAY).unwrap().unwrap().changed);
        assert_eq!(count(&store, "SELECT count(*) FROM reply_corrections"), 1);
    }
}

#[test]
fn bad_corrections_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in setups(&dir) {
        let id = reply(&store, &t, 1, read_as(Intent::Other, &[]));
        let refused = |input: &CorrectionInput, msg: i64| store.correct_reply(&t, msg, "api:t", input, TODAY).unwrap();
        assert_eq!(refused(&correction("Alice", Intent::Dispute, None), 999), Err(CorrectionRefusal::NotFound(999)));
        assert!(matches!(
            refused(&correction("Alice", Intent::Dispute, Some(&["F-9"])), id),
            Err(CorrectionRefusal::Invalid(m)) if m.contains("unknown invoice `F-9`")
        ));
        assert!(matches!(refused(&correction(" ", Intent::Dispute, None), id), Err(CorrectionRefusal::Invalid(_))));
        let no_currency =
            CorrectionInput { amount: Some("12.50".into()), ..correction("Alice", Intent::PromiseToPay, None) };
        assert!(matches!(refused(&no_currency, id), Err(CorrectionRefusal::Invalid(m)) if m.contains("currency")));
        let bad_amount = CorrectionInput {
            amount: Some("12,5x".into()),
            ..correction("Alice", Intent::PromiseToPay, Some(&["F-1"]))
        };
        assert!(matches!(refused(&bad_amount, id), Err(CorrectionRefusal::Invalid(_))));
        // A message not understood yet.
        let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 9 };
        let stored = store.store_messages(&t, &[(slot, "sha9".into(), 10, "/m9".into())]).unwrap()[0];
        assert!(matches!(
            refused(&correction("Alice", Intent::Dispute, None), stored),
            Err(CorrectionRefusal::Conflict(_))
        ));
        assert_eq!(count(&store, "SELECT count(*) FROM reply_corrections"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM audit_events WHERE kind='reply_corrected'"), 0);
        // A promise with its amount: the invoice's currency, exact minor units.
        let good = CorrectionInput {
            amount: Some("1200.50".into()),
            promised_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            ..correction("Alice", Intent::PromiseToPay, Some(&["F-1"]))
        };
        let out = refused(&good, id).unwrap();
        assert_eq!(out.correction.reading.amount.as_deref(), Some("1200.50"));
        assert_eq!(count(&store, "SELECT amount_minor FROM reply_corrections"), 120_050);
        let p = &store.promises(&t, Some(PromiseStatus::Pending), 10).unwrap()[0];
        assert_eq!((p.amount.as_deref(), p.currency.as_deref()), (Some("1200.50"), Some("EUR")));
        assert_eq!(p.promised_date, NaiveDate::from_ymd_opt(2026, 12, 1));
    }
}

#[test]
fn samples_models_and_the_overlay_cache_follow_versions() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in setups(&dir) {
        let a = reply(&store, &t, 1, read_as(Intent::Other, &[]));
        let b = reply(&store, &t, 2, read_as(Intent::Other, &[]));
        store.correct_reply(&t, a, "api:t", &correction("Alice", Intent::Dispute, None), TODAY).unwrap().unwrap();
        store.correct_reply(&t, b, "api:t", &correction("Alice", Intent::PromiseToPay, None), TODAY).unwrap().unwrap();
        store.correct_reply(&t, a, "api:t", &correction("Alice", Intent::AlreadyPaid, None), TODAY).unwrap().unwrap();
        let samples = store.correction_samples(&t).unwrap();
        let got: Vec<(i64, Intent)> = samples.iter().map(|s| (s.message_id, s.intent)).collect();
        assert_eq!(got, vec![(b, Intent::PromiseToPay), (a, Intent::AlreadyPaid)], "the latest correction per message");
        assert_eq!(samples[0].raw_path, "/m2");
        let last = store.last_correction(&t).unwrap().unwrap();

        assert!(store.reply_model(&t).unwrap().is_none());
        assert!(store.reply_overlay(&t).unwrap().is_none());
        let mut overlay = relance_engine::replies::model::Model { version: "t-1".into(), ..Default::default() };
        overlay.weights.insert("w:feu".into(), [0.5; relance_engine::replies::model::CLASSES]);
        let m = NewReplyModel {
            examples: 2,
            corrections_through: last,
            accuracy: 1.0,
            shipped_accuracy: 0.5,
            overlay: overlay.to_text(),
        };
        assert_eq!(store.record_reply_model(&t, &m).unwrap(), 1);
        assert_eq!(store.record_reply_model(&t, &m).unwrap(), 1, "same corrections: same version");
        let first = store.reply_overlay(&t).unwrap().unwrap();
        assert_eq!(first.version, "t-1");
        assert!(std::sync::Arc::ptr_eq(&first, &store.reply_overlay(&t).unwrap().unwrap()), "cached");
        overlay.version = "t-2".into();
        let v2 = NewReplyModel { corrections_through: last + 1, overlay: overlay.to_text(), ..m };
        assert_eq!(store.record_reply_model(&t, &v2).unwrap(), 2);
        assert_eq!(store.reply_overlay(&t).unwrap().unwrap().version, "t-2", "reloaded on a new version");
        let view = store.reply_model(&t).unwrap().unwrap();
        assert_eq!((view.version, view.examples, view.features), (2, 2, 1));
        assert!(store.reply_overlay(&TenantId::new("other").unwrap()).unwrap().is_none());
    }
}
