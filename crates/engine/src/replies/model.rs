//! The statistical half of intent classification: a multinomial logistic
//! regression over features of the customer's new text.
//!
//! Features ([`for_each_feature`]) are words, word pairs and character
//! 4-grams of the folded text (so typos, missing accents and inflections
//! still share most of their features), words under a negation marked `!`,
//! and signals the rules compute: which intents the phrase rules fired for,
//! future and past tense markers near a payment word, a date ahead or behind,
//! an amount, a question, an attachment. The rules' own decision is thus one
//! feature among others, weighted by what the labelled corpus taught.
//!
//! The shipped model ([`Model::shipped`]) is trained by `relance replies
//! train` on the labelled corpus of the repository and stored as text
//! (`model.txt`, one feature per line with one weight per intent), compiled
//! into the engine: no file, no network, deterministic. A tenant's
//! corrections train an [`Overlay`]: extra weights added to the shipped ones,
//! so the team's vocabulary is learned without retraining the base model.
//!
//! Training ([`train`]) is plain SGD with AdaGrad steps and L2, over the
//! examples in a fixed pseudo-random order: the same examples always give the
//! same weights.

use std::collections::HashMap;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use super::Intent;

/// Number of classes: one per [`Intent`].
pub const CLASSES: usize = Intent::ALL.len();

/// Index of an intent in weight rows.
pub fn class_index(i: Intent) -> usize {
    Intent::ALL.iter().position(|x| *x == i).unwrap_or(CLASSES - 1)
}

/// A weight per intent.
pub type Row = [f32; CLASSES];

/// Format line of the text form.
const MAGIC: &str = "relance-replies-model 1";

/// Errors reading a model's text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("not a reply model (first line must be `{MAGIC}`)")]
    Magic,
    #[error("model line {line}: {why}")]
    Line { line: usize, why: String },
}

/// Weights per feature and intent, plus a bias per intent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub version: String,
    pub bias: Row,
    pub weights: FxHashMap<String, Row>,
}

/// A tenant's learned corrections: weights added to the base model's.
pub type Overlay = Model;

static SHIPPED: LazyLock<Model> = LazyLock::new(|| Model::parse(include_str!("model.txt")).unwrap_or_default());

impl Model {
    /// The model trained on the repository's labelled corpus, compiled in.
    /// An empty model (no features) leaves the decision to the rules.
    pub fn shipped() -> &'static Model {
        &SHIPPED
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Reads the text form written by [`Model::to_text`].
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == MAGIC => {}
            _ => return Err(ModelError::Magic),
        }
        let mut m = Model::default();
        for (n, line) in lines {
            let line_no = n + 1;
            if line.is_empty() {
                continue;
            }
            let (key, values) = line
                .split_once('\t')
                .ok_or_else(|| ModelError::Line { line: line_no, why: "no tab between key and weights".into() })?;
            if key == "#version" {
                m.version = values.to_string();
                continue;
            }
            let mut row = [0f32; CLASSES];
            let mut parts = values.split(' ');
            for w in row.iter_mut() {
                let p =
                    parts.next().ok_or_else(|| ModelError::Line { line: line_no, why: "too few weights".into() })?;
                let milli: i32 =
                    p.parse().map_err(|_| ModelError::Line { line: line_no, why: format!("bad weight `{p}`") })?;
                *w = milli as f32 / 1000.0;
            }
            if key == "#bias" {
                m.bias = row;
            } else {
                m.weights.insert(key.to_string(), row);
            }
        }
        Ok(m)
    }

    /// The text form: a header, the version, the bias, then one line per
    /// feature (sorted, weights in thousandths) so that diffs stay readable.
    pub fn to_text(&self) -> String {
        let row = |r: &Row| r.iter().map(|w| ((w * 1000.0).round() as i32).to_string()).collect::<Vec<_>>().join(" ");
        let mut out = format!("{MAGIC}\n#version\t{}\n#bias\t{}\n", self.version, row(&self.bias));
        let mut keys: Vec<&String> = self.weights.keys().collect();
        keys.sort();
        for k in keys {
            out.push_str(k);
            out.push('\t');
            out.push_str(&row(&self.weights[k]));
            out.push('\n');
        }
        out
    }
}

/// Scores of one message: probabilities per intent and the features that
/// weighed most for the chosen one.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub probabilities: Row,
    pub best: Intent,
    /// Strongest features for `best`: (feature, weight), strongest first.
    pub evidence: Vec<(String, f32)>,
}

/// Scores `features` with the base model and an optional tenant overlay.
pub fn score(features: &[String], base: &Model, overlay: Option<&Overlay>) -> Scored {
    score_with(base, overlay, |emit| features.iter().for_each(|f| emit(f)))
}

/// Scores the features `visit` emits, without keeping them: what
/// understanding a message does (no allocation per feature).
pub fn score_with(base: &Model, overlay: Option<&Overlay>, visit: impl FnOnce(&mut dyn FnMut(&str))) -> Scored {
    let mut z = base.bias;
    if let Some(o) = overlay {
        add(&mut z, &o.bias, 1.0);
    }
    // Features found in a model, by the model's own key (no copy).
    let mut used: Vec<(&str, &Row)> = Vec::new();
    visit(&mut |f: &str| {
        if let Some((k, w)) = base.weights.get_key_value(f) {
            add(&mut z, w, 1.0);
            used.push((k, w));
        }
        if let Some((k, w)) = overlay.and_then(|o| o.weights.get_key_value(f)) {
            add(&mut z, w, 1.0);
            used.push((k, w));
        }
    });
    let probabilities = softmax(&z);
    let best_i = argmax(&probabilities);
    // A feature's evidence for `best`: its weight there minus its mean weight elsewhere.
    let mut evidence: Vec<(&str, f32)> = used
        .iter()
        .map(|(f, r)| {
            let others = (r.iter().sum::<f32>() - r[best_i]) / (CLASSES as f32 - 1.0);
            (*f, r[best_i] - others)
        })
        .filter(|(_, e)| *e > 0.0)
        .collect();
    evidence.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    evidence.dedup_by(|a, b| a.0 == b.0);
    evidence.truncate(5);
    Scored {
        probabilities,
        best: Intent::ALL[best_i],
        evidence: evidence.into_iter().map(|(f, e)| (f.to_string(), e)).collect(),
    }
}

fn add(a: &mut Row, b: &Row, k: f32) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += k * y;
    }
}

fn softmax(z: &Row) -> Row {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p = [0f32; CLASSES];
    let mut s = 0.0;
    for (pi, zi) in p.iter_mut().zip(z) {
        *pi = (zi - m).exp();
        s += *pi;
    }
    for pi in p.iter_mut() {
        *pi /= s;
    }
    p
}

fn argmax(p: &Row) -> usize {
    let mut best = 0;
    for i in 1..CLASSES {
        if p[i] > p[best] {
            best = i;
        }
    }
    best
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// Features seen in fewer examples are left out of the model.
    pub min_count: usize,
    /// Weights smaller than this (in absolute value) are dropped at the end.
    pub prune_below: f32,
    /// Weight of each example (corrections may count more than the corpus).
    pub seed: u64,
    /// Learn a bias per intent. A tenant overlay trained on a few
    /// corrections does not: its corrections, mostly of one intent, would
    /// otherwise tilt every reply of the tenant toward it.
    pub learn_bias: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 40,
            learning_rate: 0.05,
            l2: 1e-4,
            min_count: 2,
            prune_below: 0.02,
            seed: 20_261_130,
            learn_bias: true,
        }
    }
}

impl TrainOptions {
    /// The settings the shipped model is trained with (`relance replies
    /// train`): smaller AdaGrad steps than a tenant's overlay, which stop
    /// the base model short of fitting each writer's words (measured by
    /// leaving each batch of writers out: 92.5 % against 90.5 % at the
    /// overlay's 0.05).
    pub fn shipped() -> Self {
        TrainOptions { learning_rate: 0.005, ..TrainOptions::default() }
    }
}

/// One labelled example: its features and intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub features: Vec<String>,
    pub intent: Intent,
}

/// Trains a model on `examples`, on top of `base` when given (then only the
/// overlay's weights are learned, the base ones stay fixed).
pub fn train(examples: &[Example], base: Option<&Model>, opts: TrainOptions, version: &str) -> Model {
    // Vocabulary: features present in at least `min_count` examples (every
    // feature of an overlay's few examples is kept).
    let min_count = if base.is_some() { 1 } else { opts.min_count };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in examples {
        let mut seen: Vec<&str> = e.features.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for f in seen {
            *counts.entry(f).or_default() += 1;
        }
    }
    let mut vocab: Vec<&str> = counts.iter().filter(|(_, c)| **c >= min_count).map(|(f, _)| *f).collect();
    vocab.sort_unstable();
    let index: HashMap<&str, usize> = vocab.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let encoded: Vec<(Vec<usize>, usize)> = examples
        .iter()
        .map(|e| {
            let mut ids: Vec<usize> = e.features.iter().filter_map(|f| index.get(f.as_str()).copied()).collect();
            ids.sort_unstable();
            ids.dedup();
            (ids, class_index(e.intent))
        })
        .collect();
    let fixed: Vec<Row> =
        vocab.iter().map(|f| base.and_then(|b| b.weights.get(*f)).copied().unwrap_or([0.0; CLASSES])).collect();
    let fixed_bias = base.map_or([0.0; CLASSES], |b| b.bias);
    let mut w = vec![[0f32; CLASSES]; vocab.len()];
    let mut g2 = vec![[1e-6f32; CLASSES]; vocab.len()];
    let mut bias = [0f32; CLASSES];
    let mut bias_g2 = [1e-6f32; CLASSES];
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    let mut rng = opts.seed.max(1);
    for _ in 0..opts.epochs {
        // Fisher–Yates with xorshift: deterministic.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &k in &order {
            let (ids, y) = &encoded[k];
            let mut z = bias;
            add(&mut z, &fixed_bias, 1.0);
            for &i in ids {
                add(&mut z, &w[i], 1.0);
                add(&mut z, &fixed[i], 1.0);
            }
            let p = softmax(&z);
            let mut grad = p;
            grad[*y] -= 1.0;
            if opts.learn_bias {
                for c in 0..CLASSES {
                    bias_g2[c] += grad[c] * grad[c];
                    bias[c] -= opts.learning_rate * grad[c] / bias_g2[c].sqrt();
                }
            }
            for &i in ids {
                for c in 0..CLASSES {
                    let g = grad[c] + opts.l2 * w[i][c];
                    g2[i][c] += g * g;
                    w[i][c] -= opts.learning_rate * g / g2[i][c].sqrt();
                }
            }
        }
    }
    let weights = vocab
        .iter()
        .zip(w)
        .filter(|(_, r)| r.iter().any(|x| x.abs() >= opts.prune_below))
        .map(|(f, r)| (f.to_string(), r))
        .collect();
    Model { version: version.to_string(), bias, weights }
}

/// Share of `examples` the model (with `overlay`) classifies right.
pub fn accuracy(examples: &[Example], base: &Model, overlay: Option<&Overlay>) -> f64 {
    if examples.is_empty() {
        return 1.0;
    }
    let right = examples.iter().filter(|e| score(&e.features, base, overlay).best == e.intent).count();
    right as f64 / examples.len() as f64
}

/// Calls `emit` with every feature of a message: its folded new text, its
/// folded subject, and the signals computed by the rules.
pub fn for_each_feature(text: &str, subject: &str, signals: &[&str], mut emit: impl FnMut(&str)) {
    let mut buf = String::with_capacity(64);
    for s in signals {
        emit(s);
    }
    let mut negated = 0u8;
    let mut prev: Option<&str> = None;
    for tok in text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()) {
        let tok = if tok.len() > 24 { &tok[..tok.floor_char_boundary(24)] } else { tok };
        let shape = token_shape(tok);
        let word = shape.unwrap_or(tok);
        buf.clear();
        buf.push_str(if negated > 0 { "!" } else { "w:" });
        buf.push_str(word);
        emit(&buf);
        if let Some(p) = prev {
            buf.clear();
            buf.push_str("b:");
            buf.push_str(p);
            buf.push('_');
            buf.push_str(word);
            emit(&buf);
        }
        if shape.is_none() && tok.chars().count() >= 3 {
            let padded: Vec<char> = std::iter::once('^').chain(tok.chars()).chain(std::iter::once('$')).collect();
            for g in padded.windows(4) {
                buf.clear();
                buf.push_str("c:");
                buf.extend(g.iter());
                emit(&buf);
            }
        }
        negated = negated.saturating_sub(1);
        if NEGATIONS.contains(&word) {
            negated = 3;
        }
        prev = Some(word);
    }
    for tok in subject.split(|c: char| !c.is_alphanumeric()).filter(|t| t.len() > 2) {
        if token_shape(tok).is_none() && !matches!(tok, "re" | "tr" | "fw" | "fwd" | "aw" | "wg") {
            buf.clear();
            buf.push_str("s:");
            buf.push_str(&tok[..tok.floor_char_boundary(24)]);
            emit(&buf);
        }
    }
}

/// Words after which the next three are read as negated.
const NEGATIONS: &[&str] =
    &["ne", "n", "pas", "not", "t", "never", "jamais", "no", "aucun", "aucune", "sans", "without"];

/// Numbers by shape, so that one invoice number does not become a feature.
fn token_shape(tok: &str) -> Option<&'static str> {
    let digits = tok.chars().filter(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    Some(match (digits, tok.len()) {
        (d, l) if d == l && d <= 2 => "#n2",
        (4, 4) if tok.starts_with("20") => "#year",
        (d, l) if d == l && d <= 4 => "#n4",
        (d, l) if d == l => "#nlong",
        _ => "#ref",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_feature(text, "", &[], |f| v.push(f.to_string()));
        v
    }

    #[test]
    fn features_mark_negation_and_shapes() {
        let f = feats("nous ne pouvons pas payer la facture 2026");
        assert!(f.contains(&"!pouvons".to_string()));
        assert!(f.contains(&"!payer".to_string()));
        assert!(f.contains(&"w:nous".to_string()) && f.contains(&"!la".to_string()));
        assert!(f.contains(&"w:#year".to_string()));
        assert!(f.contains(&"c:^pay".to_string()));
        assert!(!f.iter().any(|x| x.contains("2026")));
    }

    #[test]
    fn training_learns_separable_examples_and_round_trips() {
        let ex = |t: &str, i| Example { features: feats(t), intent: i };
        let examples = vec![
            ex("we will pay on friday", Intent::PromiseToPay),
            ex("payment will go out friday", Intent::PromiseToPay),
            ex("we will pay next week", Intent::PromiseToPay),
            ex("this invoice is wrong", Intent::Dispute),
            ex("the price is wrong", Intent::Dispute),
            ex("wrong quantity on this invoice", Intent::Dispute),
        ];
        let m = train(&examples, None, TrainOptions::default(), "test");
        assert_eq!(accuracy(&examples, &m, None), 1.0);
        assert_eq!(score(&feats("we will pay tomorrow"), &m, None).best, Intent::PromiseToPay);
        assert_eq!(score(&feats("amount is wrong"), &m, None).best, Intent::Dispute);
        let back = Model::parse(&m.to_text()).unwrap();
        assert_eq!(back.weights.len(), m.weights.len());
        assert_eq!(score(&feats("amount is wrong"), &back, None).best, Intent::Dispute);
        assert_eq!(train(&examples, None, TrainOptions::default(), "test"), m, "training is deterministic");
    }

    #[test]
    fn an_overlay_learns_a_phrasing_on_top_of_the_base() {
        let ex = |t: &str, i| Example { features: feats(t), intent: i };
        let base_examples = vec![
            ex("we will pay on friday", Intent::PromiseToPay),
            ex("this invoice is wrong", Intent::Dispute),
            ex("thanks for the reminder", Intent::Other),
        ];
        let base = train(&base_examples, None, TrainOptions { min_count: 1, ..TrainOptions::default() }, "b");
        let phrase = "le chantier attend le feu vert du maitre d ouvrage";
        assert_ne!(score(&feats(phrase), &base, None).best, Intent::Dispute);
        let corrections =
            vec![ex(phrase, Intent::Dispute), ex("feu vert du maitre d ouvrage attendu", Intent::Dispute)];
        let overlay = train(&corrections, Some(&base), TrainOptions::default(), "t1");
        assert_eq!(
            score(&feats("toujours pas de feu vert du maitre d ouvrage"), &base, Some(&overlay)).best,
            Intent::Dispute
        );
        assert_eq!(score(&feats("we will pay on friday"), &base, Some(&overlay)).best, Intent::PromiseToPay);
    }

    #[test]
    fn bad_text_forms_are_errors() {
        assert_eq!(Model::parse("hello"), Err(ModelError::Magic));
        assert!(matches!(Model::parse(&format!("{MAGIC}\nw:x\t1 2")), Err(ModelError::Line { line: 2, .. })));
    }
}
