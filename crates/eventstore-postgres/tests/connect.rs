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

/// libpq takes a `connect_timeout` of zero (or less) as no time-out; tokio-postgres
/// drops it, which left the store's default in force.
#[test]
fn a_url_s_connect_timeout_of_zero_waits_for_ever() {
    let timeout = |query: &str| {
        PostgresOptions::from_url(&format!("postgres://app@db.example/app{query}"))
            .expect("a valid URL")
            .get_connect_timeout()
    };
    assert_eq!(timeout("?connect_timeout=0"), None);
    assert_eq!(timeout("?sslmode=disable&connect_timeout=0"), None);
    assert_eq!(timeout("?connect_timeout=-1"), None);
    // The name percent-encoded, as tokio-postgres decodes it.
    assert_eq!(timeout("?connect%5Ftimeout=0"), None);
    assert_eq!(timeout(""), Some(PostgresOptions::DEFAULT_CONNECT_TIMEOUT));
    assert_eq!(
        timeout("?application_name=connect_timeout"),
        Some(PostgresOptions::DEFAULT_CONNECT_TIMEOUT)
    );
    assert_eq!(timeout("?connect_timeout=3"), Some(Duration::from_secs(3)));
    // The builder still refuses zero: `None` is how it says "for ever".
    let options = PostgresOptions::from_url("postgres://app@db.example/app").unwrap();
    assert!(options.connect_timeout(Some(Duration::ZERO)).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_url_s_connect_timeout_of_zero_outwaits_the_default() {
    let port = silent_server();
    let url = format!("postgres://app@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=0");
    let options = PostgresOptions::from_url(&url)
        .unwrap()
        .wait_timeout(None)
        .unwrap();
    let waited = PostgresOptions::DEFAULT_CONNECT_TIMEOUT * 6;
    let outcome = tokio::time::timeout(waited, options.open()).await;
    assert!(outcome.is_err(), "opening ended before {waited:?}");
}

/// RFC 3986 §3.1: schemes are case-insensitive; tokio-postgres knows only the
/// lower-case ones.
#[tokio::test(start_paused = true)]
async fn a_url_s_scheme_is_read_in_any_case() {
    let port = silent_server();
    for scheme in ["POSTGRES", "PostgreSQL", "postgreSQL"] {
        let url = format!("{scheme}://app@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=3");
        let waited = time_to_fail(&url, |o| o).await;
        assert_eq!(waited.as_secs(), 3, "{url}: {waited:?}");
    }
    for bad in ["POSTGRESX://app@db/app", "postgres:/app@db/app"] {
        assert!(
            matches!(
                PostgresOptions::from_url(bad),
                Err(eventstore_core::Error::Config(_))
            ),
            "{bad}"
        );
    }
}
