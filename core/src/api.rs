//! The HTTP API: health, Prometheus metrics and per-tenant data.
//!
//! Routes under `/api/v1/tenants/{tenant}/` need `Authorization: Bearer
//! <token>`, where the token is one of that tenant's (compared by SHA-256
//! digest): no or unknown token gives 401, another tenant's token 403.
//! Every error has the same JSON shape:
//! `{"error": {"code": "forbidden", "message": "…"}}`.
//! Store queries run on the blocking pool.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::token_digest;
use crate::domain::{InvoiceStatus, TenantId};
use crate::runtime::Runtime;
use crate::store::{InvoiceQuery, StoreError};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Clone)]
struct ApiState {
    rt: Runtime,
    tokens: Arc<HashMap<[u8; 32], TenantId>>,
}

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error in API");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal storage error")
    }
}

/// Builds the router.
pub fn router(rt: Runtime) -> Router {
    let tokens =
        rt.settings.tenants.iter().flat_map(|t| t.token_hashes.iter().map(move |h| (*h, t.id.clone()))).collect();
    let state = ApiState { rt, tokens: Arc::new(tokens) };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants/{tenant}/invoices", get(invoices))
        .route("/api/v1/tenants/{tenant}/customers", get(customers))
        .route("/api/v1/tenants/{tenant}/events", get(events))
        .route("/api/v1/tenants/{tenant}/quarantine", get(quarantine))
        .route("/api/v1/tenants/{tenant}/connectors", get(connectors))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

/// Serves the API on `listener` until `cancel` fires.
pub async fn serve(listener: tokio::net::TcpListener, rt: Runtime, cancel: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(rt)).with_graceful_shutdown(async move { cancel.cancelled().await }).await
}

/// Checks the bearer token against the tenant in the path.
fn authorize(state: &ApiState, headers: &HeaderMap, tenant: &str) -> Result<TenantId, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("expected `Authorization: Bearer <token>`"))?
        .trim();
    let owner = state.tokens.get(&token_digest(token)).ok_or_else(|| unauthorized("unknown token"))?;
    if owner.as_str() != tenant {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token does not grant access to tenant `{tenant}`"),
        ));
    }
    Ok(owner.clone())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn params(p: Params) -> Result<HashMap<String, String>, ApiError> {
    p.map(|Query(m)| m).map_err(|e| ApiError::bad_request(e.body_text()))
}

fn number<T: std::str::FromStr>(p: &HashMap<String, String>, key: &str, default: T) -> Result<T, ApiError> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("query parameter `{key}`: `{v}` is not a valid number"))),
    }
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
    let counts = blocking(move || {
        ids.into_iter().map(|t| store.tenant_counts(&t).map(|c| (t.to_string(), c))).collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let body = st.rt.metrics.render(&counts);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

async fn invoices(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q)?;
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
    let p = params(q)?;
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
    let p = params(q)?;
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
    let p = params(q)?;
    let (l, o) = (limit(&p)?, number(&p, "offset", 0)?);
    let store = st.rt.store.clone();
    Ok(Json(blocking(move || store.quarantine(&tenant, l, o)).await?).into_response())
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
