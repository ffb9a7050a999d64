//! A Twilio account's credentials, read from a Kubernetes Secret (auth token, or API key).

use super::*;

/// How the client authenticates.
#[derive(Clone)]
pub struct Credentials {
    /// The account whose numbers are managed (`AC...`).
    pub account_sid: String,
    /// Basic auth user: the account SID, or an API key SID (`SK...`).
    pub username: String,
    /// Basic auth password: the auth token, or the API key secret.
    pub password: String,
    /// The account's auth token, when the Secret holds it (also beside an API key): the key
    /// of PIN digests (`switchboard_routing::pin`).
    pub auth_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

pub use switchboard_compile::secrets::secret_value;

impl Credentials {
    /// The credentials a Secret holds (`accountSid` with `authToken`, or with `apiKeySid` and
    /// `apiKeySecret`), or what is missing, as a message naming the fix.
    pub fn from_secret(secret: Option<&Secret>, name: &str) -> Result<Credentials, String> {
        let Some(secret) = secret else {
            return Err(format!(
                "spec.credentialsSecretRef: Secret {name} does not exist: create it with keys accountSid and authToken"
            ));
        };
        let get = |key: &str| secret_value(secret, key);
        let missing = |key: &str| {
            format!(
                "spec.credentialsSecretRef: Secret {name} has no {key}: add it (kubectl create secret generic {name} --from-literal=accountSid=AC... --from-literal=authToken=...)"
            )
        };
        let account_sid = get("accountSid").ok_or_else(|| missing("accountSid"))?;
        let (username, password) = match (get("apiKeySid"), get("apiKeySecret")) {
            (Some(k), Some(s)) => (k, s),
            _ => (
                account_sid.clone(),
                get("authToken").ok_or_else(|| missing("authToken"))?,
            ),
        };
        Ok(Credentials {
            account_sid,
            username,
            password,
            auth_token: get("authToken"),
        })
    }
}
