//! Corrections of what replies were understood to say, and the tenant reply
//! models trained on them (issue #14, migration 0013).
//!
//! A person confirms or corrects a reply's reading — intent, promised date,
//! amount, invoices — through the API ([`Store::correct_reply`]). Each
//! correction is kept (`reply_corrections`) with the reading it replaced (the
//! whole previous understanding, so the original is never lost), the person
//! and the API caller, and is an audit event (`reply_corrected`, `by` in its
//! data). When the reading changes, the reply's actions are re-run in the
//! same transaction: what the previous reading did is undone first (its
//! pending or broken promises are `cancelled`, the invoices it holds disputed
//! go back to open unless another reply disputes them too, its open tasks are
//! closed with a note, its draft payment plan is rejected), then the
//! corrected reading's actions are carried out as for a new reply
//! (`messages::act`). Posting the correction the last one already says
//! changes nothing.
//!
//! The tenant's corrections (the latest per message, labelled with its
//! intent) are what its model overlay learns from ([`Store::correction_samples`]);
//! each trained overlay is stored as a new version (`reply_models`) with its
//! accuracy on those corrections, and read back for understanding through a
//! per-store cache reloaded when the version changes ([`Store::reply_overlay`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::db::{Db, Row, args};
use super::messages::{
    MESSAGE_VIEW_COLUMNS, MessageView, UnderstandingView, act, message_view, numbers, read_understanding, state,
    understanding_json,
};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskKind, TaskStatus};
use relance_engine::replies::model::{Model, Overlay};
use relance_engine::replies::{Intent, UNDERSTANDING_VERSION, Understanding};

/// What a person says a reply says (the body of the correction route).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionInput {
    /// The person who corrects (recorded and audited).
    pub by: String,
    #[schema(value_type = String)]
    pub intent: Intent,
    #[serde(default)]
    pub promised_date: Option<NaiveDate>,
    /// Decimal with a dot (`"1200.50"`).
    #[serde(default)]
    pub amount: Option<String>,
    /// The amount's currency; by default the one read, else the first invoice's.
    #[serde(default)]
    pub currency: Option<String>,
    /// The invoices it is about (stored numbers); absent keeps those read.
    #[serde(default)]
    pub invoices: Option<Vec<String>>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The part of a reading a person corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reading {
    #[schema(value_type = String)]
    pub intent: Intent,
    pub promised_date: Option<NaiveDate>,
    /// Decimal, in `currency`.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub invoices: Vec<String>,
}

impl Reading {
    fn of(u: &Understanding) -> Reading {
        let amount = match (&u.amount, u.currency.as_deref().map(Currency::parse)) {
            (Some(a), Some(Ok(c))) => {
                Some(Money::parse_canonical(a.trim(), c).map_or_else(|_| a.clone(), |m| m.to_decimal_string()))
            }
            (a, _) => a.clone(),
        };
        Reading {
            intent: u.intent,
            promised_date: u.promised_date,
            amount,
            currency: u.currency.clone(),
            invoices: u.refs.clone(),
        }
    }

    /// The same reading (invoice numbers compared case aside).
    fn same(&self, other: &Reading) -> bool {
        self.intent == other.intent
            && self.promised_date == other.promised_date
            && self.amount == other.amount
            && (self.amount.is_none() || self.currency == other.currency)
            && self.invoices.len() == other.invoices.len()
            && self.invoices.iter().zip(&other.invoices).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

/// A correction, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CorrectionView {
    pub id: i64,
    #[serde(rename = "message")]
    pub message_id: i64,
    /// What the person says.
    #[serde(flatten)]
    pub reading: Reading,
    /// What the reading said before.
    pub previous: Reading,
    pub by: String,
    pub comment: Option<String>,
    /// It said what the reading said.
    pub confirmed: bool,
    pub created_at: String,
}

/// What a correction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CorrectionOutcome {
    pub correction: CorrectionView,
    /// False when the last correction already said the same: nothing was done.
    pub changed: bool,
    /// What the previous reading had done and was undone.
    pub undone: Vec<String>,
    /// The corrected reading's actions.
    pub actions: Vec<String>,
}

/// Why a correction is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrectionRefusal {
    #[error("no message {0}")]
    NotFound(i64),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

/// A message with its corrections, for the API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    /// Oldest first.
    pub corrections: Vec<CorrectionView>,
}

/// A corrected message to learn from: its kept raw copy, the day it was
/// received and the intent a person gave it (its latest correction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionSample {
    pub message_id: i64,
    pub correction_id: i64,
    pub raw_path: String,
    pub received: NaiveDate,
    pub intent: Intent,
}

/// A trained tenant overlay to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReplyModel {
    pub examples: u32,
    /// The last correction it learned from.
    pub corrections_through: i64,
    /// On its training set (the corrections it learned from).
    pub accuracy: f64,
    /// The shipped model's alone, on the same corrections.
    pub shipped_accuracy: f64,
    /// [`Model::to_text`].
    pub overlay: String,
}

/// A tenant's model, for the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyModelView {
    pub version: i64,
    pub trained_at: String,
    pub examples: u32,
    pub corrections_through: i64,
    /// Share of its corrections it classifies right, measured on the
    /// training set (the corrections it was trained on).
    pub accuracy: f64,
    /// The shipped model's alone on the same corrections.
    pub shipped_accuracy: f64,
    /// Features with weights in the overlay.
    pub features: usize,
}

/// Each tenant's latest overlay, with its version.
#[derive(Default)]
pub(crate) struct OverlayCache(Mutex<HashMap<String, (i64, Arc<Overlay>)>>);

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

const CORRECTION_COLUMNS: &str = "id, message_id, intent, promised_date, amount_minor, currency, invoice_numbers,
    previous_intent, previous_promised_date, previous_amount, previous_currency, previous_invoices,
    corrected_by, comment, confirmed, created_at";

fn date(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
}

fn correction_view(r: &Row) -> Result<CorrectionView, StoreError> {
    let minor: Option<i64> = r.get(4)?;
    let currency: Option<String> = r.get(5)?;
    let amount = match (minor, currency.as_deref().map(Currency::parse)) {
        (Some(m), Some(Ok(c))) => Some(Money::new(m, c).to_decimal_string()),
        (Some(m), _) => Some(m.to_string()),
        (None, _) => None,
    };
    let previous_intent: Option<String> = r.get(7)?;
    Ok(CorrectionView {
        id: r.get(0)?,
        message_id: r.get(1)?,
        reading: Reading {
            intent: state(r, 2)?,
            promised_date: date(r.get(3)?),
            amount,
            currency,
            invoices: numbers(&r.get::<String>(6)?),
        },
        previous: Reading {
            intent: previous_intent.and_then(|i| i.parse().ok()).unwrap_or_default(),
            promised_date: date(r.get(8)?),
            amount: r.get(9)?,
            currency: r.get(10)?,
            invoices: numbers(&r.get::<String>(11)?),
        },
        by: r.get(12)?,
        comment: r.get(13)?,
        confirmed: r.get(14)?,
        created_at: r.get(15)?,
    })
}

fn corrections_of(db: Db<'_>, t: &str, message: i64) -> Result<Vec<CorrectionView>, StoreError> {
    db.query(
        &format!("SELECT {CORRECTION_COLUMNS} FROM reply_corrections WHERE tenant_id=?1 AND message_id=?2 ORDER BY id"),
        args![t, message],
    )?
    .iter()
    .map(correction_view)
    .collect()
}

/// The message an audit event's data names (`{"message": id}`), if any.
fn event_message(data: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(data).ok()?.get("message")?.as_i64()
}

/// The invoices a message holds disputed: those whose latest dispute event
/// for it is `invoice_disputed` (not `invoice_undisputed`).
fn held_disputes(db: Db<'_>, t: &str, message: i64) -> Result<Vec<String>, StoreError> {
    // The events whose data names the message. PostgreSQL has no
    // `json_extract`: the same test on its `jsonb` (a number equal to the id).
    let names_message = if db.is_postgres() {
        "CAST(data AS JSONB) -> 'message' = TO_JSONB(CAST(?2 AS BIGINT))"
    } else {
        "json_extract(data, '$.message')=?2"
    };
    let rows = db.query(
        &format!(
            "SELECT kind, subject FROM audit_events WHERE tenant_id=?1 AND kind IN ('invoice_disputed', 'invoice_undisputed')
             AND {names_message} ORDER BY id"
        ),
        args![t, message],
    )?;
    let mut held: Vec<String> = Vec::new();
    for r in &rows {
        let (kind, subject): (String, String) = (r.get(0)?, r.get(1)?);
        let Some(number) = subject.strip_prefix("invoice:") else { continue };
        held.retain(|n| n != number);
        if kind == "invoice_disputed" {
            held.push(number.to_string());
        }
    }
    Ok(held)
}

/// Whether a message other than `message` holds `number` disputed (its
/// dispute event, or its open dispute task).
fn disputed_by_another(db: Db<'_>, t: &str, number: &str, message: i64) -> Result<bool, StoreError> {
    // The invoice's few dispute events, their message read here.
    let rows = db.query(
        "SELECT kind, data FROM audit_events WHERE tenant_id=?1 AND subject=?2
         AND kind IN ('invoice_disputed', 'invoice_undisputed') ORDER BY id",
        args![t, format!("invoice:{number}")],
    )?;
    let mut holders: HashMap<i64, bool> = HashMap::new();
    for r in &rows {
        let (kind, data): (String, String) = (r.get(0)?, r.get(1)?);
        if let Some(m) = event_message(&data) {
            holders.insert(m, kind == "invoice_disputed");
        }
    }
    if holders.iter().any(|(m, held)| *m != message && *held) {
        return Ok(true);
    }
    // A reply that disputed it while it was disputed already changed nothing
    // (no event): its open dispute task names it. The tasks whose list
    // contains the number as written in JSON (case aside), then their lists read here.
    let quoted = serde_json::to_string(number).map_err(corrupt)?;
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default();
    let lists = db.query(
        "SELECT invoice_numbers FROM tasks WHERE tenant_id=?1 AND kind=?2 AND status=?3 AND message_id IS NOT NULL
         AND message_id<>?4 AND instr(upper(invoice_numbers), upper(?5)) > 0",
        args![t, TaskKind::Dispute.as_str(), TaskStatus::Open.as_str(), message, inner],
    )?;
    for r in &lists {
        // SQLite's `upper`, which the lists were compared with: ASCII letters only.
        if numbers(&r.get::<String>(0)?).iter().any(|n| n.eq_ignore_ascii_case(number)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Undoes what a message's reading did; returns what was undone.
fn undo(tx: Db<'_>, t: &str, id: i64, by: &str, to: Intent, now: &str) -> Result<Vec<String>, StoreError> {
    let mut undone = Vec::new();
    let note = format!("closed: the reply was corrected to {to} by {by}");
    // Promises it recorded that still weigh on reminders.
    let promises = tx.query(
        "SELECT id FROM promises WHERE tenant_id=?1 AND message_id=?2 AND status IN (?3, ?4) ORDER BY id",
        args![t, id, PromiseStatus::Pending.as_str(), PromiseStatus::Broken.as_str()],
    )?;
    for r in &promises {
        let p: i64 = r.get(0)?;
        tx.execute(
            "UPDATE promises SET status=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
            args![t, p, PromiseStatus::Cancelled.as_str(), now],
        )?;
        insert_event(
            tx,
            t,
            "replies",
            "promise_cancelled",
            &format!("promise:{p}"),
            &json!({ "message": id, "by": by }),
        )?;
        undone.push(format!("promise {p} cancelled"));
    }
    // Invoices it disputed, unless another reply disputes them too.
    for number in held_disputes(tx, t, id)? {
        if disputed_by_another(tx, t, &number, id)? {
            undone.push(format!("invoice {number} stays disputed (another reply disputes it)"));
            continue;
        }
        tx.execute(
            "UPDATE invoices SET status=CASE WHEN open_minor < total_minor THEN 'partially_paid' ELSE 'open' END,
                    updated_at=?3 WHERE tenant_id=?1 AND number=?2 AND status='disputed'",
            args![t, number, now],
        )?;
        insert_event(
            tx,
            t,
            "replies",
            "invoice_undisputed",
            &format!("invoice:{number}"),
            &json!({ "message": id, "by": by }),
        )?;
        undone.push(format!("invoice {number} no longer disputed"));
    }
    // Tasks it opened.
    let tasks = tx.query(
        "SELECT id, kind FROM tasks WHERE tenant_id=?1 AND message_id=?2 AND status=?3 ORDER BY id",
        args![t, id, TaskStatus::Open.as_str()],
    )?;
    for r in &tasks {
        let (task, kind): (i64, String) = (r.get(0)?, r.get(1)?);
        tx.execute(
            "UPDATE tasks SET status=?3, note=note || ?4, updated_at=?5 WHERE tenant_id=?1 AND id=?2",
            args![t, task, TaskStatus::Done.as_str(), format!("\n{note}"), now],
        )?;
        undone.push(format!("{kind} task {task} closed"));
    }
    // A draft payment plan read from it.
    let plans =
        tx.query("SELECT id FROM payment_plans WHERE tenant_id=?1 AND message_id=?2 AND status='draft'", args![t, id])?;
    for r in &plans {
        let plan: i64 = r.get(0)?;
        tx.execute(
            "UPDATE payment_plans SET status='rejected', decided_by=?3, decided_at=?4, decision_note=?5, updated_at=?4
             WHERE tenant_id=?1 AND id=?2 AND status='draft'",
            args![t, plan, by, now, note],
        )?;
        undone.push(format!("draft payment plan {plan} rejected"));
    }
    Ok(undone)
}

impl Store {
    /// One message with its corrections.
    pub fn message(&self, tenant: &TenantId, id: i64) -> Result<Option<MessageDetail>, StoreError> {
        let t = tenant.as_str();
        self.db.read_any(|db| {
            let row = db.query_opt(
                &format!("SELECT {MESSAGE_VIEW_COLUMNS} FROM inbound_messages WHERE tenant_id=?1 AND id=?2"),
                args![t, id],
            )?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(MessageDetail { message: message_view(&row)?, corrections: corrections_of(db, t, id)? }))
        })
    }

    /// A person (`input.by`, through `actor`) confirms or corrects what a
    /// reply says; see the module doc. `today` is the day of the correction
    /// (the window of recent credits a payment claim is checked against).
    pub fn correct_reply(
        &self,
        tenant: &TenantId,
        id: i64,
        actor: &str,
        input: &CorrectionInput,
        today: NaiveDate,
    ) -> Result<Result<CorrectionOutcome, CorrectionRefusal>, StoreError> {
        let t = tenant.as_str();
        let by = input.by.trim();
        if by.is_empty() {
            return Ok(Err(CorrectionRefusal::Invalid("`by` must name the person who corrects".into())));
        }
        self.db.write_any(|tx| {
            let row = tx.query_opt(
                "SELECT status, understanding_version, understanding FROM inbound_messages WHERE tenant_id=?1 AND id=?2",
                args![t, id],
            )?;
            let Some(row) = row else { return Ok(Err(CorrectionRefusal::NotFound(id))) };
            let (status, version, text): (String, Option<u32>, Option<String>) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let status: MessageStatus = status.parse().map_err(corrupt)?;
            let current = match read_understanding(id, version, text.as_deref()) {
                Some(UnderstandingView::Understood(u)) => *u,
                _ if status == MessageStatus::Stored => {
                    return Ok(Err(CorrectionRefusal::Conflict(format!("message {id} is not understood yet"))));
                }
                _ => {
                    return Ok(Err(CorrectionRefusal::Conflict(format!(
                        "message {id} could not be read: there is no reading to correct"
                    ))));
                }
            };
            // The invoices, as stored (numbers that differ only in case: the first byte-wise on both databases).
            let order = if tx.is_postgres() { r#"number COLLATE "C""# } else { "number" };
            let invoices = match &input.invoices {
                None => None,
                Some(given) => {
                    let mut found: Vec<(String, String)> = Vec::new();
                    for n in given {
                        let row = tx
                            .query_opt(
                                &format!(
                                    "SELECT number, currency FROM invoices WHERE tenant_id=?1 AND upper(number)=upper(?2)
                                     ORDER BY {order} LIMIT 1"
                                ),
                                args![t, n.trim()],
                            )?
                            .map(|r| -> Result<(String, String), StoreError> { Ok((r.get(0)?, r.get(1)?)) })
                            .transpose()?;
                        match row {
                            Some(f) if !found.iter().any(|(x, _)| *x == f.0) => found.push(f),
                            Some(_) => {}
                            None => return Ok(Err(CorrectionRefusal::Invalid(format!("unknown invoice `{n}`")))),
                        }
                    }
                    Some(found)
                }
            };
            // The amount, in its currency.
            let amount = match input.amount.as_deref().map(str::trim) {
                None => None,
                Some(a) => {
                    let first_invoice = invoices.as_ref().and_then(|f| f.first()).map(|(_, c)| c.clone());
                    let code = input.currency.clone().or_else(|| current.currency.clone()).or(first_invoice);
                    let Some(code) = code else {
                        return Ok(Err(CorrectionRefusal::Invalid(format!(
                            "amount `{a}` needs a `currency` (none was read and no invoice is given)"
                        ))));
                    };
                    let ccy = match Currency::parse(code.trim()) {
                        Ok(c) => c,
                        Err(e) => return Ok(Err(CorrectionRefusal::Invalid(format!("currency `{code}`: {e}")))),
                    };
                    match Money::parse_canonical(a, ccy) {
                        Ok(m) if m.minor > 0 => Some(m),
                        Ok(_) => return Ok(Err(CorrectionRefusal::Invalid(format!("amount `{a}` must be positive")))),
                        Err(e) => {
                            return Ok(Err(CorrectionRefusal::Invalid(format!(
                                "amount `{a}`: {e} (a decimal with a dot, e.g. \"1200.50\")"
                            ))));
                        }
                    }
                }
            };
            let mut corrected = current.clone();
            corrected.intent = input.intent;
            corrected.promised_date = input.promised_date;
            corrected.amount = amount.map(|m| m.to_decimal_string());
            corrected.currency = amount.map(|m| m.currency.code().to_string());
            if let Some(found) = &invoices {
                corrected.refs = found.iter().map(|(n, _)| n.clone()).collect();
            }
            let (before, after) = (Reading::of(&current), Reading::of(&corrected));
            let history = corrections_of(tx, t, id)?;
            if let Some(last) = history.last()
                && last.reading.same(&after)
                && before.same(&after)
            {
                return Ok(Ok(CorrectionOutcome {
                    correction: last.clone(),
                    changed: false,
                    undone: Vec::new(),
                    actions: Vec::new(),
                }));
            }
            let confirmed = before.same(&after);
            let now = now_text();
            // Quarantined messages were never acted on: a reading given to one is acted on.
            let rerun = !confirmed || status == MessageStatus::Quarantined;
            if !confirmed {
                corrected.confidence = 1.0;
                corrected.reasons.push(format!("corrected by {by}"));
            }
            let (mut undone, mut done, mut disputed) = (Vec::new(), Vec::new(), Vec::new());
            if rerun {
                undone = undo(tx, t, id, by, input.intent, &now)?;
                done = act(tx, t, id, &corrected, today, &now, &mut disputed)?;
            }
            let document = understanding_json(Some(&corrected));
            tx.execute(
                "UPDATE inbound_messages SET status=?3, intent=?4, understanding=?5, understanding_version=?6, error=NULL,
                        updated_at=?7 WHERE tenant_id=?1 AND id=?2",
                args![
                    t,
                    id,
                    MessageStatus::Handled.as_str(),
                    corrected.intent.as_str(),
                    document.to_string(),
                    UNDERSTANDING_VERSION,
                    now
                ],
            )?;
            let correction_id: i64 = tx
                .query_one(
                "INSERT INTO reply_corrections (tenant_id, message_id, intent, promised_date, amount_minor, currency,
                        invoice_numbers, previous_intent, previous_promised_date, previous_amount, previous_currency,
                        previous_invoices, previous_understanding, corrected_by, actor, comment, confirmed, created_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18) RETURNING id",
                args![
                    t,
                    id,
                    after.intent.as_str(),
                    after.promised_date.map(|d| d.to_string()),
                    amount.map(|m| m.minor),
                    amount.map(|m| m.currency.code().to_string()),
                    json!(after.invoices).to_string(),
                    before.intent.as_str(),
                    before.promised_date.map(|d| d.to_string()),
                    before.amount,
                    before.currency,
                    json!(before.invoices).to_string(),
                    understanding_json(Some(&current)).to_string(),
                    by,
                    actor,
                    input.comment,
                    confirmed,
                    now
                ],
            )?
            .get(0)?;
            insert_event(
                tx,
                t,
                actor,
                "reply_corrected",
                &format!("message:{id}"),
                &json!({
                    "by": by, "correction": correction_id, "confirmed": confirmed, "comment": input.comment,
                    "from": before, "to": after, "undone": undone, "actions": done, "disputed": disputed,
                }),
            )?;
            let correction = correction_view(&tx.query_one(
                &format!("SELECT {CORRECTION_COLUMNS} FROM reply_corrections WHERE tenant_id=?1 AND id=?2"),
                args![t, correction_id],
            )?)?;
            Ok(Ok(CorrectionOutcome { correction, changed: true, undone, actions: done }))
        })
    }

    /// The tenant's corrected messages, each with its latest correction, oldest first.
    pub fn correction_samples(&self, tenant: &TenantId) -> Result<Vec<CorrectionSample>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT c.id, c.message_id, c.intent, m.raw_path, m.created_at
                 FROM reply_corrections c JOIN inbound_messages m ON m.tenant_id=c.tenant_id AND m.id=c.message_id
                 WHERE c.tenant_id=?1
                   AND c.id=(SELECT max(x.id) FROM reply_corrections x WHERE x.tenant_id=c.tenant_id AND x.message_id=c.message_id)
                 ORDER BY c.id",
                args![tenant.as_str()],
            )?
            .iter()
            .map(|r| {
                let at: String = r.get(4)?;
                Ok(CorrectionSample {
                    correction_id: r.get(0)?,
                    message_id: r.get(1)?,
                    intent: state(r, 2)?,
                    raw_path: r.get(3)?,
                    received: date(at.get(..10).map(str::to_string)).unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    /// The tenant's latest correction, if any.
    pub fn last_correction(&self, tenant: &TenantId) -> Result<Option<i64>, StoreError> {
        self.db.read_any(|db| {
            db.query_one("SELECT max(id) FROM reply_corrections WHERE tenant_id=?1", args![tenant.as_str()])?.get(0)
        })
    }

    /// Stores a newly trained overlay as the tenant's next version; one
    /// trained on the same corrections as the latest is not stored again.
    /// Returns the version in force.
    pub fn record_reply_model(&self, tenant: &TenantId, m: &NewReplyModel) -> Result<i64, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|tx| {
            let latest = tx
                .query_opt(
                    "SELECT version, corrections_through FROM reply_models WHERE tenant_id=?1 ORDER BY version DESC LIMIT 1",
                    args![t],
                )?
                .map(|r| -> Result<(i64, i64), StoreError> { Ok((r.get(0)?, r.get(1)?)) })
                .transpose()?;
            if let Some((version, through)) = latest
                && through == m.corrections_through
            {
                return Ok(version);
            }
            let version = latest.map_or(1, |(v, _)| v + 1);
            let now = now_text();
            tx.execute(
                "INSERT INTO reply_models (tenant_id, version, trained_at, examples, corrections_through, accuracy,
                        shipped_accuracy, overlay) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                args![
                    t,
                    version,
                    now,
                    m.examples,
                    m.corrections_through,
                    m.accuracy.clamp(0.0, 1.0),
                    m.shipped_accuracy.clamp(0.0, 1.0),
                    m.overlay
                ],
            )?;
            insert_event(
                tx,
                t,
                "replies",
                "reply_model_trained",
                &format!("reply_model:{version}"),
                &json!({
                    "examples": m.examples, "corrections_through": m.corrections_through,
                    "accuracy": m.accuracy, "shipped_accuracy": m.shipped_accuracy,
                }),
            )?;
            Ok(version)
        })
    }

    /// The tenant's latest model, if it has one.
    pub fn reply_model(&self, tenant: &TenantId) -> Result<Option<ReplyModelView>, StoreError> {
        self.db.read_any(|db| {
            let row = db.query_opt(
                "SELECT version, trained_at, examples, corrections_through, accuracy, shipped_accuracy, overlay
                 FROM reply_models WHERE tenant_id=?1 ORDER BY version DESC LIMIT 1",
                args![tenant.as_str()],
            )?;
            let Some(r) = row else { return Ok(None) };
            let text: String = r.get(6)?;
            Ok(Some(ReplyModelView {
                version: r.get(0)?,
                trained_at: r.get(1)?,
                examples: r.get(2)?,
                corrections_through: r.get(3)?,
                accuracy: r.get(4)?,
                shipped_accuracy: r.get(5)?,
                features: Model::parse(&text).map_or(0, |m| m.weights.len()),
            }))
        })
    }

    /// The tenant's latest overlay, for understanding its replies: `None`
    /// (the shipped model alone) when it has none or the stored one does not
    /// read (logged). Parsed once per version.
    pub fn reply_overlay(&self, tenant: &TenantId) -> Result<Option<Arc<Overlay>>, StoreError> {
        let t = tenant.as_str();
        let latest: Option<i64> = self.db.read_any(|db| {
            db.query_one("SELECT max(version) FROM reply_models WHERE tenant_id=?1", args![t])?.get(0)
        })?;
        let Some(version) = latest else { return Ok(None) };
        let mut cache = self.overlays.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, o)) = cache.get(t)
            && *v == version
        {
            return Ok(Some(o.clone()));
        }
        let text: String = self.db.read_any(|db| {
            db.query_one("SELECT overlay FROM reply_models WHERE tenant_id=?1 AND version=?2", args![t, version])?
                .get(0)
        })?;
        match Model::parse(&text) {
            Ok(m) => {
                let m = Arc::new(m);
                cache.insert(t.to_string(), (version, m.clone()));
                Ok(Some(m))
            }
            Err(e) => {
                tracing::warn!(tenant = t, version, error = %e, "stored reply model does not read: shipped model only");
                Ok(None)
            }
        }
    }
}
