//! The IPS hook's policy: per alert, [`Hook::on_alert`], which
//! decides in microseconds and never waits.
//!
//! Input: a [`HookAlert`] and the time; output: a [`Decision`]. The checks
//! run in the order the module doc of `ips` lists them, and the first that
//! refuses decides, as a named [`Outcome`] (or [`Decision::Joined`]):
//! 1. validation of the target: never an [`Unblockable`] address (`invalid`);
//! 2. the allow-list (`allow_listed`);
//! 3. dedupe: not while the target is blocked (`already_blocked`), nor while
//!    a block of it is queued or running (joined, counted when it settles);
//! 4. the back-off after a failed block of the target (`backoff`);
//! 5. the pause after failures in a row (`paused`);
//! 6. the rate limit, a token bucket (`rate_limited`);
//! 7. then the block: logged in dry run (`dry_run`), else queued for the
//!    runner (`queue_full` when the queue is full).

use super::hook::{Active, Hook, InFlight};
use super::jobs::Refused;
use super::runner::{Call, Verb};
use super::{BlockSide, Decision, HookAlert, Outcome};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

impl Hook {
    /// Decides what to do with one alert; queues a `block` run when it comes
    /// to that. Never waits.
    pub fn on_alert(&mut self, a: &HookAlert<'_>, now: Instant) -> Decision {
        let decision = self.decide(a, now).unwrap_or_else(|refused| refused);
        if let Decision::Now(outcome) = decision {
            self.count(outcome, 1);
        }
        decision
    }

    /// The checks of the module doc, in its order, then the block; the first
    /// check that refuses is the decision (`Err`).
    fn decide(&mut self, a: &HookAlert<'_>, now: Instant) -> Result<Decision, Decision> {
        let target = match self.cfg.side {
            BlockSide::Src => a.src,
            BlockSide::Dst => a.dst,
        };
        let key = target.to_canonical();
        self.check_target(target, key)?;
        self.check_allow_list(target)?;
        self.check_dedupe(key)?;
        self.check_backoff(key, now)?;
        self.check_pause(now)?;
        self.check_rate(now)?;
        Ok(self.block(a, target, key, now))
    }

    /// Check 1, validation: the target must be an address that can be blocked.
    fn check_target(&self, target: IpAddr, key: IpAddr) -> Result<(), Decision> {
        match Unblockable::of(key) {
            None => Ok(()),
            Some(why) => {
                let path = self.cfg.path.display();
                eprintln!("ips hook: {path}: not blocking {target} ({why} address)");
                Err(Decision::Now(Outcome::Invalid))
            }
        }
    }

    /// Check 2, the allow-list: never a target in it.
    fn check_allow_list(&self, target: IpAddr) -> Result<(), Decision> {
        if self.cfg.allow.iter().any(|c| c.contains(target)) {
            return Err(Decision::Now(Outcome::AllowListed));
        }
        Ok(())
    }

    /// Check 3, dedupe: not again while the target is blocked, nor while a
    /// block of it is queued or running (the alert joins that block).
    ///
    /// A target stays blocked until [`Hook::expire`] queues its `unblock`,
    /// also when its TTL has ended a moment before: a `block` queued then
    /// could run before that `unblock`, which would undo it while the books
    /// kept the target blocked for another TTL.
    fn check_dedupe(&mut self, key: IpAddr) -> Result<(), Decision> {
        if self.active.contains_key(&key) {
            return Err(Decision::Now(Outcome::AlreadyBlocked));
        }
        if let Some(job) = self
            .pending
            .get(&key)
            .and_then(|id| self.in_flight.get_mut(id))
        {
            job.followers += 1;
            return Err(Decision::Joined);
        }
        Ok(())
    }

    /// Check 4, the back-off: not while the target backs off after a failed
    /// block.
    fn check_backoff(&self, key: IpAddr, now: Instant) -> Result<(), Decision> {
        if self.backoff.get(&key).is_some_and(|&until| now < until) {
            return Err(Decision::Now(Outcome::Backoff));
        }
        Ok(())
    }

    /// Check 5, the pause: not while calls are paused after failures in a row.
    fn check_pause(&self, now: Instant) -> Result<(), Decision> {
        if self.paused_until.is_some_and(|until| now < until) {
            return Err(Decision::Now(Outcome::Paused));
        }
        Ok(())
    }

    /// Check 6, the rate limit: a token from the bucket, refilled at the
    /// configured rate.
    fn check_rate(&mut self, now: Instant) -> Result<(), Decision> {
        let rate = self.cfg.rate_per_sec;
        if let Some(last) = self.refilled {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        }
        self.refilled = Some(self.refilled.map_or(now, |last| last.max(now)));
        if self.tokens < 1.0 {
            return Err(Decision::Now(Outcome::RateLimited));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// Every check passed: the block is logged (dry run) or queued (step 7).
    fn block(&mut self, a: &HookAlert<'_>, target: IpAddr, key: IpAddr, now: Instant) -> Decision {
        let call = Call {
            args: hook_args(a, self.cfg.ttl),
            json: a.json.to_vec(),
            target,
        };
        if self.cfg.dry_run {
            self.dry_run("block", &call);
            let expires = now.checked_add(self.cfg.ttl).unwrap_or(now);
            self.active.insert(key, Active { expires, call });
            return Decision::Now(Outcome::DryRun);
        }
        let job = InFlight {
            verb: Verb::Block,
            key,
            call,
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
}

/// Why an address cannot be blocked (outcome `invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unblockable {
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
}

impl Unblockable {
    /// Why `ip` cannot be blocked, if it cannot (the first reason that holds,
    /// in the order of the variants).
    fn of(ip: IpAddr) -> Option<Unblockable> {
        let broadcast = ip == IpAddr::V4(Ipv4Addr::BROADCAST);
        [
            (ip.is_unspecified(), Unblockable::Unspecified),
            (ip.is_loopback(), Unblockable::Loopback),
            (ip.is_multicast(), Unblockable::Multicast),
            (broadcast, Unblockable::Broadcast),
        ]
        .into_iter()
        .find_map(|(bad, why)| bad.then_some(why))
    }
}

impl fmt::Display for Unblockable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unblockable::Unspecified => "unspecified",
            Unblockable::Loopback => "loopback",
            Unblockable::Multicast => "multicast",
            Unblockable::Broadcast => "broadcast",
        })
    }
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
    fn new_refuses_bad_paths() {
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
        assert!(Hook::new(cfg(good)).is_ok());
    }
}
