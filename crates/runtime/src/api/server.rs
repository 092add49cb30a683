//! Serving the API: the accept loop and the life of each connection.
//!
//! - **Connection cap**: the loop takes one of `max_connections` slots before
//!   it accepts, so connections beyond the cap wait in the listen backlog
//!   until a slot is free.
//! - **Idle and slow clients**: each connection has a [`Clock`] with three
//!   phases. *Idle* (no request in progress, nothing received since): closed
//!   after `idle_timeout`. *Head* (bytes of a request received, its head not
//!   complete): closed `header_read_timeout` after the first byte. *Busy* (a
//!   request is being handled): no connection timer; the body has its own
//!   deadline (`layers::limit_body`). A closed connection gets no answer: no
//!   request was handed to the API yet.
//! - **Parse errors in the JSON shape**: hyper answers a request head it
//!   cannot parse (not HTTP, a URI over 64 KiB, too many header fields)
//!   itself, with an empty body, before any layer runs. [`ConnIo`] recognises
//!   those answers on their way out and gives them the JSON error body.
//! - **Shutdown**: connections with no request in progress are closed at
//!   once; a request in progress is finished, then its connection closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use relance_config::HttpSettings;

/// How often, at most, "connection cap reached" is logged.
const CAP_LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `app` on `listener` under the limits of `http` until `cancel` fires,
/// then finishes the requests in progress.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    http: HttpSettings,
    cancel: CancellationToken,
) -> io::Result<()> {
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(http.max_connections));
    let connections = TaskTracker::new();
    let mut cap_logged: Option<Instant> = None;
    loop {
        if slots.available_permits() == 0 && cap_logged.is_none_or(|t| t.elapsed() >= CAP_LOG_EVERY) {
            tracing::warn!(max_connections = http.max_connections, "connection cap reached: new connections wait");
            cap_logged = Some(Instant::now());
        }
        let slot = tokio::select! {
            _ = cancel.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // E.g. out of file descriptors: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let (app, http, cancel) = (app.clone(), http.clone(), cancel.clone());
        connections.spawn(async move {
            serve_connection(stream, peer, app, &http, cancel).await;
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One connection: hyper's HTTP/1.1 server under the [`Clock`]'s watch.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    http: &HttpSettings,
    cancel: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let clock = Clock::new(http.header_read_timeout, http.idle_timeout);
    let mut expiry = clock.subscribe();
    let io = TokioIo::new(ConnIo { inner: stream, clock: clock.clone(), rewrite: None });
    let service = hyper::service::service_fn({
        let clock = clock.clone();
        move |req: hyper::Request<Incoming>| {
            let (clock, app) = (clock.clone(), app.clone());
            clock.set(Phase::Busy);
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            async move {
                let resp = app.oneshot(req).await;
                clock.set(Phase::Idle);
                resp
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // The Clock times heads; hyper's own timer would also close idle connections at that time.
        .header_read_timeout(None)
        // Every write then starts with what hyper wrote first: ConnIo sees whole response heads.
        .writev(false)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        phase = watch_clock(&mut expiry) => {
            tracing::debug!(%peer, ?phase, "closing a connection that timed out");
        }
        _ = cancel.cancelled() => {
            if clock.phase() == Phase::Busy {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = watch_clock(&mut expiry) => {}
                }
            }
        }
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in progress and nothing received since the last one.
    Idle,
    /// A request's first bytes are in, its head is not complete.
    Head,
    /// A request is handed to the API.
    Busy,
}

/// A connection's phase and the instant it expires.
#[derive(Clone)]
struct Clock {
    state: Arc<watch::Sender<(Phase, Instant)>>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Clock {
    fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Clock {
        let (tx, _) = watch::channel((Phase::Idle, Instant::now() + idle_timeout));
        Clock { state: Arc::new(tx), header_read_timeout, idle_timeout }
    }

    fn subscribe(&self) -> watch::Receiver<(Phase, Instant)> {
        self.state.subscribe()
    }

    fn phase(&self) -> Phase {
        self.state.borrow().0
    }

    fn set(&self, phase: Phase) {
        let timeout = match phase {
            Phase::Idle => self.idle_timeout,
            Phase::Head => self.header_read_timeout,
            Phase::Busy => Duration::ZERO,
        };
        self.state.send_replace((phase, Instant::now() + timeout));
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn received(&self) {
        let header_read_timeout = self.header_read_timeout;
        self.state.send_if_modified(|s| {
            if s.0 != Phase::Idle {
                return false;
            }
            *s = (Phase::Head, Instant::now() + header_read_timeout);
            true
        });
    }
}

/// Resolves with the phase in which the connection expired.
async fn watch_clock(rx: &mut watch::Receiver<(Phase, Instant)>) -> Phase {
    loop {
        let (phase, deadline) = *rx.borrow_and_update();
        if phase == Phase::Busy {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                if !rx.has_changed().unwrap_or(false) {
                    return phase;
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// The connection's socket as hyper sees it: reads tell the [`Clock`] that
/// bytes arrived; writes give hyper's own parse-error answers a JSON body.
struct ConnIo {
    inner: TcpStream,
    clock: Clock,
    /// A rewritten answer being written, and how many of hyper's bytes it stands for.
    rewrite: Option<(Vec<u8>, usize, usize)>,
}

impl AsyncRead for ConnIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.clock.received();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.rewrite.is_none()
            && let Some((json_answer, replaced)) = json_parse_error(buf)
        {
            self.rewrite = Some((json_answer, 0, replaced));
        }
        let this = &mut *self;
        let Some((bytes, written, replaced)) = &mut this.rewrite else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let replaced = *replaced;
        this.rewrite = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// When `buf` starts with an answer hyper wrote itself for a request it could
/// not parse (a 4xx head with `content-length: 0` and no content type: every
/// answer of the API has one), returns that answer with the JSON error body,
/// and the length of the head it replaces.
fn json_parse_error(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    if !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.0 4")) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("\r\ncontent-type:") {
        return None;
    }
    let status = StatusCode::from_bytes(buf.get(9..12)?).ok()?;
    let message = match status {
        StatusCode::URI_TOO_LONG => "the request URI is longer than 65534 bytes",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request has too many or too large header fields",
        _ => "the request is not valid HTTP/1.1",
    };
    let body = super::ApiError::from_status(status, message).json_body();
    let mut out = String::with_capacity(end + body.len() + 64);
    for line in head.trim_end().split("\r\n") {
        if line.eq_ignore_ascii_case("content-length: 0") {
            out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some((out.into_bytes(), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_parse_error_answers_get_the_json_body() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 19:09:56 GMT\r\n\r\n";
        let (out, replaced) = json_parse_error(hyper).expect("recognised");
        assert_eq!(replaced, hyper.len());
        let out = String::from_utf8(out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-type: application/json\r\n")
        );
        assert!(head.contains(&format!("content-length: {}", body.len())) && head.contains("date: Sun"), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "uri_too_long");
    }

    #[test]
    fn answers_of_the_api_are_left_alone() {
        for ok in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{",
            b"{\"items\": []}",
        ] {
            assert!(json_parse_error(ok).is_none(), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[tokio::test]
    async fn the_clock_expires_idle_and_slow_heads_but_not_busy_connections() {
        let ms = Duration::from_millis;
        let clock = Clock::new(ms(200), ms(400));
        let mut rx = clock.subscribe();
        let start = Instant::now();
        assert_eq!(watch_clock(&mut rx).await, Phase::Idle);
        assert!(start.elapsed() >= ms(400) && start.elapsed() < ms(1500), "{:?}", start.elapsed());

        clock.set(Phase::Idle);
        tokio::time::sleep(ms(100)).await;
        let first_byte = Instant::now();
        clock.received();
        tokio::time::sleep(ms(150)).await;
        clock.received(); // more bytes of the same head do not extend its time
        assert_eq!(watch_clock(&mut rx).await, Phase::Head);
        let took = first_byte.elapsed();
        assert!(took >= ms(200) && took < ms(340), "expired {took:?} after the first byte");

        clock.set(Phase::Busy);
        let waited = tokio::time::timeout(ms(800), watch_clock(&mut rx)).await;
        assert!(waited.is_err(), "a busy connection does not expire");
    }
}
