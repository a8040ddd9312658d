//! How far each output sink (the alert writer, the flow CSV) has written,
//! so that when one fails the others stop a fixed number of batches later,
//! whatever the thread timing, and the first failure is the one reported.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How far each sink has written, so that outputs stop together and
/// deterministically when one fails: a sink writes batch `k` only once every
/// other sink has written batch `k - SINK_SLACK`. When a sink fails at batch
/// `k` (having written `0..k`), every other sink writes exactly the batches
/// `0..k + SINK_SLACK` (those that exist) and stops.
pub(super) struct SinkProgress {
    state: Mutex<Vec<Progress>>,
    changed: Condvar,
}

/// What a sink may do with its next batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// Write it.
    Go,
    /// Not yet: another sink is too far behind.
    Wait,
    /// Never: another sink failed before it; stop.
    Stop,
}

/// Batches a sink may run ahead of the slowest other sink.
const SINK_SLACK: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Progress {
    /// This many batches written so far.
    Written(u64),
    /// Failed after writing this many batches.
    Failed(u64),
    /// Done: every batch it will ever get is written.
    Done,
}

impl SinkProgress {
    /// Progress of `sinks` sinks, none written yet.
    pub(super) fn new(sinks: usize) -> Self {
        SinkProgress {
            state: Mutex::new(vec![Progress::Written(0); sinks]),
            changed: Condvar::new(),
        }
    }

    fn update(&self, id: usize, f: impl FnOnce(&mut Progress)) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = st.get_mut(id) {
            f(p);
        }
        self.changed.notify_all();
    }

    /// Whether sink `id` may write batch `k` (0-based) now.
    fn turn(st: &[Progress], id: usize, k: u64) -> Turn {
        let need = k.saturating_sub(SINK_SLACK - 1);
        let mut turn = Turn::Go;
        for (j, p) in st.iter().enumerate() {
            match *p {
                _ if j == id => {}
                Progress::Done => {}
                Progress::Written(n) | Progress::Failed(n) if n >= need => {}
                Progress::Failed(_) => return Turn::Stop,
                Progress::Written(_) => turn = Turn::Wait,
            }
        }
        turn
    }

    /// Waits until sink `id` may write batch `k` (0-based), or another sink
    /// failed too early for it (`Stop`), or `timeout` passed (`Wait`; `None`
    /// waits as long as it takes).
    pub(super) fn wait_turn(&self, id: usize, k: u64, timeout: Option<Duration>) -> Turn {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let turn = Self::turn(&st, id, k);
            if turn != Turn::Wait {
                return turn;
            }
            st = match deadline {
                None => self
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Turn::Wait;
                    }
                    self.changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// True when sink `id` must stop before batch `k`: another sink failed
    /// too early for it. Checked after each batch, so a sink stops as soon
    /// as it has written its last one, not when the next batch comes.
    pub(super) fn must_stop(&self, id: usize, k: u64) -> bool {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::turn(&st, id, k) == Turn::Stop
    }

    /// Sink `id` wrote one more batch.
    pub(super) fn wrote(&self, id: usize) {
        self.update(id, |p| {
            if let Progress::Written(n) = p {
                *n += 1;
            }
        });
    }

    /// Sink `id` stopped: `ok` when it wrote everything it will ever get
    /// (or stopped with another), else it failed.
    pub(super) fn finish(&self, id: usize, ok: bool) {
        self.update(id, |p| {
            *p = match (*p, ok) {
                (_, true) => Progress::Done,
                (Progress::Written(n), false) => Progress::Failed(n),
                (other, false) => other,
            }
        });
    }

    /// The sink that failed with the fewest batches written (the first to fail).
    pub(super) fn first_failed(&self) -> Option<usize> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.iter()
            .enumerate()
            .filter_map(|(j, p)| match p {
                Progress::Failed(n) => Some((*n, j)),
                _ => None,
            })
            .min()
            .map(|(_, j)| j)
    }
}
