//! The context stage: each flow's connection context (its KDD record and
//! window columns), computed in the inference stage's release order, so
//! that it is the same for any worker count.
//!
//! Input: items in release order. Output: the same items with their
//! [`crate::kdd::KddRow`] filled. A finished flow enters the
//! windows; an interim snapshot reads them without entering. A flow whose
//! protocol has no KDD record (neither TCP, UDP nor ICMP) keeps a row of
//! zeros.

use super::worker::Item;
use crate::kdd::Windows;

/// The windows, kept across batches.
#[derive(Default)]
pub(super) struct Context {
    windows: Windows,
}

impl Context {
    /// Fills the rows of `items`, which come in release order.
    pub(super) fn apply(&mut self, items: &mut [Item]) {
        for item in items {
            let Some((id, conn)) = item.conn() else {
                continue;
            };
            let ended = !item.is_interim();
            item.kdd = Some(Box::new(self.windows.row(&conn, &id, ended)));
        }
    }
}
