//! The syslog alert output against a real rsyslog daemon that each test starts
//! with a private config: a unix datagram socket, UDP and TCP on 127.0.0.1, and
//! one file that logs every message with the fields the tests check.

use crate::util::{tempdir, TempDir};
use flowsentinel::syslog::{
    Severity, SyslogFormat, SyslogSink, SyslogStats, SyslogTarget, RETRY_INTERVAL,
};
use serde_json::Value;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for the daemon or a message before failing.
const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// rsyslog's fields, in the order of the `fields` template below.
const TEMPLATE: &str = "%protocol-version%|%inputname%|%syslogfacility-text%|\
%syslogseverity-text%|%hostname%|%app-name%|%procid%|%msgid%|%syslogtag%|%programname%|%msg%\\n";

/// One line of `out.log`.
#[derive(Debug)]
struct Logged {
    version: String,
    input: String,
    facility: String,
    severity: String,
    hostname: String,
    app: String,
    procid: String,
    msgid: String,
    tag: String,
    program: String,
    msg: String,
}

impl Logged {
    fn parse(line: &str) -> Option<Logged> {
        let f: Vec<&str> = line.splitn(11, '|').collect();
        let [version, input, facility, severity, hostname, app, procid, msgid, tag, program, msg] =
            f.as_slice()
        else {
            return None;
        };
        Some(Logged {
            version: version.to_string(),
            input: input.to_string(),
            facility: facility.to_string(),
            severity: severity.to_string(),
            hostname: hostname.to_string(),
            app: app.to_string(),
            procid: procid.to_string(),
            msgid: msgid.to_string(),
            tag: tag.to_string(),
            program: program.to_string(),
            msg: msg.to_string(),
        })
    }

    /// The logged message as JSON (RFC 3164 keeps the space after the tag).
    fn json(&self) -> Value {
        serde_json::from_str(self.msg.trim_start())
            .unwrap_or_else(|e| panic!("logged message is not JSON ({e}): {self:?}"))
    }
}

/// The rsyslogd binary; fails the test when rsyslog is not installed.
fn rsyslogd() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin", "/sbin"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join("rsyslogd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("rsyslogd not found: the syslog tests need rsyslog; run `bash .ci/setup.sh`")
        })
}

fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free TCP port");
    l.local_addr().expect("local addr").port()
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
    s.local_addr().expect("local addr").port()
}

/// A private rsyslogd; killed when dropped.
struct Rsyslog {
    dir: TempDir,
    conf: PathBuf,
    child: Option<Child>,
    udp_port: u16,
    tcp_port: u16,
    /// Counts daemon starts, to tell readiness probes apart.
    starts: u32,
}

impl Rsyslog {
    /// Writes the config into a fresh temp dir and starts the daemon.
    fn start(name: &str) -> Rsyslog {
        let bin = rsyslogd();
        let dir = tempdir(name);
        let (udp_port, tcp_port) = (free_udp_port(), free_tcp_port());
        let d = dir.display();
        let conf = dir.join("rsyslog.conf");
        let text = format!(
            r#"global(workDirectory="{d}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ParseHostname="on" RateLimit.Interval="0")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}")
template(name="fields" type="string" string="{TEMPLATE}")
*.* action(type="omfile" file="{d}/out.log" template="fields")
"#
        );
        std::fs::write(&conf, text).expect("write rsyslog.conf");
        let mut r = Rsyslog {
            dir,
            conf,
            child: None,
            udp_port,
            tcp_port,
            starts: 0,
        };
        r.spawn(&bin);
        r
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("log.sock")
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out.log")
    }

    fn target(&self, scheme: &str) -> SyslogTarget {
        let s = match scheme {
            "unix" => format!("unix:{}", self.sock().display()),
            "udp" => format!("udp:127.0.0.1:{}", self.udp_port),
            _ => format!("tcp:127.0.0.1:{}", self.tcp_port),
        };
        s.parse().expect("valid target")
    }

    /// Starts the daemon with the same config and waits until all three
    /// inputs have logged a probe.
    fn spawn(&mut self, bin: &Path) {
        assert!(self.child.is_none(), "rsyslogd is already running");
        let pid = self.dir.join("rsyslogd.pid");
        let _ = std::fs::remove_file(&pid);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .expect("open daemon.log");
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&pid)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup daemon.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        self.child = Some(child);
        self.starts += 1;
        self.wait_ready();
    }

    /// Sends raw probes over each input until each shows up in out.log (a
    /// stale socket file or a port not yet listening refuses them).
    fn wait_ready(&mut self) {
        let start = Instant::now();
        let mut pending = vec!["unix", "udp", "tcp"];
        while !pending.is_empty() {
            self.check_alive();
            let text = std::fs::read_to_string(self.out()).unwrap_or_default();
            pending.retain(|p| !text.contains(&self.probe(p)));
            for p in &pending {
                let m = format!("<134>1 - - probe - - - {}", self.probe(p));
                let _ = match *p {
                    "unix" => UnixDatagram::unbound()
                        .and_then(|s| s.send_to(m.as_bytes(), self.sock()).map(drop)),
                    "udp" => UdpSocket::bind("127.0.0.1:0")
                        .and_then(|s| s.send_to(m.as_bytes(), ("127.0.0.1", self.udp_port)))
                        .map(drop),
                    _ => TcpStream::connect(("127.0.0.1", self.tcp_port))
                        .and_then(|mut s| write!(s, "{} {m}", m.len())),
                };
            }
            assert!(
                start.elapsed() < DEADLINE,
                "rsyslogd not ready after {DEADLINE:?} ({pending:?} silent): {}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn probe(&self, transport: &str) -> String {
        format!("ready-{}-{transport}", self.starts)
    }

    fn check_alive(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                panic!("rsyslogd exited ({status}): {}", self.diagnostics());
            }
        }
    }

    /// SIGKILL, as in a crash: sockets close, the socket file stays.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the line whose message contains `marker`.
    fn wait_for(&self, marker: &str) -> Logged {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.out()).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains(marker)) {
                return Logged::parse(line).unwrap_or_else(|| panic!("bad log line {line:?}"));
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{marker} not logged within {DEADLINE:?}: {}",
                self.diagnostics()
            );
            std::thread::sleep(POLL);
        }
    }

    fn diagnostics(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "\n--- daemon.log\n{}\n--- out.log\n{}",
            read("daemon.log"),
            read("out.log")
        )
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real-looking alert; `marker` makes it unique in out.log.
fn alert_json(marker: &str) -> String {
    serde_json::json!({
        "timestamp": "2026-03-08T05:42:23.123456+0000",
        "flow_id": 1_234_567_890_123_u64,
        "event_type": "alert",
        "src_ip": "10.0.0.5",
        "src_port": 51544,
        "dest_ip": "192.168.1.10",
        "dest_port": 443,
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "signature": "flowsentinel model [DoS Hulk] p=0.97 \"quoted\" back\\slash café",
            "category": "DoS",
            "severity": 2,
            "score": 0.97,
        },
        "marker": marker,
    })
    .to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read host name")
        .trim()
        .to_string()
}

/// Sends one alert per transport in `format` and checks what rsyslog logged.
fn check_format(name: &str, format: SyslogFormat, severity: Severity, severity_text: &str) {
    let d = Rsyslog::start(name);
    let pid = std::process::id().to_string();
    for (scheme, input) in [("unix", "imuxsock"), ("udp", "imudp"), ("tcp", "imtcp")] {
        let mut sink = SyslogSink::new(d.target(scheme), format);
        let marker = format!("{name}-{scheme}");
        let json = alert_json(&marker);
        sink.send(severity, &json);
        assert_eq!(
            sink.stats(),
            SyslogStats {
                sent: 1,
                failed: 0,
                reconnects: 0
            },
            "{scheme}: {:?}",
            sink.last_error()
        );
        let got = d.wait_for(&marker);
        let want: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(got.json(), want, "{scheme}: JSON changed on the way");
        assert_eq!(got.input, input, "{got:?}");
        assert_eq!(got.app, "flowsentinel", "{got:?}");
        assert_eq!(got.program, "flowsentinel", "{got:?}");
        assert_eq!(got.procid, pid, "{got:?}");
        assert_eq!(got.facility, "local0", "{got:?}");
        assert_eq!(got.severity, severity_text, "{got:?}");
        assert_eq!(got.hostname, hostname(), "{got:?}");
        match format {
            SyslogFormat::Rfc5424 => {
                assert_eq!(got.version, "1", "{got:?}");
                assert_eq!(got.msgid, "alert", "{got:?}");
                assert_eq!(got.msg, json, "{scheme}: MSG is not the bare JSON");
            }
            SyslogFormat::Rfc3164 => {
                assert_eq!(got.version, "0", "{got:?}");
                assert_eq!(got.tag, format!("flowsentinel[{pid}]:"), "{got:?}");
                assert_eq!(got.msg.trim_start(), json, "{scheme}");
            }
        }
    }
}

#[test]
fn rfc5424_over_unix_udp_tcp() {
    check_format(
        "syslog-5424",
        SyslogFormat::Rfc5424,
        Severity::Warning,
        "warning",
    );
}

#[test]
fn rfc3164_over_unix_udp_tcp() {
    // EVE severity 1 is the most severe and maps to crit.
    check_format(
        "syslog-3164",
        SyslogFormat::Rfc3164,
        Severity::of_alert(flowsentinel::alert::Severity::High),
        "crit",
    );
}

#[test]
fn restart_is_counted_reconnected_and_never_stalls() {
    let bin = rsyslogd();
    let mut d = Rsyslog::start("syslog-restart");
    let mut sinks: Vec<(&str, SyslogSink)> = ["tcp", "unix", "udp"]
        .into_iter()
        .map(|s| (s, SyslogSink::new(d.target(s), SyslogFormat::Rfc5424)))
        .collect();
    for (scheme, sink) in &mut sinks {
        let m = format!("before-{scheme}");
        sink.send(Severity::Warning, &alert_json(&m));
        d.wait_for(&m);
        assert_eq!(sink.stats().sent, 1, "{scheme}: {:?}", sink.last_error());
    }

    // Down: every send returns at once and counts as failed (UDP cannot tell).
    d.kill();
    let mut last_down_send = Instant::now();
    for (scheme, sink) in &mut sinks {
        let before = sink.stats();
        let all = Instant::now();
        for i in 0..5 {
            let t = Instant::now();
            sink.send(
                Severity::Warning,
                &alert_json(&format!("down-{scheme}-{i}")),
            );
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{scheme}: a send while down took {:?}",
                t.elapsed()
            );
        }
        assert!(all.elapsed() < Duration::from_secs(5), "{scheme}");
        last_down_send = Instant::now();
        let after = sink.stats();
        if *scheme != "udp" {
            assert!(
                after.failed >= before.failed + 4,
                "{scheme}: {before:?} -> {after:?}"
            );
            assert!(after.sent <= before.sent + 1, "{scheme}: {after:?}");
        }
    }

    // Back up, with the same config: after the retry interval, sends arrive
    // on new connections.
    d.spawn(&bin);
    let retry_at = last_down_send + RETRY_INTERVAL + Duration::from_millis(100);
    std::thread::sleep(retry_at.saturating_duration_since(Instant::now()));
    for (scheme, sink) in &mut sinks {
        let m = format!("after-{scheme}");
        sink.send(Severity::Warning, &alert_json(&m));
        let got = d.wait_for(&m);
        assert_eq!(got.msgid, "alert");
        if *scheme != "udp" {
            let s = sink.stats();
            assert!(s.reconnects >= 1, "{scheme}: {s:?}");
        }
    }

    let connected = Instant::now();

    // A restart with no alerts in between, the connections older than the
    // retry interval: the first alert after it arrives (the dead connection is
    // noticed and replaced at once).
    d.kill();
    d.spawn(&bin);
    let due = connected + RETRY_INTERVAL + Duration::from_millis(100);
    std::thread::sleep(due.saturating_duration_since(Instant::now()));
    for (scheme, sink) in &mut sinks {
        let before = sink.stats();
        let m = format!("again-{scheme}");
        sink.send(Severity::Warning, &alert_json(&m));
        d.wait_for(&m);
        let s = sink.stats();
        assert_eq!(s.sent, before.sent + 1, "{scheme}: {:?}", sink.last_error());
        if *scheme != "udp" {
            assert!(s.reconnects >= 2, "{scheme}: {s:?}");
        }
    }
}

#[test]
fn bad_targets_give_documented_errors() {
    let forms = "expected unix:PATH, udp:HOST:PORT or tcp:HOST:PORT (IPv6 as [::1]:514)";
    for bad in [
        "/dev/log",
        "unix:",
        "udp:127.0.0.1",
        "udp:127.0.0.1:0",
        "tcp:localhost:http",
        "tcp:::1:514",
        "tcp:[::1",
        "syslog:host:514",
    ] {
        let e = bad.parse::<SyslogTarget>().expect_err(bad).to_string();
        assert!(e.starts_with("bad syslog target "), "{e}");
        assert!(e.contains(&format!("\"{bad}\"")), "{e}");
        assert!(e.contains(forms), "{e}");
    }
    for good in [
        "unix:/dev/log",
        "udp:10.0.0.1:514",
        "tcp:[::1]:6514",
        "tcp:logs.example.org:514",
    ] {
        let t: SyslogTarget = good.parse().expect(good);
        assert_eq!(t.to_string(), good);
    }
    let e = "rfc5425"
        .parse::<SyslogFormat>()
        .expect_err("bad format")
        .to_string();
    assert!(
        e.contains("\"rfc5425\"") && e.contains("5424") && e.contains("3164"),
        "{e}"
    );
}

/// `replay` of the demo capture with the default model sends every written
/// alert to rsyslog, in both formats, and the JSON copy is complete too:
/// every alert with `--alert-limit 0`, and by default the same aggregated
/// alerts (with their `alert.metadata` counts) as the EVE output.
#[test]
fn replay_sends_every_alert_to_rsyslog_in_both_formats() {
    for limit in ["0", "60"] {
        replay_to_rsyslog(limit);
    }
}

fn replay_to_rsyslog(limit: &str) {
    let mut r = Rsyslog::start(&format!("syslog-replay-{limit}"));
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let demo = crate::util::data().join("demo.pcap");
    for (scheme, format, version) in [("tcp", "5424", "1"), ("unix", "3164", "0")] {
        let alerts = r.dir.join(format!("alerts-{scheme}.json"));
        let target = r.target(scheme).to_string();
        let o = crate::util::run(&[
            "replay",
            demo.to_str().expect("utf8"),
            "--model",
            model.to_str().expect("utf8"),
            "--alerts",
            alerts.to_str().expect("utf8"),
            "--syslog",
            &target,
            "--syslog-format",
            format,
            "--alert-limit",
            limit,
            "-q",
        ]);
        assert!(
            o.status.success(),
            "replay failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let want: std::collections::BTreeSet<u64> = std::fs::read_to_string(&alerts)
            .expect("read alerts")
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("json")["flow_id"]
                    .as_u64()
                    .expect("id")
            })
            .collect();
        if limit == "0" {
            assert!(want.len() > 100, "the demo raises alerts: {}", want.len());
        } else {
            assert!((2..20).contains(&want.len()), "aggregated: {}", want.len());
        }
        // Poll until rsyslog has written as many alerts of this run as the JSON holds.
        let start = Instant::now();
        let got = loop {
            let text = std::fs::read_to_string(r.out()).unwrap_or_default();
            let got: Vec<Logged> = text
                .lines()
                .filter_map(Logged::parse)
                .filter(|l| l.app == "flowsentinel" && l.version == version)
                .filter(|l| l.input == if scheme == "tcp" { "imtcp" } else { "imuxsock" })
                .collect();
            if got.len() >= want.len() || start.elapsed() > DEADLINE {
                break got;
            }
            std::thread::sleep(POLL);
        };
        let ids: std::collections::BTreeSet<u64> = got
            .iter()
            .map(|l| l.json()["flow_id"].as_u64().expect("flow_id"))
            .collect();
        assert_eq!(
            ids,
            want,
            "{scheme} {format}: rsyslog missed alerts{}",
            r.diagnostics().chars().take(2000).collect::<String>()
        );
        for l in &got {
            assert_eq!(l.json()["event_type"], "alert");
            if format == "5424" {
                assert_eq!(l.msgid, "alert");
            }
        }
        // The same alerts, metadata (the aggregated counts) included.
        let json = |v: Value| v.to_string();
        let sent: std::collections::BTreeSet<String> = got.iter().map(|l| json(l.json())).collect();
        let file: std::collections::BTreeSet<String> = std::fs::read_to_string(&alerts)
            .expect("read alerts")
            .lines()
            .map(|l| json(serde_json::from_str(l).expect("json")))
            .collect();
        assert_eq!(
            sent, file,
            "{scheme} {format}: syslog differs from the EVE alerts"
        );
        if limit != "0" {
            assert!(file
                .iter()
                .all(|l| l.contains("\"flowsentinel_aggregated\":[\"")));
        }
    }
    r.kill();
}
