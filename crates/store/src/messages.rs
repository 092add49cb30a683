//! Inbound messages from collections mailboxes: where each was read, its raw
//! copy, what it was understood to say, and where it was moved.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::sqlite::insert_event;
use super::{Page, Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};

/// Where a message sits in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSlot<'a> {
    pub source: &'a str,
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// A stored message's state, as the connector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub status: String,
    pub raw_path: String,
    pub moved_to: Option<String>,
}

/// A message for the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub mailbox: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub status: String,
    pub intent: Option<String>,
    pub understanding: Option<serde_json::Value>,
    pub error: Option<String>,
    pub moved_to: Option<String>,
    pub created_at: String,
}

impl Store {
    /// The message stored at this slot, if any.
    pub fn message_at(&self, tenant: &TenantId, slot: &MailboxSlot<'_>) -> Result<Option<StoredMessage>, StoreError> {
        self.db.read(|c| {
            Ok(c.query_row(
                "SELECT id, status, raw_path, moved_to FROM inbound_messages
                 WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5",
                params![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid],
                |r| Ok(StoredMessage { id: r.get(0)?, status: r.get(1)?, raw_path: r.get(2)?, moved_to: r.get(3)? }),
            )
            .optional()?)
        })
    }

    /// A message with the same content already handled from this mailbox (a
    /// UIDVALIDITY change renumbers messages: they are recognised by content).
    pub fn message_by_hash(
        &self,
        tenant: &TenantId,
        source: &str,
        mailbox: &str,
        sha256: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.db.read(|c| {
            Ok(c.query_row(
                "SELECT id, status, raw_path, moved_to FROM inbound_messages
                 WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND sha256=?4 ORDER BY id LIMIT 1",
                params![tenant.as_str(), source, mailbox, sha256],
                |r| Ok(StoredMessage { id: r.get(0)?, status: r.get(1)?, raw_path: r.get(2)?, moved_to: r.get(3)? }),
            )
            .optional()?)
        })
    }

    /// Records a message whose raw bytes are already on disk (status `stored`).
    pub fn store_message(
        &self,
        tenant: &TenantId,
        slot: &MailboxSlot<'_>,
        sha256: &str,
        size: u64,
        raw_path: &str,
    ) -> Result<i64, StoreError> {
        self.db.write(|tx| {
            let now = now_text();
            tx.execute(
                "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path, status, created_at, updated_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'stored',?9,?9)
                 ON CONFLICT (tenant_id, source, mailbox, uidvalidity, uid) DO NOTHING",
                params![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid, sha256, size as i64, raw_path, now],
            )?;
            Ok(tx.query_row(
                "SELECT id FROM inbound_messages WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5",
                params![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid],
                |r| r.get(0),
            )?)
        })
    }

    /// [`Store::handle_message`] for several messages in one transaction.
    pub fn handle_messages(&self, tenant: &TenantId, batch: &[HandleRequest]) -> Result<(), StoreError> {
        self.db.write(|tx| {
            for h in batch {
                handle_in(tx, tenant.as_str(), h)?;
            }
            Ok(())
        })
    }

    /// Records what a stored message says and what was done about it, in one
    /// transaction with its audit event; disputes mark the referenced invoices.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_message(
        &self,
        tenant: &TenantId,
        id: i64,
        status: &str,
        intent: Option<&str>,
        understanding: &serde_json::Value,
        error: Option<&str>,
        disputed_invoices: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let req = HandleRequest {
            id,
            status: status.to_string(),
            intent: intent.map(str::to_string),
            understanding: understanding.clone(),
            error: error.map(str::to_string),
            disputed: disputed_invoices.to_vec(),
        };
        self.db.write(|tx| handle_in(tx, tenant.as_str(), &req))
    }

    /// The stored messages among `uids` of one mailbox, by UID.
    pub fn messages_at(
        &self,
        tenant: &TenantId,
        source: &str,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, StoredMessage>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, status, raw_path, moved_to FROM inbound_messages
                 WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5",
            )?;
            let mut out = std::collections::HashMap::new();
            for uid in uids {
                if let Some(m) = st
                    .query_row(params![tenant.as_str(), source, mailbox, uidvalidity, uid], |r| {
                        Ok(StoredMessage { id: r.get(0)?, status: r.get(1)?, raw_path: r.get(2)?, moved_to: r.get(3)? })
                    })
                    .optional()?
                {
                    out.insert(*uid, m);
                }
            }
            Ok(out)
        })
    }

    /// Records several messages already written to disk, in one transaction; returns their ids.
    pub fn store_messages(
        &self,
        tenant: &TenantId,
        rows: &[(MailboxSlot<'_>, String, u64, String)],
    ) -> Result<Vec<i64>, StoreError> {
        self.db.write(|tx| {
            let now = now_text();
            let mut ins = tx.prepare_cached(
                "INSERT INTO inbound_messages (tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path, status, created_at, updated_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'stored',?9,?9)
                 ON CONFLICT (tenant_id, source, mailbox, uidvalidity, uid) DO NOTHING",
            )?;
            let mut sel = tx.prepare_cached(
                "SELECT id FROM inbound_messages WHERE tenant_id=?1 AND source=?2 AND mailbox=?3 AND uidvalidity=?4 AND uid=?5",
            )?;
            let mut ids = Vec::with_capacity(rows.len());
            for (slot, sha, size, path) in rows {
                ins.execute(params![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid, sha, *size as i64, path, now])?;
                ids.push(sel.query_row(params![tenant.as_str(), slot.source, slot.mailbox, slot.uidvalidity, slot.uid], |r| r.get(0))?);
            }
            Ok(ids)
        })
    }

    /// Notes where messages were moved on the server.
    pub fn messages_moved(&self, tenant: &TenantId, ids: &[i64], folder: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let now = now_text();
            let mut st = tx.prepare_cached(
                "UPDATE inbound_messages SET moved_to=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
            )?;
            for id in ids {
                st.execute(params![tenant.as_str(), id, folder, now])?;
            }
            Ok(())
        })
    }

    /// Promises (`pending`, `kept`, `broken`; all when empty), newest first.
    pub fn promises(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT id, customer_id, message_id, invoice_numbers, promised_date, amount, currency, status, created_at FROM promises
                 WHERE tenant_id=?1 AND (?2 IS NULL OR status=?2) ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![tenant.as_str(), status, limit], |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?, "customer_id": r.get::<_, Option<String>>(1)?, "message": r.get::<_, Option<i64>>(2)?,
                        "invoices": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(3)?).unwrap_or_default(),
                        "promised_date": r.get::<_, Option<String>>(4)?, "amount": r.get::<_, Option<String>>(5)?,
                        "currency": r.get::<_, Option<String>>(6)?, "status": r.get::<_, String>(7)?, "created_at": r.get::<_, String>(8)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Tasks for humans (`open`, `done`; all when empty), newest first.
    pub fn tasks(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT id, kind, customer_id, message_id, invoice_numbers, note, status, created_at FROM tasks
                 WHERE tenant_id=?1 AND (?2 IS NULL OR status=?2) ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![tenant.as_str(), status, limit], |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?, "kind": r.get::<_, String>(1)?, "customer_id": r.get::<_, Option<String>>(2)?,
                        "message": r.get::<_, Option<i64>>(3)?,
                        "invoices": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(4)?).unwrap_or_default(),
                        "note": r.get::<_, String>(5)?, "status": r.get::<_, String>(6)?, "created_at": r.get::<_, String>(7)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Each customer's state for the dunning engine: outstanding invoices
    /// (disputed ones flagged) and the latest promise not kept (a pending one
    /// pauses reminders; a broken one triggers the scenario's
    /// `promise_broken` step once). A customer whose
    /// segment is `b2c`, `consumer` or `particulier` is a consumer.
    pub fn dunning_states(&self, tenant: &TenantId) -> Result<Vec<relance_engine::dunning::CustomerState>, StoreError> {
        use relance_engine::dunning::{CustomerState, InvoiceState};
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT c.id, c.segment, c.language, i.number, i.due_date, i.open_minor, i.currency, i.status, c.name, i.issue_date
                 FROM customers c JOIN invoices i ON i.tenant_id=c.tenant_id AND i.customer_id=c.id
                 WHERE c.tenant_id=?1 AND i.status IN ('open','partially_paid','disputed') AND i.open_minor > 0
                 ORDER BY c.id, i.due_date, i.number",
            )?;
            let rows = st
                .query_map([tenant.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: Vec<CustomerState> = Vec::new();
            for (cust, segment, language, number, due, open, ccy, status, name, issued) in rows {
                if out.last().is_none_or(|l| l.customer_id != cust) {
                    let b2c = segment.as_deref().is_some_and(|s| matches!(s.to_lowercase().as_str(), "b2c" | "consumer" | "particulier"));
                    out.push(CustomerState {
                        customer_id: cust.clone(),
                        name,
                        language: language.as_deref().and_then(|l| l.parse().ok()).unwrap_or_default(),
                        segment,
                        b2c,
                        ..Default::default()
                    });
                }
                let currency = relance_domain::money::Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let Some(last) = out.last_mut() {
                    last.invoices.push(InvoiceState {
                        number,
                        issue_date: issued.and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                        due_date: chrono::NaiveDate::parse_from_str(&due, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        open: relance_domain::money::Money::new(open, currency),
                        disputed: status == "disputed",
                    });
                }
            }
            let at: std::collections::HashMap<String, usize> =
                out.iter().enumerate().map(|(i, s)| (s.customer_id.clone(), i)).collect();
            let mut promises = c.prepare(
                "SELECT customer_id, max(promised_date) FROM promises WHERE tenant_id=?1 AND status IN ('pending','broken') AND promised_date IS NOT NULL GROUP BY customer_id",
            )?;
            let pending = promises
                .query_map([tenant.as_str()], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (cust, date) in pending {
                if let Some(s) = cust.and_then(|c| at.get(&c)).and_then(|&i| out.get_mut(i)) {
                    s.promise = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok();
                }
            }
            // What the outbox already holds: covered (step, invoice) pairs and the last reminder's day.
            let mut queued = c.prepare(
                "SELECT customer_id, covers, planned_for FROM outbox WHERE tenant_id=?1 AND status<>'cancelled' AND step_id<>'invoice_copy' ORDER BY customer_id",
            )?;
            let queued = queued
                .query_map([tenant.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (cust, covers, day) in queued {
                if let Some(s) = at.get(&cust).and_then(|&i| out.get_mut(i)) {
                    let covers: Vec<(String, String)> = serde_json::from_str(&covers).unwrap_or_default();
                    s.sent.extend(covers);
                    let day = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok();
                    s.last_reminder = s.last_reminder.max(day);
                }
            }
            Ok(out)
        })
    }

    /// Messages by status (all when empty), newest first.
    pub fn messages(
        &self,
        tenant: &TenantId,
        statuses: &[&str],
        limit: u32,
        offset: u64,
    ) -> Result<Page<MessageView>, StoreError> {
        self.db.read(|c| {
            let filter = super::status_filter(statuses);
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM inbound_messages WHERE tenant_id=?1{filter}"),
                [tenant.as_str()],
                |r| r.get(0),
            )?;
            let mut st = c.prepare(&format!(
                "SELECT id, mailbox, from_addr, subject, status, intent, understanding, error, moved_to, created_at
                 FROM inbound_messages WHERE tenant_id=?1{filter} ORDER BY id DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let items = st
                .query_map(params![tenant.as_str(), limit, offset as i64], |r| {
                    Ok(MessageView {
                        id: r.get(0)?,
                        mailbox: r.get(1)?,
                        from: r.get(2)?,
                        subject: r.get(3)?,
                        status: r.get(4)?,
                        intent: r.get(5)?,
                        understanding: r.get::<_, Option<String>>(6)?.and_then(|s| serde_json::from_str(&s).ok()),
                        error: r.get(7)?,
                        moved_to: r.get(8)?,
                        created_at: r.get(9)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, total: total as u64, limit, offset })
        })
    }
}

/// What to record for one message.
#[derive(Debug, Clone)]
pub struct HandleRequest {
    pub id: i64,
    pub status: String,
    pub intent: Option<String>,
    pub understanding: serde_json::Value,
    pub error: Option<String>,
    pub disputed: Vec<String>,
}

fn handle_in(tx: &rusqlite::Transaction<'_>, t: &str, h: &HandleRequest) -> Result<Vec<String>, StoreError> {
    let now = now_text();
    let u = &h.understanding;
    let n = tx.execute(
        "UPDATE inbound_messages SET status=?3, intent=?4, understanding=?5, error=?6,
                message_id=?7, from_addr=?8, subject=?9, updated_at=?10
         WHERE tenant_id=?1 AND id=?2 AND status='stored'",
        params![
            t,
            h.id,
            h.status,
            h.intent,
            u.to_string(),
            h.error,
            u["message_id"].as_str(),
            u["from"].as_str(),
            u["subject"].as_str(),
            now
        ],
    )?;
    if n != 1 {
        return Ok(Vec::new()); // handled already (a restart raced us): nothing twice
    }
    let mut marked = Vec::new();
    let actions = if h.status == "quarantined" { Vec::new() } else { act(tx, t, h, &now, &mut marked)? };
    let kind = if h.status == "quarantined" { "message_quarantined" } else { "reply_received" };

    insert_event(
        tx,
        t,
        "replies",
        kind,
        &format!("message:{}", h.id),
        &json!({ "status": h.status, "intent": h.intent, "error": h.error, "understanding": u, "disputed": marked, "actions": actions }),
    )?;
    Ok(marked)
}

/// Links a message to its customer and invoices and does what its intent
/// calls for; returns what was done, for the audit trail.
fn act(
    tx: &rusqlite::Transaction<'_>,
    t: &str,
    h: &HandleRequest,
    now: &str,
    marked: &mut Vec<String>,
) -> Result<Vec<String>, StoreError> {
    let u = &h.understanding;
    let mut done = Vec::new();
    // Invoices the message names, as stored (case, separators and a missing prefix aside).
    let mut invoices: Vec<(String, String)> = Vec::new();
    for r in u["refs"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
        if let Some(found) = resolve_ref(tx, t, r)?
            && !invoices.contains(&found)
        {
            invoices.push(found);
        }
    }
    // A reply to one of our reminders (In-Reply-To / References carry its
    // Message-ID, `<rl-…@domain>`): its customer, and its invoices when the
    // message names none.
    let mut customer: Option<String> = None;
    for id in u["thread"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
        let token = id.trim_matches(['<', '>']).split('@').next().unwrap_or_default();
        if !token.starts_with("rl-") {
            continue;
        }
        let reminder: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT id, customer_id, invoice_numbers FROM outbox WHERE tenant_id=?1 AND message_id=?2",
                params![t, token],
                |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
            )
            .optional()?;
        if let Some((outbox_id, cust, numbers)) = reminder {
            if invoices.is_empty() {
                for n in serde_json::from_str::<Vec<String>>(&numbers).unwrap_or_default() {
                    invoices.push((n, cust.clone()));
                }
            }
            done.push(format!("reply to reminder outbox:{outbox_id}"));
            customer = Some(cust);
            break;
        }
    }
    // Else the customer by sender address, else by the invoices named.
    let sender = u["from"].as_str().unwrap_or("").to_lowercase();
    if customer.is_none() && !sender.is_empty() {
        // The address exactly as one of the customer's (`_` and `%` are literal).
        customer = tx
            .query_row(
                "SELECT c.id FROM customers c, json_each(c.emails) e
                 WHERE c.tenant_id=?1 AND lower(c.emails) LIKE ?2 ESCAPE '\\' AND lower(e.value)=?3
                 ORDER BY c.id LIMIT 1",
                params![t, format!("%\"{}\"%", like_escape(&sender)), sender],
                |x| x.get(0),
            )
            .optional()?;
    }
    if customer.is_none() {
        customer = invoices.first().map(|i| i.1.clone());
    }
    tx.execute("UPDATE inbound_messages SET customer_id=?3 WHERE tenant_id=?1 AND id=?2", params![t, h.id, customer])?;
    let numbers: Vec<String> = invoices.iter().map(|i| i.0.clone()).collect();
    let task = |kind: &str, note: String| -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
             VALUES (?1,?2,?3,?4,?5,?6,'open',?7,?7)",
            params![t, kind, customer, h.id, json!(numbers).to_string(), note, now],
        )?;
        Ok(())
    };
    match h.intent.as_deref() {
        Some("promise_to_pay") => {
            tx.execute(
                "INSERT INTO promises (tenant_id, customer_id, message_id, invoice_numbers, promised_date, amount, currency, status, created_at, updated_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,'pending',?8,?8)",
                params![t, customer, h.id, json!(numbers).to_string(), u["promised_date"].as_str(), u["amount"].as_str(), u["currency"].as_str(), now],
            )?;
            insert_event(
                tx,
                t,
                "replies",
                "promise_recorded",
                &format!("message:{}", h.id),
                &json!({ "customer": customer, "invoices": numbers, "promised_date": u["promised_date"], "amount": u["amount"] }),
            )?;
            done.push(format!("promise recorded for {}", u["promised_date"].as_str().unwrap_or("an unstated date")));
        }
        Some("dispute") => {
            for number in numbers.iter().chain(h.disputed.iter()) {
                let changed = tx.execute(
                    "UPDATE invoices SET status='disputed', updated_at=?3 WHERE tenant_id=?1 AND upper(number)=upper(?2) AND status IN ('open','partially_paid')",
                    params![t, number, now],
                )?;
                if changed == 1 && !marked.contains(number) {
                    insert_event(
                        tx,
                        t,
                        "replies",
                        "invoice_disputed",
                        &format!("invoice:{number}"),
                        &json!({ "message": h.id }),
                    )?;
                    marked.push(number.clone());
                }
            }
            task(
                "dispute",
                format!(
                    "customer disputes {}: {}",
                    if numbers.is_empty() { "an invoice".to_string() } else { numbers.join(", ") },
                    u["new_text"].as_str().unwrap_or("")
                ),
            )?;
            done.push(format!("invoices disputed: {marked:?}; dispute task opened"));
        }
        Some("already_paid") => {
            // A recent credit waiting for review with the stated amount, or the open amount of a named invoice,
            // each read with its own currency's decimals (0 for JPY, 3 for BHD).
            let mut targets: Vec<Money> = Vec::new();
            for n in &numbers {
                let open: Option<(i64, String)> = tx
                    .query_row(
                        "SELECT open_minor, currency FROM invoices WHERE tenant_id=?1 AND number=?2",
                        params![t, n],
                        |x| Ok((x.get(0)?, x.get(1)?)),
                    )
                    .optional()?;
                if let Some((minor, code)) = open {
                    let ccy = Currency::parse(&code).map_err(|e| StoreError::Corrupt(format!("invoice {n}: {e}")))?;
                    targets.push(Money::new(minor, ccy));
                }
            }
            let stated = u["amount"].as_str();
            let stated_ccy = u["currency"].as_str().and_then(|c| Currency::parse(c).ok());
            let mut st = tx.prepare_cached(
                "SELECT id, amount_minor, currency FROM payments WHERE tenant_id=?1 AND status IN ('suggested','unmatched')
                 AND direction='credit' AND booking_date >= date('now','-120 days') ORDER BY id",
            )?;
            let credits =
                st.query_map(params![t], |x| Ok((x.get::<_, i64>(0)?, x.get::<_, i64>(1)?, x.get::<_, String>(2)?)))?;
            let mut found: Vec<i64> = Vec::new();
            for credit in credits {
                let (id, minor, code) = credit?;
                let Ok(ccy) = Currency::parse(&code) else { continue };
                let amount = Money::new(minor, ccy);
                let stated_fits = stated.is_some_and(|a| {
                    stated_ccy.is_none_or(|c| c == ccy)
                        && Money::parse(a, ccy, relance_domain::money::DecimalStyle::Dot).is_ok_and(|m| m == amount)
                });
                if stated_fits || targets.contains(&amount) {
                    found.push(id);
                }
            }
            if found.is_empty() {
                task(
                    "awaiting_proof",
                    "customer says it paid; no matching credit found yet: ask for the proof of payment".into(),
                )?;
                done.push("no matching credit: awaiting proof".into());
            } else {
                task(
                    "check_payment",
                    format!("customer says it paid; candidate credits in the review queue: {found:?}"),
                )?;
                insert_event(
                    tx,
                    t,
                    "replies",
                    "payment_claim_matched",
                    &format!("message:{}", h.id),
                    &json!({ "payments": found, "invoices": numbers }),
                )?;
                done.push(format!("candidate credits {found:?} linked"));
            }
        }
        Some("payment_plan_request") => {
            task("payment_plan", format!("payment plan requested: {}", u["new_text"].as_str().unwrap_or("")))?;
            done.push("payment-plan task opened".into());
        }
        Some("invoice_copy_request") => {
            insert_event(
                tx,
                t,
                "replies",
                "invoice_copy_requested",
                &format!("message:{}", h.id),
                &json!({ "customer": customer, "invoices": numbers, "to": u["from"] }),
            )?;
            done.push("copy of the invoice requested (for the outbound side)".into());
        }
        Some("auto_reply") => match u["auto_reply"].as_str() {
            Some("delivery_failure") => {
                task("contact", format!("reminder undeliverable: {}", u["new_text"].as_str().unwrap_or("")))?;
                insert_event(
                    tx,
                    t,
                    "replies",
                    "contact_undeliverable",
                    &format!("message:{}", h.id),
                    &json!({ "customer": customer }),
                )?;
                done.push("contact flagged undeliverable".into());
            }
            _ => done.push(format!(
                "automatic reply, no action{}",
                u["back_on"].as_str().map(|d| format!(" (back on {d})")).unwrap_or_default()
            )),
        },
        _ => done.push("for review".into()),
    }
    Ok(done)
}

/// The stored invoice (number, customer) a reference written by a customer
/// designates: the same number (case aside), else the same letters and digits
/// (`FAC 1001`, `fac1001` for `FAC-1001`), else the only invoice whose number
/// ends with the same run of at least four digits after a non-digit, with a
/// compatible prefix (`1001` or `F1001` for `FAC-1001`, not `CMD-1001`). An
/// ambiguous reference links nothing.
pub(super) fn resolve_ref(
    tx: &rusqlite::Connection,
    tenant: &str,
    r: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let row = |x: &rusqlite::Row<'_>| Ok((x.get::<_, String>(0)?, x.get::<_, String>(1)?));
    let mut exact = tx.prepare_cached(
        "SELECT number, customer_id FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) LIMIT 1",
    )?;
    if let Some(found) = exact.query_row(params![tenant, r], row).optional()? {
        return Ok(Some(found));
    }
    let compact: String = r.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    let digits: String =
        r.trim_end().chars().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
    if digits.len() < 4 {
        return Ok(None);
    }
    // Candidates end with the digits; the rest is decided here, not in SQL.
    let mut by_suffix = tx.prepare_cached(
        "SELECT number, customer_id FROM invoices WHERE tenant_id=?1 AND number LIKE '%' || ?2 LIMIT 50",
    )?;
    let candidates = by_suffix.query_map(params![tenant, digits], row)?.collect::<Result<Vec<_>, _>>()?;
    let same_compact: Vec<_> = candidates
        .iter()
        .filter(|(n, _)| {
            n.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().eq_ignore_ascii_case(&compact)
        })
        .collect();
    if let [one] = same_compact.as_slice() {
        return Ok(Some((*one).clone()));
    }
    // A missing or shortened prefix (`F1001`, `1001` for `FAC-1001`), never another kind of
    // document (`CMD-1001` is an order, not invoice `FAC-1001`).
    let prefix = |x: &str| -> String {
        let c: String = x.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
        c[..c.len() - digits.len()].to_string()
    };
    let ours = &compact[..compact.len() - digits.len()];
    let same_digits: Vec<_> = candidates
        .iter()
        .filter(|(n, _)| n.len() == digits.len() || !n.as_bytes()[n.len() - digits.len() - 1].is_ascii_digit())
        .filter(|(n, _)| {
            let theirs = prefix(n);
            theirs.starts_with(ours) || ours.starts_with(&theirs)
        })
        .collect();
    Ok(match same_digits.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    })
}

/// Escapes backslash, `%` and `_` for a `LIKE … ESCAPE` pattern whose escape character is a backslash.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
