//! Coverage gaps, found exactly from a schedule's boundaries: at the edges of windows that
//! cross midnight, across a daylight saving change, and closed by an override.

mod common;

use common::*;
use switchboard_routing::{Gap, ShiftLength};

fn berlin_days_and_nights() -> switchboard_routing::Schedule {
    let mut days = layer("days", ShiftLength::Days(7), "2027-01-04T08:00", &["ana"]);
    days.restrictions = vec![window(&[], "08:00", "20:00")];
    let mut nights = layer("nights", ShiftLength::Days(7), "2027-01-04T22:00", &["bo"]);
    // Crosses midnight: 22:00 to 06:00 the next morning.
    nights.restrictions = vec![window(&[], "22:00", "06:00")];
    schedule("Europe/Berlin", vec![days, nights])
}

fn local(gaps: &[Gap]) -> Vec<String> {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    gaps.iter()
        .map(|g| {
            format!(
                "{} {}",
                g.start.to_zoned(tz.clone()).strftime("%m-%d %H:%M"),
                g.end.to_zoned(tz.clone()).strftime("%H:%M")
            )
        })
        .collect()
}

#[test]
fn the_hours_between_a_day_window_and_a_night_window_crossing_midnight_are_gaps() {
    let s = berlin_days_and_nights();
    let gaps = s
        .gaps(
            ts("2027-01-05T00:00:00+01:00"),
            ts("2027-01-07T00:00:00+01:00"),
        )
        .unwrap();
    assert_eq!(
        local(&gaps),
        [
            "01-05 06:00 08:00",
            "01-05 20:00 22:00",
            "01-06 06:00 08:00",
            "01-06 20:00 22:00"
        ]
    );
}

#[test]
fn gaps_keep_their_local_hours_across_the_spring_daylight_saving_change() {
    let s = berlin_days_and_nights();
    // Berlin moves from +01:00 to +02:00 at 02:00 on 2027-03-28.
    let gaps = s
        .gaps(
            ts("2027-03-27T00:00:00+01:00"),
            ts("2027-03-29T00:00:00+02:00"),
        )
        .unwrap();
    assert_eq!(
        local(&gaps),
        [
            "03-27 06:00 08:00",
            "03-27 20:00 22:00",
            "03-28 06:00 08:00",
            "03-28 20:00 22:00"
        ]
    );
    // The same local hour is an hour earlier in UTC after the change.
    assert_eq!(gaps[0].start, ts("2027-03-27T05:00:00Z"));
    assert_eq!(gaps[2].start, ts("2027-03-28T04:00:00Z"));
}

#[test]
fn an_override_over_a_gap_closes_it_and_a_gap_open_at_either_end_is_cut_there() {
    let s = with_override(
        berlin_days_and_nights(),
        "cy",
        "2027-01-05T05:00:00Z",
        "2027-01-05T07:00:00Z",
    );
    let gaps = s
        .gaps(
            ts("2027-01-05T06:30:00+01:00"),
            ts("2027-01-05T21:00:00+01:00"),
        )
        .unwrap();
    // 06:30-08:00 is Cy's override; 20:00-21:00 is cut at the end of the span.
    assert_eq!(local(&gaps), ["01-05 20:00 21:00"]);
}
