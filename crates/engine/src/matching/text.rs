//! Text normalisation for matching: invoice-number keys, remittance n-grams,
//! company names, ISO 11649 and Belgian structured references, edit distance.

/// Removes accents from common Latin letters and upper-cases.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
            'ç' | 'Ç' => 'C',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'E',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
            'ñ' | 'Ñ' => 'N',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'O',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
            'ý' | 'ÿ' | 'Ý' => 'Y',
            'ß' => {
                out.push_str("SS");
                continue;
            }
            'œ' | 'Œ' => {
                out.push_str("OE");
                continue;
            }
            'æ' | 'Æ' => {
                out.push_str("AE");
                continue;
            }
            c => c.to_ascii_uppercase(),
        };
        out.push(base);
    }
    out
}

/// An alphanumeric run cut at letter/digit changes: `FA-2026-0012` → `FA`, `2026`, `0012`.
pub fn atoms(s: &str) -> Vec<String> {
    let folded = fold(s);
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            let d = c.is_ascii_digit();
            if !cur.is_empty() && d != cur_digit {
                out.push(std::mem::take(&mut cur));
            }
            cur_digit = d;
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Joins atoms as typed without separators (`FA20260012`).
pub fn joined(atoms: &[String]) -> String {
    atoms.concat()
}

/// Joins atoms with leading zeros of digit groups dropped (`FA202612`), so
/// `FA-2026-12` and `FA 2026 0012` meet.
pub fn canonical(atoms: &[String]) -> String {
    let mut out = String::new();
    for a in atoms {
        if a.as_bytes()[0].is_ascii_digit() {
            let t = a.trim_start_matches('0');
            out.push_str(if t.is_empty() { "0" } else { t });
        } else {
            out.push_str(a);
        }
    }
    out
}

/// The keys under which an invoice number is found: as typed, without its
/// letter prefix, and both with leading zeros dropped. Keys shorter than four
/// characters are left out (too many false hits in free text).
pub fn invoice_keys(number: &str) -> Vec<String> {
    let a = atoms(number);
    if a.is_empty() {
        return Vec::new();
    }
    let mut keys = vec![joined(&a), canonical(&a)];
    let first_digit = a.iter().position(|x| x.as_bytes()[0].is_ascii_digit());
    if let Some(i) = first_digit.filter(|i| *i > 0) {
        keys.push(joined(&a[i..]));
        keys.push(canonical(&a[i..]));
    }
    keys.retain(|k| k.len() >= 4 && k.bytes().any(|b| b.is_ascii_digit()));
    keys.sort();
    keys.dedup();
    keys
}

/// True for a digit group that reads as a year of a numbering (`19xx`, `20xx`).
/// A four-digit year, or a year and month (`202512`), whose century may be dropped.
pub fn is_year(group: &str) -> bool {
    let month = |m: &str| m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    (group.len() == 4 || (group.len() == 6 && month(&group[4..])))
        && (group.starts_with("19") || group.starts_with("20"))
        && group.bytes().all(|b| b.is_ascii_digit())
}

/// The digits of a number whose letters sit between its digit groups
/// (`26FA04161`, `26-FV-0412`), as people and banks type it when they keep
/// the digits only, or in a Belgian structured communication (`2604161`,
/// leading zeros dropped); `None` for other numbers (their digits only are
/// already a key without the prefix) or when shorter than [`DIGITS_ONLY_MIN`].
fn digits_only(parts: &[(&str, bool)]) -> Option<String> {
    let first_digit = parts.iter().position(|p| p.1)?;
    if !parts[first_digit..].iter().any(|p| !p.1) {
        return None;
    }
    let digits: String = parts.iter().filter(|p| p.1).map(|p| p.0).collect();
    let digits = digits.trim_start_matches('0');
    (digits.len() >= DIGITS_ONLY_MIN).then(|| digits.to_string())
}

/// The year group whose century people drop, and where the number's
/// prefix-less keys start: the first digit group when it is a year followed
/// by another digit group (`FA-2026-04034`), or a year glued to its counter
/// after the letters (`R202600451`: eight digits or more from `20`, read
/// `R2600451`), else the last group when it is a year after another digit
/// group (`FT/05236/2026`); `None` otherwise.
fn year_group(parts: &[(&str, bool)]) -> Option<(usize, usize)> {
    let first = parts.iter().position(|p| p.1)?;
    if is_year(parts[first].0) && parts[first + 1..].iter().any(|p| p.1) {
        return Some((first, first));
    }
    let glued = parts[first].0;
    if first > 0 && glued.len() >= 8 && glued.starts_with("20") && !parts[first + 1..].iter().any(|p| p.1) {
        return Some((first, first));
    }
    let last = parts.len() - 1;
    (last > first && parts[last].1 && is_year(parts[last].0)).then_some((last, first))
}

/// Shortest digits-only key (shorter ones collide with amounts and dates).
const DIGITS_ONLY_MIN: usize = 6;

/// The keys under which the index finds an invoice number: [`invoice_keys`],
/// plus, when a four-digit year (or year and month) is followed by another digit group, the same
/// keys with the year shortened to two digits (`FA2604034`, `2604034` and
/// `264034` for `FA-2026-04034`), as people type it, and the digits only of a
/// number with letters inside (`2604161` for `26FA04161`). Typo matching uses
/// [`invoice_keys`] only (see [`DigitProfile`]).
pub fn index_keys(number: &str) -> Vec<String> {
    let mut keys = invoice_keys(number);
    let mut a = atoms(number);
    let parts: Vec<(&str, bool)> = a.iter().map(|x| (x.as_str(), x.as_bytes()[0].is_ascii_digit())).collect();
    if let Some(d) = digits_only(&parts)
        && !keys.contains(&d)
    {
        keys.push(d);
    }
    if let Some((y, from)) = year_group(&parts) {
        a[y] = a[y][2..].to_string();
        for key in [joined(&a), canonical(&a), joined(&a[from..]), canonical(&a[from..])] {
            if key.len() >= 4 && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys.sort();
    keys
}

/// Builds the keys of many invoice numbers without allocating per number
/// (the index build does this a million times).
#[derive(Default)]
pub struct KeyBuf {
    keys: Vec<String>,
    atoms: Vec<(usize, usize, bool)>,
    folded: String,
}

impl KeyBuf {
    /// Same keys as [`invoice_keys`].
    pub fn keys(&mut self, number: &str) -> &[String] {
        self.folded.clear();
        if number.is_ascii() {
            self.folded.extend(number.chars().map(|c| c.to_ascii_uppercase()));
        } else {
            self.folded.push_str(&fold(number));
        }
        self.atoms.clear();
        let b = self.folded.as_bytes();
        let mut start = None;
        for (i, c) in b.iter().enumerate() {
            let alnum = c.is_ascii_alphanumeric();
            match start {
                Some(s) if !alnum => {
                    self.atoms.push((s, i, b[s].is_ascii_digit()));
                    start = None;
                }
                Some(s) if b[s].is_ascii_digit() != c.is_ascii_digit() => {
                    self.atoms.push((s, i, b[s].is_ascii_digit()));
                    start = Some(i);
                }
                None if alnum => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            self.atoms.push((s, b.len(), b[s].is_ascii_digit()));
        }
        let n_keys = if self.atoms.iter().position(|a| a.2).is_some_and(|i| i > 0) { 4 } else { 2 };
        while self.keys.len() < 4 {
            self.keys.push(String::new());
        }
        let first_digit = self.atoms.iter().position(|a| a.2).unwrap_or(0);
        for k in 0..n_keys {
            let from = if k >= 2 { first_digit } else { 0 };
            let canonical = k % 2 == 1;
            let key = &mut self.keys[k];
            key.clear();
            for &(s, e, digit) in &self.atoms[from..] {
                let part = &self.folded[s..e];
                if canonical && digit {
                    let t = part.trim_start_matches('0');
                    key.push_str(if t.is_empty() { "0" } else { t });
                } else {
                    key.push_str(part);
                }
            }
        }
        // Same filtering as `invoice_keys`: long enough, with a digit, distinct.
        let mut out = 0;
        for k in 0..n_keys {
            let ok = self.keys[k].len() >= 4
                && self.keys[k].bytes().any(|b| b.is_ascii_digit())
                && !self.keys[..out].contains(&self.keys[k]);
            if ok {
                self.keys.swap(out, k);
                out += 1;
            }
        }
        &self.keys[..out]
    }

    /// Same keys as [`index_keys`].
    pub fn index_keys(&mut self, number: &str) -> &[String] {
        let mut out = self.keys(number).len();
        let parts: Vec<(&str, bool)> = self.atoms.iter().map(|&(s, e, d)| (&self.folded[s..e], d)).collect();
        if let Some(d) = digits_only(&parts)
            && !self.keys[..out].contains(&d)
        {
            if self.keys.len() <= out {
                self.keys.push(String::new());
            }
            self.keys[out] = d;
            out += 1;
        }
        let Some((y, first)) = year_group(&parts) else { return &self.keys[..out] };
        while self.keys.len() < out + 4 {
            self.keys.push(String::new());
        }
        for variant in 0..4 {
            let from = if variant >= 2 { first } else { 0 };
            let canonical = variant % 2 == 1;
            let mut key = std::mem::take(&mut self.keys[out]);
            key.clear();
            for (n, &(s, e, digit)) in self.atoms.iter().enumerate().skip(from) {
                let part = if n == y { &self.folded[s + 2..e] } else { &self.folded[s..e] };
                if canonical && digit {
                    let t = part.trim_start_matches('0');
                    key.push_str(if t.is_empty() { "0" } else { t });
                } else {
                    key.push_str(part);
                }
            }
            let fresh = key.len() >= 4 && !self.keys[..out].contains(&key);
            self.keys[out] = key;
            if fresh {
                out += 1;
            }
        }
        &self.keys[..out]
    }
}

/// Name tokens without legal forms and filler words.
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut t: Vec<String> = name_words(&fold(name)).filter(|w| !is_legal_form(w)).collect();
    t.sort();
    t.dedup();
    t
}

/// Legal forms and linking words left out of names (folded).
const NAME_NOISE: &[&str] = &[
    "SARL", "SAS", "SASU", "SA", "EURL", "SCI", "SNC", "SCP", "SELARL", "SCA", "SCS", "GMBH", "AG", "KG", "KGAA",
    "OHG", "UG", "EV", "LTD", "LIMITED", "PLC", "LLC", "LLP", "LP", "INC", "CORP", "PTY", "BV", "NV", "BVBA", "VOF",
    "CV", "SPRL", "SRL", "SPA", "SL", "SLU", "SLL", "LDA", "LTDA", "SE", "AB", "AS", "ASA", "APS", "OY", "OYJ", "SAGL",
    "ET", "AND", "DE", "DU", "DES", "LA", "LE", "LES", "THE", "CO", "CIE", "STE", "SOC", "SOCIETE", "MR", "MME", "M",
    "MRS", "MS", "EN", "OF", "Y", "E", "UND",
];

/// A legal form or a linking word of names (folded: `SARL`, `GMBH`, `B.V.` read as `BV`).
pub fn is_legal_form(word: &str) -> bool {
    NAME_NOISE.contains(&word)
}

/// A word cut by the bank that only begins a legal form (`EU` of `EURL`, `GMB` of `GMBH`).
pub fn begins_legal_form(word: &str) -> bool {
    word.len() >= 2 && NAME_NOISE.iter().any(|f| f.len() > word.len() && f.starts_with(word))
}

/// The words of a folded name; single letters joined by dots are one word
/// (`S.A.R.L.` → `SARL`, `B.V.` → `BV`), as banks write them either way.
pub fn name_words(folded: &str) -> impl Iterator<Item = String> + '_ {
    let mut out: Vec<String> = Vec::new();
    // Whether the last word is a chain of single letters joined by dots.
    let mut chain = false;
    // What separates the word being read from the previous one.
    let mut sep = String::new();
    let mut word = String::new();
    let mut push = |word: &mut String, sep: &str, out: &mut Vec<String>| {
        let single = word.len() == 1 && word.bytes().all(|b| b.is_ascii_alphabetic());
        match out.last_mut() {
            Some(prev) if chain && single && sep == "." => prev.push_str(word),
            _ => {
                out.push(word.clone());
                chain = single;
            }
        }
        word.clear();
    };
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            push(&mut word, &sep, &mut out);
            sep.clear();
        }
        sep.push(c);
    }
    if !word.is_empty() {
        push(&mut word, &sep, &mut out);
    }
    out.into_iter()
}

/// Share of the smaller token set found in the other (0..1).
pub fn name_similarity(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common =
        a.iter().filter(|x| b.iter().any(|y| y == *x || (x.len() >= 5 && y.len() >= 5 && damerau1(x, y)))).count();
    common as f64 / a.len().max(b.len()) as f64
}

/// True when `a` and `b` differ by at most one edit (insertion, deletion,
/// substitution or transposition of adjacent characters).
/// Nordic OCR references (Swedish bankgiro/plusgiro with the length check):
/// a run of 6 to 25 digits whose last digit is the Luhn (mod 10) check of the
/// rest and whose second-to-last digit is the run's length mod 10; the
/// payload is the run without those two digits (the invoice number's digits,
/// `2026041701` in `202604170127`). Both checks must hold, so a run of digits
/// passes by chance once in a hundred, and its payload must still be an
/// invoice's digits to name anything.
pub fn ocr_references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for run in text.split(|c: char| !c.is_ascii_digit()) {
        if !(6..=25).contains(&run.len()) {
            continue;
        }
        let b = run.as_bytes();
        let (payload, checks) = b.split_at(b.len() - 2);
        let length_holds = u32::from(checks[0] - b'0') == (b.len() % 10) as u32;
        if length_holds && luhn_digit(&b[..b.len() - 1]) == checks[1] - b'0' {
            let p = run[..payload.len()].to_string();
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The Luhn check digit of ASCII digits.
fn luhn_digit(digits: &[u8]) -> u8 {
    let mut total = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        total += v;
    }
    ((10 - total % 10) % 10) as u8
}

/// The remittance with each year written apart after a number (`'26`, an
/// apostrophe then two digits, after a space) moved before that number's last
/// group of digits: `FAC 0412 '26` reads `FAC 26 0412`, `INV 0412-01 '26`
/// reads `INV 26 0412-01`, `FR 072009 '26` reads `FR 26 072009` (the year
/// shortened, a spelling the index knows). `None` when there is no such year.
pub fn year_apart(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut moved = false;
    let mut i = 0;
    while i + 3 < b.len() + 1 {
        let is_year = i >= 1
            && b[i - 1] == b' '
            && b[i] == b'\''
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b.get(i + 2).is_some_and(u8::is_ascii_digit)
            && b.get(i + 3).is_none_or(|c| !c.is_ascii_alphanumeric());
        if !is_year {
            i += 1;
            continue;
        }
        // The word before the year (`0412-01`): it must hold digits.
        let word_end = i - 1;
        let word_start = text[..word_end].rfind(' ').map_or(0, |p| p + 1);
        let word = &text[word_start..word_end];
        // Its first digit: the year goes before the digits (`FAC0412` -> `FAC 26 0412`).
        if let Some(d) = word.find(|c: char| c.is_ascii_digit()).filter(|_| word_start >= last) {
            let at = word_start + d;
            out.push_str(&text[last..at]);
            if d > 0 {
                out.push(' ');
            }
            out.push_str(&text[i + 1..i + 3]);
            out.push(' ');
            out.push_str(&text[at..word_end]);
            last = i + 3;
            moved = true;
        }
        i += 3;
    }
    if !moved {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

pub fn damerau1(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    if a == b {
        return true;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if la == lb {
        // substitution, or transposition of the first differing pair
        ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
    } else if la > lb {
        ra[1..] == *rb
    } else {
        *ra == rb[1..]
    }
}

/// How many of each non-zero digit a text has (saturating). Every key of an
/// invoice number has the number's non-zero digits (keys drop letters and
/// zeros only), and one edit changes these counts by 2 at most (L1): texts
/// whose profiles differ by more cannot be one edit from any of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigitProfile([u8; 9]);

impl DigitProfile {
    pub fn of(text: &str) -> DigitProfile {
        let mut p = [0u8; 9];
        for b in text.bytes() {
            if let Some(n) = b.checked_sub(b'1').filter(|n| *n < 9) {
                p[n as usize] = p[n as usize].saturating_add(1);
            }
        }
        DigitProfile(p)
    }

    /// False when no text of one profile is one edit away from a key of a text of the other.
    pub fn within_one_edit(&self, other: &DigitProfile) -> bool {
        self.0.iter().zip(&other.0).map(|(a, b)| u32::from(a.abs_diff(*b))).sum::<u32>() <= 2
    }
}

/// ISO 11649 creditor references (`RF18 5390 0754 7034`) found in a text,
/// checksum-valid, returned as their payload (`539007547034`).
pub fn rf_references(text: &str) -> Vec<String> {
    let folded = fold(text);
    let tokens: Vec<&str> = folded.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let b = t.as_bytes();
        if b.len() < 4 || &b[..2] != b"RF" || !b[2].is_ascii_digit() || !b[3].is_ascii_digit() {
            continue;
        }
        // The reference is often printed in groups of four: try the longest valid grouping.
        let mut payload = t[4..].to_string();
        let mut best = None;
        for next in std::iter::once(None).chain(tokens[i + 1..].iter().map(Some)) {
            if let Some(n) = next {
                payload.push_str(n);
            }
            if payload.len() > 21 {
                break;
            }
            if !payload.is_empty() && mod97(&format!("{payload}RF{}", &t[2..4])) == Some(1) {
                best = Some(payload.clone());
            }
        }
        out.extend(best);
    }
    out
}

/// Belgian structured communications (`+++090/9337/55493+++`), checksum-valid,
/// returned as their 10-digit payload.
pub fn belgian_references(text: &str) -> Vec<String> {
    let digits_only: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    for (start, _) in digits_only.iter().filter(|(_, c)| *c == '+' || *c == '*') {
        let rest = &text[*start..];
        let inner = rest.trim_start_matches(['+', '*']);
        let digits: String = inner
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '/' || *c == ' ')
            .filter(char::is_ascii_digit)
            .collect();
        if digits.len() == 12 && belgian_check_holds(&digits) && !out.contains(&digits[..10].to_string()) {
            out.push(digits[..10].to_string());
        }
    }
    // Typed without the `+++`: twelve digits on their own (or `123/4567/89012`) whose check holds.
    for run in text.split(|c: char| !(c.is_ascii_digit() || c == '/')) {
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        let groups: Vec<usize> = run.split('/').map(str::len).collect();
        if digits.len() != 12 || !(groups == [12] || groups == [3, 4, 5]) {
            continue;
        }
        if belgian_check_holds(&digits) && !out.contains(&digits[..10].to_string()) {
            out.push(digits[..10].to_string());
        }
    }
    out
}

/// Twelve digits whose last two are the first ten modulo 97 (97 for 0).
fn belgian_check_holds(digits: &str) -> bool {
    let base: u64 = digits[..10].parse().unwrap_or(0);
    let check: u64 = digits[10..].parse().unwrap_or(99);
    check == if base.is_multiple_of(97) { 97 } else { base % 97 }
}

fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    Some(rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nordic_ocr_references_with_length_and_luhn_digits() {
        // 2026041801, length digit 2 (12 digits), Luhn check 7.
        assert_eq!(ocr_references("Betalning 202604180127"), vec!["2026041801".to_string()]);
        assert_eq!(ocr_references("ref 055028591"), vec!["0550285".to_string()]);
        // A wrong check digit, a wrong length digit: not an OCR reference.
        assert!(ocr_references("202604180128").is_empty());
        assert!(ocr_references("202604180137").is_empty());
    }

    #[test]
    fn year_written_apart_moves_before_the_number() {
        assert_eq!(year_apart("Fa c. FAC 0412 '26 dekujeme").as_deref(), Some("Fa c. FAC 26 0412 dekujeme"));
        assert_eq!(year_apart("INV 0412-01 '26").as_deref(), Some("INV 26 0412-01"));
        assert_eq!(year_apart("E 057 '26 kai E2026.104").as_deref(), Some("E 26 057 kai E2026.104"));
        assert_eq!(year_apart("FAC0412 '26").as_deref(), Some("FAC 26 0412"));
        // Not a year apart: no digits before, three digits, a quote inside a word.
        assert_eq!(year_apart("merci '26"), None);
        assert_eq!(year_apart("FAC 0412 '261"), None);
        assert_eq!(year_apart("l'26 0412"), None);
    }

    #[test]
    fn belgian_communications_with_or_without_plus_signs() {
        assert_eq!(2_026_004_034u64 % 97, 51);
        for text in ["+++202/6004/03451+++", "communication 202600403451", "ref 202/6004/03451 merci"] {
            assert_eq!(belgian_references(text), vec!["2026004034".to_string()], "{text}");
        }
        assert!(belgian_references("202600403452").is_empty(), "a wrong check digit is no reference");
        assert!(belgian_references("tel 0202600403451").is_empty(), "thirteen digits are not twelve");
    }

    #[test]
    fn keys_cover_prefixes_separators_and_zeros() {
        assert_eq!(invoice_keys("FA-2026-0012"), vec!["20260012", "202612", "FA20260012", "FA202612"]);
        assert_eq!(invoice_keys("INV000123"), vec!["000123", "INV000123", "INV123"], "`123` is too short a key");
        assert!(invoice_keys("A-1").is_empty());
    }

    #[test]
    fn index_keys_add_the_year_shortened() {
        assert_eq!(
            index_keys("FA-2026-04034"),
            vec!["202604034", "20264034", "2604034", "264034", "FA202604034", "FA20264034", "FA2604034", "FA264034"]
        );
        assert_eq!(index_keys("2026/0977"), vec!["20260977", "2026977", "260977", "26977"]);
        // No year, or nothing after it: no more keys.
        assert_eq!(index_keys("INV000123"), invoice_keys("INV000123"));
        assert_eq!(index_keys("FA-2026"), invoice_keys("FA-2026"));
        assert_eq!(index_keys("F26-0869"), invoice_keys("F26-0869"));
        // A year and month: `FAC2512-1027` for `FAC202512-1027`; 202513 is no month.
        assert!(index_keys("FAC202512-1027").contains(&"FAC25121027".to_string()));
        // A year last: `FT/07644/26` and `07644/26` for `FT/07644/2026`.
        let keys = index_keys("FT/07644/2026");
        assert!(keys.contains(&"FT0764426".to_string()) && keys.contains(&"0764426".to_string()), "{keys:?}");
        assert_eq!(index_keys("FAC202513-1027"), invoice_keys("FAC202513-1027"));
    }

    #[test]
    fn numbers_with_letters_inside_are_found_by_their_digits() {
        assert!(index_keys("26FA04161").contains(&"2604161".to_string()));
        assert!(index_keys("26-FV-0412").contains(&"260412".to_string()));
        // Letters only in front: the prefix-less keys are the digits already, nothing is added.
        assert_eq!(index_keys("FA-2026-04034").len(), 8);
        assert_eq!(index_keys("INV000123"), invoice_keys("INV000123"));
        // Too short to be told from an amount or a date.
        assert!(!index_keys("1A-234").iter().any(|k| k == "1234"));
        let mut buf = KeyBuf::default();
        for n in ["26FA04161", "26-FV-0412", "1A-234", "F2604/0123", "X1Y2Z3456789", "FT/07644/2026", "07644/2026"] {
            let mut got = buf.index_keys(n).to_vec();
            got.sort();
            assert_eq!(got, index_keys(n), "{n}");
        }
    }

    #[test]
    fn key_buffer_agrees_with_invoice_keys() {
        let mut buf = KeyBuf::default();
        for n in [
            "FA-2026-0012",
            "INV000123",
            "A-1",
            "2026/0007",
            "F 000 12",
            "Rechnung-Nr. 77-B",
            "AV-00",
            "ÉCHÉANCE-2026-01",
            "FA-2026-04034",
            "2026/0977",
            "FA-2026",
            "INV-2025-0-7",
            "FAC202512-1027",
            "FAC202513-1027",
        ] {
            let mut a: Vec<String> = buf.keys(n).to_vec();
            a.sort();
            assert_eq!(a, invoice_keys(n), "{n}");
            let mut a: Vec<String> = buf.index_keys(n).to_vec();
            a.sort();
            assert_eq!(a, index_keys(n), "{n}");
        }
    }

    #[test]
    fn digit_profiles_never_rule_out_a_key_one_edit_away() {
        for number in ["FA-2026-0012", "INV000123", "2026/0707", "Rechnung-Nr. 77-B", "AV-00", "F 000 12"] {
            let profile = DigitProfile::of(number);
            for key in invoice_keys(number) {
                // Every one-edit variant of every key (digits, a letter, a zero).
                let b = key.as_bytes();
                let mut variants = Vec::new();
                for i in 0..=b.len() {
                    for c in [b'0', b'1', b'5', b'9', b'X'] {
                        let mut v = b.to_vec();
                        v.insert(i, c);
                        variants.push(v);
                        if i < b.len() {
                            let mut v = b.to_vec();
                            v[i] = c;
                            variants.push(v);
                        }
                    }
                    if i < b.len() {
                        let mut v = b.to_vec();
                        v.remove(i);
                        variants.push(v);
                    }
                    if i + 1 < b.len() {
                        let mut v = b.to_vec();
                        v.swap(i, i + 1);
                        variants.push(v);
                    }
                }
                for v in variants {
                    let v = String::from_utf8(v).unwrap();
                    assert!(damerau1(&key, &v), "{key} {v}");
                    assert!(DigitProfile::of(&v).within_one_edit(&profile), "{number}: {key} → {v}");
                }
            }
        }
        let a = DigitProfile::of("FA20260012354");
        assert!(!a.within_one_edit(&DigitProfile::of("FA-2026-0098765")), "other digits");
        assert!(a.within_one_edit(&DigitProfile::of("FA-2026-0012345")), "a transposition");
    }

    #[test]
    fn atoms_and_canonical_forms_meet() {
        let a = atoms("Facture n°FA2026-12, merci");
        assert_eq!(a, vec!["FACTURE", "N", "FA", "2026", "12", "MERCI"]);
        assert_eq!(canonical(&a[2..5]), "FA202612");
        assert_eq!(canonical(&atoms("fa 2026 0012")), "FA202612");
    }

    #[test]
    fn one_edit() {
        assert!(damerau1("FA20260012", "FA20260021"), "transposition");
        assert!(damerau1("FA20260012", "FA20260013"), "substitution");
        assert!(damerau1("FA20260012", "FA2026012"), "deletion");
        assert!(damerau1("FA20260012", "FA202600112"), "insertion");
        assert!(!damerau1("FA20260012", "FA20261122"));
    }

    #[test]
    fn names_ignore_legal_forms_and_accents() {
        let a = name_tokens("Société Générale d'Éclairage SARL");
        let b = name_tokens("SOCIETE GENERALE D ECLAIRAGE");
        assert_eq!(name_similarity(&a, &b), 1.0);
        assert!(name_similarity(&name_tokens("Martin SAS"), &name_tokens("Dupont SAS")) < 0.5);
        // Dotted legal forms are legal forms; dotted initials are one word.
        assert_eq!(name_tokens("Garnier Logistique S.A.R.L."), name_tokens("GARNIER LOGISTIQUE SARL"));
        assert_eq!(name_tokens("Visser B.V."), vec!["VISSER".to_string()]);
        assert_eq!(name_tokens("J.P. Martin & A. Roux"), vec!["A", "JP", "MARTIN", "ROUX"]);
        assert!(begins_legal_form("EU") && begins_legal_form("GMB") && !begins_legal_form("E"));
    }

    #[test]
    fn structured_references() {
        assert_eq!(rf_references("Payment RF18 5390 0754 7034 thanks"), vec!["539007547034"]);
        assert!(rf_references("RF19 5390 0754 7034").is_empty(), "bad checksum");
        assert_eq!(belgian_references("+++090/9337/55493+++"), vec!["0909337554"]);
        assert!(belgian_references("+++090/9337/55494+++").is_empty());
    }
}
