//! `validate`, `oncall` and `crds` as a user runs them.

use super::*;

#[test]
fn validate_accepts_the_examples() {
    let (code, out, err) = switchboard(&["validate", "examples/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 PhoneNumber(s), 2 IncomingCallPolicy(ies), 3 EscalationChain(s), 3 Schedule(s): valid"), "{out}");
    assert!(
        out.contains("+14155550100 -> policy oncall/support"),
        "{out}"
    );
}

#[test]
fn validate_names_file_object_and_field_and_exits_non_zero() {
    let (code, out, _) = switchboard(&[
        "validate",
        "examples/",
        "examples/invalid/misspelled-field.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "error: examples/invalid/misspelled-field.yaml: EscalationChain oncall/storage: \
             spec.steps[0].ringTimeout: unknown field \"ringTimeout\""
        ),
        "{out}"
    );
    assert!(
        out.contains("Did you mean \"ringTimeoutSeconds\"?"),
        "{out}"
    );
    assert!(out.contains("1 problem(s) found"), "{out}");
}

#[test]
fn validate_reports_every_invalid_example_when_given_the_whole_folder() {
    let (code, out, _) = switchboard(&["validate", "examples/", "examples/invalid/"]);
    assert_eq!(code, 1);
    let files = std::fs::read_dir(examples().join("invalid"))
        .unwrap()
        .count();
    // The invalid files reuse two object names between them, so each name's later copies are
    // also reported as defined twice; every file is named at least once.
    for entry in std::fs::read_dir(examples().join("invalid")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            out.contains(&format!("examples/invalid/{name}")),
            "{name} not reported:\n{out}"
        );
    }
    assert!(files >= 15);
}

#[test]
fn validate_of_a_missing_path_is_a_clear_error() {
    let (code, _, err) = switchboard(&["validate", "no-such-folder/"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read no-such-folder/"), "{err}");
}

#[test]
fn oncall_at_new_york_spring_forward_shows_the_0900_edt_handoff() {
    // Monday 2026-03-09, the first weekday after the change: the business-hours layer takes
    // over at 09:00 EDT (13:00Z), not 09:00 EST (14:00Z).
    let (code, out, err) = switchboard(&[
        "oncall",
        "examples/",
        "--schedule",
        "database",
        "--at",
        "2026-03-09T12:59:00Z",
        "--handoffs",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(
        rows[1].contains("Mon 2026-03-09 08:59 EDT") && rows[1].contains("Fran Lopez (fran)"),
        "{out}"
    );
    assert!(
        rows[4].contains("Mon 2026-03-09 09:00 EDT")
            && rows[4].contains("2026-03-09 13:00")
            && rows[4].contains("Eli Cohen (eli)"),
        "{out}"
    );
}

#[test]
fn oncall_with_a_local_time_reads_it_in_each_schedules_zone() {
    // 10:00 local on the Monday after Berlin's fall back: the weekly rotation hands to Ines.
    let (code, out, _) = switchboard(&[
        "oncall",
        "examples/",
        "--schedule",
        "oncall/payments",
        "--at",
        "2026-10-26T10:00",
        "--handoffs",
        "0",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Mon 2026-10-26 10:00 CET") && out.contains("Ines Roth (ines)"),
        "{out}"
    );
}

#[test]
fn oncall_shows_an_active_override() {
    let (_, out, _) = switchboard(&[
        "oncall",
        "examples/",
        "--schedule",
        "database",
        "--at",
        "2026-12-25T12:00[America/New_York]",
    ]);
    assert!(out.contains("Hana Ito (dba-manager)  override"), "{out}");
}

#[test]
fn oncall_rejects_an_unreadable_time() {
    let (code, _, err) = switchboard(&["oncall", "examples/", "--at", "tomorrow"]);
    assert_eq!(code, 2);
    assert!(err.contains("--at \"tomorrow\" is not a time"), "{err}");
}

#[test]
fn oncall_gaps_lists_when_a_schedule_and_the_chain_that_rings_it_have_nobody() {
    let (code, out, err) = switchboard(&["oncall", "examples/", "--gaps"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("no gaps: "), "{out}");

    // The database's around-the-clock layer limited to 07:00-22:00: nobody overnight.
    let dir = copy_of_examples();
    let schedules = dir.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    let from = "      members: [fran, gus]\n";
    assert!(text.contains(from));
    let to =
        "      members: [fran, gus]\n      restrictions: [{ start: \"07:00\", end: \"22:00\" }]\n";
    std::fs::write(&schedules, text.replacen(from, to, 1)).unwrap();
    let (code, out, err) = switchboard(&[
        "oncall",
        dir.path().to_str().unwrap(),
        "--gaps",
        "--schedule",
        "database",
        "--days",
        "2",
        "--at",
        "2027-01-04T12:00:00Z",
    ]);
    assert_eq!(code, 1, "a gap exits 1: {out}{err}");
    for expected in [
        "nobody to ring in the next 2 days:",
        "Schedule oncall/database",
        "EscalationChain oncall/database step 1 (on-call)",
        "Mon 2027-01-04 22:00 EST  Tue 2027-01-05 07:00 EST  9h",
        "Tue 2027-01-05 22:00 EST  Wed 2027-01-06 07:00 EST  9h",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    // Both the schedule and its chain, each night: four rows and the header.
    assert_eq!(
        out.lines().filter(|l| l.contains(" EST ")).count(),
        4,
        "{out}"
    );
}
