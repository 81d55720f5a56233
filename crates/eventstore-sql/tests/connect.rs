//! Choosing the backend at run time from a URL.

use eventstore_sql::{Error, Event, connect};

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
