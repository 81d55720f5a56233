//! `--ext-type NAME=TYPE`: URI, timestamp and binary extensions, which CloudEvents JSON
//! writes as strings, keep their type through `export` and `import`, and typed `--ext`
//! filters find them.

mod common;

use common::{Store, json_lines};

on_both_backends!(typed_extensions_round_trip_through_export_and_import_when_declared);

/// The declarations of the extensions the tests use.
const DECLARED: [&str; 6] = [
    "--ext-type",
    "link=uri",
    "--ext-type",
    "at=timestamp",
    "--ext-type",
    "blob=binary",
];

/// A store of the same backend as `like`, empty.
fn fresh(like: &Store) -> Store {
    if like.url.starts_with("sqlite:") {
        Store::sqlite()
    } else {
        Store::postgres()
    }
}

/// The ids of the events `query` finds with these filters.
fn ids(store: &Store, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["-o", "jsonl", "query"];
    args.extend_from_slice(filters);
    json_lines(&store.ok(&args))
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The ids a typed query for each extension finds: URI, timestamp, binary.
fn typed_matches(store: &Store) -> [Vec<String>; 3] {
    [
        ids(
            store,
            &[
                "--ext",
                "link=https://example.com/a",
                "--ext-type",
                "link=uri",
            ],
        ),
        // Another spelling of the same instant: a timestamp compares as one.
        ids(
            store,
            &[
                "--ext",
                "at=2026-01-02T04:04:05.5+01:00",
                "--ext-type",
                "at=timestamp",
            ],
        ),
        ids(store, &["--ext", "blob=AAEC", "--ext-type", "blob=binary"]),
    ]
}

fn typed_extensions_round_trip_through_export_and_import_when_declared(store: Store) {
    // One event from a CloudEvents JSON document, one from flags.
    let document = store.dir.path().join("typed.json");
    std::fs::write(
        &document,
        r#"{"specversion":"1.0","id":"e1","source":"/typed","type":"t",
            "link":"https://example.com/a","at":"2026-01-02T03:04:05.5Z","blob":"AAEC",
            "note":"plain"}"#,
    )
    .unwrap();
    let mut args = vec!["append", "--json", document.to_str().unwrap()];
    args.extend_from_slice(&DECLARED);
    store.ok(&args);
    let mut args = vec![
        "append",
        "--id",
        "e2",
        "--source",
        "/typed",
        "--type",
        "t",
        "--ext",
        "link=https://example.com/b",
        "--ext",
        "at=2027-01-01T00:00:00Z",
        "--ext",
        "blob=AAED",
    ];
    args.extend_from_slice(&DECLARED);
    store.ok(&args);
    let expected = [
        vec!["e1".to_owned()],
        vec!["e1".to_owned()],
        vec!["e1".to_owned()],
    ];
    assert_eq!(typed_matches(&store), expected, "the original store");
    // The string the JSON holds is not what is stored.
    assert!(ids(&store, &["--ext", "link=https://example.com/a"]).is_empty());

    let exported = store.dir.path().join("exported.jsonl");
    store.ok(&["export", "--out", exported.to_str().unwrap()]);
    let exported_text = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(json_lines(&exported_text).len(), 2);

    let declared = fresh(&store);
    let mut args = vec!["import", exported.to_str().unwrap()];
    args.extend_from_slice(&DECLARED);
    let run = declared.run(&args);
    run.success();
    assert_eq!(run.stderr(), "imported 2 events\n");
    assert_eq!(
        typed_matches(&declared),
        expected,
        "imported with --ext-type"
    );
    assert_eq!(
        json_lines(&declared.ok(&["export"])),
        json_lines(&exported_text)
    );
    // An undeclared extension is still a string.
    assert_eq!(ids(&declared, &["--ext", "note=plain"]), ["e1"]);

    // Without the declarations each of them is imported as a string, which the typed
    // filters do not match.
    let undeclared = fresh(&store);
    undeclared.ok(&["import", exported.to_str().unwrap()]);
    assert_eq!(
        typed_matches(&undeclared),
        [vec![], vec![], vec![]] as [Vec<String>; 3],
        "imported without --ext-type"
    );
    assert_eq!(
        ids(&undeclared, &["--ext", "link=https://example.com/a"]),
        ["e1"]
    );
}

#[test]
fn a_value_not_of_its_declared_type_is_reported_with_its_line_and_the_import_goes_on() {
    let store = Store::sqlite();
    let event = |n: u32, extensions: &str| {
        format!(r#"{{"specversion":"1.0","id":"e{n}","source":"/typed","type":"t"{extensions}}}"#)
    };
    let lines = [
        event(1, r#","at":"2026-01-02T03:04:05Z""#),
        event(2, r#","at":"lunchtime""#),
        event(3, r#","link":"not a uri""#),
        event(4, r#","blob":"AAEC""#),
        event(5, r#","at":"2026-01-02T03:04:05Z""#),
        event(6, r#","blob":"AAEC""#),
    ];
    let path = store.dir.path().join("typed.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut args = vec!["import", "--batch-size", "2", path.to_str().unwrap()];
    args.extend_from_slice(&DECLARED);
    let run = store.run(&args);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let stderr = run.stderr();
    for line in [
        r#"typed.jsonl line 2: invalid event: attribute `at` must be an RFC 3339 timestamp, not "lunchtime""#,
        r#"typed.jsonl line 3: invalid event: attribute `link` must be an absolute URI (RFC 3986), not "not a uri""#,
        "imported 2 events; 2 batches refused (2 invalid events, 4 events not written)",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    assert_eq!(ids(&store, &[]), ["e5", "e6"], "the batch after them");
    assert_eq!(
        ids(&store, &["--ext", "blob=AAEC", "--ext-type", "blob=binary"]),
        ["e6"]
    );

    // `append --json` refuses it as any invalid event, and writes nothing.
    let document = store.dir.path().join("bad.json");
    std::fs::write(&document, format!("[{},{}]", event(7, ""), lines[1])).unwrap();
    let mut args = vec!["append", "--json", document.to_str().unwrap()];
    args.extend_from_slice(&DECLARED);
    let line = store.run(&args).fails_with(3);
    assert!(
        line.contains("attribute `at` must be an RFC 3339 timestamp"),
        "{line}"
    );
    assert_eq!(ids(&store, &[]), ["e5", "e6"]);
}

#[test]
fn malformed_declarations_are_usage_errors_that_say_what_is_wrong() {
    let store = Store::sqlite();
    let path = store.dir.path().join("one.jsonl");
    std::fs::write(
        &path,
        r#"{"specversion":"1.0","id":"e1","source":"/typed","type":"t"}"#,
    )
    .unwrap();
    let file = path.to_str().unwrap();
    for (declaration, says) in [
        ("link", "--ext-type takes NAME=TYPE, not \"link\""),
        ("=uri", "--ext-type takes NAME=TYPE"),
        ("link=url", "unknown type \"url\""),
        ("Link=uri", "\"Link\" is not an extension name"),
        ("time=timestamp", "\"time\" is a context attribute"),
        ("data=binary", "\"data\" is a context attribute (or data)"),
    ] {
        for args in [
            &["import", file, "--ext-type", declaration][..],
            &["append", "--json", file, "--ext-type", declaration],
            &["query", "--ext-type", declaration],
        ] {
            let line = store.run(args).fails_with(2);
            assert!(line.contains(says), "{args:?}: {line}");
        }
    }
    // An --ext value not of its declared type is a malformed flag value too.
    let line = store
        .run(&[
            "query",
            "--ext",
            "at=lunchtime",
            "--ext-type",
            "at=timestamp",
        ])
        .fails_with(2);
    assert!(
        line.contains("--ext at=lunchtime") && line.contains("RFC 3339 timestamp"),
        "{line}"
    );
    let line = store
        .run(&[
            "append",
            "--source",
            "/a",
            "--type",
            "t",
            "--ext",
            "link=x y",
            "--ext-type",
            "link=uri",
        ])
        .fails_with(2);
    assert!(line.contains("absolute URI"), "{line}");
    assert!(ids(&store, &[]).is_empty(), "nothing was written");
}
