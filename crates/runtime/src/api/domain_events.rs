//! The tenant's domain events (docs/events.md) through the API: a JSON page
//! after an id, and a Server-Sent Events stream that resumes after the
//! `Last-Event-ID` header (or `?after=`). Both read the `domain_events`
//! table the webhooks are delivered from; the stream polls it every
//! [`crate::events::POLL_INTERVAL`] and sends a keep-alive comment when idle.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, Items, Params, authorize, blocking, limit, number, openapi, params};
use relance_domain::TenantId;
use relance_store::{DomainEvent, Store};

/// Events read per query of the stream.
const STREAM_PAGE: usize = 100;

/// The tenant's domain events after `after`, oldest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/events/domain", tag = "data", description = "Domain events (docs/events.md) after the id `after`, oldest first; the same documents webhooks receive.", params(openapi::TenantPath, openapi::PageQuery), responses((status = 200, body = Items<DomainEvent, i64>), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn domain_events(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let (after, l) = (number(&p, "after", 0i64)?, limit(&p)?);
    let store = st.rt.store.clone();
    let rows = blocking(move || store.events_after(&tenant, after, l as usize + 1)).await?;
    Ok(Json(Items::cut(rows, l, |e| e.id)).into_response())
}

/// The tenant's domain events as they happen (Server-Sent Events).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/events/stream", tag = "data", description = "Server-Sent Events: each message has `id:` the event id, `event:` its type and `data:` the event document. Resumes after the `Last-Event-ID` header, else after `?after=`; with neither, starts after the latest event (new events only).", params(openapi::TenantPath, ("after" = Option<i64>, Query, description = "Resume after this event id"), ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (what browsers send on reconnecting)")), responses((status = 200, description = "An endless `text/event-stream`", body = String, content_type = "text/event-stream"), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn event_stream(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    let header = headers.get("last-event-id").map(|v| v.to_str().unwrap_or_default().trim().to_string());
    let after = match header {
        Some(h) => h
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("header `Last-Event-ID`: `{h}` is not an event id")))?,
        None if p.contains_key("after") => number(&p, "after", 0i64)?,
        None => {
            let (store, t) = (st.rt.store.clone(), tenant.clone());
            blocking(move || store.last_event_id(&t)).await?
        }
    };
    let state = Cursor { store: st.rt.store.clone(), tenant, after, buffer: VecDeque::new() };
    let events = futures_util::stream::unfold(state, next_event);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

struct Cursor {
    store: Store,
    tenant: TenantId,
    after: i64,
    buffer: VecDeque<DomainEvent>,
}

/// The next SSE message: a buffered event, else the next page once there
/// is one. Ends the stream on a storage error (the client reconnects with
/// `Last-Event-ID` and loses nothing).
async fn next_event(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if let Some(ev) = c.buffer.pop_front() {
            c.after = ev.id;
            let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
            let msg = Event::default().id(ev.id.to_string()).event(ev.event_type.name()).data(data);
            return Some((Ok(msg), c));
        }
        let (store, t, after) = (c.store.clone(), c.tenant.clone(), c.after);
        match tokio::task::spawn_blocking(move || store.events_after(&t, after, STREAM_PAGE)).await {
            Ok(Ok(page)) if !page.is_empty() => c.buffer.extend(page),
            Ok(Ok(_)) => tokio::time::sleep(crate::events::POLL_INTERVAL).await,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "event stream ends on a storage error");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "event stream ends: its reading task failed");
                return None;
            }
        }
    }
}
