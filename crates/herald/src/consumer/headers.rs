//! [`Headers`]: a record's headers in one buffer instead of two allocations per header.
//!
//! Every record the runner receives is copied out of librdkafka before a worker decodes it; a
//! herald event carries six or more headers, and owning each name and value separately made the
//! copy the biggest cost of the runner. Here every header of a record is one entry of a single
//! buffer: its name's length and its value's length (4 bytes each, little endian), then the name,
//! then the value. Not here: what the headers mean (`crate::envelope`).

/// Bytes of an entry's lengths (name, then value).
const ENTRY_LENGTHS_BYTES: usize = 8;

/// A record's headers, in record order, in one buffer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Entries back to back: name length, value length, name, value.
    entries: Vec<u8>,
    count: usize,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `headers` headers whose names and values take `name_bytes` and `value_bytes`.
    pub fn with_capacity(headers: usize, name_bytes: usize, value_bytes: usize) -> Self {
        Headers {
            entries: Vec::with_capacity(headers * ENTRY_LENGTHS_BYTES + name_bytes + value_bytes),
            count: 0,
        }
    }

    /// Appends a header (a null value is kept as empty). Kafka bounds names and values far below
    /// 4 GiB; a longer one is cut at that length rather than corrupting the buffer.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let name = cut(name.as_bytes());
        let value = cut(value);
        self.entries
            .reserve(ENTRY_LENGTHS_BYTES + name.len() + value.len());
        self.entries
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.entries
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.entries.extend_from_slice(name);
        self.entries.extend_from_slice(value);
        self.count += 1;
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every header as (name, value), in record order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + Clone + '_ {
        Iter {
            rest: &self.entries,
            left: self.count,
        }
    }

    /// The value of the last header called `name` (later headers override earlier ones).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .filter(|(key, _)| *key == name)
            .last()
            .map(|(_, value)| value)
    }

    /// The headers as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, Vec<u8>)> {
        self.iter()
            .map(|(name, value)| (name.to_owned(), value.to_vec()))
            .collect()
    }
}

/// At most `u32::MAX` bytes of `bytes`.
fn cut(bytes: &[u8]) -> &[u8] {
    let limit = u32::MAX as usize;
    match bytes.len() > limit {
        true => &bytes[..limit],
        false => bytes,
    }
}

/// Iterator over the entries of a [`Headers`].
#[derive(Clone)]
struct Iter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (lengths, rest) = self.rest.split_first_chunk::<ENTRY_LENGTHS_BYTES>()?;
        let (name_len, value_len) = lengths.split_at(ENTRY_LENGTHS_BYTES / 2);
        let name_len = u32::from_le_bytes(name_len.try_into().ok()?) as usize;
        let value_len = u32::from_le_bytes(value_len.try_into().ok()?) as usize;
        let (name, rest) = rest.split_at_checked(name_len)?;
        let (value, rest) = rest.split_at_checked(value_len)?;
        self.rest = rest;
        self.left = self.left.saturating_sub(1);
        // Names were pushed as `&str`; a name cut inside a character (over 4 GiB) reads as empty.
        Some((std::str::from_utf8(name).unwrap_or_default(), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

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
        assert_eq!(headers.iter().len(), 4);
        assert_eq!(headers.to_vec()[2], ("ünï".to_string(), vec![0xff, 0]));
        assert!(Headers::new().is_empty() && Headers::new().iter().next().is_none());
    }
}
