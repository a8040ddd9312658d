//! `replay` with bundles that read connection context: NSL-KDD's model
//! (profile `kdd`, one graph input per column) and a `fixed` bundle mixing
//! CICFlowMeter and window columns. Output is the same for any worker
//! count, and the flow CSV of a `kdd` bundle keeps every KDD.md identity.

use crate::conformance::conformance_kdd_in;
use crate::kdd_identities::check_identities;
use crate::util::{data, replay_outputs, run, tempdir};
use std::path::Path;

/// Replays the demo capture with `model` and `workers`; returns the flow
/// CSV and the alert and flow events.
fn replay(model: &Path, workers: usize, dir: &Path) -> (String, String) {
    let demo = [data().join("demo.pcap")];
    let (csv, events, _) = replay_outputs(&demo, model, workers, &[], dir);
    (csv, events)
}

#[test]
fn nslkdd_bundle_replays_the_same_for_any_worker_count() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nslkdd");
    let dir = tempdir("kdd-replay-nslkdd");
    let (csv1, events1) = replay(&model, 1, &dir);
    let (csv4, events4) = replay(&model, 4, &dir);
    assert!(csv1 == csv4, "the flow CSV differs between 1 and 4 workers");
    assert!(
        events1 == events4,
        "the events differ between 1 and 4 workers"
    );
    let (broken, rows) = check_identities(&csv1);
    assert!(rows > 1000, "{rows} rows");
    assert!(broken.is_empty(), "broken identities: {broken:#?}");
    let labels: std::collections::BTreeSet<&str> = csv1
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth_back(1))
        .collect();
    assert!(
        labels.iter().all(|l| ["normal", "anomaly"].contains(l)),
        "{labels:?}"
    );
    assert!(events1.contains("\"event_type\":\"alert\""));
    assert!(events1.contains("\"event_type\":\"flow\""));
}

#[test]
fn mixed_cic_and_window_bundle_runs_in_replay() {
    let Some((_dir, bundle)) = conformance_kdd_in("mixed_windows", "mixed-replay", true) else {
        return;
    };
    let dir = tempdir("kdd-replay-mixed");
    let (csv1, events1) = replay(&bundle, 1, &dir);
    let (csv3, events3) = replay(&bundle, 3, &dir);
    assert!(csv1 == csv3, "the flow CSV differs between 1 and 3 workers");
    assert!(
        events1 == events3,
        "the events differ between 1 and 3 workers"
    );
    assert!(
        csv1.starts_with("Flow ID,"),
        "a fixed bundle writes the CIC layout"
    );
    assert!(csv1.lines().count() > 1000);
    let check = run(&["model", "check", &bundle.display().to_string()]);
    let out = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{out}");
    assert!(
        out.contains("window"),
        "model check names the window columns: {out}"
    );
}
