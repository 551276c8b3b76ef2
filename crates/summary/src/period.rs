//! Reporting periods: ISO weeks, date ranges, and the rule that puts a report in a period.
//!
//! Every week boundary in ruadb is computed here. Times are unix seconds, UTC; weeks are ISO
//! 8601 weeks (Monday 00:00 UTC to the next Monday 00:00 UTC).

use chrono::{DateTime, Datelike, NaiveDate, Weekday};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Seconds in a UTC day (UTC has no daylight saving; leap seconds do not exist in unix time).
pub const DAY: i64 = 86_400;
/// Seconds in a week.
pub const WEEK: i64 = 7 * DAY;

/// A half-open time range `[start, end)` in unix seconds, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// First second in the period.
    pub start: i64,
    /// First second after the period.
    pub end: i64,
}

/// Why a week or date range could not be turned into a [`Period`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeriodError {
    /// Not of the form `2026-W47`, or a week the year does not have.
    #[error("{0:?} is not an ISO week (expected YYYY-Www, e.g. 2026-W47)")]
    InvalidWeek(String),
    /// `--until` is not after `--since`.
    #[error("the period is empty: {until} is not after {since}")]
    Empty {
        /// First day of the range.
        since: NaiveDate,
        /// First day after the range.
        until: NaiveDate,
    },
    /// A date outside the range unix seconds can represent.
    #[error("{0} is out of range")]
    OutOfRange(NaiveDate),
}

impl Period {
    /// `[start, end)`; `None` when the range is empty.
    pub fn new(start: i64, end: i64) -> Option<Period> {
        (start < end).then_some(Period { start, end })
    }

    /// ISO week `week` of ISO year `year` (which may start in the previous calendar year:
    /// 2021-W01 starts on 2021-01-04, 2020-W53 on 2020-12-28).
    pub fn iso_week(year: i32, week: u32) -> Option<Period> {
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
        let start = day_start(monday)?;
        Some(Period {
            start,
            end: start + WEEK,
        })
    }

    /// The days `[since, until)`: `since` is the first day included, `until` the first day
    /// not included (the same convention as `ruadb sources --since/--until`).
    pub fn from_dates(since: NaiveDate, until: NaiveDate) -> Result<Period, PeriodError> {
        let start = day_start(since).ok_or(PeriodError::OutOfRange(since))?;
        let end = day_start(until).ok_or(PeriodError::OutOfRange(until))?;
        Period::new(start, end).ok_or(PeriodError::Empty { since, until })
    }

    /// The last ISO week that had ended at `now`. At Monday 00:00:00 exactly, that is the
    /// week that just ended.
    pub fn last_complete_week(now: i64) -> Period {
        let this_monday = week_start(now);
        Period {
            start: this_monday - WEEK,
            end: this_monday,
        }
    }

    /// The period of the same length that ends where this one starts (the week before a week).
    pub fn previous(&self) -> Period {
        Period {
            start: self.start.saturating_sub(self.len()),
            end: self.start,
        }
    }

    /// The `weeks` weeks that end where this period starts: the baseline for "new sources"
    /// and "silent reporters".
    pub fn preceding_weeks(&self, weeks: u32) -> Period {
        Period {
            start: self.start.saturating_sub(i64::from(weeks) * WEEK),
            end: self.start,
        }
    }

    /// The `weeks` weeks that end where this period ends (this period included when it is a
    /// week): the window for the enforcement-readiness advice.
    pub fn trailing_weeks(&self, weeks: u32) -> Period {
        Period {
            start: self.end.saturating_sub(i64::from(weeks) * WEEK),
            end: self.end,
        }
    }

    /// Length in seconds.
    pub fn len(&self) -> i64 {
        self.end.saturating_sub(self.start)
    }

    /// Always false: a period is never empty (see [`Period::new`]).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the instant `at` lies in `[start, end)`.
    pub fn contains(&self, at: i64) -> bool {
        self.start <= at && at < self.end
    }

    /// The smallest period covering both.
    pub fn union(&self, other: &Period) -> Period {
        Period {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// **The attribution rule**: a report belongs to the period that contains the midpoint of
    /// its date range. A report is counted in exactly one of two adjacent periods, never in
    /// both and never in neither, however it straddles the boundary.
    pub fn contains_report(&self, begin: i64, end: i64) -> bool {
        self.contains(report_midpoint(begin, end))
    }

    /// Start of each UTC day the period touches, in order.
    pub fn days(&self) -> Vec<i64> {
        let first = self.start.div_euclid(DAY) * DAY;
        (0..)
            .map(|index| first + index * DAY)
            .take_while(|day| *day < self.end)
            .collect()
    }

    /// `2026-W47` when the period is exactly one ISO week.
    pub fn iso_week_label(&self) -> Option<String> {
        if self.len() != WEEK || week_start(self.start) != self.start {
            return None;
        }
        let week = DateTime::from_timestamp(self.start, 0)?.iso_week();
        Some(format!("{}-W{:02}", week.year(), week.week()))
    }

    /// The last day in the period (the day of `end - 1`).
    pub fn last_day(&self) -> String {
        format_day(self.end - 1)
    }
}

impl fmt::Display for Period {
    /// `2026-W47 (2026-11-16 to 2026-11-22)`, or `2026-11-01 to 2026-11-30` for other ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = format!("{} to {}", format_day(self.start), self.last_day());
        match self.iso_week_label() {
            Some(week) => write!(f, "{week} ({range})"),
            None => f.write_str(&range),
        }
    }
}

impl Serialize for Period {
    /// `{"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"}` plus `"week"` when
    /// the period is one ISO week.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json {
            start: String,
            end: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            week: Option<String>,
        }
        Json {
            start: format_instant(self.start),
            end: format_instant(self.end),
            week: self.iso_week_label(),
        }
        .serialize(serializer)
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    /// Parses an ISO week, `2026-W47` (also `2026-w47` and `2026W47`).
    fn from_str(text: &str) -> Result<Period, PeriodError> {
        let invalid = || PeriodError::InvalidWeek(text.to_owned());
        let trimmed = text.trim();
        let (year, week) = trimmed.split_once(['W', 'w']).ok_or_else(invalid)?;
        let year = year.strip_suffix('-').unwrap_or(year);
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4
            || !all_digits(year)
            || !(1..=2).contains(&week.len())
            || !all_digits(week)
        {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let week: u32 = week.parse().map_err(|_| invalid())?;
        Period::iso_week(year, week).ok_or_else(invalid)
    }
}

/// The midpoint of a report's date range (rounded down), used by [`Period::contains_report`]:
/// the store's rule, which its rollups count days by.
pub use ruadb_store::report_midpoint;

/// Monday 00:00 UTC of the ISO week containing `at`.
fn week_start(at: i64) -> i64 {
    let day = at.div_euclid(DAY);
    // 1970-01-01 was a Thursday: three days after a Monday.
    let days_since_monday = (day + 3).rem_euclid(7);
    (day - days_since_monday) * DAY
}

fn day_start(date: NaiveDate) -> Option<i64> {
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// `2026-11-16T00:00:00Z`.
pub fn format_instant(at: i64) -> String {
    match DateTime::from_timestamp(at, 0) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => at.to_string(),
    }
}

/// `2026-11-16`.
pub fn format_day(at: i64) -> String {
    match DateTime::from_timestamp(at, 0) {
        Some(time) => time.format("%Y-%m-%d").to_string(),
        None => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn iso_week_starts_on_monday_midnight_utc() {
        let week = Period::iso_week(2026, 47).unwrap();
        assert_eq!(week.start, at("2026-11-16T00:00:00Z"));
        assert_eq!(week.end, at("2026-11-23T00:00:00Z"));
        assert_eq!(week.iso_week_label().as_deref(), Some("2026-W47"));
    }

    #[test]
    fn iso_weeks_across_a_year_end() {
        // 2020 has 53 ISO weeks; its last week ends in January 2021.
        let w53 = Period::iso_week(2020, 53).unwrap();
        assert_eq!(w53.start, at("2020-12-28T00:00:00Z"));
        assert_eq!(w53.end, at("2021-01-04T00:00:00Z"));
        let w01 = Period::iso_week(2021, 1).unwrap();
        assert_eq!(w01.start, at("2021-01-04T00:00:00Z"));
        assert_eq!(w01.previous(), w53);
        // 2025 has 52 weeks; 2026 (which starts on a Thursday) has 53, the last one ending
        // in January 2027.
        assert_eq!(Period::iso_week(2025, 53), None);
        assert_eq!(
            Period::iso_week(2026, 1).unwrap().start,
            at("2025-12-29T00:00:00Z")
        );
        let w53 = Period::iso_week(2026, 53).unwrap();
        assert_eq!(w53.start, at("2026-12-28T00:00:00Z"));
        let next = Period::iso_week(2027, 1).unwrap();
        assert_eq!(next.start, at("2027-01-04T00:00:00Z"));
        assert_eq!(next.previous(), w53);
        assert_eq!(
            Period::last_complete_week(at("2027-01-04T08:00:00Z"))
                .iso_week_label()
                .as_deref(),
            Some("2026-W53")
        );
        let w53 = Period::iso_week(2020, 53).unwrap();
        // A week starting in one calendar year is labelled with its ISO year.
        assert_eq!(w53.iso_week_label().as_deref(), Some("2020-W53"));
        assert_eq!(
            Period::last_complete_week(at("2021-01-01T12:00:00Z"))
                .iso_week_label()
                .as_deref(),
            Some("2020-W52")
        );
    }

    #[test]
    fn parses_week_strings() {
        assert_eq!("2026-W47".parse(), Ok(Period::iso_week(2026, 47).unwrap()));
        assert_eq!("2026w47".parse(), Ok(Period::iso_week(2026, 47).unwrap()));
        assert_eq!(
            " 2020-W53 ".parse(),
            Ok(Period::iso_week(2020, 53).unwrap())
        );
        assert_eq!("2021-W1".parse(), Ok(Period::iso_week(2021, 1).unwrap()));
        for bad in [
            "2026-W54", "2025-W53", "2026-W00", "2026-47", "26-W47", "2026-W", "", "2026-W4x",
        ] {
            assert_eq!(
                bad.parse::<Period>(),
                Err(PeriodError::InvalidWeek(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn last_complete_week_is_the_week_before_now() {
        let w47 = Period::iso_week(2026, 47).unwrap();
        // Monday morning of W48.
        assert_eq!(Period::last_complete_week(at("2026-11-23T06:00:00Z")), w47);
        // Exactly at the boundary, W47 has just ended.
        assert_eq!(Period::last_complete_week(at("2026-11-23T00:00:00Z")), w47);
        // One second earlier, W47 is still running.
        assert_eq!(
            Period::last_complete_week(at("2026-11-22T23:59:59Z")),
            Period::iso_week(2026, 46).unwrap()
        );
        // Sunday late evening.
        assert_eq!(Period::last_complete_week(at("2026-11-29T23:00:00Z")), w47);
    }

    #[test]
    fn preceding_and_trailing_windows() {
        let w47 = Period::iso_week(2026, 47).unwrap();
        let baseline = w47.preceding_weeks(4);
        assert_eq!(baseline.start, Period::iso_week(2026, 43).unwrap().start);
        assert_eq!(baseline.end, w47.start);
        let trailing = w47.trailing_weeks(4);
        assert_eq!(trailing.start, Period::iso_week(2026, 44).unwrap().start);
        assert_eq!(trailing.end, w47.end);
    }

    #[test]
    fn date_ranges_exclude_the_until_day() {
        let period = Period::from_dates(date("2026-11-01"), date("2026-12-01")).unwrap();
        assert_eq!(period.start, at("2026-11-01T00:00:00Z"));
        assert_eq!(period.end, at("2026-12-01T00:00:00Z"));
        assert_eq!(period.days().len(), 30);
        assert_eq!(period.previous().start, at("2026-10-02T00:00:00Z"));
        assert_eq!(period.to_string(), "2026-11-01 to 2026-11-30");
        assert_eq!(period.iso_week_label(), None);
        assert!(matches!(
            Period::from_dates(date("2026-11-02"), date("2026-11-02")),
            Err(PeriodError::Empty { .. })
        ));
    }

    #[test]
    fn a_report_spanning_two_weeks_belongs_to_the_week_of_its_midpoint() {
        let w47 = Period::iso_week(2026, 47).unwrap();
        let w48 = Period::iso_week(2026, 48).unwrap();
        // Sunday 06:00 to Monday 06:00: midpoint Sunday 18:00, so W47 only.
        let (begin, end) = (at("2026-11-22T06:00:00Z"), at("2026-11-23T06:00:00Z"));
        assert!(w47.contains_report(begin, end));
        assert!(!w48.contains_report(begin, end));
        // Sunday 12:00 to Monday 12:00: midpoint is Monday 00:00, the first second of W48.
        let (begin, end) = (at("2026-11-22T12:00:00Z"), at("2026-11-23T12:00:00Z"));
        assert!(!w47.contains_report(begin, end));
        assert!(w48.contains_report(begin, end));
        // The usual 00:00:00-23:59:59 daily report sits in the day it describes.
        let (begin, end) = (at("2026-11-22T00:00:00Z"), at("2026-11-22T23:59:59Z"));
        assert!(w47.contains_report(begin, end));
        assert_eq!(format_day(report_midpoint(begin, end)), "2026-11-22");
    }

    #[test]
    fn every_report_lands_in_exactly_one_of_two_adjacent_weeks() {
        let w47 = Period::iso_week(2026, 47).unwrap();
        let w48 = Period::iso_week(2026, 48).unwrap();
        let boundary = w48.start;
        for begin_offset in (-3 * DAY..=0).step_by(3_600) {
            for length in [0, 1, 3_599, DAY - 1, DAY, 2 * DAY + 1, 5 * DAY] {
                let begin = boundary + begin_offset;
                let end = begin + length;
                if end < w47.start || begin >= w48.end {
                    continue;
                }
                let hits = [w47, w48]
                    .iter()
                    .filter(|p| p.contains_report(begin, end))
                    .count();
                assert_eq!(hits, 1, "begin {begin_offset} length {length}");
            }
        }
    }

    #[test]
    fn midpoints_of_extreme_ranges_do_not_overflow() {
        assert_eq!(report_midpoint(i64::MIN, i64::MAX), -1);
        assert_eq!(report_midpoint(i64::MAX - 1, i64::MAX), i64::MAX - 1);
        assert_eq!(report_midpoint(10, 5), 10);
        assert_eq!(report_midpoint(-3, 0), -2);
    }

    #[test]
    fn json_dates_are_iso_8601_utc() {
        let week = Period::iso_week(2026, 47).unwrap();
        assert_eq!(
            serde_json::to_string(&week).unwrap(),
            r#"{"start":"2026-11-16T00:00:00Z","end":"2026-11-23T00:00:00Z","week":"2026-W47"}"#
        );
        assert_eq!(week.to_string(), "2026-W47 (2026-11-16 to 2026-11-22)");
    }

    #[test]
    fn days_cover_the_period() {
        let week = Period::iso_week(2026, 47).unwrap();
        let days = week.days();
        assert_eq!(days.len(), 7);
        assert_eq!(format_day(days[0]), "2026-11-16");
        assert_eq!(format_day(days[6]), "2026-11-22");
    }
}
