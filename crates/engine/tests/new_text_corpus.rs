//! The customer's new text, measured on the labelled reply corpus
//! (`corpus/replies/dev` only: the held-out `unseen` split and batch b5 are
//! never read here).
//!
//! Each `.eml` of `dev` was rendered from an item of `corpus/replies/bodies`
//! whose `body` (and, for inline replies, the `text` segments) is exactly what
//! the customer wrote. A message passes when
//! - every word of the customer's text is in `understand(..).new_text`, except
//!   the words of the customer's own legal footer (the trailing lines that
//!   carry a confidentiality or company-registration notice, and anything
//!   after a `-- ` signature separator): those are meant to be cut, and a
//!   footer that mentions "disputes" or "payment inquiries" would otherwise
//!   steer the intent;
//! - no word of the rest of the message (the quoted reminder, its
//!   attribution or header block, client signatures such as "Sent from my
//!   iPhone") that the customer's text does not contain is in the new text.
//!
//! Bounces (`kind: dsn`) have no customer text and are not counted.
//! Words are folded (lower case, no accents) runs of letters and digits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use mail_parser::{MessageParser, PartType};
use relance_engine::replies::{fold_lower, understand};
use serde_json::Value;

/// The pass rate below which the test fails (share of the counted dev messages).
const FLOOR: f64 = 0.94;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/replies")
}

fn words(text: &str) -> Vec<String> {
    fold_lower(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// A line of the customer's own legal footer or company notice.
fn footer_line(line: &str) -> bool {
    let l = fold_lower(line);
    [
        "confidenti",
        "privileged",
        "intended solely",
        "intended only",
        "intended recipient",
        "secret professionnel",
        "registered in",
        "registered office",
        "n'etes pas le destinataire",
        "au capital",
    ]
    .iter()
    .any(|m| l.contains(m))
}

/// A mobile client's signature line ("Sent from my iPhone", "Envoyé de mon
/// Samsung Galaxy"): the client's words, not the customer's.
fn client_signature(line: &str) -> bool {
    let l = fold_lower(line.trim());
    l.len() < 60 && ["sent from ", "envoye de ", "envoye depuis "].iter().any(|p| l.starts_with(p))
}

/// The lines of a body that the new text must keep: all but a trailing
/// footer (from its first line to the end), a `-- ` signature and a mobile
/// client's signature line.
fn required(body: &str) -> String {
    let lines: Vec<&str> = body.lines().filter(|l| !client_signature(l)).collect();
    let mut end = lines.iter().position(|l| l.trim_end() == "--").unwrap_or(lines.len());
    // The trailing footer: the last paragraph(s) whose lines are footer lines.
    let mut i = end;
    while i > 0 {
        let l = lines[i - 1];
        if l.trim().is_empty() || footer_line(l) {
            i -= 1;
        } else {
            break;
        }
    }
    if lines[i..end].iter().any(|l| footer_line(l)) {
        end = i;
    }
    lines[..end].join("\n")
}

/// Every text of the message (text/plain and text/html parts, tags dropped).
fn all_text(raw: &[u8]) -> String {
    let Some(msg) = MessageParser::default().parse(raw) else { return String::new() };
    let mut out = String::new();
    for part in &msg.parts {
        match &part.body {
            PartType::Text(t) => out.push_str(t),
            PartType::Html(h) => {
                let mut in_tag = false;
                for c in h.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => {
                            in_tag = false;
                            out.push(' ');
                        }
                        c if !in_tag => out.push(c),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

struct Item {
    /// Everything the customer wrote.
    body: String,
    /// What the new text must keep (see [`required`]).
    required: String,
    kind: String,
    date: NaiveDate,
}

fn items() -> HashMap<String, Item> {
    let mut out = HashMap::new();
    let dir = corpus().join("bodies");
    for entry in std::fs::read_dir(&dir).expect("corpus/replies/bodies") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        // Batch b5 belongs to the held-out split: never read.
        if !name.ends_with(".jsonl") || name.contains("-b5") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("bodies file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).expect("bodies line");
            let id = v["id"].as_str().expect("id").to_string();
            let mut body = v["body"].as_str().unwrap_or("").to_string();
            let mut texts = vec![required(&body)];
            if let Some(segs) = v["inline"].as_array() {
                for seg in segs {
                    if let Some(t) = seg["text"].as_str() {
                        body.push_str("\n\n");
                        body.push_str(t);
                        texts.push(required(t));
                    }
                }
            }
            let date = v["date"]
                .as_str()
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or(NaiveDate::MIN);
            let kind = v["kind"].as_str().unwrap_or("reply").to_string();
            out.insert(id, Item { body, required: texts.join("\n\n"), kind, date });
        }
    }
    out
}

fn layouts() -> HashMap<String, String> {
    let text = std::fs::read_to_string(corpus().join("manifest.jsonl")).expect("manifest");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["id"].as_str()?.to_string(), v["layout"].as_str()?.to_string())))
        .collect()
}

/// Why a message fails, or `None` when it passes.
fn check(raw: &[u8], item: &Item) -> Option<String> {
    let u = understand(raw, item.date).ok()?;
    let got: HashSet<String> = words(&u.new_text).into_iter().collect();
    let own: HashSet<String> = words(&item.body).into_iter().collect();
    let missing: Vec<String> = words(&item.required).into_iter().filter(|w| !got.contains(w)).collect();
    let mut foreign: Vec<String> =
        words(&all_text(raw)).into_iter().filter(|w| !own.contains(w) && got.contains(w)).collect();
    foreign.sort();
    foreign.dedup();
    if missing.is_empty() && foreign.is_empty() {
        None
    } else {
        Some(format!(
            "missing {:?} foreign {:?}\n--- new text:\n{}\n---",
            &missing[..missing.len().min(12)],
            &foreign[..foreign.len().min(12)],
            u.new_text
        ))
    }
}

#[test]
fn new_text_matches_the_customers_text_on_dev() {
    let items = items();
    let layouts = layouts();
    let dir = corpus().join("dev");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus/replies/dev")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let mut per_layout: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in &files {
        let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let Some(item) = items.get(&id) else { continue };
        if item.kind == "dsn" {
            continue;
        }
        let raw = std::fs::read(path).expect("eml");
        let layout = layouts.get(&id).cloned().unwrap_or_else(|| "?".into());
        let entry = per_layout.entry(layout.clone()).or_default();
        entry.1 += 1;
        match check(&raw, item) {
            None => entry.0 += 1,
            Some(why) => failures.push(format!("{id} ({layout}): {why}")),
        }
    }
    let (pass, total) = per_layout.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    println!("new text on corpus/replies/dev, per layout:");
    for (layout, (p, t)) in &per_layout {
        println!("  {layout:<16} {p:>4}/{t:<4} {:5.1} %", 100.0 * *p as f64 / (*t).max(1) as f64);
    }
    println!("  {:<16} {pass:>4}/{total:<4} {:5.1} %", "all", 100.0 * pass as f64 / total.max(1) as f64);
    if std::env::var_os("NEW_TEXT_FAILURES").is_some() {
        for f in &failures {
            println!("\n{f}");
        }
    }
    // Throughput of the whole understanding (meaningful in a release build).
    let raws: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let start = std::time::Instant::now();
    for raw in &raws {
        let _ = understand(raw, NaiveDate::MIN);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("understand: {:.0} messages/s ({} messages)", raws.len() as f64 / secs.max(1e-9), raws.len());
    assert!(total > 0, "no dev message was read");
    let rate = pass as f64 / total as f64;
    assert!(rate >= FLOOR, "new text right on {:.1} % of dev, floor {:.0} %", 100.0 * rate, 100.0 * FLOOR);
}
