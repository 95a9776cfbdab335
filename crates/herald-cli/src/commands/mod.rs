//! One module per `herald` subcommand.

pub mod broker;
