//! Payment claims in the store, on SQLite and on PostgreSQL: recorded once
//! per reply, held once, a credit linked (the claim's holds name it, a
//! `credit_review` hold keeps the customer's reminders), reopened, and
//! closed with its holds lifted.

use chrono::NaiveDate;

use super::*;
use crate::db::args;
use crate::holds::HoldFilter;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, PaymentStatus};
use relance_engine::matching::{MatchResult, MatchStatus};
use relance_engine::replies::Understanding;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// An inbound message of `customer`; its id.
fn message(store: &Store, t: &TenantId, uid: i64, customer: &str) -> i64 {
    store
        .db
        .write_any(|db| {
            db.query_one(
                "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                               status, customer_id, created_at, updated_at)
                 VALUES (?1, 'imap', 'INBOX', 1, ?2, 'x', 1, 'm.eml', 'handled', ?3, ?4, ?4) RETURNING id",
                args![t.as_str(), uid, customer, now_text()],
            )?
            .get(0)
        })
        .unwrap()
}

#[test]
fn a_claim_is_recorded_once_held_once_linked_reopened_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t) in crate::holds_tests::seeded_both(dir.path()) {
        let msg = message(&store, &t, 1, "C1");
        let u = Understanding {
            from: Some("ap@c1.example".into()),
            message_id: Some("<r1@c1.example>".into()),
            amount: Some("1200.00".into()),
            currency: Some("EUR".into()),
            refs: vec!["F-1".into()],
            ..Default::default()
        };
        let claimed = d(2026, 11, 20);
        let invoices = vec!["F-1".to_string(), "F-2".to_string()];
        let record = |db: crate::db::Db<'_>| claims::record_claim(db, t.as_str(), msg, "C1", &invoices, &u, claimed);
        assert!(store.db.write_any(record).unwrap(), "recorded");
        assert!(!store.db.write_any(record).unwrap(), "once per message");
        let claims = store.open_claims(&t).unwrap();
        assert_eq!(claims.len(), 1);
        let c = &claims[0];
        assert_eq!(
            (c.customer_id.as_str(), c.message_id, &c.invoices, c.amount.as_deref(), &c.refs, c.claimed_on, c.status),
            ("C1", msg, &invoices, Some("1200.00"), &vec!["F-1".to_string()], claimed, ClaimStatus::Open)
        );
        assert_eq!((c.reply_message.as_deref(), c.hold_until, c.payment_id), (Some("<r1@c1.example>"), None, None));
        // Held once: one `claimed_paid` hold per invoice claimed.
        let until = d(2099, 12, 1);
        assert!(store.hold_for_claim(&t, c, until, "claimed paid").unwrap());
        assert!(!store.hold_for_claim(&t, c, until, "claimed paid").unwrap(), "held once");
        let filter = HoldFilter { customer_id: Some("C1".into()), active_only: true, after: 0, limit: 10 };
        let holds = store.holds(&t, &filter, d(2026, 11, 21)).unwrap().items;
        let held: Vec<Option<&str>> = holds.iter().map(|h| h.invoice.as_deref()).collect();
        assert_eq!(held, vec![Some("F-1"), Some("F-2")]);
        assert_eq!(store.claims(&t).unwrap()[0].hold_until, Some(until));
        // A credit found: it waits for review and the claim's holds name it.
        let p = NewPayment {
            dedupe_key: "k1".into(),
            account: None,
            line: BankLine::credit(d(2026, 11, 22), Money::new(120_000, Currency::EUR)),
        };
        store.store_statement(&t, "bank", "s1", "s1", None, "camt", &[p]).unwrap();
        let pid = store.payments_to_match(&t).unwrap()[0].id;
        let unmatched = MatchResult { status: MatchStatus::Unmatched, candidates: vec![], decision: vec![] };
        store.set_payment_review(&t, pid, PaymentStatus::Unmatched, &unmatched).unwrap();
        let review: Vec<i64> = store.review_credits_since(&t, d(2026, 11, 20)).unwrap().iter().map(|p| p.id).collect();
        assert_eq!(review, vec![pid]);
        assert!(store.review_credits_since(&t, d(2026, 11, 23)).unwrap().is_empty(), "booked before");
        store.link_claim_credit(&t, c.id, pid, "the credit of 22 Nov fits").unwrap();
        let linked = &store.claims(&t).unwrap()[0];
        assert_eq!((linked.status, linked.payment_id), (ClaimStatus::CreditFound, Some(pid)));
        let holds = store.holds(&t, &filter, d(2026, 11, 23)).unwrap().items;
        let named: Vec<(Option<i64>, &str)> = holds.iter().map(|h| (h.payment_id, h.reason.as_str())).collect();
        assert_eq!(
            named,
            vec![
                (Some(pid), "the credit of 22 Nov fits"),
                (Some(pid), "the credit of 22 Nov fits"),
                (Some(pid), "the credit of 22 Nov fits")
            ],
            "the claim's two holds and the credit's review hold"
        );
        assert_eq!(holds[2].kind, relance_engine::dunning::hold::HoldKind::CreditReview);
        // Reopened: the holds no longer name the credit.
        store.reopen_claim(&t, c.id, "not applied to the invoices claimed").unwrap();
        let reopened = &store.open_claims(&t).unwrap()[0];
        assert_eq!((reopened.status, reopened.payment_id), (ClaimStatus::Open, None));
        let holds = store.holds(&t, &filter, d(2026, 11, 23)).unwrap().items;
        assert_eq!(holds.iter().filter(|h| h.payment_id.is_none()).count(), 2);
        // Closed as settled: its holds are lifted, once, with an audit event.
        store.close_claim(&t, reopened, "the invoices claimed are settled", true).unwrap();
        store.close_claim(&t, reopened, "again", true).unwrap();
        assert!(store.open_claims(&t).unwrap().is_empty());
        assert_eq!(store.claims(&t).unwrap()[0].status, ClaimStatus::Closed);
        let holds = store.holds(&t, &filter, d(2026, 11, 23)).unwrap().items;
        assert_eq!(holds.len(), 1, "only the credit's review hold is left: {holds:?}");
        let closed: Vec<_> =
            store.events(&t, 0, 1000).unwrap().into_iter().filter(|e| e.kind == "payment_claim_closed").collect();
        assert_eq!(closed.len(), 1);
    }
}
