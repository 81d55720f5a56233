//! The baseline on PostgreSQL: tokio-postgres issuing plain statements on the schema the
//! store's migrations create, with column values computed before the clock starts.

use std::collections::HashMap;

use bytes::BytesMut;
use eventstore_core::Event;
use eventstore_core::sql::{DataColumn, data_columns, extensions_column};
use eventstore_core::time::OffsetDateTime;
use eventstore_core::timestamp::format_fixed;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Row};

/// The columns every read selects, as the store selects them (JSON as text: the store
/// reads it so too).
pub(crate) const SELECT: &str = "sequence, stream_version, recorded_at, id, source, type, \
    subject, time, datacontenttype, dataschema, correlationid, topic, destination, \
    extensions::text, data_kind, data::text, data_bytes";

/// The columns an append writes.
const INSERTED: &str = "stream_version, recorded_at, id, source, type, subject, time, \
    datacontenttype, dataschema, correlationid, topic, destination, extensions, data_kind, data";

/// Connects a client of its own, its connection driven by a task.
pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("the baseline connects");
    tokio::spawn(connection);
    client
}

/// A batch's column arrays, bound to the append statement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    /// Each event's position among the batch's events of its subject, from 1.
    k: Vec<i64>,
    id: Vec<String>,
    source: Vec<String>,
    ty: Vec<String>,
    subject: Vec<Option<String>>,
    time: Vec<Option<String>>,
    datacontenttype: Vec<Option<String>>,
    dataschema: Vec<Option<String>>,
    correlationid: Vec<Option<String>>,
    topic: Vec<Option<String>>,
    destination: Vec<Option<String>>,
    extensions: Vec<Option<String>>,
    data_kind: Vec<Option<&'static str>>,
    data: Vec<Option<String>>,
}

impl Columns {
    /// The columns of `events`, JSON data only (the data set has no other).
    pub(crate) fn new(events: &[Event]) -> Self {
        let mut c = Self::default();
        let mut seen: HashMap<&str, i64> = HashMap::new();
        for e in events {
            let k = e.subject().map_or(1, |s| {
                let n = seen.entry(s).or_insert(0);
                *n += 1;
                *n
            });
            c.k.push(k);
            c.id.push(e.id().to_owned());
            c.source.push(e.source().to_owned());
            c.ty.push(e.ty().to_owned());
            c.subject.push(e.subject().map(str::to_owned));
            c.time.push(e.time().map(format_fixed));
            c.datacontenttype
                .push(e.datacontenttype().map(str::to_owned));
            c.dataschema.push(e.dataschema().map(str::to_owned));
            c.correlationid.push(e.correlationid().map(str::to_owned));
            c.topic.push(e.topic().map(str::to_owned));
            c.destination.push(e.destination().map(str::to_owned));
            c.extensions.push(extensions_column(e));
            let data = data_columns(e);
            c.data_kind.push(data.map(|d| d.kind()));
            c.data.push(data.map(|d| match d {
                DataColumn::Json(text) => text.to_owned(),
                _ => unreachable!("the data set's data is JSON"),
            }));
        }
        c
    }

    /// How many events.
    pub(crate) fn len(&self) -> usize {
        self.id.len()
    }
}

/// The plain append of a batch in one statement: the rows from arrays, each subject's
/// current version looked up under a per-subject advisory lock (what keeps stream
/// versions unique under concurrent writers), the sequences returned. What the store
/// adds beyond this is its own cost: the safe-horizon lock, the Rust side.
pub(crate) fn append_sql(table: &str) -> String {
    format!(
        "WITH input AS MATERIALIZED (
    SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
        $12::jsonb[], $13::text[], $14::jsonb[]) WITH ORDINALITY AS u(k, id, source, type,
        subject, time, datacontenttype, dataschema, correlationid, topic, destination,
        extensions, data_kind, data, ord)
), current AS (
    SELECT s.subject,
        (SELECT max(e.stream_version) FROM {table} e WHERE e.subject = s.subject) AS version,
        pg_advisory_xact_lock(hashtext(s.subject)) AS locked
    FROM (SELECT DISTINCT subject FROM input WHERE subject IS NOT NULL ORDER BY 1) s
)
INSERT INTO {table} ({INSERTED})
SELECT COALESCE(c.version, 0) + f.k, $15::timestamptz, f.id, f.source, f.type, f.subject,
    f.time, f.datacontenttype, f.dataschema, f.correlationid, f.topic, f.destination,
    f.extensions, f.data_kind, f.data
FROM input f LEFT JOIN current c ON c.subject = f.subject
ORDER BY f.ord
RETURNING sequence"
    )
}

/// Runs the append statement for `c`, again when it raced another writer on a subject's
/// stream version (as the store does); returns the sequences.
pub(crate) async fn append(
    client: &Client,
    statement: &tokio_postgres::Statement,
    c: &Columns,
) -> Vec<i64> {
    let jsonb = |v: &[Option<String>]| -> Vec<Option<JsonText>> {
        v.iter().map(|s| s.clone().map(JsonText)).collect()
    };
    let (extensions, data) = (jsonb(&c.extensions), jsonb(&c.data));
    let now = OffsetDateTime::now_utc();
    let params: [&(dyn ToSql + Sync); 15] = [
        &c.k,
        &c.id,
        &c.source,
        &c.ty,
        &c.subject,
        &c.time,
        &c.datacontenttype,
        &c.dataschema,
        &c.correlationid,
        &c.topic,
        &c.destination,
        &extensions,
        &c.data_kind,
        &data,
        &now,
    ];
    loop {
        match client.query(statement, &params).await {
            Ok(rows) => return rows.iter().map(|r| r.get(0)).collect(),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => panic!("the baseline appends: {e}"),
        }
    }
}

/// The same rows written with binary `COPY … FROM STDIN`, stream versions numbered by
/// the client as `first_version + k` (a fresh table: every subject starts at 0).
pub(crate) async fn copy(client: &Client, table: &str, events: impl Iterator<Item = Event>) -> u64 {
    let sink = client
        .copy_in(&format!(
            "COPY {table} ({INSERTED}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .expect("COPY starts");
    let types = [
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::TEXT,
        Type::JSONB,
    ];
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    let now = OffsetDateTime::now_utc();
    let mut versions: HashMap<String, i64> = HashMap::new();
    for e in events {
        let version = e.subject().map(|s| {
            let v = versions.entry(s.to_owned()).or_insert(0);
            *v += 1;
            *v
        });
        let data = data_columns(&e);
        let row: [&(dyn ToSql + Sync); 15] = [
            &version,
            &now,
            &e.id(),
            &e.source(),
            &e.ty(),
            &e.subject(),
            &e.time().map(format_fixed),
            &e.datacontenttype(),
            &e.dataschema(),
            &e.correlationid(),
            &e.topic(),
            &e.destination(),
            &extensions_column(&e).map(JsonText),
            &data.map(|d| d.kind()),
            &data.map(|d| match d {
                DataColumn::Json(text) => JsonText(text.to_owned()),
                _ => unreachable!("the data set's data is JSON"),
            }),
        ];
        writer
            .as_mut()
            .write(&row)
            .await
            .expect("COPY takes the row");
    }
    writer.finish().await.expect("COPY finishes")
}

/// One row decoded into owned values: every column the store decodes, as the types it
/// reads them as (the store then also builds the event: that part is its own cost).
#[derive(Debug)]
#[allow(dead_code)] // Read to be paid for, never looked at.
pub(crate) struct RawRow {
    /// `sequence`.
    pub(crate) sequence: i64,
    stream_version: Option<i64>,
    recorded_at: OffsetDateTime,
    /// `id` through `extensions`, `data_kind` and `data` as text.
    strings: [Option<String>; 13],
    data_bytes: Option<Vec<u8>>,
}

/// Decodes a row of [`SELECT`]'s columns.
pub(crate) fn decode(row: &Row) -> RawRow {
    RawRow {
        sequence: row.get(0),
        stream_version: row.get(1),
        recorded_at: row.get(2),
        strings: std::array::from_fn(|i| row.get(i + 3)),
        data_bytes: row.get(16),
    }
}

/// JSON text bound as `jsonb` (version byte 1, then the text).
#[derive(Debug)]
pub(crate) struct JsonText(pub(crate) String);

impl ToSql for JsonText {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}
