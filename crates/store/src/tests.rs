use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_domain::{BankLine, CustomerRecord, InvoiceRecord, InvoiceStatus, PaymentStatus};
use relance_engine::matching::{MatchResult, MatchStatus};
use relance_engine::replies::{AutoKind, Intent, Understanding};

/// The day replies are handled in these tests.
const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();

/// An understanding saying `intent`, from `from`, naming `refs`.
fn said(intent: Intent, from: &str, refs: &[&str]) -> Understanding {
    Understanding {
        intent,
        from: Some(from.into()),
        refs: refs.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

/// A handled message saying `u`.
fn handled(id: i64, u: Understanding) -> HandleRequest {
    HandleRequest { id, status: MessageStatus::Handled, understanding: Some(u), error: None }
}

fn rec(n: u32, open: i64) -> InvoiceRecord {
    InvoiceRecord {
        number: format!("F-{n}"),
        customer: CustomerRecord {
            id: format!("C{}", n % 3),
            name: format!("Customer {}", n % 3),
            emails: vec![format!("c{n}@x.example")],
            ..Default::default()
        },
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        total: Money::new(10_000, Currency::EUR),
        open: Money::new(open, Currency::EUR),
        status: None,
    }
}

fn batch(range: std::ops::Range<u32>, position_after: u64) -> InvoiceBatch {
    InvoiceBatch { records: range.map(|n| rec(n, 10_000)).collect(), position_after, ..Default::default() }
}

fn key<'a>(tenant: &'a TenantId, unit: &'a str) -> ImportKey<'a> {
    ImportKey { tenant, source: "erp", unit, label: "file.csv", full_export: true }
}

#[test]
fn an_import_resumes_after_reopening_and_finishes_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::new("t").unwrap();
    for (store, scratch) in crate::db::both_backends(dir.path()) {
        {
            let mut st = store.begin_import(&key(&t, "u1")).unwrap();
            assert_eq!((st.status, st.position), (ImportStatus::Running, 0));
            store.apply_invoice_batch(&mut st, &batch(0..10, 10)).unwrap();
            // "crash": the store is dropped without finishing.
            drop(store);
        }
        let store = match &scratch {
            None => Store::open_sqlite(&dir.path().join("both.db")).unwrap(),
            Some(s) => Store::open_postgres(&s.url).unwrap(),
        };
        resumes_and_finishes_once(&store, &t);
    }
}

fn resumes_and_finishes_once(store: &Store, t: &TenantId) {
    let t = t.clone();
    let mut st = store.begin_import(&key(&t, "u1")).unwrap();
    assert_eq!((st.status, st.position), (ImportStatus::Running, 10));
    let out = store.apply_invoice_batch(&mut st, &batch(10..20, 20)).unwrap();
    assert_eq!(out, BatchOutcome { created: 10, ..Default::default() });
    let summary = store.finish_import(&mut st, "file.csv").unwrap();
    assert_eq!((summary.created, summary.updated, summary.unchanged), (20, 0, 0));
    assert_eq!(store.begin_import(&key(&t, "u1")).unwrap().status, ImportStatus::Done);
    let counts = store.tenant_counts(&t).unwrap();
    assert_eq!(counts.invoices_by_status, vec![("open".to_string(), 20)]);
}

#[test]
fn a_stale_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        stale_position_is_refused(&store);
    }
}

fn stale_position_is_refused(store: &Store) {
    let t = TenantId::new("t").unwrap();
    let mut a = store.begin_import(&key(&t, "u")).unwrap();
    let mut b = a.clone();
    store.apply_invoice_batch(&mut a, &batch(0..5, 5)).unwrap();
    let err = store.apply_invoice_batch(&mut b, &batch(0..5, 5)).unwrap_err();
    assert!(matches!(err, StoreError::ImportConflict { expected: 0, .. }), "{err}");
    assert_eq!(store.tenant_counts(&t).unwrap().invoices_by_status[0].1, 5);
}

#[test]
fn customers_merge_and_tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        customers_merge(&store);
    }
}

fn customers_merge(store: &Store) {
    let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
    let mut st = store.begin_import(&key(&a, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..6, 6)).unwrap();
    let mut st = store.begin_import(&key(&b, "u")).unwrap();
    assert_eq!(st.position, 0, "same unit name, other tenant: a separate import");
    store.apply_invoice_batch(&mut st, &batch(0..1, 1)).unwrap();
    let customers = store.customers(&a, 10).unwrap();
    assert_eq!(customers.total, 3);
    let c0 = &customers.items[0];
    assert_eq!(c0.id, "C0");
    assert_eq!(c0.emails, vec!["c0@x.example", "c3@x.example"], "e-mails accumulate across invoices");
    assert_eq!(store.customers(&b, 10).unwrap().total, 1);
    let q = InvoiceQuery { limit: 100, ..Default::default() };
    assert_eq!(store.invoices(&b, &q).unwrap().total, 1);
}

#[test]
fn a_dispute_survives_a_sync_that_still_shows_the_invoice_unpaid() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        dispute_survives(&store);
    }
}

fn dispute_survives(store: &Store) {
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u1")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..2, 2)).unwrap();
    store.finish_import(&mut st, "1").unwrap();
    store
        .db
        .write_any(|db| db.execute("UPDATE invoices SET status='disputed' WHERE number IN ('F-0','F-1')", db::args![]))
        .unwrap();
    let mut st = store.begin_import(&key(&t, "u2")).unwrap();
    let next = InvoiceBatch { records: vec![rec(0, 4_000), rec(1, 0)], position_after: 2, ..Default::default() };
    store.apply_invoice_batch(&mut st, &next).unwrap();
    let q = InvoiceQuery { limit: 10, ..Default::default() };
    let inv = store.invoices(&t, &q).unwrap().items;
    assert_eq!(inv[0].status, InvoiceStatus::Disputed, "partly paid but still disputed");
    assert_eq!(inv[0].open.minor, 4_000);
    assert_eq!(inv[1].status, InvoiceStatus::Paid, "payment settles the dispute");
}

#[test]
fn connector_state_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    assert_eq!(store.connector_state(&t, "erp", "cursor").unwrap(), None);
    store.set_connector_state(&t, "erp", "cursor", "2026-11-01").unwrap();
    store.set_connector_state(&t, "erp", "cursor", "2026-11-02").unwrap();
    assert_eq!(store.connector_state(&t, "erp", "cursor").unwrap().as_deref(), Some("2026-11-02"));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(Store::open_sqlite(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open_sqlite(&path).err().unwrap();
    assert!(err.to_string().contains("newer than this binary"), "{err}");
}

#[test]
fn reply_actions_link_payments_and_flag_contacts() {
    use crate::{MailboxSlot, NewPayment};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..2, 2)).unwrap();
    // An unmatched credit of 100.00 waits in the review queue.
    let p = NewPayment {
        dedupe_key: "k1".into(),
        account: None,
        line: BankLine {
            remittance: Some("virement".into()),
            ..BankLine::credit(TODAY, Money::new(10_000, Currency::EUR))
        },
    };
    store.store_statement(&t, "bank", "sha", "f", None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(&t).unwrap()[0].id;
    store.set_payment_review(&t, pid, PaymentStatus::Unmatched, &no_candidates()).unwrap();
    let slot = |uid| MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    let ids = store
        .store_messages(&t, &[(slot(1), "a".into(), 10, "/a".into()), (slot(2), "b".into(), 10, "/b".into())])
        .unwrap();
    let paid = Understanding { new_text: "deja paye".into(), ..said(Intent::AlreadyPaid, "c0@x.example", &["F-0"]) };
    let bounce = Understanding {
        auto_reply: Some(AutoKind::DeliveryFailure),
        new_text: "undeliverable".into(),
        ..said(Intent::AutoReply, "mailer-daemon@x.example", &[])
    };
    store.handle_messages(&t, TODAY, &[handled(ids[0], paid), handled(ids[1], bounce)]).unwrap();
    let tasks = store.tasks(&t, Some(TaskStatus::Open), 10).unwrap();
    let kinds: Vec<TaskKind> = tasks.iter().map(|x| x.kind).collect();
    assert!(kinds.contains(&TaskKind::CheckPayment) && kinds.contains(&TaskKind::Contact), "{tasks:?}");
    let check = tasks.iter().find(|x| x.kind == TaskKind::CheckPayment).unwrap();
    assert!(check.note.contains(&format!("[{pid}]")), "the 100.00 credit of F-0 is found: {check:?}");
    assert_eq!(check.customer_id.as_deref(), Some("C0"), "linked through the invoice named");
    // Handling the same messages again does nothing twice.
    let paid2 = said(Intent::AlreadyPaid, "c0@x.example", &["F-0"]);
    store.handle_messages(&t, TODAY, &[handled(ids[0], paid2)]).unwrap();
    assert_eq!(store.tasks(&t, None, 10).unwrap().len(), 2);
}

#[test]
fn promises_are_kept_when_paid_broken_after_the_grace_and_checked_once() {
    use crate::MailboxSlot;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..3, 3)).unwrap();
    let slot = |uid| MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    let msgs: Vec<_> = (1..=3).map(|i| (slot(i), format!("m{i}"), 10, format!("/m{i}"))).collect();
    let ids = store.store_messages(&t, &msgs).unwrap();
    let promise = |id, from: &str, refs: &[&str]| {
        handled(
            id,
            Understanding {
                promised_date: NaiveDate::from_ymd_opt(2026, 11, 20),
                ..said(Intent::PromiseToPay, from, refs)
            },
        )
    };
    store
        .handle_messages(
            &t,
            TODAY,
            &[
                promise(ids[0], "c0@x.example", &["F-0"]),
                promise(ids[1], "c1@x.example", &["F-1"]),
                promise(ids[2], "stranger@y.example", &[]),
            ],
        )
        .unwrap();
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    // Within the grace nothing changes, and a pending promise pauses reminders.
    let c = store.check_promises(&t, day(22), 2).unwrap();
    assert_eq!((c.kept, c.broken, c.lapsed, c.pending), (0, 0, 0, 3));
    let states = store.dunning_states(&t).unwrap();
    assert_eq!(states.iter().find(|s| s.customer_id == "C1").and_then(|s| s.promise), Some(day(20)));
    // F-0 is paid in full (the next ERP export shows it settled): kept, even before the grace ends.
    let mut st = store.begin_import(&ImportKey { full_export: false, ..key(&t, "u2") }).unwrap();
    let paid = InvoiceBatch { records: vec![rec(0, 0)], position_after: 1, ..Default::default() };
    store.apply_invoice_batch(&mut st, &paid).unwrap();
    let c = store.check_promises(&t, day(22), 2).unwrap();
    assert_eq!((c.kept, c.broken, c.lapsed, c.pending), (1, 0, 0, 2));
    // After the grace: F-1 still open → broken; the unlinked promise cannot be checked → lapsed.
    let c = store.check_promises(&t, day(23), 2).unwrap();
    assert_eq!((c.kept, c.broken, c.lapsed, c.pending), (0, 1, 1, 0));
    let by_status = |s| store.promises(&t, Some(s), 10).unwrap().len();
    assert_eq!(
        (by_status(PromiseStatus::Kept), by_status(PromiseStatus::Broken), by_status(PromiseStatus::Lapsed)),
        (1, 1, 1)
    );
    // A broken promise stays visible to the dunning engine (it sends the `promise_broken` step once).
    let states = store.dunning_states(&t).unwrap();
    assert_eq!(states.iter().find(|s| s.customer_id == "C1").and_then(|s| s.promise), Some(day(20)));
    // Checking again changes nothing and records no new event.
    let events = store.events(&t, 0, 1000).unwrap().len();
    assert_eq!(store.check_promises(&t, day(30), 2).unwrap(), PromiseCheck::default());
    assert_eq!(store.events(&t, 0, 1000).unwrap().len(), events);
    let kinds: Vec<String> = store.events(&t, 0, 1000).unwrap().into_iter().map(|e| e.kind).collect();
    for k in ["promise_kept", "promise_broken", "promise_lapsed"] {
        assert_eq!(kinds.iter().filter(|x| *x == k).count(), 1, "{k} in {kinds:?}");
    }
}

#[test]
fn references_written_by_customers_resolve_to_stored_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let numbered = |number: &str, customer: &str| InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord { id: customer.into(), name: customer.into(), ..Default::default() },
        ..rec(0, 10_000)
    };
    let records = vec![
        numbered("FAC-1001", "C1"),
        numbered("FAC-2026-0042", "C2"),
        numbered("FA-7777", "C3"),
        numbered("AV-7777", "C4"),
        numbered("FAC-11001", "C5"),
        numbered("FA-2026-00412", "C6"),
        numbered("ST-2026-000317", "C7"),
        numbered("ST-2025-000318", "C7"),
        numbered("ST-2026-000318", "C8"),
    ];
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 9, ..Default::default() }).unwrap();
    let resolve =
        |r: &str| store.db.read(|c| super::messages::resolve_ref(c, "t", r)).unwrap().map(|(n, c)| format!("{n}/{c}"));
    assert_eq!(resolve("fac-1001").as_deref(), Some("FAC-1001/C1"), "case");
    assert_eq!(resolve("FAC1001").as_deref(), Some("FAC-1001/C1"), "separators");
    assert_eq!(resolve("FAC 2026 0042").as_deref(), Some("FAC-2026-0042/C2"));
    assert_eq!(resolve("F1001").as_deref(), Some("FAC-1001/C1"), "shortened prefix");
    assert_eq!(resolve("1001").as_deref(), Some("FAC-1001/C1"), "no prefix; 11001 is another number");
    assert_eq!(resolve("CMD-1001"), None, "an order number is not the invoice");
    assert_eq!(resolve("FA7777").as_deref(), Some("FA-7777/C3"), "the same letters win over the credit note");
    assert_eq!(resolve("7777"), None, "ambiguous: invoice or credit note");
    assert_eq!(resolve("FAC-9999"), None);
    assert_eq!(resolve("FAC-01"), None, "too few digits to guess");
    assert_eq!(resolve("FA-26-412").as_deref(), Some("FA-2026-00412/C6"), "two-digit year, no zero padding");
    assert_eq!(resolve("fa 2026 412").as_deref(), Some("FA-2026-00412/C6"));
    assert_eq!(resolve("ST2026317").as_deref(), Some("ST-2026-000317/C7"), "year glued to the counter");
    assert_eq!(resolve("ST-000317").as_deref(), Some("ST-2026-000317/C7"), "year left out");
    assert_eq!(resolve("ST-000318"), None, "two years have counter 318");
    assert_eq!(resolve("ST-2025-318").as_deref(), Some("ST-2025-000318/C7"));
    assert_eq!(resolve("SO-2026-000317"), None, "a sales order");
}

#[test]
fn a_reminder_is_queued_once_per_idempotency_key_and_counts_as_sent() {
    use relance_domain::Channel;
    use relance_engine::dunning::{Decision, Step, templates::Rendered};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..1, 1)).unwrap();
    let decision = Decision {
        customer_id: "C0".into(),
        step: Step {
            id: "courteous".into(),
            offset_days: 1,
            channel: Channel::Sms,
            template: "reminder".into(),
            confirm: None,
        },
        invoices: vec!["F-0".into()],
        covers: vec![("courteous".into(), "F-0".into())],
        idempotency_key: "C0|courteous|F-0".into(),
        why: vec!["due".into()],
    };
    let rendered = Rendered { subject: "Rappel".into(), body: "F-0".into() };
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    assert!(store.enqueue_reminder(&t, "b2b", day, &decision, &rendered, None).unwrap().is_some());
    assert_eq!(store.enqueue_reminder(&t, "b2b", day, &decision, &rendered, None).unwrap(), None, "same key");
    let other = TenantId::new("u").unwrap();
    assert!(
        store.enqueue_reminder(&other, "b2b", day, &decision, &rendered, None).unwrap().is_some(),
        "keys are per tenant"
    );
    let rows = store.outbox(&t, Some("queued"), 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].channel.as_str(), rows[0].step.as_str()), ("sms", "courteous"));
    let state = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C0").unwrap();
    assert!(state.sent.contains(&("courteous".to_string(), "F-0".to_string())));
    assert_eq!(state.last_reminder, Some(day));
    let queued = store.events(&t, 0, 100).unwrap().into_iter().filter(|e| e.kind == "reminder_queued").count();
    assert_eq!(queued, 1);
}

#[test]
fn a_copy_request_waits_for_its_answer_once() {
    use crate::MailboxSlot;
    use relance_domain::Channel;
    use relance_engine::dunning::{Decision, Step, templates::Rendered};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..3, 3)).unwrap();
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 1 };
    let ids = store.store_messages(&t, &[(slot, "m".into(), 10, "/m".into())]).unwrap();
    let req = handled(ids[0], said(Intent::InvoiceCopyRequest, "c1@x.example", &["f-1"]));
    store.handle_messages(&t, TODAY, std::slice::from_ref(&req)).unwrap();
    let pending = store.unanswered_copy_requests(&t).unwrap();
    assert_eq!(pending.len(), 1);
    let r = &pending[0];
    assert_eq!((r.message_id, r.customer_id.as_str()), (ids[0], "C1"));
    assert_eq!((r.invoices.clone(), r.reply_to.as_deref()), (vec!["F-1".to_string()], Some("c1@x.example")));
    let answer = Decision {
        customer_id: "C1".into(),
        step: Step {
            id: "invoice_copy".into(),
            offset_days: 0,
            channel: Channel::Email,
            template: "invoice_copy".into(),
            confirm: None,
        },
        invoices: vec!["F-1".into()],
        covers: vec![],
        idempotency_key: format!("copy|message:{}", ids[0]),
        why: vec![],
    };
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let rendered = Rendered { subject: "Copie".into(), body: "F-1".into() };
    store.enqueue_reminder(&t, "replies", day, &answer, &rendered, Some("c1@x.example")).unwrap().unwrap();
    assert!(store.unanswered_copy_requests(&t).unwrap().is_empty(), "answered");
    assert_eq!(store.outbox(&t, None, 10).unwrap()[0].recipient.as_deref(), Some("c1@x.example"));
    // An answer is not a reminder: it neither covers a step nor starts the gap.
    let state = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C1").unwrap();
    assert_eq!((state.sent.len(), state.last_reminder), (0, None));
}

#[test]
fn a_reply_to_a_reminder_is_linked_through_its_message_id() {
    use crate::MailboxSlot;
    use relance_domain::Channel;
    use relance_engine::dunning::{Decision, Step, templates::Rendered};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..3, 3)).unwrap();
    let reminder = Decision {
        customer_id: "C2".into(),
        step: Step {
            id: "courteous".into(),
            offset_days: 1,
            channel: Channel::Email,
            template: "courteous".into(),
            confirm: None,
        },
        invoices: vec!["F-2".into()],
        covers: vec![("courteous".into(), "F-2".into())],
        idempotency_key: "C2|courteous|F-2".into(),
        why: vec![],
    };
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let rendered = Rendered { subject: "Rappel".into(), body: "F-2".into() };
    store.enqueue_reminder(&t, "b2b", day, &reminder, &rendered, None).unwrap().unwrap();
    let token = store.outbox(&t, None, 1).unwrap()[0].message_token.clone().unwrap();
    assert!(token.starts_with("rl-"));
    // Someone the store does not know answers the reminder, naming no invoice.
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 1 };
    let ids = store.store_messages(&t, &[(slot, "m".into(), 10, "/m".into())]).unwrap();
    let u = Understanding {
        new_text: "nous contestons ce montant".into(),
        thread: vec!["<unrelated@mail.example>".into(), format!("<{token}@acme.example>")],
        ..said(Intent::Dispute, "ap@elsewhere.example", &[])
    };
    store.handle_messages(&t, TODAY, &[handled(ids[0], u)]).unwrap();
    let tasks = store.tasks(&t, Some(TaskStatus::Open), 10).unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].customer_id.as_deref(), Some("C2"), "the reminder's customer");
    assert_eq!(tasks[0].invoices, ["F-2"], "the reminder's invoices: {:?}", tasks[0]);
}

#[test]
fn a_write_back_notice_is_marked_only_within_its_tenant() {
    use crate::{AllocationRequest, NewPayment};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
    let mut st = store.begin_import(&key(&b, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..1, 1)).unwrap();
    let p = NewPayment {
        dedupe_key: "k1".into(),
        account: None,
        line: BankLine {
            remittance: Some("F-0".into()),
            ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), Money::new(10_000, Currency::EUR))
        },
    };
    store.store_statement(&b, "bank", "sha", "f", None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(&b).unwrap()[0].id;
    let alloc = AllocationRequest { invoice: "F-0".into(), amount: Money::new(10_000, Currency::EUR), write_off: None };
    store.apply_payment(&b, pid, &[PaymentStatus::New], &[alloc], "test", None, crate::LearnIban::No).unwrap();
    let pending = store.pending_writebacks(&b, 10).unwrap();
    assert_eq!(pending.len(), 1);
    // Tenant a names tenant b's notice: nothing changes.
    store.mark_writeback(&a, pending[0].0, Ok(())).unwrap();
    assert_eq!(store.pending_writebacks(&b, 10).unwrap().len(), 1, "another tenant cannot mark b's notice");
    store.mark_writeback(&b, pending[0].0, Ok(())).unwrap();
    assert!(store.pending_writebacks(&b, 10).unwrap().is_empty());
}

fn customer_rec(number: &str, customer: &str, email: &str, open: Money) -> InvoiceRecord {
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
        total: open,
        open,
        status: None,
    }
}

/// The matcher's verdict when nothing explains a credit.
fn no_candidates() -> MatchResult {
    MatchResult { status: MatchStatus::Unmatched, candidates: vec![], decision: vec!["no candidate".into()] }
}

fn review_credit(store: &Store, t: &TenantId, key: &str, amount: Money) -> i64 {
    review_credit_on(store, t, key, amount, TODAY)
}

fn review_credit_on(store: &Store, t: &TenantId, key: &str, amount: Money, booked: NaiveDate) -> i64 {
    let p = crate::NewPayment {
        dedupe_key: key.into(),
        account: None,
        line: BankLine { remittance: Some("virement".into()), ..BankLine::credit(booked, amount) },
    };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(t).unwrap().into_iter().find(|p| p.line.amount == amount).unwrap().id;
    store.set_payment_review(t, pid, PaymentStatus::Unmatched, &no_candidates()).unwrap();
    pid
}

fn handle_one(store: &Store, t: &TenantId, n: u32, u: Understanding) -> i64 {
    use crate::MailboxSlot;
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: n };
    let id = store.store_messages(t, &[(slot, format!("m{n}"), 10, format!("/m{n}"))]).unwrap()[0];
    store.handle_messages(t, TODAY, &[handled(id, u)]).unwrap();
    id
}

#[test]
fn a_sender_is_linked_to_the_customer_with_exactly_that_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let eur = |m| Money::new(m, Currency::EUR);
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    // `axb@…` is stored first: an unescaped LIKE on `a_b@…` would find it.
    let records = vec![
        customer_rec("F-1", "C-AXB", "axb@x.example", eur(1_000)),
        customer_rec("F-2", "C-AB", "a_b@x.example", eur(2_000)),
    ];
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 2, ..Default::default() }).unwrap();
    let id = handle_one(&store, &t, 1, said(Intent::Other, "a_b@x.example", &[]));
    let linked: Option<String> = store
        .db
        .read(|c| Ok(c.query_row("SELECT customer_id FROM inbound_messages WHERE id=?1", [id], |r| r.get(0))?))
        .unwrap();
    assert_eq!(linked.as_deref(), Some("C-AB"));
    let id = handle_one(&store, &t, 2, said(Intent::Other, "a%b@x.example", &[]));
    let linked: Option<String> = store
        .db
        .read(|c| Ok(c.query_row("SELECT customer_id FROM inbound_messages WHERE id=?1", [id], |r| r.get(0))?))
        .unwrap();
    assert_eq!(linked, None, "`%` is literal too");
}

#[test]
fn a_stated_amount_is_read_with_its_currency_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let jpy = Currency::parse("JPY").unwrap();
    let bhd = Currency::parse("BHD").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    let records = vec![
        customer_rec("J-1", "C-J", "j@x.example", Money::new(50_000, jpy)),
        customer_rec("B-1", "C-B", "b@x.example", Money::new(99_000, bhd)),
    ];
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 2, ..Default::default() }).unwrap();
    let yen = review_credit(&store, &t, "k-jpy", Money::new(12_000, jpy));
    let dinar = review_credit(&store, &t, "k-bhd", Money::new(10_500, bhd));
    let claim_from = |from: &str, amount: &str, ccy: &str| Understanding {
        amount: Some(amount.into()),
        currency: Some(ccy.into()),
        ..said(Intent::AlreadyPaid, from, &[])
    };
    let claim = |n, amount: &str, ccy: &str| {
        handle_one(&store, &t, n, claim_from("j@x.example", amount, ccy));
        let tasks = store.tasks(&t, None, 10).unwrap();
        tasks.iter().find(|x| x.kind == TaskKind::CheckPayment).map(|x| x.note.clone())
    };
    let note = claim(1, "12000", "JPY").expect("12000 JPY is found");
    assert!(note.contains(&format!("[{yen}]")), "{note}");
    let tasks_before = store.tasks(&t, None, 10).unwrap().len();
    handle_one(&store, &t, 2, claim_from("b@x.example", "10.500", "BHD"));
    let tasks = store.tasks(&t, None, 10).unwrap();
    assert_eq!(tasks.len(), tasks_before + 1);
    let newest = tasks.iter().max_by_key(|x| x.id).unwrap();
    assert_eq!(newest.kind, TaskKind::CheckPayment, "{newest:?}");
    assert!(newest.note.contains(&format!("[{dinar}]")), "{newest:?}");
}

#[test]
fn allocations_whose_total_overflows_are_refused_not_wrapped() {
    use crate::{AllocationRequest, NewPayment};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..2, 2)).unwrap();
    let p = NewPayment {
        dedupe_key: "k1".into(),
        account: None,
        line: BankLine::credit(TODAY, Money::new(10_000, Currency::EUR)),
    };
    store.store_statement(&t, "bank", "sha", "f", None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(&t).unwrap()[0].id;
    store.set_payment_review(&t, pid, PaymentStatus::Unmatched, &no_candidates()).unwrap();
    // i64::MAX + 2 wrapped to a negative total, which passed the "at most what is unallocated" check.
    let huge = |n: &str, minor| AllocationRequest {
        invoice: n.into(),
        amount: Money::new(minor, Currency::EUR),
        write_off: None,
    };
    let err = store.apply_payment(
        &t,
        pid,
        &[PaymentStatus::Unmatched],
        &[huge("F-0", i64::MAX), huge("F-1", 2)],
        "test",
        None,
        crate::LearnIban::No,
    );
    assert!(matches!(&err, Err(StoreError::Rejected(why)) if why.contains("overflow")), "{err:?}");
    let with_write_off = AllocationRequest {
        invoice: "F-0".into(),
        amount: Money::new(100, Currency::EUR),
        write_off: Some(Money::new(i64::MAX, Currency::EUR)),
    };
    let err = store.apply_payment(
        &t,
        pid,
        &[PaymentStatus::Unmatched],
        &[with_write_off],
        "test",
        None,
        crate::LearnIban::No,
    );
    assert!(matches!(&err, Err(StoreError::Rejected(why)) if why.contains("overflow")), "{err:?}");
    let page = store.invoices(&t, &InvoiceQuery { limit: 10, ..Default::default() }).unwrap();
    assert!(page.items.iter().all(|i| i.open.minor == 10_000), "nothing applied");
}

#[test]
fn a_closing_pass_is_one_audit_event_with_a_bounded_list() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        closing_pass_is_one_event(&store);
    }
}

fn closing_pass_is_one_event(store: &Store) {
    let t = TenantId::new("t").unwrap();
    let n = (crate::CLOSED_LISTED + 5) as u32;
    let mut st = store.begin_import(&key(&t, "u1")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..n, 1)).unwrap();
    store.finish_import(&mut st, "1.csv").unwrap();
    // The next full export lists only F-0: every other invoice is closed, in one event.
    let mut st = store.begin_import(&key(&t, "u2")).unwrap();
    let preview = store.full_export_preview(&t, "erp", |number| number == "F-0").unwrap();
    assert_eq!(preview, crate::ClosePreview { would_close: u64::from(n) - 1, tenant_open: u64::from(n) });
    store.apply_invoice_batch(&mut st, &batch(0..1, 1)).unwrap();
    let summary = store.finish_import(&mut st, "2.csv").unwrap();
    assert_eq!(summary.closed, u64::from(n) - 1);
    let events = store.events(&t, 0, 10_000).unwrap();
    let closing: Vec<_> = events.iter().filter(|e| e.kind == "invoices_closed").collect();
    assert_eq!(closing.len(), 1);
    assert_eq!(closing[0].data["count"], u64::from(n) - 1);
    assert_eq!(closing[0].data["invoices"].as_array().unwrap().len(), crate::CLOSED_LISTED);
    assert_eq!(closing[0].data["truncated"], true);
    assert_eq!(closing[0].data["invoices"][0]["previous_status"], "open");
    assert!(!events.iter().any(|e| e.kind == "invoice_closed"), "no event per invoice");
}

#[test]
fn an_import_is_written_only_within_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        written_only_within_its_tenant(&store);
    }
}

fn written_only_within_its_tenant(store: &Store) {
    let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
    let mut st = store.begin_import(&key(&b, "u1")).unwrap();
    store.apply_invoice_batch(&mut st, &batch(0..3, 3)).unwrap();
    // The same import id presented as tenant a's: no write reaches b's import.
    let mut forged = st.clone();
    forged.tenant = a.clone();
    assert!(store.apply_invoice_batch(&mut forged, &batch(3..4, 4)).is_err(), "the position is b's");
    let _ = store.finish_import(&mut forged, "x.csv");
    let again = store.begin_import(&key(&b, "u1")).unwrap();
    assert_eq!((again.status, again.position), (ImportStatus::Running, 3), "b's import is untouched");
}

#[test]
fn a_stored_payment_in_an_unknown_currency_is_an_error_not_euros() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let pid = review_credit(&store, &t, "k1", Money::new(1_000, Currency::EUR));
    store.db.write(|tx| Ok(tx.execute("UPDATE payments SET currency='QQQ' WHERE id=?1", [pid])?)).unwrap();
    let read = store.payment(&t, pid);
    assert!(read.is_err(), "{read:?}");
    assert!(read.unwrap_err().to_string().contains("QQQ"));
}

#[test]
fn outbox_statuses_round_trip() {
    for s in OutboxStatus::ALL {
        assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
    }
    assert_eq!(OutboxStatus::parse("Queued"), None);
    assert_eq!(OutboxStatus::parse("lost"), None);
}

#[test]
fn the_outbox_refuses_a_status_that_is_not_an_outbox_status() {
    use relance_domain::Channel;
    use relance_engine::dunning::{Decision, Step, templates::Rendered};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    let decision = Decision {
        customer_id: "C0".into(),
        step: Step {
            id: "courteous".into(),
            offset_days: 1,
            channel: Channel::Email,
            template: "courteous".into(),
            confirm: None,
        },
        invoices: vec!["F-0".into()],
        covers: vec![("courteous".into(), "F-0".into())],
        idempotency_key: "C0|courteous|F-0".into(),
        why: vec![],
    };
    let rendered = Rendered { subject: "Rappel".into(), body: "F-0".into() };
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let id = store.enqueue_reminder(&t, "b2b", day, &decision, &rendered, None).unwrap().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn.execute("UPDATE outbox SET status='lost' WHERE id=?1", [id]).unwrap_err();
    assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
    for s in OutboxStatus::ALL {
        conn.execute("UPDATE outbox SET status=?2 WHERE id=?1", rusqlite::params![id, s.as_str()]).unwrap();
        let rows = store.outbox(&t, Some(s.as_str()), 10).unwrap();
        assert_eq!(rows.len(), 1, "{s}");
        assert_eq!(rows[0].status, s);
        assert_eq!(serde_json::to_value(&rows[0]).unwrap()["status"], serde_json::json!(s.as_str()));
    }
    assert!(store.outbox(&t, Some("lost"), 10).unwrap().is_empty(), "an unknown status lists nothing");
}

#[test]
fn migration_0010_renames_the_writeback_queue_and_keeps_every_outbox_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let before = sqlite::MIGRATIONS
        .iter()
        .position(|sql| sql.contains("ALTER TABLE writeback_outbox RENAME TO writeback_queue"))
        .expect("migration 0010");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &sqlite::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64).unwrap();
        let row = |key: &str, status: &str| {
            conn.execute(
                "INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template, invoice_numbers,
                    covers, planned_for, subject, body, why, status, created_at, updated_at, message_id, last_error)
                 VALUES ('t', ?1, 'C0', 's', 'courteous', 'email', 'courteous', '[]', '[]', '2026-11-24', 'S', 'B', '[]', ?2,
                    'x', 'x', 'rl-1', 'smtp said no')",
                [key, status],
            )
            .unwrap();
        };
        row("k1", "sent");
        row("k2", "parked");
        // A queued notice of a real allocation: migrations check every foreign key before they commit.
        conn.execute_batch(
            "INSERT INTO payments (id, tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction, status,
                unallocated_minor, created_at, updated_at)
             VALUES (1, 't', 'k', 'bank', '2026-11-24', 100, 'EUR', 'credit', 'matched', 0, 'x', 'x');
             INSERT INTO allocations (id, tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at)
             VALUES (1, 't', 1, 'F-1', 100, 'EUR', 'matcher', 'x');",
        )
        .unwrap();
        conn.execute("INSERT INTO writeback_outbox (tenant_id, allocation_id, created_at) VALUES ('t', 1, 'x')", [])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    let rows: Vec<serde_json::Value> =
        store.outbox(&t, None, 10).unwrap().iter().map(|r| serde_json::to_value(r).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(store.outbox(&t, Some("queued"), 10).unwrap().len(), 0);
    let by_key = |k: &str| rows.iter().find(|r| r["id"] == serde_json::json!(if k == "k1" { 1 } else { 2 })).unwrap();
    assert_eq!(by_key("k1")["status"], "sent");
    assert_eq!(by_key("k1")["message_token"], "rl-1");
    assert_eq!(by_key("k2")["status"], "failed", "an unknown status is kept visible as failed");
    assert_eq!(by_key("k2")["last_error"], "unknown status `parked` found by migration 0010: smtp said no");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let queued: i64 = conn.query_row("SELECT count(*) FROM writeback_queue", [], |r| r.get(0)).unwrap();
    assert_eq!(queued, 1);
    let old: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name='writeback_outbox' OR name='outbox_new'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(old, 0);
}

/// Pages through a list by its cursor to the end: every row once, in the
/// order of the whole list read at once.
fn page_through<T, K: Clone>(limit: u32, mut read: impl FnMut(Option<K>) -> (Vec<T>, Option<K>)) -> Vec<T> {
    let (mut all, mut after) = (Vec::new(), None);
    for _ in 0..1000 {
        let (items, next) = read(after.clone());
        assert!(items.len() <= limit as usize);
        all.extend(items);
        match next {
            Some(k) => after = Some(k),
            None => return all,
        }
    }
    panic!("paging did not end");
}

#[test]
fn keyset_pages_cover_each_list_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    // Due dates repeat (ties are broken by number) and run against the numbers.
    let records = (0..23)
        .map(|n| InvoiceRecord { due_date: NaiveDate::from_ymd_opt(2026, 10, 31 - n % 4).unwrap(), ..rec(n, 10_000) })
        .collect();
    let mut st = store.begin_import(&key(&t, "u")).unwrap();
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 23, ..Default::default() }).unwrap();

    let whole = store.invoices(&t, &InvoiceQuery { limit: 100, ..Default::default() }).unwrap();
    assert_eq!((whole.items.len(), whole.next_after.as_deref()), (23, None), "one page, nothing after");
    let paged = page_through(4, |after| {
        let p = store.invoices(&t, &InvoiceQuery { limit: 4, after, ..Default::default() }).unwrap();
        assert_eq!(p.total, 23);
        (p.items, p.next_after)
    });
    let numbers = |v: &[relance_domain::Invoice]| v.iter().map(|i| i.number.clone()).collect::<Vec<_>>();
    assert_eq!(numbers(&paged), numbers(&whole.items));
    let mut sorted = paged.iter().map(|i| (i.due_date, i.number.clone())).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(sorted, paged.iter().map(|i| (i.due_date, i.number.clone())).collect::<Vec<_>>());

    // A filter pages too, and a page that ends exactly at the end says so.
    let c1 = |after| InvoiceQuery { customer_id: Some("C1".into()), limit: 4, after, ..Default::default() };
    let paged = page_through(4, |after| {
        let p = store.invoices(&t, &c1(after)).unwrap();
        (p.items, p.next_after)
    });
    assert_eq!(paged.len(), 8);
    assert!(paged.iter().all(|i| i.customer_id == "C1"));

    let customers = page_through(1, |after| {
        let p = store.customers(&t, Window::after(1, after)).unwrap();
        (p.items, p.next_after)
    });
    assert_eq!(customers.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["C0", "C1", "C2"]);

    let err = store.invoices(&t, &c1(Some("F-999".into()))).unwrap_err();
    assert!(matches!(err, StoreError::UnknownCursor(_)), "{err}");
    // `offset` still works for the lists that had it.
    let third = store.invoices(&t, &InvoiceQuery { limit: 1, offset: 2, ..Default::default() }).unwrap();
    assert_eq!(third.items[0].number, whole.items[2].number);
}

#[test]
fn a_newest_first_list_pages_to_older_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let msgs: Vec<_> = (0..7u32)
        .map(|n| {
            let slot = MailboxSlot { source: "imap", mailbox: "INBOX", uidvalidity: 1, uid: n + 1 };
            (slot, format!("m{n}"), 10, format!("/m{n}"))
        })
        .collect();
    let ids = store.store_messages(&t, &msgs).unwrap();
    let paged = page_through(3, |after| {
        let p = store.messages(&t, &[], Window::after(3, after)).unwrap();
        (p.items, p.next_after)
    });
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(paged.iter().map(|m| m.id).collect::<Vec<_>>(), newest_first);
}
