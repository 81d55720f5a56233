//! Printing events: a table for people, CloudEvents JSON for programs.

use std::io::Write;

use anyhow::Result;
use comfy_table::Table;
use eventstore_sql::timestamp::format_rfc3339;
use eventstore_sql::{Data, Event, EventStream, JsonFormat, StoredEvent};
use futures::TryStreamExt as _;

use crate::cli::Output;

/// The columns of an event listing.
const HEADER: [&str; 7] = ["seq", "ver", "time", "type", "source", "subject", "id"];

/// Prints every event of `events` in `output`'s form; returns how many.
pub(crate) async fn print_events(output: Output, mut events: EventStream) -> Result<u64> {
    let format = JsonFormat::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut count = 0;
    match output {
        Output::Table => {
            let mut table = Table::new();
            table.set_header(HEADER);
            while let Some(event) = events.try_next().await? {
                table.add_row(row(&event));
                count += 1;
            }
            writeln!(out, "{table}")?;
            writeln!(out, "{count} event{}", plural(count))?;
        }
        Output::Json => {
            write!(out, "[")?;
            while let Some(event) = events.try_next().await? {
                let comma = if count == 0 { "" } else { "," };
                write!(out, "{comma}\n{}", format.write_event(&event))?;
                count += 1;
            }
            writeln!(out, "\n]")?;
        }
        Output::Jsonl => {
            while let Some(event) = events.try_next().await? {
                writeln!(out, "{}", json_line(&format, &event))?;
                count += 1;
            }
        }
    }
    out.flush()?;
    Ok(count)
}

/// Prints one event: every attribute in a table, or its CloudEvents JSON.
pub(crate) fn print_event(output: Output, event: &StoredEvent) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if output != Output::Table {
        writeln!(out, "{}", json_line(&JsonFormat::new(), event))?;
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header(["attribute", "value"]);
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            table.add_row([name.to_owned(), value]);
        }
    };
    add("sequence", Some(event.sequence().to_string()));
    add(
        "stream version",
        event.stream_version().map(|v| v.to_string()),
    );
    add("recorded at", Some(format_rfc3339(event.recorded_at())));
    add("id", Some(event.id().to_owned()));
    add("source", Some(event.source().to_owned()));
    add("type", Some(event.ty().to_owned()));
    add("subject", event.subject().map(str::to_owned));
    add("time", event.time().map(format_rfc3339));
    add(
        "datacontenttype",
        event.datacontenttype().map(str::to_owned),
    );
    add("dataschema", event.dataschema().map(str::to_owned));
    add("correlationid", event.correlationid().map(str::to_owned));
    add("topic", event.topic().map(str::to_owned));
    add("destination", event.destination().map(str::to_owned));
    for (name, value) in event.extensions() {
        add(name, Some(value.to_string()));
    }
    add("data", event.data().map(data_text));
    writeln!(out, "{table}")?;
    Ok(())
}

/// An event's CloudEvents JSON on one line, for JSON Lines. JSON data is written as it
/// was stored, which may span lines (a pretty-printed document, as SQLite keeps it); a
/// line break there can only be whitespace between tokens, since JSON strings escape
/// theirs, so it becomes a space and the document means the same.
pub(crate) fn json_line(format: &JsonFormat, event: &Event) -> String {
    let text = format.write_event(event);
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text
    }
}

/// One line for a followed event in table mode: `#seq type subject (source id)`.
pub(crate) fn event_line(event: &StoredEvent) -> String {
    format!(
        "#{} {} {} v{} ({} {})",
        event.sequence(),
        event.ty(),
        event.subject().unwrap_or("-"),
        event
            .stream_version()
            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        event.source(),
        event.id()
    )
}

fn row(event: &StoredEvent) -> [String; 7] {
    [
        event.sequence().to_string(),
        event
            .stream_version()
            .map_or_else(String::new, |v| v.to_string()),
        event.time().map(format_rfc3339).unwrap_or_default(),
        event.ty().to_owned(),
        event.source().to_owned(),
        event.subject().unwrap_or_default().to_owned(),
        event.id().to_owned(),
    ]
}

fn data_text(data: &Data) -> String {
    match data {
        Data::Json(json) => json.as_str().to_owned(),
        Data::Text(text) => text.clone(),
        Data::Binary(bytes) => format!("{} bytes", bytes.len()),
    }
}

/// `"s"` unless `n` is 1.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
