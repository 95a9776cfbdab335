//! Envelope round trips and the three accepted shapes, decoded from raw record parts (no broker).
#![allow(clippy::unwrap_used)]

use herald::envelope::{EncodedEvent, EnvelopeFormat, Event, ReceivedEvent};
use herald::Error;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: Uuid,
    email: String,
}

fn user() -> User {
    User {
        id: Uuid::now_v7(),
        email: "ada@example.com".to_owned(),
    }
}

fn decode(encoded: &EncodedEvent) -> herald::Result<ReceivedEvent> {
    ReceivedEvent::decode(
        encoded.key.as_deref(),
        Some(&encoded.payload),
        encoded
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), Some(value.as_slice()))),
    )
}

fn decode_value(headers: &[(&str, &str)], value: &str) -> herald::Result<ReceivedEvent> {
    ReceivedEvent::decode(
        None,
        Some(value.as_bytes()),
        headers
            .iter()
            .map(|(name, value)| (*name, Some(value.as_bytes()))),
    )
}

fn decode_reason(result: herald::Result<ReceivedEvent>) -> String {
    match result {
        Err(Error::Decode { reason }) => reason,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

// An encoded event carries every CloudEvents binary-mode header and decodes back to the same event.
#[test]
fn binary_mode_round_trip() {
    let user = user();
    let id = Uuid::now_v7();
    let event = Event::new("user_created", &user)
        .unwrap()
        .key(user.id)
        .id(id)
        .source("users-service")
        .header("traceparent", "00-abc-def-01");
    let encoded = event.encode("default-source");

    assert_eq!(encoded.key.as_deref(), Some(user.id.to_string().as_bytes()));
    assert_eq!(encoded.header("ce_specversion"), Some(&b"1.0"[..]));
    assert_eq!(encoded.header("ce_id"), Some(id.to_string().as_bytes()));
    assert_eq!(encoded.header("ce_source"), Some(&b"users-service"[..]));
    assert_eq!(encoded.header("ce_type"), Some(&b"user_created"[..]));
    assert_eq!(
        encoded.header("content-type"),
        Some(&b"application/json"[..])
    );
    let time = std::str::from_utf8(encoded.header("ce_time").unwrap()).unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");

    let received = decode(&encoded).unwrap();
    assert_eq!(received.format, EnvelopeFormat::CloudEventsBinary);
    assert_eq!(received.id, id);
    assert_eq!(received.event_type, "user_created");
    assert_eq!(received.source.as_deref(), Some("users-service"));
    assert_eq!(received.key_str(), Some(user.id.to_string().as_str()));
    assert_eq!(received.header("traceparent"), Some(&b"00-abc-def-01"[..]));
    assert!(
        received.header("ce_id").is_none(),
        "envelope headers are not extensions"
    );
    assert_eq!(received.data_as::<User>().unwrap(), user);
    let sent_time = event.event_time().timestamp_micros();
    assert_eq!(received.time.unwrap().timestamp_micros(), sent_time);
}

// Without an explicit source the producer's default becomes ce_source; ids are fresh UUIDv7s.
#[test]
fn default_source_and_v7_ids() {
    let first = Event::new("ping", &serde_json::json!({})).unwrap();
    let second = Event::new("ping", &serde_json::json!({})).unwrap();
    assert_eq!(first.event_id().get_version_num(), 7);
    assert_ne!(first.event_id(), second.event_id());
    let encoded = first.encode("billing");
    assert_eq!(encoded.header("ce_source"), Some(&b"billing"[..]));
    assert!(encoded.key.is_none());
}

// The Rails/DeliveryBoy shape decodes, with the event id taken from data.id.
#[test]
fn rails_shape_uses_data_id() {
    let id = Uuid::new_v4();
    let value = format!(
        r#"{{"name":"user_created","data":{{"id":"{id}","user":{{"email":"ada@example.com"}}}}}}"#
    );
    let received = decode_value(&[], &value).unwrap();
    assert_eq!(received.format, EnvelopeFormat::Rails);
    assert_eq!(received.id, id);
    assert_eq!(received.event_type, "user_created");
    assert_eq!(received.source, None);
    assert_eq!(received.data["user"]["email"], "ada@example.com");
}

// A Rails event without a usable data.id is a decode error naming the problem.
#[test]
fn rails_shape_without_valid_id_is_rejected() {
    let missing = decode_value(&[], r#"{"name":"user_created","data":{"user":{}}}"#);
    assert!(decode_reason(missing).contains("data.id"));
    let invalid = decode_value(&[], r#"{"name":"user_created","data":{"id":"nope"}}"#);
    assert!(decode_reason(invalid).contains("not a UUID"));
    let number = decode_value(&[], r#"{"name":"user_created","data":{"id":42}}"#);
    assert!(decode_reason(number).contains("data.id"));
}

// CloudEvents structured mode decodes from the JSON value alone.
#[test]
fn structured_mode() {
    let id = Uuid::now_v7();
    let value = format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"orders","type":"order_placed",
            "time":"2026-11-26T14:00:00Z","datacontenttype":"application/json",
            "data":{{"total":12}}}}"#
    );
    let headers = [("content-type", "application/cloudevents+json")];
    let received = decode_value(&headers, &value).unwrap();
    assert_eq!(received.format, EnvelopeFormat::CloudEventsStructured);
    assert_eq!(received.id, id);
    assert_eq!(received.source.as_deref(), Some("orders"));
    assert_eq!(received.event_type, "order_placed");
    assert_eq!(received.data["total"], 12);
    assert_eq!(
        received.time.unwrap().to_rfc3339(),
        "2026-11-26T14:00:00+00:00"
    );
}

// Broken binary-mode events are rejected with a reason that names the header at fault.
#[test]
fn binary_mode_errors_name_the_header() {
    let id = Uuid::now_v7().to_string();
    let good = [
        ("ce_specversion", "1.0"),
        ("ce_id", id.as_str()),
        ("ce_source", "users"),
        ("ce_type", "user_created"),
    ];
    assert!(decode_value(&good, "{}").is_ok());

    let without_type = &good[..3];
    assert!(decode_reason(decode_value(without_type, "{}")).contains("ce_type"));

    let mut bad_id = good;
    bad_id[1] = ("ce_id", "42");
    assert!(decode_reason(decode_value(&bad_id, "{}")).contains("ce_id"));

    let mut bad_version = good;
    bad_version[0] = ("ce_specversion", "0.3");
    assert!(decode_reason(decode_value(&bad_version, "{}")).contains("specversion"));

    let mut with_time = good.to_vec();
    with_time.push(("ce_time", "yesterday"));
    assert!(decode_reason(decode_value(&with_time, "{}")).contains("ce_time"));

    let mut not_json = good.to_vec();
    not_json.push(("content-type", "text/plain"));
    assert!(decode_reason(decode_value(&not_json, "hello")).contains("content-type"));

    assert!(decode_reason(decode_value(&good, "{not json")).contains("not JSON"));
}

// Values that are neither CloudEvents nor the Rails shape are decode errors, never panics.
#[test]
fn garbage_is_a_decode_error() {
    for value in [
        "",
        "null",
        "[1,2]",
        "\"text\"",
        r#"{"name":"x"}"#,
        "\u{0}\u{1}",
    ] {
        let result = decode_value(&[], value);
        assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{value:?}: {result:?}"
        );
    }
    let empty = ReceivedEvent::decode(None, None, std::iter::empty());
    assert!(matches!(empty, Err(Error::Decode { .. })));
}

// data_as reports a type mismatch as a Serialize error naming the event type.
#[test]
fn data_as_type_mismatch() {
    let encoded = Event::new("user_created", &serde_json::json!({"id": 1}))
        .unwrap()
        .encode("svc");
    let received = decode(&encoded).unwrap();
    match received.data_as::<User>() {
        Err(Error::Serialize { event_type, .. }) => assert_eq!(event_type, "user_created"),
        other => panic!("expected Serialize error, got {other:?}"),
    }
}
