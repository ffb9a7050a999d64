//! Ten mistakes a new team makes, one at a time in a copy of the examples: each gives one root
//! error, first, that names the file, the object, the field and the fix; whatever else is
//! printed is only what depends on the broken object ("has problems of its own").

use super::*;

struct Mistake {
    file: &'static str,
    /// Replaced once in `file`.
    from: &'static str,
    to: &'static str,
    /// What the first error line holds: the object, the field, the fix.
    object: &'static str,
    field: &'static str,
    fix: &'static str,
}

const MISTAKES: [Mistake; 10] = [
    Mistake {
        file: "schedules.yaml",
        from: "      handoffTime: \"09:00\"\n      members: [fran, gus]",
        to: "      handofTime: \"09:00\"\n      members: [fran, gus]",
        object: "Schedule oncall/database",
        field: "spec.layers[0].handofTime",
        fix: "Did you mean \"handoffTime\"?",
    },
    Mistake {
        file: "schedules.yaml",
        from: "timeZone: America/New_York",
        to: "timeZone: America/New_Yrok",
        object: "Schedule oncall/database",
        field: "spec.timeZone",
        fix: "did you mean \"America/New_York\"?",
    },
    Mistake {
        file: "schedules.yaml",
        from: "days: [Monday, Tuesday, Wednesday, Thursday, Friday]",
        to: "days: [Mon, Tue, Wednesday, Thursday, Friday]",
        object: "Schedule oncall/database",
        field: "spec.layers[1].restrictions[0].days",
        fix: "\"Mon\", \"Tue\" are not allowed here: use one of Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday (did you mean \"Monday\" for \"Mon\", \"Tuesday\" for \"Tue\"?)",
    },
    Mistake {
        file: "schedules.yaml",
        from: "    - person: dba-manager",
        to: "    - person: dba-manger",
        object: "Schedule oncall/database",
        field: "spec.overrides[0].person",
        fix: "\"dba-manger\" is neither one of spec.people nor a Person in namespace oncall: add a Person named \"dba-manger\" (or an entry to spec.people) or fix the name (did you mean \"dba-manager\"?)",
    },
    Mistake {
        file: "schedules.yaml",
        from: "members: [dana, eli]",
        to: "members: [dana, ellie]",
        object: "Schedule oncall/database",
        field: "spec.layers[1].members[1]",
        fix: "(did you mean \"eli\"?)",
    },
    Mistake {
        file: "chains.yaml",
        from: "onCall: database",
        to: "onCall: databse",
        object: "EscalationChain oncall/database",
        field: "spec.steps[0].targets[0].onCall",
        fix: "no Schedule named \"databse\" in namespace oncall: create it or fix the name (did you mean \"database\"?)",
    },
    Mistake {
        file: "policies.yaml",
        from: "chainRef: { name: payments }",
        to: "chainRef: { name: payment }",
        object: "IncomingCallPolicy oncall/support",
        field: "spec.menu.options[2].chainRef.name",
        fix: "(did you mean \"payments\"?)",
    },
    Mistake {
        file: "phone-numbers.yaml",
        from: "policyRef: { name: support }",
        to: "policyRef: { name: suport }",
        object: "PhoneNumber oncall/support-hotline",
        field: "spec.policyRef.name",
        fix: "(did you mean \"support\"?)",
    },
    Mistake {
        file: "01-twilio-credentials.yaml",
        from: "  authToken: replace-me",
        to: "  authtoken: replace-me",
        object: "Secret oncall/twilio-credentials",
        field: "stringData",
        fix: "has no key \"authToken\", but has \"authtoken\": the same key spelt two ways, fix one of them",
    },
    Mistake {
        file: "policies.yaml",
        from: "key: webhook-hmac",
        to: "key: webhook-hmak",
        object: "IncomingCallPolicy oncall/support",
        field: "spec.notifications[0].secretRef",
        fix: "has no key \"webhook-hmak\", but has \"webhook-hmac\"",
    },
];

#[test]
fn each_of_ten_mistakes_gives_one_root_error_first_naming_file_object_field_and_fix() {
    for m in &MISTAKES {
        let dir = copy_of_examples();
        let target = dir.path().join(m.file);
        let text = std::fs::read_to_string(&target).unwrap();
        assert!(text.contains(m.from), "{} lacks {:?}", m.file, m.from);
        std::fs::write(&target, text.replacen(m.from, m.to, 1)).unwrap();

        let (code, out, err) = switchboard(&["validate", dir.path().to_str().unwrap()]);
        assert_eq!(code, 1, "{}: {out}{err}", m.to);
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
        let first = errors[0];
        let file = format!("error: {}", target.display());
        assert!(
            first.starts_with(&file),
            "{}: first error\n{first}\nnames another file\n{out}",
            m.to
        );
        let expected = format!(": {}: {}: ", m.object, m.field);
        assert!(
            first.contains(&expected),
            "{}: first error\n{first}\nlacks {expected}\n{out}",
            m.to
        );
        assert!(
            first.contains(m.fix),
            "{}: first error\n{first}\nlacks the fix {:?}",
            m.to,
            m.fix
        );
        for later in &errors[1..] {
            assert!(
                later.contains("has problems of its own (listed before this)"),
                "{}: a second root error\n{later}\n{out}",
                m.to
            );
        }
        assert!(
            !out.contains("create it or fix the name") || first.contains("create it"),
            "{}: an object that exists is called missing\n{out}",
            m.to
        );
    }
}

#[test]
fn a_layer_hidden_by_a_later_one_is_a_warning_that_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = r#"
apiVersion: switchboard.dev/v1alpha1
kind: Schedule
metadata: { name: ops, namespace: oncall }
spec:
  timeZone: Europe/Berlin
  people:
    - { name: ana, phone: "+4930555000001" }
    - { name: bo, phone: "+4930555000002" }
  layers:
    - name: evenings
      startDate: "2026-01-05"
      members: [ana]
      restrictions: [{ start: "18:00", end: "20:00" }]
    - name: long-days
      startDate: "2026-01-05"
      members: [bo]
      restrictions: [{ start: "08:00", end: "22:00" }]
"#;
    std::fs::write(dir.path().join("ops.yaml"), schedule).unwrap();
    let (code, out, err) = switchboard(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "a warning does not fail validate: {out}{err}");
    assert!(
        out.contains("warning: ")
            && out.contains(
                "Schedule oncall/ops: spec.layers[0]: layer \"evenings\" never has anyone on call"
            )
            && out.contains("covered by layer \"long-days\" listed after it"),
        "{out}"
    );
}
