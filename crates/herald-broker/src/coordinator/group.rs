//! One consumer group's state (Kafka's `GroupMetadata`/`MemberMetadata`): members, generation, chosen
//! protocol, the join barrier's bookkeeping and the group's committed offsets.
//!
//! Pure data plus small queries (protocol support and selection, leader election, summaries); the
//! transitions that involve several of these live in `state_machine`. Main types: [`Group`], [`Member`],
//! [`GroupState`].

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

use super::types::{
    CommittedOffset, GroupSummary, JoinedMember, MemberSummary, Token, CONSUMER_PROTOCOL_TYPE,
};

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// The join barrier is up: waiting for every known member to (re)join.
    PreparingRebalance,
    /// Generation chosen; waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted or expired; never reused.
    Dead,
}

impl GroupState {
    /// The name Kafka's tools print (DescribeGroups, ListGroups v4 filter).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The delayed first join of an Empty group (Kafka's `InitialDelayedJoin`): every member that joins during
/// the delay extends it by one more delay, until the rebalance timeout is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialDelay {
    pub delay_ms: i64,
    pub remaining_ms: i64,
    pub new_member_added: bool,
}

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    /// Parked JoinGroup waiting for the barrier.
    pub awaiting_join: Option<Token>,
    /// Parked SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<Token>,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }

    /// Whether a rejoin carries exactly the protocols (and metadata) this member already has.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's favourite among `candidates` (Kafka's `vote`).
    fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Session still alive at `now_ms`? Members parked in a join or sync are kept alive: the barrier or
    /// the leader's timeout decides about them (Kafka's `shouldKeepAlive`).
    pub fn is_alive(&self, now_ms: i64) -> bool {
        self.awaiting_join.is_some()
            || self.awaiting_sync.is_some()
            || self.last_heartbeat_ms + i64::from(self.session_timeout_ms) > now_ms
    }
}

/// One group: membership, generation and committed offsets.
#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    /// When the group entered its current state; `None` for groups rebuilt from the offset log.
    pub state_since_ms: Option<i64>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: IndexMap<String, Member>,
    /// group.instance.id -> member id of static members.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the deadline by which they must rejoin.
    pub pending_members: HashMap<String, i64>,
    /// When the join barrier completes regardless of who has rejoined.
    pub join_deadline_ms: Option<i64>,
    pub initial_delay: Option<InitialDelay>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    /// A new Empty group.
    pub fn new(group_id: &str, now_ms: Option<i64>) -> Self {
        Self {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_deadline_ms: None,
            initial_delay: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Moves to `state`, remembering when.
    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = Some(now_ms);
    }

    /// Whether the group is in `state`.
    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Empty, with no offsets and no members: nothing would be lost by forgetting it.
    pub fn is_forgettable(&self) -> bool {
        self.is(GroupState::Empty)
            && self.offsets.is_empty()
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// Whether `member_id` leads the group.
    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// A static member whose group.instance.id now belongs to a different member id (KIP-345).
    pub fn is_static_member_fenced(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> bool {
        group_instance_id
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|current| current != member_id)
    }

    /// Whether a joining member's protocols fit the group: same protocol type, and (for a non-empty group)
    /// at least one protocol every member supports.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is(GroupState::Empty) || self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.metadata(name).is_some()))
    }

    /// The protocol every member supports that most members prefer (Kafka's `selectProtocol`); ties go
    /// to the protocol the first member prefers.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.values().all(|m| m.metadata(name).is_some()))
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|name| (*name, 0)).collect();
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates) {
                if let Some(entry) = votes.iter_mut().find(|(name, _)| *name == choice) {
                    entry.1 += 1;
                }
            }
        }
        // max_by_key keeps the last maximum; iterate reversed so the first member's preference wins ties.
        votes
            .iter()
            .rev()
            .max_by_key(|(_, count)| *count)
            .map(|(name, _)| (*name).to_owned())
    }

    /// The largest rebalance timeout among members: how long the join barrier waits.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// When this group next needs a tick: the earliest session end of a member not parked in a request,
    /// pending member deadline, join barrier deadline or (CompletingRebalance) sync deadline.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
            .map(|m| m.last_heartbeat_ms + i64::from(m.session_timeout_ms));
        let sync = self
            .is(GroupState::CompletingRebalance)
            .then(|| {
                self.state_since_ms
                    .map(|since| since + self.rebalance_timeout_ms())
            })
            .flatten();
        sessions
            .chain(self.pending_members.values().copied())
            .chain(self.join_deadline_ms)
            .chain(sync)
            .min()
    }

    /// Every known member is parked in JoinGroup and no MEMBER_ID_REQUIRED member is outstanding.
    pub fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The member list the leader receives: metadata for the chosen protocol.
    pub fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Removes a member, handing leadership to the next member if it led.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.shift_remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
            {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// Topics the members subscribe to, when the group speaks the consumer protocol and every subscription
    /// parses; `None` means "unknown, assume every topic" (Kafka's `subscribedTopics`).
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = Vec::new();
        for member in self.members.values() {
            let subscription = parse_subscription(member.metadata(protocol)?)?;
            topics.extend(subscription.topics.iter().map(|topic| topic.to_string()));
        }
        topics.sort();
        topics.dedup();
        Some(topics)
    }

    /// DescribeGroups' view: metadata and assignments only when Stable, as Kafka does.
    pub fn summary(&self) -> GroupSummary {
        let stable = self.is(GroupState::Stable);
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberSummary {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol).cloned().unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupSummary {
            group_id: self.group_id.clone(),
            state: self.state.name(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: if stable { protocol } else { String::new() },
            members,
        }
    }
}

/// Decodes a consumer-protocol subscription (int16 version, then the body); versions above the newest
/// known one are read as the newest (their extra fields are ignored), as Kafka's clients do.
fn parse_subscription(metadata: &Bytes) -> Option<ConsumerProtocolSubscription> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = buf.split_to(2);
    ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)).ok()
}
