//! One PhoneNumber reconciled: finalizer, Twilio, Redis, conditions, deletion and lost tables.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_number_gets_the_finalizer_first() {
    let pn = examples_hotline().await;
    let s = setup(&pn, Some(secret()), false).await;
    let action = phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let (what, body) = {
        let seen = s.seen.lock().unwrap();
        assert_eq!(seen.requests.len(), 1, "{seen:?}");
        seen.requests[0].clone()
    };
    assert_eq!(
        what.as_str(),
        "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline"
    );
    assert!(
        body.to_string().contains("switchboard.dev/cleanup"),
        "{body}"
    );
    // Nothing published before the finalizer is in place.
    assert_eq!(hotline_table(&s.redis.url).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_phone_number_is_configured_published_and_reported_ready() {
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let s = setup(&pn, Some(secret()), false).await;
    let action = phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::requeue(phone_number::RESYNC));
    // Twilio: the number points at the webhook server.
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(n["voice_url"], "https://sb.example.com/twilio/voice");
    // Redis: the table and its revision are current.
    let table = hotline_table(&s.redis.url).await.expect("table published");
    let table: Value = serde_json::from_str(&table).unwrap();
    assert_eq!(table["accountSid"], ACCOUNT);
    let rev = hotline_revision(&s.redis.url).await.unwrap();
    assert_eq!(table["revision"], rev);
    // The API server saw: the Secret read, then one status patch (server-side apply).
    let seen = s.seen.lock().unwrap();
    let whats: Vec<&str> = seen.requests.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        whats,
        [
            "GET /api/v1/namespaces/oncall/secrets/twilio-credentials",
            "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline/status"
        ]
    );
    let status = &seen.requests[1].1["status"];
    assert_eq!(status["number"], "+14155550100");
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["publishedRevision"], rev);
    let conds = status["conditions"].as_array().unwrap();
    let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "True", "{conds:?}");
    for t in ["ReferencesResolved", "TwilioConfigured", "RoutesPublished"] {
        assert!(
            conds
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True"),
            "{t}: {conds:?}"
        );
    }
    assert!(
        seen.events.contains(&"TwilioConfigured".to_string()),
        "{:?}",
        seen.events
    );
    assert!(
        seen.events.contains(&"RoutesPublished".to_string()),
        "{:?}",
        seen.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_chain_keeps_the_last_valid_table_live() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    // The database chain is edited to ring a schedule that does not exist.
    let mut chains: Vec<_> = s
        .ctx
        .stores
        .chains
        .state()
        .iter()
        .map(|c| (**c).clone())
        .collect();
    let db = chains
        .iter_mut()
        .find(|c| c.name_any() == "database")
        .unwrap();
    db.spec.steps[0].targets[0].on_call = Some("nonexistent".into());
    let (store, mut writer) = reflector::store();
    fill(&mut writer, chains);
    // A restarted operator (it did not publish the table itself) whose store has the edit.
    let ctx = with_stores(
        &s.ctx,
        Stores {
            chains: store,
            ..s.ctx.stores.clone()
        },
    );
    let mut published = pn.clone();
    published.status = Some(switchboard_crds::PhoneNumberStatus {
        published_revision: Some(before.clone()),
        ..Default::default()
    });
    let action = phone_number::reconcile(Arc::new(published), ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(
        hotline_revision(&s.redis.url).await.unwrap(),
        before,
        "the last valid table stays live"
    );
    {
        let seen = s.seen.lock().unwrap();
        let conds = seen.requests.last().unwrap().1["status"]["conditions"].clone();
        let conds = conds.as_array().unwrap();
        let refs = conds
            .iter()
            .find(|c| c["type"] == "ReferencesResolved")
            .unwrap();
        assert!(
            refs["message"]
                .as_str()
                .unwrap()
                .contains("EscalationChain oncall/database: spec.steps[0].targets[0].onCall"),
            "{refs}"
        );
        let routes = conds
            .iter()
            .find(|c| c["type"] == "RoutesPublished")
            .unwrap();
        assert!(
            routes["message"].as_str().unwrap().contains("stays live"),
            "{routes}"
        );
    }
    // That live table comes back if Redis loses it, though this operator only adopted it.
    assert_eq!(ctx.live.numbers().await, ["+14155550100"]);
    let mut conn = ctx.redis.clone();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&ctx, &mut conn).await.unwrap(), 1);
    assert_eq!(hotline_revision(&s.redis.url).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_name_the_secret_and_the_fix() {
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let s = setup(&pn, None, false).await;
    phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    let seen = s.seen.lock().unwrap();
    let conds = seen.requests.last().unwrap().1["status"]["conditions"].clone();
    let refs = conds
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ReferencesResolved")
        .unwrap()
        .clone();
    assert_eq!(refs["reason"], "CredentialsMissing");
    assert!(
        refs["message"]
            .as_str()
            .unwrap()
            .contains("Secret twilio-credentials does not exist"),
        "{refs}"
    );
    // Never a token in status.
    assert!(!conds.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_unpublishes_detaches_and_removes_the_finalizer() {
    let (pn, s) = published_hotline().await;
    assert!(hotline_table(&s.redis.url).await.is_some());
    let deleting = deleting(&pn);
    s.seen.lock().unwrap().requests.clear();
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(hotline_table(&s.redis.url).await, None);
    // The revision key is left with the "unpublished" mark (webhook servers then tell an
    // unpublished number from a Redis that lost its data).
    assert_eq!(
        hotline_revision(&s.redis.url).await.as_deref(),
        Some(switchboard_routing::keys::UNPUBLISHED)
    );
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(
        n["voice_url"], "https://demo.twilio.com/welcome/voice/",
        "detached, not released"
    );
    let seen = s.seen.lock().unwrap();
    let (last, body) = seen.requests.last().unwrap();
    assert_eq!(
        last,
        "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline"
    );
    assert!(body.to_string().contains("finalizers"), "{body}");
    assert!(seen.events.contains(&"Cleanup".to_string()));
}

#[tokio::test]
async fn a_schedule_change_maps_to_the_numbers_that_ring_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let o = load_files(
        &manifest_files(&[root], false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap()
    .objects;
    let numbers: Vec<_> = o
        .phone_numbers
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let policies: Vec<_> = o
        .policies
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let chains: Vec<_> = o
        .chains
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let names = |refs: Vec<kube::runtime::reflector::ObjectRef<PhoneNumber>>| {
        let mut n: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        n.sort();
        n
    };
    // The database schedule is rung only through the support hotline's menu.
    assert_eq!(
        names(deps::schedule_users(
            "oncall", "database", &numbers, &policies, &chains
        )),
        ["support-hotline"]
    );
    // The platform chain serves both numbers (menu option 1, and the major-incident line).
    assert_eq!(
        names(deps::chain_users("oncall", "platform", &numbers, &policies)),
        ["major-incident-line", "support-hotline"]
    );
    assert_eq!(
        names(deps::secret_users(
            "oncall",
            "twilio-credentials",
            &numbers,
            &policies
        )),
        ["major-incident-line", "support-hotline"]
    );
    // A PIN's Secret changes the numbers of the policies that ask it.
    let mut asking = (*policies[0]).clone();
    asking.spec.pin = Some(switchboard_crds::policy::Pin {
        secret_ref: switchboard_crds::SecretKeyRef {
            name: "partner-pin".into(),
            key: "pin".into(),
        },
        attempts: 3,
        ask_known_callers: false,
        timeout_seconds: 10,
    });
    let users = deps::secret_users(
        "oncall",
        "partner-pin",
        &numbers,
        &[Arc::new(asking.clone())],
    );
    let expected = deps::policy_users("oncall", &asking.name_any(), &numbers);
    assert!(!users.is_empty());
    assert_eq!(users, expected);
    assert!(
        deps::schedule_users("other-namespace", "database", &numbers, &policies, &chains)
            .is_empty()
    );
}

#[tokio::test]
async fn start_up_refuses_with_the_fix_when_the_crds_are_missing() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(
            req.uri().path(),
            "/apis/switchboard.dev/v1alpha1/phonenumbers"
        );
        send.send_response(
            Response::builder()
                .status(404)
                .body(Body::from(
                    serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"}))
                        .unwrap(),
                ))
                .unwrap(),
        );
    });
    let err = switchboard_operator::run::check_crds(&Client::new(service, "default"), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("kubectl apply --server-side -f crds/switchboard.dev.yaml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_redis_lost_is_written_again_and_told_on_the_phone_number() {
    let (pn, s) = published_hotline().await;
    let table_key = &switchboard_routing::keys::route("+14155550100");
    let rev_key = &switchboard_routing::keys::route_revision("+14155550100");
    let table = redis_get(&s.redis.url, table_key).await.unwrap();
    let rev = redis_get(&s.redis.url, rev_key).await.unwrap();
    assert_eq!(s.ctx.live.numbers().await, ["+14155550100"]);
    let mut conn = s.ctx.redis.clone();
    // Nothing lost: nothing written, nothing told.
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);

    // Redis restarted without persistence: the table and its revision are back at the next
    // check, and the PhoneNumber gets a Warning event.
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 1);
    assert_eq!(redis_get(&s.redis.url, table_key).await, Some(table));
    assert_eq!(redis_get(&s.redis.url, rev_key).await, Some(rev));
    assert_eq!(
        switchboard_routing::publish::published(&mut conn)
            .await
            .unwrap(),
        ["+14155550100"]
    );
    assert_eq!(s.ctx.metrics.restored.get(), 1);
    assert!(
        s.seen
            .lock()
            .unwrap()
            .events
            .contains(&"RoutesRestored".to_string())
    );
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);

    // A revision someone else wrote (a newer reconcile) is never replaced by the copy kept here.
    let _: () = redis::cmd("SET")
        .arg(rev_key)
        .arg("newer")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);
    assert_eq!(
        redis_get(&s.redis.url, rev_key).await.as_deref(),
        Some("newer")
    );

    // Deleted: the table is forgotten with it, and a lost Redis does not bring it back.
    let deleting = deleting(&pn);
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert!(s.ctx.live.numbers().await.is_empty());
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);
    assert_eq!(redis_get(&s.redis.url, table_key).await, None);
}
