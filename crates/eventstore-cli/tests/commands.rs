//! Every command of `eventstore`, run as a process on SQLite and on PostgreSQL.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Store, json_lines, vectors};

on_both_backends!(
    migrate_reports_then_is_up_to_date,
    append_from_flags_and_json_then_read_back,
    an_event_appended_from_flags_happens_now_unless_told_otherwise,
    an_expected_version_that_does_not_hold_exits_3,
    import_of_the_conformance_vectors,
    import_reports_lines_and_writes_no_part_of_a_failing_batch,
    import_from_stdin_then_export_round_trips,
    tail_sees_an_event_appended_by_another_process,
    stats_counts_types_sources_subjects_and_sizes,
    relay_delivers_in_order_from_its_checkpoint,
    bench_measures_on_a_scratch_store,
    demo_runs_twice,
    a_url_scheme_in_capitals_names_the_same_store,
);

/// RFC 3986 §3.1: schemes are case-insensitive. `SQLITE://…` and `POSTGRESQL://…` open
/// the store the lower-case URL names.
fn a_url_scheme_in_capitals_names_the_same_store(mut store: Store) {
    store.ok(&["append", "--id", "1", "--source", "/s", "--type", "t"]);
    let (scheme, rest) = store.url.split_once(':').expect("a scheme");
    store.url = format!("{}:{rest}", scheme.to_uppercase());
    assert!(store.ok(&["migrate"]).contains("schema up to date"));
    let events = json_lines(&store.ok(&["-o", "jsonl", "query"]));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], "1");
}

fn migrate_reports_then_is_up_to_date(store: Store) {
    let first = store.ok(&["migrate"]);
    // Both backends' schemas are at version 4.
    assert!(first.contains("applied migrations 1, 2, 3, 4\n"), "{first}");
    assert!(store.ok(&["migrate"]).contains("schema up to date"));
    for output in ["json", "jsonl"] {
        let report: serde_json::Value =
            serde_json::from_str(&store.ok(&["-o", output, "migrate"])).expect("one JSON object");
        assert_eq!(report["applied"], serde_json::json!([]), "{report}");
        assert_eq!(report["table"], store.table.as_str(), "{report}");
    }
}

#[test]
fn migrate_shows_a_postgres_url_without_its_password() {
    let mut store = Store::postgres();
    // Trust authentication ignores the password; the output must not show it.
    let separator = if store.url.contains('?') { '&' } else { '?' };
    store.url = format!(
        "{}{separator}password=s3cret&application_name=a@b",
        store.url
    );
    let out = store.ok(&["migrate"]);
    assert!(!out.contains("s3cret"), "{out}");
    assert!(
        out.contains("password=***&application_name=a@b table "),
        "{out}"
    );
    assert!(out.contains("applied migrations 1, 2, 3, 4"), "{out}");
}

fn append_from_flags_and_json_then_read_back(store: Store) {
    let out = store.ok(&[
        "-o",
        "jsonl",
        "append",
        "--id",
        "a1",
        "--source",
        "/shop",
        "--type",
        "order.created",
        "--subject",
        "order-1",
        "--time",
        "2026-11-01T10:00:00Z",
        "--data",
        r#"{"total":5}"#,
        "--expect",
        "none",
        "--correlation-id",
        "c-1",
        "--ext",
        "tenant=acme",
    ]);
    assert_eq!(json_lines(&out)[0]["stream_version"], 1);
    let batch = r#"[{"specversion":"1.0","id":"a2","source":"/shop","type":"order.paid",
        "subject":"order-1","time":"2026-11-02T10:00:00Z"},
        {"specversion":"1.0","id":"a3","source":"/other","type":"order.created","subject":"order-2"}]"#;
    let out = store
        .run_with_input(&["-o", "json", "append", "--json", "-"], batch)
        .success();
    let appended: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(appended[1]["stream_version"], 1, "order-2's first event");

    let got = json_lines(&store.ok(&["-o", "jsonl", "get", "/shop", "a1"]));
    assert_eq!(got[0]["data"]["total"], 5);
    assert_eq!(got[0]["correlationid"], "c-1");
    assert_eq!(got[0]["tenant"], "acme");
    assert!(store.ok(&["get", "/shop", "a1"]).contains("order.created"));
    assert_eq!(store.run(&["get", "/shop", "nope"]).code(), 3);

    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["-o", "jsonl", "query"];
        all.extend_from_slice(args);
        json_lines(&store.ok(&all))
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&[]), ["a1", "a2", "a3"]);
    assert_eq!(ids(&["--type", "order.created"]), ["a1", "a3"]);
    assert_eq!(ids(&["--source", "/other"]), ["a3"]);
    assert_eq!(
        ids(&["--subject", "order-1", "--desc", "--limit", "1"]),
        ["a2"]
    );
    assert_eq!(ids(&["--since", "2026-11-02T00:00:00Z"]), ["a2"]);
    assert_eq!(ids(&["--until", "2026-11-02T00:00:00Z"]), ["a1"]);
    assert_eq!(ids(&["--since", "1h"]), Vec::<String>::new());
    assert_eq!(ids(&["--correlation-id", "c-1"]), ["a1"]);
    assert_eq!(ids(&["--ext", "tenant=acme"]), ["a1"]);
    assert_eq!(ids(&["--id", "a3", "--id", "a1"]), ["a1", "a3"]);
    assert_eq!(ids(&["--datacontenttype", "application/json"]), ["a1"]);
    assert_eq!(
        ids(&["--dataschema", "https://example.com/s"]),
        Vec::<String>::new()
    );
    assert_eq!(ids(&["--offset", "1", "--limit", "1"]), ["a2"]);
    let stream = store.ok(&["-o", "json", "stream", "order-1", "--from", "2"]);
    let stream: serde_json::Value = serde_json::from_str(&stream).expect("one JSON document");
    assert_eq!(stream.as_array().unwrap().len(), 1);
    assert_eq!(stream[0]["id"], "a2");
    assert!(store.ok(&["stream", "order-1"]).contains("is at version 2"));
    assert!(store.ok(&["query"]).contains("3 events"));
}

fn an_event_appended_from_flags_happens_now_unless_told_otherwise(store: Store) {
    let append = [
        "append",
        "--source",
        "/shop",
        "--type",
        "order.placed",
        "--id",
    ];
    let ids = |args: &[&str]| -> Vec<String> {
        json_lines(&store.ok(&[&["-o", "jsonl", "query"], args].concat()))
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // docs/cli.md's example session: what was just appended is found by an age.
    store.ok(&[&append[..], &["now"]].concat());
    assert_eq!(ids(&["--since", "24h"]), ["now"]);
    store.ok(&[&append[..], &["untimed", "--no-time"]].concat());
    store.ok(&[&append[..], &["earlier", "--time", "2h"]].concat());
    assert_eq!(ids(&["--since", "24h"]), ["now", "earlier"]);
    assert_eq!(ids(&["--since", "1h"]), ["now"]);
    let untimed = json_lines(&store.ok(&["-o", "jsonl", "get", "/shop", "untimed"]));
    assert!(untimed[0].get("time").is_none(), "{}", untimed[0]);
    let line = store
        .run(&[&append[..], &["x", "--no-time", "--time", "now"]].concat())
        .stderr();
    assert!(
        line.contains("'--no-time' cannot be used with '--time"),
        "{line}"
    );
    let line = store.run(&["append", "--json", "-", "--no-time"]).stderr();
    assert!(
        line.contains("'--json <FILE>' cannot be used with '--no-time'"),
        "{line}"
    );
}

fn an_expected_version_that_does_not_hold_exits_3(store: Store) {
    let append = [
        "append",
        "--source",
        "/s",
        "--type",
        "t",
        "--subject",
        "x",
        "--expect",
        "none",
    ];
    store.ok(&append);
    let line = store.run(&append).fails_with(3);
    assert!(line.contains("conflict"), "{line}");
    // No stream has a version below 1: a usage error, not a conflict, and nothing is
    // written.
    for version in ["0", "-1", "-9223372036854775808"] {
        let expect = format!("--expect={version}");
        let mut bad = append[..7].to_vec();
        bad.push(&expect);
        let line = store.run(&bad).fails_with(2);
        assert!(
            line.contains("stream versions start at 1") && line.contains(version),
            "{line}"
        );
    }
    assert!(store.ok(&["stream", "x"]).contains("is at version 1"));
    let bad = store.run(&["append", "--source", "/s", "--type", "t", "--time", "noon"]);
    assert!(bad.fails_with(2).contains("--time"));
    let invalid = store.run(&["append", "--source", "", "--type", "t"]);
    assert!(invalid.fails_with(3).contains("`source`"));
}

fn import_of_the_conformance_vectors(store: Store) {
    let valid = vectors("valid-events.json");
    let invalid = vectors("invalid-events.json");
    // Some valid vectors share a (source, id): the first lands, the others are skipped.
    let run = store.run(&["import", "--on-duplicate", "skip", valid.to_str().unwrap()]);
    run.success();
    assert!(
        run.stderr().contains("imported 6 events, skipped 4"),
        "{}",
        run.stderr()
    );

    let run = store.run(&["import", invalid.to_str().unwrap()]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let text = std::fs::read_to_string(&invalid).unwrap();
    let tests: serde_json::Value = serde_json::from_str(&text).unwrap();
    let stderr = run.stderr();
    for test in tests["tests"].as_array().unwrap() {
        let id = test["id"].as_str().unwrap();
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("[test {id}]")))
            .unwrap_or_else(|| panic!("{id} not reported: {stderr}"));
        assert!(line.contains("attribute `"), "{line}");
    }
    assert!(stderr.contains("imported 0 events; 1 batch refused (25 invalid events"));
    let stored = json_lines(&store.ok(&["-o", "jsonl", "query"]));
    assert_eq!(stored.len(), 6, "nothing else written");
}

fn import_reports_lines_and_writes_no_part_of_a_failing_batch(store: Store) {
    let line = |n: u32| {
        format!(r#"{{"specversion":"1.0","id":"e{n}","source":"/imp","type":"t","subject":"s"}}"#)
    };
    let mut lines: Vec<String> = (1..=6).map(line).collect();
    lines[3] = r#"{"specversion":"1.0","id":"e4","source":"/imp","type":"t","time":"lunchtime"}"#
        .to_owned();
    let path = store.dir.path().join("events.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    // Batches of 2: lines 1-2 land, 3-4 are refused because of line 4, 5-6 land.
    let run = store.run(&["import", "--batch-size", "2", path.to_str().unwrap()]);
    assert_eq!(run.code(), 3);
    let stderr = run.stderr();
    assert!(
        stderr.contains("line 4: invalid event: attribute `time`"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("imported 4 events; 1 batch refused (1 invalid event, 2 events not written)"),
        "{stderr}"
    );
    let ids: Vec<_> = json_lines(&store.ok(&["-o", "jsonl", "query"]))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["e1", "e2", "e5", "e6"]);
    let stream = json_lines(&store.ok(&["-o", "jsonl", "stream", "s", "--from", "4"]));
    assert_eq!(
        stream.len(),
        1,
        "versions continue across batches: e6 is version 4"
    );
    assert_eq!(stream[0]["id"], "e6");
    // Importing it all again: every batch is a duplicate, refused, nothing written.
    let again = store.run(&["import", path.to_str().unwrap()]);
    assert_eq!(again.code(), 3);
    assert!(again.stderr().contains("imported 0 events"));

    let broken = store.dir.path().join("broken.json");
    std::fs::write(&broken, r#"[{"specversion": "1.0", "id": "#).unwrap();
    let run = store.run(&["import", broken.to_str().unwrap()]);
    assert_eq!(run.code(), 3);
    assert!(
        run.stderr()
            .contains("broken.json document: malformed CloudEvents JSON")
    );

    // A file that cannot be read stops the import before anything is written.
    let fresh = std::env::temp_dir().join(format!("cli-fresh-{}.jsonl", std::process::id()));
    std::fs::write(&fresh, line(9) + "\n").unwrap();
    let run = store.run(&["import", fresh.to_str().unwrap(), "no-such-file.jsonl"]);
    std::fs::remove_file(&fresh).unwrap();
    assert!(run.fails_with(1).contains("cannot read no-such-file.jsonl"));
    let stored = json_lines(&store.ok(&["-o", "jsonl", "query"]));
    assert_eq!(stored.len(), 4, "e9 was not written");
    let missing = store.run(&["import", "no-such-file.jsonl"]);
    assert!(
        missing
            .fails_with(1)
            .contains("cannot read no-such-file.jsonl")
    );
}

fn import_from_stdin_then_export_round_trips(store: Store) {
    let input: String = (0..50)
        .map(|n| {
            format!(
                "{{\"specversion\":\"1.0\",\"id\":\"{n}\",\"source\":\"/rt\",\"type\":\"t{}\",\
                 \"subject\":\"s{}\",\"time\":\"2026-01-01T00:00:{:02}.123456789Z\",\
                 \"data\":{{\"n\":{n}}},\"datacontenttype\":\"application/json\"}}\n",
                n % 3,
                n % 5,
                n % 60
            )
        })
        .collect();
    let run = store.run_with_input(&["import", "--batch-size", "7"], &input);
    run.success();
    // Piped stderr: the summary only, no progress bar.
    assert_eq!(run.stderr(), "imported 50 events\n");
    let out = store.dir.path().join("out.jsonl");
    store.ok(&["export", "--out", out.to_str().unwrap()]);
    let exported = json_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(exported, json_lines(&input));
    let filtered = json_lines(&store.ok(&["export", "--type", "t1", "--subject", "s1"]));
    assert!(
        filtered
            .iter()
            .all(|e| e["type"] == "t1" && e["subject"] == "s1")
    );
    assert_eq!(filtered.len(), 4);
}

fn tail_sees_an_event_appended_by_another_process(store: Store) {
    store.ok(&["migrate"]);
    store.ok(&["append", "--source", "/t", "--type", "before"]);
    let tail = store
        .command(&[
            "-o", "jsonl", "tail", "--type", "live", "--from", "start", "-n", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    // Give tail time to catch up and wait: the append below is then a live one.
    std::thread::sleep(Duration::from_millis(500));
    store.ok(&[
        "append",
        "--source",
        "/t",
        "--type",
        "live",
        "--id",
        "from-elsewhere",
    ]);
    let started = Instant::now();
    let mut tail = tail;
    while tail.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "tail saw nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = tail.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = json_lines(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], "from-elsewhere");
}

fn stats_counts_types_sources_subjects_and_sizes(store: Store) {
    for (ty, subject) in [("a", "s1"), ("a", "s1"), ("b", "s2")] {
        store.ok(&[
            "append",
            "--source",
            "/st",
            "--type",
            ty,
            "--subject",
            subject,
        ]);
    }
    let stats: serde_json::Value =
        serde_json::from_str(&store.ok(&["-o", "json", "stats"])).unwrap();
    assert_eq!(stats["events"], 3);
    assert_eq!(
        stats["types"][0],
        serde_json::json!({ "name": "a", "count": 2 })
    );
    assert_eq!(stats["sources"][0]["count"], 3);
    assert_eq!(
        stats["subjects"][1],
        serde_json::json!({ "name": "s2", "count": 1 })
    );
    assert!(stats["table_bytes"].as_i64().unwrap() > 0);
    assert!(stats["index_bytes"].as_i64().unwrap() > 0);
    assert!(store.ok(&["stats"]).contains("index size"));
}

fn relay_delivers_in_order_from_its_checkpoint(store: Store) {
    for n in 1..=3 {
        let id = format!("r{n}");
        store.ok(&[
            "append",
            "--source",
            "/r",
            "--type",
            "t",
            "--subject",
            "s",
            "--id",
            &id,
        ]);
    }
    let first = json_lines(&store.ok(&["relay", "printer", "-n", "3"]));
    let ids: Vec<_> = first.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    store.ok(&["append", "--source", "/r", "--type", "t", "--id", "r4"]);
    let second = json_lines(&store.ok(&["relay", "printer", "-n", "1"]));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], "r4");
}

fn bench_measures_on_a_scratch_store(store: Store) {
    let out = store.ok(&[
        "bench",
        "--events",
        "300",
        "--batch-size",
        "50",
        "--no-progress",
    ]);
    assert!(
        out.contains("append, batches of 50") && out.contains("read all"),
        "{out}"
    );
    let out = store.ok(&["bench", "--import", "500", "--no-progress"]);
    assert!(out.contains("import / raw bulk load"), "{out}");
    // The scratch store is gone and the test's own store untouched.
    let stats: serde_json::Value =
        serde_json::from_str(&store.ok(&["-o", "json", "stats"])).unwrap();
    assert_eq!(stats["events"], 0);
}

fn demo_runs_twice(store: Store) {
    for _ in 0..2 {
        let out = store.ok(&["demo"]);
        for expected in [
            "rolled back",
            "0 rows in demo_orders, event stored: no",
            "after 2 live appends, 8 events",
            "in version order: yes",
            "top types",
        ] {
            assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
        }
    }
}
