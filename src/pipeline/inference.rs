//! The inference stage: orders the flows the workers finished and scores
//! them in batches, then hands every scored batch to each sink.
//!
//! An epoch is released once every worker has answered it, its flows
//! sorted by (last packet, first packet, key), so flow order, and with it
//! the windows of sequence models and the connection context (computed
//! here, in that order, when the model or the output needs it), is the
//! same for any worker count. A
//! batch runs when B flows are ready or T has passed since the first of
//! them arrived.

use super::context::Context;
use super::counters::{Counter, Metrics};
use super::worker::{Finished, Item};
use crate::error::Error;
use crate::infer::{FlowRow, Model, Scored};
use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Compute each flow's connection context.
    pub(super) context: bool,
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

/// Sorts items into release order. Items are large: their keys are sorted,
/// then the items are permuted in place, each moved at most twice (a sort
/// of the items would move them O(n log n) times, a sorted copy would
/// double the end-of-input drain's memory).
fn sort_items(items: &mut [Item]) {
    let mut order: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.sort_key(), i))
        .collect();
    order.sort_unstable();
    // from[k]: where the item that belongs at k is now.
    let mut from: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    for start in 0..from.len() {
        let mut cur = start;
        loop {
            let next = from.get(cur).copied().unwrap_or(start);
            if let Some(f) = from.get_mut(cur) {
                *f = cur;
            }
            if next == start {
                break;
            }
            items.swap(cur, next);
            cur = next;
        }
    }
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
            let scored = self.model.score(&self.rows)?;
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
        rows: Vec::with_capacity(size),
    };
    let mut context = batching.context.then(Context::default);
    let mut release = |items: &mut Vec<Item>| {
        sort_items(items);
        if let Some(c) = context.as_mut() {
            c.apply(items);
        }
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
                    release(&mut items);
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
        release(&mut items);
        append(&mut ready, items);
    }
    scorer.run(ready)?;
    Ok(scorer.batches)
}
