//! The collections team's manual actions (issue #15): holds, dispute
//! resolutions, tasks, promises and notes recorded by hand, and the approval
//! gate of the outbox. Each action is a store call that names its actor
//! (`actor(&tenant, &headers)`: `api:<tenant>` or `api:<tenant>:<X-Relance-User>`)
//! and is audited there; a refusal is a 404 (`not_found`), 409 (`conflict`)
//! or 422 (`invalid`). Lists added here are read with a cursor
//! (`?limit=&after=`, answered `{"items": […], "next_after": …}`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiState, MAX_LIMIT, Params, RequestBody, actor, authorize, blocking, limit, number, params};
use super::{optional_json, required_json};
use relance_domain::TenantId;
use relance_store::{
    Acted, ActionRefusal, DisputeResolution, HoldFilter, HoldTarget, NewPromise, NewTask, OutboxEdit, OutboxView,
};

impl From<ActionRefusal> for ApiError {
    fn from(r: ActionRefusal) -> ApiError {
        match r {
            ActionRefusal::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            ActionRefusal::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ActionRefusal::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
        }
    }
}

/// The action's result as JSON, or its refusal.
fn acted<T: serde::Serialize>(r: Acted<T>) -> Result<Response, ApiError> {
    Ok(Json(r?).into_response())
}

/// Today in the tenant's time zone.
fn today(st: &ApiState, tenant: &TenantId) -> chrono::NaiveDate {
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

// ---- holds ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    reason: String,
    /// Last day held (inclusive), `YYYY-MM-DD`.
    #[serde(default)]
    until: Option<chrono::NaiveDate>,
}

const HOLD: &str = "{\"reason\": \"…\", \"until\": \"YYYY-MM-DD\" (optional, last day held)}";

async fn place(
    st: ApiState,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    target: Target,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: HoldBody = required_json(&body, HOLD)?;
    let day = today(&st, &tenant);
    let store = st.rt.store.clone();
    let r = blocking(move || {
        let target = match &target {
            Target::Customer(c) => HoldTarget::Customer(c),
            Target::Invoice(n) => HoldTarget::Invoice(n),
        };
        store.place_hold(&tenant, target, &b.reason, b.until, &who, day)
    })
    .await?;
    let hold = r?;
    Ok((StatusCode::CREATED, Json(hold)).into_response())
}

enum Target {
    Customer(String),
    Invoice(String),
}

/// Holds the reminders of a customer.
pub(super) async fn hold_customer(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    place(st, tenant, headers, body, Target::Customer(customer)).await
}

/// Holds the reminders of one invoice.
pub(super) async fn hold_invoice(
    State(st): State<ApiState>,
    Path((tenant, invoice)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    place(st, tenant, headers, body, Target::Invoice(invoice)).await
}

/// Holds by id; `?customer=`, `?active=true` (in force today), `?after=`, `?limit=`.
pub(super) async fn holds(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let active_only = match p.get("active").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(ApiError::bad_request(format!("query parameter `active`: `{v}` is not true or false"))),
    };
    let filter = HoldFilter {
        customer_id: p.get("customer").cloned(),
        active_only,
        after: number(&p, "after", 0)?,
        limit: limit(&p)?,
    };
    let day = today(&st, &tenant);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.holds(&tenant, &filter, day)).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoteOnly {
    #[serde(default)]
    note: Option<String>,
}

/// Lifts a hold (optional `{"note": "…"}`).
pub(super) async fn lift_hold(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: NoteOnly = optional_json(&body)?;
    let day = today(&st, &tenant);
    let store = st.rt.store.clone();
    acted(blocking(move || store.lift_hold(&tenant, id, &who, b.note.as_deref(), day)).await?)
}

// ---- disputes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    resolution: DisputeResolution,
    #[serde(default)]
    note: Option<String>,
}

/// Resolves the dispute on an invoice.
pub(super) async fn resolve_dispute(
    State(st): State<ApiState>,
    Path((tenant, invoice)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let known: Vec<&str> = DisputeResolution::ALL.iter().map(|r| r.as_str()).collect();
    let b: ResolveBody = required_json(
        &body,
        &format!("{{\"resolution\": \"{}\", \"note\": \"…\" (optional)}}", known.join("\" | \"")),
    )?;
    let store = st.rt.store.clone();
    acted(blocking(move || store.resolve_dispute(&tenant, &invoice, b.resolution, b.note.as_deref(), &who)).await?)
}

/// Open disputes by invoice number; `?after=<invoice number>&limit=`.
pub(super) async fn disputes(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (after, l) = (p.get("after").cloned(), limit(&p)?);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.disputes(&tenant, after.as_deref(), l)).await?).into_response())
}

// ---- tasks and promises ----

const TASK: &str = "{\"customer\": \"C1\", \"note\": \"…\", \"kind\": \"follow_up\" (optional), \"invoices\": [\"F-1\"] (optional), \"due_on\": \"YYYY-MM-DD\" (optional), \"assignee\": \"…\" (optional)}";

/// Creates a task (201).
pub(super) async fn create_task(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: NewTask = required_json(&body, TASK)?;
    let store = st.rt.store.clone();
    let task = blocking(move || store.create_task(&tenant, &b, &who)).await??;
    Ok((StatusCode::CREATED, Json(task)).into_response())
}

/// Closes a task (optional `{"note": "…"}`); closing a closed task is fine.
pub(super) async fn close_task(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: NoteOnly = optional_json(&body)?;
    let store = st.rt.store.clone();
    acted(blocking(move || store.close_task(&tenant, id, b.note.as_deref(), &who)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// `null` unassigns.
    assignee: Option<String>,
}

/// Assigns an open task (`{"assignee": "…"}`, `null` for nobody).
pub(super) async fn assign_task(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: AssignBody = required_json(&body, "{\"assignee\": \"<person>\" | null}")?;
    let store = st.rt.store.clone();
    acted(blocking(move || store.assign_task(&tenant, id, b.assignee.as_deref(), &who)).await?)
}

const PROMISE: &str = "{\"promised_date\": \"YYYY-MM-DD\", \"amount\": \"1200.50\" (optional), \"currency\": \"EUR\" (optional), \"invoices\": [\"F-1\"] (optional), \"note\": \"…\" (optional)}";

/// Records a promise to pay by hand (201).
pub(super) async fn record_promise(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: NewPromise = required_json(&body, PROMISE)?;
    let store = st.rt.store.clone();
    let promise = blocking(move || store.record_promise(&tenant, &customer, &b, &who)).await??;
    Ok((StatusCode::CREATED, Json(promise)).into_response())
}

// ---- notes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
    #[serde(default)]
    invoice: Option<String>,
}

/// Adds a note on a customer (201).
pub(super) async fn add_note(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: NoteBody = required_json(&body, "{\"text\": \"…\", \"invoice\": \"F-1\" (optional)}")?;
    let store = st.rt.store.clone();
    let note = blocking(move || store.add_note(&tenant, &customer, b.invoice.as_deref(), &b.text, &who)).await??;
    Ok((StatusCode::CREATED, Json(note)).into_response())
}

/// A customer's notes, oldest first; `?after=&limit=`.
pub(super) async fn notes(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (after, l) = (number(&p, "after", 0i64)?, limit(&p)?);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.notes(&tenant, &customer, after, l)).await?).into_response())
}

// ---- the approval gate ----

/// What the customer would receive: the stored subject and text, and for
/// e-mail the HTML part delivery builds from it. Letters are rendered to
/// PDF by the letters connector at delivery (not reachable from here).
fn preview(v: &OutboxView) -> serde_json::Value {
    let html = (v.channel == "email").then(|| crate::reminders::deliver::text_to_html(&v.body));
    json!({ "subject": v.subject, "text": v.body, "html": html })
}

/// One outbox row with its rendered preview.
pub(super) async fn outbox_entry(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let v = blocking(move || store.outbox_entry(&tenant, id))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no outbox row {id}")))?;
    let mut out = serde_json::to_value(&v).map_err(ApiError::internal)?;
    if let Some(obj) = out.as_object_mut() {
        obj.insert("preview".into(), preview(&v));
    }
    Ok(Json(out).into_response())
}

/// Approves a reminder waiting for confirmation (optional `{"subject", "body"}` edit).
pub(super) async fn approve(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let edit: OutboxEdit = optional_json(&body)?;
    let store = st.rt.store.clone();
    acted(blocking(move || store.approve_outbox(&tenant, id, &edit, &who)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
}

/// Cancels a reminder not sent yet (`{"reason": "…"}` required).
pub(super) async fn cancel(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: CancelBody = required_json(&body, "{\"reason\": \"…\"}")?;
    let store = st.rt.store.clone();
    acted(blocking(move || store.cancel_outbox(&tenant, id, &b.reason, &who)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    ids: Vec<i64>,
}

/// Approves several reminders as rendered; answers per id, in order:
/// `{"items": [{"id", "ok": true, "outbox": {…}} | {"id", "ok": false, "error": {"code", "message"}}]}`.
pub(super) async fn approve_many(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: BulkBody = required_json(&body, "{\"ids\": [1, 2, 3]}")?;
    if b.ids.is_empty() || b.ids.len() > MAX_LIMIT as usize {
        return Err(ApiError::bad_request(format!("`ids` lists 1 to {MAX_LIMIT} outbox ids")));
    }
    let store = st.rt.store.clone();
    let results = blocking(move || store.approve_outbox_many(&tenant, &b.ids, &who)).await?;
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .map(|(id, r)| match r {
            Ok(v) => json!({ "id": id, "ok": true, "outbox": v }),
            Err(e) => {
                let e = ApiError::from(e);
                json!({ "id": id, "ok": false, "error": { "code": e.code, "message": e.message } })
            }
        })
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}
