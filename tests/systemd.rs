//! The files under `systemd/`: the unit and its IPS drop-in pass
//! `systemd-analyze verify`, the example config documents every key, and the
//! two IPS hook scripts block, refresh, unblock and expire addresses in a real
//! packet filter, inside a private network namespace each test creates (these
//! need root and are skipped without it).

use crate::util::{tempdir, tool, wait_for};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The unit's ExecStart binary, replaced by the built one for `verify`.
const INSTALLED_BIN: &str = "/usr/local/bin/flowsentinel";
/// The PATH hook scripts run with (systemd's default for services).
const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The instance the template is verified as.
const INSTANCE: &str = "flowsentinel@eth0.service";

/// Every key of the live config file.
const CONFIG_KEYS: &[&str] = &[
    "model",
    "device",
    "onnxruntime",
    "alerts",
    "flow_events",
    "flows_csv",
    "syslog",
    "syslog_format",
    "workers",
    "batch_size",
    "batch_timeout_ms",
    "flow_timeout",
    "activity_timeout",
    "interface",
    "bpf",
    "promisc",
    "snaplen",
    "buffer_mb",
    "interim_after",
    "stats_interval",
    "user",
    "ips_hook",
    "ips_ttl",
    "ips_allow",
    "ips_block",
    "ips_dry_run",
    "ips_timeout",
    "ips_rate",
];

/// A file under `systemd/`.
fn systemd_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A system tool; fails the test when it is not installed.
/// Whether the tests run as root; the packet filter tests need it.
fn is_root(test: &str) -> bool {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if uid != 0 {
        eprintln!("{test}: skipped: needs root (network namespaces and the packet filter)");
    }
    uid == 0
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `systemd-analyze ARGS` with `dir` first on the unit path (the
/// trailing `:` keeps the system's own units, such as network-online.target).
fn analyze(dir: &Path, args: &[&str]) -> Output {
    Command::new(tool("systemd-analyze"))
        .args(args)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .expect("run systemd-analyze")
}

/// Writes the unit into `dir` under its own name, with ExecStart pointing at
/// a link to the built binary (verify checks that the command exists), and
/// with `dropin` as `flowsentinel@.service.d/ips.conf` beside it, where it is
/// installed. Returns `dir`.
fn staged_unit(dir: &Path, dropin: Option<&str>) -> PathBuf {
    std::fs::create_dir_all(dir.join("bin")).expect("create bin dir");
    let bin = dir.join("bin/flowsentinel");
    let _ = std::fs::remove_file(&bin);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_flowsentinel"), &bin).expect("link binary");
    let unit = read(&systemd_file("flowsentinel@.service"));
    let exec = format!("ExecStart={INSTALLED_BIN} ");
    assert_eq!(
        unit.matches(&exec).count(),
        1,
        "the unit has one `{exec}` line"
    );
    std::fs::write(
        dir.join("flowsentinel@.service"),
        unit.replace(&exec, &format!("ExecStart={} ", bin.display())),
    )
    .expect("write unit");
    if let Some(conf) = dropin {
        let d = dir.join("flowsentinel@.service.d");
        std::fs::create_dir_all(&d).expect("create drop-in dir");
        std::fs::write(d.join("ips.conf"), conf).expect("write drop-in");
    }
    dir.to_path_buf()
}

/// `systemd-analyze verify` of instance eth0 of the template staged in
/// `dir`: it must exit 0; returns what it printed.
fn verify(dir: &Path) -> String {
    let o = analyze(dir, &["verify", "--no-pager", INSTANCE]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "systemd-analyze verify {INSTANCE} (from {}): {}\n{out}",
        dir.display(),
        o.status
    );
    assert!(o.status.success(), "verify failed: {}", text(&o));
    out
}

/// `systemd-analyze security --offline` of instance eth0 staged in `dir`:
/// the overall exposure must be at most 3.0 (of 10); returns the report.
fn security(dir: &Path) -> String {
    let o = analyze(
        dir,
        &[
            "security",
            "--offline=yes",
            "--threshold=30",
            "--no-pager",
            INSTANCE,
        ],
    );
    let report = String::from_utf8_lossy(&o.stdout).to_string();
    eprintln!("{}", report.lines().last().unwrap_or(""));
    assert!(o.status.success(), "exposure over 3.0: {}", text(&o));
    report
}

/// Whether a `security` report flags CAP_NET_ADMIN as held.
fn holds_net_admin(report: &str) -> bool {
    report
        .lines()
        .any(|l| l.contains("\u{2717}") && l.contains("~CAP_NET_ADMIN"))
}

#[test]
fn unit_verifies() {
    let dir = tempdir("systemd-verify");
    // Every message about our unit names it or its temp dir.
    let plain = staged_unit(&dir.join("plain"), None);
    let out = verify(&plain);
    assert!(
        !out.contains("flowsentinel"),
        "verify warned about the unit:\n{out}"
    );
    let ips = read(&systemd_file("ips.conf"));
    let with_ips = staged_unit(&dir.join("ips"), Some(&ips));
    let out = verify(&with_ips);
    assert!(
        !out.contains("flowsentinel"),
        "verify warned about the unit with ips.conf:\n{out}"
    );
    // The drop-in is really read from there: a bad key in it is reported.
    let bad = staged_unit(&dir.join("bad"), Some(&format!("{ips}NotAKey=1\n")));
    let out = verify(&bad);
    assert!(
        out.contains("ips.conf") && out.contains("NotAKey"),
        "verify did not read the drop-in:\n{out}"
    );
    // The sandbox stays tight, and only the drop-in grants CAP_NET_ADMIN.
    let report = security(&plain);
    assert!(!holds_net_admin(&report), "{report}");
    let report = security(&with_ips);
    assert!(holds_net_admin(&report), "ips.conf not applied:\n{report}");
}

/// The `Key=value` settings of a unit file, comments left out.
fn settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn unit_settings() {
    let unit = settings(&read(&systemd_file("flowsentinel@.service")));
    let get = |key: &str| -> Vec<&str> {
        unit.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        get("ExecStart"),
        [format!(
            "{INSTALLED_BIN} live --config /etc/flowsentinel/%i.toml -i %i"
        )]
    );
    assert_eq!(get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(get("User"), ["flowsentinel"]);
    assert_eq!(get("AmbientCapabilities"), ["CAP_NET_RAW"]);
    assert_eq!(get("CapabilityBoundingSet"), ["CAP_NET_RAW"]);
    assert_eq!(get("ProtectSystem"), ["strict"]);
    assert_eq!(get("ReadWritePaths"), ["/var/log/flowsentinel"]);
    assert!(
        get("MemoryDenyWriteExecute").is_empty(),
        "ONNX Runtime is loaded with dlopen: no MemoryDenyWriteExecute"
    );
    let ips = settings(&read(&systemd_file("ips.conf")));
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        let v: Vec<&str> = ips
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(v, ["CAP_NET_RAW CAP_NET_ADMIN"], "ips.conf {key}");
    }
}

#[test]
fn example_config_documents_every_key() {
    let path = systemd_file("flowsentinel.toml");
    let body = read(&path);
    let table: toml::Table = toml::from_str(&body).expect("the example config is valid TOML");
    for key in table.keys() {
        assert!(CONFIG_KEYS.contains(&key.as_str()), "unknown key {key}");
    }
    for key in CONFIG_KEYS {
        let documented = body.lines().any(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        });
        let example = body.lines().any(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(" = "))
        });
        assert!(documented, "{key} is not explained (`# {key}: ...`)");
        assert!(example, "{key} has no example line (`{key} = ...`)");
    }
    // The unit passes -i %i; the unit's user replaces `user`.
    assert!(!table.contains_key("interface"));
    assert!(!table.contains_key("user"));
    assert_eq!(
        table.get("alerts").and_then(|v| v.as_str()),
        Some("/var/log/flowsentinel/eve.json")
    );
}

// ------------------------------------------------------------------ hooks --

/// A network namespace with loopback up; deleted when dropped.
struct Netns {
    name: String,
    ip: PathBuf,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("fs-{tag}-{}", std::process::id());
        let ip = tool("ip");
        let _ = Command::new(&ip).args(["netns", "del", &name]).output();
        let o = Command::new(&ip)
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        assert!(o.status.success(), "ip netns add {name}: {}", text(&o));
        let ns = Netns { name, ip };
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `argv` inside the namespace.
    fn run(&self, argv: &[&str]) -> Output {
        self.run_with(argv, &[], None)
    }

    /// Runs `argv` inside the namespace with `env` and `stdin`.
    fn run_with(&self, argv: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let (cmd, args) = argv.split_first().expect("a command");
        let cmd = if cmd.contains('/') {
            PathBuf::from(cmd)
        } else {
            tool(cmd)
        };
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(cmd).args(args);
        // The tools the scripts run, wherever the test runner's PATH points.
        c.env("PATH", HOOK_PATH);
        c.env_remove("FLOWSENTINEL_TARGET");
        c.envs(env.iter().copied());
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().expect("run ip netns exec");
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // As in the sensor, a hook that exits without reading is no error.
            let _ = pipe.write_all(data);
        }
        child.wait_with_output().expect("wait for ip netns exec")
    }

    /// Runs `argv` inside the namespace; panics unless it exits 0.
    fn ok(&self, argv: &[&str]) -> String {
        let o = self.run(argv);
        assert!(
            o.status.success(),
            "{argv:?} in {}: {}",
            self.name,
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Runs a hook script as the sensor does: FLOWSENTINEL_TARGET set, the
    /// alert JSON on stdin.
    fn hook(&self, script: &Path, verb: &str, target: &str, ttl: &str) -> Output {
        let script = script.display().to_string();
        let argv = [
            script.as_str(),
            verb,
            "10.9.9.9",
            "1234",
            "10.0.0.2",
            "80",
            "TCP",
            "syn_flood",
            "0.9876",
            ttl,
        ];
        let json = format!(r#"{{"event_type":"alert","src_ip":"{target}"}}"#);
        self.run_with(
            &argv,
            &[
                ("FLOWSENTINEL_TARGET", target),
                ("FLOWSENTINEL_BLOCK", "src"),
            ],
            Some(json.as_bytes()),
        )
    }

    /// Like [`Netns::hook`]; panics unless it exits 0.
    fn hook_ok(&self, script: &Path, verb: &str, target: &str, ttl: &str) {
        let o = self.hook(script, verb, target, ttl);
        assert!(
            o.status.success(),
            "{} {verb} {target} {ttl}: {}",
            script.display(),
            text(&o)
        );
    }

    /// Sends one UDP datagram from `addr` to itself inside the namespace;
    /// whether it arrived (the packet filter sees it on loopback).
    fn udp_delivered(&self, addr: &str) -> bool {
        let code = "import socket,sys\n\
            s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
            s.bind((sys.argv[1],0)); s.settimeout(0.3)\n\
            s.sendto(b'x',s.getsockname())\n\
            try:\n s.recv(16); print('delivered')\n\
            except socket.timeout:\n print('lost')\n";
        self.ok(&["python3", "-c", code, addr]).trim() == "delivered"
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The lines of `text` that hold all of `words`.
fn count_lines(text: &str, words: &[&str]) -> usize {
    text.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

/// The argv of refused calls: bad addresses, bad TTLs.
const BAD_INPUT: &[(&str, &str)] = &[
    ("1.2.3.4;reboot", "60"),
    ("$(reboot)", "60"),
    ("1.2.3.4 ", "60"),
    ("1.2.3", "60"),
    ("256.1.1.1", "60"),
    ("-1.2.3.4", "60"),
    ("1.2.3.4/8", "60"),
    ("1.2.3.4", "0"),
    ("1.2.3.4", "-5"),
    ("1.2.3.4", "1s;"),
];

/// Runs `script` with every [`BAD_INPUT`] and a short argv: each exits 2 with
/// a message.
fn refused(ns: &Netns, script: &Path) {
    for (target, ttl) in BAD_INPUT {
        let o = ns.hook(script, "block", target, ttl);
        assert_eq!(
            o.status.code(),
            Some(2),
            "block {target:?} {ttl:?}: {}",
            text(&o)
        );
        assert!(!o.stderr.is_empty(), "no message for {target:?} {ttl:?}");
    }
    let o = ns.run(&[&script.display().to_string(), "block", "10.9.9.9"]);
    assert_eq!(o.status.code(), Some(2), "short argv: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("usage:"),
        "{}",
        text(&o)
    );
}

#[test]
fn nftables_hook() {
    if !is_root("nftables_hook") {
        return;
    }
    tool("nft");
    tool("python3");
    let script = systemd_file("ips-nftables.sh");
    let ns = Netns::new("nft");
    let set4 = || ns.ok(&["nft", "list", "set", "inet", "flowsentinel", "blocked4"]);
    let set6 = || ns.ok(&["nft", "list", "set", "inet", "flowsentinel", "blocked6"]);

    // Bad input before anything exists: refused, and no table is made.
    refused(&ns, &script);
    assert_eq!(ns.ok(&["nft", "list", "tables"]), "");

    // Block with a 2 s TTL: the address is in the set, with its timeout.
    ns.hook_ok(&script, "block", "10.9.9.9", "2");
    let expiring_since = Instant::now();
    assert!(set4().contains("10.9.9.9 timeout 2s"), "{}", set4());
    // Again: harmless, and still exactly one drop rule per family.
    ns.hook_ok(&script, "block", "10.9.9.9", "2");
    let rules = ns.ok(&["nft", "list", "chain", "inet", "flowsentinel", "prerouting"]);
    assert!(rules.contains("hook prerouting priority raw"), "{rules}");
    assert_eq!(
        count_lines(&rules, &["ip saddr @blocked4", "counter", "drop"]),
        1,
        "{rules}"
    );
    assert_eq!(
        count_lines(&rules, &["ip6 saddr @blocked6", "counter", "drop"]),
        1,
        "{rules}"
    );
    assert_eq!(count_lines(&rules, &["drop"]), 2, "{rules}");

    // The block drops: a datagram from a blocked address no longer arrives,
    // and arrives again once unblocked.
    ns.ok(&["ip", "addr", "add", "10.9.9.10/32", "dev", "lo"]);
    assert!(
        ns.udp_delivered("10.9.9.10"),
        "loopback delivery before the block"
    );
    ns.hook_ok(&script, "block", "10.9.9.10", "60");
    assert!(!ns.udp_delivered("10.9.9.10"), "delivered while blocked");
    let rules = ns.ok(&["nft", "list", "chain", "inet", "flowsentinel", "prerouting"]);
    assert_eq!(
        count_lines(&rules, &["@blocked4", "packets 0 "]),
        0,
        "no drop counted: {rules}"
    );
    ns.hook_ok(&script, "unblock", "10.9.9.10", "60");
    assert!(ns.udp_delivered("10.9.9.10"), "not delivered after unblock");

    // IPv6 goes to the other set.
    ns.hook_ok(&script, "block", "2001:db8::99", "60");
    assert!(set6().contains("2001:db8::99 timeout 1m"), "{}", set6());
    assert!(!set4().contains("2001:db8::99"));
    ns.hook_ok(&script, "unblock", "2001:db8::99", "60");
    assert!(!set6().contains("2001:db8::99"), "{}", set6());

    // Unblock removes; unblocking what is gone still succeeds.
    ns.hook_ok(&script, "block", "10.9.9.11", "60");
    assert!(set4().contains("10.9.9.11"));
    ns.hook_ok(&script, "unblock", "10.9.9.11", "60");
    assert!(!set4().contains("10.9.9.11"), "{}", set4());
    ns.hook_ok(&script, "unblock", "10.9.9.11", "60");

    // Bad input: refused, nothing changed (the sets' elements aside, the
    // terse listing is the whole ruleset).
    let before = ns.ok(&["nft", "-t", "list", "ruleset"]);
    refused(&ns, &script);
    assert_eq!(ns.ok(&["nft", "-t", "list", "ruleset"]), before);
    assert!(!set4().contains("1.2.3.4"), "{}", set4());

    // The 2 s block ends by itself.
    assert!(
        wait_for(Duration::from_secs(5), || !set4().contains("10.9.9.9 ")),
        "10.9.9.9 still blocked after its TTL: {}",
        set4()
    );
    assert!(expiring_since.elapsed() >= Duration::from_millis(1500));
}

/// Whether ipset and the iptables `set` match work in `ns`; `Err` says why
/// not when the kernel lacks them.
fn ipset_usable(ns: &Netns) -> Result<(), String> {
    let o = ns.run(&["ipset", "create", "fs-probe", "hash:ip", "timeout", "0"]);
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    if !o.status.success() {
        assert!(err.contains("kernel"), "ipset create: {}", text(&o));
        return Err(format!("the kernel lacks ip_set support: {}", err.trim()));
    }
    let probe = ["-m", "set", "--match-set", "fs-probe", "src", "-j", "DROP"];
    let mut argv = vec!["iptables", "-w", "-A", "INPUT"];
    argv.extend(probe);
    let o = ns.run(&argv);
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert!(
            err.contains("kernel") || err.contains("match `set'") || err.contains("no such file"),
            "iptables -m set: {}",
            text(&o)
        );
        return Err(format!(
            "the kernel lacks the iptables set match (xt_set): {}",
            err.trim()
        ));
    }
    argv[2] = "-D";
    ns.ok(&argv);
    ns.ok(&["ipset", "destroy", "fs-probe"]);
    Ok(())
}

/// Whether `addr` is in ipset `set` inside `ns`.
fn in_ipset(ns: &Netns, set: &str, addr: &str) -> bool {
    ns.run(&["ipset", "test", set, addr]).status.success()
}

#[test]
fn ipset_hook() {
    if !is_root("ipset_hook") {
        return;
    }
    tool("ipset");
    tool("iptables");
    tool("ip6tables");
    tool("python3");
    let script = systemd_file("ips-ipset.sh");
    let ns = Netns::new("ipset");
    if let Err(why) = ipset_usable(&ns) {
        eprintln!("ipset_hook: skipped: {why}");
        return;
    }
    refused(&ns, &script);
    assert_eq!(
        ns.ok(&["ipset", "list", "-name"]),
        "",
        "a refused call made a set"
    );
    let rules = |ipt: &str, set: &str| -> [usize; 2] {
        let s = ns.ok(&[ipt, "-w", "-S"]);
        let m = format!("--match-set {set} src -j DROP");
        [
            count_lines(&s, &["-A INPUT ", &m]),
            count_lines(&s, &["-A FORWARD ", &m]),
        ]
    };

    // Block with a 2 s TTL, then again: in the set, one rule per chain.
    ns.hook_ok(&script, "block", "10.9.9.9", "2");
    let expiring_since = Instant::now();
    assert!(in_ipset(&ns, "flowsentinel4", "10.9.9.9"));
    ns.hook_ok(&script, "block", "10.9.9.9", "2");
    assert_eq!(rules("iptables", "flowsentinel4"), [1, 1]);
    let list = ns.ok(&["ipset", "list", "flowsentinel4"]);
    assert!(list.contains("timeout 0"), "{list}");

    // The block drops, and unblock lifts it.
    ns.ok(&["ip", "addr", "add", "10.9.9.10/32", "dev", "lo"]);
    assert!(
        ns.udp_delivered("10.9.9.10"),
        "loopback delivery before the block"
    );
    ns.hook_ok(&script, "block", "10.9.9.10", "60");
    assert!(!ns.udp_delivered("10.9.9.10"), "delivered while blocked");
    ns.hook_ok(&script, "unblock", "10.9.9.10", "60");
    assert!(ns.udp_delivered("10.9.9.10"), "not delivered after unblock");

    // IPv6: its own set and ip6tables rules.
    ns.hook_ok(&script, "block", "2001:db8::99", "60");
    ns.hook_ok(&script, "block", "2001:db8::99", "60");
    assert!(in_ipset(&ns, "flowsentinel6", "2001:db8::99"));
    assert_eq!(rules("ip6tables", "flowsentinel6"), [1, 1]);
    assert!(ns
        .ok(&["ipset", "list", "flowsentinel6"])
        .contains("family inet6"));
    ns.hook_ok(&script, "unblock", "2001:db8::99", "60");
    assert!(!in_ipset(&ns, "flowsentinel6", "2001:db8::99"));

    // Unblock removes; unblocking what is gone still succeeds.
    ns.hook_ok(&script, "block", "10.9.9.11", "60");
    ns.hook_ok(&script, "unblock", "10.9.9.11", "60");
    assert!(!in_ipset(&ns, "flowsentinel4", "10.9.9.11"));
    ns.hook_ok(&script, "unblock", "10.9.9.11", "60");

    // Bad input: refused (exit 2), nothing changed.
    let state = || {
        let sets = ns.ok(&["ipset", "list", "-name"]);
        let v4 = ns.ok(&["iptables", "-w", "-S"]);
        let v6 = ns.ok(&["ip6tables", "-w", "-S"]);
        format!("{sets}{v4}{v6}")
    };
    let before = state();
    refused(&ns, &script);
    assert_eq!(state(), before, "a refused call changed the filter");
    assert!(!in_ipset(&ns, "flowsentinel4", "1.2.3.4"));

    // The 2 s block ends by itself.
    assert!(
        wait_for(Duration::from_secs(5), || !in_ipset(
            &ns,
            "flowsentinel4",
            "10.9.9.9"
        )),
        "10.9.9.9 still blocked after its TTL"
    );
    assert!(expiring_since.elapsed() >= Duration::from_millis(1500));
}
