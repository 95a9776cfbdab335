//! Where to start reading or where to reset a group: earliest, latest, an offset, or a timestamp.

use std::str::FromStr;

/// A position in a partition, as the `--from` and `--to` flags write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// An exact offset.
    Offset(i64),
    /// The first record at or after this time (milliseconds since the epoch).
    Timestamp(i64),
}

impl FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "earliest" | "beginning" => Ok(Position::Earliest),
            "latest" | "end" => Ok(Position::Latest),
            _ => {
                if let Ok(offset) = text.parse::<i64>() {
                    return if offset >= 0 {
                        Ok(Position::Offset(offset))
                    } else {
                        Err(format!("offset must be >= 0, got {offset}"))
                    };
                }
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|time| Position::Timestamp(time.timestamp_millis()))
                    .map_err(|_| {
                        format!("expected earliest, latest, an offset or an RFC 3339 time (2026-11-26T10:00:00Z), got {text:?}")
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every spelling of a position parses, and nonsense is refused with a message.
    #[test]
    fn positions_parse() {
        assert_eq!("earliest".parse(), Ok(Position::Earliest));
        assert_eq!("latest".parse(), Ok(Position::Latest));
        assert_eq!("42".parse(), Ok(Position::Offset(42)));
        assert_eq!(
            "1970-01-01T00:00:01Z".parse(),
            Ok(Position::Timestamp(1000))
        );
        assert!("-3".parse::<Position>().is_err());
        assert!("yesterday".parse::<Position>().is_err());
    }
}
