//! `relance bench send`: reminder emails through a real SMTP server.
//!
//! Builds a temporary deployment with N customers, each with one invoice one
//! day overdue, imports it, plans the day (N reminders rendered and queued in
//! the outbox), then times the delivery pass: claim, compose (text + HTML),
//! send over SMTP with the pooled transport, record. Target: 10,000 emails in
//! ≤ 20 s to the loopback test server (scripts/test-servers/smtp-server.sh).
//!
//! `--pg` keeps the deployment on PostgreSQL; `--daemons N` then runs N
//! daemons' worth of runtime (each its own store and connections) that all
//! plan the day and deliver at once, as several `relance run` would: the
//! reminders are queued once and sent once in all (checked).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeZone};
use tokio_util::sync::CancellationToken;

use relance_config::Settings;
use relance_domain::TenantId;
use relance_runtime::daemon::Runtime;
use relance_runtime::reminders::deliver;
use relance_runtime::reminders::plan;

pub fn bench_send(
    smtp: &str,
    count: usize,
    concurrency: usize,
    pool: u32,
    pg: Option<&str>,
    daemons: usize,
) -> anyhow::Result<ExitCode> {
    let (host, port) = smtp.rsplit_once(':').context("--smtp is HOST:PORT")?;
    let port: u16 = port.parse().context("--smtp port")?;
    if daemons == 0 || (daemons > 1 && pg.is_none()) {
        bail!("--daemons: 1 on SQLite (one daemon per SQLite database), 1 or more with --pg");
    }
    let tmp = tempfile::tempdir()?;
    let base = tmp.path();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let database = match pg {
        Some(url) => {
            let (server, _) = url.rsplit_once('/').context("--pg is postgres://user:password@host:port/database")?;
            tokio.block_on(async {
                crate::bench_sql::exec(url, "DROP DATABASE IF EXISTS relance_bench_send").await?;
                crate::bench_sql::exec(url, "CREATE DATABASE relance_bench_send").await
            })?;
            Some(format!("{server}/relance_bench_send"))
        }
        None => None,
    };
    write_config(base, host, port, pool, database.as_deref())?;
    write_invoices(&base.join("input").join("invoices.csv"), count)?;
    let outcome = run(base, count, concurrency, pool, daemons, &tokio);
    if let Some(url) = pg {
        tokio.block_on(crate::bench_sql::exec(url, "DROP DATABASE IF EXISTS relance_bench_send"))?;
    }
    outcome
}

fn run(
    base: &Path,
    count: usize,
    concurrency: usize,
    pool: u32,
    daemons: usize,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&base.join("relance.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let backend = match &settings.database {
        relance_store::DatabaseUrl::Sqlite(_) => "SQLite",
        relance_store::DatabaseUrl::Postgres(_) => "PostgreSQL",
    };
    // Each daemon: its own runtime state, store and connections, on the same database.
    let rts = (0..daemons)
        .map(|_| Runtime::new(settings.clone(), &relance_connectors::builtin_registry()))
        .collect::<Result<Vec<_>, _>>()?;
    let tenant = TenantId::new("bench")?;
    let t = rts[0].settings.tenant("bench").context("bench tenant")?.clone();
    let t_import = Instant::now();
    let results = tokio.block_on(rts[0].run_once(CancellationToken::new()));
    if let Some(e) = results.iter().find_map(|r| r.result.as_ref().err()) {
        bail!("import failed: {e}");
    }
    println!("[{backend}] imported {count} invoices in {:.2} s", t_import.elapsed().as_secs_f64());
    let day = NaiveDate::from_ymd_opt(2026, 12, 2).context("date")?;
    // Every daemon plans the day at once: the reminders are queued once.
    let t0 = Instant::now();
    let plans = std::thread::scope(|s| {
        let handles: Vec<_> = rts.iter().map(|rt| s.spawn(|| plan::plan_day(&rt.store, &t, day))).collect();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow::anyhow!("a planner panicked"))).collect::<Vec<_>>()
    });
    let plan_secs = t0.elapsed().as_secs_f64();
    let mut queued = 0;
    for p in plans {
        queued += p??.queued.len();
    }
    if queued != count {
        bail!("planned {queued} reminders in all, expected {count}");
    }
    println!(
        "[{backend}] planned and rendered {count} reminders in {plan_secs:.2} s ({daemons} daemon(s) planning the day at once)"
    );
    let now =
        t.timezone.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().context("local time")?.with_timezone(&chrono::Utc);
    let t1 = Instant::now();
    let reports = tokio.block_on(async {
        let mut tasks = Vec::new();
        for rt in &rts {
            let (rt, t, tenant) = (rt.clone(), t.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let channels = rt.channels(&tenant);
                let r =
                    deliver::deliver_due(&rt.store, &t, &channels, now, concurrency, &CancellationToken::new()).await;
                drop(channels);
                r
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await);
        }
        out
    });
    let secs = t1.elapsed().as_secs_f64();
    let (mut sent, mut retried, mut failed) = (0u64, 0u64, 0u64);
    for r in reports {
        let r = r.map_err(|e| anyhow::anyhow!("a delivery task failed: {e}"))??;
        sent += r.sent as u64;
        retried += r.retried as u64;
        failed += r.failed as u64;
    }
    drop(rts);
    if sent as usize != count {
        bail!("sent {sent} of {count} ({retried} to retry, {failed} failed)");
    }
    println!(
        "[{backend}] send: {count} emails over SMTP in {secs:.2} s = {:.0} emails/s ({daemons} daemon(s), concurrency {concurrency} each, {pool} pooled connections each) [target 10000 in ≤ 20 s]",
        count as f64 / secs
    );
    Ok(ExitCode::SUCCESS)
}

fn write_config(base: &Path, host: &str, port: u16, pool: u32, database: Option<&str>) -> anyhow::Result<()> {
    std::fs::create_dir_all(base.join("tenants"))?;
    std::fs::create_dir_all(base.join("scenarios"))?;
    let database = database.map(|u| format!("[database]\nurl = \"{u}\"\n")).unwrap_or_default();
    std::fs::write(
        base.join("relance.toml"),
        format!("data_dir = \"data\"\nscenarios_dir = \"scenarios\"\n{database}"),
    )?;
    std::fs::write(
        base.join("scenarios").join("bench.toml"),
        "description = \"bench\"\n[[steps]]\nid = \"courteous\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n",
    )?;
    std::fs::write(
        base.join("tenants").join("bench.toml"),
        format!(
            r#"name = "Bench Industrie"
scenarios = ["bench"]
[connectors.erp]
kind = "csv_invoices"
path = "../input"
settle = "0s"
[connectors.mail]
kind = "smtp"
host = "{host}"
port = {port}
tls = "none"
allow_plaintext = true
from = "Bench Relances <relances@bench.test>"
reply_to = "collections@bench.test"
pool_size = {pool}
"#
        ),
    )?;
    Ok(())
}

fn write_invoices(path: &Path, count: usize) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().context("parent")?)?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        f,
        "invoice_number,customer_id,customer_name,customer_email,issue_date,due_date,currency,amount_total,amount_open"
    )?;
    for i in 0..count {
        writeln!(
            f,
            "B-{i:06},C{i:06},Client {i},client{i}@bench.test,2026-11-01,2026-12-01,EUR,{}.{:02},{}.{:02}",
            100 + i % 900,
            i % 100,
            100 + i % 900,
            i % 100
        )?;
    }
    f.flush()?;
    Ok(())
}
