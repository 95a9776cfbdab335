//! `GET /topics/{topic}`: one topic's partitions (leader, log start, log end, records) and configs,
//! with its actions: change a config, purge (delete every record), delete the topic. Purge and
//! delete need the topic's name typed as confirmation; a config change asks in the browser.
//! An action the cluster does not implement (e.g. AlterConfigs, DeleteRecords) shows a 501 page
//! that says so.

use axum::extract::{Path, Query};
use axum::response::{Html, Redirect};

use crate::html::{self, escape, form_open, number, url_encode, Nav};
use crate::{Result, State};

use super::{confirmed, context, done, done_banner, required, DoneQuery, Fields};

/// Longest config value accepted.
pub const CONFIG_VALUE_BYTES_MAX: usize = 4_096;

/// The topic page.
pub async fn page(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Html<String>> {
    let topic = state.cluster.topic(&name).await?;
    let partitions: Vec<(String, i32)> = topic
        .partitions
        .iter()
        .map(|(p, _)| (name.clone(), *p))
        .collect();
    let offsets = state.cluster.offsets(partitions).await?;
    let configs = state.cluster.topic_configs(&name).await;
    let ctx = context(&state);
    let link = url_encode(&name);
    let mut body = format!(
        "<h1>Topic {}</h1>{}<p><a href=\"/topics/{link}/messages\" id=\"explore\">Explore messages</a></p>\
         <h2>Partitions</h2><table id=\"partitions\"><tr><th>Partition</th><th>Leader</th>\
         <th class=\"num\">Log start</th><th class=\"num\">Log end</th><th class=\"num\">Records</th></tr>",
        escape(&name),
        done_banner(query.done.as_deref())
    );
    for (partition, leader) in &topic.partitions {
        let (start, end) = offsets
            .get(&(name.clone(), *partition))
            .copied()
            .unwrap_or((0, 0));
        body += &format!(
            "<tr><td><a href=\"/topics/{link}/messages?partition={partition}\">{partition}</a></td><td>{leader}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            number(start),
            number(end),
            number(end - start)
        );
    }
    body += "</table><h2>Configs</h2>";
    match configs {
        Ok(configs) => {
            body += "<table id=\"configs\"><tr><th>Key</th><th>Value</th><th>Source</th></tr>";
            for config in configs {
                body += &format!(
                    "<tr><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
                    escape(&config.name),
                    escape(config.value.as_deref().unwrap_or("")),
                    if config.is_default { "default" } else { "set" }
                );
            }
            body += "</table>";
        }
        Err(error) => {
            body += &format!(
                "<p class=\"bad\">Configs unavailable: {}</p>",
                escape(&error.to_string())
            )
        }
    }
    if !ctx.read_only {
        body += &actions(&ctx, &name);
    }
    Ok(html::page(&ctx, Nav::Topics, &name, &body))
}

fn actions(ctx: &html::PageContext, name: &str) -> String {
    let link = url_encode(name);
    let escaped = escape(name);
    let mut out = String::from("<h2>Actions</h2>");
    out += &form_open(
        ctx,
        &format!("/topics/{link}/config"),
        "box",
        Some("Change this config?"),
    );
    out += "<label>Config key<input name=\"key\" id=\"config-key\" placeholder=\"retention.ms\"></label>\
            <label>Value<input name=\"value\" id=\"config-value\"></label><button id=\"alter-config\">Change config</button></form>";
    out += &form_open(ctx, &format!("/topics/{link}/purge"), "box", None);
    out += &format!(
        "<label>Type {escaped} to delete every record<input name=\"confirm\" id=\"purge-confirm\"></label>\
         <button class=\"danger\" id=\"purge\">Purge records</button></form>"
    );
    out += &form_open(ctx, &format!("/topics/{link}/delete"), "box", None);
    out += &format!(
        "<label>Type {escaped} to delete the topic<input name=\"confirm\" id=\"delete-confirm\"></label>\
         <button class=\"danger\" id=\"delete-topic\">Delete topic</button></form>"
    );
    out
}

/// Deletes the topic.
pub async fn delete(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    axum::Form(fields): Fields,
) -> Result<Redirect> {
    confirmed(&fields, &name)?;
    state.cluster.delete_topic(&name).await?;
    Ok(done("/topics", &format!("deleted topic {name}")))
}

/// Changes one config of the topic.
pub async fn alter_config(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    axum::Form(fields): Fields,
) -> Result<Redirect> {
    let key = required(&fields, "key")?;
    let value = super::field(&fields, "value").unwrap_or_default();
    if value.len() > CONFIG_VALUE_BYTES_MAX
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(crate::ConsoleError::BadRequest(format!(
            "config key must be letters, digits, '.', '_' or '-', and the value at most {CONFIG_VALUE_BYTES_MAX} bytes"
        )));
    }
    state.cluster.alter_topic_config(&name, key, value).await?;
    Ok(done(
        &format!("/topics/{}", url_encode(&name)),
        &format!("set {key}={value}"),
    ))
}

/// Deletes every record of the topic.
pub async fn purge(
    axum::extract::State(state): State,
    Path(name): Path<String>,
    axum::Form(fields): Fields,
) -> Result<Redirect> {
    confirmed(&fields, &name)?;
    let topic = state.cluster.topic(&name).await?;
    let partitions: Vec<i32> = topic.partitions.iter().map(|(p, _)| *p).collect();
    state.cluster.purge(&name, &partitions).await?;
    Ok(done(
        &format!("/topics/{}", url_encode(&name)),
        &format!("purged every record of {name}"),
    ))
}
