//! Checkpoints, leases, dead letters and snapshots in the store's own file.

use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::sql::text::{check_name, storable};
use eventstore_core::timestamp::{format_fixed, parse_fixed};
use eventstore_core::{
    CheckpointStore, DeadLetter, DeadLetterStore, Json, LeaseStore, MAX_LEASE_TTL, Result,
    Snapshot, SnapshotStore, StoredEvent,
};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use crate::error::db;
use crate::store::SqliteEventStore;

/// The statement moving a checkpoint forward (never back), shared by
/// [`CheckpointStore::save_checkpoint`] and the transactional path.
pub(crate) fn advance_checkpoint_sql(table: &eventstore_core::sql::TableName) -> String {
    format!(
        "INSERT INTO {} (name, position, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
         updated_at = excluded.updated_at WHERE excluded.position > position",
        table.companion("checkpoints")
    )
}

pub(crate) fn now_text() -> String {
    format_fixed(OffsetDateTime::now_utc())
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl CheckpointStore for SqliteEventStore {
    async fn load_checkpoint(&self, name: &str) -> Result<Option<i64>> {
        check_name("checkpoint name", name)?;
        let sql = format!(
            "SELECT position FROM {} WHERE name = ?1",
            self.table().companion("checkpoints")
        );
        let name = name.to_owned();
        self.point_read(move |conn, _| {
            conn.query_row(&sql, [name], |row| row.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<()> {
        check_name("checkpoint name", name)?;
        let sql = advance_checkpoint_sql(self.table());
        let name = name.to_owned();
        // Prepared once per connection: a relay saves one checkpoint per batch.
        self.write(move |conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut save| save.execute(params![name, position, now_text()]))
                .map_err(db)
                .map(drop)
        })
        .await
    }

    async fn reset_checkpoint(&self, name: &str) -> Result<()> {
        check_name("checkpoint name", name)?;
        let sql = format!(
            "DELETE FROM {} WHERE name = ?1",
            self.table().companion("checkpoints")
        );
        let name = name.to_owned();
        self.write(move |conn| conn.execute(&sql, [name]).map_err(db).map(drop))
            .await
    }
}

#[async_trait]
impl LeaseStore for SqliteEventStore {
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        check_name("lease name", name)?;
        check_name("lease holder", holder)?;
        let sql = format!(
            "INSERT INTO {} (name, holder, expires_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE holder = excluded.holder OR expires_at_ms < ?4",
            self.table().companion("leases")
        );
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl_ms = i64::try_from(ttl.min(MAX_LEASE_TTL).as_millis()).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let now = now_ms();
            let changed = conn
                .execute(&sql, params![name, holder, now.saturating_add(ttl_ms), now])
                .map_err(db)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        check_name("lease name", name)?;
        check_name("lease holder", holder)?;
        let sql = format!(
            "DELETE FROM {} WHERE name = ?1 AND holder = ?2",
            self.table().companion("leases")
        );
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| conn.execute(&sql, [name, holder]).map_err(db).map(drop))
            .await
    }
}

#[async_trait]
impl DeadLetterStore for SqliteEventStore {
    async fn dead_letter(&self, relay: &str, event: &StoredEvent, error: &str) -> Result<()> {
        check_name("relay name", relay)?;
        let sql = format!(
            "INSERT INTO {} (relay, sequence, source, event_id, error, failed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            self.table().companion("dead_letters")
        );
        let values = (
            relay.to_owned(),
            event.sequence(),
            event.source().to_owned(),
            event.id().to_owned(),
            storable(error).into_owned(),
        );
        self.write(move |conn| {
            let (relay, sequence, source, id, error) = values;
            conn.execute(
                &sql,
                params![relay, sequence, source, id, error, now_text()],
            )
            .map_err(db)
            .map(drop)
        })
        .await
    }

    async fn dead_letters(&self, relay: &str) -> Result<Vec<DeadLetter>> {
        check_name("relay name", relay)?;
        let sql = format!(
            "SELECT relay, sequence, source, event_id, error, failed_at FROM {} \
             WHERE relay = ?1 ORDER BY id",
            self.table().companion("dead_letters")
        );
        let relay = relay.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(&sql).map_err(db)?;
            let rows = stmt
                .query_map([relay], |row| {
                    let failed_at: String = row.get(5)?;
                    Ok(DeadLetter {
                        relay: row.get(0)?,
                        sequence: row.get(1)?,
                        source: row.get(2)?,
                        id: row.get(3)?,
                        error: row.get(4)?,
                        failed_at: parse_fixed(&failed_at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }
}

#[async_trait]
impl SnapshotStore for SqliteEventStore {
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
            "INSERT INTO {} (name, subject, stream_version, state, taken_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (name, subject) DO UPDATE SET stream_version = excluded.stream_version, \
             state = excluded.state, taken_at = excluded.taken_at \
             WHERE excluded.stream_version > stream_version",
            self.table().companion("snapshots")
        );
        let (name, subject) = (name.to_owned(), subject.to_owned());
        self.write(move |conn| {
            conn.execute(
                &sql,
                params![name, subject, stream_version, state.as_str(), now_text()],
            )
            .map_err(db)
            .map(drop)
        })
        .await
    }

    async fn load_snapshot(&self, name: &str, subject: &str) -> Result<Option<Snapshot>> {
        check_name("snapshot name", name)?;
        check_name("snapshot subject", subject)?;
        let sql = format!(
            "SELECT stream_version, state, taken_at FROM {} WHERE name = ?1 AND subject = ?2",
            self.table().companion("snapshots")
        );
        let (name, subject) = (name.to_owned(), subject.to_owned());
        self.point_read(move |conn, _| {
            let row = conn
                .query_row(&sql, [&name, &subject], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional()
                .map_err(db)?;
            row.map(|(stream_version, state, taken_at)| {
                Ok(Snapshot {
                    subject: subject.clone(),
                    stream_version,
                    state: Json::from_string(state).map_err(|e| {
                        eventstore_core::Error::Corrupt {
                            sequence: 0,
                            message: format!("snapshot state: {e}"),
                        }
                    })?,
                    taken_at: parse_fixed(&taken_at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                })
            })
            .transpose()
        })
        .await
    }
}
