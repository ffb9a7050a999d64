//! Coverage gaps: the periods when a schedule has nobody on call, or when a chain's first step
//! has nobody to ring, found exactly from the schedule's boundaries (not by sampling).
//!
//! ```text
//!   Schedule::boundaries(from, until) ─► who is on call from each boundary on ─► runs of nobody
//!   chain step 0: only onCall targets ─► the intersection of their schedules' gaps
//!                 any team / person / number / SIP target ─► never a gap
//! ```

use jiff::Timestamp;

use crate::error::ScheduleError;
use crate::schedule::Schedule;
use crate::table::{Chain, RoutingTable, Target};

/// A period with nobody to ring: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// When it starts (`from` when it was already open then).
    pub start: Timestamp,
    /// When someone is on call again (`until` when still open then).
    pub end: Timestamp,
}

impl Schedule {
    /// The periods in `[from, until)` when nobody is on call, in order.
    pub fn gaps(&self, from: Timestamp, until: Timestamp) -> Result<Vec<Gap>, ScheduleError> {
        let mut gaps = Vec::new();
        let mut open: Option<Timestamp> = None;
        let starts = std::iter::once(from).chain(self.boundaries(from, until)?);
        for t in starts {
            let nobody = self.on_call_at(t)?.person.is_none();
            match (nobody, open) {
                (true, None) => open = Some(t),
                (false, Some(start)) => {
                    gaps.push(Gap { start, end: t });
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            gaps.push(Gap { start, end: until });
        }
        Ok(gaps)
    }
}

impl RoutingTable {
    /// The periods in `[from, until)` when the first step of `chain` has nobody to ring
    /// ([`step_gaps`]). A missing schedule counts as nobody.
    pub fn first_step_gaps(
        &self,
        chain: &Chain,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Gap>, ScheduleError> {
        let all = Gap {
            start: from,
            end: until,
        };
        let Some(step) = chain.steps.first() else {
            return Ok(vec![all]);
        };
        let mut targets = Vec::new();
        for target in &step.targets {
            let Target::OnCall { schedule } = target else {
                targets.push(None);
                break;
            };
            targets.push(Some(match self.schedules.get(schedule) {
                Some(s) => s.gaps(from, until)?,
                None => vec![all],
            }));
        }
        Ok(step_gaps(from, until, targets))
    }
}

/// The periods in `[from, until)` when a step has nobody to ring, given each target's gaps:
/// `Some` for an on-call target (its schedule's gaps), `None` for a target that always gives
/// someone (a team, a person, a number, a SIP address). A step rings nobody only where all
/// its targets do.
pub fn step_gaps(
    from: Timestamp,
    until: Timestamp,
    targets: impl IntoIterator<Item = Option<Vec<Gap>>>,
) -> Vec<Gap> {
    let mut gaps = vec![Gap {
        start: from,
        end: until,
    }];
    for target in targets {
        match target {
            Some(theirs) => gaps = intersect(&gaps, &theirs),
            None => return Vec::new(),
        }
    }
    gaps
}

/// The periods in both lists (each sorted and disjoint).
fn intersect(a: &[Gap], b: &[Gap]) -> Vec<Gap> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Gap { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(start: &str, end: &str) -> Gap {
        Gap {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    #[test]
    fn intersecting_keeps_only_the_periods_both_lists_have() {
        let a = [
            gap("2027-01-01T00:00:00Z", "2027-01-01T10:00:00Z"),
            gap("2027-01-02T00:00:00Z", "2027-01-02T10:00:00Z"),
        ];
        let b = [gap("2027-01-01T08:00:00Z", "2027-01-02T02:00:00Z")];
        assert_eq!(
            intersect(&a, &b),
            [
                gap("2027-01-01T08:00:00Z", "2027-01-01T10:00:00Z"),
                gap("2027-01-02T00:00:00Z", "2027-01-02T02:00:00Z"),
            ]
        );
        assert_eq!(intersect(&a, &[]), []);
    }
}
