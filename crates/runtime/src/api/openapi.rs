//! The OpenAPI 3 document of the API, built from the code and served at
//! `GET /api/v1/openapi.json` (no authentication: it describes the API, it
//! holds no tenant's data).
//!
//! One source of truth: routes are registered with utoipa-axum's
//! [`OpenApiRouter`] and its `routes!` macro, which reads the method and path
//! from the handler's `#[utoipa::path]` attribute. Registering a route and
//! documenting it are the same call, so the document cannot miss a route
//! registered that way, and a handler without the attribute does not
//! compile there. A plain `.route(…)` (or `.route_service`, `.nest`…) would
//! bypass the document: the test `every_registered_route_is_documented`
//! reads the API's sources and fails on one, checks that `api_routes` chains
//! nothing but `.routes(routes!(…))`, and that the document has exactly one
//! operation per handler registered there.
//!
//! To add a handler:
//! 1. above it, `#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/things",
//!    tag = "things", params(TenantPath, PageQuery), responses((status = 200,
//!    body = ThingPage), Errors), security(("bearer" = [])))` — `TenantPath`
//!    or `TenantIdPath` for the path, `PageQuery`/`StatusQuery` for a list,
//!    `Errors` for the common error answers (add a `(status = 404, body =
//!    ErrorBody)` line for the others it gives);
//! 2. in `api::routes`, one line: `.routes(routes!(handler))`;
//! 3. derive `utoipa::ToSchema` on the types of its body and answer.
//!
//! The tests check the document: JSON, `openapi` 3.x, every `$ref`
//! resolves, every `{param}` of a path is a declared path parameter,
//! operation ids are unique, every success answer has a body with a schema
//! (JSON; the reports JSON and CSV, chosen by `?format=`), every list pages
//! by cursor, and every route answers (none is documented without being routed).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, OpenApi, ToSchema};

/// Settings of the document outside the paths: title, the bearer scheme
/// and the schemas answers name without a handler collecting them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relance API",
        description = "Collections integration gateway: per-tenant invoices, payments, replies and reminders. \
                       Lists page by cursor: `limit` and `after` (the `next_after` of the previous page, null on the last)."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "Health, metrics and this document"),
        (name = "data", description = "Invoices, customers, events, quarantine and connectors"),
        (name = "cash", description = "Payments and their allocations"),
        (name = "replies", description = "Messages read, promises, tasks, contacts, payment plans"),
        (name = "reminders", description = "The outbox and its approval gate"),
        (name = "actions", description = "The collections team's manual actions: holds, disputes, tasks, promises, notes"),
        (name = "reports", description = "Aged balance, DSO, DMP, overdue, promises, cash, reminders, replies (JSON or CSV)"),
    )
)]
pub(super) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every error answer: `{"error": {"code": "forbidden", "message": "…"}}`.
#[derive(serde::Serialize, ToSchema)]
pub(super) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Serialize, ToSchema)]
pub(super) struct ErrorDetail {
    /// Stable code (`bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`…).
    #[schema(example = "forbidden")]
    pub(super) code: String,
    /// For a person.
    pub(super) message: String,
}

/// The error answers every tenant route can give.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(super) enum Errors {
    /// A query parameter or the body is invalid.
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody),
    /// No bearer token, or an unknown one.
    #[response(status = 401)]
    Unauthorized(#[to_schema] ErrorBody),
    /// The token is another tenant's.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody),
    /// The token's rate limit is reached.
    #[response(status = 429)]
    TooManyRequests(#[to_schema] ErrorBody),
    /// A storage or internal failure.
    #[response(status = 500)]
    Internal(#[to_schema] ErrorBody),
}

/// The tenant of a route.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TenantPath {
    /// The tenant's id (its token must be one of this tenant's).
    tenant: String,
}

/// The tenant and the id of one row.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TenantIdPath {
    /// The tenant's id (its token must be one of this tenant's).
    tenant: String,
    id: i64,
}

/// The tenant and a customer's id.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TenantCustomerPath {
    /// The tenant's id (its token must be one of this tenant's).
    tenant: String,
    /// The customer's id.
    id: String,
}

/// The tenant and an invoice's number.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TenantInvoicePath {
    /// The tenant's id (its token must be one of this tenant's).
    tenant: String,
    /// The invoice's number.
    number: String,
}

/// Cursor pagination of a list keyed by id.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct PageQuery {
    /// Page size, 1 to 1000 (100 by default).
    limit: Option<u32>,
    /// The `next_after` of the previous page: the id of its last row.
    after: Option<i64>,
}

/// Cursor pagination, with the `offset` older clients use (not with `after`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct OffsetPageQuery {
    /// Page size, 1 to 1000 (100 by default).
    limit: Option<u32>,
    /// The `next_after` of the previous page: the id of its last row.
    after: Option<i64>,
    /// Rows to skip (compatibility; `after` is stable while rows are added).
    offset: Option<u64>,
}

/// Cursor pagination of a list keyed by a text id (customer id, invoice number…).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct KeyPageQuery {
    /// Page size, 1 to 1000 (100 by default).
    limit: Option<u32>,
    /// The `next_after` of the previous page.
    after: Option<String>,
    /// Rows to skip (compatibility; not with `after`).
    offset: Option<u64>,
}

/// Cursor pagination of a list keyed by a text id, without `offset`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct KeyCursorQuery {
    /// Page size, 1 to 1000 (100 by default).
    limit: Option<u32>,
    /// The `next_after` of the previous page.
    after: Option<String>,
}

/// A `status` filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct StatusQuery {
    /// Only rows of this status (comma-separated, or repeated, where the list takes several).
    status: Option<String>,
}

/// A search in a list of payments.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct SearchQuery {
    /// Words that must all be found: payer name or account, remittance,
    /// references, an invoice number among the candidates or allocations,
    /// or an amount (`1250,00`, `1,250.00`) in the payment's currency.
    q: Option<String>,
}

/// The answer of `healthz`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct Health {
    /// `ok` or `degraded`.
    status: String,
    /// `ok` or `unavailable`.
    database: String,
    tenants: u64,
    version: String,
}

/// What an action on a row answers: the row's id under the name of its kind
/// (`payment`, `allocation`, `outbox`, `quarantine`) and its new `status`,
/// with the ids of the allocations made where there are some.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct ActionDone {
    payment: Option<i64>,
    allocation: Option<i64>,
    outbox: Option<i64>,
    quarantine: Option<i64>,
    allocations: Option<Vec<i64>>,
    status: Option<String>,
    /// Release of a held export: the import and its label.
    import: Option<i64>,
    label: Option<String>,
}

/// A payment with its allocations (undone ones included).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct PaymentDetail {
    payment: relance_store::StoredPayment,
    allocations: Vec<relance_store::StoredAllocation>,
}

/// The document, built from the routes of `api::api_routes`.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let (_, paths) = super::api_routes().split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(paths);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    describe_responses(&mut doc);
    doc
}

/// OpenAPI requires a description on every response: those the handlers
/// leave out get their status's reason phrase ("OK", "Conflict"…).
fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
        for op in ops.into_iter().flatten() {
            for (code, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    let reason = code.parse::<u16>().ok().and_then(|c| axum::http::StatusCode::from_u16(c).ok());
                    r.description = reason.and_then(|s| s.canonical_reason()).unwrap_or("Answer").to_string();
                }
            }
        }
    }
}

/// The document as served, serialized once.
static DOCUMENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| document().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI 3 document of this API", body = Object)))]
pub(super) async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// Pages through the document's tests, in `tests` beside.
#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
