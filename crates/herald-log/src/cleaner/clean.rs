//! One cleaning round of one log: [`clean_log`].
//!
//! 1. Under the log's read lock, a snapshot: the closed segments (shared file handles, so a concurrent
//!    retention delete cannot pull the data away), the cleaner checkpoint and each producer's last batch.
//! 2. Without any lock, the [`OffsetMap`] is filled from the dirty section, up to where its budget ends
//!    (the rest waits for the next round: a log larger than the budget is cleaned in several passes).
//! 3. Without any lock, the segments from the log start to the mapped end are cleaned group by group
//!    (consecutive segments whose sizes sum to at most `segment.bytes`), each group into one segment
//!    written beside the originals, fsynced and re-read with every CRC32C checked.
//! 4. Under the write lock, each group is swapped in (`swap.rs`); at the end the cleaner checkpoint moves
//!    to the mapped end. Produce and fetch wait only for the snapshot and the renames.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::batch::{
    validate_batch, RecordBatchHeader, LOG_OVERHEAD_BYTES, RECORD_BATCH_HEADER_BYTES,
};
use crate::checkpoint::{read_cleaner_checkpoint, write_cleaner_checkpoint};
use crate::cleaner::cleanable::{cleanable_range, CleanableRange, SegmentSummary};
use crate::cleaner::filter::{filter_batch, FilterContext, Filtered};
use crate::cleaner::offset_map::{digest, OffsetMap};
use crate::cleaner::records::Records;
use crate::cleaner::swap::{Group, CLEANED_FILE_SUFFIX};
use crate::cleaner::swap_recovery::discard_cleaned;
use crate::cleaner::{CleanerWorker, CleaningStats, Throttle};
use crate::codec::decompress;
use crate::config::LogConfig;
use crate::error::{io_error, LogError};
use crate::fs::{SharedFile, SharedFs};
use crate::log::Log;
use crate::segment::{LogSegment, SEGMENT_BYTES_MAX};

/// Bytes read from a segment per positional read.
const READ_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of cleaned batches buffered before a write.
const WRITE_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// A closed segment as the snapshot saw it.
#[derive(Debug, Clone)]
struct SegmentView {
    base_offset: i64,
    next_offset: i64,
    size: u64,
    file: SharedFile,
    path: PathBuf,
}

/// What the round works from, taken under the read lock.
#[derive(Debug)]
struct Snapshot {
    dir: PathBuf,
    fs: SharedFs,
    config: LogConfig,
    closed: Vec<SegmentView>,
    summaries: Vec<SegmentSummary>,
    active_base_offset: i64,
    first_dirty_offset: i64,
    next_delete_horizon_ms: Option<i64>,
    producer_last_offsets: HashMap<i64, i64>,
}

fn snapshot(log: &Log) -> Snapshot {
    let segments = log.segments();
    let closed_count = segments.len().saturating_sub(1);
    let closed = segments[..closed_count]
        .iter()
        .map(|s| SegmentView {
            base_offset: s.base_offset(),
            next_offset: s.next_offset(),
            size: s.size(),
            file: s.file(),
            path: s.log_path().to_path_buf(),
        })
        .collect();
    Snapshot {
        dir: log.dir().to_path_buf(),
        fs: log.fs(),
        config: log.config().clone(),
        closed,
        summaries: log.closed_segment_summaries(),
        active_base_offset: segments.last().map_or(0, LogSegment::base_offset),
        first_dirty_offset: log.first_dirty_offset(),
        next_delete_horizon_ms: log.next_delete_horizon_ms(),
        producer_last_offsets: log.producers().last_offsets(),
    }
}

/// Calls `f` with every stored batch of `segment` (CRC checked) until it returns `Ok(false)`.
fn for_each_batch(
    segment: &SegmentView,
    throttle: &Throttle,
    mut f: impl FnMut(&RecordBatchHeader, &[u8]) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    let mut buf = Vec::new();
    let mut position = 0u64;
    while position < segment.size {
        let len = (segment.size - position).min(READ_CHUNK_BYTES as u64) as usize;
        buf.resize(len, 0);
        segment
            .file
            .read_exact_at(&mut buf, position)
            .map_err(io_error("read segment for cleaning", &segment.path))?;
        throttle.acquire(len as u64)?;
        let mut at = 0;
        while at + LOG_OVERHEAD_BYTES <= buf.len() {
            let rest = &buf[at..];
            let total = RecordBatchHeader::parse(rest)
                .map(|h| h.total_bytes())
                .unwrap_or(RECORD_BATCH_HEADER_BYTES);
            if total > rest.len() && at > 0 {
                break; // the batch continues in the next chunk: read again from its start
            }
            let header = validate_batch(rest).map_err(|source| LogError::CorruptSegment {
                path: segment.path.clone(),
                position: position + at as u64,
                source: Box::new(source),
            })?;
            if !f(&header, &rest[..total])? {
                return Ok(());
            }
            at += total;
        }
        if at == 0 {
            return Err(LogError::CorruptSegment {
                path: segment.path.clone(),
                position,
                source: Box::new(LogError::InvalidRecordBatch {
                    reason: "batch larger than the cleaner's read buffer",
                }),
            });
        }
        position += at as u64;
    }
    Ok(())
}

/// Fills the worker's map from the dirty section; returns the offset the map covers up to (exclusive).
fn build_offset_map(
    snap: &Snapshot,
    range: &CleanableRange,
    worker: &mut CleanerWorker,
    stats: &mut CleaningStats,
) -> Result<i64, LogError> {
    let mut map = std::mem::take(&mut worker.map);
    if map.memory_bytes() == 0 {
        map = OffsetMap::with_budget(worker.config.dedupe_buffer_bytes);
    }
    map.clear();
    let mut end = range.first_dirty_offset;
    let mut full = false;
    let dirty = snap.closed.iter().filter(|s| {
        s.next_offset > range.first_dirty_offset && s.base_offset < range.first_uncleanable_offset
    });
    // Keys of one batch, hashed before they go into the map in one tight loop (the puts are random
    // writes into a large table: done back to back, their cache misses overlap).
    let mut batch_keys: Vec<(u128, i64)> = Vec::new();
    let result = (|| {
        for segment in dirty {
            for_each_batch(segment, &worker.throttle, |header, bytes| {
                if header.last_offset() < range.first_dirty_offset {
                    return Ok(true);
                }
                let count = header.records_count.max(0) as usize;
                if !header.is_control() && !header.is_transactional() {
                    if !map.is_empty() && map.would_overflow(count) {
                        full = true;
                        return Ok(false);
                    }
                    let (section, _) =
                        decompress(header.compression(), &bytes[RECORD_BATCH_HEADER_BYTES..])?;
                    batch_keys.clear();
                    for record in Records::new(&section) {
                        let record = record?;
                        if let Some(key) = record.key {
                            let offset = header.base_offset + i64::from(record.offset_delta);
                            batch_keys.push((digest(key), offset));
                        }
                    }
                    let stored = batch_keys.iter().fold(true, |all, &(digest, offset)| {
                        map.put(digest, offset) && all
                    });
                    if !stored {
                        return Err(LogError::InvalidRecordBatch {
                            reason: "one batch has more keys than the cleaner's key map holds",
                        });
                    }
                    stats.records_mapped += count as u64;
                }
                end = header.last_offset() + 1;
                Ok(true)
            })?;
            if full {
                break;
            }
            end = end.max(segment.next_offset);
        }
        Ok(end.min(range.first_uncleanable_offset))
    })();
    worker.map = map;
    result
}

/// Groups the closed segments below `end` into runs of at most `segment_bytes`.
fn group_segments(snap: &Snapshot, end: i64) -> Vec<(std::ops::Range<usize>, Group)> {
    let limit = snap.config.segment_bytes.min(SEGMENT_BYTES_MAX);
    let next_base = |i: usize| {
        snap.closed
            .get(i + 1)
            .map_or(snap.active_base_offset, |s| s.base_offset)
    };
    let mut groups = Vec::new();
    let mut i = 0;
    while i < snap.closed.len() && snap.closed[i].base_offset < end {
        let start = i;
        let mut bytes = snap.closed[i].size;
        while i + 1 < snap.closed.len()
            && snap.closed[i + 1].base_offset < end
            && bytes + snap.closed[i + 1].size <= limit
            && next_base(i + 1) - snap.closed[start].base_offset <= i64::from(u32::MAX)
        {
            i += 1;
            bytes += snap.closed[i].size;
        }
        let group = Group {
            base_offsets: snap.closed[start..=i]
                .iter()
                .map(|s| s.base_offset)
                .collect(),
            next_offset: next_base(i),
        };
        groups.push((start..i + 1, group));
        i += 1;
    }
    groups
}

/// Reads a written cleaned file back and checks every batch: CRC32C, increasing offsets inside `[base,
/// next)`. The data on disk, not the buffer it came from, is what the swap commits.
fn verify_cleaned(
    file: &SharedFile,
    path: &Path,
    size: u64,
    group: &Group,
) -> Result<(), LogError> {
    let view = SegmentView {
        base_offset: group.base_offsets[0],
        next_offset: group.next_offset,
        size,
        file: Arc::clone(file),
        path: path.to_path_buf(),
    };
    let mut previous = view.base_offset - 1;
    for_each_batch(&view, &Throttle::unlimited(), |header, _| {
        let in_place = header.base_offset > previous && header.last_offset() < view.next_offset;
        if !in_place {
            return Err(LogError::InvalidRecordBatch {
                reason: "cleaned batch out of place",
            });
        }
        previous = header.last_offset();
        Ok(true)
    })
}

/// A cleaned segment being written: batches are buffered and written in large chunks, indexed as they
/// go through [`LogSegment::account_batch`].
struct CleanedWriter {
    segment: LogSegment,
    file: SharedFile,
    path: PathBuf,
    pending: Vec<u8>,
    written: u64,
    index_interval_bytes: u64,
}

impl CleanedWriter {
    fn create(
        fs: &SharedFs,
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
    ) -> Result<Self, LogError> {
        let segment = LogSegment::create_beside(fs, dir, base_offset, CLEANED_FILE_SUFFIX)?;
        Ok(Self {
            file: segment.file(),
            path: segment.log_path().to_path_buf(),
            segment,
            pending: Vec::with_capacity(WRITE_CHUNK_BYTES),
            written: 0,
            index_interval_bytes,
        })
    }

    fn push(&mut self, batch: &[u8], throttle: &Throttle) -> Result<(), LogError> {
        let header = RecordBatchHeader::parse(batch)?;
        let position = self.written + self.pending.len() as u64;
        self.segment
            .account_batch(&header, position, self.index_interval_bytes)?;
        self.pending.extend_from_slice(batch);
        if self.pending.len() >= WRITE_CHUNK_BYTES {
            self.flush(throttle)?;
        }
        Ok(())
    }

    fn flush(&mut self, throttle: &Throttle) -> Result<(), LogError> {
        self.file
            .write_all_at(&self.pending, self.written)
            .map_err(io_error("write cleaned segment", &self.path))?;
        throttle.acquire(self.pending.len() as u64)?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is buffered, the final time index entry, fsyncs everything and re-reads the file.
    fn finish(mut self, group: &Group, throttle: &Throttle) -> Result<u64, LogError> {
        self.flush(throttle)?;
        self.segment.close_for_roll()?;
        verify_cleaned(&self.file, &self.path, self.written, group)?;
        Ok(self.written)
    }
}

/// Writes the cleaned version of one group beside the originals; fsynced and verified on return.
/// Returns the earliest delete horizon of tombstones it kept.
fn write_cleaned_group(
    snap: &Snapshot,
    segments: &[SegmentView],
    group: &Group,
    ctx: &FilterContext<'_>,
    throttle: &Throttle,
    stats: &mut CleaningStats,
) -> Result<Option<i64>, LogError> {
    let base = group.base_offsets[0];
    let mut writer =
        CleanedWriter::create(&snap.fs, &snap.dir, base, snap.config.index_interval_bytes)?;
    let mut horizon: Option<i64> = None;
    for segment in segments {
        for_each_batch(segment, throttle, |header, bytes| {
            let outcome = filter_batch(header, bytes, ctx)?;
            stats.records_read += outcome.records_read as u64;
            stats.records_kept += outcome.records_kept as u64;
            stats.bytes_read += bytes.len() as u64;
            if let Some(h) = outcome.kept_tombstone_horizon_ms {
                horizon = Some(horizon.map_or(h, |old: i64| old.min(h)));
            }
            match outcome.filtered {
                Filtered::Drop => {}
                Filtered::Keep => writer.push(bytes, throttle)?,
                Filtered::Rewrite(batch) => writer.push(&batch, throttle)?,
            }
            Ok(true)
        })?;
    }
    stats.bytes_written += writer.finish(group, throttle)?;
    Ok(horizon)
}

/// Cleans `log` once if it is cleanable at `now_ms` (with `force`: whenever it has closed segments),
/// holding its lock only for the snapshot and each swap. `Ok(None)` if there was nothing to do. An error
/// leaves the log as it was, or mid-swap as a crash would (recovery at the next open finishes it).
pub fn clean_log(
    log: &RwLock<Log>,
    worker: &mut CleanerWorker,
    now_ms: i64,
    force: bool,
) -> Result<Option<CleaningStats>, LogError> {
    let snap = snapshot(&log.read().unwrap_or_else(PoisonError::into_inner));
    let Some(range) = cleanable_range(
        &snap.summaries,
        snap.active_base_offset,
        snap.first_dirty_offset,
        &snap.config,
        now_ms,
        snap.next_delete_horizon_ms,
        force,
    ) else {
        return Ok(None);
    };
    let mut stats = CleaningStats {
        first_dirty_offset: range.first_dirty_offset,
        ..CleaningStats::default()
    };
    worker.throttle.restart();
    let result = clean_range(log, &snap, &range, worker, now_ms, &mut stats);
    stats.throttled = worker.throttle.waited();
    result.map(|()| Some(stats))
}

/// The round itself, once [`clean_log`] has found a range: map, filter and swap group by group.
fn clean_range(
    log: &RwLock<Log>,
    snap: &Snapshot,
    range: &CleanableRange,
    worker: &mut CleanerWorker,
    now_ms: i64,
    stats: &mut CleaningStats,
) -> Result<(), LogError> {
    let end = build_offset_map(snap, range, worker, stats)?;
    stats.end_offset = end;
    // Recovery allows offset gaps once this file exists: it must before the first swap commits.
    if read_cleaner_checkpoint(snap.fs.as_ref(), &snap.dir)?.is_none() {
        write_cleaner_checkpoint(snap.fs.as_ref(), &snap.dir, range.first_dirty_offset)?;
    }
    let ctx = FilterContext {
        map: &worker.map,
        now_ms,
        delete_retention_ms: snap.config.delete_retention_ms,
        producer_last_offsets: &snap.producer_last_offsets,
    };
    let mut horizon: Option<i64> = None;
    for (indexes, group) in group_segments(snap, end) {
        if worker.stop.is_stopped() {
            return Ok(());
        }
        let written = write_cleaned_group(
            snap,
            &snap.closed[indexes],
            &group,
            &ctx,
            &worker.throttle,
            stats,
        );
        let group_horizon = match written {
            Ok(h) => h,
            Err(e) => {
                discard_cleaned(snap.fs.as_ref(), &snap.dir, group.base_offsets[0])?;
                return Err(e);
            }
        };
        let mut guard = log.write().unwrap_or_else(PoisonError::into_inner);
        if !guard.swap_in_cleaned(&group, worker.config.crash_hook.as_ref())? {
            // Retention changed the log meanwhile; the next round starts from a fresh snapshot.
            return Ok(());
        }
        drop(guard);
        if let Some(h) = group_horizon {
            horizon = Some(horizon.map_or(h, |old| old.min(h)));
        }
        stats.segments_cleaned += group.base_offsets.len() as u64;
        stats.segments_written += 1;
    }
    log.write()
        .unwrap_or_else(PoisonError::into_inner)
        .finish_cleaning(end, horizon)?;
    Ok(())
}
