//! `relance replies classify FILE.eml...` and `relance replies eval DIR`
//! (the evaluation shapes of issue #5); `eval --tenant` is in `replies_tenant`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use relance_engine::replies::{Intent, Understanding, understand, understand_with};

#[derive(Subcommand)]
pub enum RepliesCommand {
    /// Understand customer replies: one JSON object per file.
    Classify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Score the classifier on a labelled folder (DIR/labels.jsonl), or a
    /// tenant's model on its corrections (`--tenant T --config FILE`).
    Eval {
        #[arg(required_unless_present = "tenant")]
        dir: Option<PathBuf>,
        /// Score this tenant's model (with its overlay) on its corrections.
        #[arg(long, conflicts_with = "model")]
        tenant: Option<String>,
        /// The configuration naming the tenant's database (with `--tenant`).
        #[arg(long, requires = "tenant")]
        config: Option<PathBuf>,
        /// The database itself (with `--tenant`).
        #[arg(long, requires = "tenant", conflicts_with = "config")]
        database: Option<PathBuf>,
        /// Use this model (text form written by `train`) instead of the shipped one.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Train the reply model on labelled folders; `--measure` first scores it
    /// on each batch of writers left out in turn.
    Train {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// One-line cases (`intent|text`), e.g. crates/engine/src/replies/hard_cases.txt.
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Where to write the model (crates/engine/src/replies/model.txt ships it).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        measure: bool,
        /// Training passes over the examples.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::default().epochs)]
        epochs: usize,
        /// AdaGrad learning rate.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::default().learning_rate)]
        learning_rate: f32,
        /// L2 regularisation.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::default().l2)]
        l2: f32,
        /// Features seen in fewer examples are left out.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::default().min_count)]
        min_count: usize,
    },
}

pub fn run(cmd: RepliesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RepliesCommand::Classify { files } => classify(&files),
        RepliesCommand::Eval { tenant: Some(tenant), config, database, .. } => {
            crate::replies_tenant::eval(&tenant, config.as_deref(), database.as_deref())
        }
        RepliesCommand::Eval { dir, model, .. } => {
            let dir = dir.context("a labelled folder (DIR) or --tenant is required")?;
            let model = model.as_deref().map(crate::replies_train::load_model).transpose()?;
            eval(&dir, model.as_ref().unwrap_or_else(|| relance_engine::replies::model::Model::shipped()))
        }
        RepliesCommand::Train { dirs, cases, out, measure, epochs, learning_rate, l2, min_count } => {
            let opts = relance_engine::replies::model::TrainOptions {
                epochs,
                learning_rate,
                l2,
                min_count,
                ..Default::default()
            };
            crate::replies_train::train(&dirs, cases.as_deref(), out.as_deref(), measure, opts)
        }
    }
}

fn to_json(file: &str, u: &Understanding) -> serde_json::Value {
    json!({
        "file": file,
        "intent": u.intent.as_str(),
        "confidence": (u.confidence * 1000.0).round() / 1000.0,
        "promised_date": u.promised_date,
        "amount": u.amount,
        "currency": u.currency,
        "refs": u.refs,
        "language": u.language.as_str(),
        "auto_reply": u.auto_reply.is_some(),
        "new_text": u.new_text,
        "reasons": u.reasons,
    })
}

fn classify(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    // Messages without a Date header are read as received today.
    let today = chrono::Utc::now().date_naive();
    for f in files {
        let name = f.display().to_string();
        let line = match std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| understand(&b, today).map_err(|e| e.to_string()))
        {
            Ok(u) => to_json(&name, &u),
            Err(e) => {
                failed = true;
                eprintln!("relance: {name}: {e}");
                json!({ "file": name, "intent": "other", "confidence": 0.0, "promised_date": null, "amount": null, "currency": null,
                        "refs": [], "language": "fr", "auto_reply": false, "new_text": "", "reasons": [format!("unreadable: {e}")] })
            }
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn eval(dir: &Path, model: &relance_engine::replies::model::Model) -> anyhow::Result<ExitCode> {
    let labels = std::fs::read_to_string(dir.join("labels.jsonl"))
        .with_context(|| format!("cannot read {}/labels.jsonl", dir.display()))?;
    // Per intent: (true positives, predicted, actual).
    let mut per: BTreeMap<&'static str, (u32, u32, u32)> =
        Intent::ALL.iter().map(|i| (i.as_str(), (0, 0, 0))).collect();
    let (mut n, mut correct, mut dates_ok, mut dates_n, mut refs_found, mut refs_n) = (0, 0, 0, 0, 0, 0);
    let mut mistakes = Vec::new();
    let today = chrono::Utc::now().date_naive();
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let label: serde_json::Value = serde_json::from_str(line).context("labels.jsonl: invalid line")?;
        let file = label["file"].as_str().unwrap_or_default();
        let raw = std::fs::read(dir.join(file)).with_context(|| format!("cannot read {file}"))?;
        let u = understand_with(&raw, today, model, None).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        n += 1;
        let want = label["intent"].as_str().unwrap_or("other");
        let got = u.intent.as_str();
        if let Some(p) = per.get_mut(got) {
            p.1 += 1;
        }
        if let Some(p) = per.get_mut(want) {
            p.2 += 1;
            if want == got {
                p.0 += 1;
            }
        }
        if want == got {
            correct += 1;
        } else {
            mistakes.push(format!("  {file}: expected {want}, got {got} ({})", u.reasons.join("; ")));
        }
        if let Some(d) = label["promised_date"].as_str().filter(|d| *d != "any") {
            dates_n += 1;
            if u.promised_date.map(|p| p.to_string()).as_deref() == Some(d) {
                dates_ok += 1;
            } else {
                mistakes.push(format!("  {file}: promised date expected {d}, got {:?}", u.promised_date));
            }
        }
        for r in label["refs"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
            refs_n += 1;
            if u.refs.iter().any(|x| x.eq_ignore_ascii_case(r)) {
                refs_found += 1;
            } else {
                mistakes.push(format!("  {file}: ref {r} not found (got {:?})", u.refs));
            }
        }
    }
    let pct = |a: u32, b: u32| if b == 0 { 100.0 } else { 100.0 * f64::from(a) / f64::from(b) };
    println!("{n} messages: intent accuracy {:.1} % ({correct}/{n}) [target ≥ 97 %]", pct(correct, n));
    println!("{:<22} {:>9} {:>9} {:>8}", "intent", "precision", "recall", "support");
    for (intent, (tp, predicted, actual)) in &per {
        println!("{intent:<22} {:>8.1}% {:>8.1}% {actual:>8}", pct(*tp, *predicted), pct(*tp, *actual));
    }
    println!("promised-date accuracy {:.1} % ({dates_ok}/{dates_n}) [target ≥ 95 %]", pct(dates_ok, dates_n));
    println!("refs recall {:.1} % ({refs_found}/{refs_n}) [target ≥ 98 %]", pct(refs_found, refs_n));
    if !mistakes.is_empty() {
        println!("mistakes:\n{}", mistakes.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}
