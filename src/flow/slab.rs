//! The open flows of a table: a slab of entries, each with its key, and a
//! hash index of slot numbers.
//!
//! The index holds only 4-byte slot numbers (a hashbrown table, hashed with
//! foldhash under a random seed per process): the key lives once, in its
//! slot, so a bucket of the index costs 5 bytes, not the 45 of a map from
//! key to slot, and growing the index or ending a flow never moves an
//! entry. Iteration ([`Slab::iter`], [`Slab::iter_mut`]) is in slot order,
//! which no output depends on: the table sorts what it ends in bulk, and
//! the pipeline sorts everything it releases.
//!
//! Input: keys and entries. Output: entries by key or by slot.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::entry::Entry;
use super::FlowKey;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// A flow's slot: its key and its entry.
struct Slot {
    key: FlowKey,
    entry: Entry,
}

/// The open flows.
pub(super) struct Slab {
    index: HashTable<u32>,
    hasher: RandomState,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
}

impl Slab {
    /// An empty slab with room for `n` flows.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            index: HashTable::with_capacity(n),
            hasher: RandomState::default(),
            slots: Vec::with_capacity(n),
            free: Vec::new(),
        }
    }

    /// Open flows.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no flow is open.
    pub(super) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn key_of(slots: &[Option<Slot>], i: u32) -> Option<&FlowKey> {
        slots.get(i as usize)?.as_ref().map(|s| &s.key)
    }

    /// The slot of flow `key`.
    pub(super) fn find(&self, key: &FlowKey) -> Option<u32> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.index
            .find(h, |&i| Self::key_of(slots, i) == Some(key))
            .copied()
    }

    /// The entry in slot `i`.
    pub(super) fn get(&self, i: u32) -> Option<&Entry> {
        self.slots.get(i as usize)?.as_ref().map(|s| &s.entry)
    }

    /// The entry in slot `i`, to change.
    pub(super) fn get_mut(&mut self, i: u32) -> Option<&mut Entry> {
        self.slots
            .get_mut(i as usize)?
            .as_mut()
            .map(|s| &mut s.entry)
    }

    /// Removes flow `key` and returns its entry.
    pub(super) fn remove(&mut self, key: &FlowKey) -> Option<Entry> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        let found = self
            .index
            .find_entry(h, |&i| Self::key_of(slots, i) == Some(key))
            .ok()?;
        let (i, _) = found.remove();
        self.free.push(i);
        self.slots
            .get_mut(i as usize)
            .and_then(Option::take)
            .map(|s| s.entry)
    }

    /// Adds flow `key`, which is not open.
    pub(super) fn insert(&mut self, key: FlowKey, entry: Entry) {
        let slot = Some(Slot { key, entry });
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = slot;
                }
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let (hasher, slots) = (&self.hasher, &self.slots);
        let h = hasher.hash_one(key);
        self.index.insert_unique(h, i, |&j| {
            Self::key_of(slots, j).map_or(0, |k| hasher.hash_one(k))
        });
    }

    /// Every open flow, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &FlowKey, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, &s.key, &s.entry)))
    }

    /// Every open flow, in slot order, its entry mutable.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut Entry)> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.as_mut().map(|s| (&s.key, &mut s.entry)))
    }

    /// The key of the flow in slot `i`.
    pub(super) fn key(&self, i: u32) -> Option<&FlowKey> {
        Self::key_of(&self.slots, i)
    }

    /// Takes the flow out of slot `i`, leaving the index as it is: only
    /// for [`Slab::clear`] to follow.
    pub(super) fn take(&mut self, i: u32) -> Option<(FlowKey, Entry)> {
        self.slots
            .get_mut(i as usize)
            .and_then(Option::take)
            .map(|s| (s.key, s.entry))
    }

    /// Forgets every flow, keeping the memory.
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
    }
}
