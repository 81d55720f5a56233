//! A pooled connection lent to one call, given back to the pool only once nothing is
//! in flight on it.
//!
//! A caller that gives up on a call (a time-out around it, a dropped future) drops it
//! at an `await`, possibly while a statement runs on the server: waiting for a subject
//! lock, say. tokio-postgres then discards the statement's answer when it comes, but
//! the connection is busy until it does, and deadpool would lend it to the next call,
//! which would wait behind the abandoned statement (for as long as the lock is held).
//! A [`Checkout`] dropped without [`release`](Checkout::release) therefore takes its
//! connection out of the pool and asks the server to cancel what it runs; the pool
//! opens a new connection when it needs one.

use deadpool_postgres::Object;

use crate::connect::Connector;

/// A pooled connection, for one call.
pub(crate) struct Checkout {
    object: Option<Object>,
    connector: Connector,
}

impl Checkout {
    /// Lends `object` to a call; `connector` reaches the server to cancel its
    /// statement if the call is given up on.
    pub(crate) fn new(object: Object, connector: Connector) -> Self {
        Self {
            object: Some(object),
            connector,
        }
    }

    /// Gives the connection back to the pool: the call is over, nothing is in flight.
    pub(crate) fn release(mut self) {
        drop(self.object.take());
    }
}

impl std::ops::Deref for Checkout {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.object
            .as_ref()
            .expect("a checkout holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Checkout {
    fn deref_mut(&mut self) -> &mut Object {
        self.object
            .as_mut()
            .expect("a checkout holds its connection until dropped")
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        // Given up on, maybe mid-statement: out of the pool, and the statement
        // cancelled. Dropping the client closes the connection once the server has
        // answered what was sent.
        let token = object.cancel_token();
        let client = Object::take(object);
        let connector = self.connector.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                connector.cancel(token).await;
                drop(client);
            });
        }
    }
}

/// The store's pool and how its connections reach the server: what a read running on
/// a task of its own checks connections out of.
#[derive(Clone)]
pub(crate) struct Connections {
    /// The pool.
    pub(crate) pool: deadpool_postgres::Pool,
    /// Its connector, to cancel a call given up on.
    pub(crate) connector: Connector,
}

impl Connections {
    /// A pooled connection for one call ([`Error::Closed`] once the store has closed
    /// the pool).
    pub(crate) async fn get(&self) -> eventstore_core::Result<Checkout> {
        let object = self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Closed => eventstore_core::Error::Closed,
            e => crate::error::db(e),
        })?;
        Ok(Checkout::new(object, self.connector.clone()))
    }
}
