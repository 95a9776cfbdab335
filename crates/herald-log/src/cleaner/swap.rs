//! Crash-safe replacement of a group of segments by their cleaned version, and the recovery of a swap a
//! crash interrupted.
//!
//! A group `[B, E)` (segments with base offsets `B = b1 < b2 < ... < bn`, up to the next segment's base
//! `E`) is replaced by one cleaned segment with base offset `B`, in these steps, each a [`SwapStep`]:
//! 1. `B.log.cleaned`, `B.index.cleaned`, `B.timeindex.cleaned` are written, fsynced and re-checked
//!    (every CRC32C) beside the originals.
//! 2. The two index files are renamed to `.swap`; directory fsync.
//! 3. `B.log.cleaned` is renamed to `B.log.swap`; directory fsync. **This is the commit point.**
//! 4. The segments `b2..bn` are deleted; directory fsync.
//! 5. The index `.swap` files are renamed over `B.index` / `B.timeindex`; directory fsync.
//! 6. `B.log.swap` is renamed over `B.log`; directory fsync.
//!
//! Recovery ([`recover_interrupted_swaps`] in `swap_recovery.rs`, run first by `LogLoader`): `.cleaned` files and index `.swap`
//! files without a `B.log.swap` are a swap that never committed and are deleted (the originals are
//! intact). A `B.log.swap` is a committed swap and is finished: the swap file is scanned for the offset
//! after its last batch `N`, every segment with a base offset in `(B, N)` is deleted (a segment with a base
//! at or after `N` holds no record the cleaned segment kept, so keeping it only keeps superseded
//! records), `B`'s index files are deleted so that the loader rebuilds them from the data, and the swap
//! file is renamed to `B.log`. Every latest record is in whichever version of each offset range
//! survives, so a crash at any step loses none.

use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::sync_dir;
use crate::error::LogError;
use crate::log::Log;
use crate::segment::{LogSegment, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX};

use super::swap_recovery::{discard_cleaned, remove_segment_files, rename};
pub use super::swap_recovery::{recover_interrupted_swaps, CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX};

/// The steps of a swap, in order; a [`CrashHook`] may stop the swap right after any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SwapStep {
    CleanedWritten,
    IndexesRenamedToSwap,
    LogRenamedToSwap,
    OldSegmentsDeleted,
    IndexesInstalled,
    LogInstalled,
}

impl SwapStep {
    pub const ALL: [SwapStep; 6] = [
        SwapStep::CleanedWritten,
        SwapStep::IndexesRenamedToSwap,
        SwapStep::LogRenamedToSwap,
        SwapStep::OldSegmentsDeleted,
        SwapStep::IndexesInstalled,
        SwapStep::LogInstalled,
    ];
}

/// Fault injection for tests: called after each step; `true` stops the swap there, leaving the files as
/// a crash would, and makes the clean fail (the `Log` must then be dropped and reopened).
pub type CrashHook = Arc<dyn Fn(SwapStep) -> bool + Send + Sync>;

fn injected(step: SwapStep, dir: &Path) -> LogError {
    LogError::Io {
        operation: "log cleaner swap (crash injected)",
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!("crash injected after {step:?}")),
    }
}

/// The group being replaced: base offsets of its segments and the offset after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub base_offsets: Vec<i64>,
    pub next_offset: i64,
}

impl Log {
    /// Swaps the fsynced, re-checked `.cleaned` files of `group` in (steps 2-6 above) and replaces the
    /// group's segments in memory. Called under the log's write lock. `Ok(false)` if the log no longer
    /// holds exactly that group (retention deleted part of it meanwhile): the cleaned files are discarded.
    pub(crate) fn swap_in_cleaned(
        &mut self,
        group: &Group,
        hook: Option<&CrashHook>,
    ) -> Result<bool, LogError> {
        let dir = self.dir().to_path_buf();
        let fs = self.fs();
        let fs_ref = fs.as_ref();
        let Some(first) = self.segment_position(group) else {
            discard_cleaned(fs_ref, &dir, group.base_offsets[0])?;
            return Ok(false);
        };
        let crash = |step| match hook {
            Some(hook) if hook(step) => Err(injected(step, &dir)),
            _ => Ok(()),
        };
        let base = group.base_offsets[0];
        crash(SwapStep::CleanedWritten)?;
        for file in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            rename(
                fs_ref,
                &dir,
                base,
                file,
                CLEANED_FILE_SUFFIX,
                Some(SWAP_FILE_SUFFIX),
            )?;
        }
        sync_dir(fs_ref, &dir)?;
        crash(SwapStep::IndexesRenamedToSwap)?;
        rename(
            fs_ref,
            &dir,
            base,
            LOG_FILE_SUFFIX,
            CLEANED_FILE_SUFFIX,
            Some(SWAP_FILE_SUFFIX),
        )?;
        sync_dir(fs_ref, &dir)?;
        crash(SwapStep::LogRenamedToSwap)?;
        for &other in &group.base_offsets[1..] {
            remove_segment_files(fs_ref, &dir, other)?;
        }
        sync_dir(fs_ref, &dir)?;
        crash(SwapStep::OldSegmentsDeleted)?;
        for file in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            rename(fs_ref, &dir, base, file, SWAP_FILE_SUFFIX, None)?;
        }
        sync_dir(fs_ref, &dir)?;
        crash(SwapStep::IndexesInstalled)?;
        rename(fs_ref, &dir, base, LOG_FILE_SUFFIX, SWAP_FILE_SUFFIX, None)?;
        sync_dir(fs_ref, &dir)?;
        crash(SwapStep::LogInstalled)?;
        let mut cleaned = LogSegment::open_trusted(&fs, &dir, base, group.next_offset)?.ok_or(
            LogError::InvalidRecordBatch {
                reason: "cleaned segment indexes inconsistent after the swap",
            },
        )?;
        cleaned.allow_offset_gaps();
        let range = first..first + group.base_offsets.len();
        self.segments_mut().splice(range, [cleaned]);
        Ok(true)
    }

    /// Index in the segment list of the group's first segment, if the log still holds the whole group.
    fn segment_position(&self, group: &Group) -> Option<usize> {
        let segments = self.segments();
        let first = segments
            .iter()
            .position(|s| s.base_offset() == group.base_offsets[0])?;
        let held = segments.get(first..first + group.base_offsets.len())?;
        let same = held
            .iter()
            .zip(&group.base_offsets)
            .all(|(s, &base)| s.base_offset() == base);
        // The group never includes the active segment.
        let not_active = first + group.base_offsets.len() < segments.len();
        let next_matches = segments
            .get(first + group.base_offsets.len())
            .is_some_and(|s| s.base_offset() == group.next_offset);
        (same && not_active && next_matches).then_some(first)
    }
}
