//! Keyset paging: a read of any size as a series of bounded pages, so that memory stays
//! bounded and no connection is held between pages.

use super::builder::{select_events, select_stream};
use super::{Dialect, Sql, TableName};
use crate::error::Result;
use crate::query::EventQuery;
use crate::stored::StoredEvent;

/// Walks a query or a stream page by page: [`next_sql`](Self::next_sql) gives the next
/// page's statement, [`advance`](Self::advance) moves past the rows it returned.
///
/// After the first page the query continues with `after` the last sequence seen (a
/// stream, from the version after the last), so each page is an index range scan
/// whatever the position, and rows appended meanwhile are neither skipped nor repeated.
#[derive(Debug, Clone)]
pub struct Pager {
    cursor: Cursor,
    page_size: u64,
    remaining: Option<u64>,
    done: bool,
}

#[derive(Debug, Clone)]
enum Cursor {
    Query(Box<EventQuery>),
    Stream { subject: String, from_version: i64 },
}

impl Pager {
    /// Pages through a query, `page_size` rows at a time.
    pub fn query(query: EventQuery, page_size: u64) -> Self {
        let remaining = query.limit;
        Self {
            cursor: Cursor::Query(Box::new(query)),
            page_size: page_size.max(1),
            remaining,
            done: false,
        }
    }

    /// Pages through a subject's stream from `from_version`.
    pub fn stream(subject: impl Into<String>, from_version: i64, page_size: u64) -> Self {
        Self {
            cursor: Cursor::Stream {
                subject: subject.into(),
                from_version,
            },
            page_size: page_size.max(1),
            remaining: None,
            done: false,
        }
    }

    /// Whether the read is complete.
    pub fn is_done(&self) -> bool {
        self.done || self.remaining == Some(0)
    }

    fn page_limit(&self) -> u64 {
        self.remaining
            .map_or(self.page_size, |r| r.min(self.page_size))
    }

    /// The statement for the next page, or `None` when the read is complete.
    ///
    /// A query refused as invalid is refused here even when it has no page to read
    /// (`limit(0)`), as a backend that runs its statement in one piece refuses it.
    pub fn next_sql(&self, dialect: &dyn Dialect, table: &TableName) -> Option<Result<Sql>> {
        if self.done {
            return None;
        }
        let page = Some(self.page_limit());
        let sql = match &self.cursor {
            Cursor::Query(query) => select_events(dialect, table, query, page),
            Cursor::Stream {
                subject,
                from_version,
            } => Ok(select_stream(dialect, table, subject, *from_version, page)),
        };
        if self.is_done() {
            return sql.err().map(Err);
        }
        Some(sql)
    }

    /// Moves past a page that `next_sql`'s statement returned.
    pub fn advance(&mut self, page: &[StoredEvent]) {
        let last = page.last().map(|e| (e.sequence(), e.stream_version()));
        self.advance_past(page.len(), last);
    }

    /// Moves past a page of `count` rows that `next_sql`'s statement returned, the last
    /// of them with this sequence and stream version (for a backend that turns rows
    /// into events after the page is fetched).
    pub fn advance_past(&mut self, count: usize, last: Option<(i64, Option<i64>)>) {
        let requested = self.page_limit();
        let count = count as u64;
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(count);
        }
        if count < requested {
            self.done = true;
        }
        let Some((sequence, stream_version)) = last else {
            self.done = true;
            return;
        };
        match &mut self.cursor {
            Cursor::Query(query) => {
                query.after = Some(sequence);
                query.offset = 0;
            }
            Cursor::Stream { from_version, .. } => {
                *from_version = stream_version.map_or(i64::MAX, |v| v + 1);
            }
        }
    }
}
