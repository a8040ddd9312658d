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

/// A test's temporary directory: removed when the test is done with it,
/// kept (and named on standard error) when the test fails, to look into.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for the failed test: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("flowsentinel-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    TempDir(d)
}

/// Decompresses the zstd file `src` into `dst`; false when zstd fails.
pub fn unzstd(src: &Path, dst: &Path) -> bool {
    Command::new("zstd")
        .args(["-q", "-d", "-f"])
        .arg(src)
        .arg("-o")
        .arg(dst)
        .status()
        .is_ok_and(|s| s.success())
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

/// The path of a system tool; panics, saying how to install it, when missing.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: run `bash .ci/setup.sh` to install it"))
}

/// Whether the tests run as root; says so when a test is skipped for it.
pub fn is_root(test: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(1, |m| m.uid());
    if uid != 0 {
        eprintln!("{test}: skipped: needs root (network namespaces)");
    }
    uid == 0
}

/// Waits up to `limit` for `cond`, looking every 50 ms.
pub fn wait_for(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

/// A network namespace made by a test, with loopback up and no route out;
/// deleted (with every process still in it) when dropped.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// A fresh namespace `fs-TAG-PID`.
    pub fn new(tag: &str) -> Netns {
        let name = format!("fs-{tag}-{}", std::process::id());
        let ip = tool("ip");
        let _ = Command::new(&ip).args(["netns", "del", &name]).output();
        let o = Command::new(&ip)
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        assert!(
            o.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let ns = Netns { name };
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns.ok(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.ok(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(tool("ip"));
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `argv` (a tool name first) inside the namespace; panics unless it exits 0.
    pub fn ok(&self, argv: &[&str]) -> String {
        let (cmd, args) = argv.split_first().expect("a command");
        let o = self
            .command(&tool(cmd))
            .args(args)
            .output()
            .expect("run ip netns exec");
        assert!(
            o.status.success(),
            "{argv:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// A veth pair `a`–`b`, both ends up inside this namespace.
    pub fn veth(&self, a: &str, b: &str) {
        self.ok(&["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
        self.ok(&["ip", "link", "set", a, "up"]);
        self.ok(&["ip", "link", "set", b, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let ip = tool("ip");
        if let Ok(o) = Command::new(&ip)
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).output();
            }
        }
        let _ = Command::new(&ip)
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Sends `sig` (e.g. "TERM") to a child.
pub fn signal(child: &std::process::Child, sig: &str) {
    let o = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .output()
        .expect("run kill");
    assert!(o.status.success(), "kill -{sig} {}", child.id());
}

/// The flows `extract --profile fixed` finds in the first `n` packets of
/// `pcap` (what a sensor stopped after `n` packets must have written):
/// `dir/extract.csv`.
pub fn extract_prefix(pcap: &Path, n: usize, dir: &Path) -> PathBuf {
    let prefix = dir.join("prefix.pcap");
    pcap_prefix(pcap, n, &prefix);
    let extracted = dir.join("extract.csv");
    extract(&[&prefix], &extracted, &["--profile", "fixed"]);
    extracted
}

/// The first `n` records of a classic pcap file, written to `out`.
pub fn pcap_prefix(input: &Path, n: usize, out: &Path) {
    let data = std::fs::read(input).expect("read pcap");
    let little = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let mut off = 24;
    for _ in 0..n {
        let len = &data[off + 8..off + 12];
        let caplen = if little {
            u32::from_le_bytes(len.try_into().expect("4 bytes"))
        } else {
            u32::from_be_bytes(len.try_into().expect("4 bytes"))
        };
        off += 16 + caplen as usize;
    }
    std::fs::write(out, &data[..off]).expect("write pcap prefix");
}

/// A summary table row's value.
pub fn summary_value(log: &str, row: &str) -> u64 {
    log.lines()
        .find(|l| l.starts_with(row) && l[row.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no summary row {row:?} in:\n{log}"))
}

/// Columns computed from packet times.
pub fn timed(column: &str) -> bool {
    [
        "Timestamp",
        "Duration",
        "/s",
        "IAT",
        "Active",
        "Idle",
        "Blk Rate",
    ]
    .iter()
    .any(|w| column.contains(w))
}

/// CSV rows as a sorted multiset, without the model's columns (`ML ...`)
/// and, when `untimed`, without the columns computed from packet times.
pub fn flow_rows(csv: &Path, untimed: bool) -> Vec<String> {
    let text = std::fs::read_to_string(csv).expect("read CSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let keep: Vec<bool> = header
        .iter()
        .map(|c| !(c.starts_with("ML ") || untimed && timed(c)))
        .collect();
    let mut rows: Vec<String> = lines
        .map(|l| {
            l.split(',')
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    rows.sort();
    rows
}

/// Replays `files` with `model` and `workers` (plus `extra` arguments),
/// writing every flow event and the flow CSV into `dir`; returns (flow CSV,
/// events without the stats events, which carry timings, standard error).
pub fn replay_outputs(
    files: &[PathBuf],
    model: &Path,
    workers: usize,
    extra: &[&str],
    dir: &Path,
) -> (String, String, String) {
    let csv = dir.join(format!("flows-{workers}.csv"));
    let alerts = dir.join(format!("alerts-{workers}.json"));
    let mut args: Vec<String> = vec!["replay".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    for a in [
        "--model",
        &model.display().to_string(),
        "--workers",
        &workers.to_string(),
        "--flow-events",
        "--flows-csv",
        &csv.display().to_string(),
        "--alerts",
        &alerts.display().to_string(),
    ] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{args:?} failed: {stderr}");
    let events = std::fs::read_to_string(&alerts)
        .expect("read events")
        .lines()
        .filter(|l| !l.contains("\"event_type\":\"stats\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let flows = std::fs::read_to_string(&csv).expect("read CSV");
    (flows, events, stderr)
}
