//! What the store reads from a PostgreSQL URL besides what tokio-postgres reads: its
//! scheme in any case, and whether it names a `connect_timeout`.

use std::borrow::Cow;

/// The schemes of a PostgreSQL URL, in the lower case tokio-postgres knows them in.
const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// `url` with its scheme in lower case when it is `postgres://` or `postgresql://`
/// written in another case (`POSTGRES://`): RFC 3986 §3.1 has schemes case-insensitive,
/// but tokio-postgres's parser knows only the lower-case ones. Anything else, such as
/// tokio-postgres's `key=value` form, comes back unchanged.
pub(crate) fn lower_case_scheme(url: &str) -> Cow<'_, str> {
    for scheme in SCHEMES {
        if let Some(written) = url.get(..scheme.len())
            && written.eq_ignore_ascii_case(scheme)
            && written != scheme
        {
            return Cow::Owned(format!("{scheme}{}", &url[scheme.len()..]));
        }
    }
    Cow::Borrowed(url)
}

/// Whether `url` (a URL with a lower-case scheme) has a query parameter named `name`,
/// its name percent-decoded, where tokio-postgres looks for parameters: after the first
/// `?` that follows the user information (the text up to the first `@`), if any.
pub(crate) fn has_parameter(url: &str, name: &str) -> bool {
    let Some(rest) = SCHEMES.iter().find_map(|scheme| url.strip_prefix(scheme)) else {
        return false;
    };
    let after_userinfo = rest.split_once('@').map_or(rest, |(_, after)| after);
    let Some((_, query)) = after_userinfo.split_once('?') else {
        return false;
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(key, _)| key))
        .any(|key| percent_decoded(key) == name.as_bytes())
}

/// `text` with its `%XX` escapes decoded; a `%` not followed by two hex digits is kept
/// as it is, as tokio-postgres decodes a URL (with the same crate).
pub(crate) fn percent_decoded(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}
