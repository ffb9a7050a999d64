//! `switchboard oncall --gaps`: when, in the next days, a schedule has nobody on call or a
//! chain's first step has nobody to ring, so a team finds the hole before a caller does.

use std::collections::BTreeSet;
use std::process::ExitCode;

use jiff::{Timestamp, tz::TimeZone};
use switchboard_compile::Compiled;
use switchboard_routing::{Gap, Schedule};

/// Prints the gaps in `[from, until)` of the `selected` schedules and of the first steps of
/// the chains that ring them; exits 1 when there are any.
pub fn print(
    compiled: &Compiled,
    selected: &[(String, &Schedule)],
    from: Timestamp,
    until: Timestamp,
) -> anyhow::Result<ExitCode> {
    let mut rows = vec![["WHAT", "NOBODY FROM (LOCAL)", "UNTIL (LOCAL)", "FOR"].map(String::from)];
    for (label, s) in selected {
        let tz = s.tz()?;
        for g in s.gaps(from, until)? {
            rows.push(row(&format!("Schedule {label}"), g, &tz));
        }
    }
    // Each chain once, in the zone of the first schedule its first step names.
    let names: BTreeSet<&str> = selected.iter().map(|(l, _)| l.as_str()).collect();
    let mut seen = BTreeSet::new();
    for t in &compiled.tables {
        for chain in t.chains.values() {
            let label = format!("{}/{}", t.owner.namespace, chain.name);
            let uses_selected = chain.steps.first().is_some_and(|step| {
                step.targets.iter().any(|target| {
                    matches!(target, switchboard_routing::table::Target::OnCall { schedule }
                        if names.contains(format!("{}/{schedule}", t.owner.namespace).as_str()))
                })
            });
            if !uses_selected || !seen.insert(label.clone()) {
                continue;
            }
            let tz = chain
                .steps
                .first()
                .and_then(|s| s.targets.first())
                .and_then(|target| match target {
                    switchboard_routing::table::Target::OnCall { schedule } => {
                        t.schedules.get(schedule)
                    }
                    _ => None,
                })
                .map(|s| s.tz())
                .transpose()?
                .unwrap_or(TimeZone::UTC);
            for g in t.first_step_gaps(chain, from, until)? {
                let step = chain.steps.first().map(|s| s.name.as_str()).unwrap_or("?");
                rows.push(row(
                    &format!("EscalationChain {label} step 1 ({step})"),
                    g,
                    &tz,
                ));
            }
        }
    }
    let days = until.duration_since(from).as_hours() / 24;
    if rows.len() == 1 {
        println!("no gaps: someone is on call in every schedule and chain in the next {days} days");
        return Ok(ExitCode::SUCCESS);
    }
    println!("nobody to ring in the next {days} days:");
    crate::oncall::print_table(&rows);
    Ok(ExitCode::FAILURE)
}

fn row(what: &str, g: Gap, tz: &TimeZone) -> [String; 4] {
    let local = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let minutes = g.end.duration_since(g.start).as_mins();
    let length = match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m:02}m"),
    };
    [what.to_string(), local(g.start), local(g.end), length]
}
