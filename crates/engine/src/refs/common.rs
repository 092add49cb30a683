//! Invoice-number shapes read without knowing the tenant ([`common_refs`]).

use super::tokens::{
    CONNECTORS, COUNTRY_CODES, GENERIC_INTRODUCERS, INTRODUCERS, NOT_INVOICES, PURE_INTRODUCERS, Sep, Tok, tokens,
};

/// Words that never start a spaced reference (`en 2026 12 factures`).
const STOP: &[&str] = &[
    "EN",
    "LE",
    "LA",
    "LES",
    "DE",
    "DU",
    "DES",
    "AU",
    "AUX",
    "ET",
    "OU",
    "SUR",
    "PAR",
    "POUR",
    "DEPUIS",
    "FIN",
    "DEBUT",
    "MI",
    "IN",
    "ON",
    "AT",
    "BY",
    "OF",
    "TO",
    "FOR",
    "AND",
    "OR",
    "THE",
    "SINCE",
    "END",
    "MID",
    "UNTIL",
    "FROM",
    "A",
    "AN",
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "SEPT",
    "OCT",
    "NOV",
    "DEC",
    "JANVIER",
    "FEVRIER",
    "MARS",
    "AVRIL",
    "MAI",
    "JUIN",
    "JUILLET",
    "AOUT",
    "SEPTEMBRE",
    "OCTOBRE",
    "NOVEMBRE",
    "DECEMBRE",
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
    "JANUAR",
    "FEBRUAR",
    "MARZ",
    "JUNI",
    "JULI",
    "OKTOBER",
    "DEZEMBER",
    "WEEK",
    "SEMAINE",
    "Q",
    "T",
    "H",
    "S",
];

fn is_year4(t: &str) -> bool {
    t.len() == 4 && (t.starts_with("19") || t.starts_with("20"))
}

/// What the words before token `i` say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// An invoice word: `facture 412`, `invoices 4410237 and 4410251`, `n° 412`.
    Invoice,
    /// Another document or identifier: `commande 123456`, `company no. 04411873`,
    /// `bon de livraison 2026-0412`, `cheque n° 0072451`.
    Other,
    /// Nothing said.
    None,
}

/// Reads the words before token `i`, nearest first, across a list of numbers
/// (`factures 412, 413 et 414`): an invoice word says invoice, a word naming
/// another document says other; a generic `n°`, `no.`, `ref` or `#` says
/// invoice unless the word before it names another document.
pub(crate) fn context(toks: &[Tok], i: usize) -> Context {
    // A reference with letters carries its own kind: only the words right before it count.
    let across_lists = toks[i].digit && toks.get(i + 1).is_none_or(|t| t.digit || t.sep != Sep::Glue);
    let mut generic = toks[i].marked;
    let mut generic_words = 0;
    let mut j = i;
    let mut steps = 0;
    while j > 0 && steps < 8 {
        j -= 1;
        steps += 1;
        let t = &toks[j];
        if t.digit {
            // Another number of a list, unless an order or a date sits between.
            if generic {
                return Context::Invoice;
            }
            if !across_lists {
                break;
            }
            continue;
        }
        if t.is(NOT_INVOICES) {
            return Context::Other;
        }
        if t.is(GENERIC_INTRODUCERS) {
            generic = true;
            continue;
        }
        if t.is(INTRODUCERS) {
            return Context::Invoice;
        }
        if generic {
            // `n°` said number: a few more words may say of what (`Registered in England and Wales No.`).
            generic_words += 1;
            if generic_words > 5 {
                break;
            }
            continue;
        }
        if !(t.is(CONNECTORS) || t.text.len() <= 2) {
            break;
        }
        generic |= t.marked;
    }
    if generic { Context::Invoice } else { Context::None }
}

/// True when an invoice word introduces token `i`.
pub(crate) fn introduced(toks: &[Tok], i: usize) -> bool {
    context(toks, i) == Context::Invoice
}

/// True when a word naming another kind of document comes before token `i`.
pub(crate) fn other_document_before(toks: &[Tok], i: usize) -> bool {
    context(toks, i) == Context::Other
}

/// Invoice-number shapes in a text, read without knowing the tenant:
/// letters and digits with separators (`FA-2026-00412`, `F26-0236`,
/// `FAC/26/0166`, `2026-M-0098`, `FA00031245`), year and sequence
/// (`2026/01842`), letters, year and counter separated by single spaces
/// (`UK-INV 2026 0042`), and runs of 6 to 10 digits introduced by an invoice
/// word (`facture 26080011`, `#4410237`, `invoices 4410237 and 4410251`).
/// Dates, times, phone numbers, amounts, IBANs, company and VAT numbers,
/// orders, quotes and delivery notes are left out. Upper case, as written;
/// each once, in order of appearance.
pub fn common_refs(text: &str) -> Vec<String> {
    read_common(text, false)
}

/// [`common_refs`] of a subject line: there, a run of 6 to 10 digits is a
/// reference even without an invoice word (`RE: 26040034`).
pub fn subject_refs(subject: &str) -> Vec<String> {
    read_common(subject, true)
}

fn read_common(text: &str, subject: bool) -> Vec<String> {
    let toks = tokens(text);
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // A chain: tokens glued or joined by one tight separator.
        let mut end = i + 1;
        while end < toks.len() && matches!(toks[end].sep, Sep::Glue | Sep::Tight(_)) {
            end += 1;
        }
        let mut from = i;
        // `No.412`, `Ref.FA-12`: a pure introducer before the number is not part of it.
        while from + 1 < end && !toks[from].digit && toks[from].is(PURE_INTRODUCERS) {
            from += 1;
        }
        if let Some(r) = spaced(&toks, from, end).or_else(|| chain(&toks, from, end, subject)) {
            let (r, next) = r;
            if !out.contains(&r) {
                out.push(r);
            }
            i = next.max(i + 1);
        } else {
            i = end;
        }
    }
    out
}

fn write(toks: &[Tok], from: usize, end: usize) -> String {
    let mut s = String::new();
    for (k, t) in toks[from..end].iter().enumerate() {
        if k > 0 {
            match t.sep {
                Sep::Tight(c) => s.push(c as char),
                Sep::Space => s.push(' '),
                Sep::Glue | Sep::Break => {}
            }
        }
        s.push_str(&t.text);
    }
    s
}

/// `UK-INV 2026 0042`, `FA 2026 00412`: letters, a four-digit year and a
/// counter, separated by single spaces. Returns the reference and the index
/// of the token after it.
fn spaced(toks: &[Tok], from: usize, chain_end: usize) -> Option<(String, usize)> {
    // The letters part: one chain of letters only (`UK-INV`).
    if toks[from..chain_end].iter().any(|t| t.digit) {
        return None;
    }
    let letters: String = toks[from..chain_end].iter().map(|t| t.text.as_str()).collect();
    let (year, counter) = (toks.get(chain_end)?, toks.get(chain_end + 1)?);
    let ok = letters.len() <= 6
        && !toks[from..chain_end].iter().any(|t| t.is(STOP) || t.is(NOT_INVOICES) || t.is(PURE_INTRODUCERS))
        && year.digit
        && year.sep == Sep::Space
        && is_year4(&year.text)
        && counter.digit
        && counter.sep == Sep::Space
        && (2..=6).contains(&counter.text.len())
        && !counter.money_after
        && toks.get(chain_end + 2).is_none_or(|t| !matches!(t.sep, Sep::Glue | Sep::Tight(_)))
        && !other_document_before(toks, from);
    ok.then(|| (write(toks, from, chain_end + 2), chain_end + 2))
}

/// A chain of tokens joined by nothing or one tight separator, when it has an
/// invoice number's shape.
fn chain(toks: &[Tok], from: usize, end: usize, subject: bool) -> Option<(String, usize)> {
    let part = &toks[from..end];
    let digits: usize = part.iter().filter(|t| t.digit).map(|t| t.text.len()).sum();
    let letter_toks: Vec<&Tok> = part.iter().filter(|t| !t.digit).collect();
    let last = part.last()?;
    if !last.digit || !(3..=12).contains(&digits) || other_document_before(toks, from) {
        return None;
    }
    let s = write(toks, from, end);
    if letter_toks.is_empty() {
        let groups: Vec<&str> = part.iter().map(|t| t.text.as_str()).collect();
        return match groups.as_slice() {
            // A run of 6 to 10 digits introduced by an invoice word (or in a subject);
            // not a French phone number, not an amount.
            [one] => {
                let ok = (6..=10).contains(&one.len())
                    && !(one.len() == 10 && one.starts_with('0'))
                    && !last.money_after
                    && (introduced(toks, from) || subject);
                ok.then_some((s, end))
            }
            // Year and sequence (`2026/01842`, `2026-0087`), not a year and month or a date.
            [year, seq] => (is_year4(year) && (3..=6).contains(&seq.len()) && !last.money_after).then_some((s, end)),
            _ => None,
        };
    }
    let first = part.first()?;
    let letters: usize = letter_toks.iter().map(|t| t.text.len()).sum();
    if letters > 8 || letter_toks.iter().any(|t| t.text.len() > 6 || t.is(NOT_INVOICES)) {
        return None;
    }
    // The last group of digits is a counter of at least two digits.
    if last.text.len() < 2 {
        return None;
    }
    // A single letter glued between digits is a time, a unit or a size (`15H30`, `3X500`).
    for w in part.windows(3) {
        if w[0].digit && !w[1].digit && w[2].digit && w[1].sep == Sep::Glue && w[2].sep == Sep::Glue {
            return None;
        }
    }
    // An IBAN or a VAT number: country code, then many digits.
    if !first.digit && first.is(COUNTRY_CODES) && digits >= 9 {
        return None;
    }
    // Ordinals and units glued after digits end with letters: excluded by the last-token rule.
    Some((s, end))
}
