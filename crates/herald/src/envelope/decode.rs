//! Decoding received Kafka records into [`ReceivedEvent`]s: CloudEvents binary mode, CloudEvents
//! structured mode, and the Rails shape. Pure functions over record parts; no I/O.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{
    Data, EnvelopeFormat, ReceivedEvent, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_ID,
    HEADER_PREFIX_CLOUDEVENTS, HEADER_SOURCE, HEADER_SPEC_VERSION, HEADER_TIME, HEADER_TYPE,
    SPEC_VERSION,
};
use crate::error::{Error, Result};

/// Decodes a record whose null-valued headers were already dropped, picking the envelope:
/// `ce_specversion` header → binary mode; else a JSON value with `specversion` → structured mode;
/// else `{"name", "data"}` → the Rails shape. `headers` is walked once to find the envelope's
/// headers, and once more only if there are others to keep.
pub(crate) fn decode<'a, I>(
    key: Option<Vec<u8>>,
    payload: Option<&[u8]>,
    headers: I,
) -> Result<ReceivedEvent>
where
    I: Iterator<Item = (&'a str, &'a [u8])> + Clone,
{
    let envelope = EnvelopeHeaders::of(headers.clone());
    if envelope.spec_version.is_some() {
        return decode_binary(key, payload, &envelope, headers);
    }
    let payload = payload
        .ok_or_else(|| Error::decode("empty value and no ce_specversion header: not an event"))?;
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::decode(format!("value is not JSON: {e}")))?;
    let other_headers = extension_headers(&envelope, headers);
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

/// The envelope's headers of one record, found in one pass; a later header of a repeated name
/// overrides an earlier one.
#[derive(Default)]
struct EnvelopeHeaders<'a> {
    spec_version: Option<&'a [u8]>,
    id: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    event_type: Option<&'a [u8]>,
    time: Option<&'a [u8]>,
    content_type: Option<&'a [u8]>,
    /// Headers that are neither CloudEvents attributes nor the content type.
    extensions: usize,
}

impl<'a> EnvelopeHeaders<'a> {
    fn of(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut envelope = EnvelopeHeaders::default();
        for (name, value) in headers {
            let slot = match name {
                HEADER_SPEC_VERSION => &mut envelope.spec_version,
                HEADER_ID => &mut envelope.id,
                HEADER_SOURCE => &mut envelope.source,
                HEADER_TYPE => &mut envelope.event_type,
                HEADER_TIME => &mut envelope.time,
                HEADER_CONTENT_TYPE => &mut envelope.content_type,
                _ => {
                    envelope.extensions += usize::from(is_extension(name));
                    continue;
                }
            };
            *slot = Some(value);
        }
        envelope
    }
}

/// A header that must be present and UTF-8.
fn required_text<'a>(value: Option<&'a [u8]>, name: &str) -> Result<&'a str> {
    let value = value.ok_or_else(|| Error::decode(format!("missing {name} header")))?;
    std::str::from_utf8(value).map_err(|_| Error::decode(format!("{name} header is not UTF-8")))
}

/// Whether a header is neither a CloudEvents attribute nor the content type.
fn is_extension(name: &str) -> bool {
    !name.starts_with(HEADER_PREFIX_CLOUDEVENTS) && name != HEADER_CONTENT_TYPE
}

/// Headers that are not CloudEvents attributes nor the content type (no walk when there are none).
fn extension_headers<'a>(
    envelope: &EnvelopeHeaders<'_>,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Vec<(String, Vec<u8>)> {
    if envelope.extensions == 0 {
        return Vec::new();
    }
    headers
        .filter(|(name, _)| is_extension(name))
        .map(|(name, value)| (name.to_owned(), value.to_vec()))
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

fn decode_binary<'a>(
    key: Option<Vec<u8>>,
    payload: Option<&[u8]>,
    envelope: &EnvelopeHeaders<'_>,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<ReceivedEvent> {
    let spec_version = required_text(envelope.spec_version, HEADER_SPEC_VERSION)?;
    if spec_version != SPEC_VERSION {
        return Err(Error::decode(format!(
            "unsupported ce_specversion {spec_version:?}, expected {SPEC_VERSION:?}"
        )));
    }
    let id = parse_id(required_text(envelope.id, HEADER_ID)?, HEADER_ID)?;
    let source = required_text(envelope.source, HEADER_SOURCE)?.to_owned();
    let event_type = required_text(envelope.event_type, HEADER_TYPE)?.to_owned();
    let time = match envelope.time {
        Some(time) => Some(parse_time(
            required_text(Some(time), HEADER_TIME)?,
            HEADER_TIME,
        )?),
        None => None,
    };
    if let Some(content_type) = envelope.content_type {
        let content_type = required_text(Some(content_type), HEADER_CONTENT_TYPE)?;
        if !is_json_content_type(content_type) {
            return Err(Error::decode(format!(
                "unsupported content-type {content_type:?}: herald events are JSON"
            )));
        }
    }
    let data = match payload {
        Some(payload) => Data::from_json(payload)
            .map_err(|e| Error::decode(format!("value is not JSON: {e}")))?,
        None => Data::null(),
    };
    Ok(ReceivedEvent {
        id,
        event_type,
        source: Some(source),
        time,
        key,
        data,
        headers: extension_headers(envelope, headers),
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
        data: Data::from_value(data),
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
        data: Data::from_value(data),
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
