//! `relance replies eval --tenant T --config FILE` (or `--database FILE`):
//! scores the tenant's current model (the shipped one plus its overlay
//! learned from corrections) against that tenant's corrections, with the
//! shipped model alone beside it: intent accuracy and a per-intent table,
//! as the corpus evaluation prints them.
//!
//! The corrections are also the tenant model's training set: its score on
//! them says what it learned, not how it will do on new replies.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use relance_domain::TenantId;
use relance_engine::replies::Intent;
use relance_engine::replies::model::{self, Model};
use relance_store::{DatabaseUrl, Store};

/// Scores the tenant's model on its corrections.
pub fn eval(tenant: &str, config: Option<&Path>, database: Option<&Path>) -> anyhow::Result<ExitCode> {
    let url = match (config, database) {
        (_, Some(db)) => DatabaseUrl::Sqlite(db.to_path_buf()),
        (Some(config), None) => match relance_config::Settings::load(config) {
            Ok(s) => {
                s.tenant(tenant).with_context(|| format!("no tenant `{tenant}` in {}", config.display()))?;
                s.database
            }
            Err(e) => {
                eprint!("relance: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        (None, None) => anyhow::bail!("--tenant needs --config FILE or --database FILE"),
    };
    let tenant = TenantId::new(tenant).map_err(|e| anyhow::anyhow!("tenant `{tenant}`: {e}"))?;
    let store = Store::open(&url)?;
    let (examples, skipped) = relance_runtime::replies_model::tenant_examples(&store, &tenant)?;
    let overlay = store.reply_overlay(&tenant)?;
    let base = Model::shipped();
    match store.reply_model(&tenant)? {
        Some(m) => println!(
            "tenant {tenant}: model version {} trained {} on {} corrections (through correction {})",
            m.version, m.trained_at, m.examples, m.corrections_through
        ),
        None => println!("tenant {tenant}: no model yet (the shipped model alone)"),
    }
    // Per intent: (true positives, predicted, actual), for the tenant model.
    let mut per: BTreeMap<&'static str, (u32, u32, u32)> =
        Intent::ALL.iter().map(|i| (i.as_str(), (0, 0, 0))).collect();
    let (mut n, mut right, mut shipped_right) = (0u32, 0u32, 0u32);
    let mut mistakes = Vec::new();
    for (sample, example) in &examples {
        n += 1;
        let got = model::score(&example.features, base, overlay.as_deref()).best;
        let shipped = model::score(&example.features, base, None).best;
        let want = example.intent;
        if let Some(p) = per.get_mut(got.as_str()) {
            p.1 += 1;
        }
        if let Some(p) = per.get_mut(want.as_str()) {
            p.2 += 1;
            if want == got {
                p.0 += 1;
            }
        }
        if want == got {
            right += 1;
        } else {
            mistakes.push(format!("  message {}: corrected to {want}, read as {got}", sample.message_id));
        }
        if want == shipped {
            shipped_right += 1;
        }
    }
    let pct = |a: u32, b: u32| if b == 0 { 100.0 } else { 100.0 * f64::from(a) / f64::from(b) };
    println!("{n} corrected messages: intent accuracy {:.1} % ({right}/{n})", pct(right, n));
    println!("shipped model alone: {:.1} % ({shipped_right}/{n})", pct(shipped_right, n));
    println!("{:<22} {:>9} {:>9} {:>8}", "intent", "precision", "recall", "support");
    for (intent, (tp, predicted, actual)) in &per {
        println!("{intent:<22} {:>8.1}% {:>8.1}% {actual:>8}", pct(*tp, *predicted), pct(*tp, *actual));
    }
    for s in &skipped {
        println!("  message {}: left out ({})", s.message_id, s.why);
    }
    if !mistakes.is_empty() {
        println!("mistakes:\n{}", mistakes.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}
