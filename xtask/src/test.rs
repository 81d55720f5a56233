//! `cargo xtask test`: the one way the project is tested, locally and in CI.

use std::path::Path;

use crate::cmd::{cargo, succeeds};

pub(crate) fn run() -> Result<(), String> {
    check_vectors()?;
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    if crate::root().join("crates/eventstore-postgres").exists() {
        let url = crate::postgres::find()?;
        println!("\n==> PostgreSQL for the tests: {url}");
        crate::cmd::export("DATABASE_URL", &url);
    }
    if succeeds("cargo", &["nextest", "--version"]) {
        cargo(
            &[
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ],
            &[],
        )?;
    } else {
        println!("\n(cargo-nextest not installed: using cargo test)");
        cargo(
            &[
                "test",
                "--workspace",
                "--all-features",
                "--lib",
                "--bins",
                "--tests",
                "--examples",
            ],
            &[],
        )?;
    }
    cargo(&["test", "--workspace", "--all-features", "--doc"], &[])?;
    // Broken intra-doc links and other rustdoc warnings fail the run, as on docs.rs.
    crate::cmd::export("RUSTDOCFLAGS", "-D warnings");
    cargo(&["doc", "--workspace", "--all-features", "--no-deps"], &[])?;
    println!("\nall checks passed");
    Ok(())
}

/// The conformance vectors are vendored into the testkit so that a fresh clone is
/// self-contained; when the shared originals sit beside the checkout, they must match.
fn check_vectors() -> Result<(), String> {
    let shared = crate::root().join("../shared/conformance/cloudevents-json");
    if !shared.exists() {
        return Ok(());
    }
    let vendored = crate::root().join("crates/eventstore-testkit/vectors");
    for file in ["valid-events.json", "invalid-events.json"] {
        if read(&shared.join(file))? != read(&vendored.join(file))? {
            return Err(format!(
                "crates/eventstore-testkit/vectors/{file} differs from ../shared/conformance: \
                 copy the shared file over it"
            ));
        }
    }
    println!("==> conformance vectors match ../shared/conformance");
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
