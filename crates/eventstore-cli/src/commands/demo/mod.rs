//! `demo`.

use anyhow::Result;

use crate::Context;

/// Runs the demo.
pub(crate) async fn run(_cx: &Context) -> Result<u8> {
    Ok(0)
}
