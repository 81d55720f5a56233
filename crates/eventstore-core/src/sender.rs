//! Delivering events somewhere: the [`Sender`] trait the outbox relay delivers to, and
//! [`Unavailable`], the failure that is the destination's rather than the events'.

use std::fmt;

use async_trait::async_trait;

use crate::stored::StoredEvent;

/// Why a send failed. The relay retries it; what it does after that depends on whose
/// fault the sender says it was: an [`Unavailable`] destination is waited out, anything
/// else is, after the retries, taken as the events' fault (their dead letters).
pub type SendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A destination for events: a broker, an HTTP endpoint, another store.
///
/// `send` delivers one batch, in order. It may be called again with events it already
/// received (delivery is at least once), so a receiver should be idempotent on
/// `(source, id)`.
///
/// Say whose fault a failure is. When the destination itself cannot take anything now
/// (a broker down or unreachable, a refused connection, a timeout, a full queue, an
/// HTTP 503) and retrying later will work, return the error wrapped in [`Unavailable`]:
/// the relay waits it out, however long it lasts, and dead-letters nothing. Any other
/// error says that these events cannot be delivered (malformed for the destination,
/// refused by its rules): the relay retries them a few times, then one by one, and sets
/// aside the events that still fail.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Delivers `events`, all of them or an error.
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError>;
}

/// A send failed because the destination is unavailable, not because of the events:
/// retrying the same events later will work.
///
/// A [`Sender`] returns it (as a [`SendError`], which it converts into with `?` or
/// `.into()`) so that the outbox relay waits the outage out, retrying the batch with
/// its back-off for as long as it lasts, rather than dead-letter every event the
/// outage meets. Its [`source`](std::error::Error::source) is the cause.
///
/// ```
/// use eventstore_core::{SendError, Unavailable};
///
/// fn publish(connected: bool) -> Result<(), SendError> {
///     if !connected {
///         let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
///         return Err(Unavailable::new(refused).into());
///     }
///     Ok(())
/// }
///
/// let error = publish(false).unwrap_err();
/// assert!(Unavailable::is(&*error));
/// assert!(error.to_string().starts_with("destination unavailable: "));
/// let malformed: SendError = "the broker refused the event".into();
/// assert!(!Unavailable::is(&*malformed));
/// ```
#[derive(Debug)]
pub struct Unavailable {
    cause: SendError,
}

impl Unavailable {
    /// The destination is unavailable because of `cause` (an I/O error, a client's
    /// error, a message).
    pub fn new(cause: impl Into<SendError>) -> Self {
        Self {
            cause: cause.into(),
        }
    }

    /// Why the destination is unavailable.
    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.cause
    }

    /// The cause, unwrapped.
    pub fn into_cause(self) -> SendError {
        self.cause
    }

    /// Whether `error` says the destination is unavailable: whether it, or an error in
    /// its chain of [`source`](std::error::Error::source)s, is an [`Unavailable`] (so a
    /// sender's own error type may wrap one).
    pub fn is(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(error) = next {
            if error.is::<Self>() {
                return true;
            }
            next = error.source();
        }
        false
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "destination unavailable: {}", self.cause)
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Unavailable);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("publishing failed")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn unavailable_is_told_apart_from_other_failures_through_the_chain() {
        let down: SendError = Unavailable::new("connection refused").into();
        assert!(Unavailable::is(&*down));
        assert_eq!(
            down.to_string(),
            "destination unavailable: connection refused"
        );
        assert_eq!(
            down.source().map(ToString::to_string).as_deref(),
            Some("connection refused")
        );

        let wrapped: SendError = Box::new(Wrapper(Unavailable::new("timed out")));
        assert!(Unavailable::is(&*wrapped), "an Unavailable in the chain");

        let refused: SendError = "malformed for the broker".into();
        assert!(!Unavailable::is(&*refused));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(
            !Unavailable::is(&io),
            "unmarked errors are the events' fault"
        );

        let cause = Unavailable::new(io).into_cause();
        assert_eq!(cause.to_string(), "reset");
    }
}
