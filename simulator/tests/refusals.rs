//! The simulator refuses what Twilio refuses, as Twilio does: the call fails with the
//! application error, so the suite finds TwiML that would fail on a real call.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use switchboard_sim::{Script, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every request with `twiml`, on a loopback port.
async fn serve(twiml: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let twiml = twiml.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = conn.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{twiml}",
                    twiml.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

/// One call from `from` played against a server that answers `twiml` to everything.
async fn call_against(twiml: String, from: &str) -> switchboard_sim::Transcript {
    let url = serve(twiml).await;
    let mut sim = Simulator::new(
        &url,
        vec![url.clone()],
        "AC1",
        "token",
        Arc::new(AtomicI64::new(0)),
    );
    sim.run(Script::call(from, "+14155550100")).await.unwrap()
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

#[tokio::test]
async fn a_dial_of_more_than_ten_numbers_fails_the_call_as_on_twilio() {
    let t = call_against(dial_of(11, ""), "+15105550123").await;
    assert!(t.dials.is_empty(), "nobody is rung: {}", t.render());
    assert_eq!(t.application_errors.len(), 1, "{}", t.render());
    assert!(
        t.application_errors[0].contains("at most ten"),
        "{:?}",
        t.application_errors
    );
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
    assert_eq!(t.application_errors.len(), 1, "{}", t.render());
    assert!(
        t.application_errors[0].starts_with("13214"),
        "{:?}",
        t.application_errors
    );
}
