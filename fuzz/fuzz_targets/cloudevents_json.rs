//! The CloudEvents JSON parser on arbitrary text: it must return an event or a typed
//! error, never panic; an event it accepts must survive a write and a re-parse intact.
#![no_main]

use eventstore_core::{Event, ExtensionType, JsonFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    // Declared extension types route strings through the typed parsers (URI,
    // timestamp, base64) as well as the untyped ones.
    let formats = [
        JsonFormat::new(),
        JsonFormat::new()
            .with_extension_type("exturi", ExtensionType::Uri)
            .with_extension_type("extref", ExtensionType::UriRef)
            .with_extension_type("exttime", ExtensionType::Timestamp)
            .with_extension_type("extbin", ExtensionType::Binary)
            .with_extension_type("extint", ExtensionType::Integer)
            .with_extension_type("extbool", ExtensionType::Boolean),
    ];
    for format in &formats {
        if let Ok(event) = format.parse_event(text) {
            round_trips(format, &event);
        }
        if let Ok(batch) = format.parse_batch(text) {
            let written = format.write_batch(&batch);
            let reread = format
                .parse_batch(&written)
                .unwrap_or_else(|e| panic!("a written batch must parse: {e}\n{written}"));
            assert_eq!(reread, batch, "a batch must round-trip");
        }
    }
});

fn round_trips(format: &JsonFormat, event: &Event) {
    let written = format.write_event(event);
    let reread = format
        .parse_event(&written)
        .unwrap_or_else(|e| panic!("a written event must parse: {e}\n{written}"));
    assert_eq!(&reread, event, "an event must round-trip");
}
