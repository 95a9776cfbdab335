//! How a record is shown: CloudEvents `ce_*` headers as fields, JSON values pretty-printed, the
//! Rails `{"name": ..., "data": ...}` shape recognised, text as text and anything else as hex.
//! Pure functions, unit-tested; the pages only render what they return.

use serde_json::Value;

/// Most value bytes shown for one record; the rest is cut with a note.
pub const VALUE_BYTES_SHOWN_MAX: usize = 64 * 1024;
/// Most key or header bytes shown.
pub const SHORT_BYTES_SHOWN_MAX: usize = 512;
/// The CloudEvents header prefix in Kafka binary mode.
pub const CLOUDEVENTS_PREFIX: &str = "ce_";

/// A record value, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueView {
    /// No value (a tombstone) or an empty one.
    Empty,
    /// JSON, pretty-printed; `rails_event` is the `name` of a Rails-shaped event.
    Json {
        /// Pretty-printed text.
        pretty: String,
        /// The event name when the value is `{"name": "...", "data": {...}}`.
        rails_event: Option<String>,
    },
    /// UTF-8 text that is not JSON.
    Text(String),
    /// Anything else, as hex.
    Binary(String),
}

/// How to show a value.
pub fn value_view(value: Option<&[u8]>) -> ValueView {
    let Some(bytes) = value.filter(|b| !b.is_empty()) else {
        return ValueView::Empty;
    };
    let shown = &bytes[..bytes.len().min(VALUE_BYTES_SHOWN_MAX)];
    let cut = if bytes.len() > shown.len() {
        format!("\n… {} more bytes not shown", bytes.len() - shown.len())
    } else {
        String::new()
    };
    if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
        let pretty = if pretty.len() > VALUE_BYTES_SHOWN_MAX {
            format!("{}{cut}", truncate_utf8(&pretty, VALUE_BYTES_SHOWN_MAX))
        } else {
            pretty
        };
        return ValueView::Json {
            pretty,
            rails_event: rails_event_name(&json),
        };
    }
    match std::str::from_utf8(shown) {
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            ValueView::Text(format!("{text}{cut}"))
        }
        _ => ValueView::Binary(format!("{}{cut}", hex(shown))),
    }
}

/// The `name` of a Rails-shaped event: an object with a string `name` and an object `data`.
pub fn rails_event_name(json: &Value) -> Option<String> {
    let object = json.as_object()?;
    let name = object.get("name")?.as_str()?;
    object.get("data")?.as_object()?;
    Some(name.to_string())
}

/// Bytes as text when they are printable UTF-8, else as hex; cut at [`SHORT_BYTES_SHOWN_MAX`].
pub fn short_text(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(SHORT_BYTES_SHOWN_MAX)];
    let suffix = if bytes.len() > shown.len() { "…" } else { "" };
    match std::str::from_utf8(shown) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text}{suffix}"),
        _ => format!("0x{}{suffix}", hex(shown).replace(' ', "")),
    }
}

/// Hex, two digits a byte, a space between bytes and a line break every 32.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(if i % 32 == 0 { '\n' } else { ' ' });
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The CloudEvents attributes of a record (`ce_type` -> `type`), in header order.
pub fn cloud_event_fields(headers: &[(String, Option<Vec<u8>>)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(CLOUDEVENTS_PREFIX)?;
            Some((
                name.to_string(),
                short_text(value.as_deref().unwrap_or_default()),
            ))
        })
        .collect()
}

fn truncate_utf8(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_printed_and_rails_shape_recognised() {
        // A Rails event is JSON with its name picked out; other JSON has none.
        let rails = br#"{"name":"user_created","data":{"id":"42"}}"#;
        match value_view(Some(rails)) {
            ValueView::Json {
                pretty,
                rails_event,
            } => {
                assert!(pretty.contains("\n  \"data\""), "{pretty}");
                assert_eq!(rails_event.as_deref(), Some("user_created"));
            }
            other => panic!("expected JSON, got {other:?}"),
        }
        assert!(matches!(
            value_view(Some(br#"{"name":"x","data":1}"#)),
            ValueView::Json {
                rails_event: None,
                ..
            }
        ));
    }

    #[test]
    fn text_binary_and_empty_values() {
        // Plain text stays text, bytes that are not text become hex, no value is empty.
        assert_eq!(value_view(Some(b"hello")), ValueView::Text("hello".into()));
        assert_eq!(
            value_view(Some(&[0, 159, 146, 150])),
            ValueView::Binary("00 9f 92 96".into())
        );
        assert_eq!(value_view(None), ValueView::Empty);
        assert_eq!(value_view(Some(b"")), ValueView::Empty);
    }

    #[test]
    fn large_values_are_cut() {
        // A value over the limit is shown up to it, with a note of what was left out.
        let big = vec![b'a'; VALUE_BYTES_SHOWN_MAX + 10];
        match value_view(Some(&big)) {
            ValueView::Text(text) => assert!(text.ends_with("10 more bytes not shown")),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn cloud_events_headers_become_fields() {
        // ce_* headers lose their prefix; other headers are not CloudEvents attributes.
        let headers = vec![
            ("ce_type".to_string(), Some(b"user_created".to_vec())),
            (
                "content-type".to_string(),
                Some(b"application/json".to_vec()),
            ),
            ("ce_id".to_string(), Some(b"0190".to_vec())),
        ];
        assert_eq!(
            cloud_event_fields(&headers),
            vec![
                ("type".to_string(), "user_created".to_string()),
                ("id".to_string(), "0190".to_string())
            ]
        );
    }

    #[test]
    fn short_text_falls_back_to_hex() {
        // Keys that are not printable text are shown as hex.
        assert_eq!(short_text(b"user-1"), "user-1");
        assert_eq!(short_text(&[1, 2, 255]), "0x0102ff");
    }
}
