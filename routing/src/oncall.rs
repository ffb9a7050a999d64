//! The on-call engine: who is on call at an instant, and the next handoffs.
//!
//! ```text
//!   instant ──► active override? ──yes──► its person
//!                  │ no
//!                  ▼
//!   layers, highest (last) first: shift covering the instant ─► inside a restriction window?
//!                  │ first layer that has someone                 (local clock time)
//!                  ▼
//!               that member, or nobody
//! ```
//!
//! Shifts are counted in *local clock time*: shift `k` of a layer starts at the local date-time
//! `start + k * length`, turned into an instant in the layer's zone (its own, or the schedule's). So a 09:00 handoff stays
//! at 09:00 across daylight saving changes, and a shift that spans a change is an hour longer or
//! shorter in real time.
//!
//! Cost: finding the shift that covers an instant is O(1) in the age of the rotation. The index
//! `k` is computed by dividing the clock-time distance from the layer's start by the shift length
//! (one division), then corrected by at most a step or two where a daylight saving change moves
//! the boundary. Nothing walks shift by shift from the start, so a rotation started in 1990 costs
//! the same as one started yesterday (see the test
//! `cost_does_not_depend_on_how_long_the_rotation_has_run`).

use jiff::{SignedDuration, Timestamp, civil, tz::TimeZone};

use crate::error::ScheduleError;
use crate::schedule::{Layer, Schedule};

/// Who is on call at one instant, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnCall {
    /// The person's name, or `None` when nobody is on call.
    pub person: Option<String>,
    /// Where the answer came from.
    pub source: Source,
}

/// Where an on-call answer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An override (index into `Schedule::overrides`).
    Override {
        /// Index of the override.
        index: usize,
    },
    /// A layer's shift.
    Layer {
        /// The layer's name.
        layer: String,
        /// Start of the shift (inclusive).
        shift_start: Timestamp,
        /// End of the shift (exclusive).
        shift_end: Timestamp,
    },
    /// No override is active and no layer has anyone on call.
    Nobody,
}

impl Source {
    /// A short label: `override`, `layer/<name>` or `nobody`.
    pub fn label(&self) -> String {
        match self {
            Source::Override { .. } => "override".to_string(),
            Source::Layer { layer, .. } => format!("layer/{layer}"),
            Source::Nobody => "nobody".to_string(),
        }
    }
}

/// A change of who is on call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// When it happens.
    pub at: Timestamp,
    /// Who was on call just before.
    pub from: Option<String>,
    /// Who is on call from `at` on, and why.
    pub to: OnCall,
}

/// How far ahead `next_handoffs` looks before it gives up: a schedule whose on-call person
/// never changes has no next handoff.
const HANDOFF_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 400);

/// Upper bound on candidate boundaries examined by one `next_handoffs` call.
const MAX_CANDIDATES: usize = 20_000;

impl Schedule {
    /// Who is on call at `at`.
    pub fn on_call_at(&self, at: Timestamp) -> Result<OnCall, ScheduleError> {
        let zones = self.layer_zones()?;
        self.on_call_in(&zones, at)
    }

    fn on_call_in(&self, zones: &[TimeZone], at: Timestamp) -> Result<OnCall, ScheduleError> {
        // The active override that started last wins; on a tie, the one listed last.
        let active = self
            .overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| o.start <= at && at < o.end)
            .max_by_key(|(i, o)| (o.start, *i));
        if let Some((index, o)) = active {
            return Ok(OnCall {
                person: Some(o.person.clone()),
                source: Source::Override { index },
            });
        }
        for (layer, tz) in self.layers.iter().zip(zones).rev() {
            if let Some(shift) = self.shift_at(tz, layer, at)?
                && (layer.restrictions.is_empty() || in_restrictions(layer, tz, at))
            {
                return Ok(OnCall {
                    person: Some(layer.members[shift.member].clone()),
                    source: Source::Layer {
                        layer: layer.name.clone(),
                        shift_start: shift.start,
                        shift_end: shift.end,
                    },
                });
            }
        }
        Ok(OnCall {
            person: None,
            source: Source::Nobody,
        })
    }

    /// The shift of `layer` that covers `at`, or `None` before the layer's first shift.
    fn shift_at(
        &self,
        tz: &TimeZone,
        layer: &Layer,
        at: Timestamp,
    ) -> Result<Option<Shift>, ScheduleError> {
        let out_of_range = || ScheduleError::OutOfRange {
            schedule: self.name.clone(),
            layer: layer.name.clone(),
        };
        let len = layer.shift.clock_seconds();
        let start_of = |k: i64| -> Result<Timestamp, ScheduleError> {
            let offset = k.checked_mul(len).ok_or_else(out_of_range)?;
            let local = layer
                .start
                .checked_add(SignedDuration::from_secs(offset))
                .map_err(|_| out_of_range())?;
            // NB: a local time that falls in a spring-forward gap moves forward by the gap and
            // one that occurs twice takes its first occurrence (RFC 5545 / jiff "compatible").
            tz.to_ambiguous_timestamp(local)
                .compatible()
                .map_err(|_| out_of_range())
        };
        if at < start_of(0)? {
            return Ok(None);
        }
        let local = tz.to_datetime(at);
        let mut k = clock_seconds_between(layer.start, local).div_euclid(len);
        // The estimate is off by at most one around a daylight saving change (the clock-time
        // axis repeats or skips the changed hour); the correction loop runs a bounded number of
        // times because shift starts are monotonic in k.
        for _ in 0..8 {
            let start = start_of(k)?;
            if start > at {
                k -= 1;
                continue;
            }
            let end = start_of(k + 1)?;
            if end <= at {
                k += 1;
                continue;
            }
            let member = usize::try_from(k.rem_euclid(layer.members.len() as i64))
                .map_err(|_| out_of_range())?;
            return Ok(Some(Shift { member, start, end }));
        }
        Err(out_of_range())
    }

    /// The next `max` changes of who is on call strictly after `after`, looking at most about
    /// 400 days ahead. A shift boundary where the same person stays on call is not a handoff.
    pub fn next_handoffs(
        &self,
        after: Timestamp,
        max: usize,
    ) -> Result<Vec<Handoff>, ScheduleError> {
        let zones = self.layer_zones()?;
        let horizon = after
            .saturating_add(HANDOFF_HORIZON)
            .unwrap_or(Timestamp::MAX);
        let mut current = self.on_call_in(&zones, after)?;
        let mut t = after;
        let mut handoffs = Vec::new();
        for _ in 0..MAX_CANDIDATES {
            if handoffs.len() >= max {
                break;
            }
            let Some(next) = self.next_boundary(&zones, t)? else {
                break;
            };
            if next > horizon {
                break;
            }
            let now = self.on_call_in(&zones, next)?;
            if now.person != current.person {
                handoffs.push(Handoff {
                    at: next,
                    from: current.person.clone(),
                    to: now.clone(),
                });
            }
            current = now;
            t = next;
        }
        Ok(handoffs)
    }

    /// Who layer `layer` (an index into `layers`) has on call at `at`, on its own: its shift's
    /// member inside its restriction windows, else nobody. What a rota picture draws per row.
    pub fn layer_on_call_at(
        &self,
        layer: usize,
        at: Timestamp,
    ) -> Result<Option<String>, ScheduleError> {
        let zones = self.layer_zones()?;
        let (Some(l), Some(tz)) = (self.layers.get(layer), zones.get(layer)) else {
            return Ok(None);
        };
        Ok(self.shift_at(tz, l, at)?.and_then(|shift| {
            (l.restrictions.is_empty() || in_restrictions(l, tz, at))
                .then(|| l.members[shift.member].clone())
        }))
    }

    /// Every instant in `(from, until)` at which who is on call (in any layer, or overall) may
    /// change: shift boundaries, restriction windows opening or closing, overrides starting or
    /// ending. Between two of them nothing changes.
    pub fn boundaries(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Timestamp>, ScheduleError> {
        let zones = self.layer_zones()?;
        let mut out = Vec::new();
        let mut t = from;
        while out.len() < MAX_CANDIDATES {
            match self.next_boundary(&zones, t)? {
                Some(next) if next < until => {
                    out.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// The earliest instant after `t` at which the answer of `on_call_at` may change: an
    /// override starting or ending, a shift boundary, a restriction window opening or closing.
    fn next_boundary(
        &self,
        zones: &[TimeZone],
        t: Timestamp,
    ) -> Result<Option<Timestamp>, ScheduleError> {
        let mut best: Option<Timestamp> = None;
        let mut consider = |c: Timestamp| {
            if c > t && best.is_none_or(|b| c < b) {
                best = Some(c);
            }
        };
        for o in &self.overrides {
            consider(o.start);
            consider(o.end);
        }
        for (layer, tz) in self.layers.iter().zip(zones) {
            match self.shift_at(tz, layer, t)? {
                Some(shift) => consider(shift.end),
                None => {
                    let first = tz
                        .to_ambiguous_timestamp(layer.start)
                        .compatible()
                        .map_err(|_| ScheduleError::OutOfRange {
                            schedule: self.name.clone(),
                            layer: layer.name.clone(),
                        })?;
                    consider(first);
                }
            }
            if let Some(c) = next_window_edge(layer, tz, t) {
                consider(c);
            }
        }
        Ok(best)
    }
}

/// A shift: which member, and when.
struct Shift {
    member: usize,
    start: Timestamp,
    end: Timestamp,
}

fn in_restrictions(layer: &Layer, tz: &TimeZone, at: Timestamp) -> bool {
    let local = tz.to_datetime(at);
    layer.restrictions.iter().any(|w| w.contains(local))
}

/// Seconds of local clock time from `a` to `b` (a day is 86,400 of them).
fn clock_seconds_between(a: civil::DateTime, b: civil::DateTime) -> i64 {
    b.duration_since(a).as_secs()
}

/// The first instant after `t` at which a restriction window of `layer` opens or closes.
/// Window edges are local times; where a local time occurs twice (the hour repeated when clocks
/// go back) both occurrences are edges, because the local clock enters the window twice.
fn next_window_edge(layer: &Layer, tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    if layer.restrictions.is_empty() {
        return None;
    }
    // NB: an edge that falls in a spring-forward gap (02:30 when clocks jump from 02:00 to
    // 03:00) takes effect at the transition itself, the first instant the local clock is past
    // it; neither reading of the missing local time is that instant, so the transition is a
    // candidate of its own.
    let transition = tz
        .following(t)
        .next()
        .map(|tr| tr.timestamp())
        .filter(|&tr| tr.duration_since(t) <= SignedDuration::from_hours(72));
    let edge = next_local_edge(layer, tz, t);
    match (edge, transition) {
        (Some(e), Some(tr)) => Some(e.min(tr)),
        (e, tr) => e.or(tr),
    }
}

fn next_local_edge(layer: &Layer, tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    let today = tz.to_datetime(t).date();
    // Every window edge recurs daily at the latest, so today, tomorrow and the day after hold
    // the next one (the extra day covers a time skipped by a spring-forward gap).
    for offset in 0..3 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
            return None;
        };
        let mut best: Option<Timestamp> = None;
        for w in &layer.restrictions {
            for time in [w.start, w.end] {
                let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(time));
                for c in [ambiguous.earlier(), ambiguous.later()]
                    .into_iter()
                    .flatten()
                {
                    if c > t && best.is_none_or(|b| c < b) {
                        best = Some(c);
                    }
                }
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}
