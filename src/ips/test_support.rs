//! Test helpers of the IPS hook's unit tests: scripts in a temporary
//! directory, a hook config, alerts, and waiting for queued runs to settle.

use super::{BlockSide, Decision, Hook, HookAlert, HookConfig, Outcome, Settled};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Writing a script while another test thread forks can make running it
/// fail with "text file busy", so tests that write scripts take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// Appends its argv (each in brackets), the two variables and its stdin to
/// `log` next to itself.
pub(super) const LOG_SCRIPT: &str = r#"{
  printf 'argv:'
  for a in "$@"; do printf ' [%s]' "$a"; done
  printf '\nenv: %s %s\nstdin: ' "$FLOWSENTINEL_TARGET" "$FLOWSENTINEL_BLOCK"
  cat
  printf '\n'
} >> "$(dirname "$0")/log"
"#;

/// The alert line the tests pass.
pub(super) const JSON: &[u8] =
    br#"{"event_type":"alert","src_ip":"10.0.0.5","alert":{"signature":"DDoS"}}"#;

/// A fresh temporary directory for one test's scripts, removed when
/// dropped; holding it is the test's turn (see `SERIAL`).
pub(super) struct Dir {
    pub(super) path: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Dir {
    pub(super) fn new(name: &str) -> Dir {
        let turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let path =
            std::env::temp_dir().join(format!("flowsentinel-ips-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir { path, _turn: turn }
    }

    pub(super) fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub(super) fn log(&self) -> String {
        fs::read_to_string(self.path.join("log")).unwrap_or_default()
    }

    pub(super) fn has_log(&self) -> bool {
        self.path.join("log").exists()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A config that runs `path`: TTL 60 s, timeout 5 s, 100 calls a second.
pub(super) fn cfg(path: PathBuf) -> HookConfig {
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
pub(super) fn settle_all(hook: &mut Hook, now: Instant) -> Vec<Settled> {
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
pub(super) fn outcome(hook: &mut Hook, a: &HookAlert<'_>, now: Instant) -> Outcome {
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
pub(super) fn runs(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .is_ok_and(|st| st.rsplit(") ").next().is_some_and(|s| !s.starts_with('Z')))
}

/// An alert from `src` to `dst` (TCP 4444 -> 80) with [`JSON`] as its line.
pub(super) fn alert(src: &str, dst: &str) -> HookAlert<'static> {
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
