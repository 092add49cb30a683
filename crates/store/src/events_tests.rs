//! Domain events: each catalogue change writes exactly one event in its own
//! transaction (a rolled-back change leaves none), with the customer it
//! concerns; subscriber cursors move forward only.

use super::holds_tests::{d, seeded};
use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, InvoiceRecord, InvoiceStatus, PaymentStatus};

/// (type, customer, subject) of every event of the tenant, in id order.
fn all(store: &Store, t: &TenantId) -> Vec<(String, Option<String>, String)> {
    store
        .events_after(t, 0, 10_000)
        .unwrap()
        .into_iter()
        .map(|e| (e.event_type.name().to_string(), e.customer_id, e.subject))
        .collect()
}

fn of_type(store: &Store, t: &TenantId, ty: &str) -> Vec<(String, Option<String>, String)> {
    all(store, t).into_iter().filter(|e| e.0 == ty).collect()
}

fn rec(number: &str, customer: &str, open: i64, status: Option<InvoiceStatus>) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord { id: customer.into(), name: format!("Client {customer}"), ..Default::default() },
        issue_date: Some(d(2026, 10, 1)),
        due_date: d(2026, 10, 31),
        total: Money::new(120_000, Currency::EUR),
        open: Money::new(open, Currency::EUR),
        status,
    }
}

fn import(store: &Store, t: &TenantId, unit: &str, records: Vec<InvoiceRecord>) {
    let key = ImportKey { tenant: t, source: "erp", unit, label: unit, full_export: false };
    let mut st = store.begin_import(&key).unwrap();
    let n = records.len() as u64;
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: n, ..Default::default() }).unwrap();
    store.finish_import(&mut st, unit).unwrap();
}

#[test]
fn new_and_reopened_invoices_are_imported_events_and_updates_are_not() {
    let (_dir, store, t) = seeded();
    let imported = of_type(&store, &t, "invoice.imported");
    assert_eq!(
        imported,
        vec![
            ("invoice.imported".into(), Some("C1".into()), "invoice:F-1".into()),
            ("invoice.imported".into(), Some("C1".into()), "invoice:F-2".into()),
            ("invoice.imported".into(), Some("C2".into()), "invoice:G-1".into()),
        ]
    );
    let first = store.events_after(&t, 0, 1).unwrap().remove(0);
    assert_eq!((first.schema_version, first.tenant.as_str()), (EVENT_SCHEMA_VERSION, "t"));
    assert_eq!(first.data["total"], "1200.00");
    assert_eq!(first.data["reopened"], false);
    // The same export again, then a lower open amount: no new invoice.
    import(&store, &t, "u2", vec![rec("F-1", "C1", 120_000, None)]);
    import(&store, &t, "u3", vec![rec("F-1", "C1", 60_000, None)]);
    assert_eq!(of_type(&store, &t, "invoice.imported").len(), 3);
    // Paid in the ERP, then open again: reopened.
    import(&store, &t, "u4", vec![rec("F-1", "C1", 0, Some(InvoiceStatus::Paid))]);
    assert_eq!(of_type(&store, &t, "invoice.imported").len(), 3);
    import(&store, &t, "u5", vec![rec("F-1", "C1", 120_000, Some(InvoiceStatus::Open))]);
    let last = store.events_after(&t, 0, 100).unwrap().pop().unwrap();
    assert_eq!(
        (last.event_type, last.subject.as_str(), &last.data["reopened"]),
        (EventType::InvoiceImported, "invoice:F-1", &serde_json::json!(true))
    );
}

#[test]
fn applying_and_undoing_a_payment_are_events_of_the_invoice_s_customer() {
    let (_dir, store, t) = seeded();
    let line = BankLine {
        remittance: Some("G-1".into()),
        ..BankLine::credit(d(2026, 11, 2), Money::new(120_000, Currency::EUR))
    };
    let p = NewPayment { dedupe_key: "k1".into(), account: None, line };
    store.store_statement(&t, "bank", "k1", "k1", None, "camt", &[p]).unwrap();
    let id: i64 = store.db.read(|c| Ok(c.query_row("SELECT max(id) FROM payments", [], |r| r.get(0))?)).unwrap();
    let alloc =
        AllocationRequest { invoice: "G-1".into(), amount: Money::new(120_000, Currency::EUR), write_off: None };
    let ids = store.apply_payment(&t, id, &[PaymentStatus::New], &[alloc], "user:alice", None, LearnIban::No).unwrap();
    assert_eq!(
        of_type(&store, &t, "payment.applied"),
        vec![("payment.applied".into(), Some("C2".into()), "invoice:G-1".into())]
    );
    store.undo_allocation(&t, ids[0], "user:alice").unwrap();
    assert_eq!(
        of_type(&store, &t, "payment.undone"),
        vec![("payment.undone".into(), Some("C2".into()), "invoice:G-1".into())]
    );
    let undone = store.events_after(&t, 0, 100).unwrap().pop().unwrap();
    assert_eq!(undone.data["allocation"], ids[0]);
}

#[test]
fn promises_hand_offs_and_disputes_name_their_customer() {
    let (_dir, store, t) = seeded();
    let before = all(&store, &t).len();
    let promise =
        NewPromise { promised_date: d(2026, 11, 20), amount: None, currency: None, invoices: vec![], note: None };
    store.record_promise(&t, "C2", &promise, "user:alice").unwrap().unwrap();
    store.record_handoff(&t, "C1", "standard", "agency", None, d(2026, 11, 30)).unwrap();
    // Already handed over: nothing new, no event.
    store.record_handoff(&t, "C1", "standard", "agency", None, d(2026, 12, 1)).unwrap();
    let after = all(&store, &t);
    assert_eq!(
        after[before..].to_vec(),
        vec![
            ("promise.created".into(), Some("C2".into()), "promise:1".into()),
            ("customer.handed_over".into(), Some("C1".into()), "C1".into()),
        ]
    );
    // Past its date with the invoice still open: broken.
    store.check_promises(&t, d(2026, 12, 31), 2).unwrap();
    assert_eq!(
        of_type(&store, &t, "promise.broken"),
        vec![("promise.broken".into(), Some("C2".into()), "promise:1".into())]
    );
}

#[test]
fn a_rolled_back_change_leaves_no_event() {
    let (_dir, store, t) = seeded();
    let before = store.last_event_id(&t).unwrap();
    let failed: Result<(), StoreError> = store.db.write(|tx| {
        sqlite::insert_event(tx, "t", "relance", "handed_over", "C1", &serde_json::json!({}))?;
        assert_eq!(
            tx.query_row("SELECT count(*) FROM domain_events WHERE id > ?1", [before], |r| r.get::<_, i64>(0)).unwrap(),
            1,
            "written in the change's transaction"
        );
        Err(StoreError::Rejected("the change fails after its audit row".into()))
    });
    assert!(failed.is_err());
    assert_eq!(store.last_event_id(&t).unwrap(), before, "rolled back with the change");
    // An audit kind outside the catalogue is no domain event.
    store.record_event(&t, "user:alice", "note_added", "customer:C1", &serde_json::json!({})).unwrap();
    assert_eq!(store.last_event_id(&t).unwrap(), before);
}

#[test]
fn a_subscriber_s_cursor_moves_forward_only_and_counts_failures() {
    let (_dir, store, t) = seeded();
    assert_eq!(store.subscription(&t, "crm").unwrap(), SubscriptionState::default());
    assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 3);
    let at = chrono::Utc::now();
    let s = store.event_delivery_failed(&t, "crm", "HTTP 503", at).unwrap();
    assert_eq!((s.last_id, s.attempts, s.failures, s.last_error.as_deref()), (0, 1, 1, Some("HTTP 503")));
    store.ack_events(&t, "crm", 2, true).unwrap();
    store.ack_events(&t, "crm", 1, true).unwrap();
    let s = store.subscription(&t, "crm").unwrap();
    assert_eq!((s.last_id, s.attempts, s.next_attempt_at, s.delivered, s.failures), (2, 0, None, 2, 1));
    assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 1);
    assert_eq!(store.subscription_lag(&TenantId::new("other").unwrap(), "crm").unwrap(), 0);
}

#[test]
fn every_type_has_a_unique_dotted_name_that_parses_back() {
    let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.name()), Some(t));
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EventType::ALL.len());
    assert_eq!(EventType::parse("payment_applied"), None);
}

#[test]
fn docs_events_md_documents_every_type() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md")).unwrap();
    for t in EventType::ALL {
        assert!(doc.contains(&format!("`{}`", t.name())), "docs/events.md lacks {}", t.name());
    }
    assert!(doc.contains(&format!("schema version {EVENT_SCHEMA_VERSION}")));
}

#[test]
fn a_batch_s_invoices_share_one_row_and_keep_one_id_each() {
    let (_dir, store, t) = seeded();
    let rows: (i64, i64) = store
        .db
        .read(
            |c| Ok(c.query_row("SELECT count(*), max(count) FROM domain_events", [], |r| Ok((r.get(0)?, r.get(1)?)))?),
        )
        .unwrap();
    assert_eq!(rows, (1, 3), "the three invoices of the batch in one row");
    let ids = |after: i64, limit: usize| -> Vec<i64> {
        store.events_after(&t, after, limit).unwrap().iter().map(|e| e.id).collect()
    };
    assert_eq!(ids(0, 10), [1, 2, 3]);
    assert_eq!(ids(1, 10), [2, 3], "resuming inside the row");
    assert_eq!(ids(0, 2), [1, 2], "a limit inside the row");
    store.record_handoff(&t, "C1", "standard", "agency", None, d(2026, 11, 30)).unwrap();
    assert_eq!(ids(2, 10), [3, 4], "the next event's id follows the row's last");
    store.ack_events(&t, "crm", 2, true).unwrap();
    assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 2);
    assert_eq!(store.last_event_id(&t).unwrap(), 4);
}

/// C1 writes (message `uid`) with `intent` about `refs`; returns the message id.
fn reply(store: &Store, t: &TenantId, uid: u32, intent: relance_engine::replies::Intent, refs: &[&str]) -> i64 {
    use relance_domain::replies::MessageStatus;
    let slot = MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid };
    let ids = store.store_messages(t, &[(slot, format!("sha{uid}"), 10, format!("/m{uid}"))]).unwrap();
    let u = relance_engine::replies::Understanding {
        intent,
        from: Some("ap@c1.example".into()),
        refs: refs.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    let h = HandleRequest { id: ids[0], status: MessageStatus::Handled, understanding: Some(u), error: None };
    store.handle_messages(t, d(2026, 11, 10), &[h]).unwrap();
    ids[0]
}

#[test]
fn replies_open_disputes_and_claims_and_people_resolve_them() {
    use relance_engine::replies::Intent;
    let (_dir, store, t) = seeded();
    let message = reply(&store, &t, 1, Intent::Dispute, &["F-1"]);
    assert_eq!(
        of_type(&store, &t, "dispute.opened"),
        vec![("dispute.opened".into(), Some("C1".into()), "invoice:F-1".into())]
    );
    store.resolve_dispute(&t, "F-1", DisputeResolution::Withdrawn, None, "user:alice").unwrap().unwrap();
    assert_eq!(
        of_type(&store, &t, "dispute.resolved"),
        vec![("dispute.resolved".into(), Some("C1".into()), "invoice:F-1".into())]
    );
    let claim = reply(&store, &t, 2, Intent::AlreadyPaid, &["F-2"]);
    assert_eq!(
        of_type(&store, &t, "claimed_paid"),
        vec![("claimed_paid".into(), Some("C1".into()), format!("message:{claim}"))]
    );
    assert_ne!(claim, message);
    // Handling the same reply again changes nothing and adds no event.
    let before = store.last_event_id(&t).unwrap();
    let h = HandleRequest {
        id: claim,
        status: relance_domain::replies::MessageStatus::Handled,
        understanding: None,
        error: None,
    };
    store.handle_messages(&t, d(2026, 11, 10), &[h]).unwrap();
    assert_eq!(store.last_event_id(&t).unwrap(), before);
}

#[test]
fn audit_rows_events_packed_batches_and_cursors_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::new("both").unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        store.record_event(&t, "alice", "handed_over", "C1", &serde_json::json!({"agency": "X"})).unwrap();
        let packed: Vec<crate::events::PackedInvoice> = (1..=3)
            .map(|i| {
                crate::events::PackedInvoice(
                    format!("F-{i}"),
                    "C2".into(),
                    None,
                    "2026-12-01".into(),
                    "EUR".into(),
                    "10.00".into(),
                    "10.00".into(),
                    "open".into(),
                    false,
                )
            })
            .collect();
        store.db.write_any(|db| crate::events::emit_imported(db, "both", "erp", 7, &packed)).unwrap();
        store.record_event(&t, "bob", "handed_over", "C3", &serde_json::json!({})).unwrap();
        store.record_event(&t, "bob", "not_in_the_catalogue", "C3", &serde_json::json!({})).unwrap();
        let events = store.events_after(&t, 0, 100).unwrap();
        let seen: Vec<(i64, &str, Option<&str>)> =
            events.iter().map(|e| (e.id, e.subject.as_str(), e.customer_id.as_deref())).collect();
        assert_eq!(
            seen,
            vec![
                (1, "C1", Some("C1")),
                (2, "invoice:F-1", Some("C2")),
                (3, "invoice:F-2", Some("C2")),
                (4, "invoice:F-3", Some("C2")),
                (5, "C3", Some("C3")),
            ],
            "ids continue after a packed batch"
        );
        assert_eq!(store.events_after(&t, 2, 2).unwrap().iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(store.last_event_id(&t).unwrap(), 5);
        assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 5);
        store.event_delivery_failed(&t, "crm", "HTTP 503", chrono::Utc::now()).unwrap();
        store.ack_events(&t, "crm", 3, true).unwrap();
        store.ack_events(&t, "crm", 1, false).unwrap();
        let s = store.subscription(&t, "crm").unwrap();
        assert_eq!((s.last_id, s.attempts, s.delivered, s.failures), (3, 0, 1, 1));
        assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 2);
        store.set_connector_state(&t, "bank", "cursor", "1").unwrap();
        store.set_connector_state(&t, "bank", "cursor", "2").unwrap();
        assert_eq!(store.connector_state(&t, "bank", "cursor").unwrap().as_deref(), Some("2"));
        let q = crate::NewQuarantine {
            source: "bank".into(),
            item: "f.sta".into(),
            reason: "bad".into(),
            ..Default::default()
        };
        assert!(store.record_quarantine(&t, &q).unwrap() > 0);
        store.ping().unwrap();
    }
}
