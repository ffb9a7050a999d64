//! The people directory against the API server verifier: a Schedule that names a Person of
//! its namespace instead of defining the person itself gets the Person's contacts, in order,
//! into the hotline's routing table; without the Person, the table stays as it was.

use super::*;
use switchboard_crds::{ContactSpec, Person, PersonSpec, Schedule};

fn dana() -> Person {
    let contact = |label: &str, phone: &str| ContactSpec {
        label: Some(label.into()),
        phone: Some(phone.into()),
        sip: None,
    };
    let mut p = Person::new(
        "dana",
        PersonSpec {
            display_name: Some("Dana Scully".into()),
            language: None,
            contacts: vec![
                contact("mobile", "+12125550201"),
                contact("desk", "+12125550211"),
            ],
        },
    );
    p.metadata.namespace = Some("oncall".into());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_of_the_directory_reaches_the_table_with_every_contact_in_order() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    // The database Schedule without its own entry for dana (she is a layer member).
    let schedules: Vec<Schedule> = s
        .ctx
        .stores
        .schedules
        .state()
        .iter()
        .map(|sc| {
            let mut sc = (**sc).clone();
            sc.spec.people.retain(|p| p.name != "dana");
            sc
        })
        .collect();
    let reconcile_with = |people: Vec<Person>| {
        let (schedule_store, mut w) = reflector::store();
        fill(&mut w, schedules.clone());
        let (people_store, mut w) = reflector::store();
        fill(&mut w, people);
        let ctx = with_stores(
            &s.ctx,
            Stores {
                schedules: schedule_store,
                people: people_store,
                ..s.ctx.stores.clone()
            },
        );
        let pn = pn.clone();
        async move { phone_number::reconcile(Arc::new(pn), ctx).await.unwrap() }
    };

    // Nobody called dana anywhere: the Schedule is invalid and the last good table stays.
    reconcile_with(vec![]).await;
    assert_eq!(hotline_revision(&s.redis.url).await.unwrap(), before);

    reconcile_with(vec![dana()]).await;
    assert_ne!(hotline_revision(&s.redis.url).await.unwrap(), before);
    let table: switchboard_routing::RoutingTable =
        serde_json::from_str(&hotline_table(&s.redis.url).await.unwrap()).unwrap();
    let p = table.schedules["database"].person("dana").unwrap();
    assert_eq!(p.display_name, "Dana Scully");
    assert_eq!(p.contact.address(), "+12125550201");
    assert_eq!(p.contact_label.as_deref(), Some("mobile"));
    let more: Vec<_> = p
        .more_contacts
        .iter()
        .map(|c| c.contact.address())
        .collect();
    assert_eq!(more, ["+12125550211"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_naming_a_person_of_the_directory_carries_them_in_the_table() {
    let (pn, s) = published_hotline().await;
    // The database chain's manager step names the Person "dana" directly.
    let chains: Vec<switchboard_crds::EscalationChain> = s
        .ctx
        .stores
        .chains
        .state()
        .iter()
        .map(|c| {
            let mut c = (**c).clone();
            if c.metadata.name.as_deref() == Some("database") {
                let target = &mut c.spec.steps[1].targets[0];
                target.person = Some(switchboard_crds::chain::PersonRef {
                    schedule: None,
                    name: "dana".into(),
                });
            }
            c
        })
        .collect();
    let (chain_store, mut w) = reflector::store();
    fill(&mut w, chains);
    let (people_store, mut w) = reflector::store();
    fill(&mut w, [dana()]);
    let ctx = with_stores(
        &s.ctx,
        Stores {
            chains: chain_store,
            people: people_store,
            ..s.ctx.stores.clone()
        },
    );
    phone_number::reconcile(Arc::new(pn), ctx).await.unwrap();
    let table: switchboard_routing::RoutingTable =
        serde_json::from_str(&hotline_table(&s.redis.url).await.unwrap()).unwrap();
    let p = &table.people["dana"];
    assert_eq!(p.more_contacts.len(), 1);
    assert!(table.chains["database"].steps[1].targets.contains(
        &switchboard_routing::table::Target::Person {
            schedule: String::new(),
            person: "dana".into()
        }
    ));
}
