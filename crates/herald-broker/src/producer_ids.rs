//! Producer ids for idempotent producers (InitProducerId), unique across restarts.
//!
//! Ids are handed out from blocks: before the first id of a block is used, the end of the block is
//! written to `<data_dir>/producer_ids` (atomically, fsynced). After a crash the broker starts at the
//! persisted end, skipping the rest of the block, so no id is ever handed out twice; a partition's
//! idempotence state (kept by herald-log) can then never be confused by a reused id.
//! Not here: sequence checks (herald-log does them on append). Main type: [`ProducerIdAllocator`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::topics::write_atomically;
use crate::BrokerError;

/// Ids reserved per write of the block file.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug)]
struct Allocation {
    next: i64,
    reserved_until: i64,
}

/// Allocates producer ids.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    allocation: Mutex<Allocation>,
}

impl ProducerIdAllocator {
    /// Reads the persisted block end (0 for a new data directory). Blocking.
    pub fn open(data_dir: &Path) -> Result<Self, BrokerError> {
        let path = data_dir.join("producer_ids");
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| {
                BrokerError::io(
                    "parse",
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(BrokerError::io("read", &path, e)),
        };
        Ok(Self {
            path,
            allocation: Mutex::new(Allocation {
                next: start,
                reserved_until: start,
            }),
        })
    }

    /// The next unused producer id. Writes the block file once per block.
    pub fn allocate(&self) -> Result<i64, BrokerError> {
        let mut allocation = self
            .allocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if allocation.next >= allocation.reserved_until {
            let reserved_until = allocation.next + PRODUCER_ID_BLOCK_SIZE;
            write_atomically(&self.path, reserved_until.to_string().as_bytes())?;
            allocation.reserved_until = reserved_until;
        }
        let id = allocation.next;
        allocation.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ids keep increasing across a reopen of the same directory (no id is handed out twice).
    #[test]
    fn ids_are_unique_across_reopen() -> Result<(), BrokerError> {
        let dir = tempfile::tempdir().map_err(|e| BrokerError::io("tempdir", Path::new("."), e))?;
        let first = ProducerIdAllocator::open(dir.path())?;
        let a = first.allocate()?;
        let b = first.allocate()?;
        assert!(b > a);
        drop(first);
        let second = ProducerIdAllocator::open(dir.path())?;
        let c = second.allocate()?;
        assert!(c > b, "{c} must be above {b}");
        Ok(())
    }
}
