//! Business days: weekends and public holidays, and sending windows in the
//! tenant's time zone.
//!
//! Public holidays are computed for a tenant's country ([`HolidayCountry`]:
//! national holidays only, no regional ones), plus days off the tenant lists.
//! Easter-based days come from [`easter`] (Gregorian computus).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

/// Days on which reminders may be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    pub holidays: BTreeSet<NaiveDate>,
}

/// Easter Sunday (anonymous Gregorian algorithm).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default()
}

/// Countries whose public holidays are built in (`[dunning] country`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HolidayCountry {
    /// Metropolitan France (the default).
    #[default]
    Fr,
    /// Belgium.
    Be,
    /// Germany: the nine nationwide holidays (no Land holidays).
    De,
    /// Spain: the national holidays (no regional ones, no Sunday substitutes).
    Es,
    /// United Kingdom, England and Wales: bank holidays with substitute days.
    Gb,
    /// Italy.
    It,
    /// Luxembourg.
    Lu,
    /// Netherlands: the days of the Algemene termijnenwet.
    Nl,
    /// No public holiday: weekends only (and the tenant's extra days).
    None,
}

impl HolidayCountry {
    /// Every value, in the order of their codes.
    pub const ALL: [HolidayCountry; 9] = [
        HolidayCountry::Fr,
        HolidayCountry::Be,
        HolidayCountry::De,
        HolidayCountry::Es,
        HolidayCountry::Gb,
        HolidayCountry::It,
        HolidayCountry::Lu,
        HolidayCountry::Nl,
        HolidayCountry::None,
    ];

    /// The code written in tenant files (ISO 3166-1 alpha-2, or `none`).
    pub fn code(self) -> &'static str {
        match self {
            HolidayCountry::Fr => "FR",
            HolidayCountry::Be => "BE",
            HolidayCountry::De => "DE",
            HolidayCountry::Es => "ES",
            HolidayCountry::Gb => "GB",
            HolidayCountry::It => "IT",
            HolidayCountry::Lu => "LU",
            HolidayCountry::Nl => "NL",
            HolidayCountry::None => "none",
        }
    }

    /// Parses a code, case-insensitively (`UK` is taken for `GB`).
    pub fn parse(code: &str) -> Option<HolidayCountry> {
        let c = code.trim();
        if c.eq_ignore_ascii_case("uk") {
            return Some(HolidayCountry::Gb);
        }
        HolidayCountry::ALL.into_iter().find(|h| h.code().eq_ignore_ascii_case(c))
    }

    /// Public holidays of `year` (some may fall on a weekend).
    pub fn holidays(self, year: i32) -> Vec<NaiveDate> {
        match self {
            HolidayCountry::Fr => french_holidays(year),
            HolidayCountry::Be => belgian_holidays(year),
            HolidayCountry::De => german_holidays(year),
            HolidayCountry::Es => spanish_holidays(year),
            HolidayCountry::Gb => english_holidays(year),
            HolidayCountry::It => italian_holidays(year),
            HolidayCountry::Lu => luxembourg_holidays(year),
            HolidayCountry::Nl => dutch_holidays(year),
            HolidayCountry::None => Vec::new(),
        }
    }
}

fn ymd(year: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, m, day).unwrap_or_default()
}

/// The `n`-th (1-based) `weekday` of a month, or the last one when `n` is 0.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    if n == 0 {
        let next = if month == 12 { ymd(year + 1, 1, 1) } else { ymd(year, month + 1, 1) };
        let mut d = next - Duration::days(1);
        while d.weekday() != weekday {
            d -= Duration::days(1);
        }
        d
    } else {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).unwrap_or_default()
    }
}

/// Belgian public holidays.
pub fn belgian_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let e = easter(year);
    vec![
        d(1, 1),
        e + Duration::days(1), // Paasmaandag / lundi de Pâques
        d(5, 1),
        e + Duration::days(39), // Ascension
        e + Duration::days(50), // Pinkstermaandag / lundi de Pentecôte
        d(7, 21),               // fête nationale
        d(8, 15),
        d(11, 1),
        d(11, 11),
        d(12, 25),
    ]
}

/// German nationwide public holidays (Land holidays such as Epiphany or
/// Corpus Christi are not included).
pub fn german_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let e = easter(year);
    let mut out = vec![
        d(1, 1),
        e - Duration::days(2), // Karfreitag
        e + Duration::days(1), // Ostermontag
        d(5, 1),
        e + Duration::days(39), // Christi Himmelfahrt
        e + Duration::days(50), // Pfingstmontag
        d(10, 3),               // Tag der Deutschen Einheit
        d(12, 25),
        d(12, 26),
    ];
    if year == 2017 {
        out.push(d(10, 31)); // 500 years of the Reformation, nationwide that year
    }
    out
}

/// Spanish national holidays (the regions add and swap some).
pub fn spanish_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    vec![
        d(1, 1),
        d(1, 6),                          // Epifanía
        easter(year) - Duration::days(2), // Viernes Santo
        d(5, 1),
        d(8, 15),
        d(10, 12), // Fiesta Nacional
        d(11, 1),
        d(12, 6), // Día de la Constitución
        d(12, 8), // Inmaculada Concepción
        d(12, 25),
    ]
}

/// Bank holidays of England and Wales, with substitute days (a holiday on a
/// weekend moves to the next working day) and the one-off changes by
/// proclamation since 2000.
pub fn english_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let e = easter(year);
    let mut out = Vec::new();
    // New Year's Day, or the Monday after.
    let ny = d(1, 1);
    out.push(match ny.weekday() {
        Weekday::Sat => ny + Duration::days(2),
        Weekday::Sun => ny + Duration::days(1),
        _ => ny,
    });
    out.push(e - Duration::days(2)); // Good Friday
    out.push(e + Duration::days(1)); // Easter Monday
    // Early May: first Monday of May (moved to 8 May for VE Day in 1995 and 2020).
    out.push(match year {
        1995 | 2020 => d(5, 8),
        _ => nth_weekday(year, 5, Weekday::Mon, 1),
    });
    // Spring: last Monday of May (moved for the jubilees).
    out.push(match year {
        2002 | 2012 => d(6, 4),
        2022 => d(6, 2),
        _ => nth_weekday(year, 5, Weekday::Mon, 0),
    });
    out.push(nth_weekday(year, 8, Weekday::Mon, 0)); // Summer bank holiday
    // Christmas and Boxing Day, with substitutes.
    let christmas = d(12, 25);
    match christmas.weekday() {
        Weekday::Fri => out.extend([christmas, d(12, 28)]),
        Weekday::Sat => out.extend([d(12, 27), d(12, 28)]),
        Weekday::Sun => out.extend([d(12, 26), d(12, 27)]),
        _ => out.extend([christmas, d(12, 26)]),
    }
    // One-off bank holidays.
    out.extend(match year {
        1999 => vec![d(12, 31)],
        2002 => vec![d(6, 3)],
        2011 => vec![d(4, 29)],
        2012 => vec![d(6, 5)],
        2022 => vec![d(6, 3), d(9, 19)],
        2023 => vec![d(5, 8)],
        _ => Vec::new(),
    });
    out
}

/// Italian public holidays (4 October, St Francis, again from 2026).
pub fn italian_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let mut out = vec![
        d(1, 1),
        d(1, 6),                          // Epifania
        easter(year) + Duration::days(1), // Lunedì dell'Angelo
        d(4, 25),                         // Festa della Liberazione
        d(5, 1),
        d(6, 2), // Festa della Repubblica
        d(8, 15),
        d(11, 1),
        d(12, 8),
        d(12, 25),
        d(12, 26),
    ];
    if year >= 2026 {
        out.push(d(10, 4));
    }
    out
}

/// Luxembourg public holidays (Europe Day since 2019).
pub fn luxembourg_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let e = easter(year);
    let mut out = vec![
        d(1, 1),
        e + Duration::days(1),
        d(5, 1),
        e + Duration::days(39),
        e + Duration::days(50),
        d(6, 23), // fête nationale
        d(8, 15),
        d(11, 1),
        d(12, 25),
        d(12, 26),
    ];
    if year >= 2019 {
        out.push(d(5, 9)); // Journée de l'Europe
    }
    out
}

/// Dutch public holidays of the Algemene termijnenwet: King's Day on 27
/// April since 2014 (Queen's Day on 30 April before), the day before when it
/// falls on a Sunday; Liberation Day every year.
pub fn dutch_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| ymd(year, m, day);
    let e = easter(year);
    let royal = if year >= 2014 { d(4, 27) } else { d(4, 30) };
    let royal = if royal.weekday() == Weekday::Sun { royal - Duration::days(1) } else { royal };
    vec![
        d(1, 1),
        e + Duration::days(1), // Tweede Paasdag
        royal,
        d(5, 5),                // Bevrijdingsdag
        e + Duration::days(39), // Hemelvaartsdag
        e + Duration::days(50), // Tweede Pinksterdag
        d(12, 25),
        d(12, 26),
    ]
}

/// French public holidays (metropolitan France) of a year.
pub fn french_holidays(year: i32) -> Vec<NaiveDate> {
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day).unwrap_or_default();
    let e = easter(year);
    vec![
        d(1, 1),
        e + Duration::days(1), // lundi de Pâques
        d(5, 1),
        d(5, 8),
        e + Duration::days(39), // Ascension
        e + Duration::days(50), // lundi de Pentecôte
        d(7, 14),
        d(8, 15),
        d(11, 1),
        d(11, 11),
        d(12, 25),
    ]
}

impl Calendar {
    /// French holidays for the given years plus `extra` dates.
    pub fn french(years: std::ops::RangeInclusive<i32>, extra: &[NaiveDate]) -> Calendar {
        Calendar::for_country(HolidayCountry::Fr, years, extra)
    }

    /// The public holidays of `country` for the given years plus `extra` dates.
    pub fn for_country(country: HolidayCountry, years: std::ops::RangeInclusive<i32>, extra: &[NaiveDate]) -> Calendar {
        let mut holidays: BTreeSet<NaiveDate> = years.flat_map(|y| country.holidays(y)).collect();
        holidays.extend(extra.iter().copied());
        Calendar { holidays }
    }

    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// `d` itself when it is a business day, else the next one.
    pub fn next_business_day(&self, mut d: NaiveDate) -> NaiveDate {
        for _ in 0..31 {
            if self.is_business_day(d) {
                return d;
            }
            d += Duration::days(1);
        }
        d
    }
}

/// Hours during which messages may leave (local time of the tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendingWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for SendingWindow {
    fn default() -> Self {
        SendingWindow {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(17, 30, 0).unwrap_or_default(),
        }
    }
}

impl SendingWindow {
    pub fn contains(&self, t: NaiveTime) -> bool {
        t >= self.start && t < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_and_french_holidays() {
        assert_eq!(easter(2026), d(2026, 4, 5));
        assert_eq!(easter(2027), d(2027, 3, 28));
        let h = french_holidays(2026);
        assert!(h.contains(&d(2026, 4, 6)), "Easter Monday");
        assert!(h.contains(&d(2026, 5, 14)), "Ascension");
        assert!(h.contains(&d(2026, 5, 25)), "Whit Monday");
        assert!(h.contains(&d(2026, 11, 11)));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let c = Calendar::french(2026..=2027, &[d(2026, 12, 24)]);
        assert!(!c.is_business_day(d(2026, 11, 11)), "Armistice");
        assert!(!c.is_business_day(d(2026, 11, 28)), "Saturday");
        assert_eq!(c.next_business_day(d(2026, 11, 28)), d(2026, 11, 30));
        assert_eq!(c.next_business_day(d(2026, 12, 24)), d(2026, 12, 28), "24th configured, 25th holiday, weekend");
        let w = SendingWindow::default();
        assert!(w.contains(NaiveTime::from_hms_opt(9, 0, 0).unwrap()));
        assert!(!w.contains(NaiveTime::from_hms_opt(17, 30, 0).unwrap()));
    }

    #[test]
    fn easter_against_published_dates() {
        // Including the extremes of the Gregorian computus (22 March, 25 April).
        for (y, m, day) in [
            (1818, 3, 22),
            (1943, 4, 25),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2028, 4, 16),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter(y), d(y, m, day), "{y}");
        }
    }

    fn set(country: HolidayCountry, year: i32) -> BTreeSet<NaiveDate> {
        country.holidays(year).into_iter().collect()
    }

    fn dates(list: &[(i32, u32, u32)]) -> BTreeSet<NaiveDate> {
        list.iter().map(|&(y, m, day)| d(y, m, day)).collect()
    }

    #[test]
    fn belgian_german_spanish_italian_luxembourg_dutch_holidays_of_2026() {
        assert_eq!(
            set(HolidayCountry::Be, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 4, 6),
                (2026, 5, 1),
                (2026, 5, 14),
                (2026, 5, 25),
                (2026, 7, 21),
                (2026, 8, 15),
                (2026, 11, 1),
                (2026, 11, 11),
                (2026, 12, 25)
            ])
        );
        assert_eq!(
            set(HolidayCountry::De, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 4, 3),
                (2026, 4, 6),
                (2026, 5, 1),
                (2026, 5, 14),
                (2026, 5, 25),
                (2026, 10, 3),
                (2026, 12, 25),
                (2026, 12, 26)
            ])
        );
        assert!(set(HolidayCountry::De, 2017).contains(&d(2017, 10, 31)), "Reformation Day 2017");
        assert!(!set(HolidayCountry::De, 2018).contains(&d(2018, 10, 31)));
        assert_eq!(
            set(HolidayCountry::Es, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 1, 6),
                (2026, 4, 3),
                (2026, 5, 1),
                (2026, 8, 15),
                (2026, 10, 12),
                (2026, 11, 1),
                (2026, 12, 6),
                (2026, 12, 8),
                (2026, 12, 25)
            ])
        );
        assert_eq!(
            set(HolidayCountry::It, 2027),
            dates(&[
                (2027, 1, 1),
                (2027, 1, 6),
                (2027, 3, 29),
                (2027, 4, 25),
                (2027, 5, 1),
                (2027, 6, 2),
                (2027, 8, 15),
                (2027, 10, 4),
                (2027, 11, 1),
                (2027, 12, 8),
                (2027, 12, 25),
                (2027, 12, 26)
            ])
        );
        assert!(!set(HolidayCountry::It, 2025).contains(&d(2025, 10, 4)), "St Francis is a holiday again from 2026");
        assert_eq!(
            set(HolidayCountry::Lu, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 4, 6),
                (2026, 5, 1),
                (2026, 5, 9),
                (2026, 5, 14),
                (2026, 5, 25),
                (2026, 6, 23),
                (2026, 8, 15),
                (2026, 11, 1),
                (2026, 12, 25),
                (2026, 12, 26)
            ])
        );
        assert_eq!(
            set(HolidayCountry::Nl, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 4, 6),
                (2026, 4, 27),
                (2026, 5, 5),
                (2026, 5, 14),
                (2026, 5, 25),
                (2026, 12, 25),
                (2026, 12, 26)
            ])
        );
        // King's Day on a Sunday moves to the Saturday before (2025: 26 April).
        assert!(set(HolidayCountry::Nl, 2025).contains(&d(2025, 4, 26)));
        assert!(set(HolidayCountry::Nl, 2013).contains(&d(2013, 4, 30)), "Queen's Day before 2014");
        assert!(HolidayCountry::None.holidays(2026).is_empty());
    }

    #[test]
    fn english_bank_holidays_with_substitute_days() {
        // The published lists (gov.uk) for England and Wales.
        assert_eq!(
            set(HolidayCountry::Gb, 2026),
            dates(&[
                (2026, 1, 1),
                (2026, 4, 3),
                (2026, 4, 6),
                (2026, 5, 4),
                (2026, 5, 25),
                (2026, 8, 31),
                (2026, 12, 25),
                (2026, 12, 28)
            ])
        );
        assert_eq!(
            set(HolidayCountry::Gb, 2022),
            dates(&[
                (2022, 1, 3),
                (2022, 4, 15),
                (2022, 4, 18),
                (2022, 5, 2),
                (2022, 6, 2),
                (2022, 6, 3),
                (2022, 8, 29),
                (2022, 9, 19),
                (2022, 12, 26),
                (2022, 12, 27)
            ])
        );
        assert_eq!(
            set(HolidayCountry::Gb, 2021),
            dates(&[
                (2021, 1, 1),
                (2021, 4, 2),
                (2021, 4, 5),
                (2021, 5, 3),
                (2021, 5, 31),
                (2021, 8, 30),
                (2021, 12, 27),
                (2021, 12, 28)
            ])
        );
        assert_eq!(
            set(HolidayCountry::Gb, 2020),
            dates(&[
                (2020, 1, 1),
                (2020, 4, 10),
                (2020, 4, 13),
                (2020, 5, 8),
                (2020, 5, 25),
                (2020, 8, 31),
                (2020, 12, 25),
                (2020, 12, 28)
            ])
        );
        assert_eq!(
            set(HolidayCountry::Gb, 2023),
            dates(&[
                (2023, 1, 2),
                (2023, 4, 7),
                (2023, 4, 10),
                (2023, 5, 1),
                (2023, 5, 8),
                (2023, 5, 29),
                (2023, 8, 28),
                (2023, 12, 25),
                (2023, 12, 26)
            ])
        );
        let c = Calendar::for_country(HolidayCountry::Gb, 2026..=2027, &[]);
        assert_eq!(c.next_business_day(d(2026, 12, 25)), d(2026, 12, 29), "Christmas, weekend, Boxing Day substitute");
        assert!(c.is_business_day(d(2026, 7, 14)), "no French holiday in England");
    }

    #[test]
    fn country_codes() {
        for c in HolidayCountry::ALL {
            assert_eq!(HolidayCountry::parse(c.code()), Some(c));
        }
        assert_eq!(HolidayCountry::parse("fr"), Some(HolidayCountry::Fr));
        assert_eq!(HolidayCountry::parse("UK"), Some(HolidayCountry::Gb));
        assert_eq!(HolidayCountry::parse("NONE"), Some(HolidayCountry::None));
        assert_eq!(HolidayCountry::parse("XX"), None);
        assert_eq!(HolidayCountry::default(), HolidayCountry::Fr);
        let weekends_only = Calendar::for_country(HolidayCountry::None, 2026..=2026, &[]);
        assert!(weekends_only.is_business_day(d(2026, 12, 25)));
        assert!(!weekends_only.is_business_day(d(2026, 12, 26)));
    }
}
