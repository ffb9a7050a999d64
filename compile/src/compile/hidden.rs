//! Warnings for layers that never ring anyone: every hour a layer covers is also covered by a
//! layer listed after it (which wins), so the layer exists in the manifest and nowhere else.
//! Not an error (the schedule still works), but almost always a mistake: a restriction window
//! written in the wrong zone, or layers listed in the wrong order.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use switchboard_routing::{self as routing, oncall::Source};

use crate::problem::{ObjectId, Problem};

/// How far ahead a layer is looked at: eight weeks hold every weekly pattern and rotations of
/// up to eight weekly shifts.
const HORIZON: SignedDuration = SignedDuration::from_hours(8 * 7 * 24);

/// One warning per layer of `s` that never decides who is on call in the eight weeks from
/// `from` (or from its first shift, when that is later), overrides left aside.
pub fn hidden_layers(s: &routing::Schedule, id: &ObjectId, from: Timestamp) -> Vec<Problem> {
    let mut layers_only = s.clone();
    layers_only.overrides.clear();
    let Ok(zones) = s.layer_zones() else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for (i, (layer, tz)) in s.layers.iter().zip(&zones).enumerate() {
        let first = tz
            .to_ambiguous_timestamp(layer.start)
            .compatible()
            .unwrap_or(from);
        let start = first.max(from);
        let Some(winners) = winners_over(&layers_only, i, start) else {
            continue;
        };
        let names: Vec<String> = winners.iter().map(|w| format!("{w:?}")).collect();
        let day = start.to_zoned(tz.clone()).date();
        warnings.push(Problem::field(
            id,
            format!("spec.layers[{i}]"),
            format!(
                "layer {:?} never has anyone on call: in the 8 weeks from {day}, every hour it covers is covered by layer {} listed after it, and later layers win: list it after them, narrow their restrictions, or remove it",
                layer.name,
                names.join(" and ")
            ),
        ));
    }
    warnings
}

/// The layers that win wherever layer `index` has someone, when it never wins itself in the
/// horizon from `start`; `None` when it does win somewhere (or has nobody at all to hide).
fn winners_over(s: &routing::Schedule, index: usize, start: Timestamp) -> Option<BTreeSet<String>> {
    let end = start.saturating_add(HORIZON).ok()?;
    let name = &s.layers[index].name;
    let mut instants = vec![start];
    instants.extend(s.boundaries(start, end).ok()?);
    let mut winners = BTreeSet::new();
    for t in instants {
        if s.layer_on_call_at(index, t).ok()?.is_none() {
            continue;
        }
        match s.on_call_at(t).ok()?.source {
            Source::Layer { layer, .. } if layer == *name => return None,
            Source::Layer { layer, .. } => {
                winners.insert(layer);
            }
            Source::Override { .. } | Source::Nobody => return None,
        }
    }
    (!winners.is_empty()).then_some(winners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_routing::{Days, Layer, ShiftLength, Window};

    fn layer(name: &str, start: &str, end: &str) -> Layer {
        Layer {
            name: name.into(),
            shift: ShiftLength::Days(7),
            start: "2026-01-05T09:00".parse().unwrap(),
            members: vec![name.into()],
            restrictions: vec![Window {
                days: Days::ALL,
                start: start.parse().unwrap(),
                end: end.parse().unwrap(),
            }],
            time_zone: None,
        }
    }

    fn schedule(layers: Vec<Layer>) -> routing::Schedule {
        routing::Schedule {
            name: "s".into(),
            time_zone: "Europe/Berlin".into(),
            people: vec![],
            layers,
            overrides: vec![],
        }
    }

    #[test]
    fn a_window_inside_a_later_layers_window_is_reported_with_the_layer_that_hides_it() {
        let id = ObjectId::new("Schedule", "ns", "s");
        let from: Timestamp = "2026-12-03T00:00:00Z".parse().unwrap();
        let s = schedule(vec![
            layer("evening", "18:00", "20:00"),
            layer("day", "08:00", "22:00"),
        ]);
        let w = hidden_layers(&s, &id, from);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].field, "spec.layers[0]");
        assert!(
            w[0].message.contains(r#"layer "evening""#),
            "{}",
            w[0].message
        );
        assert!(w[0].message.contains(r#"layer "day""#), "{}", w[0].message);

        // Listed the other way round, each decides some hours: nothing to say.
        let s = schedule(vec![
            layer("day", "08:00", "22:00"),
            layer("evening", "18:00", "20:00"),
        ]);
        assert!(hidden_layers(&s, &id, from).is_empty());
        // Partly outside the later window: it rings in that hour.
        let s = schedule(vec![
            layer("evening", "18:00", "23:00"),
            layer("day", "08:00", "22:00"),
        ]);
        assert!(hidden_layers(&s, &id, from).is_empty());
    }
}
