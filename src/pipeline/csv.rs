//! The flow CSV stage: every finished flow as a row in the profile's
//! CICFlowMeter layout (or, for `kdd`, NSL-KDD's), with the model's label
//! and score appended (`--flows-csv`); both are empty for a flow that was
//! not scored ([`crate::unscored`]). Interim snapshots are not written.
//!
//! A batch's rows are formatted into memory, then written whole through
//! [`OutFile`], which counts what a failing disk loses.

use super::counters::{Metrics, CSV_OUTPUT};
use super::inference::Batch;
use super::outfile::{OutFile, OutputStats};
use super::progress::{SinkProgress, Turn};
use super::worker::Flow;
use crate::error::Error;
use crate::infer::Bundle;
use crate::kdd::KddRow;
use crate::labels::Labeler;
use crate::output::{CsvWriter, Format};
use crate::profile::Profile;
use crossbeam::channel::Receiver;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// The columns appended to every row.
const EXTRA: [&str; 2] = ["ML Label", "ML Score"];

/// The flow CSV stage's state.
pub(super) struct CsvSink {
    /// Formats a batch's rows into memory; `file` then writes them whole.
    csv: CsvWriter<Vec<u8>>,
    file: OutFile,
    format: Format,
    labeler: Labeler,
    profile: Profile,
    /// Set by SIGHUP: reopen the file.
    reopen: Arc<AtomicBool>,
}

impl CsvSink {
    /// A sink writing to `file` (a header only at the start of a file, also
    /// when appending).
    pub(super) fn new(
        file: OutFile,
        profile: Profile,
        labeler: Labeler,
        reopen: Arc<AtomicBool>,
    ) -> Self {
        let format = Format::for_profile(profile, false);
        CsvSink {
            csv: CsvWriter::in_memory(format, profile, &EXTRA, file.is_empty()),
            file,
            format,
            labeler,
            profile,
            reopen,
        }
    }

    /// Runs the stage until inference is done.
    pub(super) fn run(
        mut self,
        rx: Receiver<Arc<Batch>>,
        bundle: &Bundle,
        metrics: &Metrics,
        progress: &SinkProgress,
        id: usize,
    ) -> Result<OutputStats, Error> {
        let mut score = String::new();
        for (k, batch) in (0u64..).zip(rx.iter()) {
            if progress.wait_turn(id, k, None) != Turn::Go {
                // Another output failed: stop with it.
                break;
            }
            if self.reopen.swap(false, Relaxed) {
                self.file.reopen()?;
                if self.file.is_empty() {
                    self.csv = CsvWriter::in_memory(self.format, self.profile, &EXTRA, true);
                }
            }
            for (item, judged) in batch.judged() {
                let Flow::Finished(flow) = &item.flow else {
                    continue;
                };
                let (src, _, dst, _) = flow.endpoints();
                let truth = self
                    .labeler
                    .label(src, dst, flow.record.start_us(), self.profile);
                score.clear();
                let label = match judged.verdict() {
                    Some(v) => {
                        score.push_str(&v.score.to_string());
                        bundle.label(v.label)
                    }
                    None => "",
                };
                // Writing into memory cannot fail.
                let _ = self.csv.write_with(
                    flow,
                    &item.features,
                    item.kdd.as_deref().unwrap_or(&KddRow::ZERO),
                    truth,
                    &[label, &score],
                );
            }
            let r = self.file.write(self.csv.get_mut());
            self.csv.get_mut().clear();
            metrics.set_output(CSV_OUTPUT, self.file.stats());
            r?;
            progress.wrote(id);
            if progress.must_stop(id, k + 1) {
                // Another output failed: this was the last batch to write.
                break;
            }
        }
        Ok(self.file.stats())
    }
}
