//! Following the store: reading every event in global order, then new ones as they
//! commit, without ever skipping one that commits late.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt as _};

use crate::error::Result;
use crate::query::EventQuery;
use crate::store::{EventStore, EventStream};
use crate::stored::StoredEvent;

/// Where a follower starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Position {
    /// From the first event.
    #[default]
    Start,
    /// After this sequence (a checkpoint).
    After(i64),
    /// After the safe horizon ([`Horizon::safe`]) when the follower starts — when its
    /// stream is first polled —: the events committed after that moment, and, while a
    /// transaction that took a smaller sequence is still open (which holds the horizon
    /// back), also the events above the horizon that committed just before it. A
    /// follower never skips an event, so it starts where nothing below is still to
    /// come. To start from the moment of subscribing, read [`EventStore::horizon`] then
    /// and follow from `After(horizon.safe)`.
    Now,
}

/// How far a follower may read, and how far that is behind the newest event.
///
/// Concurrent appends take sequences in one order and may commit in another: a reader
/// that saw sequence 105 could later find 104. Every sequence at or below `safe` is
/// final (committed or rolled back for good), so a follower that reads only up to
/// `safe` never skips an event. A transaction held open holds `safe` back; `lag()`
/// shows by how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Horizon {
    /// The highest sequence up to which nothing can still commit.
    pub safe: i64,
    /// The highest sequence committed (or taken) so far.
    pub head: i64,
}

impl Horizon {
    /// How many sequences followers are held behind the head.
    pub fn lag(&self) -> i64 {
        self.head.saturating_sub(self.safe)
    }
}

/// A stream of wake-ups: one after appends commit, and at a polling interval for appends
/// the store cannot observe directly (other processes). Spurious wake-ups are allowed.
pub type Wakeups = BoxStream<'static, ()>;

/// What a backend uses for [`EventStore::wakeups`] and for being closed: an in-process
/// signal after each commit, a polling tick for commits made elsewhere, and the store's
/// open/closed state (closing ends every wake-up stream).
#[derive(Debug)]
pub struct CommitSignal {
    /// Bumped by this process's commits.
    commits: tokio::sync::watch::Sender<u64>,
    /// Bumped by this process's commits and by news of other processes' commits.
    wakes: tokio::sync::watch::Sender<u64>,
    closed: AtomicBool,
    poll_interval: Duration,
}

impl CommitSignal {
    /// The shortest polling interval: a shorter one (zero, say) would have every
    /// follower query the store in a loop.
    pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);

    /// A signal whose wake-up streams also tick every `poll_interval` (at least
    /// [`MIN_POLL_INTERVAL`](Self::MIN_POLL_INTERVAL)).
    pub fn new(poll_interval: Duration) -> Self {
        Self {
            commits: tokio::sync::watch::Sender::new(0),
            wakes: tokio::sync::watch::Sender::new(0),
            closed: AtomicBool::new(false),
            poll_interval: poll_interval.max(Self::MIN_POLL_INTERVAL),
        }
    }

    /// How often its wake-up streams tick.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// Wakes every follower: call after this process committed events.
    pub fn notify(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        self.wake();
    }

    /// Wakes every follower without counting a local commit: for news of another
    /// process's commit (a PostgreSQL notification).
    pub fn wake(&self) {
        self.wakes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes with each of this process's commits: what a backend forwards to other
    /// processes.
    pub fn local_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Marks the store closed and ends the wake-up streams.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        self.wake();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `Err(Error::Closed)` once closed.
    pub fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(crate::Error::Closed)
        } else {
            Ok(())
        }
    }

    /// A wake-up stream: after each [`notify`](Self::notify) and every poll interval,
    /// until closed.
    pub fn wakeups(self: &Arc<Self>) -> Wakeups {
        let receiver = self.wakes.subscribe();
        futures::stream::unfold(
            (Arc::clone(self), receiver),
            |(signal, mut receiver)| async move {
                {
                    let changed = std::pin::pin!(receiver.changed());
                    let tick = std::pin::pin!(tokio::time::sleep(signal.poll_interval));
                    let _ = futures::future::select(changed, tick).await;
                }
                if signal.is_closed() {
                    return None;
                }
                Some(((), (signal, receiver)))
            },
        )
        .boxed()
    }
}

/// Follows `store` from `from`: yields every event matching `query`'s filters in
/// sequence order, then waits for new ones, forever (until the store closes or an error
/// is yielded).
///
/// Gap-free: it reads only up to the store's [`Horizon::safe`]. No duplicates: it moves
/// strictly forward. Back-pressure: nothing is read ahead of the consumer beyond the
/// store's pages. The query's order, limit, offset and `after` are replaced by the
/// follower's own. A query [`EventQuery::check`] refuses is yielded as that
/// [`Error::InvalidQuery`](crate::Error::InvalidQuery) when the follower is first
/// polled, and the follower ends.
///
/// Each read is bounded with [`EventQuery::within_horizon`], which tells the store that
/// a follower reads: the store serves it in pages of bounded size and never holds one of
/// its pooled connections waiting for the consumer (SQLite reads each page on the
/// blocking pool without waiting for the consumer; PostgreSQL reads each page whole on a
/// connection returned to the pool before the page is handed over). So a
/// consumer that needs a connection of the same pool for each event, as a projection
/// saving its checkpoint or a relay renewing its lease does, never waits for its own
/// follower, however many followers catch up at once and however long the backlog.
pub fn follow(store: Arc<dyn EventStore>, query: EventQuery, from: Position) -> EventStream {
    // A filter no store can run fails the first read, which a follower of an idle store
    // would not make before the next append: refused at once instead.
    if let Err(error) = query.check() {
        return futures::stream::once(async move { Err(error) }).boxed();
    }
    let query = query.filters_only();
    Follower {
        page: None,
        position: None,
        pager: Some(Box::new(Pager {
            wakeups: store.wakeups(),
            store,
            query,
            from,
        })),
        paging: None,
    }
    .boxed()
}

/// The page [`Pager::next_page`] found, with the pager handed back.
type Paged = Option<(Box<Pager>, EventStream, i64)>;

/// The stream [`follow`] returns. Events come straight from the page being read, the
/// follower's state staying where it is; only between pages does it run the async work
/// of finding the next one ([`Pager::next_page`]). Ended once it holds no page, no
/// pager and no paging: the store closed, or an error was yielded (a follower never
/// skips past one).
struct Follower {
    /// The read in progress: up to this horizon.
    page: Option<(EventStream, i64)>,
    /// The last sequence passed (events yielded, or the horizon reached); `None` until
    /// the first event is yielded or the first page ends (the start position is then
    /// the pager's `from`).
    position: Option<i64>,
    /// What finds the next page, between pages.
    pager: Option<Box<Pager>>,
    /// Finding the next page, the pager moved in.
    paging: Option<BoxFuture<'static, Result<Paged>>>,
}

/// What finding a page needs, moved into the paging future and handed back with the
/// page.
struct Pager {
    store: Arc<dyn EventStore>,
    wakeups: Wakeups,
    query: EventQuery,
    from: Position,
}

impl Pager {
    /// The read of the events after `position` (after the start position when `None`)
    /// up to the store's horizon, waiting for wake-ups while there is none; `None` once
    /// the store closes.
    async fn next_page(mut self: Box<Self>, position: Option<i64>) -> Result<Paged> {
        let position = match position {
            Some(p) => p,
            None => match self.from {
                Position::Start => 0,
                Position::After(p) => p,
                Position::Now => self.store.horizon().await?.safe,
            },
        };
        loop {
            let horizon = self.store.horizon().await?.safe;
            if horizon > position {
                let read = self.query.clone().after(position).within_horizon(horizon);
                let page = self.store.query(read);
                return Ok(Some((self, page, horizon)));
            }
            if self.wakeups.next().await.is_none() {
                return Ok(None);
            }
        }
    }
}

impl Stream for Follower {
    type Item = Result<StoredEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some((page, horizon)) = &mut this.page {
                match ready!(page.poll_next_unpin(cx)) {
                    Some(Ok(event)) => {
                        this.position = Some(event.sequence());
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Some(Err(e)) => {
                        this.page = None;
                        this.pager = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => {
                        // Every event up to the horizon was read: the position moves to
                        // it, past the last event matching the query.
                        let horizon = *horizon;
                        this.position = Some(this.position.map_or(horizon, |p| p.max(horizon)));
                        this.page = None;
                    }
                }
            }
            let paging = match this.paging.take() {
                Some(paging) => paging,
                None => match this.pager.take() {
                    Some(pager) => pager.next_page(this.position).boxed(),
                    None => return Poll::Ready(None),
                },
            };
            let next = ready!(this.paging.insert(paging).poll_unpin(cx));
            this.paging = None;
            match next {
                Ok(Some((pager, page, horizon))) => {
                    this.pager = Some(pager);
                    this.page = Some((page, horizon));
                }
                Ok(None) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_poll_interval_is_taken_as_the_shortest() {
        assert_eq!(
            CommitSignal::new(Duration::ZERO).poll_interval(),
            CommitSignal::MIN_POLL_INTERVAL
        );
        let slow = Duration::from_secs(2);
        assert_eq!(CommitSignal::new(slow).poll_interval(), slow);
    }
}
