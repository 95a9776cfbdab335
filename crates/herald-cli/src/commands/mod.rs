//! One module per `herald` subcommand.

pub mod broker;
pub mod completions;
pub mod consume;
pub mod groups;
pub mod produce;
pub mod reset;
pub mod topics;
