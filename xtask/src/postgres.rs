//! Finding a PostgreSQL server for the tests, in the order DESIGN.md gives:
//! `DATABASE_URL`; a server on 127.0.0.1:5432; `docker compose up -d --wait` where a
//! Docker engine answers; a throwaway cluster from local PostgreSQL binaries under
//! `target/`. Finding none is an error, never a silent skip.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd::{run, succeeds};

const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The docker-compose.yml service's URL.
const COMPOSE: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";
const CLUSTER_PORT: u16 = 54329;

/// Returns the URL of a reachable PostgreSQL, starting one if need be.
pub(crate) fn find() -> Result<String, String> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        return Ok(url);
    }
    if listening(5432) {
        return Ok(LOCAL.to_owned());
    }
    if succeeds("docker", &["info"]) {
        let mut compose = Command::new("docker");
        compose.args(["compose", "up", "-d", "--wait", "postgres"]);
        run(compose)?;
        return Ok(COMPOSE.to_owned());
    }
    if let Some(bin) = local_binaries() {
        return throwaway_cluster(&bin);
    }
    Err(
        "no PostgreSQL found: set DATABASE_URL, start a server on 127.0.0.1:5432, run a \
         Docker engine for docker-compose.yml, or install PostgreSQL's server binaries \
         (initdb, pg_ctl)"
            .to_owned(),
    )
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, or the directory of
/// an `initdb` on the PATH.
fn local_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).find(|dir| dir.join("initdb").exists()))
    })
}

/// Starts (or reuses) a cluster in `target/pg-cluster`, listening on 127.0.0.1 only.
/// PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
fn throwaway_cluster(bin: &Path) -> Result<String, String> {
    let url = format!("postgres://postgres@127.0.0.1:{CLUSTER_PORT}/postgres");
    if listening(CLUSTER_PORT) {
        return Ok(url);
    }
    let dir = crate::root().join("target/pg-cluster");
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let command = |program: &str| {
        let program = bin.join(program);
        if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if !dir.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if as_root {
            run({
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(&dir);
                c
            })?;
        }
        let mut init = command("initdb");
        init.args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&dir);
        run(init)?;
    }
    let mut start = command("pg_ctl");
    start
        .args(["-w", "-D"])
        .arg(&dir)
        .args(["-l"])
        .arg(dir.join("server.log"))
        .args([
            "-o",
            &format!(
                "-p {CLUSTER_PORT} -c listen_addresses=127.0.0.1 -k {}",
                dir.display()
            ),
        ])
        .arg("start");
    run(start)?;
    Ok(url)
}
