//! The rota as a picture (`oncall --svg`) and as a calendar feed (`oncall --ics`).
//!
//! ```text
//!   Schedule ─boundaries(from, until)─► segments: [start, end) × (each layer's person, the
//!                                        final on-call person, the active override)
//!      ├─► svg(): one row per layer and one for the final on-call, people as coloured bars,
//!      │          overrides and gaps marked, handoffs labelled in the schedule's zone
//!      └─► ics(): one VEVENT per shift of the final row (RFC 5545), times in the schedule's
//!                 zone with a VTIMEZONE built from the tz database's transitions
//! ```

use std::fmt::Write as _;

use jiff::{Timestamp, tz::TimeZone};
use switchboard_routing::oncall::Source;
use switchboard_routing::{Schedule, ScheduleError};

/// A stretch of time in which nobody's turn changes.
struct Segment {
    start: Timestamp,
    end: Timestamp,
    /// Each layer's person, in `layers` order.
    layers: Vec<Option<String>>,
    /// The person on call, all things considered.
    on_call: Option<String>,
    /// Whether an override decided it.
    overridden: bool,
}

fn segments(
    s: &Schedule,
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<Segment>, ScheduleError> {
    let mut edges = vec![from];
    edges.extend(s.boundaries(from, until)?);
    edges.push(until);
    let mut out: Vec<Segment> = Vec::new();
    for w in edges.windows(2) {
        let (start, end) = (w[0], w[1]);
        let who = s.on_call_at(start)?;
        let layers = (0..s.layers.len())
            .map(|i| s.layer_on_call_at(i, start))
            .collect::<Result<Vec<_>, _>>()?;
        let overridden = matches!(who.source, Source::Override { .. });
        match out.last_mut() {
            Some(last)
                if last.layers == layers
                    && last.on_call == who.person
                    && last.overridden == overridden =>
            {
                last.end = end;
            }
            _ => out.push(Segment {
                start,
                end,
                layers,
                on_call: who.person,
                overridden,
            }),
        }
    }
    Ok(out)
}

/// The runs of equal `key` over consecutive segments: (start, end, key).
fn runs<K: PartialEq>(
    segs: &[Segment],
    key: impl Fn(&Segment) -> K,
) -> Vec<(Timestamp, Timestamp, K)> {
    let mut out: Vec<(Timestamp, Timestamp, K)> = Vec::new();
    for seg in segs {
        let k = key(seg);
        match out.last_mut() {
            Some(last) if last.2 == k => last.1 = seg.end,
            _ => out.push((seg.start, seg.end, k)),
        }
    }
    out
}

/// A colour per person of `s`: by their place in its people, so no two share one (up to 12).
fn colour(s: &Schedule, name: &str) -> &'static str {
    const PALETTE: [&str; 12] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
        "#e15759", "#8cd17d", "#a0cbe8", "#d4a6c8",
    ];
    let i = s.people.iter().position(|p| p.name == name).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn display(s: &Schedule, name: &str) -> String {
    s.person(name)
        .map(|p| p.display_name.clone())
        .unwrap_or_else(|| name.to_string())
}

const LEFT: f64 = 170.0;
const WIDTH: f64 = 1260.0;
const ROW: f64 = 26.0;

/// The schedules' next days as one SVG document.
pub fn svg(
    schedules: &[(String, &Schedule)],
    from: Timestamp,
    until: Timestamp,
) -> Result<String, ScheduleError> {
    let span = until.duration_since(from).as_secs_f64().max(1.0);
    let x = |t: Timestamp| LEFT + WIDTH * t.duration_since(from).as_secs_f64() / span;
    let mut body = String::new();
    let mut y = 20.0;
    for (label, s) in schedules {
        let tz = s.tz()?;
        let segs = segments(s, from, until)?;
        let _ = writeln!(
            body,
            r#"<text x="10" y="{}" class="title">{} ({}), {} to {}</text>"#,
            y + 16.0,
            escape(label),
            escape(&s.time_zone),
            from.to_zoned(tz.clone()).strftime("%a %Y-%m-%d %H:%M"),
            until.to_zoned(tz.clone()).strftime("%a %Y-%m-%d %H:%M %Z")
        );
        y += 30.0;
        let rows = s.layers.len() + 1;
        day_grid(&mut body, &tz, from, until, y, rows as f64 * ROW, &x);
        for (i, layer) in s.layers.iter().enumerate() {
            let _ = writeln!(
                body,
                r#"<text x="10" y="{}" class="row">layer {}</text>"#,
                y + 17.0,
                escape(&layer.name)
            );
            for (start, end, p) in runs(&segs, |seg| seg.layers[i].clone()) {
                if let Some(p) = p {
                    bar(
                        &mut body,
                        x(start),
                        x(end),
                        y,
                        colour(s, &p),
                        &display(s, &p),
                        "",
                    );
                }
            }
            y += ROW;
        }
        let _ = writeln!(
            body,
            r#"<text x="10" y="{}" class="row final">on call</text>"#,
            y + 17.0
        );
        for (start, end, (p, overridden)) in
            runs(&segs, |seg| (seg.on_call.clone(), seg.overridden))
        {
            match p {
                Some(p) => {
                    let name = display(s, &p);
                    let (class, text) = if overridden {
                        ("override", format!("{name} (override)"))
                    } else {
                        ("", name)
                    };
                    bar(&mut body, x(start), x(end), y, colour(s, &p), &text, class);
                }
                None => bar(&mut body, x(start), x(end), y, "url(#gap)", "nobody", "gap"),
            }
        }
        y += ROW;
        handoffs(&mut body, &segs, &tz, y, &x);
        y += 62.0;
        legend(&mut body, s, y);
        y += 34.0;
    }
    let height = y + 10.0;
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" font-family="sans-serif">
<defs><pattern id="gap" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fde0dd"/><line x1="0" y1="0" x2="0" y2="8" stroke="#d62728" stroke-width="3"/></pattern></defs>
<style>
.title {{ font-size: 15px; font-weight: bold; }}
.row {{ font-size: 12px; fill: #333; }}
.final {{ font-weight: bold; }}
.day {{ font-size: 10px; fill: #666; }}
.grid {{ stroke: #ddd; }}
.bar {{ stroke: #fff; stroke-width: 1; }}
.bar.override {{ stroke: #000; stroke-width: 2; stroke-dasharray: 4 2; }}
.bar.gap {{ stroke: #d62728; }}
.name {{ font-size: 11px; fill: #fff; }}
.gap-name {{ fill: #a00; font-weight: bold; }}
.handoff {{ stroke: #333; stroke-width: 1; }}
.handoff-label {{ font-size: 9px; fill: #333; }}
</style>
<rect width="100%" height="100%" fill="#fff"/>
{body}</svg>
"##,
        w = LEFT + WIDTH + 20.0
    ))
}

/// The final row's handoffs, each a line and a label in the schedule's zone, below row `y`.
fn handoffs(
    body: &mut String,
    segs: &[Segment],
    tz: &TimeZone,
    y: f64,
    x: &impl Fn(Timestamp) -> f64,
) {
    let mut last = segs.first().and_then(|s| s.on_call.clone());
    for seg in segs.iter().skip(1) {
        if seg.on_call != last {
            let hx = x(seg.start);
            let _ = writeln!(
                body,
                r#"<line x1="{hx:.1}" y1="{:.1}" x2="{hx:.1}" y2="{:.1}" class="handoff"/><text x="{hx:.1}" y="{:.1}" class="handoff-label" transform="rotate(60 {hx:.1} {:.1})">{}</text>"#,
                y - ROW,
                y + 4.0,
                y + 12.0,
                y + 12.0,
                seg.start.to_zoned(tz.clone()).strftime("%a %H:%M")
            );
        }
        last = seg.on_call.clone();
    }
}

/// Everyone of `s` in their colour, at `y`.
fn legend(body: &mut String, s: &Schedule, y: f64) {
    let mut lx = 10.0;
    for p in &s.people {
        let name = escape(&p.display_name);
        let _ = writeln!(
            body,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" class="row">{name}</text>"#,
            y,
            colour(s, &p.name),
            lx + 16.0,
            y + 11.0
        );
        lx += 30.0 + 7.0 * p.display_name.chars().count() as f64;
    }
}

/// A bar from `x0` to `x1` with a label when it fits.
fn bar(body: &mut String, x0: f64, x1: f64, y: f64, fill: &str, text: &str, class: &str) {
    let w = (x1 - x0).max(0.5);
    let _ = write!(
        body,
        r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{fill}" class="bar {class}"><title>{}</title></rect>"#,
        y + 2.0,
        ROW - 4.0,
        escape(text)
    );
    if w > 7.0 * text.chars().count() as f64 {
        let name_class = if class == "gap" {
            "name gap-name"
        } else {
            "name"
        };
        let _ = write!(
            body,
            r#"<text x="{:.1}" y="{:.1}" class="{name_class}">{}</text>"#,
            x0 + 4.0,
            y + 17.0,
            escape(text)
        );
    }
    body.push('\n');
}

/// Vertical lines at each local midnight, labelled with the day.
fn day_grid(
    body: &mut String,
    tz: &TimeZone,
    from: Timestamp,
    until: Timestamp,
    y: f64,
    height: f64,
    x: &impl Fn(Timestamp) -> f64,
) {
    let mut day = from.to_zoned(tz.clone()).date();
    loop {
        let Ok(midnight) = day.to_zoned(tz.clone()) else {
            break;
        };
        let t = midnight.timestamp();
        if t >= until {
            break;
        }
        if t >= from {
            let gx = x(t);
            let _ = writeln!(
                body,
                r#"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="day">{}</text>"#,
                y - 12.0,
                y + height,
                gx + 2.0,
                y - 2.0,
                midnight.strftime("%a %d %b")
            );
        }
        let Ok(next) = day.tomorrow() else { break };
        day = next;
    }
}

/// Each person's shifts (the final on-call row) as an iCalendar document (RFC 5545).
pub fn ics(
    schedules: &[(String, &Schedule)],
    from: Timestamp,
    until: Timestamp,
    stamp: Timestamp,
) -> Result<String, ScheduleError> {
    let mut out = String::new();
    let mut line = |s: String| out.push_str(&fold(&s));
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line(format!(
        "PRODID:-//Switchboard//switchboard oncall {}//EN",
        env!("CARGO_PKG_VERSION")
    ));
    line("CALSCALE:GREGORIAN".into());
    line("X-WR-CALNAME:On call".into());
    let mut zones: Vec<&str> = schedules
        .iter()
        .map(|(_, s)| s.time_zone.as_str())
        .collect();
    zones.sort();
    zones.dedup();
    for zone in zones {
        let tz = TimeZone::get(zone).map_err(|_| ScheduleError::UnknownTimeZone {
            schedule: String::new(),
            time_zone: zone.to_string(),
        })?;
        vtimezone(&mut line, zone, &tz, from, until);
    }
    for (label, s) in schedules {
        let tz = s.tz()?;
        for seg in segments(s, from, until)? {
            let Some(p) = &seg.on_call else { continue };
            let local = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%Y%m%dT%H%M%S").to_string();
            line("BEGIN:VEVENT".into());
            line(format!(
                "UID:{}-{}-{}@switchboard",
                label.replace('/', "-"),
                p,
                seg.start.as_second()
            ));
            line(format!("DTSTAMP:{}", stamp.strftime("%Y%m%dT%H%M%SZ")));
            line(format!("DTSTART;TZID={}:{}", s.time_zone, local(seg.start)));
            line(format!("DTEND;TZID={}:{}", s.time_zone, local(seg.end)));
            let mut summary = format!("On call: {} ({label})", display(s, p));
            if seg.overridden {
                summary.push_str(", override");
            }
            line(format!("SUMMARY:{}", text(&summary)));
            line(format!("CATEGORIES:{}", text(p)));
            line("TRANSP:TRANSPARENT".into());
            line("END:VEVENT".into());
        }
    }
    line("END:VCALENDAR".into());
    Ok(out)
}

/// A VTIMEZONE for `zone` with one observance per offset change in the covered span (and the
/// offset in force at its start), as RFC 5545 section 3.6.5 allows without RRULEs.
fn vtimezone(
    line: &mut impl FnMut(String),
    zone: &str,
    tz: &TimeZone,
    from: Timestamp,
    until: Timestamp,
) {
    let offset = |t: Timestamp| tz.to_offset(t);
    let fmt = |o: jiff::tz::Offset| {
        let secs = o.seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        format!("{sign}{:02}{:02}", secs / 3600, (secs % 3600) / 60)
    };
    line("BEGIN:VTIMEZONE".into());
    line(format!("TZID:{zone}"));
    // The offset in force when the span begins, then each change inside it.
    let start = from;
    let mut observances = vec![(start, offset(start), offset(start))];
    let mut prev = offset(start);
    for t in tz.following(start).take(64) {
        let at = t.timestamp();
        if at >= until {
            break;
        }
        observances.push((at, prev, t.offset()));
        prev = t.offset();
    }
    for (at, from_offset, to_offset) in observances {
        let dst = tz.to_offset_info(at).dst().is_dst();
        let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
        line(format!("BEGIN:{kind}"));
        // DTSTART is local time in the offset before the change (RFC 5545 3.6.5).
        let local = at
            .to_zoned(TimeZone::fixed(from_offset))
            .strftime("%Y%m%dT%H%M%S")
            .to_string();
        line(format!("DTSTART:{local}"));
        line(format!("TZOFFSETFROM:{}", fmt(from_offset)));
        line(format!("TZOFFSETTO:{}", fmt(to_offset)));
        line(format!("END:{kind}"));
    }
    line("END:VTIMEZONE".into());
}

/// A TEXT value escaped (RFC 5545 3.3.11).
fn text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// A content line folded at 75 octets, ended with CRLF (RFC 5545 3.1).
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in line.chars() {
        if len + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(c);
        len += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}
