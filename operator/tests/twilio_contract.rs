//! Every request the Twilio client can send, checked by Prism against Twilio's own OpenAPI
//! description of its REST API (`twilio_api_v2010.json`, from the npm package `@twilio-alpha/mcp`). Prism answers 422
//! for a request that breaks the contract (a missing or malformed parameter, a wrong method or
//! content type) and 401 without Basic auth, and answers valid ones with the spec's examples,
//! which the client must also be able to read.
//!
//! Prism comes from npm; `scripts/test` installs it under `.cache/prism` (see
//! `switchboard_testkit::Prism`).

use switchboard_operator::twilio::client::{NumberSettings, Search};
use switchboard_operator::twilio::{Client, Credentials, TwilioError};
use switchboard_testkit::Prism;

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NUMBER_SID: &str = "PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn client(base: &str) -> Client {
    Client::new(
        base,
        Credentials {
            account_sid: ACCOUNT.into(),
            username: ACCOUNT.into(),
            password: "token".into(),
            auth_token: None,
        },
    )
    .unwrap()
}

fn settings() -> NumberSettings {
    NumberSettings {
        voice_url: "https://sb.example.com/twilio/voice".into(),
        voice_fallback_url: "https://sb.example.com/twilio/voice/fallback".into(),
        status_callback: "https://sb.example.com/twilio/voice/status".into(),
        sms_url: "https://sb.example.com/twilio/sms".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_client_sends_passes_twilios_contract() {
    let p = Prism::mock();
    let c = client(&p.url);
    // Reads: the example documents must parse.
    c.find_number("+14155550100").await.expect("find_number");
    c.find_by_friendly_name("switchboard oncall/line 0b9e2f4c1111")
        .await
        .expect("find_by_friendly_name");
    let n = c
        .get_number(NUMBER_SID)
        .await
        .expect("get_number")
        .expect("an example number");
    assert!(n.sid.starts_with("PN"), "{n:?}");
    // Writes, with every field the operator sets.
    c.configure(NUMBER_SID, &settings())
        .await
        .expect("configure");
    c.configure(NUMBER_SID, &NumberSettings::detached())
        .await
        .expect("detach");
    c.buy(
        "+14155550111",
        "switchboard oncall/line 0b9e2f4c1111",
        &settings(),
    )
    .await
    .expect("buy");
    c.release(NUMBER_SID).await.expect("release");
    for kind in ["Local", "TollFree", "Mobile"] {
        let s = Search {
            country: "US".into(),
            kind,
            area_code: Some(415),
            contains: Some("555".into()),
        };
        c.search(&s)
            .await
            .unwrap_or_else(|e| panic!("search {kind}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_does_reject_what_breaks_the_contract() {
    // The check above means something only if Prism refuses bad requests: a webhook URL that
    // is not a URL is one.
    let p = Prism::mock();
    let bad = NumberSettings {
        voice_url: "not a url".into(),
        ..settings()
    };
    let err = client(&p.url)
        .configure(NUMBER_SID, &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::Api { status: 422, .. }), "{err}");
}
