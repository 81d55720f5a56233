//! Checkpoints, leases, dead letters and snapshots in the store's own schema.

use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::sql::text::{check_name, storable};
use eventstore_core::{
    CheckpointStore, DeadLetter, DeadLetterStore, Json, LeaseStore, MAX_LEASE_TTL, Result,
    Snapshot, SnapshotStore, StoredEvent,
};

use crate::error::db;
use crate::schema::companion;
use crate::store::PostgresEventStore;

/// The statement moving a checkpoint forward (never back), shared by
/// [`CheckpointStore::save_checkpoint`] and the transactional path.
pub(crate) fn advance_checkpoint_sql(table: &eventstore_core::sql::TableName) -> String {
    format!(
        "INSERT INTO {} AS c (name, position) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now() \
         WHERE excluded.position > c.position",
        companion(table, "checkpoints")
    )
}

#[async_trait]
impl CheckpointStore for PostgresEventStore {
    async fn load_checkpoint(&self, name: &str) -> Result<Option<i64>> {
        check_name("checkpoint name", name)?;
        let sql = format!(
            "SELECT position FROM {} WHERE name = $1",
            companion(self.table(), "checkpoints")
        );
        let row = self
            .with_client(async |client| client.query_opt(&sql, &[&name]).await.map_err(db))
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<()> {
        check_name("checkpoint name", name)?;
        let sql = advance_checkpoint_sql(self.table());
        self.with_client(async |client| {
            // Prepared once per connection: a relay saves one checkpoint per batch, and
            // an unprepared statement costs a second round trip each time.
            let save = client.prepare_cached(&sql).await.map_err(db)?;
            client.execute(&save, &[&name, &position]).await.map_err(db)
        })
        .await?;
        Ok(())
    }

    async fn reset_checkpoint(&self, name: &str) -> Result<()> {
        check_name("checkpoint name", name)?;
        let sql = format!(
            "DELETE FROM {} WHERE name = $1",
            companion(self.table(), "checkpoints")
        );
        self.with_client(async |client| client.execute(&sql, &[&name]).await.map_err(db))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for PostgresEventStore {
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        check_name("lease name", name)?;
        check_name("lease holder", holder)?;
        // The database's clock decides expiry, so holders on machines whose clocks
        // disagree still agree on who holds the lease.
        let sql = format!(
            "INSERT INTO {} AS l (name, holder, expires_at) \
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()",
            companion(self.table(), "leases")
        );
        let seconds = ttl.min(MAX_LEASE_TTL).as_secs_f64();
        let changed = self
            .with_client(async |client| {
                client
                    .execute(&sql, &[&name, &holder, &seconds])
                    .await
                    .map_err(db)
            })
            .await?;
        Ok(changed == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        check_name("lease name", name)?;
        check_name("lease holder", holder)?;
        let sql = format!(
            "DELETE FROM {} WHERE name = $1 AND holder = $2",
            companion(self.table(), "leases")
        );
        self.with_client(async |client| client.execute(&sql, &[&name, &holder]).await.map_err(db))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl DeadLetterStore for PostgresEventStore {
    async fn dead_letter(&self, relay: &str, event: &StoredEvent, error: &str) -> Result<()> {
        check_name("relay name", relay)?;
        let error: &str = &storable(error);
        let sql = format!(
            "INSERT INTO {} (relay, sequence, source, event_id, error) VALUES ($1, $2, $3, $4, $5)",
            companion(self.table(), "dead_letters")
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &relay,
            &event.sequence(),
            &event.source(),
            &event.id(),
            &error,
        ];
        self.with_client(async |client| client.execute(&sql, &params).await.map_err(db))
            .await?;
        Ok(())
    }

    async fn dead_letters(&self, relay: &str) -> Result<Vec<DeadLetter>> {
        check_name("relay name", relay)?;
        let sql = format!(
            "SELECT relay, sequence, source, event_id, error, failed_at FROM {} \
             WHERE relay = $1 ORDER BY id",
            companion(self.table(), "dead_letters")
        );
        let rows = self
            .with_client(async |client| client.query(&sql, &[&relay]).await.map_err(db))
            .await?;
        Ok(rows
            .iter()
            .map(|row| DeadLetter {
                relay: row.get(0),
                sequence: row.get(1),
                source: row.get(2),
                id: row.get(3),
                error: row.get(4),
                failed_at: row.get(5),
            })
            .collect())
    }
}

#[async_trait]
impl SnapshotStore for PostgresEventStore {
    async fn save_snapshot(
        &self,
        name: &str,
        subject: &str,
        stream_version: i64,
        state: Json,
    ) -> Result<()> {
        check_name("snapshot name", name)?;
        check_name("snapshot subject", subject)?;
        let sql = format!(
            "INSERT INTO {} AS s (name, subject, stream_version, state) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name, subject) DO UPDATE SET stream_version = excluded.stream_version, \
             state = excluded.state, taken_at = now() \
             WHERE excluded.stream_version > s.stream_version",
            companion(self.table(), "snapshots")
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&name, &subject, &stream_version, &state.as_str()];
        self.with_client(async |client| client.execute(&sql, &params).await.map_err(db))
            .await?;
        Ok(())
    }

    async fn load_snapshot(&self, name: &str, subject: &str) -> Result<Option<Snapshot>> {
        check_name("snapshot name", name)?;
        check_name("snapshot subject", subject)?;
        let sql = format!(
            "SELECT stream_version, state, taken_at FROM {} WHERE name = $1 AND subject = $2",
            companion(self.table(), "snapshots")
        );
        let row = self
            .with_client(async |client| {
                client.query_opt(&sql, &[&name, &subject]).await.map_err(db)
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state = Json::from_string(row.get(1)).map_err(|e| eventstore_core::Error::Corrupt {
            sequence: 0,
            message: format!("snapshot state of {subject:?}: {e}"),
        })?;
        Ok(Some(Snapshot {
            subject: subject.to_owned(),
            stream_version: row.get(0),
            state,
            taken_at: row.get(2),
        }))
    }
}
