//! One customer, as the customer page shows it (issue #15), read for that
//! customer only (see `relance_store`'s `customer_view`):
//!
//! - `GET /api/v1/tenants/{tenant}/customers/{id}/overview?limit=&after=`:
//!   one page of open items (invoices and credit notes, by due date; `after`
//!   is the `next_after` given), the totals per currency over all open items
//!   and unapplied payments, the unapplied payments, the contacts with their
//!   state, open tasks, recent promises, and the scenario with the next
//!   planned step and its `why` (as `relance dunning run` would decide today;
//!   that part still reads the whole tenant's dunning states).
//! - `GET /api/v1/tenants/{tenant}/customers/{id}/timeline?limit=&after=`:
//!   what happened, newest first, `{"items": [...], "next_after": …}`.
//!
//! An unknown customer is a 404, a token of another tenant a 403, like every
//! tenant route.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use relance_store::{CustomerOverview, StoreError, TimelineEntry, Window};

use super::{ApiError, ApiState, Items, Params, authorize, blocking, limit, openapi, params};

/// The tenant and the customer's id.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct CustomerPath {
    /// The tenant's id (its token must be one of this tenant's).
    tenant: String,
    /// The customer's id (the ERP's).
    id: String,
}

/// Cursor pagination by a text cursor.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct TextPageQuery {
    /// Page size, 1 to 1000 (100 by default).
    limit: Option<u32>,
    /// The `next_after` of the previous page.
    after: Option<String>,
}

/// The scenario that applies to the customer and what it plans today.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextStep {
    /// The scenario's name.
    pub scenario: String,
    /// `{"action": "send", "step": …, "invoices": […], "why": […]}`, or
    /// `{"action": "wait" | "nothing", "why": "…"}`.
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
}

/// The customer page but its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    #[serde(flatten)]
    pub overview: CustomerOverview,
    /// `null` when the customer owes nothing or no scenario applies.
    pub next_step: Option<NextStep>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no customer `{id}`"))
}

fn today(st: &ApiState, tenant: &str) -> chrono::NaiveDate {
    let tz = st.rt.settings.tenant(tenant).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// Open items (paged), totals per currency, unapplied payments, contacts, open tasks, promises and the next step.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers/{id}/overview", tag = "data", description = "One customer: a page of open items (invoices and credit notes by due date; `after` is the `next_after` given), totals per currency over all open items and unapplied payments, unapplied payments, contacts (undeliverable ones marked), open tasks, promises and the next planned step with its why.", params(CustomerPath, TextPageQuery), responses((status = 200, body = Overview), (status = 404, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn overview(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let page = Window::after(limit(&p)?, p.get("after").cloned());
    let day = today(&st, tenant.as_str());
    let config = st.rt.settings.tenant(tenant.as_str()).cloned();
    let (store, cid) = (st.rt.store.clone(), id.clone());
    let found = blocking(move || {
        let Some(overview) = store.customer_overview(&tenant, &cid, day, page)? else { return Ok(None) };
        let outlook = match config {
            Some(config) => crate::reminders::plan::customer_outlook(&store, &config, &cid, day)
                .map_err(|e| StoreError::Rejected(e.to_string()))?,
            None => None,
        };
        Ok(Some((overview, outlook)))
    })
    .await?;
    let (overview, outlook) = found.ok_or_else(|| not_found(&id))?;
    let next_step = outlook
        .map(|(scenario, outcome)| serde_json::to_value(outcome).map(|outcome| NextStep { scenario, outcome }))
        .transpose()
        .map_err(ApiError::internal)?;
    Ok(Json(Overview { overview, next_step }).into_response())
}

/// What happened to the customer, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers/{id}/timeline", tag = "data", description = "What happened to one customer, newest first: invoices issued, payments applied or undone, reminders (with their subject and text), replies, promises, disputes opened and resolved, tasks created and closed, notes, holds placed and lifted. `after` is the `next_after` given (an entry's `cursor`).", params(CustomerPath, TextPageQuery), responses((status = 200, body = Items<TimelineEntry, String>), (status = 404, body = openapi::ErrorBody), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn timeline(
    State(st): State<ApiState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (l, after) = (limit(&p)?, p.get("after").cloned());
    let (store, cid) = (st.rt.store.clone(), id.clone());
    let page = blocking(move || {
        if store.customer_summary(&tenant, &cid)?.is_none() {
            return Ok(None);
        }
        store.customer_timeline(&tenant, &cid, after.as_deref(), l).map(Some)
    })
    .await?;
    let (items, next_after) = page.ok_or_else(|| not_found(&id))?;
    Ok(Json(Items { items, next_after }).into_response())
}
