//! The conformance tests, one `pub async fn` each. They panic on failure.

mod append;
mod bad_input;
mod coordination;
mod follow;
mod query;
mod random_query;
mod roundtrip;

pub use append::*;
pub use bad_input::*;
pub use coordination::*;
pub use follow::*;
pub use query::*;
pub use random_query::*;
pub use roundtrip::*;
