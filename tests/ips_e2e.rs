//! End-to-end IPS: a small switched network of three hosts, each in its own
//! network namespace, with the sensor running live inside the victim's
//! namespace and the nftables hook from `systemd/`. Real tools attack the
//! victim (an hping3 SYN flood, then an nmap SYN scan); the default model must
//! flag the attacker, the hook must block it in the victim's packet filter
//! while the allow-listed host keeps its access, and the block must end by
//! itself after the TTL. Needs root (skipped without it); the namespaces have
//! no route out and no link to any other namespace.

use crate::util::{tempdir, tool};
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const ATTACKER: &str = "10.77.0.66";
const BENIGN: &str = "10.77.0.20";
const VICTIM: &str = "10.77.0.1";
/// The hosts: namespace suffix, address, the interface inside the host.
const HOSTS: [(&str, &str, &str); 3] = [
    ("att", ATTACKER, "att0"),
    ("ben", BENIGN, "ben0"),
    ("vic", VICTIM, "vic0"),
];
/// The interface the sensor captures on.
const VICTIM_IFACE: &str = "vic0";
/// How long a block lasts (`--ips-ttl`).
const TTL: Duration = Duration::from_secs(8);
/// The PATH the sensor and the tools run with.
const TOOL_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How often the test looks at the sensor's output and the packet filter.
const POLL: Duration = Duration::from_millis(20);

/// The effective user id, from /proc/self/status.
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The lab: its network namespaces (deleted when dropped) and a folder for
/// the processes' output.
struct Lab {
    ip: PathBuf,
    dir: PathBuf,
    namespaces: Vec<String>,
}

impl Lab {
    fn new(dir: &Path) -> Lab {
        Lab {
            ip: tool("ip"),
            dir: dir.to_path_buf(),
            namespaces: Vec::new(),
        }
    }

    /// The namespace of `host`, unique to this process.
    fn ns(host: &str) -> String {
        format!("fse-{}-{host}", std::process::id())
    }

    /// Adds the namespace of `host` with loopback up and IPv6 off.
    fn add_ns(&mut self, host: &str) {
        let name = Lab::ns(host);
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &name])
            .output();
        let o = Command::new(&self.ip)
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        assert!(o.status.success(), "ip netns add {name}: {}", text(&o));
        self.namespaces.push(name);
        self.ok(host, &["ip", "link", "set", "lo", "up"]);
        self.ok(
            host,
            &[
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        );
    }

    /// `argv` inside the namespace of `host`, from the repository root.
    fn command(&self, host: &str, argv: &[&str]) -> Command {
        let (cmd, args) = argv.split_first().expect("a command");
        let cmd = if cmd.contains('/') {
            PathBuf::from(cmd)
        } else {
            tool(cmd)
        };
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &Lab::ns(host)])
            .arg(cmd)
            .args(args);
        c.current_dir(env!("CARGO_MANIFEST_DIR"));
        c.env("PATH", TOOL_PATH);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `argv` inside the namespace of `host`.
    fn run(&self, host: &str, argv: &[&str]) -> Output {
        self.command(host, argv)
            .output()
            .unwrap_or_else(|e| panic!("run {argv:?} in {host}: {e}"))
    }

    /// Runs `argv` inside the namespace of `host`; panics unless it exits 0.
    fn ok(&self, host: &str, argv: &[&str]) -> String {
        let o = self.run(host, argv);
        assert!(o.status.success(), "{argv:?} in {host}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Starts `argv` inside the namespace of `host`, its output in files
    /// named after `name`; it is killed when the guard is dropped.
    fn spawn(&self, host: &str, name: &str, argv: &[&str]) -> Proc<'_> {
        let out = self.dir.join(format!("{name}.out"));
        let err = self.dir.join(format!("{name}.err"));
        let child = self
            .command(host, argv)
            .stdout(File::create(&out).expect("create stdout file"))
            .stderr(File::create(&err).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {argv:?} in {host}: {e}"));
        Proc {
            name: name.to_string(),
            child,
            out,
            err,
            _lab: PhantomData,
        }
    }

    /// Runs `argv` in `host` for at most `limit`; returns its status and
    /// stdout followed by stderr.
    fn bounded(
        &self,
        host: &str,
        name: &str,
        argv: &[&str],
        limit: Duration,
    ) -> (ExitStatus, String) {
        let mut p = self.spawn(host, name, argv);
        let status = p
            .wait(limit)
            .unwrap_or_else(|| panic!("{argv:?} in {host} still running after {limit:?}"));
        (status, p.output())
    }

    /// Connects from `host` to the victim's web server with a `timeout` in
    /// seconds, sends a request and reads the status line: "ok", or "failed:"
    /// and why (a dropped SYN gives "failed: timed out").
    fn connect(&self, host: &str, timeout: f64) -> String {
        let code = "import socket,sys\n\
            try:\n\
            \x20s=socket.create_connection((sys.argv[1],80),timeout=float(sys.argv[2]))\n\
            \x20s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
            \x20print('ok' if s.recv(12).startswith(b'HTTP/1.') else 'bad answer')\n\
            except OSError as e:\n\
            \x20print('failed:',e)\n";
        let name = format!("connect-{host}");
        let argv = ["python3", "-c", code, VICTIM, &timeout.to_string()];
        let limit = Duration::from_secs_f64(timeout * 2.0 + 5.0);
        let (status, out) = self.bounded(host, &name, &argv, limit);
        assert!(status.success(), "connection check in {host}: {out}");
        let out = out.trim().to_string();
        eprintln!("  connect {host} -> {VICTIM}:80: {out}");
        out
    }

    /// Whether `host` gets an HTTP answer from the victim within 2 s.
    fn connects(&self, host: &str) -> bool {
        self.connect(host, 2.0) == "ok"
    }

    /// The victim's `blocked4` set as nft lists it, or "" before the table
    /// exists.
    fn blocked4(&self) -> String {
        let o = self.run(
            "vic",
            &["nft", "list", "set", "inet", "flowsentinel", "blocked4"],
        );
        if o.status.success() {
            String::from_utf8_lossy(&o.stdout).to_string()
        } else {
            String::new()
        }
    }

    /// The packets counted by the victim's IPv4 drop rule (0 before the
    /// table exists).
    fn dropped(&self) -> u64 {
        let o = self.run(
            "vic",
            &["nft", "list", "chain", "inet", "flowsentinel", "prerouting"],
        );
        if !o.status.success() {
            return 0;
        }
        let chain = String::from_utf8_lossy(&o.stdout).to_string();
        let rule = chain
            .lines()
            .find(|l| l.contains("ip saddr @blocked4") && l.contains("drop"))
            .unwrap_or_else(|| panic!("no IPv4 drop rule in\n{chain}"));
        let words: Vec<&str> = rule.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| *w == "packets")
            .unwrap_or_else(|| panic!("no counter in `{rule}`"));
        words[at + 1].parse().expect("a packet count")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in self.namespaces.iter().rev() {
            let _ = Command::new(&self.ip).args(["netns", "del", name]).output();
        }
    }
}

/// A process started in the lab: killed and reaped when dropped. It borrows
/// the lab, so it always ends before the namespaces are deleted.
struct Proc<'a> {
    name: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _lab: PhantomData<&'a Lab>,
}

impl Proc<'_> {
    /// Waits at most `limit` for the exit.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for a child") {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// Panics, with its output, when the process has exited.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait for a child") {
            panic!("{} exited early ({status}):\n{}", self.name, self.output());
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        format!("{out}{}", self.stderr())
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let o = Command::new(tool("kill"))
            .args(["-TERM", &self.child.id().to_string()])
            .output()
            .expect("run kill");
        assert!(o.status.success(), "kill -TERM {}: {}", self.name, text(&o));
    }
}

impl Drop for Proc<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The sensor's EVE JSON output, read as it grows.
struct Eve {
    file: PathBuf,
    read: u64,
    partial: Vec<u8>,
    events: Vec<Value>,
}

impl Eve {
    fn new(file: &Path) -> Eve {
        Eve {
            file: file.to_path_buf(),
            read: 0,
            partial: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Reads the complete lines written since the last call.
    fn poll(&mut self) {
        let Ok(mut f) = File::open(&self.file) else {
            return;
        };
        f.seek(SeekFrom::Start(self.read)).expect("seek eve.json");
        let mut new = Vec::new();
        f.read_to_end(&mut new).expect("read eve.json");
        self.read += new.len() as u64;
        self.partial.extend_from_slice(&new);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let lines: Vec<u8> = self.partial.drain(..=end).collect();
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let ev: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("bad EVE line ({e}): {}", String::from_utf8_lossy(line))
            });
            self.events.push(ev);
        }
    }

    fn alerts(&self) -> impl Iterator<Item = &Value> {
        self.events.iter().filter(|e| e["event_type"] == "alert")
    }

    /// The alerts from `src`.
    fn alerts_from<'a>(&'a self, src: &'a str) -> impl Iterator<Item = &'a Value> {
        self.alerts().filter(move |e| e["src_ip"] == src)
    }

    /// The alerts whose action is `blocked`.
    fn blocked(&self) -> Vec<&Value> {
        self.alerts()
            .filter(|e| e["alert"]["action"] == "blocked")
            .collect()
    }

    /// The IPS counters of the latest stats event.
    fn ips(&self) -> Option<&Value> {
        self.events
            .iter()
            .rev()
            .find(|e| e["event_type"] == "stats")
            .map(|e| &e["flowsentinel"]["ips"])
    }

    /// A counter of the latest stats event (0 before the first).
    fn stats(&self, group: &str, key: &str) -> u64 {
        self.events
            .iter()
            .rev()
            .find(|e| e["event_type"] == "stats")
            .and_then(|e| e["flowsentinel"][group][key].as_u64())
            .unwrap_or(0)
    }

    fn ips_count(&self, key: &str) -> u64 {
        self.stats("ips", key)
    }
}

/// Checks that no one but the attacker was blocked so far: no blocked alert
/// names another source, and the victim's set holds neither the victim's own
/// address nor the allow-listed host.
fn only_attacker_blocked(eve: &Eve, lab: &Lab) {
    for e in eve.blocked() {
        assert_eq!(
            e["src_ip"],
            ATTACKER,
            "the sensor blocked {} (its alert's flow {}:{} -> {}:{}, {} packets to the server, \
             {} to the client, label {}):\n{e:#}",
            e["src_ip"],
            e["src_ip"],
            e["src_port"],
            e["dest_ip"],
            e["dest_port"],
            e["flow"]["pkts_toserver"],
            e["flow"]["pkts_toclient"],
            e["ml"]["label"],
        );
    }
    let set = lab.blocked4();
    for addr in [VICTIM, BENIGN] {
        assert!(!set.contains(addr), "{addr} is blocked:\n{set}");
    }
}

/// Waits up to `limit` for `cond`, reading new EVE lines before each try and
/// failing at once if the sensor exits; returns how long it took.
fn wait_until(
    sensor: &mut Proc<'_>,
    eve: &mut Eve,
    limit: Duration,
    what: &str,
    mut cond: impl FnMut(&Eve) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        sensor.check_alive();
        eve.poll();
        if cond(eve) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}\nsensor stderr:\n{}",
            sensor.stderr()
        );
        sleep(POLL);
    }
}

/// An nft duration such as `7s832ms`, `1m2s` or `500ms`.
fn nft_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit_len] {
            "d" => Duration::from_secs(n * 86_400),
            "h" => Duration::from_secs(n * 3600),
            "m" => Duration::from_secs(n * 60),
            "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            _ => return None,
        };
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// How long ago the kernel got `addr` into the set, from its element's
/// `timeout ... expires ...` in a listing.
fn blocked_for(set: &str, addr: &str) -> Option<Duration> {
    let at = set.find(&format!("{addr} timeout "))?;
    let words: Vec<&str> = set[at..].split([' ', ',', '}', '\n']).collect();
    let timeout = nft_duration(words.get(2)?)?;
    (words.get(3) == Some(&"expires"))
        .then(|| nft_duration(words.get(4)?))
        .flatten()
        .map(|left| timeout.saturating_sub(left))
}

/// The value of a row of the sensor's exit summary.
fn summary_row(stderr: &str, row: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let rest = l.strip_prefix(row)?;
        rest.starts_with("  ")
            .then(|| rest.trim().parse().ok())
            .flatten()
    })
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn ips_blocks_attacker_end_to_end() {
    match euid() {
        Some(0) => {}
        uid => {
            eprintln!(
                "ips_blocks_attacker_end_to_end: skipped: needs root for network namespaces and \
                 the packet filter (effective uid {uid:?})"
            );
            return;
        }
    }
    for t in ["ip", "nft", "sysctl", "kill", "python3", "hping3", "nmap"] {
        tool(t);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hook = root.join("systemd/ips-nftables.sh");
    let dir = tempdir("ips-e2e");
    let eve_path = dir.join("eve.json");

    // The network: a bridge in the switch namespace, a veth pair to each host.
    let mut lab = Lab::new(&dir);
    lab.add_ns("sw");
    for (host, _, _) in HOSTS {
        lab.add_ns(host);
    }
    // Without multicast snooping the bridge sends no IGMP of its own: the
    // victim's link carries the hosts' traffic and nothing else.
    lab.ok(
        "sw",
        &[
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    );
    lab.ok("sw", &["ip", "link", "set", "br0", "up"]);
    for (host, addr, iface) in HOSTS {
        let port = format!("sw-{host}");
        let ns = Lab::ns(host);
        lab.ok(
            "sw",
            &[
                "ip", "link", "add", &port, "type", "veth", "peer", "name", iface, "netns", &ns,
            ],
        );
        lab.ok("sw", &["ip", "link", "set", &port, "master", "br0", "up"]);
        lab.ok(
            host,
            &["ip", "addr", "add", &format!("{addr}/24"), "dev", iface],
        );
        lab.ok(host, &["ip", "link", "set", iface, "up"]);
        let routes = lab.ok(host, &["ip", "-4", "route", "show", "default"]);
        assert!(routes.trim().is_empty(), "{host} has a route out: {routes}");
    }

    // The victim's web server, checked from inside the victim.
    let web_root = dir.display().to_string();
    let mut web = lab.spawn(
        "vic",
        "http-server",
        &[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            VICTIM,
            "--directory",
            &web_root,
        ],
    );
    let probe = "import socket,sys,time\n\
        for _ in range(100):\n\
        \x20try:\n\
        \x20 socket.create_connection((sys.argv[1],80),timeout=1).close(); sys.exit(0)\n\
        \x20except OSError:\n\
        \x20 time.sleep(0.1)\n\
        sys.exit(1)\n";
    let (status, out) = lab.bounded(
        "vic",
        "http-probe",
        &["python3", "-c", probe, VICTIM],
        Duration::from_secs(20),
    );
    web.check_alive();
    assert!(status.success(), "the web server never listened: {out}");

    // The sensor, in the victim's namespace, on the victim's interface.
    let ttl = TTL.as_secs().to_string();
    let mut sensor = lab.spawn(
        "vic",
        "sensor",
        &[
            env!("CARGO_BIN_EXE_flowsentinel"),
            "live",
            "-i",
            VICTIM_IFACE,
            "--model",
            "models/default",
            "--alerts",
            &eve_path.display().to_string(),
            "--ips-hook",
            &hook.display().to_string(),
            "--ips-ttl",
            &ttl,
            "--ips-allow",
            &format!("{BENIGN}/32"),
            "--stats-interval",
            "1",
            "--interim-after",
            "2",
            // Every alert written: the test counts the scan's probes in the EVE.
            "--alert-limit",
            "0",
        ],
    );
    let mut eve = Eve::new(&eve_path);
    let ready = wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(20),
        "the sensor's first stats event",
        |e| e.ips().is_some(),
    );
    eprintln!("sensor ready after {} ms", ms(ready));

    // 1. Before the attack, both clients reach the web server.
    eprintln!("before the attack:");
    assert!(lab.connects("ben"), "the benign host cannot connect");
    assert!(
        lab.connects("att"),
        "the attacker cannot connect before the attack"
    );
    // Plain web requests raise no alert: wait until both flows (closed by
    // FIN) were scored.
    wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(10),
        "the two connections scored",
        |e| e.stats("flows", "finished") >= 2,
    );
    let early: Vec<&Value> = eve.alerts().collect();
    assert!(early.is_empty(), "alerts before the attack: {early:#?}");
    assert!(
        !lab.blocked4().contains(ATTACKER),
        "blocked before the attack"
    );

    // 2. A SYN flood on the web port. Source ports 2000-4999 stay clear of
    //    the clients' ephemeral ports, so no later connection joins one of
    //    these flows.
    let attack = Instant::now();
    let mut flood = lab.spawn(
        "att",
        "hping3",
        &[
            "hping3", "-S", "-p", "80", "-s", "2000", "--faster", "-c", "3000", "-q", VICTIM,
        ],
    );
    let first_alert = wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(15),
        "an alert on the attacker",
        |e| e.alerts_from(ATTACKER).next().is_some(),
    );
    let mut block_seen = None;
    let block_alert = wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(15),
        "a blocked alert and the attacker in the set",
        |e| {
            if block_seen.is_none() {
                let set = lab.blocked4();
                if set.contains(ATTACKER) {
                    block_seen = Some((attack.elapsed(), set));
                }
            }
            block_seen.is_some() && !e.blocked().is_empty()
        },
    );
    let (set_seen, set) = block_seen.expect("the block was seen");
    let ago = blocked_for(&set, ATTACKER)
        .unwrap_or_else(|| panic!("no `{ATTACKER} timeout .. expires ..` in\n{set}"));
    let in_kernel = set_seen.saturating_sub(ago);
    let flood_status = flood
        .wait(Duration::from_secs(30))
        .expect("hping3 still running after 30 s");
    let flood_out = flood.output();
    drop(flood);
    assert!(
        flood_out.contains("3000 packets transmitted"),
        "hping3 ({flood_status}): {flood_out}"
    );
    let flood_time = attack.elapsed();

    let blocked = eve.blocked();
    assert_eq!(blocked.len(), 1, "one blocked alert: {blocked:#?}");
    let b = blocked[0];
    assert_eq!(b["src_ip"], ATTACKER, "{b:#}");
    assert_eq!(b["dest_ip"], VICTIM, "{b:#}");
    assert_eq!(b["dest_port"], 80, "{b:#}");
    assert_eq!(b["proto"], "TCP", "{b:#}");
    assert_eq!(b["in_iface"], VICTIM_IFACE, "{b:#}");
    assert_eq!(
        b["alert"]["category"], "Attempted Denial of Service",
        "{b:#}"
    );
    assert_eq!(b["ml"]["label"], "syn_flood", "{b:#}");
    let syn_flood = eve
        .alerts_from(ATTACKER)
        .filter(|e| e["ml"]["label"] == "syn_flood")
        .count();
    eprintln!(
        "attack: hping3 SYN flood, 3000 packets in {} ms; the first alert line seen {} ms \
         after the attack started; the attacker entered the set {} ms after it started (from \
         nft's expiry countdown), seen there by the test after {} ms and with the blocked \
         alert line after {} ms; {} alerts on the attacker so far, {syn_flood} syn_flood",
        ms(flood_time),
        ms(first_alert),
        ms(in_kernel),
        ms(set_seen),
        ms(first_alert + block_alert),
        eve.alerts_from(ATTACKER).count(),
    );

    // 3. While blocked: the attacker's connection times out, its packets
    //    are counted by the drop rule; the allow-listed host connects, and
    //    even its own scan is only reported, never blocked.
    eprintln!("while the attacker is blocked:");
    let before = lab.dropped();
    assert_eq!(
        lab.connect("att", 1.5),
        "failed: timed out",
        "the attacker's connection while blocked"
    );
    let after = lab.dropped();
    eprintln!("  drop rule counter: {before} packets before the attempt, {after} after");
    assert!(after > before, "the attempt was not dropped by the rule");
    assert!(lab.connects("ben"), "the benign host lost access");
    let (_, scan) = lab.bounded(
        "ben",
        "nmap-benign",
        &[
            "nmap",
            "-sS",
            "-n",
            "-Pn",
            "-T4",
            "--max-retries",
            "0",
            "-p",
            "1-100",
            VICTIM,
        ],
        Duration::from_secs(30),
    );
    assert!(scan.contains("80/tcp"), "nmap from the benign host: {scan}");
    wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(10),
        "the allow-listed host's scan counted as allow_listed",
        |e| e.alerts_from(BENIGN).next().is_some() && e.ips_count("allow_listed") > 0,
    );
    eprintln!(
        "  the allow-listed host's scan: {} alerts, {} allow_listed",
        eve.alerts_from(BENIGN).count(),
        eve.ips_count("allow_listed")
    );
    assert!(!lab.blocked4().contains(BENIGN), "{}", lab.blocked4());
    assert!(lab.connects("ben"), "the allow-listed host lost access");
    assert!(lab.blocked4().contains(ATTACKER), "the block ended early");
    only_attacker_blocked(&eve, &lab);

    // 4. After the TTL the block is gone, from the kernel and from the
    //    sensor, which has run `unblock`; the attacker connects again.
    let expired = wait_until(
        &mut sensor,
        &mut eve,
        TTL + Duration::from_secs(12),
        "the block's end (the set empty and `unblocked` in a stats event)",
        |e| e.ips_count("unblocked") >= 1 && !lab.blocked4().contains(ATTACKER),
    );
    let block_age = attack.elapsed().saturating_sub(in_kernel);
    eprintln!(
        "after the TTL: the set empty and `unblock` counted within {} ms of the block (TTL \
         {} ms; the test waited {} ms for it)",
        ms(block_age),
        ms(TTL),
        ms(expired),
    );
    assert!(
        block_age + Duration::from_millis(500) >= TTL,
        "the block ended after {block_age:?}, before its TTL"
    );
    assert!(
        lab.connects("att"),
        "the attacker is still blocked after the TTL"
    );
    only_attacker_blocked(&eve, &lab);

    // 5. A second tool after the block ended: an nmap SYN scan is flagged
    //    as a port scan and blocked again.
    let alerts_before = eve.alerts().count();
    let scan_start = Instant::now();
    let (_, scan) = lab.bounded(
        "att",
        "nmap-attacker",
        &[
            "nmap",
            "-sS",
            "-n",
            "-Pn",
            "-T4",
            "--max-retries",
            "0",
            "-p",
            "1-1000",
            VICTIM,
        ],
        Duration::from_secs(30),
    );
    assert!(scan.contains("80/tcp"), "nmap from the attacker: {scan}");
    let scanned = scan_start.elapsed();
    wait_until(
        &mut sensor,
        &mut eve,
        Duration::from_secs(10),
        "the second block",
        |e| {
            let n = e
                .blocked()
                .iter()
                .filter(|b| b["src_ip"] == ATTACKER)
                .count();
            n >= 2 && lab.blocked4().contains(ATTACKER)
        },
    );
    let reblocked = scan_start.elapsed();
    only_attacker_blocked(&eve, &lab);
    let blocked = eve.blocked();
    let b = blocked[1];
    // The probe of the open port (SYN, SYN-ACK, RST) is shaped like one
    // flow of the flood, so either label may come first.
    assert!(
        ["portscan", "syn_flood"].contains(&b["ml"]["label"].as_str().unwrap_or("")),
        "{b:#}"
    );
    eprintln!(
        "nmap SYN scan of 1000 ports took {} ms; the attacker blocked again (alert line and \
         set) seen {} ms after the scan started, on a {} alert",
        ms(scanned),
        ms(reblocked),
        b["ml"]["label"],
    );

    // Only the attacker was ever blocked, twice.
    only_attacker_blocked(&eve, &lab);
    let blocked = eve.blocked();
    assert_eq!(blocked.len(), 2, "{blocked:#?}");
    assert!(eve
        .alerts_from(BENIGN)
        .all(|e| e["alert"]["action"] == "allowed"));

    // 6. SIGTERM: the sensor flushes, exits 0 and reports the hook's work.
    let dropped = lab.dropped();
    sensor.terminate();
    let status = sensor
        .wait(Duration::from_secs(15))
        .expect("the sensor still running 15 s after SIGTERM");
    let stderr = sensor.stderr();
    assert!(
        status.success(),
        "the sensor exited with {status}:\n{stderr}"
    );
    eve.poll();
    let summary: String = stderr
        .lines()
        .filter(|l| !l.starts_with("stats:"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("sensor summary:\n{summary}");
    let row = |name: &str| {
        summary_row(&stderr, name).unwrap_or_else(|| panic!("no `{name}` row in\n{summary}"))
    };
    assert_eq!(row("ips hook: blocked"), 2);
    assert!(row("ips hook: unblocked") >= 1);
    assert!(row("ips hook: allow_listed") >= 1);
    assert!(row("ips hook: already_blocked") >= 1);
    let hook_name = hook.file_name().expect("a file name").to_string_lossy();
    assert!(
        !stderr.lines().any(|l| l.contains(hook_name.as_ref())),
        "a hook run failed or a target was refused:\n{stderr}"
    );
    // Most of the scan's probes were flagged as a port scan.
    let portscan = eve
        .alerts()
        .skip(alerts_before)
        .filter(|e| e["src_ip"] == ATTACKER && e["ml"]["label"] == "portscan")
        .count();
    eprintln!("the scan: {portscan} portscan alerts for 1000 probes");
    assert!(
        portscan >= 500,
        "{portscan} portscan alerts for 1000 probes"
    );
    // The capture taps before the packet filter: it read what was dropped.
    let read = row("packets read");
    assert!(
        read > dropped,
        "read {read} packets, the filter dropped {dropped}"
    );
    eprintln!(
        "totals: {} alerts ({} from the attacker, {} from the allow-listed host), \
         {dropped} packets dropped by the rule, {read} read by the sensor",
        eve.alerts().count(),
        eve.alerts_from(ATTACKER).count(),
        eve.alerts_from(BENIGN).count(),
    );

    drop(sensor);
    drop(web);
    drop(lab);
}
