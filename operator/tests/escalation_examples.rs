//! Step planning (routing::escalation) on the table compiled from `examples/`.

use std::path::Path;

use switchboard_operator::{AccountSids, SchemaChecker, compile, load_files, manifest_files};
use switchboard_routing::{CallProgress, Contact, RoutingTable};

fn support_table() -> RoutingTable {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let files = manifest_files(&[dir], false).unwrap();
    let loaded = load_files(&files, &SchemaChecker::new()).unwrap();
    compile(&loaded.objects, &AccountSids::new())
        .tables
        .remove(0)
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn call<'a>(sid: &'a str, rung: &'a [String]) -> CallProgress<'a> {
    CallProgress {
        call_sid: sid,
        pass: 0,
        already_rung: rung,
        rung_in_call: rung.len(),
    }
}

#[test]
fn an_on_call_step_rings_whoever_is_on_call_when_it_starts_and_says_why() {
    let t = support_table();
    let chain = t.chain("database").unwrap();
    // Monday 2026-11-23 10:00 EST: day 322 of the business-hours rotation -> dana.
    let plan = t
        .plan_step(chain, 0, ts("2026-11-23T15:00:00Z"), call("CA1", &[]))
        .unwrap();
    assert_eq!(plan.responders.len(), 1);
    let r = &plan.responders[0];
    assert_eq!(
        (r.person.as_deref(), r.display_name.as_str()),
        (Some("dana"), "Dana Scully")
    );
    assert_eq!(r.contact, Contact::Phone("+12125550201".into()));
    assert_eq!(
        r.reason,
        "on call in schedule database via layer/business-hours"
    );
    // At 18:00 EST the business-hours layer is closed: the around-the-clock layer shows through.
    let plan = t
        .plan_step(chain, 0, ts("2026-11-23T23:00:00Z"), call("CA1", &[]))
        .unwrap();
    assert_eq!(plan.responders[0].person.as_deref(), Some("fran"));
    assert_eq!(
        plan.responders[0].reason,
        "on call in schedule database via layer/around-the-clock"
    );
}

#[test]
fn a_sequential_step_keeps_the_order_of_its_targets() {
    let t = support_table();
    let plan = t
        .plan_step(
            t.chain("database").unwrap(),
            1,
            ts("2026-11-23T15:00:00Z"),
            call("CA1", &[]),
        )
        .unwrap();
    let order: Vec<&str> = plan
        .responders
        .iter()
        .map(|r| r.contact.address())
        .collect();
    assert_eq!(order, ["+12125550299", "+12125550999"]);
    assert_eq!(
        plan.responders[0].reason,
        "named in the chain (database/dba-manager)"
    );
}

#[test]
fn skip_already_rung_leaves_out_numbers_rung_earlier_in_the_pass_and_notes_it() {
    let t = support_table();
    let chain = t.chain("platform").unwrap();
    let rung = vec!["+4930555010302".to_string()]; // jonas, rung at step 1
    let plan = t
        .plan_step(chain, 1, ts("2026-11-21T10:00:00Z"), call("CA1", &rung))
        .unwrap();
    assert_eq!(plan.responders.len(), 5);
    assert!(
        plan.responders
            .iter()
            .all(|r| r.contact.address() != "+4930555010302")
    );
    assert_eq!(
        plan.notes,
        ["Jonas Weber (+4930555010302) was already rung in this pass"]
    );
}

#[test]
fn max_rung_caps_how_many_people_one_call_rings() {
    let t = support_table();
    let chain = t.chain("platform").unwrap(); // maxRung: 10
    let rung: Vec<String> = (0..8).map(|i| format!("+1999555000{i}")).collect();
    let plan = t
        .plan_step(chain, 1, ts("2026-11-21T10:00:00Z"), call("CA1", &rung))
        .unwrap();
    assert_eq!(plan.responders.len(), 2);
    assert_eq!(plan.notes.len(), 4);
    assert!(
        plan.notes[0].contains("the chain's maxRung of 10 is reached"),
        "{:?}",
        plan.notes
    );
}

#[test]
fn each_contact_of_a_person_counts_towards_max_rung() {
    let mut t = support_table();
    let at = ts("2026-11-21T10:00:00Z");
    let rung: Vec<String> = (0..8).map(|i| format!("+1999555000{i}")).collect();
    // Who the whole-rotation step rings first, given a desk phone and a SIP phone as well.
    let first = t
        .plan_step(t.chain("platform").unwrap(), 1, at, call("CA1", &rung))
        .unwrap()
        .responders[0]
        .person
        .clone()
        .unwrap();
    let platform = t.schedules.get_mut("platform").unwrap();
    let person = platform
        .people
        .iter_mut()
        .find(|p| p.name == first)
        .unwrap();
    person.more_contacts = vec![
        switchboard_routing::LabelledContact {
            contact: Contact::Phone("+12125550777".into()),
            label: Some("desk".into()),
        },
        switchboard_routing::LabelledContact {
            contact: Contact::Sip("sip:desk@pbx.example.com".into()),
            label: None,
        },
    ];
    // maxRung 10, 8 rung already: the two rings left go to the first person's first two
    // contacts, and nobody else is rung.
    let plan = t
        .plan_step(t.chain("platform").unwrap(), 1, at, call("CA1", &rung))
        .unwrap();
    assert_eq!(plan.responders.len(), 1, "{:?}", plan.responders);
    assert_eq!(plan.responders[0].rings(), 2);
    assert!(
        plan.notes[0].ends_with("rung on 2 of 3 contacts: the chain's maxRung of 10 is reached"),
        "{:?}",
        plan.notes
    );
    assert!(
        plan.notes[1..]
            .iter()
            .all(|n| n.ends_with("not rung: the chain's maxRung of 10 is reached")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_random_step_is_repeatable_within_a_call_and_varies_between_calls() {
    let t = support_table();
    let chain = t.chain("payments").unwrap();
    let at = ts("2026-11-21T10:00:00Z");
    let order = |sid: &str| -> Vec<String> {
        t.plan_step(chain, 1, at, call(sid, &[]))
            .unwrap()
            .responders
            .iter()
            .map(|r| r.contact.address().to_string())
            .collect()
    };
    assert_eq!(order("CA1"), order("CA1"));
    let mut sorted = order("CA1");
    sorted.sort();
    assert_eq!(sorted.len(), 4, "every team member, each once");
    let distinct: std::collections::BTreeSet<Vec<String>> =
        (0..20).map(|i| order(&format!("CA{i}"))).collect();
    assert!(distinct.len() > 1, "20 calls all got the same order");
}

#[test]
fn the_decline_key_is_2_unless_2_accepts_and_the_default_prompt_names_the_keys() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let files = manifest_files(&[dir], false).unwrap();
    let mut loaded = load_files(&files, &SchemaChecker::new()).unwrap();
    let support = |l: &switchboard_operator::Loaded| {
        compile(&l.objects, &AccountSids::new())
            .tables
            .into_iter()
            .find(|t| t.policy.name == "support")
            .unwrap()
            .policy
            .acceptance
            .unwrap()
    };
    assert_eq!(support(&loaded).decline_digit.as_deref(), Some("2"));
    let policy = loaded
        .objects
        .policies
        .iter_mut()
        .find(|p| p.object.metadata.name.as_deref() == Some("support"))
        .unwrap();
    let a = &mut policy.object.spec.acceptance;
    a.prompt = None;
    a.digit = "2".into();
    let got = support(&loaded);
    // A policy written before the decline key, accepting with 2: no decline key.
    assert_eq!(got.decline_digit, None);
    assert_eq!(
        got.prompt,
        "Press 2 to accept this call, or hang up to pass it on."
    );
    let policy = loaded
        .objects
        .policies
        .iter_mut()
        .find(|p| p.object.metadata.name.as_deref() == Some("support"))
        .unwrap();
    policy.object.spec.acceptance.decline_digit = Some("9".into());
    let got = support(&loaded);
    assert_eq!(got.decline_digit.as_deref(), Some("9"));
    assert_eq!(
        got.prompt,
        "Press 2 to accept this call, or 9 to pass it on."
    );
}
