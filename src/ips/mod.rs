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
//!   again while it is blocked, that is until its TTL has ended and
//!   [`Hook::expire`] has queued its `unblock`, nor while a block of it is
//!   queued or running),
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
//!
//! Where the parts live: the public types and the limits are here;
//! `policy` holds [`Hook`] and [`Hook::on_alert`] with its checks; `jobs` the
//! jobs in flight, their settling and the TTL expiry; `runner` the runner
//! thread and the runs of the executable. The allow-list's networks are
//! [`Cidr`]s (`crate::cidr`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod hook;
mod jobs;
mod policy;
mod runner;
#[cfg(test)]
mod test_support;

pub use hook::Hook;
pub use runner::Report;

use crate::alert::Alert;
use crate::cidr::Cidr;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The longest TTL accepted (ten years), so that expiry times cannot
/// overflow; `config` refuses a longer `--ips-ttl`.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
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

/// Which address of an alert is blocked (`--ips-block`; the default is
/// [`crate::defaults::IPS_BLOCK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockSide {
    /// The source address.
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

/// How the hook is run. [`crate::config::Settings::build`] makes it, with
/// every value checked there (the limits below); [`Hook::new`] checks only
/// the executable.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// The executable.
    pub path: PathBuf,
    /// How long a target stays blocked before `unblock` runs: more than 0,
    /// at most [`MAX_TTL`].
    pub ttl: Duration,
    /// Networks whose addresses are never blocked.
    pub allow: Vec<Cidr>,
    /// Which address of an alert is blocked.
    pub side: BlockSide,
    /// Log and count what would run, without running anything.
    pub dry_run: bool,
    /// The longest one run may take before it is killed: more than 0.
    pub timeout: Duration,
    /// The most `block` runs per second on average (bursts up to this many):
    /// finite, more than 0.
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

impl<'a> HookAlert<'a> {
    /// The hook's view of `alert`: `label` is its class's name, `proto` its
    /// protocol's and `json` its EVE line (without the newline).
    pub fn of(alert: &Alert, label: &'a str, proto: &'a str, json: &'a [u8]) -> Self {
        let f = &alert.flow;
        HookAlert {
            src: f.src.to_ip(),
            src_port: f.src_port,
            dst: f.dst.to_ip(),
            dst_port: f.dst_port,
            proto,
            label,
            score: alert.verdict.score,
            json,
        }
    }
}

/// What became of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The hook ran and exited 0.
    Blocked,
    /// Dry run: the block was logged, not run.
    DryRun,
    /// The target is blocked already (its `unblock` is not queued yet, or it
    /// came while the block that succeeded was queued or running).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_side_and_outcome_labels() {
        assert_eq!("src".parse::<BlockSide>(), Ok(BlockSide::Src));
        assert_eq!("dst".parse::<BlockSide>(), Ok(BlockSide::Dst));
        assert!("both".parse::<BlockSide>().unwrap_err().contains("`both`"));
        assert_eq!(BlockSide::Dst.to_string(), "dst");
        assert_eq!(crate::defaults::IPS_BLOCK.parse(), Ok(BlockSide::Src));
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
}
