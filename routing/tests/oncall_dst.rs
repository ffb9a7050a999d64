//! Table tests of the on-call engine at daylight saving changes in America/New_York,
//! Europe/Berlin and Australia/Sydney, and for restrictions, layers and overrides.
//!
//! 2026 transitions used: New York 03-08 02:00->03:00 and 11-01 02:00->01:00; Berlin 03-29
//! 02:00->03:00 and 10-25 03:00->02:00; Sydney 04-05 03:00->02:00 and 10-04 02:00->03:00.

mod common;

use common::*;
use jiff::civil::Weekday::*;
use switchboard_routing::{ShiftLength::*, Source};

/// (time zone, first shift, instant, expected person) for a daily a/b rotation handing off
/// at the local time of `first shift`.
const DAILY: &[(&str, &str, &str, &str)] = &[
    // New York, spring forward on 2026-03-08: 03-07 is shift 6 (a), 03-08 shift 7 (b).
    (
        "America/New_York",
        "2026-03-01T09:00",
        "2026-03-08T08:59:59-04:00",
        "a",
    ),
    (
        "America/New_York",
        "2026-03-01T09:00",
        "2026-03-08T09:00:00-04:00",
        "b",
    ),
    (
        "America/New_York",
        "2026-03-01T09:00",
        "2026-03-08T12:59:59Z",
        "a",
    ),
    (
        "America/New_York",
        "2026-03-01T09:00",
        "2026-03-08T13:00:00Z",
        "b",
    ),
    // New York, fall back on 2026-11-01: 09:00 EST is 14:00Z; 13:30Z is still 08:30 local.
    (
        "America/New_York",
        "2026-10-01T09:00",
        "2026-11-01T13:30:00Z",
        "a",
    ),
    (
        "America/New_York",
        "2026-10-01T09:00",
        "2026-11-01T14:00:00Z",
        "b",
    ),
    // Berlin, spring forward on 2026-03-29 (09:00 CEST = 07:00Z).
    (
        "Europe/Berlin",
        "2026-03-01T09:00",
        "2026-03-29T06:59:59Z",
        "b",
    ),
    (
        "Europe/Berlin",
        "2026-03-01T09:00",
        "2026-03-29T07:00:00Z",
        "a",
    ),
    // Berlin, fall back on 2026-10-25 (09:00 CET = 08:00Z).
    (
        "Europe/Berlin",
        "2026-10-01T09:00",
        "2026-10-25T07:59:59Z",
        "b",
    ),
    (
        "Europe/Berlin",
        "2026-10-01T09:00",
        "2026-10-25T08:00:00Z",
        "a",
    ),
    // Sydney, DST ends on 2026-04-05 (09:00 AEST = 23:00Z the day before).
    (
        "Australia/Sydney",
        "2026-04-01T09:00",
        "2026-04-04T22:59:59Z",
        "b",
    ),
    (
        "Australia/Sydney",
        "2026-04-01T09:00",
        "2026-04-04T23:00:00Z",
        "a",
    ),
    // Sydney, DST starts on 2026-10-04 (09:00 AEDT = 22:00Z the day before).
    (
        "Australia/Sydney",
        "2026-10-01T09:00",
        "2026-10-03T21:59:59Z",
        "a",
    ),
    (
        "Australia/Sydney",
        "2026-10-01T09:00",
        "2026-10-03T22:00:00Z",
        "b",
    ),
    // A handoff at 02:30 on Sydney's spring-forward day: 02:30 does not exist, so the shift
    // starts when the clock shows 03:30 (the local time moved forward by the gap).
    (
        "Australia/Sydney",
        "2026-10-01T02:30",
        "2026-10-04T03:29:59+11:00",
        "a",
    ),
    (
        "Australia/Sydney",
        "2026-10-01T02:30",
        "2026-10-04T03:30:00+11:00",
        "b",
    ),
    // A handoff at 02:30 on Sydney's fall-back day: 02:30 happens twice; the first counts.
    (
        "Australia/Sydney",
        "2026-04-01T02:30",
        "2026-04-05T02:29:59+11:00",
        "b",
    ),
    (
        "Australia/Sydney",
        "2026-04-01T02:30",
        "2026-04-05T02:30:00+11:00",
        "a",
    ),
    (
        "Australia/Sydney",
        "2026-04-01T02:30",
        "2026-04-05T02:30:00+10:00",
        "a",
    ),
];

#[test]
fn daily_handoffs_keep_their_local_time_across_daylight_saving_changes() {
    for (tz, start, at, expected) in DAILY {
        let s = schedule(tz, vec![layer("primary", Days(1), start, &["a", "b"])]);
        assert_eq!(
            who(&s, at).as_deref(),
            Some(*expected),
            "{tz}, rotation from {start}, at {at}"
        );
    }
}

#[test]
fn a_shift_that_spans_spring_forward_is_an_hour_shorter_in_real_time() {
    let s = schedule(
        "America/New_York",
        vec![layer("primary", Days(1), "2026-03-01T09:00", &["a", "b"])],
    );
    let oc = s.on_call_at(ts("2026-03-08T03:00:00-04:00")).unwrap();
    let Source::Layer {
        shift_start,
        shift_end,
        ..
    } = oc.source
    else {
        panic!("expected a layer, got {:?}", oc.source)
    };
    assert_eq!(shift_start, ts("2026-03-07T09:00:00-05:00"));
    assert_eq!(shift_end, ts("2026-03-08T09:00:00-04:00"));
    assert_eq!(shift_end.duration_since(shift_start).as_hours(), 23);
}

#[test]
fn weekly_rotation_hands_off_on_monday_0900_berlin_before_and_after_the_change() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            "primary",
            Days(7),
            "2026-03-02T09:00",
            &["a", "b", "c"],
        )],
    );
    // Weeks from 03-02: a, b, c, a (03-23), b (03-30, first week of CEST).
    assert_eq!(who(&s, "2026-03-30T08:59:59+02:00").as_deref(), Some("a"));
    assert_eq!(who(&s, "2026-03-30T09:00:00+02:00").as_deref(), Some("b"));
    let next = s.next_handoffs(ts("2026-03-24T00:00:00Z"), 2).unwrap();
    let times: Vec<String> = next.iter().map(|h| h.at.to_string()).collect();
    assert_eq!(times, ["2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z"]);
}

#[test]
fn twelve_hour_shifts_stay_at_0900_and_2100_across_fall_back() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            "follow",
            Hours(12),
            "2026-10-20T09:00",
            &["day", "night"],
        )],
    );
    let hs = s.next_handoffs(ts("2026-10-24T08:00:00Z"), 4).unwrap();
    let got: Vec<(String, String)> = hs
        .iter()
        .map(|h| {
            let local =
                h.at.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
            (
                local.strftime("%m-%d %H:%M %Z").to_string(),
                h.to.person.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("10-24 21:00 CEST".to_string(), "night".to_string()),
            ("10-25 09:00 CET".to_string(), "day".to_string()),
            ("10-25 21:00 CET".to_string(), "night".to_string()),
            ("10-26 09:00 CET".to_string(), "day".to_string()),
        ]
    );
}

#[test]
fn next_handoffs_in_new_york_are_at_0900_local_every_day_through_spring_forward() {
    let s = schedule(
        "America/New_York",
        vec![layer("primary", Days(1), "2026-03-01T09:00", &["a", "b"])],
    );
    let hs = s.next_handoffs(ts("2026-03-06T12:00:00Z"), 4).unwrap();
    let got: Vec<String> = hs.iter().map(|h| h.at.to_string()).collect();
    assert_eq!(
        got,
        [
            "2026-03-06T14:00:00Z",
            "2026-03-07T14:00:00Z",
            "2026-03-08T13:00:00Z",
            "2026-03-09T13:00:00Z"
        ]
    );
}

#[test]
fn a_rotation_that_starts_in_the_future_has_nobody_until_its_first_shift() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer("primary", Days(7), "2027-01-04T09:00", &["a", "b"])],
    );
    assert_eq!(who(&s, "2027-01-04T07:59:59Z"), None);
    assert_eq!(who(&s, "2027-01-04T08:00:00Z").as_deref(), Some("a"));
    let hs = s.next_handoffs(ts("2026-12-01T00:00:00Z"), 1).unwrap();
    assert_eq!(hs[0].at, ts("2027-01-04T08:00:00Z"));
    assert_eq!(hs[0].from, None);
}

#[test]
fn a_restriction_window_that_crosses_midnight_covers_the_next_morning() {
    let mut l = layer("nights", Days(7), "2026-10-05T00:00", &["owl"]);
    l.restrictions = vec![window(&[Friday, Saturday], "22:00", "06:00")];
    let s = schedule("America/New_York", vec![l]);
    // Friday 2026-10-30.
    assert_eq!(who(&s, "2026-10-30T21:59:59-04:00"), None);
    assert_eq!(who(&s, "2026-10-30T22:00:00-04:00").as_deref(), Some("owl"));
    assert_eq!(who(&s, "2026-10-31T05:59:59-04:00").as_deref(), Some("owl"));
    assert_eq!(who(&s, "2026-10-31T06:00:00-04:00"), None);
    // Saturday night is the fall-back night: 22:00 EDT to 06:00 EST is nine real hours.
    assert_eq!(who(&s, "2026-11-01T01:30:00-04:00").as_deref(), Some("owl"));
    assert_eq!(who(&s, "2026-11-01T01:30:00-05:00").as_deref(), Some("owl"));
    assert_eq!(who(&s, "2026-11-01T05:59:59-05:00").as_deref(), Some("owl"));
    assert_eq!(who(&s, "2026-11-01T06:00:00-05:00"), None);
    // Sunday night is not in the window (it starts on Friday and Saturday only).
    assert_eq!(who(&s, "2026-11-01T23:00:00-05:00"), None);
    let hs = s.next_handoffs(ts("2026-10-31T12:00:00Z"), 2).unwrap();
    assert_eq!(hs[0].at, ts("2026-10-31T22:00:00-04:00"));
    assert_eq!(hs[1].at, ts("2026-11-01T06:00:00-05:00"));
}

#[test]
fn a_window_edge_in_the_spring_forward_gap_takes_effect_at_the_transition() {
    // Window from 02:30, which New York's clocks skip on 2026-03-08: the layer comes on when the
    // clock jumps from 01:59:59 EST to 03:00 EDT.
    let mut l = layer("early", Days(1), "2026-03-01T00:00", &["early-bird"]);
    l.restrictions = vec![window(&[], "02:30", "08:00")];
    let s = schedule("America/New_York", vec![l]);
    assert_eq!(who(&s, "2026-03-08T01:59:59-05:00"), None);
    assert_eq!(
        who(&s, "2026-03-08T03:00:00-04:00").as_deref(),
        Some("early-bird")
    );
    let hs = s.next_handoffs(ts("2026-03-08T05:00:00Z"), 1).unwrap();
    assert_eq!(hs[0].at, ts("2026-03-08T03:00:00-04:00"));
}

#[test]
fn business_hours_layer_wins_over_the_base_layer_only_inside_its_window() {
    let base = layer("base", Days(7), "2026-01-05T09:00", &["night-owl"]);
    let mut day = layer(
        "business-hours",
        Days(1),
        "2026-01-05T09:00",
        &["dana", "eli"],
    );
    day.restrictions = vec![window(
        &[Monday, Tuesday, Wednesday, Thursday, Friday],
        "09:00",
        "17:00",
    )];
    let s = schedule("Europe/Berlin", vec![base, day]);
    // Thursday 2026-11-19 is day 318 since 01-05: even -> dana.
    assert_eq!(
        who(&s, "2026-11-19T10:00:00+01:00").as_deref(),
        Some("dana")
    );
    assert_eq!(
        who(&s, "2026-11-19T17:00:00+01:00").as_deref(),
        Some("night-owl")
    );
    // Saturday: outside every window.
    assert_eq!(
        who(&s, "2026-11-21T10:00:00+01:00").as_deref(),
        Some("night-owl")
    );
    let oc = s.on_call_at(ts("2026-11-19T10:00:00+01:00")).unwrap();
    assert_eq!(oc.source.label(), "layer/business-hours");
}

#[test]
fn an_active_override_wins_and_the_latest_started_override_wins_over_another() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer("primary", Days(7), "2026-01-05T09:00", &["a", "b"])],
    );
    let s = with_override(
        s,
        "zoe",
        "2026-12-24T18:00:00+01:00",
        "2026-12-27T09:00:00+01:00",
    );
    let s = with_override(
        s,
        "yann",
        "2026-12-25T00:00:00+01:00",
        "2026-12-25T12:00:00+01:00",
    );
    // 2026-12-21 starts week 50 of the rotation: a.
    assert_eq!(who(&s, "2026-12-24T17:59:59+01:00").as_deref(), Some("a"));
    assert_eq!(who(&s, "2026-12-24T18:00:00+01:00").as_deref(), Some("zoe"));
    assert_eq!(
        who(&s, "2026-12-25T06:00:00+01:00").as_deref(),
        Some("yann")
    );
    assert_eq!(who(&s, "2026-12-25T12:00:00+01:00").as_deref(), Some("zoe"));
    assert_eq!(who(&s, "2026-12-27T09:00:00+01:00").as_deref(), Some("a"));
    let hs = s.next_handoffs(ts("2026-12-24T12:00:00Z"), 5).unwrap();
    let tos: Vec<_> = hs.iter().map(|h| h.to.person.clone().unwrap()).collect();
    assert_eq!(tos, ["zoe", "yann", "zoe", "a", "b"]);
    assert_eq!(hs[4].at, ts("2026-12-28T09:00:00+01:00"));
}

#[test]
fn cost_does_not_depend_on_how_long_the_rotation_has_run() {
    // A daily rotation of 7 started in 1900 answers with one division, not 46,000 steps; the
    // expected member is computed independently, from the number of calendar days elapsed.
    let members = ["m0", "m1", "m2", "m3", "m4", "m5", "m6"];
    let old = schedule(
        "America/New_York",
        vec![layer("primary", Days(1), "1900-01-01T09:00", &members)],
    );
    let at = ts("2026-11-21T15:00:00Z"); // 10:00 EST on 2026-11-21
    let days = jiff::civil::date(1900, 1, 1)
        .until((jiff::Unit::Day, jiff::civil::date(2026, 11, 21)))
        .unwrap()
        .get_days();
    let expected = members[(days % 7) as usize];
    assert_eq!(
        old.on_call_at(at).unwrap().person.as_deref(),
        Some(expected)
    );
    // The same rotation started last week answers the same for the same phase.
    let recent_start = jiff::civil::date(2026, 11, 21)
        .checked_sub(jiff::Span::new().days(7 + i64::from(days % 7) as i64))
        .unwrap();
    let recent = schedule(
        "America/New_York",
        vec![layer(
            "primary",
            Days(1),
            &format!("{recent_start}T09:00"),
            &members,
        )],
    );
    assert_eq!(
        recent.on_call_at(at).unwrap().person.as_deref(),
        Some(expected)
    );
}
