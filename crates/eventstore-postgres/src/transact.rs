//! Business writes and events in one PostgreSQL transaction: [`TransactionalStore`].

use async_trait::async_trait;
use eventstore_core::{
    AppendOptions, AppendResult, CheckpointMove, Error, Event, Result, Transacted,
    TransactionalStore, check_transaction,
};
use futures::future::BoxFuture;
use tokio_postgres::Transaction;

use crate::batch::recorded_now;
use crate::coordination::advance_checkpoint_sql;
use crate::error::db;
use crate::schema::companion;
use crate::store::PostgresEventStore;

/// Any error of the caller's business logic.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Business logic for [`PostgresEventStore`]'s
/// [`transact`](TransactionalStore::transact): an async closure over the
/// transaction, doing its own writes through it and returning a value and the events to
/// append with them.
///
/// ```no_run
/// # async fn f(store: eventstore_postgres::PostgresEventStore) -> eventstore_core::Result<()> {
/// use eventstore_core::{AppendOptions, Event, TransactionalStore};
/// use eventstore_postgres::PostgresWork;
///
/// let work: PostgresWork<u64> = Box::new(|tx| {
///     Box::pin(async move {
///         let rows = tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 7", &[]).await?;
///         let event = Event::builder().id("debit-1").source("/bank").ty("debited").build()?;
///         Ok((rows, vec![event]))
///     })
/// });
/// let done = store.transact(work, AppendOptions::new()).await?;
/// # Ok(()) }
/// ```
pub type PostgresWork<T> = Box<
    dyn for<'t> FnOnce(
            &'t Transaction<'t>,
        ) -> BoxFuture<'t, std::result::Result<(T, Vec<Event>), BoxError>>
        + Send,
>;

#[async_trait]
impl TransactionalStore for PostgresEventStore {
    type Work<T: Send + 'static> = PostgresWork<T>;

    async fn transact_with<T: Send + 'static>(
        &self,
        work: PostgresWork<T>,
        options: AppendOptions,
        checkpoint: Option<(&str, CheckpointMove)>,
    ) -> Result<Option<Transacted<T>>> {
        // A closed store refuses every call with `Error::Closed`, whatever it is given.
        self.check_open()?;
        check_transaction(&options, checkpoint)?;
        self.commit(work, options, checkpoint).await
    }
}

impl PostgresEventStore {
    /// One transaction: the checkpoint check, the work, its events, the checkpoint move.
    async fn commit<T: Send + 'static>(
        &self,
        work: PostgresWork<T>,
        options: AppendOptions,
        checkpoint: Option<(&str, CheckpointMove)>,
    ) -> Result<Option<Transacted<T>>> {
        self.with_client(async move |client| {
            let tx = client.transaction().await.map_err(db)?;
            let checkpoints = companion(self.table(), "checkpoints");
            if let Some((name, CheckpointMove::To(position))) = checkpoint {
                // Lock the checkpoint's row, so that a concurrent runner of the same name
                // waits here and then sees this one's move. A row made here, already at
                // `position`, is no checkpoint yet: the work runs, whatever the position
                // (0 included), as on SQLite.
                let made = tx
                    .query_opt(
                        &format!(
                            "INSERT INTO {checkpoints} (name, position) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING RETURNING position"
                        ),
                        &[&name, &position],
                    )
                    .await
                    .map_err(db)?;
                if made.is_none() {
                    let current: i64 = tx
                        .query_one(
                            &format!(
                                "SELECT position FROM {checkpoints} WHERE name = $1 FOR UPDATE"
                            ),
                            &[&name],
                        )
                        .await
                        .map_err(db)?
                        .get(0);
                    if current >= position {
                        return Ok(None);
                    }
                }
            }
            let (value, events) = work(&tx).await.map_err(Error::aborted)?;
            let appended = if events.is_empty() && options.expectations().next().is_none() {
                // Nothing to append or check (a projection's state change): no round trip.
                AppendResult {
                    appended: Vec::new(),
                    skipped: Vec::new(),
                    recorded_at: recorded_now(),
                }
            } else {
                self.append_in(&*tx, events, options).await?
            };
            match checkpoint {
                None => {}
                Some((name, CheckpointMove::Reset)) => {
                    tx.execute(
                        &format!("DELETE FROM {checkpoints} WHERE name = $1"),
                        &[&name],
                    )
                    .await
                    .map_err(db)?;
                }
                Some((name, CheckpointMove::To(position))) => {
                    tx.execute(&advance_checkpoint_sql(self.table()), &[&name, &position])
                        .await
                        .map_err(db)?;
                }
            }
            tx.commit().await.map_err(db)?;
            if !appended.appended.is_empty() {
                self.notify_committed();
            }
            Ok(Some(Transacted { value, appended }))
        })
        .await
    }
}
