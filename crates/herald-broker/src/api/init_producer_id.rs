//! InitProducerId (0-4): gives idempotent producers a producer id unique across restarts
//! (`producer_ids.rs`) at epoch 0. A producer that sends its current id and epoch (KIP-360 epoch bump)
//! gets the same id at the next epoch. Transactional ids are refused: transactions are not supported.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, RequestHeader};

use crate::BrokerState;

/// Answers an InitProducerId request.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
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
            tracing::warn!(error = %e, "producer id allocation failed");
            response.with_error_code(e.error_code())
        }
    }
}
