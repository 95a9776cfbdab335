//! Decoding received Kafka records into [`ReceivedEvent`]s: CloudEvents binary mode, CloudEvents
//! structured mode, and the Rails shape. Pure functions over record parts; no I/O.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{
    EnvelopeFormat, ReceivedEvent, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_ID,
    HEADER_PREFIX_CLOUDEVENTS, HEADER_SOURCE, HEADER_SPEC_VERSION, HEADER_TIME, HEADER_TYPE,
    SPEC_VERSION,
};
use crate::error::{Error, Result};

/// Decodes a record whose null-valued headers were already dropped, picking the envelope:
/// `ce_specversion` header → binary mode; else a JSON value with `specversion` → structured mode;
/// else `{"name", "data"}` → the Rails shape.
pub(super) fn decode(
    key: Option<Vec<u8>>,
    payload: Option<&[u8]>,
    headers: &[(&str, &[u8])],
) -> Result<ReceivedEvent> {
    if last_header(headers, HEADER_SPEC_VERSION).is_some() {
        return decode_binary(key, payload, headers);
    }
    let payload = payload
        .ok_or_else(|| Error::decode("empty value and no ce_specversion header: not an event"))?;
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::decode(format!("value is not JSON: {e}")))?;
    let other_headers = extension_headers(headers);
    if value.get("specversion").is_some() {
        decode_structured(key, value, other_headers)
    } else if value.get("name").is_some() && value.get("data").is_some() {
        decode_rails(key, value, other_headers)
    } else {
        Err(Error::decode(
            "no ce_* headers, and the value is neither a structured CloudEvent \
                 nor {\"name\": ..., \"data\": {...}}",
        ))
    }
}

/// The last header called `name` (later headers override earlier ones).
fn last_header<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .rev()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| *value)
}

/// A header that must be present and UTF-8.
fn required_text<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Result<&'a str> {
    let value = last_header(headers, name)
        .ok_or_else(|| Error::decode(format!("missing {name} header")))?;
    std::str::from_utf8(value).map_err(|_| Error::decode(format!("{name} header is not UTF-8")))
}

/// Headers that are not CloudEvents attributes nor the content type.
fn extension_headers(headers: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .filter(|(name, _)| {
            !name.starts_with(HEADER_PREFIX_CLOUDEVENTS) && *name != HEADER_CONTENT_TYPE
        })
        .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
        .collect()
}

fn parse_id(text: &str, field: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::decode(format!("{field} {text:?} is not a UUID")))
}

fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| Error::decode(format!("{field} {text:?} is not an RFC 3339 time")))
}

/// Whether a content type denotes JSON (`application/json`, `...+json`, with or without parameters).
fn is_json_content_type(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let bytes = media_type.as_bytes();
    media_type.eq_ignore_ascii_case(CONTENT_TYPE_JSON)
        || bytes
            .len()
            .checked_sub(b"+json".len())
            .is_some_and(|start| bytes[start..].eq_ignore_ascii_case(b"+json"))
}

fn decode_binary(
    key: Option<Vec<u8>>,
    payload: Option<&[u8]>,
    headers: &[(&str, &[u8])],
) -> Result<ReceivedEvent> {
    let spec_version = required_text(headers, HEADER_SPEC_VERSION)?;
    if spec_version != SPEC_VERSION {
        return Err(Error::decode(format!(
            "unsupported ce_specversion {spec_version:?}, expected {SPEC_VERSION:?}"
        )));
    }
    let id = parse_id(required_text(headers, HEADER_ID)?, HEADER_ID)?;
    let source = required_text(headers, HEADER_SOURCE)?.to_owned();
    let event_type = required_text(headers, HEADER_TYPE)?.to_owned();
    let time = match last_header(headers, HEADER_TIME) {
        Some(_) => Some(parse_time(
            required_text(headers, HEADER_TIME)?,
            HEADER_TIME,
        )?),
        None => None,
    };
    if last_header(headers, HEADER_CONTENT_TYPE).is_some() {
        let content_type = required_text(headers, HEADER_CONTENT_TYPE)?;
        if !is_json_content_type(content_type) {
            return Err(Error::decode(format!(
                "unsupported content-type {content_type:?}: herald events are JSON"
            )));
        }
    }
    let data = match payload {
        Some(payload) => serde_json::from_slice(payload)
            .map_err(|e| Error::decode(format!("value is not JSON: {e}")))?,
        None => Value::Null,
    };
    Ok(ReceivedEvent {
        id,
        event_type,
        source: Some(source),
        time,
        key,
        data,
        headers: extension_headers(headers),
        format: EnvelopeFormat::CloudEventsBinary,
    })
}

/// A required string attribute of a JSON object.
fn json_text<'a>(object: &'a Value, field: &str) -> Result<&'a str> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(Error::decode(format!("\"{field}\" is not a string"))),
        None => Err(Error::decode(format!("missing \"{field}\""))),
    }
}

fn decode_structured(
    key: Option<Vec<u8>>,
    mut value: Value,
    headers: Vec<(String, Vec<u8>)>,
) -> Result<ReceivedEvent> {
    let spec_version = json_text(&value, "specversion")?;
    if spec_version != SPEC_VERSION {
        return Err(Error::decode(format!(
            "unsupported specversion {spec_version:?}, expected {SPEC_VERSION:?}"
        )));
    }
    let id = parse_id(json_text(&value, "id")?, "id")?;
    let source = json_text(&value, "source")?.to_owned();
    let event_type = json_text(&value, "type")?.to_owned();
    let time = match value.get("time") {
        Some(_) => Some(parse_time(json_text(&value, "time")?, "time")?),
        None => None,
    };
    if let Some(Value::String(content_type)) = value.get("datacontenttype") {
        if !is_json_content_type(content_type) {
            return Err(Error::decode(format!(
                "unsupported datacontenttype {content_type:?}: herald events are JSON"
            )));
        }
    }
    if value.get("data_base64").is_some() {
        return Err(Error::decode(
            "data_base64 is not supported: herald events carry JSON data",
        ));
    }
    let data = value
        .get_mut("data")
        .map(Value::take)
        .unwrap_or(Value::Null);
    Ok(ReceivedEvent {
        id,
        event_type,
        source: Some(source),
        time,
        key,
        data,
        headers,
        format: EnvelopeFormat::CloudEventsStructured,
    })
}

fn decode_rails(
    key: Option<Vec<u8>>,
    mut value: Value,
    headers: Vec<(String, Vec<u8>)>,
) -> Result<ReceivedEvent> {
    let event_type = json_text(&value, "name")?.to_owned();
    let data = value
        .get_mut("data")
        .map(Value::take)
        .unwrap_or(Value::Null);
    if !data.is_object() {
        return Err(Error::decode("Rails event \"data\" is not an object"));
    }
    let id = match data.get("id") {
        Some(Value::String(text)) => parse_id(text, "data.id")?,
        Some(_) => return Err(Error::decode("Rails event data.id is not a string")),
        None => return Err(Error::decode("Rails event has no data.id")),
    };
    Ok(ReceivedEvent {
        id,
        event_type,
        source: None,
        time: None,
        key,
        data,
        headers,
        format: EnvelopeFormat::Rails,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // JSON content types with parameters and +json suffixes are recognised; others are not.
    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/cloudevents+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
        assert!(is_json_content_type("text/x+JSON ; v=1"));
        assert!(!is_json_content_type("json"));
        assert!(!is_json_content_type("é+jsoné"));
    }
}
