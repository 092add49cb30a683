//! Hand-offs to a collection agency through the API: the active ones with
//! their dossier files, and reversing one (reminders resume at the next
//! planning; audited with the caller, `actor(&tenant, &headers)`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, ApiState, RequestBody, actor, authorize, blocking, openapi, optional_json};
use relance_store::HandoffView;

/// The body of a reversal: why, optionally.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReverseBody {
    /// Why the hand-off is reversed (the agency returned the file, paid…).
    #[serde(default)]
    note: Option<String>,
}

/// The tenant's active hand-offs, oldest first, with their dossier files.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/handoffs", tag = "actions", description = "Customers handed over to a collection agency and not reversed, oldest first, with the dossier's files.", params(openapi::TenantPath), responses((status = 200, body = Vec<HandoffView>), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn list(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let store = st.rt.store.clone();
    let items = blocking(move || store.active_handoffs(&tenant)).await?;
    Ok(Json(items).into_response())
}

/// Reverses the customer's active hand-off: its reminders resume (200 with
/// the hand-off); 404 when it has none.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers/{id}/handoff/reverse", tag = "actions", params(openapi::TenantCustomerPath), request_body(content = Option<ReverseBody>, description = "Optional: the note"), responses((status = 200, description = "The hand-off reversed", body = HandoffView), (status = 404, description = "The customer has no active hand-off", body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn reverse(
    State(st): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let who = actor(&tenant, &headers);
    let b: ReverseBody = optional_json(&body)?;
    let store = st.rt.store.clone();
    let note = b.note.unwrap_or_default();
    let done = blocking(move || store.reverse_handoff(&tenant, &customer, &who, &note)).await?;
    match done {
        Some(h) => Ok(Json(h).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "the customer has no active hand-off")),
    }
}
