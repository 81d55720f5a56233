//! The write path by hand: the store's transaction, statement for statement.

use std::borrow::Borrow;
use std::collections::HashMap;

use eventstore_core::time::OffsetDateTime;
use eventstore_core::timestamp::format_fixed;
use rusqlite::{Connection, TransactionBehavior, params};

use super::Columns;

/// The store's insert, with the same 15 columns and duplicate handling.
const INSERT: &str = "INSERT INTO \"events\" (stream_version, recorded_at, id, source, type, \
     subject, time, datacontenttype, dataschema, correlationid, topic, destination, \
     extensions, data_kind, data) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
     ON CONFLICT (source, id) DO NOTHING";

/// The store's current-version lookup.
const CURRENT_VERSION: &str = "SELECT MAX(stream_version) FROM \"events\" WHERE subject = ?1";

/// The store's checkpoint save: moves a named position forward, never back.
const SAVE_CHECKPOINT: &str = "INSERT INTO \"events$checkpoints\" (name, position, updated_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
     updated_at = excluded.updated_at WHERE excluded.position > position";

/// Saves checkpoint `name` at `position` as the store's `save_checkpoint` does: one
/// statement in a transaction of its own, stamped with the time.
pub(crate) fn save_checkpoint(
    conn: &Connection,
    name: &str,
    position: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(SAVE_CHECKPOINT)?.execute(params![
        name,
        position,
        format_fixed(OffsetDateTime::now_utc())
    ])?;
    Ok(())
}

/// Appends `rows` in one transaction as the store does: `BEGIN IMMEDIATE`; per subject
/// first seen in the batch, its current version; one insert per event, a duplicate being
/// an error; the sequence read back; `COMMIT`. Returns the last sequence written. Rows
/// may be borrowed or made as they are written (the import baseline's million).
pub(crate) fn append<C: Borrow<Columns>>(
    conn: &mut Connection,
    rows: impl IntoIterator<Item = C>,
) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded_at = format_fixed(OffsetDateTime::now_utc());
    let mut last = 0;
    {
        let mut versions: HashMap<String, i64> = HashMap::new();
        let mut current = tx.prepare_cached(CURRENT_VERSION)?;
        let mut insert = tx.prepare_cached(INSERT)?;
        for row in rows {
            let row = row.borrow();
            let stream_version = match row.subject.as_deref() {
                None => None,
                Some(subject) => Some(match versions.get(subject) {
                    Some(version) => version + 1,
                    None => {
                        current
                            .query_row([subject], |r| r.get::<_, Option<i64>>(0))?
                            .unwrap_or(0)
                            + 1
                    }
                }),
            };
            let changed = insert.execute(params![
                stream_version,
                recorded_at,
                row.id,
                row.source,
                row.ty,
                row.subject,
                row.time,
                row.datacontenttype,
                row.dataschema,
                row.correlationid,
                row.topic,
                row.destination,
                row.extensions,
                row.data_kind,
                row.data.as_ref().map(|d| d.to_sql()),
            ])?;
            assert_eq!(changed, 1, "duplicate (source, id) in the baseline's data");
            if let (Some(subject), Some(version)) = (row.subject.as_deref(), stream_version) {
                match versions.get_mut(subject) {
                    Some(current) => *current = version,
                    None => {
                        versions.insert(subject.to_owned(), version);
                    }
                }
            }
            last = tx.last_insert_rowid();
        }
    }
    tx.commit()?;
    Ok(last)
}

#[cfg(test)]
mod tests {
    use eventstore_core::EventStore as _;
    use eventstore_sqlite::SqliteEventStore;

    use super::*;
    use crate::dataset::Dataset;
    use crate::sqlite::scratch::{Scratch, create_schema};

    /// Every column of every row but `recorded_at`, in sequence order.
    fn rows(path: &std::path::Path) -> Vec<Vec<rusqlite::types::Value>> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(concat!(
                "SELECT ",
                event_columns!(),
                " FROM \"events\" ORDER BY sequence"
            ))
            .unwrap();
        stmt.query_map([], |row| {
            (0..16)
                .filter(|&i| i != 2)
                .map(|i| row.get(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn the_baseline_writes_what_the_store_writes() {
        let scratch = Scratch::new().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dataset = Dataset::new(1);
        let (store_path, raw_path) = (scratch.file("store"), scratch.file("raw"));
        rt.block_on(async {
            let store = SqliteEventStore::open(&store_path).await.unwrap();
            store.append(dataset.events(0..150)).await.unwrap();
            store.append(dataset.events(150..300)).await.unwrap();
            store.close().await.unwrap();
            create_schema(&raw_path).await;
        });
        let mut conn = crate::sqlite::raw::open(&raw_path).unwrap();
        for range in [0..150, 150..300] {
            let columns: Vec<Columns> = dataset.events(range).iter().map(Columns::from).collect();
            append(&mut conn, &columns).unwrap();
        }
        drop(conn);
        let stored = rows(&store_path);
        assert_eq!(stored.len(), 300);
        assert_eq!(stored, rows(&raw_path));
    }
}
