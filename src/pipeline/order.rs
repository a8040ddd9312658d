//! The order stage: releases the flows the workers finished in a fixed
//! order, with their connection context.
//!
//! An epoch is released once every worker has answered it, its flows
//! sorted by (last packet, first packet, key), so flow order, and with it
//! the windows of sequence models and the connection context (computed
//! here, in that order, when the model or the output needs it), is the same
//! for any worker count. A thread of its own, so that ordering and context
//! overlap with scoring.

use super::context::Context;
use super::worker::{append, Finished, Item};
use crossbeam::channel::{Receiver, Sender};
use std::collections::BTreeMap;

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
    for f in rx.iter() {
        let slot = pending.entry(f.epoch).or_default();
        slot.0 += 1;
        slot.2 |= f.restart;
        append(&mut slot.1, f.items);
        while let Some(first) = pending.first_entry() {
            if first.get().0 < workers {
                break;
            }
            let (_, items, restart) = first.remove();
            if !release(items, restart) {
                return;
            }
        }
    }
    // Every worker has finished: whatever is pending is complete.
    for (_, (_, items, restart)) in std::mem::take(&mut pending) {
        if !release(items, restart) {
            return;
        }
    }
}
