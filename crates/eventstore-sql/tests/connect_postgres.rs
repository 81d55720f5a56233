//! `connect` dispatches `postgres://` URLs to the PostgreSQL backend.

#[tokio::test]
async fn postgres_urls_reach_the_postgres_backend() {
    // Nothing listens on port 1: the error must come from connecting, not from an
    // unknown scheme.
    for url in [
        "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
        "postgresql://postgres@127.0.0.1:1/postgres?sslmode=require&connect_timeout=2",
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
