//! `herald new service NAME [--database sqlite|postgres]`: writes a ready service crate.
//!
//! The crate consumes one topic through herald's inbox into its own database, reads `herald.toml`,
//! serves `GET /health` and `GET /metrics`, and has a test against an in-process broker (the
//! `testing` feature). It builds and its test passes as generated. The templates live in
//! `templates/service/` and are compiled into the binary. By default the crate depends on the herald
//! this binary was built from (by path, with that workspace's `Cargo.lock` and patches, so a build
//! reuses what the workspace already compiled); `--herald-path` points elsewhere.
//!
//! Not here: anything that runs the generated service.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Longest accepted service name.
const NAME_BYTES_MAX: usize = 64;

/// Subcommands of `herald new`.
#[derive(Debug, clap::Subcommand)]
pub enum NewCommand {
    /// Generate a service crate: a consumer with the inbox, a config file, HTTP health and
    /// metrics, and a test against an in-process broker.
    Service(ServiceArgs),
}

/// The database a generated service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatabaseKind {
    /// SQLite in a local file.
    Sqlite,
    /// PostgreSQL (127.0.0.1:5432 by default).
    Postgres,
}

/// Flags of `herald new service`.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The service's (and its crate's) name: lowercase letters, digits and dashes.
    name: String,
    /// Its database.
    #[arg(long, value_enum, default_value = "sqlite")]
    database: DatabaseKind,
    /// Where to write it (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The herald crate to depend on by path (default: the one this binary was built from, if it
    /// is still there; else herald from the registry).
    #[arg(long)]
    herald_path: Option<PathBuf>,
}

/// One generated file: its path in the crate and its template.
const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/service/Cargo.toml.tmpl"),
    ),
    (
        "herald.toml",
        include_str!("../../templates/service/herald.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/service/README.md.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/service/src/lib.rs.tmpl"),
    ),
    (
        "src/main.rs",
        include_str!("../../templates/service/src/main.rs.tmpl"),
    ),
    (
        "tests/service.rs",
        include_str!("../../templates/service/tests/service.rs.tmpl"),
    ),
];
const SQLITE_TEST_SETUP: &str = include_str!("../../templates/service/tests/sqlite.rs.part");
const POSTGRES_TEST_SETUP: &str = include_str!("../../templates/service/tests/postgres.rs.part");

/// Runs a `herald new` subcommand.
pub fn run(command: NewCommand) -> anyhow::Result<()> {
    match command {
        NewCommand::Service(args) => service(args),
    }
}

fn service(args: ServiceArgs) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let occupied = dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some();
    if occupied {
        bail!("{} exists and is not empty", dir.display());
    }
    let herald = match &args.herald_path {
        Some(path) => Some(
            path.canonicalize()
                .with_context(|| format!("herald path {}", path.display()))?,
        ),
        None => Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../herald"))
            .canonicalize()
            .ok(),
    };
    let values = Values::new(&args, herald.as_deref());
    for (path, template) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, values.fill(template))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    // The workspace's lock file pins the versions it has built (and works offline).
    if let Some(lock) = herald
        .as_deref()
        .and_then(workspace_root)
        .map(|r| r.join("Cargo.lock"))
    {
        if lock.exists() {
            std::fs::copy(&lock, dir.join("Cargo.lock")).context("copying Cargo.lock")?;
        }
    }
    println!("created service {} in {}", args.name, dir.display());
    println!("next: cd {} && cargo test", dir.display());
    Ok(())
}

/// Lowercase letters, digits and dashes, starting with a letter.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= NAME_BYTES_MAX
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!("service name {name:?}: use up to {NAME_BYTES_MAX} lowercase letters, digits and dashes, starting with a letter");
    }
    Ok(())
}

/// The workspace a herald crate directory sits in (`crates/herald` -> the root), if it is one.
fn workspace_root(herald: &Path) -> Option<PathBuf> {
    let root = herald.parent()?.parent()?;
    root.join("Cargo.toml").exists().then(|| root.to_path_buf())
}

/// What the placeholders of the templates become.
struct Values {
    pairs: Vec<(&'static str, String)>,
    test_setup: &'static str,
}

impl Values {
    fn new(args: &ServiceArgs, herald: Option<&Path>) -> Self {
        let (database, database_url, test_setup) = match args.database {
            DatabaseKind::Sqlite => (
                "SQLite",
                format!("sqlite://{}.db?mode=rwc", args.name),
                SQLITE_TEST_SETUP,
            ),
            DatabaseKind::Postgres => (
                "PostgreSQL",
                "postgres://postgres@127.0.0.1:5432/test".to_string(),
                POSTGRES_TEST_SETUP,
            ),
        };
        let dependency = match herald {
            Some(path) => format!("path = {:?}", path.display().to_string()),
            None => format!("version = {:?}", env!("CARGO_PKG_VERSION")),
        };
        // herald's workspace patches crates (see its Cargo.toml); a crate outside it needs the same.
        let vendored = herald
            .and_then(workspace_root)
            .map(|root| root.join("vendor/kafka-protocol"))
            .filter(|path| path.exists());
        let patch = match vendored {
            Some(path) => format!(
                "\n[patch.crates-io]\nkafka-protocol = {{ path = {:?} }}\n",
                path.display().to_string()
            ),
            None => String::new(),
        };
        Values {
            pairs: vec![
                ("{{name}}", args.name.clone()),
                ("{{crate}}", args.name.replace('-', "_")),
                ("{{database}}", database.to_string()),
                ("{{database_url}}", database_url),
                ("{{herald}}", dependency),
                ("{{patch}}", patch),
            ],
            test_setup,
        }
    }

    fn fill(&self, template: &str) -> String {
        let mut text = template.replace("{{database_setup}}", self.test_setup.trim_end());
        for (placeholder, value) in &self.pairs {
            text = text.replace(placeholder, value);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Names that would not make a crate (or a SQL schema prefix) are refused.
    #[test]
    fn service_names_are_checked() {
        for good in ["orders", "order-service", "svc2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Orders",
            "2svc",
            "order_service",
            "svc-",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
