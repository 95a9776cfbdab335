//! [`OffsetMap`]: key digest -> latest offset, in a fixed memory budget (Kafka's `SkimpyOffsetMap`,
//! sized by `log.cleaner.dedupe.buffer.size`).
//!
//! Keys are hashed to 128-bit XXH3 digests and stored with their offset in one open-addressing table
//! with linear probing, allocated once from the budget (24 bytes per slot). The table is "full" at
//! [`OffsetMap::LOAD_FACTOR`] of its slots, as Kafka's is at its dedupe buffer load factor; the cleaner
//! then stops mapping and cleans up to the last offset mapped, leaving the rest for a later pass. A digest
//! collision between two keys (about 2^-64 per pair of keys for a full map of a few million keys) would
//! make the older key's latest record look superseded: the same probabilistic bet as Kafka's MD5 digests.

/// Bytes per slot: a 16-byte digest and an 8-byte offset.
pub const OFFSET_MAP_SLOT_BYTES: usize = 24;
/// Smallest usable budget: enough slots for one large batch of small records.
pub const OFFSET_MAP_BYTES_MIN: usize = 64 * 1024;
/// Marks an empty slot (offsets are never negative).
const EMPTY: i64 = -1;

/// A bounded map from key digest to the latest offset seen for it. `Default` is an empty map with no
/// memory (a placeholder while the real one is lent out).
#[derive(Debug, Default)]
pub struct OffsetMap {
    /// Digest and offset side by side, so that a probe touches one cache line.
    slots: Vec<Slot>,
    entries: usize,
    /// Largest offset inserted, or -1.
    latest_offset: i64,
}

/// One slot: the digest's two halves and the offset (`EMPTY` when free).
#[derive(Debug, Clone, Copy)]
struct Slot {
    digest: [u64; 2],
    offset: i64,
}

const FREE: Slot = Slot {
    digest: [0, 0],
    offset: EMPTY,
};

fn halves(digest: u128) -> [u64; 2] {
    [digest as u64, (digest >> 64) as u64]
}

/// The 128-bit digest of a key.
pub fn digest(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

impl OffsetMap {
    /// Fraction of slots filled before the map reports itself full (Kafka's default 0.9).
    pub const LOAD_FACTOR: f64 = 0.9;

    /// A map using about `budget_bytes` of memory (at least [`OFFSET_MAP_BYTES_MIN`]).
    pub fn with_budget(budget_bytes: usize) -> Self {
        let slots = budget_bytes.max(OFFSET_MAP_BYTES_MIN) / OFFSET_MAP_SLOT_BYTES;
        Self {
            slots: vec![FREE; slots],
            entries: 0,
            latest_offset: -1,
        }
    }

    /// Memory held by the table, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * OFFSET_MAP_SLOT_BYTES
    }

    /// Number of distinct digests stored.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries the map takes before it reports itself full.
    pub fn capacity(&self) -> usize {
        ((self.slots.len() as f64) * Self::LOAD_FACTOR) as usize
    }

    /// Whether `additional` more keys may no longer fit under the load factor.
    pub fn would_overflow(&self, additional: usize) -> bool {
        self.entries + additional > self.capacity()
    }

    /// Largest offset inserted so far, or -1.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Empties the map, keeping its memory.
    pub fn clear(&mut self) {
        self.slots.fill(FREE);
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn slot(&self, digest: u128) -> usize {
        // The low bits of XXH3 are uniformly distributed: reduce them to a slot index.
        ((digest as u64 as u128 * self.slots.len() as u128) >> 64) as usize
    }

    /// Records `offset` as the latest for the key with `digest`. Returns false (and stores nothing) only
    /// if every slot is taken, which the caller avoids by checking [`OffsetMap::would_overflow`].
    pub fn put(&mut self, digest: u128, offset: i64) -> bool {
        debug_assert!(offset >= 0, "offsets are never negative");
        let len = self.slots.len();
        let wanted = halves(digest);
        let mut slot = self.slot(digest);
        for _ in 0..len {
            let entry = &mut self.slots[slot];
            if entry.offset == EMPTY {
                *entry = Slot {
                    digest: wanted,
                    offset,
                };
                self.entries += 1;
                self.latest_offset = self.latest_offset.max(offset);
                return true;
            }
            if entry.digest == wanted {
                entry.offset = entry.offset.max(offset);
                self.latest_offset = self.latest_offset.max(offset);
                return true;
            }
            slot = if slot + 1 == len { 0 } else { slot + 1 };
        }
        false
    }

    /// The latest offset recorded for `digest`, or `None`.
    pub fn get(&self, digest: u128) -> Option<i64> {
        let len = self.slots.len();
        let wanted = halves(digest);
        let mut slot = self.slot(digest);
        for _ in 0..len {
            let entry = &self.slots[slot];
            if entry.offset == EMPTY {
                return None;
            }
            if entry.digest == wanted {
                return Some(entry.offset);
            }
            slot = if slot + 1 == len { 0 } else { slot + 1 };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // the latest offset per key wins, absent keys are absent, and the map fills at its load factor
    #[test]
    fn latest_offset_per_key_within_budget() {
        let mut map = OffsetMap::with_budget(OFFSET_MAP_BYTES_MIN);
        assert!(map.memory_bytes() <= OFFSET_MAP_BYTES_MIN);
        let capacity = map.capacity();
        for i in 0..capacity {
            assert!(!map.would_overflow(1));
            assert!(map.put(digest(format!("k{i}").as_bytes()), i as i64));
        }
        assert!(map.would_overflow(1));
        map.put(digest(b"k3"), 1_000_000);
        map.put(digest(b"k3"), 5);
        assert_eq!(map.get(digest(b"k3")), Some(1_000_000));
        assert_eq!(map.get(digest(b"k4")), Some(4));
        assert_eq!(map.get(digest(b"absent")), None);
        assert_eq!(map.len(), capacity);
        assert_eq!(map.latest_offset(), 1_000_000);
        map.clear();
        assert!(map.is_empty());
        assert_eq!(map.get(digest(b"k3")), None);
    }
}
