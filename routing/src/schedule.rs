//! The compiled form of a Schedule: what the on-call engine (`oncall.rs`) evaluates.
//!
//! Unlike the CRD, every value here is already parsed (dates, times, durations, instants) and
//! every reference already checked, so evaluating it cannot fail on bad input.

use jiff::civil;
use jiff::{Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;

/// Who is on call and when: a default IANA time zone, and layers that may each have their own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The Schedule object's name.
    pub name: String,
    /// IANA time zone name, such as `Europe/Berlin`: that of the layers that name none, of
    /// local override times and of the handoff times shown.
    pub time_zone: String,
    /// Everyone who can be rung, by name.
    pub people: Vec<Person>,
    /// Rotation layers, lowest first: a later layer with someone on call wins.
    pub layers: Vec<Layer>,
    /// Overrides; the active one that started last wins over every layer.
    pub overrides: Vec<Override>,
}

/// A person who can be rung.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The identifier used in layers, overrides and chains.
    pub name: String,
    /// The name shown and spoken.
    pub display_name: String,
    /// How the person is rung first.
    pub contact: Contact,
    /// What the first contact is (`mobile`), when the manifests say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_label: Option<String>,
    /// Further contacts, tried in order within the person's turn when the one before was not
    /// accepted. (Beside `contact` rather than a list replacing it, so that a webhook server
    /// of the previous release still reads the table.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_contacts: Vec<LabelledContact>,
    /// Language of the whisper the person hears, when it differs from the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A further contact of a person, and what it is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct LabelledContact {
    /// The number or URI.
    pub contact: Contact,
    /// What it is (`desk`), when the manifests say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A phone number or a SIP URI.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum Contact {
    /// E.164 number, rung with `<Number>`.
    Phone(String),
    /// SIP URI, rung with `<Sip>`.
    Sip(String),
}

impl Contact {
    /// The number or URI itself.
    pub fn address(&self) -> &str {
        match self {
            Contact::Phone(n) | Contact::Sip(n) => n,
        }
    }
}

/// A rotation of members through shifts of equal length in local clock time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The layer's name.
    pub name: String,
    /// Length of each shift.
    pub shift: ShiftLength,
    /// Local date and time the first shift starts; later shifts start `shift` later in clock time.
    pub start: civil::DateTime,
    /// The people who take turns, by name.
    pub members: Vec<String>,
    /// When non-empty, the layer only has someone on call inside one of these windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Window>,
    /// The layer's own IANA time zone, for `start` and `restrictions`; the schedule's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Length of a shift, in local clock time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ShiftLength {
    /// A whole number of hours.
    Hours(u32),
    /// A whole number of days (a week is 7).
    Days(u32),
}

impl ShiftLength {
    /// The length in seconds of local clock time (a day is always 86,400 of them, whatever the
    /// daylight saving rules do to the real elapsed time).
    pub fn clock_seconds(self) -> i64 {
        match self {
            ShiftLength::Hours(h) => i64::from(h) * 3600,
            ShiftLength::Days(d) => i64::from(d) * 86_400,
        }
    }
}

/// Days of the week as a bit set, Monday = bit 0 .. Sunday = bit 6. Empty means every day.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct Days(pub u8);

impl Days {
    /// Every day of the week.
    pub const ALL: Days = Days(0);

    /// The set with these weekdays.
    pub fn of(days: impl IntoIterator<Item = civil::Weekday>) -> Days {
        Days(
            days.into_iter()
                .fold(0, |bits, d| bits | 1 << d.to_monday_zero_offset()),
        )
    }

    /// Whether the set holds `day` (an empty set holds every day).
    pub fn contains(self, day: civil::Weekday) -> bool {
        self.0 == 0 || self.0 & (1 << day.to_monday_zero_offset()) != 0
    }
}

/// A window of local time starting on some days of the week. When `end <= start` the window
/// crosses midnight and ends on the following day.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The days the window starts on.
    pub days: Days,
    /// Local start time.
    pub start: civil::Time,
    /// Local end time (exclusive).
    pub end: civil::Time,
}

impl Window {
    /// Whether the local date-time `at` falls inside the window.
    pub fn contains(&self, at: civil::DateTime) -> bool {
        let (day, time) = (at.weekday(), at.time());
        if self.start < self.end {
            self.days.contains(day) && self.start <= time && time < self.end
        } else {
            // Crosses midnight: the evening part belongs to the day it starts on, the morning
            // part to the day before.
            (self.days.contains(day) && time >= self.start)
                || (self.days.contains(day.previous()) && time < self.end)
        }
    }
}

/// A one-off replacement, in absolute time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The person on call, by name.
    pub person: String,
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl Schedule {
    /// The schedule's time zone, from the tz database bundled into the binary.
    pub fn tz(&self) -> Result<TimeZone, ScheduleError> {
        TimeZone::get(&self.time_zone).map_err(|_| ScheduleError::UnknownTimeZone {
            schedule: self.name.clone(),
            time_zone: self.time_zone.clone(),
        })
    }

    /// The time zone of each layer, in the order of `layers`: its own, else the schedule's.
    pub fn layer_zones(&self) -> Result<Vec<TimeZone>, ScheduleError> {
        let default = self.tz()?;
        self.layers
            .iter()
            .map(|l| match &l.time_zone {
                None => Ok(default.clone()),
                Some(zone) => TimeZone::get(zone).map_err(|_| ScheduleError::UnknownTimeZone {
                    schedule: self.name.clone(),
                    time_zone: zone.clone(),
                }),
            })
            .collect()
    }

    /// The person of this name.
    pub fn person(&self, name: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.name == name)
    }
}
