//! The cash review: credits the matcher was not sure about, each with its
//! ranked candidates and their reasons (the explanation is the product), and
//! the payments already applied, newest first, whose allocations a person
//! can undo (audited; an undone automatic match counts in the false-match
//! rate). A person accepts a candidate, allocates by hand to one or several
//! invoices with amounts, or rejects with a reason. Both lists are searched
//! in SQL over the whole list (`Store::search_payments`: payer, remittance,
//! references, invoice numbers, amounts) and paged by cursor.
//!
//! Every action goes through the same service calls as the JSON API
//! (`payments/{id}/accept|allocate|reject`, `allocations/{id}/undo`).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::pages::{PageError, blocking, page, to_json, url_part};
use crate::session::Person;
use relance_domain::money::{DecimalStyle, Money};
use relance_domain::{PaymentStatus, TenantId};
use relance_runtime::cash::ManualAllocation;
use relance_store::{PaymentSearch, StoredPayment, Window};

/// Payments per page.
const PAGE: u32 = 25;
/// Rows of the allocate-by-hand form.
pub(crate) const ALLOCATION_ROWS: usize = 5;

/// Which list the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Suggested and unmatched credits, oldest first.
    Review,
    /// Applied payments, newest first, to check and undo.
    Applied,
}

impl View {
    fn parse(q: &HashMap<String, String>) -> View {
        match q.get("view").map(String::as_str) {
            Some("applied") => View::Applied,
            _ => View::Review,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            View::Review => "review",
            View::Applied => "applied",
        }
    }

    fn search(self, text: String) -> PaymentSearch {
        match self {
            View::Review => PaymentSearch {
                statuses: vec![PaymentStatus::Suggested, PaymentStatus::Unmatched],
                text,
                newest_first: false,
            },
            View::Applied => PaymentSearch { statuses: vec![PaymentStatus::Matched], text, newest_first: true },
        }
    }
}

/// The rows of the allocate-by-hand form, filled with the best candidate's
/// allocations (a person usually corrects one amount of it).
fn allocation_rows(p: &StoredPayment) -> Vec<serde_json::Value> {
    let best = p.match_result.as_ref().and_then(|r| r.best());
    let mut rows: Vec<serde_json::Value> = best
        .map(|c| {
            c.allocations
                .iter()
                .take(ALLOCATION_ROWS)
                .map(|a| json!({ "invoice": a.invoice, "amount": a.amount.to_decimal_string() }))
                .collect()
        })
        .unwrap_or_default();
    while rows.len() < ALLOCATION_ROWS {
        rows.push(json!({ "invoice": "", "amount": "" }));
    }
    rows
}

/// `GET /t/{t}/cash?view=review|applied&q=…&after=…`.
pub(crate) async fn cash(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let view = View::parse(&q);
    let text = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let after = q.get("after").and_then(|a| a.parse::<i64>().ok());
    let store = st.rt.store.clone();
    let search = view.search(text.clone());
    let (list, allocations) = blocking(move || {
        let list = store.search_payments(&tenant, &search, Window::after(PAGE, after))?;
        let mut allocations = HashMap::new();
        if view == View::Applied {
            for p in &list.items {
                allocations.insert(p.id, store.allocations(&tenant, p.id)?);
            }
        }
        Ok((list, allocations))
    })
    .await?;
    let mut items = Vec::with_capacity(list.items.len());
    for p in &list.items {
        let mut v = to_json(p)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("alloc_rows".into(), json!(allocation_rows(p)));
            let mine = allocations.get(&p.id).map(to_json).transpose()?;
            obj.insert("allocations".into(), mine.unwrap_or(json!([])));
        }
        items.push(v);
    }
    let next = list.next_after.map(|n| format!("?view={}&q={}&after={n}", view.as_str(), url_part(&text)));
    let first = after.map(|_| format!("?view={}&q={}", view.as_str(), url_part(&text)));
    page(
        &st,
        &who,
        "cash.html",
        "cash",
        json!({
            "view": view.as_str(), "items": items, "total": list.total, "q": text,
            "next": next, "first": first, "done": q.get("done"),
        }),
    )
}

/// Back to the list the person acted from.
fn back(tenant: &TenantId, view: &str, done: &str) -> Response {
    let view = if view == "applied" { "applied" } else { "review" };
    Redirect::to(&format!("/t/{tenant}/cash?view={view}&done={}", url_part(done))).into_response()
}

#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    csrf: String,
    candidate: usize,
}

/// Applies the matcher's candidate the person chose.
pub(crate) async fn accept(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<AcceptForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (cash, actor, t) = (st.rt.cash.clone(), who.actor(), tenant.clone());
    blocking(move || cash.accept(&t, id, f.candidate, &actor)).await?;
    Ok(back(&tenant, "review", &id.to_string()))
}

/// Reads the allocate-by-hand form: rows `invoice_<i>` / `amount_<i>`, the
/// amount in the payment's currency in either decimal style (`1 250,00`,
/// `1,250.00`); blank rows are skipped, a half-filled row is an error.
fn manual_allocations(form: &HashMap<String, String>, p: &StoredPayment) -> Result<Vec<ManualAllocation>, PageError> {
    let ccy = p.line.amount.currency;
    let mut out = Vec::new();
    for i in 0..ALLOCATION_ROWS {
        let field = |name: &str| form.get(&format!("{name}_{i}")).map(|v| v.trim().to_string()).unwrap_or_default();
        let (invoice, amount) = (field("invoice"), field("amount"));
        match (invoice.is_empty(), amount.is_empty()) {
            (true, true) => continue,
            (false, false) => {
                let money = Money::parse(&amount, ccy, DecimalStyle::Auto)
                    .map_err(|e| PageError::BadRequest(format!("{invoice}: `{amount}`: {e}")))?;
                out.push(ManualAllocation { invoice, amount: money.to_decimal_string() });
            }
            (true, false) => {
                return Err(PageError::BadRequest(format!("line {}: an amount without an invoice", i + 1)));
            }
            (false, true) => return Err(PageError::BadRequest(format!("{invoice}: no amount"))),
        }
    }
    if out.is_empty() {
        return Err(PageError::BadRequest("name at least one invoice and its amount".into()));
    }
    Ok(out)
}

/// Allocates a payment by hand to one or several invoices.
pub(crate) async fn allocate(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    let p = blocking(move || store.payment(&t, id)).await?.ok_or(PageError::NotFound)?;
    let allocations = manual_allocations(&form, &p)?;
    let (cash, actor, t) = (st.rt.cash.clone(), who.actor(), tenant.clone());
    blocking(move || cash.allocate(&t, id, &allocations, &actor)).await?;
    Ok(back(&tenant, "review", &id.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Says a credit is not a customer payment (refund, not ours…).
pub(crate) async fn reject(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<RejectForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    let reason = if f.reason.trim().is_empty() { "rejected in the workspace".to_string() } else { f.reason };
    blocking(move || store.reject_payment(&t, id, &actor, &reason)).await?;
    Ok(back(&tenant, "review", &id.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct UndoForm {
    #[serde(default)]
    csrf: String,
}

/// Undoes one allocation: the invoice owes it again and the payment goes
/// back to the review queue.
pub(crate) async fn undo(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<UndoForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    blocking(move || store.undo_allocation(&t, id, &actor)).await?;
    Ok(back(&tenant, "applied", &format!("allocation-{id}")))
}
