//! `cargo xtask bench [--quick|--full] [--peers] [--backend sqlite|postgres|all]
//! [--write-docs] [harness options]`: the benchmark harness in release mode, with
//! PostgreSQL found (or started) as for the tests; `--peers` first has the harness write
//! the events, builds and runs the peers crate (`peers/`, its own workspace and lockfile)
//! on them, and merges its figures into the report.

use std::process::Command;

use crate::cmd::{cargo, export, run};

/// Runs the benchmark with `args`.
pub(crate) fn run_bench(args: &[String]) -> Result<(), String> {
    let peers = args.iter().any(|a| a == "--peers");
    let mut harness: Vec<String> = args.iter().filter(|a| *a != "--peers").cloned().collect();
    let sqlite_only = args
        .windows(2)
        .any(|w| w[0] == "--backend" && w[1] == "sqlite")
        || args.iter().any(|a| a == "--backend=sqlite");
    let docs_only = args.iter().any(|a| a == "--docs-only");
    let url = if sqlite_only || docs_only {
        None
    } else {
        let url = crate::postgres::find()?;
        export("DATABASE_URL", &url);
        Some(url)
    };
    let release = ["run", "--release", "-p", "eventstore-bench", "--"];
    if let (true, Some(url)) = (peers, &url) {
        let dir = crate::root().join("target").join("bench");
        let dir_arg = dir.display().to_string();
        let sizes: Vec<String> = harness
            .iter()
            .filter(|a| matches!(a.as_str(), "--quick" | "--full"))
            .cloned()
            .collect();
        let mut export_args = sizes;
        export_args.extend(["--export-peers".to_owned(), dir_arg.clone()]);
        cargo(&release, &export_args)?;
        let manifest = crate::root().join("peers").join("Cargo.toml");
        let mut peer = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        peer.args(["run", "--release", "--manifest-path"])
            .arg(&manifest)
            .args(["--", url, &dir_arg]);
        run(peer)?;
        harness.extend([
            "--peers".to_owned(),
            dir.join("peers.json").display().to_string(),
        ]);
    }
    cargo(&release, &harness)
}
