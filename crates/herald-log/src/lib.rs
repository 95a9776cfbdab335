//! herald-log: the storage engine of herald-broker.
//!
//! One [`Log`] is one partition: a directory of segments named by base offset (`{:020}.log`) with a sparse
//! offset index (`.index`, 8-byte entries) and a sparse time index (`.timeindex`, 12-byte entries), as in
//! Apache Kafka. Record batches (magic v2) are stored verbatim; only `baseOffset` and
//! `partitionLeaderEpoch` are patched, which leaves the CRC32C valid because it covers the bytes after
//! them.
//!
//! This crate is synchronous file code (every file operation goes through [`fs::FileSystem`]: `std::fs`
//! by default, the simulated power-loss disk of `simulation` under the `simulation` feature) with no async runtime and no protocol crate: it knows the
//! 61-byte record-batch header and CRC32C, the offsets and timestamps of the records inside a batch
//! (ListOffsets), and, for the log cleaner, the records themselves and their codecs. The broker wraps
//! each `Log` in a lock and does fsyncs outside it through [`FlushTarget`] so that one fsync covers
//! every append that arrived meanwhile (group commit).
//!
//! Layout of the crate, by role:
//! - [`log`]: the [`Log`] API (append, read, flush targets, timestamps); [`retention`] adds
//!   `apply_retention`, [`delete_records`] `delete_records_before` (DeleteRecords).
//! - [`segment`]: [`segment::LogSegment`], one data file plus its indexes, positional reads.
//! - [`index`]: [`index::OffsetIndex`] and [`index::TimeIndex`], pure lookup math plus their files.
//! - [`recovery`]: [`recovery::LogLoader`], what `Log::open` runs: checkpoint, CRC validation,
//!   truncation of a torn tail, index rebuilds.
//! - [`producer_state`]: idempotent-producer sequence checks and their snapshot.
//! - [`checkpoint`]: the recovery-point and cleaner checkpoints and atomic small-file writes.
//! - [`cleaner`]: the log cleaner (Kafka's log compaction): [`Cleaner`] thread, [`clean_log`], the
//!   record codecs, the bounded key map and the crash-safe segment swap.
//! - [`batch`]: the record-batch v2 header and CRC32C validation.
//! - [`records`]: record offsets and timestamps inside a batch (ListOffsets), through [`codec`]'s
//!   decompressing readers.
//! - [`codec`]: every compression codec, for ListOffsets, the cleaner and recompression.
//! - [`recompress`]: a produced batch rewritten with its topic's `compression.type`.
//!
//! Files in a partition directory: `{base:020}.log|.index|.timeindex` per segment,
//! `recovery-point-checkpoint` (offset below which everything was fsynced and where it lies in the
//! active segment, so that recovery resumes there; written at every roll and flush and, by group
//! commits, at most every [`log::RECOVERY_CHECKPOINT_INTERVAL`]), `producer-state-snapshot`
//! (idempotent-producer state at that offset), `clean-shutdown` (left by [`Log::close`], deleted at
//! open), once DeleteRecords moved it, `log-start-offset-checkpoint` (the log start offset, possibly
//! inside the first segment) and, once compacted, `cleaner-offset-checkpoint` (first offset the cleaner has not cleaned
//! yet).
//!
//! Main types: [`Log`], [`LogConfig`], [`RecordBatchHeader`], [`LogError`].

pub mod batch;
pub mod checkpoint;
pub mod cleaner;
pub mod codec;
pub mod config;
pub mod delete_records;
pub mod error;
pub mod fs;
pub mod index;
pub mod log;
pub mod producer_state;
pub mod recompress;
pub mod records;
pub mod recovery;
pub mod retention;
pub mod segment;
#[cfg(feature = "simulation")]
pub mod simulation;

pub use batch::{RecordBatchHeader, RECORD_BATCH_HEADER_BYTES};
pub use cleaner::records::{batch_has_keyless_records, keyless_record_indices};
pub use cleaner::{clean_log, Cleaner, CleanerConfig, CleaningStats, LogSource, SharedLog};
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use error::LogError;
pub use log::{AppendInfo, FlushTarget, Log};
pub use recompress::{needs_recompression, recompress_batches, Recompression};
