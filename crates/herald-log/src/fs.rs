//! The narrow file-system interface every file operation of herald-log goes through: [`FileSystem`]
//! (names: open, rename, remove, list, directory fsync) and [`StorageFile`] (one open file: positional
//! reads and writes, length, fsync).
//!
//! [`RealFs`] is `std::fs` and the default of [`crate::Log::open`]. Behind the `simulation` feature,
//! [`crate::simulation`] provides an in-memory disk that loses unsynced data at a simulated power
//! failure, for crash tests. What this is not: a buffering layer. Every call maps to one system call
//! of the real implementation; the indirection is one virtual call per system call.

use std::fmt::Debug;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open file, shared between the log, readers and flush targets.
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// fdatasync.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync.
    fn sync_all(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        self.len().map(|len| len == 0)
    }

    /// Fills `buf` from `offset`; `UnexpectedEof` if the file ends before.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "failed to fill whole buffer",
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A shared open file.
pub type SharedFile = Arc<dyn StorageFile>;
/// A shared file system.
pub type SharedFs = Arc<dyn FileSystem>;

/// How [`FileSystem::open`] opens a file (always for reading and writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenMode {
    /// Create the file if it does not exist.
    pub create: bool,
    /// Truncate it to zero bytes.
    pub truncate: bool,
}

impl OpenMode {
    /// Open an existing file or create it, keeping its content.
    pub const CREATE: OpenMode = OpenMode {
        create: true,
        truncate: false,
    };
    /// Create the file or truncate an existing one.
    pub const CREATE_TRUNCATE: OpenMode = OpenMode {
        create: true,
        truncate: true,
    };
    /// Open an existing file; `NotFound` otherwise.
    pub const EXISTING: OpenMode = OpenMode {
        create: false,
        truncate: false,
    };
}

/// The directory-level operations herald-log needs.
pub trait FileSystem: Send + Sync + Debug {
    /// Opens `path` for reading and writing.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<SharedFile>;
    /// The whole content of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Deletes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The paths of the entries of a directory (any order).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// fsyncs a directory, making its entries' creations, renames and deletions durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` exists (file or directory).
    fn exists(&self, path: &Path) -> bool;
    /// Length of the file at `path`.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Last modification time of the file at `path`, as (seconds, nanoseconds) since the epoch: the
    /// clean-shutdown marker records it to notice files changed behind the log's back.
    fn modified(&self, path: &Path) -> io::Result<(u64, u32)>;
}

/// `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

/// The real file system, shared.
pub fn real() -> SharedFs {
    Arc::new(RealFs)
}

impl StorageFile for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        std::fs::File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        std::fs::File::sync_all(self)
    }

    fn len(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
}

impl FileSystem for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<SharedFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode.create)
            .truncate(mode.truncate)
            .open(path)?;
        Ok(Arc::new(file))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }

    fn modified(&self, path: &Path) -> io::Result<(u64, u32)> {
        let since = std::fs::metadata(path)?
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok((since.as_secs(), since.subsec_nanos()))
    }
}
