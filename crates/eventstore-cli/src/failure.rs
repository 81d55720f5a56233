//! Exit codes, and errors reported as one line.

use std::process::ExitCode;

/// Success.
pub(crate) const OK: u8 = 0;
/// A runtime failure: the database, a file, the network.
pub(crate) const RUNTIME: u8 = 1;
/// The command line or a configuration value was wrong.
pub(crate) const USAGE: u8 = 2;
/// Input was refused: an invalid event, a duplicate, a conflict, a partial import.
pub(crate) const INVALID: u8 = 3;

/// A usage error found after parsing (a malformed flag value, an unknown URL scheme).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The database could not be opened (a SQLite file in a missing directory, say): a
/// runtime failure, whatever error type the backend gave it.
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Input was refused; what was wrong has been reported already or is in the message.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The exit code for `error`.
pub(crate) fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<Usage>() {
            return USAGE;
        }
        if cause.is::<Unavailable>() {
            return RUNTIME;
        }
        if cause.is::<Refused>() {
            return INVALID;
        }
        if cause.is::<eventstore_sql::ValidationError>() {
            return INVALID;
        }
        if let Some(store) = cause.downcast_ref::<eventstore_sql::Error>() {
            return match store {
                // The CLI builds queries from its flags: a query refused is a flag's
                // value refused.
                eventstore_sql::Error::Config(_) | eventstore_sql::Error::InvalidQuery(_) => USAGE,
                e if e.is_invalid() || e.is_conflict() || e.is_duplicate() => INVALID,
                _ => RUNTIME,
            };
        }
    }
    RUNTIME
}

/// `error` as one line: each cause after the first only where the message before it
/// does not already say it (store errors include their source in their message).
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Prints `error` on stderr and returns its exit code.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(error));
    ExitCode::from(exit_code(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_meaning() {
        let config = anyhow::Error::from(eventstore_sql::Error::Config("bad url".to_owned()));
        assert_eq!(exit_code(&config), USAGE);
        let query = anyhow::Error::from(eventstore_sql::Error::InvalidQuery("bad".to_owned()));
        assert_eq!(exit_code(&query), USAGE);
        let invalid = anyhow::Error::from(eventstore_sql::Error::Json {
            index: None,
            message: "eof".to_owned(),
        });
        assert_eq!(exit_code(&invalid), INVALID);
        let io = anyhow::Error::from(std::io::Error::other("gone")).context("reading x.json");
        assert_eq!(exit_code(&io), RUNTIME);
        assert_eq!(one_line(&io), "reading x.json: gone");
    }
}
