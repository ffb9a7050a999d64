//! The simulator refuses what Twilio refuses, as Twilio does: the call fails with the
//! application error, so the suite finds TwiML that would fail on a real call.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use switchboard_sim::{Script, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every request with `twiml`, on a loopback port.
async fn serve(twiml: String) -> String {
    recording_server(move |_| twiml.clone()).await.0
}

/// A simulator of Twilio for a server at `url`.
fn simulator_for(url: &str) -> Simulator {
    Simulator::new(
        url,
        vec![url.to_string()],
        "AC1",
        "token",
        Arc::new(AtomicI64::new(0)),
    )
}

/// One call from `from` played against a server that answers `twiml` to everything.
async fn call_against(twiml: String, from: &str) -> switchboard_sim::Transcript {
    let url = serve(twiml).await;
    simulator_for(&url)
        .run(Script::call(from, "+14155550100"))
        .await
        .unwrap()
}

/// TwiML that dials `n` numbers at once, with `attributes` on the `<Dial>`.
fn dial_of(n: usize, attributes: &str) -> String {
    let numbers: String = (1..=n)
        .map(|i| format!("<Number>+1212555{i:04}</Number>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="20"{attributes}>{numbers}</Dial><Hangup/></Response>"#
    )
}

/// Asserts the call failed with exactly one application error, naming `code`.
fn failed_with(t: &switchboard_sim::Transcript, code: &str) {
    assert_eq!(t.application_errors.len(), 1, "{}", t.render());
    assert!(
        t.application_errors[0].contains(code),
        "{:?}",
        t.application_errors
    );
}

#[tokio::test]
async fn a_dial_of_more_than_ten_numbers_fails_the_call_as_on_twilio() {
    let t = call_against(dial_of(11, ""), "+15105550123").await;
    assert!(t.dials.is_empty(), "nobody is rung: {}", t.render());
    failed_with(&t, "at most ten");
}

#[tokio::test]
async fn a_dial_of_ten_numbers_rings_all_ten() {
    let t = call_against(dial_of(10, ""), "+15105550123").await;
    assert_eq!(t.dials.first().map(Vec::len), Some(10), "{}", t.render());
    assert!(t.application_errors.is_empty(), "{}", t.render());
}

#[tokio::test]
async fn a_dial_whose_caller_id_is_not_a_phone_number_fails_with_13214() {
    let t = call_against(dial_of(1, r#" callerId="anonymous""#), "anonymous").await;
    assert!(t.dials.is_empty(), "{}", t.render());
    failed_with(&t, "13214");
}

fn say(attributes: &str, text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say{attributes}>{text}</Say><Hangup/></Response>"#
    )
}

#[tokio::test]
async fn a_voice_that_cannot_speak_the_language_fails_with_13511() {
    let t = call_against(
        say(r#" voice="Polly.Joanna" language="de-DE""#, "Hallo"),
        "+15105550123",
    )
    .await;
    assert!(t.heard.is_empty(), "{}", t.render());
    failed_with(&t, "13511");
}

#[tokio::test]
async fn voices_that_speak_the_language_and_unknown_voices_are_said() {
    for attributes in [
        r#" voice="Polly.Vicki" language="de-DE""#,
        r#" voice="Google.de-DE-Neural2-B" language="de-DE""#,
        r#" voice="Polly.Joanna""#,
        r#" language="de-DE""#,
        "",
    ] {
        let t = call_against(say(attributes, "Hallo"), "+15105550123").await;
        assert!(
            t.application_errors.is_empty(),
            "{attributes}: {}",
            t.render()
        );
        assert_eq!(t.heard, ["Hallo"], "{attributes}");
    }
}

#[tokio::test]
async fn a_say_over_3000_characters_fails_with_13521() {
    let t = call_against(say("", &"a ".repeat(1501)), "+15105550123").await;
    assert!(t.heard.is_empty(), "{}", t.render());
    assert!(
        t.application_errors
            .first()
            .is_some_and(|e| e.starts_with("13521")),
        "{:?}",
        t.application_errors
    );
    let t = call_against(say("", &"a".repeat(3000)), "+15105550123").await;
    assert!(
        t.application_errors.is_empty(),
        "{:?}",
        t.application_errors
    );
}

#[tokio::test]
async fn a_gather_takes_keys_up_to_num_digits_or_finish_on_key_and_drops_the_rest() {
    // Every request gets the same TwiML, so the gather's action answers it again; the script
    // presses keys once, and the second gather hears nothing and falls through to <Hangup>.
    let gather = |attrs: &str, url: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf" action="{url}/g" timeout="3"{attrs}></Gather><Hangup/></Response>"#
        )
    };
    for (attrs, keys, expected) in [
        (r#" numDigits="1""#, "27", "Digits=2"),
        (r#" finishOnKey="*""#, "12*9", "Digits=12"),
        ("", "34#5", "Digits=34"),
        (r#" finishOnKey="""#, "34#", "Digits=34%23"),
    ] {
        let (url, seen) = recording_server(|url| gather(attrs, url)).await;
        let t = simulator_for(&url)
            .run(Script::call("+15105550123", "+14155550100").press(&[keys]))
            .await
            .unwrap();
        let bodies = seen.lock().unwrap().clone();
        let gathered = bodies.iter().find(|b| b.contains("Digits=")).cloned();
        assert!(
            gathered
                .as_deref()
                .is_some_and(|b| b.split('&').any(|kv| kv == expected)),
            "{attrs} {keys}: {gathered:?}\n{}",
            t.render()
        );
    }
}

/// A server that answers every request with `twiml(its own URL)`, on a loopback port, keeping
/// each request's body.
async fn recording_server(
    twiml: impl Fn(&str) -> String,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let twiml = twiml(&url);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let twiml = twiml.clone();
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some((_, body)) = request.split_once("\r\n\r\n") {
                    kept.lock().unwrap().push(body.to_string());
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{twiml}",
                    twiml.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, seen)
}
