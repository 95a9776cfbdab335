//! InitProducerId (0-4): gives idempotent producers a producer id unique across restarts
//! (`producer_ids.rs`) at epoch 0. A producer that sends its current id and epoch (KIP-360 epoch bump)
//! gets the same id at the next epoch. Transactional ids are refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, fatal for clients, as FindCoordinator refuses their
//! coordinator (see `find_coordinator.rs`): herald has no transactions.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, RequestHeader,
};

use super::find_coordinator::NO_TRANSACTIONS_MESSAGE;
use crate::answer_log::warn_error;
use crate::BrokerState;

/// Answers an InitProducerId request.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    if let Some(transactional_id) = &request.transactional_id {
        let code = ResponseError::TransactionalIdAuthorizationFailed.code();
        let about = format_args!(
            "transactional id {:?}: {NO_TRANSACTIONS_MESSAGE}",
            &**transactional_id
        );
        warn_error(ApiKey::InitProducerId, header, code, &about);
        return response.with_error_code(code);
    }
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    if producer_id >= 0 && (0..i16::MAX).contains(&epoch) {
        return response
            .with_producer_id(producer_id.into())
            .with_producer_epoch(epoch + 1);
    }
    match super::blocking(state, |s| s.producer_ids.allocate()).await {
        Ok(id) => response.with_producer_id(id.into()).with_producer_epoch(0),
        Err(e) => {
            let about = format_args!("producer id allocation: {e}");
            warn_error(ApiKey::InitProducerId, header, e.error_code(), &about);
            response.with_error_code(e.error_code())
        }
    }
}
