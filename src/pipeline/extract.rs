//! `extract`: the whole pipeline on one thread, for building training sets:
//! capture → decode → flow table → features (and for `kdd` the connection
//! context, in the order the table ends connections) → CSV, with no
//! per-packet allocation and counters for everything that does not become a
//! flow.

use super::counters::{memory, Counter, Counters};
use super::reader::Reader;
use crate::capture::{CaptureError, PcapFile};
use crate::decode::{DecodeRules, Padding};
use crate::error::Error;
use crate::flow::{FinishedFlow, FlowConfig, FlowTable};
use crate::kdd::{KddRow, Windows};
use crate::labels::Labeler;
use crate::output::{CsvWriter, Format};
use crate::profile::Profile;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Everything `extract` needs.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// Capture files, read in order.
    pub files: Vec<PathBuf>,
    /// Output CSV path; `-` is standard output.
    pub output: PathBuf,
    /// Flow settings (profile and timeouts).
    pub flow: FlowConfig,
    /// Padding policy.
    pub padding: Padding,
    /// Write the dataset's machine-learning layout instead of the tool layout.
    pub ml_columns: bool,
    /// `kdd`: write rows exactly as `KDDTrain+.txt` (no header).
    pub kdd_txt: bool,
    /// Append the connection-context columns (the window columns; for
    /// `kdd`, the per-source ones).
    pub context: bool,
    /// Attack episodes for the Label column.
    pub labels: Option<PathBuf>,
    /// Restart the flow table for each file.
    pub per_file: bool,
    /// Show a progress line on standard error.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct ExtractSummary {
    /// Every counter at the end (flows written: `csv_out`).
    pub counters: Counters,
    /// Files that ended early (their whole packets were processed).
    pub truncated: Vec<CaptureError>,
}

impl ExtractSummary {
    /// Renders the end-of-run summary.
    pub fn render(&self) -> String {
        self.counters.render_extract()
    }
}

/// Runs `extract`: every file through the flow engine into one CSV.
pub fn extract(cfg: &ExtractConfig) -> Result<ExtractSummary, Error> {
    let t0 = Instant::now();
    let profile = cfg.flow.profile;
    let labeler = match &cfg.labels {
        Some(p) => Labeler::load(p)?,
        None => Labeler::default(),
    };
    // Open every file first, so a bad one is refused before any output.
    let mut files = Vec::with_capacity(cfg.files.len());
    for path in &cfg.files {
        files.push(PcapFile::open(path)?);
    }
    let format = match Format::for_profile(profile, cfg.ml_columns) {
        Format::Kdd { .. } => Format::Kdd { txt: cfg.kdd_txt },
        f => f,
    };
    let out_err = |source| Error::Output {
        path: cfg.output.clone(),
        source,
    };
    let sink: Box<dyn Write> = if cfg.output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&cfg.output).map_err(out_err)?)
    };
    let mut csv = CsvWriter::new(
        std::io::BufWriter::with_capacity(1 << 16, sink),
        format,
        profile,
        cfg.context,
    )
    .map_err(out_err)?;
    // The connection context (kdd, or --context): every connection in the
    // order the flow table ends them.
    let mut windows = (profile == Profile::Kdd || cfg.context).then(Windows::new);

    let rules = DecodeRules::of(profile, cfg.padding);
    let mut table = FlowTable::new(cfg.flow);
    let mut write_err: Option<std::io::Error> = None;
    let mut flows_written = 0u64;
    // Set when a capture ends: the next capture's windows start empty.
    let new_capture = std::cell::Cell::new(false);
    let mut write_flow = |f: FinishedFlow| {
        if write_err.is_some() {
            return;
        }
        if new_capture.replace(false) {
            windows = windows.take().map(|_| Windows::new());
        }
        let (src, _, dst, _) = f.endpoints();
        let label = labeler.label(src, dst, f.record.start_us(), profile);
        let features = f.record.features();
        let kdd = match (windows.as_mut(), f.conn_id()) {
            (Some(w), Some(id)) => w.row(&f.conn, &id, true),
            _ => KddRow::ZERO,
        };
        match csv.write(&f, &features, &kdd, label) {
            Ok(()) => flows_written += 1,
            Err(e) => write_err = Some(e),
        }
    };
    let mut reader = Reader::new(cfg.progress, t0);
    let nfiles = files.len();
    for (i, mut file) in files.into_iter().enumerate() {
        reader.read(
            i,
            nfiles,
            &mut file,
            rules,
            cfg.per_file,
            |meta, restart| {
                if restart {
                    table.drain(&mut write_flow);
                    new_capture.set(true);
                }
                table.on_packet(&meta, &mut write_flow);
                true
            },
        );
    }
    table.drain(&mut write_flow);
    reader.finish();
    if let Some(e) = write_err {
        return Err(out_err(e));
    }
    csv.finish().map_err(out_err)?;
    let stats = table.stats();
    let mut counters = Counters::default();
    counters.skipped = reader.skipped;
    counters.csv = true;
    counters.elapsed = t0.elapsed();
    counters.set(Counter::Packets, reader.packets_read);
    counters.set(Counter::Decoded, reader.packets_decoded);
    counters.set(Counter::FlowsFinished, stats.finished);
    counters.set(Counter::FlowsEvicted, stats.evicted);
    counters.set(Counter::SinglePacketFlows, stats.single_packet_discarded);
    counters.set(Counter::CsvWritten, flows_written);
    counters.set_memory(memory());
    Ok(ExtractSummary {
        counters,
        truncated: reader.truncated,
    })
}
