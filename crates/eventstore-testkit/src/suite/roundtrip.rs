//! Round trips: the conformance vectors, large payloads, unicode, bytes.

use std::collections::HashMap;

use eventstore_core::{
    AppendOptions, Data, Error, Event, EventQuery, EventStore, ExtensionType, ExtensionValue, Json,
    JsonFormat, Limits, OnDuplicate, StoredEvent, TEXT_CONTENT_TYPE,
};
use futures::TryStreamExt as _;

use crate::data::{count, instant};
use crate::vectors;

/// Every valid vector parses; vectors with the same sample id parse to equal events;
/// each one is appended, read back equal (extension types included) and written back to
/// JSON that parses to the same event.
pub async fn valid_vectors_round_trip(store: &dyn EventStore) {
    let format = vectors::format();
    let mut samples: HashMap<String, Event> = HashMap::new();
    let valid = vectors::valid();
    assert_eq!(valid.len(), 10, "the suite has 10 valid vectors");
    for vector in &valid {
        let event = format
            .parse_event(&vector.event)
            .unwrap_or_else(|e| panic!("{} must parse: {e}", vector.id));
        if let Some(sample) = &vector.sample_id {
            let first = samples
                .entry(sample.clone())
                .or_insert_with(|| event.clone());
            assert_eq!(
                &event, first,
                "{} differs from its sample {sample}",
                vector.id
            );
        }
        let skip = AppendOptions::new().on_duplicate(OnDuplicate::Skip);
        store.append_with(vec![event.clone()], skip).await.unwrap();
        let stored = store
            .get(event.source(), event.id())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.event(), &event, "{} changed in the store", vector.id);
        let written = format.write_event(stored.event());
        let reparsed = format.parse_event(&written).unwrap();
        assert_eq!(
            reparsed, event,
            "{} changed through JSON: {written}",
            vector.id
        );
    }
    let all_types = samples
        .get("allExtensionTypes")
        .expect("the extension sample");
    let stored = store
        .get(all_types.source(), all_types.id())
        .await
        .unwrap()
        .unwrap();
    let ext = stored.extensions();
    assert_eq!(ext.get("extinteger"), Some(&ExtensionValue::Integer(10)));
    assert_eq!(ext.get("extboolean"), Some(&ExtensionValue::Boolean(true)));
    assert_eq!(
        ext.get("exturi"),
        Some(&ExtensionValue::Uri("https://cloudevents.io".into()))
    );
    assert_eq!(
        ext.get("exturiref"),
        Some(&ExtensionValue::UriRef("//authority/path".into()))
    );
    assert_eq!(
        ext.get("extbinary"),
        Some(&ExtensionValue::Binary(b"Ma".to_vec()))
    );
    assert!(matches!(
        ext.get("exttimestamp"),
        Some(ExtensionValue::Timestamp(_))
    ));
    let text = samples.get("simpleTextData").unwrap();
    assert_eq!(text.data(), Some(&Data::Text("Simple text".into())));
}

/// Every invalid vector is refused with a validation error naming the offending
/// attribute; a batch holding one is refused whole, at its index; nothing is written.
pub async fn invalid_vectors_are_refused(store: &dyn EventStore) {
    let format = vectors::format();
    let invalid = vectors::invalid();
    assert_eq!(invalid.len(), 25, "the suite has 25 invalid vectors");
    let minimal = &vectors::valid()[0].event;
    for vector in &invalid {
        let expected = vectors::expected_attribute(&vector.id);
        match format.parse_event(&vector.event) {
            Err(Error::Invalid(e)) => {
                assert_eq!(e.attribute(), expected, "{}: {e}", vector.id);
                assert!(e.to_string().contains(expected), "{}: {e}", vector.id);
            }
            other => panic!("{} must be refused as invalid, got {other:?}", vector.id),
        }
        let batch = format!("[{minimal},{}]", vector.event);
        match format.parse_batch(&batch) {
            Err(Error::Invalid(e)) => assert_eq!(e.index(), Some(1), "{}", vector.id),
            other => panic!("{} in a batch must be refused, got {other:?}", vector.id),
        }
        if let Ok(events) = format.parse_batch(&batch) {
            store.append(events).await.unwrap();
        }
    }
    assert_eq!(count(store).await, 0);
    let err = format.parse_event("{not json").unwrap_err();
    assert!(
        matches!(err, Error::Json { .. }) && err.is_invalid(),
        "{err}"
    );
}

/// 1 MiB of JSON, of text and of bytes are stored and read back exactly.
pub async fn large_payloads_round_trip(store: &dyn EventStore) {
    const MIB: usize = 1024 * 1024;
    let big_text: String = "abcdefghij0123456789äöü€"
        .chars()
        .cycle()
        .take(MIB)
        .collect();
    let base = || Event::builder().source("/big").ty("big");
    let json = base()
        .id("json")
        .json(&serde_json::json!({ "blob": big_text }))
        .build()
        .unwrap();
    let text = base()
        .id("text")
        .datacontenttype("text/plain")
        .text(big_text.clone())
        .build()
        .unwrap();
    let bytes: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let binary = base().id("binary").binary(bytes).build().unwrap();
    let batch = vec![json, text, binary];
    store.append(batch.clone()).await.unwrap();
    for event in &batch {
        let stored = store.get("/big", event.id()).await.unwrap().unwrap();
        assert_eq!(stored.event(), event, "{}", event.id());
        assert!(stored.data().unwrap().len() >= MIB);
    }
    let read: Vec<_> = store.query(EventQuery::new()).try_collect().await.unwrap();
    let read: Vec<Event> = read.into_iter().map(|e| e.into_event()).collect();
    assert_eq!(read, batch);
}

/// Unicode in every string attribute, in text and JSON data, in extension values and in
/// query filters.
pub async fn unicode_round_trips(store: &dyn EventStore) {
    let event = Event::builder()
        .id("标识-1 🧾")
        .source("/shop/%E2%9C%93")
        .ty("ödeme.alındı")
        .subject("заказ-42 ✓")
        .correlationid("相关-7")
        .topic("توبيك")
        .destination("destinación")
        .extension("note", "naïve café 🍰 \u{202E}rtl")
        .datacontenttype("text/plain; charset=utf-8")
        .text("héllo wörld 你好 🌍 \u{1F600} \u{10FFFF}")
        .time(instant(42))
        .build()
        .unwrap();
    let json = Event::builder()
        .id("json-ünï")
        .source("/shop")
        .ty("ödeme.alındı")
        .subject("заказ-42 ✓")
        .json(&serde_json::json!({ "ключ": "值 🎉", "emoji": "👩‍👩‍👧" }))
        .build()
        .unwrap();
    store
        .append(vec![event.clone(), json.clone()])
        .await
        .unwrap();
    let got = store
        .get("/shop/%E2%9C%93", "标识-1 🧾")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.event(), &event);
    let by_subject: Vec<_> = store.stream("заказ-42 ✓", 1).try_collect().await.unwrap();
    assert_eq!(by_subject.len(), 2);
    assert_eq!(by_subject[1].event(), &json);
    let q = EventQuery::new()
        .ty("ödeme.alındı")
        .correlation_id("相关-7")
        .topic("توبيك");
    let found: Vec<_> = store.query(q).try_collect().await.unwrap();
    assert_eq!(found.len(), 1);
    let q = EventQuery::new().extension("note", "naïve café 🍰 \u{202E}rtl");
    assert_eq!(
        store.query(q).try_collect::<Vec<_>>().await.unwrap().len(),
        1
    );
}

/// Every byte value, and empty data of each kind, round-trip through the store and then
/// through the CloudEvents JSON format: text data given no `datacontenttype` has
/// `text/plain`, so that the format, which reads data without one as JSON, reads it
/// back as text.
pub async fn binary_data_round_trips(store: &dyn EventStore) {
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let base = |id: &str| Event::builder().id(id).source("/bin").ty("bin");
    let events = vec![
        base("all")
            .datacontenttype("application/octet-stream")
            .binary(all_bytes)
            .build()
            .unwrap(),
        base("empty-bytes").binary(Vec::new()).build().unwrap(),
        base("empty-text").text("").build().unwrap(),
        base("nul-text").text("a\0b").build().unwrap(),
        base("ext")
            .extension("sig", ExtensionValue::Binary(vec![0, 1, 254, 255]))
            .build()
            .unwrap(),
        base("no-data").build().unwrap(),
    ];
    for text in &events[2..4] {
        assert_eq!(text.datacontenttype(), Some(TEXT_CONTENT_TYPE));
    }
    store.append(events.clone()).await.unwrap();
    for event in &events {
        let stored = store.get("/bin", event.id()).await.unwrap().unwrap();
        assert_eq!(stored.event(), event, "{}", event.id());
        let format = JsonFormat::new().with_extension_type("sig", ExtensionType::Binary);
        let written = format.write_event(stored.event());
        let read = format.parse_event(&written).unwrap();
        assert_eq!(
            &read,
            event,
            "{} changed through JSON: {written}",
            event.id()
        );
    }
}

/// JSON data is read back as the same document on every backend, whatever the database
/// makes of JSON: each number with its text as written (the sign of a zero, every digit
/// of one longer than PostgreSQL's `numeric` holds, an exponent), every member of an
/// object that repeats a key, escapes `jsonb` refuses. Compared as text and by the sign
/// a reader parses, as well as by event equality.
pub async fn json_data_round_trips_exactly(store: &dyn EventStore) {
    // 16,384 digits after the point: one more than `numeric` takes.
    let long_fraction: String = "0."
        .chars()
        .chain("1234567890".chars().cycle().take(16_384))
        .collect();
    let negative_zeros = ["-0.0", "-0.00", "-0e0", "-0", "-0.0E+3"];
    let numbers = [
        "0.0",
        "-0.5",
        "1.50",
        "1e2",
        "1E400",
        "123456789012345678901234567890",
        "123456789012345678901234567891",
        long_fraction.as_str(),
    ];
    let documents = [
        r#"{"x":-0.0,"y":[0.0,-0.00]}"#.to_owned(),
        format!(r#"{{"n":{long_fraction}}}"#),
        r#"{"a":1,"a":2}"#.to_owned(),
        r#"{"a":{"b":1,"b":[2]},"c":3}"#.to_owned(),
        r#"["\ud800","\u0000"]"#.to_owned(),
    ];
    let texts = negative_zeros
        .iter()
        .chain(&numbers)
        .map(|t| (*t).to_owned())
        .chain(documents.iter().cloned());
    let events: Vec<Event> = texts
        .enumerate()
        .map(|(n, text)| {
            let json = Json::from_string(text).expect("valid JSON");
            Event::builder()
                .id(n.to_string())
                .source("/json")
                .ty("json")
                .data(json)
                .build()
                .unwrap()
        })
        .collect();
    store.append(events.clone()).await.unwrap();
    let read: Vec<StoredEvent> = store
        .query(EventQuery::new().source("/json"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), events.len());
    let text = |event: &Event| {
        event
            .data()
            .and_then(Data::as_json)
            .map(|json| json.as_str().to_owned())
            .expect("JSON data")
    };
    let shown = |t: &str| t.chars().take(40).collect::<String>();
    for (event, stored) in events.iter().zip(&read) {
        let (written, got) = (text(event), text(stored.event()));
        assert_eq!(stored.event(), event, "{} changed", shown(&written));
        let fetched = store.get("/json", event.id()).await.unwrap().unwrap();
        assert_eq!(fetched.event(), event, "{} changed", shown(&written));
        if negative_zeros.contains(&written.as_str()) || numbers.contains(&written.as_str()) {
            assert!(
                got == written,
                "{} came back as {}",
                shown(&written),
                shown(&got)
            );
        }
    }
    for stored in &read[..negative_zeros.len()] {
        let json = stored.data().and_then(Data::as_json).unwrap();
        let zero: f64 = json.deserialize().unwrap();
        assert!(zero.is_sign_negative(), "{json} lost its sign");
    }
    let nested: serde_json::Value = read[negative_zeros.len() + numbers.len()]
        .data()
        .and_then(Data::as_json)
        .unwrap()
        .deserialize()
        .unwrap();
    assert!(nested["x"].as_f64().unwrap().is_sign_negative(), "{nested}");
    assert!(
        nested["y"][1].as_f64().unwrap().is_sign_negative(),
        "{nested}"
    );
}

/// Events whose indexed attributes are each as long as the store takes
/// ([`Limits::MAX_INDEXED_ATTRIBUTE_BYTES`], in text no compression shortens) are
/// stored, found by every filter on them, and read back exactly, on every backend.
pub async fn indexed_attributes_of_the_longest_length_round_trip(store: &dyn EventStore) {
    let long = |first: char| -> String {
        std::iter::once(first)
            .chain(crate::data::unrepeated_text(
                Limits::MAX_INDEXED_ATTRIBUTE_BYTES - 1,
            ))
            .collect()
    };
    let (source, subject) = (long('/'), long('s'));
    let events: Vec<Event> = ['a', 'b']
        .into_iter()
        .map(|n| {
            Event::builder()
                .id(long(n))
                .source(source.clone())
                .ty(long('t'))
                .subject(subject.clone())
                .correlationid(long('c'))
                .topic(long('o'))
                .destination(long('d'))
                .build()
                .unwrap()
        })
        .collect();
    store.append(events.clone()).await.unwrap();
    let first = &events[0];
    let stored = store
        .get(&source, first.id())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.event(), first);
    let filters = [
        EventQuery::new().source(source.clone()),
        EventQuery::new().types([first.ty()]),
        EventQuery::new().subject(subject.clone()),
        EventQuery::new().correlation_id(long('c')),
        EventQuery::new().topic(long('o')),
        EventQuery::new().destination(long('d')),
    ];
    for query in filters {
        let found: Vec<StoredEvent> = store.query(query.clone()).try_collect().await.unwrap();
        let found: Vec<Event> = found.into_iter().map(StoredEvent::into_event).collect();
        assert_eq!(found, events, "{query:?}");
    }
    let streamed: Vec<StoredEvent> = store.stream(&subject, 1).try_collect().await.unwrap();
    assert_eq!(streamed.len(), 2);
    assert_eq!(store.stream_version(&subject).await.unwrap(), Some(2));
}
