//! Notification and Twilio credentials read from the Kubernetes API, for the alert dispatcher
//! of an operator in a cluster (the folder operator reads them from its manifests instead:
//! `switchboard_apply::notify::FolderSecrets`).

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use switchboard_apply::notify::Secrets;
use switchboard_apply::notify::secrets::missing_key;
use switchboard_apply::twilio::client::{Client as TwilioClient, Credentials, secret_value};
use switchboard_compile::secrets::{holds_credentials, usable_for_notifications};
use switchboard_crds::PhoneNumber;
use switchboard_routing::table::ObjectName;

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
