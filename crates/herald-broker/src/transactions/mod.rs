//! Kafka transactions: the transaction coordinator's pure state machine (`machine`), one id's
//! metadata and transitions (`state`), and the records of `__transaction_state` (`log_format`).
//! The shell that writes transitions and markers, and the APIs, build on these.

pub mod log_format;
pub mod machine;
pub mod state;

#[cfg(test)]
mod tests;

pub use machine::{InitOutcome, ListFilter, Outcome, TxnConfig, TxnStateMachine};
pub use state::{TopicPartition, Transit, TxnMetadata, TxnState};
