//! The test file format (see docs/testing.md) and turning a case into a call to play.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::bail;
use jiff::Timestamp;
use serde::Deserialize;
use switchboard_routing::RoutingTable;

use super::Ready;
use crate::engine::{self, Plan};
use crate::oncall::{At, parse_at};

/// A test file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct TestFile {
    /// Manifest files or folders, relative to the test file (default: its parent folder).
    #[serde(default)]
    pub(super) manifests: Vec<PathBuf>,
    /// Also read subfolders of the manifest folders.
    #[serde(default)]
    pub(super) recursive: bool,
    /// The zone local times (`at: 2026-11-23T10:00`) are read in, for every case that does not
    /// name its own.
    #[serde(default)]
    pub(super) time_zone: Option<String>,
    /// The cases (each read on its own, so an error names its case).
    pub(super) cases: Vec<serde_norway::Value>,
}

/// One call and what must happen.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Case {
    pub(super) name: String,
    /// RFC 3339, a zoned time, or a local time read in `timeZone` (the case's, the file's,
    /// or the one zone of the hotline's schedules).
    pub(super) at: String,
    #[serde(default)]
    pub(super) time_zone: Option<String>,
    /// The hotline called; default: the only one in the manifests.
    #[serde(default)]
    pub(super) to: Option<String>,
    #[serde(default = "default_caller")]
    pub(super) from: String,
    #[serde(default)]
    pub(super) press: Vec<String>,
    #[serde(default)]
    pub(super) say: Option<String>,
    /// Person name (or number) to behaviour (`accept@5`); anyone not named does not pick up.
    #[serde(default)]
    pub(super) responders: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) hang_up_after: Option<u32>,
    #[serde(default)]
    pub(super) leave_message: Option<u32>,
    #[serde(default = "default_talk")]
    pub(super) talk: u32,
    pub(super) expect: Expect,
}

fn default_caller() -> String {
    "+15105550123".into()
}

fn default_talk() -> u32 {
    60
}

/// What must happen; only what is written is checked.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Expect {
    /// Everyone rung, in order.
    #[serde(default)]
    pub(super) rung: Option<Vec<Rung>>,
    /// Who accepted (name or number), or `nobody`.
    #[serde(default)]
    pub(super) answered_by: Option<String>,
    /// Accepted at most this many seconds into the call.
    #[serde(default)]
    pub(super) answered_within: Option<u32>,
    /// `answered`, `voicemail`, `no-answer`, `abandoned`, `blocked`, `unknown-number`,
    /// `unavailable`.
    #[serde(default)]
    pub(super) outcome: Option<String>,
    #[serde(default)]
    pub(super) alerts: Option<Alerts>,
    /// Substrings of what the caller hears.
    #[serde(default)]
    pub(super) hears: Vec<String>,
    /// Substrings the caller must not hear.
    #[serde(default)]
    pub(super) does_not_hear: Vec<String>,
}

/// One ring: who, and optionally why and how it ended.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(super) enum Rung {
    Who(String),
    Full(RungFull),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RungFull {
    pub(super) who: String,
    /// A substring of the reason (`on call in schedule database`).
    #[serde(default)]
    pub(super) because: Option<String>,
    /// How the ring ended (`accepted`, `not-accepted`, `no-answer`, `busy`, ...).
    #[serde(default)]
    pub(super) result: Option<String>,
}

impl Rung {
    pub(super) fn parts(&self) -> (&str, Option<&str>, Option<&str>) {
        match self {
            Rung::Who(w) => (w, None, None),
            Rung::Full(f) => (&f.who, f.because.as_deref(), f.result.as_deref()),
        }
    }
}

/// The alert's stages (in order) and where they go.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Alerts {
    #[serde(default)]
    pub(super) stages: Option<Vec<String>>,
    #[serde(default)]
    pub(super) targets: Option<Vec<String>>,
}

pub(super) fn prepare(
    case: Case,
    file_zone: Option<&str>,
    tables: &[RoutingTable],
    file: &Path,
    key: &(Vec<PathBuf>, bool),
) -> anyhow::Result<Ready> {
    let numbers: Vec<&str> = tables.iter().map(|t| t.number.as_str()).collect();
    let to = match &case.to {
        Some(to) => to.clone(),
        None if tables.len() == 1 => tables[0].number.clone(),
        None => bail!(
            "to: missing, and the manifests have {} hotlines: name one of {}",
            tables.len(),
            numbers.join(", ")
        ),
    };
    let Some(table) = tables.iter().find(|t| t.number == to) else {
        bail!(
            "to: no PhoneNumber in the manifests has {to:?}; they have {}",
            numbers.join(", ")
        );
    };
    let at = instant(&case.at, case.time_zone.as_deref().or(file_zone), table)?;
    let plan = Plan {
        from: case.from.clone(),
        to: to.clone(),
        press: case.press.clone(),
        say: case.say.clone(),
        hang_up_after: case.hang_up_after,
        leave_message: case.leave_message,
        talk: case.talk,
    };
    let mut script = plan.script(Some(table));
    let people = engine::people(Some(table));
    let addresses = addresses(table);
    for (who, behaviour) in &case.responders {
        let (to, b) = engine::responder(&people, who, behaviour)
            .map_err(|e| anyhow::anyhow!("responders.{who}: {e}"))?;
        unknown_number(who, &addresses).map_err(|e| anyhow::anyhow!("responders.{who}: {e}"))?;
        for address in to {
            script.responders.insert(address, b);
        }
    }
    check_names(&case.expect, &people, &addresses)?;
    if let Some(o) = &case.expect.outcome
        && !switchboard_routing::Outcome::ALL
            .iter()
            .any(|x| x.as_str() == o)
    {
        let all: Vec<_> = switchboard_routing::Outcome::ALL
            .iter()
            .map(|x| x.as_str())
            .collect();
        bail!(
            "expect.outcome: {o:?} is not an outcome; write one of {}",
            all.join(", ")
        );
    }
    Ok(Ready {
        file: file.to_path_buf(),
        name: case.name,
        manifests: key.0.clone(),
        recursive: key.1,
        at,
        script,
        expect: case.expect,
    })
}

/// Every number and SIP URI the hotline can ring: its people's and its chains' own.
fn addresses(table: &RoutingTable) -> Vec<String> {
    use switchboard_routing::table::Target;
    let mut out: Vec<String> = engine::people(Some(table))
        .values()
        .flat_map(|(_, cs)| cs.iter().map(|c| c.address().to_string()))
        .collect();
    for chain in table.chains.values() {
        for step in &chain.steps {
            for t in &step.targets {
                if let Target::Number(a) | Target::Sip(a) = t {
                    out.push(a.clone());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A number or SIP URI written in a case must be one the hotline can ring.
fn unknown_number(who: &str, addresses: &[String]) -> Result<(), String> {
    if (who.starts_with('+') || who.starts_with("sip:")) && !addresses.iter().any(|a| a == who) {
        return Err(format!(
            "{who} is not a number this hotline rings (its people and chains have {}); name a person or one of those",
            addresses.join(", ")
        ));
    }
    Ok(())
}

/// A person named in `expect` must be in the hotline's schedules (or be a number it rings).
fn check_names(
    expect: &Expect,
    people: &HashMap<String, (String, Vec<switchboard_routing::Contact>)>,
    addresses: &[String],
) -> anyhow::Result<()> {
    let known = |who: &str| {
        who.starts_with('+')
            || who.starts_with("sip:")
            || who == "nobody"
            || people.contains_key(who)
            || people.values().any(|(display, _)| display == who)
    };
    let mut names: Vec<_> = people.keys().map(String::as_str).collect();
    names.sort();
    for (i, r) in expect.rung.iter().flatten().enumerate() {
        let (who, _, _) = r.parts();
        unknown_number(who, addresses).map_err(|e| anyhow::anyhow!("expect.rung[{i}]: {e}"))?;
        if !known(who) {
            bail!(
                "expect.rung[{i}]: nobody called {who:?} in this number's schedules (people: {})",
                names.join(", ")
            );
        }
    }
    if let Some(who) = &expect.answered_by {
        unknown_number(who, addresses).map_err(|e| anyhow::anyhow!("expect.answeredBy: {e}"))?;
    }
    if let Some(who) = &expect.answered_by
        && !known(who)
    {
        bail!(
            "expect.answeredBy: nobody called {who:?} in this number's schedules (people: {}, or nobody)",
            names.join(", ")
        );
    }
    Ok(())
}

/// The case's start: an instant as written, or a local time in `zone`, or else in the zone of
/// the hotline's schedules (when they share one).
fn instant(at: &str, zone: Option<&str>, table: &RoutingTable) -> anyhow::Result<Timestamp> {
    match parse_at(at).map_err(|_| {
        // jiff's own reason for the form the text looks like (`day 30 is invalid in February`).
        let why = if at.contains('[') {
            at.parse::<jiff::Zoned>().err()
        } else if at.ends_with('Z') || at.contains('+') {
            at.parse::<Timestamp>().err()
        } else {
            at.parse::<jiff::civil::DateTime>().err()
        };
        anyhow::anyhow!(
            "at: {at:?} is not a time{}: write 2026-11-23T15:00:00Z, 2026-11-23T10:00[America/New_York] or a local 2026-11-23T10:00",
            why.map(|e| format!(" ({e})")).unwrap_or_default()
        )
    })? {
        At::Instant(t) => Ok(t),
        At::Local(dt) => {
            if let Some(zone) = zone {
                let tz = jiff::tz::TimeZone::get(zone).map_err(|_| {
                    anyhow::anyhow!(
                        "timeZone: {zone:?} is not a time zone of the IANA database (Europe/Berlin, America/New_York, UTC)"
                    )
                })?;
                return tz
                    .to_ambiguous_timestamp(dt)
                    .compatible()
                    .map_err(|e| anyhow::anyhow!("at: {at:?} in {zone}: {e}"));
            }
            let mut zones: Vec<&str> = table
                .schedules
                .values()
                .map(|s| s.time_zone.as_str())
                .collect();
            zones.sort();
            zones.dedup();
            let [zone] = zones[..] else {
                bail!(
                    "at: {at:?} has no zone and the hotline's schedules are in {}: write it as {at}[{}], or set timeZone",
                    if zones.is_empty() { "none".into() } else { zones.join(", ") },
                    zones.first().copied().unwrap_or("UTC")
                );
            };
            let tz = jiff::tz::TimeZone::get(zone)?;
            tz.to_ambiguous_timestamp(dt)
                .compatible()
                .map_err(|e| anyhow::anyhow!("at: {at:?} in {zone}: {e}"))
        }
    }
}
