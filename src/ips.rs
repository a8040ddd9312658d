//! The IPS hook: turns alerts into `block` / `unblock` runs of an operator's
//! executable (`--ips-hook PATH`).
//!
//! The hook runs directly, never through a shell, as `PATH block SRC_IP
//! SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL_SECONDS` (SCORE with four
//! decimals, the TTL in whole seconds rounded up) with the alert's EVE JSON
//! line on stdin, and with `FLOWSENTINEL_TARGET=<address>` and
//! `FLOWSENTINEL_BLOCK=src|dst` in its environment: the address to block. When
//! the TTL ends, [`Hook::expire`] queues `PATH unblock` with the same arguments
//! and JSON.
//!
//! Two parts. [`Hook`] is the policy, kept by its caller (the output writer):
//! it decides per alert in microseconds and never waits. The runs happen on
//! one runner thread, fed by a bounded queue of [`QUEUE`] jobs; their results
//! come back through [`Hook::poll`] (or [`Hook::finish`] at the end), each
//! block run as a [`Settled`] that names the alert's [`JobId`].
//!
//! Invariants:
//! * Each alert goes through validation of the target (never an unspecified,
//!   loopback, multicast or broadcast address), the allow-list, dedupe (not
//!   again while its TTL runs, nor while a block of it is queued or running),
//!   the back-off (not for [`BACKOFF`] after a block of it failed or timed
//!   out), the pause (no calls for [`PAUSE`] after [`PAUSE_AFTER`] failed
//!   calls in a row), the rate limit (a token bucket), then the queue (full:
//!   refused, counted, logged at most every 10 s); the first step that refuses
//!   decides the [`Outcome`]. Nothing here blocks the caller.
//! * A run is bounded by the timeout, then its whole process group is killed
//!   and the hook reaped. A failing or hanging hook is counted and logged (one
//!   stderr line starting with `ips hook:`). Only exit 0 records the target.
//! * Stdin is written and stderr read (first 4 KiB kept) on helper threads, so
//!   a hook that ignores its input or writes much cannot stall the runner.
//! * Every queued job is answered: at [`Hook::finish`] the queue is closed and
//!   every job left runs (or is skipped while calls are paused) and settles.
//! * Dry run runs nothing and queues nothing: it logs what would run and
//!   records the target, so that dedupe and the `unblock` logging still work.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::error::Error;
use crossbeam::channel::{bounded, unbounded, Receiver, Sender, TryRecvError, TrySendError};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
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
/// Jobs (`block` and `unblock` runs) waiting for the runner, at most.
pub const QUEUE: usize = 256;
/// After a target's `block` run failed or timed out, its alerts call nothing
/// for this long (outcome `backoff`).
pub const BACKOFF: Duration = Duration::from_secs(30);
/// This many failed or timed-out runs in a row pause every call ...
pub const PAUSE_AFTER: u32 = 3;
/// ... for this long (outcome `paused`).
pub const PAUSE: Duration = Duration::from_secs(30);
/// "Queue full" is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The queue and failure limits (the constants above; tests shorten them).
#[derive(Debug, Clone, Copy)]
struct Limits {
    queue: usize,
    backoff: Duration,
    pause_after: u32,
    pause: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue: QUEUE,
            backoff: BACKOFF,
            pause_after: PAUSE_AFTER,
            pause: PAUSE,
        }
    }
}

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
    /// The target is blocked already (its TTL still runs, or it came while
    /// the block that succeeded was queued or running).
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
    /// A block of the target failed or timed out within [`BACKOFF`] (or
    /// while this alert waited for it): not called again.
    Backoff,
    /// Calls are paused after [`PAUSE_AFTER`] failures in a row.
    Paused,
    /// The runner's queue was full.
    QueueFull,
}

impl Outcome {
    /// Every outcome, in order.
    pub const ALL: [Outcome; 11] = [
        Outcome::Blocked,
        Outcome::DryRun,
        Outcome::AlreadyBlocked,
        Outcome::AllowListed,
        Outcome::Invalid,
        Outcome::RateLimited,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::Backoff,
        Outcome::Paused,
        Outcome::QueueFull,
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
            Outcome::Backoff => "backoff",
            Outcome::Paused => "paused",
            Outcome::QueueFull => "queue_full",
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
    /// `unblock` runs that failed, timed out or could not be queued.
    pub unblock_failed: u64,
    /// Targets blocked now.
    pub active: usize,
    /// Times calls were paused after failures in a row.
    pub pauses: u64,
    /// Jobs queued or running now.
    pub in_flight: usize,
}

impl HookStats {
    /// The number of alerts with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// Names one queued `block` run, and so the alert that waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(u64);

/// What to do with an alert's line, decided at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Decided and counted now (never [`Outcome::Blocked`]).
    Now(Outcome),
    /// A block of the same target is queued or running: the alert stays
    /// `allowed` and is counted when that block settles (`already_blocked`,
    /// `backoff` or `paused`).
    Joined,
    /// A `block` run was queued for this alert: its outcome comes with
    /// [`Hook::poll`] or [`Hook::finish`] as a [`Settled`] with this id.
    Queued(JobId),
}

/// The outcome of an alert whose `block` run was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The id [`Decision::Queued`] gave.
    pub id: JobId,
    /// Blocked, failed, timed out, or paused (not run).
    pub outcome: Outcome,
}

/// The runner's answer to one job.
#[derive(Debug)]
pub struct Report {
    id: JobId,
    result: RunResult,
    /// Calls are paused until then, starting with this job's failure.
    pause: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunResult {
    Done,
    Failed,
    TimedOut,
    /// Not run: calls were paused.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Block,
    Unblock,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Block => "block",
            Verb::Unblock => "unblock",
        }
    }
}

/// One run for the runner thread.
#[derive(Debug)]
struct Job {
    id: JobId,
    verb: Verb,
    args: Vec<String>,
    json: Vec<u8>,
    target: IpAddr,
}

/// A job queued or running, as the policy side remembers it.
#[derive(Debug)]
struct InFlight {
    verb: Verb,
    key: IpAddr,
    target: IpAddr,
    /// For the [`Active`] entry of a block that succeeds.
    args: Vec<String>,
    json: Vec<u8>,
    /// Alerts for the same target that came while this block was in flight.
    followers: u64,
}

/// A blocked target, kept until its `unblock` is queued.
#[derive(Debug)]
struct Active {
    expires: Instant,
    target: IpAddr,
    args: Vec<String>,
    json: Vec<u8>,
}

/// The runner thread's ends.
#[derive(Debug)]
struct Runner {
    /// `None` once closed by [`Hook::finish`].
    jobs: Option<Sender<Job>>,
    reports: Receiver<Report>,
    thread: Option<thread::JoinHandle<()>>,
}

/// The hook's policy: decides per alert, queues runs for the runner thread
/// and keeps the books when they settle. Never waits for a run.
#[derive(Debug)]
pub struct Hook {
    cfg: HookConfig,
    limits: Limits,
    /// Blocked targets by address (IPv4-mapped IPv6 as IPv4).
    active: HashMap<IpAddr, Active>,
    /// Jobs queued or running.
    in_flight: HashMap<JobId, InFlight>,
    /// The block in flight per target.
    pending: HashMap<IpAddr, JobId>,
    /// Targets whose block failed, until when they are left alone.
    backoff: HashMap<IpAddr, Instant>,
    /// No calls until then (failures in a row).
    paused_until: Option<Instant>,
    /// `None` in dry run, and once finished or gone.
    runner: Option<Runner>,
    next_id: u64,
    tokens: f64,
    refilled: Option<Instant>,
    counts: [u64; Outcome::ALL.len()],
    unblocked: u64,
    unblock_failed: u64,
    pauses: u64,
    /// When "queue full" was last logged, and how many since.
    full_logged: Option<Instant>,
    full_since_log: u64,
}

impl Hook {
    /// Checks the config: the path must be an executable regular file (in dry
    /// run too), the TTL and timeout more than zero, the rate finite and more
    /// than zero. Starts the runner thread (not in dry run).
    pub fn new(cfg: HookConfig) -> Result<Hook, Error> {
        Hook::with_limits(cfg, Limits::default())
    }

    fn with_limits(mut cfg: HookConfig, limits: Limits) -> Result<Hook, Error> {
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
        let runner = if cfg.dry_run {
            None
        } else {
            let (jobs, queue) = bounded(limits.queue);
            let (done, reports) = unbounded();
            let run_cfg = cfg.clone();
            let thread = thread::Builder::new()
                .name("ips-hook".into())
                .spawn(move || run_jobs(&run_cfg, limits, &queue, &done))
                .map_err(|e| Error::Internal(format!("cannot start the IPS hook thread: {e}")))?;
            Some(Runner {
                jobs: Some(jobs),
                reports,
                thread: Some(thread),
            })
        };
        Ok(Hook {
            tokens: rate.max(1.0),
            cfg,
            limits,
            active: HashMap::new(),
            in_flight: HashMap::new(),
            pending: HashMap::new(),
            backoff: HashMap::new(),
            paused_until: None,
            runner,
            next_id: 0,
            refilled: None,
            counts: [0; Outcome::ALL.len()],
            unblocked: 0,
            unblock_failed: 0,
            pauses: 0,
            full_logged: None,
            full_since_log: 0,
        })
    }

    /// Decides what to do with one alert; queues a `block` run when it comes
    /// to that. Never waits.
    pub fn on_alert(&mut self, a: &HookAlert<'_>, now: Instant) -> Decision {
        let decision = self.decide(a, now);
        if let Decision::Now(outcome) = decision {
            self.count(outcome, 1);
        }
        decision
    }

    fn count(&mut self, outcome: Outcome, n: u64) {
        if let Some(c) = self.counts.get_mut(outcome as usize) {
            *c += n;
        }
    }

    fn decide(&mut self, a: &HookAlert<'_>, now: Instant) -> Decision {
        let target = match self.cfg.side {
            BlockSide::Src => a.src,
            BlockSide::Dst => a.dst,
        };
        let key = target.to_canonical();
        if let Some(why) = unblockable(key) {
            let path = self.cfg.path.display();
            eprintln!("ips hook: {path}: not blocking {target} ({why} address)");
            return Decision::Now(Outcome::Invalid);
        }
        if self.cfg.allow.iter().any(|c| c.contains(target)) {
            return Decision::Now(Outcome::AllowListed);
        }
        if self.active.get(&key).is_some_and(|b| now < b.expires) {
            return Decision::Now(Outcome::AlreadyBlocked);
        }
        if let Some(job) = self
            .pending
            .get(&key)
            .and_then(|id| self.in_flight.get_mut(id))
        {
            job.followers += 1;
            return Decision::Joined;
        }
        if self.backoff.get(&key).is_some_and(|&until| now < until) {
            return Decision::Now(Outcome::Backoff);
        }
        if self.paused_until.is_some_and(|until| now < until) {
            return Decision::Now(Outcome::Paused);
        }
        if !self.take_token(now) {
            return Decision::Now(Outcome::RateLimited);
        }
        let args = hook_args(a, self.cfg.ttl);
        if self.cfg.dry_run {
            self.dry_run("block", &args, target);
            let expires = now.checked_add(self.cfg.ttl).unwrap_or(now);
            let json = a.json.to_vec();
            let blocked = Active {
                expires,
                target,
                args,
                json,
            };
            self.active.insert(key, blocked);
            return Decision::Now(Outcome::DryRun);
        }
        let job = InFlight {
            verb: Verb::Block,
            key,
            target,
            args,
            json: a.json.to_vec(),
            followers: 0,
        };
        match self.submit(job) {
            Ok(id) => {
                self.pending.insert(key, id);
                Decision::Queued(id)
            }
            Err(Refused::Full) => {
                self.log_full(now);
                Decision::Now(Outcome::QueueFull)
            }
            Err(Refused::Gone) => {
                let path = self.cfg.path.display();
                eprintln!("ips hook: {path} block {target}: not run (the hook runner is gone)");
                Decision::Now(Outcome::Failed)
            }
        }
    }

    /// Queues a run and remembers it as in flight.
    fn submit(&mut self, job: InFlight) -> Result<JobId, Refused> {
        let tx = self
            .runner
            .as_ref()
            .and_then(|r| r.jobs.as_ref())
            .ok_or(Refused::Gone)?;
        let id = JobId(self.next_id);
        let run = Job {
            id,
            verb: job.verb,
            args: job.args.clone(),
            json: job.json.clone(),
            target: job.target,
        };
        match tx.try_send(run) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Refused::Full),
            Err(TrySendError::Disconnected(_)) => return Err(Refused::Gone),
        }
        self.next_id += 1;
        self.in_flight.insert(id, job);
        Ok(id)
    }

    /// Logs a full queue at most every [`LOG_EVERY`], with the count since.
    fn log_full(&mut self, now: Instant) {
        self.full_since_log += 1;
        if self
            .full_logged
            .is_some_and(|t| now.saturating_duration_since(t) < LOG_EVERY)
        {
            return;
        }
        let (path, n) = (self.cfg.path.display(), self.full_since_log);
        let q = self.limits.queue;
        eprintln!("ips hook: {path}: queue full ({q} runs waiting): {n} alerts not acted on");
        self.full_logged = Some(now);
        self.full_since_log = 0;
    }

    /// Queues `unblock` for every target whose TTL ended by `now`, oldest
    /// first (not rate-limited; each run bounded by the timeout). A target is
    /// forgotten whether its `unblock` succeeds or not; one that cannot be
    /// queued (queue full, calls paused) counts as failed.
    pub fn expire(&mut self, now: Instant) {
        self.backoff.retain(|_, until| now < *until);
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
        }
        let mut due: Vec<(Instant, IpAddr)> = self
            .active
            .iter()
            .filter(|(_, b)| b.expires <= now)
            .map(|(k, b)| (b.expires, *k))
            .collect();
        due.sort_unstable();
        for (_, key) in due {
            let Some(b) = self.active.remove(&key) else {
                continue;
            };
            if self.cfg.dry_run {
                self.dry_run("unblock", &b.args, b.target);
                self.unblocked += 1;
                continue;
            }
            let path = self.cfg.path.display().to_string();
            let target = b.target;
            if self.paused_until.is_some() {
                eprintln!("ips hook: {path} unblock {target}: not run (calls paused)");
                self.unblock_failed += 1;
                continue;
            }
            let job = InFlight {
                verb: Verb::Unblock,
                key,
                target,
                args: b.args,
                json: b.json,
                followers: 0,
            };
            if let Err(why) = self.submit(job) {
                eprintln!("ips hook: {path} unblock {target}: not run ({why})");
                self.unblock_failed += 1;
            }
        }
    }

    /// The runner's reports, for a caller that waits on several channels
    /// (`None` when nothing runs: dry run, finished, or the runner gone).
    pub fn reports(&self) -> Option<&Receiver<Report>> {
        self.runner.as_ref().map(|r| &r.reports)
    }

    /// Takes the runs that ended since the last call, without waiting; the
    /// settled `block` runs are returned.
    pub fn poll(&mut self, now: Instant) -> Vec<Settled> {
        let mut settled = Vec::new();
        loop {
            let report = match self.runner.as_ref().map(|r| r.reports.try_recv()) {
                Some(Ok(report)) => report,
                None | Some(Err(TryRecvError::Empty)) => break,
                Some(Err(TryRecvError::Disconnected)) => {
                    self.runner_gone(now, &mut |s| settled.push(s));
                    break;
                }
            };
            settled.extend(self.settle(report, now));
        }
        settled
    }

    /// Closes the queue and waits for every job left (each bounded by the
    /// timeout, or skipped while calls are paused), handing each settled
    /// `block` run to `each` as it ends. Later alerts get `failed`.
    pub fn finish(&mut self, mut each: impl FnMut(Settled)) {
        let Some(mut runner) = self.runner.take() else {
            return;
        };
        runner.jobs = None;
        while let Ok(report) = runner.reports.recv() {
            if let Some(s) = self.settle(report, Instant::now()) {
                each(s);
            }
        }
        if runner.thread.take().is_some_and(|t| t.join().is_err()) {
            eprintln!("ips hook: the hook runner thread panicked");
        }
        self.runner_gone(Instant::now(), &mut each);
    }

    /// The runner ended: every job still in flight settles as failed.
    fn runner_gone(&mut self, now: Instant, each: &mut dyn FnMut(Settled)) {
        self.runner = None;
        let mut lost: Vec<JobId> = self.in_flight.keys().copied().collect();
        if lost.is_empty() {
            return;
        }
        lost.sort_unstable_by_key(|id| id.0);
        let path = self.cfg.path.display();
        eprintln!(
            "ips hook: {path}: the hook runner ended with {} runs not done; counted as failed",
            lost.len()
        );
        for id in lost {
            let report = Report {
                id,
                result: RunResult::Failed,
                pause: None,
            };
            if let Some(s) = self.settle(report, now) {
                each(s);
            }
        }
    }

    /// Books one report; a `block` run also settles its alert.
    fn settle(&mut self, report: Report, now: Instant) -> Option<Settled> {
        if let Some(until) = report.pause {
            self.paused_until = Some(until);
            self.pauses += 1;
        }
        let job = self.in_flight.remove(&report.id)?;
        if job.verb == Verb::Unblock {
            match report.result {
                RunResult::Done => self.unblocked += 1,
                _ => self.unblock_failed += 1,
            }
            return None;
        }
        if self.pending.get(&job.key) == Some(&report.id) {
            self.pending.remove(&job.key);
        }
        let (outcome, followers) = match report.result {
            RunResult::Done => {
                let expires = now.checked_add(self.cfg.ttl).unwrap_or(now);
                let blocked = Active {
                    expires,
                    target: job.target,
                    args: job.args,
                    json: job.json,
                };
                self.active.insert(job.key, blocked);
                (Outcome::Blocked, Outcome::AlreadyBlocked)
            }
            RunResult::Failed | RunResult::TimedOut => {
                let until = now.checked_add(self.limits.backoff).unwrap_or(now);
                self.backoff.insert(job.key, until);
                let outcome = if report.result == RunResult::Failed {
                    Outcome::Failed
                } else {
                    Outcome::TimedOut
                };
                (outcome, Outcome::Backoff)
            }
            RunResult::Skipped => (Outcome::Paused, Outcome::Paused),
        };
        self.count(outcome, 1);
        self.count(followers, job.followers);
        Some(Settled {
            id: report.id,
            outcome,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> HookStats {
        HookStats {
            outcomes: Outcome::ALL.into_iter().zip(self.counts).collect(),
            unblocked: self.unblocked,
            unblock_failed: self.unblock_failed,
            active: self.active.len(),
            pauses: self.pauses,
            in_flight: self.in_flight.len(),
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

    /// Dry run: logs what would run.
    fn dry_run(&self, verb: &str, args: &[String], target: IpAddr) {
        let (path, args, side) = (self.cfg.path.display(), args.join(" "), self.cfg.side);
        eprintln!("ips hook (dry run): would run {path} {verb} {args} (FLOWSENTINEL_TARGET={target} FLOWSENTINEL_BLOCK={side})");
    }
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy)]
enum Refused {
    Full,
    Gone,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Full => "queue full",
            Refused::Gone => "the hook runner is gone",
        })
    }
}

/// The runner thread: runs the jobs in order, one at a time, and reports
/// each. After `pause_after` failed runs in a row it runs nothing for `pause`
/// (the jobs are answered as skipped), logged once per pause.
fn run_jobs(cfg: &HookConfig, limits: Limits, jobs: &Receiver<Job>, reports: &Sender<Report>) {
    let path = cfg.path.display();
    let mut failures = 0u32;
    let mut paused_until: Option<Instant> = None;
    for job in jobs.iter() {
        let (verb, target) = (job.verb.as_str(), job.target);
        let result = if paused_until.is_some_and(|until| Instant::now() < until) {
            if job.verb == Verb::Unblock {
                eprintln!("ips hook: {path} unblock {target}: not run (calls paused)");
            }
            RunResult::Skipped
        } else {
            match run_hook(cfg, verb, &job.args, &job.json, target) {
                Ok(()) => RunResult::Done,
                Err(e) => {
                    let timed_out = matches!(e, RunError::Killed(_));
                    if job.verb == Verb::Block {
                        let secs = limits.backoff.as_secs_f64();
                        eprintln!("ips hook: {path} block {target}: {e}; {target} is left alone for {secs} s");
                    } else {
                        eprintln!("ips hook: {path} unblock {target}: {e}");
                    }
                    if timed_out {
                        RunResult::TimedOut
                    } else {
                        RunResult::Failed
                    }
                }
            }
        };
        let mut pause = None;
        match result {
            RunResult::Done => failures = 0,
            RunResult::Failed | RunResult::TimedOut => {
                failures += 1;
                if failures >= limits.pause_after {
                    failures = 0;
                    let now = Instant::now();
                    let until = now.checked_add(limits.pause).unwrap_or(now);
                    paused_until = Some(until);
                    pause = Some(until);
                    let (n, secs) = (limits.pause_after, limits.pause.as_secs_f64());
                    eprintln!("ips hook: {path}: {n} runs in a row failed; no runs for {secs} s (alerts counted as paused)");
                }
            }
            RunResult::Skipped => {}
        }
        let report = Report {
            id: job.id,
            result,
            pause,
        };
        if reports.send(report).is_err() {
            break;
        }
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

/// Runs `PATH VERB ARGS...` with `json` on stdin, waiting at most the
/// timeout. The hook leads a process group of its own, so that whatever it
/// starts is killed with it.
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
        .process_group(0)
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

/// Kills the child's process group (the child and whatever it started; the
/// child is not reaped yet, so its id still names its group), reaps the
/// child, and passes `e` on.
fn kill(child: &mut Child, e: RunError) -> RunError {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let group = i32::try_from(child.id()).ok().map(Pid::from_raw);
    // Each fails only when the processes are gone already.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
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

    /// Waits until no job is in flight, taking the reports with `now`; the
    /// settled blocks.
    fn settle_all(hook: &mut Hook, now: Instant) -> Vec<Settled> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut settled = Vec::new();
        while hook.stats().in_flight > 0 {
            assert!(Instant::now() < deadline, "runs still in flight");
            settled.extend(hook.poll(now));
            thread::sleep(Duration::from_millis(2));
        }
        settled
    }

    /// One alert through the hook; a queued block is waited for.
    fn outcome(hook: &mut Hook, a: &HookAlert<'_>, now: Instant) -> Outcome {
        match hook.on_alert(a, now) {
            Decision::Now(o) => o,
            Decision::Joined => panic!("joined a block in flight"),
            Decision::Queued(id) => {
                let settled = settle_all(hook, now);
                assert_eq!(settled.len(), 1, "{settled:?}");
                assert_eq!(settled[0].id, id);
                settled[0].outcome
            }
        }
    }

    /// Whether process `pid` still runs (a zombie does not).
    fn runs(pid: &str) -> bool {
        fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|st| st.rsplit(") ").next().is_some_and(|s| !s.starts_with('Z')))
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
        let got = outcome(&mut hook, &alert("10.0.0.5", "192.168.1.10"), now);
        assert_eq!(got, Outcome::Blocked);
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
            outcome(&mut hook, &alert("10.0.0.5", "2001:db8::7"), now),
            Outcome::Blocked
        );
        assert!(
            dir.log().contains("\nenv: 2001:db8::7 dst\n"),
            "{}",
            dir.log()
        );
        // The destination is the dedupe key: another source, same destination.
        assert_eq!(
            outcome(&mut hook, &alert("10.0.0.6", "2001:db8::7"), now),
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
        assert_eq!(outcome(&mut hook, &a, t0), Outcome::Blocked);
        assert_eq!(hook.next_expiry(), Some(t0 + Duration::from_millis(200)));
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(outcome(&mut hook, &a, t1), Outcome::AlreadyBlocked);
        hook.expire(t1);
        settle_all(&mut hook, t1);
        assert_eq!(hook.stats().unblocked, 0);
        assert_eq!(hook.stats().active, 1);

        hook.expire(t0 + Duration::from_millis(200));
        assert_eq!(hook.stats().in_flight, 1, "unblock queued");
        assert!(settle_all(&mut hook, t0).is_empty());
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
        assert_eq!(outcome(&mut hook, &a, t2), Outcome::Blocked);
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
                outcome(&mut hook, &alert(src, "8.8.8.8"), now),
                Outcome::AllowListed
            );
        }
        assert!(!dir.has_log());
        assert_eq!(
            outcome(&mut hook, &alert("11.0.0.1", "8.8.8.8"), now),
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
                outcome(&mut hook, &alert(src, "8.8.8.8"), now),
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
            outcome(&mut hook, &alert("10.0.0.1", "8.8.8.8"), now),
            Outcome::Blocked
        );
        assert_eq!(
            outcome(&mut hook, &alert("10.0.0.2", "8.8.8.8"), now),
            Outcome::RateLimited
        );
        let later = now + Duration::from_secs(1);
        assert_eq!(
            outcome(&mut hook, &alert("10.0.0.2", "8.8.8.8"), later),
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
        assert_eq!(outcome(&mut hook, &a, now), Outcome::Failed);
        // Not called again for the target within the back-off.
        assert_eq!(outcome(&mut hook, &a, now), Outcome::Backoff);
        let stats = hook.stats();
        assert_eq!((stats.count(Outcome::Failed), stats.active), (1, 0));
        assert_eq!(stats.count(Outcome::Backoff), 1);
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
        // The script and the `sleep` it starts (and waits for) write their pids.
        let body = "d=\"$(dirname \"$0\")\"\necho $$ > \"$d/pid\"\nsleep 30 &\necho $! > \"$d/child\"\nwait\n";
        let mut c = cfg(dir.script("hang.sh", body));
        c.timeout = Duration::from_millis(200);
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        let a = alert("10.0.0.5", "8.8.8.8");
        assert_eq!(outcome(&mut hook, &a, now), Outcome::TimedOut);
        assert_eq!(hook.stats().count(Outcome::TimedOut), 1);
        assert_eq!(hook.stats().active, 0);
        // The whole process group was killed: the script and its child.
        for name in ["pid", "child"] {
            let pid = fs::read_to_string(dir.path.join(name)).unwrap();
            let deadline = Instant::now() + Duration::from_secs(2);
            while runs(&pid) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            assert!(!runs(&pid), "{name} {} still runs", pid.trim());
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
        assert_eq!(outcome(&mut hook, &a, now), Outcome::DryRun);
        assert_eq!(outcome(&mut hook, &a, now), Outcome::AlreadyBlocked);
        hook.expire(now + Duration::from_millis(200));
        assert!(hook.reports().is_none(), "no runner in dry run");
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
                "timed_out",
                "backoff",
                "paused",
                "queue_full"
            ]
        );
        assert!(Outcome::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_hanging_hook_never_makes_the_caller_wait() {
        let dir = Dir::new("async");
        let mut c = cfg(dir.script("hang.sh", "sleep 30\n"));
        c.timeout = Duration::from_millis(300);
        let mut hook = Hook::new(c).unwrap();
        let now = Instant::now();
        let (a, b) = (alert("10.0.0.5", "8.8.8.8"), alert("10.0.0.6", "8.8.8.8"));
        let start = Instant::now();
        let first = hook.on_alert(&a, now);
        assert!(matches!(first, Decision::Queued(_)), "{first:?}");
        // The same target while its block runs: joined, not queued again.
        assert_eq!(hook.on_alert(&a, now), Decision::Joined);
        assert_eq!(hook.on_alert(&a, now), Decision::Joined);
        let second = hook.on_alert(&b, now);
        assert!(matches!(second, Decision::Queued(_)), "{second:?}");
        let took = start.elapsed();
        // Less than one run's timeout: nothing waited for a run.
        assert!(took < Duration::from_millis(300), "on_alert took {took:?}");
        assert_eq!(hook.stats().in_flight, 2);
        assert!(hook.poll(now).is_empty());

        let mut settled = Vec::new();
        hook.finish(|s| settled.push(s));
        let outcomes: Vec<Outcome> = settled.iter().map(|s| s.outcome).collect();
        assert_eq!(outcomes, [Outcome::TimedOut, Outcome::TimedOut]);
        let ids: Vec<Decision> = settled.iter().map(|s| Decision::Queued(s.id)).collect();
        assert_eq!(ids, [first, second]);
        let stats = hook.stats();
        assert_eq!(stats.count(Outcome::TimedOut), 2);
        // The alerts that joined the failed block count as backed off.
        assert_eq!(stats.count(Outcome::Backoff), 2);
        assert_eq!((stats.in_flight, stats.active), (0, 0));
        // After finish nothing runs any more.
        assert!(hook.reports().is_none());
        assert_eq!(
            outcome(&mut hook, &alert("10.0.0.7", "8.8.8.8"), now),
            Outcome::Failed
        );
    }

    #[test]
    fn failures_back_off_the_target_then_pause_every_call() {
        let dir = Dir::new("pause");
        let c = cfg(dir.script("fail.sh", "echo no >&2\nexit 1\n"));
        let limits = Limits {
            pause: Duration::from_millis(400),
            ..Limits::default()
        };
        let mut hook = Hook::with_limits(c, limits).unwrap();
        let now = Instant::now();
        let ip = |n: u8| format!("10.0.0.{n}");
        assert_eq!(
            outcome(&mut hook, &alert(&ip(1), "8.8.8.8"), now),
            Outcome::Failed
        );
        assert_eq!(
            outcome(&mut hook, &alert(&ip(1), "8.8.8.8"), now),
            Outcome::Backoff
        );
        assert_eq!(
            outcome(&mut hook, &alert(&ip(2), "8.8.8.8"), now),
            Outcome::Failed
        );
        assert_eq!(hook.stats().pauses, 0);
        // The third failure in a row pauses every call.
        assert_eq!(
            outcome(&mut hook, &alert(&ip(3), "8.8.8.8"), now),
            Outcome::Failed
        );
        assert_eq!(hook.stats().pauses, 1);
        assert_eq!(
            outcome(&mut hook, &alert(&ip(4), "8.8.8.8"), now),
            Outcome::Paused
        );
        // After the pause (real time: the runner keeps it too), calls resume;
        // the back-off of a target still holds.
        thread::sleep(Duration::from_millis(450));
        let later = Instant::now();
        hook.expire(later);
        assert_eq!(
            outcome(&mut hook, &alert(&ip(1), "8.8.8.8"), later),
            Outcome::Backoff
        );
        assert_eq!(
            outcome(&mut hook, &alert(&ip(4), "8.8.8.8"), later),
            Outcome::Failed
        );
        // Once the back-off ends, the target is tried again.
        let much_later = later + BACKOFF;
        assert_eq!(
            outcome(&mut hook, &alert(&ip(1), "8.8.8.8"), much_later),
            Outcome::Failed
        );
        let stats = hook.stats();
        assert_eq!(stats.count(Outcome::Failed), 5);
        assert_eq!(stats.count(Outcome::Backoff), 2);
        assert_eq!(stats.count(Outcome::Paused), 1);
        assert_eq!(stats.pauses, 1);
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_queued_runs_skip_a_pause() {
        let dir = Dir::new("full");
        let body = "touch \"$(dirname \"$0\")/started\"\nsleep 30\n";
        let mut c = cfg(dir.script("hang.sh", body));
        c.timeout = Duration::from_secs(1);
        let limits = Limits {
            queue: 2,
            pause_after: 1,
            ..Limits::default()
        };
        let mut hook = Hook::with_limits(c, limits).unwrap();
        let now = Instant::now();
        let ip = |n: u8| format!("10.0.0.{n}");
        assert!(matches!(
            hook.on_alert(&alert(&ip(1), "8.8.8.8"), now),
            Decision::Queued(_)
        ));
        // Wait until the runner took the first job off the queue.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dir.path.join("started").exists() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for n in 2..=3 {
            assert!(matches!(
                hook.on_alert(&alert(&ip(n), "8.8.8.8"), now),
                Decision::Queued(_)
            ));
        }
        let start = Instant::now();
        assert_eq!(
            hook.on_alert(&alert(&ip(4), "8.8.8.8"), now),
            Decision::Now(Outcome::QueueFull)
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        // The first run times out and pauses calls: the queued ones are
        // answered without running.
        let mut settled = Vec::new();
        let start = Instant::now();
        hook.finish(|s| settled.push(s.outcome));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            settled,
            [Outcome::TimedOut, Outcome::Paused, Outcome::Paused]
        );
        let stats = hook.stats();
        assert_eq!(stats.count(Outcome::QueueFull), 1);
        assert_eq!(stats.pauses, 1);
    }
}
