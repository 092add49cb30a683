//! Business days: weekends and public holidays (French ones computed,
//! others configurable), and sending windows in the tenant's time zone.

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
        let mut holidays: BTreeSet<NaiveDate> = years.flat_map(french_holidays).collect();
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
}
