//! Text that every backend's columns can hold: any Unicode but U+0000, which
//! PostgreSQL's `text` refuses. Events never hold one (CloudEvents strings exclude
//! control characters), so a read naming one matches nothing (the query builder sees to
//! it); the names and texts of checkpoints, leases, dead letters and snapshots are
//! checked here, so that both backends accept and refuse the same.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// Whether every backend can hold `text` (it has no U+0000).
pub fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

/// The longest name kept in the coordination tables, in bytes: they are primary keys,
/// and PostgreSQL's B-tree entries hold at most 2,704 bytes (a snapshot's key is its name
/// and subject), so both backends refuse longer names alike.
pub const MAX_NAME_BYTES: usize = 1024;

/// Refuses a name kept in the coordination tables (`what` says which: a checkpoint's, a
/// lease's or its holder's, a relay's, a snapshot's name or subject) that holds U+0000
/// or is longer than [`MAX_NAME_BYTES`], with [`Error::Config`] naming it. Nothing is
/// written.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if !is_storable(name) {
        return Err(Error::Config(format!(
            "{what} {name:?} contains U+0000, which no backend keeps in a name"
        )));
    }
    if name.len() > MAX_NAME_BYTES {
        let start: String = name.chars().take(32).collect();
        return Err(Error::Config(format!(
            "{what} {start:?}… is {} bytes, over the {MAX_NAME_BYTES} a name may hold",
            name.len()
        )));
    }
    Ok(())
}

/// Refuses the name of a consumer whose checkpoint and lease are kept under
/// `<prefix><name>` (a relay's under `relay/`, a projection's under `projection/`) when
/// no store keeps that key: longer than [`MAX_NAME_BYTES`] less the prefix, with an
/// [`Error::Config`] naming the consumer's own limit (not the key's), or holding
/// U+0000, as [`check_name`] does. `what` names the consumer: `"relay"`,
/// `"projection"`.
pub fn check_prefixed_name(what: &str, prefix: &str, name: &str) -> Result<()> {
    let limit = MAX_NAME_BYTES - prefix.len();
    if name.len() > limit {
        let start: String = name.chars().take(32).collect();
        return Err(Error::Config(format!(
            "{what} name {start:?}… is {} bytes, over the {limit} a {what}'s name may hold \
             (its checkpoint and lease are kept under `{prefix}<name>`, at most \
             {MAX_NAME_BYTES} bytes)",
            name.len(),
        )));
    }
    check_name(&format!("{what} name"), name)
}

/// `text` with every U+0000 replaced by U+FFFD, for free text that must be kept whatever
/// it holds (a dead letter's error, from a sender).
pub fn storable(text: &str) -> Cow<'_, str> {
    if !is_storable(text) {
        Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_nul_are_refused_naming_them() {
        check_name("checkpoint name", "relay/a ✓").unwrap();
        let refused = check_name("checkpoint name", "relay/\0a").unwrap_err();
        assert!(matches!(refused, Error::Config(_)));
        assert_eq!(
            refused.to_string(),
            "invalid configuration: checkpoint name \"relay/\\0a\" contains U+0000, which no \
             backend keeps in a name"
        );
    }

    #[test]
    fn names_up_to_the_limit_are_kept_and_longer_ones_refused() {
        check_name("lease name", &"é".repeat(MAX_NAME_BYTES / 2)).unwrap();
        let refused = check_name("lease name", &"x".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert!(matches!(refused, Error::Config(_)));
        assert!(
            refused
                .to_string()
                .ends_with("is 1025 bytes, over the 1024 a name may hold"),
            "{refused}"
        );
    }

    #[test]
    fn free_text_keeps_all_but_nul() {
        assert!(matches!(
            storable("fine \u{1} ✓"),
            Cow::Borrowed("fine \u{1} ✓")
        ));
        assert_eq!(storable("a\0b\0"), "a\u{fffd}b\u{fffd}");
    }
}
