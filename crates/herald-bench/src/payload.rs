//! Record payloads and pacing: every payload carries its send time and sequence number, so a consumer
//! in the same process can measure end-to-end latency; a `Pacer` spaces sends at a fixed rate.
//!
//! Not a wire format of any system: the bytes are opaque to every broker. Main types: `Pacer`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bytes at the head of every payload: send time (8) and sequence number (8), little-endian.
pub const HEADER_BYTES: usize = 16;

/// The process-wide clock origin; producers and consumers share it because they share the process.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Nanoseconds since the process-wide origin.
pub fn now_nanos() -> u64 {
    u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A payload of `size` bytes (at least `HEADER_BYTES`) stamped with now and `seq`.
pub fn stamped(size: usize, seq: u64) -> Vec<u8> {
    let mut payload = vec![b'x'; size.max(HEADER_BYTES)];
    payload[0..8].copy_from_slice(&now_nanos().to_le_bytes());
    payload[8..16].copy_from_slice(&seq.to_le_bytes());
    payload
}

/// The (send time, sequence number) a payload carries; `None` for a foreign or short payload.
pub fn read_stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let sent = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((sent, seq))
}

/// Spaces sends at a fixed rate from a start instant: record `i` of a run is due at start + i / rate.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    interval: Duration,
}

impl Pacer {
    /// A pacer starting now at `records_per_second`.
    pub fn new(records_per_second: u64) -> Self {
        Self {
            start: Instant::now(),
            interval: Duration::from_nanos(1_000_000_000 / records_per_second.max(1)),
        }
    }

    /// The same rate starting now: for a producer that had to get ready after the pacer was made.
    pub fn restarted(&self) -> Self {
        Self {
            start: Instant::now(),
            interval: self.interval,
        }
    }

    /// When record `index` (counted from this pacer's start) is due.
    pub fn due(&self, index: u64) -> Instant {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(index));
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many records from `index` on are due by now, at most `max`.
    fn due_now(&self, index: u64, max: u64) -> u64 {
        let elapsed = self.start.elapsed().as_nanos();
        let due_total = elapsed / self.interval.as_nanos().max(1) + 1;
        let due = u64::try_from(due_total).unwrap_or(u64::MAX);
        due.saturating_sub(index).clamp(1, max.max(1))
    }

    /// Waits until record `index` is due, then says how many are due (1..=max).
    pub async fn ready(&self, index: u64, max: u64) -> u64 {
        tokio::time::sleep_until(self.due(index).into()).await;
        self.due_now(index, max)
    }

    /// The blocking form of `ready`, for client libraries with their own threads.
    pub fn ready_blocking(&self, index: u64, max: u64) -> u64 {
        let due = self.due(index);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.due_now(index, max)
    }
}

/// How many records the next send covers: everything up to `max` unpaced, or what is due when paced.
pub async fn next_chunk(pacer: Option<&Pacer>, index: u64, remaining: u64, max: u64) -> u64 {
    let max = max.min(remaining);
    match pacer {
        Some(pacer) => pacer.ready(index, max).await,
        None => max,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // A stamped payload has the asked size and reads back its sequence number and a plausible time.
    #[test]
    fn stamp_round_trips() {
        let before = now_nanos();
        let payload = stamped(100, 42);
        assert_eq!(payload.len(), 100);
        let (sent, seq) = read_stamp(&payload).unwrap();
        assert_eq!(seq, 42);
        assert!(sent >= before);
        assert_eq!(read_stamp(&payload[..10]), None);
    }

    // A pacer at 1,000 records/s spaces record 500 half a second after its start.
    #[test]
    fn pacer_spaces_records() {
        let pacer = Pacer::new(1_000);
        assert_eq!(pacer.due(500) - pacer.due(0), Duration::from_millis(500));
        assert_eq!(pacer.ready_blocking(0, 10), 1);
    }
}
