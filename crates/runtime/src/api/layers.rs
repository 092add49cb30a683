//! The API's protective layers, outermost first:
//!
//! - [`json_errors`] puts every error answer that is not JSON yet (axum's
//!   rejections: 400 bad path or query, 405, 413…) in the documented shape;
//! - [`log_failed_auth`] logs each 401 and 403 with the tenant of the path and
//!   the client's address (never the token);
//! - [`rate_limit`] gives each API token a token bucket (GCRA), and requests
//!   without a known token (they can only fail authentication, or read
//!   `/metrics`) one per client address: over it, 429 with `Retry-After`;
//! - [`limit_body`] refuses a body announced larger than the limit (413,
//!   before reading it) and gives the body a read deadline ([`DeadlineBody`]);
//!   handlers read bodies through [`super::RequestBody`], which answers 413 and
//!   408 for the limit and the deadline.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, Sleep};

use super::{ApiError, AuthFailure, bearer_token};
use relance_config::{HttpSettings, RateLimit, token_digest};

/// Error bodies longer than this are not read back into a message.
const MAX_ERROR_TEXT: usize = 4096;
/// Client-address buckets are pruned of full (idle) buckets past this many.
const MAX_ADDRESS_BUCKETS: usize = 10_000;

/// Rewrites an error answer that is not JSON into the JSON error shape, with
/// the original text (if any) as the message; `Allow`, `Retry-After` and
/// `WWW-Authenticate` are kept.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok());
    let text = match allow {
        Some(allow) if text.is_empty() && status == StatusCode::METHOD_NOT_ALLOWED => {
            format!("this route does not accept {method} (allowed: {allow})")
        }
        _ => text,
    };
    let mut out = ApiError::from_status(status, text).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Logs a failed authentication (401, 403) with the tenant named in the path,
/// the client's address, the method and path, and why; the token never.
pub(super) async fn log_failed_auth(req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if let Some(failure) = resp.extensions().get::<AuthFailure>() {
        let tenant = path.strip_prefix("/api/v1/tenants/").and_then(|r| r.split('/').next()).unwrap_or("");
        let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into());
        tracing::warn!(
            status = resp.status().as_u16(),
            tenant,
            peer = %peer,
            %method,
            path = %path,
            reason = %failure.reason,
            token_tenant = failure.token_tenant.as_ref().map(|t| t.as_str()).unwrap_or("-"),
            "API authentication failed"
        );
    }
    resp
}

/// Who a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    /// A configured API token, by digest.
    Token([u8; 32]),
    /// No known token: the client's address.
    Address(IpAddr),
}

/// Token buckets as GCRA: each client's theoretical arrival time. A request
/// is allowed when that time is at most `tolerance` ahead of now, and pushes
/// it `interval` further.
pub(super) struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    limit: RateLimit,
    tokens: Mutex<HashMap<[u8; 32], Instant>>,
    addresses: Mutex<HashMap<IpAddr, Instant>>,
}

impl RateLimiter {
    /// One bucket per known token digest (so the map never grows) and one
    /// per address for requests without a known token.
    pub(super) fn new(limit: RateLimit, known: impl IntoIterator<Item = [u8; 32]>) -> RateLimiter {
        let per_second = limit.per_second.max(1);
        let interval = Duration::from_secs(1) / per_second;
        let tolerance = interval.saturating_mul(limit.burst.max(1) - 1);
        let now = Instant::now();
        RateLimiter {
            interval,
            tolerance,
            limit,
            tokens: Mutex::new(known.into_iter().map(|d| (d, now)).collect()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, req: &Request) -> Option<Client> {
        if let Ok(token) = bearer_token(req.headers()) {
            let digest = token_digest(token);
            if self.tokens.lock().map(|m| m.contains_key(&digest)).unwrap_or(false) {
                return Some(Client::Token(digest));
            }
        }
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| Client::Address(c.0.ip()))
    }

    /// `Err(wait)` when `client` is over its budget at `now`.
    fn check(&self, client: Client, now: Instant) -> Result<(), Duration> {
        let step = |tat: &mut Instant| -> Result<(), Duration> {
            let start = (*tat).max(now);
            let ahead = start - now;
            if ahead > self.tolerance {
                return Err(ahead - self.tolerance);
            }
            *tat = start + self.interval;
            Ok(())
        };
        match client {
            Client::Token(d) => {
                let mut map = self.tokens.lock().map_err(|_| Duration::ZERO)?;
                map.get_mut(&d).map_or(Ok(()), step)
            }
            Client::Address(ip) => {
                let mut map = self.addresses.lock().map_err(|_| Duration::ZERO)?;
                if map.len() >= MAX_ADDRESS_BUCKETS && !map.contains_key(&ip) {
                    map.retain(|_, tat| *tat > now);
                }
                step(map.entry(ip).or_insert(now))
            }
        }
    }
}

/// Answers 429 with `Retry-After` (whole seconds, at least 1) to a client over its budget.
/// `/healthz` is never limited: a flood of bad requests from a proxy's
/// address must not make the proxy's health checks fail.
pub(super) async fn rate_limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let client = if req.uri().path() == "/healthz" { None } else { limiter.client(&req) };
    let Some(client) = client else {
        return next.run(req).await;
    };
    match limiter.check(client, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let secs = secs.max(1);
            let RateLimit { per_second, burst } = limiter.limit;
            let who = match client {
                Client::Token(_) => "this token",
                Client::Address(_) => "this address",
            };
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "{who} is over its rate limit ({per_second} requests per second, bursts of {burst}); retry in {secs} s"
                ),
            )
            .into_response();
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
    }
}

/// The body limits a handler reads under (an extension set by [`limit_body`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    pub(super) max_bytes: usize,
    pub(super) read_timeout: Duration,
}

/// Refuses a body announced (`Content-Length`) larger than the limit before
/// reading it, and wraps any other body in a [`DeadlineBody`].
pub(super) async fn limit_body(State(http): State<Arc<HttpSettings>>, mut req: Request, next: Next) -> Response {
    let limits = BodyLimits { max_bytes: http.max_body_bytes, read_timeout: http.body_read_timeout };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.max_bytes as u64) {
        return ApiError::payload_too_large(limits.max_bytes).into_response();
    }
    req.extensions_mut().insert(limits);
    let req = if req.body().is_end_stream() {
        req
    } else {
        let deadline = Instant::now() + limits.read_timeout;
        req.map(|b| Body::new(DeadlineBody { inner: b, sleep: Box::pin(tokio::time::sleep_until(deadline)) }))
    };
    next.run(req).await
}

/// The body was not received in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub(super) struct BodyDeadline;

/// A request body that fails with [`BodyDeadline`] once its deadline has
/// passed: one deadline for the whole body, not per chunk, so a client
/// trickling bytes cannot hold a request open.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::BoxError>>> {
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyDeadline))));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst }, [[7u8; 32]])
    }

    #[test]
    fn a_token_gets_its_burst_then_its_rate() {
        let l = limiter(10, 3);
        let me = Client::Token([7u8; 32]);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.check(me, t0), Ok(()), "request {i} of the burst");
        }
        assert_eq!(l.check(me, t0), Err(Duration::from_millis(100)), "the 4th waits one interval");
        assert_eq!(l.check(me, t0 + Duration::from_millis(100)), Ok(()));
        assert!(l.check(me, t0 + Duration::from_millis(100)).is_err());
        // A second of silence refills the bucket (up to the burst, not beyond).
        let t1 = t0 + Duration::from_secs(2);
        for _ in 0..3 {
            assert_eq!(l.check(me, t1), Ok(()));
        }
        assert!(l.check(me, t1).is_err());
    }

    #[test]
    fn unknown_tokens_have_no_bucket_and_addresses_are_separate() {
        let l = limiter(1, 1);
        let t0 = Instant::now();
        assert_eq!(l.check(Client::Token([9u8; 32]), t0), Ok(()));
        assert_eq!(l.check(Client::Token([9u8; 32]), t0), Ok(()), "no bucket: the handler answers 401");
        let a = Client::Address(IpAddr::from([10, 0, 0, 1]));
        let b = Client::Address(IpAddr::from([10, 0, 0, 2]));
        assert_eq!(l.check(a, t0), Ok(()));
        assert!(l.check(a, t0).is_err());
        assert_eq!(l.check(b, t0), Ok(()));
    }
}
