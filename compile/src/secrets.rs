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

/// What `switchboard validate` can tell of the policies' notification Secrets from the
/// manifests alone: a target naming a Secret that is among them but not labelled
/// [`NOTIFICATIONS_LABEL`], or that holds a PhoneNumber's Twilio credentials, would never be
/// delivered. Secrets kept out of the manifests (sealed, external) are not checked here.
pub fn notification_secret_problems(loaded: &Loaded) -> Vec<crate::Problem> {
    let mut problems = Vec::new();
    for p in &loaded.objects.policies {
        let ns = p.object.namespace().unwrap_or_else(|| "default".into());
        let id = crate::ObjectId::new("IncomingCallPolicy", &ns, &p.object.name_any());
        for (i, n) in p.object.spec.notifications.iter().enumerate() {
            let refs = [
                ("secretRef", &n.secret_ref),
                ("urlSecretRef", &n.url_secret_ref),
            ];
            for (field, r) in refs {
                let Some(r) = r else { continue };
                let Some(secret) = loaded
                    .secrets
                    .iter()
                    .find(|s| s.namespace == ns && s.secret.name_any() == r.name)
                else {
                    continue;
                };
                let numbers = loaded.objects.phone_numbers.iter().map(|pn| &pn.object);
                let credentials = holds_credentials(numbers, &ns, &r.name);
                if let Err(why) =
                    usable_for_notifications(&secret.secret, &ns, &r.name, credentials)
                {
                    problems.push(
                        crate::Problem::field(&id, format!("spec.notifications[{i}].{field}"), why)
                            .at(p.origin.as_ref()),
                    );
                }
            }
        }
    }
    problems
}
