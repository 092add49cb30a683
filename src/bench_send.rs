//! `relance bench send`: reminder emails through a real SMTP server.
//!
//! Builds a temporary deployment with N customers, each with one invoice one
//! day overdue, imports it, plans the day (N reminders rendered and queued in
//! the outbox), then times the delivery pass: claim, compose (text + HTML),
//! send over SMTP with the pooled transport, record. Target: 10,000 emails in
//! ≤ 20 s to the loopback test server (scripts/test-servers/smtp-server.sh).

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

pub fn bench_send(smtp: &str, count: usize, concurrency: usize, pool: u32) -> anyhow::Result<ExitCode> {
    let (host, port) = smtp.rsplit_once(':').context("--smtp is HOST:PORT")?;
    let port: u16 = port.parse().context("--smtp port")?;
    let tmp = tempfile::tempdir()?;
    let base = tmp.path();
    write_config(base, host, port, pool)?;
    write_invoices(&base.join("input").join("invoices.csv"), count)?;
    let settings = Settings::load(&base.join("relance.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let rt = Runtime::new(settings, &relance_connectors::builtin_registry())?;
    let tenant = TenantId::new("bench")?;
    let results = tokio.block_on(rt.run_once(CancellationToken::new()));
    if let Some(e) = results.iter().find_map(|r| r.result.as_ref().err()) {
        bail!("import failed: {e}");
    }
    let t = rt.settings.tenant("bench").context("bench tenant")?.clone();
    let day = NaiveDate::from_ymd_opt(2026, 12, 2).context("date")?;
    let t0 = Instant::now();
    let plan = plan::plan_day(&rt.store, &t, day)?;
    let plan_secs = t0.elapsed().as_secs_f64();
    if plan.queued.len() != count {
        bail!("planned {} reminders, expected {count}: {:?}", plan.queued.len(), plan.errors);
    }
    println!("planned and rendered {count} reminders in {plan_secs:.2} s");
    let now =
        t.timezone.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().context("local time")?.with_timezone(&chrono::Utc);
    let channels = rt.channels(&tenant);
    let t1 = Instant::now();
    let report = tokio.block_on(async {
        let r = deliver::deliver_due(&rt.store, &t, &channels, now, concurrency, &CancellationToken::new()).await;
        drop(channels);
        drop(rt);
        r
    })?;
    let secs = t1.elapsed().as_secs_f64();
    if report.sent as usize != count {
        bail!("sent {} of {count} ({} to retry, {} failed)", report.sent, report.retried, report.failed);
    }
    println!(
        "send: {count} emails over SMTP in {secs:.2} s = {:.0} emails/s (concurrency {concurrency}, {pool} pooled connections) [target 10000 in ≤ 20 s]",
        count as f64 / secs
    );
    Ok(ExitCode::SUCCESS)
}

fn write_config(base: &Path, host: &str, port: u16, pool: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(base.join("tenants"))?;
    std::fs::create_dir_all(base.join("scenarios"))?;
    std::fs::write(base.join("relance.toml"), "data_dir = \"data\"\nscenarios_dir = \"scenarios\"\n")?;
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
