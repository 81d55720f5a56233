//! Times at the ends of the range an event can hold, years 0000 to 9999 in UTC, and past
//! them by an offset (where the `time` crate's own range ends too): refused with typed
//! errors, never a panic.

use eventstore_core::time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use eventstore_core::timestamp::{format_fixed, format_rfc3339, parse_fixed, parse_rfc3339};
use eventstore_core::{Error, Event, ExtensionType, ExtensionValue, JsonFormat, Rule};

/// `9999-12-31T23:30:00-01:00`: year 10000 in UTC.
fn past_the_last_year() -> OffsetDateTime {
    at(9999, Month::December, 31, 23, -1)
}

/// `0000-01-01T00:30:00+01:00`: year -1 in UTC.
fn before_year_zero() -> OffsetDateTime {
    at(0, Month::January, 1, 0, 1)
}

fn at(year: i32, month: Month, day: u8, hour: u8, offset_hours: i8) -> OffsetDateTime {
    PrimitiveDateTime::new(
        Date::from_calendar_date(year, month, day).unwrap(),
        Time::from_hms(hour, 30, 0).unwrap(),
    )
    .assume_offset(UtcOffset::from_hms(offset_hours, 0, 0).unwrap())
}

fn document(time: &str) -> String {
    format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"{time}"}}"#)
}

#[test]
fn the_accepted_range_is_years_0000_to_9999_in_utc() {
    for (text, utc) in [
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ("0000-01-01T01:00:00+01:00", "0000-01-01T00:00:00Z"),
        (
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59.999999999Z",
        ),
        ("9999-12-31T22:59:59-01:00", "9999-12-31T23:59:59Z"),
    ] {
        let event = JsonFormat::new().parse_event(&document(text)).unwrap();
        assert_eq!(event.time().map(format_rfc3339).as_deref(), Some(utc));
    }
    for text in [
        "9999-12-31T23:30:00-01:00",
        "9999-12-31T23:59:59-23:59",
        "0000-01-01T00:30:00+01:00",
        "0000-01-01T00:00:00+23:59",
    ] {
        match JsonFormat::new().parse_event(&document(text)) {
            Err(Error::Invalid(e)) => {
                assert_eq!(e.attribute(), "time");
                assert_eq!(e.rule(), &Rule::NotTimestamp(text.to_owned()));
            }
            other => panic!("{text} must be refused, got {other:?}"),
        }
    }
}

#[test]
fn a_timestamp_extension_past_the_range_is_refused() {
    let format = JsonFormat::new().with_extension_type("when", ExtensionType::Timestamp);
    let text = "9999-12-31T23:30:00-01:00";
    let doc =
        format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","when":"{text}"}}"#);
    match format.parse_event(&doc) {
        Err(Error::Invalid(e)) => {
            assert_eq!(e.attribute(), "when");
            assert_eq!(e.rule(), &Rule::NotTimestamp(text.to_owned()));
        }
        other => panic!("must be refused, got {other:?}"),
    }
}

#[test]
fn the_builder_refuses_times_past_the_range() {
    for time in [past_the_last_year(), before_year_zero()] {
        let builder = || Event::builder().id("1").source("/s").ty("t");
        let error = builder().time(time).build().unwrap_err();
        assert_eq!(error.attribute(), "time", "{time}");
        assert!(matches!(error.rule(), Rule::NotTimestamp(_)), "{error}");
        let error = builder().extension("when", time).build().unwrap_err();
        assert_eq!(error.attribute(), "when", "{time}");
        assert!(matches!(error.rule(), Rule::NotTimestamp(_)), "{error}");
    }
}

#[test]
fn times_past_the_range_are_written_without_panicking() {
    let late = past_the_last_year();
    assert_eq!(format_fixed(late), "10000-01-01T00:30:00.000000000Z");
    assert_eq!(
        ExtensionValue::from(late).to_string(),
        "10000-01-01T00:30:00Z"
    );
    let early = at(-9999, Month::January, 1, 0, 1);
    assert_eq!(format_fixed(early), "-10000-12-31T23:30:00.000000000Z");
}

#[test]
fn a_stored_time_past_the_range_does_not_read() {
    // What a backend reads from a `time` cell edited outside the store: `None`, which it
    // reports as a corrupt row.
    for text in ["9999-12-31T23:30:00-01:00", "0000-01-01T00:30:00+01:00"] {
        assert_eq!(parse_fixed(text), None, "{text}");
        assert_eq!(parse_rfc3339(text), None, "{text}");
    }
}

/// A leap second, which RFC 3339 allows, is refused: no instant the store keeps has a
/// 61st second.
#[test]
fn a_leap_second_is_refused() {
    assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), None);
    let refused = document("2016-12-31T23:59:60Z")
        .parse::<Event>()
        .unwrap_err();
    let Error::Invalid(invalid) = &refused else {
        panic!("{refused}");
    };
    assert!(matches!(invalid.rule(), Rule::NotTimestamp(_)), "{refused}");
}
