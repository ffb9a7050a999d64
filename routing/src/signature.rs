//! Twilio request signatures (`X-Twilio-Signature`).
//!
//! NB (Twilio, "Webhooks security"): the signature is the Base64 of an HMAC-SHA1, keyed with
//! the account's auth token, over the full URL Twilio requested (scheme, host, path and query)
//! followed by every POST parameter sorted by name, each name immediately followed by its
//! value, with no separators. The URL must be the public one Twilio used, which behind an
//! ingress is not what the server sees in its Host header, so callers pass a URL built from
//! the configured public base URL.
//! <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
//!
//! Shared by the webhook server (which checks) and the call simulator (which signs, as
//! Twilio would).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The signature Twilio sends for a POST of `params` to `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Sorted by name; parameters that repeat a name keep their value order (Twilio sorts the
    // pairs, so equal names are ordered by value).
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The forms of a public base URL (`scheme://[user:pass@]host[:port][/prefix]`) that Twilio
/// may have signed, the configured one first.
///
/// NB: Twilio drops the port of an `https` URL when it signs voice webhooks, keeps it for
/// others, and a URL written with the scheme's standard port (`:443`, `:80`) may be signed
/// with or without it; its own validators (twilio-node's `validateRequest`, twilio-python's
/// `RequestValidator.validate`) therefore accept the URL with the port removed and with the
/// standard port added. Basic-auth credentials in the URL (Twilio's documented way of
/// protecting a webhook, <https://www.twilio.com/docs/usage/security>) are part of the URL the
/// helper libraries sign; the forms without them are accepted too. Every form still needs the
/// HMAC keyed with the auth token, so accepting several weakens nothing.
pub fn base_variants(base: &str) -> Vec<String> {
    let base = base.trim_end_matches('/');
    let Some((scheme, rest)) = base.split_once("://") else {
        return vec![base.to_string()];
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    // A port is what follows the last ':' after any IPv6 literal's closing bracket.
    let (host, _port) = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
        _ => (hostport, None),
    };
    let standard = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let mut out = Vec::new();
    let mut push = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };
    for with_user in [userinfo, None] {
        let user = with_user.map(|u| format!("{u}@")).unwrap_or_default();
        push(format!("{scheme}://{user}{hostport}{path}"));
        push(format!("{scheme}://{user}{host}{path}"));
        if !standard.is_empty() {
            push(format!("{scheme}://{user}{host}{standard}{path}"));
        }
    }
    out
}

/// Whether `signature` is Twilio's for a request to `path` under any of `bases` (the forms
/// [`base_variants`] gives), compared in constant time. The URLs are built one at a time, so
/// a request signed over the configured URL (the usual case) costs one URL and one HMAC.
pub fn verify_any(
    auth_token: &str,
    bases: &[String],
    path: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let mut url = String::new();
    bases.iter().any(|base| {
        url.clear();
        url.push_str(base);
        url.push_str(path);
        verify(auth_token, &url, params, signature)
    })
}

/// Whether `signature` is Twilio's for this request, compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = sign(auth_token, url, params);
    expected
        .as_bytes()
        .ct_eq(signature.trim().as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_with_a_port_or_credentials_is_tried_in_every_form_twilio_signs() {
        assert_eq!(
            base_variants("https://hotline.example.com:8443"),
            [
                "https://hotline.example.com:8443",
                "https://hotline.example.com",
                "https://hotline.example.com:443",
            ]
        );
        assert_eq!(
            base_variants("https://hotline.example.com/"),
            [
                "https://hotline.example.com",
                "https://hotline.example.com:443"
            ]
        );
        assert_eq!(
            base_variants("http://u:p@10.0.0.1:8080/sb"),
            [
                "http://u:p@10.0.0.1:8080/sb",
                "http://u:p@10.0.0.1/sb",
                "http://u:p@10.0.0.1:80/sb",
                "http://10.0.0.1:8080/sb",
                "http://10.0.0.1/sb",
                "http://10.0.0.1:80/sb",
            ]
        );
        assert_eq!(
            base_variants("https://[::1]:8443"),
            ["https://[::1]:8443", "https://[::1]", "https://[::1]:443"]
        );
    }

    fn twilio_example_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilios_documented_example_signs_to_its_documented_signature() {
        assert_eq!(
            sign("12345", URL, &twilio_example_params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn parameter_order_in_the_request_does_not_matter() {
        let mut params = twilio_example_params();
        params.reverse();
        assert!(verify(
            "12345",
            URL,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn a_changed_parameter_url_or_token_fails_verification() {
        let mut params = twilio_example_params();
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(!verify("12346", URL, &params, good));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            good
        ));
        params[2].1 = "1235".into();
        assert!(!verify("12345", URL, &params, good));
        assert!(!verify("12345", URL, &twilio_example_params(), ""));
    }
}
