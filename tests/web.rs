//! The web workspace (issue #15) through the real daemon, on a copy of the
//! demo deployment (`config/demo`: tenants `demo` and `acme`, their users):
//!
//! * over plain HTTP: login, lock-out, tenant isolation (a page or action of
//!   another tenant is a 404), CSRF (a form without the session's token is
//!   refused), read-only users cannot act, logout ends the session, every
//!   action audited with the person's name;
//! * in Debian's headless Chromium through ChromeDriver (started by
//!   scripts/test.sh, `TEST_WEBDRIVER_URL`): a collector logs in, accepts a
//!   payment from the review queue and sees the invoice paid on the
//!   customer's page, and the reports page shows the API's DSO and aged
//!   balance. Screenshots of the pages go to `target/tmp/screenshots/`.
//! * `relance bench ui` on a small generated world: every page answers 200
//!   with content (timing is the release bench's business).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, free_port, repo_path, server_missing, wait_for};
use serde_json::Value;

const TOKEN: &str = "demo-token-0001";

/// A copy of `config/` (the demo and the scenarios), so its data directory
/// (`../../data/demo`) lands in the temporary directory.
fn demo_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&repo_path("config"), &dir.path().join("config"));
    dir
}

fn start(dir: &Path) -> Daemon {
    let port = free_port();
    let log = dir.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["run", "--config"])
        .arg(dir.join("config/demo/relance.toml"))
        .env("RELANCE__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("spawn daemon");
    let d = Daemon { child, port, log };
    wait_for(Duration::from_secs(30), "daemon health", || d.get("/healthz", None).0 == 200);
    // The demo statement is applied at start: two credits wait for review.
    wait_for(Duration::from_secs(30), "the demo review queue", || review(&d).len() == 2);
    d
}

fn review(d: &Daemon) -> Vec<Value> {
    let (status, page) = d.get_json("/api/v1/tenants/demo/review", Some(TOKEN));
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// An HTTP answer: status, headers (names lower-cased; `set-cookie` joined by newlines), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get("location").map(String::as_str).unwrap_or("")
    }
}

/// A browser-like client over plain HTTP/1.1: keeps cookies, sends forms.
struct Browser {
    port: u16,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(port: u16) -> Browser {
        Browser { port, cookies: BTreeMap::new() }
    }

    fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cookie = if cookie.is_empty() { String::new() } else { format!("Cookie: {}\r\n", cookie.join("; ")) };
        let body = form
            .map(|f| f.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&"))
            .unwrap_or_default();
        let content = if form.is_some() {
            format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len())
        } else {
            String::new()
        };
        write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}{content}Connection: close\r\n\r\n{body}")
            .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "set-cookie"
                    && let Some((name, rest)) = v.split_once('=')
                {
                    let value = rest.split(';').next().unwrap_or("").to_string();
                    if value.is_empty() || v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_string(), value);
                    }
                }
                headers.entry(k).and_modify(|e| e.push_str(&format!("\n{v}"))).or_insert(v);
            }
        }
        Answer { status, headers, body: body.to_string() }
    }

    fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send("POST", path, Some(form))
    }

    /// Logs in through the form; the answer to the login POST.
    fn login(&mut self, tenant: &str, name: &str, password: &str) -> Answer {
        let form = self.get("/login");
        assert_eq!(form.status, 200);
        let csrf = hidden(&form.body, "csrf");
        self.post("/login", &[("tenant", tenant), ("name", name), ("password", password), ("csrf", &csrf)])
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the first hidden input `name` of a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no `{name}` input in:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap_or("").to_string()
}

fn events(d: &Daemon) -> Vec<Value> {
    let (status, page) = d.get_json("/api/v1/tenants/demo/events?limit=1000", Some(TOKEN));
    assert_eq!(status, 200);
    page["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sessions_roles_csrf_and_tenants_are_enforced() {
    let dir = demo_copy();
    let d = start(dir.path());
    let payment = review(&d)[0]["id"].as_i64().unwrap();

    // No session: every page leads to the login form.
    let mut guest = Browser::new(d.port);
    let a = guest.get("/t/demo/cash");
    assert_eq!((a.status, a.location()), (303, "/login"));

    // Wrong passwords: the same answer for an unknown user, an unknown tenant and a wrong password.
    for (tenant, name) in [("demo", "admin"), ("demo", "nobody"), ("nowhere", "admin")] {
        let a = guest.login(tenant, name, "wrong password!");
        assert_eq!(a.status, 303);
        assert!(a.location().starts_with("/login?failed=1"), "{}", a.location());
        assert!(!guest.cookies.contains_key("relance_session"));
    }
    // Five failures in a row lock the account: the right password no longer opens it.
    for _ in 0..4 {
        guest.login("demo", "admin", "wrong password!");
    }
    let a = guest.login("demo", "admin", "relance-admin");
    assert!(a.location().starts_with("/login?failed=1"), "locked: {}", a.location());
    assert!(events(&d).iter().any(|e| e["kind"] == "login_locked" && e["subject"] == "user:admin"));
    // A login form posted without its double-submit cookie is refused.
    let mut bare = Browser::new(d.port);
    let a =
        bare.post("/login", &[("tenant", "demo"), ("name", "collector"), ("password", "relance-demo"), ("csrf", "x")]);
    assert!(a.location().starts_with("/login?expired=1"), "{}", a.location());

    // A collector of `demo`.
    let mut alice = Browser::new(d.port);
    let a = alice.login("demo", "collector", "relance-demo");
    assert_eq!((a.status, a.location()), (303, "/t/demo/"));
    let set_cookie = &a.headers["set-cookie"];
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let today = alice.get("/t/demo/");
    assert_eq!(today.status, 200);
    assert!(today.body.contains("Paiements à examiner"), "French by default for the demo tenant");
    let csrf = hidden(&today.body, "csrf");
    for page in ["/t/demo/cash", "/t/demo/replies", "/t/demo/reports", "/t/demo/operations"] {
        assert_eq!(alice.get(page).status, 200, "{page}");
    }
    // Every report's CSV export is the API's, with the page's filter.
    for name in ["aged-balance", "dso", "dmp", "overdue", "promises", "cash", "reminders", "replies"] {
        let page = alice.get(&format!("/t/demo/reports/{name}/csv"));
        assert_eq!(page.status, 200, "{name}");
        assert!(page.headers["content-type"].starts_with("text/csv"), "{name}");
        let (_, api) = d.get(&format!("/api/v1/tenants/demo/reports/{name}?format=csv"), Some(TOKEN));
        assert_eq!(page.body, api, "{name}");
    }
    let by_segment = alice.get("/t/demo/reports/aged-balance/csv?by=segment&as_of=2026-01-31");
    let (_, api) =
        d.get("/api/v1/tenants/demo/reports/aged-balance?format=csv&by=segment&as_of=2026-01-31", Some(TOKEN));
    assert_eq!((by_segment.status, &by_segment.body), (200, &api));
    assert!(by_segment.body.starts_with("kind,segment,"), "{}", by_segment.body);
    // `top` keeps the largest debtors per currency; the totals still cover everyone.
    let (_, all) = d.get_json("/api/v1/tenants/demo/reports/aged-balance", Some(TOKEN));
    let (_, top) = d.get_json("/api/v1/tenants/demo/reports/aged-balance?top=1", Some(TOKEN));
    assert_eq!(top["totals"], all["totals"]);
    assert_eq!(top["rows_in_all"], all["rows"].as_array().unwrap().len());
    let largest = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|r| r["total"]["amount"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap());
    assert_eq!(top["rows"].as_array().unwrap().first(), largest, "{top}");
    assert_eq!(d.get_json("/api/v1/tenants/demo/reports/aged-balance?top=0", Some(TOKEN)).0, 400);
    assert_eq!(
        alice.get("/t/demo/reports?section=trends&from=2026-13-01").status,
        400,
        "a bad date is refused, saying why"
    );
    assert_eq!(alice.get("/t/demo/reports/nothing/csv").status, 404);
    // Three sections, each with its own reports and charts.
    for (section, ids, charts) in [
        ("balances&by=segment", &["dso", "aged-totals", "aged-rows"][..], 1),
        ("trends", &["dmp", "overdue"][..], 1),
        ("activity", &["promises", "cash-rates", "reminders", "replies"][..], 0),
    ] {
        let page = alice.get(&format!("/t/demo/reports?section={section}"));
        assert_eq!(page.status, 200, "{section}");
        for id in ids {
            assert!(page.body.contains(&format!("id=\"{id}\"")), "{section}: {id}");
        }
        assert!(page.body.matches("<svg").count() >= charts, "{section}: its charts");
    }
    assert!(!alice.get("/t/demo/reports").body.contains("id=\"overdue\""), "one section at a time");

    // Another tenant's pages and actions do not exist for her.
    for page in ["/t/acme/", "/t/acme/cash", "/t/acme/reports", "/t/acme/customers/A-1"] {
        assert_eq!(alice.get(page).status, 404, "{page}");
    }
    let (status, acme_review) = d.get_json("/api/v1/tenants/acme/review", Some("acme-token-0001"));
    assert_eq!(status, 200);
    let a = alice.post(&format!("/t/acme/cash/{payment}/reject"), &[("csrf", &csrf), ("reason", "x")]);
    assert_eq!(a.status, 404);
    assert_eq!(d.get_json("/api/v1/tenants/acme/review", Some("acme-token-0001")).1, acme_review);

    // Forms without the session's token are refused, and change nothing.
    let a = alice.post(&format!("/t/demo/cash/{payment}/reject"), &[("reason", "no token")]);
    assert_eq!(a.status, 403);
    let a = alice.post(&format!("/t/demo/cash/{payment}/reject"), &[("csrf", "0000"), ("reason", "bad token")]);
    assert_eq!(a.status, 403);
    assert_eq!(review(&d).len(), 2, "nothing rejected");

    // A read-only user sees the pages but cannot act; the English pages are hers.
    let mut viewer = Browser::new(d.port);
    viewer.login("demo", "viewer", "relance-viewer");
    let cash = viewer.get("/t/demo/cash");
    assert_eq!(cash.status, 200);
    assert!(cash.body.contains("Payments to review") && !cash.body.contains("Accept this explanation"));
    let vcsrf = hidden(&cash.body, "csrf");
    let a = viewer.post(&format!("/t/demo/cash/{payment}/reject"), &[("csrf", &vcsrf), ("reason", "viewer")]);
    assert_eq!(a.status, 403);
    assert_eq!(review(&d).len(), 2);

    // The collector's action is applied and audited with her name.
    let a =
        alice.post(&format!("/t/demo/cash/{payment}/reject"), &[("csrf", &csrf), ("reason", "refund from a supplier")]);
    assert_eq!((a.status, a.location()), (303, format!("/t/demo/cash?view=review&done={payment}").as_str()));
    assert_eq!(review(&d).len(), 1);
    assert!(
        events(&d)
            .iter()
            .any(|e| e["actor"] == "user:collector"
                && e["subject"].as_str().unwrap_or("").contains(&payment.to_string())),
        "the rejection is audited with the person's name"
    );

    // Switching language, then logging out ends the session.
    let a = alice.post("/language", &[("csrf", &csrf), ("lang", "en"), ("back", "/t/demo/cash")]);
    assert_eq!(a.location(), "/t/demo/cash");
    assert!(alice.get("/t/demo/cash").body.contains("Payments to review"));
    let old = alice.cookies.clone();
    let a = alice.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((a.status, a.location()), (303, "/login"));
    alice.cookies = old;
    assert_eq!(alice.get("/t/demo/").status, 303, "the old cookie no longer opens a session");
}

#[test]
fn a_collector_searches_allocates_by_hand_and_undoes() {
    let dir = demo_copy();
    let d = start(dir.path());
    let queue = review(&d);
    let (first, second) = (queue[0].clone(), queue[1].clone());
    let (id, other) = (first["id"].as_i64().unwrap(), second["id"].as_i64().unwrap());
    let mut alice = Browser::new(d.port);
    alice.login("demo", "collector", "relance-demo");

    // The search runs over the whole queue: by amount (in the French style too) and by payer.
    let amount = first["amount"].as_str().unwrap().to_string();
    let page = alice.get(&format!("/t/demo/cash?q={}", encode(&amount.replace('.', ","))));
    assert!(page.body.contains(&format!("id=\"payment-{id}\"")), "found by amount {amount}");
    if second["amount"] != first["amount"] {
        assert!(!page.body.contains(&format!("id=\"payment-{other}\"")), "only that amount");
    }
    // The API searches the same way.
    let (status, found) =
        d.get_json(&format!("/api/v1/tenants/demo/review?q={}", encode(&amount.replace('.', ","))), Some(TOKEN));
    assert_eq!(status, 200, "{found}");
    let ids: Vec<i64> = found["items"].as_array().unwrap().iter().filter_map(|p| p["id"].as_i64()).collect();
    assert!(ids.contains(&id), "{found}");
    assert!(
        ids.iter().all(|i| page.body.contains(&format!("id=\"payment-{i}\""))),
        "the page lists what the API finds"
    );
    let (_, none) = d.get_json("/api/v1/tenants/demo/payments?q=no-such-payer-anywhere", Some(TOKEN));
    assert_eq!(none["total"], 0, "{none}");
    let page = alice.get("/t/demo/cash?q=no-such-payer-anywhere");
    assert!(!page.body.contains("id=\"payment-"), "nothing found");

    // A person allocates the first credit by hand: the best candidate's first
    // invoice, the amount typed with a decimal comma.
    let cash = alice.get("/t/demo/cash");
    let csrf = hidden(&cash.body, "csrf");
    let best = &first["match_result"]["candidates"][0]["allocations"][0];
    let invoice = best["invoice"].as_str().unwrap().to_string();
    let part = best["amount"]["amount"].as_str().unwrap().to_string();
    let comma = part.replace('.', ",");
    // A half-filled line is refused, and nothing is applied.
    let a = alice.post(
        &format!("/t/demo/cash/{id}/allocate"),
        &[("csrf", &csrf), ("invoice_0", &invoice), ("amount_0", &comma), ("amount_1", "1,00")],
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(review(&d).len(), 2);
    let a = alice.post(
        &format!("/t/demo/cash/{id}/allocate"),
        &[("csrf", &csrf), ("invoice_0", &invoice), ("amount_0", &comma)],
    );
    assert_eq!((a.status, a.location()), (303, format!("/t/demo/cash?view=review&done={id}").as_str()), "{}", a.body);
    assert_eq!(review(&d).len(), 1);
    let (_, detail) = d.get_json(&format!("/api/v1/tenants/demo/payments/{id}"), Some(TOKEN));
    assert_eq!(detail["payment"]["status"], "matched", "{detail}");
    let allocation = &detail["allocations"][0];
    assert_eq!(
        (allocation["invoice"].as_str(), allocation["actor"].as_str()),
        (Some(invoice.as_str()), Some("user:collector"))
    );
    assert_eq!(allocation["amount"].as_str(), Some(part.as_str()));
    let aid = allocation["id"].as_i64().unwrap();

    // The applied list shows it, newest first, with its undo button; undoing
    // puts the credit back in the queue, audited with her name.
    let applied = alice.get("/t/demo/cash?view=applied");
    assert!(applied.body.contains(&format!("id=\"undo-{aid}\"")), "{}", applied.body);
    let a = alice.post(&format!("/t/demo/cash/allocations/{aid}/undo"), &[("csrf", &csrf)]);
    assert_eq!((a.status, a.location()), (303, format!("/t/demo/cash?view=applied&done=allocation-{aid}").as_str()));
    assert_eq!(review(&d).len(), 2);
    let (_, detail) = d.get_json(&format!("/api/v1/tenants/demo/payments/{id}"), Some(TOKEN));
    assert!(detail["allocations"][0]["undone_at"].is_string(), "{detail}");
    assert!(events(&d).iter().any(|e| e["kind"] == "allocation_undone" && e["actor"] == "user:collector"));
    assert!(!alice.get("/t/demo/cash?view=applied").body.contains(&format!("id=\"undo-{aid}\"")));
    // Undoing twice is refused.
    assert_eq!(alice.post(&format!("/t/demo/cash/allocations/{aid}/undo"), &[("csrf", &csrf)]).status, 400);
}

/// Runs the browser part when ChromeDriver is configured.
fn webdriver() -> Option<String> {
    match std::env::var("TEST_WEBDRIVER_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            server_missing("web browser test (TEST_WEBDRIVER_URL)");
            None
        }
    }
}

#[test]
fn a_collector_works_the_review_queue_and_reads_the_reports_in_chromium() {
    let Some(url) = webdriver() else { return };
    let dir = demo_copy();
    let d = start(dir.path());
    let first = review(&d)[0].clone();
    let candidate = &first["match_result"]["candidates"][0];
    let invoice = candidate["allocations"][0]["invoice"].as_str().expect("a candidate invoice").to_string();
    let customer = candidate["customer_id"].as_str().expect("a candidate customer").to_string();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use fantoccini::Locator;
        let c = chromium(&url, profile.path(), 900).await;
        let base = format!("http://127.0.0.1:{}", d.port);
        let outcome = async {
            c.goto(&format!("{base}/")).await?;
            assert!(c.current_url().await?.path().starts_with("/login"));
            c.screenshot().await.map(|png| std::fs::write(shots.join("login.png"), png))?.ok();
            c.find(Locator::Id("tenant")).await?.send_keys("demo").await?;
            c.find(Locator::Id("name")).await?.send_keys("collector").await?;
            c.find(Locator::Id("password")).await?.send_keys("relance-demo").await?;
            c.find(Locator::Id("login-submit")).await?.click().await?;
            c.wait().for_element(Locator::Id("today-payments")).await?;
            assert_eq!(c.current_url().await?.path(), "/t/demo/");
            let count = c.find(Locator::Css("#today-payments .n")).await?.text().await?;
            assert_eq!(count, "2");
            std::fs::write(shots.join("today.png"), c.screenshot().await?).ok();

            // The review queue: accept the first credit's best explanation.
            c.find(Locator::Id("today-payments")).await?.click().await?;
            c.wait().for_element(Locator::Css(".payment")).await?;
            std::fs::write(shots.join("cash-review.png"), c.screenshot().await?).ok();
            let id = first["id"].as_i64().unwrap_or(0);
            c.find(Locator::Id(&format!("accept-{id}-0"))).await?.click().await?;
            c.wait().for_url(&url_with(&base, &format!("/t/demo/cash?view=review&done={id}"))).await?;
            assert!(c.find_all(Locator::Id(&format!("payment-{id}"))).await?.is_empty(), "gone from the queue");

            // The invoice is paid: gone from the customer's open items, the payment in its timeline.
            c.goto(&format!("{base}/t/demo/customers/{customer}")).await?;
            assert!(
                c.find_all(Locator::Id(&format!("invoice-{invoice}"))).await?.is_empty(),
                "invoice {invoice} is no longer open after the accepted payment"
            );
            let applied =
                c.find(Locator::Css(&format!("#timeline .payment_applied[data-invoice=\"{invoice}\"]"))).await?;
            assert!(applied.text().await?.contains(&invoice), "the payment applied to {invoice} in the timeline");
            std::fs::write(shots.join("customer.png"), c.screenshot().await?).ok();

            // Reports: the page shows the API's DSO and aged balance totals.
            c.goto(&format!("{base}/t/demo/reports")).await?;
            let (_, dso) = d.get_json("/api/v1/tenants/demo/reports/dso", Some(TOKEN));
            let api_dso = dso["dso"][0]["days"].as_str().unwrap_or("?").to_string();
            let page_dso = c.find(Locator::Css("#dso td[data-currency=EUR]")).await?.text().await?;
            assert_eq!(page_dso, api_dso);
            let (_, aged) = d.get_json("/api/v1/tenants/demo/reports/aged-balance", Some(TOKEN));
            let api_total = aged["totals"][0]["total"]["amount"].as_str().unwrap_or("?").to_string();
            let page_total = c.find(Locator::Css("#aged-totals .total")).await?.text().await?;
            assert_eq!(page_total, api_total);
            std::fs::write(shots.join("reports.png"), c.screenshot().await?).ok();
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = c.close().await;
        outcome.expect("the browser session");
    });
    assert!(
        events(&d).iter().any(|e| e["actor"] == "user:collector" && e["kind"].as_str().unwrap_or("").contains("alloc")),
        "the acceptance is audited with the collector's name: {:?}",
        events(&d).iter().map(|e| (e["actor"].clone(), e["kind"].clone())).collect::<Vec<_>>()
    );
}

/// A headless Chromium session through ChromeDriver, with the flags a closed
/// network needs and a fresh profile.
async fn chromium(webdriver: &str, profile: &Path, height: u32) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     format!("--window-size=1280,{height}"), format!("--user-data-dir={}", profile.display())],
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session through ChromeDriver")
}

fn url_with(base: &str, path: &str) -> url::Url {
    url::Url::parse(&format!("{base}{path}")).expect("a URL")
}

const SCENARIO: &str = r#"description = "web: courteous J+1, formal notice J+10 by e-mail"
min_gap_days = 1
[[steps]]
id = "courteous"
offset_days = 1
channel = "email"
template = "courteous"
[[steps]]
id = "formal_notice"
offset_days = 10
channel = "email"
template = "formal_notice"
"#;

fn cli(d: &common::Deployment, args: &[&str]) -> String {
    let out = d.run(args);
    assert!(out.status.success(), "relance {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The simulation lines of one customer between two days.
fn simulated(d: &common::Deployment, customer: &str) -> Vec<String> {
    let out = cli(d, &["dunning", "simulate", "--tenant", "acme", "--from", "2026-12-02", "--to", "2026-12-31"]);
    out.lines()
        .filter(|l| l.contains(&format!(" {customer} ")) || l.contains(&format!("customer {customer}")))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_collector_approves_holds_resolves_and_corrects_in_chromium() {
    use relance_domain::TenantId;
    use relance_domain::replies::MessageStatus;
    use relance_engine::replies::{Intent, Understanding};
    use relance_store::{HandleRequest, MailboxSlot};

    let Some(url) = webdriver() else { return };
    let Some(srv) = common::smtp::server("a_collector_approves_holds_resolves_and_corrects_in_chromium") else {
        return;
    };
    let since = srv.last_seq();
    let hash = relance_web::hash_password("collector-pass-1").unwrap();
    let extra = format!(
        "[dunning]\nwindow = \"08:30-18:00\"\n[connectors.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{}\"\nfrom = \"Acme Relances <relances@acme.test>\"\n\
         [[users]]\nname = \"carla\"\nrole = \"collector\"\nlanguage = \"en\"\npassword_hash = \"{hash}\"\n",
        srv.port,
        srv.ca.display()
    );
    let d = common::Deployment::new(
        "scenarios_dir = \"scenarios\"\n",
        &[(
            "acme",
            &format!(
                "name = \"Acme\"\nscenarios = [\"web\"]\n{}",
                common::csv_tenant("web-token-01", "invoices", &extra)
            ),
        )],
    );
    d.write("scenarios/web.toml", SCENARIO);
    d.write(
        "invoices/open.csv",
        format!(
            "{}W-1,C1,Alice SARL,alice@web-approve.test,,2026-10-01,2026-11-20,EUR,900.00,900.00\n\
             W-3,C3,Carol SA,carol@web-approve.test,,2026-10-01,2026-11-20,EUR,300.00,300.00\n\
             W-4,C4,Dan SAS,dan@web-approve.test,,2026-11-01,2026-12-08,EUR,250.00,250.00\n",
            common::HEADER
        ),
    );
    cli(&d, &["run", "--once"]);
    // The courteous reminders go; C3 then disputes W-3 in a reply, and another reply waits for a person.
    cli(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-11-23"]);
    cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-11-23T10:00"]);
    let tenant = TenantId::new("acme").unwrap();
    let review_id = {
        let store = d.store();
        let slots = [
            (
                MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 1 },
                "sha-1".to_string(),
                10,
                "/m1".to_string(),
            ),
            (
                MailboxSlot { source: "mail", mailbox: "INBOX", uidvalidity: 1, uid: 2 },
                "sha-2".to_string(),
                10,
                "/m2".to_string(),
            ),
        ];
        let ids = store.store_messages(&tenant, &slots).unwrap();
        let dispute = Understanding {
            intent: Intent::Dispute,
            from: Some("carol@web-approve.test".into()),
            refs: vec!["W-3".into()],
            ..Default::default()
        };
        let unclear = Understanding {
            intent: Intent::Other,
            from: Some("alice@web-approve.test".into()),
            subject: Some("RE: W-1".into()),
            new_text: "Le virement part avec la paie du 15.".into(),
            refs: vec!["W-1".into()],
            confidence: 0.3,
            ..Default::default()
        };
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        store
            .handle_messages(
                &tenant,
                day,
                &[
                    HandleRequest {
                        id: ids[0],
                        status: MessageStatus::Handled,
                        understanding: Some(dispute),
                        error: None,
                    },
                    HandleRequest {
                        id: ids[1],
                        status: MessageStatus::Review,
                        understanding: Some(unclear),
                        error: None,
                    },
                ],
            )
            .unwrap();
        ids[1]
    };
    // The formal notice for C1 waits for a person.
    let out = cli(&d, &["dunning", "run", "--tenant", "acme", "--day", "2026-12-01"]);
    assert!(out.contains("to confirm"), "{out}");
    assert!(!simulated(&d, "C4").is_empty(), "C4 has a step coming before the hold");

    let daemon = d.daemon();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let subject = "Formal notice: last notice before legal action";
    rt.block_on(async {
        use fantoccini::Locator;
        let c = chromium(&url, profile.path(), 1000).await;
        let base = format!("http://127.0.0.1:{}", daemon.port);
        let outcome = async {
            c.goto(&format!("{base}/login")).await?;
            // One tenant: the organisation is filled in.
            assert_eq!(c.find(Locator::Id("tenant")).await?.prop("value").await?.as_deref(), Some("acme"));
            c.find(Locator::Id("name")).await?.send_keys("carla").await?;
            c.find(Locator::Id("password")).await?.send_keys("collector-pass-1").await?;
            c.find(Locator::Id("login-submit")).await?.click().await?;
            c.wait().for_element(Locator::Id("today-approvals")).await?;
            assert_eq!(c.find(Locator::Css("#today-approvals .n")).await?.text().await?, "1");

            // Approve the formal notice with an edited subject.
            c.find(Locator::Id("today-approvals")).await?.click().await?;
            c.wait().for_element(Locator::Css("[id^=preview-]")).await?;
            std::fs::write(shots.join("approvals.png"), c.screenshot().await?).ok();
            c.find(Locator::Css("[id^=preview-]")).await?.click().await?;
            c.wait().for_element(Locator::Id("approve")).await?;
            // As it would go out: to the customer's address, the e-mail's HTML part in a sandboxed frame.
            let to = c.find(Locator::Id("recipients")).await?.text().await?;
            assert!(to.contains("@web-approve.test"), "{to}");
            let frame = c.find(Locator::Id("email-preview")).await?;
            assert_eq!(frame.attr("sandbox").await?.as_deref(), Some(""));
            let field = c.find(Locator::Id("subject")).await?;
            field.clear().await?;
            field.send_keys(subject).await?;
            std::fs::write(shots.join("approval-preview.png"), c.screenshot().await?).ok();
            c.find(Locator::Id("approve")).await?.click().await?;
            c.wait().for_url(&url_with(&base, "/t/acme/approvals")).await?;
            assert!(c.find_all(Locator::Css("[id^=approval-]")).await?.is_empty(), "nothing left to approve");

            // Hold C4: its next step leaves the simulation.
            c.goto(&format!("{base}/t/acme/customers/C4")).await?;
            c.find(Locator::Id("hold-reason")).await?.send_keys("Payment agreed by phone").await?;
            c.find(Locator::Id("hold")).await?.click().await?;
            c.wait().for_element(Locator::Id("holds")).await?;
            assert!(c.find(Locator::Id("holds")).await?.text().await?.contains("Payment agreed by phone"));
            std::fs::write(shots.join("customer-hold.png"), c.screenshot().await?).ok();

            // Resolve C3's dispute: the invoice is open again.
            c.goto(&format!("{base}/t/acme/customers/C3")).await?;
            assert_eq!(c.find(Locator::Css("#invoice-W-3 .status")).await?.text().await?, "disputed");
            c.find(Locator::Id("resolve-W-3")).await?.click().await?;
            // The page posts and comes back to the same address: wait for the new status (bounded).
            let mut status = String::new();
            for _ in 0..100 {
                status = match c.find(Locator::Css("#invoice-W-3 .status")).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                if status == "open" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(status, "open", "W-3 after the dispute was resolved");

            // Correct the unclear reply: a promise to pay on 15 December.
            c.goto(&format!("{base}/t/acme/replies")).await?;
            c.find(Locator::Id(&format!("open-reply-{review_id}"))).await?.click().await?;
            c.wait().for_element(Locator::Id("save-correction")).await?;
            c.find(Locator::Css("#intent-select option[value=promise_to_pay]")).await?.click().await?;
            c.execute("document.getElementById('promised_date').value = '2026-12-15'; return true;", Vec::new())
                .await?;
            std::fs::write(shots.join("reply.png"), c.screenshot().await?).ok();
            c.find(Locator::Id("save-correction")).await?.click().await?;
            c.wait().for_element(Locator::Id("saved")).await?;
            assert_eq!(
                c.find(Locator::Id("intent")).await?.attr("data-intent").await?.as_deref(),
                Some("promise_to_pay")
            );
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = c.close().await;
        outcome.expect("the browser session");
    });
    let (status, m) = daemon.get_json(&format!("/api/v1/tenants/acme/messages/{review_id}"), Some("web-token-01"));
    assert_eq!(status, 200);
    assert_eq!(
        (m["corrections"][0]["by"].as_str(), m["intent"].as_str()),
        (Some("carla"), Some("promise_to_pay")),
        "{m}"
    );
    let (_, ev) = daemon.get_json("/api/v1/tenants/acme/events?limit=1000", Some("web-token-01"));
    let acts: Vec<String> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "user:carla")
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect();
    for kind in ["reminder_approved", "hold_placed", "dispute_resolved"] {
        assert!(acts.iter().any(|k| k == kind), "{kind} audited with the person's name: {acts:?}");
    }
    drop(daemon);

    assert!(simulated(&d, "C4").is_empty(), "the held customer has no step left: {:?}", simulated(&d, "C4"));
    assert!(simulated(&d, "C3").iter().any(|l| l.contains("W-3")), "W-3's reminders resume after the dispute");
    // The approved formal notice reaches the SMTP server with the edited subject.
    let out = cli(&d, &["dunning", "deliver", "--tenant", "acme", "--at", "2026-12-01T10:30"]);
    assert!(out.contains(": 1 sent"), "{out}");
    let mails = srv.delivered_to("web-approve.test", since);
    let notice = mails
        .iter()
        .find(|m| m.header("X-Relance-Step").as_deref() == Some("formal_notice"))
        .expect("the formal notice");
    assert_eq!(notice.rcpt_tos, vec!["alice@web-approve.test".to_string()]);
    assert_eq!(notice.subject, subject);
}

/// `relance bench ui` on a small world (the real binary, debug build): every
/// page and API list answers 200 with content; its timing is not checked
/// here (figures come from release runs, see README).
#[test]
fn bench_ui_requests_every_page_on_a_small_world() {
    let out = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["bench", "ui", "--invoices", "2000", "--customers", "100", "--runs", "1"])
        .output()
        .expect("run relance bench ui");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains(" 200 ") || l.ends_with("ERROR")).collect();
    let pages = [
        "Today",
        "cash review queue",
        "cash review, search",
        "replies to confirm",
        "one reply",
        "approvals",
        "one approval",
        "customer, large",
        "customer, typical",
        "reports: balances",
        "reports: trends",
        "reports: activity",
        "operations",
        "API invoices (50)",
        "API review queue",
    ];
    for page in pages {
        let row = rows
            .iter()
            .find(|l| l.starts_with(&format!("{page} ")))
            .unwrap_or_else(|| panic!("no line for {page}:\n{stdout}"));
        let fields: Vec<&str> = row[page.len()..].split_whitespace().collect();
        assert_eq!(fields.first(), Some(&"200"), "{row}");
        assert!(matches!(fields.last(), Some(&"OK") | Some(&"SLOW")), "{row}");
        let bytes: usize = fields[fields.len() - 2].parse().unwrap();
        assert!(bytes > 1000, "{row}");
    }
    assert!(stdout.contains("credits to review"), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
}
