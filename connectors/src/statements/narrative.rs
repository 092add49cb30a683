//! Counterparty and purpose from free-text bank narratives.
//!
//! Many banks put the payer's name, account and the payment's purpose in one
//! free text (MT940 `:86:`, CFONB 120 `05` complements, camt `Ustrd` or
//! `AddtlNtryInf`, OFX `NAME`/`MEMO`, a CSV label column) instead of the
//! structured fields. [`read`] recognises the common layouts:
//!
//! - keyed with a slash, either `/KEY value` (French: `VIR SEPA RECU /DE ACME
//!   /MOTIF FACT 12 /REF X /IBAN FR76…`, keys `DE`, `NOM`, `MOTIF`, `REF`,
//!   `IBAN`, `BIC`, `EREF`, `RUM`, `LIB`…) or `/KEY/value/` (SWIFT and Dutch:
//!   `/ORDP/`, `/BENM/`, `/NAME/`, `/REMI/`, `/EREF/`, `/IBAN/`, `/CNTP/`…);
//! - German structured `:86:` sub-fields (`?20`–`?29` and `?60`–`?63`
//!   purpose, `?30` bank code or BIC, `?31` account or IBAN, `?32`/`?33` name);
//! - English, Belgian, French and German free-text words (`FROM`, `BY ORDER
//!   OF`, `ORDERING PARTY`, `REMITTER`, `AUFTRAGGEBER`, `DE LA PART DE`,
//!   `REF`, `PURPOSE`, `DETAILS`, `REMITTANCE INFO`, `ZAHLUNGSGRUND`,
//!   `COMMUNICATION`, `MEDEDELING`, `IBAN`, `BIC`), one per line or inline.
//!
//! Lines wrapped at a fixed width are repaired first (a line that fills the
//! width continues on the next without a space), and an IBAN cut by a line
//! break or written in groups is re-joined and kept only when its length and
//! ISO 13616 checksum are right ([`relance_domain::iban`]). The purpose text
//! left for reference reading is the purpose and reference values only, not
//! the name, account and bank noise.
//!
//! [`fill`] applies a reading to a [`BankLine`], only where the parser found
//! no structured value.

use relance_domain::iban::normalize_iban;
use relance_domain::{BankLine, Direction};

use super::join_text;

/// What a narrative says about the counterparty and the purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrative {
    pub name: Option<String>,
    /// An IBAN whose length and checksum are right (electronic form).
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub end_to_end_id: Option<String>,
    /// SEPA direct-debit mandate reference (`RUM`, `MARF`).
    pub mandate: Option<String>,
    /// The purpose and reference texts, without the counterparty noise.
    pub purpose: Option<String>,
}

/// Longest name kept, in characters.
const MAX_NAME: usize = 140;

/// Longest narrative read, in bytes: a longer text is cut (a narrative is a
/// few hundred characters; this bounds the work on hostile input).
const MAX_TEXT: usize = 8 * 1024;

/// What a key's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The counterparty's name whatever the direction.
    Name,
    /// The ordering party: the counterparty of a credit.
    Payer,
    /// The beneficiary: the counterparty of a debit.
    Payee,
    /// An ultimate debtor name (fallback for a credit's counterparty).
    UltimatePayer,
    Iban,
    Bic,
    Purpose,
    /// A reference that belongs with the purpose (payer's reference, invoice).
    Reference,
    EndToEnd,
    Mandate,
    /// ING's `/CNTP/IBAN/BIC/NAME/CITY/`.
    Counterparty,
    /// Known and not kept (transaction type, creditor id, codes).
    Skip,
}

/// Slash keys, longest first where one is a prefix of another.
const KEYS: &[(&str, Role)] = &[
    ("MOTIF", Role::Purpose),
    ("REMI", Role::Purpose),
    ("LIB", Role::Purpose),
    ("INF", Role::Purpose),
    ("RMTINF", Role::Purpose),
    ("ORDPIBAN", Role::Iban),
    ("ORDP", Role::Payer),
    ("BENM", Role::Payee),
    ("NAME", Role::Name),
    ("NOM", Role::Name),
    ("DE", Role::Payer),
    ("ULTD", Role::UltimatePayer),
    ("ULTC", Role::Skip),
    ("IBAN", Role::Iban),
    ("BIC", Role::Bic),
    ("EREF", Role::EndToEnd),
    ("REF", Role::Reference),
    ("INV", Role::Reference),
    ("RFB", Role::Reference),
    ("ROC", Role::Reference),
    ("PREF", Role::Reference),
    ("RUM", Role::Mandate),
    ("MARF", Role::Mandate),
    ("CNTP", Role::Counterparty),
    ("TRTP", Role::Skip),
    ("CSID", Role::Skip),
    ("ICS", Role::Skip),
    ("PURP", Role::Skip),
    ("ISDT", Role::Skip),
    ("RTRN", Role::Skip),
    ("ADDR", Role::Skip),
    ("OCMT", Role::Skip),
    ("CHGS", Role::Skip),
    ("TRCD", Role::Skip),
    ("BUSP", Role::Skip),
    ("ACCW", Role::Skip),
    ("SUM", Role::Skip),
];

/// Joins wrapped lines: a line that fills `width` characters was cut by the
/// bank and continues on the next without a space; a shorter line ends at a
/// word. Without a width every line break is a space.
pub fn unwrap_lines(raw: &str, width: Option<usize>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut glue = false;
    for (i, line) in raw.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if i > 0 && !glue {
            out.push(' ');
        }
        out.push_str(line);
        glue = width.is_some_and(|w| w > 0 && line.chars().count() >= w);
    }
    out
}

/// Reads a narrative (lines wrapped at `width` characters, when known) of a
/// line going in `direction`. `None` when no known layout is found.
pub fn read(raw: &str, width: Option<usize>, direction: Direction) -> Option<Narrative> {
    let raw = if raw.len() > MAX_TEXT { &raw[..floor_boundary(raw, MAX_TEXT)] } else { raw };
    let text = unwrap_lines(raw, width);
    keyed(&text, direction).or_else(|| german(raw)).or_else(|| worded(&text, direction))
}

/// Applies a narrative to `line` where the parser found no structured value:
/// name, IBAN and end-to-end id only when missing; the remittance becomes the
/// purpose text when a layout was recognised. Returns whether a layout was.
pub fn fill(line: &mut BankLine, raw: &str, width: Option<usize>) -> bool {
    let Some(n) = read(raw, width, line.direction) else { return false };
    if line.counterparty_name.is_none() {
        line.counterparty_name = n.name;
    }
    if line.counterparty_iban.is_none() {
        line.counterparty_iban = n.iban;
    }
    if line.end_to_end_id.is_none() {
        line.end_to_end_id = n.end_to_end_id;
    }
    line.remittance = n.purpose;
    true
}

/// The largest char boundary at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

/// A key found in the text: where its marker starts and ends, and its role.
struct Mark {
    start: usize,
    end: usize,
    role: Role,
    /// `/KEY/value`: slashes inside the value separate sub-values.
    slashed: bool,
}

/// Slash-keyed layouts (`/DE name /MOTIF text`, `/ORDP/name/REMI/text/`).
fn keyed(text: &str, direction: Direction) -> Option<Narrative> {
    let b = text.as_bytes();
    let mut marks: Vec<Mark> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'/' {
            i += 1;
            continue;
        }
        let found = KEYS.iter().find_map(|(key, role)| {
            let after = i + 1 + key.len();
            if !text[i + 1..].starts_with(key) {
                return None;
            }
            match b.get(after) {
                // `/KEY/value`: anywhere (the slash also ends the previous value).
                Some(b'/') => Some((after + 1, *role, true)),
                // `/KEY value` or `/KEY: value`: after a space or at the start.
                None | Some(b' ' | b':' | b'\t') if i == 0 || b[i - 1].is_ascii_whitespace() || b[i - 1] == b'/' => {
                    Some((after + usize::from(b.get(after) == Some(&b':')), *role, false))
                }
                _ => None,
            }
        });
        match found {
            Some((end, role, slashed)) => {
                marks.push(Mark { start: i, end, role, slashed });
                i = end;
            }
            None => i += 1,
        }
    }
    // One key alone could be chance (`…/REF 12`): a layout has two keys, or
    // one that names the counterparty or the purpose.
    let strong = marks.iter().any(|m| {
        matches!(m.role, Role::Name | Role::Payer | Role::Payee | Role::Purpose | Role::Iban | Role::Counterparty)
    });
    if marks.is_empty() || (marks.len() < 2 && !strong) {
        return None;
    }
    let mut n = Narrative::default();
    let mut purpose: Vec<String> = Vec::new();
    let mut references: Vec<String> = Vec::new();
    let mut ultimate: Option<String> = None;
    let mut leftovers: Vec<String> = Vec::new();
    let prefix = clean_value(&text[..marks[0].start]);
    for (k, m) in marks.iter().enumerate() {
        let end = marks.get(k + 1).map_or(text.len(), |next| next.start);
        let value = clean_value(text.get(m.end..end.max(m.end)).unwrap_or(""));
        if value.is_empty() {
            continue;
        }
        let counterparty = match m.role {
            Role::Name => true,
            Role::Payer => direction == Direction::Credit,
            Role::Payee => direction == Direction::Debit,
            _ => false,
        };
        match m.role {
            // SWIFT party keys hold `account/name/…`; a `/NAME/` is one name
            // (Dutch names have slashes: `J JANSEN EN/OF M JANSEN`).
            Role::Payer | Role::Payee if counterparty && m.slashed => party_parts(&mut n, &value, &mut leftovers),
            _ if counterparty => set_name(&mut n, &value),
            Role::Name | Role::Payer | Role::Payee => {}
            Role::UltimatePayer if direction == Direction::Credit => ultimate = name_of(&value),
            Role::UltimatePayer => {}
            Role::Iban => {
                if n.iban.is_none() {
                    n.iban = take_iban(&value).map(|(iban, _)| iban);
                }
            }
            Role::Bic => n.bic = value.split_whitespace().next().map(str::to_string),
            Role::Purpose => {
                let v = value
                    .strip_prefix("USTD//")
                    .or_else(|| value.strip_prefix("USTD/"))
                    .or_else(|| value.strip_prefix("STRD/CUR/"))
                    .or_else(|| value.strip_prefix("STRD/"))
                    .unwrap_or(&value);
                purpose.push(v.trim_matches('/').to_string());
            }
            Role::Reference if value != "NOTPROVIDED" => references.push(value),
            Role::Reference => {}
            Role::EndToEnd if value != "NOTPROVIDED" => n.end_to_end_id = Some(value),
            Role::EndToEnd => {}
            Role::Mandate => n.mandate = Some(value),
            Role::Counterparty => {
                let parts: Vec<&str> = value.split('/').collect();
                if let Some(iban) = parts.first().and_then(|p| take_iban(p)) {
                    n.iban.get_or_insert(iban.0);
                }
                if let Some(bic) = parts.get(1).filter(|p| !p.trim().is_empty()) {
                    n.bic = Some(bic.trim().to_string());
                }
                if let Some(name) = parts.get(2).filter(|p| !p.trim().is_empty()) {
                    set_name(&mut n, name);
                }
            }
            Role::Skip => {}
        }
    }
    if n.name.is_none() {
        n.name = ultimate;
    }
    // Without a purpose key, the text before the first key (`VIR SEPA RECU`)
    // is all the bank said about the payment.
    if purpose.is_empty() && !prefix.is_empty() {
        purpose.push(prefix);
    }
    purpose.extend(leftovers);
    purpose.extend(references);
    n.purpose = join_text(purpose.iter().map(String::as_str));
    Some(n)
}

/// A counterparty value in slash syntax, whose parts may be an account, the
/// name, then other texts (`/ORDP/300000000460495/ACME DOO/747//747/purpose`):
/// the account is skipped (or kept when an IBAN), the first part with letters
/// is the name, the parts after it go to the purpose.
fn party_parts(n: &mut Narrative, value: &str, leftovers: &mut Vec<String>) {
    let mut named = n.name.is_some();
    for part in value.split('/').map(str::trim).filter(|p| !p.is_empty()) {
        if named {
            leftovers.push(part.to_string());
        } else if let Some((iban, rest)) = take_iban(part) {
            n.iban.get_or_insert(iban);
            if !rest.is_empty() {
                set_name(n, &rest);
                named = n.name.is_some();
            }
        } else if part.chars().any(char::is_alphabetic) {
            set_name(n, part);
            named = n.name.is_some();
        }
    }
}

/// A value without its surrounding slashes and runs of spaces.
fn clean_value(v: &str) -> String {
    join_text([v.trim().trim_matches('/')]).unwrap_or_default()
}

/// Sets the name from a value that may end with the counterparty's IBAN
/// (`ACME SA BE68 5390 0754 7034`), which is split off.
fn set_name(n: &mut Narrative, value: &str) {
    let (name, iban) = split_trailing_iban(value);
    if let Some(iban) = iban {
        n.iban.get_or_insert(iban);
    }
    if n.name.is_none() {
        n.name = name_of(&name);
    }
}

/// A name worth keeping: some letters, cut to [`MAX_NAME`] characters.
fn name_of(v: &str) -> Option<String> {
    let v = v.trim().trim_matches(['/', ',', ';', ':', '-']).trim();
    if !v.chars().any(char::is_alphabetic) {
        return None;
    }
    Some(v.chars().take(MAX_NAME).collect::<String>().trim_end().to_string())
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// The IBAN length of a country, when known.
fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS.iter().find(|(c, _)| *c == country).map(|(_, n)| *n)
}

/// An IBAN at the start of `v`, possibly written in groups or cut by a line
/// break (`FR76 3000 6000 0112 3456 7890 189`, `FR7630006000011234 567890189`),
/// and the text after it. The country's length and the checksum must hold.
pub fn take_iban(v: &str) -> Option<(String, String)> {
    let v = v.trim_start();
    // Characters of the IBAN and the byte offset just after each.
    let mut chars: Vec<(char, usize)> = Vec::with_capacity(34);
    for (i, c) in v.char_indices() {
        if c.is_ascii_alphanumeric() {
            chars.push((c.to_ascii_uppercase(), i + 1));
            if chars.len() == 34 {
                break;
            }
        } else if !(c == ' ' || c == '-' || c == '\t') {
            break;
        }
    }
    if chars.len() < 15 {
        return None;
    }
    let country: String = chars[..2].iter().map(|(c, _)| *c).collect();
    let candidate = |len: usize| -> Option<(String, String)> {
        let text: String = chars.get(..len)?.iter().map(|(c, _)| *c).collect();
        let iban = normalize_iban(&text).ok()?;
        let rest = v.get(chars[len - 1].1..).unwrap_or("").trim().to_string();
        Some((iban, rest))
    };
    match iban_length(&country) {
        Some(len) => candidate(len),
        // Unknown country: only a value that is exactly one valid IBAN.
        None => v.split_whitespace().next().filter(|t| t.len() == chars.len()).and_then(|_| candidate(chars.len())),
    }
}

/// Splits a trailing IBAN off a name: `ACME SA BE68 5390 0754 7034`.
fn split_trailing_iban(v: &str) -> (String, Option<String>) {
    for (i, _) in v.match_indices(' ').chain(std::iter::once((0, " "))) {
        let start = if i == 0 { 0 } else { i + 1 };
        let tail = &v[start..];
        let b = tail.as_bytes();
        if b.len() >= 4
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..4].iter().all(u8::is_ascii_digit)
            && let Some((iban, rest)) = take_iban(tail)
            && rest.is_empty()
        {
            return (v[..start].trim().to_string(), Some(iban));
        }
    }
    (v.to_string(), None)
}

/// German structured `:86:` (`166?00GUTSCHRIFT?20purpose?30BIC?31IBAN?32NAME`),
/// with `?` or another punctuation as separator. Continuation lines are a wrap
/// of one sub-field and are joined without spaces.
fn german(raw: &str) -> Option<Narrative> {
    let flat: String = raw.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let b = flat.as_bytes();
    let (body, sep) = if b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3].is_ascii_punctuation() {
        (&flat[4..], b[3] as char)
    } else if flat.starts_with("?20") || flat.starts_with("?00") {
        (&flat[1..], '?')
    } else {
        return None;
    };
    let mut purpose = String::new();
    let mut name = String::new();
    let mut n = Narrative::default();
    let mut fields = 0;
    for part in body.split(sep) {
        let pb = part.as_bytes();
        if pb.len() < 2 || !pb[..2].iter().all(u8::is_ascii_digit) {
            continue;
        }
        fields += 1;
        let value = &part[2..];
        match &part[..2] {
            "20" | "21" | "22" | "23" | "24" | "25" | "26" | "27" | "28" | "29" | "60" | "61" | "62" | "63" => {
                purpose.push_str(value)
            }
            "30" => n.bic = Some(value.trim().to_string()).filter(|v| v.chars().any(char::is_alphabetic)),
            "31" => n.iban = take_iban(value).filter(|(_, rest)| rest.is_empty()).map(|(i, _)| i),
            "32" | "33" => name.push_str(value),
            _ => {}
        }
    }
    if fields < 2 {
        return None;
    }
    n.name = name_of(&name);
    // SEPA tags inside the purpose: `EREF+… SVWZ+text`.
    let svwz = purpose.find("SVWZ+").map(|p| &purpose[p + 5..]);
    if let Some(p) = purpose.find("EREF+") {
        let rest = &purpose[p + 5..];
        let end = ["KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+"]
            .iter()
            .filter_map(|t| rest.find(t))
            .min()
            .unwrap_or(rest.len());
        n.end_to_end_id = Some(rest[..end].trim().to_string()).filter(|e| !e.is_empty() && e != "NOTPROVIDED");
    }
    n.purpose = join_text([svwz.unwrap_or(&purpose)]);
    Some(n)
}

/// A word key of the free-text styles and its role.
const WORDS: &[(&str, Role)] = &[
    ("BY ORDER OF", Role::Payer),
    ("DE LA PART DE", Role::Payer),
    ("ORDERING PARTY", Role::Payer),
    ("ORDERING CUSTOMER", Role::Payer),
    ("REMITTER", Role::Payer),
    ("AUFTRAGGEBER", Role::Payer),
    ("FROM", Role::Payer),
    // French bank labels: `VIR SEPA RECU DE ACME SA`.
    ("RECU DE", Role::Payer),
    // Italian bank labels: `BONIFICO A VOSTRO FAVORE DA ACME SRL CAUSALE …`.
    ("FAVORE DA", Role::Payer),
    ("CAUSALE", Role::Purpose),
    ("BENEFICIARY", Role::Payee),
    ("TO", Role::Payee),
    ("COMMUNICATION", Role::Purpose),
    ("MEDEDELING", Role::Purpose),
    ("REMITTANCE INFORMATION", Role::Purpose),
    ("REMITTANCE INFO", Role::Purpose),
    ("PURPOSE", Role::Purpose),
    ("DETAILS", Role::Purpose),
    ("VERWENDUNGSZWECK", Role::Purpose),
    ("ZAHLUNGSGRUND", Role::Purpose),
    ("REFERENCE", Role::Reference),
    ("REF", Role::Reference),
    ("IBAN", Role::Iban),
    ("BIC", Role::Bic),
];

/// Free-text styles: `FASTER PAYMENT FROM ACME LTD REF INV 12`, `BY ORDER OF
/// ACME`, `VIREMENT DE LA PART DE ACME SA BE68 5390 0754 7034 COMMUNICATION:
/// FACT 12`. Keys are upper-case whole words; a layout needs one naming the
/// counterparty.
fn worded(text: &str, direction: Direction) -> Option<Narrative> {
    let b = text.as_bytes();
    let mut marks: Vec<Mark> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Keys are upper case: any other byte starts none (checked before
        // any key is compared, as are the first two bytes: most words of a
        // narrative are rejected without a string compare).
        let word_start = (i == 0 || !b[i - 1].is_ascii_alphanumeric()) && b[i].is_ascii_uppercase();
        let found = word_start
            .then(|| {
                WORDS.iter().find_map(|(w, role)| {
                    let w = w.as_bytes();
                    let end = i + w.len();
                    (b.get(i + 1) == w.get(1)
                        && b.get(i..end).is_some_and(|t| t == w)
                        && b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric()))
                    .then(|| (end + b[end..].iter().take_while(|c| matches!(c, b':' | b' ' | b'.')).count(), *role))
                })
            })
            .flatten();
        match found {
            Some((end, role)) => {
                marks.push(Mark { start: i, end, role, slashed: false });
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    let names = |m: &Mark| match m.role {
        Role::Payer => direction == Direction::Credit,
        Role::Payee => direction == Direction::Debit,
        _ => false,
    };
    if !marks.iter().any(names) {
        return None;
    }
    let mut n = Narrative::default();
    let mut purpose: Vec<String> = Vec::new();
    let prefix = clean_value(&text[..marks[0].start]);
    for (k, m) in marks.iter().enumerate() {
        let end = marks.get(k + 1).map_or(text.len(), |next| next.start);
        let value = clean_value(text.get(m.end..end.max(m.end)).unwrap_or(""));
        if value.is_empty() {
            continue;
        }
        match m.role {
            _ if names(m) => set_name(&mut n, &value),
            Role::Iban => {
                if let Some((iban, rest)) = take_iban(&value) {
                    n.iban.get_or_insert(iban);
                    if !rest.is_empty() {
                        purpose.push(rest);
                    }
                }
            }
            Role::Bic => {
                let mut words = value.splitn(2, ' ');
                n.bic = words.next().map(str::to_string);
                if let Some(rest) = words.next() {
                    purpose.push(rest.to_string());
                }
            }
            Role::Purpose | Role::Reference => purpose.push(value),
            _ => {}
        }
    }
    if purpose.is_empty() && !prefix.is_empty() {
        purpose.push(prefix);
    }
    n.purpose = join_text(purpose.iter().map(String::as_str));
    Some(n)
}

#[cfg(test)]
#[path = "narrative_tests.rs"]
mod tests;
