//! Recovery of a swap a crash interrupted (`swap.rs` describes the steps), and the file operations
//! the swap and its recovery share. Apart from `swap.rs` so that recovery, which the log runs at open,
//! does not depend on the log itself.

use std::path::Path;

use crate::batch::{validate_batch, LOG_OVERHEAD_BYTES};
use crate::checkpoint::sync_dir;
use crate::error::{io_error, LogError};
use crate::fs::FileSystem;
use crate::segment::{segment_path, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX};

/// Suffix of the files of a cleaned segment being written.
pub const CLEANED_FILE_SUFFIX: &str = "cleaned";
/// Suffix of the files of a cleaned segment being swapped in.
pub const SWAP_FILE_SUFFIX: &str = "swap";

pub(super) fn suffixed(
    dir: &Path,
    base_offset: i64,
    file: &str,
    suffix: &str,
) -> std::path::PathBuf {
    segment_path(dir, base_offset, &format!("{file}.{suffix}"))
}

pub(super) fn rename(
    fs: &dyn FileSystem,
    dir: &Path,
    base_offset: i64,
    file: &str,
    from: &str,
    to: Option<&str>,
) -> Result<(), LogError> {
    let source = suffixed(dir, base_offset, file, from);
    let target = match to {
        Some(to) => suffixed(dir, base_offset, file, to),
        None => segment_path(dir, base_offset, file),
    };
    fs.rename(&source, &target)
        .map_err(io_error("rename cleaned segment file", &source))
}

pub(super) fn remove_if_exists(fs: &dyn FileSystem, path: &Path) -> Result<(), LogError> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("delete file", path)(e)),
    }
}

pub(super) fn remove_segment_files(
    fs: &dyn FileSystem,
    dir: &Path,
    base_offset: i64,
) -> Result<(), LogError> {
    for file in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        remove_if_exists(fs, &segment_path(dir, base_offset, file))?;
    }
    Ok(())
}

/// Deletes the `.cleaned` files of a group whose swap was abandoned before it started.
pub(crate) fn discard_cleaned(
    fs: &dyn FileSystem,
    dir: &Path,
    base_offset: i64,
) -> Result<(), LogError> {
    for file in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        remove_if_exists(fs, &suffixed(dir, base_offset, file, CLEANED_FILE_SUFFIX))?;
    }
    Ok(())
}

/// The offset after the last valid batch of a swap file, or `base_offset` if it holds none.
fn swap_next_offset(fs: &dyn FileSystem, path: &Path, base_offset: i64) -> Result<i64, LogError> {
    let bytes = fs.read(path).map_err(io_error("read swap file", path))?;
    let mut at = 0;
    let mut next = base_offset;
    while at + LOG_OVERHEAD_BYTES <= bytes.len() {
        match validate_batch(&bytes[at..]) {
            Ok(header) if header.base_offset >= next => {
                next = header.last_offset() + 1;
                at += header.total_bytes();
            }
            _ => break,
        }
    }
    Ok(next)
}

/// Base offset of a `{base:020}.{file}.{suffix}` name.
fn parse_name(name: &str) -> Option<(i64, &str, &str)> {
    let mut parts = name.splitn(3, '.');
    let stem = parts.next()?;
    let file = parts.next()?;
    let suffix = parts.next()?;
    let canonical = stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit());
    Some((stem.parse().ok().filter(|_| canonical)?, file, suffix))
}

/// Finishes or rolls back every swap a crash interrupted in `dir` (see the module doc). Returns whether
/// a committed swap was finished.
pub fn recover_interrupted_swaps(fs: &dyn FileSystem, dir: &Path) -> Result<bool, LogError> {
    let entries = fs
        .list_dir(dir)
        .map_err(io_error("list log directory", dir))?;
    let mut names = Vec::new();
    for entry in entries {
        if let Some(name) = entry.file_name().and_then(|n| n.to_str()) {
            names.push(name.to_string());
        }
    }
    let mut committed: Vec<i64> = names
        .iter()
        .filter_map(|n| parse_name(n))
        .filter(|&(_, file, suffix)| file == LOG_FILE_SUFFIX && suffix == SWAP_FILE_SUFFIX)
        .map(|(base, _, _)| base)
        .collect();
    committed.sort_unstable();
    let mut changed = false;
    for name in &names {
        let Some((base, _, suffix)) = parse_name(name) else {
            continue;
        };
        let uncommitted_swap =
            suffix == SWAP_FILE_SUFFIX && committed.binary_search(&base).is_err();
        if suffix == CLEANED_FILE_SUFFIX || uncommitted_swap {
            tracing::info!(dir = %dir.display(), file = %name, "recovery: deleting uncommitted cleaned file");
            remove_if_exists(fs, &dir.join(name))?;
            changed = true;
        }
    }
    let bases = segment_bases(&names);
    for &base in &committed {
        finish_swap(fs, dir, base, &bases)?;
        changed = true;
    }
    if changed {
        sync_dir(fs, dir)?;
    }
    Ok(!committed.is_empty())
}

fn segment_bases(names: &[String]) -> Vec<i64> {
    names
        .iter()
        .filter_map(|n| {
            let (stem, ext) = n.split_once('.')?;
            let canonical = stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit());
            (canonical && ext == LOG_FILE_SUFFIX).then(|| stem.parse().ok())?
        })
        .collect()
}

fn finish_swap(fs: &dyn FileSystem, dir: &Path, base: i64, bases: &[i64]) -> Result<(), LogError> {
    let swap_path = suffixed(dir, base, LOG_FILE_SUFFIX, SWAP_FILE_SUFFIX);
    let next = swap_next_offset(fs, &swap_path, base)?;
    for &other in bases.iter().filter(|&&b| b > base && b < next) {
        remove_segment_files(fs, dir, other)?;
    }
    for file in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        remove_if_exists(fs, &segment_path(dir, base, file))?;
        remove_if_exists(fs, &suffixed(dir, base, file, SWAP_FILE_SUFFIX))?;
    }
    fs.rename(&swap_path, &segment_path(dir, base, LOG_FILE_SUFFIX))
        .map_err(io_error("rename swap file", &swap_path))?;
    tracing::warn!(dir = %dir.display(), base_offset = base, next_offset = next, "recovery: finished an interrupted cleaner swap");
    Ok(())
}
