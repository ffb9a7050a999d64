//! The examples published and called; edits and deletions reaching the next call.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_configure_twilio_publish_tables_and_a_call_is_answered_at_step_two() {
    let s = Stack::start("examples").await;
    // The number the account owns points at the webhook server.
    s.wait_until("the hotline points at the webhook server", async || {
        s.number_setting(HOTLINE, "voice_url").as_deref()
            == Some(&format!("{PUBLIC_URL}/twilio/voice"))
    })
    .await;
    assert_eq!(
        s.number_setting(HOTLINE, "voice_fallback_url").as_deref(),
        Some(&*format!("{PUBLIC_URL}/twilio/voice/fallback"))
    );
    assert_eq!(
        s.number_setting(HOTLINE, "sms_url").as_deref(),
        Some(&*format!("{PUBLIC_URL}/twilio/sms"))
    );
    // The major-incident line is bought (spec.purchase), marked with its intent, and routed.
    s.wait_until("the purchased number's table is published", async || {
        s.table(TOLL_FREE_FOR_SALE).await.is_some()
    })
    .await;
    {
        let w = s.twilio.lock().unwrap();
        assert_eq!(w.purchases, 1, "bought exactly once");
        let bought = w.by_number(TOLL_FREE_FOR_SALE).unwrap();
        assert!(
            bought["friendly_name"].starts_with("switchboard oncall/major-incident-line"),
            "{bought:?}"
        );
    }
    let table = s.table(HOTLINE).await.unwrap();
    assert_eq!(table.owner.name, "support-hotline");
    assert_eq!(table.account_sid.as_deref(), Some(ACCOUNT));

    // Step one (whoever is on call) does not pick up; step two, the DBA manager, accepts.
    let first = database_on_call_now(&table);
    assert!(!first.contains(&DBA_MANAGER.to_string()), "{first:?}");
    let t = s
        .call(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    assert_eq!(t.dials.len(), 2, "two steps rung: {}", t.render());
    assert_eq!(t.dials[0], first, "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_schedule_makes_the_next_call_ring_the_new_person() {
    let s = Stack::start("schedule").await;
    let before = s.table(HOTLINE).await.unwrap();
    let on_call = database_on_call_now(&before);
    // Someone of the rotation who is not on call now takes over with an override.
    let (name, number) = DATABASE_PEOPLE
        .into_iter()
        .find(|(_, n)| !on_call.contains(&n.to_string()))
        .unwrap();
    let ny = TimeZone::get("America/New_York").unwrap();
    let local = |t: Timestamp| {
        t.to_zoned(ny.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let now = Timestamp::now();
    let start = local(now - jiff::SignedDuration::from_hours(1));
    let end = local(now + jiff::SignedDuration::from_hours(2));
    s.edit("schedules.yaml", |text| {
        text.replacen(
            "  overrides:\n    - person: dba-manager\n",
            &format!(
                "  overrides:\n    - person: {name}\n      start: \"{start}\"\n      end: \"{end}\"\n    - person: dba-manager\n"
            ),
            1,
        )
    });
    let old = before.revision.clone();
    s.wait_until("the edited schedule is published", async || {
        s.revision(HOTLINE).await.is_some_and(|r| r != old)
    })
    .await;
    let t = s
        .call(database_call().responder(number, Behaviour::Accept { after: 3 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(number), "{}", t.render());
    assert_eq!(t.dials[0], vec![number.to_string()], "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_policy_keeps_its_number_answering_until_the_phone_number_is_deleted() {
    let s = Stack::start("delete-policy").await;
    s.wait_until("the hotline points at the webhook server", async || {
        s.number_setting(HOTLINE, "voice_url").as_deref()
            == Some(&format!("{PUBLIC_URL}/twilio/voice"))
    })
    .await;
    let revision = s.revision(HOTLINE).await;
    // Delete the support policy: keep only the other documents of the file. A policy that is
    // missing (deleted, or not created yet) undoes nothing: the hotline keeps answering.
    let without = |name: &'static str| {
        move |text: String| {
            text.split("\n---\n")
                .filter(|doc| !doc.contains(&format!("\n  name: {name}\n")))
                .collect::<Vec<_>>()
                .join("\n---\n")
        }
    };
    s.edit("policies.yaml", without("support"));
    // Several passes of the folder operator (it polls every 0.5 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        s.revision(HOTLINE).await,
        revision,
        "the last table stays live"
    );
    assert_eq!(
        s.number_setting(HOTLINE, "voice_url").as_deref(),
        Some(format!("{PUBLIC_URL}/twilio/voice").as_str())
    );
    let t = s.call(database_call()).await;
    assert!(!t.dials.is_empty(), "{}", t.render());
    // Deleting the PhoneNumber is what takes the number out of service.
    s.edit("phone-numbers.yaml", without("support-hotline"));
    s.wait_until("the hotline's table is removed", async || {
        // The revision key keeps the "unpublished" mark, so that webhook servers tell an
        // unpublished number from a Redis that lost its data.
        s.revision(HOTLINE).await.as_deref() == Some(keys::UNPUBLISHED)
            && s.table(HOTLINE).await.is_none()
    })
    .await;
    s.wait_until("the hotline no longer points at Switchboard", async || {
        s.number_setting(HOTLINE, "voice_url")
            .is_some_and(|u| !u.starts_with(PUBLIC_URL))
    })
    .await;
    let t = s.call(database_call()).await;
    assert!(
        t.heard.iter().any(|h| h.contains("not in service")),
        "{}",
        t.render()
    );
    assert!(t.dials.is_empty(), "{}", t.render());
    // The other number is untouched.
    assert!(s.table(TOLL_FREE_FOR_SALE).await.is_some());
}
