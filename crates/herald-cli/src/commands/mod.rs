//! One module per `herald` subcommand.

pub mod acls;
pub mod broker;
pub mod completions;
pub mod console;
pub mod consume;
pub mod demo;
pub mod demo_bench;
pub mod demo_compaction;
pub mod demo_compaction_bench;
pub mod dlq;
pub mod dlq_log;
pub mod group_offsets;
pub mod groups;
pub mod new;
pub mod platform;
pub mod produce;
pub mod reset;
pub mod service;
pub mod topic_alter;
pub mod topic_purge;
pub mod topics;
pub mod up;
