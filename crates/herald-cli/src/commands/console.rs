//! `herald console [--listen 127.0.0.1:8090] [--read-only] [--auth-users FILE]`: the web console
//! (herald-console) for the cluster named by `--brokers` and `-X`, until Ctrl-C or SIGTERM.
//!
//! Safe by default: it listens on loopback; a non-loopback address without `--auth-users` is
//! refused unless `--read-only` is set, since anyone who can reach it could otherwise change the
//! cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use herald_console::security::Users;
use herald_console::{Console, ConsoleConfig};

use crate::client::ClientArgs;

/// Flags of `herald console`.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Hide every write action (create, delete, configs, purge, resets, republish) and refuse
    /// their requests.
    #[arg(long)]
    pub read_only: bool,
    /// Require HTTP basic auth with the users of this file (`user:password` lines).
    #[arg(long, value_name = "FILE")]
    pub auth_users: Option<PathBuf>,
}

/// Runs the console until a signal.
pub async fn run(args: ConsoleArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let users = match &args.auth_users {
        Some(path) => Some(Users::load(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    if !args.listen.ip().is_loopback() && users.is_none() && !args.read_only {
        bail!(
            "refusing to serve a writable console on {} without --auth-users: \
             add --auth-users FILE or --read-only, or listen on loopback",
            args.listen
        );
    }
    let mut config = ConsoleConfig::new(client.brokers.clone());
    config.settings = client.settings.clone();
    config.read_only = args.read_only;
    config.users = users;
    config.request_timeout = client.timeout;
    let console = Console::start(config, args.listen)
        .await
        .context("starting the console")?;
    println!(
        "herald console on {} for brokers {}{} (Ctrl-C to stop)",
        console.url(),
        client.brokers,
        if args.read_only { ", read-only" } else { "" }
    );
    let signal = crate::signal::shutdown_requested().await?;
    println!("{signal}: stopping the console");
    console.stop().await.context("stopping the console")?;
    Ok(())
}
