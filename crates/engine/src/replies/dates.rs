//! Dates promised in French and English text, resolved against the message
//! date (in the message's own UTC offset):
//! absolute (`20 octobre`, `October 16`, `31/10/2026` — dd/mm in French,
//! mm/dd in English —, `2026-10-31`), relative (`aujourd'hui`, `demain`,
//! `après-demain`, `today`, `tomorrow`), weekdays (`vendredi`, `lundi
//! prochain`, `next Wednesday`: the next occurrence after the message date),
//! day of month (`le 15`, `the 23rd`: this month if still ahead, else next),
//! periods (`fin du mois`, `end of the month`, `fin de semaine`, `sous 8
//! jours`, `d'ici 10 jours`, `within two weeks`, `sous huitaine`, `sous
//! quinzaine`).

use std::sync::LazyLock;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use regex::Regex;

use relance_domain::Language;

/// A date found in a text, with where it starts (to prefer the first promise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDate {
    pub date: NaiveDate,
    pub at: usize,
    pub text: String,
}

const MONTHS: &[(&str, u32)] = &[
    ("janvier", 1),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("mai", 5),
    ("juin", 6),
    ("juillet", 7),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("decembre", 12),
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("janv", 1),
    ("fevr", 2),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
];

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("lundi", Weekday::Mon),
    ("mardi", Weekday::Tue),
    ("mercredi", Weekday::Wed),
    ("jeudi", Weekday::Thu),
    ("vendredi", Weekday::Fri),
    ("samedi", Weekday::Sat),
    ("dimanche", Weekday::Sun),
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

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

fn month(name: &str) -> Option<u32> {
    MONTHS.iter().find(|(m, _)| *m == name).map(|(_, n)| *n)
}

fn number(word: &str) -> Option<i64> {
    word.parse().ok().or_else(|| NUMBERS.iter().find(|(w, _)| *w == word).map(|(_, n)| *n))
}

/// The next `wd` strictly after `from`.
fn next_weekday(from: NaiveDate, wd: Weekday) -> NaiveDate {
    let ahead = (7 + wd.num_days_from_monday() as i64 - from.weekday().num_days_from_monday() as i64) % 7;
    from + Duration::days(if ahead == 0 { 7 } else { ahead })
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).map_or(d, |f| f - Duration::days(1))
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

/// A day of month alone: this month if still ahead, else next month.
fn next_day(base: NaiveDate, day: u32) -> Option<NaiveDate> {
    match NaiveDate::from_ymd_opt(base.year(), base.month(), day) {
        Some(d) if d >= base => Some(d),
        _ => {
            let (y, m) = if base.month() == 12 { (base.year() + 1, 1) } else { (base.year(), base.month() + 1) };
            NaiveDate::from_ymd_opt(y, m, day)
        }
    }
}

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b").unwrap());
static ISO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})\b").unwrap());
static DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})(?:er|st|nd|rd|th)?\s+(janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|january|february|march|april|may|june|july|august|september|october|november|december|janv|fevr|sept|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)\.?(?:\s+(\d{4}))?\b").unwrap()
});
static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?").unwrap()
});
static DAY_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:le|the|on the|au|du)\s+(\d{1,2})(?:er|st|nd|rd|th)?\b(?:\s+(?:du mois|of the month|of this month))?",
    )
    .unwrap()
});
static WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b").unwrap()
});
static IN_DAYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:sous|d'ici|dans|within|in|d ici|under)\s+(?:the\s+next\s+|les\s+|the\s+|next\s+)?(\d{1,3}|[a-z]+)\s+(jours?|days?|semaines?|weeks?)\b").unwrap()
});
static RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(apres-demain|apres demain|day after tomorrow|aujourd'hui|aujourd hui|today|demain|tomorrow|fin du mois|fin de mois|fin de ce mois|end of the month|end of this month|end of month|month-end|month end|fin de semaine|fin de la semaine|end of the week|end of this week|sous huitaine|sous quinzaine|cette semaine|this week)\b").unwrap()
});

/// All dates in `text` (lower-case, accents removed), in order of appearance.
pub fn find_dates(text: &str, base: NaiveDate, lang: Language) -> Vec<FoundDate> {
    let mut out: Vec<FoundDate> = Vec::new();
    fn push(out: &mut Vec<FoundDate>, at: usize, date: Option<NaiveDate>, t: &str) {
        if let Some(date) = date
            && !out.iter().any(|f| f.at == at)
        {
            out.push(FoundDate { date, at, text: t.to_string() });
        }
    }
    for c in ISO.captures_iter(text) {
        let (y, m, d) = (c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        push(&mut out, c.get(0).map_or(0, |m| m.start()), NaiveDate::from_ymd_opt(y, m, d), &c[0]);
    }
    for c in NUMERIC.captures_iter(text) {
        let (a, b): (u32, u32) = (c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0));
        let y: i32 = c[3].parse().unwrap_or(0);
        let y = if y < 100 { 2000 + y } else { y };
        let (d, m) = match lang {
            Language::En if a <= 12 => (b, a),
            _ => (a, b),
        };
        push(&mut out, c.get(0).map_or(0, |m| m.start()), NaiveDate::from_ymd_opt(y, m, d), &c[0]);
    }
    for c in DAY_MONTH.captures_iter(text) {
        let d = c[1].parse().unwrap_or(0);
        let m = month(&c[2]).unwrap_or(0);
        let date = match c.get(3) {
            Some(y) => NaiveDate::from_ymd_opt(y.as_str().parse().unwrap_or(0), m, d),
            None => next_day_month(base, d, m),
        };
        push(&mut out, c.get(0).map_or(0, |m| m.start()), date, &c[0]);
    }
    for c in MONTH_DAY.captures_iter(text) {
        let m = month(&c[1]).unwrap_or(0);
        let d = c[2].parse().unwrap_or(0);
        let date = match c.get(3) {
            Some(y) => NaiveDate::from_ymd_opt(y.as_str().parse().unwrap_or(0), m, d),
            None => next_day_month(base, d, m),
        };
        push(&mut out, c.get(0).map_or(0, |m| m.start()), date, &c[0]);
    }
    for c in WEEKDAY.captures_iter(text) {
        let wd = WEEKDAYS.iter().find(|(w, _)| *w == &c[1]).map(|(_, w)| *w).unwrap_or(Weekday::Mon);
        let start = c.get(0).map_or(0, |m| m.start());
        // "lundi 19 octobre": the explicit date wins (found above at a nearby position).
        if out.iter().any(|f| f.at > start && f.at <= start + 12) {
            continue;
        }
        push(&mut out, start, Some(next_weekday(base, wd)), &c[0]);
    }
    for c in IN_DAYS.captures_iter(text) {
        let Some(n) = number(&c[1]) else { continue };
        let days = if c[2].starts_with("sem") || c[2].starts_with("week") { n * 7 } else { n };
        push(&mut out, c.get(0).map_or(0, |m| m.start()), Some(base + Duration::days(days)), &c[0]);
    }
    for c in RELATIVE.captures_iter(text) {
        let w = &c[1];
        let date = match w {
            "apres-demain" | "apres demain" | "day after tomorrow" => base + Duration::days(2),
            "aujourd'hui" | "aujourd hui" | "today" => base,
            "demain" | "tomorrow" => base + Duration::days(1),
            "sous huitaine" => base + Duration::days(8),
            "sous quinzaine" => base + Duration::days(15),
            w if w.contains("semaine") || w.contains("week") => {
                let to_friday = (4 - base.weekday().num_days_from_monday() as i64).rem_euclid(7);
                base + Duration::days(to_friday)
            }
            _ => last_of_month(base),
        };
        push(&mut out, c.get(0).map_or(0, |m| m.start()), Some(date), w);
    }
    for c in DAY_ONLY.captures_iter(text) {
        let start = c.get(0).map_or(0, |m| m.start());
        let end = c.get(0).map_or(0, |m| m.end());
        // Part of a longer date already found ("le 20 octobre").
        if out.iter().any(|f| f.at >= start && f.at < end + 2)
            || out.iter().any(|f| f.at <= start && f.at + f.text.len() >= end)
        {
            continue;
        }
        let d: u32 = c[1].parse().unwrap_or(0);
        if (1..=31).contains(&d) {
            push(&mut out, start, next_day(base, d), &c[0]);
        }
    }
    out.sort_by_key(|f| f.at);
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
}
