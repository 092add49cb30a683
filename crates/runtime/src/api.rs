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
//!
//! `openapi` builds the OpenAPI 3 document from the handlers'
//! `#[utoipa::path]` attributes and serves it at `/api/v1/openapi.json`
//! (no token). Every list pages by cursor: `limit` and `after` (the
//! `next_after` of the previous page, `null` on the last); the lists that
//! took `offset` still do.

mod actions;
mod customers;
mod domain_events;
mod handoffs;
mod layers;
mod openapi;
mod quarantine;
mod reports;
mod server;

pub use actions::{DocumentAnswer, document};
pub use reports::{Report, report};

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cash::ManualAllocation as ManualAllocationRequest;
use crate::daemon::Runtime;
use relance_config::token_digest;
use relance_domain::replies::MessageStatus;
use relance_domain::{InvoiceStatus, PaymentStatus, TenantId};
use relance_store::{InvoiceQuery, Page, StoreError, Window};

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
    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

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
        if let StoreError::UnknownCursor(why) = e {
            return ApiError::bad_request(format!("query parameter `after`: {why}"));
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
    let (router, _) = api_routes().split_for_parts();
    router.fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") }).with_state(state)
}

/// Every route, each registered with the handler's `#[utoipa::path]` by
/// `routes!`: the router and the OpenAPI document (`api::openapi`) both
/// come from here. A new handler is one `.routes(routes!(handler))` line.
fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::openapi))
        .routes(routes!(invoices))
        .routes(routes!(customers))
        .routes(routes!(customers::overview))
        .routes(routes!(customers::timeline))
        .routes(routes!(events))
        .routes(routes!(domain_events::domain_events))
        .routes(routes!(domain_events::event_stream))
        .routes(routes!(quarantine))
        .routes(routes!(release_quarantine))
        .routes(routes!(quarantine::dismiss))
        .routes(routes!(quarantine::retry))
        .routes(routes!(handoffs::list))
        .routes(routes!(handoffs::reverse))
        .routes(routes!(connectors))
        .routes(routes!(daemons))
        .routes(routes!(payments))
        .routes(routes!(review))
        .routes(routes!(payment))
        .routes(routes!(accept))
        .routes(routes!(allocate))
        .routes(routes!(reject))
        .routes(routes!(undo))
        .routes(routes!(messages))
        .routes(routes!(message))
        .routes(routes!(correct_message))
        .routes(routes!(reply_model))
        .routes(routes!(promises))
        .routes(routes!(outbox))
        .routes(routes!(retry_outbox))
        .routes(routes!(tasks))
        .routes(routes!(contacts))
        .routes(routes!(plans))
        .routes(routes!(plan))
        .routes(routes!(accept_plan))
        .routes(routes!(reject_plan))
        .routes(routes!(actions::hold_customer))
        .routes(routes!(actions::hold_invoice))
        .routes(routes!(actions::holds))
        .routes(routes!(actions::lift_hold))
        .routes(routes!(actions::resolve_dispute))
        .routes(routes!(actions::disputes))
        .routes(routes!(actions::create_task))
        .routes(routes!(actions::close_task))
        .routes(routes!(actions::assign_task))
        .routes(routes!(actions::record_promise))
        .routes(routes!(actions::notes, actions::add_note))
        .routes(routes!(actions::outbox_entry))
        .routes(routes!(actions::outbox_document))
        .routes(routes!(actions::approve))
        .routes(routes!(actions::cancel))
        .routes(routes!(actions::approve_many))
        .routes(routes!(reports::aged_balance))
        .routes(routes!(reports::dso))
        .routes(routes!(reports::dmp))
        .routes(routes!(reports::overdue))
        .routes(routes!(reports::promises))
        .routes(routes!(reports::cash))
        .routes(routes!(reports::reminders))
        .routes(routes!(reports::replies))
}

/// Serves the API on `listener` under the `[http]` limits until `cancel`
/// fires, then finishes the requests in progress.
pub async fn serve(listener: tokio::net::TcpListener, rt: Runtime, cancel: CancellationToken) -> std::io::Result<()> {
    serve_with(listener, rt, Router::new(), cancel).await
}

/// Like [`serve`], with more routes on the same port (the web workspace's
/// pages): they are merged beside the API, outside its JSON error and rate
/// layers, and must not overlap its paths (`/api/…`, `/healthz`, `/metrics`).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    rt: Runtime,
    pages: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let http = rt.settings.http.clone();
    server::serve(listener, pages.merge(router(rt)), http, cancel).await
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

/// The `offset` parameter (kept for the lists that had it); refused next to `after`.
fn offset(p: &HashMap<String, String>) -> Result<u64, ApiError> {
    let o = number(p, "offset", 0)?;
    if o != 0 && p.contains_key("after") {
        return Err(ApiError::bad_request("give `after` (the cursor) or `offset`, not both"));
    }
    Ok(o)
}

/// `limit`, `after` (an id) and `offset` of a list keyed by id.
fn id_window(p: &HashMap<String, String>) -> Result<Window<i64>, ApiError> {
    let after = if p.contains_key("after") { Some(number(p, "after", 0i64)?) } else { None };
    Ok(Window { limit: limit(p)?, after, offset: offset(p)? })
}

/// A page of a list that has no total: the items and the cursor of the
/// next page (`null` on the last one).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Items<T, K> {
    items: Vec<T>,
    /// Give it as `after` for the next page; `null` on the last page.
    next_after: Option<K>,
}

impl<T, K> Items<T, K> {
    /// The page of `rows` read with one more than `limit`.
    fn cut(rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Items<T, K> {
        let (items, next_after) = relance_store::cut_page(rows, limit, key);
        Items { items, next_after }
    }
}

/// A connector of the tenant and its last run (`connectors` list).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ConnectorItem {
    name: String,
    /// Its last runs' figures, as the metrics keep them.
    #[schema(value_type = Object)]
    status: serde_json::Value,
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "Up, database answering", body = openapi::Health), (status = 503, description = "Database unavailable", body = openapi::Health)))]
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

#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"), (status = 500, body = openapi::ErrorBody)))]
async fn metrics(State(st): State<ApiState>) -> Result<Response, ApiError> {
    let store = st.rt.store.clone();
    let ids: Vec<TenantId> = st.rt.settings.tenants.iter().map(|t| t.id.clone()).collect();
    // Counts and cash application rates: a few aggregate queries per tenant.
    let subscribers: Vec<(TenantId, Vec<String>)> = st
        .rt
        .settings
        .tenants
        .iter()
        .map(|t| (t.id.clone(), t.events.webhooks.iter().map(|w| w.name.clone()).collect()))
        .collect();
    let (counts, cash, events, alive) = blocking(move || {
        let mut counts = Vec::with_capacity(ids.len());
        let mut cash = Vec::with_capacity(ids.len());
        for t in ids {
            counts.push((t.to_string(), store.tenant_counts(&t)?));
            cash.push((t.to_string(), store.cash_rates(&t, None)?));
        }
        let events = crate::events::render_metrics(&store, &subscribers)?;
        let alive = store.daemons(chrono::Utc::now() - chrono::Duration::seconds(60))?.len();
        Ok::<_, relance_store::StoreError>((counts, cash, events, alive))
    })
    .await?;
    let body = st.rt.metrics.render(&counts, &cash) + &events + &crate::cluster::render_metrics(&st.rt.cluster, alive);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/invoices", tag = "data", description = "Invoices by due date then number; `after` is an invoice number.", params(openapi::TenantPath, openapi::KeyPageQuery, openapi::StatusQuery, ("customer" = Option<String>, Query, description = "Only this customer's invoices")), responses((status = 200, body = Page<relance_domain::Invoice, String>), openapi::Errors), security(("bearer" = [])))]
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
        offset: offset(&p)?,
        after: p.get("after").cloned(),
    };
    let store = st.rt.store.clone();
    let page = blocking(move || store.invoices(&tenant, &query)).await?;
    Ok(Json(page).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers", tag = "data", description = "Customers by id; `after` is a customer id.", params(openapi::TenantPath, openapi::KeyPageQuery), responses((status = 200, body = Page<relance_domain::Customer, String>), openapi::Errors), security(("bearer" = [])))]
async fn customers(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let w = Window { limit: limit(&p)?, after: p.get("after").cloned(), offset: offset(&p)? };
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.customers(&tenant, w)).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/events", tag = "data", description = "The audit trail, oldest first.", params(openapi::TenantPath, openapi::PageQuery), responses((status = 200, body = Items<relance_domain::AuditEvent, i64>), openapi::Errors), security(("bearer" = [])))]
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
    let rows = blocking(move || store.events(&tenant, after, l + 1)).await?;
    Ok(Json(Items::cut(rows, l, |e| e.id)).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/quarantine", tag = "data", description = "Quarantined inputs, oldest first; `?state=open` for those nobody handled yet (dismissed, retried or released).", params(openapi::TenantPath, openapi::OffsetPageQuery, ("state" = Option<String>, Query, description = "`open` or `all` (default)")), responses((status = 200, body = Page<relance_domain::QuarantineItem, i64>), openapi::Errors), security(("bearer" = [])))]
async fn quarantine(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let w = id_window(&p)?;
    let open = match p.get("state").map(String::as_str) {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("query parameter `state`: `{other}` is not open or all")));
        }
    };
    let store = st.rt.store.clone();
    let page =
        blocking(move || if open { store.quarantine_open(&tenant, w) } else { store.quarantine(&tenant, w) }).await?;
    Ok(Json(page).into_response())
}

/// Confirms a held full export: its connector imports it, closes included, at
/// its next run (202). 409 when the item is not a held export or a later full
/// export superseded it.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/quarantine/{id}/release", tag = "data", params(openapi::TenantIdPath), responses((status = 202, body = openapi::ActionDone), (status = 409, description = "Not a held export, or superseded", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/daemons", tag = "service", description = "The daemons running on this database (seen in the last minute) and which of them holds each piece of the tenant's work (its leases).", params(openapi::TenantPath), responses((status = 200, body = crate::cluster::ClusterView), openapi::Errors), security(("bearer" = [])))]
async fn daemons(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let prefix = crate::cluster::LeaseName::tenant_prefix(&tenant);
    let (daemons, leases) = blocking(move || {
        let daemons = store.daemons(chrono::Utc::now() - chrono::Duration::seconds(60))?;
        let leases = store.leases(&prefix)?;
        Ok::<_, relance_store::StoreError>((daemons, leases))
    })
    .await?;
    let view = crate::cluster::ClusterView { daemon: st.rt.cluster.daemon_id.clone(), daemons, leases };
    Ok(Json(view).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/connectors", tag = "data", description = "The tenant's connectors by name; `after` is a connector name.", params(openapi::TenantPath, ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000"), ("after" = Option<String>, Query, description = "The `next_after` of the previous page")), responses((status = 200, body = Items<ConnectorItem, String>), openapi::Errors), security(("bearer" = [])))]
async fn connectors(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, after) = (limit(&p)?, p.get("after").cloned());
    let mut items: Vec<ConnectorItem> = st
        .rt
        .metrics
        .snapshot()
        .into_iter()
        .filter(|((t, name), _)| t == tenant.as_str() && after.as_ref().is_none_or(|a| name > a))
        .map(|((_, name), status)| ConnectorItem { name, status: json!(status) })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    items.truncate(usize::try_from(l).unwrap_or(usize::MAX).saturating_add(1));
    Ok(Json(Items::cut(items, l, |c| c.name.clone())).into_response())
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

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/payments", tag = "cash", description = "Bank lines by id, oldest first; `q` searches them.", params(openapi::TenantPath, openapi::OffsetPageQuery, openapi::StatusQuery, openapi::SearchQuery), responses((status = 200, body = Page<relance_store::StoredPayment, i64>), openapi::Errors), security(("bearer" = [])))]
async fn payments(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &["status"])?;
    let statuses = payment_statuses(&p)?;
    let w = id_window(&p)?;
    let store = st.rt.store.clone();
    let page = match search_text(&p) {
        Some(text) => {
            let q = relance_store::PaymentSearch { statuses, text, newest_first: false };
            blocking(move || store.search_payments(&tenant, &q, Window::after(w.limit, w.after))).await?
        }
        None => blocking(move || store.payments_with_status(&tenant, &statuses, w)).await?,
    };
    Ok(Json(page).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/review", tag = "cash", description = "Payments waiting for a person (suggested, unmatched): first those holding reminders (a credit from the customer that could pay them, a customer's payment claim; `holds_reminders` says why), then oldest first; `q` searches them.", params(openapi::TenantPath, openapi::OffsetPageQuery, openapi::SearchQuery), responses((status = 200, body = Page<relance_store::StoredPayment, i64>), openapi::Errors), security(("bearer" = [])))]
async fn review(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let w = id_window(&p)?;
    let store = st.rt.store.clone();
    let review = [PaymentStatus::Suggested, PaymentStatus::Unmatched];
    // The queue lists first the credits holding reminders (with the reasons); `offset` pages the plain list.
    let page = match (search_text(&p), w.offset) {
        (None, offset) if offset > 0 => blocking(move || store.payments_with_status(&tenant, &review, w)).await?,
        (text, _) => {
            let text = text.unwrap_or_default();
            let q = relance_store::PaymentSearch { statuses: review.to_vec(), text, newest_first: false };
            blocking(move || store.search_payments(&tenant, &q, Window::after(w.limit, w.after))).await?
        }
    };
    Ok(Json(page).into_response())
}

/// `?q=`: words that must all be found in a payment (payer, account,
/// remittance, references, candidate or allocated invoices, an amount);
/// see `relance_store::PaymentSearch`. With `q`, pages go by cursor only.
fn search_text(p: &HashMap<String, String>) -> Option<String> {
    p.get("q").map(|q| q.trim().to_string()).filter(|q| !q.is_empty())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/payments/{id}", tag = "cash", params(openapi::TenantIdPath), responses((status = 200, body = openapi::PaymentDetail), (status = 404, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    /// Index in the payment's `match_result.candidates`; required, so that a
    /// missing body never applies a candidate nobody chose.
    candidate: usize,
}

/// Accepts the matcher's candidate named in the body.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/payments/{id}/accept", tag = "cash", params(openapi::TenantIdPath), request_body = AcceptBody, responses((status = 200, body = openapi::ActionDone), (status = 409, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AllocateBody {
    allocations: Vec<ManualAllocation>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ManualAllocation {
    invoice: String,
    /// Decimal string, e.g. "120.50"; negative ("-20.00") on an open credit note of the
    /// same customer, offset by a net payment (the set then sums to what is unallocated).
    amount: String,
}

/// Allocates a payment by hand: one or several invoices, partial amounts allowed;
/// open credit notes of the same customer offset by negative amounts.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/payments/{id}/allocate", tag = "cash", params(openapi::TenantIdPath), request_body = AllocateBody, responses((status = 200, body = openapi::ActionDone), (status = 409, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/payments/{id}/reject", tag = "cash", params(openapi::TenantIdPath), request_body(content = Option<RejectBody>, description = "Optional: the reason"), responses((status = 200, body = openapi::ActionDone), (status = 409, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/outbox/{id}/retry", tag = "reminders", params(openapi::TenantIdPath), responses((status = 200, body = openapi::ActionDone), (status = 409, description = "Not a failed reminder of this tenant", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
async fn retry_outbox(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let store = st.rt.store.clone();
    if blocking(move || store.retry_outbox(&tenant, id, &who)).await? {
        Ok(Json(json!({ "outbox": id, "status": "queued" })).into_response())
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!("outbox row {id} is not a failed reminder of this tenant"),
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/allocations/{id}/undo", tag = "cash", params(openapi::TenantIdPath), responses((status = 200, body = openapi::ActionDone), (status = 409, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/messages", tag = "replies", description = "Messages read, newest first (`after`: older than that message).", params(openapi::TenantPath, openapi::OffsetPageQuery, openapi::StatusQuery), responses((status = 200, body = Page<relance_store::MessageView, i64>), openapi::Errors), security(("bearer" = [])))]
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
    let w = id_window(&p)?;
    let store = st.rt.store.clone();
    let page = blocking(move || store.messages(&tenant, &statuses, w)).await?;
    Ok(Json(page).into_response())
}

/// One message with its corrections, oldest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/messages/{id}", tag = "replies", params(openapi::TenantIdPath), responses((status = 200, body = relance_store::MessageDetail), (status = 404, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/messages/{id}/correction", tag = "replies", params(openapi::TenantIdPath), request_body = relance_store::CorrectionInput, responses((status = 200, body = relance_store::CorrectionOutcome), (status = 404, body = openapi::ErrorBody), (status = 409, body = openapi::ErrorBody), (status = 422, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/replies/model", tag = "replies", params(openapi::TenantPath), responses((status = 200, description = "The tenant's reply model: version (0: the shipped model alone), training and accuracy", body = Object), openapi::Errors), security(("bearer" = [])))]
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

/// The shape of `promises`, `tasks`, `plans` and `outbox`: `?status=`,
/// `?limit=` and `?after=` (an id: the next page has older rows), newest first.
type StatusList<T> = fn(&relance_store::Store, &TenantId, Option<&str>, Window<i64>) -> Result<Vec<T>, StoreError>;

async fn listed_by_status<T: serde::Serialize + Send + 'static>(
    st: ApiState,
    tenant: String,
    headers: HeaderMap,
    q: Params,
    list: StatusList<T>,
    key: fn(&T) -> i64,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (status, w) = (p.get("status").cloned(), id_window(&p)?);
    let l = w.limit;
    // One row more than the page tells whether another page follows.
    let probe = Window::after(l.saturating_add(1), w.after);
    let store = st.rt.store.clone();
    let rows = blocking(move || list(&store, &tenant, status.as_deref(), probe)).await?;
    Ok(Json(Items::cut(rows, l, key)).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/promises", tag = "replies", description = "Promises to pay, newest first (`after`: older than that promise).", params(openapi::TenantPath, openapi::PageQuery, openapi::StatusQuery), responses((status = 200, body = Items<relance_store::PromiseView, i64>), openapi::Errors), security(("bearer" = [])))]
async fn promises(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(
        st,
        t,
        h,
        q,
        |s, t, status, l| match status.map(str::parse).transpose() {
            Ok(status) => s.promises(t, status, l),
            Err(_) => Ok(Vec::new()),
        },
        |p| p.id,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/tasks", tag = "replies", description = "Tasks for a person, newest first (`after`: older than that task).", params(openapi::TenantPath, openapi::PageQuery, openapi::StatusQuery), responses((status = 200, body = Items<relance_store::TaskView, i64>), openapi::Errors), security(("bearer" = [])))]
async fn tasks(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(
        st,
        t,
        h,
        q,
        |s, t, status, l| match status.map(str::parse).transpose() {
            Ok(status) => s.tasks(t, status, l),
            Err(_) => Ok(Vec::new()),
        },
        |t| t.id,
    )
    .await
}

/// Each customer address with its state today (tenant's time zone): `ok`,
/// `undeliverable` (status code, since, the report's message) or `away`
/// (until, the out-of-office reply); `?status=` filters, an unknown status
/// is a 400.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/contacts", tag = "replies", description = "Customer addresses by customer and address; `after` is the `next_after` given (customer id and address).", params(openapi::TenantPath, ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000"), ("after" = Option<String>, Query, description = "The `next_after` of the previous page"), ("status" = Option<relance_store::ContactState>, Query)), responses((status = 200, body = Items<relance_store::ContactView, String>), openapi::Errors), security(("bearer" = [])))]
async fn contacts(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, after) = (limit(&p)?, p.get("after").cloned());
    let status = match p.get("status") {
        None => None,
        Some(v) => Some(relance_store::ContactState::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!("query parameter `status`: `{v}` is not ok, undeliverable or away"))
        })?),
    };
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let store = st.rt.store.clone();
    let probe = Window::after(l.saturating_add(1), after);
    let rows = blocking(move || store.contacts(&tenant, today, status, probe)).await?;
    Ok(Json(Items::cut(rows, l, relance_store::ContactView::cursor)).into_response())
}

/// Payment plans, newest first; `?status=draft` lists those waiting for a person.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/plans", tag = "replies", description = "Payment plans, newest first (`after`: older than that plan).", params(openapi::TenantPath, openapi::PageQuery, openapi::StatusQuery), responses((status = 200, body = Items<relance_store::PlanView, i64>), openapi::Errors), security(("bearer" = [])))]
async fn plans(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    // An unknown status lists nothing.
    listed_by_status(
        st,
        t,
        h,
        q,
        |s, t, status, l| match status.map(str::parse).transpose() {
            Ok(status) => s.plans(t, status, l),
            Err(_) => Ok(Vec::new()),
        },
        |p| p.id,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/plans/{id}", tag = "replies", params(openapi::TenantIdPath), responses((status = 200, body = relance_store::PlanView), (status = 404, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/plans/{id}/accept", tag = "replies", params(openapi::TenantIdPath), request_body = PlanDecisionBody, responses((status = 200, body = relance_store::PlanView), (status = 404, body = openapi::ErrorBody), (status = 409, body = openapi::ErrorBody), (status = 422, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/plans/{id}/reject", tag = "replies", params(openapi::TenantIdPath), request_body = PlanDecisionBody, responses((status = 200, body = relance_store::PlanView), (status = 404, body = openapi::ErrorBody), (status = 409, body = openapi::ErrorBody), (status = 422, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/outbox", tag = "reminders", description = "Reminders planned, sent or failed, newest first (`after`: older than that row).", params(openapi::TenantPath, openapi::PageQuery, openapi::StatusQuery), responses((status = 200, body = Items<relance_store::OutboxRow, i64>), openapi::Errors), security(("bearer" = [])))]
async fn outbox(
    State(st): State<ApiState>,
    Path(t): Path<String>,
    h: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    listed_by_status(st, t, h, q, |s, t, status, l| s.outbox(t, status, l), |o| o.id).await
}
