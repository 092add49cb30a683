//! Dates in French and English text, resolved against the message date (in
//! the message's own UTC offset). The text is folded: lower case, no
//! accents. Every date found keeps its span, so that the caller can read
//! the clause around it (see [`super::promised`]).
//!
//! The grammar:
//! - absolute: `20 octobre`, `the 31st of July`, `October 16`, `2026-10-31`,
//!   numeric `31/10/2026`, `19/06`, `4/17` — dd/mm in French; in English
//!   the reading that is valid, else the one ahead, else the nearest to
//!   the message date (`04/12` on 1 December is 4 December in the US and
//!   in the UK alike), else mm/dd;
//! - day of month: `le 15`, `le 1er`, `the 23rd`, `au 13`, `du 30`,
//!   `d'ici le 5`, `by the 12th`: this month if still ahead, else next;
//!   `the 5th of next month`, `le 10 du mois prochain`; recurring `le 10
//!   de chaque mois`, `the 20th of every month`: the next one;
//! - weekdays (`vendredi`, `lundi prochain`, `next Wednesday`, `ce
//!   vendredi`, `thurs`, `every Tuesday`, `tous les vendredis`): the next
//!   occurrence after the message date; `mercredi de la semaine
//!   prochaine`, `Friday next week`: that day of next calendar week;
//!   `vendredi en huit`, `Friday week`, `a week on Friday`: a week after
//!   the next one (`en quinze`: two weeks); `jeudi 26`, `Tuesday the 8th`:
//!   the day number (the month where it falls on that weekday, when one is
//!   near); `vendredi dernier`, `last Friday`, `depuis vendredi`: the
//!   previous one; `the last Friday of the month`;
//! - relative: `aujourd'hui`, `ce soir`, `tonight`, `demain`, `tomorrow`,
//!   `après-demain`;
//! - periods: `fin du mois`, `EOM`, `fin mars`, `end of July`, `fin du mois
//!   prochain`, `end of next month` (last day); `fin de semaine`, `end of
//!   this week`, `before the weekend` (Friday); `fin de la semaine
//!   prochaine`, `end of next week` (Friday of next week); `mi-mars`,
//!   `mid-month` (the 15th); `first / last week of March` (its first /
//!   last Friday); `sous 8 jours`, `d'ici 10 jours`, `within two weeks`,
//!   `in 5 working days`, `sous 48h`, `sous huitaine`, `sous quinzaine`.
//!
//! `next week` or `la semaine prochaine` alone is no date: too vague.

use std::sync::LazyLock;

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};
use regex::{Captures, Regex};

use relance_domain::Language;

/// A date found in a text: where it starts and ends (bytes of the folded
/// text) and the words it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDate {
    pub date: NaiveDate,
    pub at: usize,
    pub end: usize,
    pub text: String,
}

const MONTH_RE: &str = "janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|january|february|march|april|may|june|july|august|september|october|november|december|janv|fevr|sept|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec";
const WEEKDAY_RE: &str = "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday|thurs|thur|thu|tues|tue|weds|wed|fri";
const ORD: &str = "(?:er|st|nd|rd|th|e|eme)?";

fn month(name: &str) -> Option<u32> {
    let n = match name {
        "janvier" | "january" | "janv" | "jan" => 1,
        "fevrier" | "february" | "fevr" | "feb" => 2,
        "mars" | "march" | "mar" => 3,
        "avril" | "april" | "apr" => 4,
        "mai" | "may" => 5,
        "juin" | "june" | "jun" => 6,
        "juillet" | "july" | "jul" => 7,
        "aout" | "august" | "aug" => 8,
        "septembre" | "september" | "sept" | "sep" => 9,
        "octobre" | "october" | "oct" => 10,
        "novembre" | "november" | "nov" => 11,
        "decembre" | "december" | "dec" => 12,
        _ => return None,
    };
    Some(n)
}

fn weekday(name: &str) -> Option<Weekday> {
    let w = match name {
        "lundi" | "monday" => Weekday::Mon,
        "mardi" | "tuesday" | "tues" | "tue" => Weekday::Tue,
        "mercredi" | "wednesday" | "weds" | "wed" => Weekday::Wed,
        "jeudi" | "thursday" | "thurs" | "thur" | "thu" => Weekday::Thu,
        "vendredi" | "friday" | "fri" => Weekday::Fri,
        "samedi" | "saturday" => Weekday::Sat,
        "dimanche" | "sunday" => Weekday::Sun,
        _ => return None,
    };
    Some(w)
}

const NUMBERS: &[(&str, i64)] = &[
    ("un", 1),
    ("une", 1),
    ("one", 1),
    ("a", 1),
    ("deux", 2),
    ("two", 2),
    ("trois", 3),
    ("three", 3),
    ("quatre", 4),
    ("four", 4),
    ("cinq", 5),
    ("five", 5),
    ("six", 6),
    ("sept", 7),
    ("seven", 7),
    ("huit", 8),
    ("eight", 8),
    ("neuf", 9),
    ("nine", 9),
    ("dix", 10),
    ("ten", 10),
    ("quinze", 15),
    ("fifteen", 15),
    ("vingt", 20),
    ("twenty", 20),
    ("trente", 30),
    ("thirty", 30),
];

pub(crate) fn number(word: &str) -> Option<i64> {
    word.parse().ok().or_else(|| NUMBERS.iter().find(|(w, _)| *w == word).map(|(_, n)| *n))
}

/// A day number, `1er` and `premier` included.
fn day_number(s: &str) -> Option<u32> {
    if s == "premier" || s == "1er" {
        return Some(1);
    }
    s.parse().ok().filter(|d| (1..=31).contains(d))
}

/// The next `wd` strictly after `from`.
fn next_weekday(from: NaiveDate, wd: Weekday) -> NaiveDate {
    let ahead = (7 + wd.num_days_from_monday() as i64 - from.weekday().num_days_from_monday() as i64) % 7;
    from + Duration::days(if ahead == 0 { 7 } else { ahead })
}

/// The last `wd` strictly before `from`.
fn previous_weekday(from: NaiveDate, wd: Weekday) -> NaiveDate {
    next_weekday(from, wd) - Duration::days(7)
}

/// `wd` of the calendar week (Monday to Sunday) after the one of `from`.
fn weekday_next_week(from: NaiveDate, wd: Weekday) -> NaiveDate {
    let monday = from - Duration::days(from.weekday().num_days_from_monday() as i64) + Duration::days(7);
    monday + Duration::days(wd.num_days_from_monday() as i64)
}

/// "Fin de semaine": the Friday of this week (today on a Friday, the next
/// one on a weekend).
fn end_of_week(from: NaiveDate) -> NaiveDate {
    from + Duration::days((4 - from.weekday().num_days_from_monday() as i64).rem_euclid(7))
}

fn last_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).map(|f| f - Duration::days(1))
}

/// The first day of the next occurrence of `month` (this month included).
fn month_start(base: NaiveDate, month: u32) -> Option<NaiveDate> {
    let year = if month < base.month() { base.year() + 1 } else { base.year() };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The first (`last` false) or last `wd` of the month of `first`.
fn nth_weekday(first: NaiveDate, wd: Weekday, last: bool) -> Option<NaiveDate> {
    if last {
        let end = last_of_month(first)?;
        let back = (7 + end.weekday().num_days_from_monday() as i64 - wd.num_days_from_monday() as i64) % 7;
        Some(end - Duration::days(back))
    } else {
        let ahead = (7 + wd.num_days_from_monday() as i64 - first.weekday().num_days_from_monday() as i64) % 7;
        Some(first + Duration::days(ahead))
    }
}

/// A day and month without year: its next occurrence from `base` (today
/// included) — unless it is less than two months past, where people mean
/// the past date ("payé le 1er octobre" written on 8 October).
fn next_day_month(base: NaiveDate, day: u32, month: u32) -> Option<NaiveDate> {
    let this = NaiveDate::from_ymd_opt(base.year(), month, day)?;
    if this >= base || (base - this).num_days() <= 60 {
        Some(this)
    } else {
        NaiveDate::from_ymd_opt(base.year() + 1, month, day)
    }
}

/// A day of month alone: this month if still ahead, else next month (the
/// month after when next month has no such day).
fn next_day(base: NaiveDate, day: u32) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?;
    (0..3).find_map(|k| {
        let m = first.checked_add_months(Months::new(k))?;
        NaiveDate::from_ymd_opt(m.year(), m.month(), day).filter(|d| *d >= base)
    })
}

/// That day of next month.
fn day_next_month(base: NaiveDate, day: u32) -> Option<NaiveDate> {
    let m = NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?.checked_add_months(Months::new(1))?;
    NaiveDate::from_ymd_opt(m.year(), m.month(), day)
}

/// `n` working days (Monday to Friday) after `base`.
fn working_days(base: NaiveDate, n: i64) -> NaiveDate {
    let mut d = base;
    let mut left = n;
    while left > 0 {
        d += Duration::days(1);
        if d.weekday().num_days_from_monday() < 5 {
            left -= 1;
        }
    }
    d
}

/// A numeric date `a/b[/year]` and the other reading when both are valid
/// and the language does not decide: French is dd/mm; English takes the
/// valid reading, else the one ahead of the message date, else the nearer
/// (US mm/dd and UK dd/mm writers both mean a date close to when they
/// write), else mm/dd.
fn numeric(
    base: NaiveDate,
    a: u32,
    b: u32,
    year: Option<i32>,
    lang: Language,
) -> Option<(NaiveDate, Option<NaiveDate>)> {
    let read = |day: u32, month: u32| match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => next_day_month(base, day, month),
    };
    let (dm, md) = (read(a, b), read(b, a));
    match (lang, dm, md) {
        (Language::Fr, Some(d), _) => Some((d, None)),
        (_, Some(d), None) | (_, None, Some(d)) => Some((d, None)),
        (_, Some(d), Some(m)) if d == m => Some((d, None)),
        (_, Some(d), Some(m)) => {
            // The future reading first, then the nearer.
            let far = |x: NaiveDate| ((x < base), (x - base).num_days().abs());
            if far(d) < far(m) { Some((d, Some(m))) } else { Some((m, Some(d))) }
        }
        _ => None,
    }
}

/// Words that, after a number, say it counts something rather than
/// naming a day ("le 2 factures", "the 3rd reminder", "le 15 %").
fn counts_something(after: &str) -> bool {
    const UNITS: &[&str] = &[
        "jour",
        "day",
        "mois",
        "month",
        "semaine",
        "week",
        "an",
        "ans",
        "year",
        "h",
        "heure",
        "hour",
        "min",
        "fois",
        "time",
        "facture",
        "invoice",
        "reminder",
        "relance",
        "rappel",
        "email",
        "e-mail",
        "mail",
        "euro",
        "eur",
        "k",
        "x",
        "piece",
        "article",
        "unit",
        "item",
        "trimestre",
        "quarter",
        "semestre",
        "etage",
        "floor",
        "party",
        "attempt",
        "tentative",
        "letter",
        "lettre",
        "request",
        "demande",
        "instalment",
        "installment",
        "tranche",
        "echeance",
        "payment",
        "paiement",
        "versement",
        "avis",
        "notice",
        "page",
        "ligne",
        "line",
        "dollar",
        "pound",
        "livre",
        "percent",
        "pourcent",
        "client",
        "customer",
        "personne",
        "people",
        "person",
    ];
    let rest = after.trim_start();
    let b = rest.as_bytes();
    if rest.starts_with(['%', '€', '$', '£'])
        || b.first().is_some_and(u8::is_ascii_digit)
        || (matches!(b.first(), Some(b',' | b'.')) && b.get(1).is_some_and(u8::is_ascii_digit))
    {
        return true;
    }
    let word: &str = rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '-').next().unwrap_or("");
    let word = word.strip_suffix('s').unwrap_or(word);
    if UNITS.contains(&word) {
        return true;
    }
    // "the 3 of us": "of" names a day only before a month.
    if word == "of" {
        let next = rest[2..].trim_start();
        let next_word = next.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        return !(month(next_word).is_some() || matches!(next_word, "the" | "this" | "next" | "each" | "every"));
    }
    false
}

struct Candidate {
    start: usize,
    end: usize,
    date: NaiveDate,
    /// The other reading of an ambiguous numeric date.
    alt: Option<NaiveDate>,
    /// A bare weekday, which an adjacent explicit date overrides.
    weekday: Option<Weekday>,
}

fn re(pattern: &str) -> Regex {
    let p = pattern.replace("MONTH", MONTH_RE).replace("WEEKDAY", WEEKDAY_RE).replace("ORD", ORD);
    #[allow(clippy::unwrap_used)] // the patterns are constants, checked by every test
    Regex::new(&p.replace(r"\b", r"(?-u:\b)")).unwrap()
}

type Rule = fn(&Captures, &str, NaiveDate, Language) -> Option<Candidate>;

fn span(c: &Captures) -> (usize, usize) {
    c.get(0).map_or((0, 0), |m| (m.start(), m.end()))
}

fn at(c: &Captures, date: Option<NaiveDate>) -> Option<Candidate> {
    let (start, end) = span(c);
    Some(Candidate { start, end, date: date?, alt: None, weekday: None })
}

fn group<'t>(c: &Captures<'t>, i: usize) -> &'t str {
    c.get(i).map_or("", |m| m.as_str())
}

fn year_of(c: &Captures, i: usize) -> Option<i32> {
    c.get(i).and_then(|m| m.as_str().parse::<i32>().ok()).map(|y| if y < 100 { 2000 + y } else { y })
}

fn iso(c: &Captures, _: &str, _: NaiveDate, _: Language) -> Option<Candidate> {
    let (y, m, d) = (group(c, 1).parse().ok()?, group(c, 2).parse().ok()?, group(c, 3).parse().ok()?);
    at(c, NaiveDate::from_ymd_opt(y, m, d))
}

fn numeric_date(c: &Captures, text: &str, base: NaiveDate, lang: Language) -> Option<Candidate> {
    let (start, end) = span(c);
    let bytes = text.as_bytes();
    // Part of a reference ("fac/26/1187", "12/04/2026/3") or a wider number.
    let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
    if matches!(before, Some(b'/' | b'-' | b'.')) {
        return None;
    }
    if let (Some(b'/' | b'.' | b'-'), Some(d)) = (bytes.get(end), bytes.get(end + 1))
        && d.is_ascii_digit()
    {
        return None;
    }
    let (a, b): (u32, u32) = (group(c, 1).parse().ok()?, group(c, 2).parse().ok()?);
    let year = year_of(c, 3);
    if year.is_none() {
        // Not a date: "24/7", "50/50", common fractions without a preposition.
        if (a, b) == (24, 7) || (a, b) == (7, 7) {
            return None;
        }
        let fraction = matches!((a, b), (1, 2) | (1, 3) | (2, 3) | (1, 4) | (3, 4));
        let prep = text[..start].split_whitespace().next_back().unwrap_or("");
        if fraction
            && !matches!(prep, "on" | "by" | "le" | "the" | "au" | "du" | "until" | "before" | "avant" | "for" | "pour")
        {
            return None;
        }
    }
    let (date, alt) = numeric(base, a, b, year, lang)?;
    Some(Candidate { start, end, date, alt, weekday: None })
}

fn day_month(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let d = day_number(group(c, 1))?;
    let m = month(group(c, 2))?;
    at(
        c,
        match year_of(c, 3) {
            Some(y) => NaiveDate::from_ymd_opt(y, m, d),
            None => next_day_month(base, d, m),
        },
    )
}

fn month_day(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let m = month(group(c, 1))?;
    let d = day_number(group(c, 2))?;
    at(
        c,
        match year_of(c, 3) {
            Some(y) => NaiveDate::from_ymd_opt(y, m, d),
            None => next_day_month(base, d, m),
        },
    )
}

fn day_of_next_month(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    at(c, day_next_month(base, day_number(group(c, 1))?))
}

fn day_alone(c: &Captures, text: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let (_, end) = span(c);
    if counts_something(&text[end..]) {
        return None;
    }
    at(c, next_day(base, day_number(group(c, 1))?))
}

fn weekday_day(c: &Captures, text: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let (_, end) = span(c);
    let wd = weekday(group(c, 1))?;
    let day = day_number(group(c, 2))?;
    let after = &text.as_bytes()[end..];
    let time_or_numeric = matches!(after.first(), Some(b'/' | b':' | b'h'))
        || (after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_digit));
    if c.get(3).is_none() && (counts_something(&text[end..]) || time_or_numeric) {
        return None;
    }
    let date = match (c.get(3).and_then(|m| month(m.as_str())), year_of(c, 4)) {
        (Some(m), Some(y)) => NaiveDate::from_ymd_opt(y, m, day),
        (Some(m), None) => next_day_month(base, day, m),
        // The day number wins; the weekday picks the month when it is near.
        _ => {
            let first = NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?;
            (0..3)
                .filter_map(|k| {
                    let m = first.checked_add_months(Months::new(k))?;
                    NaiveDate::from_ymd_opt(m.year(), m.month(), day).filter(|d| *d >= base)
                })
                .find(|d| d.weekday() == wd)
                .or_else(|| next_day(base, day))
        }
    };
    at(c, date)
}

fn weekday_phrase(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let before = group(c, 1);
    let wd = weekday(group(c, 2))?;
    let after = group(c, 4);
    let date = match after {
        "dernier" | "passe" | "last" => previous_weekday(base, wd),
        "en huit" | "week" => next_weekday(base, wd) + Duration::days(7),
        "en quinze" => next_weekday(base, wd) + Duration::days(14),
        "de la semaine prochaine" | "next week" | "of next week" => weekday_next_week(base, wd),
        _ if matches!(before, "last" | "since" | "depuis") => previous_weekday(base, wd),
        _ if before.starts_with("a week") => next_weekday(base, wd) + Duration::days(7),
        _ => next_weekday(base, wd),
    };
    let mut cand = at(c, Some(date))?;
    if before.is_empty() && after.is_empty() && group(c, 3).is_empty() {
        cand.weekday = Some(wd);
    }
    Some(cand)
}

fn next_week_weekday(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    at(c, Some(weekday_next_week(base, weekday(group(c, 1))?)))
}

fn nth_weekday_of(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let last = matches!(group(c, 1), "last" | "dernier");
    let wd = weekday(group(c, 2))?;
    let date = match c.get(3).and_then(|m| month(m.as_str())) {
        Some(m) => nth_weekday(month_start(base, m)?, wd, last),
        None => {
            let this = nth_weekday(NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?, wd, last)?;
            if this >= base {
                Some(this)
            } else {
                nth_weekday(
                    NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?.checked_add_months(Months::new(1))?,
                    wd,
                    last,
                )
            }
        }
    };
    at(c, date)
}

fn week_of_month(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let last = matches!(group(c, 1), "last" | "derniere");
    let which = group(c, 2);
    let first = match month(which) {
        Some(m) => month_start(base, m)?,
        None if which.contains("next") || which.contains("prochain") => {
            NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?.checked_add_months(Months::new(1))?
        }
        None => NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?,
    };
    at(c, nth_weekday(first, Weekday::Fri, last))
}

fn end_of_named_month(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    at(c, last_of_month(month_start(base, month(group(c, 1))?)?))
}

fn mid_named_month(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    at(c, next_day_month(base, 15, month(group(c, 1))?))
}

fn in_duration(c: &Captures, _: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let n = number(group(c, 1))?;
    let unit = group(c, 2);
    let date = if unit.contains("ouvr") || unit.contains("business") || unit.contains("working") {
        Some(working_days(base, n))
    } else if unit.starts_with("sem") || unit.starts_with("week") {
        Some(base + Duration::days(n * 7))
    } else if unit.starts_with("mois") || unit.starts_with("month") {
        base.checked_add_months(Months::new(u32::try_from(n).ok()?))
    } else if unit.starts_with('h') {
        Some(base + Duration::days((n + 23) / 24))
    } else {
        Some(base + Duration::days(n))
    };
    at(c, date)
}

fn fixed(c: &Captures, text: &str, base: NaiveDate, _: Language) -> Option<Candidate> {
    let w = group(c, 1);
    let (_, end) = span(c);
    // "this week's meeting" names no deadline ("tomorrow's check run" does).
    if text[end..].starts_with("'s") && (w.contains("week") || w.contains("month")) {
        return None;
    }
    let date = match w {
        "apres-demain" | "apres demain" | "day after tomorrow" => base + Duration::days(2),
        "demain" | "tomorrow" | "tmrw" | "tomorow" | "tommorow" => base + Duration::days(1),
        "sous huitaine" => base + Duration::days(8),
        "sous quinzaine" => base + Duration::days(15),
        "a fortnight" | "the next fortnight" => base + Duration::days(14),
        w if w.starts_with("mi") => next_day(base, 15)?,
        w if w.contains("prochaine") || w.contains("next week") => end_of_week(base) + Duration::days(7),
        w if w.contains("next month") || w.contains("prochain") || w.contains("suivant") || w.contains("following") => {
            last_of_month(base.checked_add_months(Months::new(1))?)?
        }
        w if w.contains("semaine") || w.contains("week") => end_of_week(base),
        w if w.contains("mois") || w.contains("month") || w == "eom" => last_of_month(base)?,
        _ => base,
    };
    at(c, Some(date))
}

static RULES: LazyLock<Vec<(Regex, Rule)>> = LazyLock::new(|| {
    let rules: &[(&str, Rule)] = &[
        (r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", iso),
        (r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b", numeric_date),
        (r"\b(\d{1,2})/(\d{1,2})\b", numeric_date),
        (r"\b(1er|premier|\d{1,2})ORD\s+(?:of\s+|de\s+)?(MONTH)\b\.?(?:,?\s+(\d{4})\b)?", day_month),
        (r"\b(MONTH)\.?\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?", month_day),
        (
            r"\b(1er|premier|\d{1,2})ORD\s+(?:du mois prochain|du mois suivant|of next month|next month|of the following month|of the next month)\b",
            day_of_next_month,
        ),
        (
            r"\b(?:le|the|au|du)\s+(1er|premier|\d{1,2})ORD\b(?:\s+(?:du mois|de ce mois|de chaque mois|de tous les mois|of the month|of this month|of each month|of every month|each month|every month))?",
            day_alone,
        ),
        (
            r"\b(\d{1,2})(?:st|nd|rd|th)\b(?:\s+(?:of the month|of this month|of each month|of every month|each month|every month))?",
            day_alone,
        ),
        (r"\b(1er)\b", day_alone),
        (
            r"\b(?:(?:ce|this|next|coming|le|on)\s+)?(WEEKDAY)s?\.?,?\s+(?:the\s+|le\s+)?(1er|\d{1,2})ORD\b(?:\s+(?:of\s+|de\s+)?(MONTH)\b\.?)?(?:,?\s+(\d{4})\b)?",
            weekday_day,
        ),
        (
            r"\b(?:(a week on|a week|last|since|depuis|this coming|this|ce|next|coming|every|each|chaque|tous les)\s+)?(WEEKDAY)(s)?\b(?:\s+(dernier|passe|last|en huit|en quinze|de la semaine prochaine|of next week|next week|week)\b)?",
            weekday_phrase,
        ),
        (r"\b(?:next week|la semaine prochaine)\s*,?\s*(?:on\s+|le\s+)?(WEEKDAY)\b", next_week_weekday),
        (
            r"\b(first|1st|premier|last|dernier)\s+(WEEKDAY)\s+(?:of the month|of each month|of every month|of this month|du mois|de chaque mois|de ce mois|of\s+(MONTH)|de\s+(MONTH)|d'(MONTH))\b",
            nth_weekday_of,
        ),
        (
            r"\b(first|1st|premiere|last|derniere)\s+(?:week|semaine)\s+(?:of|de|d')\s*(?:the\s+)?(MONTH|month|this month|next month|mois|ce mois|mois prochain)\b",
            week_of_month,
        ),
        (r"\b(?:fin|end of|the end of|fin du mois de|fin de)\s+(MONTH)\b", end_of_named_month),
        (r"\b(?:mi|mid)[- ]?(MONTH)\b", mid_named_month),
        (r"\b(?:milieu de|milieu du mois de|middle of|the middle of)\s+(MONTH)\b", mid_named_month),
        (
            r"\b(?:sous|d'ici|dans|within|in|under|en|d ici)\s+(?:the\s+next\s+|the\s+coming\s+|les\s+|the\s+|next\s+|un delai de\s+)?(\d{1,3}|[a-z]+)\s*(jours? ouvres|jours? ouvrables|business days?|working days?|jours?|days?|semaines?|weeks?|mois|months?|heures?|hours?|hrs?|h)\b",
            in_duration,
        ),
        (
            r"\b(apres-demain|apres demain|day after tomorrow|aujourd'hui|aujourd hui|today|tonight|tonite|this evening|this afternoon|ce soir|cet apres-midi|end of day|end of today|close of business|eod|cob|demain|tomorrow|tmrw|tomorow|tommorow|fin (?:de |de la |du )?semaine prochaine|end of next week|end of the next week|fin (?:du |de )?mois prochain|fin du mois suivant|end of next month|end of the next month|end of the following month|fin du mois|fin de mois|fin de ce mois|end of the month|end of this month|end of month|month-end|month end|eom|mi-mois|mi mois|mid-month|mid month|milieu du mois|middle of the month|fin de semaine|fin de la semaine|fin de cette semaine|end of the week|end of this week|end of week|this week|cette semaine|before the weekend|by the weekend|before the week-end|avant le week-end|avant le weekend|d'ici le week-end|d'ici le weekend|sous huitaine|sous quinzaine|a fortnight|the next fortnight)\b",
            fixed,
        ),
    ];
    rules.iter().map(|(p, f)| (re(p), *f)).collect()
});

/// All dates in `text` (lower-case, accents removed), in order of
/// appearance. Where two readings overlap, the longer one wins ("jeudi 26"
/// over "jeudi", "fin du mois de mars" over "fin du mois"); a bare
/// weekday right before an explicit date gives way to it ("Friday (5
/// June)"), and picks the reading of an ambiguous numeric one ("Thu 12/3").
pub fn find_dates(text: &str, base: NaiveDate, lang: Language) -> Vec<FoundDate> {
    let mut found: Vec<Candidate> = Vec::new();
    for (pattern, rule) in RULES.iter() {
        // Most patterns do not occur: `is_match` says so for less than a search with captures.
        if !pattern.is_match(text) {
            continue;
        }
        for c in pattern.captures_iter(text) {
            if let Some(x) = rule(&c, text, base, lang) {
                found.push(x);
            }
        }
    }
    found.sort_by_key(|c| (std::cmp::Reverse(c.end - c.start), c.start));
    let mut kept: Vec<Candidate> = Vec::with_capacity(found.len());
    for c in found {
        if !kept.iter().any(|k| k.start < c.end && c.start < k.end) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.start);
    let mut out = Vec::with_capacity(kept.len());
    for i in 0..kept.len() {
        if let Some(wd) = kept[i].weekday
            && i + 1 < kept.len()
            && kept[i + 1].weekday.is_none()
            && matches!(
                text.get(kept[i].end..kept[i + 1].start).unwrap_or("x").trim_matches(|c: char| " ,.(-".contains(c)),
                "" | "le" | "the" | "on" | "on the"
            )
        {
            let next = &mut kept[i + 1];
            if let Some(alt) = next.alt
                && next.date.weekday() != wd
                && alt.weekday() == wd
            {
                next.alt = Some(next.date);
                next.date = alt;
            }
            continue;
        }
        let c = &kept[i];
        out.push(FoundDate { date: c.date, at: c.start, end: c.end, text: text[c.start..c.end].to_string() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, lang: Language) -> Option<NaiveDate> {
        // Thursday 8 October 2026
        let base = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();
        find_dates(text, base, lang).first().map(|f| f.date)
    }

    fn d(m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, m, day)
    }

    #[test]
    fn french_expressions() {
        let fr = Language::Fr;
        assert_eq!(one("nous procederons au virement le 20 octobre", fr), d(10, 20));
        assert_eq!(one("paiement lundi prochain", fr), d(10, 12));
        assert_eq!(one("reglee au 31/10/2026 par lcr", fr), d(10, 31));
        assert_eq!(one("le reglement partira en fin de mois", fr), d(10, 31));
        assert_eq!(one("vous aurez le paiement d'ici 10 jours", fr), d(10, 18));
        assert_eq!(one("je vous fais le virement apres-demain", fr), d(10, 10));
        assert_eq!(one("payees ensemble le 15 novembre prochain", fr), d(11, 15));
        assert_eq!(one("vendredi", fr), d(10, 9));
        assert_eq!(one("sous 8 jours", fr), d(10, 16));
        assert_eq!(one("d'ici le 15", fr), d(10, 15));
        assert_eq!(one("d'ici le 5", fr), d(11, 5));
        assert_eq!(one("le 04/12/2026", fr), d(12, 4));
        assert_eq!(one("15 decembre", fr), d(12, 15));
        assert_eq!(one("en fin de semaine", fr), d(10, 9));
        assert_eq!(one("sous quinzaine", fr), d(10, 23));
        assert_eq!(one("demain", fr), d(10, 9));
    }

    #[test]
    fn english_expressions() {
        let en = Language::En;
        assert_eq!(one("payment is booked for october 16", en), d(10, 16));
        assert_eq!(one("we'll settle the balance next wednesday", en), d(10, 14));
        assert_eq!(one("paying it today", en), d(10, 8));
        assert_eq!(one("our payment run is on the 23rd", en), d(10, 23));
        assert_eq!(one("this will be paid within the next two weeks", en), d(10, 22));
        assert_eq!(one("by 11/25/2026", en), d(11, 25));
        assert_eq!(one("end of the month", en), d(10, 31));
        assert_eq!(one("in 3 days", en), d(10, 11));
        assert_eq!(one("on 2 november", en), d(11, 2));
        assert_eq!(one("tomorrow", en), d(10, 9));
    }

    fn all(text: &str, lang: Language) -> Vec<NaiveDate> {
        let base = NaiveDate::from_ymd_opt(2026, 10, 8).unwrap();
        find_dates(text, base, lang).into_iter().map(|f| f.date).collect()
    }

    #[test]
    fn weeks_and_weekdays() {
        // Thursday 8 October 2026.
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(one("on paiera le mardi de la semaine prochaine", fr), d(10, 13));
        assert_eq!(one("we pay on friday next week", en), d(10, 16));
        assert_eq!(one("next week, on monday, the transfer goes", en), d(10, 12));
        assert_eq!(one("je vous paie vendredi en huit", fr), d(10, 16));
        assert_eq!(one("mardi en quinze", fr), d(10, 27));
        assert_eq!(one("you'll have it friday week", en), d(10, 16));
        assert_eq!(one("ce vendredi sans faute", fr), d(10, 9));
        assert_eq!(one("this friday", en), d(10, 9));
        assert_eq!(one("will do thurs", en), d(10, 15));
        assert_eq!(one("le virement part jeudi 15", fr), d(10, 15));
        assert_eq!(one("we'll send it tuesday the 13th", en), d(10, 13));
        // The day number wins, in the month where it is that weekday.
        assert_eq!(one("lundi 2", fr), d(11, 2));
        assert_eq!(one("friday (16 october)", en), d(10, 16));
        assert_eq!(one("vendredi dernier", fr), d(10, 2));
        assert_eq!(one("depuis lundi", fr), d(10, 5));
        assert_eq!(one("our ap runs are tuesdays", en), d(10, 13));
        assert_eq!(one("nous reglons tous les vendredis", fr), d(10, 9));
        assert_eq!(one("we pay on the last friday of the month", en), d(10, 30));
        assert_eq!(one("le premier lundi de novembre", fr), d(11, 2));
        // "Next week" alone is too vague.
        assert_eq!(one("we'll pay next week", en), None);
        assert_eq!(one("la semaine prochaine", fr), None);
    }

    #[test]
    fn periods() {
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(one("a la fin de la semaine prochaine", fr), d(10, 16));
        assert_eq!(one("by the end of next week", en), d(10, 16));
        assert_eq!(one("the earliest is the end of next month", en), d(11, 30));
        assert_eq!(one("reglement fin du mois prochain", fr), d(11, 30));
        assert_eq!(one("will pay eom", en), d(10, 31));
        assert_eq!(one("reglement fin fevrier", fr), NaiveDate::from_ymd_opt(2027, 2, 28));
        assert_eq!(one("paid by the end of november", en), d(11, 30));
        assert_eq!(one("vers la mi-novembre", fr), d(11, 15));
        assert_eq!(one("mid-month", en), d(10, 15));
        assert_eq!(one("mid december", en), d(12, 15));
        assert_eq!(one("the first week of november", en), d(11, 6));
        assert_eq!(one("la derniere semaine de novembre", fr), d(11, 27));
        assert_eq!(one("before the weekend", en), d(10, 9));
        assert_eq!(one("sous 48h", fr), d(10, 10));
        assert_eq!(one("within 5 working days", en), d(10, 15));
        assert_eq!(one("dans 3 jours ouvres", fr), d(10, 13));
        assert_eq!(one("in a fortnight", en), d(10, 22));
        assert_eq!(one("tonight", en), d(10, 8));
        assert_eq!(one("we will pay by end of week", en), d(10, 9));
        assert_eq!(one("ce soir", fr), d(10, 8));
        // "this week's meeting" is no deadline; "tomorrow's run" is.
        assert_eq!(one("approved in this week's meeting", en), None);
        assert_eq!(one("add it to tomorrow's check run", en), d(10, 9));
    }

    #[test]
    fn days_of_month() {
        let (fr, en) = (Language::Fr, Language::En);
        assert_eq!(one("it's scheduled for the 31st", en), d(10, 31));
        assert_eq!(one("le 1er", fr), d(11, 1));
        assert_eq!(one("avant le 12", fr), d(10, 12));
        assert_eq!(one("no later than the 5th", en), d(11, 5));
        assert_eq!(one("on the 5th of next month", en), d(11, 5));
        assert_eq!(one("le 20 du mois prochain", fr), d(11, 20));
        assert_eq!(one("nos virements partent le 10 de chaque mois", fr), d(10, 10));
        assert_eq!(one("nos virements partent le 5 de chaque mois", fr), d(11, 5));
        assert_eq!(one("each month on the 15th", en), d(10, 15));
        assert_eq!(one("execution differee au 13", fr), d(10, 13));
        assert_eq!(one("dans notre virement du 30", fr), d(10, 30));
        assert_eq!(one("on the 31st of october", en), d(10, 31));
        assert_eq!(all("le 5 et le 20", fr), vec![d(11, 5).unwrap(), d(10, 20).unwrap()]);
        // Numbers that count something are no days.
        assert_eq!(one("this is the 3rd reminder", en), None);
        assert_eq!(one("le 2 factures", fr), None);
        assert_eq!(one("le 15 % restant", fr), None);
        assert_eq!(one("the 3 of us", en), None);
    }

    #[test]
    fn numeric_dates() {
        let (fr, en) = (Language::Fr, Language::En);
        // French: dd/mm.
        assert_eq!(one("reglement le 04/11", fr), d(11, 4));
        assert_eq!(one("reglement le 12/10/2026", fr), d(10, 12));
        // English: the valid reading, else the one ahead, else the nearer.
        assert_eq!(one("payment will be made 19/10", en), d(10, 19));
        assert_eq!(one("going out on 10/19", en), d(10, 19));
        assert_eq!(one("released on or before 12/10/2026", en), d(10, 12));
        assert_eq!(one("paid 11/2/2026", en), d(11, 2));
        assert_eq!(one("we'll pay on 10/12", en), d(10, 12));
        // A weekday decides between the readings: Thursday 5 November.
        assert_eq!(one("thu 5/11", en), d(11, 5));
        assert_eq!(one("thu 11/5", en), d(11, 5));
        // Not dates.
        assert_eq!(one("support 24/7", en), None);
        assert_eq!(one("facture fac/26/1187", fr), None);
        assert_eq!(one("we'll pay 1/2 now", en), None);
    }
}
