//! The inference stage: scores the flows the order stage releases, in
//! batches, then hands every scored batch to each sink. A batch runs when
//! B flows are ready or T has passed since the first of them arrived.
//!
//! A flow the address rule leaves unscored ([`crate::unscored`]; the worker
//! marked it) is not scored: it goes to the sinks in its place without a
//! verdict, and enters a sequence model's windows like any other.

use super::counters::{Counter, Metrics};
use super::worker::{append, Item};
use crate::error::Error;
use crate::infer::{FlowRow, Model, Scored};
use crate::unscored::Judged;
use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scored batch: flows in release order with their verdicts.
pub(super) struct Batch {
    /// The flows.
    pub(super) items: Vec<Item>,
    /// The verdicts of those scored, in the same order.
    scored: Scored,
}

impl Batch {
    /// Each flow with its verdict, or why it was not scored (the scorer
    /// checked that every scored flow has its verdict).
    pub(super) fn judged(&self) -> impl Iterator<Item = (&Item, Judged<'_>)> {
        let mut k = 0;
        self.items.iter().filter_map(move |item| {
            if let Some(why) = item.unscored {
                return Some((item, Judged::Unscored(why)));
            }
            let v = self.scored.verdicts.get(k)?;
            let judged = Judged::Scored(v, self.scored.probs_of(k));
            k += 1;
            Some((item, judged))
        })
    }
}

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// Flows per batch (B).
    pub(super) size: usize,
    /// The longest a ready flow waits for its batch to fill (T).
    pub(super) timeout: Duration,
}

/// Scores batches and sends each to every sink.
struct Scorer<'a> {
    model: Model,
    sinks: Vec<Sender<Arc<Batch>>>,
    size: usize,
    batches: u64,
    metrics: &'a Metrics,
    /// The model's rows, reused from batch to batch.
    rows: Vec<FlowRow>,
    /// Which rows are scored, reused too.
    asked: Vec<bool>,
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
            self.rows.clear();
            self.rows.extend(items.iter().map(Item::row));
            self.asked.clear();
            self.asked
                .extend(items.iter().map(|i| i.unscored.is_none()));
            let scored = self.model.score_some(&self.rows, &self.asked)?;
            let asked = self.asked.iter().filter(|&&a| a).count();
            if scored.verdicts.len() != asked {
                return Err(Error::Internal(format!(
                    "the model gave {} verdicts for {asked} flows",
                    scored.verdicts.len()
                )));
            }
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

/// Runs the stage until the order stage is done (or a sink is gone);
/// returns the number of batches.
pub(super) fn run(
    rx: Receiver<Vec<Item>>,
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
        rows: Vec::with_capacity(size),
        asked: Vec::with_capacity(size),
    };
    let mut ready: Vec<Item> = Vec::new();
    let mut since: Option<Instant> = None;
    loop {
        let msg = match since {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout(batching.timeout.saturating_sub(t.elapsed())),
        };
        match msg {
            Ok(items) => {
                append(&mut ready, items);
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
    scorer.run(ready)?;
    Ok(scorer.batches)
}
