//! The group coordinator: Kafka's classic consumer-group protocol and committed offsets.
//!
//! `state_machine` (JoinGroup, tick), `barrier` (the join barrier, evictions), `membership` (SyncGroup,
//! Heartbeat, LeaveGroup) and `offsets` (commits, fetch, retention, admin APIs) form a pure state
//! machine: no sockets, no tasks, no clock; it is fed requests and `now_ms` ticks and returns answers
//! addressed by token plus offset records to persist. `store` writes those records to the internal
//! `__consumer_offsets` topic in Kafka's format (`records`), `legacy_offsets` reads the file herald used
//! before (migrated at the first start), and `shell` is the async [`GroupCoordinator`] that owns the
//! lock, the timer and the waiting requests.
//!
//! Group membership is deliberately not persisted (Kafka persists it): after a restart clients get
//! UNKNOWN_MEMBER_ID and rejoin, which costs one rebalance, while committed offsets survive in the topic.
//!
//! Main types: [`GroupStateMachine`], [`GroupCoordinator`], [`OffsetStore`], [`GroupState`].

mod barrier;
pub mod group;
pub mod legacy_offsets;
pub mod membership;
pub mod offsets;
pub mod records;
pub mod shell;
pub mod state_machine;
pub mod store;
pub mod types;

#[cfg(test)]
mod tests;

pub use group::GroupState;
pub use shell::GroupCoordinator;
pub use state_machine::GroupStateMachine;
pub use store::OffsetStore;
pub use types::*;
