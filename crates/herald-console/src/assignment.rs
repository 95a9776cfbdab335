//! Decodes a consumer-group member's assignment (Kafka's ConsumerProtocolAssignment) so that the
//! console and `herald groups describe` can show which partitions each member owns. Never panics on
//! bad bytes.

/// Partitions per topic, in the order the assignment lists them.
pub type Assignment = Vec<(String, Vec<i32>)>;

/// A cursor over big-endian bytes that returns `None` instead of reading past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes `version i16, [topic string, [partition i32]], user_data bytes`; `None` if malformed.
pub fn decode(bytes: &[u8]) -> Option<Assignment> {
    let mut reader = Reader { bytes };
    let _version = reader.i16()?;
    let topics = reader.i32()?;
    let mut assignment = Vec::new();
    for _ in 0..topics.max(0) {
        let length = usize::try_from(reader.i16()?).ok()?;
        let name = String::from_utf8(reader.take(length)?.to_vec()).ok()?;
        let count = reader.i32()?;
        let mut partitions = Vec::new();
        for _ in 0..count.max(0) {
            partitions.push(reader.i32()?);
        }
        assignment.push((name, partitions));
    }
    Some(assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A well-formed assignment decodes; a truncated one is refused rather than panicking.
    #[test]
    fn decodes_and_refuses_truncation() {
        let mut bytes = vec![
            0, 1, 0, 0, 0, 1, 0, 2, b'u', b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        assert_eq!(decode(&bytes), Some(vec![("ua".to_string(), vec![0, 5])]));
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode(&bytes), None);
        assert_eq!(decode(&[]), None);
    }
}
