//! Delivery of the domain events (docs/events.md) to the tenants' webhook
//! subscribers (`[[events.webhooks]]`).
//!
//! One task per subscriber reads the tenant's `domain_events` after its
//! cursor, in id order, and POSTs each event signed like every Relance
//! webhook ([`relance_connector::signing`]). The cursor moves only after a
//! 2xx answer; a failure retries the same event with exponential backoff
//! (1 s doubling up to the subscriber's `max_backoff`) and holds every later
//! event of the subscriber back, which is what keeps the order per
//! customer. A stop (even SIGKILL) between the POST and the cursor update
//! sends the event again with the same id: delivery is at least once, and
//! receivers drop repeats by `X-Relance-Event-Id`.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info_span, warn};

use relance_config::EventWebhook;
use relance_connector::signing::{EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use relance_domain::TenantId;
use relance_store::{DomainEvent, Store, StoreError};

use crate::daemon::Runtime;

/// How often an idle subscriber looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// Events read per query.
const PAGE: usize = 200;

/// Starts one delivery task per webhook subscriber of every tenant.
pub fn spawn_dispatchers(rt: &Runtime, tracker: &TaskTracker, cancel: &CancellationToken) {
    for t in &rt.settings.tenants {
        for w in &t.events.webhooks {
            let span = info_span!("events", tenant = %t.id, subscriber = %w.name);
            tracker.spawn(dispatch_loop(rt.store.clone(), t.id.clone(), w.clone(), cancel.clone()).instrument(span));
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Task(e.to_string()))?
}

/// Waits `d` unless cancelled first; false when cancelled.
async fn pause(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The wait before attempt `attempts + 1` of a failing event: 1 s doubling, at most `max`.
pub fn retry_delay(attempts: u32, max: Duration) -> Duration {
    let secs = 1u64.checked_shl(attempts.saturating_sub(1).min(30)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(max)
}

async fn dispatch_loop(store: Store, tenant: TenantId, hook: EventWebhook, cancel: CancellationToken) {
    let client = match reqwest::Client::builder().timeout(hook.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot build the HTTP client: events are not delivered");
            return;
        }
    };
    while !cancel.is_cancelled() {
        match round(&store, &tenant, &hook, &client, &cancel).await {
            Ok(true) => {}
            Ok(false) => {
                if !pause(POLL_INTERVAL, &cancel).await {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "event delivery round failed");
                if !pause(Duration::from_secs(1), &cancel).await {
                    return;
                }
            }
        }
    }
}

/// Delivers what is due; returns whether it made progress (so the caller
/// goes on at once rather than pausing).
async fn round(
    store: &Store,
    tenant: &TenantId,
    hook: &EventWebhook,
    client: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<bool, StoreError> {
    let (s, t, name) = (store.clone(), tenant.clone(), hook.name.clone());
    let state = blocking(move || s.subscription(&t, &name)).await?;
    if let Some(at) = state.next_attempt_at.as_deref().and_then(|a| DateTime::parse_from_rfc3339(a).ok()) {
        let wait = (at.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default();
        if !wait.is_zero() {
            // Short steps, so a cancellation is seen soon.
            pause(wait.min(POLL_INTERVAL), cancel).await;
            return Ok(false);
        }
    }
    let (s, t) = (store.clone(), tenant.clone());
    let events = blocking(move || s.events_after(&t, state.last_id, PAGE)).await?;
    if events.is_empty() {
        return Ok(false);
    }
    let mut attempts = state.attempts;
    for ev in events {
        if cancel.is_cancelled() {
            return Ok(true);
        }
        let wanted = hook.wants(ev.event_type);
        let sent = if wanted {
            tokio::select! {
                r = post(client, hook, &ev) => r,
                // Stopping mid-POST: not acknowledged, sent again after the restart.
                _ = cancel.cancelled() => return Ok(true),
            }
        } else {
            Ok(())
        };
        if let Err(error) = sent {
            attempts = attempts.saturating_add(1);
            let next =
                Utc::now() + chrono::Duration::from_std(retry_delay(attempts, hook.max_backoff)).unwrap_or_default();
            warn!(event = ev.id, attempts, %error, "event delivery failed; retried with backoff");
            let (s, t, name) = (store.clone(), tenant.clone(), hook.name.clone());
            blocking(move || s.event_delivery_failed(&t, &name, &error, next)).await?;
            return Ok(false);
        }
        let (s, t, name, id) = (store.clone(), tenant.clone(), hook.name.clone(), ev.id);
        blocking(move || s.ack_events(&t, &name, id, wanted)).await?;
        attempts = 0;
    }
    Ok(true)
}

/// One signed POST; `Err` with the reason unless the receiver answered 2xx.
async fn post(client: &reqwest::Client, hook: &EventWebhook, ev: &DomainEvent) -> Result<(), String> {
    let body = serde_json::to_vec(ev).map_err(|e| format!("cannot encode event {}: {e}", ev.id))?;
    let ts = Utc::now().timestamp();
    let sig = signature(hook.secret.as_bytes(), ts, &body);
    let resp = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sig)
        .header(EVENT_ID_HEADER, ev.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", hook.url))?;
    if resp.status().is_success() { Ok(()) } else { Err(format!("POST {}: HTTP {}", hook.url, resp.status())) }
}

/// `/metrics` lines of the subscribers: events not yet acknowledged (lag)
/// and failed attempts, read from the store (so they survive restarts).
pub fn render_metrics(store: &Store, tenants: &[(TenantId, Vec<String>)]) -> Result<String, StoreError> {
    let mut lag = String::new();
    let mut failures = String::new();
    for (tenant, subscribers) in tenants {
        for name in subscribers {
            let labels = format!(
                "tenant=\"{}\",subscriber=\"{}\"",
                crate::metrics::escape(tenant.as_str()),
                crate::metrics::escape(name)
            );
            let _ = writeln!(lag, "relance_event_subscriber_lag{{{labels}}} {}", store.subscription_lag(tenant, name)?);
            let st = store.subscription(tenant, name)?;
            let _ = writeln!(failures, "relance_event_delivery_failures_total{{{labels}}} {}", st.failures);
        }
    }
    if lag.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "# HELP relance_event_subscriber_lag Domain events the webhook subscriber has not acknowledged yet.\n\
         # TYPE relance_event_subscriber_lag gauge\n{lag}\
         # HELP relance_event_delivery_failures_total Failed webhook deliveries of domain events.\n\
         # TYPE relance_event_delivery_failures_total counter\n{failures}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    /// A receiver that answers 503 to its first `fail` requests, 200 after;
    /// records the event id of each request.
    fn receiver(fail: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let (mut id, mut len) = (String::new(), 0usize);
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    let lower = l.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("x-relance-event-id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let n = {
                    let mut l = log.lock().unwrap();
                    l.push(id);
                    l.len()
                };
                let status = if n <= fail { "503 Service Unavailable" } else { "200 OK" };
                let mut s = stream;
                let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_failed_delivery_is_retried_before_any_later_event() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _scratch) in relance_store::testing::stores(dir.path()) {
            a_failed_delivery_is_retried_before_any_later_event_on(&store).await;
        }
    }

    async fn a_failed_delivery_is_retried_before_any_later_event_on(store: &Store) {
        let t = TenantId::new("t").unwrap();
        for c in ["C1", "C2", "C1"] {
            store.record_event(&t, "relance", "handed_over", c, &serde_json::json!({})).unwrap();
        }
        let (url, seen) = receiver(1);
        let hook = EventWebhook {
            name: "crm".into(),
            url,
            secret: "k".into(),
            types: None,
            timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(1),
        };
        let client = reqwest::Client::new();
        let cancel = CancellationToken::new();
        assert!(!round(store, &t, &hook, &client, &cancel).await.unwrap(), "the first attempt fails");
        let st = store.subscription(&t, "crm").unwrap();
        assert_eq!((st.last_id, st.attempts, st.failures), (0, 1, 1));
        assert!(st.last_error.unwrap_or_default().contains("503"));
        // Not before its time: nothing is sent while the backoff runs.
        round(store, &t, &hook, &client, &cancel).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(round(store, &t, &hook, &client, &cancel).await.unwrap());
        assert_eq!(*seen.lock().unwrap(), ["1", "1", "2", "3"], "the failed event first, then the rest in order");
        let st = store.subscription(&t, "crm").unwrap();
        assert_eq!((st.last_id, st.attempts, st.delivered, st.failures), (3, 0, 3, 1));
        assert_eq!(store.subscription_lag(&t, "crm").unwrap(), 0);
        // A filter moves the cursor past the types it does not want, without a request.
        store.record_event(&t, "relance", "handed_over", "C3", &serde_json::json!({})).unwrap();
        let only = EventWebhook { types: Some(vec![relance_store::EventType::PaymentApplied]), ..hook };
        assert!(round(store, &t, &only, &client, &cancel).await.unwrap());
        assert_eq!(seen.lock().unwrap().len(), 4);
        assert_eq!(store.subscription(&t, "crm").unwrap().last_id, 4);
    }

    #[test]
    fn the_retry_delay_doubles_and_is_capped() {
        let max = Duration::from_secs(600);
        assert_eq!(retry_delay(1, max), Duration::from_secs(1));
        assert_eq!(retry_delay(2, max), Duration::from_secs(2));
        assert_eq!(retry_delay(5, max), Duration::from_secs(16));
        assert_eq!(retry_delay(20, max), max);
        assert_eq!(retry_delay(u32::MAX, max), max);
    }
}
