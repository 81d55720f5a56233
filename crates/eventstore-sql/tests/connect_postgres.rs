//! `connect` dispatches `postgres://` URLs to the PostgreSQL backend.

#[tokio::test]
async fn postgres_urls_reach_the_postgres_backend() {
    // Nothing listens on port 1: the error must come from connecting, not from an
    // unknown scheme.
    for url in [
        "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
        "postgresql://postgres@127.0.0.1:1/postgres?sslmode=require&connect_timeout=2",
        // Schemes are case-insensitive (RFC 3986 §3.1).
        "POSTGRES://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
        "PostgreSQL://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
    ] {
        let err = eventstore_sql::connect(url)
            .await
            .err()
            .expect("nothing to connect to");
        assert!(err.is_database(), "{url}: {err}");
    }
    let err = eventstore_sql::connect("postgres://h/db?sslmode=sideways")
        .await
        .err()
        .expect("invalid sslmode");
    assert!(matches!(err, eventstore_sql::Error::Config(_)), "{err}");
}

/// `redact_url` hides what tokio-postgres takes as the password, its name decoded as
/// tokio-postgres decodes it (`pass%77ord`), and errs towards hiding: `PASSWORD`, which
/// tokio-postgres refuses as an unknown option (naming the option, not its value), is
/// hidden too.
#[test]
fn redact_url_hides_the_parameters_tokio_postgres_takes_as_the_password() {
    use eventstore_sql::{PostgresOptions, redact_url};
    let encoded = "postgres://db/app?pass%77ord=s3cret";
    assert!(PostgresOptions::from_url(encoded).is_ok());
    assert_eq!(redact_url(encoded), "postgres://db/app?pass%77ord=***");
    let upper = "postgres://db/app?PASSWORD=x";
    let refused = PostgresOptions::from_url(upper).expect_err("an unknown option");
    assert!(refused.to_string().contains("PASSWORD"), "{refused}");
    assert!(!refused.to_string().contains("=x"), "{refused}");
    assert_eq!(redact_url(upper), "postgres://db/app?PASSWORD=***");
    assert_eq!(
        redact_url("postgres://db/app?Pass%57ord=x"),
        "postgres://db/app?Pass%57ord=***"
    );
}
