//! Opening hours: whether a hotline is open at an instant, why not, and when it opens next.
//!
//! ```text
//!   now ─► local date-time in `time_zone` ─► a holiday's date?       Closed(Holiday "name")
//!                                         ─► inside a weekly window? Open
//!                                         ─► otherwise               Closed(OutsideHours)
//! ```
//!
//! Pure and allocation-free per call: the webhook server asks once per incoming call, from the
//! table it already holds (no Redis round trip, whatever the number of windows and holidays).
//! Times are wall-clock times of the zone, so a window keeps its local hours across a
//! daylight-saving change; a holiday closes its whole local day (00:00 to 24:00), whatever the
//! windows say, and a window that crosses midnight belongs to the day it starts on (its early
//! hours are open on the day after, unless that day is itself a holiday).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::schedule::Window;

/// When a hotline takes calls, and what it does outside them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OpeningHours {
    /// IANA zone of the windows and holidays.
    pub time_zone: String,
    /// The weekly windows when the hotline is open.
    pub weekly: Vec<Window>,
    /// Dated days when it is closed all day, in date order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<Holiday>,
    /// What a caller gets while it is closed.
    pub when_closed: WhenClosed,
}

/// A day the hotline is closed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Holiday {
    /// The local date.
    pub date: Date,
    /// Its name, for transcripts and alerts ("Christmas Day").
    pub name: String,
}

/// What a closed hotline does with a call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WhenClosed {
    /// Said first, instead of the greeting.
    pub message: String,
    /// Then this.
    pub action: ClosedAction,
    /// A voicemail left while closed raises its alert again when the hotline opens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raise_again_when_open: bool,
}

/// The action of a closed hotline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ClosedAction {
    /// Say goodbye and hang up.
    Hangup,
    /// Take a voicemail.
    Voicemail,
    /// Ring this chain instead of the usual entry.
    Chain(String),
    /// Ask whether it is an emergency: the key rings `chain` (or the usual entry when `None`);
    /// no key takes a voicemail (or says goodbye when the policy has none).
    Emergency {
        /// What the caller is asked.
        prompt: String,
        /// The key that means "emergency".
        digit: String,
        /// Seconds to press it.
        timeout_seconds: u32,
        /// The chain an emergency rings; `None`: the policy's menu or chain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chain: Option<String>,
    },
}

impl ClosedAction {
    /// The chain this action rings, when it names one.
    pub fn chain(&self) -> Option<&str> {
        match self {
            ClosedAction::Chain(c) => Some(c),
            ClosedAction::Emergency { chain, .. } => chain.as_deref(),
            ClosedAction::Hangup | ClosedAction::Voicemail => None,
        }
    }
}

/// Why a hotline is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure<'a> {
    /// A holiday, by name.
    Holiday(&'a str),
    /// Outside every weekly window.
    OutsideHours,
}

impl std::fmt::Display for Closure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closure::Holiday(name) => write!(f, "holiday '{name}'"),
            Closure::OutsideHours => f.write_str("outside opening hours"),
        }
    }
}

/// The farthest ahead [`OpeningHours::next_opening`] looks, in days (a year of holidays).
const LOOKAHEAD_DAYS: i64 = 400;

impl OpeningHours {
    /// The zone, from the bundled tz database; `None` for a name it lacks (the operator checks
    /// every name, so only a hand-written table has one).
    pub fn tz(&self) -> Option<TimeZone> {
        TimeZone::get(&self.time_zone).ok()
    }

    /// Whether the hotline is open at `now`: `None` when open, else why it is closed. A zone
    /// the tz database lacks counts as open (the caller is routed rather than turned away).
    pub fn closed_at(&self, now: Timestamp) -> Option<Closure<'_>> {
        let tz = self.tz()?;
        self.closed_local(now.to_zoned(tz).datetime())
    }

    fn closed_local(&self, at: DateTime) -> Option<Closure<'_>> {
        if let Some(h) = self.holiday(at.date()) {
            return Some(Closure::Holiday(&h.name));
        }
        if self.weekly.iter().any(|w| w.contains(at)) {
            None
        } else {
            Some(Closure::OutsideHours)
        }
    }

    fn holiday(&self, date: Date) -> Option<&Holiday> {
        self.holidays
            .binary_search_by(|h| h.date.cmp(&date))
            .ok()
            .map(|i| &self.holidays[i])
    }

    /// The first instant after `now` when the hotline is open, within the next 400 days
    /// (`None` past that, or for an unknown zone). Openings happen only at a window's start or
    /// at the local midnight ending a holiday, so only those instants are tried.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let tz = self.tz()?;
        let today = now.to_zoned(tz.clone()).date();
        let mut best: Option<Timestamp> = None;
        for offset in 0..=LOOKAHEAD_DAYS {
            let day = today.checked_add(offset.days()).ok()?;
            let starts = self
                .weekly
                .iter()
                .filter(|w| w.days.contains(day.weekday()))
                .map(|w| w.start)
                .chain(std::iter::once(Time::midnight()));
            for start in starts {
                // A start in a daylight-saving gap opens at the first instant after it.
                let Ok(at) = tz
                    .to_ambiguous_timestamp(day.to_datetime(start))
                    .compatible()
                else {
                    continue;
                };
                if at <= now || best.is_some_and(|b| at >= b) {
                    continue;
                }
                if self
                    .closed_local(at.to_zoned(tz.clone()).datetime())
                    .is_none()
                {
                    best = Some(at);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Days;
    use jiff::civil::{Weekday, date, time};

    fn window(days: &[Weekday], start: Time, end: Time) -> Window {
        Window {
            days: Days::of(days.iter().copied()),
            start,
            end,
        }
    }

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];

    fn office(zone: &str) -> OpeningHours {
        OpeningHours {
            time_zone: zone.into(),
            weekly: vec![window(&WEEKDAYS, time(9, 0, 0, 0), time(17, 30, 0, 0))],
            holidays: vec![Holiday {
                date: date(2026, 12, 25),
                name: "Christmas Day".into(),
            }],
            when_closed: WhenClosed {
                message: "We are closed.".into(),
                action: ClosedAction::Voicemail,
                raise_again_when_open: true,
            },
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn open_inside_a_window_and_closed_at_its_exclusive_end() {
        let h = office("Europe/Berlin");
        // Thursday 2026-12-03, Berlin is UTC+1.
        assert_eq!(h.closed_at(ts("2026-12-03T08:00:00Z")), None);
        assert_eq!(
            h.closed_at(ts("2026-12-03T07:59:59Z")),
            Some(Closure::OutsideHours)
        );
        assert_eq!(h.closed_at(ts("2026-12-03T16:29:59Z")), None);
        assert_eq!(
            h.closed_at(ts("2026-12-03T16:30:00Z")),
            Some(Closure::OutsideHours)
        );
        // Saturday.
        assert_eq!(
            h.closed_at(ts("2026-12-05T10:00:00Z")),
            Some(Closure::OutsideHours)
        );
    }

    #[test]
    fn a_window_crossing_midnight_is_open_in_the_early_hours_of_the_next_day() {
        let mut h = office("UTC");
        h.weekly = vec![window(
            &[Weekday::Friday],
            time(22, 0, 0, 0),
            time(6, 0, 0, 0),
        )];
        // Friday 2026-12-04 22:00 to Saturday 06:00.
        assert_eq!(
            h.closed_at(ts("2026-12-04T21:59:00Z")),
            Some(Closure::OutsideHours)
        );
        assert_eq!(h.closed_at(ts("2026-12-04T23:30:00Z")), None);
        assert_eq!(h.closed_at(ts("2026-12-05T05:59:00Z")), None);
        assert_eq!(
            h.closed_at(ts("2026-12-05T06:00:00Z")),
            Some(Closure::OutsideHours)
        );
        // Not on Thursday night.
        assert_eq!(
            h.closed_at(ts("2026-12-04T01:00:00Z")),
            Some(Closure::OutsideHours)
        );
        // A holiday on the Saturday closes its early hours too.
        h.holidays = vec![Holiday {
            date: date(2026, 12, 5),
            name: "Open day".into(),
        }];
        assert_eq!(
            h.closed_at(ts("2026-12-05T01:00:00Z")),
            Some(Closure::Holiday("Open day"))
        );
        assert_eq!(h.closed_at(ts("2026-12-04T23:00:00Z")), None);
    }

    #[test]
    fn a_holiday_is_its_local_day_in_the_hours_zone_not_the_servers() {
        let h = office("Pacific/Auckland");
        // 2026-12-24T20:00Z is Friday 25 December 09:00 in Auckland (UTC+13): Christmas.
        assert_eq!(
            h.closed_at(ts("2026-12-24T20:00:00Z")),
            Some(Closure::Holiday("Christmas Day"))
        );
        // 2026-12-25T20:00Z is Saturday 26 December there: closed for the weekend, not the
        // holiday, although the UTC date is the 25th.
        assert_eq!(
            h.closed_at(ts("2026-12-25T20:00:00Z")),
            Some(Closure::OutsideHours)
        );
        // 2026-12-23T20:00Z is Thursday 24 December 09:00 there: open.
        assert_eq!(h.closed_at(ts("2026-12-23T20:00:00Z")), None);
        assert_eq!(
            Closure::Holiday("Christmas Day").to_string(),
            "holiday 'Christmas Day'"
        );
    }

    #[test]
    fn windows_keep_their_wall_clock_hours_across_the_daylight_saving_change() {
        let h = office("America/New_York");
        // Friday 2027-03-12 09:00 EST is 14:00Z; Monday 2027-03-15 09:00 EDT is 13:00Z.
        assert_eq!(h.closed_at(ts("2027-03-12T14:00:00Z")), None);
        assert_eq!(
            h.closed_at(ts("2027-03-12T13:30:00Z")),
            Some(Closure::OutsideHours)
        );
        assert_eq!(h.closed_at(ts("2027-03-15T13:00:00Z")), None);
        assert_eq!(
            h.closed_at(ts("2027-03-15T12:59:00Z")),
            Some(Closure::OutsideHours)
        );
        // From Friday evening the next opening is Monday 09:00 local, after the change.
        assert_eq!(
            h.next_opening(ts("2027-03-12T23:00:00Z")),
            Some(ts("2027-03-15T13:00:00Z"))
        );
    }

    #[test]
    fn a_window_starting_in_the_spring_forward_gap_opens_when_the_clock_jumps() {
        let mut h = office("America/New_York");
        // Sunday 2027-03-14: 02:00 local does not exist; clocks go from 01:59:59 EST to 03:00 EDT.
        h.weekly = vec![window(
            &[Weekday::Sunday],
            time(2, 30, 0, 0),
            time(4, 0, 0, 0),
        )];
        let opens = h.next_opening(ts("2027-03-14T05:00:00Z")).unwrap();
        // `compatible` puts 02:30 in the gap at 03:30 EDT (07:30Z), inside the window.
        assert_eq!(opens, ts("2027-03-14T07:30:00Z"));
        assert_eq!(h.closed_at(opens), None);
    }

    #[test]
    fn the_next_opening_skips_holidays_and_weekends() {
        let h = office("Europe/Berlin");
        // Thursday 24 December 18:00 Berlin: Christmas is Friday, then the weekend.
        assert_eq!(
            h.next_opening(ts("2026-12-24T17:00:00Z")),
            Some(ts("2026-12-28T08:00:00Z"))
        );
        // Already open: the next opening is the next day's.
        assert_eq!(
            h.next_opening(ts("2026-12-03T10:00:00Z")),
            Some(ts("2026-12-04T08:00:00Z"))
        );
        // Early morning: today's window.
        assert_eq!(
            h.next_opening(ts("2026-12-03T05:00:00Z")),
            Some(ts("2026-12-03T08:00:00Z"))
        );
    }

    #[test]
    fn a_holiday_ending_inside_an_all_night_window_opens_at_midnight() {
        let mut h = office("UTC");
        h.weekly = vec![window(&WEEKDAYS, time(0, 0, 0, 0), time(0, 0, 0, 0))];
        h.holidays = vec![Holiday {
            date: date(2026, 12, 3),
            name: "Founders' day".into(),
        }];
        assert_eq!(
            h.closed_at(ts("2026-12-03T12:00:00Z")),
            Some(Closure::Holiday("Founders' day"))
        );
        assert_eq!(
            h.next_opening(ts("2026-12-03T12:00:00Z")),
            Some(ts("2026-12-04T00:00:00Z"))
        );
    }

    #[test]
    fn never_open_and_unknown_zones_give_no_opening() {
        let mut h = office("UTC");
        h.weekly.clear();
        assert_eq!(h.next_opening(ts("2026-12-03T12:00:00Z")), None);
        h.time_zone = "Mars/Olympus".into();
        assert_eq!(
            h.closed_at(ts("2026-12-03T12:00:00Z")),
            None,
            "routed, not turned away"
        );
        assert_eq!(h.next_opening(ts("2026-12-03T12:00:00Z")), None);
    }
}
