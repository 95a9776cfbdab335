//! The one registry of APIs: each Kafka API this broker serves is declared here once, with its
//! versions, its authorization rule, its handler and where its error codes are. ApiVersions, the
//! version gate (`frame.rs`), dispatch, ACL checks, the WARN line on errors and the per-API metrics
//! are all derived from [`APIS`], so an API cannot be served without a rule: `authorization` is a
//! required field, and [`Authorization::BeforeLogin`] (no resource to check) is allowed only for
//! ApiVersions and the SASL steps (a unit test holds that list).
//!
//! Versions are DESIGN.md's table within what kafka-protocol 0.18 encodes; `docs/compatibility.md`
//! lists them. Not here: what each API does (one file per API beside this one) and the ACL rules
//! themselves (`auth/rules.rs`).
//!
//! Main types: [`Api`], [`Authorization`], [`Serve`].

use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::context::{Reply, RequestContext};
use super::error_codes as codes;
use super::*;
use crate::auth::rules::{self, Admission, Check};

/// A handler as the registry stores it: context and request in, reply out.
pub type Handler = fn(RequestContext, RequestKind) -> BoxFuture<'static, Reply>;
/// Collects a response's non-zero error codes (for the WARN line and the error counters).
pub type ErrorCodes = fn(&ResponseKind, &mut Vec<i16>);

/// One API as this broker serves it.
pub struct Api {
    pub key: ApiKey,
    /// Lowest version advertised in ApiVersions.
    pub min_version: i16,
    /// Lowest version served; below it (but advertised) the connection is closed.
    pub min_served_version: i16,
    pub max_version: i16,
    /// Advertised and served only when SASL is configured.
    pub sasl_only: bool,
    pub authorization: Authorization,
    pub serve: Serve,
    pub errors: ErrorCodes,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} v{}-{}",
            self.key, self.min_version, self.max_version
        )
    }
}

impl Api {
    /// Whether ApiVersions lists `version`.
    pub fn advertises(&self, version: i16) -> bool {
        (self.min_version..=self.max_version).contains(&version)
    }

    /// Whether requests of `version` are served.
    pub fn serves(&self, version: i16) -> bool {
        (self.min_served_version..=self.max_version).contains(&version)
    }

    /// The API's name as metrics and logs show it (`Produce`, `Fetch`, ...).
    pub fn name(&self) -> String {
        format!("{:?}", self.key)
    }
}

/// Who may send an API.
pub enum Authorization {
    /// Served before login and to every principal: ApiVersions and the SASL steps only.
    BeforeLogin,
    /// After login, through this ACL rule (`auth/rules.rs`), which sees the request before the
    /// handler does. Applied only when ACLs are configured.
    Rule,
}

/// Who answers an API.
pub enum Serve {
    /// A handler (after the rule).
    Handler(Handler),
    /// The connection's SASL session, before dispatch (`connection.rs`).
    Session,
}

/// Declares one API: the handler is generated around `$body` (which sees `$ctx` and the typed `$r`
/// and evaluates to a [`Reply`]), with the ACL rule `rules::$rule` applied first.
macro_rules! api {
    ($variant:ident, $min:expr, $served:expr, $max:expr, $rule:ident, $errors:path,
     |$ctx:ident, $r:ident| $body:expr) => {{
        fn serve(ctx: RequestContext, request: RequestKind) -> BoxFuture<'static, Reply> {
            Box::pin(async move {
                let RequestKind::$variant(request) = request else {
                    // Unreachable: dispatch looks the API up by the key the request decoded under.
                    tracing::error!(api = stringify!($variant), "request kind mismatch");
                    return Reply::Nothing;
                };
                let (request, amend) = if ctx.authorizer.enforcing() {
                    let check = Check::new(&ctx.authorizer, &ctx.state.topics, ctx.version());
                    match rules::$rule(&check, request) {
                        Admission::Serve(request, amend) => (request, amend),
                        Admission::Answer(response) => {
                            return Reply::Now(Box::new(ResponseKind::$variant(response)))
                        }
                    }
                } else {
                    (request, None)
                };
                let ($ctx, $r) = (ctx, request);
                let reply: Reply = $body;
                match amend {
                    None => reply,
                    Some(amend) => reply.amend(move |response| {
                        if let ResponseKind::$variant(response) = response {
                            amend(response)
                        }
                    }),
                }
            })
        }
        Api {
            key: ApiKey::$variant,
            min_version: $min,
            min_served_version: $served,
            max_version: $max,
            sasl_only: false,
            authorization: Authorization::Rule,
            serve: Serve::Handler(serve),
            errors: $errors,
        }
    }};
}

/// A response that is ready.
fn now(response: ResponseKind) -> Reply {
    Reply::Now(Box::new(response))
}

/// Every API served, in ApiVersions order: key, min advertised, min served, max, ACL rule (a
/// function of `auth/rules.rs`), where the error codes are, and the handler.
#[rustfmt::skip]
pub static APIS: &[Api] = &[
    // Produce v0-2 are advertised (old librdkafka feature checks need them) but closed: they carry
    // message formats v0/v1, which herald does not store (Kafka 4.0 removed them too). The append
    // happens in order; the wait for its fsync is left for later, so consecutive produces share one.
    api!(Produce, 0, 3, 11, produce, codes::produce, |ctx, r| {
        let appended = produce::append(&ctx.state, &ctx.header, r).await;
        let policy = ctx.state.flush_policy();
        if !appended.wants_response() {
            // acks=0 sends nothing, but its records still go through the group-commit fsync:
            // under --flush always consumers are served only what is durable.
            Reply::later(async move {
                appended.finish(policy).await;
                None
            })
        } else {
            Reply::later(async move { Some(ResponseKind::Produce(appended.finish(policy).await)) })
        }
    }),
    // A fetch only reads: it may long-poll while the connection dispatches what follows it.
    api!(Fetch, 4, 4, 12, fetch, codes::fetch, |ctx, r| Reply::later(async move {
        Some(ResponseKind::Fetch(fetch::handle(&ctx.state, &ctx.header, r).await))
    })),
    api!(ListOffsets, 1, 1, 7, list_offsets, codes::list_offsets, |ctx, r| now(
        ResponseKind::ListOffsets(list_offsets::handle(&ctx.state, &ctx.header, r)))),
    api!(Metadata, 0, 0, 12, metadata, codes::metadata, |ctx, r| now(
        ResponseKind::Metadata(metadata::handle(&ctx, r).await))),
    api!(OffsetCommit, 2, 2, 9, offset_commit, codes::offset_commit, |ctx, r| now(
        ResponseKind::OffsetCommit(offset_commit::handle(&ctx.state, &ctx.header, r).await))),
    api!(OffsetFetch, 1, 1, 9, offset_fetch, codes::offset_fetch, |ctx, r| now(
        ResponseKind::OffsetFetch(offset_fetch::handle(&ctx.state, &ctx.header, r)))),
    api!(FindCoordinator, 0, 0, 4, find_coordinator, codes::find_coordinator, |ctx, r| now(
        ResponseKind::FindCoordinator(find_coordinator::handle(&ctx.state, &ctx.header, r)))),
    api!(JoinGroup, 0, 0, 5, join_group, codes::join_group, |ctx, r| now(
        ResponseKind::JoinGroup(join_group::handle(&ctx, r).await))),
    api!(Heartbeat, 0, 0, 4, heartbeat, codes::heartbeat, |ctx, r| now(
        ResponseKind::Heartbeat(heartbeat::handle(&ctx.state, &ctx.header, r)))),
    api!(LeaveGroup, 0, 0, 4, leave_group, codes::leave_group, |ctx, r| now(
        ResponseKind::LeaveGroup(leave_group::handle(&ctx.state, &ctx.header, r)))),
    api!(SyncGroup, 0, 0, 4, sync_group, codes::sync_group, |ctx, r| now(
        ResponseKind::SyncGroup(sync_group::handle(&ctx.state, &ctx.header, r).await))),
    api!(DescribeGroups, 0, 0, 5, describe_groups, codes::describe_groups, |ctx, r| now(
        ResponseKind::DescribeGroups(describe_groups::handle(&ctx, r)))),
    api!(ListGroups, 0, 0, 5, list_groups, codes::list_groups, |ctx, r| now(
        ResponseKind::ListGroups(list_groups::handle(&ctx.state, &ctx.header, r)))),
    Api {
        key: ApiKey::SaslHandshake, min_version: 0, min_served_version: 0, max_version: 1,
        sasl_only: true, authorization: Authorization::BeforeLogin, serve: Serve::Session,
        errors: codes::sasl_handshake,
    },
    Api {
        key: ApiKey::ApiVersions, min_version: 0, min_served_version: 0, max_version: 4,
        sasl_only: false, authorization: Authorization::BeforeLogin,
        serve: Serve::Handler(|ctx, _request| {
            Box::pin(async move { now(ResponseKind::ApiVersions(api_versions::handle(&ctx))) })
        }),
        errors: codes::api_versions,
    },
    api!(CreateTopics, 2, 2, 5, create_topics, codes::create_topics, |ctx, r| now(
        ResponseKind::CreateTopics(create_topics::handle(&ctx.state, &ctx.header, r).await))),
    api!(DeleteTopics, 1, 1, 4, delete_topics, codes::delete_topics, |ctx, r| now(
        ResponseKind::DeleteTopics(delete_topics::handle(&ctx.state, &ctx.header, r).await))),
    api!(DeleteRecords, 0, 0, 2, delete_records, codes::delete_records, |ctx, r| now(
        ResponseKind::DeleteRecords(delete_records::handle(&ctx.state, r).await))),
    api!(InitProducerId, 0, 0, 4, init_producer_id, codes::init_producer_id, |ctx, r| now(
        ResponseKind::InitProducerId(init_producer_id::handle(&ctx.state, &ctx.header, r).await))),
    api!(OffsetForLeaderEpoch, 2, 2, 4, offset_for_leader_epoch, codes::offset_for_leader_epoch,
        |ctx, r| now(ResponseKind::OffsetForLeaderEpoch(
            offset_for_leader_epoch::handle(&ctx.state, &ctx.header, r)))),
    api!(DescribeAcls, 1, 1, 3, describe_acls, codes::describe_acls, |ctx, r| now(
        ResponseKind::DescribeAcls(describe_acls::handle(&ctx, r)))),
    api!(CreateAcls, 1, 1, 3, create_acls, codes::create_acls, |ctx, r| now(
        ResponseKind::CreateAcls(create_acls::handle(&ctx, r).await))),
    api!(DeleteAcls, 1, 1, 3, delete_acls, codes::delete_acls, |ctx, r| now(
        ResponseKind::DeleteAcls(delete_acls::handle(&ctx, r).await))),
    // DESIGN.md says 0-4; kafka-protocol 0.18 cannot encode the v0 response, so 1-4.
    api!(DescribeConfigs, 1, 1, 4, describe_configs, codes::describe_configs, |ctx, r| now(
        ResponseKind::DescribeConfigs(describe_configs::handle(&ctx.state, &ctx.header, r)))),
    api!(AlterConfigs, 0, 0, 2, alter_configs, codes::alter_configs, |ctx, r| now(
        ResponseKind::AlterConfigs(alter_configs::handle(&ctx, r).await))),
    Api {
        key: ApiKey::SaslAuthenticate, min_version: 0, min_served_version: 0, max_version: 2,
        sasl_only: true, authorization: Authorization::BeforeLogin, serve: Serve::Session,
        errors: codes::sasl_authenticate,
    },
    api!(CreatePartitions, 0, 0, 3, create_partitions, codes::create_partitions, |ctx, r| now(
        ResponseKind::CreatePartitions(create_partitions::handle(&ctx.state, &ctx.header, r).await))),
    api!(DeleteGroups, 0, 0, 2, delete_groups, codes::delete_groups, |ctx, r| now(
        ResponseKind::DeleteGroups(delete_groups::handle(&ctx.state, &ctx.header, r).await))),
    api!(OffsetDelete, 0, 0, 0, offset_delete, codes::offset_delete, |ctx, r| now(
        ResponseKind::OffsetDelete(offset_delete::handle(&ctx.state, &ctx.header, r).await))),
    api!(IncrementalAlterConfigs, 0, 0, 1, incremental_alter_configs,
        codes::incremental_alter_configs, |ctx, r| now(ResponseKind::IncrementalAlterConfigs(
            incremental_alter_configs::handle(&ctx, r).await))),
    api!(DescribeUserScramCredentials, 0, 0, 0, describe_user_scram_credentials,
        codes::describe_user_scram_credentials, |ctx, r| now(
            ResponseKind::DescribeUserScramCredentials(
                describe_user_scram_credentials::handle(&ctx, r)))),
    api!(AlterUserScramCredentials, 0, 0, 0, alter_user_scram_credentials,
        codes::alter_user_scram_credentials, |ctx, r| now(
            ResponseKind::AlterUserScramCredentials(
                alter_user_scram_credentials::handle(&ctx, r).await))),
    api!(DescribeCluster, 0, 0, 2, describe_cluster, codes::describe_cluster, |ctx, r| now(
        ResponseKind::DescribeCluster(describe_cluster::handle(&ctx, r)))),
];

/// The API registered for `key`, if this broker serves it.
pub fn find(key: ApiKey) -> Option<&'static Api> {
    APIS.iter().find(|api| api.key == key)
}

/// The APIs ApiVersions lists: everything, less the SASL steps when SASL is off.
pub fn offered(sasl_enabled: bool) -> impl Iterator<Item = &'static Api> {
    APIS.iter()
        .filter(move |api| sasl_enabled || !api.sasl_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each API is declared once, and only ApiVersions and the SASL steps skip the ACL rule.
    #[test]
    fn every_api_once_and_only_the_login_steps_before_login() {
        for (at, api) in APIS.iter().enumerate() {
            assert!(
                APIS[at + 1..].iter().all(|other| other.key != api.key),
                "{:?} declared twice",
                api.key
            );
            assert!(
                api.min_version <= api.min_served_version
                    && api.min_served_version <= api.max_version
            );
            let before_login = matches!(api.authorization, Authorization::BeforeLogin);
            let login_step = matches!(
                api.key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            );
            assert_eq!(before_login, login_step, "{:?}", api.key);
            assert_eq!(
                matches!(api.serve, Serve::Session),
                api.sasl_only,
                "{:?}",
                api.key
            );
        }
    }

    // docs/compatibility.md lists every API the registry serves, with the same versions, and no other.
    #[test]
    fn compatibility_doc_lists_every_api() {
        let doc = include_str!("../../../../docs/compatibility.md");
        let after = doc.split("## APIs and versions").nth(1).unwrap_or_default();
        let table = after.split("\n## ").next().unwrap_or_default();
        let rows: Vec<(String, String)> = table
            .lines()
            .filter(|line| line.starts_with("| ") && !line.starts_with("| API"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].to_string(), cells[3].to_string())
            })
            .collect();
        for api in APIS {
            let versions = if api.min_version == api.max_version {
                api.min_version.to_string()
            } else {
                format!("{}-{}", api.min_version, api.max_version)
            };
            assert!(
                rows.contains(&(format!("{:?}", api.key), versions.clone())),
                "docs/compatibility.md must list {:?} {versions}",
                api.key
            );
        }
        assert_eq!(
            rows.len(),
            APIS.len(),
            "the doc lists an API the registry does not serve"
        );
    }

    // Every advertised version decodes and encodes in kafka-protocol (no API outruns the crate).
    #[test]
    fn advertised_versions_are_within_kafka_protocol() {
        for api in APIS {
            let range = api.key.valid_versions();
            assert!(
                range.min <= api.min_served_version && api.max_version <= range.max,
                "{:?} {}-{} outside {}-{}",
                api.key,
                api.min_served_version,
                api.max_version,
                range.min,
                range.max
            );
        }
    }
}
