//! `extract`'s rows: a finished flow, its Label column from the attack
//! episodes and, when the run has one, its connection context, rendered as
//! one CSV row.

use crate::features::FeatureVector;
use crate::flow::FinishedFlow;
use crate::kdd::{KddRow, Windows};
use crate::labels::Labeler;
use crate::output::CsvWriter;
use crate::profile::Profile;
use std::io::{self, Write};

/// Turns finished flows into CSV rows: the Label column from the episodes,
/// the connection context when the run has one.
pub(super) struct Rows<'a, W: Write> {
    pub(super) csv: CsvWriter<W>,
    pub(super) labeler: &'a Labeler,
    pub(super) profile: Profile,
    /// The connection context (`kdd`, or `--context`): every connection in
    /// the order its row is written.
    pub(super) windows: Option<Windows>,
}

impl<W: Write> Rows<'_, W> {
    /// Writes one flow's row.
    pub(super) fn write(&mut self, f: &FinishedFlow, features: &FeatureVector) -> io::Result<()> {
        let (src, _, dst, _) = f.endpoints();
        let label = self
            .labeler
            .label(src, dst, f.record.start_us(), self.profile);
        let kdd = match (self.windows.as_mut(), f.conn_id()) {
            (Some(w), Some(id)) => w.row(&f.conn, &id, true),
            _ => KddRow::ZERO,
        };
        self.csv.write(f, features, &kdd, label)
    }

    /// A capture ends: the next one's connection context starts empty.
    pub(super) fn restart(&mut self) {
        if let Some(w) = self.windows.as_mut() {
            *w = Windows::new();
        }
    }
}
