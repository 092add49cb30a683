//! `relance replies train`: trains the reply model on labelled folders (and
//! hand-written one-line cases), measures it by leaving one batch of writers
//! out at a time, and writes the model's text form.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;

use relance_engine::replies::model::{self, Example, Model, TrainOptions};
use relance_engine::replies::{Intent, features, understand_with};

/// One labelled message.
pub struct Labelled {
    /// Name of the file (or `hard-cases:N`).
    pub name: String,
    /// Group left out together when measuring (a batch of writers).
    pub group: String,
    pub raw: Vec<u8>,
    pub intent: Intent,
}

/// Day relative dates are read from for messages without a `Date:` header.
fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Reads `DIR/labels.jsonl` and the messages it names.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Labelled>> {
    let labels = std::fs::read_to_string(dir.join("labels.jsonl"))
        .with_context(|| format!("cannot read {}/labels.jsonl", dir.display()))?;
    let mut out = Vec::new();
    for (n, line) in labels.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        #[derive(serde::Deserialize)]
        struct Label {
            file: String,
            intent: String,
        }
        let label: Label =
            serde_json::from_str(line).with_context(|| format!("{}/labels.jsonl line {}", dir.display(), n + 1))?;
        let intent: Intent = label.intent.parse().map_err(|e| anyhow::anyhow!("{}: {e}", label.file))?;
        let raw = std::fs::read(dir.join(&label.file)).with_context(|| format!("cannot read {}", label.file))?;
        // `fr-b3-017.eml` → group `fr-b3`; other names form one group per first letter pair.
        let stem = label.file.trim_end_matches(".eml");
        let group = stem.rsplit_once('-').map_or(stem, |(g, _)| g).to_string();
        out.push(Labelled { name: label.file, group, raw, intent });
    }
    Ok(out)
}

/// Reads one-line cases (`intent|text`), each wrapped in a reply.
pub fn load_cases(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let (want, body) = line
            .split_once('|')
            .with_context(|| format!("{} line {}: `intent|text` expected", path.display(), n + 1))?;
        let intent: Intent = want.parse().map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
        let raw = format!(
            "From: client@example.com\r\nTo: relances@example.com\r\nSubject: RE: Relance facture FAC-1\r\n\
             Date: Thu, 8 Oct 2026 10:00:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Bonjour,\r\n{body}\r\nCordialement\r\n"
        );
        out.push(Labelled { name: format!("cases:{}", n + 1), group: "cases".into(), raw: raw.into_bytes(), intent });
    }
    Ok(out)
}

/// Features of every labelled message, in order.
pub fn examples(items: &[Labelled]) -> anyhow::Result<Vec<Example>> {
    items
        .iter()
        .map(|l| {
            let features = features(&l.raw, today()).map_err(|e| anyhow::anyhow!("{}: {e}", l.name))?;
            Ok(Example { features, intent: l.intent })
        })
        .collect()
}

pub fn train(
    dirs: &[PathBuf],
    cases: Option<&Path>,
    out: Option<&Path>,
    measure: bool,
    opts: TrainOptions,
) -> anyhow::Result<ExitCode> {
    let mut items = Vec::new();
    for d in dirs {
        items.extend(load_dir(d)?);
    }
    if let Some(c) = cases {
        items.extend(load_cases(c)?);
    }
    anyhow::ensure!(!items.is_empty(), "no labelled message to train on");
    let examples = examples(&items)?;
    if measure {
        // Leave one batch of writers out at a time: the figure estimates unseen writers.
        let groups: Vec<&str> = {
            let mut g: Vec<&str> = items.iter().map(|l| l.group.as_str()).collect();
            g.sort_unstable();
            g.dedup();
            g
        };
        let mut per: BTreeMap<&str, (u32, u32, u32)> = Intent::ALL.iter().map(|i| (i.as_str(), (0, 0, 0))).collect();
        let (mut n, mut right) = (0u32, 0u32);
        for g in &groups {
            let train_set: Vec<Example> =
                items.iter().zip(&examples).filter(|(l, _)| l.group != *g).map(|(_, e)| e.clone()).collect();
            let m = model::train(&train_set, None, opts, "cv");
            let (mut gn, mut gr) = (0u32, 0u32);
            for l in items.iter().filter(|l| l.group == *g) {
                let u = understand_with(&l.raw, today(), &m, None).map_err(|e| anyhow::anyhow!("{}: {e}", l.name))?;
                gn += 1;
                if let Some(p) = per.get_mut(u.intent.as_str()) {
                    p.1 += 1;
                }
                if let Some(p) = per.get_mut(l.intent.as_str()) {
                    p.2 += 1;
                    if u.intent == l.intent {
                        p.0 += 1;
                    }
                }
                if u.intent == l.intent {
                    gr += 1;
                } else if std::env::var_os("RELANCE_TRAIN_MISTAKES").is_some() {
                    let text: String = u.new_text.chars().take(160).collect();
                    println!("  {}: {} read as {}: {}", l.name, l.intent, u.intent, text.replace('\n', " / "));
                }
            }
            println!("left out {g:<10} {:>5.1} % ({gr}/{gn})", 100.0 * f64::from(gr) / f64::from(gn.max(1)));
            n += gn;
            right += gr;
        }
        let pct = |a: u32, b: u32| if b == 0 { 100.0 } else { 100.0 * f64::from(a) / f64::from(b) };
        println!("== leave-one-batch-out intent accuracy {:.1} % ({right}/{n})", pct(right, n));
        println!("{:<22} {:>9} {:>9} {:>8}", "intent", "precision", "recall", "support");
        for (intent, (tp, predicted, actual)) in &per {
            println!("{intent:<22} {:>8.1}% {:>8.1}% {actual:>8}", pct(*tp, *predicted), pct(*tp, *actual));
        }
    }
    let m = model::train(&examples, None, opts, &format!("corpus of {} labelled replies", examples.len()));
    println!(
        "trained on {} replies: {} features kept, accuracy on the training set {:.1} %",
        examples.len(),
        m.weights.len(),
        100.0 * model::accuracy(&examples, &m, None)
    );
    if let Some(path) = out {
        std::fs::write(path, m.to_text()).with_context(|| format!("cannot write {}", path.display()))?;
        println!("model written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a model's text form (for `eval --model`).
pub fn load_model(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Model::parse(&text).with_context(|| format!("{}: not a reply model", path.display()))
}
