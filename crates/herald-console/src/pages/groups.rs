//! `GET /groups`: every consumer group with its state, members and total lag (from the latest
//! background sample, so the page stays fast with hundreds of groups).

use axum::response::Html;

use crate::html::{self, escape, number, url_encode, Nav};
use crate::{Result, State};

/// The groups page.
pub async fn page(axum::extract::State(state): State) -> Result<Html<String>> {
    let groups = state.cluster.groups(None).await?;
    let lag = state.lag.latest();
    let mut body = String::from(
        "<h1>Consumer groups</h1><table id=\"groups\"><tr><th>Group</th><th>State</th>\
         <th class=\"num\">Members</th><th class=\"num\">Lag (last sample)</th></tr>",
    );
    for group in &groups {
        body += &format!(
            "<tr><td><a href=\"/groups/{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            url_encode(&group.name),
            escape(&group.name),
            escape(&group.state),
            group.members.len(),
            lag.get(&group.name).map(|s| number(s.total_lag)).unwrap_or_else(|| "…".into())
        );
    }
    body += "</table>";
    if groups.is_empty() {
        body += "<p class=\"muted\">No consumer groups yet.</p>";
    }
    Ok(html::page(
        &super::context(&state),
        Nav::Groups,
        "Consumer groups",
        &body,
    ))
}
