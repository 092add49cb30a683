//! Helpers shared by the integration tests: a deployment in a temporary
//! directory, the `relance` binary, a free loopback port and a tiny HTTP/1.1
//! client (so the tests need no HTTP client crate).

#![allow(dead_code)]

pub mod http;
pub mod imap;
pub mod smtp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const HEADER: &str = "invoice_number,customer_id,customer_name,customer_email,customer_iban,issue_date,due_date,currency,amount_total,amount_open\n";

/// A configuration directory: `relance.toml`, `tenants/*.toml`, inputs, data.
///
/// Its database is SQLite in `data/relance.db`, or, when the suite runs on
/// PostgreSQL (`RELANCE_TEST_BACKEND=postgres`, the second pass of
/// scripts/test.sh), a database of its own on the test server
/// (`TEST_PG_URL`), dropped with the deployment.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// Whether this run's deployments keep their data on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("RELANCE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// Skips (with a note) a test of SQLite itself when the suite runs on
/// PostgreSQL: `true` means return now.
pub fn sqlite_only(what: &str) -> bool {
    if on_postgres() {
        eprintln!("note: {what}: a test of the SQLite store, not run on PostgreSQL");
    }
    on_postgres()
}

/// A database created on the test PostgreSQL server for one deployment.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create() -> PgDatabase {
        let admin = std::env::var("TEST_PG_URL").expect("RELANCE_TEST_BACKEND=postgres needs TEST_PG_URL");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "relance_it_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        pg_batch(&admin, &format!("CREATE DATABASE {name}"));
        let (base, query) = admin.split_once('?').map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        let url = format!("{server}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
        PgDatabase { admin, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions still on it; one the test role may not end (an autovacuum
        // worker, without `pg_signal_backend`) makes it fail: tried again once it is gone.
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        for attempt in 1.. {
            match pg_try_batch(&self.admin, &drop) {
                Ok(()) => return,
                Err(e) if attempt < 20 => {
                    eprintln!("note: {drop}: {e}; trying again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{drop}: {e}"),
            }
        }
    }
}

/// The first column of the first row of a query (an integer) on a PostgreSQL server.
pub fn pg_i64(url: &str, query: &str) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
        let task = tokio::spawn(conn);
        let row = client.query_one(query, &[]).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        drop(client);
        let _ = task.await;
        row.get::<_, i64>(0)
    })
}

/// Runs statements on a PostgreSQL server.
pub fn pg_batch(url: &str, statements: &str) {
    pg_try_batch(url, statements).unwrap_or_else(|e| panic!("{statements}: {e}"));
}

/// Same, returning the server's error (with its details).
pub fn pg_try_batch(url: &str, statements: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
        let task = tokio::spawn(conn);
        let done = client.batch_execute(statements).await.map_err(|e| format!("{e} {:?}", e.as_db_error()));
        drop(client);
        let _ = task.await;
        done
    })
}

impl Deployment {
    pub fn new(global: &str, tenants: &[(&str, &str)]) -> Deployment {
        let pg = (on_postgres() && !global.contains("[database]")).then(PgDatabase::create);
        Deployment::with_database(global, tenants, pg)
    }

    /// A deployment on a PostgreSQL database of its own whatever the run's
    /// backend, or `None` when there is no test server (see [`server_missing`]).
    pub fn new_on_postgres(global: &str, tenants: &[(&str, &str)]) -> Option<Deployment> {
        if std::env::var("TEST_PG_URL").map_or(true, |u| u.is_empty()) {
            server_missing("PostgreSQL (TEST_PG_URL)");
            return None;
        }
        Some(Deployment::with_database(global, tenants, Some(PgDatabase::create())))
    }

    fn with_database(global: &str, tenants: &[(&str, &str)], pg: Option<PgDatabase>) -> Deployment {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
        let database = pg.as_ref().map(|p| format!("\n[database]\nurl = \"{}\"\n", p.url)).unwrap_or_default();
        std::fs::write(dir.path().join("relance.toml"), format!("data_dir = \"data\"\n{global}{database}")).unwrap();
        for (name, body) in tenants {
            std::fs::write(dir.path().join("tenants").join(format!("{name}.toml")), body).unwrap();
        }
        Deployment { dir, pg }
    }

    /// Replaces `relance.toml` with `global`, keeping the deployment's database.
    pub fn write_config(&self, global: &str) {
        let database = self.pg.as_ref().map(|p| format!("\n[database]\nurl = \"{}\"\n", p.url)).unwrap_or_default();
        std::fs::write(self.config(), format!("{global}{database}")).unwrap();
    }

    /// The deployment's database URL (`sqlite:…` or `postgres://…`).
    pub fn database_url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite:{}", self.path("data/relance.db").display()),
        }
    }

    /// The deployment's store, on whichever database it uses.
    pub fn store(&self) -> relance_store::Store {
        let url = relance_store::DatabaseUrl::parse(&self.database_url(), self.dir.path()).expect("database URL");
        relance_store::Store::open(&url).expect("open the store")
    }

    /// An integer read straight from the deployment's PostgreSQL database
    /// (no snapshot: for polling a large one).
    pub fn pg_i64(&self, query: &str) -> i64 {
        pg_i64(&self.pg.as_ref().expect("a deployment on PostgreSQL").url, query)
    }

    /// Whether the deployment's database has been created (by a first run).
    pub fn has_database(&self) -> bool {
        self.pg.is_some() || self.path("data/relance.db").exists()
    }

    /// Runs statements (SQL both databases read alike) on the deployment's database.
    pub fn exec(&self, statements: &str) {
        match &self.pg {
            Some(pg) => pg_batch(&pg.url, statements),
            None => rusqlite::Connection::open(self.path("data/relance.db"))
                .and_then(|c| c.execute_batch(statements))
                .unwrap_or_else(|e| panic!("{statements}: {e}")),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("relance.toml")
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn relance(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
        c.env("RUST_LOG", "info").env_remove("RELANCE__LISTEN");
        c
    }

    /// `relance <args> --config <this>` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.relance().args(args).arg("--config").arg(self.config()).output().expect("run relance")
    }

    /// Starts `relance run` listening on a free port.
    pub fn daemon(&self) -> Daemon {
        self.daemon_logged("daemon.log")
    }

    /// Same, logging to `<deployment>/<log>` (one log per daemon when several run).
    pub fn daemon_logged(&self, log: &str) -> Daemon {
        self.daemon_with_env(log, &[])
    }

    /// Same, with more environment (a moved clock: [`faketime_env`]).
    pub fn daemon_with_env(&self, log: &str, env: &[(&str, String)]) -> Daemon {
        let port = free_port();
        let child = self
            .relance()
            .args(["run", "--config"])
            .arg(self.config())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RELANCE__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(self.path(log)).unwrap()))
            .spawn()
            .expect("spawn daemon");
        let d = Daemon { child, port, log: self.path(log) };
        wait_for(Duration::from_secs(30), "daemon health", || d.get("/healthz", None).0 == 200);
        d
    }

    /// A read-only SQLite view of the deployment's data. On PostgreSQL, a
    /// snapshot copied with `relance store copy` (verified table by table)
    /// into a new file, so that the tests read both databases the same way.
    pub fn db(&self) -> rusqlite::Connection {
        self.snapshot().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Same, but `None` while the database does not exist yet (polling a starting process).
    pub fn try_db(&self) -> Option<rusqlite::Connection> {
        self.snapshot().ok()
    }

    fn snapshot(&self) -> Result<rusqlite::Connection, String> {
        let path = match &self.pg {
            None => self.path("data/relance.db"),
            Some(pg) => {
                static SNAPSHOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = SNAPSHOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = self.path(&format!("snapshot-{n}.db"));
                let out = self
                    .relance()
                    .args(["store", "copy", "--from", &pg.url, "--to"])
                    .arg(format!("sqlite:{}", path.display()))
                    .output()
                    .map_err(|e| format!("run relance store copy: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "snapshot of the PostgreSQL database: {}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                path
            }
        };
        if !path.exists() {
            return Err(format!("no database yet at {}", path.display()));
        }
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("open {}: {e}", path.display()))
    }
}

pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    /// GET with an optional bearer token: (status, body).
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        http_get(self.port, path, token).unwrap_or((0, String::new()))
    }

    /// POST an empty JSON body with a bearer token: (status, JSON body).
    pub fn post_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.send_json("POST", path, token, "{}")
    }

    /// Any method with a bearer token and a JSON body (empty for none): (status, JSON body).
    pub fn send_json(&self, method: &str, path: &str, token: &str, json: &str) -> (u16, serde_json::Value) {
        let (status, body) = http_request(self.port, method, path, Some(token), Some(json).filter(|j| !j.is_empty()))
            .unwrap_or((0, String::new()));
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }

    /// A GET whose body may be binary (a PDF): status and body bytes.
    pub fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read");
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 4);
        let head = String::from_utf8_lossy(&raw[..end]);
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, raw[end..].to_vec())
    }

    pub fn get_json(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let (status, body) = self.get(path, token);
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }

    /// Sends SIGTERM and waits for the exit status (None if it did not exit in time).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        signal(self.child.id(), "TERM");
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().map(|s| s.success());
    assert!(matches!(ok, Ok(true)), "kill -{sig} {pid} failed");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Called when a test server is missing: under scripts/test.sh (which sets
/// `RELANCE_TEST_SERVERS=required`) that is a failure, elsewhere the test is
/// skipped with a note.
pub fn server_missing(what: &str) {
    if std::env::var("RELANCE_TEST_SERVERS").as_deref() == Ok("required") {
        panic!("{what}: the test servers are required (RELANCE_TEST_SERVERS=required) but not configured");
    }
    eprintln!("note: {what} skipped: no test server (run scripts/test.sh, which starts them)");
}

/// The environment that runs a process `days` days in the future: Debian's
/// libfaketime moves the wall clock (what the daemon calls today), not the
/// monotonic clock its timers use. `None` (after [`server_missing`]'s rule:
/// a failure under scripts/test.sh, which installs it) when it is missing.
pub fn faketime_env(days: u32) -> Option<Vec<(&'static str, String)>> {
    let lib = std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists());
    let Some(lib) = lib else {
        server_missing("libfaketime (Debian package libfaketime)");
        return None;
    };
    Some(vec![
        ("LD_PRELOAD", lib.display().to_string()),
        ("FAKETIME", format!("+{days}d")),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ])
}

/// Polls `f` every 50 ms until it holds, failing the test after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn http_get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    http_request(port, "GET", path, token, None)
}

fn http_request(port: u16, method: &str, path: &str, token: Option<&str>, json: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = match json {
        Some(j) => format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{j}", j.len()),
        None => "\r\n".to_string(),
    };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n{body}").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// A tenant file with one csv_invoices connector reading `<deployment>/<input>`.
pub fn csv_tenant(token: &str, input: &str, extra: &str) -> String {
    format!(
        "[api]\ntokens = [\"{token}\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../{input}\"\nsettle = \"0s\"\n{extra}"
    )
}

/// `n` canonical rows; rows whose index is in `bad` have an impossible due date.
pub fn csv_rows(n: usize, bad: &[usize]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(HEADER);
    for i in 0..n {
        let due = if bad.contains(&i) { "2026-02-30" } else { "2026-12-31" };
        writeln!(
            s,
            "F-{i:07},C{c:05},Customer {c},billing{c}@example.com,,2026-11-01,{due},EUR,{a}.50,{a}.50",
            c = i % 5000,
            a = 100 + i % 900
        )
        .unwrap();
    }
    s
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs a command-line PDF tool on `path`: its success and output, or `None`
/// when the tool is not installed outside scripts/test.sh (there, which
/// installs poppler-utils and qpdf, a missing tool fails the test).
fn pdf_tool(tool: &str, package: &str, args: &[&str], path: &Path) -> Option<(bool, String)> {
    match Command::new(tool).args(args).arg(path).args(if tool == "pdftotext" { &["-"][..] } else { &[] }).output() {
        Ok(out) => Some((
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )),
        Err(e) => {
            if std::env::var("RELANCE_TEST_SERVERS").as_deref() == Ok("required") {
                panic!("`{tool}` ({package}) is required under scripts/test.sh: {e}");
            }
            eprintln!("note: `{tool}` not installed ({package}): its checks are skipped");
            None
        }
    }
}

/// The text of a PDF file as `pdftotext` (poppler-utils) extracts it, pages
/// separated by form feeds.
pub fn pdf_text(path: &Path) -> Option<String> {
    let (ok, text) = pdf_tool("pdftotext", "poppler-utils", &["-enc", "UTF-8", "-layout"], path)?;
    assert!(ok, "pdftotext {}: {text}", path.display());
    Some(text)
}

/// `qpdf --check` passes on a PDF file.
pub fn qpdf_check(path: &Path) {
    if let Some((ok, out)) = pdf_tool("qpdf", "qpdf", &["--check"], path) {
        assert!(ok && out.contains("No syntax or stream encoding errors"), "qpdf --check {}: {out}", path.display());
    }
}

/// The demo tenant and scenarios, with this deployment's database, its own
/// export folder (a copy of the demo export) and the demo bank statement.
pub fn demo_deployment() -> Deployment {
    let d = Deployment::new("scenarios_dir = \"scenarios\"\n", &[]);
    let tenant = std::fs::read_to_string(repo_path("config/demo/tenants/demo.toml")).unwrap();
    let tenant = tenant
        .replace("path = \"../exports/demo\"", "path = \"../exports\"")
        .replace("mode = \"full\"", "mode = \"full\"\nsettle = \"0s\"")
        .replace("path = \"../bank/demo\"", &format!("path = \"{}\"", repo_path("config/demo/bank/demo").display()))
        .replace("path = \"../../../data/demo/outbox\"", "path = \"../outbox\"");
    assert!(tenant.contains("settle = \"0s\""), "the demo tenant file changed shape");
    d.write("tenants/demo.toml", tenant);
    for s in ["b2b_standard", "b2c_sms"] {
        d.write(
            &format!("scenarios/{s}.toml"),
            std::fs::read(repo_path(&format!("config/scenarios/{s}.toml"))).unwrap(),
        );
    }
    d.write(
        "exports/export-2026-11-23.csv",
        std::fs::read(repo_path("config/demo/exports/demo/export-2026-11-23.csv")).unwrap(),
    );
    d
}
