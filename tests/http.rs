//! HTTP hardening of the API, against the real binary over raw TCP: idle and
//! slow clients are disconnected, connections are capped, bodies are limited
//! in size and time, every error (the framework's included) has the JSON
//! error shape, required bodies are required, repeated query parameters are
//! refused, failed authentication is logged, tokens are rate limited.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Daemon, Deployment};

const ACME: &str = "acme-secret-token-1";
const BETA: &str = "beta-secret-token-1";

/// Two tenants without connectors; `http` is the `[http]` table's body.
fn deployment(http: &str) -> Deployment {
    let global = if http.is_empty() { String::new() } else { format!("[http]\n{http}\n") };
    Deployment::new(
        &global,
        &[("acme", &format!("[api]\ntokens = [\"{ACME}\"]\n")), ("beta", &format!("[api]\ntokens = [\"{BETA}\"]\n"))],
    )
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// Asserts the documented error shape and returns the error's message.
    fn assert_error(&self, status: u16, code: &str) -> String {
        let j = self.json();
        assert_eq!(self.status, status, "{self:?} {j}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        assert_eq!(j["error"]["code"].as_str(), Some(code), "{j}");
        let message = j["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(!message.is_empty(), "{j}");
        message
    }
}

fn connect(d: &Daemon) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response (Content-Length bodies; otherwise up to the end of the
/// connection). A reset after the response was received is not an error.
fn read_answer(s: &mut TcpStream) -> Option<Answer> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
            if let Some(n) = length
                && raw.len() >= end + 4 + n
            {
                let body = raw[end + 4..end + 4 + n].to_vec();
                return Some(Answer { status, headers, body });
            }
            if length.is_none() && matches!(s.read(&mut buf), Ok(0) | Err(_)) {
                let body = raw[end + 4..].to_vec();
                return Some(Answer { status, headers, body });
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends raw bytes on a new connection and reads the answer.
fn exchange(d: &Daemon, request: &[u8]) -> Answer {
    let mut s = connect(d);
    let _ = s.write_all(request);
    read_answer(&mut s)
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(&request[..80.min(request.len())])))
}

fn get(d: &Daemon, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    exchange(d, format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes())
}

fn post(d: &Daemon, path: &str, token: &str, body: &str) -> Answer {
    exchange(
        d,
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// Waits until the server closes `s` (EOF or reset), at most `limit`; returns how long it took.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn idle_and_slow_clients_are_disconnected_within_the_timeouts() {
    let d = deployment("header_read_timeout = \"1s\"\nidle_timeout = \"3s\"");
    let daemon = d.daemon();

    // A connection that never sends anything: closed after the idle timeout.
    let mut idle = connect(&daemon);
    let took = closed_within(&mut idle, Duration::from_secs(10)).expect("idle connection still open after 10 s");
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_secs(6), "idle closed after {took:?}");

    // One header byte every 300 ms: closed after the header read timeout, long before idle.
    let mut slow = connect(&daemon);
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let took = closed_within(&mut slow, Duration::from_secs(10)).expect("slow-header connection still open after 10 s");
    assert!(took < Duration::from_millis(2500), "slow header closed after {took:?}");
    drop(slow);
    trickle.join().unwrap();

    // A keep-alive connection after its response: closed after the idle timeout.
    let mut ka = connect(&daemon);
    ka.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut ka).expect("answer").status, 200);
    let took = closed_within(&mut ka, Duration::from_secs(10)).expect("keep-alive connection still open after 10 s");
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_secs(6), "keep-alive closed after {took:?}");
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let d = deployment("max_connections = 2");
    let daemon = d.daemon();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&daemon);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_answer(&mut s).expect("answer").status, 200);
        held.push(s);
    }
    let mut third = connect(&daemon);
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    third.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    let mut buf = [0u8; 64];
    match third.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a third connection was served beyond the cap of 2: {other:?}"),
    }
    drop(held.pop());
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_answer(&mut third).expect("served once a slot is free").status, 200);
}

#[test]
fn an_oversized_body_gets_a_json_413() {
    let d = deployment("");
    let daemon = d.daemon();
    let path = "/api/v1/tenants/acme/payments/1/accept";

    // 10 MB announced by Content-Length: refused before it is read.
    let mut s = connect(&daemon);
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ACME}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    )
    .unwrap();
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..(10_000_000 / chunk.len()) {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let answer = read_answer(&mut s).expect("an answer to a 10 MB body");
    let message = answer.assert_error(413, "payload_too_large");
    assert!(message.contains("1048576"), "{message}");
    drop(s);
    sender.join().unwrap();

    // 2 MiB sent chunked (no length announced): refused once the limit is crossed.
    let mut s = connect(&daemon);
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ACME}\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..32 {
        if write!(s, "{:x}\r\n", chunk.len()).is_err() || s.write_all(&chunk).is_err() || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    read_answer(&mut s).expect("an answer to a 2 MiB chunked body").assert_error(413, "payload_too_large");
}

#[test]
fn a_slow_body_gets_a_json_408() {
    let d = deployment("body_read_timeout = \"1s\"");
    let daemon = d.daemon();
    let mut s = connect(&daemon);
    write!(
        s,
        "POST /api/v1/tenants/acme/payments/1/accept HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ACME}\r\nContent-Length: 100\r\n\r\n{{\"candi"
    )
    .unwrap();
    let start = Instant::now();
    let answer = read_answer(&mut s).expect("an answer to a body that never ends");
    answer.assert_error(408, "request_timeout");
    assert!(start.elapsed() < Duration::from_secs(4), "answered after {:?}", start.elapsed());
}

#[test]
fn framework_errors_have_the_json_error_shape() {
    let d = deployment("");
    let daemon = d.daemon();
    // 400: a path id that is not a number.
    let m = get(&daemon, "/api/v1/tenants/acme/payments/abc", Some(ACME)).assert_error(400, "bad_request");
    assert!(m.contains("abc"), "{m}");
    // 404: no such route.
    get(&daemon, "/api/v1/nothing-here", None).assert_error(404, "not_found");
    // 405: a route that exists, with another method; `Allow` is kept.
    let a = exchange(&daemon, b"DELETE /api/v1/tenants/acme/invoices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    a.assert_error(405, "method_not_allowed");
    assert_eq!(a.header("allow"), Some("GET,HEAD"), "{a:?}");
    let a = get(&daemon, "/api/v1/tenants/acme/payments/1/accept", Some(ACME));
    a.assert_error(405, "method_not_allowed");
    // 414: a URI over the HTTP parser's limit (64 KiB).
    let long = format!("/api/v1/tenants/acme/invoices?customer={}", "C".repeat(70_000));
    get(&daemon, &long, Some(ACME)).assert_error(414, "uri_too_long");
    // 431: more header fields than the parser accepts.
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    exchange(&daemon, format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
        .assert_error(431, "header_fields_too_large");
    // 400: not HTTP at all.
    exchange(&daemon, b"HELLO THERE\r\n\r\n").assert_error(400, "bad_request");
}

#[test]
fn accept_requires_the_candidate() {
    let d = deployment("");
    let daemon = d.daemon();
    let path = "/api/v1/tenants/acme/payments/1/accept";
    let m = post(&daemon, path, ACME, "").assert_error(400, "bad_request");
    assert!(m.contains("candidate"), "{m}");
    let m = post(&daemon, path, ACME, "{}").assert_error(400, "bad_request");
    assert!(m.contains("candidate"), "{m}");
    // Naming it reaches the store (no such payment here).
    post(&daemon, path, ACME, "{\"candidate\": 0}").assert_error(409, "conflict");
}

#[test]
fn a_repeated_query_parameter_is_a_json_400_naming_it_unless_it_is_a_list() {
    let d = deployment("");
    let daemon = d.daemon();
    let m = get(&daemon, "/api/v1/tenants/acme/invoices?limit=1&limit=2", Some(ACME)).assert_error(400, "bad_request");
    assert!(m.contains("`limit`"), "{m}");
    // `status` of promises, tasks and outbox is one value.
    let m = get(&daemon, "/api/v1/tenants/acme/outbox?status=sent&status=failed", Some(ACME))
        .assert_error(400, "bad_request");
    assert!(m.contains("`status`"), "{m}");
    // `status` of invoices, payments and messages is a comma-separated list: repeating it adds to it.
    let a = get(&daemon, "/api/v1/tenants/acme/payments?status=new&status=bogus", Some(ACME));
    let m = a.assert_error(400, "bad_request");
    assert!(m.contains("`bogus`"), "the repeated value is read: {m}");
    assert_eq!(get(&daemon, "/api/v1/tenants/acme/payments?status=new&status=matched", Some(ACME)).status, 200);
}

#[test]
fn failed_authentication_is_logged_with_tenant_and_address_but_not_the_token() {
    let d = deployment("");
    let daemon = d.daemon();
    let mut s = connect(&daemon);
    let port_401 = s.local_addr().unwrap().port();
    s.write_all(
        b"GET /api/v1/tenants/acme/invoices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-secret-value\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    read_answer(&mut s).expect("answer").assert_error(401, "unauthorized");
    let mut s = connect(&daemon);
    let port_403 = s.local_addr().unwrap().port();
    write!(s, "GET /api/v1/tenants/acme/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {BETA}\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_answer(&mut s).expect("answer").assert_error(403, "forbidden");

    let mut log = String::new();
    common::wait_for(Duration::from_secs(5), "the log lines", || {
        log = daemon.log();
        log.contains(&format!("127.0.0.1:{port_401}")) && log.contains(&format!("127.0.0.1:{port_403}"))
    });
    let line = |port: u16| log.lines().find(|l| l.contains(&format!("127.0.0.1:{port}"))).unwrap_or_default();
    let (l401, l403) = (line(port_401), line(port_403));
    assert!(l401.contains("WARN") && l401.contains("acme") && l401.contains("401"), "{l401}");
    assert!(l403.contains("WARN") && l403.contains("acme") && l403.contains("403") && l403.contains("beta"), "{l403}");
    assert!(
        !log.contains("wrong-secret-value") && !log.contains(BETA) && !log.contains(ACME),
        "a token was logged:\n{log}"
    );
}

#[test]
fn the_rate_limit_answers_a_json_429_with_retry_after_per_token() {
    let d = deployment("rate_limit_per_second = 1\nrate_limit_burst = 3");
    let daemon = d.daemon();
    let path = "/api/v1/tenants/acme/invoices";
    for i in 0..3 {
        assert_eq!(get(&daemon, path, Some(ACME)).status, 200, "request {i} is within the burst");
    }
    let a = get(&daemon, path, Some(ACME));
    a.assert_error(429, "too_many_requests");
    let retry: u64 = a.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    // Another token has its own budget.
    assert_eq!(get(&daemon, "/api/v1/tenants/beta/invoices", Some(BETA)).status, 200);
    // Requests without a known token share their address's budget; /healthz is never limited.
    for i in 0..3 {
        assert_eq!(get(&daemon, path, Some("guessed-token-123")).status, 401, "request {i} without a known token");
    }
    get(&daemon, path, Some("guessed-token-123")).assert_error(429, "too_many_requests");
    for _ in 0..5 {
        assert_eq!(get(&daemon, "/healthz", None).status, 200);
    }
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(get(&daemon, path, Some(ACME)).status, 200, "allowed again after Retry-After");
}

#[test]
fn sigterm_is_not_held_up_by_an_idle_client() {
    let d = deployment("");
    let mut daemon = d.daemon();
    let _idle = connect(&daemon);
    let mut busy = connect(&daemon);
    busy.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut busy).expect("answer").status, 200);
    std::thread::sleep(Duration::from_millis(200));
    let status = daemon.terminate(Duration::from_secs(10)).expect("relance did not exit within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}\n{}", daemon.log());
}

#[test]
fn the_openapi_document_is_served_without_a_token_and_every_operation_is_routed() {
    let d = deployment("");
    let daemon = d.daemon();
    let answer = get(&daemon, "/api/v1/openapi.json", None);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let doc = answer.json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{tenant}", "acme").replace("{id}", "1").replace("{number}", "F-1");
        assert!(!concrete.contains('{'), "{path}: a path parameter the test does not fill");
        for method in ["get", "post"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let a =
                if method == "get" { get(&daemon, &concrete, Some(ACME)) } else { post(&daemon, &concrete, ACME, "") };
            // The handler answered: not the router's 404 or 405.
            assert_ne!(a.status, 405, "{method} {path}: {a:?}");
            let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
            assert!(!(a.status == 404 && message == "no such route"), "{method} {path} is documented but not routed");
        }
    }
    assert!(operations >= 53, "{operations} operations");
}

/// The object schema `s` stands for in `doc` (following a `$ref`).
fn resolved<'a>(doc: &'a serde_json::Value, s: &'a serde_json::Value) -> &'a serde_json::Value {
    match s["$ref"].as_str() {
        Some(r) => r.trim_start_matches("#/").split('/').fold(doc, |v, p| &v[p]),
        None => s,
    }
}

/// Checks `value` against the object schema `schema`: every key it has is
/// declared, every required one is there; the same for its objects and arrays
/// of objects whose schema has properties.
fn conforms(doc: &serde_json::Value, schema: &serde_json::Value, value: &serde_json::Value, at: &str) {
    let schema = resolved(doc, schema);
    let Some(props) = schema["properties"].as_object() else { return };
    let obj = value.as_object().unwrap_or_else(|| panic!("{at}: not an object: {value}"));
    for k in obj.keys() {
        assert!(props.contains_key(k), "{at}: `{k}` is answered but not in the schema {schema}");
    }
    for r in schema["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
        assert!(obj.contains_key(r), "{at}: required `{r}` is missing from {value}");
    }
    for (k, v) in obj {
        let p = resolved(doc, &props[k]);
        match v {
            serde_json::Value::Object(_) => conforms(doc, p, v, &format!("{at}.{k}")),
            serde_json::Value::Array(items) => {
                for (i, x) in items.iter().enumerate().filter(|(_, x)| x.is_object()) {
                    conforms(doc, &p["items"], x, &format!("{at}.{k}[{i}]"));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_json_answer_matches_its_documented_schema_and_reports_answer_csv() {
    let d = deployment("");
    let daemon = d.daemon();
    let doc = get(&daemon, "/api/v1/openapi.json", None).json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        if path.contains("{id}") || path.contains("{number}") {
            continue;
        }
        let concrete = path.replace("{tenant}", "acme");
        let a = get(&daemon, &concrete, Some(ACME));
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        if a.status != 200 || schema.is_null() {
            continue;
        }
        assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
        conforms(&doc, schema, &a.json(), path);
        checked += 1;
        if path.contains("/reports/") {
            let csv = get(&daemon, &format!("{concrete}?format=csv"), Some(ACME));
            assert_eq!(csv.status, 200, "{path}?format=csv: {csv:?}");
            assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"), "{path}?format=csv");
        }
    }
    // the 16 lists, the 8 reports, the reply model
    assert!(checked >= 25, "{checked} answers checked");
}

#[test]
fn every_list_pages_by_cursor_and_refuses_a_bad_one() {
    let d = deployment("");
    let daemon = d.daemon();
    for list in [
        "invoices",
        "customers",
        "events",
        "quarantine",
        "connectors",
        "payments",
        "review",
        "messages",
        "promises",
        "tasks",
        "contacts",
        "plans",
        "outbox",
        "holds",
        "disputes",
        "customers/C1/notes",
    ] {
        let a = get(&daemon, &format!("/api/v1/tenants/acme/{list}?limit=5"), Some(ACME));
        assert_eq!(a.status, 200, "{list}: {a:?}");
        let j = a.json();
        assert!(j["items"].is_array(), "{list}: {j}");
        assert_eq!(j["next_after"], serde_json::Value::Null, "{list}: an empty list has no next page");
    }
    get(&daemon, "/api/v1/tenants/acme/payments?after=x", Some(ACME)).assert_error(400, "bad_request");
    get(&daemon, "/api/v1/tenants/acme/payments?after=3&offset=2", Some(ACME)).assert_error(400, "bad_request");
    let m = get(&daemon, "/api/v1/tenants/acme/invoices?after=F-404", Some(ACME)).assert_error(400, "bad_request");
    assert!(m.contains("F-404"), "{m}");
}
