//! The HTTP API: health, Prometheus metrics and per-tenant data.
//!
//! Routes under `/api/v1/tenants/{tenant}/` need `Authorization: Bearer
//! <token>`, where the token is one of that tenant's (compared by SHA-256
//! digest): no or unknown token gives 401, another tenant's token 403; both
//! are logged with the client's address. Every error has the same JSON shape,
//! the framework's and the HTTP parser's included:
//! `{"error": {"code": "forbidden", "message": "…"}}`.
//! Store queries run on the blocking pool.
//!
//! Hardening lives in two submodules: `server` (accept loop, connection cap,
//! idle and header timeouts, JSON answers to unparsable requests) and `layers`
//! (JSON errors, failed-auth log, per-token rate limit, body size
//! and deadline). `[http]` in `relance.toml` sets their limits.

mod layers;
mod reports;
mod server;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cash::ManualAllocation as ManualAllocationRequest;
use crate::daemon::Runtime;
use relance_config::token_digest;
use relance_domain::replies::MessageStatus;
use relance_domain::{InvoiceStatus, PaymentStatus, TenantId};
use relance_store::{InvoiceQuery, StoreError};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Clone)]
struct ApiState {
    rt: Runtime,
    tokens: Arc<HashMap<[u8; 32], TenantId>>,
}

/// A JSON error response: `{"error": {"code": "…", "message": "…"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For a 403: the tenant the token belongs to (logged, not answered).
    token_tenant: Option<TenantId>,
}

/// Why authentication failed, attached to 401 and 403 answers for the log
/// (`layers::log_failed_auth`).
#[derive(Debug, Clone)]
struct AuthFailure {
    reason: String,
    token_tenant: Option<TenantId>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), token_tenant: None }
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    fn payload_too_large(max_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {max_bytes} bytes"),
        )
    }

    /// An error for any status, with the code of [`ApiError::code_for`]; an
    /// empty message becomes the status's reason phrase.
    fn from_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        let mut message = message.into();
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
        }
        ApiError::new(status, ApiError::code_for(status), message)
    }

    /// The stable error code of a status.
    fn code_for(status: StatusCode) -> &'static str {
        match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::URI_TOO_LONG => "uri_too_long",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "header_fields_too_large",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "error",
        }
    }

    fn json_body(&self) -> String {
        json!({ "error": { "code": self.code, "message": self.message } }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, [(header::CONTENT_TYPE, "application/json")], self.json_body()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if matches!(self.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            resp.extensions_mut().insert(AuthFailure { reason: self.message, token_tenant: self.token_tenant });
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Rejected(why) = e {
            return ApiError::new(StatusCode::CONFLICT, "conflict", why);
        }
        tracing::error!(error = %e, "store error in API");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal storage error")
    }
}

/// Builds the API: the routes under the protective layers of `api::layers`
/// (limits from `rt.settings.http`).
pub fn router(rt: Runtime) -> Router {
    let tokens: HashMap<[u8; 32], TenantId> =
        rt.settings.tenants.iter().flat_map(|t| t.token_hashes.iter().map(move |h| (*h, t.id.clone()))).collect();
    let http = Arc::new(rt.settings.http.clone());
    let limiter = http.rate_limit.map(|l| Arc::new(layers::RateLimiter::new(l, tokens.keys().copied())));
    let state = ApiState { rt, tokens: Arc::new(tokens) };
    let app = routes(state)
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(from_fn_with_state(http.clone(), layers::limit_body));
    let app = match limiter {
        Some(limiter) => app.layer(from_fn_with_state(limiter, layers::rate_limit)),
        None => app,
    };
    app.layer(from_fn(layers::log_failed_auth)).layer(from_fn(layers::json_errors))
}

/// The routes, without the layers.
fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants/{tenant}/invoices", get(invoices))
        .route("/api/v1/tenants/{tenant}/customers", get(customers))
        .route("/api/v1/tenants/{tenant}/events", get(events))
        .route("/api/v1/tenants/{tenant}/quarantine", get(quarantine))
        .route("/api/v1/tenants/{tenant}/quarantine/{id}/release", post(release_quarantine))
        .route("/api/v1/tenants/{tenant}/connectors", get(connectors))
        .route("/api/v1/tenants/{tenant}/payments", get(payments))
        .route("/api/v1/tenants/{tenant}/review", get(review))
        .route("/api/v1/tenants/{tenant}/payments/{id}", get(payment))
        .route("/api/v1/tenants/{tenant}/payments/{id}/accept", post(accept))
        .route("/api/v1/tenants/{tenant}/payments/{id}/allocate", post(allocate))
        .route("/api/v1/tenants/{tenant}/payments/{id}/reject", post(reject))
        .route("/api/v1/tenants/{tenant}/allocations/{id}/undo", post(undo))
        .route("/api/v1/tenants/{tenant}/messages", get(messages))
        .route("/api/v1/tenants/{tenant}/messages/{id}", get(message))
        .route("/api/v1/tenants/{tenant}/messages/{id}/correction", post(correct_message))
        .route("/api/v1/tenants/{tenant}/replies/model", get(reply_model))
        .route("/api/v1/tenants/{tenant}/promises", get(promises))
        .route("/api/v1/tenants/{tenant}/outbox", get(outbox))
        .route("/api/v1/tenants/{tenant}/outbox/{id}/retry", post(retry_outbox))
        .route("/api/v1/tenants/{tenant}/tasks", get(tasks))
        .route("/api/v1/tenants/{tenant}/contacts", get(contacts))
        .route("/api/v1/tenants/{tenant}/plans", get(plans))
        .route("/api/v1/tenants/{tenant}/plans/{id}", get(plan))
        .route("/api/v1/tenants/{tenant}/plans/{id}/accept", post(accept_plan))
        .route("/api/v1/tenants/{tenant}/plans/{id}/reject", post(reject_plan))
        .route("/api/v1/tenants/{tenant}/reports/aged-balance", get(reports::aged_balance))
        .route("/api/v1/tenants/{tenant}/reports/dso", get(reports::dso))
        .route("/api/v1/tenants/{tenant}/reports/dmp", get(reports::dmp))
        .route("/api/v1/tenants/{tenant}/reports/overdue", get(reports::overdue))
        .route("/api/v1/tenants/{tenant}/reports/promises", get(reports::promises))
        .route("/api/v1/tenants/{tenant}/reports/cash", get(reports::cash))
        .route("/api/v1/tenants/{tenant}/reports/reminders", get(reports::reminders))
        .route("/api/v1/tenants/{tenant}/reports/replies", get(reports::replies))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

/// Serves the API on `listener` under the `[http]` limits until `cancel`
/// fires, then finishes the requests in progress.
pub async fn serve(listener: tokio::net::TcpListener, rt: Runtime, cancel: CancellationToken) -> std::io::Result<()> {
    let http = rt.settings.http.clone();
    server::serve(listener, router(rt), http, cancel).await
}

/// The bearer token of `Authorization`, or why there is none.
fn bearer_token(headers: &HeaderMap) -> Result<&str, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("missing bearer token")?
        .to_str()
        .map_err(|_| "malformed Authorization header")?;
    Ok(value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or("expected `Authorization: Bearer <token>`")?
        .trim())
}

/// Checks the bearer token against the tenant in the path.
fn authorize(state: &ApiState, headers: &HeaderMap, tenant: &str) -> Result<TenantId, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let token = bearer_token(headers).map_err(unauthorized)?;
    let owner = state.tokens.get(&token_digest(token)).ok_or_else(|| unauthorized("unknown token"))?;
    if owner.as_str() != tenant {
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token does not grant access to tenant `{tenant}`"),
        );
        e.token_tenant = Some(owner.clone());
        return Err(e);
    }
    Ok(owner.clone())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

type Params = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// The query parameters by name. A parameter in `lists` (a comma-separated
/// list, such as `status`) may be repeated: its values are joined with
/// commas. Any other repeated parameter is a 400 naming it.
fn params(p: Params, lists: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut out: HashMap<String, String> = HashMap::new();
    for (key, value) in pairs {
        match out.get_mut(&key) {
            None => {
                out.insert(key, value);
            }
            Some(list) if lists.contains(&key.as_str()) => {
                list.push(',');
                list.push_str(&value);
            }
            Some(first) => {
                return Err(ApiError::bad_request(format!(
                    "query parameter `{key}` is given more than once (`{first}`, `{value}`); give it once"
                )));
            }
        }
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(p: &HashMap<String, String>, key: &str, default: T) -> Result<T, ApiError> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("query parameter `{key}`: `{v}` is not a valid number"))),
    }
}

/// The comma-separated `status` parameter, each value one of `known`.
fn status_list(p: &HashMap<String, String>, known: &[&str], what: &str) -> Result<Vec<String>, ApiError> {
    let statuses: Vec<String> = p
        .get("status")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    match statuses.iter().find(|s| !known.contains(&s.as_str())) {
        Some(bad) => {
            Err(ApiError::bad_request(format!("unknown {what} status `{bad}` (expected one of {})", known.join(", "))))
        }
        None => Ok(statuses),
    }
}

/// The `status` query parameter of the payments list: a comma-separated list of [`PaymentStatus`].
fn payment_statuses(p: &HashMap<String, String>) -> Result<Vec<PaymentStatus>, ApiError> {
    let known: Vec<&str> = PaymentStatus::ALL.iter().map(PaymentStatus::as_str).collect();
    status_list(p, &known, "payment")?
        .iter()
        .map(|s| PaymentStatus::parse(s).ok_or_else(|| ApiError::bad_request(format!("unknown payment status `{s}`"))))
        .collect()
}

fn limit(p: &HashMap<String, String>) -> Result<u32, ApiError> {
    let l = number(p, "limit", DEFAULT_LIMIT)?;
    if l == 0 || l > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("query parameter `limit` must be between 1 and {MAX_LIMIT}")));
    }
    Ok(l)
}

async fn healthz(State(st): State<ApiState>) -> Response {
    let store = st.rt.store.clone();
    let db_ok = blocking(move || store.ping()).await.is_ok();
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if db_ok { "ok" } else { "degraded" },
            "database": if db_ok { "ok" } else { "unavailable" },
            "tenants": st.rt.settings.tenants.len(),
            "version": env!("CARGO_PKG_VERSION"),
        })),
    )
        .into_response()
}

async fn metrics(State(st): State<ApiState>) -> Result<Response, ApiError> {
    let store = st.rt.store.clone();
    let ids: Vec<TenantId> = st.rt.settings.tenants.iter().map(|t| t.id.clone()).collect();
    // Counts and cash application rates: a few aggregate queries per tenant.
    let (counts, cash) = blocking(move || {
        let mut counts = Vec::with_capacity(ids.len());
        let mut cash = Vec::with_capacity(ids.len());
        for t in ids {
            counts.push((t.to_string(), store.tenant_counts(&t)?));
            cash.push((t.to_string(), store.cash_rates(&t, None)?));
        }
        Ok::<_, relance_store::StoreError>((counts, cash))
    })
    .await?;
    let body = st.rt.metrics.render(&counts, &cash);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

async fn invoices(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &["status"])?;
    let statuses = match p.get("status") {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| {
                x.parse::<InvoiceStatus>().map_err(|_| {
                    let known: Vec<&str> = InvoiceStatus::ALL.iter().map(|s| s.as_str()).collect();
                    ApiError::bad_request(format!("unknown status `{x}` (expected one of {})", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let query = InvoiceQuery {
        statuses,
        customer_id: p.get("customer").cloned(),
        limit: limit(&p)?,
        offset: number(&p, "offset", 0)?,
    };
    let store = st.rt.store.clone();
    let page = blocking(move || store.invoices(&tenant, &query)).await?;
    Ok(Json(page).into_response())
}

async fn customers(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.customers(&tenant, l, o)).await?).into_response())
}

async fn events(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (after, l) = (number(&p, "after", 0i64)?, limit(&p)?);
    let store = st.rt.store.clone();
    let items = blocking(move || store.events(&tenant, after, l)).await?;
    let next = items.last().map(|e| e.id);
    Ok(Json(json!({ "items": items, "next_after": next })).into_response())
}

async fn quarantine(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.quarantine(&tenant, l, o)).await?).into_response())
}

/// Confirms a held full export: its connector imports it, closes included, at
/// its next run (202). 409 when the item is not a held export or a later full
/// export superseded it.
async fn release_quarantine(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let store = st.rt.store.clone();
    let released = blocking(move || store.release_held_import(&tenant, id, &who)).await?;
    let body = json!({ "quarantine": id, "import": released.import, "label": released.label, "status": "released" });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn connectors(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let items: Vec<_> = st
        .rt
        .metrics
        .snapshot()
        .into_iter()
        .filter(|((t, _), _)| t == tenant.as_str())
        .map(|((_, name), s)| json!({ "name": name, "status": s }))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// Who acts through the API, for the audit trail: `api:<tenant>` or `api:<X-Relance-User>`.
fn actor(tenant: &TenantId, headers: &HeaderMap) -> String {
    match headers.get("x-relance-user").and_then(|v| v.to_str().ok()).filter(|u| !u.trim().is_empty()) {
        Some(user) => format!("api:{}:{}", tenant, user.trim()),
        None => format!("api:{tenant}"),
    }
}

/// A request body, read whole under the `[http]` size limit and deadline:
/// over the limit is a 413, not received in time a 408.
struct RequestBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limits = req.extensions().get::<layers::BodyLimits>().copied();
        let max_bytes = limits.map_or(relance_config::HttpSettings::default().max_body_bytes, |l| l.max_bytes);
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(RequestBody(b)),
            Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
                Err(ApiError::payload_too_large(max_bytes))
            }
            Err(e) if caused_by::<layers::BodyDeadline>(&e) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                match limits {
                    Some(l) => format!("the request body was not received within {:?}", l.read_timeout),
                    None => "the request body was not received in time".to_string(),
                },
            )),
            Err(e) => Err(ApiError::from_status(e.status(), e.body_text())),
        }
    }
}

/// Whether `e` or one of its sources is an `E`.
fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<E>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A JSON body the route requires: an empty body is a 400 saying what to send.
fn required_json<T: serde::de::DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("a JSON body is required: {expected}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e} (expected {expected})")))
}

/// A JSON body whose fields are all optional: an empty body means the defaults.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn payments(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &["status"])?;
    let statuses = payment_statuses(&p)?;
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    let page = blocking(move || store.payments_with_status(&tenant, &statuses, l, o)).await?;
    Ok(Json(page).into_response())
}

async fn review(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    let review = [PaymentStatus::Suggested, PaymentStatus::Unmatched];
    Ok(Json(blocking(move || store.payments_with_status(&tenant, &review, l, o)).await?).into_response())
}

async fn payment(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let (p, allocations) = blocking(move || Ok((store.payment(&tenant, id)?, store.allocations(&tenant, id)?))).await?;
    let p = p.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no payment {id}")))?;
    Ok(Json(json!({ "payment": p, "allocations": allocations })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    /// Index in the payment's `match_result.candidates`; required, so that a
    /// missing body never applies a candidate nobody chose.
    candidate: usize,
}

/// Accepts the matcher's candidate named in the body.
async fn accept(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: AcceptBody = required_json(&body, "{\"candidate\": <index in match_result.candidates>}")?;
    let cash = st.rt.cash.clone();
    let ids = blocking(move || cash.accept(&tenant, id, b.candidate, &who)).await?;
    Ok(Json(json!({ "payment": id, "allocations": ids })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocateBody {
    allocations: Vec<ManualAllocation>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualAllocation {
    invoice: String,
    /// Decimal string, e.g. "120.50".
    amount: String,
}

/// Allocates a payment by hand: one or several invoices, partial amounts allowed.
async fn allocate(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: AllocateBody = required_json(&body, "{\"allocations\": [{\"invoice\": \"…\", \"amount\": \"…\"}]}")?;
    if b.allocations.is_empty() {
        return Err(ApiError::bad_request("`allocations` must list at least one {\"invoice\", \"amount\"}"));
    }
    let cash = st.rt.cash.clone();
    let allocations: Vec<ManualAllocationRequest> =
        b.allocations.into_iter().map(|a| ManualAllocationRequest { invoice: a.invoice, amount: a.amount }).collect();
    let ids = blocking(move || cash.allocate(&tenant, id, &allocations, &who)).await?;
    Ok(Json(json!({ "payment": id, "allocations": ids })).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    reason: String,
}

async fn reject(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: RejectBody = optional_json(&body)?;
    let store = st.rt.store.clone();
    blocking(move || store.reject_payment(&tenant, id, &who, &b.reason)).await?;
    Ok(Json(json!({ "payment": id, "status": "rejected" })).into_response())
}

/// Puts a quarantined (`failed`) reminder back in the queue, e.g. after the
/// customer's address or the channel's configuration was fixed.
async fn retry_outbox(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    if blocking(move || store.retry_outbox(&tenant, id)).await? {
        Ok(Json(json!({ "outbox": id, "status": "queued" })).into_response())
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!("outbox row {id} is not a failed reminder of this tenant"),
        ))
    }
}

async fn undo(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let store = st.rt.store.clone();
    blocking(move || store.undo_allocation(&tenant, id, &who)).await?;
    Ok(Json(json!({ "allocation": id, "status": "undone" })).into_response())
}

/// Messages read from the mailboxes; `?status=review,quarantined` is the review list.
async fn messages(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &["status"])?;
    let known: Vec<&str> = MessageStatus::ALL.iter().map(MessageStatus::as_str).collect();
    let statuses = status_list(&p, &known, "message")?;
    let statuses: Vec<MessageStatus> = statuses.iter().filter_map(|s| s.parse().ok()).collect();
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    let page = blocking(move || store.messages(&tenant, &statuses, l, o)).await?;
    Ok(Json(page).into_response())
}

/// One message with its corrections, oldest first.
async fn message(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let m = blocking(move || store.message(&tenant, id)).await?;
    let m = m.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no message {id}")))?;
    Ok(Json(m).into_response())
}

const CORRECTION: &str = "{\"by\": \"<person>\", \"intent\": \"dispute\", \"promised_date\": \"YYYY-MM-DD\" | null, \"amount\": \"1200.50\" | null, \"currency\": \"EUR\" (optional), \"invoices\": [\"F-1\"] (optional), \"comment\": \"…\" (optional)}";

/// A person confirms or corrects what a reply says (see
/// `relance_store::Store::correct_reply`); a correction that changed
/// something retrains the tenant's reply model in the background.
async fn correct_message(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    use relance_store::CorrectionRefusal as R;
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let input: relance_store::CorrectionInput = required_json(&body, CORRECTION)?;
    if input.by.trim().is_empty() {
        return Err(ApiError::bad_request("`by` must name the person who corrects"));
    }
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    let r = blocking(move || store.correct_reply(&t, id, &who, &input, today)).await?;
    match r {
        Ok(outcome) => {
            if outcome.changed {
                st.rt.retrainer.request(st.rt.store.clone(), tenant);
            }
            Ok(Json(outcome).into_response())
        }
        Err(e @ R::NotFound(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())),
        Err(e @ R::Conflict(_)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())),
        Err(e @ R::Invalid(_)) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_correction", e.to_string()))
        }
    }
}

/// The tenant's reply model: its version (0 while it has none: the shipped
/// model alone), when it was trained, on how many corrections, and its
/// accuracy on them (measured on the training set) next to the shipped model's.
async fn reply_model(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let m = blocking(move || store.reply_model(&tenant)).await?;
    let shipped = relance_engine::replies::model::Model::shipped().version.clone();
    Ok(Json(match m {
        Some(m) => json!({
            "version": m.version, "trained_at": m.trained_at, "examples": m.examples,
            "corrections_through": m.corrections_through, "accuracy": m.accuracy,
            "shipped_accuracy": m.shipped_accuracy, "features": m.features,
            "accuracy_measured_on": "training_set", "shipped_version": shipped,
        }),
        None => json!({
            "version": 0, "trained_at": null, "examples": 0, "accuracy": null, "shipped_version": shipped,
        }),
    })
    .into_response())
}

/// The shape of `promises`, `tasks` and `outbox`: `?status=` and `?limit=`, newest first.
type StatusList<T> = fn(&relance_store::Store, &TenantId, Option<&str>, u32) -> Result<Vec<T>, StoreError>;

async fn listed_by_status<T: serde::Serialize + Send + 'static>(
    st: ApiState,
    tenant: String,
    headers: HeaderMap,
    q: Params,
    list: StatusList<T>,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (status, l) = (p.get("status").cloned(), limit(&p)?);
    let store = st.rt.store.clone();
    let items = blocking(move || list(&store, &tenant, status.as_deref(), l)).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

async fn promises(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(st, t, h, q, |s, t, status, l| match status.map(str::parse).transpose() {
        Ok(status) => s.promises(t, status, l),
        Err(_) => Ok(Vec::new()),
    })
    .await
}

async fn tasks(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(st, t, h, q, |s, t, status, l| match status.map(str::parse).transpose() {
        Ok(status) => s.tasks(t, status, l),
        Err(_) => Ok(Vec::new()),
    })
    .await
}

/// Each customer address with its state today (tenant's time zone): `ok`,
/// `undeliverable` (status code, since, the report's message) or `away`
/// (until, the out-of-office reply); `?status=` filters, an unknown status
/// is a 400.
async fn contacts(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let l = limit(&p)?;
    let status = match p.get("status") {
        None => None,
        Some(v) => Some(relance_store::ContactState::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!("query parameter `status`: `{v}` is not ok, undeliverable or away"))
        })?),
    };
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let store = st.rt.store.clone();
    let items = blocking(move || store.contacts(&tenant, today, status, l)).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

/// Payment plans, newest first; `?status=draft` lists those waiting for a person.
async fn plans(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(st, t, h, q, |s, t, status, l| match status.map(str::parse).transpose() {
        Ok(status) => s.plans(t, status, l),
        Err(_) => Ok(Vec::new()),
    })
    .await
}

async fn plan(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let p = blocking(move || store.plan(&tenant, id)).await?;
    let p = p.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no payment plan {id}")))?;
    Ok(Json(p).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanDecisionBody {
    /// The person who decides (recorded and audited).
    by: String,
    /// Accept only: the instalments as agreed, replacing the draft's.
    #[serde(default)]
    instalments: Option<Vec<relance_store::InstalmentInput>>,
    #[serde(default)]
    note: Option<String>,
}

const PLAN_DECISION: &str = "{\"by\": \"<person>\", \"instalments\": [{\"due_date\": \"YYYY-MM-DD\", \"amount\": \"500.00\"}] (optional), \"note\": \"…\" (optional)}";

/// The plan decided, or the refusal as a 404, 409 or 422.
fn plan_decided(r: Result<relance_store::PlanView, relance_store::PlanRefusal>) -> Result<Response, ApiError> {
    use relance_store::PlanRefusal as R;
    match r {
        Ok(p) => Ok(Json(p).into_response()),
        Err(e @ R::NotFound(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())),
        Err(e @ R::Conflict(_)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())),
        Err(e @ R::Invalid(_)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan", e.to_string())),
    }
}

fn plan_decision(body: &Bytes) -> Result<PlanDecisionBody, ApiError> {
    let b: PlanDecisionBody = required_json(body, PLAN_DECISION)?;
    if b.by.trim().is_empty() {
        return Err(ApiError::bad_request("`by` must name the person who decides"));
    }
    Ok(b)
}

/// A person accepts a draft payment plan, as drafted or with the instalments given.
async fn accept_plan(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b = plan_decision(&body)?;
    let store = st.rt.store.clone();
    let r = blocking(move || {
        store.accept_plan(&tenant, id, &who, b.by.trim(), b.instalments.as_deref(), b.note.as_deref())
    })
    .await?;
    plan_decided(r)
}

/// A person rejects a draft payment plan.
async fn reject_plan(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b = plan_decision(&body)?;
    if b.instalments.is_some() {
        return Err(ApiError::bad_request("`instalments` is for accepting a plan, not rejecting it"));
    }
    let store = st.rt.store.clone();
    let r = blocking(move || store.reject_plan(&tenant, id, &who, b.by.trim(), b.note.as_deref())).await?;
    plan_decided(r)
}

async fn outbox(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    listed_by_status(st, t, h, q, |s, t, status, l| s.outbox(t, status, l)).await
}
