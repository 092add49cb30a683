//! `relance match replay --config FILE --tenant T [--since DATE]`: re-runs
//! the tenant's current matching rules over its stored bank credits (all of
//! them booked since DATE, whatever their status) against its invoices as
//! they are now, without applying anything, and prints the cash application
//! rates of the current rules next to the rates as decided at the time.
//!
//! The invoices are the open ones plus those live allocations settled, with
//! their open amount before those allocations, so that a credit already
//! applied can be matched again. Credits are replayed in booking order and a
//! replayed automatic match consumes its invoices, as in the daemon. A
//! replayed automatic match is judged against what the credit settles today
//! (its live allocations, whoever made them): other invoices make it a false
//! match, and so does a credit a person rejected; a credit with no outcome
//! yet (in review) leaves it unjudged.
//!
//! The rates (README, "Cash application rates"): envelope auto-match =
//! credits matched automatically / credits; line-item = invoices settled
//! automatically / invoices settled by any means; review = credits sent to
//! review / credits; false-match = wrong automatic matches / automatic matches.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;

use relance_config::Settings;
use relance_domain::{PaymentStatus, TenantId};
use relance_engine::matching::{MatchStatus, Matcher};
use relance_store::{CashRates, Store};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The deployment's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The tenant whose credits are replayed.
    #[arg(long)]
    tenant: String,
    /// Only credits booked on or after this day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<NaiveDate>,
}

/// What the replay of the current rules found.
#[derive(Debug, Default)]
struct Replay {
    rates: CashRates,
    /// Automatic matches on credits with no outcome yet (not judged).
    unjudged: u64,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprint!("relance: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let t = settings
        .tenant(&args.tenant)
        .with_context(|| format!("no tenant `{}` in {}", args.tenant, args.config.display()))?;
    let store = Store::open(&settings.database)?;
    let replay = replay(&store, &t.id, &t.matching, args.since)?;
    let decided = store.cash_rates(&t.id, args.since)?;
    let period = args.since.map_or_else(|| "all dates".to_string(), |d| format!("booked since {d}"));
    println!("tenant {}: {} credits ({period})", t.id, replay.rates.credits);
    println!("{:<12} {:>7}  {:<20} {:<20} {:<20} false-match", "rules", "credits", "envelope", "line-item", "review");
    for (name, r) in [("current", &replay.rates), ("as-decided", &decided)] {
        println!(
            "{name:<12} {:>7}  {:<20} {:<20} {:<20} {}",
            r.credits,
            rate(r.auto_matched, r.credits),
            rate(r.invoices_settled_auto, r.invoices_settled),
            rate(r.reviewed, r.credits),
            rate(r.auto_undone, r.auto_matched),
        );
    }
    println!(
        "current: {} automatic match(es) on credits with no outcome yet, not judged; as-decided: false matches are automatic matches a person undid",
        replay.unjudged
    );
    Ok(ExitCode::SUCCESS)
}

/// `0.750 (3/4)`, or `- (0/0)` when there is nothing to divide.
fn rate(part: u64, whole: u64) -> String {
    if whole == 0 {
        format!("- ({part}/{whole})")
    } else {
        format!("{:.3} ({part}/{whole})", part as f64 / whole as f64)
    }
}

/// Runs the current rules over the stored credits, applying nothing.
fn replay(
    store: &Store,
    tenant: &TenantId,
    config: &relance_engine::matching::MatchConfig,
    since: Option<NaiveDate>,
) -> anyhow::Result<Replay> {
    let ids = store.credit_ids_since(tenant, since)?;
    let (invoices, payers) = store.replay_inputs(tenant)?;
    let mut matcher = Matcher::new(invoices, &payers, config.clone());
    let mut out = Replay::default();
    let mut settled: BTreeSet<String> = BTreeSet::new();
    let mut settled_auto: BTreeSet<String> = BTreeSet::new();
    for id in ids {
        let Some(p) = store.payment(tenant, id)? else { continue };
        // What the credit settles today: its live allocations, whoever made them.
        let truth: BTreeSet<String> =
            store.allocations(tenant, id)?.into_iter().filter(|a| a.undone_at.is_none()).map(|a| a.invoice).collect();
        settled.extend(truth.iter().cloned());
        out.rates.credits += 1;
        let result = matcher.match_credit(&p.line);
        match (result.status, result.best()) {
            (MatchStatus::Matched, Some(best)) => {
                out.rates.auto_matched += 1;
                let chosen: BTreeSet<String> = best.allocations.iter().map(|a| a.invoice.clone()).collect();
                if !truth.is_empty() {
                    if chosen != truth {
                        out.rates.auto_undone += 1;
                    }
                    settled_auto.extend(chosen.intersection(&truth).cloned());
                } else if p.status == PaymentStatus::Rejected {
                    out.rates.auto_undone += 1;
                } else {
                    out.unjudged += 1;
                }
                for a in &best.allocations {
                    matcher.consume(&a.invoice, a.amount, a.write_off);
                }
                if let (Some(iban), Some(c)) = (&p.line.counterparty_iban, &best.customer_id) {
                    matcher.learn_iban(iban, c);
                }
            }
            _ => out.rates.reviewed += 1,
        }
    }
    out.rates.invoices_settled = settled.len() as u64;
    out.rates.invoices_settled_auto = settled_auto.len() as u64;
    Ok(out)
}
