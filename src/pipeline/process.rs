//! What the sensor does to its own process: the signal flags (SIGINT and
//! SIGTERM stop, SIGHUP reopens the outputs) and the privilege drop once
//! the capture and the outputs are open.

use crate::error::Error;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// SIGINT/SIGTERM (stop) and SIGHUP (reopen outputs), as flags.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Set by SIGINT or SIGTERM.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP; cleared by the alert writer once it reopened its file.
    pub reopen_alerts: Arc<AtomicBool>,
    /// Set by SIGHUP; cleared by the flow CSV stage once it reopened its file.
    pub reopen_csv: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. A second SIGINT or SIGTERM while stopping
    /// ends the process at once.
    pub fn install() -> Result<Signals, Error> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reopen_alerts: Arc::new(AtomicBool::new(false)),
            reopen_csv: Arc::new(AtomicBool::new(false)),
        };
        let err =
            |e: std::io::Error| Error::Internal(format!("cannot install signal handlers: {e}"));
        for sig in [SIGINT, SIGTERM] {
            flag::register_conditional_shutdown(sig, 130, Arc::clone(&s.stop)).map_err(err)?;
            flag::register(sig, Arc::clone(&s.stop)).map_err(err)?;
        }
        for reopen in [&s.reopen_alerts, &s.reopen_csv] {
            flag::register(SIGHUP, Arc::clone(reopen)).map_err(err)?;
        }
        Ok(s)
    }
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
