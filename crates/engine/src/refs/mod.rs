//! Reading invoice references in free text: one reader for reply
//! understanding, the store's resolution of a written reference and cash
//! application.
//!
//! - [`common_refs`] / [`subject_refs`]: invoice-number *shapes* read without
//!   knowing the tenant (letters and digits with separators, year and
//!   sequence, introduced digit runs), dates, phone numbers, amounts, bank,
//!   company and tax identifiers, orders, quotes and delivery notes left out.
//! - [`RefReader`]: learned from a tenant's invoice numbers (its numbering
//!   [`Scheme`]s: prefix letters, year in two or four digits, year and month,
//!   counter width and padding, a single digit group split into year and
//!   counter), it finds the tenant's numbers in a text however the customer
//!   spelled them: case, separators and spaces, missing zero padding, two- or
//!   four-digit year, missing or shortened prefix, and the counter alone when
//!   an invoice word introduces it and exactly one known number has it. It
//!   returns only known numbers, each with its [`Spelling`]; a spelling that
//!   two known numbers fit equally well returns nothing.
//!
//! Numbers are indexed by their counter (the last digit group, zeros trimmed)
//! and by their letters and digits as written, so a reader of 100,000
//! numbers reads a text in a few hash lookups per candidate window.
//! Everything is deterministic: no clock, no randomness, outputs in text order.

mod common;
mod reader;
mod tokens;

pub use common::{common_refs, subject_refs};
pub use reader::{Found, RefReader, Scheme, Spelling, Split, may_be_read, written_counters};

/// The counters a written reference may carry (the last digit group with its
/// zeros trimmed, and its tails after a glued year or year and month), for a
/// store that looks numbers up by how they end.
pub fn counter_suffixes(written: &str) -> Vec<String> {
    let toks = tokens::tokens(written);
    let Some(last) = toks.iter().rev().find(|t| t.digit) else { return Vec::new() };
    let d = last.text.as_str();
    let mut out: Vec<String> = Vec::new();
    for cut in [0, 2, 4] {
        if let Some(tail) = d.get(cut..).filter(|t| !t.is_empty()) {
            let t = tail.trim_start_matches('0');
            let t = if t.is_empty() { "0" } else { t };
            if t.len() >= 2 && !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        }
    }
    out
}

/// The numbers a text gives for identifiers that are not invoices: the digit
/// groups of the identifier right after a customer, order or contract word
/// (`Kundennr KN00226`, `PO/2026-0412`, `order no 4700123`), zeros trimmed,
/// three digits or more. A clerk reads them as what the word says; one that
/// is also the counter of an open invoice of the payer makes the text
/// ambiguous (which one is meant?), which [`number_groups`] lets the matcher see.
pub fn other_identifiers(text: &str) -> Vec<String> {
    let toks = tokens::tokens(text);
    let mut out: Vec<String> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if t.digit || !t.is(tokens::NOT_INVOICES) {
            continue;
        }
        let mut seen_digit = false;
        for u in &toks[i + 1..] {
            // The identifier ends at punctuation, or at a word after its digits.
            if u.sep == tokens::Sep::Break || (seen_digit && !u.digit && u.sep == tokens::Sep::Space) {
                break;
            }
            if u.digit {
                seen_digit = true;
                let d = u.text.trim_start_matches('0');
                if d.len() >= 3 && !out.iter().any(|o| o == d) {
                    out.push(d.to_string());
                }
            } else if u.is(tokens::NOT_INVOICES) || u.text.len() > 4 {
                break;
            }
        }
    }
    out
}

/// The digit groups of an invoice number, zeros trimmed, and the tails of a
/// long group after a glued year or year and month (`FF26040226`: `26040226`,
/// `40226`, `226`): what a bare number in a text may designate.
pub fn number_groups(number: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tokens::tokens(number).iter().filter(|t| t.digit) {
        for cut in [0, 2, 4] {
            if let Some(tail) = t.text.get(cut..).filter(|x| !x.is_empty()) {
                let tail = tail.trim_start_matches('0');
                if !tail.is_empty() && !out.iter().any(|o| o == tail) {
                    out.push(tail.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
