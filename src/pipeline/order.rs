//! The order stage: releases the flows the workers finished in a fixed
//! order, with their connection context.
//!
//! An epoch is released once every worker has answered it, its flows
//! sorted by (last packet, first packet, key), so flow order, and with it
//! the windows of sequence models and the connection context (computed
//! here, in that order, when the model or the output needs it), is the same
//! for any worker count. A thread of its own, so that ordering and context
//! overlap with scoring.
//!
//! The end-of-input drain comes from each worker in parts, already in that
//! order; [`Drain`] merges the workers' parts as they arrive and releases
//! the merged flows a part at a time, so the end of a capture with many
//! open flows does not hold them all at once (unless one worker starts its
//! drain much later than the others: their parts wait here for its first).

use super::context::Context;
use super::worker::{append, Finished, Item, DRAIN_PART};
use crossbeam::channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::collections::VecDeque;

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

/// The end-of-input drain being merged: each worker's flows so far, in
/// release order, and whether its last part came.
struct Drain {
    queues: Vec<VecDeque<Item>>,
    ended: Vec<bool>,
}

impl Drain {
    fn new(workers: usize) -> Self {
        Drain {
            queues: (0..workers).map(|_| VecDeque::new()).collect(),
            ended: vec![false; workers],
        }
    }

    /// Adds a worker's part.
    fn add(&mut self, f: Finished) {
        if let Some(q) = self.queues.get_mut(f.worker) {
            q.extend(f.items);
        }
        if let Some(e) = self.ended.get_mut(f.worker) {
            *e |= f.last;
        }
    }

    /// Moves the flows that come next in release order into `out` while
    /// every worker has one queued or has ended (`all`: every worker has
    /// ended, or is gone), and at most `limit` of them.
    fn merge(&mut self, out: &mut Vec<Item>, limit: usize, all: bool) {
        while out.len() < limit {
            let mut best: Option<(usize, (i64, i64, crate::flow::FlowKey, bool))> = None;
            for (w, q) in self.queues.iter().enumerate() {
                match q.front() {
                    Some(item) => {
                        let k = item.sort_key();
                        if best.as_ref().is_none_or(|(_, b)| k < *b) {
                            best = Some((w, k));
                        }
                    }
                    // This worker's next flow may come first: wait for it.
                    None if !all && !self.ended.get(w).copied().unwrap_or(true) => return,
                    None => {}
                }
            }
            let Some(item) = best.and_then(|(w, _)| self.queues.get_mut(w)?.pop_front()) else {
                return;
            };
            out.push(item);
        }
    }
}

/// Runs the stage until every worker has finished (or inference is gone).
pub(super) fn run(rx: Receiver<Finished>, workers: usize, context: bool, tx: Sender<Vec<Item>>) {
    let mut context = context.then(Context::default);
    // A capture's last epoch restarts the context after its own flows.
    let mut release = |mut items: Vec<Item>, restart: bool| {
        sort_items(&mut items);
        if let Some(c) = context.as_mut() {
            c.apply(&mut items);
            if restart {
                *c = Context::default();
            }
        }
        items.is_empty() || tx.send(items).is_ok()
    };
    let mut pending: BTreeMap<u64, (usize, Vec<Item>, bool)> = BTreeMap::new();
    let mut drain = Drain::new(workers);
    let mut merged = Vec::with_capacity(DRAIN_PART);
    for f in rx.iter() {
        if f.epoch == u64::MAX {
            drain.add(f);
        } else {
            let slot = pending.entry(f.epoch).or_default();
            slot.0 += 1;
            slot.2 |= f.restart;
            append(&mut slot.1, f.items);
        }
        while let Some(first) = pending.first_entry() {
            if first.get().0 < workers {
                break;
            }
            let (_, items, restart) = first.remove();
            if !release(items, restart) {
                return;
            }
        }
        // The drain follows every epoch: a worker sends it after its last.
        if pending.is_empty() {
            loop {
                drain.merge(&mut merged, DRAIN_PART, false);
                if merged.len() < DRAIN_PART {
                    break;
                }
                if !release(std::mem::take(&mut merged), false) {
                    return;
                }
            }
        }
    }
    // Every worker has finished: whatever is pending is complete.
    for (_, (_, items, restart)) in std::mem::take(&mut pending) {
        if !release(items, restart) {
            return;
        }
    }
    loop {
        drain.merge(&mut merged, DRAIN_PART, true);
        if merged.is_empty() || !release(std::mem::take(&mut merged), false) {
            return;
        }
    }
}
