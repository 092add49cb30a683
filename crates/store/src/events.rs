//! Domain events: the documented catalogue (docs/events.md) and its
//! transactional outbox.
//!
//! An event is a row of `domain_events` written in the SAME transaction as
//! the change that causes it, so a change never commits without its event
//! nor an event without its change. Most events are derived from the audit
//! trail: [`super::sqlite::insert_event`] calls [`from_audit`] for every
//! audit row, and the audit kinds that map to the catalogue
//! ([`EventType::from_audit_kind`]) add a domain event next to it, with the
//! same `data`. `invoice.imported` and `claimed_paid` have no audit row of
//! their own and are written by the import and the claim code directly.
//!
//! The row id is the event id: stable (a re-delivery carries the same one)
//! and increasing in commit order (SQLite has one writer), hence in order
//! per customer. Webhook subscribers keep a cursor in
//! `event_subscriptions`, advanced only once the receiver acknowledged.

use serde::{Deserialize, Serialize};

use super::db::{Db, Row, args};
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;

/// The version of every event type's `data` today. A change that removes or
/// renames a field bumps it (and docs/events.md says what changed); adding a
/// field does not.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// The types of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    InvoiceImported,
    PaymentApplied,
    PaymentUndone,
    PromiseCreated,
    PromiseKept,
    PromiseBroken,
    DisputeOpened,
    DisputeResolved,
    ClaimedPaid,
    ReminderSent,
    ReminderFailed,
    ContactUndeliverable,
    CustomerHandedOver,
}

impl EventType {
    /// Every type, in catalogue order.
    pub const ALL: [EventType; 13] = [
        EventType::InvoiceImported,
        EventType::PaymentApplied,
        EventType::PaymentUndone,
        EventType::PromiseCreated,
        EventType::PromiseKept,
        EventType::PromiseBroken,
        EventType::DisputeOpened,
        EventType::DisputeResolved,
        EventType::ClaimedPaid,
        EventType::ReminderSent,
        EventType::ReminderFailed,
        EventType::ContactUndeliverable,
        EventType::CustomerHandedOver,
    ];

    /// The dotted name subscribers see (`type` of the body, SSE `event:`).
    pub fn name(self) -> &'static str {
        match self {
            EventType::InvoiceImported => "invoice.imported",
            EventType::PaymentApplied => "payment.applied",
            EventType::PaymentUndone => "payment.undone",
            EventType::PromiseCreated => "promise.created",
            EventType::PromiseKept => "promise.kept",
            EventType::PromiseBroken => "promise.broken",
            EventType::DisputeOpened => "dispute.opened",
            EventType::DisputeResolved => "dispute.resolved",
            EventType::ClaimedPaid => "claimed_paid",
            EventType::ReminderSent => "reminder.sent",
            EventType::ReminderFailed => "reminder.failed",
            EventType::ContactUndeliverable => "contact.undeliverable",
            EventType::CustomerHandedOver => "customer.handed_over",
        }
    }

    /// The type of a dotted name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The catalogue type an audit kind announces, if any.
    pub fn from_audit_kind(kind: &str) -> Option<EventType> {
        Some(match kind {
            "allocation_applied" => EventType::PaymentApplied,
            "allocation_undone" => EventType::PaymentUndone,
            "promise_recorded" => EventType::PromiseCreated,
            "promise_kept" => EventType::PromiseKept,
            "promise_broken" => EventType::PromiseBroken,
            "invoice_disputed" => EventType::DisputeOpened,
            "dispute_resolved" => EventType::DisputeResolved,
            "reminder_sent" => EventType::ReminderSent,
            "reminder_failed" => EventType::ReminderFailed,
            "contact_undeliverable" => EventType::ContactUndeliverable,
            "handed_over" => EventType::CustomerHandedOver,
            _ => return None,
        })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One stored event, in the shape webhooks and the stream send.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainEvent {
    /// The stable event id (increasing; receivers drop repeats by it).
    pub id: i64,
    /// The dotted type name (`payment.applied`…).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub event_type: EventType,
    pub schema_version: u32,
    pub tenant: String,
    pub occurred_at: String,
    pub customer_id: Option<String>,
    pub subject: String,
    /// The type's fields (docs/events.md).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A webhook subscriber's cursor and retry state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionState {
    /// The last event id the subscriber acknowledged (0: none yet).
    pub last_id: i64,
    /// Failed attempts at the next event since the last success.
    pub attempts: u32,
    /// When the next attempt is due (RFC 3339), after a failure.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    /// Events acknowledged and attempts failed, since the subscriber exists.
    pub delivered: u64,
    pub failures: u64,
}

/// Writes one event in the caller's transaction; returns its id.
pub(crate) fn emit<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    ty: EventType,
    customer: Option<&str>,
    subject: &str,
    data: &str,
) -> Result<i64, StoreError> {
    db.into()
        .query_one(
            "INSERT INTO domain_events (tenant_id, type, schema_version, customer_id, subject, occurred_at, data)
             VALUES (?1,?2,?3,?4,?5,?6,?7) RETURNING id",
            args![tenant, ty.name(), EVENT_SCHEMA_VERSION, customer, subject, now_text(), data],
        )?
        .get(0)
}

/// One `invoice.imported` event in a packed row: number, customer, issue
/// date, due date, currency, total, open, status, reopened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PackedInvoice(
    pub String,
    pub String,
    pub Option<String>,
    pub String,
    pub String,
    pub String,
    pub String,
    pub String,
    pub bool,
);

/// The `data` of a packed row: the `invoice.imported` events of one import
/// batch, sharing their source and import.
#[derive(Debug, Serialize, Deserialize)]
struct PackedImport {
    source: String,
    import: i64,
    invoices: Vec<PackedInvoice>,
}

/// Writes the `invoice.imported` events of an import batch as ONE row that
/// covers as many ids (a bulk load writes one row per batch rather than one
/// per invoice); [`Store::events_after`] unpacks them, so subscribers see
/// one event per invoice, each with its own id.
pub(crate) fn emit_imported<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    source: &str,
    import: i64,
    invoices: &[PackedInvoice],
) -> Result<(), StoreError> {
    if invoices.is_empty() {
        return Ok(());
    }
    let db = db.into();
    let n = invoices.len() as i64;
    let packed = PackedImport { source: source.to_string(), import, invoices: invoices.to_vec() };
    let data = serde_json::to_string(&packed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if n == 1 {
        // One event: a plain row (a packed row always holds several).
        for ev in unpack(1, tenant, "", EVENT_SCHEMA_VERSION, &data)? {
            emit(db, tenant, ev.event_type, ev.customer_id.as_deref(), &ev.subject, &ev.data.to_string())?;
        }
        return Ok(());
    }
    db.execute(
        "INSERT INTO domain_events (id, tenant_id, type, schema_version, customer_id, subject, occurred_at, data, count)
         VALUES ((SELECT coalesce(max(id), 0) FROM domain_events) + ?1, ?2, ?3, ?4, NULL, '', ?5, ?6, ?1)",
        args![n, tenant, EventType::InvoiceImported.name(), EVENT_SCHEMA_VERSION, now_text(), data],
    )?;
    if db.is_postgres() {
        // The id was chosen, not drawn: the identity sequence moves past it.
        db.query(
            "SELECT setval(pg_get_serial_sequence('domain_events', 'id'), (SELECT max(id) FROM domain_events))",
            args![],
        )?;
    }
    Ok(())
}

/// The events of a packed row whose last id is `last`, as subscribers see them.
fn unpack(
    last: i64,
    tenant: &str,
    occurred_at: &str,
    schema_version: u32,
    data: &str,
) -> Result<Vec<DomainEvent>, StoreError> {
    let packed: PackedImport =
        serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("domain event {last} data: {e}")))?;
    let first = last - packed.invoices.len() as i64 + 1;
    let (source, import) = (packed.source, packed.import);
    Ok(packed
        .invoices
        .into_iter()
        .enumerate()
        .map(|(i, PackedInvoice(number, customer, issue_date, due_date, currency, total, open, status, reopened))| {
            DomainEvent {
                id: first + i as i64,
                event_type: EventType::InvoiceImported,
                schema_version,
                tenant: tenant.to_string(),
                occurred_at: occurred_at.to_string(),
                customer_id: Some(customer.clone()),
                subject: format!("invoice:{number}"),
                data: serde_json::json!({
                    "number": number, "customer": customer, "issue_date": issue_date, "due_date": due_date,
                    "currency": currency, "total": total, "open": open, "status": status,
                    "source": source, "import": import, "reopened": reopened,
                }),
            }
        })
        .collect())
}

/// Adds the domain event an audit row announces (same transaction, same
/// data), when its kind is in the catalogue. The customer is read from the
/// row the subject names; a reminder's event also carries the outbox row's
/// scenario, step, channel and invoices.
pub(crate) fn from_audit(
    db: Db<'_>,
    tenant: &str,
    kind: &str,
    subject: &str,
    data: &serde_json::Value,
    text: &str,
) -> Result<(), StoreError> {
    let Some(ty) = EventType::from_audit_kind(kind) else {
        return Ok(());
    };
    if matches!(ty, EventType::ReminderSent | EventType::ReminderFailed)
        && let Some(id) = subject.strip_prefix("outbox:").and_then(|i| i.parse::<i64>().ok())
    {
        let row = db
            .query_opt(
                "SELECT customer_id, scenario, step_id, channel, invoice_numbers FROM outbox WHERE tenant_id=?1 AND id=?2",
                args![tenant, id],
            )?
            .map(|r| -> Result<(String, String, String, String, String), StoreError> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .transpose()?;
        if let Some((customer, scenario, step, channel, invoices)) = row {
            let mut data = data.clone();
            if data.is_object() {
                data["outbox"] = id.into();
                data["scenario"] = scenario.into();
                data["step"] = step.into();
                data["channel"] = channel.into();
                data["invoices"] = serde_json::from_str(&invoices).unwrap_or_default();
            }
            emit(db, tenant, ty, Some(&customer), subject, &data.to_string())?;
            return Ok(());
        }
    }
    let customer =
        if ty == EventType::CustomerHandedOver { Some(subject.to_string()) } else { customer_of(db, tenant, subject)? };
    emit(db, tenant, ty, customer.as_deref(), subject, text)?;
    Ok(())
}

/// The customer of the row `subject` (`invoice:N`, `promise:ID`,
/// `outbox:ID`, `message:ID`) names, when it has one.
fn customer_of(db: Db<'_>, tenant: &str, subject: &str) -> Result<Option<String>, StoreError> {
    let Some((table, key)) = subject.split_once(':') else {
        return Ok(None);
    };
    if table == "invoice" {
        let exact =
            db.query_opt("SELECT customer_id FROM invoices WHERE tenant_id=?1 AND number=?2", args![tenant, key])?;
        let found = match exact {
            Some(r) => Some(r),
            None => db.query_opt(
                "SELECT customer_id FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2) LIMIT 1",
                args![tenant, key],
            )?,
        };
        return found.map(|r| r.get(0)).transpose();
    }
    // The other subjects name a row by its id.
    let Ok(id) = key.parse::<i64>() else {
        return Ok(None);
    };
    let sql = match table {
        "promise" => "SELECT customer_id FROM promises WHERE tenant_id=?1 AND id=?2",
        "outbox" => "SELECT customer_id FROM outbox WHERE tenant_id=?1 AND id=?2",
        "message" => "SELECT customer_id FROM inbound_messages WHERE tenant_id=?1 AND id=?2",
        _ => return Ok(None),
    };
    let found: Option<Option<String>> = db.query_opt(sql, args![tenant, id])?.map(|r| r.get(0)).transpose()?;
    Ok(found.flatten())
}

/// id, tenant, type, schema version, customer, subject, occurred at, data, count.
type EventRow = (i64, String, String, u32, Option<String>, String, String, String, i64);

fn event_row(r: &Row) -> Result<EventRow, StoreError> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

impl Store {
    /// The tenant's events after id `after`, in id order, at most `limit`.
    pub fn events_after(&self, tenant: &TenantId, after: i64, limit: usize) -> Result<Vec<DomainEvent>, StoreError> {
        self.db.read_any(|db| {
            let rows = db.query(
                "SELECT id, tenant_id, type, schema_version, customer_id, subject, occurred_at, data, count
                 FROM domain_events WHERE tenant_id=?1 AND id>?2 ORDER BY id LIMIT ?3",
                args![tenant.as_str(), after, limit as i64],
            )?;
            let mut out = Vec::new();
            for row in &rows {
                let (id, tenant, ty, schema_version, customer_id, subject, occurred_at, data, count) = event_row(row)?;
                if out.len() >= limit {
                    break;
                }
                if count > 1 {
                    // A packed row: the events after `after` only.
                    let events = unpack(id, &tenant, &occurred_at, schema_version, &data)?;
                    out.extend(events.into_iter().filter(|e| e.id > after));
                    continue;
                }
                let event_type = EventType::parse(&ty)
                    .ok_or_else(|| StoreError::Corrupt(format!("domain event {id} has unknown type {ty:?}")))?;
                let data = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("domain event {id} data: {e}")))?;
                out.push(DomainEvent {
                    id,
                    event_type,
                    schema_version,
                    tenant,
                    occurred_at,
                    customer_id,
                    subject,
                    data,
                });
            }
            out.truncate(limit);
            Ok(out)
        })
    }

    /// The id of the tenant's latest event (0 when none).
    pub fn last_event_id(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        self.db.read_any(|db| {
            db.query_one("SELECT coalesce(max(id), 0) FROM domain_events WHERE tenant_id=?1", args![tenant.as_str()])?
                .get(0)
        })
    }

    /// The cursor of a webhook subscriber (a new one starts before the first event).
    pub fn subscription(&self, tenant: &TenantId, subscriber: &str) -> Result<SubscriptionState, StoreError> {
        self.db.read_any(|db| {
            let row = db.query_opt(
                "SELECT last_id, attempts, next_attempt_at, last_error, delivered, failures
                 FROM event_subscriptions WHERE tenant_id=?1 AND subscriber=?2",
                args![tenant.as_str(), subscriber],
            )?;
            let Some(r) = row else { return Ok(SubscriptionState::default()) };
            Ok(SubscriptionState {
                last_id: r.get(0)?,
                attempts: r.get(1)?,
                next_attempt_at: r.get(2)?,
                last_error: r.get(3)?,
                delivered: r.get::<i64>(4)?.max(0) as u64,
                failures: r.get::<i64>(5)?.max(0) as u64,
            })
        })
    }

    /// How many events of the tenant the subscriber has not acknowledged yet.
    pub fn subscription_lag(&self, tenant: &TenantId, subscriber: &str) -> Result<u64, StoreError> {
        let last = self.subscription(tenant, subscriber)?.last_id;
        self.db.read_any(|db| {
            let n: i64 = db
                .query_one(
                    "SELECT coalesce(sum(min(count, id - ?2)), 0) FROM domain_events WHERE tenant_id=?1 AND id>?2",
                    args![tenant.as_str(), last],
                )?
                .get(0)?;
            Ok(n.max(0) as u64)
        })
    }

    /// Moves the subscriber's cursor to `id` (never backwards) and clears
    /// its retry state. `delivered` says whether an event was sent (rather
    /// than skipped by the subscriber's filter).
    pub fn ack_events(&self, tenant: &TenantId, subscriber: &str, id: i64, delivered: bool) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            db.execute(
                "INSERT INTO event_subscriptions (tenant_id, subscriber, last_id, delivered, updated_at)
                 VALUES (?1,?2,?3,?4,?5)
                 ON CONFLICT (tenant_id, subscriber) DO UPDATE SET last_id=max(event_subscriptions.last_id, excluded.last_id),
                    attempts=0, next_attempt_at=NULL, last_error=NULL,
                    delivered=event_subscriptions.delivered+excluded.delivered, updated_at=excluded.updated_at",
                args![tenant.as_str(), subscriber, id, i64::from(delivered), now_text()],
            )?;
            Ok(())
        })
    }

    /// Records a failed delivery of the subscriber's next event: retried at `next_at`.
    pub fn event_delivery_failed(
        &self,
        tenant: &TenantId,
        subscriber: &str,
        error: &str,
        next_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<SubscriptionState, StoreError> {
        self.db.write_any(|db| {
            db.execute(
                "INSERT INTO event_subscriptions (tenant_id, subscriber, attempts, next_attempt_at, last_error, failures, updated_at)
                 VALUES (?1,?2,1,?3,?4,1,?5)
                 ON CONFLICT (tenant_id, subscriber) DO UPDATE SET attempts=event_subscriptions.attempts+1,
                    next_attempt_at=excluded.next_attempt_at, last_error=excluded.last_error,
                    failures=event_subscriptions.failures+1, updated_at=excluded.updated_at",
                args![
                    tenant.as_str(),
                    subscriber,
                    next_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    error,
                    now_text()
                ],
            )?;
            Ok(())
        })?;
        self.subscription(tenant, subscriber)
    }
}
