//! `switchboard test`: routing tests in YAML, played offline like `simulate`.

use super::*;

/// Writes a test file of `cases` (YAML list items) testing `examples/` into a temporary folder.
fn test_file(cases: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.yaml");
    std::fs::write(
        &path,
        format!(
            "manifests: [{}]\ntimeZone: America/New_York\ncases:\n{cases}",
            examples().display()
        ),
    )
    .unwrap();
    (dir, path)
}

#[test]
fn the_example_routing_tests_pass() {
    let (code, out, err) = switchboard(&["test", "examples/tests/"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("19 case(s) in 4 file(s): 19 passed, 0 failed"),
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn a_failing_case_prints_expected_beside_actual_and_the_transcript_simulate_prints() {
    let (_dir, path) = test_file(
        r#"  - name: dana takes the Monday morning call
    at: 2026-11-23T10:00
    to: "+14155550100"
    press: ["2"]
    responders: { dana: voicemail, dba-manager: accept }
    expect:
      rung: [dana, eli]
      answeredBy: eli
      outcome: answered
"#,
    );
    let (code, out, err) = switchboard(&["test", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "FAIL  {}: dana takes the Monday morning call",
            path.display()
        )),
        "{out}"
    );
    // Expected beside actual, the disagreeing lines marked.
    let line = |what: &str| {
        out.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} line in\n{out}"))
            .to_string()
    };
    let answered = line("answered by: eli");
    assert!(
        answered.contains('✗') && answered.contains("answered by: dba-manager"),
        "{answered}"
    );
    let second = line("rung: eli");
    assert!(
        second.contains('✗') && second.contains("dba-manager -> accepted"),
        "{second}"
    );
    let outcome = line("outcome: answered");
    assert!(!outcome.contains('✗'), "{outcome}");
    assert!(
        out.contains("1 case(s) in 1 file(s): 0 passed, 1 failed"),
        "{out}"
    );

    // The transcript is the one `simulate` prints for the same call (but for the CallSid).
    let (code, simulated, err) = switchboard(&[
        "simulate",
        "examples/",
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T10:00[America/New_York]",
        "--press",
        "2",
        "--responder",
        "dana=voicemail",
        "--responder",
        "dba-manager=accept",
    ]);
    assert_eq!(code, 0, "{err}");
    for l in simulated
        .lines()
        .filter(|l| !l.starts_with("Call CA") && !l.is_empty())
    {
        assert!(
            out.lines().any(|o| o.trim_start() == l.trim_start()),
            "simulate's line {l:?} is not in the failing case's transcript:\n{out}"
        );
    }
}

#[test]
fn bad_test_input_names_the_file_the_case_the_field_and_the_fix() {
    let cases = [
        (
            "  - name: typo\n    at: 2026-11-23T10:00\n    expect: { answerdBy: dana }\n",
            "case 1 \"typo\": expect.answerdBy: unknown field `answerdBy`, expected one of `rung`, `answeredBy`",
        ),
        (
            "  - name: who\n    at: 2026-11-23T10:00\n    to: \"+14155550100\"\n    responders: { dna: accept }\n    expect: {}\n",
            "case 1 \"who\": responders.dna: nobody called \"dna\" in this number's schedules (people: ava, dana,",
        ),
        (
            "  - name: when\n    at: 2026-02-30T10:00\n    to: \"+14155550100\"\n    expect: {}\n",
            "case 1 \"when\": at: \"2026-02-30T10:00\" is not a time (",
        ),
        (
            "  - name: where\n    at: 2026-11-23T10:00\n    to: \"+14155550199\"\n    expect: {}\n",
            "case 1 \"where\": to: no PhoneNumber in the manifests has \"+14155550199\"; they have",
        ),
        (
            "  - name: noc\n    at: 2026-11-23T10:00\n    to: \"+14155550100\"\n    responders: { \"+12125550998\": accept }\n    expect: {}\n",
            "case 1 \"noc\": responders.+12125550998: +12125550998 is not a number this hotline rings (its people and chains have ",
        ),
        (
            "  - name: which\n    at: 2026-11-23T10:00\n    to: \"+14155550100\"\n    expect: { outcome: answerd }\n",
            "case 1 \"which\": expect.outcome: \"answerd\" is not an outcome; write one of answered, voicemail",
        ),
    ];
    for (case, message) in cases {
        let (_dir, path) = test_file(case);
        let (code, out, err) = switchboard(&["test", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{case}\n{out}\n{err}");
        assert!(
            err.contains(&format!("{}: {message}", path.display())),
            "expected {message:?} in\n{err}"
        );
    }
}
