//! Small durable files of a partition directory: the recovery-point, cleaner and log start offset
//! checkpoints, written atomically
//! (temp file, fsync, rename, directory fsync), and the directory fsync itself.
//!
//! Format of `recovery-point-checkpoint`: two text lines, the format version (`0`) and the offset below
//! which every batch was fsynced. A malformed checkpoint is treated as absent (recovery then validates
//! every segment), never as an error. This module is not the producer-state snapshot (see
//! `producer_state.rs`).

use std::path::Path;

use crate::error::{io_error, LogError};
use crate::fs::{FileSystem, OpenMode};

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
pub fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<(), LogError> {
    fs.sync_dir(dir).map_err(io_error("fsync directory", dir))
}

/// Writes `bytes` to `dir/name` atomically: a crash leaves either the old or the new content.
pub fn write_atomically(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), LogError> {
    let tmp = dir.join(format!("{name}.{TEMP_FILE_SUFFIX}"));
    let file = fs
        .open(&tmp, OpenMode::CREATE_TRUNCATE)
        .map_err(io_error("create temp file", &tmp))?;
    file.write_all_at(bytes, 0)
        .map_err(io_error("write temp file", &tmp))?;
    file.sync_all().map_err(io_error("fsync temp file", &tmp))?;
    drop(file);
    let path = dir.join(name);
    fs.rename(&tmp, &path)
        .map_err(io_error("rename temp file", &path))?;
    sync_dir(fs, dir)
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
pub fn read_recovery_point(fs: &dyn FileSystem, dir: &Path) -> Result<Option<i64>, LogError> {
    Ok(read_recovery_checkpoint(fs, dir)?.map(|c| c.offset))
}

/// Where the recovery point lies in its segment: recovery resumes the scan there instead of at the
/// segment's start. Written only when the segment's data up to `position` and its index files up to
/// the entry counts are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPosition {
    /// Base offset of the segment that holds the recovery point.
    pub segment_base: i64,
    /// Byte position of the recovery point in that segment (its size then).
    pub position: u64,
    /// Offset index entries that are durable and below `position`.
    pub index_entries: u64,
    /// Time index entries likewise.
    pub time_entries: u64,
    /// The segment's largest timestamp below `position` (-1: none) and the offset that carries it.
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// `segment.ms` counts from here (-1: no batch yet).
    pub rolling_timestamp_ms: i64,
}

/// The recovery-point checkpoint: the offset and, since the third line was added, its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCheckpoint {
    pub offset: i64,
    pub position: Option<RecoveryPosition>,
}

/// Parses a recovery-point checkpoint: version, offset and the optional position line (readers that
/// predate it read the first two lines only, so the file stays version 0).
pub fn parse_recovery_checkpoint(text: &str) -> Option<RecoveryCheckpoint> {
    let offset = parse_checkpoint(text)?;
    let position = text.lines().nth(2).and_then(|line| {
        let fields: Vec<i64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [segment_base, position, index_entries, time_entries, max_timestamp, offset_of_max_timestamp, rolling_timestamp_ms] =
            fields[..]
        else {
            return None;
        };
        let position = RecoveryPosition {
            segment_base,
            position: u64::try_from(position).ok()?,
            index_entries: u64::try_from(index_entries).ok()?,
            time_entries: u64::try_from(time_entries).ok()?,
            max_timestamp,
            offset_of_max_timestamp,
            rolling_timestamp_ms,
        };
        (segment_base >= 0 && segment_base <= offset).then_some(position)
    });
    Some(RecoveryCheckpoint { offset, position })
}

/// Reads the recovery-point checkpoint; `None` if there is no usable one.
pub fn read_recovery_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<RecoveryCheckpoint>, LogError> {
    let path = dir.join(RECOVERY_POINT_CHECKPOINT_FILE);
    match read_text(fs, &path)? {
        Some(text) => {
            let parsed = parse_recovery_checkpoint(&text);
            if parsed.is_none() {
                tracing::warn!(path = %path.display(), "ignoring malformed checkpoint");
            }
            Ok(parsed)
        }
        None => Ok(None),
    }
}

/// Writes the recovery-point checkpoint atomically, with its position when known.
pub fn write_recovery_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
    checkpoint: &RecoveryCheckpoint,
) -> Result<(), LogError> {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", checkpoint.offset);
    if let Some(p) = &checkpoint.position {
        text.push_str(&format!(
            "{} {} {} {} {} {} {}\n",
            p.segment_base,
            p.position,
            p.index_entries,
            p.time_entries,
            p.max_timestamp,
            p.offset_of_max_timestamp,
            p.rolling_timestamp_ms
        ));
    }
    write_atomically(fs, dir, RECOVERY_POINT_CHECKPOINT_FILE, text.as_bytes())
}

/// Name of the marker a clean close leaves (as Kafka's `.kafka_cleanshutdown`): version, the log end
/// offset at the close and the modification times of the active segment's three files. The next open
/// deletes it.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// What a clean close recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanShutdown {
    pub log_end_offset: i64,
    /// Modification times (seconds, nanoseconds) of the active segment's `.log`, `.index` and
    /// `.timeindex` at the close: if any differs at the next open, the files were changed since and
    /// the active segment is recovered in full.
    pub modified: Vec<(u64, u32)>,
}

/// Writes the clean-shutdown marker (durably).
pub fn write_clean_shutdown(
    fs: &dyn FileSystem,
    dir: &Path,
    marker: &CleanShutdown,
) -> Result<(), LogError> {
    let stamps: Vec<String> = marker
        .modified
        .iter()
        .map(|(secs, nanos)| format!("{secs}.{nanos}"))
        .collect();
    let text = format!(
        "{CHECKPOINT_VERSION}\n{}\n{}\n",
        marker.log_end_offset,
        stamps.join(" ")
    );
    write_atomically(fs, dir, CLEAN_SHUTDOWN_FILE, text.as_bytes())
}

/// Reads and deletes the clean-shutdown marker. The deletion is not fsynced: a marker that comes
/// back after a crash no longer matches the checkpoint or the files' modification times.
pub fn take_clean_shutdown(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<CleanShutdown>, LogError> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let Some(text) = read_text(fs, &path)? else {
        return Ok(None);
    };
    match fs.remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("delete clean-shutdown marker", &path)(e)),
    }
    let Some(log_end_offset) = parse_checkpoint(&text) else {
        return Ok(None);
    };
    let modified = text
        .lines()
        .nth(2)
        .unwrap_or_default()
        .split_whitespace()
        .map(|stamp| {
            let (secs, nanos) = stamp.split_once('.')?;
            Some((secs.parse().ok()?, nanos.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    Ok(Some(CleanShutdown {
        log_end_offset,
        modified,
    }))
}

fn read_text(fs: &dyn FileSystem, path: &Path) -> Result<Option<String>, LogError> {
    match fs.read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_error("read checkpoint", path)(e)),
    }
}

/// Reads the cleaner checkpoint; `None` if the log was never cleaned.
pub fn read_cleaner_checkpoint(fs: &dyn FileSystem, dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_file(fs, dir, CLEANER_CHECKPOINT_FILE)
}

/// Writes the cleaner checkpoint atomically.
pub fn write_cleaner_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
    first_dirty_offset: i64,
) -> Result<(), LogError> {
    let text = format!("{CHECKPOINT_VERSION}\n{first_dirty_offset}\n");
    write_atomically(fs, dir, CLEANER_CHECKPOINT_FILE, text.as_bytes())
}

fn read_offset_file(fs: &dyn FileSystem, dir: &Path, name: &str) -> Result<Option<i64>, LogError> {
    let path = dir.join(name);
    match fs.read(&path) {
        Ok(bytes) => {
            let parsed = std::str::from_utf8(&bytes).ok().and_then(parse_checkpoint);
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
pub fn read_log_start_offset(fs: &dyn FileSystem, dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_file(fs, dir, LOG_START_OFFSET_CHECKPOINT_FILE)
}

/// Writes the log start offset checkpoint atomically.
pub fn write_log_start_offset(
    fs: &dyn FileSystem,
    dir: &Path,
    log_start_offset: i64,
) -> Result<(), LogError> {
    let text = format!("{CHECKPOINT_VERSION}\n{log_start_offset}\n");
    write_atomically(fs, dir, LOG_START_OFFSET_CHECKPOINT_FILE, text.as_bytes())
}

/// Writes the recovery point atomically.
pub fn write_recovery_point(
    fs: &dyn FileSystem,
    dir: &Path,
    recovery_point: i64,
) -> Result<(), LogError> {
    let checkpoint = RecoveryCheckpoint {
        offset: recovery_point,
        position: None,
    };
    write_recovery_checkpoint(fs, dir, &checkpoint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // a written checkpoint reads back; garbage reads as absent
    #[test]
    fn round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::RealFs;
        assert_eq!(read_recovery_point(&fs, dir.path()).unwrap(), None);
        write_recovery_point(&fs, dir.path(), 42).unwrap();
        assert_eq!(read_recovery_point(&fs, dir.path()).unwrap(), Some(42));
        assert_eq!(parse_checkpoint("1\n42\n"), None);
        assert_eq!(parse_checkpoint("0\nabc\n"), None);
        assert_eq!(parse_checkpoint("0\n-5\n"), None);
        assert_eq!(parse_checkpoint(""), None);
        // the position line is optional and ignored by readers of the offset alone
        let with = "0\n42\n40 900 3 2 1700 41 1600\n";
        assert_eq!(parse_checkpoint(with), Some(42));
        let parsed = parse_recovery_checkpoint(with).unwrap();
        assert_eq!(parsed.position.unwrap().position, 900);
        assert_eq!(parse_recovery_checkpoint("0\n42\n").unwrap().position, None);
        assert_eq!(
            parse_recovery_checkpoint("0\n42\n1 2\n").unwrap().position,
            None
        );
    }
}
