//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `tests/data` folder.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The team's shared data folder beside the repository, when present.
pub fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("FLOWSENTINEL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    p.is_dir().then_some(p)
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flowsentinel-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowsentinel"))
        .args(args)
        .output()
        .expect("run flowsentinel")
}

/// Runs `extract` on `files` into `out` with extra `args`; panics unless it exits 0.
pub fn extract(files: &[&Path], out: &Path, args: &[&str]) {
    let mut a: Vec<String> = vec!["extract".into()];
    a.extend(files.iter().map(|f| f.display().to_string()));
    a.extend(["-o".into(), out.display().to_string(), "-q".into()]);
    a.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&refs);
    assert!(
        o.status.success(),
        "extract {a:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs cicdiff; returns (exit success, its report).
pub fn cicdiff(ours: &Path, reference: &Path) -> (bool, String) {
    cicdiff_with(ours, reference, &[])
}

/// Runs cicdiff with extra arguments.
pub fn cicdiff_with(ours: &Path, reference: &Path, args: &[&str]) -> (bool, String) {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cicdiff");
    let o = Command::new("python3")
        .arg(tool)
        .arg(ours)
        .arg(reference)
        .args(args)
        .output()
        .expect("run cicdiff");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    (o.status.success(), text)
}

/// Data rows of a CSV (header excluded).
pub fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("read csv");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The header fields of a CSV.
pub fn header(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read csv");
    text.lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// The capture file for a reference name, under `tests/data/pcaps`.
pub fn capture_for(name: &str) -> Option<PathBuf> {
    let d = data().join("pcaps");
    [
        d.join(format!("{name}.pcap")),
        d.join(format!("{name}.pcapng")),
        d.join("public").join(format!("{name}.pcap")),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Splits a little-endian classic pcap into its 24-byte header and raw records
/// (each with its 16-byte record header).
pub fn pcap_records(path: &Path) -> (Vec<u8>, Vec<Vec<u8>>) {
    let b = std::fs::read(path).expect("read pcap");
    assert_eq!(
        &b[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap expected"
    );
    let mut recs = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let caplen =
            u32::from_le_bytes([b[off + 8], b[off + 9], b[off + 10], b[off + 11]]) as usize;
        recs.push(b[off..off + 16 + caplen].to_vec());
        off += 16 + caplen;
    }
    (b[..24].to_vec(), recs)
}

/// Writes a pcap from a header and records.
pub fn write_pcap(path: &Path, header: &[u8], records: &[Vec<u8>]) {
    let mut b = header.to_vec();
    for r in records {
        b.extend_from_slice(r);
    }
    std::fs::write(path, b).expect("write pcap");
}
