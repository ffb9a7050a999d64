//! Reading manifests from files: YAML documents in, typed Switchboard objects out.
//!
//! This is how `switchboard validate`, `oncall` and `simulate` see a folder of manifests, the
//! same folder a team applies with `kubectl apply -f` or syncs with Argo CD or Flux. Documents
//! of other kinds (Secrets, Namespaces, ...) are kept aside; documents of Switchboard kinds are
//! checked against the CRD schema (`schema.rs`) before they are decoded.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use kube::core::ObjectMeta;
use serde_json::Value;
use switchboard_crds::{
    CallerList, EscalationChain, HolidayCalendar, IncomingCallPolicy, Person, PhoneNumber,
    Schedule, ScheduleOverride,
};

use crate::problem::{ObjectId, Origin, Problem};
use crate::schema::SchemaChecker;

/// One decoded object and where it came from.
#[derive(Clone, Debug)]
pub struct Sourced<T> {
    /// The object.
    pub object: T,
    /// Its file and document, when it came from a file.
    pub origin: Option<Origin>,
}

/// All Switchboard objects of a set of manifests.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// PhoneNumbers.
    pub phone_numbers: Vec<Sourced<PhoneNumber>>,
    /// IncomingCallPolicies.
    pub policies: Vec<Sourced<IncomingCallPolicy>>,
    /// EscalationChains.
    pub chains: Vec<Sourced<EscalationChain>>,
    /// Schedules.
    pub schedules: Vec<Sourced<Schedule>>,
    /// ScheduleOverrides.
    pub schedule_overrides: Vec<Sourced<ScheduleOverride>>,
    /// People (the directory that schedules and chains name people from).
    pub people: Vec<Sourced<Person>>,
    /// HolidayCalendars (policies' `openingHours.calendarRefs`).
    pub calendars: Vec<Sourced<HolidayCalendar>>,
    /// CallerLists (caller rules' `listRefs`).
    pub caller_lists: Vec<Sourced<CallerList>>,
    /// Documents of other kinds (Secrets, ...), with their kind and name, kept for reference.
    pub others: Vec<(ObjectId, Option<Origin>)>,
    /// Switchboard objects among the manifests that failed their schema checks or could not be
    /// decoded: they exist, so what names them is told they have problems of their own, not
    /// that they are missing.
    pub rejected: Vec<ObjectId>,
}

/// The manifests of some files: the objects that could be read and the problems found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Objects that passed the schema checks and decoded.
    pub objects: Objects,
    /// Everything wrong so far: unreadable YAML, schema and CEL failures.
    pub problems: Vec<Problem>,
    /// The files read.
    pub files: Vec<PathBuf>,
    /// `v1` Secrets among the documents (the folder operator reads Twilio credentials from
    /// them); their data is never printed.
    pub secrets: Vec<SecretManifest>,
}

/// A Secret read from a manifest. `Debug` shows its name, never its data.
#[derive(Clone)]
pub struct SecretManifest {
    /// Its namespace (`default` when the manifest names none).
    pub namespace: String,
    /// The Secret.
    pub secret: Secret,
}

impl std::fmt::Debug for SecretManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretManifest")
            .field("namespace", &self.namespace)
            .field("name", &self.secret.metadata.name)
            .field("data", &"<redacted>")
            .finish()
    }
}

/// Error reading a path at all (missing, unreadable).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct ReadError {
    path: PathBuf,
    source: std::io::Error,
}

/// Lists the manifest files of `paths`: files as given, and the `.yaml`/`.yml` files of
/// folders (their subfolders too with `recursive`, as `kubectl apply -R`), sorted.
pub fn manifest_files(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, ReadError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ReadError {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            collect_dir(path, recursive, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let err = |source| ReadError {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                collect_dir(&path, recursive, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads and checks every manifest of `files`.
pub fn load_files(files: &[PathBuf], checker: &SchemaChecker) -> Result<Loaded, ReadError> {
    let mut loaded = Loaded {
        files: files.to_vec(),
        ..Loaded::default()
    };
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| ReadError {
            path: file.clone(),
            source,
        })?;
        load_text(&text, Some(file), checker, &mut loaded);
    }
    Ok(loaded)
}

/// Reads and checks the YAML documents of one text (a file's content).
pub fn load_text(text: &str, file: Option<&Path>, checker: &SchemaChecker, loaded: &mut Loaded) {
    use serde::Deserialize;
    for (document, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let origin = file.map(|f| Origin {
            file: f.to_path_buf(),
            document,
        });
        let value = match Value::deserialize(de) {
            Ok(Value::Null) => continue, // an empty document (`---` at the end)
            Ok(v) => v,
            Err(e) => {
                loaded
                    .problems
                    .push(Problem::file(origin, format!("not valid YAML: {e}")));
                // After a syntax error the rest of the stream cannot be trusted.
                break;
            }
        };
        load_value(value, origin, checker, loaded);
    }
}

fn load_value(value: Value, origin: Option<Origin>, checker: &SchemaChecker, loaded: &mut Loaded) {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let meta: ObjectMeta = value
        .get("metadata")
        .cloned()
        .and_then(|m| serde_json::from_value(m).ok())
        .unwrap_or_default();
    let id = ObjectId::new(
        if kind.is_empty() { "<no kind>" } else { kind },
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("<no name>"),
    );
    if api_version.is_empty() || kind.is_empty() {
        loaded.problems.push(Problem::file(
            origin,
            "a manifest needs apiVersion and kind",
        ));
        return;
    }
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    if group != switchboard_crds::GROUP {
        if api_version == "v1"
            && kind == "Secret"
            && let Ok(secret) = serde_json::from_value::<Secret>(value)
        {
            loaded.secrets.push(SecretManifest {
                namespace: id.namespace.clone(),
                secret,
            });
        }
        loaded.objects.others.push((id, origin));
        return;
    }
    if api_version != switchboard_crds::API_VERSION {
        loaded.problems.push(
            Problem::field(
                &id,
                "apiVersion",
                format!(
                    "unknown version {api_version:?}: this Switchboard serves {}",
                    switchboard_crds::API_VERSION
                ),
            )
            .at(origin.as_ref()),
        );
        return;
    }
    let problems = checker.check(kind, &id, &value);
    if !problems.is_empty() {
        loaded
            .problems
            .extend(problems.into_iter().map(|p| p.at(origin.as_ref())));
        loaded.objects.rejected.push(id);
        return;
    }
    let decode_error = |e: serde_json::Error| {
        Problem::field(&id, "", format!("cannot be decoded: {e}")).at(origin.as_ref())
    };
    let objects = &mut loaded.objects;
    let result = match kind {
        "PhoneNumber" => decode_into(&mut objects.phone_numbers, value, &origin),
        "IncomingCallPolicy" => decode_into(&mut objects.policies, value, &origin),
        "EscalationChain" => decode_into(&mut objects.chains, value, &origin),
        "Schedule" => decode_into(&mut objects.schedules, value, &origin),
        "ScheduleOverride" => decode_into(&mut objects.schedule_overrides, value, &origin),
        "Person" => decode_into(&mut objects.people, value, &origin),
        "HolidayCalendar" => decode_into(&mut objects.calendars, value, &origin),
        "CallerList" => decode_into(&mut objects.caller_lists, value, &origin),
        _ => unreachable!("SchemaChecker::check rejects unknown kinds"),
    };
    if let Err(e) = result {
        loaded.problems.push(decode_error(e));
        loaded.objects.rejected.push(id);
    }
}

fn decode_into<K: serde::de::DeserializeOwned>(
    list: &mut Vec<Sourced<K>>,
    value: Value,
    origin: &Option<Origin>,
) -> Result<(), serde_json::Error> {
    let object = serde_json::from_value(value)?;
    list.push(Sourced {
        object,
        origin: origin.clone(),
    });
    Ok(())
}
