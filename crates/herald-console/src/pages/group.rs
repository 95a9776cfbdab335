//! `GET /groups/{group}`: a group's members and their assignment, committed offset, log end and lag
//! per partition (read now), a chart of its total lag over the last samples; and
//! `POST /groups/{group}/reset`: move its offsets on one topic to the earliest, the latest, a time or
//! an offset, refused (409) while the group has members.

use axum::extract::{Path, Query};
use axum::response::{Html, Redirect};
use herald::admin::OffsetReset;

use crate::cluster::MemberView;
use crate::html::{self, escape, form_open, number, url_encode, Nav};
use crate::lag::{group_lag, LagSample, PartitionLag};
use crate::{ConsoleError, Result, State};

use super::{context, done, done_banner, required, DoneQuery, Fields};

/// Seconds between two live refreshes of the partitions and the chart.
pub const REFRESH_SECONDS: u32 = 3;
/// Chart size in pixels.
const CHART_WIDTH_PX: i64 = 600;
const CHART_HEIGHT_PX: i64 = 120;

/// An inline SVG line of the samples (newest on the right), with the last value as a label.
pub fn chart(samples: &[LagSample]) -> String {
    if samples.len() < 2 {
        return "<p class=\"muted\" id=\"lag-chart\">Lag chart: waiting for samples…</p>"
            .to_string();
    }
    let max = samples
        .iter()
        .map(|s| s.total_lag)
        .max()
        .unwrap_or(0)
        .max(1);
    let (first, last) = (samples[0].at_ms, samples[samples.len() - 1].at_ms);
    let span = (last - first).max(1);
    let points: Vec<String> = samples
        .iter()
        .map(|s| {
            let x = (s.at_ms - first) * (CHART_WIDTH_PX - 10) / span + 5;
            let y = CHART_HEIGHT_PX - 5 - s.total_lag * (CHART_HEIGHT_PX - 20) / max;
            format!("{x},{y}")
        })
        .collect();
    format!(
        "<svg class=\"chart\" id=\"lag-chart\" width=\"{CHART_WIDTH_PX}\" height=\"{CHART_HEIGHT_PX}\" \
         viewBox=\"0 0 {CHART_WIDTH_PX} {CHART_HEIGHT_PX}\" role=\"img\" aria-label=\"total lag over the last {} s\">\
         <polyline fill=\"none\" stroke=\"#3b5bdb\" stroke-width=\"2\" points=\"{}\"/>\
         <text x=\"5\" y=\"12\" font-size=\"11\" fill=\"#667085\">max {} · now {} · last {} s</text></svg>",
        span / 1000,
        points.join(" "),
        number(max),
        number(samples[samples.len() - 1].total_lag),
        span / 1000
    )
}

/// The partitions' rows (with each one's owner) and the members table, up to its last row.
fn tables(rows: &[PartitionLag], members: &[MemberView]) -> String {
    let owner = |row: &PartitionLag| {
        members
            .iter()
            .find(|m| {
                m.assignment
                    .iter()
                    .any(|(t, ps)| t == &row.topic && ps.contains(&row.partition))
            })
            .map(|m| m.client_id.clone())
    };
    let mut body = String::new();
    for row in rows {
        body += &format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num lag\">{}</td><td>{}</td></tr>",
            escape(&row.topic),
            row.partition,
            row.committed.map(number).unwrap_or_else(|| "—".into()),
            number(row.log_end_offset),
            number(row.lag()),
            escape(&owner(row).unwrap_or_else(|| "—".into()))
        );
    }
    body += "</table><h2>Members</h2><table id=\"members\"><tr><th>Member</th><th>Client</th><th>Host</th><th>Assignment</th></tr>";
    for member in members {
        let assignment: Vec<String> = member
            .assignment
            .iter()
            .map(|(t, ps)| format!("{t} {ps:?}"))
            .collect();
        body += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&member.member_id),
            escape(&member.client_id),
            escape(&member.client_host),
            escape(&assignment.join(", "))
        );
    }
    body
}

/// The group page.
pub async fn page(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Html<String>> {
    let cluster = &state.cluster;
    let group = cluster
        .groups(Some(&name))
        .await?
        .into_iter()
        .find(|g| g.name == name);
    let rows = group_lag(cluster, &name).await?;
    let (group_state, members) = group
        .map(|g| (g.state, g.members))
        .unwrap_or_else(|| ("Dead".into(), Vec::new()));
    if members.is_empty() && rows.is_empty() && group_state == "Dead" {
        return Err(ConsoleError::NotFound(format!(
            "consumer group {name:?} has no members and no committed offsets"
        )));
    }
    let total: i64 = rows.iter().map(PartitionLag::lag).sum();
    let ctx = context(&state);
    let mut body = format!(
        "<h1>Group {}</h1>{}<div id=\"live\" data-refresh=\"{REFRESH_SECONDS}\"><div class=\"cards\">\
         <div class=\"card\"><div class=\"value\" id=\"group-state\">{}</div><div class=\"label\">state</div></div>\
         <div class=\"card\"><div class=\"value\">{}</div><div class=\"label\">members</div></div>\
         <div class=\"card\"><div class=\"value\" id=\"group-lag\">{}</div><div class=\"label\">total lag</div></div></div>\
         <h2>Lag over time</h2>{}<h2>Partitions</h2><table id=\"partitions\"><tr><th>Topic</th><th class=\"num\">Partition</th>\
         <th class=\"num\">Committed</th><th class=\"num\">Log end</th><th class=\"num\">Lag</th><th>Owner</th></tr>",
        escape(&name),
        done_banner(query.done.as_deref()),
        escape(&group_state),
        members.len(),
        number(total),
        chart(&state.lag.samples(&name)),
    );
    body += &tables(&rows, &members);
    body += "</table></div>";
    if !ctx.read_only {
        let mut topics: Vec<&str> = rows.iter().map(|r| r.topic.as_str()).collect();
        topics.dedup();
        body += &reset_form(&ctx, &name, &topics, members.is_empty());
    }
    Ok(html::page(&ctx, Nav::Groups, &name, &body))
}

fn reset_form(ctx: &html::PageContext, group: &str, topics: &[&str], empty: bool) -> String {
    let mut out = String::from("<h2>Reset offsets</h2>");
    if !empty {
        out += "<p class=\"muted\">Offsets can be reset only while the group has no members: stop its consumers first.</p>";
    }
    let options: String = topics
        .iter()
        .map(|t| format!("<option>{}</option>", escape(t)))
        .collect();
    out += &form_open(
        ctx,
        &format!("/groups/{}/reset", url_encode(group)),
        "box",
        Some("Move this group's committed offsets?"),
    );
    out += &format!(
        "<label>Topic<input name=\"topic\" list=\"group-topics\" id=\"reset-topic\" value=\"{}\"><datalist id=\"group-topics\">{options}</datalist></label>\
         <label>To<select name=\"to\" id=\"reset-to\"><option>earliest</option><option>latest</option><option>time</option><option>offset</option></select></label>\
         <label>Time or offset<input name=\"value\" id=\"reset-value\" placeholder=\"2026-12-01T20:00:00Z or 42\"></label>\
         <button id=\"reset\">Reset offsets</button></form>",
        escape(topics.first().copied().unwrap_or_default())
    );
    out
}

/// Parses the reset form's target.
pub(crate) fn target(to: &str, value: Option<&str>) -> Result<OffsetReset> {
    let bad = |m: String| ConsoleError::BadRequest(m);
    match to {
        "earliest" => Ok(OffsetReset::Earliest),
        "latest" => Ok(OffsetReset::Latest),
        "offset" => {
            let value = value.ok_or_else(|| bad("give the offset to reset to".into()))?;
            value
                .parse()
                .ok()
                .filter(|o: &i64| *o >= 0)
                .map(OffsetReset::Offset)
                .ok_or_else(|| bad(format!("offset {value:?} is not a number ≥ 0")))
        }
        "time" => {
            let value = value.ok_or_else(|| bad("give the time to reset to".into()))?;
            chrono::DateTime::parse_from_rfc3339(value)
                .map(|t| OffsetReset::Timestamp(t.timestamp_millis()))
                .map_err(|_| {
                    bad(format!(
                        "time {value:?} is not RFC 3339 (2026-12-01T20:00:00Z)"
                    ))
                })
        }
        other => Err(bad(format!(
            "reset to earliest, latest, time or offset, not {other:?}"
        ))),
    }
}

/// Resets the group's offsets on one topic.
pub async fn reset(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    axum::Form(fields): Fields,
) -> Result<Redirect> {
    let topic = required(&fields, "topic")?;
    crate::cluster::validate_topic_name(topic)?;
    let to = target(required(&fields, "to")?, super::field(&fields, "value"))?;
    state.cluster.topic(topic).await?;
    let moved = state
        .cluster
        .group_admin()
        .reset_offsets(&name, topic, to)
        .await?;
    let summary: Vec<String> = moved
        .iter()
        .map(|p| {
            format!(
                "{}→{}",
                p.partition,
                p.offset
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    Ok(done(
        &format!("/groups/{}", url_encode(&name)),
        &format!("reset {topic}: partition→offset {}", summary.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_targets_parse() {
        // Each target kind parses; a missing or bad value is a 400 naming the problem.
        assert_eq!(
            target("earliest", None).expect("earliest"),
            OffsetReset::Earliest
        );
        assert_eq!(
            target("offset", Some("42")).expect("offset"),
            OffsetReset::Offset(42)
        );
        assert_eq!(
            target("time", Some("2026-12-01T00:00:00Z")).expect("time"),
            OffsetReset::Timestamp(1_796_083_200_000)
        );
        assert!(target("offset", None).is_err());
        assert!(target("time", Some("noon"))
            .expect_err("bad")
            .to_string()
            .contains("RFC 3339"));
        assert!(target("sideways", None).is_err());
    }

    #[test]
    fn chart_scales_samples_into_the_box() {
        // Two samples make a line from the left edge to the right edge; one is not enough.
        let samples = [
            LagSample {
                at_ms: 0,
                total_lag: 10,
            },
            LagSample {
                at_ms: 60_000,
                total_lag: 0,
            },
        ];
        let svg = chart(&samples);
        assert!(svg.contains("points=\"5,15 595,115\""), "{svg}");
        assert!(chart(&samples[..1]).contains("waiting"));
    }
}
