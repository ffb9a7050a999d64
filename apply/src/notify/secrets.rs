//! Where the dispatcher finds notification credentials and the Twilio credentials that forward
//! texts: the Kubernetes API (the operator in a cluster) or the Secrets of a folder of
//! manifests (`--manifests-dir`, `switchboard dev`). Values are read when needed and never
//! stored in Redis or logged.

use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use switchboard_crds::PhoneNumber;
use switchboard_routing::table::ObjectName;

use switchboard_compile::secrets::{holds_credentials, usable_for_notifications};

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

pub fn missing_key(namespace: &str, name: &str, key: &str) -> String {
    format!("Secret {namespace}/{name} has no key {key:?}")
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
