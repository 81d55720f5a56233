//! The CloudEvents JSON conformance vectors, embedded.

use eventstore_core::{ExtensionType, JsonFormat};
use serde_json::Value;

/// The valid vectors file.
pub const VALID: &str = include_str!("../vectors/valid-events.json");
/// The invalid vectors file.
pub const INVALID: &str = include_str!("../vectors/invalid-events.json");

/// One conformance test.
#[derive(Debug, Clone)]
pub struct Vector {
    /// The test's name.
    pub id: String,
    /// Tests with the same sample id must parse to equal events.
    pub sample_id: Option<String>,
    /// The event document, as JSON text.
    pub event: String,
}

fn load(file: &str) -> Vec<Vector> {
    let doc: Value = serde_json::from_str(file).expect("vectors are JSON");
    doc["tests"]
        .as_array()
        .expect("a tests array")
        .iter()
        .map(|t| Vector {
            id: t["id"].as_str().expect("an id").to_owned(),
            sample_id: t["sampleId"].as_str().map(str::to_owned),
            event: t["event"].to_string(),
        })
        .collect()
}

/// The valid vectors.
pub fn valid() -> Vec<Vector> {
    load(VALID)
}

/// The invalid vectors.
pub fn invalid() -> Vec<Vector> {
    load(INVALID)
}

/// The JSON format with the conformance suite's sample extension attributes declared
/// (`extinteger`, `extboolean`, `extstring`, `exturi`, `exturiref`, `exttimestamp`,
/// `extbinary`).
pub fn format() -> JsonFormat {
    JsonFormat::new()
        .with_extension_type("extinteger", ExtensionType::Integer)
        .with_extension_type("extboolean", ExtensionType::Boolean)
        .with_extension_type("extstring", ExtensionType::String)
        .with_extension_type("exturi", ExtensionType::Uri)
        .with_extension_type("exturiref", ExtensionType::UriRef)
        .with_extension_type("exttimestamp", ExtensionType::Timestamp)
        .with_extension_type("extbinary", ExtensionType::Binary)
}

/// The attribute each invalid vector must be refused for.
pub fn expected_attribute(test_id: &str) -> &'static str {
    match test_id {
        "invalidNoSpecVersion" | "invalidEmptySpecVersion" | "invalidUnknownSpecVersion" => {
            "specversion"
        }
        "invalidNoId" | "invalidEmptyId" | "invalidNumericId" | "invalidObjectId" => "id",
        "invalidNoType" | "invalidEmptyType" => "type",
        "invalidNoSource" | "invalidEmptySource" => "source",
        "invalidNonRfc2046DataContentType" | "invalidEmptyDataContentType" => "datacontenttype",
        "invalidEmptyDataSchema" => "dataschema",
        "invalidEmptySubject" => "subject",
        "invalidCapitalizedExtension" => "MyExtension",
        "invalidPunctuatedExtension" | "invalidNonIntegerExtensionValue" => "my.extension",
        "invalidBothDataAndDataBase64" => "data",
        id if id.starts_with("invalidTime") => "time",
        other => panic!("no expected attribute for invalid vector {other}"),
    }
}
