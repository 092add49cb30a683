//! Tasks and promises a person records by hand.
//!
//! Relance opens tasks itself (a dispute, a call step, an undeliverable
//! contact: see `messages` and `outbox`); a person may also create one
//! ([`Store::create_task`], kind `follow_up` by default), assign it, give it
//! a due day, and close any task with a note. A promise to pay heard on the
//! phone is recorded like one read from a reply ([`Store::record_promise`]):
//! `pending`, it pauses the customer's reminders until its date plus the
//! scenario's grace, then is checked against the books. Every action names
//! its actor and is an audit event.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::actions::{Acted, ActionRefusal, actor as check_actor, required};
use super::db::{Db, Row, args};
use super::holds::{customer_exists, invoice_customer};
use super::messages::{PromiseView, TASK_VIEW_COLUMNS, TaskView, numbers};
use super::sqlite::insert_event;
use super::{Store, StoreError, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{PromiseStatus, TaskKind, TaskStatus};

/// A task a person creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// `follow_up` when absent.
    #[serde(default)]
    pub kind: Option<TaskKind>,
    pub customer: String,
    /// Invoices of the customer it is about.
    #[serde(default)]
    pub invoices: Vec<String>,
    pub note: String,
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A promise to pay a person records (heard on the phone, read in a letter).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromise {
    /// The day the customer promised to pay by.
    pub promised_date: NaiveDate,
    /// Decimal with a dot (`"1200.50"`); the whole of the invoices when absent.
    #[serde(default)]
    pub amount: Option<String>,
    /// The currency of `amount`; the invoices' (else EUR) when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// Invoices of the customer it covers; all its open invoices when empty.
    #[serde(default)]
    pub invoices: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// The stored numbers of `wanted`, each the customer's; the refusal names
/// the first that is not.
fn customers_invoices(
    db: Db<'_>,
    t: &str,
    customer: &str,
    wanted: &[String],
) -> Result<Acted<Vec<String>>, StoreError> {
    let mut out = Vec::new();
    for n in wanted.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match invoice_customer(db, t, n)? {
            Some((number, owner)) if owner == customer => {
                if !out.contains(&number) {
                    out.push(number);
                }
            }
            Some((number, owner)) => {
                return Ok(Err(ActionRefusal::Invalid(format!(
                    "invoice {number} is customer {owner}'s, not {customer}'s"
                ))));
            }
            None => return Ok(Err(ActionRefusal::NotFound(format!("no invoice {n}")))),
        }
    }
    Ok(Ok(out))
}

fn read_task(db: Db<'_>, t: &str, id: i64) -> Result<Option<TaskView>, StoreError> {
    db.query_opt(&format!("SELECT {TASK_VIEW_COLUMNS} FROM tasks WHERE tenant_id=?1 AND id=?2"), args![t, id])?
        .map(|r| task_of(&r))
        .transpose()
}

/// A stored state name (a task's kind or status) as its enum.
fn parsed<T: std::str::FromStr>(r: &Row, i: usize) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("column {i}: `{text}`: {e}")))
}

/// A row of [`TASK_VIEW_COLUMNS`] as a [`TaskView`] (what
/// `messages::task_view` reads with rusqlite, for the ported methods).
fn task_of(r: &Row) -> Result<TaskView, StoreError> {
    Ok(TaskView {
        id: r.get(0)?,
        kind: parsed(r, 1)?,
        customer_id: r.get(2)?,
        message_id: r.get(3)?,
        invoices: numbers(&r.get::<String>(4)?),
        note: r.get(5)?,
        status: parsed(r, 6)?,
        created_at: r.get(7)?,
        assignee: r.get(8)?,
        due_on: r.get::<Option<String>>(9)?.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        created_by: r.get(10)?,
        closed_by: r.get(11)?,
        closed_at: r.get(12)?,
        closed_note: r.get(13)?,
    })
}

/// A person's name as given (trimmed), `None` when blank.
fn name(text: Option<&str>) -> Option<String> {
    text.map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

impl Store {
    /// `actor` creates a task (see [`NewTask`]).
    pub fn create_task(&self, tenant: &TenantId, task: &NewTask, actor: &str) -> Result<Acted<TaskView>, StoreError> {
        let t = tenant.as_str();
        let note = match required(&task.note, "note") {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let kind = task.kind.unwrap_or(TaskKind::FollowUp);
        self.db.write_any(|db| {
            if !customer_exists(db, t, &task.customer)? {
                return Ok(Err(ActionRefusal::NotFound(format!("no customer {}", task.customer))));
            }
            let invoices = match customers_invoices(db, t, &task.customer, &task.invoices)? {
                Ok(i) => i,
                Err(e) => return Ok(Err(e)),
            };
            let now = now_text();
            let assignee = name(task.assignee.as_deref());
            let id: i64 = db
                .query_one(
                    "INSERT INTO tasks (tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at,
                                        assignee, due_on, created_by)
                     VALUES (?1,?2,?3,NULL,?4,?5,?6,?7,?7,?8,?9,?10) RETURNING id",
                    args![
                        t,
                        kind.as_str(),
                        task.customer,
                        json!(invoices).to_string(),
                        note,
                        TaskStatus::Open.as_str(),
                        now,
                        assignee,
                        task.due_on.map(|d| d.to_string()),
                        actor
                    ],
                )?
                .get(0)?;
            insert_event(
                db,
                t,
                actor,
                "task_created",
                &format!("task:{id}"),
                &json!({ "kind": kind, "customer": task.customer, "invoices": invoices, "assignee": assignee, "due_on": task.due_on }),
            )?;
            Ok(read_task(db, t, id)?.ok_or_else(|| ActionRefusal::NotFound(format!("no task {id}"))))
        })
    }

    /// `actor` closes a task (done), with an optional note; closing a closed
    /// task changes nothing.
    pub fn close_task(
        &self,
        tenant: &TenantId,
        id: i64,
        note: Option<&str>,
        actor: &str,
    ) -> Result<Acted<TaskView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let note = name(note);
        self.db.write_any(|db| {
            let Some(task) = read_task(db, t, id)? else {
                return Ok(Err(ActionRefusal::NotFound(format!("no task {id}"))));
            };
            if task.status == TaskStatus::Done {
                return Ok(Ok(task));
            }
            let now = now_text();
            db.execute(
                "UPDATE tasks SET status=?3, closed_by=?4, closed_at=?5, closed_note=?6, updated_at=?5
                 WHERE tenant_id=?1 AND id=?2 AND status=?7",
                args![t, id, TaskStatus::Done.as_str(), actor, now, note, TaskStatus::Open.as_str()],
            )?;
            insert_event(
                db,
                t,
                actor,
                "task_closed",
                &format!("task:{id}"),
                &json!({ "kind": task.kind, "note": note }),
            )?;
            Ok(read_task(db, t, id)?.ok_or_else(|| ActionRefusal::NotFound(format!("no task {id}"))))
        })
    }

    /// `actor` assigns an open task to `assignee` (`None` or blank: nobody).
    pub fn assign_task(
        &self,
        tenant: &TenantId,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Acted<TaskView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let assignee = name(assignee);
        self.db.write_any(|db| {
            let Some(task) = read_task(db, t, id)? else {
                return Ok(Err(ActionRefusal::NotFound(format!("no task {id}"))));
            };
            if task.status == TaskStatus::Done {
                return Ok(Err(ActionRefusal::Conflict(format!("task {id} is done: reopen work in a new task"))));
            }
            if task.assignee == assignee {
                return Ok(Ok(task));
            }
            db.execute(
                "UPDATE tasks SET assignee=?3, updated_at=?4 WHERE tenant_id=?1 AND id=?2",
                args![t, id, assignee, now_text()],
            )?;
            insert_event(
                db,
                t,
                actor,
                "task_assigned",
                &format!("task:{id}"),
                &json!({ "from": task.assignee, "to": assignee }),
            )?;
            Ok(read_task(db, t, id)?.ok_or_else(|| ActionRefusal::NotFound(format!("no task {id}"))))
        })
    }

    /// `actor` records a promise to pay by `customer` (see [`NewPromise`]).
    pub fn record_promise(
        &self,
        tenant: &TenantId,
        customer: &str,
        promise: &NewPromise,
        actor: &str,
    ) -> Result<Acted<PromiseView>, StoreError> {
        let t = tenant.as_str();
        let actor = match check_actor(actor) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        self.db.write_any(|db| {
            if !customer_exists(db, t, customer)? {
                return Ok(Err(ActionRefusal::NotFound(format!("no customer {customer}"))));
            }
            let invoices = match customers_invoices(db, t, customer, &promise.invoices)? {
                Ok(i) => i,
                Err(e) => return Ok(Err(e)),
            };
            let (amount, currency) = match &promise.amount {
                None => (None, promise.currency.clone()),
                Some(text) => {
                    let first: Option<String> = db
                        .query_opt(
                            "SELECT currency FROM invoices WHERE tenant_id=?1 AND customer_id=?2 ORDER BY due_date LIMIT 1",
                            args![t, customer],
                        )?
                        .map(|r| r.get(0))
                        .transpose()?;
                    let code = promise.currency.clone().or(first).unwrap_or_else(|| "EUR".into());
                    let ccy = match Currency::parse(&code) {
                        Ok(c) => c,
                        Err(e) => return Ok(Err(ActionRefusal::Invalid(format!("currency `{code}`: {e}")))),
                    };
                    match Money::parse_canonical(text.trim(), ccy) {
                        Ok(m) if m.minor > 0 => (Some(m.to_decimal_string()), Some(ccy.code().to_string())),
                        Ok(_) => return Ok(Err(ActionRefusal::Invalid("`amount` must be positive".into()))),
                        Err(e) => {
                            return Ok(Err(ActionRefusal::Invalid(format!(
                                "`amount` `{text}`: {e} (a decimal with a dot, e.g. \"1200.50\")"
                            ))));
                        }
                    }
                }
            };
            let now = now_text();
            let id: i64 = db
                .query_one(
                    "INSERT INTO promises (tenant_id, customer_id, message_id, invoice_numbers, promised_date, amount, currency, status, created_at, updated_at)
                     VALUES (?1,?2,NULL,?3,?4,?5,?6,?7,?8,?8) RETURNING id",
                    args![
                        t,
                        customer,
                        json!(invoices).to_string(),
                        promise.promised_date.to_string(),
                        amount,
                        currency,
                        PromiseStatus::Pending.as_str(),
                        now
                    ],
                )?
                .get(0)?;
            let note = name(promise.note.as_deref());
            insert_event(
                db,
                t,
                actor,
                "promise_recorded",
                &format!("promise:{id}"),
                &json!({
                    "customer": customer, "invoices": invoices, "promised_date": promise.promised_date,
                    "amount": amount, "currency": currency, "note": note, "by_hand": true,
                }),
            )?;
            Ok(Ok(PromiseView {
                id,
                customer_id: Some(customer.to_string()),
                message_id: None,
                invoices,
                promised_date: Some(promise.promised_date),
                amount,
                currency,
                status: PromiseStatus::Pending,
                created_at: now,
            }))
        })
    }
}
