//! Edges of the controller: stores not listed, duplicate numbers, namespaces and Secrets gone or forbidden.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_not_in_the_store_removes_nothing_and_leaves_twilio_alone() {
    // Published with its policy, as before an operator restart...
    let (pn, first) = published_hotline().await;
    let table = hotline_table(&first.redis.url).await.unwrap();
    let rev = hotline_revision(&first.redis.url).await.unwrap();
    let mut published = pn.clone();
    published.status = Some(switchboard_crds::PhoneNumberStatus {
        number: Some("+14155550100".into()),
        published_revision: Some(rev.clone()),
        ..Default::default()
    });
    // ...then reconciled where the policy is not in the store (not listed yet, created after
    // the PhoneNumber, or deleted): the Secret is read, the status says why, one event.
    let s = setup_with(
        true,
        scenario(vec![
            get_secret(Some(secret())),
            event("PolicyNotFound"),
            patch_status(&published)
                .has("PolicyNotFound")
                .has("stays live"),
        ]),
    )
    .await;
    let mut conn = s.ctx.redis.clone();
    let t = switchboard_routing::RoutingTable::from_json(&table).unwrap();
    switchboard_routing::publish::publish(&mut conn, &t)
        .await
        .unwrap();
    s.twilio.lock().unwrap().requests.clear();
    let action = phone_number::reconcile(Arc::new(published), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_followed(&s.seen, 3);
    // The table is still the one published, and it comes back if Redis loses it.
    assert_eq!(hotline_table(&s.redis.url).await, Some(table));
    assert_eq!(s.ctx.live.numbers().await, ["+14155550100"]);
    // Twilio was not asked to change anything.
    assert_eq!(twilio_writes(&s.twilio), Vec::<String>::new());
    assert!(
        s.twilio.lock().unwrap().requests.is_empty(),
        "{:?}",
        s.twilio.lock().unwrap().requests
    );
}

#[tokio::test]
async fn the_operator_starts_no_controller_before_the_stores_have_listed() {
    let (policies, mut pw) = reflector::store::<switchboard_crds::IncomingCallPolicy>();
    let (chains, mut cw) = reflector::store::<switchboard_crds::EscalationChain>();
    let (schedules, mut sw) = reflector::store::<switchboard_crds::Schedule>();
    let waiting = tokio::spawn(async move {
        switchboard_operator::run::wait_until_listed(&policies, &chains, &schedules).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "started before anything was listed");
    pw.apply_watcher_event(&watcher::Event::Init);
    pw.apply_watcher_event(&watcher::Event::InitDone);
    cw.apply_watcher_event(&watcher::Event::Init);
    cw.apply_watcher_event(&watcher::Event::InitDone);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "started before the Schedules were listed"
    );
    sw.apply_watcher_event(&watcher::Event::Init);
    sw.apply_watcher_event(&watcher::Event::InitDone);
    tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
        .await
        .expect("started once all three had listed")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_number_is_reported_on_the_copy_and_its_deletion_leaves_the_original_alone() {
    let pn = original(&examples_hotline().await);
    let copy = with_finalizer(copy_of(&pn, "support-hotline-copy"));
    // The original is published first.
    let s = setup_with(false, {
        let (pn, copy) = (pn.clone(), copy.clone());
        scenario(vec![
            // The original: configured and published, Ready.
            get_secret(Some(secret())),
            event("TwilioConfigured"),
            event("RoutesPublished"),
            patch_status(&pn).has("\"Ready\"").lacks("DuplicateNumber"),
            // The copy: the Secret, then one warning and a status naming the owner; nothing else.
            get_secret(Some(secret())),
            event("DuplicateNumber"),
            patch_status(&copy)
                .has("DuplicateNumber")
                .has("oncall/support-hotline"),
            // The copy deleted: only its finalizer goes.
            remove_finalizer(&copy),
        ])
    })
    .await;
    {
        // Both are in the cluster's store of PhoneNumbers.
        let (store, mut writer) = reflector::store();
        fill(&mut writer, [pn.clone(), copy.clone()]);
        let ctx = with_stores(
            &s.ctx,
            Stores {
                numbers: store,
                ..s.ctx.stores.clone()
            },
        );
        phone_number::reconcile(Arc::new(pn.clone()), ctx.clone())
            .await
            .unwrap();
        let rev = hotline_revision(&s.redis.url).await.unwrap();
        let twilio_before = twilio_writes(&s.twilio);
        assert_eq!(
            phone_number::reconcile(Arc::new(copy.clone()), ctx.clone())
                .await
                .unwrap(),
            Action::await_change()
        );
        let mut deleting = copy.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        phone_number::reconcile(Arc::new(deleting), ctx.clone())
            .await
            .unwrap();
        assert_followed(&s.seen, 8);
        // The original's table and Twilio configuration are untouched by the copy.
        assert_eq!(hotline_revision(&s.redis.url).await, Some(rev));
        assert_eq!(twilio_writes(&s.twilio), twilio_before);
        let n = hotline_in_twilio(&s.twilio);
        assert_eq!(n["voice_url"], "https://sb.example.com/twilio/voice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_secret_first_still_detaches_its_number() {
    // Reconciled once with its Secret...
    let pn = with_finalizer(examples_hotline().await);
    let deleting = deleting(&pn);
    let s = setup_with(
        false,
        scenario(vec![
            get_secret(Some(secret())),
            event("TwilioConfigured"),
            event("RoutesPublished"),
            patch_status(&pn).has("\"Ready\""),
            // ...then the namespace goes: the Secret is already gone when the cleanup runs.
            get_secret(None),
            event("Cleanup").has("pointed the number back"),
            remove_finalizer(&pn),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(pn.clone()), s.ctx.clone())
        .await
        .unwrap();
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 7);
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(
        n["voice_url"], "https://demo.twilio.com/welcome/voice/",
        "detached"
    );
    assert_eq!(hotline_table(&s.redis.url).await, None);
    assert_eq!(s.ctx.metrics.numbers_left_behind.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_with_the_role_that_read_its_secret_still_detaches_its_number() {
    // With the chart's operator.secretNamespaces the Role that lets the operator read the
    // Secret lives in the PhoneNumber's namespace: deleting the namespace takes it too, and
    // the Secret's GET is then a 403, not a 404 (seen on a real cluster: retried for ever, it
    // held the namespace in Terminating).
    let pn = with_finalizer(examples_hotline().await);
    let deleting = deleting(&pn);
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "secrets \"twilio-credentials\" is forbidden: User \"system:serviceaccount:switchboard:sb-switchboard-operator\" cannot get resource \"secrets\" in API group \"\" in the namespace \"oncall\""});
    let s = setup_with(
        false,
        scenario(vec![
            get_secret(Some(secret())),
            event("TwilioConfigured"),
            event("RoutesPublished"),
            patch_status(&pn).has("\"Ready\""),
            expect(
                "GET /api/v1/namespaces/oncall/secrets/twilio-credentials".into(),
                (403, forbidden),
            ),
            event("Cleanup").has("pointed the number back"),
            remove_finalizer(&pn),
            // The second pass only asks again for the finalizer's removal.
            remove_finalizer(&pn),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(pn.clone()), s.ctx.clone())
        .await
        .unwrap();
    phone_number::reconcile(Arc::new(deleting.clone()), s.ctx.clone())
        .await
        .unwrap();
    // A second pass before the finalizer's removal reached the store (the Secret's deletion
    // is a watch event too): nothing more is asked, and nothing is called left behind.
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 8);
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(
        n["voice_url"], "https://demo.twilio.com/welcome/voice/",
        "detached"
    );
    assert_eq!(s.ctx.metrics.numbers_left_behind.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_cannot_be_cleaned_up_is_counted_and_named() {
    // An operator that never saw the Secret (it went before this process started).
    let pn = with_finalizer(examples_hotline().await);
    let deleting = deleting(&pn);
    let s = setup_with(
        false,
        scenario(vec![
            get_secret(None),
            event("CleanupIncomplete").has("check it in the Twilio console"),
            remove_finalizer(&pn),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 3);
    assert_eq!(s.ctx.metrics.numbers_left_behind.get(), 1);
    assert!(
        s.ctx
            .metrics
            .encode()
            .contains("switchboard_operator_numbers_left_behind_total 1"),
        "{}",
        s.ctx.metrics.encode()
    );
}

#[tokio::test]
async fn with_a_watched_namespace_the_crd_check_lists_only_that_namespace() {
    // The chart's watchNamespace mode grants a namespaced Role: a cluster-wide list would be
    // forbidden and the operator would crash-loop.
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let verifier = tokio::spawn(async move {
        let mut paths = Vec::new();
        for kind in [
            "PhoneNumberList",
            "ScheduleOverrideList",
            "PersonList",
            "HolidayCalendarList",
            "CallerListList",
        ] {
            let (req, send) = handle.next_request().await.unwrap();
            paths.push(req.uri().path().to_string());
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(
                        serde_json::to_vec(&json!({"apiVersion": "switchboard.dev/v1alpha1", "kind": kind, "metadata": {}, "items": []}))
                            .unwrap(),
                    ))
                    .unwrap(),
            );
        }
        paths
    });
    switchboard_operator::run::check_crds(&Client::new(service, "default"), Some("oncall"))
        .await
        .unwrap();
    assert_eq!(
        verifier.await.unwrap(),
        [
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers",
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/scheduleoverrides",
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/people",
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/holidaycalendars",
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/callerlists"
        ]
    );
}

#[tokio::test]
async fn crds_older_than_the_operator_are_named_with_the_fix() {
    // CRDs applied from the release before the Person kind: its list is a 404.
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (status, body) = if req.uri().path().ends_with("/people") {
                (
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"}),
                )
            } else {
                (
                    200,
                    json!({"apiVersion": "switchboard.dev/v1alpha1", "kind": "List", "metadata": {}, "items": []}),
                )
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    let e = switchboard_operator::run::check_crds(&Client::new(service, "default"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the Person CRD is not installed")
            && e.contains("kubectl apply --server-side -f crds/switchboard.dev.yaml"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_the_operator_may_not_read_names_the_value_that_grants_it() {
    // Installed with operator.secretNamespaces not listing this namespace: the API server
    // answers the Secret's GET with 403, and the PhoneNumber says what to set.
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "secrets \"twilio-credentials\" is forbidden: User \"system:serviceaccount:switchboard:switchboard-operator\" cannot get resource \"secrets\" in API group \"\" in the namespace \"oncall\""});
    let s = setup_with(
        false,
        scenario(vec![
            expect(
                "GET /api/v1/namespaces/oncall/secrets/twilio-credentials".into(),
                (403, forbidden),
            ),
            // The table is still published (what the manifests say does not need the Secret);
            // Twilio, which does, is left alone.
            event("RoutesPublished"),
            patch_status(&pn)
                .has("CredentialsMissing")
                .has("may not read Secrets in namespace oncall")
                .has("operator.secretNamespaces"),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 3);
    assert_eq!(twilio_writes(&s.twilio), Vec::<String>::new());
}
