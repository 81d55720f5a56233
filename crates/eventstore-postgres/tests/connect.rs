//! Connection options a URL gives are the store's: its `connect_timeout` bounds how
//! long opening a connection may take, instead of the store's default of 10 s, and a
//! connection not opened in time is an `Error::Timeout`.
//!
//! On tokio's paused clock, which moves on to the next timer whenever every task
//! waits: the time a refused open took is exact, however slow the machine.

use std::time::Duration;

use eventstore_postgres::PostgresOptions;

/// A server that accepts connections and never answers: opening a connection to it
/// ends only with its time-out. Its port.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Holds every connection open, unanswered.
        let _held: Vec<_> = listener.incoming().collect();
    });
    port
}

async fn time_to_fail(
    url: &str,
    options: impl FnOnce(PostgresOptions) -> PostgresOptions,
) -> Duration {
    let options = options(
        PostgresOptions::from_url(url)
            .expect("a valid URL")
            .wait_timeout(None)
            .expect("no wait time-out"),
    );
    let started = tokio::time::Instant::now();
    let error = options
        .open()
        .await
        .expect_err("a server that never answers cannot be opened");
    // A time-out, as callers branch on it (retry later), not a database error.
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.to_string().starts_with("timed out"), "{error}");
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_url_s_connect_timeout_bounds_opening_a_connection() {
    let port = silent_server();
    let url = format!("postgres://app@127.0.0.1:{port}/db?sslmode=disable");
    let waited = time_to_fail(&format!("{url}&connect_timeout=3"), |o| o).await;
    assert_eq!(waited.as_secs(), 3, "{waited:?}");
    // Without one, the store's default; set on the options, the options' own.
    let waited = time_to_fail(&url, |o| o).await;
    assert_eq!(
        waited.as_secs(),
        PostgresOptions::DEFAULT_CONNECT_TIMEOUT.as_secs(),
        "{waited:?}"
    );
    let waited = time_to_fail(&format!("{url}&connect_timeout=3"), |o| {
        o.connect_timeout(Some(Duration::from_secs(5)))
            .expect("a connect time-out")
    })
    .await;
    assert_eq!(waited.as_secs(), 5, "{waited:?}");
}
