//! Choosing the backend at run time from a URL.

use eventstore_sql::{BackendKind, Error, Event, connect, redact_url};

#[tokio::test]
async fn sqlite_urls_open_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = connect(&url).await.unwrap();
    let event = Event::builder()
        .id("1")
        .source("/x")
        .ty("t")
        .build()
        .unwrap();
    store.append(vec![event]).await.unwrap();
    assert!(store.get("/x", "1").await.unwrap().is_some());
    let memory = connect("sqlite::memory:").await.unwrap();
    assert!(memory.get("/x", "1").await.unwrap().is_none());
}

#[tokio::test]
async fn unknown_urls_are_refused_clearly() {
    for url in ["mysql://localhost/db", "events.db", ""] {
        match connect(url).await {
            Err(Error::Config(message)) => assert!(!message.is_empty(), "{url}"),
            Err(other) => panic!("{url}: expected a configuration error, got {other}"),
            Ok(_) => panic!("{url}: expected an error"),
        }
    }
}

#[tokio::test]
async fn an_unknown_url_is_refused_without_its_password() {
    for (url, shown) in [
        (
            "postgress://app:s3cret@db.example/app",
            "postgress://app:***@db.example/app",
        ),
        (
            "mysql://app:s3cret@db.example:3306/app?x=a@b",
            "mysql://app:***@db.example:3306/app?x=a@b",
        ),
        (
            "postgress://app:s3/cret@db.example/app",
            "postgress://app:***@db.example/app",
        ),
        ("mysql://app@db.example/app", "mysql://app@db.example/app"),
    ] {
        match connect(url).await {
            Err(Error::Config(message)) => {
                assert!(!message.contains("s3"), "{url}: {message}");
                assert!(message.contains(shown), "{url}: {message}");
            }
            Err(other) => panic!("{url}: expected a configuration error, got {other}"),
            Ok(_) => panic!("{url}: expected an error"),
        }
    }
}

#[test]
fn redact_url_hides_every_password_and_keeps_the_rest() {
    for (url, shown) in [
        // An unescaped `@` in the password: the user information ends at the last one.
        (
            "postgres://app:s3c@ret@db.example/app",
            "postgres://app:***@db.example/app",
        ),
        (
            "postgres://app:s3c@r@t@db.example:5432/app?sslmode=require",
            "postgres://app:***@db.example:5432/app?sslmode=require",
        ),
        // `/`, `?` and `:` unescaped in the password.
        (
            "postgres://app:s3/c:ret@db/app",
            "postgres://app:***@db/app",
        ),
        ("postgres://app:s3?cret@db/app", "postgres://app:***@db/app"),
        // An `@` in the query is not the user information's.
        (
            "postgres://app:s3cret@db/app?application_name=a@b",
            "postgres://app:***@db/app?application_name=a@b",
        ),
        (
            "postgres://db:5432/app?user=admin@srv",
            "postgres://db:5432/app?user=admin@srv",
        ),
        // A password given as a query parameter.
        (
            "postgres://db/app?user=app&password=s3cret&sslmode=require",
            "postgres://db/app?user=app&password=***&sslmode=require",
        ),
        // ... beside an `@` in the query, without user information, or with a port.
        (
            "postgres://db/app?application_name=a@b&password=s3cret",
            "postgres://db/app?application_name=a@b&password=***",
        ),
        (
            "postgres://db:5432/app?password=s3cret&user=admin@srv",
            "postgres://db:5432/app?password=***&user=admin@srv",
        ),
        (
            "postgres://app@db/app?application_name=a@b&password=s3cret",
            "postgres://app@db/app?application_name=a@b&password=***",
        ),
        (
            "postgres://db/app?application_name=a:b@c&password=s3cret",
            "postgres://db/app?application_name=a:b@c&password=***",
        ),
        (
            "postgres://app:s3cret@[::1]:5432/app",
            "postgres://app:***@[::1]:5432/app",
        ),
        // Nothing to hide.
        ("postgres://[::1]:5432/app", "postgres://[::1]:5432/app"),
        ("postgres://app@db/app", "postgres://app@db/app"),
        ("postgres://db/app", "postgres://db/app"),
        ("sqlite://data/a:b@c.db", "sqlite://data/a:b@c.db"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("events.db", "events.db"),
        ("/var/lib/a:b@c.db", "/var/lib/a:b@c.db"),
        ("", ""),
    ] {
        let redacted = redact_url(url);
        assert_eq!(redacted, shown, "{url}");
        assert!(!redacted.contains("s3"), "{url}: {redacted}");
    }
}

#[tokio::test]
async fn an_unknown_url_with_reserved_characters_in_its_password_is_refused_without_it() {
    for url in [
        "postgress://app:s3c?r@t@db.example/app",
        "postgress://app:s3c?ret@db.example/app",
    ] {
        match connect(url).await {
            Err(Error::Config(message)) => {
                assert!(!message.contains("s3"), "{message}");
                assert!(
                    message.contains("postgress://app:***@db.example/app"),
                    "{message}"
                );
            }
            Err(other) => panic!("{url}: expected a configuration error, got {other}"),
            Ok(_) => panic!("{url}: expected an error"),
        }
    }
}

/// RFC 3986 §3.1: schemes are case-insensitive.
#[tokio::test]
async fn url_schemes_are_read_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    for scheme in ["SQLITE", "SQLite"] {
        let path = dir.path().join(format!("{scheme}.db"));
        let store = connect(&format!("{scheme}://{}", path.display()))
            .await
            .unwrap();
        let event = Event::builder()
            .id("1")
            .source("/x")
            .ty("t")
            .build()
            .unwrap();
        store.append(vec![event]).await.unwrap();
        assert!(path.exists(), "{scheme}");
        let memory = connect(&format!("{scheme}::memory:")).await.unwrap();
        assert!(memory.get("/x", "1").await.unwrap().is_none());
    }
}

#[test]
fn backend_kinds_are_read_from_the_scheme_in_any_case() {
    for (url, kind) in [
        ("sqlite://events.db", BackendKind::Sqlite),
        ("SQLite::memory:", BackendKind::Sqlite),
        ("sqlite:events.db", BackendKind::Sqlite),
        ("postgres://db/app", BackendKind::Postgres),
        ("POSTGRES://db/app", BackendKind::Postgres),
        ("PostgreSQL://db/app", BackendKind::Postgres),
    ] {
        assert_eq!(BackendKind::from_url(url).unwrap(), kind, "{url}");
    }
    assert_eq!(BackendKind::Sqlite.feature(), "sqlite");
    assert_eq!(BackendKind::Postgres.feature(), "postgres");
    assert_eq!(BackendKind::Sqlite.is_enabled(), cfg!(feature = "sqlite"));
}

#[test]
fn an_unknown_scheme_is_named_and_the_url_shown_without_its_password() {
    for (url, named) in [
        ("MySQL://app:s3cret@db/app", "its scheme \"MySQL\""),
        ("sqlitex://events.db", "its scheme \"sqlitex\""),
        ("postgress://app:s3cret@db/app", "its scheme \"postgress\""),
        ("events.db", "no scheme"),
        ("/data/a:b.db", "no scheme"),
        ("", "no scheme"),
    ] {
        match BackendKind::from_url(url) {
            Err(Error::Config(message)) => {
                assert!(message.contains(named), "{url}: {message}");
                assert!(message.contains(&redact_url(url)), "{url}: {message}");
                assert!(!message.contains("s3"), "{url}: {message}");
            }
            other => panic!("{url}: expected a configuration error, got {other:?}"),
        }
    }
}

/// tokio-postgres (as libpq) percent-decodes a query parameter's name: `pass%77ord` is
/// the password.
#[test]
fn redact_url_hides_a_password_parameter_with_an_encoded_name() {
    for (url, shown) in [
        (
            "postgres://db/app?pass%77ord=s3cret",
            "postgres://db/app?pass%77ord=***",
        ),
        (
            "postgres://db/app?user=app&%70%61%73%73%77%6F%72%64=s3cret&sslmode=require",
            "postgres://db/app?user=app&%70%61%73%73%77%6F%72%64=***&sslmode=require",
        ),
        (
            "postgres://app@db/app?application_name=a@b&pass%77ord=s3cret",
            "postgres://app@db/app?application_name=a@b&pass%77ord=***",
        ),
        (
            "POSTGRES://db/app?pass%77ord=s3cret",
            "POSTGRES://db/app?pass%77ord=***",
        ),
        // Not the password: another name, once decoded.
        (
            "postgres://db/app?pass%77ords=x&password%00=y",
            "postgres://db/app?pass%77ords=x&password%00=y",
        ),
    ] {
        let redacted = redact_url(url);
        assert_eq!(redacted, shown, "{url}");
        assert!(!redacted.contains("s3"), "{url}: {redacted}");
    }
}
