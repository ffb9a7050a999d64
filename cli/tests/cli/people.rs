//! The people directory: a Person defined once and named by three Schedules, whose contacts
//! are rung in order within their turn, in a copy of the examples.

use super::*;

/// Dana Scully as a Person with two contacts, instead of an entry of the database Schedule's
/// `spec.people`, and a member of the platform and payments rotations too.
const DANA: &str = r#"apiVersion: switchboard.dev/v1alpha1
kind: Person
metadata: { name: dana, namespace: oncall }
spec:
  displayName: Dana Scully
  contacts:
    - { label: mobile, phone: "+12125550201" }
    - { label: desk, phone: "+12125550211" }
"#;

fn examples_with_dana_in_the_directory() -> tempfile::TempDir {
    let dir = copy_of_examples();
    let schedules = dir.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    let mut edited = text.clone();
    for (from, to) in [
        (
            "    - { name: dana, displayName: Dana Scully, phone: \"+12125550201\" }\n",
            "",
        ),
        ("members: [maya, liam]", "members: [maya, liam, dana]"),
        ("members: [olaf]", "members: [olaf, dana]"),
    ] {
        assert!(edited.contains(from), "schedules.yaml lacks {from:?}");
        edited = edited.replacen(from, to, 1);
    }
    assert!(!edited.contains("phone: \"+12125550201\""));
    std::fs::write(&schedules, edited).unwrap();
    std::fs::write(dir.path().join("people.yaml"), DANA).unwrap();
    dir
}

#[test]
fn a_person_in_three_schedules_is_defined_once_and_their_second_contact_is_rung() {
    let dir = examples_with_dana_in_the_directory();
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = switchboard(&["validate", path]);
    assert_eq!(code, 0, "{out}{err}");

    // The README's call: the database's on-call (Dana) does not answer her mobile; her desk
    // phone is rung next, within her turn, before the step moves on to the manager.
    let (code, out, err) = readme_call(
        path,
        &[
            "--responder",
            "+12125550201=no-answer",
            "--responder",
            "+12125550211=accept",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "ringing Dana Scully (+12125550201) for 25s, step 1 (on-call), pass 1: on call in schedule database via layer/business-hours",
        "ringing Dana Scully (+12125550211) for 25s, step 1 (on-call), pass 1: on call in schedule database via layer/business-hours; contact 2 of 2, desk (+12125550211), as mobile (+12125550201) was not accepted",
        "pass 1 step 1: Dana Scully (+12125550201) -> no-answer",
        "pass 1 step 1: Dana Scully (+12125550211) -> accepted",
        "answered by:    Dana Scully after",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("Hana Ito (+12125550299) presses"), "{out}");
}

#[test]
fn an_all_at_once_step_rings_everyones_next_contact_as_a_round_of_its_own() {
    let dir = examples_with_dana_in_the_directory();
    // The platform team (Dana among its members) rung together; nobody answers the first
    // round, then Dana's desk phone, the only second contact, is rung and accepts.
    let (code, out, err) = switchboard(&[
        "simulate",
        dir.path().to_str().unwrap(),
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T10:00[America/New_York]",
        "--press",
        "1",
        "--responder",
        "+12125550211=accept",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "step whole-rotation: nobody accepted; ringing contact 2 of everyone who has one",
        "contact 2 of 2, desk (+12125550211), as mobile (+12125550201) was not accepted",
        "Dana Scully (+12125550211) presses 1",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    let round = out
        .lines()
        .find(|l| l.contains("ringing contact 2 of everyone"))
        .unwrap();
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != round)
        .filter(|l| l.contains("switchboard: ringing "))
        .collect();
    assert_eq!(after.len(), 1, "only Dana has a second contact: {after:?}");
}

#[test]
fn a_name_in_neither_the_schedule_nor_the_directory_says_where_it_was_looked_for() {
    let dir = examples_with_dana_in_the_directory();
    let schedules = dir.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    std::fs::write(&schedules, text.replacen("[olaf, dana]", "[olaf, dsna]", 1)).unwrap();
    let (code, out, _) = switchboard(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let first = out.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        first.contains("Schedule oncall/payments: spec.layers[1].members[1]: \"dsna\" is neither one of spec.people nor a Person in namespace oncall")
            && first.contains("did you mean \"dana\"?"),
        "{first}"
    );
}

#[test]
fn a_chain_rings_a_person_of_the_directory_without_naming_a_schedule() {
    let dir = examples_with_dana_in_the_directory();
    // Hana Ito (the DBA manager) leaves the database Schedule's people for the directory,
    // and the chain names her on her own.
    let schedules = dir.path().join("schedules.yaml");
    let text = std::fs::read_to_string(&schedules).unwrap();
    let hana = "    - { name: dba-manager, displayName: Hana Ito, phone: \"+12125550299\" }\n";
    assert!(text.contains(hana));
    // Its override (`person: dba-manager`) now names the Person too.
    std::fs::write(&schedules, text.replacen(hana, "", 1)).unwrap();
    let chains = dir.path().join("chains.yaml");
    let text = std::fs::read_to_string(&chains).unwrap();
    let from = "person: { schedule: database, name: dba-manager }";
    assert!(text.contains(from));
    std::fs::write(
        &chains,
        text.replacen(from, "person: { name: dba-manager }", 1),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("people-hana.yaml"),
        "apiVersion: switchboard.dev/v1alpha1\nkind: Person\nmetadata: { name: dba-manager, namespace: oncall }\nspec:\n  displayName: Hana Ito\n  contacts: [{ phone: \"+12125550299\" }]\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = switchboard(&["validate", path]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = readme_call(
        path,
        &[
            "--responder",
            "dana=voicemail",
            "--responder",
            "dba-manager=accept",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ringing Hana Ito (+12125550299) for 20s, step 2 (manager-then-noc), pass 1: named in the chain (dba-manager)"),
        "{out}"
    );
    assert!(out.contains("answered by:    Hana Ito after"), "{out}");

    // A typo in the name: no Person of that name, with the fix.
    let text = std::fs::read_to_string(&chains).unwrap();
    std::fs::write(
        &chains,
        text.replacen(
            "person: { name: dba-manager }",
            "person: { name: dba-manger }",
            1,
        ),
    )
    .unwrap();
    let (code, out, _) = switchboard(&["validate", path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("EscalationChain oncall/database: spec.steps[1].targets[0].person.name: no Person named \"dba-manger\" in namespace oncall: create it, or name the Schedule that defines the person in person.schedule (did you mean \"dba-manager\"?)"),
        "{out}"
    );
}

#[test]
fn a_schedules_own_person_hiding_a_person_of_the_same_name_is_a_warning() {
    // Halfway through a move to the directory: Dana is a Person and still in spec.people.
    let dir = copy_of_examples();
    std::fs::write(dir.path().join("people.yaml"), DANA).unwrap();
    let (code, out, err) = switchboard(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "a warning does not fail validate: {out}{err}");
    assert!(
        out.contains("warning: ")
            && out.contains("Schedule oncall/database: spec.people[0]: \"dana\" is defined here and as a Person of namespace oncall: this entry wins; remove it to use the Person"),
        "{out}"
    );
}
