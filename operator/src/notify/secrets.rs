//! Where the dispatcher finds notification credentials and the Twilio credentials that forward
//! texts: the Kubernetes API (the operator in a cluster) or the Secrets of a folder of
//! manifests (`--manifests-dir`, `switchboard dev`). Values are read when needed and never
//! stored in Redis or logged.

use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use switchboard_crds::PhoneNumber;
use switchboard_routing::table::ObjectName;

use crate::Loaded;
use crate::manifests::SecretManifest;
use crate::twilio::client::{Client as TwilioClient, Credentials, secret_value};

/// A source of secrets.
pub trait Secrets: Send + Sync + 'static {
    /// Key `key` of Secret `name` in `namespace`.
    fn value(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// A Twilio client for the account of PhoneNumber `owner`.
    fn twilio(
        &self,
        owner: &ObjectName,
    ) -> impl Future<Output = Result<TwilioClient, String>> + Send;
}

fn missing_key(namespace: &str, name: &str, key: &str) -> String {
    format!("Secret {namespace}/{name} has no key {key:?}")
}

/// The label that lets a policy's notification targets use a Secret: `"true"`.
///
/// NB: whoever may edit an IncomingCallPolicy chooses a target's `url` and the Secret its key
/// comes from; without this rule they could have the operator deliver any Secret of the
/// namespace (the Twilio auth token included) to a URL of theirs. The label is the consent of
/// someone who may write that Secret; and a Secret that holds a PhoneNumber's Twilio
/// credentials is never used for a notification, labelled or not.
pub const NOTIFICATIONS_LABEL: &str = "switchboard.dev/notifications";

/// Whether one of `numbers` in `namespace` names Secret `name` as its Twilio credentials.
fn holds_credentials<'a>(
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

/// Secrets read from the Kubernetes API (the operator's RBAC allows `get` on Secrets and
/// PhoneNumbers).
#[derive(Clone)]
pub struct KubeSecrets {
    client: kube::Client,
    twilio_api_url: Option<String>,
}

impl std::fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeSecrets")
    }
}

impl KubeSecrets {
    /// Reads through `client`; Twilio clients use `twilio_api_url` when set.
    pub fn new(client: kube::Client, twilio_api_url: Option<String>) -> KubeSecrets {
        KubeSecrets {
            client,
            twilio_api_url,
        }
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, String> {
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| format!("reading Secret {namespace}/{name}: {e}"))
    }
}

impl Secrets for KubeSecrets {
    async fn value(&self, namespace: &str, name: &str, key: &str) -> Result<String, String> {
        let secret = self
            .secret(namespace, name)
            .await?
            .ok_or_else(|| format!("Secret {namespace}/{name} does not exist"))?;
        let numbers = Api::<PhoneNumber>::namespaced(self.client.clone(), namespace)
            .list(&Default::default())
            .await
            .map_err(|e| format!("listing the PhoneNumbers of {namespace}: {e}"))?;
        let credentials = holds_credentials(&numbers.items, namespace, name);
        usable_for_notifications(&secret, namespace, name, credentials)?;
        secret_value(&secret, key).ok_or_else(|| missing_key(namespace, name, key))
    }

    async fn twilio(&self, owner: &ObjectName) -> Result<TwilioClient, String> {
        let pn = Api::<PhoneNumber>::namespaced(self.client.clone(), &owner.namespace)
            .get(&owner.name)
            .await
            .map_err(|e| format!("reading PhoneNumber {owner}: {e}"))?;
        let name = &pn.spec.credentials_secret_ref.name;
        let secret = self.secret(&owner.namespace, name).await?;
        let creds = Credentials::from_secret(secret.as_ref(), name)?;
        TwilioClient::for_number(
            self.twilio_api_url.as_deref(),
            pn.spec.twilio.as_ref(),
            creds,
        )
        .map_err(|e| e.to_string())
    }
}

/// The Secrets and PhoneNumbers of a folder of manifests, as of its last reading.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    secrets: Vec<SecretManifest>,
    numbers: Vec<PhoneNumber>,
}

impl Snapshot {
    /// What `loaded` holds.
    pub fn of(loaded: &Loaded) -> Snapshot {
        Snapshot {
            secrets: loaded.secrets.clone(),
            numbers: loaded
                .objects
                .phone_numbers
                .iter()
                .map(|s| s.object.clone())
                .collect(),
        }
    }

    /// The Twilio account SIDs and auth tokens of its Secrets, for a webhook server that runs
    /// beside the folder operator (`switchboard dev`). Never printed.
    pub fn auth_tokens(&self) -> Vec<(String, String)> {
        self.secrets
            .iter()
            .filter_map(|s| {
                Some((
                    secret_value(&s.secret, "accountSid")?,
                    secret_value(&s.secret, "authToken")?,
                ))
            })
            .collect()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|s| s.namespace == namespace && s.secret.name_any() == name)
            .map(|s| &s.secret)
    }
}

/// The secrets of a folder, replaced after each reading of it.
#[derive(Clone, Debug, Default)]
pub struct FolderSecrets {
    snapshot: Arc<RwLock<Snapshot>>,
    twilio_api_url: Option<String>,
}

impl FolderSecrets {
    /// Empty until [`FolderSecrets::set`]; Twilio clients use `twilio_api_url` when set.
    pub fn new(twilio_api_url: Option<String>) -> FolderSecrets {
        FolderSecrets {
            snapshot: Arc::default(),
            twilio_api_url,
        }
    }

    /// Replaces what it knows.
    pub fn set(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Secrets for FolderSecrets {
    async fn value(&self, namespace: &str, name: &str, key: &str) -> Result<String, String> {
        let snap = self.read();
        let secret = snap
            .secret(namespace, name)
            .ok_or_else(|| format!("Secret {namespace}/{name} is not in the manifests"))?;
        let credentials = holds_credentials(&snap.numbers, namespace, name);
        usable_for_notifications(secret, namespace, name, credentials)?;
        secret_value(secret, key).ok_or_else(|| missing_key(namespace, name, key))
    }

    async fn twilio(&self, owner: &ObjectName) -> Result<TwilioClient, String> {
        let (creds, endpoint) = {
            let snap = self.read();
            let pn = snap
                .numbers
                .iter()
                .find(|n| {
                    n.name_any() == owner.name
                        && n.namespace().unwrap_or_else(|| "default".into()) == owner.namespace
                })
                .ok_or_else(|| format!("PhoneNumber {owner} is not in the manifests"))?;
            let name = &pn.spec.credentials_secret_ref.name;
            (
                Credentials::from_secret(snap.secret(&owner.namespace, name), name)?,
                pn.spec.twilio.clone(),
            )
        };
        TwilioClient::for_number(self.twilio_api_url.as_deref(), endpoint.as_ref(), creds)
            .map_err(|e| e.to_string())
    }
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
