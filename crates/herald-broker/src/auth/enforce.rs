//! ACL enforcement: which operation each API needs, applied before the request reaches its handler.
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
//! | ListOffsets, OffsetForLeaderEpoch, DescribeConfigs (topics) | describe on the topic |
//! | Metadata | describe (other topics are left out; named ones answer 29); auto-creation (v4+) needs create |
//! | CreateTopics / DeleteTopics | create / delete on the topic |
//! | CreatePartitions | alter on the topic |
//! | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetFetch | read on the group |
//! | OffsetCommit | read on the group and read on each topic |
//! | FindCoordinator (groups), DescribeGroups | describe on the group |
//! | ListGroups | lists only the groups the principal may describe |
//! | DeleteGroups | delete on the group |
//! | OffsetDelete | delete on the group and read on each topic |
//!
//! Not checked (served to any authenticated principal): ApiVersions, DescribeConfigs of the broker
//! itself, and FindCoordinator for transactional ids (transactions are refused anyway).
//! Not here: the rules themselves (`acl.rs`).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;

use super::acl::{Acls, Operation, ResourceType};
use crate::api;
use crate::BrokerState;

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
/// DescribeConfigs resource type of a topic (2; the broker is 4).
const CONFIG_RESOURCE_TOPIC: i8 = 2;
/// FindCoordinator key type of a consumer group (0; transactional ids are 1).
const COORDINATOR_KEY_GROUP: i8 = 0;

/// Serves `request` as far as `principal`'s ACLs allow.
pub async fn handle(
    state: &Arc<BrokerState>,
    acls: &Acls,
    principal: &str,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<ResponseKind> {
    let topic = |name: &str, op| acls.allows(principal, ResourceType::Topic, name, op);
    let group = |name: &str| acls.allows(principal, ResourceType::Group, name, Operation::Read);
    debug_assert_eq!(TOPIC_DENIED, ResponseError::TopicAuthorizationFailed.code());
    debug_assert_eq!(GROUP_DENIED, ResponseError::GroupAuthorizationFailed.code());
    debug_assert_eq!(
        CLUSTER_DENIED,
        ResponseError::ClusterAuthorizationFailed.code()
    );
    let group_may = |name: &str, op| acls.allows(principal, ResourceType::Group, name, op);
    match request {
        RequestKind::Produce(r) => {
            let check = |n: &str| produce_allowed(state, acls, principal, n);
            produce(state, header, r, &check).await
        }
        RequestKind::Fetch(r) => fetch(state, header, r, &|n| topic(n, Operation::Read)).await,
        RequestKind::ListOffsets(r) => {
            list_offsets(state, header, r, &|n| topic(n, Operation::Describe)).await
        }
        RequestKind::Metadata(mut r) => {
            // Auto-creation through Metadata needs create on every topic it names.
            let creatable = r
                .topics
                .iter()
                .flatten()
                .all(|t| t.name.as_ref().is_some_and(|n| topic(n, Operation::Create)));
            r.allow_auto_topic_creation &= creatable;
            metadata(state, header, r, &|n| topic(n, Operation::Describe)).await
        }
        RequestKind::CreateTopics(r) => {
            create_topics(state, header, r, &|n| topic(n, Operation::Create)).await
        }
        RequestKind::DeleteTopics(r) => {
            delete_topics(state, header, r, &|n| topic(n, Operation::Delete)).await
        }
        RequestKind::OffsetCommit(r) if group(&r.group_id) => {
            offset_commit(state, header, r, &|n| topic(n, Operation::Read)).await
        }
        RequestKind::InitProducerId(r) if r.transactional_id.is_none() => {
            if acls.allows_any(principal, ResourceType::Topic, Operation::Write) {
                api::handle(state, header, RequestKind::InitProducerId(r)).await
            } else {
                Some(ResponseKind::InitProducerId(
                    InitProducerIdResponse::default()
                        .with_error_code(CLUSTER_DENIED)
                        .with_producer_id((-1).into())
                        .with_producer_epoch(-1),
                ))
            }
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            offset_for_leader_epoch(state, header, r, &|n| topic(n, Operation::Describe)).await
        }
        RequestKind::DescribeConfigs(r) => {
            describe_configs(state, header, r, &|n| topic(n, Operation::Describe)).await
        }
        RequestKind::CreatePartitions(r) => {
            create_partitions(state, header, r, &|n| topic(n, Operation::Alter)).await
        }
        RequestKind::FindCoordinator(r) if r.key_type == COORDINATOR_KEY_GROUP => {
            find_coordinator(state, header, r, &|n| group_may(n, Operation::Describe)).await
        }
        RequestKind::DescribeGroups(r) => {
            describe_groups(state, header, r, &|n| group_may(n, Operation::Describe)).await
        }
        RequestKind::ListGroups(r) => {
            let response = api::handle(state, header, RequestKind::ListGroups(r)).await;
            let Some(ResponseKind::ListGroups(mut response)) = response else {
                return response;
            };
            response
                .groups
                .retain(|g| group_may(&g.group_id, Operation::Describe));
            Some(ResponseKind::ListGroups(response))
        }
        RequestKind::DeleteGroups(r) => {
            delete_groups(state, header, r, &|n| group_may(n, Operation::Delete)).await
        }
        RequestKind::OffsetDelete(r) => {
            if group_may(&r.group_id, Operation::Delete) {
                offset_delete(state, header, r, &|n| topic(n, Operation::Read)).await
            } else {
                Some(ResponseKind::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(GROUP_DENIED),
                ))
            }
        }
        other => match group_of(&other) {
            Some(denied) if !denied.iter().all(|g| group(g)) => Some(group_denied(other)),
            _ => api::handle(state, header, other).await,
        },
    }
}

/// Whether every topic of a Produce may be written, and exists or may be created (then the request
/// can take the pipelined path, which has no ACL step).
pub fn produce_fully_allowed(
    state: &BrokerState,
    acls: &Acls,
    principal: &str,
    request: &ProduceRequest,
) -> bool {
    request
        .topic_data
        .iter()
        .all(|t| produce_allowed(state, acls, principal, &t.name).is_ok())
}

/// Produce needs write; producing to a missing topic (auto-creation) also needs create, else the
/// topic is reported unknown as if auto-creation were off.
fn produce_allowed(
    state: &BrokerState,
    acls: &Acls,
    principal: &str,
    topic: &str,
) -> Result<(), i16> {
    if !acls.allows(principal, ResourceType::Topic, topic, Operation::Write) {
        return Err(TOPIC_DENIED);
    }
    let creatable = || acls.allows(principal, ResourceType::Topic, topic, Operation::Create);
    if state.topics.get(topic).is_none() && !creatable() {
        return Err(ResponseError::UnknownTopicOrPartition.code());
    }
    Ok(())
}

/// The groups a group API names; `None` for APIs without a group check.
fn group_of(request: &RequestKind) -> Option<Vec<&str>> {
    Some(match request {
        RequestKind::JoinGroup(r) => vec![&*r.group_id],
        RequestKind::SyncGroup(r) => vec![&*r.group_id],
        RequestKind::Heartbeat(r) => vec![&*r.group_id],
        RequestKind::LeaveGroup(r) => vec![&*r.group_id],
        RequestKind::OffsetCommit(r) => vec![&*r.group_id],
        RequestKind::OffsetFetch(r) if r.groups.is_empty() => vec![&*r.group_id],
        RequestKind::OffsetFetch(r) => r.groups.iter().map(|g| &**g.group_id).collect(),
        _ => return None,
    })
}

/// The whole-request answer to a group API whose group is denied.
fn group_denied(request: RequestKind) -> ResponseKind {
    match request {
        RequestKind::JoinGroup(_) => {
            ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::LeaveGroup(_) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .into_iter()
                    .map(|t| commit_topic_error(t, GROUP_DENIED))
                    .collect(),
            ),
        ),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(
            OffsetFetchResponse::default()
                .with_error_code(GROUP_DENIED)
                .with_groups(
                    r.groups
                        .into_iter()
                        .map(|g| {
                            offset_fetch_response::OffsetFetchResponseGroup::default()
                                .with_group_id(g.group_id)
                                .with_error_code(GROUP_DENIED)
                        })
                        .collect(),
                ),
        ),
        // group_of lists only the APIs above.
        _ => ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(GROUP_DENIED)),
    }
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

type Allowed<'a> = &'a (dyn Fn(&str) -> bool + Sync);

type ProduceCheck<'a> = &'a (dyn Fn(&str) -> Result<(), i16> + Sync);

async fn produce(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: ProduceRequest,
    check: ProduceCheck<'_>,
) -> Option<ResponseKind> {
    let mut denied = Vec::new();
    let mut kept = Vec::new();
    for topic in std::mem::take(&mut request.topic_data) {
        match check(&topic.name) {
            Ok(()) => kept.push(topic),
            Err(code) => denied.push((topic, code)),
        }
    }
    request.topic_data = kept;
    let response = api::handle(state, header, RequestKind::Produce(request)).await;
    let Some(ResponseKind::Produce(mut response)) = response else {
        return response; // acks=0: nothing is sent
    };
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
    Some(ResponseKind::Produce(response))
}

async fn fetch(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: FetchRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.topic));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::Fetch(request)).await;
    let Some(ResponseKind::Fetch(mut response)) = response else {
        return response;
    };
    for topic in denied {
        let partitions = topic.partitions.iter().map(|p| {
            fetch_response::PartitionData::default()
                .with_partition_index(p.partition)
                .with_error_code(TOPIC_DENIED)
                .with_high_watermark(-1)
        });
        response.responses.push(
            fetch_response::FetchableTopicResponse::default()
                .with_topic(topic.topic)
                .with_partitions(partitions.collect()),
        );
    }
    Some(ResponseKind::Fetch(response))
}

async fn list_offsets(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: ListOffsetsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.name));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::ListOffsets(request)).await;
    let Some(ResponseKind::ListOffsets(mut response)) = response else {
        return response;
    };
    for topic in denied {
        let partitions = topic.partitions.iter().map(|p| {
            list_offsets_response::ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_error_code(TOPIC_DENIED)
                .with_offset(-1)
                .with_timestamp(-1)
        });
        response.topics.push(
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions.collect()),
        );
    }
    Some(ResponseKind::ListOffsets(response))
}

async fn metadata(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: MetadataRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let mut denied = Vec::new();
    if let Some(topics) = request.topics.as_mut() {
        let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(topics)
            .into_iter()
            .partition(|t| t.name.as_ref().is_none_or(|n| allowed(n)));
        *topics = kept;
        denied = refused;
    }
    let response = api::handle(state, header, RequestKind::Metadata(request)).await;
    let Some(ResponseKind::Metadata(mut response)) = response else {
        return response;
    };
    // Listing every topic shows only the describable ones, as Kafka does.
    response
        .topics
        .retain(|t| t.name.as_ref().is_none_or(|n| allowed(n)));
    for topic in denied {
        response.topics.push(
            metadata_response::MetadataResponseTopic::default()
                .with_name(topic.name)
                .with_error_code(TOPIC_DENIED),
        );
    }
    Some(ResponseKind::Metadata(response))
}

async fn create_topics(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: CreateTopicsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.name));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::CreateTopics(request)).await;
    let Some(ResponseKind::CreateTopics(mut response)) = response else {
        return response;
    };
    for topic in denied {
        response.topics.push(
            create_topics_response::CreatableTopicResult::default()
                .with_name(topic.name)
                .with_error_code(TOPIC_DENIED)
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        );
    }
    Some(ResponseKind::CreateTopics(response))
}

async fn delete_topics(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: DeleteTopicsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied_names): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topic_names)
        .into_iter()
        .partition(|t| allowed(t));
    request.topic_names = kept;
    let (kept, denied_states): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| t.name.as_ref().is_some_and(|n| allowed(n)));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::DeleteTopics(request)).await;
    let Some(ResponseKind::DeleteTopics(mut response)) = response else {
        return response;
    };
    let denied = denied_names
        .into_iter()
        .map(Some)
        .chain(denied_states.into_iter().map(|t| t.name));
    for name in denied {
        response.responses.push(
            delete_topics_response::DeletableTopicResult::default()
                .with_name(name)
                .with_error_code(TOPIC_DENIED),
        );
    }
    Some(ResponseKind::DeleteTopics(response))
}

async fn offset_commit(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: OffsetCommitRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.name));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::OffsetCommit(request)).await;
    let Some(ResponseKind::OffsetCommit(mut response)) = response else {
        return response;
    };
    for topic in denied {
        response
            .topics
            .push(commit_topic_error(topic, TOPIC_DENIED));
    }
    Some(ResponseKind::OffsetCommit(response))
}

async fn offset_for_leader_epoch(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: OffsetForLeaderEpochRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.topic));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::OffsetForLeaderEpoch(request)).await;
    let Some(ResponseKind::OffsetForLeaderEpoch(mut response)) = response else {
        return response;
    };
    for topic in denied {
        let partitions = topic.partitions.iter().map(|p| {
            offset_for_leader_epoch_response::EpochEndOffset::default()
                .with_partition(p.partition)
                .with_error_code(TOPIC_DENIED)
                .with_leader_epoch(-1)
                .with_end_offset(-1)
        });
        response.topics.push(
            offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions.collect()),
        );
    }
    Some(ResponseKind::OffsetForLeaderEpoch(response))
}

async fn describe_configs(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: DescribeConfigsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.resources)
        .into_iter()
        .partition(|r| r.resource_type != CONFIG_RESOURCE_TOPIC || allowed(&r.resource_name));
    request.resources = kept;
    let response = api::handle(state, header, RequestKind::DescribeConfigs(request)).await;
    let Some(ResponseKind::DescribeConfigs(mut response)) = response else {
        return response;
    };
    for resource in denied {
        response.results.push(
            describe_configs_response::DescribeConfigsResult::default()
                .with_error_code(TOPIC_DENIED)
                .with_error_message(Some("topic authorization failed".into()))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    Some(ResponseKind::DescribeConfigs(response))
}

async fn create_partitions(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: CreatePartitionsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.name));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::CreatePartitions(request)).await;
    let Some(ResponseKind::CreatePartitions(mut response)) = response else {
        return response;
    };
    for topic in denied {
        response.results.push(
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(topic.name)
                .with_error_code(TOPIC_DENIED),
        );
    }
    Some(ResponseKind::CreatePartitions(response))
}

/// FindCoordinator for groups: v0-3 name one key (a denied key fails the whole response), v4+ a list.
async fn find_coordinator(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: FindCoordinatorRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    if header.request_api_version < 4 {
        if allowed(&request.key) {
            return api::handle(state, header, RequestKind::FindCoordinator(request)).await;
        }
        return Some(ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default()
                .with_error_code(GROUP_DENIED)
                .with_node_id((-1).into())
                .with_port(-1),
        ));
    }
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.coordinator_keys)
        .into_iter()
        .partition(|k| allowed(k));
    request.coordinator_keys = kept;
    let response = api::handle(state, header, RequestKind::FindCoordinator(request)).await;
    let Some(ResponseKind::FindCoordinator(mut response)) = response else {
        return response;
    };
    for key in denied {
        response.coordinators.push(
            find_coordinator_response::Coordinator::default()
                .with_key(key)
                .with_node_id((-1).into())
                .with_port(-1)
                .with_error_code(GROUP_DENIED),
        );
    }
    Some(ResponseKind::FindCoordinator(response))
}

async fn describe_groups(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: DescribeGroupsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.groups)
        .into_iter()
        .partition(|g| allowed(g));
    request.groups = kept;
    let response = api::handle(state, header, RequestKind::DescribeGroups(request)).await;
    let Some(ResponseKind::DescribeGroups(mut response)) = response else {
        return response;
    };
    for group in denied {
        response.groups.push(
            describe_groups_response::DescribedGroup::default()
                .with_group_id(group)
                .with_error_code(GROUP_DENIED),
        );
    }
    Some(ResponseKind::DescribeGroups(response))
}

async fn delete_groups(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: DeleteGroupsRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.groups_names)
        .into_iter()
        .partition(|g| allowed(g));
    request.groups_names = kept;
    let response = api::handle(state, header, RequestKind::DeleteGroups(request)).await;
    let Some(ResponseKind::DeleteGroups(mut response)) = response else {
        return response;
    };
    for group in denied {
        response.results.push(
            delete_groups_response::DeletableGroupResult::default()
                .with_group_id(group)
                .with_error_code(GROUP_DENIED),
        );
    }
    Some(ResponseKind::DeleteGroups(response))
}

async fn offset_delete(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    mut request: OffsetDeleteRequest,
    allowed: Allowed<'_>,
) -> Option<ResponseKind> {
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| allowed(&t.name));
    request.topics = kept;
    let response = api::handle(state, header, RequestKind::OffsetDelete(request)).await;
    let Some(ResponseKind::OffsetDelete(mut response)) = response else {
        return response;
    };
    for topic in denied {
        let partitions = topic.partitions.iter().map(|p| {
            offset_delete_response::OffsetDeleteResponsePartition::default()
                .with_partition_index(p.partition_index)
                .with_error_code(TOPIC_DENIED)
        });
        response.topics.push(
            offset_delete_response::OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions.collect()),
        );
    }
    Some(ResponseKind::OffsetDelete(response))
}
