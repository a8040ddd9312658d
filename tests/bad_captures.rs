//! Malformed captures (`tests/data/bad`, written by its `make.py`): every file
//! through `extract` and `replay` gives the exit code, message, packet count
//! and flows that `tests/data/bad/EXPECTED` says, and never a panic.

use crate::util::{data, extract, pcap_prefix, pcap_records, rows, run, tempdir, write_pcap};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// One row of `EXPECTED`.
#[derive(Debug)]
struct Case {
    file: String,
    exit: i32,
    /// The summary's "packets read".
    packets: Option<u64>,
    /// The flows equal those of the first N records of small-veth.pcap.
    flows: Option<usize>,
    /// The byte offset the warning names.
    offset: Option<u64>,
    /// A phrase standard error contains.
    reason: Option<String>,
}

fn bad_dir() -> PathBuf {
    data().join("bad")
}

fn small_veth() -> PathBuf {
    data().join("pcaps/small-veth.pcap")
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn dash<T: std::str::FromStr>(v: &str) -> Option<T> {
    if v == "-" {
        None
    } else {
        Some(
            v.parse()
                .unwrap_or_else(|_| panic!("EXPECTED: bad value {v:?}")),
        )
    }
}

/// The manifest, checked against the folder: every capture in it is listed.
fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(bad_dir().join("EXPECTED")).expect("read EXPECTED");
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let mut next = || it.next().expect("EXPECTED: 6 fields").to_string();
            let (file, exit, packets, flows, offset) = (next(), next(), next(), next(), next());
            let reason = l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
            Case {
                file,
                exit: exit.parse().expect("EXPECTED: exit code"),
                packets: dash(&packets),
                flows: dash(&flows),
                offset: dash(&offset),
                reason: (reason != "-").then_some(reason),
            }
        })
        .collect();
    let mut listed: Vec<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    listed.sort_unstable();
    let mut present: Vec<String> = std::fs::read_dir(bad_dir())
        .expect("read tests/data/bad")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !matches!(n.as_str(), "EXPECTED" | "README.md" | "make.py"))
        .collect();
    present.sort_unstable();
    assert_eq!(listed, present, "EXPECTED and tests/data/bad disagree");
    cases
}

/// The summary's "packets read" count.
fn packets_read(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find(|l| l.starts_with("packets read"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// What the manifest says about one run; `out` is the file the run writes.
fn check(what: &str, case: &Case, path: &Path, o: &Output, out: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let err = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    let ctx = format!("{what} {}", case.file);
    if code == Some(101) || err.contains("panicked") {
        bad.push(format!("{ctx}: panicked: {err}"));
        return bad;
    }
    if code != Some(case.exit) {
        bad.push(format!("{ctx}: exit {code:?}, want {}: {err}", case.exit));
    }
    if let Some(reason) = &case.reason {
        if !err.contains(reason.as_str()) {
            bad.push(format!("{ctx}: stderr lacks {reason:?}: {err}"));
        }
    }
    match case.exit {
        0 => {
            if err.contains("warning") || err.contains("error") {
                bad.push(format!("{ctx}: a clean read warns: {err}"));
            }
        }
        1 => {
            let warning = format!("warning: {}: ", path.display());
            if !err.contains(&warning) {
                bad.push(format!("{ctx}: no warning naming the file: {err}"));
            }
            if let Some(n) = case.packets {
                if !err.contains(&format!("after {n} packets")) {
                    bad.push(format!("{ctx}: the warning lacks the packet count: {err}"));
                }
            }
            if let Some(off) = case.offset {
                if !err.contains(&format!("at byte offset {off},")) {
                    bad.push(format!("{ctx}: the warning lacks byte offset {off}: {err}"));
                }
            }
        }
        _ => {
            let line = format!("flowsentinel: error: {}: ", path.display());
            if err.lines().count() != 1 || !err.starts_with(&line) {
                bad.push(format!("{ctx}: want one error line naming the file: {err}"));
            }
            if out.exists() {
                bad.push(format!("{ctx}: output written for a refused file"));
            }
        }
    }
    if case.exit != 2 && packets_read(&err) != case.packets {
        bad.push(format!(
            "{ctx}: packets read {:?}, want {:?}: {err}",
            packets_read(&err),
            case.packets
        ));
    }
    bad
}

/// The first `n` records of small-veth.pcap as a clean capture in `dir`.
fn clean_prefix(dir: &Path, n: usize) -> PathBuf {
    let p = dir.join(format!("clean-{n}.pcap"));
    if !p.exists() {
        pcap_prefix(&small_veth(), n, &p);
    }
    p
}

fn replay(files: &[&Path], alerts: &Path, flows: &Path) -> Output {
    let model = model();
    let mut a = vec!["replay"];
    a.extend(files.iter().map(|f| s(f)));
    a.extend([
        "--model",
        s(&model),
        "--alerts",
        s(alerts),
        "--flows-csv",
        s(flows),
    ]);
    run(&a)
}

fn extract_run(files: &[&Path], out: &Path) -> Output {
    let mut a = vec!["extract"];
    a.extend(files.iter().map(|f| s(f)));
    a.extend(["-o", s(out)]);
    run(&a)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn bad_captures_extract_as_the_manifest_says() {
    let dir = tempdir("bad-extract");
    let mut clean: BTreeMap<usize, String> = BTreeMap::new();
    let mut bad = Vec::new();
    let cases = manifest();
    for case in &cases {
        let path = bad_dir().join(&case.file);
        let out = dir.join(format!("{}.csv", case.file));
        let o = extract_run(&[&path], &out);
        let mut problems = check("extract", case, &path, &o, &out);
        if let (Some(n), true) = (case.flows, problems.is_empty()) {
            let want = clean.entry(n).or_insert_with(|| {
                let csv = dir.join(format!("clean-{n}.csv"));
                extract(&[&clean_prefix(&dir, n)], &csv, &[]);
                read(&csv)
            });
            if read(&out) != *want {
                problems.push(format!(
                    "extract {}: flows differ from the first {n} packets of small-veth",
                    case.file
                ));
            }
        }
        bad.extend(problems);
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

#[test]
fn bad_captures_replay_as_the_manifest_says() {
    let dir = tempdir("bad-replay");
    let mut clean: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    let mut bad = Vec::new();
    for case in &manifest() {
        let path = bad_dir().join(&case.file);
        let alerts = dir.join(format!("{}.json", case.file));
        let flows = dir.join(format!("{}.csv", case.file));
        let o = replay(&[&path], &alerts, &flows);
        let mut problems = check("replay", case, &path, &o, &alerts);
        if case.exit == 2 && flows.exists() {
            problems.push(format!("replay {}: flow CSV written", case.file));
        }
        if let (Some(n), true) = (case.flows, problems.is_empty()) {
            let (want_flows, want_alerts) = clean.entry(n).or_insert_with(|| {
                let (a, f) = (
                    dir.join(format!("clean-{n}.json")),
                    dir.join(format!("clean-{n}.csv")),
                );
                let o = replay(&[&clean_prefix(&dir, n)], &a, &f);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                (read(&f), read(&a).lines().count())
            });
            if read(&flows) != *want_flows || read(&alerts).lines().count() != *want_alerts {
                problems.push(format!(
                    "replay {}: flows or alerts differ from the first {n} packets of small-veth",
                    case.file
                ));
            }
        }
        bad.extend(problems);
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

/// Extract and replay of files that are one capture, or refusal, as the
/// README says: a truncated file among good ones is read up to its break and
/// the next files still are (exit 1); a refused file stops the run before any
/// output (exit 2).
#[test]
fn bad_capture_among_good_ones() {
    let dir = tempdir("bad-among-good");
    let (h, recs) = pcap_records(&small_veth());
    // small-lo was captured minutes before small-veth, with the same header.
    let (_, lo) = pcap_records(&data().join("pcaps/small-lo.pcap"));
    let before = dir.join("before.pcap");
    let after = dir.join("after.pcap");
    write_pcap(&before, &h, &lo[..40]);
    write_pcap(&after, &h, &recs[31..60]);
    // truncated-record-data.pcap is records 0..30 and part of record 30.
    let truncated = bad_dir().join("truncated-record-data.pcap");
    let whole = dir.join("whole.pcap");
    let mut kept = lo[..40].to_vec();
    kept.extend_from_slice(&recs[..30]);
    kept.extend_from_slice(&recs[31..60]);
    write_pcap(&whole, &h, &kept);
    let want_csv = dir.join("whole.csv");
    extract(&[&whole], &want_csv, &[]);

    let files: [&Path; 3] = [&before, &truncated, &after];
    let out = dir.join("o.csv");
    let o = extract_run(&files, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}: truncated or corrupt record at byte offset 7591, after 30 packets",
            truncated.display()
        )),
        "{err}"
    );
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert_eq!(packets_read(&err), Some(99), "{err}");
    assert_eq!(read(&out), read(&want_csv), "extract: not one capture");
    assert!(!rows(&out).is_empty());

    let (alerts, flows) = (dir.join("a.json"), dir.join("f.csv"));
    let o = replay(&files, &alerts, &flows);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("warning: {}: ", truncated.display())),
        "{err}"
    );
    assert_eq!(packets_read(&err), Some(99), "{err}");
    let (want_alerts, want_flows) = (dir.join("wa.json"), dir.join("wf.csv"));
    let w = replay(&[&whole], &want_alerts, &want_flows);
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    assert_eq!(read(&flows), read(&want_flows), "replay: not one capture");

    // A refused file anywhere in the list: one error line, no output at all.
    for bad in ["gzipped.pcap.gz", "ng-no-idb.pcapng"] {
        let refused = bad_dir().join(bad);
        let files: [&Path; 3] = [&whole, &refused, &after];
        let out = dir.join(format!("{bad}.csv"));
        let o = extract_run(&files, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{}: ", refused.display())), "{err}");
        assert!(!out.exists(), "extract wrote output despite {bad}");
        let (alerts, flows) = (
            dir.join(format!("{bad}.json")),
            dir.join(format!("{bad}.f.csv")),
        );
        let o = replay(&files, &alerts, &flows);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{}: ", refused.display())), "{err}");
        assert!(
            !alerts.exists() && !flows.exists(),
            "replay wrote output despite {bad}"
        );
    }
}
