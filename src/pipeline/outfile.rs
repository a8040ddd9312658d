//! Output files of newline-terminated records (EVE JSON lines, CSV rows)
//! that survive write failures without losing track of anything.
//!
//! Records are written a batch at a time, unbuffered, so a failure is known
//! to the byte: whole records that reached the file stay, a record cut in the
//! middle is cut off again (the file is truncated back to the last whole
//! record), and every record that did not reach the file is counted as lost.
//! [`OnOutputError`] decides what a failure does to the run: stop with an
//! error, or log it, count, and try again with the next batch, so writing
//! resumes once the disk has space or the file is writable again.

use crate::error::Error;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a failure that goes on is logged again.
const RELOG: Duration = Duration::from_secs(10);

/// What a failing output (alerts file, flow CSV) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOutputError {
    /// Log the error, flush what can be flushed and end the run with an error.
    Stop,
    /// Log the error, count every record that could not be written, and keep
    /// trying: writing resumes once the output works again.
    Continue,
}

impl std::str::FromStr for OnOutputError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stop" => Ok(Self::Stop),
            "continue" => Ok(Self::Continue),
            _ => Err(format!("expected stop or continue, got {s:?}")),
        }
    }
}

/// Counters of one output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Records written.
    pub written: u64,
    /// Records that could not be written.
    pub lost: u64,
    /// Writes that failed.
    pub errors: u64,
}

/// An output file (or standard output for `-`) of whole records.
pub(super) struct OutFile {
    /// `None`: standard output.
    file: Option<File>,
    path: PathBuf,
    /// "alerts", "flow CSV": for messages.
    what: &'static str,
    policy: OnOutputError,
    stats: OutputStats,
    /// Failing since this write (for messages), and when that was last logged.
    failing: Option<(u64, Instant)>,
    /// A record was cut and could not be cut off: the next write starts
    /// with a newline so the records after it stay whole.
    broken_line: bool,
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn open_file(path: &Path, append: bool) -> Result<Option<File>, Error> {
    if is_stdout(path) {
        return Ok(None);
    }
    let err = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    // Always O_APPEND (a file truncated by someone else is written from its
    // new end); a fresh output is emptied once, here.
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    // Devices and pipes (/dev/null, a FIFO) have no length to reset.
    if !append && f.metadata().is_ok_and(|m| m.is_file()) {
        f.set_len(0).map_err(err)?;
    }
    Ok(Some(f))
}

/// Records in `b`: its newline count.
fn records(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

impl OutFile {
    /// Opens (creates, or with `append` appends to) `path`.
    pub(super) fn open(
        path: &Path,
        append: bool,
        what: &'static str,
        policy: OnOutputError,
    ) -> Result<Self, Error> {
        Ok(Self {
            file: open_file(path, append)?,
            path: path.to_path_buf(),
            what,
            policy,
            stats: OutputStats::default(),
            failing: None,
            broken_line: false,
        })
    }

    /// The counters so far.
    pub(super) fn stats(&self) -> OutputStats {
        self.stats
    }

    /// True when nothing has been written to the file yet (a CSV then
    /// needs its header).
    pub(super) fn is_empty(&self) -> bool {
        match self.file.as_ref().and_then(|f| f.metadata().ok()) {
            Some(m) if m.is_file() => m.len() == 0,
            _ => self.stats.written == 0,
        }
    }

    fn error(&self, source: io::Error) -> Error {
        Error::Output {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes `b` as-is: whole, newline-terminated records.
    fn raw(&mut self, b: &[u8]) -> (usize, Option<io::Error>) {
        let mut done = 0;
        // Standard output is locked only when it is the output: a file's
        // write must never wait on another output's.
        let mut stdout = None;
        let out: &mut dyn Write = match self.file.as_mut() {
            Some(f) => f,
            None => stdout.insert(io::stdout().lock()),
        };
        while done < b.len() {
            match out.write(&b[done..]) {
                Ok(0) => return (done, Some(io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (done, Some(e)),
            }
        }
        if let Err(e) = out.flush() {
            return (done, Some(e));
        }
        (done, None)
    }

    /// Writes a batch of whole records. A failure is handled per the policy:
    /// `Stop` returns the error, `Continue` logs it, counts the records lost
    /// and returns `Ok`.
    pub(super) fn write(&mut self, b: &[u8]) -> Result<(), Error> {
        if b.is_empty() {
            return Ok(());
        }
        if self.broken_line {
            if let (_, Some(e)) = self.raw(b"\n") {
                return self.failed(b, 0, e);
            }
            self.broken_line = false;
        }
        let start = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let (done, err) = self.raw(b);
        let Some(e) = err else {
            self.stats.written += records(b);
            if let Some((lost_before, _)) = self.failing.take() {
                eprintln!(
                    "flowsentinel: {} output {}: writing again; {} records were lost while it failed",
                    self.what,
                    self.path.display(),
                    self.stats.lost - lost_before
                );
            }
            return Ok(());
        };
        // Keep the whole records that made it; cut off a partial one.
        let whole = b[..done]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        if done > whole {
            let cut = match (&self.file, start) {
                (Some(f), Some(at)) => f.set_len(at + whole as u64).is_ok(),
                _ => false,
            };
            self.broken_line = !cut;
        }
        self.stats.written += records(&b[..whole]);
        self.failed(b, whole, e)
    }

    /// Counts and logs a failed write of `b`, of which `whole` bytes of
    /// whole records reached the file.
    fn failed(&mut self, b: &[u8], whole: usize, e: io::Error) -> Result<(), Error> {
        let lost = records(&b[whole..]);
        self.stats.lost += lost;
        self.stats.errors += 1;
        let now = Instant::now();
        match self.policy {
            OnOutputError::Stop => {
                eprintln!(
                    "flowsentinel: error: {} output {}: {e}: {lost} records not written; stopping (on_output_error = stop)",
                    self.what,
                    self.path.display()
                );
                Err(self.error(e))
            }
            OnOutputError::Continue => {
                match self.failing {
                    None => {
                        eprintln!(
                            "flowsentinel: error: {} output {}: {e}: {lost} records lost; continuing (on_output_error = continue), counting what is lost until it is writable again",
                            self.what,
                            self.path.display()
                        );
                        self.failing = Some((self.stats.lost - lost, now));
                    }
                    Some((since, logged)) if now.duration_since(logged) >= RELOG => {
                        eprintln!(
                            "flowsentinel: error: {} output {}: still failing ({e}): {} records lost so far",
                            self.what,
                            self.path.display(),
                            self.stats.lost - since
                        );
                        self.failing = Some((since, now));
                    }
                    Some(_) => {}
                }
                Ok(())
            }
        }
    }

    /// Reopens the file (after it was rotated away), appending.
    pub(super) fn reopen(&mut self) -> Result<(), Error> {
        if self.file.is_none() {
            return Ok(());
        }
        match open_file(&self.path, true) {
            Ok(f) => {
                self.file = f;
                self.broken_line = false;
                Ok(())
            }
            Err(e) if self.policy == OnOutputError::Continue => {
                // Keep the old handle: better an unlinked file than nothing.
                eprintln!("flowsentinel: error: {} output: cannot reopen: {e}; still writing to the old file", self.what);
                self.stats.errors += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "flowsentinel-outfile-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn dev_full_counts_every_record_lost() {
        let dev_full = Path::new("/dev/full");
        if !dev_full.exists() {
            return;
        }
        let mut f = OutFile::open(dev_full, true, "alerts", OnOutputError::Continue)
            .expect("open /dev/full");
        f.write(b"a\nb\n").expect("continue");
        f.write(b"c\n").expect("continue");
        assert_eq!(
            f.stats(),
            OutputStats {
                written: 0,
                lost: 3,
                errors: 2
            }
        );
        let mut g =
            OutFile::open(dev_full, true, "alerts", OnOutputError::Stop).expect("open /dev/full");
        let e = g.write(b"a\n").expect_err("stop");
        assert!(e.to_string().contains("/dev/full"), "{e}");
        assert_eq!(g.stats().lost, 1);
    }

    #[test]
    fn appends_truncates_and_reopens() {
        let p = tmp("reopen");
        std::fs::write(&p, "old\n").expect("write");
        let mut f = OutFile::open(&p, true, "alerts", OnOutputError::Stop).expect("open");
        assert!(!f.is_empty());
        f.write(b"new\n").expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "old\nnew\n");
        let rotated = tmp("reopen.1");
        std::fs::rename(&p, &rotated).expect("rotate");
        f.reopen().expect("reopen");
        assert!(f.is_empty());
        f.write(b"after\n").expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "after\n");
        let g = OutFile::open(&p, false, "alerts", OnOutputError::Stop).expect("open");
        assert!(g.is_empty());
        assert_eq!(f.stats().written, 2);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(&rotated);
    }
}
