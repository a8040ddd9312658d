//! The IPS hook runner: turns alerts into `block` / `unblock` runs of an
//! operator's executable (`--ips-hook PATH`).
//!
//! The hook runs directly, never through a shell, as `PATH block SRC_IP
//! SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL_SECONDS` (SCORE with four
//! decimals, the TTL in whole seconds rounded up) with the alert's EVE JSON
//! line on stdin, and with `FLOWSENTINEL_TARGET=<address>` and
//! `FLOWSENTINEL_BLOCK=src|dst` in its environment: the address to block. When
//! the TTL ends, [`Hook::expire`] runs `PATH unblock` with the same arguments
//! and JSON.
//!
//! Invariants:
//! * Each alert goes through validation of the target (never an unspecified,
//!   loopback, multicast or broadcast address), the allow-list, dedupe (not
//!   again while its TTL runs), the rate limit (a token bucket), then the run;
//!   the first step that refuses decides the [`Outcome`].
//! * A run is bounded by the timeout, then killed and reaped. A failing or
//!   hanging hook is counted and logged (one stderr line starting with
//!   `ips hook:`), and the caller goes on. Only exit 0 records the target.
//! * Stdin is written and stderr read (first 4 KiB kept) on helper threads, so
//!   a hook that ignores its input or writes much cannot stall the caller.
//! * Dry run runs nothing: it logs what would run and records the target, so
//!   that dedupe and the `unblock` logging still work.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::error::Error;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a running hook is checked for its exit.
const POLL: Duration = Duration::from_millis(5);
/// How much of a failing hook's stderr is kept.
const STDERR_LIMIT: u64 = 4096;
/// How long to wait for a failed hook's stderr after it exited.
const STDERR_GRACE: Duration = Duration::from_millis(100);
/// The longest TTL accepted (ten years), so that expiry times cannot overflow.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// An IP network: an address and a prefix length, with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. An IPv4 network contains no IPv6
    /// address except IPv4-mapped ones (`::ffff:a.b.c.d`); an IPv6 network
    /// contains no IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => net == mask_v4(ip, self.prefix),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| net == mask_v4(ip, self.prefix)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => net == mask_v6(ip, self.prefix),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let shift = 32u32.saturating_sub(u32::from(prefix));
    Ipv4Addr::from(u32::from(ip) & u32::MAX.checked_shl(shift).unwrap_or(0))
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let shift = 128u32.saturating_sub(u32::from(prefix));
    Ipv6Addr::from(u128::from(ip) & u128::MAX.checked_shl(shift).unwrap_or(0))
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `ADDRESS/PREFIX` or a bare address (a /32 or /128); host bits
    /// set in the address are cleared. The error names the text and why.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("bad CIDR `{s}`: `{addr_text}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| {
                format!("bad CIDR `{s}`: prefix length `{p}` is not a number from 0 to {max}")
            })?,
        };
        let net = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(a, prefix)),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(a, prefix)),
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Which address of an alert is blocked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BlockSide {
    /// The source address (the default).
    #[default]
    Src,
    /// The destination address.
    Dst,
}

impl FromStr for BlockSide {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "src" => Ok(BlockSide::Src),
            "dst" => Ok(BlockSide::Dst),
            _ => Err(format!("bad block side `{s}`: expected src or dst")),
        }
    }
}

impl fmt::Display for BlockSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockSide::Src => "src",
            BlockSide::Dst => "dst",
        })
    }
}

/// How the hook is run.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// The executable.
    pub path: PathBuf,
    /// How long a target stays blocked before `unblock` runs.
    pub ttl: Duration,
    /// Networks whose addresses are never blocked.
    pub allow: Vec<Cidr>,
    /// Which address of an alert is blocked.
    pub side: BlockSide,
    /// Log and count what would run, without running anything.
    pub dry_run: bool,
    /// The longest one run may take before it is killed.
    pub timeout: Duration,
    /// The most `block` runs per second on average (bursts up to this many).
    pub rate_per_sec: f64,
}

/// The parts of an alert the hook needs.
#[derive(Debug, Clone, Copy)]
pub struct HookAlert<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
    /// Protocol name, passed as given.
    pub proto: &'a str,
    /// The model's label.
    pub label: &'a str,
    /// The model's score.
    pub score: f64,
    /// The alert's EVE JSON line, written to the hook's stdin.
    pub json: &'a [u8],
}

/// What became of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The hook ran and exited 0.
    Blocked,
    /// Dry run: the block was logged, not run.
    DryRun,
    /// The target is blocked already and its TTL still runs.
    AlreadyBlocked,
    /// The target is in the allow-list.
    AllowListed,
    /// The target is not an address that can be blocked.
    Invalid,
    /// The rate limit was reached.
    RateLimited,
    /// The hook could not run or exited non-zero.
    Failed,
    /// The hook ran past the timeout and was killed.
    TimedOut,
}

impl Outcome {
    /// Every outcome, in order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Blocked,
        Outcome::DryRun,
        Outcome::AlreadyBlocked,
        Outcome::AllowListed,
        Outcome::Invalid,
        Outcome::RateLimited,
        Outcome::Failed,
        Outcome::TimedOut,
    ];

    /// The outcome's name in stats and logs.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::DryRun => "dry_run",
            Outcome::AlreadyBlocked => "already_blocked",
            Outcome::AllowListed => "allow_listed",
            Outcome::Invalid => "invalid",
            Outcome::RateLimited => "rate_limited",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// The hook's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookStats {
    /// Alerts per outcome (every outcome is present).
    pub outcomes: BTreeMap<Outcome, u64>,
    /// `unblock` runs that exited 0 (or were logged, in dry run).
    pub unblocked: u64,
    /// `unblock` runs that failed or timed out.
    pub unblock_failed: u64,
    /// Targets blocked now.
    pub active: usize,
}

impl HookStats {
    /// The number of alerts with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// A blocked target, kept until its `unblock` runs.
#[derive(Debug)]
struct Active {
    expires: Instant,
    target: IpAddr,
    args: Vec<String>,
    json: Vec<u8>,
}

/// The hook runner: decides per alert and runs the hook synchronously.
#[derive(Debug)]
pub struct Hook {
    cfg: HookConfig,
    /// Blocked targets by address (IPv4-mapped IPv6 as IPv4).
    active: HashMap<IpAddr, Active>,
    tokens: f64,
    refilled: Option<Instant>,
    counts: [u64; Outcome::ALL.len()],
    unblocked: u64,
    unblock_failed: u64,
}

impl Hook {
    /// Checks the config: the path must be an executable regular file (in dry
    /// run too), the TTL and timeout more than zero, the rate finite and more
    /// than zero.
    pub fn new(mut cfg: HookConfig) -> Result<Hook, Error> {
        check_executable(&cfg.path)?;
        let refuse = |why: &str| Err(Error::Usage(format!("IPS hook {why}")));
        if cfg.ttl.is_zero() || cfg.ttl > MAX_TTL {
            return refuse("TTL must be more than 0 and at most 10 years");
        }
        if cfg.timeout.is_zero() {
            return refuse("timeout must be more than 0");
        }
        let rate = cfg.rate_per_sec;
        if !(rate.is_finite() && rate > 0.0) {
            return refuse("rate must be a finite number more than 0");
        }
        // A bare file name would be looked up in PATH; run the one checked.
        if cfg.path.parent() == Some(Path::new("")) {
            cfg.path = Path::new(".").join(&cfg.path);
        }
        Ok(Hook {
            tokens: rate.max(1.0),
            cfg,
            active: HashMap::new(),
            refilled: None,
            counts: [0; Outcome::ALL.len()],
            unblocked: 0,
            unblock_failed: 0,
        })
    }

    /// Decides what to do with one alert and, when it comes to that, runs
    /// `block` (waiting at most the timeout).
    pub fn on_alert(&mut self, a: &HookAlert<'_>, now: Instant) -> Outcome {
        let outcome = self.decide(a, now);
        if let Some(n) = self.counts.get_mut(outcome as usize) {
            *n += 1;
        }
        outcome
    }

    fn decide(&mut self, a: &HookAlert<'_>, now: Instant) -> Outcome {
        let target = match self.cfg.side {
            BlockSide::Src => a.src,
            BlockSide::Dst => a.dst,
        };
        let key = target.to_canonical();
        if let Some(why) = unblockable(key) {
            let path = self.cfg.path.display();
            eprintln!("ips hook: {path}: not blocking {target} ({why} address)");
            return Outcome::Invalid;
        }
        if self.cfg.allow.iter().any(|c| c.contains(target)) {
            return Outcome::AllowListed;
        }
        if self.active.get(&key).is_some_and(|b| now < b.expires) {
            return Outcome::AlreadyBlocked;
        }
        if !self.take_token(now) {
            return Outcome::RateLimited;
        }
        let args = hook_args(a, self.cfg.ttl);
        match self.call("block", &args, a.json, target) {
            Ok(()) => {}
            Err(RunError::Killed(_)) => return Outcome::TimedOut,
            Err(_) => return Outcome::Failed,
        }
        let expires = now.checked_add(self.cfg.ttl).unwrap_or(now);
        let json = a.json.to_vec();
        let blocked = Active {
            expires,
            target,
            args,
            json,
        };
        self.active.insert(key, blocked);
        if self.cfg.dry_run {
            Outcome::DryRun
        } else {
            Outcome::Blocked
        }
    }

    /// Runs `unblock` for every target whose TTL ended by `now`, oldest first.
    /// These runs are not rate-limited but are bounded by the timeout; a target
    /// is forgotten whether its `unblock` succeeds or not.
    pub fn expire(&mut self, now: Instant) {
        let mut due: Vec<(Instant, IpAddr)> = self
            .active
            .iter()
            .filter(|(_, b)| b.expires <= now)
            .map(|(k, b)| (b.expires, *k))
            .collect();
        due.sort_unstable();
        for (_, key) in due {
            if let Some(b) = self.active.remove(&key) {
                match self.call("unblock", &b.args, &b.json, b.target) {
                    Ok(()) => self.unblocked += 1,
                    Err(_) => self.unblock_failed += 1,
                }
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> HookStats {
        HookStats {
            outcomes: Outcome::ALL.into_iter().zip(self.counts).collect(),
            unblocked: self.unblocked,
            unblock_failed: self.unblock_failed,
            active: self.active.len(),
        }
    }

    /// When the next TTL ends, if any target is blocked.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.active.values().map(|b| b.expires).min()
    }

    /// Takes a token from the bucket, refilled at the configured rate.
    fn take_token(&mut self, now: Instant) -> bool {
        let rate = self.cfg.rate_per_sec;
        if let Some(last) = self.refilled {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        }
        self.refilled = Some(self.refilled.map_or(now, |last| last.max(now)));
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Runs the hook (or, in dry run, logs what would run) and logs a failure.
    fn call(
        &self,
        verb: &str,
        args: &[String],
        json: &[u8],
        target: IpAddr,
    ) -> Result<(), RunError> {
        let path = self.cfg.path.display();
        if self.cfg.dry_run {
            let (args, side) = (args.join(" "), self.cfg.side);
            eprintln!("ips hook (dry run): would run {path} {verb} {args} (FLOWSENTINEL_TARGET={target} FLOWSENTINEL_BLOCK={side})");
            return Ok(());
        }
        let result = run_hook(&self.cfg, verb, args, json, target);
        if let Err(e) = &result {
            eprintln!("ips hook: {path} {verb} {target}: {e}");
        }
        result
    }
}

/// Refuses a path that is missing, not a regular file or not executable.
fn check_executable(path: &Path) -> Result<(), Error> {
    let refuse = |why: &str| Error::Usage(format!("--ips-hook {}: {why}", path.display()));
    let meta = fs::metadata(path).map_err(|e| refuse(&e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(refuse("not executable"));
    }
    Ok(())
}

/// Why an address cannot be blocked, if it cannot.
fn unblockable(ip: IpAddr) -> Option<&'static str> {
    let broadcast = ip == IpAddr::V4(Ipv4Addr::BROADCAST);
    [
        (ip.is_unspecified(), "unspecified"),
        (ip.is_loopback(), "loopback"),
        (ip.is_multicast(), "multicast"),
        (broadcast, "broadcast"),
    ]
    .into_iter()
    .find_map(|(bad, why)| bad.then_some(why))
}

/// The arguments after the verb.
fn hook_args(a: &HookAlert<'_>, ttl: Duration) -> Vec<String> {
    let ttl_secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    vec![
        a.src.to_string(),
        a.src_port.to_string(),
        a.dst.to_string(),
        a.dst_port.to_string(),
        a.proto.to_string(),
        a.label.to_string(),
        format!("{:.4}", a.score),
        ttl_secs.to_string(),
    ]
}

/// Why a run of the hook failed.
#[derive(Debug)]
enum RunError {
    /// It (or a helper thread) could not be started, or waiting for it failed.
    Io(io::Error),
    /// It exited non-zero: the status and the first line of its stderr.
    Exit(ExitStatus, String),
    /// It ran past the timeout and was killed after this long.
    Killed(Duration),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Io(e) => write!(f, "could not run it: {e}"),
            RunError::Exit(status, line) if line.is_empty() => write!(f, "{status}"),
            RunError::Exit(status, line) => write!(f, "{status}: {line}"),
            RunError::Killed(t) => write!(f, "killed after {} ms", t.as_millis()),
        }
    }
}

/// Runs `PATH VERB ARGS...` with `json` on stdin, waiting at most the timeout.
fn run_hook(
    cfg: &HookConfig,
    verb: &str,
    args: &[String],
    json: &[u8],
    target: IpAddr,
) -> Result<(), RunError> {
    let mut child = Command::new(&cfg.path)
        .arg(verb)
        .args(args)
        .env("FLOWSENTINEL_TARGET", target.to_string())
        .env("FLOWSENTINEL_BLOCK", cfg.side.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Io)?;
    let start = Instant::now();
    let stderr = start_helpers(&mut child, json).map_err(|e| kill(&mut child, RunError::Io(e)))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= cfg.timeout => {
                return Err(kill(&mut child, RunError::Killed(start.elapsed())));
            }
            Ok(None) => thread::sleep(POLL.min(cfg.timeout.saturating_sub(start.elapsed()))),
            Err(e) => return Err(kill(&mut child, RunError::Io(e))),
        }
    };
    if status.success() {
        return Ok(());
    }
    let head = stderr.recv_timeout(STDERR_GRACE).unwrap_or_default();
    let text = String::from_utf8_lossy(&head);
    let first = text.lines().next().unwrap_or("").trim().to_string();
    Err(RunError::Exit(status, first))
}

/// Kills the child (if it still runs), reaps it, and passes `e` on.
fn kill(child: &mut Child, e: RunError) -> RunError {
    // Either fails only when the child is gone already.
    let _ = child.kill();
    let _ = child.wait();
    e
}

/// Starts the helper threads: one writes `json` to the child's stdin and
/// closes it (a child that does not read it is no error); one sends the first
/// [`STDERR_LIMIT`] bytes of its stderr on the channel and drains the rest.
/// Each ends when the child (and whatever it started) closes its pipe.
fn start_helpers(child: &mut Child, json: &[u8]) -> io::Result<mpsc::Receiver<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut stdin) = child.stdin.take() {
        let json = json.to_vec();
        thread::Builder::new().spawn(move || {
            let _ = stdin.write_all(&json);
        })?;
    }
    if let Some(mut stderr) = child.stderr.take() {
        thread::Builder::new().spawn(move || {
            let mut head = Vec::new();
            let _ = stderr.by_ref().take(STDERR_LIMIT).read_to_end(&mut head);
            let _ = tx.send(head);
            let _ = io::copy(&mut stderr, &mut io::sink());
        })?;
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, MutexGuard};

    /// Writing a script while another test thread forks can make running it
    /// fail with "text file busy", so tests that write scripts take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Appends its argv (each in brackets), the two variables and its stdin to
    /// `log` next to itself.
    const LOG_SCRIPT: &str = r#"{
  printf 'argv:'
  for a in "$@"; do printf ' [%s]' "$a"; done
  printf '\nenv: %s %s\nstdin: ' "$FLOWSENTINEL_TARGET" "$FLOWSENTINEL_BLOCK"
  cat
  printf '\n'
} >> "$(dirname "$0")/log"
"#;

    const JSON: &[u8] =
        br#"{"event_type":"alert","src_ip":"10.0.0.5","alert":{"signature":"DDoS"}}"#;

    struct Dir {
        path: PathBuf,
        _turn: MutexGuard<'static, ()>,
    }

    impl Dir {
        fn new(name: &str) -> Dir {
            let turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
            let path = std::env::temp_dir()
                .join(format!("flowsentinel-ips-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir { path, _turn: turn }
        }

        fn script(&self, name: &str, body: &str) -> PathBuf {
            let path = self.path.join(name);
            fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        fn log(&self) -> String {
            fs::read_to_string(self.path.join("log")).unwrap_or_default()
        }

        fn has_log(&self) -> bool {
            self.path.join("log").exists()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.path);
        }
    }

    fn cfg(path: PathBuf) -> HookConfig {
        HookConfig {
            path,
            ttl: Duration::from_secs(60),
            allow: Vec::new(),
            side: BlockSide::Src,
            dry_run: false,
            timeout: Duration::from_secs(5),
            rate_per_sec: 100.0,
        }
    }

    fn alert(src: &str, dst: &str) -> HookAlert<'static> {
        HookAlert {
            src: src.parse().unwrap(),
            src_port: 4444,
            dst: dst.parse().unwrap(),
            dst_port: 80,
            proto: "TCP",
            label: "DDoS LOIC",
            score: 0.87654321,
            json: JSON,
        }
    }

    #[test]
    fn block_passes_exact_argv_stdin_and_target_env() {
        let dir = Dir::new("argv");
        let mut hook = Hook::new(cfg(dir.script("hook.sh", LOG_SCRIPT))).unwrap();
        let now = Instant::now();
        let outcome = hook.on_alert(&alert("10.0.0.5", "192.168.1.10"), now);
        assert_eq!(outcome, Outcome::Blocked);
        let json = String::from_utf8(JSON.to_vec()).unwrap();
        assert_eq!(
            dir.log(),
            format!(
                "argv: [block] [10.0.0.5] [4444] [192.168.1.10] [80] [TCP] [DDoS LOIC] [0.8765] [60]\n\
                 env: 10.0.0.5 src\nstdin: {json}\n"
            )
        );
        let stats = hook.stats();
        assert_eq!(stats.count(Outcome::Blocked), 1);
        assert_eq!(stats.active, 1);
        assert_eq!(stats.outcomes.len(), Outcome::ALL.len());
    }

    #[test]
    fn dst_side_targets_the_destination() {
        let dir = Dir::new("dst");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.side = BlockSide::Dst;
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        assert_eq!(
            hook.on_alert(&alert("10.0.0.5", "2001:db8::7"), now),
            Outcome::Blocked
        );
        assert!(
            dir.log().contains("\nenv: 2001:db8::7 dst\n"),
            "{}",
            dir.log()
        );
        // The destination is the dedupe key: another source, same destination.
        assert_eq!(
            hook.on_alert(&alert("10.0.0.6", "2001:db8::7"), now),
            Outcome::AlreadyBlocked
        );
    }

    #[test]
    fn dedupe_within_ttl_then_unblock_after_it() {
        let dir = Dir::new("ttl");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.ttl = Duration::from_millis(200);
        let mut hook = Hook::new(c).unwrap();
        let t0 = Instant::now();
        let a = alert("10.0.0.5", "192.168.1.10");
        assert_eq!(hook.on_alert(&a, t0), Outcome::Blocked);
        assert_eq!(hook.next_expiry(), Some(t0 + Duration::from_millis(200)));
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(hook.on_alert(&a, t1), Outcome::AlreadyBlocked);
        hook.expire(t1);
        assert_eq!(hook.stats().unblocked, 0);
        assert_eq!(hook.stats().active, 1);

        hook.expire(t0 + Duration::from_millis(200));
        let stats = hook.stats();
        assert_eq!(
            (stats.unblocked, stats.unblock_failed, stats.active),
            (1, 0, 0)
        );
        assert_eq!(hook.next_expiry(), None);
        let log = dir.log();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 6, "{log}");
        assert_eq!(lines[0].replacen("block", "unblock", 1), lines[3]);
        assert_eq!(lines[4], "env: 10.0.0.5 src");
        assert_eq!(lines[5].as_bytes(), [b"stdin: ".as_slice(), JSON].concat());

        // Once unblocked, the target may be blocked again.
        let t2 = t0 + Duration::from_millis(300);
        assert_eq!(hook.on_alert(&a, t2), Outcome::Blocked);
        assert_eq!(hook.stats().count(Outcome::AlreadyBlocked), 1);
    }

    #[test]
    fn allow_listed_targets_are_never_blocked() {
        let dir = Dir::new("allow");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.allow = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        for src in ["10.1.2.3", "::ffff:10.9.9.9", "2001:db8:1::5"] {
            assert_eq!(
                hook.on_alert(&alert(src, "8.8.8.8"), now),
                Outcome::AllowListed
            );
        }
        assert!(!dir.has_log());
        assert_eq!(
            hook.on_alert(&alert("11.0.0.1", "8.8.8.8"), now),
            Outcome::Blocked
        );
        assert_eq!(hook.stats().count(Outcome::AllowListed), 3);
    }

    #[test]
    fn invalid_targets_are_refused_without_running() {
        let dir = Dir::new("invalid");
        let mut hook = Hook::new(cfg(dir.script("hook.sh", LOG_SCRIPT))).unwrap();
        let now = Instant::now();
        let bad = [
            "0.0.0.0",
            "224.0.0.1",
            "127.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ];
        for src in bad {
            assert_eq!(
                hook.on_alert(&alert(src, "8.8.8.8"), now),
                Outcome::Invalid,
                "{src}"
            );
        }
        assert!(!dir.has_log());
        assert_eq!(hook.stats().count(Outcome::Invalid), bad.len() as u64);
        assert_eq!(hook.stats().active, 0);
    }

    #[test]
    fn rate_limit_refuses_when_the_bucket_is_empty_and_refills() {
        let dir = Dir::new("rate");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.rate_per_sec = 1.0;
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        assert_eq!(
            hook.on_alert(&alert("10.0.0.1", "8.8.8.8"), now),
            Outcome::Blocked
        );
        assert_eq!(
            hook.on_alert(&alert("10.0.0.2", "8.8.8.8"), now),
            Outcome::RateLimited
        );
        let later = now + Duration::from_secs(1);
        assert_eq!(
            hook.on_alert(&alert("10.0.0.2", "8.8.8.8"), later),
            Outcome::Blocked
        );
        assert_eq!(dir.log().matches("argv: [block]").count(), 2);
    }

    #[test]
    fn failing_script_is_counted_and_not_recorded() {
        let dir = Dir::new("fail");
        let body = "cat >/dev/null\necho 'iptables: disk full' >&2\necho second >&2\nexit 3\n";
        let c = cfg(dir.script("fail.sh", body));
        let e = run_hook(&c, "block", &[], JSON, "10.0.0.5".parse().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "exit status: 3: iptables: disk full");

        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        let a = alert("10.0.0.5", "8.8.8.8");
        assert_eq!(hook.on_alert(&a, now), Outcome::Failed);
        assert_eq!(hook.on_alert(&a, now), Outcome::Failed);
        let stats = hook.stats();
        assert_eq!((stats.count(Outcome::Failed), stats.active), (2, 0));
        assert_eq!(hook.next_expiry(), None);
    }

    #[test]
    fn chatty_script_that_ignores_stdin_does_not_stall() {
        let dir = Dir::new("chatty");
        let body = "head -c 300000 /dev/zero | tr '\\0' x >&2\nexit 1\n";
        let c = cfg(dir.script("chatty.sh", body));
        let big = vec![b'{'; 1 << 20];
        let e = run_hook(&c, "block", &[], &big, "10.0.0.5".parse().unwrap()).unwrap_err();
        match e {
            RunError::Exit(status, line) => {
                assert_eq!(status.code(), Some(1));
                assert_eq!(line.len(), STDERR_LIMIT as usize);
            }
            other => panic!("{other}"),
        }
        let quiet = cfg(dir.script("quiet.sh", "exit 0\n"));
        assert!(run_hook(&quiet, "block", &[], &big, "10.0.0.5".parse().unwrap()).is_ok());
    }

    #[test]
    fn hanging_script_is_killed_after_the_timeout() {
        let dir = Dir::new("hang");
        let mut c = cfg(dir.script(
            "hang.sh",
            "echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30\n",
        ));
        c.timeout = Duration::from_millis(200);
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        let a = alert("10.0.0.5", "8.8.8.8");
        assert_eq!(hook.on_alert(&a, now), Outcome::TimedOut);
        assert_eq!(hook.stats().count(Outcome::TimedOut), 1);
        assert_eq!(hook.stats().active, 0);
        if let Ok(pid) = fs::read_to_string(dir.path.join("pid")) {
            let proc_dir = format!("/proc/{}", pid.trim());
            assert!(!Path::new(&proc_dir).exists(), "{proc_dir} still there");
        }
    }

    #[test]
    fn dry_run_runs_nothing_but_records() {
        let dir = Dir::new("dry");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.dry_run = true;
        c.ttl = Duration::from_millis(200);
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        let a = alert("10.0.0.5", "8.8.8.8");
        assert_eq!(hook.on_alert(&a, now), Outcome::DryRun);
        assert_eq!(hook.on_alert(&a, now), Outcome::AlreadyBlocked);
        hook.expire(now + Duration::from_millis(200));
        let stats = hook.stats();
        assert_eq!(
            (stats.count(Outcome::DryRun), stats.unblocked, stats.active),
            (1, 1, 0)
        );
        assert!(!dir.has_log());
    }

    #[test]
    fn new_refuses_bad_paths_and_limits() {
        let dir = Dir::new("new");
        let missing = dir.path.join("missing.sh");
        let plain = dir.path.join("plain.sh");
        fs::write(&plain, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
        for (path, why) in [
            (missing, "No such file"),
            (plain, "not executable"),
            (dir.path.clone(), "not a regular file"),
        ] {
            let mut c = cfg(path.clone());
            c.dry_run = true;
            let msg = Hook::new(c).unwrap_err().to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let good = dir.script("hook.sh", "exit 0\n");
        let limits: [fn(&mut HookConfig); 5] = [
            |c| c.ttl = Duration::ZERO,
            |c| c.timeout = Duration::ZERO,
            |c| c.rate_per_sec = 0.0,
            |c| c.rate_per_sec = -1.0,
            |c| c.rate_per_sec = f64::NAN,
        ];
        for set in limits {
            let mut c = cfg(good.clone());
            set(&mut c);
            assert!(matches!(Hook::new(c), Err(Error::Usage(_))));
        }
        assert!(Hook::new(cfg(good)).is_ok());
    }

    #[test]
    fn cidr_parses_masks_and_displays() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!(
            "192.168.1.7".parse::<Cidr>().unwrap().to_string(),
            "192.168.1.7/32"
        );
        assert_eq!(
            "2001:db8::1".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert_eq!(
            "2001:db8:ff::/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
    }

    #[test]
    fn cidr_parse_errors_name_the_text_and_why() {
        for (text, why) in [
            ("10.0.0.0/33", "prefix length `33`"),
            ("2001:db8::/129", "prefix length `129`"),
            ("10.0.0.0/x", "prefix length `x`"),
            ("10.0.0.0/", "prefix length ``"),
            ("banana", "`banana` is not an IP address"),
            ("/8", "`` is not an IP address"),
        ] {
            let msg = text.parse::<Cidr>().unwrap_err().to_string();
            assert!(msg.contains(&format!("`{text}`")), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
    }

    #[test]
    fn cidr_contains_v4_v6_and_mapped() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(v4.contains(ip("10.255.0.1")));
        assert!(!v4.contains(ip("11.0.0.1")));
        assert!(v4.contains(ip("::ffff:10.0.0.1")));
        assert!(!v4.contains(ip("::a00:1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("2001:db8::1")));
        assert!("1.2.3.4".parse::<Cidr>().unwrap().contains(ip("1.2.3.4")));
    }

    #[test]
    fn block_side_and_outcome_labels() {
        assert_eq!("src".parse::<BlockSide>(), Ok(BlockSide::Src));
        assert_eq!("dst".parse::<BlockSide>(), Ok(BlockSide::Dst));
        assert!("both".parse::<BlockSide>().unwrap_err().contains("`both`"));
        assert_eq!(BlockSide::Dst.to_string(), "dst");
        assert_eq!(BlockSide::default(), BlockSide::Src);
        let labels: Vec<&str> = Outcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(
            labels,
            [
                "blocked",
                "dry_run",
                "already_blocked",
                "allow_listed",
                "invalid",
                "rate_limited",
                "failed",
                "timed_out"
            ]
        );
        assert!(Outcome::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
