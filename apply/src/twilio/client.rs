//! A small client for the parts of Twilio's REST API (2010-04-01) the operator uses:
//! IncomingPhoneNumbers (find, update, buy, release) and AvailablePhoneNumbers (search).
//!
//! Requests are form-encoded with HTTP Basic auth (the account SID and auth token, or an API
//! key SID and secret), as Twilio's API reference and its OpenAPI description
//! (`twilio_api_v2010.json`, from the npm package `@twilio-alpha/mcp`) define them; the tests check every request the
//! client can send against that description with Prism. Credentials never appear in `Debug`
//! output, errors or logs.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

mod credentials;

pub use credentials::{Credentials, secret_value};

/// A Twilio API failure.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error document.
    #[error("Twilio error {code} (HTTP {status}): {message}{}", more_info.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// Twilio's error code (`21452`), or the HTTP status when the body had none.
        code: u32,
        /// Twilio's message.
        message: String,
        /// Twilio's documentation link for the code.
        more_info: Option<String>,
    },
    /// The request did not complete (connection, timeout, unreadable answer).
    #[error("Twilio API unreachable: {0}")]
    Transport(String),
}

impl TwilioError {
    /// Worth retrying with backoff: throttling, Twilio-side failures, transport problems.
    pub fn is_transient(&self) -> bool {
        match self {
            TwilioError::Api { status, .. } => *status == 429 || *status >= 500,
            TwilioError::Transport(_) => true,
        }
    }

    /// A short label for metrics.
    pub fn metric_label(&self) -> String {
        match self {
            TwilioError::Api { code, .. } => code.to_string(),
            TwilioError::Transport(_) => "transport".into(),
        }
    }
}

impl From<reqwest::Error> for TwilioError {
    fn from(e: reqwest::Error) -> Self {
        // `without_url`: the URL holds the account SID only, but keep errors minimal anyway.
        TwilioError::Transport(crate::with_causes(&e.without_url()))
    }
}

/// A number the account owns (the fields the operator reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct IncomingNumber {
    /// `PN...`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// Free text; Switchboard marks numbers it bought with it.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Voice webhook.
    #[serde(default)]
    pub voice_url: Option<String>,
    /// Voice webhook method.
    #[serde(default)]
    pub voice_method: Option<String>,
    /// Voice fallback webhook.
    #[serde(default)]
    pub voice_fallback_url: Option<String>,
    /// Call status callback.
    #[serde(default)]
    pub status_callback: Option<String>,
    /// SMS webhook.
    #[serde(default)]
    pub sms_url: Option<String>,
}

/// The voice webhook Twilio gives a new number.
pub const TWILIO_DEMO_VOICE_URL: &str = "https://demo.twilio.com/welcome/voice/";
/// The SMS webhook Twilio gives a new number.
pub const TWILIO_DEMO_SMS_URL: &str = "https://demo.twilio.com/welcome/sms/reply/";

/// A number that can be bought.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AvailableNumber {
    /// E.164.
    pub phone_number: String,
}

/// The webhook settings of a number, as form fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberSettings {
    /// `VoiceUrl`.
    pub voice_url: String,
    /// `VoiceFallbackUrl`.
    pub voice_fallback_url: String,
    /// `StatusCallback`.
    pub status_callback: String,
    /// `SmsUrl`.
    pub sms_url: String,
}

impl NumberSettings {
    /// The form fields, methods included.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VoiceUrl", self.voice_url.clone()),
            ("VoiceMethod", "POST".into()),
            ("VoiceFallbackUrl", self.voice_fallback_url.clone()),
            ("VoiceFallbackMethod", "POST".into()),
            ("StatusCallback", self.status_callback.clone()),
            ("StatusCallbackMethod", "POST".into()),
            ("SmsUrl", self.sms_url.clone()),
            ("SmsMethod", "POST".into()),
        ]
    }

    /// Whether `n` is configured like this.
    pub fn matches(&self, n: &IncomingNumber) -> bool {
        n.voice_url.as_deref() == Some(self.voice_url.as_str())
            && n.voice_fallback_url.as_deref() == Some(self.voice_fallback_url.as_str())
            && n.status_callback.as_deref() == Some(self.status_callback.as_str())
            && n.sms_url.as_deref() == Some(self.sms_url.as_str())
    }

    /// The fields of `n` that differ from these settings, by Twilio's names.
    pub fn drift(&self, n: &IncomingNumber) -> Vec<&'static str> {
        let mut d = Vec::new();
        if n.voice_url.as_deref() != Some(self.voice_url.as_str()) {
            d.push("VoiceUrl");
        }
        if n.voice_fallback_url.as_deref() != Some(self.voice_fallback_url.as_str()) {
            d.push("VoiceFallbackUrl");
        }
        if n.status_callback.as_deref() != Some(self.status_callback.as_str()) {
            d.push("StatusCallback");
        }
        if n.sms_url.as_deref() != Some(self.sms_url.as_str()) {
            d.push("SmsUrl");
        }
        d
    }

    /// Settings that point a number away from Switchboard, for deletion: the demo webhooks a
    /// newly bought Twilio number has. NB: Twilio's API description types these fields as
    /// URIs, so an empty value to clear them breaks the contract (Prism answers 422); putting
    /// back Twilio's own defaults is the valid way to detach.
    pub fn detached() -> NumberSettings {
        NumberSettings {
            voice_url: TWILIO_DEMO_VOICE_URL.into(),
            voice_fallback_url: TWILIO_DEMO_VOICE_URL.into(),
            status_callback: TWILIO_DEMO_VOICE_URL.into(),
            sms_url: TWILIO_DEMO_SMS_URL.into(),
        }
    }
}

/// What kind of number to search for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// ISO country code.
    pub country: String,
    /// `Local`, `TollFree` or `Mobile`.
    pub kind: &'static str,
    /// North American area code.
    pub area_code: Option<u32>,
    /// Pattern (`Contains`).
    pub contains: Option<String>,
}

/// The client.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
    /// Problem documents (RFC 7807, as API gateways and mocks answer) say it here.
    detail: Option<String>,
}

#[derive(Deserialize)]
struct NumberPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<IncomingNumber>,
}

#[derive(Deserialize)]
struct AvailablePage {
    #[serde(default)]
    available_phone_numbers: Vec<AvailableNumber>,
}

/// The API's base URL for a region and edge (`https://api.dublin.ie1.twilio.com`), or the
/// default `https://api.twilio.com`.
pub fn base_url(region: Option<&str>, edge: Option<&str>) -> String {
    match (edge, region) {
        (None, None) => "https://api.twilio.com".into(),
        (Some(e), None) => format!("https://api.{e}.us1.twilio.com"),
        (e, Some(r)) => format!(
            "https://api.{}{r}.twilio.com",
            e.map(|e| format!("{e}.")).unwrap_or_default()
        ),
    }
}

impl Client {
    /// A client of the API a PhoneNumber's `spec.twilio` names (region and edge), or of
    /// `api_url` when one is configured (a proxy, a mock).
    pub fn for_number(
        api_url: Option<&str>,
        endpoint: Option<&switchboard_crds::phone_number::TwilioEndpoint>,
        creds: Credentials,
    ) -> Result<Client, TwilioError> {
        let base = api_url.map(str::to_string).unwrap_or_else(|| {
            base_url(
                endpoint.and_then(|t| t.region.as_deref()),
                endpoint.and_then(|t| t.edge.as_deref()),
            )
        });
        Client::new(&base, creds)
    }

    /// A client of the API at `base` (see [`base_url`]; tests pass a mock's URL).
    pub fn new(base: &str, creds: Credentials) -> Result<Client, TwilioError> {
        let http = switchboard_process::http_client()
            .map_err(|e| TwilioError::Transport(format!("TLS set-up: {e}")))?
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("switchboard-operator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            creds,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{path}",
            self.base, self.creds.account_sid
        )
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, TwilioError> {
        let res = req
            .basic_auth(&self.creds.username, Some(&self.creds.password))
            .header("Accept", "application/json")
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        if status.is_success() {
            if body.is_empty() {
                // DELETE answers 204 with no body.
                return serde_json::from_slice(b"null")
                    .map_err(|e| TwilioError::Transport(e.to_string()));
            }
            return serde_json::from_slice(&body)
                .map_err(|e| TwilioError::Transport(format!("unreadable answer: {e}")));
        }
        let err: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(TwilioError::Api {
            status: status.as_u16(),
            code: err
                .as_ref()
                .and_then(|e| e.code)
                .unwrap_or(u32::from(status.as_u16())),
            message: err
                .as_ref()
                .and_then(|e| e.message.clone().or_else(|| e.detail.clone()))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string()),
            more_info: err.and_then(|e| e.more_info),
        })
    }

    /// Sends a text from `from` (one of the account's numbers) to `to`; returns the new
    /// message's SID. Twilio refuses it with error 21610 when `to` has texted STOP to `from`.
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<String, TwilioError> {
        #[derive(Deserialize)]
        struct Created {
            sid: Option<String>,
        }
        let created: Created = self
            .send(self.http.post(self.url("Messages.json")).form(&[
                ("To", to),
                ("From", from),
                ("Body", body),
            ]))
            .await?;
        Ok(created.sid.unwrap_or_default())
    }

    /// The account's number with this E.164 value.
    pub async fn find_number(&self, e164: &str) -> Result<Option<IncomingNumber>, TwilioError> {
        let page: NumberPage = self
            .send(
                self.http
                    .get(self.url("IncomingPhoneNumbers.json"))
                    .query(&[("PhoneNumber", e164)]),
            )
            .await?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == e164))
    }

    /// One of the account's numbers, by SID.
    pub async fn get_number(&self, sid: &str) -> Result<Option<IncomingNumber>, TwilioError> {
        match self
            .send(
                self.http
                    .get(self.url(&format!("IncomingPhoneNumbers/{sid}.json"))),
            )
            .await
        {
            Ok(n) => Ok(Some(n)),
            Err(TwilioError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The account's numbers whose friendly name is `name` (how a bought number is found again).
    pub async fn find_by_friendly_name(
        &self,
        name: &str,
    ) -> Result<Vec<IncomingNumber>, TwilioError> {
        let page: NumberPage = self
            .send(
                self.http
                    .get(self.url("IncomingPhoneNumbers.json"))
                    .query(&[("FriendlyName", name)]),
            )
            .await?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .filter(|n| n.friendly_name.as_deref() == Some(name))
            .collect())
    }

    /// Sets a number's webhooks.
    pub async fn configure(
        &self,
        sid: &str,
        settings: &NumberSettings,
    ) -> Result<IncomingNumber, TwilioError> {
        self.send(
            self.http
                .post(self.url(&format!("IncomingPhoneNumbers/{sid}.json")))
                .form(&settings.form()),
        )
        .await
    }

    /// Numbers for sale matching `search`.
    pub async fn search(&self, search: &Search) -> Result<Vec<AvailableNumber>, TwilioError> {
        let mut q: Vec<(&str, String)> = vec![("VoiceEnabled", "true".into())];
        if let Some(a) = search.area_code {
            q.push(("AreaCode", a.to_string()));
        }
        if let Some(c) = &search.contains {
            q.push(("Contains", c.clone()));
        }
        q.push(("PageSize", "5".into()));
        let page: AvailablePage = self
            .send(
                self.http
                    .get(self.url(&format!(
                        "AvailablePhoneNumbers/{}/{}.json",
                        search.country, search.kind
                    )))
                    .query(&q),
            )
            .await?;
        Ok(page.available_phone_numbers)
    }

    /// Buys `e164`, marked with `friendly_name` and configured with `settings` at once.
    pub async fn buy(
        &self,
        e164: &str,
        friendly_name: &str,
        settings: &NumberSettings,
    ) -> Result<IncomingNumber, TwilioError> {
        let mut form = settings.form();
        form.push(("PhoneNumber", e164.to_string()));
        form.push(("FriendlyName", friendly_name.to_string()));
        self.send(
            self.http
                .post(self.url("IncomingPhoneNumbers.json"))
                .form(&form),
        )
        .await
    }

    /// Releases a number back to Twilio.
    pub async fn release(&self, sid: &str) -> Result<(), TwilioError> {
        let _: Option<serde_json::Value> = self
            .send(
                self.http
                    .delete(self.url(&format!("IncomingPhoneNumbers/{sid}.json"))),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_for_regions_and_edges() {
        assert_eq!(base_url(None, None), "https://api.twilio.com");
        assert_eq!(
            base_url(Some("ie1"), Some("dublin")),
            "https://api.dublin.ie1.twilio.com"
        );
        assert_eq!(
            base_url(None, Some("sydney")),
            "https://api.sydney.us1.twilio.com"
        );
        assert_eq!(base_url(Some("au1"), None), "https://api.au1.twilio.com");
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials {
            account_sid: "AC1".into(),
            username: "AC1".into(),
            password: "hunter2".into(),
            auth_token: None,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn drift_names_the_changed_fields() {
        let s = NumberSettings {
            voice_url: "https://sb/twilio/voice".into(),
            voice_fallback_url: "https://sb/twilio/voice/fallback".into(),
            status_callback: "https://sb/twilio/voice/status".into(),
            sms_url: "https://sb/twilio/sms".into(),
        };
        let mut n = IncomingNumber {
            voice_url: Some(s.voice_url.clone()),
            voice_fallback_url: Some(s.voice_fallback_url.clone()),
            status_callback: Some(s.status_callback.clone()),
            sms_url: Some(s.sms_url.clone()),
            ..IncomingNumber::default()
        };
        assert!(s.matches(&n));
        n.voice_url = Some("https://demo.twilio.com/welcome/voice/".into());
        assert_eq!(s.drift(&n), ["VoiceUrl"]);
    }
}
