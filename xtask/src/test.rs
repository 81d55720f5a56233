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
    each_crate_alone()?;
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

/// Lints every crate under `crates/` on its own (each directory is named after its
/// package), and the facade with no feature and with each feature of its manifest
/// alone. A workspace build unifies the features every member asks of a dependency, so
/// a crate that uses a dependency's feature without asking for it builds there and
/// fails for a user who depends on that crate alone (as `eventstore-sqlite` did with
/// tokio's `rt-multi-thread`).
fn each_crate_alone() -> Result<(), String> {
    let dir = crate::root().join("crates");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut crates: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    crates.sort();
    let lint = |args: &[&str]| {
        let mut all = vec!["clippy", "--quiet"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--", "-D", "warnings"]);
        cargo(&all, &[])
    };
    for name in &crates {
        lint(&["-p", name])?;
    }
    lint(&["-p", "eventstore-sql", "--no-default-features"])?;
    let manifest = crate::root().join("crates/eventstore-sql/Cargo.toml");
    for feature in features(&read(&manifest)?) {
        lint(&[
            "-p",
            "eventstore-sql",
            "--no-default-features",
            "--features",
            &feature,
        ])?;
    }
    Ok(())
}

/// The features a manifest declares (`name = [...]` lines of its `[features]` table),
/// `default` aside.
fn features(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "[features]")
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.is_empty() && !name.starts_with('#') && name != "default")
        .collect()
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

#[cfg(test)]
mod tests {
    use super::features;

    #[test]
    fn features_of_a_manifest() {
        let manifest = "[package]\nname = \"x\"\n\n[features]\ndefault = [\"a\"]\n## A.\na = [\"dep:a\"]\nb-c = []\n\n[dependencies]\nd = \"1\"\n";
        assert_eq!(features(manifest), ["a", "b-c"]);
        assert!(features("[package]\nname = \"x\"\n").is_empty());
    }
}
