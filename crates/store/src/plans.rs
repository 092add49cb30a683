//! Payment plans: drafts read from customers' plan requests, a person's
//! decision on them, and their course once accepted.
//!
//! * A plan request handled by the reply side records a **draft**
//!   ([`record_draft`], in the message's transaction): the invoices the reply
//!   is about (else the customer's open invoices, in the currency of the
//!   first), and the proposal's instalments with amounts computed from their
//!   open amount ([`proposal::resolve`]); what the customer did not state is
//!   left empty.
//! * A person **accepts** it ([`Store::accept_plan`], possibly with edited
//!   instalments) or **rejects** it; the decision is refused unless the
//!   instalments are complete, in the plan's currency, in strictly ascending
//!   date order and sum to the covered invoices' open amount. Each decision
//!   is an audit event naming the person, and closes the plan's task.
//! * Once accepted, what the customer paid toward it is the **decrease of
//!   the covered invoices' open amount since acceptance** (paid or cancelled
//!   invoices count as nothing open). That counts the money however it
//!   arrives (cash application of a bank statement, or a payment recorded in
//!   the ERP and synced) and follows an undone allocation back; it is
//!   clamped at zero. The dunning engine decides from it whether the plan is
//!   on track ([`relance_engine::dunning::plan`]); the planner marks it
//!   **broken** or **completed** ([`Store::close_plan`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::db::{Db, args};
use super::sqlite::insert_event;
use super::{Store, StoreError, Window, now_text};
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_domain::replies::{TaskKind, TaskStatus};
use relance_engine::dunning::plan::{AgreedPlan, Instalment, PlanStatus};
use relance_engine::replies::proposal::{self, PlanProposal};

/// The actor of drafts recorded from replies.
const REPLIES_ACTOR: &str = "replies";

/// A payment plan, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub id: i64,
    pub customer_id: String,
    /// The message it was read from.
    #[serde(rename = "message")]
    pub message_id: Option<i64>,
    pub invoices: Vec<String>,
    pub currency: String,
    /// `draft`, `accepted`, `rejected`, `broken` or `completed`.
    #[schema(value_type = String)]
    pub status: PlanStatus,
    pub instalments: Vec<InstalmentView>,
    /// The covered invoices' open amount now (decimal).
    pub open: String,
    /// Their open amount when the plan was accepted (decimal).
    pub open_at_acceptance: Option<String>,
    /// Paid toward the plan since it was accepted (decimal).
    pub paid: Option<String>,
    /// What was read in the customer's message.
    #[schema(value_type = Object)]
    pub proposal: PlanProposal,
    pub created_by: String,
    pub created_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    /// Why it was broken or completed.
    pub closed_note: Option<String>,
}

/// One instalment, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InstalmentView {
    pub number: u32,
    pub due_date: Option<NaiveDate>,
    /// Decimal, in the plan's currency; `null` while not known.
    pub amount: Option<String>,
    pub currency: String,
    pub invoices: Vec<String>,
}

/// An instalment as a person gives it when accepting a plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalmentInput {
    pub due_date: NaiveDate,
    /// Decimal string with a dot (`"500"`, `"500.00"`).
    pub amount: String,
    /// The plan's currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// Invoices among the plan's; all of them when absent.
    #[serde(default)]
    pub invoices: Option<Vec<String>>,
}

/// Why a decision on a plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRefusal {
    #[error("no payment plan {0}")]
    NotFound(i64),
    /// The plan is not in a state the decision applies to.
    #[error("{0}")]
    Conflict(String),
    /// The instalments do not make a valid plan.
    #[error("{0}")]
    Invalid(String),
}

fn numbers(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// `(number, open minor, currency)` of the stored invoices among `wanted`
/// (case aside), or of the customer's open invoices when `wanted` is empty.
fn covered(db: Db<'_>, t: &str, customer: &str, wanted: &[String]) -> Result<Vec<(String, i64, String)>, StoreError> {
    let all = db
        .query(
            "SELECT number, CASE WHEN status IN ('paid','cancelled') THEN 0 ELSE open_minor END, currency
             FROM invoices WHERE tenant_id=?1 AND customer_id=?2 ORDER BY due_date, number",
            args![t, customer],
        )?
        .iter()
        .map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(if wanted.is_empty() {
        all.into_iter().filter(|(_, open, _)| *open > 0).collect()
    } else {
        all.into_iter().filter(|(n, _, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(n))).collect()
    })
}

/// The covered invoices' open amount now, summed exactly.
fn open_now(db: Db<'_>, t: &str, customer: &str, invoices: &[String]) -> Result<i64, StoreError> {
    if invoices.is_empty() {
        return Ok(0);
    }
    let sum: i128 = covered(db, t, customer, invoices)?.iter().map(|(_, o, _)| i128::from(*o)).sum();
    i64::try_from(sum).map_err(corrupt)
}

/// Records the draft plan a plan request leads to (see the module doc);
/// `None` when the customer has nothing open to plan.
pub(crate) fn record_draft<'a>(
    tx: impl Into<Db<'a>>,
    t: &str,
    customer: &str,
    message_id: i64,
    invoices: &[String],
    proposal: &PlanProposal,
) -> Result<Option<i64>, StoreError> {
    let tx = tx.into();
    let found = covered(tx, t, customer, invoices)?;
    let Some(currency) = found.first().map(|(_, _, c)| c.clone()) else { return Ok(None) };
    let found: Vec<(String, i64, String)> = found.into_iter().filter(|(_, _, c)| *c == currency).collect();
    let ccy = Currency::parse(&currency).map_err(corrupt)?;
    let open: i128 = found.iter().map(|(_, o, _)| i128::from(*o)).sum();
    let open = Money::new(i64::try_from(open).map_err(corrupt)?, ccy);
    let numbers: Vec<String> = found.into_iter().map(|(n, _, _)| n).collect();
    let now = now_text();
    let covered_json = json!(numbers).to_string();
    let proposal_json = serde_json::to_string(proposal).map_err(corrupt)?;
    let inserted = tx.query_opt(
        "INSERT INTO payment_plans (tenant_id, customer_id, message_id, invoice_numbers, currency, status, proposal,
                                    created_by, created_at, updated_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?9) ON CONFLICT DO NOTHING RETURNING id",
        args![
            t,
            customer,
            message_id,
            covered_json,
            currency,
            PlanStatus::Draft.as_str(),
            proposal_json,
            REPLIES_ACTOR,
            now
        ],
    )?;
    let Some(inserted) = inserted else {
        return Ok(None); // a draft from this message exists already
    };
    let id: i64 = inserted.get(0)?;
    let resolved = proposal::resolve(proposal, open);
    for (k, i) in resolved.iter().enumerate() {
        tx.execute(
            "INSERT INTO plan_instalments (plan_id, number, due_date, amount_minor, currency, invoice_numbers)
             VALUES (?1,?2,?3,?4,?5,?6)",
            args![id, k as i64 + 1, i.due.map(|d| d.to_string()), i.amount.map(|m| m.minor), currency, covered_json],
        )?;
    }
    insert_event(
        tx,
        t,
        REPLIES_ACTOR,
        "plan_drafted",
        &format!("plan:{id}"),
        &json!({
            "customer": customer, "message": message_id, "invoices": numbers, "open": open.to_decimal_string(),
            "currency": currency, "instalments": resolved,
        }),
    )?;
    Ok(Some(id))
}

type PlanRow = (i64, String, Option<i64>, String, String, String, String, Option<i64>, String, String);
type DecisionRow = (Option<String>, Option<String>, Option<String>, Option<String>);

fn read_plan(c: Db<'_>, t: &str, id: i64) -> Result<Option<PlanView>, StoreError> {
    let row: Option<(PlanRow, DecisionRow)> = c
        .query_opt(
            "SELECT id, customer_id, message_id, invoice_numbers, currency, status, proposal, open_at_acceptance_minor,
                    created_by, created_at, decided_by, decided_at, decision_note, closed_note
             FROM payment_plans WHERE tenant_id=?1 AND id=?2",
            args![t, id],
        )?
        .map(|r| -> Result<_, StoreError> {
            Ok((
                (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ),
                (r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?),
            ))
        })
        .transpose()?;
    let Some((
        (id, customer_id, message_id, invoices, currency, status, proposal, at_acceptance, created_by, created_at),
        (decided_by, decided_at, decision_note, closed_note),
    )) = row
    else {
        return Ok(None);
    };
    let ccy = Currency::parse(&currency).map_err(corrupt)?;
    let status: PlanStatus = status.parse().map_err(corrupt)?;
    let invoices = numbers(&invoices);
    let open = open_now(c, t, &customer_id, &invoices)?;
    let dec = |minor: i64| Money::new(minor, ccy).to_decimal_string();
    let paid = at_acceptance.map(|a| dec(a.saturating_sub(open).max(0)));
    let instalments = c
        .query(
            "SELECT number, due_date, amount_minor, currency, invoice_numbers FROM plan_instalments WHERE plan_id=?1 ORDER BY number",
            args![id],
        )?
        .iter()
        .map(|r| -> Result<_, StoreError> {
            Ok((
                r.get::<u32>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<Option<i64>>(2)?,
                r.get::<String>(3)?,
                r.get::<String>(4)?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(number, due, amount, currency, inv)| InstalmentView {
            number,
            due_date: due.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            amount: amount.map(dec),
            currency,
            invoices: numbers(&inv),
        })
        .collect();
    Ok(Some(PlanView {
        id,
        customer_id,
        message_id,
        invoices,
        currency,
        status,
        instalments,
        open: dec(open),
        open_at_acceptance: at_acceptance.map(dec),
        paid,
        proposal: serde_json::from_str(&proposal).unwrap_or_default(),
        created_by,
        created_at,
        decided_by,
        decided_at,
        decision_note,
        closed_note,
    }))
}

/// Each customer's latest plan in force (accepted) or, failing one, broken,
/// as the dunning engine sees it.
pub(crate) fn agreed_plans<'a>(
    c: impl Into<Db<'a>>,
    t: &str,
    only: Option<&str>,
) -> Result<Vec<(String, AgreedPlan)>, StoreError> {
    let c = c.into();
    let rows = c
        .query(
            "SELECT id, customer_id, invoice_numbers, currency, status, open_at_acceptance_minor FROM payment_plans
             WHERE tenant_id=?1 AND (CAST(?2 AS TEXT) IS NULL OR customer_id=?2) AND status IN ('accepted','broken')
             ORDER BY customer_id, CASE WHEN status='accepted' THEN 1 ELSE 0 END, id",
            args![t, only],
        )?
        .iter()
        .map(|r| -> Result<_, StoreError> {
            Ok((
                r.get::<i64>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<String>(4)?,
                r.get::<Option<i64>>(5)?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<(String, AgreedPlan)> = Vec::new();
    for (id, customer, invoices, currency, status, at_acceptance) in rows {
        let ccy = Currency::parse(&currency).map_err(corrupt)?;
        let invoices = numbers(&invoices);
        let open = open_now(c, t, &customer, &invoices)?;
        let paid = at_acceptance.unwrap_or(open).saturating_sub(open).max(0);
        let instalments = c
            .query("SELECT due_date, amount_minor FROM plan_instalments WHERE plan_id=?1 ORDER BY number", args![id])?
            .iter()
            .map(|r| Ok((r.get::<Option<String>>(0)?, r.get::<Option<i64>>(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .map(|(due, amount)| {
                let due = due.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
                match (due, amount) {
                    (Some(due), Some(a)) => Ok(Instalment { due, amount: Money::new(a, ccy) }),
                    _ => Err(corrupt(format!("accepted plan {id} has an instalment without date or amount"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = AgreedPlan {
            id,
            status: status.parse().map_err(corrupt)?,
            invoices,
            instalments,
            paid: Money::new(paid, ccy),
        };
        // Rows are ordered so that the one kept per customer comes last.
        match out.last_mut() {
            Some((c, p)) if *c == customer => *p = plan,
            _ => out.push((customer, plan)),
        }
    }
    Ok(out)
}

/// Checks the instalments of a plan being accepted (see the module doc);
/// returns them with their invoices.
fn check_instalments(
    given: &[(Option<NaiveDate>, Option<Money>, Vec<String>)],
    plan_ccy: Currency,
    plan_invoices: &[String],
    open: i64,
) -> Result<(), PlanRefusal> {
    if given.is_empty() {
        return Err(PlanRefusal::Invalid("a plan needs at least one instalment: give `instalments`".into()));
    }
    let mut total: i128 = 0;
    let mut last: Option<NaiveDate> = None;
    for (k, (due, amount, invoices)) in given.iter().enumerate() {
        let n = k + 1;
        let Some(due) = due else {
            return Err(PlanRefusal::Invalid(format!(
                "instalment {n} has no due date: give the instalments (`instalments`: [{{\"due_date\", \"amount\"}}])"
            )));
        };
        let Some(amount) = amount else {
            return Err(PlanRefusal::Invalid(format!("instalment {n} has no amount: give the instalments")));
        };
        if amount.currency != plan_ccy {
            return Err(PlanRefusal::Invalid(format!(
                "instalment {n} is in {}, the plan's invoices in {}",
                amount.currency.code(),
                plan_ccy.code()
            )));
        }
        if amount.minor <= 0 {
            return Err(PlanRefusal::Invalid(format!("instalment {n}: the amount must be positive")));
        }
        if last.is_some_and(|l| *due <= l) {
            return Err(PlanRefusal::Invalid(format!(
                "instalment {n} is due {due}, not after the previous one: dates must be strictly ascending"
            )));
        }
        if let Some(bad) = invoices.iter().find(|i| !plan_invoices.iter().any(|p| p.eq_ignore_ascii_case(i))) {
            return Err(PlanRefusal::Invalid(format!(
                "instalment {n}: invoice {bad} is not one of the plan's ({})",
                plan_invoices.join(", ")
            )));
        }
        last = Some(*due);
        total += i128::from(amount.minor);
    }
    if total != i128::from(open) {
        let fmt =
            |m: i128| i64::try_from(m).map_or_else(|_| m.to_string(), |m| Money::new(m, plan_ccy).to_decimal_string());
        return Err(PlanRefusal::Invalid(format!(
            "the instalments sum to {} {}, the covered invoices' open amount is {} {}",
            fmt(total),
            plan_ccy.code(),
            fmt(i128::from(open)),
            plan_ccy.code()
        )));
    }
    Ok(())
}

/// The plan's task (from its message) is done once a person decided.
fn close_task(tx: Db<'_>, t: &str, message_id: Option<i64>, now: &str) -> Result<(), StoreError> {
    if let Some(m) = message_id {
        tx.execute(
            "UPDATE tasks SET status=?4, updated_at=?5 WHERE tenant_id=?1 AND message_id=?2 AND kind=?3 AND status=?6",
            args![t, m, TaskKind::PaymentPlan.as_str(), TaskStatus::Done.as_str(), now, TaskStatus::Open.as_str()],
        )?;
    }
    Ok(())
}

impl Store {
    /// Payment plans (of one status, or all), newest first: those older
    /// than the plan `page.after` when given.
    pub fn plans(
        &self,
        tenant: &TenantId,
        status: Option<PlanStatus>,
        page: impl Into<Window<i64>>,
    ) -> Result<Vec<PlanView>, StoreError> {
        let page = page.into();
        let t = tenant.as_str();
        self.db.read_any(|c| {
            let ids = c
                .query(
                    "SELECT id FROM payment_plans WHERE tenant_id=?1 AND (CAST(?2 AS TEXT) IS NULL OR status=?2)
                       AND (CAST(?4 AS BIGINT) IS NULL OR id < ?4)
                     ORDER BY id DESC LIMIT ?3",
                    args![t, status.map(|s| s.as_str()), page.limit, page.after],
                )?
                .iter()
                .map(|r| r.get::<i64>(0))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(read_plan(c, t, id)?);
            }
            Ok(out)
        })
    }

    /// One payment plan.
    pub fn plan(&self, tenant: &TenantId, id: i64) -> Result<Option<PlanView>, StoreError> {
        self.db.read_any(|c| read_plan(c, tenant.as_str(), id))
    }

    /// A person (`by`) accepts a draft plan, with its instalments as drafted
    /// or as given in `edits`; `actor` is who called (audit). Accepting an
    /// accepted plan again without edits changes nothing (idempotent).
    pub fn accept_plan(
        &self,
        tenant: &TenantId,
        id: i64,
        actor: &str,
        by: &str,
        edits: Option<&[InstalmentInput]>,
        note: Option<&str>,
    ) -> Result<Result<PlanView, PlanRefusal>, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|tx| {
            let Some(plan) = read_plan(tx, t, id)? else { return Ok(Err(PlanRefusal::NotFound(id))) };
            if plan.status == PlanStatus::Accepted && edits.is_none() {
                return Ok(Ok(plan));
            }
            if plan.status != PlanStatus::Draft {
                return Ok(Err(PlanRefusal::Conflict(format!(
                    "payment plan {id} is {}: only a draft can be accepted",
                    plan.status
                ))));
            }
            let ccy = Currency::parse(&plan.currency).map_err(corrupt)?;
            let given: Vec<(Option<NaiveDate>, Option<Money>, Vec<String>)> = match edits {
                Some(edits) => {
                    let mut out = Vec::new();
                    for (k, e) in edits.iter().enumerate() {
                        let c = match e.currency.as_deref().map(Currency::parse).transpose() {
                            Ok(c) => c.unwrap_or(ccy),
                            Err(err) => return Ok(Err(PlanRefusal::Invalid(format!("instalment {}: {err}", k + 1)))),
                        };
                        let amount = match Money::parse_canonical(e.amount.trim(), c) {
                            Ok(m) => m,
                            Err(err) => {
                                return Ok(Err(PlanRefusal::Invalid(format!(
                                    "instalment {}: amount `{}`: {err} (a decimal with a dot, e.g. \"500.00\")",
                                    k + 1,
                                    e.amount
                                ))));
                            }
                        };
                        out.push((Some(e.due_date), Some(amount), e.invoices.clone().unwrap_or_else(|| plan.invoices.clone())));
                    }
                    out
                }
                None => plan
                    .instalments
                    .iter()
                    .map(|i| {
                        let amount = i.amount.as_deref().and_then(|a| Money::parse_canonical(a, ccy).ok());
                        (i.due_date, amount, i.invoices.clone())
                    })
                    .collect(),
            };
            let open = open_now(tx, t, &plan.customer_id, &plan.invoices)?;
            if let Err(refusal) = check_instalments(&given, ccy, &plan.invoices, open) {
                return Ok(Err(refusal));
            }
            let other: Option<i64> = tx
                .query_opt(
                    "SELECT id FROM payment_plans WHERE tenant_id=?1 AND customer_id=?2 AND status='accepted' AND id<>?3",
                    args![t, plan.customer_id, id],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            if let Some(other) = other {
                return Ok(Err(PlanRefusal::Conflict(format!(
                    "customer {} already has payment plan {other} in force: break or complete it first",
                    plan.customer_id
                ))));
            }
            let now = now_text();
            if edits.is_some() {
                tx.execute("DELETE FROM plan_instalments WHERE plan_id=?1", args![id])?;
                for (k, (due, amount, invoices)) in given.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO plan_instalments (plan_id, number, due_date, amount_minor, currency, invoice_numbers)
                         VALUES (?1,?2,?3,?4,?5,?6)",
                        args![
                            id,
                            k as i64 + 1,
                            due.map(|d| d.to_string()),
                            amount.map(|m| m.minor),
                            plan.currency,
                            json!(invoices).to_string()
                        ],
                    )?;
                }
            }
            tx.execute(
                "UPDATE payment_plans SET status=?3, open_at_acceptance_minor=?4, decided_by=?5, decided_at=?6,
                        decision_note=?7, updated_at=?6 WHERE tenant_id=?1 AND id=?2 AND status=?8",
                args![t, id, PlanStatus::Accepted.as_str(), open, by, now, note, PlanStatus::Draft.as_str()],
            )?;
            close_task(tx, t, plan.message_id, &now)?;
            let schedule: Vec<serde_json::Value> = given
                .iter()
                .map(|(d, a, _)| json!({ "due_date": d, "amount": a.map(|m| m.to_decimal_string()) }))
                .collect();
            insert_event(
                tx,
                t,
                actor,
                "plan_accepted",
                &format!("plan:{id}"),
                &json!({
                    "by": by, "customer": plan.customer_id, "invoices": plan.invoices, "currency": plan.currency,
                    "open": Money::new(open, ccy).to_decimal_string(), "instalments": schedule,
                    "edited": edits.is_some(), "note": note,
                }),
            )?;
            Ok(read_plan(tx, t, id)?.ok_or(PlanRefusal::NotFound(id)))
        })
    }

    /// A person (`by`) rejects a draft plan; rejecting a rejected plan again
    /// changes nothing.
    pub fn reject_plan(
        &self,
        tenant: &TenantId,
        id: i64,
        actor: &str,
        by: &str,
        note: Option<&str>,
    ) -> Result<Result<PlanView, PlanRefusal>, StoreError> {
        let t = tenant.as_str();
        self.db.write_any(|tx| {
            let Some(plan) = read_plan(tx, t, id)? else { return Ok(Err(PlanRefusal::NotFound(id))) };
            match plan.status {
                PlanStatus::Rejected => return Ok(Ok(plan)),
                PlanStatus::Draft => {}
                other => {
                    return Ok(Err(PlanRefusal::Conflict(format!(
                        "payment plan {id} is {other}: only a draft can be rejected"
                    ))));
                }
            }
            let now = now_text();
            tx.execute(
                "UPDATE payment_plans SET status=?3, decided_by=?4, decided_at=?5, decision_note=?6, updated_at=?5
                 WHERE tenant_id=?1 AND id=?2 AND status=?7",
                args![t, id, PlanStatus::Rejected.as_str(), by, now, note, PlanStatus::Draft.as_str()],
            )?;
            close_task(tx, t, plan.message_id, &now)?;
            insert_event(
                tx,
                t,
                actor,
                "plan_rejected",
                &format!("plan:{id}"),
                &json!({ "by": by, "customer": plan.customer_id, "invoices": plan.invoices, "note": note }),
            )?;
            Ok(read_plan(tx, t, id)?.ok_or(PlanRefusal::NotFound(id)))
        })
    }

    /// Marks an accepted plan broken or completed, with why (one audit
    /// event); `false` when it was not accepted any more (nothing done), so
    /// the planner may call it on every pass.
    pub fn close_plan(&self, tenant: &TenantId, id: i64, status: PlanStatus, why: &str) -> Result<bool, StoreError> {
        if !matches!(status, PlanStatus::Broken | PlanStatus::Completed) {
            return Err(StoreError::Rejected(format!("a plan is closed as broken or completed, not {status}")));
        }
        let t = tenant.as_str();
        self.db.write_any(|tx| {
            let now = now_text();
            let n = tx.execute(
                "UPDATE payment_plans SET status=?3, closed_note=?4, updated_at=?5 WHERE tenant_id=?1 AND id=?2 AND status=?6",
                args![t, id, status.as_str(), why, now, PlanStatus::Accepted.as_str()],
            )?;
            if n == 1 {
                insert_event(tx, t, "dunning", &format!("plan_{status}"), &format!("plan:{id}"), &json!({ "why": why }))?;
            }
            Ok(n == 1)
        })
    }

    /// Accepted plans whose covered invoices have nothing open left are
    /// completed (their customers may no longer appear among those with open
    /// invoices); returns how many.
    pub fn complete_paid_plans(&self, tenant: &TenantId) -> Result<u32, StoreError> {
        let agreed = self.db.read_any(|c| agreed_plans(c, tenant.as_str(), None))?;
        let mut done = 0;
        for (customer, p) in agreed {
            if p.status != PlanStatus::Accepted {
                continue;
            }
            let open = self.db.read_any(|c| open_now(c, tenant.as_str(), &customer, &p.invoices))?;
            if open == 0
                && self.close_plan(tenant, p.id, PlanStatus::Completed, "the covered invoices are paid in full")?
            {
                done += 1;
            }
        }
        Ok(done)
    }
}
