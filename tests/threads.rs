//! Thread counts change no output: `extract --threads N` writes the same
//! CSV, byte for byte, as one thread (every profile, the connection
//! context, captures that restart between files, labels), and `replay`'s
//! end-of-input drain, handed on by each worker in parts and merged, gives
//! the same events and flows for any worker count.

use crate::util::{data, extract, replay_outputs, shared_data, tempdir, unzstd};
use std::path::{Path, PathBuf};

/// The bundled public captures (many link types and unrelated clocks) and
/// the demo capture.
fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data().join("pcaps/public"))
        .expect("read tests/data/pcaps/public")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files.push(data().join("demo.pcap"));
    files
}

/// Extracts `files` with each thread count; every CSV equals the first.
fn same_for_every_thread_count(files: &[&Path], args: &[&str], dir: &Path, tag: &str) {
    let one = dir.join(format!("{tag}-1.csv"));
    extract(files, &one, &[args, &["--threads", "1"]].concat());
    let want = std::fs::read(&one).expect("read the one-thread CSV");
    assert!(want.len() > 1000, "{tag}: {} bytes", want.len());
    for n in ["2", "3", "8"] {
        let out = dir.join(format!("{tag}-{n}.csv"));
        extract(files, &out, &[args, &["--threads", n]].concat());
        let got = std::fs::read(&out).expect("read the CSV");
        assert!(
            got == want,
            "{tag}: {n} threads wrote another CSV than 1 thread"
        );
        let _ = std::fs::remove_file(&out);
    }
}

#[test]
fn every_profile_is_byte_identical_across_thread_counts() {
    let dir = tempdir("threads-profiles");
    let files = captures();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    assert!(refs.len() > 20, "{} captures", refs.len());
    for (tag, args) in [
        ("cic2017", &["--profile", "cic2017"][..]),
        ("cic2018", &["--profile", "cic2018"][..]),
        ("cic2018-ml", &["--profile", "cic2018", "--ml-columns"][..]),
        ("fixed", &["--profile", "fixed"][..]),
        ("fixed-context", &["--profile", "fixed", "--context"][..]),
        ("kdd", &["--profile", "kdd"][..]),
        ("kdd-context", &["--profile", "kdd", "--context"][..]),
        ("fixed-per-file", &["--profile", "fixed", "--per-file"][..]),
        ("kdd-per-file", &["--profile", "kdd", "--per-file"][..]),
    ] {
        same_for_every_thread_count(&refs, args, &dir, tag);
    }
}

#[test]
fn labelled_lab_capture_is_byte_identical_across_thread_counts() {
    let Some(shared) = shared_data() else {
        eprintln!("skipped: the shared data folder is absent");
        return;
    };
    let dir = tempdir("threads-lab");
    let pcap = dir.join("seed3.pcap");
    if !unzstd(&shared.join("lab/seed3/capture.pcap.zst"), &pcap) {
        eprintln!("skipped: lab seed3 could not be decompressed");
        return;
    }
    let labels = shared.join("lab/seed3/labels.csv");
    let labels = labels.display().to_string();
    for (tag, profile) in [("seed3-cic2017", "cic2017"), ("seed3-fixed", "fixed")] {
        let args = ["--profile", profile, "--labels", labels.as_str()];
        same_for_every_thread_count(&[&pcap], &args, &dir, tag);
    }
}

#[test]
fn threads_zero_is_refused() {
    let o = crate::util::run(&[
        "extract",
        "tests/data/demo.pcap",
        "-o",
        "-",
        "--threads",
        "0",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--threads"), "{err}");
}

#[test]
fn a_full_disk_is_an_error_at_any_thread_count() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let demo = data().join("demo.pcap");
    let demo = demo.display().to_string();
    for n in ["1", "2", "4"] {
        let o = crate::util::run(&["extract", &demo, "-o", "/dev/full", "-q", "--threads", n]);
        assert!(!o.status.success(), "{n} threads: exit 0 on a full disk");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("/dev/full"), "{n} threads: {err}");
    }
}

/// Thousands of flows still open at the end of the input: each of three
/// workers hands its drain on in several parts, which the order stage
/// merges; events and flow CSV equal one worker's byte for byte.
#[test]
fn replay_drain_in_parts_matches_one_worker() {
    let dir = tempdir("threads-drain");
    let pcap = dir.join("churn.pcap");
    let gen = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_churn.py");
    let ok = std::process::Command::new("python3")
        .arg(&gen)
        .arg(&pcap)
        .arg("40000")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "benches/gen_churn.py failed");
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let files = [pcap];
    let extra = ["--alert-limit", "0"];
    let (csv, events, _) = replay_outputs(&files, &model, 1, &extra, &dir);
    let drained = events
        .lines()
        .filter(|l| l.contains("\"event_type\":\"flow\"") && l.contains("\"reason\":\"shutdown\""))
        .count();
    // More than two parts of 1,024 for each of three workers.
    assert!(drained > 3 * 3 * 1024, "{drained} flows open at the end");
    for workers in [2, 3] {
        let (c, e, _) = replay_outputs(&files, &model, workers, &extra, &dir);
        assert!(c == csv, "the flow CSV differs ({workers} workers)");
        assert!(e == events, "the events differ ({workers} workers)");
    }
}
