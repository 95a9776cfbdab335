//! `herald new service`: the generated crate builds and its own test passes as generated, on SQLite
//! and on PostgreSQL. The builds share this workspace's target directory, so they compile only the
//! generated crates themselves (plus whatever the workspace has not built yet).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target directory this test binary was built in (`CARGO_TARGET_DIR`, else `<target>/debug/deps/..`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Generates service `name` with `database` in `dir` and runs its tests; returns cargo's output.
fn generate_and_test(dir: &Path, name: &str, database: &str) -> String {
    let crate_dir = dir.join(name);
    let generated = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["new", "service", name, "--database", database, "--dir"])
        .arg(&crate_dir)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "herald.toml",
        "src/lib.rs",
        "src/main.rs",
        "tests/service.rs",
    ] {
        assert!(crate_dir.join(file).exists(), "{file} missing");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = Command::new(cargo)
        .args(["test", "--offline"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(
        tested.status.success(),
        "cargo test of {name} failed:\n{output}"
    );
    output
}

// A generated SQLite service and a generated PostgreSQL service each pass their own test, and a
// second generation into a non-empty directory is refused.
#[test]
fn generated_services_build_and_pass_their_tests() {
    let dir = tempfile::tempdir().unwrap();
    for (name, database) in [("orders-lite", "sqlite"), ("orders-pg", "postgres")] {
        let output = generate_and_test(dir.path(), name, database);
        assert!(
            output.contains("test events_are_applied_once ... ok"),
            "{output}"
        );
        assert!(
            !output.contains("warning:"),
            "generated code warns:\n{output}"
        );
    }
    let again = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["new", "service", "orders-lite", "--dir"])
        .arg(dir.path().join("orders-lite"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
