//! The tenant's reference reader ([`RefReader`]): numbering schemes learned
//! from the tenant's invoice numbers, and the tenant's numbers found in a
//! text however the customer spelled them.

use rustc_hash::FxHashMap;

use super::common::{introduced, other_document_before};
use super::tokens::{NOT_INVOICES, PURE_INTRODUCERS, Sep, Tok, tokens};

/// How a number was written, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Spelling {
    /// Only the counter, introduced by an invoice word or zero-padded
    /// (`facture 412`, `invoice #42`, `000398`), and only one known number has it.
    CounterOnly,
    /// Part of the number: prefix missing or shortened, year missing
    /// (`F1001` for `FAC-1001`, `ST-000317`, `2026 412` for `FA-2026-00412`).
    Partial,
    /// Every part written, reformatted: separators, spaces, zero padding,
    /// two- or four-digit year (`fa 2026 63`, `FA-26-02028`, `ta2603318`).
    Full,
    /// The number itself, case and separators aside (`fa202600412`).
    Exact,
}

/// A tenant's number found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The tenant's number, as known.
    pub number: String,
    /// What the text says (folded: upper case, accents removed).
    pub written: String,
    pub spelling: Spelling,
}

/// How a run of digits alone in a number splits into year, month and counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// All counter (`FA00031245`, `4410237`).
    Counter,
    /// Two-digit year, then counter (`VF26000345`).
    Yy,
    /// Four-digit year, then counter (`R202600451`).
    Yyyy,
    /// Two-digit year, month, then counter (`26040034`).
    Yymm,
    /// Several digit groups, the counter first and the year last (`07090/26`, `412-2026`).
    YearLast,
}

/// A numbering scheme learned from a tenant's numbers: numbers with the same
/// letters and digit groups (`FA-2026-00412` and `FA-2025-01877` are one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// The shape: `A` for a letter group, `9` per digit, separators as written (`FA-9999-99999`).
    pub shape: String,
    /// The letters of the numbers (`FA`, `UKINV`).
    pub letters: String,
    /// How a number of one digit group splits; with several groups, `None`
    /// (the first is the year when it reads as one, the last the counter) or
    /// [`Split::YearLast`].
    pub split: Option<Split>,
    /// Numbers of this scheme.
    pub count: usize,
}

/// The parts of a number (known) or of one reading of a written reference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Parts {
    letters: String,
    year: Option<u16>,
    month: Option<u8>,
    /// Digit groups that are neither year nor counter, zeros trimmed, `.`-joined.
    mid: String,
    counter: u64,
}

fn trim_zeros(d: &str) -> &str {
    let t = d.trim_start_matches('0');
    if t.is_empty() { "0" } else { t }
}

fn num(d: &str) -> Option<u64> {
    let t = trim_zeros(d);
    if t.len() > 18 { None } else { t.parse().ok() }
}

fn year2(d: &str) -> Option<u16> {
    (d.len() == 2).then(|| d.parse::<u16>().ok()).flatten().map(|y| 2000 + y)
}

fn year4(d: &str) -> Option<u16> {
    (d.len() == 4 && (d.starts_with("19") || d.starts_with("20"))).then(|| d.parse().ok()).flatten()
}

fn month(d: &str) -> Option<u8> {
    d.parse::<u8>().ok().filter(|m| (1..=12).contains(m))
}

/// Year and month of a leading group: `2026`, `26`, `2604` (yymm), `202604`.
fn year_group(d: &str) -> Option<(u16, Option<u8>)> {
    if let Some(y) = year4(d) {
        return Some((y, None));
    }
    if let Some(y) = year2(d) {
        return Some((y, None));
    }
    if d.len() == 4 {
        return Some((year2(&d[..2])?, Some(month(&d[2..])?)));
    }
    if d.len() == 6 {
        return Some((year4(&d[..4])?, Some(month(&d[4..])?)));
    }
    None
}

/// The parts of one digit group alone, split as `split` says.
fn split_group(d: &str, split: Split) -> Option<(Option<u16>, Option<u8>, u64)> {
    match split {
        Split::Counter => Some((None, None, num(d)?)),
        Split::Yy if d.len() >= 4 => Some((year2(&d[..2]), None, num(&d[2..])?)),
        Split::Yyyy if d.len() >= 6 => Some((Some(year4(&d[..4])?), None, num(&d[4..])?)),
        Split::Yymm if d.len() >= 6 => Some((year2(&d[..2]), Some(month(&d[2..4])?), num(&d[4..])?)),
        Split::Yy | Split::Yyyy | Split::Yymm | Split::YearLast => None,
    }
}

/// The parts of tokens that make one number; `split` for a single digit group.
fn parts_of(toks: &[&Tok], split: Split) -> Option<Parts> {
    let digits: Vec<&str> = toks.iter().filter(|t| t.digit).map(|t| t.text.as_str()).collect();
    let letters: String = toks.iter().filter(|t| !t.digit).map(|t| t.text.as_str()).collect();
    let (last, head) = digits.split_last()?;
    if split == Split::YearLast {
        // The counter first, the year last, anything between kept as written.
        let (first, between) = head.split_first()?;
        let year = year2(last).or_else(|| year4(last))?;
        let mid = between.iter().map(|d| trim_zeros(d)).collect::<Vec<_>>().join(".");
        return Some(Parts { letters, year: Some(year), month: None, mid, counter: num(first)? });
    }
    if head.is_empty() {
        let (year, month, counter) = split_group(last, split)?;
        return Some(Parts { letters, year, month, mid: String::new(), counter });
    }
    let mut p = Parts { letters, counter: num(last)?, ..Parts::default() };
    let mut rest = head;
    if let Some((y, m)) = year_group(head[0]) {
        p.year = Some(y);
        p.month = m;
        rest = &head[1..];
    }
    p.mid = rest.iter().map(|d| trim_zeros(d)).collect::<Vec<_>>().join(".");
    Some(p)
}

/// The counters a reading of `texts` may carry, sorted. A [`RefReader`]
/// finds a number in a window of tokens in two ways: by counter (the
/// window's last digit group, or its tail after a glued year or year and
/// month: [`split_group`]) or as written (the window's letters and digits
/// equal the number's, so the trailing digits of both, digit groups joined,
/// are equal). Both values are listed for every window a reader looks at
/// (up to five tokens): every digit group, its tails, and the runs of up to
/// five consecutive digit groups joined.
pub fn written_counters<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut joined = String::new();
    for text in texts {
        let toks = tokens(text);
        for (end, t) in toks.iter().enumerate().filter(|(_, t)| t.digit) {
            out.extend(group_counters(&t.text));
            joined.clear();
            for u in toks[end.saturating_sub(4)..=end].iter().rev().take_while(|u| u.digit) {
                joined.insert_str(0, &u.text);
                out.extend(num(&joined));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every counter a digit group may give, whatever its split.
fn group_counters(d: &str) -> impl Iterator<Item = u64> + '_ {
    [0, 2, 4].into_iter().filter(move |cut| *cut == 0 || d.len() >= cut + 2).filter_map(move |cut| num(d.get(cut..)?))
}

/// False only when no reader learned from `number` (with any other numbers)
/// can find it in a text whose readings carry only `counters`
/// ([`written_counters`]): neither the counters the number may have under
/// any learned split nor its trailing digits as written are among them.
/// Cheap (no allocation): it lets a caller skip learning a reader that
/// could read nothing. A number that is not ASCII, or whose digits are too
/// long for a counter, may always be read.
pub fn may_be_read(number: &str, counters: &[u64]) -> bool {
    let b = number.as_bytes();
    if !number.is_ascii() {
        return true;
    }
    let Some(end) = b.iter().rposition(u8::is_ascii_digit).map(|e| e + 1) else { return false };
    let start = b[..end].iter().rposition(|c| !c.is_ascii_digit()).map_or(0, |s| s + 1);
    let last = number.get(start..end).unwrap_or_default();
    if trim_zeros(last).len() > 18 {
        return true;
    }
    let one_group = !b[..start].iter().any(u8::is_ascii_digit);
    let has = |v: u64| counters.binary_search(&v).is_ok();
    // With several groups, the counter may also come first (`07090/26`), when that group is no year.
    let first_counter = || {
        let s = b.iter().position(u8::is_ascii_digit).unwrap_or(0);
        let e = b[s..].iter().position(|c| !c.is_ascii_digit()).map_or(b.len(), |e| s + e);
        number.get(s..e).filter(|f| year_group(f).is_none()).and_then(num).is_some_and(has)
    };
    let by_counter =
        if one_group { group_counters(last).any(has) } else { num(last).is_some_and(has) || first_counter() };
    // As written: too long a run of digits for a counter may match a text's as well.
    by_counter || written_digits(b).is_none_or(has)
}

/// The value of a number's trailing digits as written (separators skipped,
/// up to its last letter), as [`num`] reads them; `None` when too long.
fn written_digits(b: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    let mut scale: u64 = 1;
    let mut significant = 0usize;
    let mut zeros = 0usize;
    let tail = b.iter().rev().skip_while(|c| !c.is_ascii_alphanumeric()).take_while(|c| !c.is_ascii_alphabetic());
    for c in tail.filter(|c| c.is_ascii_digit()) {
        let d = u64::from(c - b'0');
        if d == 0 {
            zeros += 1;
            continue;
        }
        // The zeros read since the last non-zero digit belong to the value.
        significant += zeros + 1;
        if significant > 18 {
            return None;
        }
        scale = scale.checked_mul(10u64.checked_pow(u32::try_from(zeros).ok()?)?)?;
        value = value.checked_add(d.checked_mul(scale)?)?;
        scale = scale.checked_mul(10)?;
        zeros = 0;
    }
    Some(value)
}

fn compact(toks: &[&Tok]) -> String {
    toks.iter().map(|t| t.text.as_str()).collect()
}

/// The shape of a number: upper case, each digit a `9` (`FA-9999-99999`).
fn shape(number: &str) -> String {
    number.chars().map(|c| if c.is_ascii_digit() { '9' } else { c.to_ascii_uppercase() }).collect()
}

/// Whether numbers of several digit groups (their first and last groups)
/// carry the counter first and the year last (`07090/26`, `412-2026`): every
/// last group reads as a year, the years vary little, and the first groups
/// are no years (or vary more than the last ones).
fn year_last(ends: &[(&str, &str)]) -> bool {
    let years: Option<Vec<u16>> = ends.iter().map(|(_, l)| year2(l).or_else(|| year4(l))).collect();
    let Some(years) = years.filter(|y| !y.is_empty()) else { return false };
    let (min, max) = (years.iter().min().copied().unwrap_or(0), years.iter().max().copied().unwrap_or(0));
    if max - min > 15 {
        return false;
    }
    let distinct = |mut v: Vec<&str>| {
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let (firsts, lasts): (Vec<&str>, Vec<&str>) = ends.iter().copied().unzip();
    firsts.iter().all(|f| year_group(f).is_none()) || (ends.len() >= 3 && distinct(firsts) > 2 * distinct(lasts))
}

/// Learns how a class of numbers with one digit group of the same length splits.
fn learn_split(groups: &[&str]) -> Split {
    let n = groups.len();
    let len = groups.first().map_or(0, |g| g.len());
    if n < 3 || len < 6 {
        return Split::Counter;
    }
    let spread = |from: usize| {
        let v: Vec<u16> = groups.iter().filter_map(|g| g.get(from..from + 2)?.parse().ok()).collect();
        let (min, max) = (v.iter().min().copied().unwrap_or(0), v.iter().max().copied().unwrap_or(99));
        (v.len() == n).then_some(max - min)
    };
    let all = |f: &dyn Fn(&str) -> bool| groups.iter().all(|g| f(g));
    let distinct = |from: usize| {
        let mut v: Vec<&str> = groups.iter().filter_map(|g| g.get(from..from + 2)).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    // A century and a year that varies little, then the counter (`R202600451`).
    if len >= 8 && all(&|g| g.starts_with("20")) && spread(2).is_some_and(|s| s <= 15) && all(&|g| &g[2..4] != "00") {
        return Split::Yyyy;
    }
    // Year then month, the month varying (`26040034`).
    if spread(0).is_some_and(|s| s <= 15)
        && all(&|g| !g.starts_with("00"))
        && all(&|g| month(&g[2..4]).is_some())
        && distinct(2) >= 2
    {
        return Split::Yymm;
    }
    // A two-digit year, then a zero-padded counter (`26000345`).
    let padded = groups.iter().filter(|g| g.as_bytes().get(2) == Some(&b'0')).count();
    if spread(0).is_some_and(|s| s <= 15) && all(&|g| !g.starts_with('0')) && padded * 2 > n {
        return Split::Yy;
    }
    Split::Counter
}

/// The tenant's reference reader: learned once from the tenant's invoice
/// numbers (see the [module documentation](super)).
#[derive(Debug, Default)]
pub struct RefReader {
    numbers: Vec<String>,
    parts: Vec<Option<Parts>>,
    /// Counter → numbers with it.
    by_counter: FxHashMap<u64, Vec<u32>>,
    /// Letters and digits as written (folded) → numbers.
    by_compact: FxHashMap<String, Vec<u32>>,
    schemes: Vec<Scheme>,
}

/// One window of tokens read as a reference.
struct Hit {
    start: usize,
    end: usize,
    spelling: Spelling,
    /// The numbers of the best spelling: one, or an ambiguity.
    ids: Vec<u32>,
}

impl RefReader {
    /// Learns the numbering schemes of `numbers` and indexes them by counter
    /// and by their letters and digits. Duplicates are read once.
    pub fn learn<I, S>(numbers: I) -> RefReader
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut r = RefReader::default();
        let mut seen: FxHashMap<String, ()> = FxHashMap::default();
        let mut toks_of: Vec<Vec<Tok>> = Vec::new();
        for n in numbers {
            let n = n.as_ref().trim();
            if n.is_empty() || seen.insert(n.to_string(), ()).is_some() {
                continue;
            }
            r.numbers.push(n.to_string());
            toks_of.push(tokens(n));
        }
        // Schemes: numbers of the same shape; a single digit group's split learned per scheme.
        let mut by_shape: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        let mut shapes: Vec<String> = Vec::new();
        for (i, n) in r.numbers.iter().enumerate() {
            let s = shape(n);
            by_shape
                .entry(s.clone())
                .or_insert_with(|| {
                    shapes.push(s);
                    Vec::new()
                })
                .push(i as u32);
        }
        let mut split_of: Vec<Split> = vec![Split::Counter; r.numbers.len()];
        for s in &shapes {
            let ids = &by_shape[s];
            let first = &toks_of[ids[0] as usize];
            let one_group = first.iter().filter(|t| t.digit).count() == 1;
            let split = if one_group {
                let groups: Vec<&str> = ids
                    .iter()
                    .filter_map(|i| toks_of[*i as usize].iter().find(|t| t.digit).map(|t| t.text.as_str()))
                    .collect();
                Some(learn_split(&groups))
            } else {
                let ends: Vec<(&str, &str)> = ids
                    .iter()
                    .filter_map(|i| {
                        let mut digits = toks_of[*i as usize].iter().filter(|t| t.digit);
                        Some((digits.next()?.text.as_str(), digits.next_back()?.text.as_str()))
                    })
                    .collect();
                year_last(&ends).then_some(Split::YearLast)
            };
            for i in ids {
                split_of[*i as usize] = split.unwrap_or(Split::Counter);
            }
            let letters = first.iter().filter(|t| !t.digit).map(|t| t.text.as_str()).collect();
            r.schemes.push(Scheme { shape: s.clone(), letters, split, count: ids.len() });
        }
        r.schemes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.shape.cmp(&b.shape)));
        for (i, toks) in toks_of.iter().enumerate() {
            let refs: Vec<&Tok> = toks.iter().collect();
            let p = parts_of(&refs, split_of[i]);
            if let Some(p) = &p {
                r.by_counter.entry(p.counter).or_default().push(i as u32);
            }
            r.parts.push(p);
            r.by_compact.entry(compact(&refs)).or_default().push(i as u32);
        }
        r
    }

    /// The numbering schemes learned, most used first.
    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// How many distinct numbers the reader knows.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The tenant's numbers a text names, in order of appearance, each once.
    /// Only numbers of the known set are returned: a written reference that
    /// two known numbers fit equally well (`facture 412` when two invoices
    /// have counter 412) gives nothing.
    pub fn read(&self, text: &str) -> Vec<Found> {
        self.read_counters(text, false)
    }

    /// [`RefReader::read`], and with `bare` a counter of three digits or more
    /// written alone without an invoice word (`PMT 4412 ET 3899 ET 3897`)
    /// read too: for completing references written in full, where the open
    /// amounts must then account for the payment exactly.
    pub fn read_counters(&self, text: &str, bare: bool) -> Vec<Found> {
        let toks = tokens(text);
        let mut hits: Vec<Hit> = Vec::new();
        for start in 0..toks.len() {
            // A number glued to the invoice word before it (`Fatura0476-2025`, `faktura2026INV0412`)
            // starts after the word, which is no prefix of it (invoice words of three letters or more).
            let glued_to_word = start > 0 && {
                let w = &toks[start - 1];
                toks[start].digit && !w.digit && w.text.len() >= 3 && w.is(PURE_INTRODUCERS)
            };
            if (toks[start].sep == Sep::Glue && !glued_to_word)
                || (!toks[start].digit && (toks[start].is(PURE_INTRODUCERS) || toks[start].is(NOT_INVOICES)))
            {
                continue;
            }
            if other_document_before(&toks, start) {
                continue;
            }
            for end in start + 1..=(start + 5).min(toks.len()) {
                if end > start + 1 && toks[end - 1].sep == Sep::Break {
                    break;
                }
                if toks[end - 1].is(NOT_INVOICES) {
                    break;
                }
                if !toks[end - 1].digit || toks.get(end).is_some_and(|t| t.sep == Sep::Glue) {
                    continue;
                }
                let counter_only_ok = introduced(&toks, start)
                    || (toks[start].text.starts_with('0') && toks[start].text.len() >= 4)
                    || (bare && toks[start].digit && toks[start].text.len() >= 3);
                if let Some(h) = self.window(&toks, start, end, counter_only_ok) {
                    hits.push(h);
                }
            }
        }
        self.choose(&toks, hits)
    }

    /// The known number a reference written on its own designates (`F1001`,
    /// `fa 2026 63`, `412`), if exactly one fits best.
    pub fn resolve(&self, written: &str) -> Option<Found> {
        let toks = tokens(written);
        let mut start = 0;
        while start + 1 < toks.len() && !toks[start].digit && toks[start].is(PURE_INTRODUCERS) {
            start += 1;
        }
        if toks.is_empty() || toks[start..].iter().any(|t| !t.digit && t.is(NOT_INVOICES)) {
            return None;
        }
        let h = self.window(&toks, start, toks.len(), true)?;
        let mut found = self.choose(&toks, vec![h]);
        if found.len() == 1 { found.pop() } else { None }
    }

    /// The best reading of tokens `start..end` as one reference.
    fn window(&self, toks: &[Tok], start: usize, end: usize, counter_only_ok: bool) -> Option<Hit> {
        let w: Vec<&Tok> = toks[start..end].iter().collect();
        if w.last().is_some_and(|t| t.money_after) {
            return None;
        }
        let digits: usize = w.iter().filter(|t| t.digit).map(|t| t.text.len()).sum();
        let mut best: Option<(Spelling, Vec<u32>)> = None;
        let mut offer = |s: Spelling, i: u32| match &mut best {
            Some((b, ids)) if *b == s => {
                if !ids.contains(&i) {
                    ids.push(i);
                }
            }
            Some((b, _)) if *b > s => {}
            _ => best = Some((s, vec![i])),
        };
        // As written, case and separators aside (a bare number needs five digits or an invoice word).
        let digits_only = w.iter().all(|t| t.digit);
        if !digits_only || digits >= 5 || counter_only_ok {
            for &i in self.by_compact.get(&compact(&w)).into_iter().flatten() {
                offer(Spelling::Exact, i);
            }
        }
        // Every reading of the digits: a single group may hold a year (and month) glued to the counter.
        let groups = w.iter().filter(|t| t.digit).count();
        let splits: &[Split] = if groups == 1 {
            &[Split::Counter, Split::Yy, Split::Yyyy, Split::Yymm]
        } else {
            &[Split::Counter, Split::YearLast]
        };
        for &split in splits {
            let Some(p) = parts_of(&w, split) else { continue };
            let only_counter = p.letters.is_empty() && p.year.is_none() && p.month.is_none() && p.mid.is_empty();
            if only_counter && (!counter_only_ok || split != Split::Counter || digits < 2) {
                continue;
            }
            for &i in self.by_counter.get(&p.counter).into_iter().flatten() {
                let Some(k) = self.parts[i as usize].as_ref() else { continue };
                if let Some(s) = compare(&p, k) {
                    offer(s, i);
                }
            }
        }
        let (spelling, ids) = best?;
        Some(Hit { start, end, spelling, ids })
    }

    /// Non-overlapping hits, strongest and longest first; an ambiguous window
    /// takes its place too (its parts are not read again as other references).
    fn choose(&self, toks: &[Tok], mut hits: Vec<Hit>) -> Vec<Found> {
        hits.sort_by(|a, b| {
            b.spelling.cmp(&a.spelling).then((b.end - b.start).cmp(&(a.end - a.start))).then(a.start.cmp(&b.start))
        });
        let mut taken: Vec<(usize, usize)> = Vec::new();
        let mut out: Vec<(usize, Found)> = Vec::new();
        for h in hits {
            if taken.iter().any(|(s, e)| h.start < *e && *s < h.end) {
                continue;
            }
            taken.push((h.start, h.end));
            if let [one] = h.ids.as_slice() {
                let written = toks[h.start..h.end]
                    .iter()
                    .enumerate()
                    .map(|(k, t)| match (k, t.sep) {
                        (0, _) | (_, Sep::Glue) => t.text.clone(),
                        (_, Sep::Tight(c)) => format!("{}{}", c as char, t.text),
                        _ => format!(" {}", t.text),
                    })
                    .collect();
                let number = self.numbers[*one as usize].clone();
                out.push((h.start, Found { number, written, spelling: h.spelling }));
            }
        }
        out.sort_by_key(|(s, _)| *s);
        let mut found: Vec<Found> = Vec::new();
        for (_, f) in out {
            if !found.iter().any(|x| x.number == f.number) {
                found.push(f);
            }
        }
        found
    }
}

/// How a written reading `w` fits a known number `k` of the same counter.
fn compare(w: &Parts, k: &Parts) -> Option<Spelling> {
    let mut partial = false;
    if w.letters != k.letters {
        let shortened = !w.letters.is_empty() && (k.letters.starts_with(&w.letters) || k.letters.ends_with(&w.letters));
        if !(w.letters.is_empty() || shortened) {
            return None;
        }
        partial = true;
    }
    match (w.year, k.year) {
        (a, b) if a == b => {}
        (None, Some(_)) => partial = true,
        _ => return None,
    }
    match (w.month, k.month) {
        (a, b) if a == b => {}
        (None, Some(_)) => partial = true,
        _ => return None,
    }
    if w.mid != k.mid {
        if !w.mid.is_empty() {
            return None;
        }
        partial = true;
    }
    let only_counter = w.letters.is_empty() && w.year.is_none() && w.month.is_none() && w.mid.is_empty();
    Some(if only_counter && partial {
        Spelling::CounterOnly
    } else if partial {
        Spelling::Partial
    } else {
        Spelling::Full
    })
}
