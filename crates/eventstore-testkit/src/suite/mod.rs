//! The conformance tests, one `pub async fn` each. They panic on failure.

mod append;
mod follow;
mod query;
mod roundtrip;

pub use append::*;
pub use follow::*;
pub use query::*;
pub use roundtrip::*;
