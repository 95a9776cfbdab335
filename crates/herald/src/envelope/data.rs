//! [`Data`]: an event's JSON data, kept as the bytes it arrived in and parsed only when asked.
//!
//! The runner decodes every record it receives; building a `serde_json::Value` tree for each (maps,
//! strings, one allocation per node) was most of its cost, and handlers that read typed data then
//! paid twice, once for the tree and once for their type. Here decoding only checks that the bytes
//! are JSON (a pass that allocates nothing); [`Data::to`] deserializes straight from the bytes into
//! the handler's type, and the tree is built on first use of [`Data::value`] (or of `data["field"]`,
//! through `Deref`), once. Not here: the envelope's attributes (`crate::envelope`).

use std::sync::OnceLock;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// An event's data: JSON, parsed on first use. Derefs to a [`serde_json::Value`], so
/// `data["user"]["name"]` and `data.as_object()` work as on a `Value`.
pub struct Data {
    /// The JSON text; empty when the data was given as a value (structured or Rails envelopes).
    json: Vec<u8>,
    /// The parsed tree, built on first use (or given).
    value: OnceLock<Value>,
}

impl Data {
    /// Data from JSON text, checked to be JSON (without building a tree); `Err` names what is wrong.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<IgnoredAny>(json)?;
        Ok(Data {
            json: json.to_vec(),
            value: OnceLock::new(),
        })
    }

    /// Data that is already a value.
    pub fn from_value(value: Value) -> Self {
        Data {
            json: Vec::new(),
            value: OnceLock::from(value),
        }
    }

    /// JSON `null` (an event with no value).
    pub fn null() -> Self {
        Self::from_value(Value::Null)
    }

    /// The data as a JSON tree, parsed on the first call.
    pub fn value(&self) -> &Value {
        // The text was checked to be JSON when this was built; `Null` cannot happen in practice.
        self.value
            .get_or_init(|| serde_json::from_slice(&self.json).unwrap_or(Value::Null))
    }

    /// The data as an owned JSON tree.
    pub fn to_value(&self) -> Value {
        self.value().clone()
    }

    /// The data deserialized into `T`, straight from the JSON text when no tree was built.
    pub fn to<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self.value.get() {
            Some(value) => T::deserialize(value),
            None => serde_json::from_slice(&self.json),
        }
    }

    /// The JSON text when the data arrived as text (CloudEvents binary mode).
    pub fn json(&self) -> Option<&[u8]> {
        (!self.json.is_empty()).then_some(self.json.as_slice())
    }
}

impl std::ops::Deref for Data {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl Clone for Data {
    fn clone(&self) -> Self {
        Data {
            json: self.json.clone(),
            value: self.value.clone(),
        }
    }
}

impl Default for Data {
    fn default() -> Self {
        Self::null()
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Data {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl From<Value> for Data {
    fn from(value: Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Data> for Value {
    fn from(data: Data) -> Self {
        match data.value.into_inner() {
            Some(value) => value,
            None => serde_json::from_slice(&data.json).unwrap_or(Value::Null),
        }
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.value(), f)
    }
}

impl std::fmt::Display for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.value(), f)
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_parses_once_and_deserializes_from_text() {
        // Proves text data is checked at construction, read typed without a tree, and read as a
        // tree equal to what serde_json builds.
        assert!(Data::from_json(b"{\"a\":").is_err());
        assert!(Data::from_json(b"not json").is_err());
        let data = Data::from_json(br#" {"user": {"name": "ada"}, "n": 3} "#).unwrap();
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct N {
            n: u32,
        }
        assert_eq!(data.to::<N>().unwrap(), N { n: 3 });
        assert!(
            data.value.get().is_none(),
            "typed read must not build a tree"
        );
        assert_eq!(data["user"]["name"], "ada");
        assert_eq!(data, serde_json::json!({"user": {"name": "ada"}, "n": 3}));
        assert_eq!(data.to::<N>().unwrap(), N { n: 3 });
        assert_eq!(data.to_string(), r#"{"n":3,"user":{"name":"ada"}}"#);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"n":3,"user":{"name":"ada"}}"#
        );
        assert_eq!(Data::null(), Value::Null);
        assert_eq!(
            Value::from(Data::from_json(b"[1]").unwrap()),
            serde_json::json!([1])
        );
    }
}
