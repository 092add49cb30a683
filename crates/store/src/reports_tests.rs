//! The report inputs summed in SQL, on a small hand-built world, against
//! figures computed by hand (and, for the aged balance, against the engine
//! run over every open item).
//!
//! The world, seen on 15 March 2026:
//!
//! | invoice | customer (segment) | issued     | due        | total   | open   |
//! |---------|--------------------|------------|------------|---------|--------|
//! | F-1     | C1 (retail)        | 2025-12-11 | 2026-01-10 | 1000.00 | 600.00 after 400.00 booked 10 Feb |
//! | F-2     | C1 (retail)        | 2026-02-18 | 2026-03-20 | 500.00  | 500.00 |
//! | F-3     | C2 (none)          | 2025-10-02 | 2025-11-01 | 300.00  | 300.00 |
//! | AV-1    | C3 (wholesale)     | 2026-03-01 | 2026-03-01 | −50.00  | −50.00 (credit note) |
//! | G-1     | C3 (wholesale)     | 2026-01-02 | 2026-02-01 | 200 GBP | 200 GBP |

#![allow(clippy::inconsistent_digit_grouping)] // amounts written `major_minor`

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, Channel, CustomerRecord, InvoiceRecord, PaymentStatus};
use relance_engine::replies::Intent;
use relance_engine::reports::{self, AgeBucket, AgedGrouping, PromiseCounts, ReminderCount, Settlement};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn gbp(minor: i64) -> Money {
    Money::new(minor, Currency::parse("GBP").expect("GBP"))
}

fn customer(id: &str, segment: Option<&str>) -> CustomerRecord {
    CustomerRecord {
        id: id.into(),
        name: format!("Name of {id}"),
        segment: segment.map(String::from),
        ..Default::default()
    }
}

fn invoice(number: &str, c: CustomerRecord, issued: NaiveDate, due: NaiveDate, total: Money) -> InvoiceRecord {
    InvoiceRecord {
        number: number.into(),
        customer: c,
        issue_date: Some(issued),
        due_date: due,
        total,
        open: total,
        status: None,
    }
}

fn world() -> (tempfile::TempDir, Store, TenantId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("db.sqlite")).expect("store");
    let t = TenantId::new("t").expect("tenant");
    let (c1, c2, c3) = (customer("C1", Some("retail")), customer("C2", None), customer("C3", Some("wholesale")));
    let records = vec![
        invoice("F-1", c1.clone(), day(2025, 12, 11), day(2026, 1, 10), eur(1_000_00)),
        invoice("F-2", c1, day(2026, 2, 18), day(2026, 3, 20), eur(500_00)),
        invoice("F-3", c2, day(2025, 10, 2), day(2025, 11, 1), eur(300_00)),
        invoice("AV-1", c3.clone(), day(2026, 3, 1), day(2026, 3, 1), eur(-50_00)),
        invoice("G-1", c3, day(2026, 1, 2), day(2026, 2, 1), gbp(200_00)),
    ];
    let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "u", full_export: false };
    let mut st = store.begin_import(&key).expect("import");
    let n = records.len() as u64;
    store
        .apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: n, ..Default::default() })
        .expect("batch");
    store.finish_import(&mut st, "u").expect("finish");
    // 400.00 booked on 10 February, applied to F-1 by the matcher.
    let p =
        NewPayment { dedupe_key: "P1".into(), account: None, line: BankLine::credit(day(2026, 2, 10), eur(400_00)) };
    store.store_statement(&t, "bank", "P1", "P1", None, "camt", &[p]).expect("statement");
    let id: i64 = store.db.read(|c| Ok(c.query_row("SELECT max(id) FROM payments", [], |r| r.get(0))?)).expect("id");
    let alloc = AllocationRequest { invoice: "F-1".into(), amount: eur(400_00), write_off: None };
    store.apply_payment(&t, id, &[PaymentStatus::New], &[alloc], MATCHER_ACTOR, None, LearnIban::No).expect("applied");
    (dir, store, t)
}

#[test]
fn aged_sums_per_customer_and_segment_agree_with_the_engine_over_every_item() {
    let (_dir, store, t) = world();
    let as_of = day(2026, 3, 15);
    let sums = store.aged_sums(&t, as_of, AgedGrouping::Customer).expect("sums");
    let by_customer = reports::aged_balance_from_sums(&sums, as_of, AgedGrouping::Customer).expect("aged");
    let items = store.open_items(&t).expect("items");
    let reference = reports::aged_balance(&items, as_of).expect("reference");
    assert_eq!(
        by_customer.rows.iter().map(|r| (&r.key, r.currency, r.buckets)).collect::<Vec<_>>(),
        reference.rows.iter().map(|r| (&r.key, r.currency, r.buckets)).collect::<Vec<_>>(),
        "SQL buckets = engine buckets"
    );
    assert_eq!(by_customer.totals, reference.totals);
    // By hand: F-1 is 64 days late (21 in January + 28 + 15), 600 left; F-2 not due.
    let c1 = &by_customer.rows[0];
    assert_eq!((c1.key.as_str(), c1.name.as_deref()), ("C1", Some("Name of C1")));
    assert_eq!(c1.buckets, [eur(500_00), eur(0), eur(0), eur(600_00), eur(0)]);
    // F-3: 134 days late. The credit note (due 1 March): 14 days, negative.
    assert_eq!(by_customer.rows[1].buckets[AgeBucket::Over90.index()], eur(300_00));
    let c3_eur = by_customer.rows.iter().find(|r| r.key == "C3" && r.currency == Currency::EUR).expect("C3 EUR");
    assert_eq!(c3_eur.buckets[AgeBucket::Days1To30.index()], eur(-50_00));
    let c3_gbp = by_customer.rows.iter().find(|r| r.currency != Currency::EUR).expect("C3 GBP");
    assert_eq!(c3_gbp.buckets[AgeBucket::Days31To60.index()], gbp(200_00), "42 days late, in pounds");
    assert_eq!(by_customer.totals[0].total, eur(1_350_00), "600 + 500 + 300 − 50");

    let sums = store.aged_sums(&t, as_of, AgedGrouping::Segment).expect("sums");
    let by_segment = reports::aged_balance_from_sums(&sums, as_of, AgedGrouping::Segment).expect("aged");
    let keys: Vec<(&str, &str)> = by_segment.rows.iter().map(|r| (r.key.as_str(), r.currency.code())).collect();
    assert_eq!(keys, [("", "EUR"), ("retail", "EUR"), ("wholesale", "EUR"), ("wholesale", "GBP")]);
    assert_eq!(by_segment.rows[1].total, eur(1_100_00));
    assert_eq!(by_segment.totals, by_customer.totals, "the same money, grouped otherwise");

    let open = store.open_by_currency(&t).expect("open");
    assert_eq!(open, [eur(1_350_00), gbp(200_00)]);
    // Another tenant sees nothing.
    let other = TenantId::new("u").expect("tenant");
    assert!(store.aged_sums(&other, as_of, AgedGrouping::Customer).expect("sums").is_empty());
}

#[test]
fn invoiced_months_and_settlements_for_dso_and_dmp() {
    let (_dir, store, t) = world();
    let months = store.monthly_invoiced(&t, day(2025, 10, 15)).expect("months");
    let got: Vec<(NaiveDate, Money)> = months.iter().map(|m| (m.month, m.invoiced)).collect();
    // Credit notes left out; months from October (the month of `from`).
    assert_eq!(
        got,
        [
            (day(2025, 10, 1), eur(300_00)),
            (day(2025, 12, 1), eur(1_000_00)),
            (day(2026, 1, 1), gbp(200_00)),
            (day(2026, 2, 1), eur(500_00)),
        ]
    );
    // DMP in February: 400.00 paid 31 days after F-1's due date (10 Jan → 10 Feb).
    let s = store.settlements(&t, day(2026, 2, 1), day(2026, 2, 28)).expect("settlements");
    assert_eq!(s, [Settlement { due: day(2026, 1, 10), paid_on: day(2026, 2, 10), amount: eur(400_00) }]);
    assert_eq!(reports::dmp_by_currency(&s).expect("dmp")[0].tenths_of_days, Some(310));
    assert!(store.settlements(&t, day(2026, 3, 1), day(2026, 3, 31)).expect("none").is_empty());
}

#[test]
fn overdue_pieces_give_the_hand_computed_month_ends() {
    let (_dir, store, t) = world();
    let ends = reports::month_ends(day(2026, 3, 15), 4);
    assert_eq!(ends, [day(2025, 11, 30), day(2025, 12, 31), day(2026, 1, 31), day(2026, 2, 28)]);
    let pieces = store.overdue_pieces(&t, ends[0], ends[3]).expect("pieces");
    let series = reports::overdue_series(&pieces, &ends).expect("series");
    let values = |i: usize| series[i].points.iter().map(|p| p.overdue).collect::<Vec<_>>();
    // EUR: F-3 (300, due 1 Nov) from November; F-1 (1,000, due 10 Jan) from January,
    // 600 after the 400 booked 10 February; F-2 due in March; the credit note is no invoice.
    assert_eq!(values(0), [eur(300_00), eur(300_00), eur(1_300_00), eur(900_00)]);
    // GBP: G-1, due 1 February.
    assert_eq!(values(1), [gbp(0), gbp(0), gbp(0), gbp(200_00)]);
}

#[test]
fn promises_reminders_and_replies_counted_over_the_period() {
    let (_dir, store, t) = world();
    store
        .db
        .write(|tx| {
            for (date, status) in [
                (Some("2026-02-05"), "kept"),
                (Some("2026-02-20"), "broken"),
                (Some("2026-03-01"), "pending"),
                (Some("2026-02-11"), "cancelled"),
                (Some("2026-04-01"), "kept"),
                (None, "lapsed"),
            ] {
                tx.execute(
                    "INSERT INTO promises (tenant_id, promised_date, status, created_at, updated_at) VALUES ('t', ?1, ?2, '', '')",
                    (date, status),
                )?;
            }
            for (i, (step, channel, status, sent)) in [
                ("first", "email", "sent", Some("2026-02-01T00:00:00.000Z")),
                ("first", "email", "sent", Some("2026-02-27T23:59:59.999Z")),
                ("second", "sms", "sent", Some("2026-02-04T09:00:00.000Z")),
                ("first", "email", "failed", None),
                ("first", "email", "sent", Some("2026-03-01T00:00:00.000Z")),
                ("first", "letter", "sent", Some("2026-01-31T23:59:59.999Z")),
            ]
            .into_iter()
            .enumerate()
            {
                tx.execute(
                    "INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                                         invoice_numbers, covers, planned_for, subject, body, why, status, created_at,
                                         updated_at, sent_at)
                     VALUES ('t', ?1, 'C1', 's', ?2, ?3, 'x', '[]', '[]', '2026-02-01', '', '', '[]', ?4, '', '', ?5)",
                    (format!("k{i}"), step, channel, status, sent),
                )?;
            }
            for (uid, intent, at) in [
                (1, Some("dispute"), "2026-02-02T08:00:00.000Z"),
                (2, Some("promise_to_pay"), "2026-02-03T08:00:00.000Z"),
                (3, Some("promise_to_pay"), "2026-02-04T08:00:00.000Z"),
                (4, None, "2026-02-05T08:00:00.000Z"),
                (5, Some("dispute"), "2026-03-05T08:00:00.000Z"),
            ] {
                tx.execute(
                    "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                                   status, intent, created_at, updated_at)
                     VALUES ('t', 'm', 'INBOX', 1, ?1, 'h', 1, 'p', ?2, ?3, ?4, ?4)",
                    (uid, if intent.is_some() { "handled" } else { "quarantined" }, intent, at),
                )?;
            }
            Ok(())
        })
        .expect("rows");
    let c = store.promise_counts(&t, day(2026, 2, 1), day(2026, 3, 1)).expect("promises");
    assert_eq!(c, PromiseCounts { kept: 1, broken: 1, pending: 1, lapsed: 0, cancelled: 1 });
    assert_eq!(c.kept_rate_bp(), Some(5_000));

    let feb = (Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
    let sent = store.reminders_sent(&t, feb.0, feb.1).expect("reminders");
    assert_eq!(
        sent,
        [
            ReminderCount { step: "first".into(), channel: Channel::Email, sent: 2 },
            ReminderCount { step: "second".into(), channel: Channel::Sms, sent: 1 },
        ],
        "sent rows in [1 Feb, 1 Mar) only"
    );
    let mut replies = store.replies_by_intent(&t, feb.0, feb.1).expect("replies");
    replies.sort_by_key(|(i, _)| i.map(|i| i.as_str()));
    assert_eq!(replies, [(None, 1), (Some(Intent::Dispute), 1), (Some(Intent::PromiseToPay), 2)]);
}

#[test]
fn aged_totals_are_the_full_ones_and_the_largest_debtors_the_largest_rows() {
    let (_dir, store, t) = world();
    let as_of = day(2026, 3, 15);
    let full = |store: &Store, t: &TenantId| {
        let sums = store.aged_sums(t, as_of, AgedGrouping::Customer).expect("sums");
        reports::aged_balance_from_sums(&sums, as_of, AgedGrouping::Customer).expect("aged")
    };
    let sums = store.aged_totals(&t, as_of).expect("totals");
    let totals = reports::aged_balance_from_sums(&sums.totals, as_of, AgedGrouping::Customer).expect("totals");
    assert_eq!(totals.totals, full(&store, &t).totals, "the credit note (1 to 30 days) included");
    assert_eq!(sums.open, store.open_by_currency(&t).expect("open"));
    let summary = store.largest_debtors(&t, as_of, 1).expect("largest");
    let top = reports::aged_balance_from_sums(&summary.top, as_of, AgedGrouping::Customer).expect("top");
    let keys: Vec<(&str, &str)> = top.rows.iter().map(|r| (r.key.as_str(), r.currency.code())).collect();
    assert_eq!(keys, [("C1", "EUR"), ("C3", "GBP")], "the largest debtor of each currency");
    assert_eq!(top.rows[0].buckets, [eur(500_00), eur(0), eur(0), eur(600_00), eur(0)]);
    assert_eq!(top.rows[0].name.as_deref(), Some("Name of C1"));
    assert_eq!(summary.rows, 4);

    // On a generated world: the totals are the whole table's, the top rows its largest.
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open_sqlite(&dir.path().join("w.sqlite")).expect("store");
    let t = TenantId::new("gen").expect("tenant");
    store.generate_report_world(&t, &ReportWorld { invoices: 5000, customers: 300, as_of }).expect("world");
    let whole = full(&store, &t);
    let sums = store.aged_totals(&t, as_of).expect("totals");
    let totals = reports::aged_balance_from_sums(&sums.totals, as_of, AgedGrouping::Customer).expect("totals");
    assert_eq!(totals.totals, whole.totals);
    assert_eq!(sums.open, store.open_by_currency(&t).expect("open"));
    let summary = store.largest_debtors(&t, as_of, 20).expect("largest");
    assert_eq!(summary.rows, whole.rows.len() as u64);
    let mut largest = whole.rows.clone();
    largest
        .sort_by(|a, b| (a.currency.code(), -a.total.minor, &a.key).cmp(&(b.currency.code(), -b.total.minor, &b.key)));
    let mut seen: BTreeMap<Currency, usize> = BTreeMap::new();
    largest.retain(|r| {
        let n = seen.entry(r.currency).or_default();
        *n += 1;
        *n <= 20
    });
    let mut top = reports::aged_balance_from_sums(&summary.top, as_of, AgedGrouping::Customer).expect("top").rows;
    top.sort_by(|a, b| (a.currency.code(), -a.total.minor, &a.key).cmp(&(b.currency.code(), -b.total.minor, &b.key)));
    assert_eq!(top, largest);
    assert!(top.len() > 40, "20 in EUR and USD, fewer debtors in GBP: {}", top.len());
}

#[test]
fn months_read_back_until_the_receivables_are_covered_give_the_full_dso() {
    let as_of = day(2026, 3, 15);
    let from = day(2024, 3, 15);
    let (_dir, store, t) = world();
    let dir = tempfile::tempdir().expect("dir");
    let generated = Store::open_sqlite(&dir.path().join("w.sqlite")).expect("store");
    let g = TenantId::new("gen").expect("tenant");
    generated.generate_report_world(&g, &ReportWorld { invoices: 5000, customers: 300, as_of }).expect("world");
    for (store, t) in [(&store, &t), (&generated, &g)] {
        let open = store.open_by_currency(t).expect("open");
        let all = store.monthly_invoiced(t, from).expect("months");
        let back = store.invoiced_months_back(t, as_of, from, &open).expect("months back");
        assert!(back.len() < all.len(), "{} of {} months read", back.len(), all.len());
        assert_eq!(
            reports::dso_by_currency(&open, &back, as_of).expect("dso"),
            reports::dso_by_currency(&open, &all, as_of).expect("dso")
        );
        // Receivables beyond the history: every month is read, the figure says so.
        let huge: Vec<Money> = open.iter().map(|m| Money::new(m.minor * 1000, m.currency)).collect();
        let back = store.invoiced_months_back(t, as_of, from, &huge).expect("months back");
        let dso = reports::dso_by_currency(&huge, &back, as_of).expect("dso");
        assert_eq!(dso, reports::dso_by_currency(&huge, &all, as_of).expect("dso"));
        assert!(dso.iter().all(|f| f.dso.history_exhausted));
    }
}
