//! The steps of one pass (see the module notes of `folder`): Twilio for every PhoneNumber,
//! then its table, then the let-go of those that left the folder.

use super::*;
use crate::twilio::{Client, TwilioError};

fn client(
    settings: &Settings,
    twilio: Option<&TwilioEndpoint>,
    creds: Credentials,
) -> Result<Client, TwilioError> {
    Client::for_number(settings.twilio_api_url.as_deref(), twilio, creds)
}

impl Folder {
    /// The Twilio step of every PhoneNumber (see `pipeline::twilio`), with what status would
    /// say of it written into the object for the compile step; returns the PhoneNumbers seen
    /// and what Twilio came to for each.
    pub(super) async fn configure_twilio(
        &mut self,
        settings: &Settings,
        objects: &mut Objects,
        secrets: &BTreeMap<Key, Result<Credentials, String>>,
        policies: &BTreeSet<Key>,
        metrics: &Metrics,
        report: &mut Report,
    ) -> (BTreeSet<Key>, BTreeMap<Key, Result<String, String>>) {
        let mut seen = BTreeSet::new();
        let mut twilio_notes: BTreeMap<(String, String), Result<String, String>> = BTreeMap::new();
        for sourced in &mut objects.phone_numbers {
            let pn = &mut sourced.object;
            let k = key(pn);
            metrics
                .reconciles
                .get_or_create(&crate::metrics::KindLabels {
                    kind: "PhoneNumber".into(),
                })
                .inc();
            if !seen.insert(k.clone()) {
                continue; // defined twice: compile reports it
            }
            let mem = self.numbers.entry(k.clone()).or_default();
            mem.release_on_delete = pn.spec.release_on_delete;
            mem.twilio = pn.spec.twilio.clone();
            let secret_key = (k.0.clone(), pn.spec.credentials_secret_ref.name.clone());
            let creds = secrets.get(&secret_key).cloned().unwrap_or_else(|| {
                Err(format!(
                    "spec.credentialsSecretRef: no Secret {} in namespace {} among the manifests: add one with accountSid and authToken",
                    secret_key.1, k.0
                ))
            });
            mem.credentials = creds.as_ref().ok().cloned();
            let policy_exists = policies.contains(&(k.0.clone(), pn.spec.policy_ref.name.clone()));
            if settings.twilio && policy_exists {
                let note = match &creds {
                    Err(m) => Err(m.clone()),
                    Ok(c) => match client(settings, pn.spec.twilio.as_ref(), c.clone()) {
                        Err(e) => Err(format!("Twilio: {e}")),
                        Ok(client) => {
                            twilio_note(&client, pn, &k, mem, settings, metrics, report).await
                        }
                    },
                };
                twilio_notes.insert(k.clone(), note);
            } else if !settings.twilio {
                mem.number = pn.spec.number.clone().or(mem.number.clone());
            }
            // What status would say, for the compile step.
            let status = pn.status.get_or_insert_with(Default::default);
            status.number = mem.number.clone().or(pn.spec.number.clone());
            status.sid = mem.known.sid.clone();
            status.purchased = mem.known.purchased;
            status.purchase_intent = mem.known.purchase_intent.clone();
        }
        (seen, twilio_notes)
    }

    /// The build and publish steps of every PhoneNumber; returns the tables now live.
    #[allow(clippy::too_many_arguments)] // one pass's state, passed down once
    pub(super) async fn publish_tables<R: RouteStore>(
        &mut self,
        settings: &Settings,
        objects: &Objects,
        seal: &(dyn Fn(&mut switchboard_compile::Compiled) + Sync),
        mut found: Vec<switchboard_compile::Problem>,
        sids: &AccountSids,
        policies: &BTreeSet<Key>,
        mut twilio_notes: BTreeMap<Key, Result<String, String>>,
        routes: &mut R,
        metrics: &Metrics,
        report: &mut Report,
    ) -> Vec<RoutingTable> {
        let mut compiled = compile(objects, sids);
        seal(&mut compiled);
        let mut live = Vec::new();
        // What the manifests have wrong, root causes first; a PhoneNumber's own problems are
        // reported with it below.
        found.extend(
            compiled
                .problems
                .iter()
                .filter(|p| p.object.as_ref().is_none_or(|o| o.kind != "PhoneNumber"))
                .cloned(),
        );
        switchboard_compile::problem::order(&mut found);
        report
            .problems
            .extend(found.iter().map(ToString::to_string));
        let mut reported = BTreeSet::new();
        for sourced in &objects.phone_numbers {
            let pn = &sourced.object;
            let k = key(pn);
            if !reported.insert(k.clone()) {
                continue; // defined twice: compile reports it
            }
            let mem = self.numbers.get_mut(&k).expect("remembered above");
            let id = crate::problem::ObjectId::new("PhoneNumber", &k.0, &k.1);
            let problem = compiled.problems_of(&id).next().map(ToString::to_string);
            let number = mem.number.clone().or(pn.spec.number.clone());
            let name = format!("{}/{}", k.0, k.1);
            let policy_exists = policies.contains(&(k.0.clone(), pn.spec.policy_ref.name.clone()));
            if !policy_exists {
                // As in the cluster: nothing is undone while the policy is missing; deleting
                // the PhoneNumber is what takes a number out of service.
                let kept = match &mem.published {
                    Some(r) => format!("; the last valid table ({r}) stays live"),
                    None => "; nothing is published".into(),
                };
                report.numbers.push(NumberReport {
                    name,
                    number,
                    ready: false,
                    message: format!(
                        "spec.policyRef: no IncomingCallPolicy {} in namespace {}: create it or point spec.policyRef at an existing one{kept}",
                        pn.spec.policy_ref.name, k.0
                    ),
                });
                continue;
            }
            let twilio = twilio_notes.remove(&k);
            let mut ready = twilio.as_ref().is_none_or(Result::is_ok);
            let mut notes: Vec<String> = twilio
                .map(|t| match t {
                    Ok(m) | Err(m) => m,
                })
                .into_iter()
                .collect();
            let built = pipeline::build(&compiled, (&k.0, &k.1), problem);
            let number_known = built.table.is_some();
            match pipeline::publish(routes, &built, number_known, metrics).await {
                PublishStep::Live { .. } => {
                    let t = built.table.expect("published");
                    mem.published = Some(t.revision.clone());
                    mem.number = Some(t.number.clone());
                    live.push(t.clone());
                    notes.push(format!("routing table {} is live", t.revision));
                }
                PublishStep::Unavailable(e) => {
                    ready = false;
                    report.retry = true;
                    notes.push(format!("cannot publish the routing table: {e}; retrying"));
                }
                PublishStep::Invalid(p) => {
                    ready = false;
                    notes.push(match &mem.published {
                        Some(r) => format!("{p} (the last valid table, {r}, stays live)"),
                        None => format!("{p} (nothing published)"),
                    });
                }
                PublishStep::AwaitingNumber => {
                    ready = false;
                    notes.push(if settings.twilio {
                        "no number yet: waiting for Twilio (see above)".into()
                    } else {
                        "no number yet: spec.purchase needs Twilio, which is off (--no-twilio)"
                            .into()
                    });
                }
            }
            report.numbers.push(NumberReport {
                name,
                number: mem.number.clone().or(number),
                ready,
                message: notes.join("; "),
            });
        }
        live
    }

    /// The let-go step of the PhoneNumbers that left the folder (kept while a file cannot be
    /// read).
    pub(super) async fn clean_up<R: RouteStore>(
        &mut self,
        settings: &Settings,
        seen: &BTreeSet<Key>,
        unreadable: bool,
        routes: &mut R,
        metrics: &Metrics,
        report: &mut Report,
    ) {
        if unreadable {
            if self.numbers.keys().any(|k| !seen.contains(k)) {
                report.problems.push(
                    "a manifest could not be read: PhoneNumbers missing from the folder are kept until it can".into(),
                );
            }
        } else {
            let gone: Vec<(String, String)> = self
                .numbers
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for k in gone {
                let mem = self.numbers.get(&k).cloned().unwrap_or_default();
                if let Some(n) = &mem.number
                    && let Err(e) = routes.unpublish(n).await
                {
                    report.retry = true;
                    report.problems.push(format!(
                        "PhoneNumber {}/{} was removed but its table could not be: {e}; retrying",
                        k.0, k.1
                    ));
                    continue;
                }
                match let_go(settings, &mem, mem.release_on_delete, metrics).await {
                    Some(Ok(_)) | None => {}
                    Some(Err(e)) if e.is_transient() => {
                        report.retry = true;
                        report.problems.push(format!(
                            "PhoneNumber {}/{} was removed; Twilio failed letting its number go: {e}; retrying",
                            k.0, k.1
                        ));
                        continue;
                    }
                    Some(Err(e)) => report.problems.push(format!(
                        "PhoneNumber {}/{} was removed; its number could not be released or detached: {e}; check it in the Twilio console",
                        k.0, k.1
                    )),
                }
                self.numbers.remove(&k);
                report.removed.push(format!("{}/{}", k.0, k.1));
            }
        }
    }
}

/// Releases (only with `release`, and only numbers Switchboard bought) or detaches the
/// remembered number in Twilio; `None` when Twilio is off or there are no credentials.
async fn let_go(
    settings: &Settings,
    mem: &Remembered,
    release: bool,
    metrics: &Metrics,
) -> Option<Result<LetGo, TwilioError>> {
    if !settings.twilio {
        return None;
    }
    let client = match client(settings, mem.twilio.as_ref(), mem.credentials.clone()?) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    Some(
        pipeline::let_go(
            &client,
            mem.number.as_deref(),
            &mem.known,
            release,
            &settings.public_url,
            metrics,
        )
        .await,
    )
}

/// The Twilio step of one PhoneNumber, as the folder's report says it: at most two runs,
/// recording the purchase intent (in memory, as status would) and then buying or adopting.
async fn twilio_note(
    client: &Client,
    pn: &PhoneNumber,
    k: &Key,
    mem: &mut Remembered,
    settings: &Settings,
    metrics: &Metrics,
    report: &mut Report,
) -> Result<String, String> {
    let marker = purchase_marker(&k.0, &k.1, "folder");
    let mut outcome = Err("not tried".to_string());
    // At most: record the intent, then buy (or adopt).
    for _ in 0..2 {
        let step = pipeline::twilio(
            client,
            pn,
            &mem.known,
            &marker,
            &settings.public_url,
            metrics,
        )
        .await;
        match step {
            Ok(Ensured::RecordIntent(intent)) => {
                mem.known.purchase_intent = Some(intent);
            }
            Ok(Ensured::Ready {
                number,
                purchased,
                bought,
                changed,
            }) => {
                mem.known.sid = Some(number.sid.clone());
                mem.known.purchased = purchased;
                mem.number = Some(number.phone_number.clone());
                outcome = Ok(if bought {
                    format!("bought {}", number.phone_number)
                } else if changed.is_empty() {
                    format!("{} points at {}", number.phone_number, settings.public_url)
                } else {
                    format!(
                        "{} now points at {} (set {})",
                        number.phone_number,
                        settings.public_url,
                        changed.join(", ")
                    )
                });
                break;
            }
            Err(TwilioFailed { error, .. }) => {
                report.retry |= error.is_transient();
                outcome = Err(format!("Twilio: {error}"));
                break;
            }
        }
    }
    outcome
}
