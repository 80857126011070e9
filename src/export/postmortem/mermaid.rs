//! Mermaid pictures for the draft: a gantt chart of the steps and milestones, and each numeric
//! watch's value over time (`xychart-beta`). GitHub and GitLab draw them; the test suite renders
//! them with mermaid-cli so a syntax error fails a test.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::model::Facts;
use super::model::WatchFact;
use super::text::clock;

/// At most this many steps in the gantt chart (a runbook rarely has more).
const GANTT_STEPS: usize = 40;
/// At most this many points in a watch's chart (evenly picked, first and last kept).
const CHART_POINTS: usize = 60;

/// A task name Mermaid accepts: no `:`, `#`, `;` or quotes, one line.
fn name(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _-.()/+".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    clean.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn date(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// The gantt chart of the incident: one section per run, a bar per step (red when it went wrong),
/// milestones as diamonds. `None` when there is nothing to draw.
pub(super) fn gantt(f: &Facts) -> Option<String> {
    let (start, end) = f.started.zip(f.ended)?;
    if f.steps.is_empty() && f.milestones.is_empty() {
        return None;
    }
    let axis = if end.as_second() - start.as_second() < 600 {
        "%H:%M:%S"
    } else {
        "%H:%M"
    };
    let mut out = format!(
        "```mermaid\ngantt\n    title Steps and milestones (UTC)\n    dateFormat YYYY-MM-DD HH:mm:ss\n    axisFormat {axis}\n"
    );
    for run in &f.runs {
        let steps: Vec<_> = f
            .steps
            .iter()
            .filter(|s| s.transcript == run.transcript)
            .collect();
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "    section T{} {}",
            run.transcript,
            name(&run.runbook)
        );
        for s in steps.iter().take(GANTT_STEPS) {
            let (Some(from), Some(to)) = (s.started, s.ended) else {
                continue;
            };
            // A bar needs a length: at least a second.
            let to = to.max(from + jiff::SignedDuration::from_secs(1));
            let tag = if s.went_wrong() {
                "crit, "
            } else if super::model::is_success(s.status) {
                "done, "
            } else {
                ""
            };
            let attempts = if s.attempts > 1 {
                format!(" ({} attempts)", s.attempts)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "    {}{attempts} :{tag}{}, {}",
                name(&s.step),
                date(from),
                date(to)
            );
        }
        if steps.len() > GANTT_STEPS {
            let _ = writeln!(
                out,
                "    {} more steps :{}, 1s",
                steps.len() - GANTT_STEPS,
                date(end)
            );
        }
    }
    if !f.milestones.is_empty() {
        out.push_str("    section Milestones\n");
        for m in &f.milestones {
            let _ = writeln!(out, "    {} :milestone, {}, 0s", m.name, date(m.at));
        }
    }
    out.push_str("```\n");
    Some(out)
}

/// The chart of a watch's value over time, when every value is a number.
pub(super) fn watch_chart(w: &WatchFact) -> Option<String> {
    if !w.numeric() {
        return None;
    }
    let picked = pick(w.samples.len(), CHART_POINTS);
    let labels: Vec<String> = picked
        .iter()
        .map(|&i| format!("\"{}\"", clock(w.samples[i].at)))
        .collect();
    let values: Vec<f64> = picked.iter().filter_map(|&i| w.samples[i].number).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    Some(format!(
        "```mermaid\nxychart-beta\n    title \"{} over time (UTC)\"\n    x-axis [{}]\n    y-axis \"value\" {lo} --> {hi}\n    line [{}]\n```\n",
        name(&w.step),
        labels.join(", "),
        shown.join(", ")
    ))
}

/// At most `max` indices of `0..len`, evenly spread, the first and the last included.
fn pick(len: usize, max: usize) -> Vec<usize> {
    if len <= max {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..max).map(|k| k * (len - 1) / (max - 1)).collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_what_mermaid_would_parse() {
        assert_eq!(name("flush: now #1; \"x\""), "flush now 1 x");
        assert_eq!(name("check-disk (2 attempts)"), "check-disk (2 attempts)");
    }

    #[test]
    fn pick_keeps_first_and_last_and_at_most_max() {
        assert_eq!(pick(3, 60), [0, 1, 2]);
        let p = pick(1000, 60);
        assert_eq!(p.len(), 60);
        assert_eq!((p[0], p[59]), (0, 999));
    }
}
