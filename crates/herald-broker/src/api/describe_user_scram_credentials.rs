//! DescribeUserScramCredentials (0, KIP-554): each user's SCRAM mechanisms and iteration counts
//! (never keys), from the users file and the admin API alike. `users` null lists every user with a
//! SCRAM credential; a named user without one answers RESOURCE_NOT_FOUND. Needs DESCRIBE on the
//! cluster.

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::context::RequestContext;

/// Answers a DescribeUserScramCredentials request.
pub fn handle(
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let names: Option<Vec<String>> = request
        .users
        .filter(|users| !users.is_empty())
        .map(|users| users.into_iter().map(|u| u.name.to_string()).collect());
    let results = ctx
        .state
        .security
        .users
        .describe(names.as_deref())
        .into_iter()
        .map(|(result, infos)| {
            DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(result.user))
                .with_error_code(result.error_code)
                .with_error_message(result.message.map(StrBytes::from_string))
                .with_credential_infos(
                    infos
                        .into_iter()
                        .map(|(mechanism, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism)
                                .with_iterations(iterations)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
