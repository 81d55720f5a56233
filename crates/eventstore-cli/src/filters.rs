//! Turning command-line filters into an `EventQuery`, and human times into instants.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::time::format_description::well_known::Rfc3339;
use eventstore_sql::timestamp::{is_representable, parse_rfc3339};
use eventstore_sql::{EventQuery, Order};

use crate::cli::{Filters, Paging};
use crate::extension_types::ExtensionTypes;
use crate::failure::Usage;

impl Filters {
    /// The query these filters describe, with times relative to `now`; one the store
    /// would refuse is an `Error::InvalidQuery`.
    pub(crate) fn query(&self, now: OffsetDateTime) -> Result<EventQuery> {
        let mut query = EventQuery::new();
        if !self.types.is_empty() {
            query = query.types(self.types.iter().cloned());
        }
        if !self.sources.is_empty() {
            query = query.sources(self.sources.iter().cloned());
        }
        if !self.subjects.is_empty() {
            query = query.subjects(self.subjects.iter().cloned());
        }
        if let Some(id) = &self.correlation_id {
            query = query.correlation_id(id);
        }
        if let Some(topic) = &self.topic {
            query = query.topic(topic);
        }
        if let Some(destination) = &self.destination {
            query = query.destination(destination);
        }
        if !self.ids.is_empty() {
            query = query.ids(self.ids.iter().cloned());
        }
        if let Some(media_type) = &self.datacontenttype {
            query = query.data_content_type(media_type);
        }
        if let Some(uri) = &self.dataschema {
            query = query.data_schema(uri);
        }
        let types = ExtensionTypes::parse(&self.extension_types)?;
        for pair in &self.extensions {
            let (name, value) = name_value(pair, "--ext", "VALUE")?;
            query = query.extension(name, types.value(name, value)?);
        }
        if let Some(since) = &self.since {
            query = query.time_from(instant(since, now).context("--since")?);
        }
        if let Some(until) = &self.until {
            query = query.time_to(instant(until, now).context("--until")?);
        }
        if let Some(min) = self.min_sequence {
            query = query.min_sequence(min);
        }
        if let Some(max) = self.max_sequence {
            query = query.max_sequence(max);
        }
        // What the store would refuse (`--ext BAD=1`) is refused here, before the store
        // is opened, as the usage error it is.
        query.check()?;
        Ok(query)
    }
}

impl Paging {
    /// `query` with this order and paging.
    pub(crate) fn apply(&self, mut query: EventQuery) -> EventQuery {
        if let Some(limit) = self.limit {
            query = query.limit(limit);
        }
        if let Some(after) = self.after {
            query = query.after(after);
        }
        if self.desc {
            query = query.order(Order::Descending);
        }
        query.offset(self.offset)
    }
}

/// Splits `NAME=VALUE` (`NAME=TYPE`: `value` names the right side in the usage error).
pub(crate) fn name_value<'a>(pair: &'a str, flag: &str, value: &str) -> Result<(&'a str, &'a str)> {
    match pair.split_once('=') {
        Some((name, right)) if !name.is_empty() => Ok((name, right)),
        _ => Err(Usage(format!("{flag} takes NAME={value}, not {pair:?}")).into()),
    }
}

/// An RFC 3339 time, or an age before `now` such as `90s`, `15m`, `24h`, `7d`, `2w`;
/// in the years 0000 to 9999 (UTC), as RFC 3339 writes them.
pub(crate) fn instant(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let time = match parse_rfc3339(text) {
        Some(time) => Some(time),
        None => match age(text) {
            Some(age) => time::Duration::try_from(age)
                .ok()
                .and_then(|age| now.checked_sub(age)),
            None => return Err(not_a_time(text)),
        },
    };
    match time {
        Some(time) if is_representable(time) => Ok(time),
        _ => Err(outside_the_years(text)),
    }
}

/// Why `text`, neither a time the store keeps nor an age, was refused: the core's
/// parser says only that it is not one, which for an RFC 3339 time it does not keep
/// would mislead.
fn not_a_time(text: &str) -> anyhow::Error {
    if is_leap_second(text) {
        return Usage(format!(
            "{text:?} is a leap second (second 60), which no event's time can be: the \
             store keeps times without a 61st second; give :59.999999999 or the next \
             minute's :00"
        ))
        .into();
    }
    if OffsetDateTime::parse(text, &Rfc3339).is_ok_and(|time| !is_representable(time)) {
        return outside_the_years(text);
    }
    Usage(format!(
        "{text:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor an age \
             (90s, 15m, 24h, 7d, 2w)"
    ))
    .into()
}

fn outside_the_years(text: &str) -> anyhow::Error {
    Usage(format!(
        "{text:?} is outside the years 0000 to 9999 (UTC), the times the store keeps"
    ))
    .into()
}

/// An RFC 3339 time the store would keep but for its second, 60.
fn is_leap_second(text: &str) -> bool {
    text.get(17..19) == Some("60")
        && parse_rfc3339(&format!("{}59{}", &text[..17], &text[19..])).is_some()
}

/// `<number><unit>` with unit s, m, h, d or w.
fn age(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(seconds)?))
}

/// Where `tail` starts: `now`, `start` or a sequence.
pub(crate) fn position(text: &str) -> Result<eventstore_sql::Position> {
    use eventstore_sql::Position;
    match text {
        "now" => Ok(Position::Now),
        "start" => Ok(Position::Start),
        other => match other.parse::<i64>() {
            Ok(sequence) if sequence >= 0 => Ok(Position::After(sequence)),
            _ => bail!(Usage(format!(
                "--from takes `now`, `start` or a sequence number (0 or more), not {other:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_times() {
        let now = parse_rfc3339("2026-11-27T12:00:00Z").unwrap();
        assert_eq!(
            instant("24h", now).unwrap(),
            parse_rfc3339("2026-11-26T12:00:00Z").unwrap()
        );
        assert_eq!(
            instant("90s", now).unwrap(),
            parse_rfc3339("2026-11-27T11:58:30Z").unwrap()
        );
        assert_eq!(
            instant("2026-11-01T00:00:00Z", now).unwrap(),
            parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
        );
        for bad in ["", "h", "24", "24x", "-1h", "yesterday"] {
            assert!(instant(bad, now).is_err(), "{bad}");
        }
        // Before the year 0000, or past what a date holds at all: a usage error.
        for far in ["200000w", "99999999w", "18446744073709551615s"] {
            let error = instant(far, now).unwrap_err();
            assert!(error.is::<Usage>(), "{far}: {error}");
        }
        assert_eq!(
            instant("105000w", now).unwrap().year(),
            2026 - 2012,
            "about 2012 years back"
        );
    }
}
