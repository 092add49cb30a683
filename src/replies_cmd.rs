//! `relance replies classify FILE.eml...` and `relance replies eval DIR`
//! (the evaluation shapes of issue #5); `eval --tenant` is in `replies_tenant`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use relance_engine::refs::RefReader;
use relance_engine::replies::{Intent, Understanding, understand, understand_with};

#[derive(Subcommand)]
pub enum RepliesCommand {
    /// Understand customer replies: one JSON object per file.
    Classify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Score the classifier on a labelled folder (DIR/labels.jsonl), or a
    /// tenant's model on its corrections (`--tenant T --config FILE`). With
    /// DIR/../manifest.jsonl and DIR/../suppliers.json, references are also
    /// scored as read by each supplier's reader.
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
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::shipped().epochs)]
        epochs: usize,
        /// AdaGrad learning rate.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::shipped().learning_rate)]
        learning_rate: f32,
        /// L2 regularisation.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::shipped().l2)]
        l2: f32,
        /// Features seen in fewer examples are left out.
        #[arg(long, default_value_t = relance_engine::replies::model::TrainOptions::shipped().min_count)]
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
                ..relance_engine::replies::model::TrainOptions::shipped()
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
    let mut common = RefScore::default();
    let mut read: Vec<ReadMessage> = Vec::new();
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
        let want_refs: Vec<String> =
            label["refs"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).map(str::to_string).collect();
        for r in &want_refs {
            refs_n += 1;
            if u.refs.iter().any(|x| x.eq_ignore_ascii_case(r)) {
                refs_found += 1;
            } else {
                mistakes.push(format!("  {file}: ref {r} not found (got {:?})", u.refs));
            }
        }
        let wrong = common.score(&want_refs, &u.refs, compact);
        for r in wrong {
            mistakes.push(format!("  {file}: ref {r} read but not labelled"));
        }
        read.push(ReadMessage { file: file.to_string(), raw, u, want: want_refs });
    }
    let pct = |a: u32, b: u32| if b == 0 { 100.0 } else { 100.0 * f64::from(a) / f64::from(b) };
    println!("{n} messages: intent accuracy {:.1} % ({correct}/{n}) [target ≥ 97 %]", pct(correct, n));
    println!("{:<22} {:>9} {:>9} {:>8}", "intent", "precision", "recall", "support");
    for (intent, (tp, predicted, actual)) in &per {
        println!("{intent:<22} {:>8.1}% {:>8.1}% {actual:>8}", pct(*tp, *predicted), pct(*tp, *actual));
    }
    println!("promised-date accuracy {:.1} % ({dates_ok}/{dates_n}) [target ≥ 95 %]", pct(dates_ok, dates_n));
    println!("refs recall {:.1} % ({refs_found}/{refs_n}) [target ≥ 98 %]", pct(refs_found, refs_n));
    common.print("refs without tenant (common shapes, separators aside)");
    match tenant_refs(dir, &read) {
        Ok((score, known, wrong)) => {
            println!(
                "tenant readers: each supplier's RefReader learned from {known} invoice numbers: every ref labelled \
                 for the supplier in this split and every number of its scheme in the quoted reminders"
            );
            score.print("refs with tenant reader");
            mistakes.extend(wrong);
        }
        Err(e) => println!("refs with tenant reader: not measured ({e:#})"),
    }
    if !mistakes.is_empty() {
        println!("mistakes:\n{}", mistakes.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// A message read for the reference scores.
struct ReadMessage {
    file: String,
    raw: Vec<u8>,
    u: Understanding,
    want: Vec<String>,
}

/// References found against labelled: recall and precision.
#[derive(Default)]
struct RefScore {
    labelled: u32,
    labelled_found: u32,
    read: u32,
    read_right: u32,
}

impl RefScore {
    /// Scores one message; returns the references read but not labelled.
    fn score(&mut self, want: &[String], got: &[String], key: fn(&str) -> String) -> Vec<String> {
        let want_keys: Vec<String> = want.iter().map(|w| key(w)).collect();
        let got_keys: Vec<String> = got.iter().map(|g| key(g)).collect();
        self.labelled += want.len() as u32;
        self.labelled_found += want_keys.iter().filter(|w| got_keys.contains(w)).count() as u32;
        self.read += got.len() as u32;
        let mut wrong = Vec::new();
        for (g, k) in got.iter().zip(&got_keys) {
            if want_keys.contains(k) {
                self.read_right += 1;
            } else {
                wrong.push(g.clone());
            }
        }
        wrong
    }

    fn print(&self, what: &str) {
        let pct = |a: u32, b: u32| if b == 0 { 100.0 } else { 100.0 * f64::from(a) / f64::from(b) };
        println!(
            "{what}: recall {:.1} % ({}/{}), precision {:.1} % ({}/{})",
            pct(self.labelled_found, self.labelled),
            self.labelled_found,
            self.labelled,
            pct(self.read_right, self.read),
            self.read_right,
            self.read
        );
    }
}

/// Letters and digits only, upper case (`fa-2026/00412` → `FA202600412`).
fn compact(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase()
}

/// References as each supplier's reader reads them. A supplier's known
/// invoices are every ref labelled for it in this split plus every number of
/// its scheme (suppliers.json `numbering.regex`) in the quoted reminders of
/// its messages: in production the tenant knows all its invoices.
fn tenant_refs(dir: &Path, read: &[ReadMessage]) -> anyhow::Result<(RefScore, usize, Vec<String>)> {
    let root = dir.parent().unwrap_or(Path::new("."));
    let manifest = std::fs::read_to_string(root.join("manifest.jsonl")).context("manifest.jsonl")?;
    let mut supplier_of: BTreeMap<String, String> = BTreeMap::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let m: serde_json::Value = serde_json::from_str(line).context("manifest.jsonl: invalid line")?;
        if let (Some(id), Some(s)) = (m["id"].as_str(), m["supplier"].as_str()) {
            supplier_of.insert(id.to_string(), s.to_string());
        }
    }
    let suppliers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("suppliers.json")).context("suppliers.json")?)
            .context("suppliers.json")?;
    let mut scheme: BTreeMap<String, regex::Regex> = BTreeMap::new();
    for s in suppliers.as_array().into_iter().flatten() {
        if let (Some(id), Some(re)) = (s["id"].as_str(), s["numbering"]["regex"].as_str()) {
            scheme.insert(id.to_string(), regex::Regex::new(&format!(r"\b{re}\b"))?);
        }
    }
    let supplier = |m: &ReadMessage| supplier_of.get(m.file.trim_end_matches(".eml")).cloned();
    let mut known: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in read {
        let Some(s) = supplier(m) else { continue };
        let numbers = known.entry(s.clone()).or_default();
        numbers.extend(m.want.iter().cloned());
        if let (Some(re), Some(msg)) = (scheme.get(&s), mail_parser::MessageParser::default().parse(&m.raw)) {
            let body = msg.body_text(0).unwrap_or_default().replace(['\u{a0}', '\u{202f}'], " ");
            numbers.extend(re.find_iter(&body).map(|x| x.as_str().to_string()));
        }
    }
    let readers: BTreeMap<&String, RefReader> = known.iter().map(|(s, n)| (s, RefReader::learn(n))).collect();
    let total_known = readers.values().map(RefReader::len).sum();
    let mut score = RefScore::default();
    let mut wrong = Vec::new();
    for m in read {
        let got: Vec<String> = match supplier(m).and_then(|s| readers.get(&s)) {
            Some(r) if m.u.intent != Intent::AutoReply => {
                let mut got: Vec<String> = Vec::new();
                let subject = m.u.subject.as_deref().unwrap_or("");
                for f in r.read(subject).into_iter().chain(r.read(&m.u.new_text)) {
                    if !got.contains(&f.number) {
                        got.push(f.number);
                    }
                }
                got
            }
            _ => Vec::new(),
        };
        for r in score.score(&m.want, &got, |s| s.to_string()) {
            wrong.push(format!("  {}: tenant reader read {r}, not labelled", m.file));
        }
        for w in m.want.iter().filter(|w| !got.contains(w)) {
            wrong.push(format!("  {}: tenant reader missed {w} (read {got:?})", m.file));
        }
    }
    Ok((score, total_known, wrong))
}
