//! Edges of the command line: closed pipes, far-off times, awkward import input, exact
//! relay counts, database files that cannot be opened. On SQLite: none of it depends on
//! the backend.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Store, json_lines};

/// `count` JSON Lines events `e1`…, each with `padding` bytes of data.
fn events(count: usize, padding: usize) -> String {
    let data = "x".repeat(padding);
    (1..=count)
        .map(|n| {
            format!(
                "{{\"specversion\":\"1.0\",\"id\":\"e{n}\",\"source\":\"/edge\",\"type\":\"t\",\
                 \"data\":{{\"pad\":\"{data}\"}}}}\n"
            )
        })
        .collect()
}

/// A store holding `count` events, imported from a file.
fn store_with(count: usize, padding: usize) -> Store {
    let store = Store::sqlite();
    let file = store.dir.path().join("seed.jsonl");
    std::fs::write(&file, events(count, padding)).unwrap();
    store.ok(&["import", "--no-progress", file.to_str().unwrap()]);
    store
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
fn wait_for(mut child: Child, limit: Duration, what: &str) -> common::Run {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{what} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    common::Run(child.wait_with_output().unwrap())
}

/// Runs `args` with stdout a pipe whose reader is gone before anything is written.
fn into_a_closed_pipe(store: &Store, args: &[&str]) -> common::Run {
    let mut child = store
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    wait_for(child, Duration::from_secs(60), &args.join(" "))
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let store = store_with(3, 0);
    for args in [
        &["-o", "jsonl", "tail", "--from", "start"][..],
        &["stats"],
        &["-o", "json", "stats"],
        &["migrate"],
        &["append", "--source", "/edge", "--type", "t"],
        &["-o", "jsonl", "append", "--source", "/edge", "--type", "t"],
        &["completions", "bash"],
        &["stream", "s"],
        &["query"],
    ] {
        let run = into_a_closed_pipe(&store, args);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.stderr());
        assert!(
            !run.stderr().contains("panicked"),
            "{args:?}: {}",
            run.stderr()
        );
    }
}

#[test]
fn a_relay_on_a_closed_pipe_stops_without_losing_events() {
    // Events larger than a pipe's buffer, so that the relay meets the closed pipe.
    let total = 200;
    let store = store_with(total, 2000);
    let mut child = store
        .command(&["relay", "printer"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("\"e1\""), "{first}");
    drop(reader);
    let run = wait_for(child, Duration::from_secs(30), "the relay on a closed pipe");
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(!run.stderr().contains("dead-lettered"), "{}", run.stderr());

    // The next run resumes at or before the batch that failed, and skips nothing.
    let rest = json_lines(&store.ok(&["relay", "printer", "-n", "1"]));
    let next: usize = rest[0]["id"].as_str().unwrap()[1..].parse().unwrap();
    assert!(next < total, "checkpointed past what was written: e{next}");
    let left = (total - next).to_string();
    let ids: Vec<String> = json_lines(&store.ok(&["relay", "printer", "-n", &left]))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (next + 1..=total).map(|n| format!("e{n}")).collect();
    assert_eq!(ids, expected);
}

#[test]
fn relay_delivers_exactly_count_events() {
    let store = store_with(250, 0);
    let count = |args: &[&str]| json_lines(&store.ok(args)).len();
    assert_eq!(count(&["relay", "r", "-n", "1"]), 1);
    assert_eq!(count(&["relay", "r", "-n", "150"]), 150);
    assert_eq!(count(&["relay", "r", "-n", "3", "--batch-size", "2"]), 3);
    let next = json_lines(&store.ok(&["relay", "r", "-n", "1"]));
    assert_eq!(
        next[0]["id"], "e155",
        "each run checkpointed what it delivered"
    );
}

#[test]
fn a_query_the_store_refuses_is_a_usage_error() {
    let store = Store::sqlite();
    let line = store.run(&["query", "--ext", "BAD=1"]).fails_with(2);
    assert!(line.starts_with("error: invalid query"), "{line}");
    let line = store.run(&["query", "--ext", "id=1"]).fails_with(2);
    assert!(line.contains("reserves"), "{line}");
}

#[test]
fn get_of_an_event_not_stored_says_so_on_one_error_line() {
    let store = Store::sqlite();
    let line = store.run(&["get", "/shop", "nope"]).fails_with(3);
    assert!(line.starts_with("error: no event"), "{line}");
}

#[test]
fn a_time_out_of_range_is_a_usage_error() {
    let store = Store::sqlite();
    for (flag, age) in [
        ("--since", "99999999w"),
        ("--since", "200000w"),
        ("--until", "99999999w"),
    ] {
        let line = store.run(&["query", flag, age]).fails_with(2);
        assert!(line.contains(flag), "{line}");
    }
    let line = store
        .run(&[
            "append",
            "--source",
            "/a",
            "--type",
            "t",
            "--time",
            "99999999w",
        ])
        .fails_with(2);
    assert!(line.contains("--time"), "{line}");
}

#[test]
fn a_leap_second_or_an_offset_past_the_years_is_named_as_such() {
    let store = Store::sqlite();
    for flag in ["--since", "--until"] {
        let line = store
            .run(&["query", flag, "2016-12-31T23:59:60Z"])
            .fails_with(2);
        assert!(line.contains(flag), "{line}");
        assert!(line.contains("is a leap second"), "{line}");
        let line = store
            .run(&["query", flag, "9999-12-31T23:30:00-01:00"])
            .fails_with(2);
        assert!(line.contains("outside the years 0000 to 9999"), "{line}");
    }
    let append = ["append", "--source", "/a", "--type", "t", "--time"];
    let line = store
        .run(&[&append[..], &["2016-12-31T23:59:60+00:00"]].concat())
        .fails_with(2);
    assert!(
        line.contains("--time") && line.contains("is a leap second"),
        "{line}"
    );
    // Not a time at all, and a second that is no leap second, are still what they were.
    for bad in ["noon", "2016-12-31T23:59:61Z"] {
        let line = store.run(&["query", "--since", bad]).fails_with(2);
        assert!(line.contains("neither an RFC 3339 time"), "{line}");
    }
    assert!(!store.dir.path().join("events.db").exists());
}

#[test]
fn bench_puts_its_scratch_file_beside_a_percent_encoded_path() {
    // The directory's name holds what a URL path escapes: a space, `%`, `?` and `#`.
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("my store 50%?#");
    std::fs::create_dir(&odd).unwrap();
    let encoded = odd
        .display()
        .to_string()
        .replace('%', "%25")
        .replace(' ', "%20")
        .replace('?', "%3F")
        .replace('#', "%23");
    let url = format!("sqlite://{encoded}/events.db");
    let run = common::Run(
        std::process::Command::new(env!("CARGO_BIN_EXE_eventstore"))
            .current_dir(dir.path())
            .env_remove("EVENTSTORE_DATABASE_URL")
            .env_remove("DATABASE_URL")
            .args(["--database-url", &url, "bench", "--events", "100"])
            .args(["--batch-size", "50", "--no-progress"])
            .output()
            .expect("eventstore runs"),
    );
    assert!(run.success().contains("append, batches of 50"));
    let said = run.stderr();
    assert!(
        said.contains(&format!("SQLite file {}", odd.display())),
        "{said}"
    );
    // The scratch file was made there, and removed.
    assert_eq!(std::fs::read_dir(&odd).unwrap().count(), 0);
}

#[test]
fn negative_numbers_reach_their_flags() {
    let store = Store::sqlite();
    for id in ["a", "b"] {
        store.ok(&["append", "--id", id, "--source", "/s", "--type", "t"]);
    }
    // Values a negative number is fine for.
    let ids = |args: &[&str]| -> usize {
        json_lines(&store.ok(&[&["-o", "jsonl", "query"], args].concat())).len()
    };
    assert_eq!(ids(&["--after", "-1"]), 2);
    assert_eq!(ids(&["--min-sequence", "-5"]), 2);
    assert_eq!(ids(&["--max-sequence", "-1"]), 0);
    let stream = store.ok(&["-o", "jsonl", "stream", "x", "--from", "-1"]);
    assert!(stream.is_empty(), "{stream}");
    // Values it is not: a one-line usage error naming the flag.
    for (args, flag) in [
        (&["query", "--limit", "-1"][..], "--limit"),
        (&["query", "--offset", "-1"], "--offset"),
        (&["stats", "--top", "-1"], "--top"),
        (&["tail", "--from", "-1"], "--from"),
        (&["tail", "-n", "-1"], "--count"),
        (&["relay", "r", "--batch-size", "-1"], "--batch-size"),
        (&["import", "--batch-size", "-1"], "--batch-size"),
    ] {
        let run = store.run(args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
        let first = run.stderr().lines().next().unwrap_or_default().to_owned();
        assert!(
            first.starts_with("error: ") && first.contains(flag),
            "{args:?}: {first}"
        );
        assert!(first.contains("-1"), "{args:?}: {first}");
    }
    for expect in ["-1", "0"] {
        let line = store
            .run(&[
                "append",
                "--source",
                "/s",
                "--type",
                "t",
                "--subject",
                "x",
                "--expect",
                expect,
            ])
            .fails_with(2);
        assert!(
            line.contains(&format!("--expect {expect}: stream versions start at 1")),
            "{line}"
        );
    }
    assert_eq!(ids(&[]), 2, "nothing was appended");
}

#[test]
fn json_lines_are_detected_from_a_first_line_that_arrives_in_pieces() {
    let store = Store::sqlite();
    let mut child = store
        .command(&["import", "--no-progress"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(br#"{"specversion":"1.0","id":"p1","#)
        .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stdin
        .write_all(
            b"\"source\":\"/p\",\"type\":\"t\"}\n\
              {\"specversion\":\"1.0\",\"id\":\"p2\",\"source\":\"/p\",\"type\":\"t\"}\n",
        )
        .unwrap();
    drop(stdin);
    let run = common::Run(child.wait_with_output().unwrap());
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stderr().contains("imported 2 events"),
        "{}",
        run.stderr()
    );
}

#[test]
fn json_lines_are_detected_from_a_first_event_over_a_mebibyte() {
    let store = Store::sqlite();
    let file = store.dir.path().join("big.jsonl");
    std::fs::write(&file, events(2, 1_500_000)).unwrap();
    let run = store.run(&["import", "--no-progress", file.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stderr().contains("imported 2 events"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_line_that_is_not_utf8_is_one_bad_event() {
    let store = Store::sqlite();
    let mut input = events(1, 0).into_bytes();
    input.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\"}\n");
    input.extend_from_slice(events(3, 0).lines().nth(2).unwrap().as_bytes());
    input.push(b'\n');
    let file = store.dir.path().join("mixed.jsonl");
    std::fs::write(&file, input).unwrap();
    let run = store.run(&[
        "import",
        "--no-progress",
        "--batch-size",
        "1",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(
        run.stderr().contains("mixed.jsonl line 2"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("imported 2 events"),
        "{}",
        run.stderr()
    );
    let ids = json_lines(&store.ok(&["-o", "jsonl", "query"]));
    assert_eq!(ids.len(), 2);
}

#[test]
fn an_input_that_is_a_directory_stops_the_import_before_anything_is_written() {
    let store = Store::sqlite();
    let file = store.dir.path().join("small.jsonl");
    std::fs::write(&file, events(2, 0)).unwrap();
    let dir = store.dir.path().join("somedir");
    std::fs::create_dir(&dir).unwrap();
    let line = store
        .run(&[
            "import",
            "--no-progress",
            file.to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .fails_with(1);
    assert!(line.contains("somedir"), "{line}");
    assert!(store.ok(&["-o", "jsonl", "query"]).trim().is_empty());
}

#[test]
fn text_data_is_text_plain() {
    let store = Store::sqlite();
    store.ok(&[
        "append", "--source", "/a", "--type", "t", "--id", "x", "--text", "hello",
    ]);
    let got = json_lines(&store.ok(&["-o", "jsonl", "get", "/a", "x"]));
    assert_eq!(got[0]["datacontenttype"], "text/plain");
    assert_eq!(got[0]["data"], "hello");
}

#[test]
fn a_sqlite_file_that_cannot_be_opened_is_a_runtime_failure() {
    let mut store = Store::sqlite();
    store.url = "sqlite:///nonexistent-dir-of-eventstore-tests/x.db".to_owned();
    let line = store.run(&["query"]).fails_with(1);
    assert!(line.contains("cannot open"), "{line}");
    store.run(&["migrate"]).fails_with(1);
}

#[test]
fn a_document_that_is_not_utf8_is_refused_and_the_import_goes_on() {
    let store = Store::sqlite();
    let mut batch = b"[".to_vec();
    batch.extend_from_slice(events(1, 0).trim_end().as_bytes());
    batch.extend_from_slice(b",{\"specversion\":\"1.0\",\"id\":\"\xff\"}]");
    let bad = store.dir.path().join("bad.json");
    std::fs::write(&bad, batch).unwrap();
    let good = store.dir.path().join("good.jsonl");
    std::fs::write(&good, events(2, 0)).unwrap();
    let run = store.run(&[
        "import",
        "--no-progress",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(run.stderr().contains("not UTF-8"), "{}", run.stderr());
    assert!(run.stderr().contains("bad.json"), "{}", run.stderr());
    assert_eq!(json_lines(&store.ok(&["-o", "jsonl", "query"])).len(), 2);
}

#[test]
fn an_append_of_a_file_that_is_not_utf8_is_refused() {
    let store = Store::sqlite();
    let file = store.dir.path().join("event.json");
    std::fs::write(&file, b"{\"specversion\":\"1.0\",\"id\":\"\xff\"}").unwrap();
    let line = store
        .run(&["append", "--json", file.to_str().unwrap()])
        .fails_with(3);
    assert!(line.contains("not UTF-8"), "{line}");
    assert!(store.ok(&["-o", "jsonl", "query"]).trim().is_empty());
}

#[test]
fn json_data_from_a_flag_is_stored_as_written() {
    let store = Store::sqlite();
    // Through a `serde_json::Value` the number became 1.2345678901234568e29 and one
    // `tag` was dropped.
    let data = r#"{"amount":123456789012345678901234567890,"tag":"a","tag":"b"}"#;
    store.ok(&[
        "append", "--source", "/a", "--type", "t", "--id", "x", "--data", data,
    ]);
    let got = store.ok(&["-o", "jsonl", "get", "/a", "x"]);
    assert!(got.contains(&format!(r#""data":{data}"#)), "{got}");
    assert_eq!(json_lines(&got)[0]["datacontenttype"], "application/json");
    let refused = store.run(&["append", "--source", "/a", "--type", "t", "--data", "{x}"]);
    assert!(refused.fails_with(2).contains("--data is not JSON"));
}

#[test]
fn json_lines_output_keeps_each_event_on_one_line() {
    let store = Store::sqlite();
    // Pretty-printed: SQLite keeps the data's line breaks as written.
    let batch = "[\n  {\n    \"specversion\": \"1.0\", \"id\": \"p1\", \"source\": \"/pretty\",\n    \
                 \"type\": \"t\", \"data\": {\n      \"a\": [1,\r\n        2]\n    }\n  },\n  \
                 {\"specversion\": \"1.0\", \"id\": \"p2\", \"source\": \"/pretty\", \"type\": \"t\",\n    \
                 \"data\": [\n      \"line\\nbreak\"\n    ]\n  }\n]\n";
    store
        .run_with_input(&["append", "--json", "-"], batch)
        .success();
    let outputs = [
        store.ok(&["export"]),
        store.ok(&["-o", "jsonl", "query"]),
        store.ok(&["-o", "jsonl", "tail", "--from", "start", "-n", "2"]),
        store.ok(&["relay", "printer", "-n", "2"]),
    ];
    for output in &outputs {
        assert_eq!(output.lines().count(), 2, "one event per line:\n{output}");
        let events = json_lines(output);
        assert_eq!(events[0]["data"]["a"], serde_json::json!([1, 2]));
        assert_eq!(events[1]["data"][0], "line\nbreak");
    }
    let got = store.ok(&["-o", "jsonl", "get", "/pretty", "p1"]);
    assert_eq!(got.lines().count(), 1, "{got}");

    // What was exported imports again, event for event.
    let other = Store::sqlite();
    let run = other.run_with_input(&["import"], &outputs[0]);
    assert_eq!(run.success(), "");
    assert_eq!(run.stderr(), "imported 2 events\n");
    assert_eq!(json_lines(&other.ok(&["export"])), json_lines(&outputs[0]));
}

#[test]
fn append_from_json_refuses_the_flags_of_an_event() {
    let store = Store::sqlite();
    let file = store.dir.path().join("event.json");
    std::fs::write(
        &file,
        r#"{"specversion":"1.0","id":"j1","source":"/j","type":"t"}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    // These would have been dropped without a word: the document holds the event.
    for flags in [
        &["--topic", "orders"][..],
        &["--time", "now"],
        &["--data", "{}"],
        &["--text", "x"],
        &["--datacontenttype", "text/plain"],
        &["--dataschema", "https://example.com/s"],
        &["--correlation-id", "c"],
        &["--destination", "d"],
        &["--ext", "tenant=acme"],
    ] {
        let mut args = vec!["append", "--json", file];
        args.extend_from_slice(flags);
        let run = store.run(&args);
        assert_eq!(run.code(), 2, "{flags:?}: {}", run.stderr());
    }
    assert!(store.ok(&["-o", "jsonl", "query"]).trim().is_empty());
    // The subject still names the stream an expectation checks.
    store.ok(&[
        "append",
        "--json",
        file,
        "--subject",
        "s",
        "--expect",
        "none",
    ]);
    assert_eq!(json_lines(&store.ok(&["-o", "jsonl", "query"])).len(), 1);
}

#[test]
fn an_event_over_a_limit_is_reported_with_its_line_and_the_import_goes_on() {
    let store = Store::sqlite();
    let event = |n: u32, subject: &str| {
        format!(
            r#"{{"specversion":"1.0","id":"e{n}","source":"/lim","type":"t","subject":"{subject}"}}"#
        )
    };
    // Valid CloudEvents, but a subject longer than the 1 KiB the store indexes.
    let long = "s".repeat(2000);
    let lines = [event(1, "a"), event(2, &long), event(3, "a"), event(4, "a")];
    let path = store.dir.path().join("limits.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let run = store.run(&["import", "--batch-size", "2", path.to_str().unwrap()]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "limits.jsonl line 2: invalid event: attribute `subject` is 2000 bytes, over the \
             limit of 1024 bytes"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("imported 2 events; 1 batch refused (1 invalid event, 2 events not written)"),
        "{stderr}"
    );
    let ids: Vec<_> = json_lines(&store.ok(&["-o", "jsonl", "query"]))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["e3", "e4"], "the batch after it was imported");
}

#[test]
fn an_export_that_fails_partway_leaves_no_partial_file() {
    let store = store_with(5, 10);
    let dir = store.dir.path();
    let conn = rusqlite::Connection::open(dir.join("events.db")).unwrap();
    conn.execute(
        "UPDATE events SET data = '{\"pad\": ' WHERE sequence = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("events.db") && name != "seed.jsonl")
            .collect();
        names.sort();
        names
    };

    // Two events, then a corrupt row: nothing written where the export was going.
    let failed = store.run(&["export", "--out", "new.jsonl"]);
    assert_ne!(failed.code(), 0, "{}", failed.stderr());
    assert!(failed.stderr().contains("corrupt"), "{}", failed.stderr());
    assert_eq!(entries(), Vec::<String>::new(), "no file, partial or whole");

    // A file already there stays as it was.
    std::fs::write(dir.join("old.jsonl"), "kept\n").unwrap();
    let failed = store.run(&["export", "--out", "old.jsonl"]);
    assert_ne!(failed.code(), 0, "{}", failed.stderr());
    assert_eq!(
        std::fs::read_to_string(dir.join("old.jsonl")).unwrap(),
        "kept\n"
    );
    assert_eq!(entries(), ["old.jsonl"]);

    // An export that gets through replaces it whole.
    store.ok(&["export", "--out", "old.jsonl", "--max-sequence", "2"]);
    let exported = std::fs::read_to_string(dir.join("old.jsonl")).unwrap();
    assert_eq!(json_lines(&exported).len(), 2, "{exported}");
    assert_eq!(entries(), ["old.jsonl"]);
}

#[test]
fn an_import_refused_for_a_duplicate_says_how_to_skip_it() {
    let store = Store::sqlite();
    let path = store.dir.path().join("events.jsonl");
    let event = r#"{"specversion":"1.0","id":"e1","source":"/imp","type":"t"}"#;
    std::fs::write(&path, format!("{event}\n")).unwrap();
    store.ok(&["import", path.to_str().unwrap()]);
    let run = store.run(&["import", path.to_str().unwrap()]);
    assert_eq!(run.code(), 3);
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "is already stored (import with `--on-duplicate skip` to skip events already stored)"
        ),
        "{stderr}"
    );
    // With it, the hint's advice works.
    let run = store.run(&["import", "--on-duplicate", "skip", path.to_str().unwrap()]);
    run.success();
    assert!(run.stderr().contains("skipped 1"), "{}", run.stderr());
}
