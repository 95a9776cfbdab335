//! Kafka's `__consumer_offsets` record format: exact bytes of keys and values, decoding of every
//! OffsetCommitValue version, the group-to-partition mapping, and batches that round-trip.

use crate::coordinator::records::{
    decode, decode_batches, encode, encode_records_batch, java_string_hash, partition_for,
    StoredRecord,
};
use crate::coordinator::{CommittedOffset, OffsetRecord};

fn commit(metadata: Option<&str>) -> OffsetRecord {
    OffsetRecord::Commit {
        group_id: "g".to_owned(),
        topic: "t".to_owned(),
        partition: 2,
        value: CommittedOffset {
            offset: 42,
            leader_epoch: 7,
            metadata: metadata.map(str::to_owned),
            commit_timestamp_ms: 1000,
        },
    }
}

// OffsetCommitKey v1 and OffsetCommitValue v3, byte by byte as Kafka's schemas lay them out:
// key = version 1, group "g", topic "t", partition 2; value = version 3, offset 42, leader epoch 7,
// metadata "md", commit timestamp 1000.
#[test]
fn offset_commit_bytes_match_kafkas_schema() {
    let (key, value) = encode(&StoredRecord::Offset(commit(Some("md"))));
    assert_eq!(key, vec![0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
    let mut expected = vec![0, 3];
    expected.extend_from_slice(&42i64.to_be_bytes());
    expected.extend_from_slice(&7i32.to_be_bytes());
    expected.extend_from_slice(&[0, 2, b'm', b'd']);
    expected.extend_from_slice(&1000i64.to_be_bytes());
    assert_eq!(value, Some(expected));
}

// A GroupMetadataKey is version 2 and the group id; its deletion is a null value.
#[test]
fn group_tombstone_bytes_match_kafkas_schema() {
    let record = StoredRecord::GroupMetadata {
        group_id: "grp".to_owned(),
        deleted: true,
    };
    let (key, value) = encode(&record);
    assert_eq!(key, vec![0, 2, 0, 3, b'g', b'r', b'p']);
    assert_eq!(value, None);
    assert_eq!(decode(&key, None).unwrap(), Some(record));
}

// What herald writes decodes to what it wrote; missing metadata is written "" (as Kafka) and read as none.
#[test]
fn commits_and_tombstones_round_trip() {
    for record in [commit(Some("md")), commit(None)] {
        let (key, value) = encode(&StoredRecord::Offset(record.clone()));
        assert_eq!(
            decode(&key, value.as_deref()).unwrap(),
            Some(StoredRecord::Offset(record))
        );
    }
    let (key, _) = encode(&StoredRecord::Offset(commit(None)));
    assert_eq!(
        decode(&key, None).unwrap(),
        Some(StoredRecord::Offset(OffsetRecord::Tombstone {
            group_id: "g".to_owned(),
            topic: "t".to_owned(),
            partition: 2,
        }))
    );
}

// Values of the older versions (v0/v2 without a leader epoch, v1 with an expire timestamp) and of the
// flexible v4 decode; an unknown key version is skipped, an unknown value version is an error.
#[test]
fn every_offset_commit_value_version_decodes() {
    let (key, _) = encode(&StoredRecord::Offset(commit(None)));
    let offset_of = |value: &[u8]| match decode(&key, Some(value)).unwrap() {
        Some(StoredRecord::Offset(OffsetRecord::Commit { value, .. })) => value,
        other => panic!("not a commit: {other:?}"),
    };
    let mut v1 = vec![0, 1];
    v1.extend_from_slice(&5i64.to_be_bytes());
    v1.extend_from_slice(&[0, 1, b'x']);
    v1.extend_from_slice(&9i64.to_be_bytes());
    v1.extend_from_slice(&(-1i64).to_be_bytes());
    let v1 = offset_of(&v1);
    assert_eq!(
        (
            v1.offset,
            v1.leader_epoch,
            v1.metadata.as_deref(),
            v1.commit_timestamp_ms
        ),
        (5, -1, Some("x"), 9)
    );
    let mut v4 = vec![0, 4];
    v4.extend_from_slice(&6i64.to_be_bytes());
    v4.extend_from_slice(&3i32.to_be_bytes());
    v4.extend_from_slice(&[3, b'a', b'b']); // compact string: length + 1
    v4.extend_from_slice(&11i64.to_be_bytes());
    v4.push(0); // no tagged fields
    let v4 = offset_of(&v4);
    assert_eq!(
        (
            v4.offset,
            v4.leader_epoch,
            v4.metadata.as_deref(),
            v4.commit_timestamp_ms
        ),
        (6, 3, Some("ab"), 11)
    );
    assert_eq!(decode(&[0, 9, 0, 0], Some(b"x")).unwrap(), None);
    assert!(decode(&key, Some(&[0, 9, 0, 0])).is_err());
    assert!(
        decode(&key[..5], None).is_err(),
        "a truncated key is an error"
    );
}

// Java's String.hashCode (values as Java computes them) and Kafka's abs(hash) % partitions, with
// abs(Integer.MIN_VALUE) = 0.
#[test]
fn group_partition_is_kafkas() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(partition_for("polygenelubricants", 50), 0);
    // "hello": 99162322 % 50 = 22; a negative hash is taken positive first.
    assert_eq!(partition_for("hello", 50), 22);
    assert_eq!(java_string_hash("aaaaaaaaaa"), -799_347_552);
    assert_eq!(partition_for("aaaaaaaaaa", 50), 2);
    // Non-ASCII is hashed over UTF-16 code units ('é' is 0xE9).
    assert_eq!(java_string_hash("group-négatif"), 124_966_606);
    assert_eq!(partition_for("anything", 1), 0);
}

// A batch of records decodes back to the same records at consecutive offsets.
#[test]
fn batches_round_trip() {
    let records = vec![
        StoredRecord::Offset(commit(Some("md"))),
        StoredRecord::GroupMetadata {
            group_id: "g".to_owned(),
            deleted: true,
        },
    ];
    let mut batch = encode_records_batch(&records, 1234);
    herald_log::batch::set_base_offset(&mut batch, 10);
    herald_log::batch::validate_batch(&batch).unwrap();
    let (decoded, last) = decode_batches(&batch, |_, reason| panic!("{reason}")).unwrap();
    assert_eq!(last, Some(11));
    assert_eq!(
        decoded,
        records
            .into_iter()
            .enumerate()
            .map(|(i, r)| (10 + i as i64, r))
            .collect::<Vec<_>>()
    );
}
