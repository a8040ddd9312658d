//! The IPS hook's state: [`Hook`] with its blocked targets, runs in flight,
//! back-offs, rate-limit bucket and counters, and the record types it keeps.
//! `policy` decides on alerts with it and `jobs` keeps its runs' books; both
//! build on this file, never on each other's state.

use super::runner::{check_executable, Call, Runner, Verb};
use super::{HookConfig, HookStats, JobId, Limits, Outcome};
use crate::error::Error;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

/// A job queued or running, as the policy side remembers it.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) verb: Verb,
    /// The target as the dedupe key (IPv4-mapped IPv6 as IPv4).
    pub(super) key: IpAddr,
    /// What the run is given; kept for the [`Active`] entry of a block that
    /// succeeds.
    pub(super) call: Call,
    /// Alerts for the same target that came while this block was in flight.
    pub(super) followers: u64,
}

/// A blocked target, kept until its `unblock` is queued.
#[derive(Debug)]
pub(super) struct Active {
    /// When its TTL ends.
    pub(super) expires: Instant,
    /// What its `block` run was given, for its `unblock` run.
    pub(super) call: Call,
}

/// The hook's policy: decides per alert, queues runs for the runner thread
/// and keeps the books when they settle. Never waits for a run.
#[derive(Debug)]
pub struct Hook {
    pub(super) cfg: HookConfig,
    pub(super) limits: Limits,
    /// Blocked targets by address (IPv4-mapped IPv6 as IPv4).
    pub(super) active: HashMap<IpAddr, Active>,
    /// Jobs queued or running.
    pub(super) in_flight: HashMap<JobId, InFlight>,
    /// The block in flight per target.
    pub(super) pending: HashMap<IpAddr, JobId>,
    /// Targets whose block failed, until when they are left alone.
    pub(super) backoff: HashMap<IpAddr, Instant>,
    /// No calls until then (failures in a row).
    pub(super) paused_until: Option<Instant>,
    /// `None` in dry run, and once finished or gone.
    pub(super) runner: Option<Runner>,
    pub(super) next_id: u64,
    pub(super) tokens: f64,
    pub(super) refilled: Option<Instant>,
    counts: [u64; Outcome::ALL.len()],
    pub(super) unblocked: u64,
    pub(super) unblock_failed: u64,
    pub(super) pauses: u64,
    /// When "queue full" was last logged, and how many since.
    pub(super) full_logged: Option<Instant>,
    pub(super) full_since_log: u64,
}

impl Hook {
    /// Checks that the path is an executable regular file (in dry run too)
    /// and starts the runner thread (not in dry run). The TTL, timeout and
    /// rate are taken as [`HookConfig`] says they are: `config` checked them.
    pub fn new(cfg: HookConfig) -> Result<Hook, Error> {
        Hook::with_limits(cfg, Limits::default())
    }

    /// [`Hook::new`] with other queue and failure limits (tests shorten them).
    pub(super) fn with_limits(mut cfg: HookConfig, limits: Limits) -> Result<Hook, Error> {
        check_executable(&cfg.path)?;
        // A bare file name would be looked up in PATH; run the one checked.
        if cfg.path.parent() == Some(Path::new("")) {
            cfg.path = Path::new(".").join(&cfg.path);
        }
        let runner = if cfg.dry_run {
            None
        } else {
            Some(Runner::start(&cfg, limits)?)
        };
        Ok(Hook {
            tokens: cfg.rate_per_sec.max(1.0),
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

    /// Adds `n` alerts to an outcome's count.
    pub(super) fn count(&mut self, outcome: Outcome, n: u64) {
        if let Some(c) = self.counts.get_mut(outcome as usize) {
            *c += n;
        }
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

    /// Dry run: logs what would run.
    pub(super) fn dry_run(&self, verb: &str, call: &Call) {
        let (path, args, side) = (self.cfg.path.display(), call.args.join(" "), self.cfg.side);
        let target = call.target;
        eprintln!("ips hook (dry run): would run {path} {verb} {args} (FLOWSENTINEL_TARGET={target} FLOWSENTINEL_BLOCK={side})");
    }
}
