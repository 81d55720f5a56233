//! The JSON format's writer copies JSON data in as text; the `Serialize` impl goes
//! through serde_json. Both must write the same document.

use eventstore_core::{Data, Event, Json, JsonFormat};

fn event(data: Option<Data>) -> Event {
    let mut builder = Event::builder()
        .id("1")
        .source("/s")
        .ty("t")
        .subject("a \"quoted\" subject")
        .extension("priority", 3);
    if let Some(data) = data {
        if matches!(data, Data::Text(_)) {
            // Without a non-JSON content type, string data reads back as JSON.
            builder = builder.datacontenttype("text/plain");
        }
        builder = builder.data(data);
    }
    builder.build().expect("a valid event")
}

#[test]
fn the_writer_and_serialize_agree_for_every_kind_of_data() {
    let format = JsonFormat::new();
    let json = Json::from_string(" {\"a\": [1, 2.5, \"x\"], \"b\": null}\n".to_owned())
        .expect("valid JSON");
    let events = [
        event(Some(Data::Json(json))),
        event(Some(Data::Json(
            Json::from_string("\"text\"".to_owned()).unwrap(),
        ))),
        event(Some(Data::Text("plain".to_owned()))),
        event(Some(Data::Binary(vec![0, 1, 2]))),
        event(None),
    ];
    for event in &events {
        let written = format.write_event(event);
        assert_eq!(written, serde_json::to_string(event).expect("serializes"));
        assert_eq!(&format.parse_event(&written).expect("parses back"), event);
    }
    let batch = format.write_batch(&events);
    assert_eq!(batch, serde_json::to_string(&events).expect("serializes"));
    assert_eq!(format.parse_batch(&batch).expect("parses back"), events);
    assert_eq!(format.write_batch(&[]), "[]");
}
