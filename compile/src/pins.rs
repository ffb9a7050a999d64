//! The PINs of compiled tables: each read from its Secret and published as a digest keyed by
//! the number's auth token (`switchboard_routing::pin`), never as the PIN.
//!
//! ```text
//!   compile ─► table.policy.pin { secret, digest: "" } ─► seal_pins(PIN of the Secret,
//!              auth token of the number's account) ─► digest set, table sealed again
//! ```
//!
//! The I/O (a Kubernetes Secret, a manifest's) is the caller's: the operator, the folder
//! operator and the CLI each pass how they read a Secret's key and the auth token.

use k8s_openapi::api::core::v1::Secret;
use switchboard_routing::RoutingTable;
use switchboard_routing::pin::{self, Pin};
use switchboard_routing::table::SecretKey;

use crate::problem::{ObjectId, Problem};
use switchboard_crds::PhoneNumber;

use crate::manifests::{SecretManifest, Sourced};
use crate::{Compiled, Loaded};

/// What keeps a PIN from being read from its Secret, as the condition says it.
pub type PinError = String;

/// Sets the PIN digest of every table of `compiled` whose policy asks a PIN: `pin_of(namespace,
/// secret)` reads the PIN, `token_of(table)` is the auth token of the table's account. A table
/// whose PIN cannot be read (or is not 4 to 12 digits), or whose account's auth token is not
/// known, is dropped with a problem on its policy: publishing it would lock every caller out.
pub fn seal_pins(
    compiled: &mut Compiled,
    pin_of: impl Fn(&str, &SecretKey) -> Result<String, PinError>,
    token_of: impl Fn(&RoutingTable) -> Option<String>,
) {
    let tables = std::mem::take(&mut compiled.tables);
    for table in tables {
        match seal(table, &pin_of, &token_of) {
            Ok(t) => compiled.tables.push(t),
            Err(p) => compiled.problems.push(*p),
        }
    }
}

fn seal(
    mut table: RoutingTable,
    pin_of: &impl Fn(&str, &SecretKey) -> Result<String, PinError>,
    token_of: &impl Fn(&RoutingTable) -> Option<String>,
) -> Result<RoutingTable, Box<Problem>> {
    let Some(p) = table.policy.pin.clone() else {
        return Ok(table);
    };
    let ns = table.owner.namespace.clone();
    let id = ObjectId::new("IncomingCallPolicy", &ns, &table.policy.name);
    let field = "spec.pin.secretRef";
    let Some(token) = token_of(&table) else {
        return Err(Box::new(Problem::field(
            &id,
            "spec.pin",
            format!(
                "the credentials Secret of PhoneNumber {} holds no authToken, which the PIN's digest is keyed with (an API key is not enough): add authToken to it",
                table.owner
            ),
        )));
    };
    let value = pin_of(&ns, &p.secret).map_err(|m| Box::new(Problem::field(&id, field, m)))?;
    if !pin::is_pin(&value) {
        return Err(Box::new(Problem::field(
            &id,
            field,
            format!(
                "Secret {ns}/{} key {} is not a PIN: make it 4 to 12 digits",
                p.secret.name, p.secret.key
            ),
        )));
    }
    let digest = pin::digest(&token, &format!("{ns}/{}", table.policy.name), &value);
    let sealed = |pin: &mut Option<Pin>| {
        if let Some(p) = pin {
            p.digest = digest.clone();
        }
    };
    sealed(&mut table.policy.pin);
    if let Some(c) = &mut table.policy.language_choice {
        for l in &mut c.languages {
            sealed(&mut l.policy.pin);
        }
    }
    Ok(table.seal())
}

/// Reads a PIN from `secret` (`None`: it does not exist), refusing the Twilio credentials
/// Secret (`credentials`: a PhoneNumber of the namespace names it).
pub fn pin_in(
    secret: Option<&Secret>,
    ns: &str,
    key: &SecretKey,
    credentials: bool,
) -> Result<String, PinError> {
    if credentials {
        return Err(format!(
            "Secret {ns}/{} holds a PhoneNumber's Twilio credentials: keep the PIN in a Secret of its own",
            key.name
        ));
    }
    let Some(secret) = secret else {
        return Err(format!(
            "Secret {ns}/{} does not exist: create it (kubectl create secret generic -n {ns} {} --from-literal={}=<4 to 12 digits>)",
            key.name, key.name, key.key
        ));
    };
    crate::secrets::secret_value(secret, &key.key).ok_or_else(|| {
        format!(
            "Secret {ns}/{} has no key {}: add the PIN under it",
            key.name, key.key
        )
    })
}

/// `pin_of` for manifests: the Secrets among them; `numbers` are the manifests' PhoneNumbers
/// (whose credentials Secrets a PIN may not come from).
pub fn manifest_pin<'a>(
    secrets: &'a [SecretManifest],
    numbers: &'a [Sourced<PhoneNumber>],
) -> impl Fn(&str, &SecretKey) -> Result<String, PinError> + 'a {
    move |ns, key| {
        let secret = secrets
            .iter()
            .find(|s| {
                s.namespace == ns && s.secret.metadata.name.as_deref() == Some(key.name.as_str())
            })
            .map(|s| &s.secret);
        let numbers = numbers.iter().map(|n| &n.object);
        let credentials = crate::secrets::holds_credentials(numbers, ns, &key.name);
        pin_in(secret, ns, key, credentials)
    }
}

/// Seals the PINs of tables compiled from `loaded`'s manifests, each keyed by `token_of`.
pub fn seal_manifest_pins(
    loaded: &Loaded,
    compiled: &mut Compiled,
    token_of: impl Fn(&RoutingTable) -> Option<String>,
) {
    seal_pins(
        compiled,
        manifest_pin(&loaded.secrets, &loaded.objects.phone_numbers),
        token_of,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled_with_pin() -> Compiled {
        let mut t = RoutingTable::from_json(include_str!(
            "../../webhook-server/tests/fixtures/support-hotline.json"
        ))
        .expect("the fixture parses");
        t.policy.pin = Some(Pin {
            secret: SecretKey {
                name: "hotline-pin".into(),
                key: "pin".into(),
            },
            digest: String::new(),
            attempts: 3,
            ask_known_callers: false,
            timeout_seconds: 10,
        });
        Compiled {
            tables: vec![t.seal()],
            ..Compiled::default()
        }
    }

    fn pin_is(value: &'static str) -> impl Fn(&str, &SecretKey) -> Result<String, PinError> {
        move |_, _| Ok(value.to_string())
    }

    #[test]
    fn a_sealed_table_holds_the_keyed_digest_and_a_new_revision() {
        let mut c = compiled_with_pin();
        let before = c.tables[0].revision.clone();
        seal_pins(&mut c, pin_is("482916"), |_| Some("token".into()));
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let t = &c.tables[0];
        let p = t.policy.pin.as_ref().unwrap();
        assert!(p.matches("token", "oncall/support", "482916"));
        assert!(!t.to_json().contains("482916"));
        assert_ne!(t.revision, before);
        // Another PIN is another revision, so webhook servers load the new table.
        let mut again = compiled_with_pin();
        seal_pins(&mut again, pin_is("482917"), |_| Some("token".into()));
        assert_ne!(again.tables[0].revision, t.revision);
    }

    #[test]
    fn a_pin_that_cannot_be_used_drops_the_table_with_a_problem_on_the_policy() {
        for (pin_of, token, field, says) in [
            (
                pin_is("12ab"),
                Some("t"),
                "spec.pin.secretRef",
                "is not a PIN: make it 4 to 12 digits",
            ),
            (
                pin_is("123"),
                Some("t"),
                "spec.pin.secretRef",
                "is not a PIN",
            ),
            (pin_is("4711"), None, "spec.pin", "holds no authToken"),
        ] {
            let mut c = compiled_with_pin();
            seal_pins(&mut c, pin_of, |_| token.map(String::from));
            assert!(c.tables.is_empty());
            let p = &c.problems[0];
            assert_eq!(p.field, field);
            assert!(p.message.contains(says), "{}", p.message);
            assert!(
                !p.message.contains("12ab"),
                "the value is never shown: {}",
                p.message
            );
            assert_eq!(p.object.as_ref().unwrap().kind, "IncomingCallPolicy");
        }
    }

    #[test]
    fn a_missing_secret_key_or_the_credentials_secret_is_refused() {
        let key = SecretKey {
            name: "hotline-pin".into(),
            key: "pin".into(),
        };
        let missing = pin_in(None, "oncall", &key, false).unwrap_err();
        assert!(missing.contains("does not exist: create it"), "{missing}");
        let secret = Secret::default();
        let no_key = pin_in(Some(&secret), "oncall", &key, false).unwrap_err();
        assert!(no_key.contains("has no key pin"), "{no_key}");
        let creds = pin_in(Some(&secret), "oncall", &key, true).unwrap_err();
        assert!(creds.contains("Twilio credentials"), "{creds}");
    }
}
