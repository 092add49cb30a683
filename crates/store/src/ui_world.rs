//! What a generated world needs on top of [`Store::generate_report_world`]
//! for `relance bench ui`: something on every page of the workspace, at
//! the scale of the world. Credits waiting for review with their candidate
//! invoices, replies waiting for a person (understood by the real reply
//! engine), reminders waiting for approval and some that failed, open
//! tasks, quarantined inputs, holds and notes; and one large customer (one
//! invoice in a hundred, and one row in ten of everything above).
//!
//! Set-based SQL, one transaction per table, values deterministic functions
//! of the row number. Run it once, after the report world, on the same
//! tenant: the invoices it reads are those of the report world
//! (`INV-%08d`, customers `C%07d`).

use chrono::NaiveDate;

use relance_domain::TenantId;

use super::{Store, StoreError, now_text};

/// `WITH RECURSIVE seq(i)` from 1 to `?2`.
const SEQ: &str = "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)";

/// The customer of generated row `i`: the large customer for one row in ten.
const CUSTOMER_OF_I: &str = "CASE WHEN i % 10 = 0 THEN 'C0000001' ELSE printf('C%07d', 1 + (i * 7919) % ?4) END";

/// The large customer of a generated world: one invoice in a hundred and
/// one row in ten of what [`Store::generate_ui_world`] adds.
pub const LARGE_CUSTOMER: &str = "C0000001";

/// The world [`Store::generate_ui_world`] completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiWorld {
    /// Invoices and customers of the report world already generated.
    pub invoices: u64,
    pub customers: u64,
    /// The day of the report world.
    pub as_of: NaiveDate,
}

/// Rows written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UiWorldCounts {
    pub large_customer_invoices: u64,
    pub payments_to_review: u64,
    pub replies_to_review: u64,
    pub reminders_to_approve: u64,
    pub failed_reminders: u64,
    pub open_tasks: u64,
    pub quarantined: u64,
    pub holds: u64,
    pub notes: u64,
}

/// Replies a person has to confirm, as customers write them (the reply
/// engine reads each once; its reading is stored for every generated row).
const SAMPLE_REPLIES: [&str; 3] = [
    "From: Compta <compta@client.example>\r\nTo: relances@bench.example\r\nSubject: Re: Facture INV-00000010\r\n\
     Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMessage-ID: <a1@client.example>\r\n\r\n\
     Bonjour,\r\n\r\nNous avons bien reçu votre relance. Le paiement sera fait fin du mois prochain, \
     peut-être en deux fois, je dois voir avec la direction.\r\n\r\nCordialement,\r\nMarie\r\n",
    "From: Accounts <ap@customer.example>\r\nTo: collections@bench.example\r\nSubject: Re: Invoice INV-00000020\r\n\
     Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <a2@customer.example>\r\n\r\n\
     Hello,\r\n\r\nWe think part of this was settled already with our last transfer, and the quantity on \
     the second line does not match the delivery note. Could you check?\r\n\r\nRegards,\r\nJohn\r\n",
    "From: Achats <achats@client.example>\r\nTo: relances@bench.example\r\nSubject: Re: Relance\r\n\
     Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMessage-ID: <a3@client.example>\r\n\r\n\
     Bonjour,\r\n\r\nMerci de nous renvoyer une copie de la facture, et de nous dire ce qui reste dû.\r\n\r\n\
     Bien à vous,\r\nPaul\r\n",
];

impl Store {
    /// Adds the workspace's content to a tenant filled by
    /// [`Store::generate_report_world`] with the same sizes (for benchmarks).
    pub fn generate_ui_world(&self, tenant: &TenantId, w: &UiWorld) -> Result<UiWorldCounts, StoreError> {
        let t = tenant.as_str();
        let now = now_text();
        let as_of = w.as_of.format("%Y-%m-%d").to_string();
        let customers = i64::try_from(w.customers.max(1)).unwrap_or(i64::MAX);
        let invoices = i64::try_from(w.invoices).unwrap_or(i64::MAX);
        let some = |per: i64| (invoices / per).max(10);
        let mut out = UiWorldCounts::default();
        // The large customer: one invoice in a hundred.
        self.db.write(|tx| {
            out.large_customer_invoices = tx.execute(
                &format!(
                    "{SEQ} UPDATE invoices SET customer_id=?3
                     WHERE tenant_id=?1 AND number IN (SELECT printf('INV-%08d', i * 100 - 50) FROM seq)"
                ),
                rusqlite::params![t, invoices / 100, LARGE_CUSTOMER],
            )? as u64;
            Ok(())
        })?;
        // Credits the matcher could not decide: every tenth invoice stays open in the
        // report world, so `INV-(10 i)` is open; its credit pays it exactly. Two in three
        // are suggested with a second candidate (another invoice of the same customer,
        // `customers` invoices further), one in three unmatched with a weak candidate.
        self.db.write(|tx| {
            out.payments_to_review = tx.execute(
                &format!(
                    "{SEQ}, pick AS (
                       SELECT s.i, i1.number AS n1, i1.customer_id AS cust, i1.currency AS ccy, i1.open_minor AS amount,
                              i2.number AS n2, i2.open_minor AS amount2, c.name AS payer
                         FROM seq s
                         JOIN invoices i1 ON i1.tenant_id=?1 AND i1.number=printf('INV-%08d', s.i * 10)
                         JOIN customers c ON c.tenant_id=?1 AND c.id=i1.customer_id
                         LEFT JOIN invoices i2 ON i2.tenant_id=?1 AND i2.number=printf('INV-%08d', s.i * 10 + ?4 * 10)
                                              AND i2.customer_id=i1.customer_id AND i2.currency=i1.currency
                        WHERE i1.open_minor > 0),
                     money AS (SELECT *, printf('%d.%02d', amount / 100, amount % 100) AS dec,
                                      printf('%d.%02d', coalesce(amount2, 0) / 100, coalesce(amount2, 0) % 100) AS dec2
                                 FROM pick)
                     INSERT INTO payments (tenant_id, dedupe_key, source, account, booking_date, value_date, amount_minor,
                                           currency, direction, reversal, counterparty_name, counterparty_iban, remittance,
                                           status, match_result, match_result_version, unallocated_minor, created_at,
                                           updated_at)
                     SELECT ?1, 'ui-review-' || i, 'bank', 'FR7630006000011234567890189',
                            date(?3, '-' || (i % 20) || ' days'), date(?3, '-' || (i % 20) || ' days'), amount, ccy,
                            'credit', 0, upper(payer) || CASE WHEN i % 3 = 0 THEN ' SARL' ELSE '' END,
                            printf('FR76%023d', i),
                            CASE WHEN i % 3 = 0 THEN 'VIR ' || i ELSE 'PAIEMENT FACTURES ' || substr(n1, 5) END,
                            CASE WHEN i % 3 = 0 THEN 'unmatched' ELSE 'suggested' END,
                            json_object(
                              'status', CASE WHEN i % 3 = 0 THEN 'unmatched' ELSE 'suggested' END,
                              'candidates', CASE WHEN i % 3 = 0 THEN json_array(
                                  json_object('customer_id', cust, 'allocations', json_array(json_object(
                                      'invoice', n1, 'amount', json_object('amount', dec, 'currency', ccy), 'write_off', NULL)),
                                    'confidence', 0.35, 'reasons', json_array(
                                      'amount equals the open balance of ' || n1, 'payer name close to ' || payer)))
                                ELSE json_array(
                                  json_object('customer_id', cust, 'allocations', json_array(json_object(
                                      'invoice', n1, 'amount', json_object('amount', dec, 'currency', ccy), 'write_off', NULL)),
                                    'confidence', 0.78, 'reasons', json_array(
                                      'reference ' || substr(n1, 5) || ' found in the remittance (partial)',
                                      'amount equals the open balance of ' || n1, 'payer name matches ' || payer)),
                                  json_object('customer_id', cust, 'allocations', CASE WHEN n2 IS NULL THEN json_array()
                                      ELSE json_array(json_object('invoice', n2,
                                        'amount', json_object('amount', dec2, 'currency', ccy), 'write_off', NULL)) END,
                                    'confidence', 0.61, 'reasons', json_array(
                                      'payer name matches ' || payer, 'another open invoice of the same customer')))
                                END,
                              'decision', json_array(CASE WHEN i % 3 = 0 THEN 'best candidate below the suggestion threshold'
                                                          ELSE 'two candidates close to each other: a person decides' END)),
                            1, amount, ?5, ?5
                       FROM money"
                ),
                rusqlite::params![t, some(200), as_of, customers, now],
            )? as u64;
            Ok(())
        })?;
        // Replies waiting for a person: the reply engine's reading of three samples,
        // each stored with the row's own sender, subject and invoice.
        let readings = SAMPLE_REPLIES
            .iter()
            .map(|raw| {
                let u = relance_engine::replies::understand(raw.as_bytes(), w.as_of)
                    .map_err(|e| StoreError::Rejected(format!("sample reply: {e}")))?;
                Ok((
                    u.intent.as_str().to_string(),
                    serde_json::to_string(&u).map_err(|e| StoreError::Rejected(e.to_string()))?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let [(intent0, read0), (intent1, read1), (intent2, read2)] = <[(String, String); 3]>::try_from(readings)
            .map_err(|_| StoreError::Rejected("three sample replies".into()))?;
        self.db.write(|tx| {
            out.replies_to_review = tx.execute(
                &format!(
                    "{SEQ}, r AS (SELECT i, {CUSTOMER_OF_I} AS cust, printf('INV-%08d', i * 20 + 10) AS inv,
                                        'compta' || i || '@client.example' AS addr FROM seq)
                     INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                                   message_id, from_addr, subject, status, intent, understanding,
                                                   understanding_version, customer_id, created_at, updated_at)
                     SELECT ?1, 'mailbox', 'INBOX', 2, i, printf('ui%062d', i), 1500, 'bench/ui-' || i || '.eml',
                            '<ui-' || i || '@client.example>', addr, 'Re: Facture ' || inv, 'review',
                            CASE i % 3 WHEN 0 THEN ?6 WHEN 1 THEN ?8 ELSE ?10 END,
                            json_set(CASE i % 3 WHEN 0 THEN ?5 WHEN 1 THEN ?7 ELSE ?9 END,
                                     '$.from', addr, '$.subject', 'Re: Facture ' || inv, '$.refs', json_array(inv)),
                            1, cust,
                            strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '-' || (i % 30) || ' days', '+' || (i % 600) || ' minutes'),
                            ?11
                       FROM r"
                ),
                rusqlite::params![t, some(500), as_of, customers, read0, intent0, read1, intent1, read2, intent2, now],
            )? as u64;
            Ok(())
        })?;
        // Reminders waiting for approval (formal notices, planned these last days); and
        // reminders of the past year that failed, spread among those sent.
        self.db.write(|tx| {
            out.reminders_to_approve = tx.execute(
                    &format!(
                        "{SEQ}, r AS (SELECT i, {CUSTOMER_OF_I} AS cust, printf('INV-%08d', i * 10) AS a,
                                            printf('INV-%08d', i * 10 + 1) AS b FROM seq)
                         INSERT INTO outbox (tenant_id, idempotency_key, customer_id, recipient, scenario, step_id, channel,
                                             template, invoice_numbers, covers, planned_for, subject, body, why, status,
                                             attempts, last_error, created_at, updated_at)
                         SELECT ?1, 'ui-' || ?5 || '-' || i, cust, 'compta@' || lower(cust) || '.example', 'standard',
                                'formal_notice', 'email', 'formal_notice', json_array(a, b),
                                json_array(json_array('formal_notice', a), json_array('formal_notice', b)), ?3,
                                'Mise en demeure : factures ' || a || ', ' || b,
                                'Madame, Monsieur,' || char(10) || char(10) ||
                                'Malgré nos relances, les factures ' || a || ' et ' || b || ' restent impayées à ce jour. '
                                || 'Nous vous mettons en demeure de régler la somme due sous huit jours à compter de la '
                                || 'réception de ce courrier. À défaut, nous transmettrons le dossier à notre service '
                                || 'contentieux, ce qui entraînera des frais supplémentaires.' || char(10) || char(10)
                                || 'Si vous avez réglé ces factures entre-temps, merci de ne pas tenir compte de ce '
                                || 'message et de nous faire parvenir le justificatif de paiement.' || char(10) || char(10)
                                || 'Veuillez agréer, Madame, Monsieur, nos salutations distinguées.' || char(10)
                                || 'Le service recouvrement',
                                json_array('step formal_notice is due: ' || a || ' is ' || (30 + i % 60) || ' days overdue',
                                           'the last reminder was 10 days ago (gap 7 days)',
                                           'the step asks a person to approve its messages'),
                                'to_confirm', 0, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '-' || (i % 5) || ' days'), ?5
                           FROM r"
                    ),
                    rusqlite::params![t, some(400), as_of, customers, now],
                )? as u64;
            let failed = some(5000);
            let step = ((invoices / 4) / failed).max(1);
            out.failed_reminders = tx.execute(
                &format!(
                    "{SEQ} UPDATE outbox SET status='failed', attempts=5, sent_at=NULL,
                                            last_error='550 5.1.1 <compta@client.example>: mailbox unavailable'
                     WHERE tenant_id=?1 AND idempotency_key IN (SELECT 'bench-' || (i * ?3) FROM seq)"
                ),
                rusqlite::params![t, failed, step],
            )? as u64;
            Ok(())
        })?;
        // Tasks of the past year (one in ten still open), quarantined inputs, holds and notes.
        self.db.write(|tx| {
            tx.execute(
                &format!(
                    "{SEQ} INSERT INTO tasks (tenant_id, kind, customer_id, invoice_numbers, note, status, created_at,
                                              updated_at, assignee, due_on, created_by)
                     SELECT ?1, CASE i % 7 WHEN 0 THEN 'dispute' WHEN 1 THEN 'awaiting_proof' WHEN 2 THEN 'check_payment'
                                   WHEN 3 THEN 'payment_plan' WHEN 4 THEN 'contact' WHEN 5 THEN 'call' ELSE 'follow_up' END,
                            {CUSTOMER_OF_I}, json_array(printf('INV-%08d', i * 10)),
                            'Rappeler le client au sujet de la facture ' || printf('INV-%08d', i * 10),
                            CASE WHEN i % 10 = 0 THEN 'open' ELSE 'done' END,
                            strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '-' || ((?2 - i) * 365 / ?2) || ' days'), ?5,
                            CASE i % 3 WHEN 0 THEN 'alice' WHEN 1 THEN 'bob' ELSE NULL END,
                            date(?3, '-' || ((?2 - i) * 365 / ?2) || ' days', '+' || (i % 20) || ' days'), 'user:alice'
                       FROM seq"
                ),
                rusqlite::params![t, some(20), as_of, customers, now],
            )?;
            tx.execute(
                "UPDATE tasks SET closed_by='user:bob', closed_at=updated_at, closed_note='fait'
                 WHERE tenant_id=?1 AND status='done' AND closed_by IS NULL",
                [t],
            )?;
            let open: i64 =
                tx.query_row("SELECT count(*) FROM tasks WHERE tenant_id=?1 AND status='open'", [t], |r| r.get(0))?;
            out.open_tasks = u64::try_from(open).unwrap_or(0);
            out.quarantined = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO quarantine (tenant_id, source, item, line, column_name, reason, raw, created_at)
                     SELECT ?1, 'erp', 'export-' || (i / 100) || '.csv', 2 + i % 5000, 'due_date',
                            'due date `31/02/2026` is not a date', 'INV-X' || i || ';C' || i || ';31/02/2026;1 250,00',
                            strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '-' || (i % 90) || ' days')
                       FROM seq"
                ),
                rusqlite::params![t, some(1000), as_of],
            )? as u64;
            out.holds = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO holds (tenant_id, customer_id, invoice_number, reason, until, created_by, created_at)
                     SELECT ?1, i1.customer_id, CASE WHEN i % 2 = 0 THEN i1.number END,
                            'litige en cours de traitement avec le commercial',
                            CASE WHEN i % 3 = 0 THEN date(?3, '+' || (i % 40) || ' days') END, 'user:alice', ?5
                       FROM seq JOIN invoices i1 ON i1.tenant_id=?1
                        AND i1.number=printf('INV-%08d', i * 100 - CASE WHEN i % 10 = 0 THEN 50 ELSE 49 END)"
                ),
                rusqlite::params![t, some(2000), as_of, customers, now],
            )? as u64;
            out.notes = tx.execute(
                &format!(
                    "{SEQ} INSERT INTO notes (tenant_id, customer_id, text, created_by, created_at)
                     SELECT ?1, {CUSTOMER_OF_I},
                            'Appel le ' || date(?3, '-' || (i % 300) || ' days') || ' : le client confirme le paiement '
                            || 'de la facture ' || printf('INV-%08d', i * 10) || ' à réception de l''avoir.',
                            'user:bob', strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '-' || (i % 300) || ' days')
                       FROM seq"
                ),
                rusqlite::params![t, some(50), as_of, customers],
            )? as u64;
            Ok(())
        })?;
        self.db.write(|tx| Ok(tx.execute_batch("ANALYZE")?))?;
        self.db.checkpoint()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReportWorld, Window};
    use relance_domain::PaymentStatus;
    use relance_domain::replies::{MessageStatus, PromiseStatus, TaskStatus};

    #[test]
    fn every_page_of_the_workspace_has_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("w.sqlite")).unwrap();
        let t = TenantId::new("bench").unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        store.generate_report_world(&t, &ReportWorld { invoices: 4000, customers: 200, as_of }).unwrap();
        let n = store.generate_ui_world(&t, &UiWorld { invoices: 4000, customers: 200, as_of }).unwrap();
        assert_eq!(n.large_customer_invoices, 40);
        let w = store.workload(&t).unwrap();
        assert_eq!(w.payments_to_review, n.payments_to_review);
        assert!(w.payments_to_review >= 10, "{n:?}");
        assert_eq!(w.replies_to_confirm, n.replies_to_review);
        assert_eq!(w.reminders_to_approve, n.reminders_to_approve);
        assert_eq!(w.failed_reminders, n.failed_reminders);
        assert_eq!(w.open_tasks, n.open_tasks);
        assert_eq!(w.quarantined, n.quarantined);
        assert!(w.broken_promises > 0);
        // Every credit to review reads back with its candidates (an unreadable
        // match result would be shown without them).
        let review =
            store.payments_with_status(&t, &[PaymentStatus::Suggested, PaymentStatus::Unmatched], 1000u32).unwrap();
        for p in &review.items {
            let m = p.match_result.as_ref().expect("match result reads");
            let best = m.best().expect("a candidate");
            assert_eq!(best.allocations[0].amount, p.line.amount, "payment {}", p.id);
        }
        // A search looks through the whole queue, not one page of it.
        let review_statuses = [PaymentStatus::Suggested, PaymentStatus::Unmatched];
        let last = review.items.last().unwrap();
        let payer = last.line.counterparty_name.clone().unwrap().to_lowercase();
        let search = |text: &str| crate::PaymentSearch {
            statuses: review_statuses.to_vec(),
            text: text.to_string(),
            newest_first: false,
        };
        let found = store.search_payments(&t, &search(&payer), Window::after(100, None)).unwrap();
        assert!(found.items.iter().any(|p| p.id == last.id), "{payer}");
        let amount = last.line.amount.to_decimal_string();
        let by_amount = store.search_payments(&t, &search(&amount), Window::after(50, None)).unwrap();
        assert!(by_amount.items.iter().any(|p| p.id == last.id));
        let suggested = review.items.iter().filter(|p| p.status == PaymentStatus::Suggested).count();
        let first = store.search_payments(&t, &search("PAIEMENT factures"), Window::after(5, None)).unwrap();
        let paged =
            store.search_payments(&t, &search("PAIEMENT factures"), Window::after(5, first.next_after)).unwrap();
        assert_eq!(paged.total as usize, suggested);
        assert_eq!(paged.items.len(), (suggested - 5).min(5));
        assert_eq!(store.search_payments(&t, &search("no such payer"), Window::after(5, None)).unwrap().total, 0);
        // Replies read as understood, with the row's own invoice.
        let replies = store.messages(&t, &[MessageStatus::Review], 100u32).unwrap();
        assert!(!replies.items.is_empty());
        for m in &replies.items {
            match &m.understanding {
                Some(crate::UnderstandingView::Understood(u)) => assert_eq!(u.refs.len(), 1),
                other => panic!("message {}: {other:?}", m.id),
            }
        }
        let approvals = store.outbox(&t, Some("to_confirm"), 10).unwrap();
        assert_eq!(approvals[0].invoices.len(), 2);
        assert!(store.outbox_entry(&t, approvals[0].id).unwrap().is_some());
        assert!(!store.tasks(&t, Some(TaskStatus::Open), 10).unwrap().is_empty());
        assert!(!store.promises(&t, Some(PromiseStatus::Broken), 10).unwrap().is_empty());
        // The large customer has a hundredth of the invoices, notes and holds.
        let big = store
            .invoices(
                &t,
                &crate::InvoiceQuery {
                    statuses: Vec::new(),
                    customer_id: Some(LARGE_CUSTOMER.into()),
                    limit: 1000,
                    offset: 0,
                    after: None,
                },
            )
            .unwrap();
        assert!(big.total >= 40, "{}", big.total);
        assert!(store.notes(&t, LARGE_CUSTOMER, 0, 100).unwrap().items.len() >= 8);
        // One customer's dunning state is the one the whole tenant's read gives
        // (invoices, promises, reminders already in the outbox, holds).
        let all = store.dunning_states(&t).unwrap();
        assert!(all.iter().any(|s| !s.holds.is_empty()) && all.iter().any(|s| !s.sent.is_empty()));
        assert!(all.iter().any(|s| s.promise.is_some()));
        for s in &all {
            assert_eq!(store.dunning_state(&t, &s.customer_id).unwrap().as_ref(), Some(s));
        }
        assert_eq!(store.dunning_state(&t, "nobody").unwrap(), None);
    }
}
