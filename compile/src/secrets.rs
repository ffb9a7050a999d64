//! Which Secrets a policy's notification targets may read: the rule the operator's dispatcher
//! applies before every delivery, and `switchboard validate` applies to the manifests.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use switchboard_crds::PhoneNumber;

use crate::Loaded;

/// The label that lets a policy's notification targets use a Secret: `"true"`.
///
/// NB: whoever may edit an IncomingCallPolicy chooses a target's `url` and the Secret its key
/// comes from; without this rule they could have the operator deliver any Secret of the
/// namespace (the Twilio auth token included) to a URL of theirs. The label is the consent of
/// someone who may write that Secret; and a Secret that holds a PhoneNumber's Twilio
/// credentials is never used for a notification, labelled or not.
pub const NOTIFICATIONS_LABEL: &str = "switchboard.dev/notifications";

/// Whether one of `numbers` in `namespace` names Secret `name` as its Twilio credentials.
pub fn holds_credentials<'a>(
    numbers: impl IntoIterator<Item = &'a PhoneNumber>,
    namespace: &str,
    name: &str,
) -> bool {
    numbers.into_iter().any(|n| {
        n.namespace().as_deref().unwrap_or("default") == namespace
            && n.spec.credentials_secret_ref.name == name
    })
}

/// Whether notification targets may read `secret` (`namespace/name`); `credentials` says
/// whether a PhoneNumber of the namespace names it as its Twilio credentials.
pub fn usable_for_notifications(
    secret: &Secret,
    namespace: &str,
    name: &str,
    credentials: bool,
) -> Result<(), String> {
    if credentials {
        return Err(format!(
            "Secret {namespace}/{name} holds a PhoneNumber's Twilio credentials, which notification targets never read: put the target's key in a Secret of its own"
        ));
    }
    if secret.labels().get(NOTIFICATIONS_LABEL).map(String::as_str) != Some("true") {
        return Err(format!(
            "Secret {namespace}/{name} is not labelled {NOTIFICATIONS_LABEL}=true: label it (kubectl label secret -n {namespace} {name} {NOTIFICATIONS_LABEL}=true) to let notification targets use it"
        ));
    }
    Ok(())
}

/// The value of `key` in a Secret (`data`, else `stringData`), trimmed; `None` when absent or
/// empty.
pub fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .map(|s| s.trim().to_string())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).map(|s| s.trim().to_string()))
        })
        .filter(|s| !s.is_empty())
}

/// The keys a Secret holds (of `data` and `stringData`), with a value that is not empty.
fn keys_of(secret: &Secret) -> Vec<&str> {
    let data = secret.data.iter().flatten();
    let data = data
        .filter(|(_, v)| !v.0.is_empty())
        .map(|(k, _)| k.as_str());
    let string_data = secret.string_data.iter().flatten();
    let string_data = string_data
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, _)| k.as_str());
    data.chain(string_data).collect()
}

/// `key` is missing from Secret `namespace/name` whose keys are `keys`: what to do.
fn missing_key(namespace: &str, name: &str, key: &str, keys: &[&str]) -> String {
    if let Some(like) = crate::problem::closest(key, keys.iter().copied()) {
        return format!(
            "Secret {namespace}/{name} has no key {key:?}, but has {like:?}: the same key spelt two ways, fix one of them"
        );
    }
    let holds = if keys.is_empty() {
        "no keys".to_string()
    } else {
        format!("only {}", keys.join(", "))
    };
    format!(
        "Secret {namespace}/{name} has no key {key:?} (it holds {holds}): add the key, or fix the name"
    )
}

/// What the manifests alone tell of the Secrets they name, for `switchboard validate` and
/// `switchboard dev`: a PhoneNumber's credentials Secret without `accountSid` and `authToken`
/// (or with half an API key); a notification target's Secret without the key it names, not
/// labelled [`NOTIFICATIONS_LABEL`], or holding a PhoneNumber's Twilio credentials. Secrets
/// kept out of the manifests (sealed, external) are not checked here: the operator reports them
/// on the object when it reads them.
pub fn secret_problems(loaded: &Loaded) -> Vec<crate::Problem> {
    let mut problems = credentials_problems(loaded);
    problems.extend(notification_secret_problems(loaded));
    problems
}

fn find<'a>(loaded: &'a Loaded, namespace: &str, name: &str) -> Option<&'a Secret> {
    loaded
        .secrets
        .iter()
        .find(|s| s.namespace == namespace && s.secret.name_any() == name)
        .map(|s| &s.secret)
}

/// Problems of the Twilio credentials Secrets among the manifests, each reported once on the
/// Secret (with the PhoneNumbers that use it), since that is where the fix goes.
fn credentials_problems(loaded: &Loaded) -> Vec<crate::Problem> {
    let mut users: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for pn in &loaded.objects.phone_numbers {
        let ns = pn.object.namespace().unwrap_or_else(|| "default".into());
        let name = pn.object.spec.credentials_secret_ref.name.clone();
        users
            .entry((ns, name))
            .or_default()
            .push(pn.object.name_any());
    }
    let mut problems = Vec::new();
    for ((ns, name), numbers) in users {
        let Some(secret) = find(loaded, &ns, &name) else {
            continue;
        };
        let id = crate::ObjectId::new("Secret", &ns, &name);
        let origin = loaded
            .objects
            .others
            .iter()
            .find(|(other, _)| *other == id)
            .and_then(|(_, origin)| origin.as_ref());
        let field = if secret.string_data.is_some() {
            "stringData"
        } else {
            "data"
        };
        let used_by = format!(
            " (the Twilio credentials of PhoneNumber {})",
            numbers.join(", ")
        );
        let keys = keys_of(secret);
        let mut report = |message: String| {
            problems.push(crate::Problem::field(&id, field, message + &used_by).at(origin));
        };
        for key in ["accountSid", "authToken"] {
            if !keys.contains(&key) {
                report(missing_key(&ns, &name, key, &keys));
            }
        }
        let api_key = ["apiKeySid", "apiKeySecret"].map(|k| keys.contains(&k));
        if api_key[0] != api_key[1] {
            report(format!(
                "Secret {ns}/{name} holds only one of apiKeySid and apiKeySecret: add the other, or remove it to use the auth token"
            ));
        }
    }
    problems
}

/// A target naming a Secret that is among the manifests but lacks the key, is not labelled
/// [`NOTIFICATIONS_LABEL`], or holds a PhoneNumber's Twilio credentials, would never be
/// delivered.
fn notification_secret_problems(loaded: &Loaded) -> Vec<crate::Problem> {
    let mut problems = Vec::new();
    for p in &loaded.objects.policies {
        let ns = p.object.namespace().unwrap_or_else(|| "default".into());
        let id = crate::ObjectId::new("IncomingCallPolicy", &ns, &p.object.name_any());
        let spec = &p.object.spec;
        let mut lists = vec![("spec.notifications".to_string(), &spec.notifications[..])];
        for (k, o) in spec.menu.iter().flat_map(|m| m.options.iter().enumerate()) {
            if let Some(a) = &o.alerts {
                lists.push((
                    format!("spec.menu.options[{k}].alerts.targets"),
                    &a.targets[..],
                ));
            }
        }
        for (k, r) in spec.callers.iter().flat_map(|c| c.rules.iter().enumerate()) {
            if let Some(a) = &r.alerts {
                lists.push((
                    format!("spec.callers.rules[{k}].alerts.targets"),
                    &a.targets[..],
                ));
            }
        }
        for (prefix, i, n) in lists
            .iter()
            .flat_map(|(prefix, ts)| ts.iter().enumerate().map(move |(i, n)| (prefix, i, n)))
        {
            let refs = [
                ("secretRef", &n.secret_ref),
                ("urlSecretRef", &n.url_secret_ref),
            ];
            for (field, r) in refs {
                let Some(r) = r else { continue };
                let Some(secret) = find(loaded, &ns, &r.name) else {
                    continue;
                };
                let numbers = loaded.objects.phone_numbers.iter().map(|pn| &pn.object);
                let credentials = holds_credentials(numbers, &ns, &r.name);
                let keys = keys_of(secret);
                let problem = usable_for_notifications(secret, &ns, &r.name, credentials)
                    .err()
                    .or_else(|| {
                        (!keys.contains(&r.key.as_str()))
                            .then(|| missing_key(&ns, &r.name, &r.key, &keys))
                    });
                if let Some(why) = problem {
                    problems.push(
                        crate::Problem::field(&id, format!("{prefix}[{i}].{field}"), why)
                            .at(p.origin.as_ref()),
                    );
                }
            }
        }
    }
    problems
}
