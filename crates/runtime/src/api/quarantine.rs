//! Handling quarantined inputs through the API: dismiss one (with a note)
//! or ask for it to be read again (`relance_store`'s quarantine module says
//! what can be). Both are audited with the caller
//! (`actor(&tenant, &headers)`); a refusal is a 404, 409 or 422.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiState, RequestBody, actor, authorize, blocking, openapi, optional_json};

/// The body of a dismissal: why, optionally.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DismissBody {
    /// Why it is dismissed (fixed in the ERP, a test file…).
    #[serde(default)]
    note: Option<String>,
}

/// Dismisses a quarantined input nobody handled yet: it is kept, marked with
/// who dismissed it, when and why, and no longer counted as waiting.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/quarantine/{id}/dismiss", tag = "data", params(openapi::TenantIdPath), request_body(content = Option<DismissBody>, description = "Optional: the note"), responses((status = 200, body = relance_domain::QuarantineHandled), (status = 404, body = openapi::ErrorBody), (status = 409, description = "Already handled", body = openapi::ErrorBody), (status = 422, description = "Note too long", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn dismiss(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: DismissBody = optional_json(&body)?;
    let store = st.rt.store.clone();
    let done = blocking(move || store.dismiss_quarantined(&tenant, id, b.note.as_deref(), &who)).await?;
    Ok(Json(done?).into_response())
}

/// Asks for a quarantined input to be read again: a held export is released,
/// a rejected statement file is read again by its connector at its next run
/// (202). 409 when the input cannot be read again by itself (a bad line of an
/// export: fix it at the source, then dismiss it) or was handled already.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/quarantine/{id}/retry", tag = "data", params(openapi::TenantIdPath), responses((status = 202, body = openapi::ActionDone), (status = 404, body = openapi::ErrorBody), (status = 409, description = "Cannot be read again by itself, or already handled", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn retry(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let store = st.rt.store.clone();
    blocking(move || store.retry_quarantined(&tenant, id, &who)).await??;
    Ok((StatusCode::ACCEPTED, Json(json!({ "quarantine": id, "status": "retried" }))).into_response())
}
