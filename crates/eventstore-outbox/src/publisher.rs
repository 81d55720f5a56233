//! [`TransactionalPublisher`]: business writes and their events in one transaction.

use eventstore_core::{AppendOptions, Result, Transacted, TransactionalStore};
use tracing::Instrument as _;

/// Publishes events together with the business writes that caused them: both commit in
/// one transaction, or neither does. The events are then delivered by an
/// [`OutboxRelay`](crate::OutboxRelay).
///
/// Generic over the backend: the business logic takes the backend's own form
/// ([`TransactionalStore::Work`]): a synchronous closure over a `rusqlite::Transaction`
/// on SQLite, an async one over a `tokio_postgres::Transaction` on PostgreSQL.
#[derive(Debug, Clone)]
pub struct TransactionalPublisher<S> {
    store: S,
    options: AppendOptions,
}

impl<S: TransactionalStore> TransactionalPublisher<S> {
    /// A publisher on `store` (duplicates refused, no expectations).
    pub fn new(store: S) -> Self {
        Self {
            store,
            options: AppendOptions::default(),
        }
    }

    /// Uses `options` for every append (e.g. `OnDuplicate::Skip` for idempotent
    /// retries).
    #[must_use]
    pub fn with_options(mut self, options: AppendOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs `work` in a transaction and appends the events it returns in the same one.
    /// If the work fails ([`Error::Aborted`](eventstore_core::Error::Aborted)) or the
    /// append fails (a conflict, a duplicate, the database), neither is visible.
    pub async fn publish_with_tx<T: Send + 'static>(
        &self,
        work: S::Work<T>,
    ) -> Result<Transacted<T>> {
        self.publish_with_options(work, self.options.clone()).await
    }

    /// [`publish_with_tx`](Self::publish_with_tx) with options for this call only
    /// (expected stream versions of the aggregate being changed, say).
    pub async fn publish_with_options<T: Send + 'static>(
        &self,
        work: S::Work<T>,
        options: AppendOptions,
    ) -> Result<Transacted<T>> {
        let span = tracing::info_span!("publish_with_tx");
        let result = self
            .store
            .transact(work, options)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(done) => span.in_scope(|| {
                tracing::debug!(
                    events = done.appended.appended.len(),
                    first = ?done.appended.first_sequence(),
                    "published"
                );
            }),
            Err(error) => span.in_scope(|| tracing::debug!(%error, "rolled back")),
        }
        result
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
