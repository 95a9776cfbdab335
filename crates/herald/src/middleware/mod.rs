//! Middleware around a consumer's handler, one file each: [`retry`] (exponential backoff policy),
//! [`retry_topic`] (the strategy that retries through `<topic>.retry.<n>` topics) and
//! [`dead_letter`] (where messages go when they cannot be processed). The deduplicating inbox lives in
//! [`crate::inbox`] because it also owns database tables.
//!
//! The runner applies them in this order: decode (an undecodable record goes straight to the dead
//! letter topic), handler with retries, dead letter after the last attempt, then the offset commit.

pub mod dead_letter;
pub mod origin;
pub mod retry;
pub mod retry_topic;
