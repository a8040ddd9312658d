//! The runner: the thread that runs the hook's jobs one at a time, fed by
//! the bounded queue [`Hook`](super::Hook) fills, and each run of the
//! executable.
//!
//! Input: [`Job`]s on a channel; output: one [`Report`] per job, in order.
//! Invariants: the executable runs directly (no shell) as the leader of a
//! process group of its own; a run past the timeout has its whole group
//! killed and is reaped; stdin is written and stderr read (the first
//! [`STDERR_LIMIT`] bytes kept) on helper threads, so a hook that ignores its
//! input or writes much cannot stall the runner; after `pause_after` failed
//! runs in a row, the jobs of the next `pause` are answered as skipped.

use super::{HookConfig, JobId, Limits};
use crate::error::Error;
use crossbeam::channel::{bounded, unbounded, Receiver, Sender};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a running hook is checked for its exit.
const POLL: Duration = Duration::from_millis(5);
/// How much of a failing hook's stderr is kept.
const STDERR_LIMIT: u64 = 4096;
/// How long to wait for a failed hook's stderr after it exited.
const STDERR_GRACE: Duration = Duration::from_millis(100);

/// The runner's answer to one job.
#[derive(Debug)]
pub struct Report {
    pub(super) id: JobId,
    pub(super) result: RunResult,
    /// Calls are paused until then, starting with this job's failure.
    pub(super) pause: Option<Instant>,
}

/// How one job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunResult {
    /// The hook exited 0.
    Done,
    /// The hook could not run or exited non-zero.
    Failed,
    /// The hook ran past the timeout and was killed.
    TimedOut,
    /// Not run: calls were paused.
    Skipped,
}

/// What a job asks the hook to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
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
pub(super) struct Job {
    pub(super) id: JobId,
    pub(super) verb: Verb,
    pub(super) call: Call,
}

/// What a run of the hook is given besides its verb. A `block` and the
/// `unblock` that ends it get the same.
#[derive(Debug, Clone)]
pub(super) struct Call {
    /// The arguments after the verb.
    pub(super) args: Vec<String>,
    /// The alert's EVE JSON line, for stdin.
    pub(super) json: Vec<u8>,
    /// The address to block (`FLOWSENTINEL_TARGET`).
    pub(super) target: IpAddr,
}

/// The runner thread's ends.
#[derive(Debug)]
pub(super) struct Runner {
    /// `None` once closed by [`Hook::finish`](super::Hook::finish).
    pub(super) jobs: Option<Sender<Job>>,
    pub(super) reports: Receiver<Report>,
    pub(super) thread: Option<thread::JoinHandle<()>>,
}

impl Runner {
    /// Starts the runner thread, with a queue of `limits.queue` jobs.
    pub(super) fn start(cfg: &HookConfig, limits: Limits) -> Result<Runner, Error> {
        let (jobs, queue) = bounded(limits.queue);
        let (done, reports) = unbounded();
        let run_cfg = cfg.clone();
        let thread = thread::Builder::new()
            .name("ips-hook".into())
            .spawn(move || run_jobs(&run_cfg, limits, &queue, &done))
            .map_err(|e| Error::Internal(format!("cannot start the IPS hook thread: {e}")))?;
        Ok(Runner {
            jobs: Some(jobs),
            reports,
            thread: Some(thread),
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
        let (verb, target) = (job.verb.as_str(), job.call.target);
        let result = if paused_until.is_some_and(|until| Instant::now() < until) {
            if job.verb == Verb::Unblock {
                eprintln!("ips hook: {path} unblock {target}: not run (calls paused)");
            }
            RunResult::Skipped
        } else {
            match run_hook(cfg, verb, &job.call.args, &job.call.json, target) {
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
pub(super) fn check_executable(path: &Path) -> Result<(), Error> {
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
    use super::super::test_support::*;
    use super::super::*;
    use super::*;

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
}
