//! `append`: one event from flags, or a CloudEvents JSON event or batch.

use anyhow::{Context as _, Result, bail};
use comfy_table::Table;
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{AppendOptions, Event, ExpectedVersion, Json, JsonFormat};

use crate::Context;
use crate::backend::Backend;
use crate::cli::{AppendArgs, Output};
use crate::extension_types::ExtensionTypes;
use crate::failure::{OK, Usage};
use crate::filters::{instant, name_value};

/// Appends the event(s) and prints what the store assigned.
pub(crate) async fn run(backend: &Backend, cx: &Context, args: &AppendArgs) -> Result<u8> {
    let types = ExtensionTypes::parse(&args.extension_types)?;
    let events = match &args.json {
        Some(path) => parse(&types.json_format(), &read_input(path)?)?,
        None => vec![from_flags(args, &types)?],
    };
    let mut options = AppendOptions::new();
    if let (Some(expect), Some(subject)) = (&args.expect, &args.subject) {
        options = options.expect(subject, expected_version(expect)?);
    }
    let result = backend.store().append_with(events.clone(), options).await?;
    if cx.output == Output::Table {
        let mut table = Table::new();
        table.set_header(["seq", "ver", "type", "subject", "id"]);
        for appended in &result.appended {
            let event = &events[appended.index];
            table.add_row([
                appended.sequence.to_string(),
                appended
                    .stream_version
                    .map_or_else(String::new, |v| v.to_string()),
                event.ty().to_owned(),
                event.subject().unwrap_or_default().to_owned(),
                event.id().to_owned(),
            ]);
        }
        outln!("{table}")?;
    } else {
        let appended: Vec<serde_json::Value> = result
            .appended
            .iter()
            .map(|appended| {
                let version = appended
                    .stream_version
                    .map_or(serde_json::Value::Null, Into::into);
                serde_json::json!({
                    "sequence": appended.sequence,
                    "stream_version": version,
                    "id": events[appended.index].id(),
                    "source": events[appended.index].source(),
                })
            })
            .collect();
        if cx.output == Output::Json {
            outln!("{}", serde_json::Value::Array(appended))?;
        } else {
            for line in &appended {
                outln!("{line}")?;
            }
        }
    }
    Ok(OK)
}

/// Reads the flags as `run` will, so that a malformed one (`--time noon`, `--expect x`,
/// `--data` that is not JSON) is refused before the store is opened: opening creates
/// and migrates a SQLite file that is not there yet. The `--json` document is read by
/// `run` only: stdin can be read once.
pub(crate) fn check(args: &AppendArgs) -> Result<()> {
    let types = ExtensionTypes::parse(&args.extension_types)?;
    if args.json.is_none() {
        from_flags(args, &types)?;
    }
    if let Some(expect) = &args.expect {
        expected_version(expect)?;
    }
    Ok(())
}

/// A file's text, or stdin's for `-`. Input that is not UTF-8 is refused like input
/// that is not JSON (exit 3), not as a failure to read (exit 1).
fn read_input(path: &str) -> Result<String> {
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("cannot read stdin")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {path}"))?
    };
    String::from_utf8(bytes).map_err(|e| {
        eventstore_sql::Error::Json {
            index: None,
            message: format!("{path} is not UTF-8 text: {}", e.utf8_error()),
        }
        .into()
    })
}

/// One event or a batch.
fn parse(format: &JsonFormat, text: &str) -> Result<Vec<Event>> {
    if text.trim_start().starts_with('[') {
        Ok(format.parse_batch(text)?)
    } else {
        Ok(vec![format.parse_event(text)?])
    }
}

fn from_flags(args: &AppendArgs, types: &ExtensionTypes) -> Result<Event> {
    let now = OffsetDateTime::now_utc();
    let mut builder = Event::builder()
        .id(args.id.clone().unwrap_or_else(|| generated_id(now)))
        .source(args.source.clone().unwrap_or_default())
        .ty(args.ty.clone().unwrap_or_default());
    if let Some(subject) = &args.subject {
        builder = builder.subject(subject);
    }
    // An event typed at a prompt happens now: without a time, `query --since 24h` would
    // not find it.
    if !args.no_time {
        let time = match args.time.as_deref() {
            None | Some("now") => now,
            Some(time) => instant(time, now).context("--time")?,
        };
        builder = builder.time(time);
    }
    if let Some(data) = &args.data {
        // Kept as written: a `serde_json::Value` would round numbers to `f64` and keep one
        // of the members that repeat a name.
        let json = Json::from_string(data.clone())
            .map_err(|e| Usage(format!("--data is not JSON: {e}")))?;
        builder = builder.data(json).datacontenttype("application/json");
    }
    if let Some(text) = &args.text {
        builder = builder.text(text);
    }
    // Text says what it is: without a content type, CloudEvents JSON would read it back
    // as JSON data.
    let text_plain = args.text.as_ref().map(|_| "text/plain");
    if let Some(content_type) = args.datacontenttype.as_deref().or(text_plain) {
        builder = builder.datacontenttype(content_type);
    }
    if let Some(schema) = &args.dataschema {
        builder = builder.dataschema(schema);
    }
    if let Some(id) = &args.correlation_id {
        builder = builder.correlationid(id);
    }
    if let Some(topic) = &args.topic {
        builder = builder.topic(topic);
    }
    if let Some(destination) = &args.destination {
        builder = builder.destination(destination);
    }
    for pair in &args.extensions {
        let (name, value) = name_value(pair, "--ext", "VALUE")?;
        builder = builder.extension(name, types.value(name, value)?);
    }
    Ok(builder.build()?)
}

/// A unique enough id for an event typed at a prompt: the time and the process.
fn generated_id(now: OffsetDateTime) -> String {
    format!("{:x}-{:x}", now.unix_timestamp_nanos(), std::process::id())
}

/// `--expect`'s value. Stream versions start at 1: a number below it could only ever
/// conflict, so it is refused as the usage error it is (`none` expects no events).
fn expected_version(text: &str) -> Result<ExpectedVersion> {
    Ok(match text {
        "any" => ExpectedVersion::Any,
        "none" => ExpectedVersion::NoStream,
        "exists" => ExpectedVersion::Exists,
        n => match n.parse::<i64>() {
            Ok(version @ 1..) => ExpectedVersion::Exact(version),
            Ok(_) => bail!(Usage(format!(
                "--expect {n}: stream versions start at 1; give `none` to expect a \
                 subject without events"
            ))),
            Err(_) => bail!(Usage(format!(
                "--expect takes any, none, exists or a version number, not {n:?}"
            ))),
        },
    })
}
