//! Bank-aware holds in the store: which pending credits name a customer,
//! the pre-send check that keeps a queued reminder waiting, and the release
//! when a person applies or rejects the credit.

use chrono::{TimeZone, Utc};

use super::holds_tests::{d, events, seeded};
use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, Channel, PaymentStatus};
use relance_engine::dunning::credit::PayerEvidence;
use relance_engine::dunning::hold::HoldKind;
use relance_engine::dunning::templates::Rendered;
use relance_engine::dunning::{Decision, Step};
use relance_engine::matching::{MatchResult, MatchStatus};

const IBAN: &str = "FR1420041010050500013M02606";

/// Stores a credit of `minor` from `iban` waiting for review; returns its id.
fn pending_credit(store: &Store, t: &TenantId, key: &str, minor: i64, iban: Option<&str>) -> i64 {
    let line = BankLine {
        counterparty_iban: iban.map(String::from),
        remittance: Some("VIREMENT".into()),
        ..BankLine::credit(d(2026, 11, 12), Money::new(minor, Currency::EUR))
    };
    store
        .store_statement(
            t,
            "bank",
            key,
            key,
            None,
            "camt",
            &[NewPayment { dedupe_key: key.into(), account: None, line }],
        )
        .unwrap();
    let id = store.payments_to_match(t).unwrap().last().unwrap().id;
    let result =
        MatchResult { status: MatchStatus::Unmatched, candidates: Vec::new(), decision: vec!["no candidate".into()] };
    store.set_payment_review(t, id, PaymentStatus::Unmatched, &result).unwrap();
    id
}

fn reminder(store: &Store, t: &TenantId, customer: &str, invoices: &[&str]) -> i64 {
    let decision = Decision {
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
    store.enqueue_reminder(t, "b2b", d(2026, 11, 10), &decision, &rendered, None).unwrap().unwrap()
}

#[test]
fn a_credit_arriving_after_planning_keeps_the_reminder_waiting_until_a_person_decides() {
    let (_dir, store, t) = seeded();
    store
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES ('t', ?1, 'C1', 'source', 'x')",
                [IBAN],
            )?;
            Ok(())
        })
        .unwrap();
    let (r1, r2) = (reminder(&store, &t, "C1", &["F-1", "F-2"]), reminder(&store, &t, "C2", &["G-1"]));
    // Credits after planning: 1 200 € from C1's account; 1 199.99 € from an unknown account.
    let p = pending_credit(&store, &t, "s1", 120_000, Some(IBAN));
    pending_credit(&store, &t, "s2", 119_999, None);
    let state = store.dunning_state(&t, "C1").unwrap().unwrap();
    assert_eq!(state.credits.len(), 1, "{:?}", state.credits);
    assert_eq!((state.credits[0].payment_id, &state.credits[0].evidence), (p, &PayerEvidence::KnownIban(IBAN.into())));
    assert!(store.dunning_state(&t, "C2").unwrap().unwrap().credits.is_empty(), "an unknown account names nobody");

    // Right before sending: C1's reminder waits in the queue (not cancelled), C2's goes.
    let day = d(2026, 11, 16);
    let now = Utc.with_ymd_and_hms(2026, 11, 16, 10, 0, 0).unwrap();
    let claim = store.claim_outbox(&t, day, now, 10).unwrap();
    assert_eq!((claim.items.iter().map(|i| i.id).collect::<Vec<_>>(), claim.held, claim.cancelled), (vec![r2], 1, 0));
    let row = store.outbox_entry(&t, r1).unwrap().unwrap();
    assert_eq!(row.status, OutboxStatus::Queued);
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("credit_review")), "{:?}", row.last_error);
    let holds =
        store.holds(&t, &HoldFilter { customer_id: Some("C1".into()), limit: 10, ..Default::default() }, day).unwrap();
    let [h] = holds.items.as_slice() else { panic!("{holds:?}") };
    assert_eq!(
        (h.kind, h.payment_id, h.created_by.as_str(), h.invoice.as_deref()),
        (HoldKind::CreditReview, Some(p), "relance", None)
    );
    assert!(
        h.reason.contains(&format!("credit #{p} of 1200.00 EUR")) && h.reason.contains("found before sending"),
        "{}",
        h.reason
    );
    // An hour later it is still held, and no second hold is placed.
    let later = now + chrono::Duration::hours(2);
    assert_eq!(store.claim_outbox(&t, day, later, 10).unwrap().held, 1);
    assert_eq!(events(&store, &t, "hold_placed").len(), 1);

    // The review queue lists the credit first, with the reason.
    let q = PaymentSearch { statuses: vec![PaymentStatus::Unmatched], ..Default::default() };
    let page = store.search_payments(&t, &q, Window::after(10, None)).unwrap();
    assert_eq!(page.items[0].id, p);
    assert!(
        page.items[0].holds_reminders[0].contains("holds the reminders of C1"),
        "{:?}",
        page.items[0].holds_reminders
    );
    assert!(page.items[1].holds_reminders.is_empty());

    // Applied by a person: the hold is lifted, the reminder cancelled as settled (F-1 paid, F-2 not: it still goes).
    let alloc =
        [AllocationRequest { invoice: "F-1".into(), amount: Money::new(120_000, Currency::EUR), write_off: None }];
    store.apply_payment(&t, p, &[PaymentStatus::Unmatched], &alloc, "user:alice", None, LearnIban::No).unwrap();
    let lifted = events(&store, &t, "hold_lifted");
    assert_eq!(lifted.len(), 1);
    assert_eq!(lifted[0].0, "relance");
    let later = now + chrono::Duration::hours(4);
    let claim = store.claim_outbox(&t, day, later, 10).unwrap();
    assert_eq!((claim.items.iter().map(|i| i.id).collect::<Vec<_>>(), claim.held), (vec![r1], 0), "F-2 is still owed");
}

#[test]
fn rejecting_the_credit_releases_the_reminder_and_a_paid_reminder_is_cancelled() {
    let (_dir, store, t) = seeded();
    store
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES ('t', ?1, 'C2', 'learned', 'x')",
                [IBAN],
            )?;
            Ok(())
        })
        .unwrap();
    let r = reminder(&store, &t, "C2", &["G-1"]);
    let p = pending_credit(&store, &t, "s1", 120_000, Some(IBAN));
    assert_eq!(
        store.dunning_state(&t, "C2").unwrap().unwrap().credits[0].evidence,
        PayerEvidence::LearnedIban(IBAN.into())
    );
    let day = d(2026, 11, 16);
    let now = Utc.with_ymd_and_hms(2026, 11, 16, 10, 0, 0).unwrap();
    assert_eq!(store.claim_outbox(&t, day, now, 10).unwrap().held, 1);
    store.reject_payment(&t, p, "user:bob", "not theirs").unwrap();
    let open = store.holds(&t, &HoldFilter { active_only: true, limit: 10, ..Default::default() }, day).unwrap();
    assert!(open.items.is_empty(), "{open:?}");
    let claim = store.claim_outbox(&t, day, now + chrono::Duration::hours(2), 10).unwrap();
    assert_eq!(claim.items.iter().map(|i| i.id).collect::<Vec<_>>(), [r], "released");

    // Another reminder, another credit, applied: the reminder is cancelled as settled.
    let (_dir, store, t) = seeded();
    store
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES ('t', ?1, 'C2', 'source', 'x')",
                [IBAN],
            )?;
            Ok(())
        })
        .unwrap();
    reminder(&store, &t, "C2", &["G-1"]);
    let p = pending_credit(&store, &t, "s1", 120_000, Some(IBAN));
    assert_eq!(store.claim_outbox(&t, day, now, 10).unwrap().held, 1);
    let alloc =
        [AllocationRequest { invoice: "G-1".into(), amount: Money::new(120_000, Currency::EUR), write_off: None }];
    store.apply_payment(&t, p, &[PaymentStatus::Unmatched], &alloc, "user:alice", None, LearnIban::No).unwrap();
    let claim = store.claim_outbox(&t, day, now + chrono::Duration::hours(2), 10).unwrap();
    assert_eq!((claim.items.len(), claim.cancelled), (0, 1), "paid: not sent");
}

#[test]
fn credits_awaiting_review_hold_and_release_alike_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in super::holds_tests::seeded_both(dir.path()) {
        let (p1, p2) = store
            .db
            .write_any(|db| {
                db.execute(
                    "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at)
                     VALUES ('t', 'FR7630001007941234567890185', 'C1', 'source', '2026-11-01T00:00:00.000Z')",
                    crate::db::args![],
                )?;
                let payment = |key: &str, status: &str, iban: Option<&str>, result: &str| -> Result<i64, StoreError> {
                    db.query_one(
                        "INSERT INTO payments (tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction,
                                               counterparty_iban, status, match_result, match_result_version,
                                               unallocated_minor, created_at, updated_at)
                         VALUES ('t', ?1, 'bank', '2026-11-20', 120000, 'EUR', 'credit', ?2, ?3, ?4, 1, 120000, ?5, ?5)
                         RETURNING id",
                        crate::db::args![key, iban, status, result, now_text()],
                    )?
                    .get(0)
                };
                let p1 = payment(
                    "p1",
                    "suggested",
                    Some("FR7630001007941234567890185"),
                    r#"{"candidates":[{"customer_id":"C2"},{"customer_id":"C1"}]}"#,
                )?;
                let p2 = payment("p2", "unmatched", None, r#"{"candidates":[{"customer_id":"C2"}]}"#)?;
                Ok((p1, p2))
            })
            .unwrap();
        let c1 = store.pending_credits_of(&t, "C1").unwrap();
        assert_eq!(c1.iter().map(|p| p.payment_id).collect::<Vec<_>>(), [p1], "the strongest evidence only");
        assert!(matches!(&c1[0].evidence, PayerEvidence::KnownIban(i) if i == "FR7630001007941234567890185"));
        let c2 = store.pending_credits_of(&t, "C2").unwrap();
        assert_eq!(
            c2.iter().map(|p| (p.payment_id, p.evidence.clone())).collect::<Vec<_>>(),
            [(p1, PayerEvidence::MatcherCandidate), (p2, PayerEvidence::MatcherCandidate)]
        );
        let all = store.db.read_any(|db| crate::credit_holds::pending_credits(db, "t", None)).unwrap();
        assert_eq!(
            all.iter().map(|(c, p)| (c.as_str(), p.payment_id)).collect::<Vec<_>>(),
            [("C1", p1), ("C2", p1), ("C2", p2)]
        );

        assert_eq!(store.hold_for_credits(&t, "C1", &[(p1, "credit #1".into())]).unwrap(), 1);
        assert_eq!(store.hold_for_credits(&t, "C1", &[(p1, "credit #1".into())]).unwrap(), 0, "once per credit");
        let reasons = store.db.read_any(|db| crate::credit_holds::holding_reasons(db, "t", &[p1, p2])).unwrap();
        assert_eq!((reasons.get(&p1).map(Vec::len), reasons.get(&p2)), (Some(1), None));
        let released =
            store.db.write_any(|db| crate::credit_holds::release_payment_holds(db, "t", p1, "applied")).unwrap();
        assert_eq!(released, 1);
        assert!(store.db.read_any(|db| crate::credit_holds::holding_reasons(db, "t", &[p1])).unwrap().is_empty());
        assert_eq!(events(&store, &t, "hold_lifted")[0].0, RELANCE_ACTOR);
    }
}
