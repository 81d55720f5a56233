//! The peers' side of the report. The peers crate (`peers/`, outside the workspace so
//! that its sqlx never meets this workspace's SQLite link) appends the same events on
//! the same PostgreSQL: this module writes those events and the workloads' shapes for
//! it, and turns the figures it writes back into report lines beside the store's.

use std::io::Write as _;
use std::path::Path;

use eventstore_core::JsonFormat;
use serde_json::{Value, json};

use crate::dataset::Dataset;
use crate::figures::PEER_TARGET;
use crate::report::{Figure, Section, Target, Unit};
use crate::sizes::Sizes;
use crate::workload::Subjects;

/// Writes `dir/peer-events.jsonl` (one CloudEvents JSON event a line, as many as the
/// largest append workload appends) and `dir/peer-plan.json` (the append workloads).
pub(crate) fn export(dir: &Path, dataset: Dataset, sizes: &Sizes) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let shapes = sizes.appends();
    let most = shapes.iter().map(|(_, _, s)| s.total()).max().unwrap_or(0);
    let format = JsonFormat::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("peer-events.jsonl"))?);
    for i in 0..most {
        writeln!(file, "{}", format.write_event(&dataset.event(i)))?;
    }
    file.flush()?;
    let plan: Vec<Value> = shapes
        .iter()
        .map(|(key, label, shape)| {
            json!({
                "key": key,
                "label": label,
                "writers": shape.writers,
                "batch": shape.batch,
                "events": shape.total(),
                "shared_subjects": shape.subjects == Subjects::Shared,
            })
        })
        .collect();
    let plan = json!({ "rounds": sizes.rounds, "workloads": plan });
    std::fs::write(
        dir.join("peer-plan.json"),
        serde_json::to_string_pretty(&plan).map_err(std::io::Error::other)? + "\n",
    )?;
    eprintln!(
        "wrote {most} events and the plan for the peers into {}",
        dir.display()
    );
    Ok(())
}

/// Report lines comparing the store's append figures in `section` with each peer's in
/// `file` (`{"peers": [{"name", "version", "figures": {key: events/s}}]}`).
pub(crate) fn figures(file: &Path, section: &Section) -> std::io::Result<Vec<Figure>> {
    let text = std::fs::read_to_string(file)?;
    let peers: Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    for peer in peers["peers"].as_array().into_iter().flatten() {
        let name = peer["name"].as_str().unwrap_or("peer");
        let version = peer["version"].as_str().unwrap_or("");
        for store in &section.figures {
            let Some(rate) = peer["figures"][store.key].as_f64() else {
                continue;
            };
            // The shared-subjects workload has no target against a peer: the store's
            // writers of a subject queue for its stream versions, postgres-es's take
            // theirs from the caller and never wait (docs/benchmarks.md).
            let batched = matches!(store.key, "append_100x1" | "append_100x8");
            out.push(Figure {
                key: peer_key(store.key),
                label: format!("{}, raw: {name} {version}", store.label),
                unit: Unit::EventsPerSec,
                store: store.store,
                raw: Some(rate),
                targets: if batched {
                    vec![Target::RatioAtLeast(PEER_TARGET)]
                } else {
                    vec![]
                },
                details: json!({ "peer": name, "version": version, "peer_events_per_sec": rate }),
            });
        }
    }
    Ok(out)
}

/// The report key of a comparison with a peer.
fn peer_key(key: &str) -> &'static str {
    match key {
        "append_1x1" => "peer_append_1x1",
        "append_100x1" => "peer_append_100x1",
        "append_1x8" => "peer_append_1x8",
        "append_100x8" => "peer_append_100x8",
        "append_100x8_shared" => "peer_append_100x8_shared",
        _ => "peer_other",
    }
}
