//! The inference stage: orders the flows the workers finished and scores
//! them in batches, then hands every scored batch to each sink.
//!
//! An epoch is released once every worker has answered it, its flows
//! sorted by (last packet, first packet, key), so flow order, and with it
//! the windows of sequence models, is the same for any worker count. A
//! batch runs when B flows are ready or T has passed since the first of
//! them arrived.

use super::counters::{Counter, Metrics};
use super::worker::{Finished, Item};
use crate::error::Error;
use crate::infer::{FlowRow, Model, Scored};
use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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

/// A scored batch: flows in release order with their verdicts.
pub(super) struct Batch {
    /// The flows.
    pub(super) items: Vec<Item>,
    /// Their verdicts, in the same order.
    pub(super) scored: Scored,
}

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// Flows per batch (B).
    pub(super) size: usize,
    /// The longest a ready flow waits for its batch to fill (T).
    pub(super) timeout: Duration,
}

/// `to.extend(items)`, but a move when `to` is empty: the end-of-input
/// drain hands over every open flow at once.
fn append(to: &mut Vec<Item>, items: Vec<Item>) {
    if to.is_empty() {
        *to = items;
    } else {
        to.extend(items);
    }
}

/// Scores batches and sends each to every sink.
struct Scorer<'a> {
    model: Model,
    sinks: Vec<Sender<Arc<Batch>>>,
    size: usize,
    batches: u64,
    metrics: &'a Metrics,
}

impl Scorer<'_> {
    /// Scores `ready` in batches of at most B; false once a sink is gone.
    fn run(&mut self, ready: Vec<Item>) -> Result<bool, Error> {
        // Batches are taken off the front by moving out, never by shifting
        // the rest: the drain at the end of input can hold millions of flows.
        let mut all = ready.into_iter();
        loop {
            let items: Vec<Item> = all.by_ref().take(self.size).collect();
            if items.is_empty() {
                return Ok(true);
            }
            let rows: Vec<FlowRow> = items.iter().map(Item::row).collect();
            let scored = self.model.score(&rows)?;
            self.batches += 1;
            self.metrics.set(Counter::Batches, self.batches);
            let batch = Arc::new(Batch { items, scored });
            // A sink that is gone (failed, or stopped with one that failed)
            // gets nothing more; the others get every batch they take.
            self.sinks
                .retain(|sink| sink.send(Arc::clone(&batch)).is_ok());
            if self.sinks.is_empty() {
                return Ok(false);
            }
        }
    }
}

/// Runs the stage until every worker has finished (or a sink is gone);
/// returns the number of batches.
pub(super) fn run(
    rx: Receiver<Finished>,
    workers: usize,
    model: Model,
    sinks: Vec<Sender<Arc<Batch>>>,
    batching: Batching,
    metrics: &Metrics,
) -> Result<u64, Error> {
    let size = batching.size.max(1);
    let mut scorer = Scorer {
        model,
        sinks,
        size,
        batches: 0,
        metrics,
    };
    let mut pending: BTreeMap<u64, (usize, Vec<Item>)> = BTreeMap::new();
    let mut ready: Vec<Item> = Vec::new();
    let mut since: Option<Instant> = None;
    loop {
        let msg = match since {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout(batching.timeout.saturating_sub(t.elapsed())),
        };
        match msg {
            Ok(f) => {
                let slot = pending.entry(f.epoch).or_default();
                slot.0 += 1;
                append(&mut slot.1, f.items);
                while let Some(first) = pending.first_entry() {
                    if first.get().0 < workers {
                        break;
                    }
                    let (_, mut items) = first.remove();
                    items.sort_unstable_by_key(Item::sort_key);
                    append(&mut ready, items);
                }
                if !ready.is_empty() && since.is_none() {
                    since = Some(Instant::now());
                }
                if ready.len() >= size {
                    let full = ready.len() - ready.len() % size;
                    let head: Vec<Item> = ready.drain(..full).collect();
                    if !scorer.run(head)? {
                        return Ok(scorer.batches);
                    }
                    since = (!ready.is_empty()).then(Instant::now);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !scorer.run(std::mem::take(&mut ready))? {
                    return Ok(scorer.batches);
                }
                since = None;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Every worker has finished: whatever is pending is complete.
    for (_, (_, mut items)) in std::mem::take(&mut pending) {
        items.sort_unstable_by_key(Item::sort_key);
        append(&mut ready, items);
    }
    scorer.run(ready)?;
    Ok(scorer.batches)
}
