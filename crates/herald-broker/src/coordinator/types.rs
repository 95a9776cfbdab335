//! The coordinator's inputs and outputs: plain request/response structs in Kafka's words, free of the wire
//! format (handlers translate from and to `kafka-protocol` bodies) and free of I/O.
//!
//! A JoinGroup or SyncGroup may have to wait for other members; the state machine then parks the caller's
//! [`Token`] and answers later with a [`Reply`] addressed to it. Main types: [`JoinRequest`],
//! [`JoinOutcome`], [`SyncRequest`], [`SyncOutcome`], [`Reply`], [`CommitRequest`], [`OffsetRecord`].

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

/// Opaque id of a request waiting in the state machine; the async shell maps it to a oneshot sender.
pub type Token = u64;

/// Kafka's error code as the state machine reports it: `None` is NONE (0).
pub type ErrorCode = Option<ResponseError>;

/// Kafka's `UNKNOWN_MEMBER_ID`: the empty member id a new member joins with.
pub const UNKNOWN_MEMBER_ID: &str = "";
/// Generation of commits from tools outside group management (`generation_id` -1).
pub const NO_GENERATION: i32 = -1;
/// Protocol type of Kafka's consumer groups; their subscriptions can be parsed (OffsetDelete needs them).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A JoinGroup request in the coordinator's terms.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ (KIP-394): a member without an id is given one and must rejoin with it.
    pub require_known_member_id: bool,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOutcome {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; only the leader gets them.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// An error answer that tells the member which id to use next (MEMBER_ID_REQUIRED carries the new id).
    pub fn error(member_id: &str, error: ResponseError) -> Self {
        Self {
            error: Some(error),
            generation_id: NO_GENERATION,
            member_id: member_id.to_owned(),
            ..Self::default()
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+ only; checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment: (member id, assignment bytes); followers send none.
    pub assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// An error answer with an empty assignment.
    pub fn error(error: ResponseError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }
}

/// An answer to a parked (or immediate) JoinGroup/SyncGroup, addressed by the caller's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Join(Token, JoinOutcome),
    Sync(Token, SyncOutcome),
}

impl Reply {
    /// The token this reply answers.
    pub fn token(&self) -> Token {
        match self {
            Reply::Join(token, _) | Reply::Sync(token, _) => *token,
        }
    }
}

/// A Heartbeat request.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving (LeaveGroup v3+ batches several).
#[derive(Debug, Clone, Default)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// The answer to a LeaveGroup: a top-level error and one error per leaving member, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaveOutcome {
    pub error: ErrorCode,
    pub members: Vec<ErrorCode>,
}

/// One partition's commit.
#[derive(Debug, Clone, Default)]
pub struct PartitionCommit {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit request (partitions the handler already found to exist).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<(String, Vec<PartitionCommit>)>,
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// What the offset log persists: a commit, or a tombstone deleting one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetRecord {
    Commit {
        group_id: String,
        topic: String,
        partition: i32,
        value: CommittedOffset,
    },
    Tombstone {
        group_id: String,
        topic: String,
        partition: i32,
    },
}

impl OffsetRecord {
    /// The group this record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            OffsetRecord::Commit { group_id, .. } | OffsetRecord::Tombstone { group_id, .. } => {
                group_id
            }
        }
    }
}

/// Per-partition errors of a commit plus the records to persist before answering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitOutcome {
    /// (topic, [(partition, error)]) in request order.
    pub errors: Vec<(String, Vec<(i32, ErrorCode)>)>,
    /// Commit records of the accepted partitions; apply with `apply_records` once they are durable.
    pub records: Vec<OffsetRecord>,
}

/// OffsetFetch's answer: (topic, [(partition, committed offset if any)]).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata of the chosen protocol; empty unless the group is Stable.
    pub metadata: Bytes,
    /// Empty unless the group is Stable.
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberSummary>,
}

/// The answer to an OffsetDelete: a top-level error and per-partition errors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetDeleteOutcome {
    pub error: ErrorCode,
    pub errors: Vec<(String, Vec<(i32, ErrorCode)>)>,
    pub records: Vec<OffsetRecord>,
}

/// Settings of the state machine (from `BrokerConfig`).
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorConfig {
    /// Kafka's `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i64,
    /// Kafka's `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
}
