//! A generated collections history for `relance bench reports`: customers
//! in segments, invoices over two years in three currencies (most paid,
//! some through payments Relance applied), reminders sent, replies read and
//! promises. Written with set-based SQL in one transaction per table, so a
//! million invoices take seconds; the values are deterministic functions of
//! the row number (no randomness).

use chrono::NaiveDate;

use relance_domain::TenantId;

use super::{Store, StoreError, now_text};

/// The size of the generated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWorld {
    pub invoices: u64,
    pub customers: u64,
    /// The day the history ends (invoices are issued over the 730 days before).
    pub as_of: NaiveDate,
}

/// Rows written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportWorldCounts {
    pub customers: u64,
    pub invoices: u64,
    pub allocations: u64,
    pub reminders: u64,
    pub replies: u64,
    pub promises: u64,
}

/// `WITH RECURSIVE seq(i)` from 1 to `?n`.
const SEQ: &str = "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)";

impl Store {
    /// Fills `tenant` with a generated world (for benchmarks; the tenant
    /// should be empty).
    pub fn generate_report_world(&self, tenant: &TenantId, w: &ReportWorld) -> Result<ReportWorldCounts, StoreError> {
        let t = tenant.as_str();
        let now = now_text();
        let as_of = w.as_of.format("%Y-%m-%d").to_string();
        let customers = i64::try_from(w.customers.max(1)).unwrap_or(i64::MAX);
        let invoices = i64::try_from(w.invoices).unwrap_or(i64::MAX);
        let mut out = ReportWorldCounts::default();
        self.db.write(|tx| {
            out.customers = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO customers (tenant_id, id, name, segment, created_at, updated_at)
                     SELECT ?1, printf('C%07d', i), 'Customer ' || i,
                            CASE i % 5 WHEN 0 THEN 'retail' WHEN 1 THEN 'wholesale' WHEN 2 THEN 'public'
                                       WHEN 3 THEN 'export' ELSE NULL END, ?3, ?3 FROM seq"
                ),
                rusqlite::params![t, customers, now],
            )? as u64;
            Ok(())
        })?;
        // Invoices: issued over 730 days, due 30/45/60 days later; 90% EUR, 7% USD,
        // 3% GBP. Those due more than 20 days before `as_of` are mostly paid
        // (updated the day of payment); every tenth stays open, every seventh is
        // half paid.
        self.db.write(|tx| {
            out.invoices = tx.execute(
                &format!(
                    "{SEQ}, inv AS (
                       SELECT i, printf('C%07d', 1 + (i * 7919) % ?4) AS customer,
                              date(?3, '-' || ((i * 37) % 730) || ' days') AS issue,
                              date(?3, '-' || ((i * 37) % 730) || ' days', '+' || (30 + 15 * (i % 3)) || ' days') AS due,
                              CASE WHEN i % 100 < 90 THEN 'EUR' WHEN i % 100 < 97 THEN 'USD' ELSE 'GBP' END AS ccy,
                              5000 + (i * 104729) % 500000 AS total FROM seq),
                     st AS (
                       SELECT *, CASE WHEN due >= date(?3, '-20 days') OR i % 10 = 0 THEN 'open'
                                      WHEN i % 7 = 0 THEN 'partially_paid' ELSE 'paid' END AS status FROM inv)
                     INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total_minor,
                                           open_minor, erp_open_minor, status, source, created_at, updated_at)
                     SELECT ?1, printf('INV-%08d', i), customer, issue, due, ccy, total,
                            CASE status WHEN 'open' THEN total WHEN 'partially_paid' THEN total / 2 ELSE 0 END,
                            CASE status WHEN 'open' THEN total WHEN 'partially_paid' THEN total / 2 ELSE 0 END,
                            status, 'erp', issue || 'T08:00:00.000Z',
                            CASE status WHEN 'open' THEN issue ELSE min(date(due, '+' || ((i * 13) % 50) || ' days'), ?3) END
                              || 'T09:00:00.000Z'
                       FROM st"
                ),
                rusqlite::params![t, invoices, as_of, customers],
            )? as u64;
            Ok(())
        })?;
        // One paid invoice in five was paid by a credit Relance applied: a payment
        // booked on the day of the invoice's last change, and an allocation by the matcher.
        self.db.write(|tx| {
            tx.execute(
                "INSERT INTO payments (tenant_id, dedupe_key, source, booking_date, amount_minor, currency, direction,
                                       status, unallocated_minor, created_at, updated_at)
                 SELECT tenant_id, 'bench-' || number, 'bank', substr(updated_at, 1, 10), total_minor - open_minor,
                        currency, 'credit', 'matched', 0, updated_at, updated_at
                   FROM invoices WHERE tenant_id=?1 AND status IN ('paid', 'partially_paid')
                    AND CAST(substr(number, 5) AS INTEGER) % 5 = 0",
                [t],
            )?;
            out.allocations = tx.execute(
                "INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, currency, actor, created_at,
                                          erp_state, reflected_minor, reflected_at, reflected_by)
                 SELECT p.tenant_id, p.id, substr(p.dedupe_key, 7), p.amount_minor, p.currency, 'matcher', p.created_at,
                        'reflected', p.amount_minor, p.created_at, 'erp_settled'
                   FROM payments p WHERE p.tenant_id=?1 AND p.dedupe_key LIKE 'bench-%'",
                [t],
            )? as u64;
            Ok(())
        })?;
        // Reminders: one per four invoices, sent over the last year, three steps, three channels.
        let reminders = invoices / 4;
        self.db.write(|tx| {
            out.reminders = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO outbox (tenant_id, idempotency_key, customer_id, scenario, step_id, channel, template,
                                           invoice_numbers, covers, planned_for, subject, body, why, status, attempts,
                                           created_at, updated_at, sent_at)
                     SELECT ?1, 'bench-' || i, printf('C%07d', 1 + (i * 7919) % ?4), 'standard',
                            CASE i % 3 WHEN 0 THEN 'first' WHEN 1 THEN 'second' ELSE 'final' END,
                            CASE WHEN i % 10 < 7 THEN 'email' WHEN i % 10 < 9 THEN 'sms' ELSE 'letter' END,
                            'reminder', '[]', '[]', date(?3, '-' || (i % 365) || ' days'), 'Reminder', '', '[]', 'sent', 1,
                            date(?3, '-' || (i % 365) || ' days') || 'T07:00:00.000Z',
                            date(?3, '-' || (i % 365) || ' days') || 'T07:00:00.000Z',
                            date(?3, '-' || (i % 365) || ' days') || 'T07:00:01.000Z'
                       FROM seq"
                ),
                rusqlite::params![t, reminders, as_of, customers],
            )? as u64;
            Ok(())
        })?;
        // Replies: one per twenty invoices over the last year, every intent; promises from
        // the promises to pay, dated 10 days after the reply.
        let replies = invoices / 20;
        self.db.write(|tx| {
            out.replies = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size,
                                                     raw_path, status, intent, understanding, understanding_version,
                                                     customer_id, created_at, updated_at)
                     SELECT ?1, 'mailbox', 'INBOX', 1, i, printf('%064d', i), 1000, 'bench/' || i || '.eml', 'handled',
                            CASE i % 7 WHEN 0 THEN 'promise_to_pay' WHEN 1 THEN 'dispute' WHEN 2 THEN 'already_paid'
                                       WHEN 3 THEN 'payment_plan_request' WHEN 4 THEN 'invoice_copy_request'
                                       WHEN 5 THEN 'auto_reply' ELSE 'other' END, '{{}}', 1,
                            printf('C%07d', 1 + (i * 7919) % ?4),
                            date(?3, '-' || (i % 365) || ' days') || 'T10:00:00.000Z',
                            date(?3, '-' || (i % 365) || ' days') || 'T10:00:00.000Z'
                       FROM seq"
                ),
                rusqlite::params![t, replies, as_of, customers],
            )? as u64;
            out.promises = tx.execute(
                "INSERT INTO promises (tenant_id, customer_id, message_id, promised_date, status, created_at, updated_at)
                 SELECT tenant_id, customer_id, id, date(substr(created_at, 1, 10), '+10 days'),
                        CASE WHEN date(substr(created_at, 1, 10), '+10 days') > ?2 THEN 'pending'
                             WHEN uid % 3 = 0 THEN 'broken' ELSE 'kept' END, created_at, created_at
                   FROM inbound_messages WHERE tenant_id=?1 AND intent='promise_to_pay'",
                rusqlite::params![t, as_of],
            )? as u64;
            Ok(())
        })?;
        self.db.write(|tx| Ok(tx.execute_batch("ANALYZE")?))?;
        // A daemon's write-ahead log is checkpointed as it goes: start the
        // measurements from the same state, not from a 400 MB log.
        self.db.checkpoint()?;
        Ok(out)
    }
}
