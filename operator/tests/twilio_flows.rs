//! The Twilio number steps against a stateful fake of Twilio's API: configure, drift,
//! purchase (and a crash right after it), release and detach.

use switchboard_crds::phone_number::{NumberType, Purchase};
use switchboard_operator::twilio::number::{
    Ensured, Known, LetGo, NumberError, ensure, purchase_marker, release_or_detach, settings_for,
};
use switchboard_operator::twilio::{Client, Credentials};
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};

fn client(base: &str) -> Client {
    Client::new(
        base,
        Credentials {
            account_sid: ACCOUNT.into(),
            username: ACCOUNT.into(),
            password: TOKEN.into(),
            auth_token: None,
        },
    )
    .unwrap()
}

const PUBLIC: &str = "https://sb.example.com";

#[tokio::test]
async fn an_existing_number_is_configured_and_drift_is_corrected() {
    let (url, world) = fake_twilio::start().await;
    let sid = world.lock().unwrap().own("+14155550100");
    let c = client(&url);
    let settings = settings_for(PUBLIC);
    let Ensured::Ready {
        number, changed, ..
    } = ensure(
        &c,
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings,
    )
    .await
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(number.sid, sid);
    assert_eq!(
        changed,
        ["VoiceUrl", "VoiceFallbackUrl", "StatusCallback", "SmsUrl"]
    );
    {
        let w = world.lock().unwrap();
        let n = w.by_number("+14155550100").unwrap();
        assert_eq!(n["voice_url"], "https://sb.example.com/twilio/voice");
        assert_eq!(
            n["voice_fallback_url"],
            "https://sb.example.com/twilio/voice/fallback"
        );
        assert_eq!(
            n["status_callback"],
            "https://sb.example.com/twilio/voice/status"
        );
        assert_eq!(n["voice_method"], "POST");
    }
    // Nothing to do the second time.
    let Ensured::Ready { changed, .. } = ensure(
        &c,
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings,
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert!(changed.is_empty());
    // Someone edits the number in the console: the next resync notices and corrects it.
    world
        .lock()
        .unwrap()
        .numbers
        .get_mut(&sid)
        .unwrap()
        .insert("voice_url".into(), "https://elsewhere.example/voice".into());
    let Ensured::Ready { changed, .. } = ensure(
        &c,
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings,
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert_eq!(changed, ["VoiceUrl"]);
    assert_eq!(
        world.lock().unwrap().by_number("+14155550100").unwrap()["voice_url"],
        "https://sb.example.com/twilio/voice"
    );
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_a_clear_error() {
    let (url, _) = fake_twilio::start().await;
    let err = ensure(
        &client(&url),
        Some("+14155550199"),
        None,
        &Known::default(),
        "m",
        &settings_for(PUBLIC),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, NumberError::NotInAccount(_)));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("spec.number"), "{err}");
}

fn purchase() -> Purchase {
    Purchase {
        country: "US".into(),
        number_type: NumberType::Local,
        area_code: Some(415),
        contains: None,
    }
}

#[tokio::test]
async fn a_purchase_records_its_intent_first_and_never_buys_twice_after_a_crash() {
    let (url, world) = fake_twilio::start().await;
    world.lock().unwrap().for_sale = vec![
        "+12125550000".into(),
        "+14155550111".into(),
        "+14155550112".into(),
    ];
    let c = client(&url);
    let settings = settings_for(PUBLIC);
    let marker = purchase_marker(
        "oncall",
        "major-incident-line",
        "0b9e2f4c-1111-2222-3333-444455556666",
    );
    // First pass: nothing bought, the intent must be recorded first.
    let first = ensure(
        &c,
        None,
        Some(&purchase()),
        &Known::default(),
        &marker,
        &settings,
    )
    .await
    .unwrap();
    assert_eq!(first, Ensured::RecordIntent(marker.clone()));
    assert_eq!(world.lock().unwrap().purchases, 0);
    // With the intent recorded: buys one in area code 415, marked and configured.
    let known = Known {
        purchase_intent: Some(marker.clone()),
        ..Known::default()
    };
    let Ensured::Ready {
        number,
        purchased,
        bought,
        ..
    } = ensure(&c, None, Some(&purchase()), &known, &marker, &settings)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(purchased && bought);
    assert_eq!(number.phone_number, "+14155550111");
    assert_eq!(number.friendly_name.as_deref(), Some(marker.as_str()));
    assert_eq!(
        number.voice_url.as_deref(),
        Some("https://sb.example.com/twilio/voice")
    );
    // The operator crashes before writing the SID to status and runs the same step again:
    // it finds the number it bought instead of buying another.
    let Ensured::Ready {
        number: again,
        bought,
        purchased,
        ..
    } = ensure(&c, None, Some(&purchase()), &known, &marker, &settings)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(!bought && purchased);
    assert_eq!(again.sid, number.sid);
    assert_eq!(world.lock().unwrap().purchases, 1);
}

#[tokio::test]
async fn nothing_for_sale_names_the_filters_to_loosen() {
    let (url, _) = fake_twilio::start().await;
    let known = Known {
        purchase_intent: Some("m".into()),
        ..Known::default()
    };
    let err = ensure(
        &client(&url),
        None,
        Some(&purchase()),
        &known,
        "m",
        &settings_for(PUBLIC),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no Local numbers for sale in US with area code 415"),
        "{err}"
    );
}

#[tokio::test]
async fn delete_releases_only_a_bought_number_and_otherwise_detaches_it() {
    let (url, world) = fake_twilio::start().await;
    let c = client(&url);
    let settings = settings_for(PUBLIC);
    let kept = world.lock().unwrap().own("+14155550100");
    ensure(
        &c,
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings,
    )
    .await
    .unwrap();
    // Not bought by Switchboard: kept, Twilio's default webhooks back, even with releaseOnDelete.
    let known = Known {
        sid: Some(kept.clone()),
        ..Known::default()
    };
    assert_eq!(
        release_or_detach(&c, Some("+14155550100"), &known, true, &settings)
            .await
            .unwrap(),
        LetGo::Detached
    );
    assert_eq!(
        world.lock().unwrap().numbers[&kept]["voice_url"],
        "https://demo.twilio.com/welcome/voice/"
    );
    assert!(world.lock().unwrap().released.is_empty());
    // Pointing elsewhere already: left alone.
    assert_eq!(
        release_or_detach(&c, Some("+14155550100"), &known, false, &settings)
            .await
            .unwrap(),
        LetGo::Untouched
    );
    // Bought by Switchboard and asked to release: released.
    world.lock().unwrap().for_sale = vec!["+18885550100".into()];
    let known = Known {
        purchase_intent: Some("m2".into()),
        ..Known::default()
    };
    let toll_free = Purchase {
        country: "US".into(),
        number_type: NumberType::TollFree,
        area_code: None,
        contains: None,
    };
    let Ensured::Ready { number, .. } = ensure(&c, None, Some(&toll_free), &known, "m2", &settings)
        .await
        .unwrap()
    else {
        panic!()
    };
    let known = Known {
        sid: Some(number.sid.clone()),
        purchased: true,
        purchase_intent: Some("m2".into()),
    };
    assert_eq!(
        release_or_detach(&c, None, &known, true, &settings)
            .await
            .unwrap(),
        LetGo::Released
    );
    assert_eq!(world.lock().unwrap().released, [number.sid]);
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_with_twilio_codes() {
    let (url, world) = fake_twilio::start().await;
    world.lock().unwrap().own("+14155550100");
    world.lock().unwrap().fail_next = vec![429];
    let err = ensure(
        &client(&url),
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings_for(PUBLIC),
    )
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("Twilio error 20429 (HTTP 429)"),
        "{err}"
    );
    // Wrong credentials: Twilio's 20003, not transient, and the token is not in the message.
    let bad = Client::new(
        &url,
        Credentials {
            account_sid: ACCOUNT.into(),
            username: ACCOUNT.into(),
            password: "wrong-token".into(),
            auth_token: None,
        },
    )
    .unwrap();
    let err = ensure(
        &bad,
        Some("+14155550100"),
        None,
        &Known::default(),
        "m",
        &settings_for(PUBLIC),
    )
    .await
    .unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("20003"), "{err}");
    assert!(!err.to_string().contains("wrong-token"));
}
