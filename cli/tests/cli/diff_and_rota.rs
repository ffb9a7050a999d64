//! `switchboard diff` (who is rung, before and after a change) and the rota as a picture and a
//! calendar feed (`oncall --svg`, `oncall --ics`).

use super::*;

/// A copy of `examples/` with Dana and Eli's business-hours turns swapped.
fn swapped_examples() -> tempfile::TempDir {
    let dir = copy_of_examples();
    let schedules = dir.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    assert!(text.contains("members: [dana, eli]"));
    std::fs::write(
        &schedules,
        text.replace("members: [dana, eli]", "members: [eli, dana]"),
    )
    .unwrap();
    dir
}

#[test]
fn diff_lists_the_hours_whose_responders_changed_and_exits_1() {
    let new = swapped_examples();
    let (code, out, err) = switchboard(&[
        "diff",
        "examples",
        new.path().to_str().unwrap(),
        "--from",
        "2026-11-23T05:00:00Z",
        "--days",
        "2",
        "--tz",
        "America/New_York",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(
        out,
        "+14155550100 option 2 (the database team):
  Mon 2026-11-23 09:00 - Mon 2026-11-23 17:00 EST (8 h)
    before: dana; then dba-manager, +12125550999
    after:  eli; then dba-manager, +12125550999
  Tue 2026-11-24 09:00 - Tue 2026-11-24 17:00 EST (8 h)
    before: eli; then dba-manager, +12125550999
    after:  dana; then dba-manager, +12125550999

2 period(s) changed over the 2 days from 2026-11-23 00:00 EST.
"
    );
    let (code, out, _) = switchboard(&["diff", "examples", "examples", "--days", "3"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("No change in who is rung over the 3 days from "),
        "{out}"
    );
}

#[test]
fn diff_reads_a_git_revision_without_checking_it_out() {
    let repo = swapped_examples();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "swapped"]);
    // The working copy goes back to the examples' order; HEAD keeps the swap.
    let schedules = repo.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    std::fs::write(
        &schedules,
        text.replace("members: [eli, dana]", "members: [dana, eli]"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "diff",
            "HEAD:.",
            ".",
            "--from",
            "2026-11-23T05:00:00Z",
            "--days",
            "1",
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("    before: eli; then dba-manager, +12125550999\n    after:  dana;"),
        "{stdout}"
    );
    // Nothing was checked out: the working copy still has its own edit.
    assert!(
        std::fs::read_to_string(&schedules)
            .unwrap()
            .contains("members: [dana, eli]")
    );
}

/// A Berlin schedule with weekday office hours only (so nights and weekends are gaps) and one
/// override, across the change to summer time on 2027-03-28.
fn office_hours() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schedule.yaml"),
        r#"apiVersion: switchboard.dev/v1alpha1
kind: Schedule
metadata: { name: office, namespace: team }
spec:
  timeZone: Europe/Berlin
  people:
    - { name: ada, displayName: Ada Lovelace, phone: "+4930555000001" }
    - { name: bo, displayName: Bo Berg, phone: "+4930555000002" }
  layers:
    - name: office
      rotation: Daily
      startDate: "2027-01-04"
      handoffTime: "09:00"
      members: [ada, bo]
      restrictions:
        - { days: [Monday, Tuesday, Wednesday, Thursday, Friday], start: "09:00", end: "17:00" }
  overrides:
    - { person: bo, start: "2027-03-29T09:00", end: "2027-03-29T12:00" }
"#,
    )
    .unwrap();
    dir
}

/// `oncall FLAG FILE` on [`office_hours`] for the four days from Friday 2027-03-26; the folder
/// and the file written.
fn office_hours_drawn(flag: &str, file: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = office_hours();
    let path = dir.path().join(file);
    let (code, out, err) = switchboard(&[
        "oncall",
        dir.path().to_str().unwrap(),
        "--at",
        "2027-03-26T00:00:00Z",
        "--days",
        "4",
        flag,
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    (dir, path)
}

#[test]
fn oncall_svg_draws_layers_the_final_row_gaps_overrides_and_local_handoffs() {
    let (_dir, svg) = office_hours_drawn("--svg", "rota.svg");
    let doc = std::fs::read_to_string(&svg).unwrap();
    // Well-formed XML, every element closed.
    let mut reader = quick_xml::Reader::from_str(&doc);
    let mut texts = Vec::new();
    let mut titles = Vec::new();
    let mut in_title = false;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) => in_title = e.name().0 == "title",
            quick_xml::events::Event::Text(t) => {
                let t = t.xml10_content().into_owned();
                if in_title {
                    titles.push(t)
                } else {
                    texts.push(t)
                }
            }
            _ => {}
        }
    }
    for row in ["layer office", "on call"] {
        assert!(texts.iter().any(|t| t == row), "no row {row:?}: {texts:?}");
    }
    assert!(titles.iter().any(|t| t == "nobody"), "no gap: {titles:?}");
    assert!(
        titles.iter().any(|t| t == "Bo Berg (override)"),
        "no override: {titles:?}"
    );
    // Friday 26 March is Bo's day (odd days since Monday 4 January); Monday 29 March, after
    // the change to summer time, still hands over at 09:00 local and 17:00 local.
    assert!(titles.iter().any(|t| t == "Bo Berg"), "{titles:?}");
    for label in [
        "Fri 09:00",
        "Fri 17:00",
        "Mon 09:00",
        "Mon 12:00",
        "Mon 17:00",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "no handoff {label:?}: {texts:?}"
        );
    }
    assert!(doc.contains(r#"class="bar override""#) && doc.contains(r#"class="bar gap""#));
}

#[test]
fn oncall_ics_is_an_rfc_5545_calendar_of_each_shift_in_the_schedules_zone() {
    let (_dir, ics) = office_hours_drawn("--ics", "rota.ics");
    let text = std::fs::read_to_string(&ics).unwrap();
    assert!(
        text.lines().all(|l| l.len() <= 75),
        "a line longer than 75 octets"
    );
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    // TEXT values escaped as RFC 5545 3.3.11 says (the parser below unescapes them).
    assert!(text.contains("SUMMARY:On call: Bo Berg (team/office)\\, override\r\n"));
    let unfolded = icalendar::parser::unfold(&text);
    let calendar = icalendar::parser::read_calendar(&unfolded).expect("a calendar icalendar reads");
    let components = &calendar.components;
    let zones: Vec<_> = components
        .iter()
        .filter(|c| c.name == "VTIMEZONE")
        .collect();
    assert_eq!(zones.len(), 1);
    let zone = zones[0];
    let prop = |c: &icalendar::parser::Component, name: &str| {
        c.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.val.to_string())
    };
    assert_eq!(prop(zone, "TZID").as_deref(), Some("Europe/Berlin"));
    // The change to summer time inside the span, as an observance.
    let summer = zone
        .components
        .iter()
        .find(|c| c.name == "DAYLIGHT")
        .expect("a DAYLIGHT observance");
    assert_eq!(prop(summer, "DTSTART").as_deref(), Some("20270328T020000"));
    assert_eq!(prop(summer, "TZOFFSETFROM").as_deref(), Some("+0100"));
    assert_eq!(prop(summer, "TZOFFSETTO").as_deref(), Some("+0200"));
    let events: Vec<_> = components.iter().filter(|c| c.name == "VEVENT").collect();
    let starts: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let start = e.properties.iter().find(|p| p.name == "DTSTART").unwrap();
            let tzid = start
                .params
                .iter()
                .find(|p| p.key == "TZID")
                .and_then(|p| p.val.as_ref())
                .map(|v| v.to_string())
                .unwrap_or_default();
            (
                tzid,
                format!("{} {}", start.val, prop(e, "SUMMARY").unwrap()),
            )
        })
        .collect();
    assert!(
        starts.iter().all(|(tz, _)| tz == "Europe/Berlin"),
        "{starts:?}"
    );
    let shifts: Vec<&str> = starts.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        shifts,
        [
            "20270326T090000 On call: Bo Berg (team/office)",
            "20270329T090000 On call: Bo Berg (team/office), override",
            "20270329T120000 On call: Ada Lovelace (team/office)",
        ]
    );
}
