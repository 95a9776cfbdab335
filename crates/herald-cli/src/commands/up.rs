//! `herald up`: starts the example platform (herald-broker, the users, directory and mailer
//! services, and the web console, as separate processes) and leaves it running, printing the URLs and example curl
//! commands, until Ctrl-C or SIGTERM; then stops every child cleanly.

use std::path::PathBuf;

use anyhow::Context;

use super::platform::{Piece, Platform};

/// Flags of `herald up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where the databases, broker data and logs live (kept between runs).
    #[arg(long, default_value = "./herald-platform")]
    data_dir: PathBuf,
}

/// Ports used when free (otherwise any free port).
const PREFERRED_PORTS: [(Piece, u16); 5] = [
    (Piece::Broker, 9092),
    (Piece::Users, 8080),
    (Piece::Directory, 8081),
    (Piece::Mailer, 8082),
    (Piece::Console, 8090),
];

/// Runs the platform until a signal.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut platform = Platform::new(&args.data_dir, &PREFERRED_PORTS)?;
    let started = start(&mut platform).await;
    if started.is_ok() {
        print_tour(&platform);
        let signal = crate::signal::shutdown_requested().await?;
        println!("\n{signal}: stopping the platform");
    }
    platform.stop_all().await.context("stopping the platform")?;
    started
}

async fn start(platform: &mut Platform) -> anyhow::Result<()> {
    for piece in [
        Piece::Broker,
        Piece::Users,
        Piece::Directory,
        Piece::Mailer,
        Piece::Console,
    ] {
        platform.start(piece).await?;
    }
    Ok(())
}

fn print_tour(p: &Platform) {
    let users = p.url(Piece::Users);
    println!(
        "herald platform running (Ctrl-C to stop); data and logs in {}",
        p.dir().display()
    );
    println!("  broker      {}", p.brokers());
    println!("  users       {users}");
    println!("  directory   {}", p.url(Piece::Directory));
    println!("  mailer      {}", p.url(Piece::Mailer));
    println!("  console     {}", p.url(Piece::Console));
    println!("\nTry:");
    println!("  curl -s -XPOST {users}/users -H 'content-type: application/json' -d '{{\"name\":\"Ada\",\"email\":\"ada@example.com\"}}'");
    println!("  curl -s {users}/users");
    println!("  curl -s {}/users", p.url(Piece::Directory));
    println!("  curl -s {}/emails", p.url(Piece::Mailer));
    println!("  curl -s {users}/metrics");
    println!("  herald --brokers {} consume user_activity", p.brokers());
}
