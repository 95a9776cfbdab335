//! Dead letters: `GET /dead-letters` lists every `*.dlq` topic; `GET /dead-letters/{topic}` shows its
//! latest records with the `herald-*` headers that herald's dead-letter middleware writes (reason,
//! kind, attempts, original topic/partition/offset, consumer, group, time) as columns; and
//! `POST /dead-letters/{topic}/republish` sends one or a selection back to their original topic as
//! new events (a fresh `ce_id`, the `herald-*` headers dropped, a `herald-republished-from` header
//! added), showing the result of each.

use axum::extract::{Path, Query};
use axum::response::Html;
use herald::middleware::dead_letter::{
    HEADER_ATTEMPTS, HEADER_CONSUMER, HEADER_CONSUMER_GROUP, HEADER_ERROR_KIND,
    HEADER_ERROR_REASON, HEADER_FAILED_AT, HEADER_ORIGINAL_OFFSET, HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
};

use crate::cluster::publish::OutgoingRecord;
use crate::cluster::read::{ReadItem, ReadRequest, RecordView, Start};
use crate::decode::short_text;
use crate::html::{self, escape, form_open, number, url_encode, Nav};
use crate::{ConsoleError, Result, State};

use super::{context, DoneQuery, Fields};

/// The suffix that marks a dead-letter topic.
pub const DEAD_LETTER_SUFFIX: &str = ".dlq";
/// The header a republished record carries: `dlq-topic/partition@offset` it came from.
pub const HEADER_REPUBLISHED_FROM: &str = "herald-republished-from";
/// Latest records shown per partition of a dead-letter topic.
pub const DEAD_LETTERS_SHOWN_MAX: usize = 200;
/// Most records one republish may select.
pub const REPUBLISH_RECORDS_MAX: usize = 200;
/// Longest value preview in the table.
const PREVIEW_CHARS_MAX: usize = 120;

/// `GET /dead-letters`.
pub async fn page(axum::extract::State(state): State) -> Result<Html<String>> {
    let view = state.cluster.metadata(None).await?;
    let topics: Vec<_> = view
        .topics
        .iter()
        .filter(|t| t.name.ends_with(DEAD_LETTER_SUFFIX))
        .collect();
    let partitions = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|(p, _)| (t.name.clone(), *p)))
        .collect();
    let offsets = state.cluster.offsets(partitions).await?;
    let mut body = String::from(
        "<h1>Dead letters</h1><table id=\"dead-letter-topics\"><tr><th>Topic</th><th class=\"num\">Records</th></tr>",
    );
    for topic in &topics {
        let records: i64 = topic
            .partitions
            .iter()
            .filter_map(|(p, _)| offsets.get(&(topic.name.clone(), *p)))
            .map(|(s, e)| e - s)
            .sum();
        body += &format!(
            "<tr><td><a href=\"/dead-letters/{}\">{}</a></td><td class=\"num\">{}</td></tr>",
            url_encode(&topic.name),
            escape(&topic.name),
            number(records)
        );
    }
    body += "</table>";
    if topics.is_empty() {
        body +=
            "<p class=\"muted\">No <code>*.dlq</code> topics: nothing has been dead-lettered.</p>";
    }
    Ok(html::page(
        &context(&state),
        Nav::DeadLetters,
        "Dead letters",
        &body,
    ))
}

const COLUMNS: [(&str, &str); 6] = [
    (HEADER_ERROR_REASON, "Reason"),
    (HEADER_ERROR_KIND, "Kind"),
    (HEADER_ATTEMPTS, "Attempts"),
    (HEADER_CONSUMER, "Consumer"),
    (HEADER_CONSUMER_GROUP, "Group"),
    (HEADER_FAILED_AT, "Failed at"),
];

fn row(ctx: &html::PageContext, record: &RecordView) -> String {
    let header = |name: &str| escape(&record.header(name).unwrap_or_default());
    let position = format!("{}:{}", record.partition, record.offset);
    let select = if ctx.read_only {
        String::new()
    } else {
        format!("<td><input type=\"checkbox\" name=\"record\" value=\"{position}\"></td>")
    };
    let columns: String = COLUMNS
        .iter()
        .map(|(name, _)| format!("<td>{}</td>", header(name)))
        .collect();
    let value = record.value.as_deref().map(short_text).unwrap_or_default();
    let preview: String = value.chars().take(PREVIEW_CHARS_MAX).collect();
    let action = if ctx.read_only {
        String::new()
    } else {
        format!("<td><button name=\"only\" value=\"{position}\" class=\"republish-one\">Republish</button></td>")
    };
    format!(
        "<tr class=\"dead-letter\" data-position=\"{position}\">{select}<td>{}@{}</td>{columns}<td>{}/{}@{}</td><td>{}</td><td><code>{}</code></td>{action}</tr>",
        record.partition,
        record.offset,
        header(HEADER_ORIGINAL_TOPIC),
        header(HEADER_ORIGINAL_PARTITION),
        header(HEADER_ORIGINAL_OFFSET),
        escape(&record.key.as_deref().map(short_text).unwrap_or_default()),
        escape(&preview),
    )
}

/// `GET /dead-letters/{topic}`.
pub async fn topic_page(
    axum::extract::State(state): State,
    Path(topic): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Html<String>> {
    let view = state.cluster.topic(&topic).await?;
    let mut records = Vec::new();
    for (partition, _) in &view.partitions {
        let request = ReadRequest {
            topic: topic.clone(),
            partition: *partition,
            start: Start::Last(DEAD_LETTERS_SHOWN_MAX as i64),
            limit: DEAD_LETTERS_SHOWN_MAX,
            search: None,
        };
        let mut receiver = state.cluster.read(request).await?;
        while let Some(item) = receiver.recv().await {
            if let ReadItem::Record(record) = item {
                records.push(*record);
            }
        }
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.timestamp));
    let ctx = context(&state);
    let mut body = format!(
        "<h1>Dead letters in {}</h1>{}",
        escape(&topic),
        super::done_banner(query.done.as_deref())
    );
    if !ctx.read_only {
        body += &form_open(
            &ctx,
            &format!("/dead-letters/{}/republish", url_encode(&topic)),
            "",
            Some("Republish to the original topic?"),
        );
    }
    body += "<table id=\"dead-letters\"><tr>";
    if !ctx.read_only {
        body += "<th><input type=\"checkbox\" data-select-all title=\"select all\"></th>";
    }
    body += "<th>Position</th>";
    for (_, title) in COLUMNS {
        body += &format!("<th>{title}</th>");
    }
    body += "<th>Original</th><th>Key</th><th>Value</th>";
    if !ctx.read_only {
        body += "<th></th>";
    }
    body += "</tr>";
    for record in &records {
        body += &row(&ctx, record);
    }
    body += "</table>";
    if !ctx.read_only {
        body += "<p><button id=\"republish-selected\">Republish selected</button></p></form>";
    }
    Ok(html::page(&ctx, Nav::DeadLetters, &topic, &body))
}

/// The record to produce for a dead letter: to its original topic, same key and value, its own
/// headers without the `herald-*` ones, a fresh `ce_id` (a new event, which an inbox that saw the
/// original will not drop as a duplicate) and `herald-republished-from`.
pub fn republished(
    dead_letter_topic: &str,
    record: &RecordView,
) -> std::result::Result<OutgoingRecord, String> {
    let topic = record
        .header(HEADER_ORIGINAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("no {HEADER_ORIGINAL_TOPIC} header"))?;
    crate::cluster::validate_topic_name(&topic).map_err(|e| e.to_string())?;
    let mut headers: Vec<(String, Option<Vec<u8>>)> = record
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("herald-"))
        .map(|(k, v)| {
            if k == "ce_id" {
                (
                    k.clone(),
                    Some(uuid::Uuid::now_v7().to_string().into_bytes()),
                )
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    headers.push((
        HEADER_REPUBLISHED_FROM.to_string(),
        Some(format!("{dead_letter_topic}/{}@{}", record.partition, record.offset).into_bytes()),
    ));
    Ok(OutgoingRecord {
        topic,
        key: record.key.clone(),
        headers,
        value: record.value.clone(),
    })
}

fn selection(fields: &[(String, String)]) -> Result<Vec<(i32, i64)>> {
    let chosen: Vec<&str> = match super::field(fields, "only") {
        Some(one) => vec![one],
        None => fields
            .iter()
            .filter(|(k, _)| k == "record")
            .map(|(_, v)| v.as_str())
            .collect(),
    };
    if chosen.is_empty() {
        return Err(ConsoleError::BadRequest(
            "select at least one dead letter to republish".into(),
        ));
    }
    if chosen.len() > REPUBLISH_RECORDS_MAX {
        return Err(ConsoleError::BadRequest(format!(
            "select at most {REPUBLISH_RECORDS_MAX} dead letters at once"
        )));
    }
    chosen
        .iter()
        .map(|text| {
            text.split_once(':')
                .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)))
                .ok_or_else(|| {
                    ConsoleError::BadRequest(format!("{text:?} is not partition:offset"))
                })
        })
        .collect()
}

/// `POST /dead-letters/{topic}/republish`.
pub async fn republish(
    axum::extract::State(state): State,
    Path(topic): Path<String>,
    axum::Form(fields): Fields,
) -> Result<Html<String>> {
    if !topic.ends_with(DEAD_LETTER_SUFFIX) {
        return Err(ConsoleError::BadRequest(format!(
            "{topic:?} is not a dead-letter topic (*{DEAD_LETTER_SUFFIX})"
        )));
    }
    let positions = selection(&fields)?;
    let records = state.cluster.records_at(&topic, positions.clone()).await?;
    let mut body = format!(
        "<h1>Republished from {}</h1><table id=\"republish-result\"><tr><th>Dead letter</th><th>Result</th></tr>",
        escape(&topic)
    );
    let (mut ok, mut failed) = (0, 0);
    for (partition, offset) in &positions {
        let outcome = match records
            .iter()
            .find(|r| (r.partition, r.offset) == (*partition, *offset))
        {
            None => Err("no record at this position".to_string()),
            Some(record) => match republished(&topic, record) {
                Err(e) => Err(e),
                Ok(outgoing) => state
                    .cluster
                    .produce(&outgoing)
                    .await
                    .map(|(p, o)| format!("republished to {}/{p}@{o}", outgoing.topic))
                    .map_err(|e| e.to_string()),
            },
        };
        let (class, text) = match outcome {
            Ok(text) => {
                ok += 1;
                ("ok", text)
            }
            Err(text) => {
                failed += 1;
                ("bad", text)
            }
        };
        body += &format!(
            "<tr><td>{partition}@{offset}</td><td class=\"{class}\">{}</td></tr>",
            escape(&text)
        );
    }
    body += &format!(
        "</table><p id=\"republish-summary\">{ok} republished, {failed} failed.</p><p><a href=\"/dead-letters/{}\">Back to {}</a></p>",
        url_encode(&topic),
        escape(&topic)
    );
    Ok(html::page(
        &context(&state),
        Nav::DeadLetters,
        "Republished",
        &body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter() -> RecordView {
        let header = |k: &str, v: &str| (k.to_string(), Some(v.as_bytes().to_vec()));
        RecordView {
            partition: 0,
            offset: 7,
            timestamp: None,
            key: Some(b"user-1".to_vec()),
            headers: vec![
                header("ce_id", "old-id"),
                header("ce_type", "user_created"),
                header(HEADER_ERROR_REASON, "boom"),
                header(HEADER_ORIGINAL_TOPIC, "users"),
            ],
            value: Some(b"{}".to_vec()),
        }
    }

    #[test]
    fn republished_record_is_a_new_event_on_the_original_topic() {
        // Original topic, same key and value, no herald-* headers but the provenance one, new ce_id.
        let out = republished("users.dlq", &dead_letter()).expect("republishable");
        assert_eq!(out.topic, "users");
        assert_eq!(out.key.as_deref(), Some(&b"user-1"[..]));
        let names: Vec<&str> = out.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["ce_id", "ce_type", HEADER_REPUBLISHED_FROM]);
        assert_ne!(out.headers[0].1.as_deref(), Some(&b"old-id"[..]));
        assert_eq!(out.headers[2].1.as_deref(), Some(&b"users.dlq/0@7"[..]));
    }

    #[test]
    fn a_dead_letter_without_its_origin_is_refused() {
        // No herald-original-topic header: nothing to send it back to.
        let mut record = dead_letter();
        record.headers.retain(|(k, _)| k != HEADER_ORIGINAL_TOPIC);
        assert!(republished("users.dlq", &record)
            .expect_err("refused")
            .contains(HEADER_ORIGINAL_TOPIC));
    }

    #[test]
    fn selections_are_bounded_and_parsed() {
        // "only" wins over checkboxes; garbage and empty selections are 400s.
        let fields = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            selection(&fields(&[("record", "0:1"), ("record", "1:5")])).expect("two"),
            vec![(0, 1), (1, 5)]
        );
        assert_eq!(
            selection(&fields(&[("record", "0:1"), ("only", "2:3")])).expect("one"),
            vec![(2, 3)]
        );
        assert!(selection(&fields(&[])).is_err());
        assert!(selection(&fields(&[("record", "zero")])).is_err());
    }
}
