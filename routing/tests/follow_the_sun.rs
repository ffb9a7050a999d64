//! Follow-the-sun across Europe/Berlin and America/Los_Angeles, whose daylight saving changes
//! fall on different dates (the US changes two weeks earlier in March and one week later in
//! autumn): with a time zone per layer each region keeps its local hours all year and nobody is
//! ever missing; with one zone for both, the other region's hours drift by an hour for those
//! weeks.

mod common;

use common::{layer, schedule, ts, window};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use switchboard_routing::{Schedule, ShiftLength::Days};

const AMERICAS: [&str; 2] = ["lee", "max"];

/// EMEA takes the day around the clock as the floor; the Americas layer on top covers
/// 10:00–22:00 in the zone `amer_zone`, written as `start`–`end` there.
fn follow_the_sun(amer_zone: Option<&str>, start: &str, end: &str) -> Schedule {
    let emea = layer("emea", Days(1), "2027-01-04T08:00", &["anna", "ben"]);
    let mut amer = layer("amer", Days(1), "2027-01-04T10:00", &AMERICAS);
    amer.restrictions = vec![window(&[], start, end)];
    if let Some(zone) = amer_zone {
        amer.time_zone = Some(zone.to_string());
    }
    schedule("Europe/Berlin", vec![emea, amer])
}

/// Every quarter hour of 2027 at which an Americas person is on call outside 10:00–22:00 Los
/// Angeles time, or is not on call inside it; and the number of instants with nobody on call.
fn misses(s: &Schedule) -> (Vec<Timestamp>, usize) {
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    let (mut wrong, mut nobody) = (Vec::new(), 0);
    let mut t = ts("2027-01-04T12:00:00Z");
    while t < ts("2028-01-01T00:00:00Z") {
        let on_call = s.on_call_at(t).unwrap().person;
        let hour = la.to_datetime(t).hour();
        let amer_hours = (10..22).contains(&hour);
        match on_call.as_deref() {
            None => nobody += 1,
            Some(p) if AMERICAS.contains(&p) != amer_hours => wrong.push(t),
            Some(_) => {}
        }
        t = t.checked_add(SignedDuration::from_mins(15)).unwrap();
    }
    (wrong, nobody)
}

#[test]
fn a_layer_in_its_own_zone_keeps_its_local_hours_all_year_with_no_gap() {
    let s = follow_the_sun(Some("America/Los_Angeles"), "10:00", "22:00");
    let (wrong, nobody) = misses(&s);
    assert_eq!(nobody, 0, "someone is on call at every instant");
    assert!(
        wrong.is_empty(),
        "Americas off its local hours at {wrong:?}"
    );

    // The handoffs themselves are at 10:00 and 22:00 Los Angeles time on both sides of the
    // US change (2027-03-14) and of the EU change (2027-03-28).
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    for h in s.next_handoffs(ts("2027-03-10T00:00:00Z"), 60).unwrap() {
        let local = la.to_datetime(h.at);
        let to_amer =
            h.to.person
                .as_deref()
                .is_some_and(|p| AMERICAS.contains(&p));
        let from_amer = h.from.as_deref().is_some_and(|p| AMERICAS.contains(&p));
        if to_amer && !from_amer {
            assert_eq!((local.hour(), local.minute()), (10, 0), "{h:?}");
        } else if from_amer && !to_amer {
            assert_eq!((local.hour(), local.minute()), (22, 0), "{h:?}");
        }
    }
}

#[test]
fn one_zone_for_both_regions_drifts_an_hour_in_the_weeks_between_the_changes() {
    // The same hours written in Berlin time (19:00–07:00 is 10:00–22:00 in Los Angeles for most
    // of the year): what a Schedule with one zone had to do.
    let s = follow_the_sun(None, "19:00", "07:00");
    let (wrong, nobody) = misses(&s);
    assert_eq!(nobody, 0);
    // 2027-03-14 (US) to 2027-03-28 (EU) and 2027-10-31 (EU) to 2027-11-07 (US): three weeks,
    // an hour off twice a day.
    let in_spring =
        |t: &Timestamp| *t >= ts("2027-03-14T10:00:00Z") && *t < ts("2027-03-28T01:00:00Z");
    let in_autumn =
        |t: &Timestamp| *t >= ts("2027-10-31T01:00:00Z") && *t < ts("2027-11-07T10:00:00Z");
    assert!(
        wrong.iter().all(|t| in_spring(t) || in_autumn(t)),
        "{wrong:?}"
    );
    assert!(wrong.iter().any(in_spring) && wrong.iter().any(in_autumn));
    // Exactly an hour late each time: the Americas person starts at 11:00 and stays to 23:00.
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    assert!(
        wrong
            .iter()
            .all(|t| [10, 22].contains(&la.to_datetime(*t).hour())),
        "{wrong:?}"
    );
}
