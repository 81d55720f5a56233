//! `tail`: follow new events as they commit, through the core's gap-free follower.

use anyhow::Result;
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{JsonFormat, follow};
use futures::TryStreamExt as _;

use crate::Context;
use crate::backend::Backend;
use crate::cli::{Output, TailArgs};
use crate::failure::OK;
use crate::filters::position;
use crate::output::{event_line, json_line};

/// Prints each matching event as it commits, until Ctrl-C or `--count` events.
pub(crate) async fn run(backend: &Backend, cx: &Context, args: &TailArgs) -> Result<u8> {
    let query = args.filters.query(OffsetDateTime::now_utc())?;
    let mut events = follow(backend.store(), query, position(&args.from)?);
    let format = JsonFormat::new();
    let mut seen = 0u64;
    if cx.output == Output::Table {
        eprintln!("following {} (Ctrl-C to stop)", cx.target.display_url());
    }
    // One listener for the whole run: one made anew each turn would miss a Ctrl-C
    // pressed while a line was being printed (a reader slow to take it, say).
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    while args.count.is_none_or(|count| seen < count) {
        let next = tokio::select! {
            next = events.try_next() => next?,
            _ = &mut ctrl_c => break,
        };
        let Some(event) = next else { break };
        // Each line is flushed as it is printed: a reader of a pipe sees it at once.
        match cx.output {
            Output::Table => outln!("{}", event_line(&event))?,
            Output::Json | Output::Jsonl => outln!("{}", json_line(&format, &event))?,
        }
        seen += 1;
    }
    Ok(OK)
}
