//! `relance bench sql-sync`: a full sync of N invoices from PostgreSQL.
//!
//! Creates a database `relance_bench_sql` on the given server (dropped and
//! recreated), fills it with N invoices for N/20 customers (server-side
//! `generate_series`), then times one run of the real `sql_invoices`
//! connector into a fresh SQLite store: keyset pages, checks, upserts.
//! Target: 1,000,000 invoices at ≥ 50,000 rows/s.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use relance_config::Settings;
use relance_domain::TenantId;
use relance_runtime::daemon::Runtime;

pub fn bench_sql_sync(url: &str, rows: u64, batch: u32) -> anyhow::Result<ExitCode> {
    let (base, _) = url.rsplit_once('/').context("--pg is postgres://user:password@host:port/database")?;
    let bench_url = format!("{base}/relance_bench_sql");
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let t0 = Instant::now();
    tokio.block_on(async {
        exec(url, "DROP DATABASE IF EXISTS relance_bench_sql").await?;
        exec(url, "CREATE DATABASE relance_bench_sql").await?;
        exec(
            &bench_url,
            &format!(
                "CREATE TABLE customers (code text PRIMARY KEY, name text, email text);
                 CREATE TABLE invoices (number text PRIMARY KEY, customer text, issued date, due date, currency char(3),
                                        total numeric(14,2), open numeric(14,2), status text, updated_at timestamptz NOT NULL);
                 INSERT INTO customers SELECT 'C' || i, 'Client ' || i, 'c' || i || '@bench.example' FROM generate_series(0, {c}) i;
                 INSERT INTO invoices SELECT 'INV-' || lpad(i::text, 8, '0'), 'C' || (i % {c}), DATE '2026-01-01' + (i % 300),
                        DATE '2026-02-01' + (i % 300), 'EUR', 50 + (i % 5000) + 0.99, 50 + (i % 5000) + 0.99, 'open',
                        TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * interval '1 second'
                   FROM generate_series(1, {rows}) i;
                 CREATE INDEX invoices_updated ON invoices (updated_at, number);
                 ANALYZE;",
                c = (rows / 20).max(1)
            ),
        )
        .await
    })?;
    println!("generated {rows} invoices in PostgreSQL in {:.1} s", t0.elapsed().as_secs_f64());

    let tmp = tempfile::tempdir()?;
    let base_dir = tmp.path();
    std::fs::create_dir_all(base_dir.join("tenants"))?;
    std::fs::write(base_dir.join("relance.toml"), "data_dir = \"data\"\n")?;
    std::fs::write(
        base_dir.join("tenants").join("bench.toml"),
        format!(
            "[connectors.erp_db]\nkind = \"sql_invoices\"\nurl = \"{bench_url}\"\ntls = \"disable\"\nbatch_size = {batch}\nquery = \"SELECT i.number AS invoice_number, i.customer AS customer_id, c.name AS customer_name, c.email AS customer_email, i.issued AS issue_date, i.due AS due_date, i.currency, i.total AS amount_total, i.open AS amount_open, i.status, i.updated_at FROM invoices i JOIN customers c ON c.code = i.customer\"\n"
        ),
    )?;
    let settings = Settings::load(&base_dir.join("relance.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = Runtime::new(settings, &relance_connectors::builtin_registry())?;
    let t1 = Instant::now();
    let results = tokio.block_on(rt.run_once(CancellationToken::new()));
    let secs = t1.elapsed().as_secs_f64();
    if let Some(e) = results.iter().find_map(|r| r.result.as_ref().err()) {
        bail!("sync failed: {e}");
    }
    let counts = rt.store.tenant_counts(&TenantId::new("bench")?)?;
    let stored: u64 = counts.invoices_by_status.iter().map(|(_, n)| n).sum();
    if stored != rows {
        bail!("stored {stored} invoices, expected {rows}");
    }
    println!(
        "sql-sync: {rows} invoices from PostgreSQL in {secs:.2} s = {:.0} rows/s (pages of {batch}) [target ≥ 50000 rows/s]",
        rows as f64 / secs
    );
    let t2 = Instant::now();
    let again = tokio.block_on(rt.run_once(CancellationToken::new()));
    let items: u64 = again.iter().filter_map(|r| r.result.as_ref().ok()).map(|r| r.items).sum();
    println!("incremental sync right after: {items} rows in {:.2} s", t2.elapsed().as_secs_f64());
    drop(rt);
    tokio.block_on(exec(url, "DROP DATABASE IF EXISTS relance_bench_sql"))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn exec(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.with_context(|| format!("{sql:.80}…"))?;
    drop(client);
    let _ = task.await;
    Ok(())
}
