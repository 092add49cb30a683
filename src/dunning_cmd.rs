//! `relance dunning simulate --config PATH --tenant T --from DATE --to DATE`:
//! the day-by-day timeline of what the tenant's scenarios would send, to whom
//! and why, on the stored data, without sending anything.
//!
//! `relance dunning run --config PATH --tenant T [--day DATE]`: plans the
//! day's reminders and queues them in the outbox (idempotent).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{Duration, NaiveDate};
use clap::Subcommand;

use relance_core::config::{Settings, TenantConfig};
use relance_core::dunning::{Calendar, Outcome, Scenario, decide};
use relance_core::reminders;
use relance_core::store::Store;

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
}

/// A tenant ready for the dunning engine.
struct Tenant {
    settings: Settings,
    t: TenantConfig,
    scenarios: Vec<(String, Scenario)>,
}

/// Loads the configuration and the tenant's scenarios; `None` when the
/// configuration is invalid (already reported, exit code 2).
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
    let scenarios = reminders::scenarios(&settings.scenarios_dir, &t)?;
    Ok(Some(Tenant { settings, t, scenarios }))
}

pub fn run(cmd: DunningCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DunningCommand::Simulate { config, tenant, from, to, verbose } => simulate(config, tenant, from, to, verbose),
        DunningCommand::Run { config, tenant, day } => plan(config, tenant, day),
    }
}

fn plan(config: PathBuf, tenant: String, day: Option<NaiveDate>) -> anyhow::Result<ExitCode> {
    let Some(Tenant { settings, t, scenarios }) = load_tenant(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
    let day = day.unwrap_or_else(|| chrono::Utc::now().with_timezone(&t.timezone).date_naive());
    let store = Store::open(&settings.database)?;
    let report = reminders::plan_day(&store, &t, &scenarios, day)?;
    for q in &report.queued {
        println!(
            "queued #{}  {:<10} {} via {:?} [{}]: {}",
            q.id,
            q.customer_id,
            q.step,
            q.channel,
            q.subject,
            q.invoices.join(", ")
        );
    }
    for e in &report.errors {
        eprintln!("relance: {e}");
    }
    println!(
        "{day}: {} reminder(s) queued ({} invoice-copy answers), {} copy request(s) with nothing open to send, {} already queued, {} customer(s) waiting, {} error(s)",
        report.queued.len(),
        report.copies,
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
    let Some(Tenant { settings, t, scenarios }) = load_tenant(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
    let store = Store::open(&settings.database)?;
    let mut customers = store.dunning_states(&t.id)?;
    let calendar = Calendar::french(
        from.format("%Y").to_string().parse().unwrap_or(2026) - 1
            ..=to.format("%Y").to_string().parse().unwrap_or(2026) + 1,
        &[],
    );
    println!(
        "simulation for tenant {tenant} from {from} to {to} ({} customers with open invoices; nothing is sent)",
        customers.len()
    );
    let mut sent = 0;
    let mut day = from;
    while day <= to {
        for c in customers.iter_mut() {
            let Some((name, scenario)) = scenarios.iter().find(|(_, s)| s.applies_to(c)) else {
                if day == from && verbose {
                    println!("{day}  {:<10} no scenario applies", c.customer_id);
                }
                continue;
            };
            match decide(scenario, &calendar, c, day) {
                Outcome::Send(d) => {
                    sent += 1;
                    println!(
                        "{day}  {:<10} {name}/{} via {:?} [{}]: {}",
                        c.customer_id,
                        d.step.id,
                        d.step.channel,
                        d.step.template,
                        d.invoices.join(", ")
                    );
                    for w in &d.why {
                        println!("              why: {w}");
                    }
                    c.sent.extend(d.covers.iter().cloned());
                    c.last_reminder = Some(day);
                }
                Outcome::Wait { why } if verbose => println!("{day}  {:<10} waits: {why}", c.customer_id),
                _ => {}
            }
        }
        day += Duration::days(1);
    }
    println!("{sent} message(s) would be sent");
    Ok(ExitCode::SUCCESS)
}
