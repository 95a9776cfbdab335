//! The `herald` binary: parses flags and hands each subcommand to its module under `commands/`.
//!
//! Exit codes: 0 success, 1 operational error (one line on stderr), 2 usage error (clap's own).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client;
mod commands;
mod output;
mod position;
mod progress;
mod signal;

use client::ClientArgs;
use output::OutputFormat;

/// herald: event-driven microservices on Kafka.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    client: ClientArgs,
    /// Output for people (table) or scripts (json).
    #[arg(long, global = true, value_enum, default_value = "table")]
    output: OutputFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run herald-broker, the single-node Kafka-compatible broker.
    Broker(Box<commands::broker::BrokerArgs>),
    /// List, describe, create and delete topics.
    #[command(subcommand)]
    Topics(commands::topics::TopicsCommand),
    /// Publish records read from stdin or a file, one JSON document per line.
    Produce(commands::produce::ProduceArgs),
    /// Print a topic's records, decoding CloudEvents and the Rails event shape.
    Consume(commands::consume::ConsumeArgs),
    /// Consumer groups: members, committed offsets, lag; reset offsets.
    #[command(subcommand)]
    Groups(commands::groups::GroupsCommand),
    /// ACL bindings: list, add and remove them through the admin API.
    #[command(subcommand)]
    Acls(commands::acls::AclsCommand),
    /// Dead letters: list dead-letter topics, show their letters, replay them (each at most once).
    #[command(subcommand)]
    Dlq(commands::dlq::DlqCommand),
    /// Generate a new service crate (`herald new service NAME`).
    #[command(subcommand)]
    New(commands::new::NewCommand),
    /// Replay a topic into a group's service: reset its offsets to the earliest (the service must be
    /// stopped), then start it again.
    Replay(commands::reset::ReplayArgs),
    /// Run the example platform and show its promises (outbox, catch-up, replay, bootstrap), with
    /// a table of checks; exits non-zero if any fails.
    Demo(commands::demo::DemoArgs),
    /// Serve the web console (topics, messages, groups, lag, dead letters) for the cluster.
    Console(commands::console::ConsoleArgs),
    /// Start the example platform and leave it running until Ctrl-C.
    Up(commands::up::UpArgs),
    /// Run one service of the example platform (used by `demo` and `up`).
    #[command(subcommand, hide = true)]
    Service(commands::service::ServiceCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(match cli.command {
        Command::Broker(_) => "info",
        _ => "warn",
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Broker(args) => commands::broker::run(*args).await,
            Command::Topics(command) => {
                commands::topics::run(command, &cli.client, cli.output).await
            }
            Command::Produce(args) => commands::produce::run(args, &cli.client, cli.output).await,
            Command::Consume(args) => commands::consume::run(args, &cli.client).await,
            Command::Groups(command) => {
                commands::groups::run(command, &cli.client, cli.output).await
            }
            Command::Acls(command) => commands::acls::run(command, &cli.client, cli.output).await,
            Command::Dlq(command) => commands::dlq::run(command, &cli.client, cli.output).await,
            Command::New(command) => commands::new::run(command),
            Command::Replay(args) => commands::reset::replay(args, &cli.client, cli.output).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Console(args) => commands::console::run(args, &cli.client).await,
            Command::Up(args) => commands::up::run(args).await,
            Command::Service(command) => commands::service::run(command, &cli.client).await,
            Command::Completions { shell } => {
                commands::completions::run::<Cli>(shell);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: `info` for the broker, `warn` for client
/// commands), so stdout stays clean for data.
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for people: logs piped to files or other programs stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
