//! `GET /topics`: every topic with its partitions and records, filterable by name; and
//! `POST /topics`: create a topic (name, partitions, optional `key=value` configs).

use axum::extract::Query;
use axum::response::{Html, Redirect};

use crate::cluster::{validate_topic_name, TOPIC_PARTITIONS_MAX};
use crate::html::{self, escape, form_open, number, url_encode, Nav};
use crate::{ConsoleError, Result, State};

use super::{context, done_banner, required, Fields};

/// Most topics listed on one page (the filter narrows the rest down).
pub const TOPICS_SHOWN_MAX: usize = 2_000;
/// Most configs one create form may set.
pub const CREATE_CONFIGS_MAX: usize = 50;

/// `?q=` filter and the banner.
#[derive(Debug, serde::Deserialize, Default)]
pub struct TopicsQuery {
    q: Option<String>,
    done: Option<String>,
}

/// The topics page.
pub async fn page(
    axum::extract::State(state): State,
    Query(query): Query<TopicsQuery>,
) -> Result<Html<String>> {
    let view = state.cluster.metadata(None).await?;
    let offsets = state.cluster.offsets(view.partitions(true)).await?;
    let ctx = context(&state);
    let filter = query.q.as_deref().map(str::trim).unwrap_or_default();
    let mut body = format!(
        "<h1>Topics</h1>{}<form method=\"get\" class=\"box\"><label>Name contains\
         <input name=\"q\" value=\"{}\"></label><button>Filter</button></form>",
        done_banner(query.done.as_deref()),
        escape(filter)
    );
    if !ctx.read_only {
        body += &form_open(&ctx, "/topics", "box", Some("Create this topic?"));
        body += "<label>Name<input name=\"name\" id=\"new-topic-name\" required pattern=\"[a-zA-Z0-9._-]+\"></label>\
                 <label>Partitions<input name=\"partitions\" id=\"new-topic-partitions\" type=\"number\" min=\"1\" value=\"1\"></label>\
                 <label>Configs (key=value, comma separated)<input name=\"configs\" placeholder=\"retention.ms=86400000\" size=\"40\"></label>\
                 <button id=\"create-topic\">Create topic</button></form>";
    }
    body += "<table id=\"topics\"><tr><th>Topic</th><th class=\"num\">Partitions</th><th class=\"num\">Records</th><th></th></tr>";
    let matching: Vec<_> = view
        .topics
        .iter()
        .filter(|t| t.name.contains(filter))
        .collect();
    for topic in matching.iter().take(TOPICS_SHOWN_MAX) {
        let records: i64 = topic
            .partitions
            .iter()
            .filter_map(|(p, _)| offsets.get(&(topic.name.clone(), *p)))
            .map(|(start, end)| end - start)
            .sum();
        let link = url_encode(&topic.name);
        body += &format!(
            "<tr><td><a href=\"/topics/{link}\">{}</a>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td><a href=\"/topics/{link}/messages\">messages</a></td></tr>",
            escape(&topic.name),
            if topic.internal { " <span class=\"muted\">internal</span>" } else { "" },
            topic.partitions.len(),
            number(records)
        );
    }
    body += "</table>";
    if matching.len() > TOPICS_SHOWN_MAX {
        body += &format!(
            "<p class=\"muted\">{} more not shown: narrow the filter.</p>",
            matching.len() - TOPICS_SHOWN_MAX
        );
    }
    Ok(html::page(&ctx, Nav::Topics, "Topics", &body))
}

/// Parses `key=value, key=value`.
fn parse_configs(text: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut configs = Vec::new();
    for item in text
        .unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                configs.push((key.trim().to_string(), value.trim().to_string()))
            }
            _ => {
                return Err(ConsoleError::BadRequest(format!(
                    "config {item:?} is not key=value"
                )))
            }
        }
    }
    if configs.len() > CREATE_CONFIGS_MAX {
        return Err(ConsoleError::BadRequest(format!(
            "at most {CREATE_CONFIGS_MAX} configs"
        )));
    }
    Ok(configs)
}

/// Creates a topic.
pub async fn create(
    axum::extract::State(state): State,
    axum::Form(fields): Fields,
) -> Result<Redirect> {
    let name = required(&fields, "name")?;
    validate_topic_name(name)?;
    let partitions: i32 = super::field(&fields, "partitions")
        .unwrap_or("1")
        .parse()
        .ok()
        .filter(|p| (1..=TOPIC_PARTITIONS_MAX).contains(p))
        .ok_or_else(|| {
            ConsoleError::BadRequest(format!(
                "partitions must be a number from 1 to {TOPIC_PARTITIONS_MAX}"
            ))
        })?;
    let configs = parse_configs(super::field(&fields, "configs"))?;
    state
        .cluster
        .create_topic(name, partitions, &configs)
        .await?;
    Ok(super::done(
        &format!("/topics/{}", url_encode(name)),
        &format!("created topic {name} with {partitions} partitions"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse_and_reject_garbage() {
        // key=value pairs separated by commas; a bare word is a 400.
        assert_eq!(
            parse_configs(Some("retention.ms=1000, cleanup.policy=compact")).expect("parses"),
            vec![
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact".into())
            ]
        );
        assert!(parse_configs(None).expect("empty").is_empty());
        assert!(parse_configs(Some("oops")).is_err());
    }
}
