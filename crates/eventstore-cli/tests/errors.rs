//! What needs no particular store: bad URLs, unreachable servers, completions, and the
//! demo as a newcomer runs it (no URL, no server, no prior state).

mod common;

use std::process::Command;

fn eventstore(dir: &std::path::Path, args: &[&str]) -> common::Run {
    common::Run(
        Command::new(env!("CARGO_BIN_EXE_eventstore"))
            .current_dir(dir)
            .env_remove("EVENTSTORE_DATABASE_URL")
            .env_remove("EVENTSTORE_TABLE")
            .env_remove("DATABASE_URL")
            .args(args)
            .output()
            .expect("eventstore runs"),
    )
}

#[test]
fn an_unknown_url_scheme_is_a_usage_error_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = eventstore(dir.path(), &["--database-url", "mysql://db/x", "query"]).fails_with(2);
    assert!(line.contains("unknown database URL"), "{line}");
    let line = eventstore(
        dir.path(),
        &["--database-url", "sqlite://x.db", "--table", "a.b", "query"],
    )
    .fails_with(2);
    assert!(line.contains("SQLite tables take no schema"), "{line}");
}

#[test]
fn a_password_with_an_at_sign_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    // An unknown scheme, refused before anything is opened.
    let line = eventstore(
        dir.path(),
        &["--database-url", "mysql://app:s3c@ret@db/x", "query"],
    )
    .fails_with(2);
    assert!(line.contains("mysql://app:***@db/x"), "{line}");
    assert!(!line.contains("s3c") && !line.contains("ret@"), "{line}");
    // A server that cannot be reached: the host part starts after the last `@`.
    let url = "postgres://postgres:s3c@ret@127.0.0.1:1/postgres?connect_timeout=2";
    let line = eventstore(dir.path(), &["--database-url", url, "stats"]).fails_with(1);
    assert!(
        line.contains("cannot open the store at postgres://postgres:***@127.0.0.1:1/"),
        "{line}"
    );
    assert!(!line.contains("s3c") && !line.contains("ret@"), "{line}");
}

#[test]
fn help_does_not_show_the_url_of_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["query", "--help"]] {
        let run = common::Run(
            Command::new(env!("CARGO_BIN_EXE_eventstore"))
                .current_dir(dir.path())
                .env("EVENTSTORE_DATABASE_URL", "postgres://app:s3cret@db/app")
                .args(args)
                .output()
                .expect("eventstore runs"),
        );
        let help = run.success();
        assert!(help.contains("EVENTSTORE_DATABASE_URL"), "{help}");
        assert!(!help.contains("s3cret"), "{args:?}: {help}");
    }
}

#[test]
fn an_in_memory_database_is_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["sqlite::memory:", "sqlite://:memory:"] {
        let line = eventstore(dir.path(), &["--database-url", url, "migrate"]).fails_with(2);
        assert!(
            line.contains(&format!("{url} is an in-memory database")),
            "{line}"
        );
        assert!(line.contains("nothing to migrate"), "{line}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn migrating_a_file_that_cannot_be_created_is_a_runtime_failure() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("missing").join("events.db").display()
    );
    let line = eventstore(dir.path(), &["--database-url", &url, "migrate"]).fails_with(1);
    assert!(line.contains("cannot migrate sqlite://"), "{line}");
}

#[test]
fn an_unreachable_server_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2";
    let line = eventstore(dir.path(), &["--database-url", url, "stats"]).fails_with(1);
    assert!(
        line.contains("cannot open the store at postgres://postgres@127.0.0.1:1"),
        "{line}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        eventstore(dir.path(), &["query", "--since", "soon"]).code(),
        2
    );
    assert_eq!(eventstore(dir.path(), &["no-such-command"]).code(), 2);
    assert_eq!(
        eventstore(dir.path(), &["tail", "--from", "later"]).code(),
        2
    );
}

#[test]
fn bad_flags_leave_no_store_behind() {
    // The default URL names `eventstore.db` in the current directory: a usage error is
    // found before the store is opened, so the file is not created.
    let dir = tempfile::tempdir().unwrap();
    let bad: [&[&str]; 16] = [
        &["append", "--source", "/s", "--type", "t", "--time", "noon"],
        &["append", "--source", "/s", "--type", "t", "--data", "{"],
        &["append", "--source", "/s", "--type", "t", "--ext", "x"],
        &[
            "append",
            "--source",
            "/s",
            "--type",
            "t",
            "--subject",
            "x",
            "--expect",
            "x",
        ],
        &[
            "append",
            "--source",
            "/s",
            "--type",
            "t",
            "--subject",
            "x",
            "--expect",
            "0",
        ],
        &["query", "--since", "soon"],
        &["export", "--ext", "novalue"],
        &["tail", "--from", "later"],
        &["tail", "--ext-type", "at=date"],
        &["relay", "r", "--ext", "Bad-Name=x", "-n", "1"],
        &["query", "--ext", "BAD=1"],
        &["export", "--ext", "id=1"],
        &["tail", "--ext", "BAD=1", "-n", "1"],
        &["import", "--ext-type", "at", "events.jsonl"],
        &["append", "--ext-type", "time=uri", "--json", "-"],
        &["relay", "r", "--batch-size", "0", "-n", "0"],
    ];
    for args in bad {
        assert_eq!(eventstore(dir.path(), args).code(), 2, "{args:?}");
        assert!(
            !dir.path().join("eventstore.db").exists(),
            "{args:?} created the store"
        );
    }
}

#[test]
fn completions_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let script = eventstore(dir.path(), &["completions", "bash"]).success();
    assert!(script.contains("eventstore") && script.contains("import"));
}

#[test]
fn the_demo_runs_with_nothing_set_up_and_again() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = eventstore(dir.path(), &["demo"]).success();
        assert!(out.contains("store: sqlite://"), "{out}");
        assert!(out.contains("in version order: yes"), "{out}");
    }
    // It cleaned up after itself: nothing left in the working directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
