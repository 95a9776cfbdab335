//! `GET /topics/{topic}/messages`: the message explorer. One partition, from an offset, from a
//! timestamp or the last N records; optionally only records containing a text. Each record shows
//! its key, CloudEvents attributes as fields, other headers, and its value (JSON pretty-printed,
//! the Rails event shape named, binary as hex).
//!
//! The page streams: the HTML head goes out first, then each record as it is read (at most
//! [`PAGE_RECORDS_MAX`]), so a 1,000-record page never holds the partition, nor even the whole
//! page, in memory.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::cluster::read::{ReadItem, ReadRequest, RecordView, Start, PAGE_RECORDS_MAX};
use crate::decode::{cloud_event_fields, short_text, value_view, ValueView};
use crate::html::{self, escape, number, url_encode, Nav};
use crate::{ConsoleError, Result, State};

/// Records on a page when the form does not say.
pub const PAGE_RECORDS_DEFAULT: usize = 100;
/// Longest search text.
pub const SEARCH_BYTES_MAX: usize = 200;

/// The explorer's form.
#[derive(Debug, serde::Deserialize, Default)]
pub struct ExploreQuery {
    partition: Option<String>,
    from: Option<String>,
    offset: Option<String>,
    time: Option<String>,
    limit: Option<String>,
    q: Option<String>,
}

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// Where the form says to start.
fn start(query: &ExploreQuery, limit: usize) -> Result<Start> {
    let bad = |m: String| ConsoleError::BadRequest(m);
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(match text(&query.from).as_deref().unwrap_or("last") {
        "last" => Start::Last(limit as i64),
        "offset" => {
            let offset =
                text(&query.offset).ok_or_else(|| bad("give an offset to start from".into()))?;
            Start::Offset(
                offset
                    .parse()
                    .ok()
                    .filter(|o: &i64| *o >= 0)
                    .ok_or_else(|| bad(format!("offset {offset:?} is not a number ≥ 0")))?,
            )
        }
        "time" => {
            let time = text(&query.time).ok_or_else(|| bad("give a time to start from".into()))?;
            Start::Timestamp(parse_time(&time).ok_or_else(|| {
                bad(format!(
                    "time {time:?} is not RFC 3339 (2026-12-01T20:00:00Z)"
                ))
            })?)
        }
        other => {
            return Err(bad(format!(
                "from must be last, offset or time, not {other:?}"
            )))
        }
    })
}

/// Validates the form into a read (400 with what to fix).
pub(crate) fn request(
    topic: &str,
    partitions: &[i32],
    query: &ExploreQuery,
) -> Result<ReadRequest> {
    let bad = |m: String| ConsoleError::BadRequest(m);
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let partition = match text(&query.partition) {
        None => partitions.first().copied().unwrap_or(0),
        Some(p) => p
            .parse()
            .map_err(|_| bad(format!("partition {p:?} is not a number")))?,
    };
    if !partitions.contains(&partition) {
        return Err(bad(format!("topic {topic:?} has no partition {partition}")));
    }
    let limit = match text(&query.limit) {
        None => PAGE_RECORDS_DEFAULT,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=PAGE_RECORDS_MAX).contains(l))
            .ok_or_else(|| {
                bad(format!(
                    "limit must be a number from 1 to {PAGE_RECORDS_MAX}"
                ))
            })?,
    };
    let start = start(query, limit)?;
    let search = text(&query.q);
    if search.as_ref().is_some_and(|s| s.len() > SEARCH_BYTES_MAX) {
        return Err(bad(format!(
            "search text longer than {SEARCH_BYTES_MAX} bytes"
        )));
    }
    Ok(ReadRequest {
        topic: topic.to_string(),
        partition,
        start,
        limit,
        search,
    })
}

fn form(topic: &str, partitions: &[i32], query: &ExploreQuery, read: &ReadRequest) -> String {
    let value = |v: &Option<String>| escape(v.as_deref().unwrap_or_default());
    let options: String = partitions
        .iter()
        .map(|p| {
            format!(
                "<option{}>{p}</option>",
                if *p == read.partition {
                    " selected"
                } else {
                    ""
                }
            )
        })
        .collect();
    let from = query.from.as_deref().unwrap_or("last");
    let modes: String = [
        ("last", "last N records"),
        ("offset", "offset"),
        ("time", "time"),
    ]
    .iter()
    .map(|(v, l)| {
        format!(
            "<option value=\"{v}\"{}>{l}</option>",
            if from == *v { " selected" } else { "" }
        )
    })
    .collect();
    format!(
        "<h1>Messages in <a href=\"/topics/{}\">{}</a></h1><form method=\"get\" class=\"box\" id=\"explore-form\">\
         <label>Partition<select name=\"partition\">{options}</select></label>\
         <label>From<select name=\"from\" id=\"from\">{modes}</select></label>\
         <label>Offset<input name=\"offset\" id=\"offset\" value=\"{}\" size=\"10\"></label>\
         <label>Time (RFC 3339)<input name=\"time\" value=\"{}\" placeholder=\"2026-12-01T20:00:00Z\"></label>\
         <label>Limit (≤ {PAGE_RECORDS_MAX})<input name=\"limit\" value=\"{}\" size=\"5\"></label>\
         <label>Contains<input name=\"q\" id=\"search\" value=\"{}\"></label><button id=\"read\">Read</button></form>",
        url_encode(topic), escape(topic), value(&query.offset), value(&query.time), read.limit, value(&query.q)
    )
}

/// One record as a table row.
pub(crate) fn record_row(record: &RecordView) -> String {
    let time = record
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let key = record
        .key
        .as_deref()
        .map(short_text)
        .unwrap_or_else(|| "—".into());
    let fields: String = cloud_event_fields(&record.headers)
        .iter()
        .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)))
        .collect();
    let headers: String = record
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with(crate::decode::CLOUDEVENTS_PREFIX))
        .map(|(k, v)| {
            format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(k),
                escape(&v.as_deref().map(short_text).unwrap_or_default())
            )
        })
        .collect();
    let value = match value_view(record.value.as_deref()) {
        ValueView::Empty => "<span class=\"muted\">(no value)</span>".to_string(),
        ValueView::Json {
            pretty,
            rails_event,
        } => format!(
            "{}<pre class=\"json\">{}</pre>",
            rails_event
                .map(|n| format!(
                    "<div class=\"muted\">Rails event <b>{}</b></div>",
                    escape(&n)
                ))
                .unwrap_or_default(),
            escape(&pretty)
        ),
        ValueView::Text(text) => format!("<pre>{}</pre>", escape(&text)),
        ValueView::Binary(hex) => format!(
            "<div class=\"muted\">binary, hex</div><pre class=\"hex\">{}</pre>",
            escape(&hex)
        ),
    };
    format!(
        "<tr class=\"record\" data-offset=\"{}\"><td class=\"num\">{}</td><td>{time}</td><td>{}</td>\
         <td><dl class=\"fields\">{fields}</dl></td><td><dl class=\"fields\">{headers}</dl></td><td>{value}</td></tr>",
        record.offset, record.offset, escape(&key)
    )
}

/// The explorer page, streamed.
pub async fn page(
    axum::extract::State(state): State,
    Path(topic): Path<String>,
    Query(query): Query<ExploreQuery>,
) -> Result<Response> {
    let view = state.cluster.topic(&topic).await?;
    let partitions: Vec<i32> = view.partitions.iter().map(|(p, _)| *p).collect();
    let read = request(&topic, &partitions, &query)?;
    let (head, tail) = html::page_split(
        &super::context(&state),
        Nav::Topics,
        &format!("Messages in {topic}"),
    );
    let first = format!(
        "{head}{}<table id=\"messages\"><tr><th class=\"num\">Offset</th><th>Time</th><th>Key</th>\
         <th>CloudEvents</th><th>Headers</th><th>Value</th></tr>",
        form(&topic, &partitions, &query, &read)
    );
    let receiver = state.cluster.read(read).await?;
    let link = url_encode(&topic);
    // Ends with the read's End item, not when the reading thread lets go of the channel.
    let records = futures::stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        let item = receiver.recv().await?;
        let next = (!matches!(item, ReadItem::End(_))).then_some(receiver);
        Some((item, next))
    })
    .map(move |item| {
        Ok::<_, std::convert::Infallible>(match item {
            ReadItem::Record(record) => record_row(&record),
            ReadItem::End(summary) => format!(
                "</table><p id=\"summary\" class=\"muted\">records: {} shown of {} looked at · partition log start {}, log end {}{} · \
                 <a id=\"next-page\" href=\"/topics/{link}/messages?partition={}&from=offset&offset={}\">next page</a></p>{tail}",
                summary.sent,
                summary.scanned,
                number(summary.log_start_offset),
                number(summary.log_end_offset),
                summary.stopped.map(|s| format!(" · stopped: {}", escape(&s))).unwrap_or_default(),
                query_partition(&partitions, &query),
                summary.next_offset,
            ),
        })
    });
    let body = futures::stream::once(async move { Ok(first) }).chain(records);
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response())
}

fn query_partition(partitions: &[i32], query: &ExploreQuery) -> i32 {
    query
        .partition
        .as_deref()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| partitions.first().copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ExploreQuery {
        let encoded = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        serde_urlencoded::from_str(&encoded).expect("query")
    }

    #[test]
    fn the_form_becomes_a_bounded_read() {
        // Defaults read the last 100 records of the first partition; each mode is parsed.
        let read = request("t", &[0, 1], &query(&[])).expect("defaults");
        assert_eq!(
            (read.partition, read.start, read.limit),
            (0, Start::Last(100), 100)
        );
        let read = request(
            "t",
            &[0, 1],
            &query(&[
                ("partition", "1"),
                ("from", "offset"),
                ("offset", "7"),
                ("q", "ada"),
            ]),
        )
        .expect("offset");
        assert_eq!(
            (read.partition, read.start, read.search.as_deref()),
            (1, Start::Offset(7), Some("ada"))
        );
        let read = request(
            "t",
            &[0],
            &query(&[("from", "time"), ("time", "2026-12-01T00:00:00Z")]),
        )
        .expect("time");
        assert_eq!(read.start, Start::Timestamp(1_796_083_200_000));
    }

    #[test]
    fn bad_forms_are_400s_that_say_why() {
        // Unknown partitions, oversized limits and garbage offsets are refused with a message.
        let message = |pairs: &[(&str, &str)]| {
            request("t", &[0], &query(pairs))
                .expect_err("refused")
                .to_string()
        };
        assert!(message(&[("partition", "3")]).contains("no partition 3"));
        assert!(message(&[("limit", "5000")]).contains("limit"));
        assert!(message(&[("from", "offset"), ("offset", "x")]).contains("not a number"));
        assert!(message(&[("from", "time"), ("time", "yesterday")]).contains("RFC 3339"));
    }
}
