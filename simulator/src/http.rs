//! The webhooks themselves: parameters as Twilio sends them, signed as Twilio signs them, sent
//! to the next replica over real HTTP.

use super::*;

impl Simulator {
    /// A webhook about the caller's leg.
    pub(crate) async fn post_caller(
        &mut self,
        call: &mut Call,
        url: &str,
        call_status: &str,
        extra: Vec<(String, String)>,
    ) -> Result<Option<Vec<Node>>, SimError> {
        let mut p = vec![
            ("CallSid".to_string(), call.sid.clone()),
            ("From".to_string(), call.script.from.clone()),
            ("Caller".to_string(), call.script.from.clone()),
            ("To".to_string(), call.script.to.clone()),
            ("Called".to_string(), call.script.to.clone()),
            ("CallStatus".to_string(), call_status.to_string()),
            ("Direction".to_string(), "inbound".to_string()),
        ];
        p.extend(extra);
        self.post(call, url, p).await
    }

    /// POSTs a signed webhook to `url` (absolute, under the public URL) at the next replica;
    /// `None` after an application error, which ends the call as Twilio would.
    pub(crate) async fn post(
        &mut self,
        call: &mut Call,
        url: &str,
        mut params: Vec<(String, String)>,
    ) -> Result<Option<Vec<Node>>, SimError> {
        params.push(("AccountSid".to_string(), self.account_sid.clone()));
        params.push(("ApiVersion".to_string(), "2010-04-01".to_string()));
        let path = url
            .strip_prefix(&self.public_url)
            .ok_or_else(|| SimError::ForeignUrl(url.to_string()))?
            .to_string();
        if let Some(hook) = self.before_request.as_mut() {
            hook(&path);
        }
        if self.real_time {
            // Twilio sends each webhook when it happens; a server on its own clock must get
            // it then (a trigger delay or a step's deadline is measured on that clock).
            let ahead = self.now().duration_since(jiff::Timestamp::now());
            if ahead.is_positive() {
                tokio::time::sleep(ahead.unsigned_abs()).await;
            }
        }
        call.t.webhooks += 1;
        let (status, body) = self.send(url, &path, &params).await?;
        if self.deliver_twice {
            let (status2, body2) = self.send(url, &path, &params).await?;
            if (status, &body) != (status2, &body2) {
                call.t.replay_mismatches.push(format!(
                    "{path}: first {status} {body}\nthen {status2} {body2}"
                ));
            }
        }
        let doc = if status == 200 {
            twiml::parse(&body).map_err(|e| format!("12100: {path}: {e}"))
        } else {
            Err(format!("11200: {path} answered HTTP {status}"))
        };
        match doc {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                call.t.application_errors.push(e);
                if let Some(fb) = self.fallback_path.clone() {
                    let fb_url = format!("{}{fb}", self.public_url);
                    params.push(("ErrorCode".to_string(), "11200".to_string()));
                    params.push(("ErrorUrl".to_string(), url.to_string()));
                    let (s, b) = self.send(&fb_url, &fb, &params).await?;
                    if s == 200
                        && let Ok(d) = twiml::parse(&b)
                    {
                        return Ok(Some(d));
                    }
                }
                self.say(call, "caller hears: \"An application error has occurred.\"");
                Ok(None)
            }
        }
    }

    pub(crate) async fn send(
        &mut self,
        url: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), SimError> {
        let target = &self.targets[self.next_target % self.targets.len()];
        self.next_target += 1;
        let signature = signature::sign(
            &self.auth_token,
            &signed_url(url, !path.starts_with("/twilio/sms")),
            params,
        );
        let res = self
            .http
            .post(format!("{target}{path}"))
            .header("X-Twilio-Signature", signature)
            .form(params)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.text().await?))
    }
}

/// The URL Twilio signs for a request to `url`. NB: for voice webhooks over https Twilio
/// signs the URL without its port (Twilio's helper libraries accept both forms for this
/// reason: twilio-node's `validateRequest`); for messaging it keeps the URL as configured.
fn signed_url(url: &str, voice: bool) -> String {
    if !voice || !url.starts_with("https://") {
        return url.to_string();
    }
    let rest = &url["https://".len()..];
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') && !authority[i..].contains('@') => {
            format!("https://{}{path}", &authority[..i])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod signing_tests {
    use super::signed_url;

    #[test]
    fn voice_over_https_is_signed_without_the_port_and_texts_as_configured() {
        assert_eq!(
            signed_url("https://hotline.example.com:8443/twilio/voice?x=1", true),
            "https://hotline.example.com/twilio/voice?x=1"
        );
        assert_eq!(
            signed_url("https://hotline.example.com:8443/twilio/sms", false),
            "https://hotline.example.com:8443/twilio/sms"
        );
        assert_eq!(
            signed_url("http://127.0.0.1:8080/twilio/voice", true),
            "http://127.0.0.1:8080/twilio/voice"
        );
        assert_eq!(
            signed_url("https://u:p@hotline.example.com/twilio/voice", true),
            "https://u:p@hotline.example.com/twilio/voice"
        );
    }
}
