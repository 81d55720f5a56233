//! TLS settings: libpq's `sslmode` and `sslrootcert`, on rustls (feature `tls`).

use std::path::PathBuf;

use eventstore_core::{Error, Result};
use tokio_postgres::config::SslMode;

use crate::url::percent_decoded;

/// How the store secures its connections, in libpq's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, certificate not verified (libpq's default).
    #[default]
    Prefer,
    /// TLS required, certificate not verified: encrypted, not authenticated. With a
    /// root certificate file ([`TlsOptions::root_cert`], `sslrootcert`) the chain is
    /// verified against it, as [`VerifyCa`](Self::VerifyCa), as libpq does.
    Require,
    /// TLS required, the certificate chain verified against the trusted roots.
    VerifyCa,
    /// TLS required, the chain and the host name verified.
    VerifyFull,
}

impl TlsMode {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "sslmode {other:?} is not one of disable, prefer, require, verify-ca, \
                     verify-full"
                )));
            }
        })
    }

    /// The mode tokio-postgres negotiates with (verification is the connector's).
    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// TLS settings: the mode and, optionally, a PEM file of trusted CA certificates
/// (default: the Mozilla roots of `webpki-roots`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TlsOptions {
    pub(crate) mode: TlsMode,
    pub(crate) root_cert: Option<PathBuf>,
}

impl TlsOptions {
    /// Settings with this mode and the default roots.
    pub fn new(mode: TlsMode) -> Self {
        Self {
            mode,
            root_cert: None,
        }
    }

    /// Trusts the CA certificates of a PEM file (libpq's `sslrootcert`) instead of
    /// the default roots.
    pub fn root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_cert = Some(path.into());
        self
    }

    /// The mode.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// How the server's certificate is checked: as the mode says, except `require`
    /// with a root certificate file, which verifies the chain (libpq: "if a root CA file
    /// exists, the behavior of sslmode=require will be the same as that of verify-ca").
    #[cfg(feature = "tls")]
    pub(crate) fn verification(&self) -> TlsMode {
        match self.mode {
            TlsMode::Require if self.root_cert.is_some() => TlsMode::VerifyCa,
            mode => mode,
        }
    }

    pub(crate) fn from_mode(mode: SslMode) -> Self {
        Self::new(match mode {
            SslMode::Disable => TlsMode::Disable,
            SslMode::Require => TlsMode::Require,
            _ => TlsMode::Prefer,
        })
    }

    /// Takes `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres knows
    /// neither `verify-ca` nor `verify-full`) and returns the rest of the URL, and the
    /// settings if the query had either (`None` otherwise: a key=value connection
    /// string's own `sslmode` is tokio-postgres's to read).
    pub(crate) fn from_url(url: &str) -> Result<(String, Option<Self>)> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None));
        };
        let mut tls = Self::default();
        let mut found = false;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            // Keys and values are percent-decoded, as tokio-postgres and libpq decode the
            // rest of the query: `sslrootcert=/etc/my%20certs/ca.pem`.
            let Some((key, value)) = pair.split_once('=') else {
                kept.push(pair);
                continue;
            };
            match percent_decoded(key).as_slice() {
                b"sslmode" => {
                    let mode = TlsMode::parse(&String::from_utf8_lossy(&percent_decoded(value)))?;
                    (tls.mode, found) = (mode, true);
                }
                b"sslrootcert" => {
                    (tls.root_cert, found) = (Some(path(percent_decoded(value))), true);
                }
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((url, found.then_some(tls)))
    }
}

/// The file system path of decoded URL bytes: on Unix any bytes, elsewhere UTF-8.
fn path(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sslmode_and_root_cert_from_urls() {
        let (url, tls) = TlsOptions::from_url(
            "postgres://h/db?sslmode=verify-full&application_name=x&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(url, "postgres://h/db?application_name=x");
        assert_eq!(
            tls,
            Some(TlsOptions::new(TlsMode::VerifyFull).root_cert("/ca.pem"))
        );
        assert!(TlsOptions::from_url("postgres://h/db?sslmode=bogus").is_err());
        assert_eq!(TlsOptions::from_url("postgres://h/db").unwrap().1, None);
        assert_eq!(
            TlsOptions::from_url("postgres://h/db?application_name=x")
                .unwrap()
                .1,
            None
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn require_with_a_root_certificate_verifies_the_chain() {
        assert_eq!(
            TlsOptions::new(TlsMode::Require).verification(),
            TlsMode::Require
        );
        assert_eq!(
            TlsOptions::new(TlsMode::Require)
                .root_cert("/ca.pem")
                .verification(),
            TlsMode::VerifyCa
        );
        assert_eq!(
            TlsOptions::new(TlsMode::VerifyFull)
                .root_cert("/ca.pem")
                .verification(),
            TlsMode::VerifyFull
        );
    }
}
