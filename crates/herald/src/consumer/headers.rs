//! [`Headers`]: a record's headers in three buffers instead of two allocations per header.
//!
//! Every record the runner receives is copied out of librdkafka before a worker decodes it; a
//! herald event carries six or more headers, and owning each name and value separately made the
//! copy the biggest cost of the runner. Not here: what the headers mean (`crate::envelope`).

/// A record's headers, in record order: names and values back to back in two buffers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    names: String,
    values: Vec<u8>,
    /// Where each header's name and value end in `names` and `values`; each starts where the
    /// previous one ended.
    ends: Vec<(usize, usize)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `headers` headers whose names and values take `name_bytes` and `value_bytes`.
    pub fn with_capacity(headers: usize, name_bytes: usize, value_bytes: usize) -> Self {
        Headers {
            names: String::with_capacity(name_bytes),
            values: Vec::with_capacity(value_bytes),
            ends: Vec::with_capacity(headers),
        }
    }

    /// Appends a header (a null value is kept as empty).
    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.names.push_str(name);
        self.values.extend_from_slice(value);
        self.ends.push((self.names.len(), self.values.len()));
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every header as (name, value), in record order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &[u8])> + ExactSizeIterator + '_ {
        (0..self.ends.len()).map(move |index| {
            let (name_start, value_start) = match index.checked_sub(1) {
                Some(previous) => self.ends[previous],
                None => (0, 0),
            };
            let (name_end, value_end) = self.ends[index];
            (
                &self.names[name_start..name_end],
                &self.values[value_start..value_end],
            )
        })
    }

    /// The value of the last header called `name` (later headers override earlier ones).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The headers as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, Vec<u8>)> {
        self.iter()
            .map(|(name, value)| (name.to_owned(), value.to_vec()))
            .collect()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            headers.push(name.as_ref(), value.as_ref());
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_duplicates_and_empty_values() {
        // Proves names and values come back in record order, byte for byte, empty ones included,
        // and that `get` returns the last of repeated names.
        let headers: Headers = vec![
            ("ce_id", b"1".as_slice()),
            ("", b"".as_slice()),
            ("ünï", b"\xff\x00".as_slice()),
            ("ce_id", b"2".as_slice()),
        ]
        .into_iter()
        .collect();
        assert_eq!(headers.len(), 4);
        let pairs: Vec<(&str, &[u8])> = headers.iter().collect();
        assert_eq!(
            pairs,
            vec![
                ("ce_id", b"1".as_slice()),
                ("", b"".as_slice()),
                ("ünï", b"\xff\x00".as_slice()),
                ("ce_id", b"2".as_slice()),
            ]
        );
        assert_eq!(headers.get("ce_id"), Some(b"2".as_slice()));
        assert_eq!(headers.get("missing"), None);
        assert_eq!(headers.to_vec()[2], ("ünï".to_string(), vec![0xff, 0]));
        assert!(Headers::new().is_empty() && Headers::new().iter().next().is_none());
    }
}
