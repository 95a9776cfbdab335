//! The records of `__transaction_state` in Kafka's own format, so that tools reading the topic work:
//! key `TransactionLogKey` v0 (the transactional id), value `TransactionLogValue` v0 (written, as
//! Kafka does below transaction version 1) or v1 (flexible, read only); a null value is a tombstone.
//! Main functions: [`encode_key`], [`encode_value`], [`decode`].

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::{Transit, TxnState, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

/// Why a record of `__transaction_state` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("__transaction_state record: {0}")]
pub struct FormatError(pub String);

fn short(what: &str) -> FormatError {
    FormatError(format!("{what} is cut short"))
}

/// The record key of a transactional id.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(0);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

/// The record value of a transit (never called for Dead: that is a tombstone).
pub fn encode_value(transit: &Transit) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(0);
    buf.put_i64(transit.producer_id);
    buf.put_i16(transit.producer_epoch);
    buf.put_i32(transit.timeout_ms);
    buf.put_i8(transit.state.id());
    if transit.state == TxnState::Empty {
        buf.put_i32(-1);
    } else {
        let by_topic = group_by_topic(&transit.partitions);
        put_len(&mut buf, by_topic.len());
        for (topic, partitions) in by_topic {
            put_string(&mut buf, topic);
            put_len(&mut buf, partitions.len());
            for p in partitions {
                buf.put_i32(p);
            }
        }
    }
    buf.put_i64(transit.last_update_ms);
    buf.put_i64(transit.start_ms);
    buf.freeze()
}

fn group_by_topic(partitions: &BTreeSet<(String, i32)>) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in partitions {
        by_topic.entry(topic.as_str()).or_default().push(*p);
    }
    by_topic
}

fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(i16::try_from(s.len()).unwrap_or(i16::MAX));
    buf.put_slice(s.as_bytes());
}

/// Decodes one record: the transactional id, and its transit or `None` for a tombstone.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<(String, Option<Transit>), FormatError> {
    let mut key = key;
    let version = get_i16(&mut key, "key version")?;
    if version != 0 {
        return Err(FormatError(format!("unknown key version {version}")));
    }
    let transactional_id = get_string(&mut key, false)?;
    let Some(mut value) = value else {
        return Ok((transactional_id, None));
    };
    let version = get_i16(&mut value, "value version")?;
    let flexible = match version {
        0 => false,
        1 => true,
        v => return Err(FormatError(format!("unknown value version {v}"))),
    };
    let producer_id = get_i64(&mut value, "producer id")?;
    let producer_epoch = get_i16(&mut value, "producer epoch")?;
    let timeout_ms = get_i32(&mut value, "timeout")?;
    let status = get_i8(&mut value, "status")?;
    let state = TxnState::from_id(status)
        .ok_or_else(|| FormatError(format!("unknown transaction status {status}")))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = get_array_len(&mut value, flexible)? {
        for _ in 0..topics {
            let topic = get_string(&mut value, flexible)?;
            let count = get_array_len(&mut value, flexible)?.unwrap_or(0);
            for _ in 0..count {
                partitions.insert((topic.clone(), get_i32(&mut value, "partition")?));
            }
            if flexible {
                skip_tagged_fields(&mut value)?;
            }
        }
    }
    let last_update_ms = get_i64(&mut value, "last update")?;
    let start_ms = get_i64(&mut value, "start")?;
    let mut previous_producer_id = NO_PRODUCER_ID;
    if flexible {
        let tags = get_uvarint(&mut value)?;
        for _ in 0..tags {
            let tag = get_uvarint(&mut value)?;
            let size = usize::try_from(get_uvarint(&mut value)?).unwrap_or(usize::MAX);
            if value.len() < size {
                return Err(short("tagged field"));
            }
            let (mut field, rest) = value.split_at(size);
            if tag == 0 {
                previous_producer_id = get_i64(&mut field, "previous producer id")?;
            }
            value = rest;
        }
    }
    if state == TxnState::Empty {
        partitions.clear();
    }
    Ok((
        transactional_id.clone(),
        Some(Transit {
            transactional_id,
            producer_id,
            previous_producer_id,
            producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state,
            partitions,
            start_ms,
            last_update_ms,
        }),
    ))
}

fn get_i8(buf: &mut &[u8], what: &str) -> Result<i8, FormatError> {
    if buf.remaining() < 1 {
        return Err(short(what));
    }
    Ok(buf.get_i8())
}

fn get_i16(buf: &mut &[u8], what: &str) -> Result<i16, FormatError> {
    if buf.remaining() < 2 {
        return Err(short(what));
    }
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8], what: &str) -> Result<i32, FormatError> {
    if buf.remaining() < 4 {
        return Err(short(what));
    }
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8], what: &str) -> Result<i64, FormatError> {
    if buf.remaining() < 8 {
        return Err(short(what));
    }
    Ok(buf.get_i64())
}

fn get_uvarint(buf: &mut &[u8]) -> Result<u64, FormatError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = get_i8(buf, "varint")? as u8;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FormatError("varint is too long".into()))
}

/// An array's length; `None` for a null array.
fn get_array_len(buf: &mut &[u8], flexible: bool) -> Result<Option<usize>, FormatError> {
    let len = if flexible {
        match get_uvarint(buf)? {
            0 => return Ok(None),
            n => n - 1,
        }
    } else {
        match get_i32(buf, "array length")? {
            n if n < 0 => return Ok(None),
            n => n as u64,
        }
    };
    // Each element takes at least one byte: a length beyond what is left is corrupt, not a reason
    // to allocate.
    if len > buf.len() as u64 {
        return Err(short("array"));
    }
    Ok(Some(len as usize))
}

fn get_string(buf: &mut &[u8], flexible: bool) -> Result<String, FormatError> {
    let len = if flexible {
        match get_uvarint(buf)? {
            0 => return Err(FormatError("null string".into())),
            n => usize::try_from(n - 1).unwrap_or(usize::MAX),
        }
    } else {
        let n = get_i16(buf, "string length")?;
        usize::try_from(n).map_err(|_| FormatError("null string".into()))?
    };
    if buf.len() < len {
        return Err(short("string"));
    }
    let (s, rest) = buf.split_at(len);
    *buf = rest;
    String::from_utf8(s.to_vec()).map_err(|_| FormatError("string is not UTF-8".into()))
}

fn skip_tagged_fields(buf: &mut &[u8]) -> Result<(), FormatError> {
    let tags = get_uvarint(buf)?;
    for _ in 0..tags {
        let _tag = get_uvarint(buf)?;
        let size = usize::try_from(get_uvarint(buf)?).unwrap_or(usize::MAX);
        if buf.len() < size {
            return Err(short("tagged field"));
        }
        *buf = &buf[size..];
    }
    Ok(())
}
