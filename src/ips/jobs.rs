//! The IPS hook's jobs once decided: queuing `block` and `unblock` runs for
//! the runner, settling the runner's [`Report`]s into outcomes, blocked
//! targets, back-offs and pauses, the TTL expiry that queues `unblock`, and
//! the final drain ([`Hook::finish`]).
//!
//! Invariants: every queued job is answered exactly once (by its report, or
//! as failed when the runner is gone); a `block` run settles its alert as a
//! [`Settled`] and the alerts that joined it with the matching outcome
//! (`already_blocked`, `backoff` or `paused`); a target is forgotten when its
//! `unblock` is queued, whether that run succeeds or not.

use super::hook::{Active, Hook, InFlight};
use super::runner::{Job, Report, RunResult, Verb};
use super::{JobId, Outcome, Settled, LOG_EVERY};
use crossbeam::channel::{Receiver, TryRecvError, TrySendError};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

impl Hook {
    /// Queues a run and remembers it as in flight.
    pub(super) fn submit(&mut self, job: InFlight) -> Result<JobId, Refused> {
        let tx = self
            .runner
            .as_ref()
            .and_then(|r| r.jobs.as_ref())
            .ok_or(Refused::Gone)?;
        let id = JobId(self.next_id);
        let run = Job {
            id,
            verb: job.verb,
            call: job.call.clone(),
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
    pub(super) fn log_full(&mut self, now: Instant) {
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
                self.dry_run("unblock", &b.call);
                self.unblocked += 1;
                continue;
            }
            let path = self.cfg.path.display().to_string();
            let target = b.call.target;
            if self.paused_until.is_some() {
                eprintln!("ips hook: {path} unblock {target}: not run (calls paused)");
                self.unblock_failed += 1;
                continue;
            }
            let job = InFlight {
                verb: Verb::Unblock,
                key,
                call: b.call,
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
                    call: job.call,
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
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy)]
pub(super) enum Refused {
    /// The queue is full.
    Full,
    /// The runner is gone (finished, or its thread ended).
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    #[test]
    fn an_alert_after_the_ttl_before_its_expiry_does_not_outlive_the_unblock() {
        let dir = Dir::new("reblock");
        let mut c = cfg(dir.script("hook.sh", LOG_SCRIPT));
        c.ttl = Duration::from_millis(200);
        let mut hook = Hook::new(c).unwrap();
        let t0 = Instant::now();
        let a = alert("10.0.0.5", "8.8.8.8");
        assert_eq!(outcome(&mut hook, &a, t0), Outcome::Blocked);
        // The TTL has ended, but the caller has not called `expire` yet (an
        // alert of a batch handled before the writer's housekeeping).
        let t1 = t0 + Duration::from_millis(200);
        let decision = hook.on_alert(&a, t1);
        hook.expire(t1);
        settle_all(&mut hook, t1);
        // The target's last run decides whether it is blocked; the books
        // must agree with it.
        let log = dir.log();
        let runs: Vec<&str> = log.lines().filter(|l| l.starts_with("argv:")).collect();
        let blocked = runs.last().is_some_and(|l| l.starts_with("argv: [block]"));
        let stats = hook.stats();
        assert_eq!(stats.active == 1, blocked, "{decision:?}\n{log}");
        assert_eq!(decision, Decision::Now(Outcome::AlreadyBlocked));
        assert_eq!((runs.len(), stats.unblocked, stats.active), (2, 1, 0));
        // Once unblocked, the next alert blocks it again.
        assert_eq!(outcome(&mut hook, &a, t1), Outcome::Blocked);
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
