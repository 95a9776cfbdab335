//! `GET /`: the cluster at a glance: brokers, topics, partitions, records, groups by state and total
//! lag (from the latest background sample). The figures refresh live every few seconds.

use std::collections::BTreeMap;

use axum::response::Html;

use crate::cluster::BrokerView;
use crate::html::{self, escape, number, url_encode, Nav};
use crate::{Result, State};

/// Seconds between two live refreshes of the figures.
pub const REFRESH_SECONDS: u32 = 5;
/// Largest topics listed on the overview (by records).
pub const TOP_TOPICS_SHOWN_MAX: usize = 10;

/// The brokers, groups-by-state and largest-topics tables (the last one left open).
fn tables(
    brokers: &[BrokerView],
    states: &BTreeMap<&str, usize>,
    mut per_topic: Vec<(&str, i64)>,
) -> String {
    let mut body = String::new();
    body += "</div><h2>Brokers</h2><table><tr><th>Id</th><th>Host</th><th>Port</th></tr>";
    for broker in brokers {
        body += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            broker.id,
            escape(&broker.host),
            broker.port
        );
    }
    body += "</table><h2>Groups by state</h2><table><tr><th>State</th><th class=\"num\">Groups</th></tr>";
    for (group_state, count) in states {
        body += &format!(
            "<tr><td>{}</td><td class=\"num\">{count}</td></tr>",
            escape(group_state)
        );
    }
    body += "</table><h2>Largest topics</h2><table><tr><th>Topic</th><th class=\"num\">Records</th></tr>";
    per_topic.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (name, count) in per_topic.iter().take(TOP_TOPICS_SHOWN_MAX) {
        body += &format!(
            "<tr><td><a href=\"/topics/{}\">{}</a></td><td class=\"num\">{}</td></tr>",
            url_encode(name),
            escape(name),
            number(*count)
        );
    }
    body
}

/// The overview page.
pub async fn page(axum::extract::State(state): State) -> Result<Html<String>> {
    let cluster = &state.cluster;
    // Groups and metadata are independent round trips: in parallel.
    let (view, groups) = tokio::join!(cluster.metadata(None), cluster.groups(None));
    let (view, groups) = (view?, groups?);
    let offsets = cluster.offsets(view.partitions(false)).await?;
    let lag = state.lag.latest();
    let user_topics: Vec<_> = view.topics.iter().filter(|t| !t.internal).collect();
    let partitions: usize = user_topics.iter().map(|t| t.partitions.len()).sum();
    let per_topic: Vec<(&str, i64)> = user_topics
        .iter()
        .map(|t| {
            let records = t
                .partitions
                .iter()
                .filter_map(|(p, _)| offsets.get(&(t.name.clone(), *p)))
                .map(|(start, end)| end - start)
                .sum();
            (t.name.as_str(), records)
        })
        .collect();
    let records: i64 = per_topic.iter().map(|(_, r)| r).sum();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for group in &groups {
        *states.entry(group.state.as_str()).or_default() += 1;
    }
    let total_lag: Option<i64> = (!lag.is_empty()).then(|| lag.values().map(|s| s.total_lag).sum());
    let card = |id: &str, value: String, label: &str| {
        format!("<div class=\"card\" id=\"{id}\"><div class=\"value\">{value}</div><div class=\"label\">{label}</div></div>")
    };
    let mut body = format!("<h1>Overview</h1><div id=\"live\" data-refresh=\"{REFRESH_SECONDS}\"><div class=\"cards\">");
    body += &card("brokers", number(view.brokers.len() as i64), "brokers");
    body += &card("topics", number(user_topics.len() as i64), "topics");
    body += &card("partitions", number(partitions as i64), "partitions");
    body += &card("records", number(records), "records retained");
    body += &card("groups", number(groups.len() as i64), "consumer groups");
    body += &card(
        "total-lag",
        total_lag.map(number).unwrap_or_else(|| "…".into()),
        "total lag (last sample)",
    );
    body += &tables(&view.brokers, &states, per_topic);
    body += &format!(
        "</table><p class=\"muted\">Brokers {} · bytes on disk are not reported through the Kafka \
         protocol's client APIs used here · refreshed every {REFRESH_SECONDS} s</p></div>",
        escape(cluster.brokers())
    );
    Ok(html::page(
        &super::context(&state),
        Nav::Overview,
        "Overview",
        &body,
    ))
}
