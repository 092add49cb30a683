//! Paid stays paid (issue #13): allocations Relance applied survive ERP
//! imports that do not reflect them yet, and are lifted when the ERP does,
//! or when they are undone.

use chrono::NaiveDate;

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, CustomerRecord, Invoice, InvoiceRecord, InvoiceStatus, PaymentStatus};

fn store() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
    (dir, store, TenantId::new("t").unwrap())
}

/// Invoice `F-<n>` of customer `C<n>`, total 100.00 EUR, `open` minor units open.
fn rec(n: u32, open: i64) -> InvoiceRecord {
    InvoiceRecord {
        number: format!("F-{n}"),
        customer: CustomerRecord {
            id: format!("C{n}"),
            name: format!("Customer {n}"),
            emails: vec![format!("c{n}@x.example")],
            ..Default::default()
        },
        issue_date: NaiveDate::from_ymd_opt(2026, 9, 1),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        total: Money::new(10_000, Currency::EUR),
        open: Money::new(open, Currency::EUR),
        status: None,
    }
}

/// Imports `records` as one unit (a full export when `full`).
fn import(store: &Store, t: &TenantId, unit: &str, records: Vec<InvoiceRecord>, full: bool) -> ImportSummary {
    let key = ImportKey { tenant: t, source: "erp", unit, label: unit, full_export: full };
    let mut st = store.begin_import(&key).unwrap();
    let n = records.len() as u64;
    store.apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: n, ..Default::default() }).unwrap();
    store.finish_import(&mut st, unit).unwrap()
}

/// A credit of `amount` applied to `invoice` (with `write_off` on top); returns the allocation id.
fn pay(store: &Store, t: &TenantId, key: &str, invoice: &str, amount: i64, write_off: i64) -> i64 {
    let p = NewPayment {
        dedupe_key: key.into(),
        account: None,
        line: BankLine {
            remittance: Some(invoice.into()),
            bank_ref: Some(key.into()),
            ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), Money::new(amount, Currency::EUR))
        },
    };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    let pid = store.payments_to_match(t).unwrap().into_iter().map(|p| p.id).max().unwrap();
    let alloc = AllocationRequest {
        invoice: invoice.into(),
        amount: Money::new(amount, Currency::EUR),
        write_off: (write_off > 0).then(|| Money::new(write_off, Currency::EUR)),
    };
    store.apply_payment(t, pid, &[PaymentStatus::New], &[alloc], "matcher", None, crate::LearnIban::No).unwrap()[0]
}

fn invoice(store: &Store, t: &TenantId, number: &str) -> Invoice {
    let page = store.invoices(t, &InvoiceQuery { limit: 1000, ..Default::default() }).unwrap();
    page.items.into_iter().find(|i| i.number == number).unwrap()
}

/// (open, ERP's open, pending in the ERP, status) of an invoice.
fn amounts(store: &Store, t: &TenantId, number: &str) -> (i64, i64, i64, InvoiceStatus) {
    let i = invoice(store, t, number);
    (i.open.minor, i.open_erp.minor, i.pending_erp.minor, i.status)
}

/// The allocation as the API shows it.
fn allocation(store: &Store, t: &TenantId, id: i64) -> serde_json::Value {
    let pid: i64 = store
        .db
        .read_any(|db| db.query_one("SELECT payment_id FROM allocations WHERE id=?1", crate::db::args![id])?.get(0))
        .unwrap();
    let a = store.allocations(t, pid).unwrap().into_iter().find(|a| a.id == id).unwrap();
    serde_json::to_value(a).unwrap()
}

fn events(store: &Store, t: &TenantId, kind: &str) -> Vec<serde_json::Value> {
    store.events(t, 0, 10_000).unwrap().into_iter().filter(|e| e.kind == kind).map(|e| e.data).collect()
}

#[test]
fn a_stale_export_does_not_reopen_a_paid_invoice() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000)], true);
    let a = pay(&store, &t, "p0", "F-0", 10_000, 0);
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    let updates_before = events(&store, &t, "invoice_updated").len();
    // The ERP's next full export has not processed the write-back: F-0 still fully open.
    let s = import(&store, &t, "2", vec![rec(0, 10_000), rec(1, 10_000)], true);
    assert_eq!((s.updated, s.unchanged, s.closed), (0, 2, 0), "nothing changed for Relance");
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid), "paid stays paid");
    assert_eq!(events(&store, &t, "invoice_updated").len(), updates_before, "no change, no event");
    let shown = allocation(&store, &t, a);
    assert_eq!((shown["erp_state"].as_str(), shown["pending_erp"].as_str()), (Some("pending"), Some("100.00")));
    let json = serde_json::to_value(invoice(&store, &t, "F-0")).unwrap();
    assert_eq!(
        (json["amount_open"].as_str(), json["amount_open_erp"].as_str(), json["pending_erp"].as_str()),
        (Some("0.00"), Some("100.00"), Some("100.00")),
        "{json}"
    );
}

#[test]
fn a_partial_payment_stays_pending_then_is_reflected() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000)], true);
    let a = pay(&store, &t, "p0", "F-0", 4_000, 0);
    import(&store, &t, "2", vec![rec(0, 10_000)], true);
    assert_eq!(amounts(&store, &t, "F-0"), (6_000, 10_000, 4_000, InvoiceStatus::PartiallyPaid));
    // The ERP registered the payment: its open amount dropped by it.
    let s = import(&store, &t, "3", vec![rec(0, 6_000)], true);
    assert_eq!(s.updated, 1, "the ERP's figure changed");
    assert_eq!(amounts(&store, &t, "F-0"), (6_000, 6_000, 0, InvoiceStatus::PartiallyPaid), "same for the customer");
    let shown = allocation(&store, &t, a);
    assert_eq!(shown["erp_state"], "reflected");
    assert_eq!((shown["reflected_by"].as_str(), shown["pending_erp"].as_str()), (Some("erp_open_drop"), Some("0.00")));
    let updated = events(&store, &t, "invoice_updated");
    let last = updated.last().unwrap();
    assert_eq!(last["changes"]["amount_open_erp"], serde_json::json!(["100.00", "60.00"]), "{last}");
    assert!(last["changes"].get("amount_open").is_none(), "the effective amount did not change: {last}");
    assert_eq!(last["reflected"][0]["allocation"], a);
    assert_eq!(last["reflected"][0]["amount"], "40.00");
    // Later exports with the same figure change nothing.
    assert_eq!(import(&store, &t, "4", vec![rec(0, 6_000)], true).unchanged, 1);
}

#[test]
fn a_drop_smaller_than_what_is_pending_reflects_part_of_it_oldest_first() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000)], true);
    let first = pay(&store, &t, "p1", "F-0", 3_000, 0);
    let second = pay(&store, &t, "p2", "F-0", 5_000, 0);
    assert_eq!(amounts(&store, &t, "F-0"), (2_000, 10_000, 8_000, InvoiceStatus::PartiallyPaid));
    // The ERP so far registered 40.00: the first allocation and 10.00 of the second.
    import(&store, &t, "2", vec![rec(0, 6_000)], true);
    assert_eq!(amounts(&store, &t, "F-0"), (2_000, 6_000, 4_000, InvoiceStatus::PartiallyPaid));
    assert_eq!(allocation(&store, &t, first)["erp_state"], "reflected");
    let s = allocation(&store, &t, second);
    assert_eq!(
        (s["erp_state"].as_str(), s["reflected"].as_str(), s["pending_erp"].as_str()),
        (Some("pending"), Some("10.00"), Some("40.00"))
    );
    // The same figure again changes nothing.
    assert_eq!(import(&store, &t, "3", vec![rec(0, 6_000)], true).unchanged, 1);
    assert_eq!(amounts(&store, &t, "F-0"), (2_000, 6_000, 4_000, InvoiceStatus::PartiallyPaid));
    // The rest is registered.
    import(&store, &t, "4", vec![rec(0, 2_000)], true);
    assert_eq!(amounts(&store, &t, "F-0"), (2_000, 2_000, 0, InvoiceStatus::PartiallyPaid));
    assert_eq!(allocation(&store, &t, second)["erp_state"], "reflected");
}

#[test]
fn an_undo_lifts_the_pending_allocation() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000)], true);
    let a = pay(&store, &t, "p0", "F-0", 10_000, 0);
    import(&store, &t, "2", vec![rec(0, 10_000), rec(1, 10_000)], true);
    store.undo_allocation(&t, a, "api:test").unwrap();
    assert_eq!(amounts(&store, &t, "F-0"), (10_000, 10_000, 0, InvoiceStatus::Open), "owed again, at the ERP's amount");
    assert_eq!(allocation(&store, &t, a)["pending_erp"], "0.00");
    let undone = events(&store, &t, "allocation_undone");
    assert_eq!(undone[0]["status"], serde_json::json!(["paid", "open"]));
    // A later stale export keeps it open; nothing is pending any more.
    import(&store, &t, "3", vec![rec(0, 10_000), rec(1, 10_000)], true);
    assert_eq!(amounts(&store, &t, "F-0"), (10_000, 10_000, 0, InvoiceStatus::Open));
    // Undoing an allocation the ERP already reflected leaves the ERP's figure:
    // the ERP holds the payment until the reversal written back is processed there.
    let b = pay(&store, &t, "p1", "F-1", 4_000, 0);
    import(&store, &t, "4", vec![rec(0, 10_000), rec(1, 6_000)], true);
    store.undo_allocation(&t, b, "api:test").unwrap();
    assert_eq!(amounts(&store, &t, "F-1"), (6_000, 6_000, 0, InvoiceStatus::PartiallyPaid));
    // When the ERP reverses it, the invoice is owed in full again.
    import(&store, &t, "5", vec![rec(0, 10_000), rec(1, 10_000)], true);
    assert_eq!(amounts(&store, &t, "F-1"), (10_000, 10_000, 0, InvoiceStatus::Open));
}

#[test]
fn an_erp_that_reports_the_invoice_paid_or_closed_reflects_what_is_pending() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000), rec(2, 10_000), rec(3, 10_000)], true);
    let paid = pay(&store, &t, "p0", "F-0", 4_000, 0);
    let cancelled = pay(&store, &t, "p1", "F-1", 4_000, 0);
    let missing = pay(&store, &t, "p2", "F-2", 10_000, 0);
    let partly = pay(&store, &t, "p3", "F-3", 4_000, 0);
    let mut f0 = rec(0, 0);
    f0.status = Some(InvoiceStatus::Paid);
    let mut f1 = rec(1, 10_000);
    f1.status = Some(InvoiceStatus::Cancelled);
    // F-2 (paid by Relance) and F-3 (partly paid) are no longer listed: the ERP closed them.
    let s = import(&store, &t, "2", vec![f0, f1], true);
    assert_eq!(s.closed, 1, "F-3 is closed; F-2 is paid, not closable");
    assert_eq!(amounts(&store, &t, "F-0"), (0, 0, 0, InvoiceStatus::Paid));
    assert_eq!(amounts(&store, &t, "F-1"), (10_000, 10_000, 0, InvoiceStatus::Cancelled));
    assert_eq!(amounts(&store, &t, "F-2"), (0, 0, 0, InvoiceStatus::Paid));
    assert_eq!(amounts(&store, &t, "F-3"), (0, 0, 0, InvoiceStatus::Closed));
    for (id, by) in [
        (paid, "erp_settled"),
        (cancelled, "erp_settled"),
        (missing, "missing_from_full_export"),
        (partly, "missing_from_full_export"),
    ] {
        let a = allocation(&store, &t, id);
        assert_eq!((a["erp_state"].as_str(), a["reflected_by"].as_str()), (Some("reflected"), Some(by)), "{a}");
    }
    let reflected = events(&store, &t, "allocations_reflected");
    assert_eq!(reflected.len(), 1, "one event per closing pass");
    assert_eq!(reflected[0]["count"], 2);
    // Undoing after the ERP settled it does not reopen a cancelled invoice.
    store.undo_allocation(&t, cancelled, "api:test").unwrap();
    assert_eq!(amounts(&store, &t, "F-1").3, InvoiceStatus::Cancelled);
}

#[test]
fn reminders_read_the_open_amount_after_relance_s_payments() {
    use relance_domain::Channel;
    use relance_engine::dunning::{Decision, Step, templates::Rendered};
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000)], true);
    let decision = Decision {
        customer_id: "C0".into(),
        step: Step {
            id: "courteous".into(),
            offset_days: 1,
            channel: Channel::Email,
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
    store.enqueue_reminder(&t, "b2b", day, &decision, &rendered, None).unwrap().unwrap();
    // Paid after planning, then a stale export: the reminder is cancelled, not sent.
    pay(&store, &t, "p0", "F-0", 10_000, 0);
    pay(&store, &t, "p1", "F-1", 2_500, 0);
    import(&store, &t, "2", vec![rec(0, 10_000), rec(1, 10_000)], true);
    let now = chrono::Utc::now();
    let claim = store.claim_outbox(&t, day, now, 10).unwrap();
    assert_eq!((claim.items.len(), claim.cancelled), (0, 1), "{claim:?}");
    // Planning sees no debt on F-0 and 75.00 on F-1.
    let states = store.dunning_states(&t).unwrap();
    assert!(states.iter().all(|c| c.customer_id != "C0"), "C0 paid: {states:?}");
    let c1 = states.iter().find(|c| c.customer_id == "C1").unwrap();
    assert_eq!(c1.invoices[0].open, Money::new(7_500, Currency::EUR));
}

#[test]
fn a_write_back_that_registers_the_payment_reflects_its_amount() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000)], true);
    // 99.00 received, 1.00 of bank fees written off.
    let a = pay(&store, &t, "p0", "F-0", 9_900, 100);
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    let notices = store.pending_writebacks(&t, 10).unwrap();
    let other = TenantId::new("u").unwrap();
    store.mark_writeback_registered(&other, notices[0].0).unwrap();
    assert_eq!(store.pending_writebacks(&t, 10).unwrap().len(), 1, "another tenant cannot confirm it");
    store.mark_writeback_registered(&t, notices[0].0).unwrap();
    assert!(store.pending_writebacks(&t, 10).unwrap().is_empty());
    // The ERP holds the 99.00; the write-off is Relance's, still pending there.
    assert_eq!(amounts(&store, &t, "F-0"), (0, 100, 100, InvoiceStatus::Paid));
    let shown = allocation(&store, &t, a);
    assert_eq!((shown["erp_state"].as_str(), shown["reflected"].as_str()), (Some("pending"), Some("99.00")));
    // The ERP's next export shows the registered payment: nothing changes.
    assert_eq!(import(&store, &t, "2", vec![rec(0, 100)], true).unchanged, 1);
    // The ERP writes the fee off too.
    import(&store, &t, "3", vec![rec(0, 0)], true);
    assert_eq!(amounts(&store, &t, "F-0"), (0, 0, 0, InvoiceStatus::Paid));
    assert_eq!(allocation(&store, &t, a)["erp_state"], "reflected");
}

#[test]
fn an_update_in_another_currency_than_pending_allocations_is_quarantined() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000)], true);
    pay(&store, &t, "p0", "F-0", 10_000, 0);
    let mut usd = rec(0, 10_000);
    usd.total = Money::new(10_000, Currency::parse("USD").unwrap());
    usd.open = usd.total;
    let s = import(&store, &t, "2", vec![usd, rec(1, 10_000)], true);
    assert_eq!((s.quarantined, s.closed), (1, 0), "kept, not closed");
    let inv = invoice(&store, &t, "F-0");
    assert_eq!((inv.open.minor, inv.open.currency, inv.status), (0, Currency::EUR, InvoiceStatus::Paid));
    let q = store.quarantine(&t, 10).unwrap();
    assert!(q.items[0].reason.contains("in USD"), "{:?}", q.items[0]);
}

#[test]
fn a_database_from_before_is_migrated_with_its_applied_payments_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../migrations/sqlite/0001_foundation.sql"),
            include_str!("../migrations/sqlite/0002_cash_application.sql"),
            include_str!("../migrations/sqlite/0003_inbound_messages.sql"),
            include_str!("../migrations/sqlite/0004_outbox.sql"),
            include_str!("../migrations/sqlite/0005_delivery.sql"),
            include_str!("../migrations/sqlite/0006_held_imports.sql"),
        ] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "PRAGMA user_version=6;
             INSERT INTO payments (id, tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction,
                                   status, unallocated_minor, created_at, updated_at)
                  VALUES (1, 't', 'k', 'bank', '2026-11-02', 30000, 'EUR', 'credit', 'matched', 0, '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z');
             INSERT INTO invoices (tenant_id, number, customer_id, due_date, currency, total_minor, open_minor, status,
                                   source, created_at, updated_at) VALUES
                 ('t', 'F-0', 'C0', '2026-10-01', 'EUR', 10000, 0, 'paid', 'erp', '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z'),
                 ('t', 'F-1', 'C1', '2026-10-01', 'EUR', 10000, 10000, 'open', 'erp', '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z'),
                 ('t', 'F-2', 'C2', '2026-10-01', 'EUR', 10000, 0, 'closed', 'erp', '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z');
             INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at) VALUES
                 ('t', 1, 'F-0', 10000, 'EUR', 'matcher', '2026-11-02T10:00:00Z'),
                 ('t', 1, 'F-1', 10000, 'EUR', 'matcher', '2026-11-02T10:00:00Z'),
                 ('t', 1, 'F-2', 10000, 'EUR', 'matcher', '2026-11-02T10:00:00Z');",
        )
        .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let t = TenantId::new("t").unwrap();
    // Applied, not seen by the ERP yet: pending, the ERP's figure is the one before.
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    // Reopened by a stale import before the fix: the payment is applied again, audited.
    assert_eq!(amounts(&store, &t, "F-1"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    let repaired = events(&store, &t, "invoice_updated");
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(repaired[0]["changes"]["status"], serde_json::json!(["open", "paid"]));
    // Settled by the ERP: reflected.
    assert_eq!(amounts(&store, &t, "F-2"), (0, 0, 0, InvoiceStatus::Closed));
    let mut f2 = rec(2, 0);
    f2.status = Some(InvoiceStatus::Closed);
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000), f2], true);
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    assert_eq!(amounts(&store, &t, "F-1"), (0, 10_000, 10_000, InvoiceStatus::Paid));
}

// Net payments: invoices less an open credit note, offset by a negative allocation.

/// Credit note `AV-<n>` of customer `C<customer>`: `open` (negative) of a total of -30.00 EUR.
fn note(n: u32, customer: u32, open: i64) -> InvoiceRecord {
    let mut r = rec(customer, open);
    r.number = format!("AV-{n}");
    r.total = Money::new(-3_000, Currency::EUR);
    r
}

/// A credit of `amount` stored (not applied); returns its payment id.
fn credit(store: &Store, t: &TenantId, key: &str, amount: i64) -> i64 {
    let p = NewPayment {
        dedupe_key: key.into(),
        account: None,
        line: BankLine {
            remittance: Some("net".into()),
            bank_ref: Some(key.into()),
            ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), Money::new(amount, Currency::EUR))
        },
    };
    store.store_statement(t, "bank", key, key, None, "camt", &[p]).unwrap();
    store.payments_to_match(t).unwrap().into_iter().map(|p| p.id).max().unwrap()
}

fn alloc(invoice: &str, amount: i64) -> AllocationRequest {
    AllocationRequest { invoice: invoice.into(), amount: Money::new(amount, Currency::EUR), write_off: None }
}

fn apply_net(store: &Store, t: &TenantId, pid: i64, set: &[AllocationRequest]) -> Result<Vec<i64>, StoreError> {
    store.apply_payment(t, pid, &[PaymentStatus::New], set, "matcher", None, crate::LearnIban::No)
}

#[test]
fn a_net_payment_offsets_the_credit_note_and_a_stale_export_keeps_it_used() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    assert_eq!(amounts(&store, &t, "AV-0"), (-3_000, -3_000, 0, InvoiceStatus::CreditNote));
    let pid = credit(&store, &t, "p0", 7_000);
    let ids = apply_net(&store, &t, pid, &[alloc("F-0", 10_000), alloc("AV-0", -3_000)]).unwrap();
    assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
    assert_eq!(
        amounts(&store, &t, "AV-0"),
        (0, -3_000, -3_000, InvoiceStatus::CreditNote),
        "used up, still a credit note"
    );
    let p = store.payment(&t, pid).unwrap().unwrap();
    assert_eq!((p.status, p.unallocated.minor), (PaymentStatus::Matched, 0));
    let (open, _) = store.matching_inputs(&t).unwrap();
    assert!(open.iter().all(|i| i.number != "AV-0"), "a used credit note is no open item");
    // Applied once: the same set again is refused, nothing changes.
    assert!(apply_net(&store, &t, pid, &[alloc("F-0", 10_000), alloc("AV-0", -3_000)]).is_err());
    assert_eq!(amounts(&store, &t, "AV-0").0, 0);
    // The ERP sees the offset as such: a negative amount on the credit note.
    let notices = store.pending_writebacks(&t, 10).unwrap();
    let shown: Vec<(&str, i64)> = notices.iter().map(|(_, n)| (n.invoice_number.as_str(), n.amount.minor)).collect();
    assert_eq!(shown, [("F-0", 10_000), ("AV-0", -3_000)]);
    let applied = events(&store, &t, "allocation_applied");
    assert_eq!(applied.iter().filter(|e| e["credit_note"] == true).count(), 1, "{applied:?}");
    let shown = allocation(&store, &t, ids[1]);
    assert_eq!((shown["amount"].as_str(), shown["pending_erp"].as_str()), (Some("-30.00"), Some("-30.00")));

    // The ERP's next export still lists the credit note at its full amount: it stays used.
    let s = import(&store, &t, "2", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    assert_eq!((s.updated, s.unchanged), (0, 2), "nothing changed for Relance");
    assert_eq!(amounts(&store, &t, "AV-0"), (0, -3_000, -3_000, InvoiceStatus::CreditNote));
    let json = serde_json::to_value(invoice(&store, &t, "AV-0")).unwrap();
    assert_eq!((json["amount_open"].as_str(), json["pending_erp"].as_str()), (Some("0.00"), Some("-30.00")), "{json}");

    // The ERP used part of it, then all of it: reflected toward zero.
    import(&store, &t, "3", vec![rec(0, 10_000), note(0, 0, -1_000)], true);
    assert_eq!(amounts(&store, &t, "AV-0"), (0, -1_000, -1_000, InvoiceStatus::CreditNote));
    import(&store, &t, "4", vec![rec(0, 0), note(0, 0, 0)], true);
    assert_eq!(amounts(&store, &t, "AV-0"), (0, 0, 0, InvoiceStatus::CreditNote));
    let shown = allocation(&store, &t, ids[1]);
    assert_eq!(
        (shown["erp_state"].as_str(), shown["reflected"].as_str(), shown["reflected_by"].as_str()),
        (Some("reflected"), Some("-30.00"), Some("erp_open_drop"))
    );
}

#[test]
fn undoing_a_net_payment_undoes_its_whole_set_exactly() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    let pid = credit(&store, &t, "p0", 7_000);
    let ids = apply_net(&store, &t, pid, &[alloc("F-0", 10_000), alloc("AV-0", -3_000)]).unwrap();
    store.undo_allocation(&t, ids[0], "alice").unwrap();
    assert_eq!(amounts(&store, &t, "F-0"), (10_000, 10_000, 0, InvoiceStatus::Open));
    assert_eq!(amounts(&store, &t, "AV-0"), (-3_000, -3_000, 0, InvoiceStatus::CreditNote), "open again");
    let p = store.payment(&t, pid).unwrap().unwrap();
    assert_eq!((p.status, p.unallocated.minor), (PaymentStatus::Suggested, 7_000), "the payment whole again");
    assert!(store.allocations(&t, pid).unwrap().iter().all(|a| a.undone_at.is_some()));
    let reversals: Vec<(String, i64)> = store
        .pending_writebacks(&t, 10)
        .unwrap()
        .into_iter()
        .filter(|(_, n)| n.reversal)
        .map(|(_, n)| (n.invoice_number, n.amount.minor))
        .collect();
    assert_eq!(reversals, [("F-0".to_string(), 10_000), ("AV-0".to_string(), -3_000)]);
    assert!(store.undo_allocation(&t, ids[1], "alice").is_err(), "already undone with its set");
    // A stale export after the undo: the credit note is open at the ERP's amount.
    import(&store, &t, "2", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    assert_eq!(amounts(&store, &t, "AV-0"), (-3_000, -3_000, 0, InvoiceStatus::CreditNote));
    // And it can be applied again by a person.
    let again = store.apply_payment(
        &t,
        pid,
        &[PaymentStatus::Suggested],
        &[alloc("F-0", 10_000), alloc("AV-0", -3_000)],
        "alice",
        None,
        crate::LearnIban::No,
    );
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn a_credit_note_offset_is_checked() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), rec(1, 10_000), note(0, 0, -3_000), note(1, 1, -3_000)], true);
    let pid = credit(&store, &t, "p0", 7_000);
    let refused = |set: &[AllocationRequest]| match apply_net(&store, &t, pid, set) {
        Err(StoreError::Rejected(why)) => why,
        other => panic!("{set:?} not refused: {other:?}"),
    };
    assert!(refused(&[alloc("F-0", 10_000), alloc("F-1", -3_000)]).contains("not a credit note"));
    assert!(refused(&[alloc("AV-0", 3_000)]).contains("negative amount"));
    assert!(refused(&[alloc("F-0", 10_000), alloc("AV-1", -3_000)]).contains("same customer"));
    assert!(refused(&[alloc("F-0", 5_000), alloc("AV-0", -3_000)]).contains("applied whole"));
    assert!(refused(&[alloc("F-0", 3_000), alloc("AV-0", -3_000)]).contains("more than the credit notes"));
    assert!(refused(&[alloc("AV-0", -3_000)]).contains("more than the credit notes"));
    let mut with_write_off = alloc("AV-0", -3_000);
    with_write_off.write_off = Some(Money::new(100, Currency::EUR));
    assert!(refused(&[alloc("F-0", 10_000), with_write_off]).contains("write-off"));
    // More than the credit note's open amount.
    let pid2 = credit(&store, &t, "p1", 6_000);
    let over = apply_net(&store, &t, pid2, &[alloc("F-0", 10_000), alloc("AV-0", -4_000)]);
    assert!(matches!(&over, Err(StoreError::Rejected(why)) if why.contains("cannot apply -40.00")), "{over:?}");
    // Nothing moved.
    assert_eq!(amounts(&store, &t, "AV-0"), (-3_000, -3_000, 0, InvoiceStatus::CreditNote));
    assert_eq!(amounts(&store, &t, "F-0"), (10_000, 10_000, 0, InvoiceStatus::Open));
    assert!(store.pending_writebacks(&t, 10).unwrap().is_empty());
}

#[test]
fn a_write_back_that_registers_a_credit_note_offset_reflects_it() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    let pid = credit(&store, &t, "p0", 7_000);
    let ids = apply_net(&store, &t, pid, &[alloc("F-0", 10_000), alloc("AV-0", -3_000)]).unwrap();
    for (oid, _) in store.pending_writebacks(&t, 10).unwrap() {
        store.mark_writeback_registered(&t, oid).unwrap();
    }
    assert_eq!(amounts(&store, &t, "AV-0"), (0, 0, 0, InvoiceStatus::CreditNote), "the ERP holds the offset");
    assert_eq!(amounts(&store, &t, "F-0"), (0, 0, 0, InvoiceStatus::Paid));
    let shown = allocation(&store, &t, ids[1]);
    assert_eq!(
        (shown["erp_state"].as_str(), shown["reflected_by"].as_str()),
        (Some("reflected"), Some("writeback_registered"))
    );
}

/// What does not need an import, on both backends: a write-back that
/// registers the payment, an undo after it, and a net payment undone whole
/// (the invoices written row by row, as an import leaves them).
#[test]
fn write_backs_undos_and_net_payments_reflect_alike_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    for (store, _scratch) in crate::db::both_backends(dir.path()) {
        let t = TenantId::new("t").unwrap();
        crate::payment_tests::seed_invoices(
            &store,
            &t,
            &[("F-0", "C0", 10_000, 10_000), ("F-1", "C1", 10_000, 10_000), ("AV-1", "C1", -3_000, -3_000)],
        );
        // 99.00 received, 1.00 of bank fees written off, registered in the ERP by the write-back.
        let a = pay(&store, &t, "p0", "F-0", 9_900, 100);
        assert_eq!(amounts(&store, &t, "F-0"), (0, 10_000, 10_000, InvoiceStatus::Paid));
        let notices = store.pending_writebacks(&t, 10).unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!((notices[0].1.allocation_id, notices[0].1.amount.minor, notices[0].1.reversal), (a, 9_900, false));
        store.mark_writeback_registered(&t, notices[0].0).unwrap();
        store.mark_writeback_registered(&t, notices[0].0).unwrap();
        assert_eq!(amounts(&store, &t, "F-0"), (0, 100, 100, InvoiceStatus::Paid), "registered once");
        let shown = allocation(&store, &t, a);
        assert_eq!((shown["erp_state"].as_str(), shown["reflected"].as_str()), (Some("pending"), Some("99.00")));
        assert_eq!(events(&store, &t, "allocation_reflected").len(), 1);
        // Undone: the ERP holds the 99.00 until the reversal is processed there.
        store.undo_allocation(&t, a, "api:test").unwrap();
        assert_eq!(amounts(&store, &t, "F-0"), (100, 100, 0, InvoiceStatus::PartiallyPaid));
        let reversal = store.pending_writebacks(&t, 10).unwrap();
        assert_eq!((reversal.len(), reversal[0].1.reversal), (1, true));
        store.mark_writeback(&t, reversal[0].0, Err("ERP down")).unwrap();
        store.mark_writeback(&t, reversal[0].0, Ok(())).unwrap();
        assert!(store.pending_writebacks(&t, 10).unwrap().is_empty());
        // A net payment: F-1 less the credit note AV-1, undone as one set.
        let pid = credit(&store, &t, "p1", 7_000);
        let ids = apply_net(&store, &t, pid, &[alloc("F-1", 10_000), alloc("AV-1", -3_000)]).unwrap();
        assert_eq!(amounts(&store, &t, "F-1"), (0, 10_000, 10_000, InvoiceStatus::Paid));
        assert_eq!(amounts(&store, &t, "AV-1"), (0, -3_000, -3_000, InvoiceStatus::CreditNote));
        store.undo_allocation(&t, ids[1], "api:test").unwrap();
        assert_eq!(amounts(&store, &t, "F-1"), (10_000, 10_000, 0, InvoiceStatus::Open));
        assert_eq!(amounts(&store, &t, "AV-1"), (-3_000, -3_000, 0, InvoiceStatus::CreditNote));
        let p = store.payment(&t, pid).unwrap().unwrap();
        assert_eq!((p.status, p.unallocated.minor), (PaymentStatus::Suggested, 7_000));
        // Back in review; a credit note takes no positive amount.
        let from = [PaymentStatus::Suggested];
        let err = store.apply_payment(&t, pid, &from, &[alloc("AV-1", 3_000)], "api:test", None, crate::LearnIban::No);
        assert!(
            matches!(&err, Err(StoreError::Rejected(why)) if why == "AV-1 is a credit note: it is offset by a negative amount"),
            "{err:?}"
        );
    }
}

#[test]
fn a_net_payment_settles_its_invoice_in_the_rates_and_replays_with_its_credit_note() {
    let (_dir, store, t) = store();
    import(&store, &t, "1", vec![rec(0, 10_000), note(0, 0, -3_000)], true);
    let pid = credit(&store, &t, "p0", 7_000);
    apply_net(&store, &t, pid, &[alloc("F-0", 10_000), alloc("AV-0", -3_000)]).unwrap();
    let rates = store.cash_rates(&t, None).unwrap();
    assert_eq!((rates.credits, rates.auto_matched), (1, 1));
    assert_eq!((rates.invoices_settled, rates.invoices_settled_auto), (1, 1), "the invoice, not its credit note");
    // The replay sees both open again, as the matcher saw them.
    let (invoices, _) = store.replay_inputs(&t).unwrap();
    let open: Vec<(&str, i64)> = invoices.iter().map(|i| (i.number.as_str(), i.open.minor)).collect();
    assert_eq!(open, [("AV-0", -3_000), ("F-0", 10_000)]);
}
