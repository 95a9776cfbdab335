//! Small durable files of a partition directory: the recovery-point, cleaner and log start offset
//! checkpoints, written atomically
//! (temp file, fsync, rename, directory fsync), and the directory fsync itself.
//!
//! Format of `recovery-point-checkpoint`: two text lines, the format version (`0`) and the offset below
//! which every batch was fsynced. A malformed checkpoint is treated as absent (recovery then validates
//! every segment), never as an error. This module is not the producer-state snapshot (see
//! `producer_state.rs`).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{io_error, LogError};

/// Name of the recovery-point checkpoint file inside a partition directory.
pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-checkpoint";
/// Name of the log cleaner's checkpoint inside a partition directory: the first offset not yet cleaned
/// (same format as the recovery point). Its presence also tells recovery that the log was compacted, so
/// offsets may skip between batches and between segments.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Name of the log start offset checkpoint inside a partition directory (same format as the recovery
/// point): the first offset DeleteRecords left, which may lie inside the first segment.
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// Suffix of files being written atomically; leftovers are deleted at open.
pub const TEMP_FILE_SUFFIX: &str = "tmp";
const CHECKPOINT_VERSION: &str = "0";

/// fsyncs a directory so that file creations, renames and deletions in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// Writes `bytes` to `dir/name` atomically: a crash leaves either the old or the new content.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = dir.join(format!("{name}.{TEMP_FILE_SUFFIX}"));
    let mut file = File::create(&tmp).map_err(io_error("create temp file", &tmp))?;
    file.write_all(bytes)
        .map_err(io_error("write temp file", &tmp))?;
    file.sync_all().map_err(io_error("fsync temp file", &tmp))?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(io_error("rename temp file", &path))?;
    sync_dir(dir)
}

/// Parses a checkpoint file's content.
pub fn parse_checkpoint(text: &str) -> Option<i64> {
    let mut lines = text.lines();
    if lines.next()? != CHECKPOINT_VERSION {
        return None;
    }
    let offset = lines.next()?.trim().parse::<i64>().ok()?;
    (offset >= 0).then_some(offset)
}

/// Reads the recovery point; `None` if there is no usable checkpoint.
pub fn read_recovery_point(dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_file(dir, RECOVERY_POINT_CHECKPOINT_FILE)
}

/// Reads the cleaner checkpoint; `None` if the log was never cleaned.
pub fn read_cleaner_checkpoint(dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_file(dir, CLEANER_CHECKPOINT_FILE)
}

/// Writes the cleaner checkpoint atomically.
pub fn write_cleaner_checkpoint(dir: &Path, first_dirty_offset: i64) -> Result<(), LogError> {
    let text = format!("{CHECKPOINT_VERSION}\n{first_dirty_offset}\n");
    write_atomically(dir, CLEANER_CHECKPOINT_FILE, text.as_bytes())
}

fn read_offset_file(dir: &Path, name: &str) -> Result<Option<i64>, LogError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let parsed = parse_checkpoint(&text);
            if parsed.is_none() {
                tracing::warn!(path = %path.display(), "ignoring malformed checkpoint");
            }
            Ok(parsed)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(io_error("read checkpoint", &path)(e)),
    }
}

/// Reads the log start offset checkpoint; `None` if DeleteRecords never moved it.
pub fn read_log_start_offset(dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_file(dir, LOG_START_OFFSET_CHECKPOINT_FILE)
}

/// Writes the log start offset checkpoint atomically.
pub fn write_log_start_offset(dir: &Path, log_start_offset: i64) -> Result<(), LogError> {
    let text = format!("{CHECKPOINT_VERSION}\n{log_start_offset}\n");
    write_atomically(dir, LOG_START_OFFSET_CHECKPOINT_FILE, text.as_bytes())
}

/// Writes the recovery point atomically.
pub fn write_recovery_point(dir: &Path, recovery_point: i64) -> Result<(), LogError> {
    let text = format!("{CHECKPOINT_VERSION}\n{recovery_point}\n");
    write_atomically(dir, RECOVERY_POINT_CHECKPOINT_FILE, text.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // a written checkpoint reads back; garbage reads as absent
    #[test]
    fn round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_recovery_point(dir.path()).unwrap(), None);
        write_recovery_point(dir.path(), 42).unwrap();
        assert_eq!(read_recovery_point(dir.path()).unwrap(), Some(42));
        assert_eq!(parse_checkpoint("1\n42\n"), None);
        assert_eq!(parse_checkpoint("0\nabc\n"), None);
        assert_eq!(parse_checkpoint("0\n-5\n"), None);
        assert_eq!(parse_checkpoint(""), None);
    }
}
