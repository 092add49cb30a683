//! Holds in the store: placed on a customer or an invoice by a named actor,
//! listed by state with a cursor, lifted once (audited), and seen by the
//! dunning state until lifted.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{CustomerRecord, InvoiceRecord};
use relance_engine::dunning::hold::HoldKind;

pub(crate) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A store with customer C1 (F-1, F-2) and C2 (G-1), all open.
pub(crate) fn seeded() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let t = TenantId::new("t").unwrap();
    let inv = |number: &str, customer: &str| InvoiceRecord {
        number: number.into(),
        customer: CustomerRecord {
            id: customer.into(),
            name: format!("Client {customer}"),
            emails: vec![format!("ap@{}.example", customer.to_lowercase())],
            ..Default::default()
        },
        issue_date: Some(d(2026, 10, 1)),
        due_date: d(2026, 10, 31),
        total: Money::new(120_000, Currency::EUR),
        open: Money::new(120_000, Currency::EUR),
        status: None,
    };
    let key = ImportKey { tenant: &t, source: "erp", unit: "u1", label: "u1", full_export: false };
    let mut st = store.begin_import(&key).unwrap();
    let records = vec![inv("F-1", "C1"), inv("F-2", "C1"), inv("G-1", "C2")];
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 3, ..Default::default() }).unwrap();
    (dir, store, t)
}

/// The stores of [`crate::db::both_backends`], each with [`seeded`]'s
/// customers and invoices written row by row (importing is not ported to
/// PostgreSQL yet): C1 (F-1, F-2) and C2 (G-1), all open.
pub(crate) fn seeded_both(dir: &std::path::Path) -> Vec<(Store, Option<crate::postgres::Scratch>, TenantId)> {
    let t = TenantId::new("t").unwrap();
    crate::db::both_backends(dir)
        .into_iter()
        .map(|(store, scratch)| {
            store
                .db
                .write_any(|db| {
                    for c in ["C1", "C2"] {
                        db.execute(
                            "INSERT INTO customers (tenant_id, id, name, emails, created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                            crate::db::args![
                                t.as_str(),
                                c,
                                format!("Client {c}"),
                                format!("[\"ap@{}.example\"]", c.to_lowercase()),
                                now_text()
                            ],
                        )?;
                    }
                    for (n, c) in [("F-1", "C1"), ("F-2", "C1"), ("G-1", "C2")] {
                        db.execute(
                            "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency,
                                                   total_minor, open_minor, erp_open_minor, status, source, created_at, updated_at)
                             VALUES (?1, ?2, ?3, '2026-10-01', '2026-10-31', 'EUR', 120000, 120000, 120000, 'open', 'erp', ?4, ?4)",
                            crate::db::args![t.as_str(), n, c, now_text()],
                        )?;
                    }
                    Ok(())
                })
                .unwrap();
            (store, scratch, t.clone())
        })
        .collect()
}

/// The audit events of `kind`: (actor, subject, data).
pub(crate) fn events(store: &Store, t: &TenantId, kind: &str) -> Vec<(String, String, serde_json::Value)> {
    store
        .events(t, 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.actor, e.subject, e.data))
        .collect()
}

#[test]
fn holds_are_placed_listed_lifted_and_reach_the_dunning_state() {
    let (_dir, store, t) = seeded();
    let today = d(2026, 11, 10);
    let h1 = store
        .place_hold(
            &t,
            HoldTarget::Customer("C1"),
            " en attente du bon de commande ",
            Some(d(2026, 11, 20)),
            "user:alice",
            today,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (h1.customer_id.as_str(), h1.invoice.as_deref(), h1.reason.as_str()),
        ("C1", None, "en attente du bon de commande")
    );
    assert_eq!((h1.state, h1.created_by.as_str()), (HoldState::Active, "user:alice"));
    // An invoice hold is its customer's; the number is matched case aside.
    let h2 = store.place_hold(&t, HoldTarget::Invoice("g-1"), "litige", None, "user:bob", today).unwrap().unwrap();
    assert_eq!((h2.customer_id.as_str(), h2.invoice.as_deref()), ("C2", Some("G-1")));

    // Refusals: unknown target, blank reason, a past until day, no actor.
    let refused = |r: Acted<HoldView>| r.unwrap_err();
    assert!(matches!(
        refused(store.place_hold(&t, HoldTarget::Customer("C9"), "x", None, "u", today).unwrap()),
        ActionRefusal::NotFound(_)
    ));
    assert!(matches!(
        refused(store.place_hold(&t, HoldTarget::Invoice("F-9"), "x", None, "u", today).unwrap()),
        ActionRefusal::NotFound(_)
    ));
    assert!(matches!(
        refused(store.place_hold(&t, HoldTarget::Customer("C1"), "  ", None, "u", today).unwrap()),
        ActionRefusal::Invalid(_)
    ));
    let past =
        refused(store.place_hold(&t, HoldTarget::Customer("C1"), "x", Some(d(2026, 11, 9)), "u", today).unwrap());
    assert!(past.to_string().contains("in the past"), "{past}");
    assert!(matches!(
        refused(store.place_hold(&t, HoldTarget::Customer("C1"), "x", None, " ", today).unwrap()),
        ActionRefusal::Invalid(_)
    ));

    // The dunning state carries them (the engine applies `until`).
    let states = store.dunning_states(&t).unwrap();
    let c1 = states.iter().find(|s| s.customer_id == "C1").unwrap();
    assert_eq!(c1.holds.len(), 1);
    assert_eq!(
        (c1.holds[0].id, c1.holds[0].until, c1.holds[0].by.as_str()),
        (h1.id, Some(d(2026, 11, 20)), "user:alice")
    );
    assert_eq!(states.iter().find(|s| s.customer_id == "C2").unwrap().holds[0].invoice.as_deref(), Some("G-1"));

    // Listed with a cursor; after its until day a hold is expired, not active.
    let page = store.holds(&t, &HoldFilter { limit: 1, ..Default::default() }, today).unwrap();
    assert_eq!((page.items.len(), page.next_after), (1, Some(h1.id)));
    let page = store.holds(&t, &HoldFilter { limit: 1, after: h1.id, ..Default::default() }, today).unwrap();
    assert_eq!((page.items[0].id, page.next_after), (h2.id, None));
    let later = d(2026, 11, 21);
    let all = store.holds(&t, &HoldFilter { limit: 10, ..Default::default() }, later).unwrap();
    assert_eq!(all.items[0].state, HoldState::Expired);
    let active = store.holds(&t, &HoldFilter { limit: 10, active_only: true, ..Default::default() }, later).unwrap();
    assert_eq!(active.items.iter().map(|h| h.id).collect::<Vec<_>>(), [h2.id]);
    let c2 = HoldFilter { limit: 10, customer_id: Some("C2".into()), ..Default::default() };
    assert_eq!(store.holds(&t, &c2, today).unwrap().items.len(), 1);

    // Lifted once, audited; lifting again changes nothing; the state no longer has it.
    let lifted = store.lift_hold(&t, h2.id, "user:carol", Some("accord trouvé"), today).unwrap().unwrap();
    assert_eq!(
        (lifted.state, lifted.lifted_by.as_deref(), lifted.lift_note.as_deref()),
        (HoldState::Lifted, Some("user:carol"), Some("accord trouvé"))
    );
    let again = store.lift_hold(&t, h2.id, "user:dave", None, today).unwrap().unwrap();
    assert_eq!(again.lifted_by.as_deref(), Some("user:carol"));
    assert!(matches!(store.lift_hold(&t, 999, "u", None, today).unwrap(), Err(ActionRefusal::NotFound(_))));
    assert!(store.dunning_states(&t).unwrap().iter().find(|s| s.customer_id == "C2").unwrap().holds.is_empty());
    let placed = events(&store, &t, "hold_placed");
    assert_eq!(placed.len(), 2);
    assert_eq!((placed[0].0.as_str(), placed[0].1.as_str()), ("user:alice", "customer:C1"));
    assert_eq!((placed[1].0.as_str(), placed[1].1.as_str()), ("user:bob", "invoice:G-1"));
    let lifts = events(&store, &t, "hold_lifted");
    assert_eq!(lifts.len(), 1, "lifted once");
    assert_eq!((lifts[0].0.as_str(), lifts[0].2["note"].as_str()), ("user:carol", Some("accord trouvé")));
}

#[test]
fn a_reminder_queued_before_a_hold_is_not_sent_and_comes_back_after_it() {
    use chrono::{TimeZone, Utc};
    use relance_domain::Channel;
    use relance_engine::dunning::templates::Rendered;
    use relance_engine::dunning::{Decision, Step};
    let (_dir, store, t) = seeded();
    let decision = |customer: &str, invoices: &[&str]| Decision {
        customer_id: customer.into(),
        step: Step {
            id: "courteous".into(),
            offset_days: 1,
            channel: Channel::Email,
            template: "courteous".into(),
            confirm: None,
        },
        invoices: invoices.iter().map(|s| s.to_string()).collect(),
        covers: invoices.iter().map(|i| ("courteous".to_string(), i.to_string())).collect(),
        idempotency_key: format!("{customer}|courteous|{}", invoices.join(",")),
        why: vec![],
    };
    let rendered = Rendered { subject: "Relance".into(), body: "Bonjour".into() };
    let day = d(2026, 11, 10);
    let c1 =
        store.enqueue_reminder(&t, "b2b", day, &decision("C1", &["F-1", "F-2"]), &rendered, None).unwrap().unwrap();
    let c2 = store.enqueue_reminder(&t, "b2b", day, &decision("C2", &["G-1"]), &rendered, None).unwrap().unwrap();
    // F-1 alone held: C1's reminder still names F-2, it goes; G-1 held: C2's does not.
    store.place_hold(&t, HoldTarget::Invoice("F-1"), "litige", None, "user:alice", day).unwrap().unwrap();
    let hold = store.place_hold(&t, HoldTarget::Invoice("G-1"), "litige", None, "user:alice", day).unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap();
    let claim = store.claim_outbox(&t, day, now, 10).unwrap();
    assert_eq!(claim.items.iter().map(|i| i.id).collect::<Vec<_>>(), [c1]);
    assert_eq!(claim.cancelled, 1);
    let row = store.outbox_entry(&t, c2).unwrap().unwrap();
    assert_eq!(
        (row.status, row.last_error),
        (OutboxStatus::Cancelled, Some(format!("held since planning (hold #{})", hold.id)))
    );
    assert_eq!(row.decided_by, None, "cancelled by delivery, not a person: the step is planned again after the hold");
    let state = store.dunning_states(&t).unwrap().into_iter().find(|s| s.customer_id == "C2").unwrap();
    assert!(!state.sent.contains(&("courteous".to_string(), "G-1".to_string())));
    // The hold lifted, planning the same step again queues it anew.
    store.lift_hold(&t, hold.id, "user:alice", None, d(2026, 11, 12)).unwrap().expect("lifted");
    let again = store.enqueue_reminder(&t, "b2b", d(2026, 11, 12), &decision("C2", &["G-1"]), &rendered, None).unwrap();
    assert!(again.is_some_and(|id| id != c2), "planned again after the hold: {again:?}");
    // And only once.
    assert_eq!(
        store.enqueue_reminder(&t, "b2b", d(2026, 11, 12), &decision("C2", &["G-1"]), &rendered, None).unwrap(),
        None
    );
}

#[test]
fn holds_are_placed_listed_lifted_and_read_by_delivery_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let today = d(2026, 11, 10);
        let h1 = store.place_hold(
            &t,
            HoldTarget::Customer("C1"),
            "bon de commande",
            Some(d(2026, 11, 20)),
            "user:alice",
            today,
        );
        let h1 = h1.unwrap().unwrap();
        assert_eq!((h1.customer_id.as_str(), h1.invoice.as_deref(), h1.state), ("C1", None, HoldState::Active));
        let h2 = store.place_hold(&t, HoldTarget::Invoice("g-1"), "litige", None, "user:bob", today).unwrap().unwrap();
        assert_eq!((h2.customer_id.as_str(), h2.invoice.as_deref(), h2.kind), ("C2", Some("G-1"), HoldKind::Manual));
        assert!(matches!(
            store.place_hold(&t, HoldTarget::Customer("C9"), "x", None, "u", today).unwrap(),
            Err(ActionRefusal::NotFound(_))
        ));
        assert!(matches!(
            store.place_hold(&t, HoldTarget::Invoice("F-9"), "x", None, "u", today).unwrap(),
            Err(ActionRefusal::NotFound(_))
        ));

        let page = store.holds(&t, &HoldFilter { limit: 1, ..Default::default() }, today).unwrap();
        assert_eq!((page.items[0].id, page.next_after), (h1.id, Some(h1.id)));
        let later = d(2026, 11, 21);
        let all = store.holds(&t, &HoldFilter { limit: 10, ..Default::default() }, later).unwrap();
        assert_eq!(all.items.iter().map(|h| h.state).collect::<Vec<_>>(), [HoldState::Expired, HoldState::Active]);
        let active = store.holds(&t, &HoldFilter { limit: 10, active_only: true, ..Default::default() }, later);
        assert_eq!(active.unwrap().items.iter().map(|h| h.id).collect::<Vec<_>>(), [h2.id]);
        let c2 = HoldFilter { limit: 10, customer_id: Some("C2".into()), ..Default::default() };
        assert_eq!(store.holds(&t, &c2, today).unwrap().items.iter().map(|h| h.id).collect::<Vec<_>>(), [h2.id]);

        // What planning and delivery read.
        let open = store.db.read_any(|db| crate::holds::open_holds(db, "t", None)).unwrap();
        assert_eq!(open.iter().map(|(c, h)| (c.as_str(), h.id)).collect::<Vec<_>>(), [("C1", h1.id), ("C2", h2.id)]);
        let only = store.db.read_any(|db| crate::holds::open_holds(db, "t", Some("C2"))).unwrap();
        assert_eq!(only.len(), 1);
        let holding = |customer: &str, invoices: &[&str], day| {
            let invoices: Vec<String> = invoices.iter().map(|s| s.to_string()).collect();
            store.db.read_any(|db| crate::holds::holding_reminder(db, "t", customer, &invoices, day)).unwrap()
        };
        assert_eq!(holding("C2", &["G-1"], today), Some((h2.id, HoldKind::Manual)));
        assert_eq!(holding("C1", &["F-1"], today), Some((h1.id, HoldKind::Manual)));
        assert_eq!(holding("C1", &["F-1"], later), None, "after its until day");

        let lifted = store.lift_hold(&t, h2.id, "user:carol", Some("accord"), today).unwrap().unwrap();
        assert_eq!((lifted.state, lifted.lifted_by.as_deref()), (HoldState::Lifted, Some("user:carol")));
        let again = store.lift_hold(&t, h2.id, "user:dave", None, today).unwrap().unwrap();
        assert_eq!(again.lifted_by.as_deref(), Some("user:carol"), "lifted once");
        assert!(matches!(store.lift_hold(&t, 999, "u", None, today).unwrap(), Err(ActionRefusal::NotFound(_))));
        assert_eq!(holding("C2", &["G-1"], today), None);
        let placed = events(&store, &t, "hold_placed");
        assert_eq!(placed.iter().map(|e| e.2["hold"].as_i64()).collect::<Vec<_>>(), [Some(h1.id), Some(h2.id)]);
        assert_eq!(events(&store, &t, "hold_lifted").len(), 1);
    }
}

#[test]
fn invoice_numbers_match_case_aside_in_ascii_only_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in seeded_both(dir.path()) {
        let (upper, lower): (String, String) = store
            .db
            .read_any(|db| {
                let r = db.query_one("SELECT upper(?1), lower(?2)", crate::db::args!["fé-1 x", "FÉ-1 X"])?;
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((upper.as_str(), lower.as_str()), ("Fé-1 X", "fÉ-1 x"), "as SQLite's upper and lower");
        let found = store.db.read_any(|db| crate::holds::invoice_customer(db, t.as_str(), "g-1")).unwrap();
        assert_eq!(found, Some(("G-1".to_string(), "C2".to_string())));
    }
}
