//! ACL rules: which operation each API needs, applied to the request before its handler sees it.
//! The registry (`api/registry.rs`) names one rule per API; a rule either narrows the request and
//! says how to add the refused items to the response ([`Admission::Serve`]), or answers at once
//! ([`Admission::Answer`]). Rules run only when ACLs are configured.
//!
//! Topic-level denials are per topic, as in Kafka: the denied topics are taken out of the request,
//! the rest is served, and the denied ones come back with TOPIC_AUTHORIZATION_FAILED. Group-level
//! denials answer the whole request with GROUP_AUTHORIZATION_FAILED.
//!
//! | API | needs |
//! |---|---|
//! | Produce | write on the topic (and create, if it does not exist yet and would be auto-created) |
//! | InitProducerId | write on at least one topic (idempotent producers, as KIP-679); else 31 |
//! | Fetch | read on the topic |
//! | ListOffsets, OffsetForLeaderEpoch | describe on the topic |
//! | DescribeConfigs | describe-configs on the topic, or on the cluster for a broker (alter-configs implies it) |
//! | Metadata | describe (other topics are left out; named ones answer 29); auto-creation (v4+) needs create |
//! | CreateTopics / DeleteTopics | create / delete on the topic |
//! | CreatePartitions | alter on the topic |
//! | DeleteRecords | delete on the topic |
//! | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetFetch | read on the group |
//! | OffsetCommit | read on the group and read on each topic |
//! | FindCoordinator (groups), DescribeGroups | describe on the group |
//! | ListGroups | lists only the groups the principal may describe |
//! | DeleteGroups | delete on the group |
//! | OffsetDelete | delete on the group and read on each topic |
//!
//! Internal topics (`internal_topics`) follow the same rules, as in Kafka: reading `__consumer_offsets`
//! needs read on it, and a principal allowed to write it still gets INVALID_TOPIC_EXCEPTION from the
//! Produce handler (the rules run first, so without write it gets TOPIC_AUTHORIZATION_FAILED, as in
//! Kafka).
//!
//! Served to any authenticated principal: FindCoordinator for transactional ids (transactions are refused anyway). Not here: the ACLs themselves
//! (`acl.rs`), the login steps (`mod.rs`).
//!
//! Main types: [`Admission`], [`Check`].

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;

use super::acl::{Operation, ResourceType};
use super::Authorizer;
use crate::topics::TopicRegistry;

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
/// DescribeConfigs resource type of a topic (2; the broker is 4).
const CONFIG_RESOURCE_TOPIC: i8 = 2;
/// FindCoordinator key type of a consumer group (0; transactional ids are 1).
const COORDINATOR_KEY_GROUP: i8 = 0;

/// Changes made to a response after the handler built it.
pub type Amend<R> = Box<dyn FnOnce(&mut R) + Send>;

/// What a rule decides about a request.
pub enum Admission<Q, R> {
    /// Serve this (possibly narrowed) request, then apply the amendment to its response.
    Serve(Q, Option<Amend<R>>),
    /// Answer this without serving anything.
    Answer(R),
}

/// What a rule consults: the principal's ACLs, the topics (auto-creation needs create) and the
/// request's version.
pub struct Check<'a> {
    authorizer: &'a Authorizer,
    topics: &'a TopicRegistry,
    version: i16,
}

impl<'a> Check<'a> {
    pub fn new(authorizer: &'a Authorizer, topics: &'a TopicRegistry, version: i16) -> Self {
        Self {
            authorizer,
            topics,
            version,
        }
    }

    fn topic(&self, name: &str, operation: Operation) -> bool {
        self.authorizer.allows(ResourceType::Topic, name, operation)
    }

    fn group(&self, name: &str, operation: Operation) -> bool {
        self.authorizer.allows(ResourceType::Group, name, operation)
    }

    /// Produce needs write; producing to a missing topic (auto-creation) also needs create, else
    /// the topic is reported unknown as if auto-creation were off.
    fn produce(&self, topic: &str) -> Result<(), i16> {
        if !self.topic(topic, Operation::Write) {
            return Err(TOPIC_DENIED);
        }
        if self.topics.get(topic).is_none() && !self.topic(topic, Operation::Create) {
            return Err(ResponseError::UnknownTopicOrPartition.code());
        }
        Ok(())
    }
}

/// Serves the items of `$request.$items` that `$allowed` lets through, then adds `$deny` of each
/// refused item to the response: the per-topic (or per-group) denial shape most APIs share.
macro_rules! narrow {
    ($request:expr, $items:ident, |$item:ident| $allowed:expr,
     |$response:ident, $refused:ident| $deny:expr) => {{
        let mut request = $request;
        let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut request.$items)
            .into_iter()
            .partition(|$item| $allowed);
        request.$items = kept;
        if refused.is_empty() {
            return Admission::Serve(request, None);
        }
        Admission::Serve(
            request,
            Some(Box::new(move |$response| {
                for $refused in refused {
                    $deny;
                }
            })),
        )
    }};
}

/// A rule that needs read on the request's one group, else answers the whole request with 30.
macro_rules! group_read {
    ($name:ident, $request:ident, $response:ident) => {
        pub fn $name(check: &Check, r: $request) -> Admission<$request, $response> {
            if check.group(&r.group_id, Operation::Read) {
                Admission::Serve(r, None)
            } else {
                Admission::Answer($response::default().with_error_code(GROUP_DENIED))
            }
        }
    };
}

group_read!(join_group, JoinGroupRequest, JoinGroupResponse);
group_read!(sync_group, SyncGroupRequest, SyncGroupResponse);
group_read!(heartbeat, HeartbeatRequest, HeartbeatResponse);
group_read!(leave_group, LeaveGroupRequest, LeaveGroupResponse);

pub fn produce(check: &Check, mut r: ProduceRequest) -> Admission<ProduceRequest, ProduceResponse> {
    let mut denied = Vec::new();
    let mut kept = Vec::new();
    for topic in std::mem::take(&mut r.topic_data) {
        match check.produce(&topic.name) {
            Ok(()) => kept.push(topic),
            Err(code) => denied.push((topic, code)),
        }
    }
    r.topic_data = kept;
    if denied.is_empty() {
        return Admission::Serve(r, None);
    }
    Admission::Serve(
        r,
        Some(Box::new(move |response: &mut ProduceResponse| {
            for (topic, code) in denied {
                let partitions = topic.partition_data.iter().map(|p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                });
                response.responses.push(
                    produce_response::TopicProduceResponse::default()
                        .with_name(topic.name)
                        .with_partition_responses(partitions.collect()),
                );
            }
        })),
    )
}

pub fn fetch(check: &Check, r: FetchRequest) -> Admission<FetchRequest, FetchResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.topic, Operation::Read),
        |response, t| response.responses.push(fetch_denied(t))
    )
}

pub fn list_offsets(
    check: &Check,
    r: ListOffsetsRequest,
) -> Admission<ListOffsetsRequest, ListOffsetsResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Describe),
        |response, t| response.topics.push(list_offsets_denied(t))
    )
}

pub fn offset_for_leader_epoch(
    check: &Check,
    r: OffsetForLeaderEpochRequest,
) -> Admission<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.topic, Operation::Describe),
        |response, t| response.topics.push(leader_epoch_denied(t))
    )
}

pub fn describe_configs(
    check: &Check,
    r: DescribeConfigsRequest,
) -> Admission<DescribeConfigsRequest, DescribeConfigsResponse> {
    narrow!(
        r,
        resources,
        |c| if c.resource_type == CONFIG_RESOURCE_TOPIC {
            check.topic(&c.resource_name, Operation::DescribeConfigs)
        } else {
            cluster(check, Operation::DescribeConfigs)
        },
        |response, c| response.results.push(
            describe_configs_response::DescribeConfigsResult::default()
                .with_error_code(if c.resource_type == CONFIG_RESOURCE_TOPIC {
                    TOPIC_DENIED
                } else {
                    CLUSTER_DENIED
                })
                .with_error_message(Some(if c.resource_type == CONFIG_RESOURCE_TOPIC {
                    "topic authorization failed".into()
                } else {
                    "cluster authorization failed".into()
                }))
                .with_resource_type(c.resource_type)
                .with_resource_name(c.resource_name)
        )
    )
}

/// Metadata lists only describable topics; named ones that are not answer 29. Auto-creation
/// through Metadata needs create on every topic it names.
pub fn metadata(
    check: &Check,
    mut r: MetadataRequest,
) -> Admission<MetadataRequest, MetadataResponse> {
    let creatable = r.topics.iter().flatten().all(|t| {
        t.name
            .as_ref()
            .is_some_and(|n| check.topic(n, Operation::Create))
    });
    r.allow_auto_topic_creation &= creatable;
    let mut denied = Vec::new();
    if let Some(topics) = r.topics.as_mut() {
        let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(topics).into_iter().partition(|t| {
            t.name
                .as_ref()
                .is_none_or(|n| check.topic(n, Operation::Describe))
        });
        *topics = kept;
        denied = refused;
    }
    // Listing every topic shows only the describable ones, as Kafka does: the amendment filters
    // with the same ACLs, captured by value.
    let authorizer = check.authorizer.clone();
    Admission::Serve(
        r,
        Some(Box::new(move |response: &mut MetadataResponse| {
            response.topics.retain(|t| {
                t.name
                    .as_ref()
                    .is_none_or(|n| authorizer.allows(ResourceType::Topic, n, Operation::Describe))
            });
            for topic in denied {
                response.topics.push(
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(topic.name)
                        .with_error_code(TOPIC_DENIED),
                );
            }
        })),
    )
}

pub fn create_topics(
    check: &Check,
    r: CreateTopicsRequest,
) -> Admission<CreateTopicsRequest, CreateTopicsResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Create),
        |response, t| response.topics.push(
            create_topics_response::CreatableTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        )
    )
}

pub fn delete_topics(
    check: &Check,
    mut r: DeleteTopicsRequest,
) -> Admission<DeleteTopicsRequest, DeleteTopicsResponse> {
    let allowed = |name: &str| check.topic(name, Operation::Delete);
    let (kept, denied_names): (Vec<_>, Vec<_>) = std::mem::take(&mut r.topic_names)
        .into_iter()
        .partition(|t| allowed(t));
    r.topic_names = kept;
    let (kept, denied_states): (Vec<_>, Vec<_>) = std::mem::take(&mut r.topics)
        .into_iter()
        .partition(|t| t.name.as_ref().is_some_and(|n| allowed(n)));
    r.topics = kept;
    let denied: Vec<_> = denied_names
        .into_iter()
        .map(Some)
        .chain(denied_states.into_iter().map(|t| t.name))
        .collect();
    Admission::Serve(
        r,
        Some(Box::new(move |response: &mut DeleteTopicsResponse| {
            for name in denied {
                response.responses.push(
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(name)
                        .with_error_code(TOPIC_DENIED),
                );
            }
        })),
    )
}

pub fn delete_records(
    check: &Check,
    r: DeleteRecordsRequest,
) -> Admission<DeleteRecordsRequest, DeleteRecordsResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Delete),
        |response, t| response.topics.push(
            delete_records_response::DeleteRecordsTopicResult::default()
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(
                            |p| delete_records_response::DeleteRecordsPartitionResult::default()
                                .with_partition_index(p.partition_index)
                                .with_low_watermark(-1)
                                .with_error_code(TOPIC_DENIED)
                        )
                        .collect()
                )
                .with_name(t.name)
        )
    )
}

pub fn create_partitions(
    check: &Check,
    r: CreatePartitionsRequest,
) -> Admission<CreatePartitionsRequest, CreatePartitionsResponse> {
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Alter),
        |response, t| response.results.push(
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
        )
    )
}

/// Idempotent producers need write on some topic (KIP-679); transactional ids are refused by the
/// handler before any check could matter.
pub fn init_producer_id(
    check: &Check,
    r: InitProducerIdRequest,
) -> Admission<InitProducerIdRequest, InitProducerIdResponse> {
    if r.transactional_id.is_some()
        || check
            .authorizer
            .allows_any(ResourceType::Topic, Operation::Write)
    {
        return Admission::Serve(r, None);
    }
    Admission::Answer(
        InitProducerIdResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    )
}

pub fn offset_commit(
    check: &Check,
    r: OffsetCommitRequest,
) -> Admission<OffsetCommitRequest, OffsetCommitResponse> {
    if !check.group(&r.group_id, Operation::Read) {
        let topics = r
            .topics
            .into_iter()
            .map(|t| commit_topic_error(t, GROUP_DENIED))
            .collect();
        return Admission::Answer(OffsetCommitResponse::default().with_topics(topics));
    }
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Read),
        |response, t| response.topics.push(commit_topic_error(t, TOPIC_DENIED))
    )
}

pub fn offset_fetch(
    check: &Check,
    r: OffsetFetchRequest,
) -> Admission<OffsetFetchRequest, OffsetFetchResponse> {
    let allowed = if r.groups.is_empty() {
        check.group(&r.group_id, Operation::Read)
    } else {
        r.groups
            .iter()
            .all(|g| check.group(&g.group_id, Operation::Read))
    };
    if allowed {
        return Admission::Serve(r, None);
    }
    let groups = r
        .groups
        .into_iter()
        .map(|g| {
            offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(g.group_id)
                .with_error_code(GROUP_DENIED)
        })
        .collect();
    Admission::Answer(
        OffsetFetchResponse::default()
            .with_error_code(GROUP_DENIED)
            .with_groups(groups),
    )
}

pub fn offset_delete(
    check: &Check,
    r: OffsetDeleteRequest,
) -> Admission<OffsetDeleteRequest, OffsetDeleteResponse> {
    if !check.group(&r.group_id, Operation::Delete) {
        return Admission::Answer(OffsetDeleteResponse::default().with_error_code(GROUP_DENIED));
    }
    narrow!(
        r,
        topics,
        |t| check.topic(&t.name, Operation::Read),
        |response, t| response.topics.push(offset_delete_denied(t))
    )
}

/// FindCoordinator for groups: v0-3 name one key (a denied key fails the whole response), v4+ a
/// list. Transactional ids are not checked here (the handler refuses them).
pub fn find_coordinator(
    check: &Check,
    r: FindCoordinatorRequest,
) -> Admission<FindCoordinatorRequest, FindCoordinatorResponse> {
    if r.key_type != COORDINATOR_KEY_GROUP {
        return Admission::Serve(r, None);
    }
    let allowed = |key: &str| check.group(key, Operation::Describe);
    if check.version < 4 {
        if allowed(&r.key) {
            return Admission::Serve(r, None);
        }
        return Admission::Answer(
            FindCoordinatorResponse::default()
                .with_error_code(GROUP_DENIED)
                .with_node_id((-1).into())
                .with_port(-1),
        );
    }
    narrow!(r, coordinator_keys, |k| allowed(k), |response, key| {
        response.coordinators.push(
            find_coordinator_response::Coordinator::default()
                .with_key(key)
                .with_node_id((-1).into())
                .with_port(-1)
                .with_error_code(GROUP_DENIED),
        )
    })
}

pub fn describe_groups(
    check: &Check,
    r: DescribeGroupsRequest,
) -> Admission<DescribeGroupsRequest, DescribeGroupsResponse> {
    narrow!(
        r,
        groups,
        |g| check.group(g, Operation::Describe),
        |response, g| response.groups.push(
            describe_groups_response::DescribedGroup::default()
                .with_group_id(g)
                .with_error_code(GROUP_DENIED)
        )
    )
}

pub fn delete_groups(
    check: &Check,
    r: DeleteGroupsRequest,
) -> Admission<DeleteGroupsRequest, DeleteGroupsResponse> {
    narrow!(
        r,
        groups_names,
        |g| check.group(g, Operation::Delete),
        |response, g| response.results.push(
            delete_groups_response::DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(GROUP_DENIED)
        )
    )
}

/// ListGroups lists only the groups the principal may describe.
pub fn list_groups(
    check: &Check,
    r: ListGroupsRequest,
) -> Admission<ListGroupsRequest, ListGroupsResponse> {
    let authorizer = check.authorizer.clone();
    Admission::Serve(
        r,
        Some(Box::new(move |response: &mut ListGroupsResponse| {
            response.groups.retain(|g| {
                authorizer.allows(ResourceType::Group, &g.group_id, Operation::Describe)
            });
        })),
    )
}

fn commit_topic_error(
    topic: offset_commit_request::OffsetCommitRequestTopic,
    error_code: i16,
) -> offset_commit_response::OffsetCommitResponseTopic {
    offset_commit_response::OffsetCommitResponseTopic::default()
        .with_name(topic.name)
        .with_partitions(
            topic
                .partitions
                .iter()
                .map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code)
                })
                .collect(),
        )
}

fn fetch_denied(topic: fetch_request::FetchTopic) -> fetch_response::FetchableTopicResponse {
    let partitions = topic.partitions.iter().map(|p| {
        fetch_response::PartitionData::default()
            .with_partition_index(p.partition)
            .with_error_code(TOPIC_DENIED)
            .with_high_watermark(-1)
    });
    fetch_response::FetchableTopicResponse::default()
        .with_topic(topic.topic)
        .with_partitions(partitions.collect())
}

fn list_offsets_denied(
    topic: list_offsets_request::ListOffsetsTopic,
) -> list_offsets_response::ListOffsetsTopicResponse {
    let partitions = topic.partitions.iter().map(|p| {
        list_offsets_response::ListOffsetsPartitionResponse::default()
            .with_partition_index(p.partition_index)
            .with_error_code(TOPIC_DENIED)
            .with_offset(-1)
            .with_timestamp(-1)
    });
    list_offsets_response::ListOffsetsTopicResponse::default()
        .with_name(topic.name)
        .with_partitions(partitions.collect())
}

fn leader_epoch_denied(
    topic: offset_for_leader_epoch_request::OffsetForLeaderTopic,
) -> offset_for_leader_epoch_response::OffsetForLeaderTopicResult {
    let partitions = topic.partitions.iter().map(|p| {
        offset_for_leader_epoch_response::EpochEndOffset::default()
            .with_partition(p.partition)
            .with_error_code(TOPIC_DENIED)
            .with_leader_epoch(-1)
            .with_end_offset(-1)
    });
    offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
        .with_topic(topic.topic)
        .with_partitions(partitions.collect())
}

fn offset_delete_denied(
    topic: offset_delete_request::OffsetDeleteRequestTopic,
) -> offset_delete_response::OffsetDeleteResponseTopic {
    let partitions = topic.partitions.iter().map(|p| {
        offset_delete_response::OffsetDeleteResponsePartition::default()
            .with_partition_index(p.partition_index)
            .with_error_code(TOPIC_DENIED)
    });
    offset_delete_response::OffsetDeleteResponseTopic::default()
        .with_name(topic.name)
        .with_partitions(partitions.collect())
}

/// The ACL APIs need DESCRIBE (DescribeAcls) or ALTER (Create/DeleteAcls) on the cluster, as Kafka.
fn cluster(check: &Check, operation: Operation) -> bool {
    check.authorizer.allows(
        ResourceType::Cluster,
        crate::api::describe_cluster::CLUSTER_NAME,
        operation,
    )
}

pub fn describe_acls(
    check: &Check,
    r: DescribeAclsRequest,
) -> Admission<DescribeAclsRequest, DescribeAclsResponse> {
    if cluster(check, Operation::Describe) {
        return Admission::Serve(r, None);
    }
    Admission::Answer(DescribeAclsResponse::default().with_error_code(CLUSTER_DENIED))
}

pub fn create_acls(
    check: &Check,
    r: CreateAclsRequest,
) -> Admission<CreateAclsRequest, CreateAclsResponse> {
    if cluster(check, Operation::Alter) {
        return Admission::Serve(r, None);
    }
    let denied = r.creations.iter().map(|_| {
        create_acls_response::AclCreationResult::default().with_error_code(CLUSTER_DENIED)
    });
    Admission::Answer(CreateAclsResponse::default().with_results(denied.collect()))
}

pub fn delete_acls(
    check: &Check,
    r: DeleteAclsRequest,
) -> Admission<DeleteAclsRequest, DeleteAclsResponse> {
    if cluster(check, Operation::Alter) {
        return Admission::Serve(r, None);
    }
    let denied = r.filters.iter().map(|_| {
        delete_acls_response::DeleteAclsFilterResult::default().with_error_code(CLUSTER_DENIED)
    });
    Admission::Answer(DeleteAclsResponse::default().with_filter_results(denied.collect()))
}

/// DescribeCluster needs no ACL, as in Kafka; the handler reports authorized operations itself.
pub fn describe_cluster(
    _check: &Check,
    r: DescribeClusterRequest,
) -> Admission<DescribeClusterRequest, DescribeClusterResponse> {
    Admission::Serve(r, None)
}

pub fn describe_user_scram_credentials(
    check: &Check,
    r: DescribeUserScramCredentialsRequest,
) -> Admission<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse> {
    if cluster(check, Operation::Describe) {
        return Admission::Serve(r, None);
    }
    Admission::Answer(
        DescribeUserScramCredentialsResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_error_message(Some("cluster authorization failed".into())),
    )
}

pub fn alter_user_scram_credentials(
    check: &Check,
    r: AlterUserScramCredentialsRequest,
) -> Admission<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse> {
    if cluster(check, Operation::Alter) {
        return Admission::Serve(r, None);
    }
    let mut users: Vec<_> = r.deletions.iter().map(|d| d.name.clone()).collect();
    users.extend(r.upsertions.iter().map(|u| u.name.clone()));
    users.dedup();
    let denied = users.into_iter().map(|user| {
        alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
            .with_user(user)
            .with_error_code(CLUSTER_DENIED)
    });
    Admission::Answer(AlterUserScramCredentialsResponse::default().with_results(denied.collect()))
}

/// ALTER_CONFIGS on the topic, or on the cluster for a broker resource.
fn alter_configs_allowed(check: &Check, resource_type: i8, name: &str) -> bool {
    if resource_type == CONFIG_RESOURCE_TOPIC {
        check.topic(name, Operation::AlterConfigs)
    } else {
        cluster(check, Operation::AlterConfigs)
    }
}

pub fn alter_configs(
    check: &Check,
    r: AlterConfigsRequest,
) -> Admission<AlterConfigsRequest, AlterConfigsResponse> {
    narrow!(
        r,
        resources,
        |c| alter_configs_allowed(check, c.resource_type, &c.resource_name),
        |response, c| response.responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(config_denied(c.resource_type))
                .with_resource_type(c.resource_type)
                .with_resource_name(c.resource_name)
        )
    )
}

pub fn incremental_alter_configs(
    check: &Check,
    r: IncrementalAlterConfigsRequest,
) -> Admission<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> {
    narrow!(
        r,
        resources,
        |c| alter_configs_allowed(check, c.resource_type, &c.resource_name),
        |response, c| response.responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(config_denied(c.resource_type))
                .with_resource_type(c.resource_type)
                .with_resource_name(c.resource_name)
        )
    )
}

fn config_denied(resource_type: i8) -> i16 {
    if resource_type == CONFIG_RESOURCE_TOPIC {
        TOPIC_DENIED
    } else {
        CLUSTER_DENIED
    }
}
