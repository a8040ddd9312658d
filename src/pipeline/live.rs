//! `live`: the sensor's read loop on an interface, and the privilege drop.
//!
//! The capture is non-blocking. The loop reads every frame that is ready,
//! then waits on the descriptor until the next cut; every [`LIVE_CUT`] it
//! ends the epoch with a wall-clock tick (workers expire timed-out flows and
//! take interim snapshots) and publishes the counters, with the kernel's drop
//! counters once a second. SIGINT/SIGTERM end the loop; the caller then
//! flushes every open flow.

use super::sensor::{Feed, ReaderResult, LIVE_CUT};
use super::Reader;
use crate::capture::LiveCapture;
use crate::error::Error;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

/// Wall-clock µs since the epoch.
pub(super) fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Reads the interface until SIGINT/SIGTERM or a capture error.
pub(super) fn read_live(
    mut cap: LiveCapture,
    feed: &mut Feed<'_>,
    t0: Instant,
) -> Result<ReaderResult, Error> {
    let mut reader = Reader::new(false, t0);
    let link = cap.link();
    eprintln!(
        "flowsentinel: capturing on {} ({link:?}); SIGINT/SIGTERM stop and flush, SIGHUP reopens outputs",
        cap.iface()
    );
    let rules = feed.rules;
    let mut next_cut = Instant::now() + LIVE_CUT;
    let mut next_kernel = Instant::now();
    let mut kernel = cap.stats();
    let mut failure = None;
    let mut downstream = true;
    while !feed.stop.load(Relaxed) && downstream {
        // Read what is ready, looking at the clock every 64 frames.
        let mut burst = 0u32;
        loop {
            match cap.next_frame() {
                Ok(Some(frame)) => {
                    if let Some(meta) = reader.decode(&frame, rules) {
                        if !feed.push(meta, 0) {
                            downstream = false;
                            break;
                        }
                    }
                    burst += 1;
                    if burst % 64 == 0 && Instant::now() >= next_cut {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
        let now = Instant::now();
        if now >= next_cut {
            if !feed.cut(0, Some(wall_us()), true) {
                break;
            }
            next_cut = now + LIVE_CUT;
            if now >= next_kernel {
                kernel = cap.stats().or(kernel);
                next_kernel = now + Duration::from_secs(1);
            }
            feed.publish(&reader, kernel);
        } else if burst == 0 {
            cap.wait(next_cut.saturating_duration_since(now));
        }
    }
    // Whatever was read goes to the workers; dropping the senders then ends them.
    kernel = cap.stats().or(kernel);
    feed.cut(0, Some(wall_us()), true);
    feed.publish(&reader, kernel);
    if let Some(e) = failure {
        eprintln!("flowsentinel: {e}; stopping and flushing open flows");
        return Err(e.into());
    }
    Ok(ReaderResult {
        reader,
        kernel,
        queue_dropped: feed.dropped(),
        interrupted: feed.stop.load(Relaxed),
    })
}

/// Switches to `user` (and its primary group, with no supplementary groups)
/// once the capture and the output files are open. Under systemd (which sets
/// `INVOCATION_ID`) the unit's `User=` does this instead, so it is skipped.
pub(super) fn drop_privileges(user: &str) -> Result<(), Error> {
    use nix::unistd::{setgid, setgroups, setuid, Uid, User};
    if std::env::var_os("INVOCATION_ID").is_some() {
        eprintln!("flowsentinel: --user {user} ignored under systemd (the unit's User= applies)");
        return Ok(());
    }
    let usage = |m: String| Error::Usage(format!("--user {user}: {m}"));
    let u = User::from_name(user)
        .map_err(|e| usage(format!("cannot look up the user: {e}")))?
        .ok_or_else(|| usage("no such user".into()))?;
    if Uid::effective() == u.uid {
        return Ok(());
    }
    setgroups(&[u.gid]).map_err(|e| usage(format!("setgroups: {e}")))?;
    setgid(u.gid).map_err(|e| usage(format!("setgid: {e}")))?;
    setuid(u.uid).map_err(|e| usage(format!("setuid: {e}")))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(usage("could regain root after dropping it".into()));
    }
    Ok(())
}
