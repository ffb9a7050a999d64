//! Property tests of the on-call engine.

mod common;

use common::*;
use jiff::{SignedDuration, Span, Timestamp, civil, tz::TimeZone};
use proptest::prelude::*;
use switchboard_routing::{Override, Schedule, ShiftLength, Source};

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe", // a 30-minute daylight saving change
    "Asia/Kolkata",
    "UTC",
];

fn shift_length() -> impl Strategy<Value = ShiftLength> {
    prop_oneof![
        prop::sample::select(vec![1u32, 2, 3, 5, 6, 8, 12, 24, 36]).prop_map(ShiftLength::Hours),
        prop::sample::select(vec![1u32, 2, 7, 14]).prop_map(ShiftLength::Days),
    ]
}

fn local_start() -> impl Strategy<Value = civil::DateTime> {
    // Dates around the 2026 transitions, handoff times including the ones that DST skips or
    // repeats (01:xx to 03:xx).
    (
        0i64..700,
        0i8..24,
        prop::sample::select(vec![0i8, 15, 30, 59]),
    )
        .prop_map(|(day, h, m)| {
            civil::date(2025, 6, 1)
                .checked_add(Span::new().days(day))
                .unwrap()
                .at(h, m, 0, 0)
        })
}

/// The shift index found the slow way: walking shift by shift from the start, with local
/// times built by calendar arithmetic on a `Span` (another code path than the engine's).
fn naive_shift_index(
    tz: &TimeZone,
    start: civil::DateTime,
    len: ShiftLength,
    at: Timestamp,
) -> Option<i64> {
    let start_of = |k: i64| -> Timestamp {
        let span = match len {
            ShiftLength::Hours(h) => Span::new().hours(k * i64::from(h)),
            ShiftLength::Days(d) => Span::new().hours(k * i64::from(d) * 24),
        };
        start
            .checked_add(span)
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
    };
    if at < start_of(0) {
        return None;
    }
    let mut k = 0;
    while start_of(k + 1) <= at {
        k += 1;
    }
    Some(k)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn shift_index_matches_a_walk_from_the_start(
        zone in prop::sample::select(ZONES),
        len in shift_length(),
        start in local_start(),
        members in 1usize..5,
        offset_minutes in -3_000i64..90_000,
    ) {
        let names: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut l = layer("l", len, "2026-01-01T00:00", &refs);
        l.start = start;
        let s = schedule(zone, vec![l]);
        let tz = TimeZone::get(zone).unwrap();
        let first = start.to_zoned(tz.clone()).unwrap().timestamp();
        let at = first.checked_add(SignedDuration::from_mins(offset_minutes)).unwrap();

        let got = s.on_call_at(at).unwrap();
        match naive_shift_index(&tz, start, len, at) {
            None => prop_assert_eq!(got.person, None),
            Some(k) => {
                prop_assert_eq!(got.person.as_deref(), Some(refs[(k as usize) % members]));
                let Source::Layer { shift_start, shift_end, .. } = got.source else {
                    return Err(TestCaseError::fail("expected a layer shift"));
                };
                prop_assert!(shift_start <= at && at < shift_end);
            }
        }
    }

    #[test]
    fn handoffs_are_exactly_where_the_answer_changes(
        zone in prop::sample::select(ZONES),
        len_a in shift_length(),
        len_b in shift_length(),
        start_a in local_start(),
        start_b in local_start(),
        window in (0i8..24, prop::sample::select(vec![0i8, 30]), 0i8..24),
        restrict_b in any::<bool>(),
        override_at in prop::option::of(0i64..20_000),
        from_minutes in 0i64..200_000,
    ) {
        let mut a = layer("a", len_a, "2026-01-01T00:00", &["ann", "ben", "cy"]);
        a.start = start_a;
        let mut b = layer("b", len_b, "2026-01-01T00:00", &["dee", "eve"]);
        b.start = start_b;
        if restrict_b {
            let (sh, sm, eh) = window;
            b.restrictions = vec![switchboard_routing::Window {
                days: switchboard_routing::Days::of([civil::Weekday::Monday, civil::Weekday::Saturday, civil::Weekday::Sunday]),
                start: civil::time(sh, sm, 0, 0),
                end: civil::time(eh, 0, 0, 0),
            }];
        }
        let mut s: Schedule = schedule(zone, vec![a, b]);
        let t0 = "2025-09-01T00:00:00Z".parse::<Timestamp>().unwrap()
            .checked_add(SignedDuration::from_mins(from_minutes)).unwrap();
        if let Some(m) = override_at {
            let start = t0.checked_add(SignedDuration::from_mins(m)).unwrap();
            s.people.push(person("ovr"));
            s.overrides.push(Override { person: "ovr".into(), start, end: start.checked_add(SignedDuration::from_hours(5)).unwrap() });
        }

        let handoffs = s.next_handoffs(t0, 8).unwrap();
        let mut prev_at = t0;
        let mut prev_to = s.on_call_at(t0).unwrap().person;
        for h in &handoffs {
            prop_assert!(h.at > prev_at);
            prop_assert_eq!(&h.from, &prev_to);
            prop_assert_ne!(&h.from, &h.to.person);
            prop_assert_eq!(&s.on_call_at(h.at).unwrap().person, &h.to.person);
            let just_before = h.at.checked_sub(SignedDuration::from_secs(1)).unwrap();
            if just_before >= prev_at {
                prop_assert_eq!(&s.on_call_at(just_before).unwrap().person, &prev_to);
            }
            // Nobody else is on call anywhere in between (sampled).
            let gap = h.at.duration_since(prev_at).as_secs();
            for i in 1..16 {
                let probe = prev_at.checked_add(SignedDuration::from_secs(gap * i / 16)).unwrap();
                prop_assert_eq!(&s.on_call_at(probe).unwrap().person, &prev_to, "at {}", probe);
            }
            prev_at = h.at;
            prev_to = h.to.person.clone();
        }
    }
}
