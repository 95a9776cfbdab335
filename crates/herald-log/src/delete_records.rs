//! DeleteRecords: `Log::delete_records_before` moves the log start offset forward, as Kafka's
//! `UnifiedLog.maybeIncrementLogStartOffset` does, and deletes the segments wholly below it.
//!
//! The new log start offset may lie inside a segment: it is written to `log-start-offset-checkpoint`
//! (atomically, fsynced) before any segment file is deleted, so a crash at any point leaves either the
//! old start or the new one, and `Log::open` restores it. Reads below it answer OffsetOutOfRange;
//! a read from it may return the batch that holds it, records below it included, as Kafka does
//! (consumers skip them). Retention and the cleaner keep working below and above it. Not here: the
//! protocol (`herald-broker`'s `api/delete_records.rs`) and its high-watermark rule.

use crate::checkpoint::write_log_start_offset;
use crate::error::LogError;
use crate::log::Log;

impl Log {
    /// Moves the log start offset to `offset` (DeleteRecords) and deletes every segment whose records
    /// all lie below it (never the active segment). An offset at or below the current log start
    /// changes nothing; one below 0 or above the log end offset is `OffsetOutOfRange`. Returns the
    /// log start offset afterwards (DeleteRecords' low watermark). Blocking: writes and fsyncs.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        if offset < 0 || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset <= log_start_offset {
            return Ok(log_start_offset);
        }
        write_log_start_offset(self.fs().as_ref(), self.dir(), offset)?;
        self.set_log_start_offset(offset);
        let base_offsets = self.segment_base_offsets();
        // A segment is wholly below the new start when the next one begins at or below it.
        let below = base_offsets
            .windows(2)
            .take_while(|pair| pair[1] <= offset)
            .count();
        let deleted = self.delete_oldest_segments(below)?;
        tracing::info!(
            dir = %self.dir().display(),
            log_start_offset = offset,
            deleted_segments = deleted,
            "log start offset moved (DeleteRecords)"
        );
        Ok(self.log_start_offset())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::LogConfig;
    use crate::error::LogError;
    use crate::log::Log;

    /// One uncompressed batch of `count` records (valid CRC), as a producer sends it.
    fn batch(count: i32) -> Vec<u8> {
        let value = [b'v'; 100];
        let records = vec![(Some(&b"k"[..]), Some(&value[..])); count as usize];
        crate::cleaner::records::encode_plain_batch(&records, 1_000)
    }

    // The log start moves inside a segment, segments wholly below it go, reads below it are out of
    // range, offsets past the end are refused, a smaller offset changes nothing, and the start
    // survives a reopen.
    #[test]
    fn log_start_moves_deletes_segments_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 2_000,
            ..LogConfig::default()
        };
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        for _ in 0..20 {
            log.append(&batch(5), 1_000).unwrap();
        }
        assert_eq!(log.log_end_offset(), 100);
        let segments = log.segment_count();
        assert!(segments > 3, "{segments} segments");
        let second_base = log.segment_base_offsets()[1];
        let target = second_base + 2;
        assert_eq!(log.delete_records_before(target).unwrap(), target);
        assert_eq!(log.log_start_offset(), target);
        assert_eq!(
            log.segment_base_offsets()[0],
            second_base,
            "first segment deleted"
        );
        assert!(matches!(
            log.read(target - 1, 1 << 20),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(!log.read(target, 1 << 20).unwrap().is_empty());
        assert!(matches!(
            log.delete_records_before(101),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.delete_records_before(1).unwrap(),
            target,
            "no move back"
        );
        drop(log);

        let mut log = Log::open(dir.path(), config).unwrap();
        assert_eq!(log.log_start_offset(), target);
        assert_eq!(log.delete_records_before(100).unwrap(), 100);
        assert_eq!(log.segment_count(), 1, "only the active segment is left");
        log.append(&batch(1), 1_000).unwrap();
        assert_eq!(log.log_end_offset(), 101);
    }
}
