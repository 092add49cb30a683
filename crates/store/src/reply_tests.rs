//! The reply side of the store: typed understanding stored with its version
//! and read back, state columns refused outside their enums, the day of
//! handling given by the caller, and the migration of older databases.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_domain::{CustomerRecord, InvoiceRecord};
use relance_engine::replies::{AutoKind, Intent, Understanding};

const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

fn invoice(number: &str, customer: &str, email: &str) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord {
            id: customer.into(),
            name: customer.into(),
            emails: vec![email.into()],
            ..Default::default()
        },
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        total: Money::new(10_000, Currency::EUR),
        open: Money::new(10_000, Currency::EUR),
        status: None,
    }
}

fn import(store: &Store, t: &TenantId, records: Vec<InvoiceRecord>) {
    write_invoices(store, t, &records);
}

/// Open invoices and their customers written row by row, on either
/// database (importing is not ported to PostgreSQL yet).
pub(crate) fn write_invoices(store: &Store, t: &TenantId, records: &[InvoiceRecord]) {
    store
        .db
        .write_any(|db| {
            for r in records {
                db.execute(
                    "INSERT INTO customers (tenant_id, id, name, emails, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (tenant_id, id) DO NOTHING",
                    crate::db::args![
                        t.as_str(),
                        r.customer.id,
                        r.customer.name,
                        serde_json::to_string(&r.customer.emails).unwrap_or_default(),
                        now_text()
                    ],
                )?;
                db.execute(
                    "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total_minor,
                                           open_minor, erp_open_minor, status, source, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 'open', 'erp', ?9, ?9)",
                    crate::db::args![
                        t.as_str(),
                        r.number,
                        r.customer.id,
                        r.issue_date.map(|d| d.to_string()),
                        r.due_date.to_string(),
                        r.total.currency.code(),
                        r.total.minor,
                        r.open.minor,
                        now_text()
                    ],
                )?;
            }
            Ok(())
        })
        .unwrap();
}

/// Empty stores on each database (see [`crate::db::both_backends`]), tenant `t`.
pub(crate) fn stores(dir: &tempfile::TempDir) -> Vec<(Store, Option<crate::postgres::Scratch>, TenantId)> {
    crate::db::both_backends(dir.path())
        .into_iter()
        .map(|(s, scratch)| (s, scratch, TenantId::new("t").unwrap()))
        .collect()
}

/// Stored messages with uids `uids`; their ids.
fn stored(store: &Store, t: &TenantId, uids: std::ops::RangeInclusive<u32>) -> Vec<i64> {
    let rows: Vec<_> = uids
        .map(|uid| {
            let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
            (slot, format!("sha{uid}"), 10, format!("/m{uid}"))
        })
        .collect();
    store.store_messages(t, &rows).unwrap()
}

fn said(intent: Intent, from: &str) -> Understanding {
    Understanding {
        intent,
        from: Some(from.into()),
        subject: Some("RE: Relance".into()),
        message_id: Some("m1@client.example".into()),
        confidence: 0.875,
        new_text: "the customer's words".into(),
        ..Default::default()
    }
}

fn handled(id: i64, u: Understanding) -> HandleRequest {
    HandleRequest { id, status: MessageStatus::Handled, understanding: Some(u), error: None }
}

/// A credit waiting for review, booked on `booked`.
fn review_credit(store: &Store, t: &TenantId, key: &str, minor: i64, booked: NaiveDate) -> i64 {
    let p = NewPayment {
        dedupe_key: key.into(),
        account: None,
        line: relance_domain::BankLine {
            remittance: Some("virement".into()),
            ..relance_domain::BankLine::credit(booked, Money::new(minor, Currency::EUR))
        },
    };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(t).unwrap().into_iter().find(|p| p.line.booking_date == booked).unwrap().id;
    let nothing = relance_engine::matching::MatchResult {
        status: relance_engine::matching::MatchStatus::Unmatched,
        candidates: vec![],
        decision: vec!["no candidate".into()],
    };
    store.set_payment_review(t, pid, relance_domain::PaymentStatus::Unmatched, &nothing).unwrap();
    pid
}

fn sql_error(store: &Store, sql: &str) -> String {
    match store.db.write(|tx| Ok(tx.execute_batch(sql)?)) {
        Ok(()) => panic!("accepted: {sql}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_understanding_is_stored_with_its_version_and_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in stores(&dir) {
        import(&store, &t, vec![invoice("F-1", "C1", "ap@c1.example")]);
        let ids = stored(&store, &t, 1..=3);
        let u = Understanding {
            promised_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            refs: vec!["F-1".into()],
            ..said(Intent::PromiseToPay, "ap@c1.example")
        };
        let unreadable = HandleRequest {
            id: ids[1],
            status: MessageStatus::Quarantined,
            understanding: None,
            error: Some("not an e-mail message".into()),
        };
        let odd = Understanding { problems: vec!["broken MIME".into()], ..said(Intent::Dispute, "x@y.example") };
        let odd =
            HandleRequest { id: ids[2], status: MessageStatus::Quarantined, understanding: Some(odd), error: None };
        store.handle_messages(&t, TODAY, &[handled(ids[0], u.clone()), unreadable, odd.clone()]).unwrap();

        let versions: Vec<(Option<i64>, Option<String>)> = store
            .db
            .read_any(|db| {
                db.query("SELECT understanding_version, intent FROM inbound_messages ORDER BY id", crate::db::args![])?
                    .iter()
                    .map(|r| Ok((r.get(0)?, r.get(1)?)))
                    .collect()
            })
            .unwrap();
        assert_eq!(
            versions,
            [(Some(1), Some("promise_to_pay".into())), (Some(1), None), (Some(1), Some("dispute".into()))]
        );

        let page = store.messages(&t, &[], 10).unwrap();
        let by_id = |id| page.items.iter().find(|m| m.id == id).unwrap();
        let first = by_id(ids[0]);
        assert_eq!((first.status, first.intent), (MessageStatus::Handled, Some(Intent::PromiseToPay)));
        assert_eq!(first.understanding, Some(UnderstandingView::Understood(Box::new(u))));
        assert_eq!((first.from.as_deref(), first.subject.as_deref()), (Some("ap@c1.example"), Some("RE: Relance")));
        // Nothing read: `{}`, as the API always showed it.
        let second = by_id(ids[1]);
        assert_eq!((second.status, second.intent), (MessageStatus::Quarantined, None));
        assert_eq!(second.understanding, Some(UnderstandingView::Unread(Unread {})));
        assert_eq!(serde_json::to_value(second).unwrap()["understanding"], serde_json::json!({}));
        let third = by_id(ids[2]);
        assert_eq!(third.understanding, odd.understanding.map(|u| UnderstandingView::Understood(Box::new(u))));
        // The API's filter is typed too.
        let review = store.messages(&t, &[MessageStatus::Quarantined], 10).unwrap();
        assert_eq!(review.total, 2);
        // A quarantined message leads to nothing.
        assert_eq!(store.promises(&t, None, 10).unwrap().len(), 1);
        assert!(store.tasks(&t, None, 10).unwrap().is_empty());
    }
}

#[test]
fn a_document_of_an_unknown_version_or_shape_reads_as_nothing_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in stores(&dir) {
        let ids = stored(&store, &t, 1..=2);
        store.handle_messages(&t, TODAY, &[handled(ids[0], said(Intent::Other, "a@b.example"))]).unwrap();
        store.handle_messages(&t, TODAY, &[handled(ids[1], said(Intent::Other, "a@b.example"))]).unwrap();
        store
            .db
            .write_any(|db| {
                db.execute(
                    "UPDATE inbound_messages SET understanding_version=2 WHERE id=?1",
                    crate::db::args![ids[0]],
                )?;
                db.execute(
                    "UPDATE inbound_messages SET understanding='{\"intent\":\"other\"}' WHERE id=?1",
                    crate::db::args![ids[1]],
                )?;
                Ok(())
            })
            .unwrap();
        let page = store.messages(&t, &[], 10).unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(page.items.iter().all(|m| m.understanding.is_none() && m.intent == Some(Intent::Other)), "{page:?}");
    }
}

#[test]
fn state_columns_refuse_values_outside_their_enums() {
    let (_dir, store, t) = store();
    let ids = stored(&store, &t, 1..=1);
    store.handle_messages(&t, TODAY, &[handled(ids[0], said(Intent::Dispute, "a@b.example"))]).unwrap();
    let promise = "INSERT INTO promises (tenant_id, invoice_numbers, status, created_at, updated_at)
                   VALUES ('t', '[]', '{}', 'x', 'x')";
    store.db.write(|tx| Ok(tx.execute_batch(&promise.replace("{}", "pending"))?)).unwrap();
    for bad in [
        "UPDATE inbound_messages SET status='done'".to_string(),
        "UPDATE inbound_messages SET status='Handled'".into(),
        "UPDATE inbound_messages SET intent='maybe'".into(),
        "UPDATE inbound_messages SET understanding_version=NULL".into(),
        "UPDATE inbound_messages SET understanding=NULL".into(),
        promise.replace("{}", "overdue"),
        "UPDATE promises SET status='PENDING'".into(),
        "UPDATE tasks SET status='closed'".into(),
        "UPDATE tasks SET kind='lunch'".into(),
    ] {
        let e = sql_error(&store, &bad);
        assert!(e.contains("CHECK constraint failed"), "{bad}: {e}");
    }
    // Every value of the enums is accepted.
    for s in MessageStatus::ALL {
        store.db.write(|tx| Ok(tx.execute("UPDATE inbound_messages SET status=?1", [s.as_str()])?)).unwrap();
    }
    for s in PromiseStatus::ALL {
        store.db.write(|tx| Ok(tx.execute("UPDATE promises SET status=?1", [s.as_str()])?)).unwrap();
    }
    for (k, s) in TaskKind::ALL.iter().zip(TaskStatus::ALL.iter().cycle()) {
        store.db.write(|tx| Ok(tx.execute("UPDATE tasks SET kind=?1, status=?2", [k.as_str(), s.as_str()])?)).unwrap();
    }
    for i in Intent::ALL {
        store.db.write(|tx| Ok(tx.execute("UPDATE inbound_messages SET intent=?1", [i.as_str()])?)).unwrap();
    }
}

#[test]
fn a_payment_claim_is_checked_against_credits_of_the_last_120_days_before_the_day_given() {
    let (_dir, store, t) = store();
    import(&store, &t, vec![invoice("F-1", "C1", "ap@c1.example")]);
    let day = |d: u64| TODAY - chrono::Days::new(d);
    let old = review_credit(&store, &t, "old", 10_000, day(121));
    let recent = review_credit(&store, &t, "recent", 10_000, day(120));
    let ids = stored(&store, &t, 1..=2);
    let claim = Understanding { refs: vec!["F-1".into()], ..said(Intent::AlreadyPaid, "ap@c1.example") };
    store.handle_messages(&t, TODAY, &[handled(ids[0], claim.clone())]).unwrap();
    let tasks = store.tasks(&t, None, 10).unwrap();
    assert_eq!(tasks[0].kind, TaskKind::CheckPayment);
    assert!(tasks[0].note.ends_with(&format!("[{recent}]")), "{} (old credit {old})", tasks[0].note);
    // Handled a day later, the recent credit is out of the window too.
    store.handle_messages(&t, TODAY + chrono::Days::new(1), &[handled(ids[1], claim)]).unwrap();
    let tasks = store.tasks(&t, None, 10).unwrap();
    assert_eq!((tasks[0].kind, tasks[0].invoices.as_slice()), (TaskKind::AwaitingProof, &["F-1".to_string()][..]));
}

#[test]
fn every_intent_is_carried_out_with_its_rows_and_audit_events() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in stores(&dir) {
        import(&store, &t, vec![invoice("F-1", "C1", "ap@c1.example"), invoice("F-2", "C2", "ap@c2.example")]);
        let ids = stored(&store, &t, 1..=6);
        let refs = |u: Understanding, r: &str| Understanding { refs: vec![r.into()], ..u };
        let batch = [
            handled(ids[0], refs(said(Intent::Dispute, "ap@c1.example"), "f-1")),
            handled(ids[1], said(Intent::PaymentPlanRequest, "ap@c2.example")),
            handled(ids[2], refs(said(Intent::InvoiceCopyRequest, "ap@c2.example"), "F-2")),
            handled(
                ids[3],
                Understanding {
                    auto_reply: Some(AutoKind::OutOfOffice),
                    back_on: NaiveDate::from_ymd_opt(2026, 12, 1),
                    ..said(Intent::AutoReply, "ap@c1.example")
                },
            ),
            handled(
                ids[4],
                Understanding {
                    auto_reply: Some(AutoKind::DeliveryFailure),
                    ..said(Intent::AutoReply, "mailer-daemon@x.example")
                },
            ),
            HandleRequest { status: MessageStatus::Review, ..handled(ids[5], said(Intent::Other, "ap@c2.example")) },
        ];
        store.handle_messages(&t, TODAY, &batch).unwrap();
        let mut tasks: Vec<(TaskKind, Option<String>)> =
            store.tasks(&t, Some(TaskStatus::Open), 10).unwrap().into_iter().map(|x| (x.kind, x.customer_id)).collect();
        tasks.sort_by_key(|x| x.0.as_str());
        assert_eq!(
            tasks,
            [
                (TaskKind::Contact, None),
                (TaskKind::Dispute, Some("C1".into())),
                (TaskKind::PaymentPlan, Some("C2".into()))
            ]
        );
        let events = store.events(&t, 0, 1000).unwrap();
        let of = |kind: &str| events.iter().filter(|e| e.kind == kind).collect::<Vec<_>>();
        assert_eq!(of("invoice_disputed").len(), 1);
        assert_eq!(of("invoice_disputed")[0].subject, "invoice:F-1");
        let copy = &of("invoice_copy_requested")[0].data;
        assert_eq!(copy, &serde_json::json!({ "customer": "C2", "invoices": ["F-2"], "to": "ap@c2.example" }));
        assert_eq!(of("contact_undeliverable").len(), 1);
        let received = of("reply_received");
        assert_eq!(received.len(), 6);
        let actions: Vec<String> =
            received.iter().map(|e| e.data["actions"][0].as_str().unwrap().to_string()).collect();
        assert_eq!(
            actions,
            [
                "invoices disputed: [\"F-1\"]; dispute task opened",
                "payment-plan task opened",
                "copy of the invoice requested (for the outbound side)",
                "automatic reply, no action (back on 2026-12-01)",
                "contact flagged undeliverable",
                "for review",
            ]
        );
        assert_eq!(received[0].data["disputed"], serde_json::json!(["F-1"]));
        assert_eq!(received[5].data["status"], "review");
    }
}

#[test]
fn a_database_from_before_reads_its_messages_as_version_1_and_keeps_its_promises_and_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let understood = Understanding {
        promised_date: NaiveDate::from_ymd_opt(2026, 12, 1),
        ..said(Intent::PromiseToPay, "ap@c1.example")
    };
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../migrations/sqlite/0001_foundation.sql"),
            include_str!("../migrations/sqlite/0002_cash_application.sql"),
            include_str!("../migrations/sqlite/0003_inbound_messages.sql"),
            include_str!("../migrations/sqlite/0004_outbox.sql"),
            include_str!("../migrations/sqlite/0005_delivery.sql"),
            include_str!("../migrations/sqlite/0006_held_imports.sql"),
            include_str!("../migrations/sqlite/0007_paid_stays_paid.sql"),
        ] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 7).unwrap();
        let at = "2026-11-02T10:00:00.000Z";
        let insert =
            "INSERT INTO inbound_messages (id, tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                              status, intent, understanding, created_at, updated_at)
                      VALUES (?1, 't', 'mail', 'INBOX', 1, ?1, 'sha', 10, '/m', ?2, ?3, ?4, ?5, ?5)";
        let json = serde_json::to_string(&understood).unwrap();
        c.execute(insert, rusqlite::params![1, "handled", "promise_to_pay", json, at]).unwrap();
        c.execute(insert, rusqlite::params![2, "quarantined", None::<String>, "{}", at]).unwrap();
        c.execute(insert, rusqlite::params![3, "stored", None::<String>, None::<String>, at]).unwrap();
        c.execute(
            "INSERT INTO promises (tenant_id, customer_id, message_id, invoice_numbers, promised_date, status, created_at, updated_at)
             VALUES ('t', 'C1', 1, '[\"F-1\"]', '2026-12-01', 'lapsed', ?1, ?1)",
            [at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
             VALUES ('t', 'dispute', 'C1', 1, '[\"F-1\"]', 'customer disputes F-1', 'open', ?1, ?1)",
            [at],
        )
        .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    let page = store.messages(&t, &[], 10).unwrap();
    let view = |id| page.items.iter().find(|m| m.id == id).unwrap();
    assert_eq!(view(1).understanding, Some(UnderstandingView::Understood(Box::new(understood))));
    assert_eq!(view(2).understanding, Some(UnderstandingView::Unread(Unread {})));
    assert_eq!((view(3).status, view(3).understanding.as_ref()), (MessageStatus::Stored, None));
    let versions: Vec<Option<i64>> = store
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT understanding_version FROM inbound_messages ORDER BY id")?;
            Ok(st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(versions, [Some(1), Some(1), None]);
    let promises = store.promises(&t, None, 10).unwrap();
    assert_eq!(promises.len(), 1);
    assert_eq!(
        (promises[0].status, promises[0].message_id, promises[0].promised_date),
        (PromiseStatus::Lapsed, Some(1), NaiveDate::from_ymd_opt(2026, 12, 1))
    );
    let tasks = store.tasks(&t, Some(TaskStatus::Open), 10).unwrap();
    assert_eq!(
        (tasks.len(), tasks[0].kind, tasks[0].invoices.as_slice()),
        (1, TaskKind::Dispute, &["F-1".to_string()][..])
    );
    // The rebuilt tables keep their references, checked again with foreign keys on.
    let e = sql_error(
        &store,
        "INSERT INTO tasks (tenant_id, kind, message_id, note, status, created_at, updated_at)
                                VALUES ('t', 'contact', 999, 'x', 'open', 'x', 'x')",
    );
    assert!(e.contains("FOREIGN KEY constraint failed"), "{e}");
    // The stored message is handled as any other once the connector reads it.
    store.handle_messages(&t, TODAY, &[handled(3, said(Intent::Other, "ap@c1.example"))]).unwrap();
    assert_eq!(store.messages(&t, &[MessageStatus::Handled], 10).unwrap().total, 2);
}

/// Two daemons on one PostgreSQL database read the same message at once:
/// it is recorded once, and what it says is done once (one promise, one
/// audit event), whichever daemon's transaction wins.
#[test]
fn a_message_recorded_and_handled_by_two_stores_at_once_is_stored_and_acted_on_once() {
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let t = TenantId::new("t").unwrap();
    let daemons: Vec<Store> = (0..2).map(|_| Store::open_postgres(&scratch.url).unwrap()).collect();
    write_invoices(&daemons[0], &t, &[invoice("F-1", "C1", "ap@c1.example")]);
    let promise = Understanding {
        promised_date: NaiveDate::from_ymd_opt(2026, 12, 1),
        refs: vec!["F-1".into()],
        ..said(Intent::PromiseToPay, "ap@c1.example")
    };
    for round in 1..=5u32 {
        let barrier = std::sync::Barrier::new(daemons.len());
        let ids: Vec<i64> = std::thread::scope(|s| {
            let runs: Vec<_> = daemons
                .iter()
                .map(|store| {
                    let (barrier, t, promise) = (&barrier, &t, &promise);
                    s.spawn(move || {
                        let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: round };
                        barrier.wait();
                        let id = store.store_message(t, &slot, "sha", 10, &format!("/m{round}")).unwrap();
                        barrier.wait();
                        store.handle_messages(t, TODAY, &[handled(id, promise.clone())]).unwrap();
                        id
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: one row, one id: {ids:?}");
    }
    let store = &daemons[1];
    assert_eq!(store.messages(&t, &[], 50).unwrap().total, 5);
    assert_eq!(store.messages(&t, &[MessageStatus::Handled], 50).unwrap().total, 5);
    let promises = store.promises(&t, None, 50).unwrap();
    assert_eq!(promises.len(), 5, "{promises:?}");
    let mut messages: Vec<Option<i64>> = promises.iter().map(|p| p.message_id).collect();
    messages.dedup();
    assert_eq!(messages.len(), 5, "one promise per message: {promises:?}");
    let events = store.events(&t, 0, 1000).unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "reply_received").count(), 5);
    assert_eq!(events.iter().filter(|e| e.kind == "promise_recorded").count(), 5);
}
