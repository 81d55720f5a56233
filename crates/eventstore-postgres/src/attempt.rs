//! What one run of the append statement came to, and what an append does with it: the
//! rule the retry loops of both drivers follow (tokio-postgres in this crate, sqlx in
//! eventstore-sqlx).

use std::ops::ControlFlow;

use eventstore_core::{AppendOptions, AppendResult, Error, Result};

use crate::batch::UniqueViolation;

/// How many times an append runs when each run ends in a way another may cure: a
/// concurrent writer took a stream version or a `(source, id)` between its snapshot
/// and its insert, or the server ended it for another transaction's sake.
pub const MAX_ATTEMPTS: u32 = 100;

/// What one run of the append statement came to.
#[derive(Debug)]
pub enum Attempt {
    /// Its outcome.
    Done(Result<AppendResult>),
    /// A concurrent writer broke a unique index (SQLSTATE 23505) between snapshot and
    /// insert.
    Raced(UniqueViolation),
    /// The server ended the statement's transaction for another's sake (a deadlock, a
    /// serialization failure: see
    /// [`is_transient_code`](crate::statements::is_transient_code)): nothing of it was
    /// written, and it may succeed when run again.
    Transient(Error),
}

impl Attempt {
    /// The append's result (`Break`), or the error of a run that another may cure
    /// (`Continue`): a lost race, as the caller's error should no run follow, or the
    /// server's.
    pub fn settle(self, options: &AppendOptions) -> ControlFlow<Result<AppendResult>, Error> {
        match self {
            Self::Done(result) => ControlFlow::Break(result),
            Self::Raced(violation) => ControlFlow::Continue(violation.into_error(options)),
            Self::Transient(error) => ControlFlow::Continue(error),
        }
    }
}
