//! `--contention-mb-per-second`: a background writer on the same disk as the systems' data
//! directories, identical for every system because it runs for the whole benchmark. It writes 1 MiB
//! chunks at the given rate into one file in the temp dir (where every system's data dir is) and
//! fdatasyncs each chunk, so that the systems' own fsyncs queue behind foreign writes, as on a
//! machine that other processes share. The file wraps at 256 MiB so the disk does not fill.
//! Main type: [`Contention`].

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CHUNK_BYTES: usize = 1 << 20;
const FILE_BYTES_MAX: u64 = 256 << 20;

/// What the writer did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentionStats {
    /// Bytes written and synced.
    pub bytes: u64,
    /// How long it ran.
    pub seconds: f64,
}

impl ContentionStats {
    /// Achieved megabytes (10^6 B) per second.
    pub fn megabytes_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// The running background writer; [`Contention::stop`] ends it and removes its file.
#[derive(Debug)]
pub struct Contention {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<std::io::Result<ContentionStats>>,
    path: PathBuf,
}

impl Contention {
    /// Starts writing `megabytes_per_second` (10^6 B) into a new file under `dir`.
    pub fn start(dir: &Path, megabytes_per_second: u64) -> std::io::Result<Contention> {
        let path = dir.join(format!("herald-bench-contention-{}", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let bytes_per_second = megabytes_per_second.saturating_mul(1_000_000).max(1);
        let handle = std::thread::Builder::new()
            .name("bench-contention".into())
            .spawn(move || write_until_stopped(file, bytes_per_second, &flag))?;
        Ok(Contention { stop, handle, path })
    }

    /// Stops the writer, removes its file, and reports what it wrote.
    pub fn stop(self) -> std::io::Result<ContentionStats> {
        self.stop.store(true, Ordering::Relaxed);
        let result = self
            .handle
            .join()
            .map_err(|_| std::io::Error::other("the contention writer panicked"))?;
        let _ = std::fs::remove_file(&self.path);
        result
    }
}

fn write_until_stopped(
    mut file: File,
    bytes_per_second: u64,
    stop: &AtomicBool,
) -> std::io::Result<ContentionStats> {
    // Not zeros: a file system that compresses or dedupes must still write every byte.
    let chunk: Vec<u8> = (0..CHUNK_BYTES)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let started = Instant::now();
    let mut written: u64 = 0;
    let mut position: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        // Pace by the clock: the bytes due by now, then sleep until the next chunk is due.
        let due = (started.elapsed().as_secs_f64() * bytes_per_second as f64) as u64;
        if written >= due {
            let ahead = (written + CHUNK_BYTES as u64 - due) as f64 / bytes_per_second as f64;
            std::thread::sleep(Duration::from_secs_f64(ahead.min(0.05)));
            continue;
        }
        if position >= FILE_BYTES_MAX {
            file.seek(SeekFrom::Start(0))?;
            position = 0;
        }
        file.write_all(&chunk)?;
        file.sync_data()?;
        written += CHUNK_BYTES as u64;
        position += CHUNK_BYTES as u64;
    }
    Ok(ContentionStats {
        bytes: written,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The writer writes (and removes its file at the end); its rate is bounded by the pacing.
    #[test]
    fn writes_at_most_its_rate_and_cleans_up() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let contention = Contention::start(dir.path(), 20)?;
        let path = contention.path.clone();
        // Wait until it has written something, by watching the file (no fixed sleep).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).map_or(0, |m| m.len()) < (2 * CHUNK_BYTES) as u64 {
            assert!(Instant::now() < deadline, "nothing written in 10 s");
            std::thread::yield_now();
        }
        let stats = contention.stop()?;
        assert!(stats.bytes >= (2 * CHUNK_BYTES) as u64);
        // Pacing: never more than the rate allows plus one chunk.
        let allowed = stats.seconds * 20e6 + CHUNK_BYTES as f64;
        assert!((stats.bytes as f64) <= allowed, "{stats:?} above 20 MB/s");
        assert!(!path.exists(), "the file is removed");
        Ok(())
    }
}
