//! RFC 3339 timestamps: a strict parser, the CloudEvents JSON form, and the fixed-width
//! form the SQL backends store (it sorts as text in time order and keeps nanoseconds).
//!
//! An instant is representable when it lies, in UTC, within years 0000 to 9999:
//! `0000-01-01T00:00:00Z` to `9999-12-31T23:59:59.999999999Z`, the instants RFC 3339's
//! four-digit year can write with `Z`. A time written with an offset is accepted when its
//! UTC instant is: `9999-12-31T23:30:00-01:00` (year 10000 in UTC) and
//! `0000-01-01T00:30:00+01:00` (year -1) are not.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Parses an RFC 3339 `date-time` strictly (two-digit offsets with a colon, seconds
/// required, at most nanosecond precision) and returns it as a UTC instant; `None` also
/// for a time whose UTC instant is not [representable](is_representable).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos = 0u32;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            let d = u32::from(b[pos] - b'0');
            let place = pos - start;
            if place < 9 {
                nanos = nanos * 10 + d;
            } else if d != 0 {
                // Finer than a nanosecond: refusing beats silently truncating.
                return None;
            }
            pos += 1;
        }
        let places = pos - start;
        if places == 0 {
            return None;
        }
        for _ in places..9 {
            nanos *= 10;
        }
    }
    let offset = match &b[pos..] {
        [b'Z' | b'z'] => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), ..] if b.len() - pos == 6 && b[pos + 3] == b':' => {
            let h = digits(b, pos + 1, 2)?;
            let m = digits(b, pos + 4, 2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let (h, m) = (h as i8, m as i8);
            if *sign == b'+' {
                UtcOffset::from_hms(h, m, 0).ok()?
            } else {
                UtcOffset::from_hms(-h, -m, 0).ok()?
            }
        }
        _ => return None,
    };
    let date = Date::from_calendar_date(year as i32, Month::try_from(month as u8).ok()?, day as u8)
        .ok()?;
    let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).ok()?;
    // Near the ends of the `time` crate's years (±9999) the offset can carry the
    // instant past them, where `to_offset` would panic.
    let utc = to_utc(PrimitiveDateTime::new(date, time).assume_offset(offset))?;
    is_representable(utc).then_some(utc)
}

/// Whether an instant can be written as an RFC 3339 timestamp: within years 0000 to
/// 9999 in UTC (see the [module](self) documentation).
pub fn is_representable(time: OffsetDateTime) -> bool {
    to_utc(time).is_some_and(|utc| (0..=9999).contains(&utc.year()))
}

/// The instant in UTC, or `None` where its UTC year is outside the `time` crate's range.
pub(crate) fn to_utc(time: OffsetDateTime) -> Option<OffsetDateTime> {
    time.checked_to_offset(UtcOffset::UTC)
}

/// Writes a UTC instant in the shortest RFC 3339 form: `2018-04-05T17:31:00Z`, with a
/// fraction only when there is one, trailing zeros trimmed.
pub fn format_rfc3339(time: OffsetDateTime) -> String {
    let mut out = format_fixed(time);
    // format_fixed always ends in ".nnnnnnnnnZ"; trim the fraction's trailing zeros.
    out.pop();
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.pop();
    }
    out.push('Z');
    out
}

/// Writes a UTC instant in the fixed-width form the SQL backends store:
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`. Text order of this form is time order.
///
/// Only [representable](is_representable) instants have that form, and only they are
/// stored; any other is still written, without panicking, with the year it has in UTC
/// (`10000-01-01T00:30:00.000000000Z`), for an error message.
pub fn format_fixed(time: OffsetDateTime) -> String {
    let (t, years) = utc_fields(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year() + years,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// The instant in UTC and the years to add to its year: 0 but past the `time` crate's
/// years, which an instant with an offset can be by less than a day. The Gregorian
/// calendar repeats every 400 years (146,097 days), so the instant 400 years nearer has
/// the same month, day and time of day.
fn utc_fields(time: OffsetDateTime) -> (OffsetDateTime, i32) {
    let nearer = || {
        let era = Duration::days(146_097);
        if time.year() > 0 {
            Some((to_utc(time.checked_sub(era)?)?, 400))
        } else {
            Some((to_utc(time.checked_add(era)?)?, -400))
        }
    };
    match to_utc(time) {
        Some(utc) => (utc, 0),
        // Never `None`: 400 years from the end of the range is well inside it.
        None => nearer().unwrap_or((time, 0)),
    }
}

/// Reads the fixed-width form written by [`format_fixed`] (or any RFC 3339 timestamp).
///
/// Every event read back carries two of these, so the fixed form has a path of its
/// own: the separators at their fixed places, the digits read straight, no offset to
/// apply. Anything else goes through [`parse_rfc3339`].
pub fn parse_fixed(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    let fixed = b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z';
    if !fixed {
        return parse_rfc3339(text);
    }
    let date = Date::from_calendar_date(
        digits(b, 0, 4)? as i32,
        Month::try_from(digits(b, 5, 2)? as u8).ok()?,
        digits(b, 8, 2)? as u8,
    )
    .ok()?;
    let time = Time::from_hms_nano(
        digits(b, 11, 2)? as u8,
        digits(b, 14, 2)? as u8,
        digits(b, 17, 2)? as u8,
        digits(b, 20, 9)?,
    )
    .ok()?;
    // Four digits of year, no offset: always an RFC 3339 instant.
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let slice = b.get(start..start + len)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_to_the_same_instant() {
        let a = parse_rfc3339("2018-04-05T17:31:00Z").unwrap();
        assert_eq!(parse_rfc3339("2018-04-05T18:31:00+01:00"), Some(a));
        assert_eq!(parse_rfc3339("2018-04-05T16:31:00-01:00"), Some(a));
        assert_eq!(parse_rfc3339("2018-04-05T17:31:00.000000000Z"), Some(a));
        assert_eq!(parse_rfc3339("2018-04-05t17:31:00z"), Some(a));
    }

    #[test]
    fn keeps_nanoseconds() {
        let t = parse_rfc3339("2018-04-05T17:31:00.123456789Z").unwrap();
        assert_eq!(t.nanosecond(), 123_456_789);
        assert_eq!(format_rfc3339(t), "2018-04-05T17:31:00.123456789Z");
        assert_eq!(format_fixed(t), "2018-04-05T17:31:00.123456789Z");
        let t = parse_rfc3339("2018-04-05T17:31:00.5Z").unwrap();
        assert_eq!(format_rfc3339(t), "2018-04-05T17:31:00.5Z");
        assert_eq!(format_fixed(t), "2018-04-05T17:31:00.500000000Z");
        assert_eq!(parse_fixed(&format_fixed(t)), Some(t));
    }

    #[test]
    fn refuses_what_rfc3339_does_not_allow() {
        for bad in [
            "lunchtime",
            "2018-04-05T18:31Z",
            "2018-04-05T18:31:00X",
            "2018-04-05T18:31:00+25:00",
            "2018-04-05T18:31:00+xx:00",
            "2018-04-05T18:31:00+05",
            "2018-04-05 18:31:00Z",
            "2018-02-30T18:31:00Z",
            "2018-04-05T24:00:00Z",
            "2018-04-05T18:31:00.Z",
            "2018-04-05T18:31:00.1234567891Z",
            "2018-04-05T18:31:00Z ",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("2018-04-05T18:31:00.1234567890Z").is_some());
    }

    #[test]
    fn the_fixed_form_reads_as_rfc3339_does() {
        for text in [
            "2018-04-05T17:31:00.123456789Z",
            "0000-01-01T00:00:00.000000000Z",
            "9999-12-31T23:59:59.999999999Z",
            "2024-02-29T12:00:00.000000001Z",
            "2018-04-05T17:31:00Z",
            "2018-04-05T18:31:00.5+01:00",
        ] {
            let parsed = parse_fixed(text);
            assert!(parsed.is_some(), "{text}");
            assert_eq!(parsed, parse_rfc3339(text), "{text}");
        }
        for bad in [
            "2023-02-29T12:00:00.000000000Z",
            "2018-04-05T24:00:00.000000000Z",
            "2018-04-05T17:31:00.12345678xZ",
            "2018-13-05T17:31:00.123456789Z",
            "+018-04-05T17:31:00.123456789Z",
        ] {
            assert_eq!(parse_fixed(bad), parse_rfc3339(bad), "{bad}");
            assert_eq!(parse_fixed(bad), None, "{bad}");
        }
    }

    #[test]
    fn fixed_form_sorts_as_time() {
        let early = parse_rfc3339("0999-12-31T23:59:59.999999999Z").unwrap();
        let late = parse_rfc3339("2000-01-01T00:00:00Z").unwrap();
        assert!(format_fixed(early) < format_fixed(late));
    }
}
