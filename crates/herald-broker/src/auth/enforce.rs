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

/// Serves the items of `$request.$items` that `$allowed` lets through, then adds `$deny` of each
/// refused item to the response: the per-topic (or per-group) denial shape every such API shares.
macro_rules! serve_allowed {
    ($state:expr, $header:expr, $variant:ident($request:expr).$items:ident,
     |$item:ident| $allowed:expr, |$response:ident, $refused:ident| $deny:expr) => {{
        let mut request = $request;
        let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut request.$items)
            .into_iter()
            .partition(|$item| $allowed);
        request.$items = kept;
        match api::handle($state, $header, RequestKind::$variant(request)).await {
            Some(ResponseKind::$variant(mut $response)) => {
                for $refused in refused {
                    $deny;
                }
                Some(ResponseKind::$variant($response))
            }
            other => other,
        }
    }};
}

/// Serves `request` as far as `principal`'s ACLs allow.
pub async fn handle(
    state: &Arc<BrokerState>,
    acls: &Acls,
    principal: &str,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<ResponseKind> {
    use Operation::{Alter, Create, Delete, Describe, Read, Write};
    let topic = |name: &str, op| acls.allows(principal, ResourceType::Topic, name, op);
    let group = |name: &str, op| acls.allows(principal, ResourceType::Group, name, op);
    debug_assert_eq!(TOPIC_DENIED, ResponseError::TopicAuthorizationFailed.code());
    debug_assert_eq!(GROUP_DENIED, ResponseError::GroupAuthorizationFailed.code());
    debug_assert_eq!(
        CLUSTER_DENIED,
        ResponseError::ClusterAuthorizationFailed.code()
    );
    match request {
        RequestKind::Produce(r) => {
            let check = |n: &str| produce_allowed(state, acls, principal, n);
            produce(state, header, r, &check).await
        }
        RequestKind::Fetch(r) => serve_allowed!(
            state,
            header,
            Fetch(r).topics,
            |t| topic(&t.topic, Read),
            |response, t| response.responses.push(fetch_denied(t))
        ),
        RequestKind::ListOffsets(r) => serve_allowed!(
            state,
            header,
            ListOffsets(r).topics,
            |t| topic(&t.name, Describe),
            |response, t| response.topics.push(list_offsets_denied(t))
        ),
        RequestKind::OffsetForLeaderEpoch(r) => serve_allowed!(
            state,
            header,
            OffsetForLeaderEpoch(r).topics,
            |t| topic(&t.topic, Describe),
            |response, t| response.topics.push(leader_epoch_denied(t))
        ),
        RequestKind::DescribeConfigs(r) => serve_allowed!(
            state,
            header,
            DescribeConfigs(r).resources,
            |c| c.resource_type != CONFIG_RESOURCE_TOPIC || topic(&c.resource_name, Describe),
            |response, c| response.results.push(
                describe_configs_response::DescribeConfigsResult::default()
                    .with_error_code(TOPIC_DENIED)
                    .with_error_message(Some("topic authorization failed".into()))
                    .with_resource_type(c.resource_type)
                    .with_resource_name(c.resource_name)
            )
        ),
        RequestKind::Metadata(mut r) => {
            // Auto-creation through Metadata needs create on every topic it names.
            let creatable = r
                .topics
                .iter()
                .flatten()
                .all(|t| t.name.as_ref().is_some_and(|n| topic(n, Create)));
            r.allow_auto_topic_creation &= creatable;
            metadata(state, header, r, &|n| topic(n, Describe)).await
        }
        RequestKind::CreateTopics(r) => serve_allowed!(
            state,
            header,
            CreateTopics(r).topics,
            |t| topic(&t.name, Create),
            |response, t| response.topics.push(
                create_topics_response::CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(TOPIC_DENIED)
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            )
        ),
        RequestKind::DeleteTopics(r) => {
            delete_topics(state, header, r, &|n| topic(n, Delete)).await
        }
        RequestKind::CreatePartitions(r) => serve_allowed!(
            state,
            header,
            CreatePartitions(r).topics,
            |t| topic(&t.name, Alter),
            |response, t| response.results.push(
                create_partitions_response::CreatePartitionsTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(TOPIC_DENIED)
            )
        ),
        RequestKind::InitProducerId(r) if r.transactional_id.is_none() => {
            if acls.allows_any(principal, ResourceType::Topic, Write) {
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
        RequestKind::OffsetCommit(r) if group(&r.group_id, Read) => serve_allowed!(
            state,
            header,
            OffsetCommit(r).topics,
            |t| topic(&t.name, Read),
            |response, t| response.topics.push(commit_topic_error(t, TOPIC_DENIED))
        ),
        RequestKind::OffsetDelete(r) if !group(&r.group_id, Delete) => {
            Some(ResponseKind::OffsetDelete(
                OffsetDeleteResponse::default().with_error_code(GROUP_DENIED),
            ))
        }
        RequestKind::OffsetDelete(r) => serve_allowed!(
            state,
            header,
            OffsetDelete(r).topics,
            |t| topic(&t.name, Read),
            |response, t| response.topics.push(offset_delete_denied(t))
        ),
        RequestKind::FindCoordinator(r) if r.key_type == COORDINATOR_KEY_GROUP => {
            find_coordinator(state, header, r, &|n| group(n, Describe)).await
        }
        RequestKind::DescribeGroups(r) => serve_allowed!(
            state,
            header,
            DescribeGroups(r).groups,
            |g| group(g, Describe),
            |response, g| response.groups.push(
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(g)
                    .with_error_code(GROUP_DENIED)
            )
        ),
        RequestKind::DeleteGroups(r) => serve_allowed!(
            state,
            header,
            DeleteGroups(r).groups_names,
            |g| group(g, Delete),
            |response, g| response.results.push(
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(GROUP_DENIED)
            )
        ),
        RequestKind::ListGroups(r) => {
            let response = api::handle(state, header, RequestKind::ListGroups(r)).await;
            let Some(ResponseKind::ListGroups(mut response)) = response else {
                return response;
            };
            response.groups.retain(|g| group(&g.group_id, Describe));
            Some(ResponseKind::ListGroups(response))
        }
        other => match group_of(&other) {
            Some(denied) if !denied.iter().all(|g| group(g, Read)) => Some(group_denied(other)),
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
