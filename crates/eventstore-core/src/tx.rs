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

/// How [`TransactionalStore::transact_at_checkpoint`] moves a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointMove {
    /// Forward to this position (the work is skipped if the checkpoint is there already).
    To(i64),
    /// Back to nothing, for a rebuild.
    Reset,
}

/// Refuses, with [`Error::Config`](crate::Error::Config), a transaction no backend can
/// run as asked: an expectation of `options` no stream can meet
/// ([`AppendOptions::check`]), or a `checkpoint` whose name holds U+0000 or is longer
/// than [`MAX_NAME_BYTES`](crate::sql::text::MAX_NAME_BYTES) (as
/// [`CheckpointStore`](crate::CheckpointStore) refuses it). Every backend's
/// [`TransactionalStore::transact_with`] calls it first, so that such a transaction is
/// refused alike on every backend, whichever method it came through, before its work
/// runs.
pub fn check_transaction(
    options: &AppendOptions,
    checkpoint: Option<(&str, CheckpointMove)>,
) -> Result<()> {
    options.check()?;
    if let Some((name, _)) = checkpoint {
        crate::sql::text::check_name("checkpoint name", name)?;
    }
    Ok(())
}

/// A store whose appends can share one database transaction with the caller's writes,
/// so that both commit or neither does.
///
/// Backends run business logic in their own form: SQLite's is a synchronous closure over
/// a `rusqlite::Transaction` (it runs off the async scheduler), PostgreSQL's an async one
/// over a `tokio_postgres::Transaction`. [`Work`](Self::Work) names that form, so code
/// such as the outbox's `TransactionalPublisher` is generic over backends while each
/// backend keeps its natural API.
#[async_trait]
pub trait TransactionalStore: EventStore {
    /// The business logic of one transaction: given the backend's transaction, it does
    /// its own writes and returns a value and the events to append.
    type Work<T: Send + 'static>: Send + 'static;

    /// Begins a transaction, runs `work`, appends the events it returns with `options`,
    /// moves `checkpoint` if given (see
    /// [`transact_at_checkpoint`](Self::transact_at_checkpoint)), and commits. `None`
    /// when the checkpoint showed the work done already. What backends implement; call
    /// [`transact`](Self::transact) or `transact_at_checkpoint`.
    ///
    /// Backends refuse what [`check_transaction`] refuses (an expectation no stream can
    /// meet, a checkpoint name no backend keeps) before the transaction begins, so that
    /// neither the work nor anything else runs.
    async fn transact_with<T: Send + 'static>(
        &self,
        work: Self::Work<T>,
        options: AppendOptions,
        checkpoint: Option<(&str, CheckpointMove)>,
    ) -> Result<Option<Transacted<T>>>;

    /// Begins a transaction, runs `work`, appends the events it returns with `options`,
    /// and commits. If the work or the append fails, the transaction is rolled back and
    /// nothing of either is visible; a failure of the work is returned as
    /// [`Error::Aborted`](crate::Error::Aborted) unless it is already a store error.
    async fn transact<T: Send + 'static>(
        &self,
        work: Self::Work<T>,
        options: AppendOptions,
    ) -> Result<Transacted<T>> {
        let done = self.transact_with(work, options, None).await?;
        Ok(done.expect("without a checkpoint the work always runs"))
    }

    /// Like [`transact`](Self::transact), and in the same transaction moves the
    /// checkpoint `name` (see [`CheckpointStore`](crate::CheckpointStore)).
    ///
    /// With [`CheckpointMove::To`], when the checkpoint is already at the position or
    /// beyond, nothing runs and `None` is returned; with no checkpoint under `name`, the
    /// work runs, whatever the position (0 included). This is what gives a projection
    /// whose state lives in the store's database an exactly-once effect: its state
    /// change and its checkpoint commit together, and a change already made is never
    /// made again.
    /// [`CheckpointMove::Reset`] always runs, and forgets the checkpoint with the state
    /// the work resets. A `name` no backend keeps (holding U+0000, or over 1 KiB) is
    /// refused with [`Error::Config`](crate::Error) before anything runs, as by
    /// `CheckpointStore` (see [`check_transaction`]).
    async fn transact_at_checkpoint<T: Send + 'static>(
        &self,
        work: Self::Work<T>,
        options: AppendOptions,
        name: &str,
        checkpoint: CheckpointMove,
    ) -> Result<Option<Transacted<T>>> {
        self.transact_with(work, options, Some((name, checkpoint)))
            .await
    }
}
