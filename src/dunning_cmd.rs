//! `relance dunning simulate --config PATH --tenant T --from DATE --to DATE`:
//! the day-by-day timeline of what the tenant's scenarios would send, to whom
//! and why, on the stored data, without sending anything.
//!
//! Holds placed by a person are seen as the planner sees them (a hold ends
//! after its `until` day within the simulated period); steps marked
//! `confirm` are shown `(to confirm)`.
//!
//! `relance dunning run --config PATH --tenant T [--day DATE]`: plans the
//! day's reminders and queues them in the outbox (idempotent); reminders of
//! a step marked `confirm` wait there as `to_confirm` for a person.
//!
//! `relance dunning deliver --config PATH --tenant T [--at LOCAL-TIME]`:
//! delivers what the outbox holds through the tenant's outbound connectors,
//! if `--at` (default: now) is inside the tenant's sending window on a
//! business day. Reminders interrupted mid-send by a crash go out again
//! first, under the same Message-ID.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use clap::Subcommand;

use relance_config::{Settings, TenantConfig};
use relance_engine::dunning::{Outcome, decide};
use relance_runtime::daemon::Runtime;
use relance_runtime::registry::load_and_build;
use relance_runtime::reminders::deliver;
use relance_runtime::reminders::plan;
use relance_store::Store;
use tokio_util::sync::CancellationToken;

#[derive(Subcommand)]
pub enum DunningCommand {
    /// Print what would be sent each day between two dates (nothing is sent).
    Simulate {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// Last day (YYYY-MM-DD).
        #[arg(long)]
        to: NaiveDate,
        /// Also print why nothing is sent to customers who wait.
        #[arg(long)]
        verbose: bool,
    },
    /// Decide, render and queue the day's reminders in the outbox (running it again queues nothing twice).
    Run {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// The day to plan (YYYY-MM-DD); today in the tenant's time zone by default.
        #[arg(long)]
        day: Option<NaiveDate>,
    },
    /// Deliver the queued reminders that are due, through the tenant's outbound connectors.
    Deliver {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Local date and time to deliver as of (YYYY-MM-DDTHH:MM, tenant time zone); now by default.
        #[arg(long, value_parser = parse_local_time)]
        at: Option<NaiveDateTime>,
        /// Messages in flight at once.
        #[arg(long, default_value_t = relance_runtime::reminders::deliver::DEFAULT_CONCURRENCY)]
        concurrency: usize,
    },
}

fn parse_local_time(text: &str) -> Result<NaiveDateTime, String> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| format!("`{text}`: expected YYYY-MM-DDTHH:MM"))
}

/// A tenant ready for the dunning engine (its scenarios compiled at load).
struct Tenant {
    settings: Settings,
    t: TenantConfig,
}

/// Loads the configuration (which compiles the tenant's scenarios); `None`
/// when the configuration is invalid (already reported, exit code 2).
fn load_tenant(config: &Path, tenant: &str) -> anyhow::Result<Option<Tenant>> {
    let settings = match Settings::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprint!("relance: {e}");
            return Ok(None);
        }
    };
    let t = settings.tenant(tenant).with_context(|| format!("no tenant `{tenant}` in {}", config.display()))?.clone();
    if t.scenarios.is_empty() {
        bail!("tenant `{tenant}` has no `scenarios` in {}", t.file.display());
    }
    Ok(Some(Tenant { settings, t }))
}

pub fn run(cmd: DunningCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DunningCommand::Simulate { config, tenant, from, to, verbose } => simulate(config, tenant, from, to, verbose),
        DunningCommand::Run { config, tenant, day } => plan(config, tenant, day),
        DunningCommand::Deliver { config, tenant, at, concurrency } => deliver(config, tenant, at, concurrency),
    }
}

fn deliver(config: PathBuf, tenant: String, at: Option<NaiveDateTime>, concurrency: usize) -> anyhow::Result<ExitCode> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (settings, built) = match load_and_build(&config, &env, &relance_connectors::builtin_registry()) {
        Ok(x) => x,
        Err(e) => {
            eprint!("relance: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let t = settings.tenant(&tenant).with_context(|| format!("no tenant `{tenant}` in {}", config.display()))?.clone();
    let now = match at {
        Some(local) => t
            .timezone
            .from_local_datetime(&local)
            .earliest()
            .with_context(|| format!("{local} does not exist in {}", t.timezone))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let tokio =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let rt = Runtime::with_connectors(settings, built).context("cannot start")?;
    let report = tokio.block_on(async {
        rt.recover_outbox(&t.id).await?;
        let channels = rt.channels(&t.id);
        deliver::deliver_due(&rt.store, &t, &channels, now, concurrency, &CancellationToken::new()).await
    })?;
    let local = now.with_timezone(&t.timezone).format("%Y-%m-%d %H:%M");
    match &report.closed {
        Some(why) => println!("{local}: nothing sent: {why}"),
        None => println!(
            "{local}: {} sent, {} to retry, {} failed (quarantined), {} cancelled (settled since planned)",
            report.sent, report.retried, report.failed, report.cancelled
        ),
    }
    // A reminder given up on needs a person: say so to scripts too (`GET …/outbox?status=failed`).
    Ok(if report.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn plan(config: PathBuf, tenant: String, day: Option<NaiveDate>) -> anyhow::Result<ExitCode> {
    let Some(Tenant { settings, t }) = load_tenant(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
    let day = day.unwrap_or_else(|| chrono::Utc::now().with_timezone(&t.timezone).date_naive());
    let store = Store::open(&settings.database)?;
    let report = plan::plan_day(&store, &t, day)?;
    for q in &report.queued {
        println!(
            "queued #{}  {:<10} {} via {:?} [{}]: {}{}",
            q.id,
            q.customer_id,
            q.step,
            q.channel,
            q.subject,
            q.invoices.join(", "),
            if q.to_confirm { " (to confirm: waits for a person's approval)" } else { "" }
        );
    }
    for e in &report.errors {
        eprintln!("relance: {e}");
    }
    println!(
        "{day}: {} reminder(s) queued ({} invoice-copy answers, {} to confirm), {} copy request(s) with nothing open to send, {} already queued, {} customer(s) waiting, {} error(s)",
        report.queued.len(),
        report.copies,
        report.queued.iter().filter(|q| q.to_confirm).count(),
        report.copies_without_open_invoice,
        report.already_queued,
        report.waiting,
        report.errors.len()
    );
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn simulate(
    config: PathBuf,
    tenant: String,
    from: NaiveDate,
    to: NaiveDate,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    if to < from || (to - from).num_days() > 3660 {
        bail!("--to must be after --from, within ten years");
    }
    let Some(Tenant { settings, t }) = load_tenant(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
    let store = Store::open(&settings.database)?;
    let mut customers = store.dunning_states(&t.id)?;
    let calendar = plan::calendar_between(&t, from, to);
    println!(
        "simulation for tenant {tenant} from {from} to {to} ({} customers with open invoices; nothing is sent)",
        customers.len()
    );
    let mut sent = 0;
    let mut day = from;
    while day <= to {
        for c in customers.iter_mut() {
            let Some(compiled) = plan::scenario_for(&t, c) else {
                if day == from && verbose {
                    println!("{day}  {:<10} no scenario applies", c.customer_id);
                }
                continue;
            };
            let name = &compiled.name;
            match decide(&compiled.scenario, &calendar, c, day) {
                Outcome::Send(d) => {
                    sent += 1;
                    println!(
                        "{day}  {:<10} {name}/{} via {:?} [{}]: {}{}",
                        c.customer_id,
                        d.step.id,
                        d.step.channel,
                        d.step.template,
                        d.invoices.join(", "),
                        if d.step.needs_confirmation() { " (to confirm)" } else { "" }
                    );
                    for w in &d.why {
                        println!("              why: {w}");
                    }
                    c.sent.extend(d.covers.iter().cloned());
                    c.last_reminder = Some(day);
                }
                Outcome::Wait { why } if verbose => println!("{day}  {:<10} waits: {why}", c.customer_id),
                Outcome::HandedOver { why } if verbose => println!("{day}  {:<10} handed over: {why}", c.customer_id),
                Outcome::Held { why, .. } if verbose => println!("{day}  {:<10} held: {why}", c.customer_id),
                _ => {}
            }
        }
        day += Duration::days(1);
    }
    println!("{sent} message(s) would be sent");
    Ok(ExitCode::SUCCESS)
}
