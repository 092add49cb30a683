//! Cash application: matching incoming payments to open invoices. Pure: no
//! I/O, the caller gives the open invoices and known payers and applies the
//! result.
//!
//! How a credit is matched, as a credit clerk would:
//! 1. **References** in the remittance text, structured reference and
//!    end-to-end id. Invoice numbers are indexed under normalized keys (as
//!    typed, without their letter prefix, with leading zeros dropped); the text
//!    is cut into atoms and every run of up to six consecutive atoms is looked up,
//!    so separators, case, missing prefixes, dropped zeros and several
//!    references in one text are handled in one pass over the text (a hash
//!    multi-pattern index: no scan of the invoices). ISO 11649 `RF` and
//!    Belgian `+++…+++` references are validated and looked up by payload.
//!    One typo is tolerated against the invoices of the identified payer or of
//!    the same amount.
//! 2. **Payer** by IBAN (customer data and IBANs learned from earlier
//!    payments) or by fuzzy name (legal forms and accents ignored).
//! 3. **Amounts**: exact, several invoices of one payer (bounded subset
//!    search), partial, overpayment, small shortfalls within the fee
//!    tolerance, early-payment discount.
//!
//! Every candidate carries a confidence and its reasons; a credit is
//! `matched` only when the best candidate reaches the threshold and no other
//! candidate comes close. Two open invoices of the same amount with no
//! reference are never auto-applied.

pub mod text;

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use text::{
    atoms, belgian_references, canonical, damerau1, invoice_keys, joined, name_similarity, name_tokens, rf_references,
};

/// A multimap from a hashable key to invoice indexes, with no allocation for
/// the common single-entry case.
#[derive(Default)]
struct MultiMap<K: std::hash::Hash + Eq> {
    first: FxHashMap<K, u32>,
    more: FxHashMap<K, Vec<u32>>,
}

impl<K: std::hash::Hash + Eq + Clone> MultiMap<K> {
    fn with_capacity(n: usize) -> Self {
        MultiMap { first: FxHashMap::with_capacity_and_hasher(n, Default::default()), more: FxHashMap::default() }
    }

    fn insert(&mut self, k: K, v: u32) {
        match self.first.entry(k) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(v);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                let list = self.more.entry(e.key().clone()).or_default();
                if *e.get() != v && !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }

    fn remove_value(&mut self, k: &K, v: u32) {
        if self.first.get(k) == Some(&v) {
            match self.more.get_mut(k).and_then(|l| if l.is_empty() { None } else { Some(l.remove(0)) }) {
                Some(next) => {
                    self.first.insert(k.clone(), next);
                }
                None => {
                    self.first.remove(k);
                }
            }
        } else if let Some(l) = self.more.get_mut(k) {
            l.retain(|x| *x != v);
        }
    }

    fn get<'a>(&'a self, k: &K) -> Hits<'a> {
        self.first.get(k).copied().into_iter().chain(self.more.get(k).into_iter().flatten().copied())
    }
}

/// The invoices under one key (borrows the map, not the key).
type Hits<'a> = std::iter::Chain<
    std::option::IntoIter<u32>,
    std::iter::Copied<std::iter::Flatten<std::option::IntoIter<&'a Vec<u32>>>>,
>;

/// 64-bit hash of a normalized key; hits are verified against the invoice.
fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(key.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

/// An open invoice as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvoice {
    pub number: String,
    pub customer_id: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    pub open: Money,
}

/// A known customer: name and bank accounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payer {
    pub customer_id: String,
    pub name: String,
    pub ibans: Vec<String>,
}

/// An incoming payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub amount: Money,
    pub booking_date: NaiveDate,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub remittance: Option<String>,
    pub structured_ref: Option<String>,
    pub end_to_end_id: Option<String>,
}

/// Tenant settings of the matcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Confidence from which a match is applied without a human.
    pub auto_threshold: f64,
    /// Largest shortfall accepted as bank fees, in minor units…
    pub fee_tolerance_minor: i64,
    /// …and as a share of the amount due, in basis points (100 = 1 %).
    pub fee_tolerance_bp: i64,
    /// Early-payment discount in basis points (200 = 2 %), 0 to disable…
    pub discount_bp: i64,
    /// …when paid within this many days of the invoice date.
    pub discount_days: i64,
    /// Subset search: at most this many open invoices of the payer…
    pub subset_max_invoices: usize,
    /// …combined by at most this many.
    pub subset_max_size: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            auto_threshold: 0.9,
            fee_tolerance_minor: 1_500,
            fee_tolerance_bp: 100,
            discount_bp: 200,
            discount_days: 10,
            subset_max_invoices: 20,
            subset_max_size: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchStatus {
    Matched,
    Suggested,
    Unmatched,
}

/// Part of the credit applied to one invoice; `write_off` is what the
/// invoice still owed and is closed as fee or discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub invoice: String,
    pub amount: Money,
    pub write_off: Option<Money>,
}

/// One way to explain a credit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub customer_id: Option<String>,
    pub allocations: Vec<Allocation>,
    pub confidence: f64,
    pub reasons: Vec<String>,
}

/// The decision for one credit: the best candidate first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchResult {
    pub status: MatchStatus,
    pub candidates: Vec<Candidate>,
    /// Why the decision is what it is (ambiguity, threshold…).
    pub decision: Vec<String>,
}

impl MatchResult {
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RefKind {
    /// As typed (separators aside).
    Exact,
    /// Without prefix or leading zeros.
    Partial,
    /// A validated structured reference.
    Structured,
    /// One edit away.
    Typo,
}

impl RefKind {
    fn strength(self) -> f64 {
        match self {
            RefKind::Exact | RefKind::Structured => 1.0,
            RefKind::Partial => 0.9,
            RefKind::Typo => 0.75,
        }
    }
    fn label(self) -> &'static str {
        match self {
            RefKind::Exact => "exact",
            RefKind::Partial => "without prefix or leading zeros",
            RefKind::Structured => "structured reference",
            RefKind::Typo => "one typo",
        }
    }
}

/// How a candidate's invoices explain the amount.
#[derive(Debug, Clone, PartialEq)]
enum Fit {
    Exact,
    Fee(i64),
    Discount(i64),
    Partial,
    Over(i64),
}

/// The index and the matching logic.
pub struct Matcher {
    config: MatchConfig,
    invoices: Vec<OpenInvoice>,
    /// Normalized invoice-number keys (as hashes) → invoices.
    keys: MultiMap<u64>,
    by_customer: FxHashMap<String, Vec<u32>>,
    by_amount: MultiMap<(i64, Currency)>,
    iban_owner: HashMap<String, Vec<String>>,
    names: HashMap<String, Vec<String>>,
    name_tokens_of: HashMap<String, Vec<String>>,
}

impl Matcher {
    /// Builds the index over the open invoices and known payers.
    pub fn new(invoices: Vec<OpenInvoice>, payers: &[Payer], config: MatchConfig) -> Matcher {
        let mut m = Matcher {
            config,
            keys: MultiMap::with_capacity(invoices.len() * 4),
            by_customer: FxHashMap::default(),
            by_amount: MultiMap::with_capacity(invoices.len()),
            iban_owner: HashMap::new(),
            names: HashMap::new(),
            name_tokens_of: HashMap::new(),
            invoices: Vec::new(),
        };
        let mut buf = text::KeyBuf::default();
        for (i, inv) in invoices.iter().enumerate() {
            let i = i as u32;
            for k in buf.keys(&inv.number) {
                m.keys.insert(key_hash(k), i);
            }
            match m.by_customer.get_mut(inv.customer_id.as_str()) {
                Some(list) => list.push(i),
                None => {
                    m.by_customer.insert(inv.customer_id.clone(), vec![i]);
                }
            }
            m.by_amount.insert((inv.open.minor, inv.open.currency), i);
        }
        m.invoices = invoices;
        for p in payers {
            for iban in &p.ibans {
                let owners = m.iban_owner.entry(iban.clone()).or_default();
                if !owners.contains(&p.customer_id) {
                    owners.push(p.customer_id.clone());
                }
            }
            let tokens = name_tokens(&p.name);
            for t in &tokens {
                m.names.entry(t.clone()).or_default().push(p.customer_id.clone());
            }
            m.name_tokens_of.insert(p.customer_id.clone(), tokens);
        }
        m
    }

    pub fn invoices(&self) -> &[OpenInvoice] {
        &self.invoices
    }

    /// Records that `amount` of an invoice was paid, so later credits see the rest.
    pub fn consume(&mut self, invoice: &str, amount: Money, write_off: Option<Money>) {
        let Some(idx) = self.find_invoice(invoice) else { return };
        let inv = &mut self.invoices[idx as usize];
        let before = (inv.open.minor, inv.open.currency);
        // In i128, then clamped: the open amount never goes below zero and never wraps.
        let paid = i128::from(amount.minor) + i128::from(write_off.map_or(0, |w| w.minor));
        let left = (i128::from(inv.open.minor) - paid).clamp(0, i128::from(i64::MAX));
        inv.open = Money::new(i64::try_from(left).unwrap_or(i64::MAX), inv.open.currency);
        let after = (inv.open.minor, inv.open.currency);
        self.by_amount.remove_value(&before, idx);
        if after.0 > 0 {
            self.by_amount.insert(after, idx);
        }
    }

    /// Learns that an IBAN paid for a customer.
    pub fn learn_iban(&mut self, iban: &str, customer_id: &str) {
        let owners = self.iban_owner.entry(iban.to_string()).or_default();
        if !owners.iter().any(|o| o == customer_id) {
            owners.push(customer_id.to_string());
        }
    }

    fn find_invoice(&self, number: &str) -> Option<u32> {
        invoice_keys(number)
            .iter()
            .map(|k| key_hash(k))
            .find_map(|h| self.keys.get(&h).find(|i| self.invoices[*i as usize].number == number))
    }

    /// Invoices under a key, verified (a hash collision never makes a hit).
    fn lookup<'a>(&'a self, key: &'a str) -> impl Iterator<Item = u32> + 'a {
        let hash = key_hash(key);
        self.keys.get(&hash).filter(move |i| invoice_keys(&self.invoices[*i as usize].number).iter().any(|k| k == key))
    }

    fn open(&self, i: u32) -> &OpenInvoice {
        &self.invoices[i as usize]
    }

    /// References found in the credit's texts, by invoice.
    fn references(&self, c: &Credit) -> Vec<(u32, RefKind, String)> {
        let mut hits: Vec<(u32, RefKind, String)> = Vec::new();
        let push = |hits: &mut Vec<(u32, RefKind, String)>, i: u32, k: RefKind, tok: &str| match hits
            .iter_mut()
            .find(|h| h.0 == i)
        {
            Some(h) if h.1.strength() < k.strength() => *h = (i, k, tok.to_string()),
            Some(_) => {}
            None => hits.push((i, k, tok.to_string())),
        };
        let texts = [c.structured_ref.as_deref(), c.remittance.as_deref(), c.end_to_end_id.as_deref()];
        for text in texts.into_iter().flatten() {
            for payload in rf_references(text).into_iter().chain(belgian_references(text)) {
                let a = atoms(&payload);
                for key in [joined(&a), canonical(&a)] {
                    for i in self.lookup(&key) {
                        push(&mut hits, i, RefKind::Structured, &payload);
                    }
                }
            }
            let a = atoms(text);
            for start in 0..a.len() {
                for end in start + 1..=(start + 6).min(a.len()) {
                    let span = &a[start..end];
                    if !span.iter().any(|x| x.as_bytes()[0].is_ascii_digit()) {
                        continue;
                    }
                    let (as_typed, canon) = (joined(span), canonical(span));
                    if as_typed.len() > 24 {
                        break;
                    }
                    for key in [&as_typed, &canon] {
                        for i in self.lookup(key) {
                            // With its prefix (zeros aside) the number is exact; without, partial.
                            let number = atoms(&self.open(i).number);
                            let kind = if joined(&number) == *key || canonical(&number) == *key {
                                RefKind::Exact
                            } else {
                                RefKind::Partial
                            };
                            push(&mut hits, i, kind, key);
                        }
                    }
                }
            }
        }
        hits
    }

    /// Reference-looking tokens of the credit (for typo matching).
    fn ref_tokens(c: &Credit) -> Vec<String> {
        let mut out = Vec::new();
        for text in [c.remittance.as_deref(), c.structured_ref.as_deref()].into_iter().flatten() {
            let a = atoms(text);
            for start in 0..a.len() {
                for end in start + 1..=(start + 4).min(a.len()) {
                    let span = &a[start..end];
                    let t = joined(span);
                    if t.len() >= 6 && t.len() <= 24 && t.bytes().any(|b| b.is_ascii_digit()) {
                        out.push(t);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Customers the credit comes from: by IBAN (strong) or by name.
    fn payers(&self, c: &Credit) -> Vec<(String, f64, String)> {
        let mut out: Vec<(String, f64, String)> = Vec::new();
        if let Some(iban) = c.counterparty_iban.as_deref() {
            for owner in self.iban_owner.get(iban).into_iter().flatten() {
                out.push((owner.clone(), 0.95, format!("payer IBAN {iban} belongs to customer {owner}")));
            }
        }
        if out.is_empty()
            && let Some(name) = c.counterparty_name.as_deref()
        {
            let tokens = name_tokens(name);
            let mut seen: Vec<&String> = Vec::new();
            for t in &tokens {
                let Some(list) = self.names.get(t) else { continue };
                if list.len() > 2_000 {
                    continue; // too common a word to identify anyone
                }
                for cust in list {
                    if seen.contains(&cust) {
                        continue;
                    }
                    seen.push(cust);
                    let sim = self.name_tokens_of.get(cust).map_or(0.0, |ct| name_similarity(&tokens, ct));
                    if sim >= 0.75 {
                        out.push((
                            cust.clone(),
                            0.6 + 0.2 * sim,
                            format!("payer name `{name}` resembles customer {cust} ({:.0} %)", sim * 100.0),
                        ));
                    }
                }
            }
            out.sort_by(|a, b| b.1.total_cmp(&a.1));
            out.truncate(3);
        }
        out
    }

    fn payer_open(&self, customer: &str, ccy: Currency) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .by_customer
            .get(customer)
            .into_iter()
            .flatten()
            .copied()
            .filter(|i| {
                let o = &self.open(*i).open;
                o.minor > 0 && o.currency == ccy
            })
            .collect();
        v.sort_by_key(|i| (self.open(*i).due_date, self.open(*i).number.clone()));
        v
    }

    /// How a set of invoices explains `amount`. Sums and products are in
    /// i128 (exact for any i64 amounts); a difference that does not fit in
    /// i64 cannot be a fee or a discount, so it is a partial or over payment.
    fn fit(&self, set: &[u32], c: &Credit) -> Fit {
        let due: i128 = set.iter().map(|i| i128::from(self.open(*i).open.minor)).sum();
        let paid = i128::from(c.amount.minor);
        if paid == due {
            return Fit::Exact;
        }
        if paid > due {
            return i64::try_from(paid - due).map_or(Fit::Partial, Fit::Over);
        }
        let Ok(short) = i64::try_from(due - paid) else { return Fit::Partial };
        if self.config.discount_bp > 0 {
            let discount = set
                .iter()
                .map(|i| {
                    let inv = self.open(*i);
                    let in_time =
                        inv.issue_date.is_some_and(|d| (c.booking_date - d).num_days() <= self.config.discount_days);
                    // Each term is below 2^113 (i64 × i64 / 10^4); the sum is checked all the same.
                    if in_time && inv.open == inv.total {
                        (i128::from(inv.total.minor) * i128::from(self.config.discount_bp) + 5_000) / 10_000
                    } else {
                        0
                    }
                })
                .try_fold(0i128, i128::checked_add)
                .unwrap_or(0);
            if discount > 0 && (i128::from(short) - discount).unsigned_abs() <= (set.len() as u128) {
                return Fit::Discount(short);
            }
        }
        // Cannot overflow: here due ≤ paid + short < 2^64, and the rate is an i64 (< 2^63).
        let share = due * i128::from(self.config.fee_tolerance_bp) / 10_000;
        let tolerance = i128::from(self.config.fee_tolerance_minor).min(share);
        if i128::from(short) <= tolerance { Fit::Fee(short) } else { Fit::Partial }
    }

    /// Splits the credit over the invoices (oldest first).
    fn allocate(&self, set: &[u32], c: &Credit, fit: &Fit) -> Vec<Allocation> {
        let mut ordered = set.to_vec();
        ordered.sort_by_key(|i| (self.open(*i).due_date, self.open(*i).number.clone()));
        let mut left = c.amount.minor;
        let mut out = Vec::new();
        for (n, i) in ordered.iter().enumerate() {
            let inv = self.open(*i);
            let last = n + 1 == ordered.len();
            let take = match fit {
                Fit::Fee(_) | Fit::Discount(_) if last => left,
                _ => inv.open.minor.min(left),
            };
            if take <= 0 {
                continue;
            }
            left -= take;
            let write_off = match fit {
                Fit::Fee(_) | Fit::Discount(_) if inv.open.minor > take => {
                    Some(Money::new(inv.open.minor - take, inv.open.currency))
                }
                _ => None,
            };
            out.push(Allocation {
                invoice: inv.number.clone(),
                amount: Money::new(take, c.amount.currency),
                write_off,
            });
        }
        out
    }

    fn fit_reason(&self, fit: &Fit, n: usize, ccy: Currency) -> String {
        let m = |v: i64| Money::new(v, ccy).to_decimal_string();
        let what = if n == 1 { "the open amount".to_string() } else { format!("the open amounts of {n} invoices") };
        match fit {
            Fit::Exact => format!("amount equals {what}"),
            Fit::Fee(s) => format!("amount is {} short of {what}: within the bank-fee tolerance", m(*s)),
            Fit::Discount(s) => format!("amount is {what} less the early-payment discount ({})", m(*s)),
            Fit::Partial => format!("amount is less than {what}: partial payment"),
            Fit::Over(s) => format!("amount exceeds {what} by {}: overpayment", m(*s)),
        }
    }

    fn candidate(
        &self,
        set: &[u32],
        c: &Credit,
        base: f64,
        mut reasons: Vec<String>,
        customer: Option<&str>,
    ) -> Candidate {
        let fit = self.fit(set, c);
        reasons.push(self.fit_reason(&fit, set.len(), c.amount.currency));
        let confidence = match fit {
            Fit::Exact => base,
            Fit::Fee(_) | Fit::Discount(_) => base - 0.01,
            Fit::Partial | Fit::Over(_) => base * 0.91,
        };
        let customer = customer.map(str::to_string).or_else(|| {
            let first = &self.open(set[0]).customer_id;
            set.iter().all(|i| self.open(*i).customer_id == *first).then(|| first.clone())
        });
        Candidate {
            customer_id: customer,
            allocations: self.allocate(set, c, &fit),
            confidence: confidence.clamp(0.0, 1.0),
            reasons,
        }
    }

    /// Matches one credit.
    pub fn match_credit(&self, c: &Credit) -> MatchResult {
        let ccy = c.amount.currency;
        let payers = self.payers(c);
        let payer_ids: Vec<&str> = payers.iter().map(|p| p.0.as_str()).collect();
        let mut candidates: Vec<Candidate> = Vec::new();

        // 1. References, exact or one edit away.
        let refs: Vec<(u32, RefKind, String)> = self
            .references(c)
            .into_iter()
            .filter(|(i, _, _)| self.open(*i).open.currency == ccy && self.open(*i).open.minor > 0)
            .collect();
        let exact_refs_fit = !refs.is_empty()
            && matches!(
                self.fit(&refs.iter().map(|r| r.0).collect::<Vec<_>>(), c),
                Fit::Exact | Fit::Fee(_) | Fit::Discount(_)
            );
        let mut typos: Vec<(u32, RefKind, String)> = Vec::new();
        if !exact_refs_fit {
            // One typo, against the payer's invoices and the invoices of this amount.
            let tokens = Self::ref_tokens(c);
            if !tokens.is_empty() {
                let mut pool: Vec<u32> = payer_ids.iter().flat_map(|p| self.payer_open(p, ccy)).collect();
                pool.extend(self.by_amount.get(&(c.amount.minor, ccy)));
                pool.sort();
                pool.dedup();
                for i in pool {
                    if refs.iter().any(|r| r.0 == i) {
                        continue;
                    }
                    let keys = invoice_keys(&self.open(i).number);
                    if let Some(t) = tokens.iter().find(|t| keys.iter().any(|k| k.len() >= 6 && damerau1(k, t))) {
                        typos.push((i, RefKind::Typo, t.clone()));
                    }
                }
            }
        }
        if !refs.is_empty() {
            let set: Vec<u32> = refs.iter().map(|r| r.0).collect();
            candidates.push(self.reference_candidate(&refs, &set, c, &payers));
            // Several references but the amount is exactly one of them: that one alone.
            if set.len() > 1 {
                for r in &refs {
                    if self.open(r.0).open.minor == c.amount.minor {
                        let mut cand = self.reference_candidate(std::slice::from_ref(r), &[r.0], c, &payers);
                        cand.reasons.push("the other references in the text are not paid by this amount".into());
                        cand.confidence -= 0.05;
                        candidates.push(cand);
                    }
                }
            }
        }
        // Near misses are alternatives, each its own candidate.
        for t in &typos {
            candidates.push(self.reference_candidate(std::slice::from_ref(t), &[t.0], c, &payers));
        }

        // 2. Payer and amount, when references did not settle it.
        let settled = candidates.first().is_some_and(|b| b.confidence >= self.config.auto_threshold);
        if !settled {
            for (cust, strength, why) in &payers {
                let open = self.payer_open(cust, ccy);
                let exact: Vec<u32> = open
                    .iter()
                    .copied()
                    .filter(|i| matches!(self.fit(&[*i], c), Fit::Exact | Fit::Fee(_) | Fit::Discount(_)))
                    .collect();
                let ibanish = *strength >= 0.9;
                match exact.len() {
                    0 => {
                        let subsets = self.subsets(&open, c.amount.minor);
                        match subsets.len() {
                            0 if !open.is_empty() => {
                                let r =
                                    vec![why.clone(), "no open invoice or combination matches the amount".to_string()];
                                candidates.push(self.candidate(&open, c, 0.4, r, Some(cust)));
                            }
                            0 => {}
                            1 => {
                                let r = vec![
                                    why.clone(),
                                    format!(
                                        "the only combination of this customer's open invoices that sums to the amount ({} invoices)",
                                        subsets[0].len()
                                    ),
                                ];
                                candidates.push(self.candidate(
                                    &subsets[0],
                                    c,
                                    if ibanish { 0.91 } else { 0.75 },
                                    r,
                                    Some(cust),
                                ));
                            }
                            n => {
                                for s in subsets.iter().take(3) {
                                    let r = vec![
                                        why.clone(),
                                        format!("one of {n} combinations of open invoices summing to the amount"),
                                    ];
                                    candidates.push(self.candidate(s, c, 0.5, r, Some(cust)));
                                }
                            }
                        }
                    }
                    1 => {
                        let r =
                            vec![why.clone(), "the only open invoice of this customer with this amount".to_string()];
                        candidates.push(self.candidate(&exact, c, if ibanish { 0.93 } else { 0.8 }, r, Some(cust)));
                    }
                    n => {
                        for i in exact.iter().take(5) {
                            let r = vec![
                                why.clone(),
                                format!("one of {n} open invoices of this customer with this amount: ambiguous"),
                            ];
                            candidates.push(self.candidate(&[*i], c, 0.5, r, Some(cust)));
                        }
                    }
                }
            }
        }

        // 3. Amount alone: never enough to apply.
        if candidates.is_empty() {
            let same: Vec<u32> = self.by_amount.get(&(c.amount.minor, ccy)).collect();
            let n = same.len();
            for i in same.iter().take(5) {
                let r = vec![format!("no reference and no known payer; {n} open invoice(s) have exactly this amount")];
                candidates.push(self.candidate(&[*i], c, if n == 1 { 0.45 } else { 0.3 }, r, None));
            }
        }

        self.decide(candidates)
    }

    /// A candidate explained by references, scored from the reference
    /// strength, the payer evidence and how the amount fits.
    fn reference_candidate(
        &self,
        refs: &[(u32, RefKind, String)],
        set: &[u32],
        c: &Credit,
        payers: &[(String, f64, String)],
    ) -> Candidate {
        let weakest = refs.iter().map(|r| r.1.strength()).fold(1.0, f64::min);
        let mut reasons: Vec<String> = refs
            .iter()
            .map(|(i, k, tok)| {
                format!("reference {} found in the remittance ({}: `{tok}`)", self.open(*i).number, k.label())
            })
            .collect();
        let owners: Vec<&str> = set.iter().map(|i| self.open(*i).customer_id.as_str()).collect();
        let confirming: Vec<&(String, f64, String)> =
            payers.iter().filter(|p| owners.contains(&p.0.as_str())).collect();
        let conflicting = confirming.is_empty() && !payers.is_empty();
        reasons.extend(confirming.iter().map(|p| p.2.clone()));
        let fit = self.fit(set, c);
        let amount_ok = matches!(fit, Fit::Exact | Fit::Fee(_) | Fit::Discount(_));
        let mut confidence: f64 = match (amount_ok, weakest) {
            (true, w) if w >= 1.0 => 0.99,
            (true, w) if w >= 0.9 => 0.97,
            (true, _) => 0.93,
            // A partial or overpayment is applied only when the payer confirms the reference.
            (false, w) if w >= 0.9 && !confirming.is_empty() => 0.92,
            (false, w) if w >= 0.9 => 0.85,
            (false, _) => 0.6,
        };
        if let Some(p) = confirming.iter().map(|p| p.1).reduce(f64::max) {
            confidence += if p >= 0.9 { 0.005 } else { 0.0 };
        }
        if conflicting {
            let strongest = payers.iter().map(|p| p.1).fold(0.0, f64::max);
            confidence -= if strongest >= 0.9 { 0.15 } else { 0.06 };
            reasons.push(format!("but the payer looks like another customer ({})", payers[0].2));
        }
        let mut cand = self.candidate(set, c, 1.0, reasons, None);
        cand.confidence = confidence.clamp(0.0, 1.0);
        cand
    }

    /// Ranks candidates and decides the status.
    fn decide(&self, mut candidates: Vec<Candidate>) -> MatchResult {
        candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        candidates.dedup_by(|a, b| a.allocations == b.allocations);
        let mut decision = Vec::new();
        let Some(best) = candidates.first() else {
            return MatchResult {
                status: MatchStatus::Unmatched,
                candidates,
                decision: vec!["no candidate invoice".into()],
            };
        };
        let rival = candidates.get(1).filter(|r| r.confidence >= best.confidence - 0.05);
        let status = if let Some(r) = rival {
            decision.push(format!(
                "ambiguous: another candidate is as likely ({:.2} vs {:.2})",
                r.confidence, best.confidence
            ));
            MatchStatus::Suggested
        } else if best.confidence >= self.config.auto_threshold {
            decision.push(format!("confidence {:.2} ≥ threshold {:.2}", best.confidence, self.config.auto_threshold));
            MatchStatus::Matched
        } else {
            decision.push(format!(
                "confidence {:.2} < threshold {:.2}: for review",
                best.confidence, self.config.auto_threshold
            ));
            MatchStatus::Suggested
        };
        if status == MatchStatus::Suggested
            && rival.is_some()
            && let Some(b) = candidates.first_mut()
        {
            b.confidence = b.confidence.min(0.6);
        }
        MatchResult { status, candidates, decision }
    }

    /// Combinations (2 to `subset_max_size` invoices) of the oldest open
    /// invoices that sum exactly to `amount`; stops after 4 solutions.
    fn subsets(&self, open: &[u32], amount: i64) -> Vec<Vec<u32>> {
        let pool: Vec<u32> = open.iter().copied().take(self.config.subset_max_invoices).collect();
        let mut out = Vec::new();
        let mut chosen = Vec::new();
        fn walk(m: &Matcher, pool: &[u32], start: usize, left: i64, chosen: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
            if out.len() >= 4 {
                return;
            }
            if left == 0 && chosen.len() >= 2 {
                out.push(chosen.clone());
                return;
            }
            if left <= 0 || chosen.len() >= m.config.subset_max_size {
                return;
            }
            for k in start..pool.len() {
                let v = m.open(pool[k]).open.minor;
                if v <= left {
                    chosen.push(pool[k]);
                    walk(m, pool, k + 1, left - v, chosen, out);
                    chosen.pop();
                }
            }
        }
        walk(self, &pool, 0, amount, &mut chosen, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
