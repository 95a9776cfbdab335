//! A micro measurement of the log layer, not a benchmark suite: appends N batches of B bytes to a
//! fresh log in a temp dir (no fsync per append, like acks=0/`never` flush policy), group-commits with
//! one `flush_target().sync()` at the end, reads everything back in 1 MiB fetches, then measures how
//! long `Log::open` takes to recover the directory without a checkpoint (every batch CRC-checked).
//!
//! Run: `cargo run --release -p herald-log --example throughput -- [batches] [record_bytes]`

use std::time::Instant;

use herald_log::{Log, LogConfig};

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One v2 batch with one record of `value_bytes` bytes and a valid CRC32C.
fn batch(value_bytes: usize, timestamp: i64) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varint(&mut body, 0);
    put_varint(&mut body, 0);
    put_varint(&mut body, -1);
    put_varint(&mut body, value_bytes as i64);
    body.extend(std::iter::repeat_n(b'v', value_bytes));
    put_varint(&mut body, 0);
    let mut record = Vec::new();
    put_varint(&mut record, body.len() as i64);
    record.extend(body);

    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&0i16.to_be_bytes());
    after_crc.extend_from_slice(&0i32.to_be_bytes());
    after_crc.extend_from_slice(&timestamp.to_be_bytes());
    after_crc.extend_from_slice(&timestamp.to_be_bytes());
    after_crc.extend_from_slice(&(-1i64).to_be_bytes());
    after_crc.extend_from_slice(&(-1i16).to_be_bytes());
    after_crc.extend_from_slice(&(-1i32).to_be_bytes());
    after_crc.extend_from_slice(&1i32.to_be_bytes());
    after_crc.extend(record);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((9 + after_crc.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(2);
    out.extend_from_slice(&crc32c::crc32c(&after_crc).to_be_bytes());
    out.extend(after_crc);
    out
}

fn per_second(count: f64, seconds: f64) -> f64 {
    count / seconds.max(1e-9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let batches: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let record_bytes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    };
    let one = batch(record_bytes, 1_700_000_000_000);
    let total_mib = (one.len() * batches) as f64 / (1024.0 * 1024.0);

    let mut log = Log::open(dir.path(), config.clone())?;
    let started = Instant::now();
    for _ in 0..batches {
        log.append(&one, 1_700_000_000_000)?;
    }
    let append_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let target = log.flush_target();
    target.sync()?;
    log.mark_flushed(target.up_to_offset);
    let sync_s = started.elapsed().as_secs_f64();
    println!(
        "append: {batches} batches of {} bytes ({total_mib:.0} MiB) in {append_s:.2}s = {:.0} batches/s, {:.0} MiB/s; final fsync {sync_s:.3}s; {} segments",
        one.len(),
        per_second(batches as f64, append_s),
        per_second(total_mib, append_s),
        log.segment_count()
    );

    let started = Instant::now();
    let (mut offset, mut bytes) = (0i64, 0usize);
    while offset < log.log_end_offset() {
        let chunk = log.read(offset, 1024 * 1024)?;
        let batches_read = herald_log::batch::split_batches(&chunk)?;
        let Some((last, _)) = batches_read.last() else {
            break;
        };
        offset = last.last_offset() + 1;
        bytes += chunk.len();
    }
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "read: {:.0} MiB in 1 MiB fetches (CRC re-checked by the reader) in {read_s:.2}s = {:.0} MiB/s",
        bytes as f64 / (1024.0 * 1024.0),
        per_second(bytes as f64 / (1024.0 * 1024.0), read_s)
    );
    drop(log);

    std::fs::remove_file(
        dir.path()
            .join(herald_log::checkpoint::RECOVERY_POINT_CHECKPOINT_FILE),
    )?;
    let started = Instant::now();
    let log = Log::open(dir.path(), config)?;
    let open_s = started.elapsed().as_secs_f64();
    println!(
        "recovery without checkpoint: {} batches, {total_mib:.0} MiB validated in {open_s:.2}s = {:.0} MiB/s",
        log.log_end_offset(),
        per_second(total_mib, open_s)
    );
    Ok(())
}
