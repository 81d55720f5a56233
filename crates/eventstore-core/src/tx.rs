//! Appending in the same transaction as the caller's own writes: the transactional
//! outbox's first half.

use async_trait::async_trait;

use crate::append::{AppendOptions, AppendResult};
use crate::error::Result;
use crate::store::EventStore;

/// What a transaction produced: the business logic's value and what was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transacted<T> {
    /// The value the business logic returned.
    pub value: T,
    /// The events appended in the same transaction.
    pub appended: AppendResult,
}

/// A store whose appends can share one database transaction with the caller's writes,
/// so that both commit or neither does.
///
/// Backends run business logic in their own form: SQLite's is a synchronous closure over
/// a `rusqlite::Transaction` (it runs on the blocking pool), PostgreSQL's an async one
/// over a `tokio_postgres::Transaction`. [`Work`](Self::Work) names that form, so code
/// such as the outbox's `TransactionalPublisher` is generic over backends while each
/// backend keeps its natural API.
#[async_trait]
pub trait TransactionalStore: EventStore {
    /// The business logic of one transaction: given the backend's transaction, it does
    /// its own writes and returns a value and the events to append.
    type Work<T: Send + 'static>: Send + 'static;

    /// Begins a transaction, runs `work`, appends the events it returns with `options`,
    /// and commits. If the work or the append fails, the transaction is rolled back and
    /// nothing of either is visible; a failure of the work is returned as
    /// [`Error::Aborted`](crate::Error::Aborted) unless it is already a store error.
    async fn transact<T: Send + 'static>(
        &self,
        work: Self::Work<T>,
        options: AppendOptions,
    ) -> Result<Transacted<T>>;
}
