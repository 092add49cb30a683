//! Payer identification by name, with bounded work per credit.
//!
//! Names are compared as sets of words ([`name_tokens`]: case, accents and
//! legal forms ignored), each word weighted by its rarity among the tenant's
//! named customers: `idf = ln((N + 1) / df)`, `df` the number of customers
//! whose name has the word. A word most customers share ("Boulangerie",
//! "Transports") says little; a surname or trade name says much. A word of
//! the credit that no customer has weighs as much as the rarest word.
//!
//! The similarity of a credit's name `a` and a customer's name `b` is the
//! weight of `a`'s words found in `b` over the larger of the two names'
//! weights; from 0.75 the customer is the payer. A word of the credit that no
//! customer has may be found with one typo (words of five or more characters
//! with a letter: not numbers); a word some customer has is taken as written.
//!
//! Candidates are never found by walking a common word's customers:
//! - **prefix filter**: the credit's words are taken rarest first, until they
//!   weigh more than a quarter of the name; a customer sharing none of those
//!   misses more than a quarter of the weight and cannot reach 0.75;
//! - **weight filter**: each word's customers are sorted by the weight of
//!   their whole name, and only those whose name weighs at most the credit's
//!   name / 0.75 are read (a heavier name cannot reach 0.75);
//! - what is left of one word's list is skipped beyond 2,000 customers (a
//!   word that common identifies no one), so each credit reads a few lists
//!   of bounded length, whatever the number of customers.

use super::index::{HashIndex, HashIndexBuilder, Interner, Postings, str_hash, vec_bytes};
use super::text::{begins_legal_form, damerau1, name_tokens, name_words};

/// Similarity from which a customer is taken as the payer.
pub(crate) const THRESHOLD: f64 = 0.75;

/// Similarity from which a name found inside a free text names the payer.
pub(crate) const TEXT_THRESHOLD: f64 = 0.95;

/// Words of a free text looked at for a customer's name.
const MAX_TEXT_WORDS: usize = 40;

/// What a word begun by a cut word counts for, of its weight.
const CUT_FACTOR: f64 = 0.98;

/// Shortest name (characters) whose last word may have been cut by the bank.
const MIN_CUT_NAME: usize = 12;

/// Longest (filtered) list of customers read for one word.
const MAX_SCAN: usize = 2_000;

/// Rounding margin of float comparisons.
const EPS: f64 = 1e-9;

/// The customers' names, indexed (see the module documentation).
#[derive(Default)]
pub(crate) struct NameIndex {
    words: Interner,
    /// Customers having each word (its weight is [`NameIndex::idf`]).
    df: Vec<u32>,
    /// `N + 1`, `N` the number of named customers.
    n: f64,
    /// Weight of an unknown word: that of a word only one customer has.
    unknown: f64,
    /// Customer → its words (sorted ids).
    customer_words: Postings,
    /// Customer → weight of its name.
    customer_weight: Vec<f64>,
    /// Word → customers having it, lightest names first.
    customers_of: Postings,
    /// A word (five characters or more, with a letter) and each of its
    /// one-deletion variants → the word: one-edit neighbours meet there.
    typos: HashIndex,
}

/// A customer's name found inside a free text ([`NameIndex::identify_in_text`]).
pub(crate) struct TextName {
    pub customer: u32,
    pub similarity: f64,
    /// The words of the text that name it.
    pub window: String,
    /// No other customer's name comes close (0.9) in the text.
    pub alone: bool,
}

/// One word of a credit's name.
struct Word {
    /// The word's id, when some customer has it.
    id: Option<u32>,
    /// Its weight (for an unknown word, the most it can weigh).
    weight: f64,
    /// For an unknown word: the customers' words one edit away.
    near: Vec<u32>,
    /// The last word of a long name that no customer has, taken as cut by
    /// the bank (`TRANSPORTS MOR`): found in a customer's word it begins.
    cut: Option<String>,
}

impl NameIndex {
    /// Indexes the names of `customers` customers (ids below `customers`);
    /// when a customer is named twice, the last name counts.
    pub(crate) fn build<'a>(customers: usize, named: impl Iterator<Item = (u32, &'a str)>) -> NameIndex {
        let named: Vec<(u32, &str)> = named.filter(|(c, _)| (*c as usize) < customers).collect();
        let mut last = vec![usize::MAX; customers];
        for (k, (c, _)) in named.iter().enumerate() {
            last[*c as usize] = k;
        }
        let mut words = Interner::with_capacity(named.len());
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut n_named = 0u32;
        for (k, (c, name)) in named.iter().enumerate() {
            if last[*c as usize] != k {
                continue;
            }
            let tokens = name_tokens(name);
            n_named += u32::from(!tokens.is_empty());
            pairs.extend(tokens.iter().map(|t| (*c, words.intern(t))));
        }
        let mut df = vec![0u32; words.len()];
        for (_, w) in &pairs {
            df[*w as usize] += 1;
        }
        let n = f64::from(n_named) + 1.0;
        let mut customer_words = Postings::build(customers, pairs.iter().copied());
        let mut customer_weight = vec![0.0; customers];
        for c in 0..customers as u32 {
            let ws = customer_words.get_mut(c);
            ws.sort_unstable();
            customer_weight[c as usize] = ws.iter().map(|w| idf(n, df[*w as usize])).sum();
        }
        let mut customers_of = Postings::build(words.len(), pairs.iter().map(|(c, w)| (*w, *c)));
        for w in 0..words.len() as u32 {
            customers_of.get_mut(w).sort_unstable_by(|a, b| {
                customer_weight[*a as usize].total_cmp(&customer_weight[*b as usize]).then(a.cmp(b))
            });
        }
        let mut typos = HashIndexBuilder::default();
        let mut variant = String::new();
        for w in 0..words.len() as u32 {
            let text = words.resolve(w);
            if typo_tolerant(text) {
                typos.push(str_hash(text));
                for_each_deletion(text, &mut variant, |v| typos.push(str_hash(v)));
            }
            typos.next_value();
        }
        words.shrink_to_fit();
        NameIndex { words, df, n, unknown: n.ln(), customer_words, customer_weight, customers_of, typos: typos.build() }
    }

    /// The customers `name` identifies, most similar first (ties: lower id
    /// first), with their similarity (at least [`THRESHOLD`]).
    pub(crate) fn identify(&self, name: &str) -> Vec<(u32, f64)> {
        let words = self.words_of(name);
        let mut out: Vec<(u32, f64)> = self
            .candidates(&words)
            .into_iter()
            .map(|c| (c, self.similarity(&words, c)))
            .filter(|(_, s)| *s >= THRESHOLD - EPS)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// A customer named inside a free text (`TRANSFERENCIA DE ACME S.L.,
    /// CONCEPTO …`), for statements that put the payer's name in the
    /// remittance only: the windows of one to six words of the text (not
    /// starting or ending with a number) are looked up as names. The
    /// customer whose name a window matches best, from [`TEXT_THRESHOLD`],
    /// when no other customer comes within 0.05; with the window.
    pub(crate) fn identify_in_text(&self, text: &str) -> Option<TextName> {
        let words: Vec<&str> = text.split_whitespace().take(MAX_TEXT_WORDS).collect();
        let numeric = |w: &str| w.bytes().any(|b| b.is_ascii_digit());
        let mut best: Vec<(u32, f64, String)> = Vec::new();
        let mut window = String::new();
        for start in 0..words.len() {
            if numeric(words[start]) {
                continue;
            }
            for end in start + 1..=(start + 6).min(words.len()) {
                if numeric(words[end - 1]) {
                    break;
                }
                window.clear();
                window.push_str(&words[start..end].join(" "));
                for (c, sim) in self.identify(&window).into_iter().filter(|(_, s)| *s >= TEXT_THRESHOLD - EPS) {
                    // The best window of each customer; of equal ones, the shortest.
                    match best.iter_mut().find(|(b, _, _)| *b == c) {
                        Some(b) if b.1 + EPS < sim || (b.1 < sim + EPS && window.len() < b.2.len()) => {
                            *b = (c, sim, window.clone());
                        }
                        Some(_) => {}
                        None => best.push((c, sim, window.clone())),
                    }
                }
            }
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        match best.as_slice() {
            [one] => Some(TextName { customer: one.0, similarity: one.1, window: one.2.clone(), alone: true }),
            [first, second, ..] if second.1 < first.1 - 0.05 => Some(TextName {
                customer: first.0,
                similarity: first.1,
                window: first.2.clone(),
                alone: second.1 < 0.9,
            }),
            _ => None,
        }
    }

    fn words_of(&self, name: &str) -> Vec<Word> {
        // Banks cut long names (24 to 70 characters): the last word, when no customer has it
        // and it is not a typo of one, may be the beginning of the customer's word.
        let long = name.trim().chars().count() >= MIN_CUT_NAME;
        let last = long.then(|| super::text::fold(name)).and_then(|folded| name_words(&folded).last());
        name_tokens(name)
            .iter()
            // A last word that only begins a legal form (`EU` of `EURL`) is what the bank left of it.
            .filter(|t| !(last.as_deref() == Some(t.as_str()) && begins_legal_form(t) && self.words.get(t).is_none()))
            .map(|t| match self.words.get(t) {
                Some(id) => Word { id: Some(id), weight: self.idf(id), near: Vec::new(), cut: None },
                None => {
                    let near = self.near(t);
                    if near.is_empty() && last.as_deref() == Some(t.as_str()) {
                        // Weightless while candidates are looked for; weighed in `similarity`.
                        Word { id: None, weight: 0.0, near, cut: Some(t.clone()) }
                    } else {
                        Word { id: None, weight: self.unknown, near, cut: None }
                    }
                }
            })
            .collect()
    }

    /// Customers that may reach the threshold (prefix and weight filters), sorted.
    fn candidates(&self, words: &[Word]) -> Vec<u32> {
        let total: f64 = words.iter().map(|w| w.weight).sum();
        let mut order: Vec<&Word> = words.iter().collect();
        order.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        // A cut word may weigh up to the rarest word's weight once found.
        let cut = words.iter().filter(|w| w.cut.is_some()).count() as f64 * self.unknown;
        let heaviest = (total + cut) / THRESHOLD * (1.0 + EPS);
        let mut out: Vec<u32> = Vec::new();
        let mut covered = 0.0;
        for w in order {
            if covered > total * (1.0 - THRESHOLD) * (1.0 + EPS) {
                break;
            }
            covered += w.weight;
            for id in w.id.iter().chain(&w.near) {
                let list = self.customers_of.get(*id);
                let end = list.partition_point(|c| self.weight_of(*c) <= heaviest);
                if end <= MAX_SCAN {
                    out.extend_from_slice(&list[..end]);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn idf(&self, word: u32) -> f64 {
        idf(self.n, self.df.get(word as usize).copied().unwrap_or(1))
    }

    fn weight_of(&self, customer: u32) -> f64 {
        self.customer_weight.get(customer as usize).copied().unwrap_or(0.0)
    }

    /// Weight of the credit's words found in the customer's name over the
    /// larger of the two names' weights.
    fn similarity(&self, words: &[Word], customer: u32) -> f64 {
        let has = self.customer_words.get(customer);
        let (mut found, mut credit, mut excused) = (0.0, 0.0, 0.0);
        for w in words {
            if let Some(cut) = &w.cut {
                // A word of the customer's that it begins and no other word of the credit is:
                // as much evidence as that word when two letters or more are left; one letter
                // is neither for nor against (the word is left out of the customer's
                // weight); no such word: a word missing (one letter: nothing).
                let taken = |id: &u32| words.iter().any(|o| o.id == Some(*id));
                let begun = has
                    .iter()
                    .filter(|id| !taken(id))
                    .find(|id| {
                        let word = self.words.resolve(**id);
                        word.len() > cut.len() && word.starts_with(cut.as_str())
                    })
                    .map(|id| self.idf(*id));
                match begun {
                    // A little less than the whole word: a cut name is never the customer's
                    // name exactly (see `PayerHint::unique_name`).
                    Some(x) if cut.len() >= 2 => {
                        found += x * CUT_FACTOR;
                        credit += x;
                    }
                    Some(x) => excused += x,
                    // One letter may be what is left of a legal form (`L` of `LTD`).
                    None if cut.len() < 2 => {}
                    None => credit += self.unknown,
                }
                continue;
            }
            let weight = match w.id {
                Some(id) => has.binary_search(&id).is_ok().then_some(w.weight),
                None => w.near.iter().filter(|n| has.binary_search(n).is_ok()).map(|n| self.idf(*n)).reduce(f64::max),
            };
            match weight {
                Some(x) => {
                    found += x;
                    credit += x;
                }
                None => credit += w.weight,
            }
        }
        let whole = f64::max(credit, self.weight_of(customer) - excused);
        if whole > 0.0 { found / whole } else { 0.0 }
    }

    /// The customers' words one edit away from an unknown word.
    fn near(&self, word: &str) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        if !typo_tolerant(word) {
            return out;
        }
        let mut probe = |variant: &str| {
            for id in self.typos.get(str_hash(variant)) {
                if !out.contains(&id) && damerau1(word, self.words.resolve(id)) {
                    out.push(id);
                }
            }
        };
        probe(word);
        let mut variant = String::new();
        for_each_deletion(word, &mut variant, probe);
        out
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.heap_bytes()
            + vec_bytes(&self.df)
            + self.customer_words.heap_bytes()
            + vec_bytes(&self.customer_weight)
            + self.customers_of.heap_bytes()
            + self.typos.heap_bytes()
    }
}

/// Weight of a word `df` of `n - 1` customers have: `ln(n / df)`.
fn idf(n: f64, df: u32) -> f64 {
    (n / f64::from(df.max(1))).ln()
}

/// Words that may be found with one typo: five characters or more, with a letter.
fn typo_tolerant(word: &str) -> bool {
    word.len() >= 5 && word.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Calls `f` with every distinct one-deletion variant of an ASCII word.
fn for_each_deletion(word: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    let b = word.as_bytes();
    for i in 0..b.len() {
        // Deleting either of two equal neighbours gives the same variant.
        if i > 0 && b[i] == b[i - 1] {
            continue;
        }
        buf.clear();
        buf.push_str(word.get(..i).unwrap_or_default());
        buf.push_str(word.get(i + 1..).unwrap_or_default());
        f(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[&str]) -> NameIndex {
        NameIndex::build(names.len(), names.iter().enumerate().map(|(c, n)| (c as u32, *n)))
    }

    fn ids(found: &[(u32, f64)]) -> Vec<u32> {
        found.iter().map(|f| f.0).collect()
    }

    #[test]
    fn legal_forms_case_and_accents_do_not_matter() {
        let ix = index(&["Boulangerie Martin SARL", "Transports Lefèvre", "Hôtel du Parc"]);
        let found = ix.identify("TRANSPORTS LEFEVRE SAS");
        assert_eq!(ids(&found), vec![1]);
        assert!((found[0].1 - 1.0).abs() < 1e-9, "{found:?}");
        assert_eq!(ids(&ix.identify("hotel du parc")), vec![2]);
        assert!(ix.identify("Garage Dupont").is_empty());
        assert!(ix.identify("").is_empty());
    }

    #[test]
    fn a_rare_word_weighs_more_than_common_ones() {
        // 300 « Transports <town> » and the customer named by its rare word alone.
        let towns: Vec<String> = (0..300).map(|i| format!("Transports Ville{i}")).collect();
        let mut names: Vec<&str> = towns.iter().map(String::as_str).collect();
        names.push("Transports Martin Frères Lyon");
        names.push("Transports Martin Frères Paris");
        let ix = index(&names);
        // Three words of four in common, but the differing one is the rarest: no one.
        assert!(ix.identify("Transports Martin Freres Marseille").is_empty());
        assert_eq!(ids(&ix.identify("TRANSPORTS MARTIN FRERES LYON")), vec![300]);
        // The common word alone names no one; a town that is one customer's does.
        assert!(ix.identify("Transports").is_empty());
        assert_eq!(ids(&ix.identify("VILLE17 TRANSPORTS")), vec![17]);
    }

    #[test]
    fn a_long_name_cut_by_the_bank_is_found_by_the_words_it_begins() {
        let ix = index(&["Transports Moreau", "Transports Lefèvre", "Logistik Atlantique Ltd", "Walker & Van Dijk"]);
        let found = ix.identify("TRANSPORTS MOR");
        assert_eq!(ids(&found), vec![0]);
        assert!(found[0].1 > 0.9 && found[0].1 < 1.0, "close, never exact: {found:?}");
        assert_eq!(ids(&ix.identify("WALKER & VAN DI")), vec![3]);
        // A cut legal form or a single letter left: neither for nor against.
        assert_eq!(ids(&ix.identify("LOGISTIK ATLANTIQUE")), vec![2]);
        assert_eq!(ids(&ix.identify("LOGISTIK ATLANTIQUE L")), vec![2]);
        let found = ix.identify("LOGISTIK ATLANTIQUE LIMIT");
        assert_eq!(ids(&found), vec![2], "what is left of LIMITED");
        assert!(found[0].1 > 0.99, "a cut legal form costs nothing: {found:?}");
        // What is left begins no word of the customer's: a word missing.
        assert!(ix.identify("TRANSPORTS DUR").is_empty());
        // Two customers whose words it begins: both, for a person to choose.
        let ix = index(&["Transports Moreau", "Transports Morel"]);
        assert_eq!(ids(&ix.identify("TRANSPORTS MOR")), vec![0, 1]);
        // A short name is not taken as cut.
        let ix = index(&["Garage Moreau"]);
        assert!(ix.identify("GARAGE MOR").is_empty());
    }

    #[test]
    fn an_unknown_word_may_be_a_typo_a_known_word_is_not() {
        let ix = index(&["Boulangerie Martinez", "Dupont Plomberie", "Dupond Transports", "Garage 12345"]);
        assert_eq!(ids(&ix.identify("BOULANGERIE MARTINES")), vec![0], "one substitution");
        assert_eq!(ids(&ix.identify("BOULANGRIE MARTINEZ")), vec![0], "one deletion");
        assert_eq!(ids(&ix.identify("BOULANGERIE MATRINEZ")), vec![0], "one transposition");
        // DUPONT is a customer's word: it is not read as a typo of DUPOND.
        assert!(ix.identify("Dupont Transports").is_empty());
        // Numbers must be exact.
        assert!(ix.identify("Garage 12346").is_empty());
        assert_eq!(ids(&ix.identify("GARAGE 12345")), vec![3]);
    }

    #[test]
    fn common_words_lists_are_not_read() {
        // 20,000 customers: 2,000 per trade word, 2,000 per town, one number each.
        const WORDS: [&str; 10] = [
            "Boulangerie",
            "Transports",
            "Garage",
            "Hotel",
            "Clinique",
            "Editions",
            "Cabinet",
            "Atelier",
            "Menuiserie",
            "Pharmacie",
        ];
        const TOWNS: [&str; 10] =
            ["Martin", "Lefevre", "Moreau", "Dubois", "Laurent", "Simon", "Michel", "Garcia", "Bernard", "Petit"];
        let names: Vec<String> =
            (0..20_000).map(|c| format!("{} {} {c} SARL", WORDS[c % 10], TOWNS[(c / 10) % 10])).collect();
        let ix = NameIndex::build(names.len(), names.iter().enumerate().map(|(c, n)| (c as u32, n.as_str())));
        let words = ix.words_of("BOULANGERIE LEFEVRE 12310");
        assert_eq!(ix.candidates(&words), vec![12_310], "only the rare word's list is read");
        assert_eq!(ids(&ix.identify("Boulangerie Lefevre 12310")), vec![12_310]);
        // Only common words: their lists hold no name light enough.
        assert!(ix.candidates(&ix.words_of("BOULANGERIE LEFEVRE")).is_empty());
        assert!(ix.identify("Client inconnu 4000000123").is_empty());
    }

    /// 3,000 « Boulangerie Nom<i> SARL » (a trade word and a legal form everyone
    /// has) and one customer of five words of its own.
    fn bakeries() -> NameIndex {
        let mut names: Vec<String> = (0..3_000).map(|i| format!("Boulangerie Nom{i} SARL")).collect();
        names.push("Alpha Beta Gamma Delta Epsilon".into());
        NameIndex::build(names.len(), names.iter().enumerate().map(|(c, n)| (c as u32, n.as_str())))
    }

    #[test]
    fn a_rare_word_among_thousands_sharing_a_word_finds_its_customer() {
        let ix = bakeries();
        // Only the rare word's list is read: not the 3,000 bakeries'.
        assert_eq!(ix.candidates(&ix.words_of("BOULANGERIE NOM2718 SARL")), vec![2_718]);
        let found = ix.identify("BOULANGERIE NOM2718 SARL");
        assert_eq!(ids(&found), vec![2_718]);
        assert!((found[0].1 - 1.0).abs() < 1e-9, "{found:?}");
        assert_eq!(ids(&ix.identify("boulangerie nom17")), vec![17], "nom17 is not nom1700: words are whole");
    }

    #[test]
    fn a_customer_found_through_several_words_is_a_candidate_once() {
        let ix = bakeries();
        // Each word weighs a fifth of the name: two lists are read, both hold customer 3,000.
        assert_eq!(ix.candidates(&ix.words_of("ALPHA BETA GAMMA DELTA EPSILON")), vec![3_000]);
        assert_eq!(ids(&ix.identify("Alpha Beta Gamma Delta Epsilon SA")), vec![3_000]);
    }

    #[test]
    fn a_name_of_common_words_only_names_no_one() {
        let ix = bakeries();
        assert!(ix.candidates(&ix.words_of("BOULANGERIE SARL")).is_empty(), "no name light enough");
        assert!(ix.identify("Boulangerie SARL").is_empty());
        assert!(ix.identify("SARL").is_empty(), "a legal form alone is no name");
        assert!(ix.identify("Boulangerie Inconnue SARL").is_empty(), "an unknown word is heavy, and no one's");
    }

    #[test]
    fn several_customers_of_the_same_name_are_all_found() {
        let ix = index(&["Acme", "Acme Ltd", "Acme Holding", "Other"]);
        assert_eq!(ids(&ix.identify("ACME")), vec![0, 1], "same words, lower id first");
    }

    #[test]
    fn deletion_variants_are_distinct() {
        let mut seen = Vec::new();
        for_each_deletion("AABCC", &mut String::new(), |v| seen.push(v.to_string()));
        assert_eq!(seen, vec!["ABCC", "AACC", "AABC"]);
    }
}
