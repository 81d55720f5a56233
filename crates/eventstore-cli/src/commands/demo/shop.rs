//! The demo's order service: its own `demo_orders` table, written in the same
//! transaction as its events. Each backend runs business logic in its own form (a
//! synchronous closure on SQLite, an async one on PostgreSQL); everything else in the
//! demo is backend-neutral.

use eventstore_sql::outbox::RelayStore;
use eventstore_sql::postgres::PostgresWork;
use eventstore_sql::{
    CheckpointStore, Event, LeaseStore, PostgresEventStore, SqliteEventStore, SqliteWork,
    TransactionalStore,
};

/// An order as the service stores it.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    /// The order's id (unique per demo run).
    pub(crate) id: String,
    /// Its total.
    pub(crate) total: f64,
}

/// Why the business logic refuses an order.
pub(crate) fn check(order: &Order) -> Result<(), String> {
    if order.total > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "order {}: total must be positive, not {}",
            order.id, order.total
        ))
    }
}

/// A store the demo's order service runs on.
pub(crate) trait Shop:
    TransactionalStore + CheckpointStore + LeaseStore + RelayStore + Clone + 'static
{
    /// Creates the `demo_orders` table if missing.
    fn create_orders_table(&self) -> Self::Work<()>;

    /// Inserts the order's row, then checks it and returns `placed` to append with it:
    /// a refused order is rolled back, row included.
    fn place_order(&self, order: Order, placed: Event) -> Self::Work<()>;

    /// How many rows the order has (0 or 1).
    fn order_rows(&self, id: String) -> Self::Work<i64>;
}

impl Shop for SqliteEventStore {
    fn create_orders_table(&self) -> SqliteWork<()> {
        Box::new(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS demo_orders \
                 (id TEXT PRIMARY KEY, total REAL NOT NULL, status TEXT NOT NULL)",
            )?;
            Ok(((), Vec::new()))
        })
    }

    fn place_order(&self, order: Order, placed: Event) -> SqliteWork<()> {
        Box::new(move |tx| {
            tx.execute(
                "INSERT INTO demo_orders (id, total, status) VALUES (?1, ?2, 'placed')",
                (&order.id, order.total),
            )?;
            check(&order)?;
            Ok(((), vec![placed]))
        })
    }

    fn order_rows(&self, id: String) -> SqliteWork<i64> {
        Box::new(move |tx| {
            let rows = tx.query_row(
                "SELECT count(*) FROM demo_orders WHERE id = ?1",
                [&id],
                |row| row.get(0),
            )?;
            Ok((rows, Vec::new()))
        })
    }
}

/// The orders table, in the event table's schema.
fn orders_table(store: &PostgresEventStore) -> String {
    match store.table().schema() {
        Some(schema) => format!("\"{schema}\".demo_orders"),
        None => "demo_orders".to_owned(),
    }
}

impl Shop for PostgresEventStore {
    fn create_orders_table(&self) -> PostgresWork<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} \
             (id text PRIMARY KEY, total float8 NOT NULL, status text NOT NULL)",
            orders_table(self)
        );
        Box::new(move |tx| {
            Box::pin(async move {
                tx.batch_execute(&sql).await?;
                Ok(((), Vec::new()))
            })
        })
    }

    fn place_order(&self, order: Order, placed: Event) -> PostgresWork<()> {
        let sql = format!(
            "INSERT INTO {} (id, total, status) VALUES ($1, $2, 'placed')",
            orders_table(self)
        );
        Box::new(move |tx| {
            Box::pin(async move {
                tx.execute(&sql, &[&order.id, &order.total]).await?;
                check(&order)?;
                Ok(((), vec![placed]))
            })
        })
    }

    fn order_rows(&self, id: String) -> PostgresWork<i64> {
        let sql = format!("SELECT count(*) FROM {} WHERE id = $1", orders_table(self));
        Box::new(move |tx| {
            Box::pin(async move {
                let row = tx.query_one(&sql, &[&id]).await?;
                Ok((row.try_get(0)?, Vec::new()))
            })
        })
    }
}
