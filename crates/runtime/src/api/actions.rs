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

use super::openapi::{self, ErrorDetail};
use super::{ApiError, ApiState, MAX_LIMIT, Params, RequestBody, actor, authorize, blocking, limit, number, params};
use super::{optional_json, required_json};
use relance_domain::TenantId;
use relance_store::{
    Acted, ActionRefusal, CursorPage, DisputeResolution, DisputeResolved, DisputeView, HoldFilter, HoldTarget,
    HoldView, NewPromise, NewTask, NoteView, OutboxEdit, OutboxView, PromiseView, TaskView,
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

#[derive(Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers/{id}/holds", tag = "actions", params(openapi::TenantCustomerPath), request_body = HoldBody, responses((status = 201, description = "The hold placed", body = HoldView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn hold_customer(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    place(st, tenant, headers, body, Target::Customer(customer)).await
}

/// Holds the reminders of one invoice.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/invoices/{number}/holds", tag = "actions", params(openapi::TenantInvoicePath), request_body = HoldBody, responses((status = 201, description = "The hold placed", body = HoldView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn hold_invoice(
    State(st): State<ApiState>,
    Path((tenant, invoice)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    place(st, tenant, headers, body, Target::Invoice(invoice)).await
}

/// Query parameters of the holds list besides the cursor.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct HoldsQuery {
    /// Only this customer's holds (an invoice hold is its customer's).
    customer: Option<String>,
    /// `true`: only the holds in force today (tenant's time zone).
    active: Option<bool>,
}

/// Holds by id; `?customer=`, `?active=true` (in force today), `?after=`, `?limit=`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/holds", tag = "actions", description = "Holds by id, oldest first (`after`: a hold id).", params(openapi::TenantPath, openapi::PageQuery, HoldsQuery), responses((status = 200, body = CursorPage<HoldView, i64>), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteOnly {
    #[serde(default)]
    note: Option<String>,
}

/// Lifts a hold (optional `{"note": "…"}`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/holds/{id}/lift", tag = "actions", params(openapi::TenantIdPath), request_body(content = Option<NoteOnly>, description = "Optional: a note"), responses((status = 200, description = "The hold, lifted", body = HoldView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    resolution: DisputeResolution,
    #[serde(default)]
    note: Option<String>,
}

/// Resolves the dispute on an invoice.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/invoices/{number}/dispute/resolve", tag = "actions", params(openapi::TenantInvoicePath), request_body = ResolveBody, responses((status = 200, body = DisputeResolved), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 409, description = "The invoice is not disputed", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/disputes", tag = "actions", description = "Open disputes by invoice number (`after`: an invoice number).", params(openapi::TenantPath, openapi::KeyCursorQuery), responses((status = 200, body = CursorPage<DisputeView, String>), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/tasks", tag = "actions", params(openapi::TenantPath), request_body = NewTask, responses((status = 201, description = "The task created", body = TaskView), (status = 404, description = "No such customer, or an invoice not the customer's", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/tasks/{id}/close", tag = "actions", params(openapi::TenantIdPath), request_body(content = Option<NoteOnly>, description = "Optional: a note"), responses((status = 200, description = "The task, closed", body = TaskView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// `null` unassigns.
    assignee: Option<String>,
}

/// Assigns an open task (`{"assignee": "…"}`, `null` for nobody).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/tasks/{id}/assign", tag = "actions", params(openapi::TenantIdPath), request_body = AssignBody, responses((status = 200, description = "The task, assigned", body = TaskView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 409, description = "The task is closed", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers/{id}/promises", tag = "actions", params(openapi::TenantCustomerPath), request_body = NewPromise, responses((status = 201, description = "The promise recorded", body = PromiseView), (status = 404, description = "No such customer, or an invoice not the customer's", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
    #[serde(default)]
    invoice: Option<String>,
}

/// Adds a note on a customer (201).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers/{id}/notes", tag = "actions", params(openapi::TenantCustomerPath), request_body = NoteBody, responses((status = 201, description = "The note added", body = NoteView), (status = 404, description = "No such customer, or an invoice not the customer's", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers/{id}/notes", tag = "actions", description = "A customer's notes, oldest first (`after`: a note id).", params(openapi::TenantCustomerPath, openapi::PageQuery), responses((status = 200, body = CursorPage<NoteView, i64>), openapi::Errors), security(("bearer" = [])))]
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

/// What the customer would receive if it were delivered now (see
/// `reminders::deliver::preview`): recipients, subject, text, the HTML part
/// of an e-mail, the size of an SMS, and the channel's document (a
/// letter's PDF, served by `…/outbox/{id}/document`).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Preview {
    subject: String,
    text: String,
    /// The HTML part of an e-mail; `null` for the other channels.
    html: Option<String>,
    /// E-mail addresses or phone numbers it would go to now.
    recipients: Vec<String>,
    /// The customer's addresses left out because a delivery report said they fail.
    undeliverable: Vec<String>,
    /// The connector that would deliver it; `null` when none serves the channel.
    connector: Option<String>,
    /// An SMS's encoding and number of parts; `null` for the other channels.
    sms: Option<crate::reminders::deliver::SmsSize>,
    /// The channel's document, when it delivers one.
    document: Option<DocumentRef>,
}

/// A document to fetch.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct DocumentRef {
    file_name: String,
    content_type: String,
    bytes: usize,
    /// Where to fetch it (with the same token).
    url: String,
}

/// One outbox row and its preview.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct OutboxEntry {
    #[serde(flatten)]
    row: OutboxView,
    preview: Preview,
}

/// The row and its preview, or `None` when there is no such row.
async fn entry_and_preview(
    st: &ApiState,
    tenant: TenantId,
    id: i64,
) -> Result<Option<(OutboxView, crate::reminders::deliver::Preview)>, ApiError> {
    let config =
        st.rt.settings.tenant(tenant.as_str()).cloned().ok_or_else(|| ApiError::internal("tenant without config"))?;
    let channels = st.rt.channels(&tenant);
    let store = st.rt.store.clone();
    blocking(move || {
        let Some(row) = store.outbox_entry(&tenant, id)? else { return Ok(None) };
        let now = chrono::Utc::now();
        let preview = crate::reminders::deliver::preview(&store, &config, &channels, id, now)?;
        Ok(preview.map(|p| (row, p)))
    })
    .await
}

/// One outbox row with its rendered preview.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/outbox/{id}", tag = "reminders", params(openapi::TenantIdPath), responses((status = 200, body = OutboxEntry), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn outbox_entry(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let t = tenant.clone();
    let (row, p) = entry_and_preview(&st, tenant, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no outbox row {id}")))?;
    let sms = (p.channel == relance_domain::Channel::Sms).then(|| crate::reminders::deliver::sms_size(&p.text));
    let document = p.document.as_ref().map(|d| DocumentRef {
        file_name: d.file_name.clone(),
        content_type: d.content_type.clone(),
        bytes: d.bytes.len(),
        url: format!("/api/v1/tenants/{t}/outbox/{id}/document"),
    });
    let preview = Preview {
        subject: p.subject.unwrap_or_default(),
        text: p.text,
        html: p.html,
        recipients: p.recipients,
        undeliverable: p.undeliverable,
        connector: p.connector,
        sms,
        document,
    };
    Ok(Json(OutboxEntry { row, preview }).into_response())
}

/// The document a reminder's channel would deliver (a letter's PDF), as it
/// would be rendered now.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/outbox/{id}/document", tag = "reminders", params(openapi::TenantIdPath), responses((status = 200, description = "The document (a letter's PDF)", content_type = "application/pdf", body = Vec<u8>), (status = 404, description = "No such row, or its channel delivers no document", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn outbox_document(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let doc = document(&st.rt, tenant, id).await?;
    Ok(doc.into_response())
}

/// A document as an HTTP answer, inline with its file name.
#[derive(Debug)]
pub struct DocumentAnswer(relance_connector::Document);

impl IntoResponse for DocumentAnswer {
    fn into_response(self) -> Response {
        use axum::http::{HeaderValue, header};
        let d = self.0;
        let mut resp = d.bytes.into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&d.content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        let safe: String = d.file_name.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
        if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{safe}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        resp
    }
}

/// The document outbox row `id` of `tenant` would be delivered as (a
/// letter's PDF), for a caller that has checked who may read it (the web
/// pages); 404 when there is no such row or its channel has no document.
pub async fn document(rt: &crate::daemon::Runtime, tenant: TenantId, id: i64) -> Result<DocumentAnswer, ApiError> {
    let config =
        rt.settings.tenant(tenant.as_str()).cloned().ok_or_else(|| ApiError::internal("tenant without config"))?;
    let channels = rt.channels(&tenant);
    let store = rt.store.clone();
    let p = blocking(move || crate::reminders::deliver::preview(&store, &config, &channels, id, chrono::Utc::now()))
        .await?;
    p.and_then(|p| p.document)
        .map(DocumentAnswer)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("outbox row {id} has no document")))
}

/// Approves a reminder waiting for confirmation (optional `{"subject", "body"}` edit).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/outbox/{id}/approve", tag = "reminders", params(openapi::TenantIdPath), request_body(content = Option<OutboxEdit>, description = "Optional: the subject or text as edited"), responses((status = 200, description = "The reminder, approved", body = OutboxView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 409, description = "Not waiting for approval", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
}

/// Cancels a reminder not sent yet (`{"reason": "…"}` required).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/outbox/{id}/cancel", tag = "reminders", params(openapi::TenantIdPath), request_body = CancelBody, responses((status = 200, description = "The reminder, cancelled", body = OutboxView), (status = 404, description = "No such row for this tenant", body = openapi::ErrorBody), (status = 409, description = "Already sent or cancelled", body = openapi::ErrorBody), (status = 422, description = "The input does not make a valid action", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    /// 1 to 1000 outbox ids.
    ids: Vec<i64>,
}

/// The answer of a bulk approval: one item per id, in the order given.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BulkAnswer {
    items: Vec<BulkItem>,
}

/// One id of a bulk approval: `ok` with the reminder approved, or not with the refusal.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BulkItem {
    id: i64,
    ok: bool,
    /// When `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox: Option<OutboxView>,
    /// When not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

/// Approves several reminders as rendered; answers per id, in order:
/// `{"items": [{"id", "ok": true, "outbox": {…}} | {"id", "ok": false, "error": {"code", "message"}}]}`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/outbox/approve", tag = "reminders", params(openapi::TenantPath), request_body = BulkBody, responses((status = 200, description = "One result per id, in order; a refused id does not stop the others", body = BulkAnswer), openapi::Errors), security(("bearer" = [])))]
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
    let items: Vec<BulkItem> = results
        .into_iter()
        .map(|(id, r)| match r {
            Ok(v) => BulkItem { id, ok: true, outbox: Some(v), error: None },
            Err(e) => {
                let e = ApiError::from(e);
                let error = ErrorDetail { code: e.code.to_string(), message: e.message };
                BulkItem { id, ok: false, outbox: None, error: Some(error) }
            }
        })
        .collect();
    Ok(Json(BulkAnswer { items }).into_response())
}
