//! AlterUserScramCredentials (0, KIP-554): sets or deletes users' SCRAM credentials while the broker
//! runs. The client sends the salted password (never the password); the broker derives and stores the
//! keys in `<data_dir>/scram_credentials`, fsynced before the answer (`auth/user_store.rs`). Each
//! user's changes apply together or not at all, with Kafka's codes: UNSUPPORTED_SASL_MECHANISM,
//! UNACCEPTABLE_CREDENTIAL (iterations outside 4096-16384, empty name or salt, a credential of the
//! users file), DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND. Needs ALTER on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::context::RequestContext;
use crate::auth::user_store::Upsertion;

/// Answers an AlterUserScramCredentials request.
pub async fn handle(
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<(String, i8)> = request
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .collect();
    let upsertions: Vec<Upsertion> = request
        .upsertions
        .iter()
        .map(|u| Upsertion {
            name: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let store = ctx.state.security.users.clone();
    let users: Vec<String> = deletions
        .iter()
        .map(|d| d.0.clone())
        .chain(upsertions.iter().map(|u| u.name.clone()))
        .collect();
    let altered = super::blocking(&ctx.state, move |_| store.alter(&deletions, &upsertions)).await;
    let results = match altered {
        Ok(results) => results
            .into_iter()
            .map(|r| {
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(r.user))
                    .with_error_code(r.error_code)
                    .with_error_message(r.message.map(StrBytes::from_string))
            })
            .collect(),
        Err(e) => {
            let mut seen = Vec::new();
            users
                .into_iter()
                .filter(|u| {
                    let first = !seen.contains(u);
                    seen.push(u.clone());
                    first
                })
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(StrBytes::from_string(user))
                        .with_error_code(ResponseError::UnknownServerError.code())
                        .with_error_message(Some(StrBytes::from_string(e.to_string())))
                })
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
