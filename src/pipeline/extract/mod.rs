//! `extract`, for building training sets: capture → decode → flow table →
//! features (and for `kdd` or `--context` the connection context, in the
//! order the table ends connections) → CSV, with no per-packet allocation
//! and counters for everything that does not become a flow.
//!
//! With `--threads 1` every stage runs on one thread, here. With more,
//! `parallel` shards the flow table over worker threads that also render
//! their rows; the CSV is byte for byte the one thread's.

use super::counters::{memory, Counter, Counters};
use super::reader::Reader;
use crate::capture::{CaptureError, PcapFile};
use crate::decode::{DecodeRules, Padding};
use crate::error::Error;
use crate::flow::{FinishedFlow, FlowConfig, FlowStats, FlowTable};
use crate::kdd::Windows;
use crate::labels::Labeler;
use crate::output::{CsvWriter, Format};
use crate::profile::Profile;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

mod parallel;
mod rows;

use rows::Rows;

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
    /// Threads for the flow table and the rendering (1: every stage on
    /// one thread). A `max_flows` limit keeps one flow table: which flows
    /// it evicts depends on the whole table.
    pub threads: usize,
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
    let sink: Box<dyn Write + Send> = if cfg.output.as_os_str() == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::fs::File::create(&cfg.output).map_err(out_err)?)
    };
    let csv = CsvWriter::new(
        std::io::BufWriter::with_capacity(1 << 16, sink),
        format,
        profile,
        cfg.context,
    )
    .map_err(out_err)?;
    let rows = Rows {
        csv,
        labeler: &labeler,
        profile,
        windows: (profile == Profile::Kdd || cfg.context).then(Windows::new),
    };
    let rules = DecodeRules::of(profile, cfg.padding);
    let mut reader = Reader::new(cfg.progress, t0);
    let threads = if cfg.flow.max_flows.is_some() {
        1
    } else {
        cfg.threads.max(1)
    };
    let run = if threads == 1 {
        serial(cfg, files, rules, &mut reader, rows)
    } else {
        parallel::run(
            cfg.flow,
            cfg.per_file,
            files,
            rules,
            &mut reader,
            rows,
            threads,
        )
    };
    reader.finish();
    let (stats, flows_written) = run.map_err(out_err)?;
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

/// Every stage on this thread. Returns the flow table's counters and the
/// rows written.
fn serial<W: Write>(
    cfg: &ExtractConfig,
    files: Vec<PcapFile>,
    rules: DecodeRules,
    reader: &mut Reader,
    mut rows: Rows<'_, W>,
) -> io::Result<(FlowStats, u64)> {
    let mut table = FlowTable::new(cfg.flow);
    let mut write_err: Option<io::Error> = None;
    let mut written = 0u64;
    let mut write_flow = |f: FinishedFlow, rows: &mut Rows<'_, W>| {
        if write_err.is_none() {
            match rows.write(&f, &f.record.features()) {
                Ok(()) => written += 1,
                Err(e) => write_err = Some(e),
            }
        }
    };
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
                    table.drain(&mut |f| write_flow(f, &mut rows));
                    rows.restart();
                }
                table.on_packet(&meta, &mut |f| write_flow(f, &mut rows));
                true
            },
        );
    }
    table.drain(&mut |f| write_flow(f, &mut rows));
    if let Some(e) = write_err {
        return Err(e);
    }
    rows.csv.finish()?;
    Ok((table.stats(), written))
}
