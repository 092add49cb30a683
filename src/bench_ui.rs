//! `relance bench ui`: server time of every page of the web workspace (and
//! of a few API lists, for comparison) on a generated world (default
//! 1,000,000 invoices, 50,000 customers) in a SQLite store.
//!
//! The world is the report world (`Store::generate_report_world`)
//! completed by `Store::generate_ui_world` (credits to review with their
//! candidates, replies to confirm, reminders to approve, tasks, quarantine,
//! holds, notes, one large customer), dated today. The daemon's own router
//! is built over a `Runtime` of one tenant (the workspace's pages merged
//! with the API, as `relance run` serves them); a user logs in through the
//! real login form, and each page is requested in-process
//! (`tower::ServiceExt::oneshot`, no network) with the session cookie,
//! `--runs` times. Printed per page: HTTP status, median and slowest server
//! time, the median CPU time the process spent on it (all threads; what a
//! shared machine's other load does not inflate), bytes, and OK/SLOW
//! against the target (< 300 ms, on the median server time). A page that does
//! not answer 200 with a real page fails the bench (exit code 1); a slow
//! one does not. With `--dir`, a world left there by an earlier run is
//! reused (the migrations added since are applied when the store opens).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

use relance_config::Settings;
use relance_domain::replies::MessageStatus;
use relance_domain::users::Role;
use relance_domain::{Language, TenantId};
use relance_runtime::daemon::Runtime;
use relance_store::{LARGE_CUSTOMER, NewUser, ReportWorld, UiWorld, UserSource};

#[derive(clap::Args)]
pub struct UiBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    invoices: u64,
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// Times each page is requested.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Keep the configuration and database here instead of a temporary folder.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Write each page's last answer to this folder (to look at what was timed).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
}

/// Target server time per page.
const TARGET: Duration = Duration::from_millis(300);
/// The bench tenant's API token.
const TOKEN: &str = "bench-ui-token-0001";
const USER: &str = "bench-collector";
const PASSWORD: &str = "bench-ui-password";
/// A real page is at least this long (the login redirect, an error page are not).
const MIN_PAGE_BYTES: usize = 1000;

/// One request of the bench.
struct Case {
    name: String,
    path: String,
    api: bool,
}

pub fn bench_ui(args: &UiBenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let base = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    write_config(&base)?;
    let settings = Settings::load(&base.join("relance.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = Runtime::new(settings, &relance_connectors::builtin_registry()).context("building the runtime")?;
    let tenant = TenantId::new("bench").context("tenant")?;
    let as_of = chrono::Utc::now().date_naive();

    let existing: u64 = rt.store.tenant_counts(&tenant)?.invoices_by_status.iter().map(|(_, n)| n).sum();
    if existing > 0 {
        // A world left in `--dir` by an earlier run (migrations added since are applied on opening).
        println!("world: reusing the {existing} invoices in {}", base.display());
    } else {
        generate(&rt, &tenant, args, as_of)?;
    }
    let hash = relance_web::hash_password(PASSWORD).context("hashing the bench password")?;
    let user = NewUser { name: USER.into(), role: Role::Collector, password_hash: hash, language: Some(Language::En) };
    rt.store.upsert_user(&tenant, &user, UserSource::Cli, "bench").context("creating the bench user")?;
    let cases = cases(&rt, &tenant)?;

    // The daemon's router: the workspace's pages beside the API (`api::serve_with`).
    let app = relance_web::router(rt.clone()).merge(relance_runtime::api::router(rt.clone()));
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    tokio.block_on(async move {
        let session = login(&app).await?;
        println!(
            "{:<36} {:>6} {:>10} {:>10} {:>10} {:>10}  target < {} ms",
            "page",
            "status",
            "median ms",
            "max ms",
            "cpu ms",
            "bytes",
            TARGET.as_millis()
        );
        let mut failed = Vec::new();
        let mut slow = 0;
        for case in &cases {
            let mut times = Vec::with_capacity(args.runs.max(1));
            let mut cpu = Vec::with_capacity(args.runs.max(1));
            let mut last = (StatusCode::OK, Vec::new());
            for _ in 0..args.runs.max(1) {
                let req = if case.api {
                    get(&case.path).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                } else {
                    get(&case.path).header(header::COOKIE, format!("relance_session={session}"))
                };
                let req = req.body(Body::empty())?;
                let (t1, c1) = (Instant::now(), cpu_time());
                last = send(&app, req).await?;
                times.push(t1.elapsed());
                if let (Some(c1), Some(c2)) = (c1, cpu_time()) {
                    cpu.push(c2.saturating_sub(c1));
                }
            }
            times.sort();
            cpu.sort();
            let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
            let cpu = cpu.get(cpu.len() / 2).map_or("-".to_string(), |c| format!("{:.1}", ms(*c)));
            let (status, body) = &last;
            if let Some(dir) = &args.save {
                std::fs::create_dir_all(dir)?;
                let slug: String = case.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
                let ext = if case.api { "json" } else { "html" };
                std::fs::write(dir.join(format!("{slug}.{ext}")), body)?;
            }
            let verdict = match trivial(case, *status, body) {
                Some(why) => {
                    failed.push(format!("{} ({}): {why}", case.name, case.path));
                    "ERROR"
                }
                None if median >= TARGET => {
                    slow += 1;
                    "SLOW"
                }
                None => "OK",
            };
            println!(
                "{:<36} {:>6} {:>10.1} {:>10.1} {:>10} {:>10}  {verdict}",
                case.name,
                status.as_u16(),
                ms(median),
                ms(max),
                cpu,
                body.len()
            );
        }
        println!(
            "{} pages, {} above the target, {} failed (runs: {}; machine: {} cores)",
            cases.len(),
            slow,
            failed.len(),
            args.runs.max(1),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        if !failed.is_empty() {
            for f in &failed {
                eprintln!("page failed: {f}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Fills the tenant with the report world and the workspace's content, dated `as_of`.
fn generate(rt: &Runtime, tenant: &TenantId, args: &UiBenchArgs, as_of: chrono::NaiveDate) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let report = ReportWorld { invoices: args.invoices, customers: args.customers, as_of };
    let counts = rt.store.generate_report_world(tenant, &report).context("generating the report world")?;
    let ui = UiWorld { invoices: args.invoices, customers: args.customers, as_of };
    let more = rt.store.generate_ui_world(tenant, &ui).context("generating the workspace's content")?;
    println!(
        "world: {} invoices ({} of the large customer {LARGE_CUSTOMER}), {} customers, {} reminders sent, {} replies, {} promises;",
        counts.invoices,
        more.large_customer_invoices,
        counts.customers,
        counts.reminders,
        counts.replies,
        counts.promises
    );
    println!(
        "       {} credits to review, {} replies to confirm, {} reminders to approve, {} failed, {} open tasks, \
         {} quarantined, {} holds, {} notes; built in {:.1} s",
        more.payments_to_review,
        more.replies_to_review,
        more.reminders_to_approve,
        more.failed_reminders,
        more.open_tasks,
        more.quarantined,
        more.holds,
        more.notes,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The pages to time, with the ids they need read from the generated world.
fn cases(rt: &Runtime, tenant: &TenantId) -> anyhow::Result<Vec<Case>> {
    let reply = rt
        .store
        .messages(tenant, &[MessageStatus::Review], 1u32)?
        .items
        .first()
        .map(|m| m.id)
        .context("no reply to confirm in the world")?;
    let approval = rt
        .store
        .outbox(tenant, Some("to_confirm"), 1u32)?
        .first()
        .map(|o| o.id)
        .context("no reminder to approve in the world")?;
    // A payer further down the review queue than its first page.
    let review = rt.store.payments_with_status(
        tenant,
        &[relance_domain::PaymentStatus::Suggested, relance_domain::PaymentStatus::Unmatched],
        1000u32,
    )?;
    let payer = review
        .items
        .iter()
        .rev()
        .find_map(|p| p.line.counterparty_name.clone())
        .context("no credit to review in the world")?;
    let search: String = payer.to_lowercase().replace(' ', "+");
    let t = tenant.as_str();
    let page = |name: &str, path: String| Case { name: name.into(), path, api: false };
    let api = |name: &str, path: String| Case { name: name.into(), path, api: true };
    Ok(vec![
        page("Today", format!("/t/{t}/")),
        page("cash review queue", format!("/t/{t}/cash")),
        page("cash review, search", format!("/t/{t}/cash?q={search}")),
        page("cash review, applied", format!("/t/{t}/cash?view=applied")),
        page("replies to confirm", format!("/t/{t}/replies")),
        page("one reply", format!("/t/{t}/replies/{reply}")),
        page("approvals", format!("/t/{t}/approvals")),
        page("one approval", format!("/t/{t}/approvals/{approval}")),
        page("customer, large", format!("/t/{t}/customers/{LARGE_CUSTOMER}")),
        page("customer, typical", format!("/t/{t}/customers/C0000002")),
        page("reports: balances", format!("/t/{t}/reports")),
        page("reports: trends", format!("/t/{t}/reports?section=trends")),
        page("reports: activity", format!("/t/{t}/reports?section=activity")),
        page("operations", format!("/t/{t}/operations")),
        api("API invoices (50)", format!("/api/v1/tenants/{t}/invoices?limit=50")),
        api("API review queue", format!("/api/v1/tenants/{t}/review")),
        api("API replies to confirm", format!("/api/v1/tenants/{t}/messages?status=review")),
        api("API outbox to approve", format!("/api/v1/tenants/{t}/outbox?status=to_confirm")),
    ])
}

/// Why an answer is not a real page (`None` when it is one).
fn trivial(case: &Case, status: StatusCode, body: &[u8]) -> Option<String> {
    if status != StatusCode::OK {
        return Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
    let text = String::from_utf8_lossy(body);
    if case.api {
        let v: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("not JSON: {e}")),
        };
        let items = v.get("items").and_then(|i| i.as_array()).map_or(0, Vec::len);
        return (items == 0).then(|| "no items".to_string());
    }
    if body.len() < MIN_PAGE_BYTES || !text.contains("<main") {
        return Some(format!("not a page ({} bytes)", body.len()));
    }
    None
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::builder().method(Method::GET).uri(path)
}

/// One request through the router, as the server hands it over (with the peer address).
async fn send(app: &Router, mut req: Request<Body>) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20).await.context("reading the answer")?;
    Ok((status, body.to_vec()))
}

/// Logs the bench user in through the login form (its double-submit cookie
/// included); the session cookie's secret.
async fn login(app: &Router) -> anyhow::Result<String> {
    let req = get("/login").body(Body::empty())?;
    let mut req = req;
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await?;
    let token = set_cookie(&resp, "relance_login").context("the login form sets no double-submit cookie")?;
    let form = format!("tenant=bench&name={USER}&password={PASSWORD}&csrf={token}");
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("relance_login={token}"))
        .body(Body::from(form))?;
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await?;
    match set_cookie(&resp, "relance_session").filter(|s| !s.is_empty()) {
        Some(s) => Ok(s),
        None => bail!("login refused: HTTP {} to {:?}", resp.status(), resp.headers().get(header::LOCATION)),
    }
}

/// The value a response's `Set-Cookie` gives cookie `name`.
fn set_cookie(resp: &axum::response::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// One tenant, `bench`, with the shipped B2B scenario and an API token; no connector.
fn write_config(base: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(base.join("tenants"))?;
    std::fs::create_dir_all(base.join("scenarios"))?;
    std::fs::write(base.join("relance.toml"), "data_dir = \"data\"\nscenarios_dir = \"scenarios\"\n")?;
    std::fs::write(
        base.join("scenarios").join("b2b_standard.toml"),
        include_str!("../config/scenarios/b2b_standard.toml"),
    )?;
    std::fs::write(
        base.join("tenants").join("bench.toml"),
        format!(
            "name = \"Bench Industrie\"\ntimezone = \"UTC\"\nlanguage = \"fr\"\ncurrency = \"EUR\"\n\
             scenarios = [\"b2b_standard\"]\n\n[api]\ntokens = [\"{TOKEN}\"]\n"
        ),
    )?;
    Ok(())
}

/// CPU time the process has used so far, all its threads (Linux: the
/// scheduler's nanoseconds per thread); `None` elsewhere. Beside the wall
/// time, a figure that other processes on a shared machine do not inflate
/// (the threads of one request's parallel reads add up).
fn cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
