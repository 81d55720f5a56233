//! The conformance tests, one `pub async fn` each. They panic on failure.

mod append;
mod query;
mod roundtrip;

pub use append::*;
pub use query::*;
pub use roundtrip::*;
