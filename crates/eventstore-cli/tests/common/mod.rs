//! Running the `eventstore` binary against a store of the test's own: a SQLite file in
//! a temporary directory, or a PostgreSQL schema dropped afterwards.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The PostgreSQL server under test: `DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A store for one test.
pub struct Store {
    /// `--database-url`.
    pub url: String,
    /// `--table`.
    pub table: String,
    /// The temporary directory of a SQLite store (and the working directory of commands).
    pub dir: tempfile::TempDir,
    schema: Option<String>,
}

impl Store {
    /// A SQLite file of its own.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self {
            url: format!("sqlite://{}", dir.path().join("events.db").display()),
            table: "events".to_owned(),
            dir,
            schema: None,
        }
    }

    /// A PostgreSQL schema of its own (the CLI creates it on first use).
    pub fn postgres() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "t_cli_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            url: database_url(),
            table: format!("{schema}.events"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            schema: Some(schema),
        }
    }

    /// `eventstore --database-url … --table … <args>`, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_eventstore"));
        command
            .current_dir(self.dir.path())
            .env_remove("EVENTSTORE_DATABASE_URL")
            .env_remove("EVENTSTORE_TABLE")
            .env_remove("DATABASE_URL")
            .args(["--database-url", &self.url, "--table", &self.table])
            .args(args);
        command
    }

    /// Runs a command to its end.
    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("eventstore runs"))
    }

    /// Runs a command with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("eventstore starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("eventstore runs");
        writer.join().expect("writer").expect("stdin written");
        Run(output)
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).success()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async move {
                use eventstore_sql::postgres::tokio_postgres;
                let (client, connection) =
                    tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await
            });
        if let Err(e) = result {
            eprintln!("could not drop the test schema {schema}: {e}");
        }
    }
}

/// A finished command.
pub struct Run(pub Output);

impl Run {
    /// Its exit code.
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited")
    }

    /// Its stdout.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Its stderr.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Its stdout, after checking it exited 0.
    pub fn success(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    /// Checks the exit code and that stderr is one `error:` line; returns that line.
    pub fn fails_with(&self, code: i32) -> String {
        assert_eq!(self.code(), code, "stderr: {}", self.stderr());
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        lines[0].to_owned()
    }
}

/// The JSON values of JSON Lines output.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The conformance vectors shipped with the testkit.
pub fn vectors(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../eventstore-testkit/vectors")
        .join(file)
}

/// Generates one test per backend from a function taking a [`Store`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name($crate::common::Store::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name($crate::common::Store::postgres()) })*
        }
    };
}
