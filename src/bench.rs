//! `relance bench …`: end-to-end measurements that print their figures.
//!
//! - `bench import --rows N`: generates an N-row French-style CSV export
//!   (`;`, `1 250,00`, `15/10/2026`, 1 customer per 20 invoices) streamed to
//!   disk, imports it into a fresh SQLite database through the real connector
//!   and runtime, and prints rows/s, MB/s, the rate over each tenth of the file
//!   (does it hold as the table grows?) and peak memory; then re-imports it
//!   (must apply nothing) and measures the idle RSS of `relance run` on the
//!   result. `--sizes 100000,1000000,5000000` runs each size in a child process.
//! - `bench ui`: server time of every workspace page on a generated world (module `bench_ui`).
//! - `bench rss --config PATH`: idle RSS of `relance run` on any configuration.
//! - `bench parse`: camt.053 and MT940 throughput, whole, streamed, and
//!   streamed with the JSON lines of `statements parse`.
//! - `bench memory`: peak RSS of parsing 20 MB statements (streamed, and
//!   whole in memory) and understanding 10 MB replies, each case in a child
//!   process (module `memory` below).

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use relance_config::Settings;
use relance_domain::TenantId;
use relance_runtime::daemon::Runtime;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// CSV → SQLite import throughput (target ≥ 200,000 rows/s at 1M rows, ≥ 150,000 at 5M), how it
    /// holds as the table grows, peak RSS, and idle RSS (target < 30 MB).
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Several sizes in turn (e.g. `100000,1000000,5000000`), each in a child process of its own
        /// (its own peak RSS) and a fresh directory removed afterwards; replaces `--rows`.
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<u64>,
        /// Work directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip the idle-RSS measurement.
        #[arg(long)]
        no_rss: bool,
        /// Import into PostgreSQL instead (`postgres://…`, a role that may create schemas): the
        /// CSV connector on the PostgreSQL store, in a scratch schema dropped afterwards (issue
        /// #17's target: ≥ 100,000 rows/s at 1M rows). The daemon cannot run on PostgreSQL yet,
        /// so the connector is driven directly and idle RSS is not measured.
        #[arg(long)]
        database: Option<String>,
    },
    /// Cash application: 1M open invoices, 50k customers, 100k noisy credits (target ≤ 3 s, ≤ 1 GB); prints
    /// accuracy. `--matrix` runs the scaling matrix (customers, invoices, credits), one child process per cell.
    Match(crate::bench_cash::MatchBenchArgs),
    /// Server time of every report (aged balance, DSO, DMP, overdue, promises, cash rates,
    /// reminders, replies) on 1M invoices / 50k customers (target < 300 ms each).
    Reports(crate::bench_reports::ReportsBenchArgs),
    /// Server time of every page of the web workspace (and a few API lists) on 1M invoices /
    /// 50k customers, requested in-process through the daemon's router with a logged-in session
    /// (target < 300 ms each).
    Ui(crate::bench_ui::UiBenchArgs),
    /// Statement parsing throughput for camt.053 and MT940: whole, streamed, and streamed with the
    /// JSON lines of `statements parse` (target ≥ 150 MB/s end to end).
    Parse {
        /// Size of each generated file, in MB.
        #[arg(long, default_value_t = 100)]
        mb: usize,
    },
    /// Reply understanding throughput on one core (target ≥ 5,000 messages/s).
    Replies {
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Understand the `.eml` files of this folder in turn (e.g. the labelled
        /// corpus, HTML and multipart messages of many mail clients) instead of
        /// the built-in plain-text replies.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// IMAP ingestion against a test Dovecot: appends N messages, then times
    /// their ingestion (fetch, store, understand, move) by the real connector (target 10,000 in ≤ 15 s).
    Imap {
        /// Plaintext IMAP port of a loopback test server (scripts/test-servers/imap-server.sh).
        #[arg(long, default_value_t = 14143)]
        port: u16,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Password the test server accepts for any user (IMAP_ANY_USER_PASSWORD).
        #[arg(long, default_value = "password")]
        password: String,
    },
    /// Reminder emails through a loopback SMTP server (scripts/test-servers/smtp-server.sh):
    /// plan, render and deliver N reminders (target 10,000 in ≤ 20 s).
    Send {
        /// Plaintext SMTP server (HOST:PORT).
        #[arg(long, default_value = "127.0.0.1:12525")]
        smtp: String,
        #[arg(long, default_value_t = 10_000)]
        emails: usize,
        /// Messages in flight at once.
        #[arg(long, default_value_t = relance_runtime::reminders::deliver::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// SMTP connections kept open.
        #[arg(long, default_value_t = 8)]
        pool: u32,
        /// Store on PostgreSQL instead of SQLite: a role that may create databases
        /// (`relance_bench_send` is created, used and dropped).
        #[arg(long)]
        pg: Option<String>,
        /// Daemons sharing the work (PostgreSQL only): each has its own store and
        /// connections, all plan the day and deliver at once.
        #[arg(long, default_value_t = 1)]
        daemons: usize,
    },
    /// Full sync of N invoices from PostgreSQL by the `sql_invoices` connector
    /// (target 1,000,000 at ≥ 50,000 rows/s). Creates and drops database `relance_bench_sql`.
    SqlSync {
        /// A role that may create databases (scripts/test-servers/postgres-server.sh gives one).
        #[arg(long, default_value = "postgres://relance:relance@127.0.0.1:15432/relance")]
        pg: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Rows per keyset page.
        #[arg(long, default_value_t = 10_000)]
        batch: u32,
    },
    /// Peak memory and time of parsing generated statements of MB megabytes in every
    /// format, one-line ones included (target ≤ 4× the input, ≤ 10 s), and of
    /// understanding MAIL_MB-megabyte replies. Each case runs in a child process.
    Memory {
        #[arg(long, default_value_t = 20)]
        mb: usize,
        #[arg(long, default_value_t = 10)]
        mail_mb: usize,
        /// Only the cases whose name contains this text.
        #[arg(long)]
        only: Option<String>,
    },
    /// One case of `bench memory` (run in a child process by it).
    #[command(hide = true)]
    MemoryCase { kind: memory::Kind, file: PathBuf },
    /// Idle resident memory of `relance run` with a configuration.
    Rss {
        #[arg(long, short)]
        config: PathBuf,
        /// Seconds to let the daemon settle before reading its memory.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Import { rows, dir, database: Some(url), .. } => import_postgres(rows, dir, &url),
        BenchCommand::Import { rows, sizes, dir, no_rss, .. } if sizes.is_empty() => import(rows, dir, no_rss),
        BenchCommand::Import { sizes, dir, no_rss, .. } => import_sizes(&sizes, dir, no_rss),
        BenchCommand::Match(args) => crate::bench_cash::bench_match(&args),
        BenchCommand::Reports(args) => crate::bench_reports::bench_reports(&args),
        BenchCommand::Ui(args) => crate::bench_ui::bench_ui(&args),
        BenchCommand::Parse { mb } => bench_parse(mb),
        BenchCommand::Replies { messages, dir } => bench_replies(messages, dir.as_deref()),
        BenchCommand::Imap { port, messages, password } => bench_imap(port, messages, &password),
        BenchCommand::SqlSync { pg, rows, batch } => crate::bench_sql::bench_sql_sync(&pg, rows, batch),
        BenchCommand::Send { smtp, emails, concurrency, pool, pg, daemons } => {
            crate::bench_send::bench_send(&smtp, emails, concurrency, pool, pg.as_deref(), daemons)
        }
        BenchCommand::Memory { mb, mail_mb, only } => memory::bench_memory(mb, mail_mb, only.as_deref()),
        BenchCommand::MemoryCase { kind, file } => memory::memory_case(kind, &file),
        BenchCommand::Rss { config, settle } => {
            let kb = idle_rss(&config, Duration::from_secs(settle))?;
            println!("idle RSS of `relance run`: {:.1} MB ({kb} kB)", kb as f64 / 1024.0);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The folder a bench works in: `dir` (created), or a temporary one removed when the guard drops.
fn bench_dir(dir: Option<PathBuf>) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    Ok(match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            (None, d)
        }
        None => {
            let tmp = tempfile::tempdir()?;
            let path = tmp.path().to_path_buf();
            (Some(tmp), path)
        }
    })
}

fn import(rows: u64, dir: Option<PathBuf>, no_rss: bool) -> anyhow::Result<ExitCode> {
    let (_tmp, base) = bench_dir(dir)?;
    let config = write_bench_config(&base)?;
    let csv = base.join("invoices").join("export.csv");
    let t0 = Instant::now();
    let bytes = generate_csv(&csv, rows)?;
    println!("generated {rows} rows ({:.1} MB) in {:.2} s", bytes as f64 / 1e6, t0.elapsed().as_secs_f64());
    let settings = Settings::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let registry = relance_connectors::builtin_registry();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let rt = Runtime::new(settings, &registry)?;
    let tenant = TenantId::new("bench")?;
    let progress = Progress::start(rt.store.clone(), tenant.clone());
    let t1 = Instant::now();
    let results = tokio.block_on(rt.run_once(CancellationToken::new()));
    let secs = t1.elapsed().as_secs_f64();
    let samples = progress.stop();
    for r in &results {
        if let Err(e) = &r.result {
            bail!("import failed: {e}");
        }
    }
    let counts = rt.store.tenant_counts(&tenant)?;
    let stored: u64 = counts.invoices_by_status.iter().map(|(_, n)| n).sum();
    if stored != rows {
        bail!("stored {stored} invoices, expected {rows}");
    }
    let peak = peak_rss_kb().unwrap_or(0) as f64 / 1024.0;
    let db_mb = dir_bytes(&base.join("data")) as f64 / 1e6;
    println!(
        "import: {rows} rows in {secs:.2} s = {:.0} rows/s ({:.1} MB/s), peak RSS {peak:.0} MB, database {db_mb:.0} MB \
         [target ≥ 200000 rows/s at 1M rows, ≥ 150000 at 5M]",
        rows as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    if let Some(line) = tenths_line(&samples, rows, secs) {
        println!("{line}");
    }
    let t2 = Instant::now();
    let again = tokio.block_on(rt.run_once(CancellationToken::new()));
    let applied: u64 = again.iter().filter_map(|r| r.result.as_ref().ok()).map(|r| r.items).sum();
    println!("re-import of the same file: {applied} rows applied in {:.2} s", t2.elapsed().as_secs_f64());
    if applied != 0 {
        bail!("the re-import applied {applied} rows, expected none");
    }
    drop(rt);
    if !no_rss {
        let kb = idle_rss(&config, Duration::from_secs(3))?;
        println!(
            "idle RSS of `relance run` (after the import, {rows} invoices stored): {:.1} MB [target < 30 MB]",
            kb as f64 / 1024.0
        );
    }
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    Ok(ExitCode::SUCCESS)
}

/// `bench import --database postgres://…`: the CSV connector importing the
/// same generated file into a PostgreSQL store (a scratch schema), then
/// re-importing it (must apply nothing).
fn import_postgres(rows: u64, dir: Option<PathBuf>, url: &str) -> anyhow::Result<ExitCode> {
    use relance_connector::RunContext;
    use relance_connectors::csv_invoices::CsvInvoices;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("--database takes a postgres://… URL (SQLite is the default)");
    }
    let (_tmp, base) = bench_dir(dir)?;
    let config = write_bench_config(&base)?;
    let csv = base.join("invoices").join("export.csv");
    let t0 = Instant::now();
    let bytes = generate_csv(&csv, rows)?;
    println!("generated {rows} rows ({:.1} MB) in {:.2} s", bytes as f64 / 1e6, t0.elapsed().as_secs_f64());
    let scratch = ScratchSchema::create(url, "import")?;
    let measured = (|| -> anyhow::Result<()> {
        let store = relance_store::Store::open_postgres(&scratch.url)?;
        let settings = Settings::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tenant_config = settings.tenant("bench").context("the bench tenant")?;
        let connector = tenant_config.connectors.first().context("the bench connector")?;
        let tenant = TenantId::new("bench")?;
        let ctx = RunContext {
            tenant: tenant.clone(),
            connector: connector.name.clone(),
            store: store.clone(),
            keep_dir: base.join("data").join("keep"),
            cancel: CancellationToken::new(),
            once: true,
        };
        let t1 = Instant::now();
        let report = CsvInvoices::from_config(tenant_config, connector)?.sync_blocking(&ctx)?;
        let secs = t1.elapsed().as_secs_f64();
        let counts = store.tenant_counts(&tenant)?;
        let stored: u64 = counts.invoices_by_status.iter().map(|(_, n)| n).sum();
        if stored != rows || report.items != rows {
            bail!("stored {stored} invoices ({} applied), expected {rows}", report.items);
        }
        println!(
            "import into PostgreSQL: {rows} rows in {secs:.2} s = {:.0} rows/s ({:.1} MB/s), peak RSS {:.0} MB \
             [target ≥ 100000 rows/s at 1M rows]",
            rows as f64 / secs,
            bytes as f64 / 1e6 / secs,
            peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
        );
        let t2 = Instant::now();
        let again = CsvInvoices::from_config(tenant_config, connector)?.sync_blocking(&ctx)?;
        println!("re-import of the same file: {} rows applied in {:.2} s", again.items, t2.elapsed().as_secs_f64());
        if again.items != 0 {
            bail!("the re-import applied {} rows, expected none", again.items);
        }
        Ok(())
    })();
    scratch.drop()?;
    measured?;
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    Ok(ExitCode::SUCCESS)
}

/// A schema of its own on a PostgreSQL server for one bench run, dropped
/// afterwards: the store opened on `url` lives there.
pub(crate) struct ScratchSchema {
    admin_url: String,
    schema: String,
    pub url: relance_store::PostgresUrl,
}

impl ScratchSchema {
    pub fn create(admin_url: &str, what: &str) -> anyhow::Result<ScratchSchema> {
        if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
            bail!("expected a postgres://… URL, got `{admin_url}`");
        }
        let schema = format!("relance_bench_{what}_{}", std::process::id());
        block_on_admin(pg_exec(admin_url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")))?;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = relance_store::PostgresUrl::parse(&format!("{admin_url}{sep}options=-c%20search_path%3D{schema}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(ScratchSchema { admin_url: admin_url.to_string(), schema, url })
    }

    pub fn drop(self) -> anyhow::Result<()> {
        block_on_admin(pg_exec(&self.admin_url, &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)))
    }
}

fn block_on_admin<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

async fn pg_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.context("cannot connect")?;
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.with_context(|| format!("{sql:.80}…"))?;
    drop(client);
    let _ = task.await;
    Ok(())
}

/// `bench import --sizes …`: each size in a child process (its own peak RSS) and a fresh
/// directory, removed before the next size (a 5M-row database is several GB).
fn import_sizes(sizes: &[u64], dir: Option<PathBuf>, no_rss: bool) -> anyhow::Result<ExitCode> {
    let (_tmp, base) = bench_dir(dir)?;
    let exe = std::env::current_exe()?;
    let mut failed = false;
    for &rows in sizes {
        let work = base.join(format!("import-{rows}"));
        if work.exists() {
            std::fs::remove_dir_all(&work)?;
        }
        println!("== {rows} rows");
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "import", "--rows", &rows.to_string(), "--dir"]).arg(&work);
        if no_rss {
            cmd.arg("--no-rss");
        }
        let status = cmd.status().context("cannot start the child bench")?;
        let _ = std::fs::remove_dir_all(&work);
        if !status.success() {
            eprintln!("bench import --rows {rows} failed: {status}");
            failed = true;
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Samples the position of the tenant's latest import while it runs.
struct Progress {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl Progress {
    fn start(store: relance_store::Store, tenant: TenantId) -> Progress {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut samples = vec![(0.0, 0)];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if let Ok(Some(p)) = store.import_progress(&tenant, "erp") {
                    samples.push((t0.elapsed().as_secs_f64(), p));
                }
            }
            samples
        });
        Progress { stop, handle }
    }

    fn stop(self) -> Vec<(f64, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Rows/s over each tenth of the file (from the sampled positions), the last
/// tenth against the first, and the time after the last row was applied.
fn tenths_line(samples: &[(f64, u64)], rows: u64, total_secs: f64) -> Option<String> {
    // The first time at which `position` reached `at`, interpolated between samples.
    let time_at = |at: u64| -> Option<f64> {
        let i = samples.iter().position(|&(_, p)| p >= at)?;
        if i == 0 {
            return Some(0.0);
        }
        let ((t0, p0), (t1, p1)) = (samples[i - 1], samples[i]);
        Some(t0 + (t1 - t0) * (at - p0) as f64 / (p1 - p0).max(1) as f64)
    };
    if rows < 10 {
        return None;
    }
    let marks: Vec<f64> = (0..=10).map(|k| time_at(rows * k / 10)).collect::<Option<_>>()?;
    let rates: Vec<f64> = marks.windows(2).map(|w| (rows / 10) as f64 / (w[1] - w[0]).max(1e-3)).collect();
    let list: Vec<String> = rates.iter().map(|r| format!("{:.0}k", r / 1000.0)).collect();
    Some(format!(
        "rows/s by tenth of the file: {}; last tenth / first = {:.2}; after the last batch (finish): {:.2} s",
        list.join(" "),
        rates[9] / rates[0].max(1.0),
        (total_secs - marks[10]).max(0.0)
    ))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn write_bench_config(base: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(base.join("tenants"))?;
    std::fs::create_dir_all(base.join("invoices"))?;
    let config = base.join("relance.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\nlog_level = \"warn\"\n")?;
    std::fs::write(
        base.join("tenants").join("bench.toml"),
        r#"name = "Benchmark"
[api]
tokens = ["bench-token-0123"]
[connectors.erp]
kind = "csv_invoices"
path = "../invoices"
mode = "full"
settle = "0s"
schedule = "watch"
batch_size = 20000
"#,
    )?;
    Ok(config)
}

/// Writes a French-style export: `;`-separated, decimal commas, DD/MM/YYYY.
fn generate_csv(path: &Path, rows: u64) -> anyhow::Result<u64> {
    let mut rng = fastrand::Rng::with_seed(20261123);
    let customers = (rows / 20).max(1);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        w,
        "invoice_number;customer_id;customer_name;customer_email;customer_iban;issue_date;due_date;currency;amount_total;amount_open"
    )?;
    let mut bytes = 0u64;
    let mut line = String::with_capacity(256);
    for i in 0..rows {
        let c = rng.u64(0..customers);
        let total = rng.i64(1_000..5_000_000);
        let open = if rng.u8(0..10) == 0 { total / 2 } else { total };
        let day = rng.u32(1..=28);
        let month = rng.u32(1..=12);
        line.clear();
        use std::fmt::Write as _;
        writeln!(
            line,
            "FA-2026-{i:07};C{c:06};Client {c} SARL;compta{c}@client{c}.example;{};{day:02}/{month:02}/2026;{:02}/{:02}/2027;EUR;{};{}",
            iban_for(c),
            day,
            month,
            french_amount(total),
            french_amount(open)
        )?;
        bytes += line.len() as u64;
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    Ok(bytes)
}

/// `1234567` → `12 345,67`.
fn french_amount(minor: i64) -> String {
    let units = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(ch);
    }
    format!("{grouped},{:02}", minor % 100)
}

/// A valid French IBAN derived from a customer number.
fn iban_for(c: u64) -> String {
    let bban = format!("3000600001{c:011}89");
    let digits = format!("{bban}152700");
    let rem = digits.bytes().fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("FR{:02}{bban}", 98 - rem)
}

pub(crate) fn peak_rss_kb() -> Option<u64> {
    proc_status_kb("self", "VmHWM:")
}

pub(crate) fn proc_status_kb(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Starts `relance run` on `config` (on a free loopback port), waits until
/// `/healthz` answers, lets it settle, reads its VmRSS, then stops it with SIGTERM.
fn idle_rss(config: &Path, settle: Duration) -> anyhow::Result<u64> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["run", "--config"])
        .arg(config)
        .env("RELANCE__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start relance run")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut healthy = false;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("relance run exited early: {status}");
        }
        if http_get(port, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !healthy {
        let _ = child.kill();
        bail!("relance run did not become healthy within 60 s");
    }
    std::thread::sleep(settle);
    let rss = proc_status_kb(&child.id().to_string(), "VmRSS:");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let stop = Instant::now();
    loop {
        if child.try_wait()?.is_some() || stop.elapsed() > Duration::from_secs(40) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    rss.context("cannot read the daemon's memory")
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn bench_parse(mb: usize) -> anyhow::Result<ExitCode> {
    use relance_connectors::statements::stream::{self, Sink, StatementInfo, TextEncoding};
    use relance_connectors::statements::{Transaction, csv::CsvMapping};

    /// Counts the transactions; with `json`, writes each as `relance statements parse` does
    /// (into a reused buffer, emptied as the command's output would be written).
    struct Count {
        n: usize,
        json: Option<Vec<u8>>,
    }
    impl Sink for Count {
        fn transaction(&mut self, _: &StatementInfo, tx: Transaction) -> std::io::Result<()> {
            if let Some(buf) = self.json.as_mut() {
                crate::statements_cmd::write_transaction(buf, self.n, &tx.line);
                if buf.len() >= 64 << 10 {
                    std::hint::black_box(&buf);
                    buf.clear();
                }
            }
            self.n += 1;
            Ok(())
        }
    }

    let target = mb * 1_000_000;
    for (name, doc) in [("camt.053", camt_doc(target)), ("MT940", mt940_doc(target))] {
        let mb = doc.len() as f64 / 1e6;
        let best_of_5 = |f: &mut dyn FnMut() -> anyhow::Result<usize>| -> anyhow::Result<(f64, usize)> {
            let (mut best, mut count) = (f64::MAX, 0);
            for _ in 0..5 {
                let t = Instant::now();
                count = f()?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            Ok((best, count))
        };
        let (whole, count) = best_of_5(&mut || {
            let parsed =
                relance_connectors::statements::parse(doc.as_bytes()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            Ok(parsed.transactions().count())
        })?;
        let streamed = |json: bool| {
            best_of_5(&mut || {
                let mut sink = Count { n: 0, json: json.then(|| Vec::with_capacity(80 << 10)) };
                stream::stream_reader(doc.as_bytes(), TextEncoding::Utf8, &CsvMapping::default(), &mut sink)
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                Ok(sink.n)
            })
        };
        let (stream_only, _) = streamed(false)?;
        let (with_json, _) = streamed(true)?;
        println!(
            "parse {name}: {mb:.1} MB, {count} transactions (best of 5): whole {whole:.3} s = {:.0} MB/s; streamed {stream_only:.3} s = {:.0} MB/s; streamed + JSON lines {with_json:.3} s = {:.0} MB/s [target ≥ 150 MB/s end to end]",
            mb / whole,
            mb / stream_only,
            mb / with_json,
        );
    }
    println!(
        "peak RSS {:.0} MB (the generated files are in memory); machine: {} cores, {}",
        peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!("end to end with the real I/O: relance statements parse FILE > /dev/null (see docs/performance.md)");
    Ok(ExitCode::SUCCESS)
}

/// Builds realistic replies (quoted reminder, HTML or plain, FR/EN) and
/// understands them on one thread.
fn bench_replies(n: usize, dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let texts: Vec<&str> = include_str!("../crates/engine/src/replies/hard_cases.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('|').map(|(_, t)| t))
        .collect();
    let mut messages: Vec<Vec<u8>> = (0..texts.len().min(n))
        .map(|i| {
            let quoted = "Le mar. 6 oct. 2026 à 08:30, Comptabilité clients <compta@fournisseur.example> a écrit :\r\n> Madame, Monsieur,\r\n> Nous n'avons pas reçu le règlement de la facture FAC-88240 (1 250,00 €), échue depuis le 15/09/2026.\r\n> En cas de désaccord, merci de nous indiquer le motif.\r\n";
            format!(
                "From: client{i}@example.com\r\nTo: relances@fournisseur.example\r\nSubject: RE: Relance facture FAC-{i}\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nMessage-ID: <m{i}@example.com>\r\nIn-Reply-To: <rl.{i}@fournisseur.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n{}\r\nCordialement,\r\nJ. Martin\r\n\r\n{quoted}",
                texts[i % texts.len()]
            )
            .into_bytes()
        })
        .collect();
    if let Some(dir) = dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        messages = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
        anyhow::ensure!(!messages.is_empty(), "no .eml file in {}", dir.display());
        let bytes: usize = messages.iter().map(Vec::len).sum();
        println!("{} messages from {}, {} bytes on average", messages.len(), dir.display(), bytes / messages.len());
    }
    let today = chrono::Utc::now().date_naive();
    let t = Instant::now();
    let mut intents = 0usize;
    for i in 0..n {
        let u = relance_engine::replies::understand(&messages[i % messages.len()], today)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        intents += usize::from(u.intent != relance_engine::replies::Intent::Other);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "replies: {n} messages understood in {secs:.2} s = {:.0} messages/s on one core ({intents} with an intent) [target ≥ 5,000/s per core]",
        n as f64 / secs
    );
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    Ok(ExitCode::SUCCESS)
}

fn bench_imap(port: u16, n: usize, password: &str) -> anyhow::Result<ExitCode> {
    use std::io::{BufRead, BufReader};
    let user = format!("bench-{}@tenant-a.test", std::process::id());
    // Append with LITERAL+ pipelining over one raw connection (setup, not timed).
    let t0 = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).context("cannot reach the test IMAP server")?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = std::io::BufWriter::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    write!(w, "a LOGIN \"{user}\" \"{password}\"\r\n")?;
    w.flush()?;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.starts_with("a ") {
            if !line.starts_with("a OK") {
                bail!("login refused: {line}");
            }
            break;
        }
    }
    let texts = [
        "Nous paierons cette facture vendredi.",
        "We paid this on 2 October.",
        "Nous contestons cette facture.",
        "Pourriez-vous renvoyer la facture ?",
    ];
    for i in 0..n {
        let msg = format!(
            "From: c{i}@client.example\r\nSubject: RE: Relance FAC-{i}\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nMessage-ID: <b{i}@client.example>\r\n\r\nBonjour,\r\n{}\r\nCordialement\r\n\r\nLe mar. 6 oct. 2026 a 08:30, X a ecrit :\r\n> rappel\r\n",
            texts[i % texts.len()]
        );
        write!(w, "p{i} APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len())?;
    }
    w.flush()?;
    let mut done = 0;
    while done < n {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed after {done} appends");
        }
        if line.starts_with('p') {
            done += 1;
        }
    }
    println!("appended {n} messages in {:.2} s (setup)", t0.elapsed().as_secs_f64());
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("tenants"))?;
    std::fs::write(dir.path().join("relance.toml"), "data_dir = \"data\"\nlog_level = \"warn\"\n")?;
    std::fs::write(
        dir.path().join("tenants/bench.toml"),
        format!(
            "[connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\nusername = \"{user}\"\npassword = \"{password}\"\n"
        ),
    )?;
    let settings = Settings::load(&dir.path().join("relance.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let rt = Runtime::new(settings, &relance_connectors::builtin_registry())?;
    let t1 = Instant::now();
    let results = tokio.block_on(rt.run_once(CancellationToken::new()));
    let secs = t1.elapsed().as_secs_f64();
    let items: u64 = results.iter().filter_map(|r| r.result.as_ref().ok()).map(|r| r.items + r.quarantined).sum();
    if let Some(Err(e)) = results.iter().map(|r| &r.result).find(|r| r.is_err()) {
        bail!("ingestion failed: {e}");
    }
    println!(
        "imap: {items} messages fetched, stored, understood, recorded and moved in {secs:.2} s = {:.0} messages/s [target 10,000 in ≤ 15 s]",
        items as f64 / secs
    );
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    Ok(ExitCode::SUCCESS)
}

/// A camt.053 document of about `bytes` bytes, entries as banks write them.
pub(crate) fn camt_doc(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 4096);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-11-23T10:00:00</CreDtTm></GrpHdr>\n<Stmt><Id>BENCH-1</Id><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\n");
    let mut i = 0u64;
    while s.len() < bytes {
        let _ = write!(
            s,
            "<Ntry><NtryRef>{i}</NtryRef><Amt Ccy=\"EUR\">{}.{:02}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-23</Dt></BookgDt><ValDt><Dt>2026-11-23</Dt></ValDt><AcctSvcrRef>BQ{i:012}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n<NtryDtls><TxDtls><Refs><EndToEndId>E2E{i}</EndToEndId></Refs><RltdPties><Dbtr><Nm>CLIENT {i} SARL</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties><RmtInf><Ustrd>Facture FA-2026-{i:07} merci</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
            100 + i % 9000,
            i % 100
        );
        i += 1;
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

/// An MT940 file of about `bytes` bytes: daily messages of 500 lines with German `:86:` details.
pub(crate) fn mt940_doc(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 4096);
    let mut i = 0u64;
    while s.len() < bytes {
        let _ =
            write!(s, ":20:STMT{i}\r\n:25:DE89370400440532013000\r\n:28C:{}/1\r\n:60F:C261122EUR1000,00\r\n", i / 500);
        for _ in 0..500 {
            let _ = write!(
                s,
                ":61:2611231123C{},{:02}NTRFNONREF//B{i:012}\r\n:86:166?00GUTSCHRIFT?20EREF+E2E{i}?21SVWZ+Rechnung FA-2026-{i:07}?22 danke?30BANKDEFF?31DE89370400440532013000?32KUNDE {i} GMBH\r\n",
                100 + i % 9000,
                i % 100
            );
            i += 1;
        }
        s.push_str(":62F:C261123EUR1000,00\r\n-\r\n");
    }
    s
}

/// `bench memory`: peak resident memory (VmHWM) of parsing large statements
/// and understanding large replies. Each case runs in a child process
/// (`bench memory-case KIND FILE`), so its peak is its own; the input's cost
/// is that peak minus the process's own before it read the file (the binary
/// and runtime, a few MB), and includes the file's bytes.
mod memory {
    use std::fmt::Write as _;
    use std::path::Path;
    use std::process::{Command, ExitCode};
    use std::time::Instant;

    use anyhow::{Context, bail};

    use super::{camt_doc, cpu_model, mt940_doc, peak_rss_kb};

    /// Statements may peak at this many times their size…
    const MAX_RATIO: f64 = 4.0;
    /// …and take this long.
    const MAX_SECONDS: f64 = 10.0;

    /// What a case measures.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
    pub enum Kind {
        /// `statements::parse` (format detected), the file in memory.
        Statement,
        /// `statements::stream::stream_file` (what the CLI and the bank connector do).
        Streamed,
        /// `replies::understand`.
        Reply,
    }

    impl Kind {
        fn as_str(self) -> &'static str {
            match self {
                Kind::Statement => "statement",
                Kind::Streamed => "streamed",
                Kind::Reply => "reply",
            }
        }
    }

    struct Case {
        name: &'static str,
        kind: Kind,
        text: fn(usize) -> String,
    }

    const CASES: &[Case] = &[
        Case { name: "camt.053, streamed", kind: Kind::Streamed, text: camt_doc },
        Case { name: "camt.053, one line, streamed", kind: Kind::Streamed, text: camt_one_line },
        Case { name: "MT940, streamed", kind: Kind::Streamed, text: mt940_doc },
        Case { name: "MT940, one :86: line, streamed", kind: Kind::Streamed, text: mt940_one_field },
        Case { name: "camt.053, one line", kind: Kind::Statement, text: camt_one_line },
        Case { name: "MT940, 500-entry messages", kind: Kind::Statement, text: mt940_doc },
        Case { name: "MT940, one :86: line", kind: Kind::Statement, text: mt940_one_field },
        Case { name: "CFONB 120, records back to back", kind: Kind::Statement, text: cfonb_one_line },
        Case { name: "OFX SGML, one line", kind: Kind::Statement, text: ofx_one_line },
        Case { name: "CSV, bank export rows", kind: Kind::Statement, text: csv_rows },
        Case { name: "CSV, minimal rows", kind: Kind::Statement, text: csv_minimal_rows },
        Case { name: "CSV, one row with one field", kind: Kind::Statement, text: csv_one_field },
        Case { name: "CSV, one header line", kind: Kind::Statement, text: csv_one_header },
        Case { name: "reply, CRLF lines", kind: Kind::Reply, text: reply_crlf },
        Case { name: "reply, bare-CR body lines", kind: Kind::Reply, text: reply_bare_cr },
        Case { name: "reply, HTML with nested quotes", kind: Kind::Reply, text: reply_html },
    ];

    pub fn bench_memory(mb: usize, mail_mb: usize, only: Option<&str>) -> anyhow::Result<ExitCode> {
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let mut over: Vec<&str> = Vec::new();
        for (i, case) in CASES.iter().enumerate() {
            if only.is_some_and(|o| !case.name.to_lowercase().contains(&o.to_lowercase())) {
                continue;
            }
            let size = if case.kind == Kind::Reply { mail_mb } else { mb } * 1_000_000;
            let file = dir.path().join(format!("case-{i}"));
            let text = (case.text)(size);
            std::fs::write(&file, text.as_bytes())?;
            let input = text.len() as f64;
            drop(text);
            let out = Command::new(&exe).args(["bench", "memory-case", case.kind.as_str()]).arg(&file).output()?;
            std::fs::remove_file(&file)?;
            if !out.status.success() {
                bail!("{}: the child failed ({}): {}", case.name, out.status, String::from_utf8_lossy(&out.stderr));
            }
            // `<seconds> <peak kB at start> <peak kB> <outcome>`
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let mut parts = line.splitn(4, ' ');
            let mut number =
                || -> anyhow::Result<f64> { parts.next().and_then(|s| s.parse().ok()).context("child output") };
            let (secs, start_kb, peak_kb) = (number()?, number()?, number()?);
            let outcome = parts.next().unwrap_or("");
            // The input's cost: the peak above what the process had before reading it.
            let ratio = (peak_kb - start_kb) * 1024.0 / input;
            let verdict = if case.kind == Kind::Reply {
                String::new()
            } else if ratio <= MAX_RATIO && secs <= MAX_SECONDS {
                format!(" [target ≤ {MAX_RATIO}×, ≤ {MAX_SECONDS} s: ok]")
            } else {
                over.push(case.name);
                format!(" [target ≤ {MAX_RATIO}×, ≤ {MAX_SECONDS} s: OVER]")
            };
            println!(
                "memory: {:<32} {:>5.1} MB in {:>5.2} s, peak RSS {:>6.1} MB ({:>5.1} MB at start) = {:>4.1}× the input; {outcome}{verdict}",
                case.name,
                input / 1e6,
                secs,
                peak_kb / 1024.0,
                start_kb / 1024.0,
                ratio
            );
        }
        println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
        if !over.is_empty() {
            println!("over target: {}", over.join(", "));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The child: reads the file, does the work, prints `<seconds> <peak kB> <outcome>`.
    pub fn memory_case(kind: Kind, file: &Path) -> anyhow::Result<ExitCode> {
        let start_kb = peak_rss_kb().unwrap_or(0);
        if kind == Kind::Streamed {
            use relance_connectors::statements::stream::{self, Sink, StatementInfo};
            struct Count(usize);
            impl Sink for Count {
                fn transaction(
                    &mut self,
                    _: &StatementInfo,
                    _: relance_connectors::statements::Transaction,
                ) -> std::io::Result<()> {
                    self.0 += 1;
                    Ok(())
                }
            }
            let t = Instant::now();
            let mut count = Count(0);
            let outcome = match stream::stream_file(file, &Default::default(), &mut count) {
                Ok(_) => format!("{} transactions", count.0),
                Err(e) => format!("rejected: {}", relance_connector::guard::truncate(&e.to_string(), 70)),
            };
            let secs = t.elapsed().as_secs_f64();
            println!("{secs:.3} {start_kb} {} {outcome}", peak_rss_kb().unwrap_or(0));
            return Ok(ExitCode::SUCCESS);
        }
        let bytes = std::fs::read(file)?;
        let t = Instant::now();
        let outcome = match kind {
            Kind::Statement => match relance_connectors::statements::parse(&bytes) {
                Ok(p) => {
                    let n = p.transactions().count();
                    let held_kb =
                        peak_rss_kb().unwrap_or(0).saturating_sub(start_kb) as f64 - bytes.len() as f64 / 1024.0;
                    if n < 100 {
                        format!("{n} transactions")
                    } else {
                        format!("{n} transactions, {:.0} bytes each besides the input", held_kb * 1024.0 / n as f64)
                    }
                }
                Err(e) => format!(
                    "rejected ({} bytes of error): {}",
                    e.message.len(),
                    relance_connector::guard::truncate(&e.to_string(), 70)
                ),
            },
            Kind::Streamed => String::new(),
            Kind::Reply => match relance_engine::replies::understand(&bytes, chrono::Utc::now().date_naive()) {
                Ok(u) => format!("intent {}, new text of {} bytes", u.intent.as_str(), u.new_text.len()),
                Err(e) => format!("rejected: {e}"),
            },
        };
        let secs = t.elapsed().as_secs_f64();
        println!("{secs:.3} {start_kb} {} {outcome}", peak_rss_kb().unwrap_or(0));
        Ok(ExitCode::SUCCESS)
    }

    fn camt_one_line(bytes: usize) -> String {
        camt_doc(bytes).replace('\n', "")
    }

    /// A valid MT940 statement with one entry whose `:86:` is one line of `bytes`.
    fn mt940_one_field(bytes: usize) -> String {
        let mut s = String::from(
            ":20:STMT1\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C261122EUR1000,00\n:61:2611231123C10,00NTRFNONREF//B1\n:86:",
        );
        let mut i = 0u64;
        while s.len() < bytes {
            let _ = write!(s, "Rechnung FA-2026-{i:07} ");
            i += 1;
        }
        s.push_str("\n:62F:C261123EUR1010,00\n-\n");
        s
    }

    /// A CFONB 120 record: `fields` at their 1-based positions.
    fn cfonb_record(fields: &[(usize, &str)]) -> String {
        let mut r = vec![b' '; 120];
        for (at, v) in fields {
            r[at - 1..at - 1 + v.len()].copy_from_slice(v.as_bytes());
        }
        String::from_utf8(r).unwrap_or_default()
    }

    /// CFONB 120 with no line breaks: movements with a detail record each.
    fn cfonb_one_line(bytes: usize) -> String {
        let bank = [(3, "30006"), (12, "00001"), (17, "EUR"), (20, "2"), (22, "12345678901")];
        let rec = |more: &[(usize, &str)]| cfonb_record(&[&bank[..], more].concat());
        let mut s = rec(&[(1, "01"), (35, "221126"), (91, "0000000100000{")]);
        let mut i = 0u64;
        while s.len() < bytes {
            let label = format!("VIR SEPA CLIENT {i} FA-{i:07}");
            let entry = format!("{:07}", i % 10_000_000);
            s.push_str(&rec(&[
                (1, "04"),
                (35, "231126"),
                (43, "231126"),
                (49, &label),
                (82, &entry),
                (91, "0000000012345E"),
            ]));
            s.push_str(&rec(&[(1, "05"), (46, "NPY"), (49, "CLIENT SARL")]));
            i += 1;
        }
        s.push_str(&rec(&[(1, "07"), (35, "231126"), (91, "0000000100000{")]));
        s
    }

    /// OFX 1.x (SGML) on one line.
    fn ofx_one_line(bytes: usize) -> String {
        let mut s = String::from(
            "OFXHEADER:100 DATA:OFXSGML VERSION:102 <OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30006<ACCTID>12345678901</BANKACCTFROM><BANKTRANLIST>",
        );
        let mut i = 0u64;
        while s.len() < bytes {
            let _ = write!(
                s,
                "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20261123<TRNAMT>{}.{:02}<FITID>F{i}<NAME>CLIENT {i} SARL<MEMO>FACTURE FA-2026-{i:07}</STMTTRN>",
                100 + i % 9000,
                i % 100
            );
            i += 1;
        }
        s.push_str("</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>");
        s
    }

    /// Rows as French banks export them (about 120 bytes each).
    fn csv_rows(bytes: usize) -> String {
        let mut s = String::from("Date opération;Date valeur;Libellé;Débit;Crédit;Solde;Devise\n");
        let mut i = 0u64;
        while s.len() < bytes {
            let _ = writeln!(
                s,
                "23/11/2026;24/11/2026;VIR SEPA RECU /DE CLIENT {i} SARL /MOTIF FACTURE FA-2026-{i:07};;{},{:02};{},00;EUR",
                100 + i % 9000,
                i % 100,
                10_000 + i % 90_000
            );
            i += 1;
        }
        s
    }

    /// The densest readable rows (about 20 bytes each): memory then follows
    /// the number of transactions held, not the shape of the file.
    fn csv_minimal_rows(bytes: usize) -> String {
        let mut s = String::from("Date;Montant\n");
        let mut i = 0u64;
        while s.len() < bytes {
            let _ = writeln!(s, "23/11/2026;{},{:02}", 1 + i % 90, i % 100);
            i += 1;
        }
        s
    }

    fn csv_one_field(bytes: usize) -> String {
        let mut s = String::from("Date;Libellé;Montant\n23/11/2026;");
        while s.len() < bytes {
            s.push_str("VIR CLIENT FA-2026-0000001 ");
        }
        s.push_str(";12,50\n");
        s
    }

    fn csv_one_header(bytes: usize) -> String {
        let mut s = String::new();
        let mut i = 0u64;
        while s.len() < bytes {
            let _ = write!(s, "Colonne {i};");
            i += 1;
        }
        s.push_str("\n23/11/2026;12,50\n");
        s
    }

    /// A plain-text reply: CRLF headers, then body lines ending with `eol`.
    fn reply(bytes: usize, eol: &str) -> String {
        let mut s = format!(
            "From: client@example.com\r\nTo: relances@example.com\r\nSubject: RE: Facture FA-2026-0001\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, nous réglerons la facture FA-2026-0001 le 15 octobre.{eol}{eol}"
        );
        while s.len() < bytes {
            let _ = write!(s, "> Ligne citée de la relance précédente, facture FA-2026-0001, 1 250,00 EUR.{eol}");
        }
        s
    }

    fn reply_crlf(bytes: usize) -> String {
        reply(bytes, "\r\n")
    }

    fn reply_bare_cr(bytes: usize) -> String {
        reply(bytes, "\r")
    }

    /// An HTML-only reply (what Outlook and Gmail send): the customer's line,
    /// then a quoted history of blockquotes nested ever deeper, to `bytes`.
    fn reply_html(bytes: usize) -> String {
        let mut s = String::from(
            "From: client@example.com\r\nTo: relances@example.com\r\nSubject: RE: Facture FA-2026-0001\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div>Bonjour, nous r&eacute;glerons la facture FA-2026-0001 le 15 octobre.</div><div class=\"gmail_quote\">",
        );
        while s.len() < bytes {
            let _ = write!(
                s,
                "<blockquote style=\"margin:0 0 0 .8ex;border-left:1px #ccc solid\"><p>Ligne cit&eacute;e de la relance, facture FA-2026-0001, 1&nbsp;250,00&nbsp;&euro;.</p>\r\n"
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_valid() {
        for c in [0, 1, 42, 99_999] {
            assert!(relance_domain::iban::normalize_iban(&iban_for(c)).is_ok(), "{}", iban_for(c));
        }
        assert_eq!(french_amount(123_456_789), "1 234 567,89");
        assert_eq!(french_amount(1_005), "10,05");
    }
}
