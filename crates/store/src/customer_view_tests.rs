//! The customer page's reads on hand-built data: open items with a credit
//! note and their totals per currency, unapplied payments by their link,
//! contacts with an undeliverable address, the timeline's order and
//! cursor, and nothing of another customer or another tenant ever shows.
//! The queries go through the customer indexes (EXPLAIN QUERY PLAN).

use crate::db::args;
use chrono::NaiveDate;

use super::*;
use relance_domain::PaymentStatus;
use relance_domain::money::{Currency, Money};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").unwrap())
}

/// (number, customer, due day of October 2026, currency, total, open)
type Row<'a> = (&'a str, &'a str, u32, &'a str, i64, i64);

/// The rows an import would write, written one by one on either database
/// (importing is not ported to PostgreSQL yet): customers with two
/// addresses and a known account, invoices with the status their amounts give.
fn import(store: &Store, t: &TenantId, rows: &[Row<'_>]) {
    let at = "2026-09-01T08:00:00.000Z";
    store
        .db
        .write_any(|db| {
            for &(number, customer, due, ccy, total, open) in rows {
                let emails = serde_json::json!([
                    format!("AP@{}.example", customer.to_lowercase()),
                    format!("boss@{customer}.example")
                ]);
                db.execute(
                    "INSERT INTO customers (tenant_id, id, name, emails, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (tenant_id, id) DO NOTHING",
                    args![t.as_str(), customer, format!("Client {customer}"), emails.to_string(), at],
                )?;
                db.execute(
                    "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at)
                     VALUES (?1, ?2, ?3, 'source', ?4) ON CONFLICT (tenant_id, iban, customer_id) DO NOTHING",
                    args![t.as_str(), format!("FR76{customer}"), customer, at],
                )?;
                let status = match (total, open) {
                    (total, _) if total < 0 => "credit_note",
                    (_, 0) => "paid",
                    (total, open) if open < total => "partially_paid",
                    _ => "open",
                };
                db.execute(
                    "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total_minor,
                                           open_minor, erp_open_minor, status, source, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, 'erp', ?10, ?10)",
                    args![
                        t.as_str(),
                        number,
                        customer,
                        d(2026, 9, due).to_string(),
                        d(2026, 10, due).to_string(),
                        ccy,
                        total,
                        open,
                        status,
                        at
                    ],
                )?;
            }
            Ok(())
        })
        .unwrap();
}

/// Runs statements separated by `;` at the end of a line, on either database.
fn batch(store: &Store, sql: &str) {
    store
        .db
        .write_any(|db| {
            for statement in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
                db.execute(statement.trim_end_matches(';'), args![])?;
            }
            Ok(())
        })
        .unwrap();
}

/// A credit payment: tenant, key, iban, (amount, unallocated), status, match result.
fn payment(
    store: &Store,
    t: &str,
    key: &str,
    iban: &str,
    (amount, unallocated): (i64, i64),
    status: &str,
    result: Option<&str>,
) -> i64 {
    store
        .db
        .write_any(|db| {
            db.query_one(
                "INSERT INTO payments (tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction,
                                       counterparty_name, counterparty_iban, status, match_result, match_result_version,
                                       unallocated_minor, created_at, updated_at)
                 VALUES (?1, ?2, 'bank', '2026-10-20', ?3, 'EUR', 'credit', 'Payer', ?4, ?5, ?6, ?7, ?8,
                         '2026-10-20T08:00:00.000Z', '2026-10-20T08:00:00.000Z') RETURNING id",
                args![t, key, amount, iban, status, result, result.map(|_| 1), unallocated],
            )?
            .get(0)
        })
        .unwrap()
}

/// Tenant `t`: C1 with two EUR invoices, a EUR credit note, a USD invoice
/// and a paid invoice; C2 with one invoice. Tenant `u`: its own C1.
fn seed(store: &Store) -> (TenantId, TenantId) {
    let (t, u) = (TenantId::new("t").unwrap(), TenantId::new("u").unwrap());
    import(
        store,
        &t,
        &[
            ("F-1", "C1", 10, "EUR", 120_000, 40_000),
            ("F-2", "C1", 20, "EUR", 50_000, 50_000),
            ("AV-1", "C1", 15, "EUR", -20_000, -20_000),
            ("F-3", "C1", 5, "USD", 30_000, 30_000),
            ("F-0", "C1", 1, "EUR", 10_000, 0),
            ("G-1", "C2", 10, "EUR", 70_000, 70_000),
        ],
    );
    import(store, &u, &[("F-9", "C1", 10, "EUR", 99_900, 99_900)]);
    (t, u)
}

/// [`seed`]'s world on SQLite.
fn world() -> (tempfile::TempDir, Store, TenantId, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    let (t, u) = seed(&store);
    (dir, store, t, u)
}

/// [`seed`]'s world on each database.
fn worlds(dir: &tempfile::TempDir) -> Vec<(Store, Option<crate::postgres::Scratch>, TenantId, TenantId)> {
    crate::db::both_backends(dir.path())
        .into_iter()
        .map(|(store, scratch)| {
            let (t, u) = seed(&store);
            (store, scratch, t, u)
        })
        .collect()
}

fn candidate(customer: &str, invoice: &str) -> String {
    serde_json::json!({ "status": "suggested", "decision": [], "candidates": [
        { "customer_id": customer, "allocations": [{ "invoice_number": invoice, "amount": "1" }], "confidence": 0.5, "reasons": [] }
    ] })
    .to_string()
}

#[test]
fn open_items_credit_notes_unapplied_payments_and_totals_per_currency() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t, u) in worlds(&dir) {
        // Applied in part to C1's F-1: the rest (200.00) is C1's.
        let p1 = payment(&store, "t", "p1", "FR76OTHER", (100_000, 20_000), "matched", None);
        store
            .db
            .write_any(|db| {
                db.execute(
                    "INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at)
                     VALUES ('t', ?1, 'F-1', 80000, 'EUR', 'matcher', '2026-10-21T09:00:00.000Z')",
                    args![p1],
                )
            })
            .unwrap();
        // From C1's known account, in the review queue: 50.00.
        let p2 = payment(&store, "t", "p2", "FR76C1", (5_000, 5_000), "unmatched", None);
        // Only a candidate of C1's invoice: shown, not counted.
        let p3 = payment(&store, "t", "p3", "FR76NOBODY", (7_000, 7_000), "suggested", Some(&candidate("C1", "F-2")));
        // Not C1's: C2's account, C2's candidate, a debit, a rejected one, another tenant's.
        payment(&store, "t", "p4", "FR76C2", (1_000, 1_000), "unmatched", Some(&candidate("C2", "G-1")));
        batch(&store, "UPDATE payments SET direction='debit' WHERE dedupe_key='p4'");
        payment(&store, "t", "p5", "FR76C2", (1_000, 1_000), "unmatched", None);
        payment(&store, "t", "p6", "FR76C1", (1_000, 1_000), "rejected", None);
        payment(&store, "u", "p7", "FR76NOBODY", (3_000, 3_000), "suggested", Some(&candidate("C1", "F-9")));

        let o = store.customer_overview(&t, "C1", d(2026, 11, 1), Window::after(10, None)).unwrap().unwrap();
        assert_eq!(o.customer.name, "Client C1");
        let numbers: Vec<&str> = o.items.iter().map(|i| i.number.as_str()).collect();
        assert_eq!(
            numbers,
            ["F-3", "F-1", "AV-1", "F-2"],
            "by due date; the paid F-0 and C2's G-1 are not open items of C1"
        );
        let credit = &o.items[2];
        assert_eq!(
            (credit.kind, credit.open, credit.status),
            (OpenItemKind::CreditNote, eur(-20_000), relance_domain::InvoiceStatus::CreditNote)
        );
        assert_eq!(
            (o.items[1].kind, o.items[1].open, o.items[1].total),
            (OpenItemKind::Invoice, eur(40_000), eur(120_000))
        );
        assert_eq!(o.next_after, None);

        let via: Vec<(i64, UnappliedVia, Money)> =
            o.unapplied.iter().map(|p| (p.payment, p.via, p.unallocated)).collect();
        let mut via_sorted = via.clone();
        via_sorted.sort_by_key(|v| v.0);
        assert_eq!(
            via_sorted,
            [
                (p1, UnappliedVia::PartlyApplied, eur(20_000)),
                (p2, UnappliedVia::KnownAccount, eur(5_000)),
                (p3, UnappliedVia::Candidate, eur(7_000))
            ]
        );
        assert_eq!(o.unapplied.iter().find(|p| p.payment == p2).unwrap().status, PaymentStatus::Unmatched);

        assert_eq!(o.totals.len(), 2, "{:?}", o.totals);
        let e = &o.totals[0];
        assert_eq!(
            (e.currency.as_str(), e.invoices, e.invoice_count, e.credit_notes, e.credit_note_count, e.unapplied),
            ("EUR", eur(90_000), 2, eur(-20_000), 1, eur(25_000))
        );
        assert_eq!(e.balance, eur(90_000 - 20_000 - 25_000), "invoices + credit notes - unapplied (not the candidate)");
        let us = &o.totals[1];
        assert_eq!(
            (us.currency.as_str(), us.invoices, us.credit_notes, us.unapplied, us.balance),
            ("USD", usd(30_000), usd(0), usd(0), usd(30_000))
        );

        // Paged by due date: two, then the rest after the cursor.
        let (first, next) = store.customer_open_items(&t, "C1", Window::after(2, None)).unwrap();
        assert_eq!(first.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), ["F-3", "F-1"]);
        assert_eq!(next.as_deref(), Some("2026-10-10|F-1"));
        let (rest, end) = store.customer_open_items(&t, "C1", Window::after(2, next)).unwrap();
        assert_eq!((rest.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), end), (vec!["AV-1", "F-2"], None));
        assert!(matches!(
            store.customer_open_items(&t, "C1", Window::after(2, Some("nope".into()))),
            Err(StoreError::UnknownCursor(_))
        ));

        // Another tenant's C1 sees only its own.
        let other = store.customer_overview(&u, "C1", d(2026, 11, 1), Window::after(10, None)).unwrap().unwrap();
        assert_eq!(other.items.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), ["F-9"]);
        assert_eq!(other.unapplied.iter().map(|p| p.unallocated).collect::<Vec<_>>(), [eur(3_000)]);
        assert_eq!((other.totals.len(), other.totals[0].balance), (1, eur(99_900)), "the candidate is not counted");
        assert!(store.customer_overview(&t, "C9", d(2026, 11, 1), Window::after(10, None)).unwrap().is_none());
    }
}

#[test]
fn contacts_are_the_customers_with_the_undeliverable_ones_marked() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t, u) in worlds(&dir) {
        batch(
            &store,
            "INSERT INTO contact_undeliverable (tenant_id, address, customer_id, since, status_code, diagnostic)
                     VALUES ('t', 'ap@c1.example', 'C1', '2026-10-02T10:00:00.000Z', '5.1.1', 'user unknown');
                     INSERT INTO contact_undeliverable (tenant_id, address, customer_id, since) VALUES ('u', 'boss@c1.example', 'C1', '2026-10-02T10:00:00.000Z');
                     INSERT INTO contact_away (tenant_id, address, customer_id, until, reason, recorded_at)
                     VALUES ('t', 'old@c1.example', 'C1', '2026-11-30', 'congé', '2026-10-02T10:00:00.000Z');",
        );
        let contacts = store.customer_contacts(&t, "C1", d(2026, 11, 1)).unwrap();
        let seen: Vec<(&str, ContactState)> = contacts.iter().map(|c| (c.address.as_str(), c.status)).collect();
        assert_eq!(
            seen,
            [
                ("ap@c1.example", ContactState::Undeliverable),
                ("boss@c1.example", ContactState::Ok),
                ("old@c1.example", ContactState::Away),
            ],
            "the other tenant's mark on boss@ does not count here"
        );
        assert_eq!(contacts[0].undeliverable.as_ref().and_then(|u| u.status_code.as_deref()), Some("5.1.1"));
        let later = store.customer_contacts(&t, "C1", d(2026, 12, 1)).unwrap();
        assert_eq!(later[2].status, ContactState::Ok, "the absence is over");
        assert_eq!(store.customer_contacts(&u, "C1", d(2026, 11, 1)).unwrap()[1].status, ContactState::Undeliverable);
        assert!(
            store.customer_contacts(&t, "C2", d(2026, 11, 1)).unwrap().iter().all(|c| c.status == ContactState::Ok)
        );
    }
}

#[test]
fn the_timeline_is_newest_first_typed_and_paged_by_cursor() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t, u) in worlds(&dir) {
        let p1 = payment(&store, "t", "p1", "FR76C1", (10_000, 0), "matched", None);
        batch(
            &store,
            &format!(
                "INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at)
                     VALUES ('t', {p1}, 'F-0', 10000, 'EUR', 'matcher', '2026-10-01T09:00:00.000Z');
                     INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at)
                     VALUES ('t', {p1}, 'G-1', 5000, 'EUR', 'user:bob', '2026-10-01T09:30:00.000Z');
                     INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                                         invoice_numbers, covers, planned_for, subject, body, why, status, created_at, updated_at, sent_at)
                     VALUES ('t', 'k1', 'C1', 'b2b', 'first_reminder', 'email', 'first', '[\"F-1\"]', '[]', '2026-10-12',
                             'Rappel F-1', 'Bonjour,\nla facture F-1 est échue.', '[]', 'sent',
                             '2026-10-12T07:00:00.000Z', '2026-10-12T07:05:00.000Z', '2026-10-12T07:05:00.000Z');
                     INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                                         invoice_numbers, covers, planned_for, subject, body, why, status, created_at, updated_at)
                     VALUES ('t', 'k2', 'C2', 'b2b', 'first_reminder', 'email', 'first', '[\"G-1\"]', '[]', '2026-10-12',
                             'Rappel G-1', 'x', '[]', 'sent', '2026-10-12T08:00:00.000Z', '2026-10-12T08:00:00.000Z');
                     INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                                   from_addr, subject, status, intent, customer_id, created_at, updated_at)
                     VALUES ('t', 'mail', 'INBOX', 1, 1, 'h', 1, '/r', 'ap@c1.example', 'Re: Rappel F-1', 'handled', 'dispute',
                             'C1', '2026-10-13T10:00:00.000Z', '2026-10-13T10:00:00.000Z');
                     INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data)
                     VALUES ('t', '2026-10-13T10:00:01.000Z', 'replies', 'invoice_disputed', 'invoice:F-2', '{{\"message\": 1}}');
                     INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data)
                     VALUES ('t', '2026-10-13T10:00:02.000Z', 'replies', 'invoice_disputed', 'invoice:G-1', '{{\"message\": 2}}');
                     UPDATE invoices SET status='disputed' WHERE tenant_id='t' AND number IN ('F-2', 'G-1');"
            ),
        );
        // By hand, now (after every dated row above).
        store.add_note(&t, "C1", None, "Appelé le comptable", "user:alice").unwrap().unwrap();
        store.add_note(&t, "C2", None, "Pas C1", "user:alice").unwrap().unwrap();
        store.add_note(&u, "C1", None, "Autre locataire", "user:zoe").unwrap().unwrap();
        let hold = store
            .place_hold(&t, HoldTarget::Customer("C1"), "attente BL", None, "user:alice", d(2026, 11, 1))
            .unwrap()
            .unwrap();
        store.lift_hold(&t, hold.id, "user:bob", Some("BL reçu"), d(2026, 11, 1)).unwrap().unwrap();
        let task = NewTask {
            kind: None,
            customer: "C1".into(),
            invoices: vec![],
            note: "Rappeler".into(),
            due_on: None,
            assignee: None,
        };
        let task = store.create_task(&t, &task, "user:alice").unwrap().unwrap();
        store.close_task(&t, task.id, Some("fait"), "user:alice").unwrap().unwrap();
        let promise = NewPromise {
            promised_date: d(2026, 11, 20),
            amount: Some("100.00".into()),
            currency: None,
            invoices: vec![],
            note: None,
        };
        store.record_promise(&t, "C1", &promise, "user:alice").unwrap().unwrap();
        store.resolve_dispute(&t, "F-2", DisputeResolution::Withdrawn, Some("accord"), "user:bob").unwrap().unwrap();

        let (all, next) = store.customer_timeline(&t, "C1", None, 100).unwrap();
        assert_eq!(next, None);
        let kinds: Vec<String> =
            all.iter().map(|e| serde_json::to_value(&e.event).unwrap()["kind"].as_str().unwrap().to_string()).collect();
        let at: Vec<&str> = all.iter().map(|e| e.at.as_str()).collect();
        let mut sorted = at.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(at, sorted, "newest first: {kinds:?}");
        // The events recorded now first (several in one millisecond), then the dated rows, invoices last.
        for k in ["note_added", "hold_placed", "hold_lifted", "task_created", "task_closed", "promise"] {
            assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
        }
        assert_eq!(
            kinds[kinds.len() - 9..],
            [
                "dispute_opened",
                "reply_received",
                "reminder",
                "payment_applied",
                "invoice_issued",
                "invoice_issued",
                "invoice_issued",
                "invoice_issued",
                "invoice_issued"
            ],
            "{kinds:?}"
        );
        let reminder = all.iter().find_map(|e| match &e.event {
            TimelineEvent::Reminder { subject, body, status, step, .. } => {
                Some((subject.clone(), body.clone(), *status, step.clone()))
            }
            _ => None,
        });
        assert_eq!(
            reminder,
            Some((
                "Rappel F-1".into(),
                "Bonjour,\nla facture F-1 est échue.".into(),
                OutboxStatus::Sent,
                "first_reminder".into()
            ))
        );
        assert!(all.iter().any(|e| matches!(&e.event,
            TimelineEvent::PaymentApplied { invoice, amount, automatic: true, .. } if invoice == "F-0" && *amount == eur(10_000))));
        assert!(all.iter().any(|e| matches!(&e.event,
            TimelineEvent::InvoiceIssued { invoice, credit_note: true, total, .. } if invoice == "AV-1" && *total == eur(-20_000))));
        assert!(all.iter().any(|e| matches!(&e.event,
            TimelineEvent::DisputeResolved { invoice, resolution: DisputeResolution::Withdrawn, by, .. } if invoice == "F-2" && by == "user:bob")));
        assert!(all.iter().any(|e| matches!(
            &e.event,
            TimelineEvent::ReplyReceived { intent: Some(relance_engine::replies::Intent::Dispute), .. }
        )));
        // Nothing of C2 (its note, reminder, allocation, dispute) nor of tenant u.
        let text = serde_json::to_string(&all).unwrap();
        for foreign in ["Pas C1", "Rappel G-1", "G-1", "Autre locataire", "user:zoe"] {
            assert!(!text.contains(foreign), "{foreign} in {text}");
        }

        // Paged by three: the same entries, in the same order, none twice.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = store.customer_timeline(&t, "C1", after.as_deref(), 3).unwrap();
            assert!(page.len() <= 3);
            paged.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged, all);
        assert!(matches!(store.customer_timeline(&t, "C1", Some("2026|x|1"), 3), Err(StoreError::UnknownCursor(_))));
        assert!(matches!(store.customer_timeline(&t, "C1", Some("2026|99|1"), 3), Err(StoreError::UnknownCursor(_))));
        let (theirs, _) = store.customer_timeline(&u, "C1", None, 100).unwrap();
        assert_eq!(theirs.len(), 2, "tenant u's C1: its invoice and its note: {theirs:?}");
    }
}

/// The plan of `sql`, one line per step.
fn plan(store: &Store, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Vec<String> {
    store
        .db
        .read(|c| {
            let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = st.query_map(args, |r| r.get::<_, String>(3))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
}

#[test]
fn every_customer_query_goes_through_a_customer_index() {
    let (_dir, store, _t, _u) = world();
    // With statistics (as `relance bench` makes them) the plans stay the same.
    store.db.write(|tx| Ok(tx.execute_batch("ANALYZE")?)).unwrap();
    // A step that reads a whole table, or the whole tenant's part of it.
    let full_scan = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                let l = l.trim();
                let table = l.split(' ').nth(1).unwrap_or_default();
                (l.starts_with("SCAN ")
                    && !table.starts_with('(')
                    && !["json_each", "c", "m", "linked", "branch", "timeline"].contains(&table))
                    || l.ends_with("(tenant_id=?)")
            })
            .cloned()
            .collect()
    };
    let null: Option<String> = None;
    let timeline = plan(&store, &super::customer_view::timeline_sql(), &[&"t", &"C1", &null, &null, &null, &51]);
    assert!(full_scan(&timeline).is_empty(), "{timeline:#?}");
    for index in [
        "invoices_issued_by_customer",
        "audit_disputes",
        "tasks_by_customer",
        "inbound_by_customer",
        "outbox_by_customer",
        "notes_by_customer",
        "holds_by_customer",
        "promises_by_customer",
    ] {
        assert!(timeline.iter().any(|l| l.contains(index)), "{index}: {timeline:#?}");
    }
    let items = plan(&store, &super::customer_view::open_items_sql(), &[&"t", &"C1", &null, &null, &51]);
    assert!(
        items.iter().any(|l| l.contains("invoices_open_by_customer")) && full_scan(&items).is_empty(),
        "{items:#?}"
    );
    let payments = plan(&store, &super::customer_view::unapplied_sql(false), &[&"t", &"C1", &100]);
    assert!(full_scan(&payments).is_empty(), "{payments:#?}");
    assert!(payments.iter().any(|l| l.contains("payments_unapplied_by_iban")), "{payments:#?}");
}

/// The dunning states carry each customer's open credit notes, for the
/// statement of account of their reminders.
#[test]
fn dunning_states_carry_the_open_credit_notes() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch, t, _u) in worlds(&dir) {
        let states = store.dunning_states(&t).unwrap();
        let c1 = states.iter().find(|s| s.customer_id == "C1").expect("C1 owes something");
        let notes: Vec<(&str, Money)> = c1.credit_notes.iter().map(|n| (n.number.as_str(), n.open)).collect();
        assert_eq!(notes, [("AV-1", eur(-20_000))]);
        assert!(c1.invoices.iter().all(|i| i.number != "AV-1"), "a credit note is never reminded");
        let c2 = states.iter().find(|s| s.customer_id == "C2").expect("C2 owes something");
        assert!(c2.credit_notes.is_empty());
    }
}

/// The reply and customer-page reads give the same answers on a world
/// built on SQLite (by the generators the benches use) and copied to
/// PostgreSQL with `store copy`.
#[test]
fn reply_and_customer_page_reads_agree_on_a_copied_world() {
    use crate::DatabaseUrl;
    let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.db");
    let t = TenantId::new("agree").unwrap();
    let as_of = d(2026, 11, 30);
    let sqlite = Store::open_sqlite(&path).unwrap();
    sqlite.generate_report_world(&t, &crate::ReportWorld { invoices: 2_000, customers: 120, as_of }).unwrap();
    sqlite.generate_ui_world(&t, &crate::UiWorld { invoices: 2_000, customers: 120, as_of }).unwrap();
    drop(sqlite);
    crate::copy_database(
        &DatabaseUrl::Sqlite(path.clone()),
        &DatabaseUrl::Postgres(scratch.url.clone()),
        &mut |_, _| {},
    )
    .unwrap();
    let sqlite = Store::open_sqlite(&path).unwrap();
    let postgres = Store::open_postgres_partial(&scratch.url).unwrap();
    let both = |what: &str, f: &dyn Fn(&Store) -> String| {
        let (a, b) = (f(&sqlite), f(&postgres));
        assert!(a.len() > 20, "{what}: too little to compare: {a}");
        assert_eq!(a, b, "{what}");
    };
    let customers: Vec<String> =
        sqlite.customers(&t, 40).unwrap().items.iter().map(|c| c.id.clone()).chain([LARGE_CUSTOMER.into()]).collect();
    both("messages", &|s| format!("{:?}", s.messages(&t, &[], 50).unwrap()));
    let messages = sqlite.messages(&t, &[], 50).unwrap();
    let last = messages.items.last().map(|m| m.id);
    both("messages after", &|s| format!("{:?}", s.messages(&t, &[], Window::after(50, last)).unwrap()));
    both("message", &|s| {
        format!("{:?}", messages.items.iter().map(|m| s.message(&t, m.id).unwrap()).collect::<Vec<_>>())
    });
    both("stored message", &|s| {
        format!("{:?}", messages.items.iter().map(|m| s.stored_message(&t, m.id).unwrap()).collect::<Vec<_>>())
    });
    both("promises", &|s| format!("{:?}", s.promises(&t, None, 50).unwrap()));
    both("tasks", &|s| format!("{:?}", s.tasks(&t, None, 50).unwrap()));
    both("dunning states", &|s| format!("{:?}", s.dunning_states(&t).unwrap()));
    for c in &customers {
        both(&format!("dunning state of {c}"), &|s| format!("{c} {:?}", s.dunning_state(&t, c).unwrap()));
        both(&format!("overview of {c}"), &|s| {
            format!("{:?}", s.customer_overview(&t, c, as_of, Window::after(20, None)).unwrap())
        });
        both(&format!("timeline of {c}"), &|s| {
            let mut pages = Vec::new();
            let mut after: Option<String> = None;
            for _ in 0..4 {
                let (page, next) = s.customer_timeline(&t, c, after.as_deref(), 7).unwrap();
                pages.push(format!("{page:?}"));
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            pages.join("\n")
        });
    }
}
