//! Output faults: a full disk or an unwritable alerts file, an unreachable
//! syslog, and an IPS hook that is missing, failing or hanging. Each is
//! logged and counted; nothing is lost silently, and what does not depend on
//! the failing part (the JSON alerts, the flows) is complete.

use crate::util::{data, is_root, run, summary_value, tempdir, wait_for};
use flowsentinel::ips::Outcome;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/default")
        .display()
        .to_string()
}

fn demo() -> String {
    data().join("demo.pcap").display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Replays the demo with `--flow-events` and `extra`.
fn replay_demo(alerts: &str, extra: &[&str]) -> Output {
    let (m, d) = (model(), demo());
    let mut args = vec![
        "replay",
        &d,
        "--model",
        &m,
        "--alerts",
        alerts,
        "--flow-events",
        // Every alert written, so that each has its line and hook outcome.
        "--alert-limit",
        "0",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Every line of an EVE file, parsed: a cut or glued line fails here.
fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read alerts")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad EVE line {l:?}: {e}")))
        .collect()
}

/// The EVE lines a healthy run writes (alerts + flow events).
fn healthy_lines(dir: &Path) -> Vec<Value> {
    let p = dir.join("healthy.json");
    let o = replay_demo(p.to_str().expect("utf8"), &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    events(&p)
}

/// A tmpfs of `kib` KiB mounted on a fresh directory, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(dir: &Path, kib: u32) -> SmallDisk {
        let mnt = dir.join("disk");
        std::fs::create_dir_all(&mnt).expect("mkdir");
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k"),
                "flowsentinel-test",
            ])
            .arg(&mnt)
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs");
        SmallDisk(mnt)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `/dev/full` (every write fails with "No space left on device"): with
/// `continue` the run completes, counts every EVE line as lost and exits 1;
/// with the default `stop` it ends with an error naming the file. Runs
/// without root.
#[test]
fn alerts_to_dev_full_are_counted_lost_or_stop_the_run() {
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full: skipped");
        return;
    }
    let dir = tempdir("dev-full");
    let want = healthy_lines(&dir).len() as u64;
    let o = replay_demo("/dev/full", &["--on-output-error", "continue"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("alerts output /dev/full: No space left on device"),
        "{err}"
    );
    assert!(
        err.contains("continuing (on_output_error = continue)"),
        "{err}"
    );
    // Logged once, not once per batch.
    assert_eq!(err.matches("records lost; continuing").count(), 1, "{err}");
    assert_eq!(summary_value(&err, "alerts output: records lost"), want);
    assert!(summary_value(&err, "alerts output: failed writes") > 0);
    assert!(summary_value(&err, "flows scored") > 0);

    let o = replay_demo("/dev/full", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("stopping (on_output_error = stop)"), "{err}");
    assert!(
        err.contains("flowsentinel: error: /dev/full: No space left on device"),
        "{err}"
    );
}

/// A real filesystem that fills up (a 64 KiB tmpfs): the alerts file holds
/// only whole lines, and lines written + lines counted lost = every line a
/// healthy run writes. With `stop`, the run ends with the error and the file
/// still holds only whole lines.
/// With `--on-output-error stop`, when one output fails the other stops with
/// it a fixed number of batches later: what it holds does not depend on
/// which thread ran first. The alerts fail at the first batch, so the flow
/// CSV holds its header and exactly four batches of 256 rows, in every run;
/// when both fail, the alerts file (the first sink) is the error named.
#[test]
fn one_failing_output_stops_the_other_at_a_fixed_batch() {
    let dir = tempdir("faults-sinks");
    // The demo (with flow events) with alerts to `alerts`, the flow CSV to `csv`.
    let replay = |alerts: &str, csv: &Path| {
        let csv = csv.to_str().expect("utf8");
        replay_demo(alerts, &["--flows-csv", csv, "--batch-size", "256", "-q"])
    };
    let mut csvs = Vec::new();
    for i in 0..3 {
        let csv = dir.join(format!("flows{i}.csv"));
        let o = replay("/dev/full", &csv);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("alerts output /dev/full"),
            "{}",
            stderr(&o)
        );
        csvs.push(std::fs::read_to_string(&csv).expect("read flow CSV"));
    }
    assert_eq!(csvs[0].lines().count(), 1 + 4 * 256);
    assert!(
        csvs.iter().all(|c| *c == csvs[0]),
        "the flow CSV differs between runs"
    );

    let (a, c) = (dir.join("alerts-full"), dir.join("csv-full"));
    for link in [&a, &c] {
        std::os::unix::fs::symlink("/dev/full", link).expect("symlink");
    }
    let o = replay(a.to_str().expect("utf8"), &c);
    assert_eq!(o.status.code(), Some(1));
    let last = stderr(&o).lines().last().unwrap_or("").to_string();
    assert!(last.contains("alerts-full"), "{}", stderr(&o));
}

#[test]
fn full_disk_keeps_whole_lines_and_counts_the_rest() {
    if !is_root("full_disk_keeps_whole_lines_and_counts_the_rest") {
        return;
    }
    let dir = tempdir("full-disk");
    let want = healthy_lines(&dir).len() as u64;
    let disk = SmallDisk::new(&dir, 64);
    let alerts = disk.0.join("eve.json");
    let o = replay_demo(
        alerts.to_str().expect("utf8"),
        &["--on-output-error", "continue"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let got = events(&alerts).len() as u64;
    let lost = summary_value(&err, "alerts output: records lost");
    eprintln!("64 KiB disk: {got} lines written, {lost} counted lost, {want} in a healthy run");
    assert!(got > 0 && lost > 0);
    assert_eq!(got + lost, want);

    let o = replay_demo(alerts.to_str().expect("utf8"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("stopping (on_output_error = stop)"), "{err}");
    assert!(err.contains(alerts.to_str().expect("utf8")), "{err}");
    assert!(!events(&alerts).is_empty());
}

/// The disk fills, then space is freed while the run goes on: writing
/// resumes (logged), and written + lost = every line.
#[test]
fn writing_resumes_when_the_disk_has_space_again() {
    if !is_root("writing_resumes_when_the_disk_has_space_again") {
        return;
    }
    let dir = tempdir("disk-resume");
    let pcap = dir.join("churn.pcap");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_churn.py");
    let st = Command::new("python3")
        .arg(script)
        .arg(&pcap)
        .arg("400000")
        .status()
        .expect("python3");
    assert!(st.success());
    let disk = SmallDisk::new(&dir, 1024);
    // Fill the disk but for a little room.
    let filler = disk.0.join("filler");
    let st = Command::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=960"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(st.success());
    let alerts = disk.0.join("eve.json");
    let log = dir.join("replay.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsentinel"))
        .arg("replay")
        .arg(&pcap)
        .args(["--model", &model(), "--flow-events"])
        .arg("--alerts")
        .arg(&alerts)
        .args(["--on-output-error", "continue"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("replay");
    let full = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("No space left on device"))
    });
    assert!(
        full,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    std::fs::remove_file(&filler).expect("free space");
    let status = child.wait().expect("wait");
    let err = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("writing again;"), "{err}");
    let got = events(&alerts).len() as u64;
    let lost = summary_value(&err, "alerts output: records lost");
    let flows = summary_value(&err, "flows scored") + summary_value(&err, "flows not scored");
    let alerts_n = summary_value(&err, "alerts");
    eprintln!(
        "disk full then freed: {got} lines written, {lost} lost, {flows} flows + {alerts_n} alerts"
    );
    assert!(lost > 0);
    // One flow event per flow, one line per alert.
    assert_eq!(got + lost, flows + alerts_n);
}

/// Syslog unreachable (nothing listens on the port): every alert is counted
/// as lost to syslog, and the JSON alerts are exactly those of a run
/// without syslog.
#[test]
fn unreachable_syslog_is_counted_and_json_alerts_are_complete() {
    let dir = tempdir("syslog-down");
    let want = healthy_lines(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // The listener is dropped: nothing listens on `port` now.
    let alerts = dir.join("eve.json");
    let target = format!("tcp:127.0.0.1:{port}");
    let o = replay_demo(alerts.to_str().expect("utf8"), &["--syslog", &target]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let got = events(&alerts);
    assert_eq!(got, want);
    let n_alerts = got.iter().filter(|e| e["event_type"] == "alert").count() as u64;
    assert!(n_alerts > 100);
    assert_eq!(
        summary_value(&err, "syslog messages lost"),
        n_alerts,
        "{err}"
    );
}

/// Writes an executable hook script.
fn hook(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write hook");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// The alerts without the hook's own field (`alert.action`), sorted: the
/// line of an alert waiting for its `block` run is written when the run
/// ends, so lines may come in another order than without a hook.
fn without_action(mut evs: Vec<Value>) -> Vec<Value> {
    for e in &mut evs {
        if let Some(a) = e.get_mut("alert").and_then(Value::as_object_mut) {
            a.remove("action");
        }
    }
    evs.sort_by_cached_key(Value::to_string);
    evs
}

/// The summary row `ips hook: OUTCOME` (0 when absent: rows of 0 are left out).
fn hook_row(log: &str, outcome: &str) -> u64 {
    let row = format!("ips hook: {outcome} ");
    log.lines()
        .find(|l| l.starts_with(&row))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Processes whose command line contains `marker` (zombies have none).
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// A hook that fails, one that hangs, and one that disappears after its
/// first call: each outcome is counted and logged, and the alerts and flows
/// are exactly those of a run without a hook (the order of alert lines
/// aside). The hook is called at most once per source (the back-off), so the
/// hanging hook costs the replay about one timeout per source, and nothing it
/// started is left running. A hook missing at start is refused with its path.
#[test]
fn failing_hanging_and_missing_hooks_leave_the_sensor_unaffected() {
    let dir = tempdir("hook-faults");
    let start = Instant::now();
    let healthy = healthy_lines(&dir);
    let healthy_time = start.elapsed();
    let sources: HashSet<&str> = healthy
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .filter_map(|e| e["src_ip"].as_str())
        .collect();
    let sources = sources.len() as u64;
    let want = without_action(healthy);
    // A marker only the hanging hook's `sleep` has in its command line.
    let marker = format!("60.{}", std::process::id());
    let hang = format!("sleep {marker}");
    let cases = [
        ("fails.sh", "echo cannot block >&2; exit 3", "failed"),
        ("hangs.sh", hang.as_str(), "timed_out"),
        ("vanishes.sh", "rm -f \"$0\"; exit 0", "failed"),
    ];
    for (name, body, outcome) in cases {
        let script = hook(&dir, name, body);
        let alerts = dir.join(format!("{name}.json"));
        let start = Instant::now();
        let o = replay_demo(
            alerts.to_str().expect("utf8"),
            &[
                "--ips-hook",
                script.to_str().expect("utf8"),
                "--ips-timeout",
                "0.3",
                "--ips-rate",
                "1000",
            ],
        );
        let took = start.elapsed();
        let err = stderr(&o);
        assert!(o.status.success(), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let n = summary_value(&err, &format!("ips hook: {outcome}"));
        assert!(n > 0, "{name}: {err}");
        let logged = format!("ips hook: {}", script.display());
        assert!(err.contains(&logged), "{err}");
        assert_eq!(without_action(events(&alerts)), want, "{name}");
        // Runs of the hook: at most one per source, then the back-off.
        let calls: u64 = ["blocked", "failed", "timed_out"]
            .map(|o| hook_row(&err, o))
            .iter()
            .sum();
        let alerts_n = summary_value(&err, "alerts");
        eprintln!(
            "{name}: {n} runs {outcome}, {calls} runs for {sources} sources and {alerts_n} \
             alerts; replay {} ms (without a hook {} ms)",
            took.as_millis(),
            healthy_time.as_millis()
        );
        let why = format!("{name}: {calls} runs for {sources} sources\n{err}");
        assert!(calls <= sources, "{why}");
        // Every alert has an outcome.
        let outcomes: u64 = Outcome::ALL.iter().map(|o| hook_row(&err, o.label())).sum();
        assert_eq!(outcomes, alerts_n, "{name}: {err}");
        if name == "hangs.sh" {
            assert!(took < Duration::from_secs(20), "{name}: {took:?}");
            let left = processes_with(&marker);
            assert!(left.is_empty(), "the hook's children still run: {left:?}");
        }
    }
    let o = replay_demo(
        dir.join("missing.json").to_str().expect("utf8"),
        &[
            "--ips-hook",
            dir.join("no-such-hook.sh").to_str().expect("utf8"),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-hook.sh"), "{err}");
}

/// The fault and cap options refuse bad values with the option's name.
#[test]
fn bad_fault_and_cap_options_are_refused() {
    let dir = tempdir("fault-options");
    let out = dir.join("eve.json");
    for (args, words) in [
        (
            &["--on-output-error", "maybe"][..],
            "--on-output-error: expected stop or continue",
        ),
        (&["--max-flows", "1", "--workers", "2"][..], "--max-flows"),
        // Seen while fuzzing: under half a microsecond rounded to 0.
        (
            &["--flow-timeout", "0.0000001"][..],
            "--flow-timeout: expected at least one microsecond",
        ),
    ] {
        let o = replay_demo(out.to_str().expect("utf8"), args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(words), "{err}");
    }
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "on_output_error = 3\n").expect("write");
    let o = replay_demo(
        out.to_str().expect("utf8"),
        &["--config", cfg.to_str().expect("utf8")],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("on_output_error"),
        "{err}"
    );
}
