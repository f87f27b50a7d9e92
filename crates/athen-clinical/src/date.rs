//! Calendar dates as Australian letters write them: `01/02/1960`,
//! `1.2.60`, `1 Feb 1960`, `1st February 1960`, `1960-02-01`. Day first,
//! always (an Australian letter never puts the month first).

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.iso())
    }
}

impl fmt::Display for Date {
    /// `dd/mm/yyyy`, as Australian letters and PIT write dates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A real calendar date between the years 1800 and 2999.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1800..=2999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month))
        .then_some(Date { year, month, day })
    }

    /// `yyyy-mm-dd`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `yyyymmdd`, as HL7 v2 DT.
    pub fn compact(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date of a Unix time (UTC).
    pub fn from_unix(secs: i64) -> Date {
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    /// Whole years from `self` to `on` (an age).
    pub fn years_until(&self, on: Date) -> i32 {
        let mut years = i32::from(on.year) - i32::from(self.year);
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }

    /// Reads one date written the Australian way. Two-digit years are
    /// placed in the century that puts them at or before `pivot_year`
    /// (for a birth date: the current year), so `1.2.60` is 1960.
    pub fn parse(text: &str, pivot_year: u16) -> Result<Date, String> {
        let t = text.trim().trim_end_matches(['.', ',']);
        if t.is_empty() {
            return Err("no date given".into());
        }
        // ISO 8601: yyyy-mm-dd.
        let parts: Vec<&str> = t.split('-').collect();
        if parts.len() == 3 && parts[0].len() == 4 {
            return numeric(parts[0], parts[1], parts[2], text);
        }
        // Numeric, day first: dd/mm/yyyy, d.m.yy, dd-mm-yyyy.
        let parts: Vec<&str> = t.split(['/', '.', '-']).collect();
        if parts.len() == 3 && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
            let year = expand_year(parts[2], pivot_year)
                .ok_or_else(|| format!("{text:?}: the year is not understood"))?;
            return numeric(&year.to_string(), parts[1], parts[0], text);
        }
        // Words: 1 Feb 1960, 1st February 1960, February 1 1960, and any
        // of these after a weekday ("Friday, 4 December 2026").
        let mut words: Vec<String> = t
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(|w| w.to_ascii_lowercase())
            .collect();
        if words.len() == 4
            && WEEKDAYS
                .iter()
                .any(|d| d.starts_with(words[0].trim_end_matches('.')) && words[0].len() >= 3)
        {
            words.remove(0);
        }
        if words.len() == 3 {
            let (d, m) = if month_of(&words[1]).is_some() {
                (&words[0], &words[1])
            } else {
                (&words[1], &words[0])
            };
            let month = month_of(m).ok_or_else(|| format!("{text:?}: no month name"))?;
            let day: String = d
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .to_string();
            let year = expand_year(&words[2], pivot_year)
                .ok_or_else(|| format!("{text:?}: the year is not understood"))?;
            return numeric(&year.to_string(), &month.to_string(), &day, text);
        }
        Err(format!("{text:?} is not a date (write it as dd/mm/yyyy)"))
    }
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn month_of(word: &str) -> Option<u8> {
    let w = word.trim_end_matches('.');
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(w) || (w.len() == 4 && w == "sept"))
        .map(|i| i as u8 + 1)
}

fn expand_year(y: &str, pivot: u16) -> Option<u16> {
    if !y.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    match y.len() {
        4 => y.parse().ok(),
        2 => {
            let yy: u16 = y.parse().ok()?;
            let century = pivot / 100 * 100;
            Some(if century + yy > pivot {
                century - 100 + yy
            } else {
                century + yy
            })
        }
        _ => None,
    }
}

fn numeric(year: &str, month: &str, day: &str, text: &str) -> Result<Date, String> {
    let n = |s: &str| s.parse::<u16>().ok();
    let (Some(y), Some(m), Some(d)) = (n(year), n(month), n(day)) else {
        return Err(format!("{text:?} is not a date (write it as dd/mm/yyyy)"));
    };
    if m == 0 || m > 12 {
        return Err(format!("{text:?}: there is no month {m}"));
    }
    Date::new(y, m as u8, u8::try_from(d).unwrap_or(0))
        .ok_or_else(|| format!("{text:?}: there is no such day"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn australian_forms() {
        let d = Date::new(1960, 2, 1).unwrap();
        for t in [
            "01/02/1960",
            "1/2/1960",
            "1.2.60",
            "01-02-1960",
            "1 Feb 1960",
            "1st February 1960",
            "February 1, 1960",
            "1960-02-01",
            " 1 FEB 1960. ",
        ] {
            assert_eq!(Date::parse(t, 2026), Ok(d), "{t}");
        }
        assert_eq!(Date::parse("3.4.25", 2026).unwrap().year, 2025);
        assert_eq!(Date::parse("3.4.27", 2026).unwrap().year, 1927);
    }

    #[test]
    fn impossible_dates_are_refused_with_a_reason() {
        assert!(
            Date::parse("31/02/1960", 2026)
                .unwrap_err()
                .contains("no such day")
        );
        assert!(Date::parse("29/02/1961", 2026).is_err());
        assert!(Date::parse("29/02/1960", 2026).is_ok());
        assert!(
            Date::parse("01/13/1960", 2026)
                .unwrap_err()
                .contains("no month 13")
        );
        assert!(Date::parse("tomorrow", 2026).is_err());
        assert!(Date::parse("", 2026).is_err());
    }

    #[test]
    fn epoch_round_trip() {
        let d = Date::new(2026, 11, 24).unwrap();
        assert_eq!(Date::from_unix(d.days_since_epoch() * 86_400), d);
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(
            Date::new(1960, 2, 1)
                .unwrap()
                .years_until(Date::new(2026, 1, 31).unwrap()),
            65
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(t in "\\PC{0,40}") {
            let _ = Date::parse(&t, 2026);
        }

        #[test]
        fn unix_days_round_trip(days in -60_000i64..400_000) {
            let d = Date::from_unix(days * 86_400);
            prop_assert_eq!(d.days_since_epoch(), days);
        }
    }
}
