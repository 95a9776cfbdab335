//! Committed offsets and the admin side of the [`GroupStateMachine`]: OffsetCommit validation, OffsetFetch,
//! retention of an Empty group's offsets, ListGroups, DescribeGroups, DeleteGroups and OffsetDelete.
//!
//! Pure: operations return the [`OffsetRecord`]s to persist. The `plan_*` and `expired_offsets`
//! variants change nothing, so that the shell applies records (`apply_records`, `forget_group_if_empty`)
//! only once they are durable; `delete_groups`, `delete_offsets` and `expire_offsets` apply at once.
//! Storage itself is `store` (the `__consumer_offsets` topic).

use kafka_protocol::error::ResponseError;

use super::group::{Group, GroupState};
use super::membership::validate_member;
use super::state_machine::GroupStateMachine;
use super::types::{
    CommitOutcome, CommitRequest, CommittedOffset, ErrorCode, FetchedOffsets, GroupOverview,
    GroupSummary, OffsetDeleteOutcome, OffsetRecord, UNKNOWN_MEMBER_ID,
};

/// Longest commit metadata string accepted (Kafka's `offset.metadata.max.bytes`).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

impl GroupStateMachine {
    /// Validates an OffsetCommit. Members commit with their current generation; tools outside group
    /// management (generation -1, no member id) only while the group is Empty, as Kafka does — against a
    /// live group they get UNKNOWN_MEMBER_ID. Returns the records to persist; nothing is applied yet.
    pub fn commit_offsets(&mut self, request: &CommitRequest, now_ms: i64) -> CommitOutcome {
        if let Some(error) = self.validate_commit(request, now_ms) {
            return every_partition(request, Some(error));
        }
        let mut outcome = CommitOutcome::default();
        for (topic, partitions) in &request.topics {
            let mut errors = Vec::with_capacity(partitions.len());
            for commit in partitions {
                if commit
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > OFFSET_METADATA_BYTES_MAX)
                {
                    errors.push((
                        commit.partition,
                        Some(ResponseError::OffsetMetadataTooLarge),
                    ));
                    continue;
                }
                errors.push((commit.partition, None));
                outcome.records.push(OffsetRecord::Commit {
                    group_id: request.group_id.clone(),
                    topic: topic.clone(),
                    partition: commit.partition,
                    value: CommittedOffset {
                        offset: commit.offset,
                        leader_epoch: commit.leader_epoch,
                        metadata: commit.metadata.clone(),
                        commit_timestamp_ms: now_ms,
                    },
                });
            }
            outcome.errors.push((topic.clone(), errors));
        }
        outcome
    }

    /// Kafka's `validateOffsetCommit`; also refreshes a committing member's session.
    fn validate_commit(&mut self, request: &CommitRequest, now_ms: i64) -> Option<ResponseError> {
        if !self.active {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        let is_member_commit = request.generation_id >= 0
            || request.member_id != UNKNOWN_MEMBER_ID
            || request.group_instance_id.is_some();
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            // No group: a simple consumer (generation -1) may store offsets; a member of a group that no
            // longer exists is told its generation is stale.
            return is_member_commit.then_some(ResponseError::IllegalGeneration);
        };
        if group.is(GroupState::Dead) {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if !is_member_commit {
            return (!group.is(GroupState::Empty)).then_some(ResponseError::UnknownMemberId);
        }
        if let Some(error) = validate_member(
            group,
            &request.member_id,
            request.group_instance_id.as_deref(),
        ) {
            return Some(error);
        }
        if request.generation_id != group.generation_id {
            return Some(ResponseError::IllegalGeneration);
        }
        match group.state {
            // The consumer has its generation from the JoinGroup answer but no assignment yet.
            GroupState::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                if let Some(member) = group.members.get_mut(&request.member_id) {
                    member.last_heartbeat_ms = now_ms;
                }
                None
            }
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
        }
    }

    /// Applies records to memory: after a commit was written, and at start-up when replaying the log.
    /// Groups that exist only through offsets are created Empty.
    pub fn apply_records(&mut self, records: &[OffsetRecord]) {
        for record in records {
            match record {
                OffsetRecord::Commit {
                    group_id,
                    topic,
                    partition,
                    value,
                } => {
                    let group = self
                        .groups
                        .entry(group_id.clone())
                        .or_insert_with(|| Group::new(group_id, None));
                    group
                        .offsets
                        .insert((topic.clone(), *partition), value.clone());
                }
                OffsetRecord::Tombstone {
                    group_id,
                    topic,
                    partition,
                } => {
                    if let Some(group) = self.groups.get_mut(group_id) {
                        group.offsets.remove(&(topic.clone(), *partition));
                    }
                }
            }
        }
    }

    /// Committed offsets of a group: of the named partitions, or all of them when `partitions` is `None`.
    /// Unknown groups and partitions without a commit yield `None` (offset -1 on the wire).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> FetchedOffsets {
        let group = self.groups.get(group_id);
        match partitions {
            Some(requested) => requested
                .iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .iter()
                        .map(|p| {
                            (
                                *p,
                                group
                                    .and_then(|g| g.offsets.get(&(topic.clone(), *p)))
                                    .cloned(),
                            )
                        })
                        .collect();
                    (topic.clone(), found)
                })
                .collect(),
            None => {
                let mut topics: FetchedOffsets = Vec::new();
                for ((topic, partition), value) in
                    group.map(|g| g.offsets.iter()).into_iter().flatten()
                {
                    match topics.last_mut() {
                        Some((last, partitions)) if last == topic => {
                            partitions.push((*partition, Some(value.clone())))
                        }
                        _ => topics.push((topic.clone(), vec![(*partition, Some(value.clone()))])),
                    }
                }
                topics
            }
        }
    }

    /// Deletes offsets of Empty groups older than the retention, counted from when the group became Empty
    /// (or from the commit, for groups rebuilt after a restart), and forgets Empty groups left with
    /// nothing. Returns tombstones to persist.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Vec<OffsetRecord> {
        let tombstones = self.expired_offsets(now_ms);
        self.apply_records(&tombstones);
        self.groups.retain(|_, g| !g.is_forgettable());
        tombstones
    }

    /// The tombstones `expire_offsets` would write, changing nothing.
    pub fn expired_offsets(&self, now_ms: i64) -> Vec<OffsetRecord> {
        let retention_ms = self.config.offsets_retention_ms;
        let mut tombstones = Vec::new();
        for group in self.groups.values().filter(|g| g.is(GroupState::Empty)) {
            let empty_since_ms = group.state_since_ms;
            for ((topic, partition), value) in &group.offsets {
                let since_ms = empty_since_ms.unwrap_or(0).max(value.commit_timestamp_ms);
                if since_ms.saturating_add(retention_ms) <= now_ms {
                    tombstones.push(tombstone(&group.group_id, topic, *partition));
                }
            }
        }
        tombstones
    }

    /// Forgets `group_id` if it is Empty with no offsets and no members (after its deletion or the
    /// expiry of its last offsets became durable). Returns whether it was forgotten.
    pub fn forget_group_if_empty(&mut self, group_id: &str) -> bool {
        if self
            .groups
            .get(group_id)
            .is_some_and(|g| g.is_forgettable())
        {
            self.groups.remove(group_id);
            return true;
        }
        false
    }

    /// Every live commit.
    pub fn live_records(&self) -> Vec<OffsetRecord> {
        self.groups
            .values()
            .flat_map(|g| {
                g.offsets
                    .iter()
                    .map(|((topic, partition), value)| OffsetRecord::Commit {
                        group_id: g.group_id.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        value: value.clone(),
                    })
            })
            .collect()
    }

    /// Number of live commits.
    pub fn live_offsets(&self) -> usize {
        self.groups.values().map(|g| g.offsets.len()).sum()
    }

    /// ListGroups: every group, optionally only those in the named states (v4, case-insensitive).
    pub fn list_groups(&self, states: &[String]) -> Result<Vec<GroupOverview>, ResponseError> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let mut groups: Vec<GroupOverview> = self
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| GroupOverview {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// DescribeGroups: an unknown group is described as Dead with no members, as Kafka does.
    pub fn describe_group(&self, group_id: &str) -> Result<GroupSummary, ResponseError> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        Ok(match self.groups.get(group_id) {
            Some(group) => group.summary(),
            None => {
                let mut dead = Group::new(group_id, None);
                dead.state = GroupState::Dead;
                dead.summary()
            }
        })
    }

    /// DeleteGroups: only Empty groups can go (NON_EMPTY_GROUP otherwise); their offsets get tombstones.
    pub fn delete_groups(
        &mut self,
        group_ids: &[String],
    ) -> (Vec<(String, ErrorCode)>, Vec<OffsetRecord>) {
        let (results, tombstones) = self.plan_delete_groups(group_ids);
        for (group_id, error) in &results {
            if error.is_none() {
                self.groups.remove(group_id);
            }
        }
        (results, tombstones)
    }

    /// What `delete_groups` answers and writes, changing nothing.
    pub fn plan_delete_groups(
        &self,
        group_ids: &[String],
    ) -> (Vec<(String, ErrorCode)>, Vec<OffsetRecord>) {
        let mut results = Vec::with_capacity(group_ids.len());
        let mut tombstones = Vec::new();
        for group_id in group_ids {
            let error = if !self.active {
                Some(ResponseError::CoordinatorNotAvailable)
            } else {
                match self.groups.get(group_id) {
                    None => Some(ResponseError::GroupIdNotFound),
                    Some(group) if group.is(GroupState::Dead) => {
                        Some(ResponseError::GroupIdNotFound)
                    }
                    Some(group) if group.is(GroupState::Empty) => {
                        tombstones.extend(
                            group
                                .offsets
                                .keys()
                                .map(|(t, p)| tombstone(group_id, t, *p)),
                        );
                        None
                    }
                    Some(_) => Some(ResponseError::NonEmptyGroup),
                }
            };
            results.push((group_id.clone(), error));
        }
        (results, tombstones)
    }

    /// OffsetDelete (KIP-496): deletes a group's offsets of some partitions. A live consumer group keeps
    /// the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); other live groups refuse
    /// (NON_EMPTY_GROUP).
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> OffsetDeleteOutcome {
        let outcome = self.plan_delete_offsets(group_id, topics);
        self.apply_records(&outcome.records);
        outcome
    }

    /// What `delete_offsets` answers and writes, changing nothing.
    pub fn plan_delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> OffsetDeleteOutcome {
        let top_level = |error| OffsetDeleteOutcome {
            error: Some(error),
            ..OffsetDeleteOutcome::default()
        };
        if !self.active {
            return top_level(ResponseError::CoordinatorNotAvailable);
        }
        let Some(group) = self.groups.get(group_id) else {
            return top_level(ResponseError::GroupIdNotFound);
        };
        let subscribed = match group.state {
            GroupState::Dead => return top_level(ResponseError::GroupIdNotFound),
            GroupState::Empty => Some(Vec::new()),
            _ => match group.subscribed_topics() {
                Some(topics) => Some(topics),
                None if group.protocol_type.as_deref()
                    == Some(super::types::CONSUMER_PROTOCOL_TYPE) =>
                {
                    None
                }
                None => return top_level(ResponseError::NonEmptyGroup),
            },
        };
        let mut outcome = OffsetDeleteOutcome::default();
        for (topic, partitions) in topics {
            // Unparseable subscriptions of a live consumer group: assume it subscribes to everything.
            let protected = subscribed.as_ref().is_none_or(|s| s.contains(topic));
            let mut errors = Vec::with_capacity(partitions.len());
            for partition in partitions {
                if protected {
                    errors.push((*partition, Some(ResponseError::GroupSubscribedToTopic)));
                } else {
                    if group.offsets.contains_key(&(topic.clone(), *partition)) {
                        outcome.records.push(tombstone(group_id, topic, *partition));
                    }
                    errors.push((*partition, None));
                }
            }
            outcome.errors.push((topic.clone(), errors));
        }
        outcome
    }
}

fn tombstone(group_id: &str, topic: &str, partition: i32) -> OffsetRecord {
    OffsetRecord::Tombstone {
        group_id: group_id.to_owned(),
        topic: topic.to_owned(),
        partition,
    }
}

/// The same error for every partition of a commit.
fn every_partition(request: &CommitRequest, error: ErrorCode) -> CommitOutcome {
    let errors = request
        .topics
        .iter()
        .map(|(topic, partitions)| {
            (
                topic.clone(),
                partitions.iter().map(|p| (p.partition, error)).collect(),
            )
        })
        .collect();
    CommitOutcome {
        errors,
        records: Vec::new(),
    }
}
