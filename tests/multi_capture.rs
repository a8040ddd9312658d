//! Replaying many unrelated captures at once: each file whose clock is
//! behind the packets before it is read as a capture of its own (with one
//! warning line), output is byte-identical from run to run and for any
//! worker count, and every alert names the file its flow's first packet
//! came from.

use crate::util::{data, extract, replay_outputs, shared_data, tempdir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Replays `files` with the default model.
fn replay(
    files: &[PathBuf],
    workers: usize,
    extra: &[&str],
    dir: &Path,
) -> (String, String, String) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    replay_outputs(files, &model, workers, extra, dir)
}

/// Replays twice with 1 worker and twice with 2; all four outputs equal.
fn deterministic(files: &[PathBuf], tag: &str) -> (String, String) {
    let dir = tempdir(tag);
    let (csv, events, stderr) = replay(files, 1, &[], &dir);
    for workers in [2, 1, 2] {
        let (c, e, _) = replay(files, workers, &[], &dir);
        assert!(c == csv, "{tag}: the flow CSV differs ({workers} workers)");
        assert!(e == events, "{tag}: the events differ ({workers} workers)");
    }
    assert!(
        stderr.contains("read as a capture of its own"),
        "{tag}: no file was behind the clock: {stderr}"
    );
    (events, stderr)
}

/// The value of `"key":"..."` in an event line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    line.get(start..)?.split('"').next()
}

/// The bundled public captures: unrelated clocks, many link types.
fn bundled() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data().join("pcaps/public"))
        .expect("read tests/data/pcaps/public")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

#[test]
fn bundled_captures_with_unrelated_clocks_replay_deterministically() {
    let files = bundled();
    assert!(files.len() > 20, "{} captures", files.len());
    let (events, stderr) = deterministic(&files, "multi-bundled");
    let warnings = stderr.matches("read as a capture of its own").count();
    assert!(warnings > 5, "{warnings} warnings");
    assert!(events.contains("\"event_type\":\"flow\""));
}

#[test]
fn per_file_ends_flows_between_files() {
    let files = bundled();
    let dir = tempdir("multi-per-file");
    let (csv1, events1, _) = replay(&files, 1, &["--per-file"], &dir);
    let (csv2, events2, _) = replay(&files, 2, &["--per-file"], &dir);
    assert!(
        csv1 == csv2 && events1 == events2,
        "--per-file is not deterministic"
    );
    // No flow spans two files: each flow event's file holds its first packet,
    // and with --per-file every one of its packets.
    let files_seen: BTreeSet<&str> = events1
        .lines()
        .filter_map(|l| field(l, "pcap_filename"))
        .collect();
    assert!(files_seen.len() > 20, "{} files named", files_seen.len());
}

#[test]
fn realworld_folder_is_deterministic_and_alerts_name_their_file() {
    let Some(shared) = shared_data() else {
        eprintln!("skipped: the shared data folder is absent");
        return;
    };
    let folder = shared.join("realworld");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        eprintln!("skipped: {} absent", folder.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let (events, _) = deterministic(&files, "multi-realworld");
    // Every alert's flow is in the file it names: group the alerts by file,
    // extract each named file alone, and look the endpoints up there.
    let mut by_file: BTreeMap<String, Vec<(String, String, String, String)>> = BTreeMap::new();
    for l in events
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
    {
        let file = field(l, "pcap_filename")
            .expect("pcap_filename")
            .to_string();
        let port = |k: &str| {
            l.split(&format!("\"{k}\":"))
                .nth(1)
                .and_then(|r| r.split([',', '}']).next())
                .unwrap_or("0")
                .to_string()
        };
        let (src, dst) = (field(l, "src_ip"), field(l, "dest_ip"));
        by_file.entry(file).or_default().push((
            src.unwrap_or("").to_string(),
            port("src_port"),
            dst.unwrap_or("").to_string(),
            port("dest_port"),
        ));
    }
    assert!(!by_file.is_empty(), "no alerts");
    let dir = tempdir("multi-realworld-check");
    let mut checked = 0;
    for (file, alerts) in &by_file {
        let out = dir.join("one.csv");
        extract(&[Path::new(file)], &out, &["--profile", "fixed"]);
        let text = std::fs::read_to_string(&out).expect("read CSV");
        let flows: BTreeSet<(String, String, String, String)> = text
            .lines()
            .skip(1)
            .map(|r| {
                let f: Vec<&str> = r.split(',').collect();
                let g = |i: usize| f.get(i).copied().unwrap_or("").to_string();
                (g(1), g(2), g(3), g(4))
            })
            .collect();
        for a in alerts {
            let reversed = (a.2.clone(), a.3.clone(), a.0.clone(), a.1.clone());
            assert!(
                flows.contains(a) || flows.contains(&reversed),
                "alert {a:?} names {file}, which has no such flow"
            );
            checked += 1;
        }
    }
    eprintln!(
        "{checked} alerts in {} files: each names its flow's file",
        by_file.len()
    );
}
