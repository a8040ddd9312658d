//! The sensor behind `replay` (files) and `live` (an interface): wires the
//! stages together and runs them, one thread each, joined by bounded
//! channels, data one way:
//!
//! ```text
//! [live, --capture-threads M > 1: M capture threads (read + decode,
//!     one AF_PACKET fanout group) ──decoded batches──▶ the reader's feeder]
//! reader (capture + decode) ──Epoch──▶ N flow workers (shards of the table)
//!     ──Finished──▶ order (epochs in order, sorted; connection context)
//!     ──items──▶ inference (batching, ONNX Runtime)
//!     ──Batch──▶ alert writer (EVE JSON, syslog, IPS hook, stats events)
//!     ──Batch──▶ flow CSV writer
//! ```
//!
//! This file only configures, spawns and joins; each stage is a module of
//! its own. When a stage fails, its receiver goes away and every upstream
//! send fails, so the stages before it stop in order; when one of the two
//! sinks fails, the other stops with it, a fixed number of batches later
//! (`SinkProgress`), so what each output holds does not depend on timing. SIGINT/SIGTERM stop the reader;
//! everything read so far is flushed through every stage.

use super::alerts::{Sinks, Writer};
use super::capture_threads;
use super::counters::{memory, Counters, Metrics, CSV_OUTPUT};
use super::csv::CsvSink;
use super::inference::{self, Batch, Batching};
use super::order;
use super::outfile::{OnOutputError, OutFile};
use super::process::{drop_privileges, Signals};
use super::progress::SinkProgress;
use super::reader::{Epoch, Feeder, Read};
use super::worker::{self, Finished, Item, WorkerOpts};
use crate::capture::{CaptureError, LiveCapture, LiveOptions, PcapFile};
use crate::cidr::Cidr;
use crate::error::Error;
use crate::fastlog::AlertsFormat;
use crate::flow::FlowConfig;
use crate::infer::{Device, Model};
use crate::ips::{Hook, HookConfig};
use crate::labels::Labeler;
use crate::syslog::{SyslogFormat, SyslogSink, SyslogTarget};
use crate::threshold::{Aggregator, Rules};
use crossbeam::channel::{bounded, unbounded};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where packets come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Capture files, read in order as one capture.
    Files(Vec<PathBuf>),
    /// A live interface.
    Live(LiveOptions),
}

/// Everything `replay` and `live` need.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Packets.
    pub source: Source,
    /// The model bundle.
    pub model: PathBuf,
    /// Execution provider.
    pub device: Device,
    /// Explicit ONNX Runtime library.
    pub onnxruntime: Option<PathBuf>,
    /// EVE JSON output (`-` for standard output).
    pub alerts: PathBuf,
    /// Log every scored flow as an EVE `flow` event.
    pub flow_events: bool,
    /// Alert aggregation: threshold and suppress rules.
    pub aggregation: Rules,
    /// JSON or text alerts.
    pub alerts_format: AlertsFormat,
    /// Flow CSV with the model's label and score appended.
    pub flows_csv: Option<PathBuf>,
    /// Attack episodes for the flow CSV's Label column.
    pub labels: Option<PathBuf>,
    /// Syslog output.
    pub syslog: Option<(SyslogTarget, SyslogFormat)>,
    /// Flow workers.
    pub workers: usize,
    /// Inference batch size B.
    pub batch_size: usize,
    /// Inference batch timeout T.
    pub batch_timeout: Duration,
    /// Flow timeout, µs.
    pub flow_timeout_us: i64,
    /// Activity timeout, µs.
    pub activity_timeout_us: i64,
    /// Score open flows every this many µs of their life (0: never).
    pub interim_after_us: i64,
    /// Score every flow: the address rule of [`crate::unscored`] is off.
    pub score_all_flows: bool,
    /// The most flows open at once, over all workers (`None`: no limit).
    pub max_flows: Option<usize>,
    /// What a failing alerts or flow CSV output does.
    pub on_output_error: OnOutputError,
    /// Write a stats event this often, and at exit (zero: only at exit;
    /// `None`: never, except live at exit).
    pub stats_interval: Option<Duration>,
    /// The IPS hook.
    pub hook: Option<HookConfig>,
    /// Live: drop root to this user once the capture is open.
    pub user: Option<String>,
    /// Show a progress bar on a terminal (replay).
    pub progress: bool,
    /// Replay: every file is a capture of its own (`--per-file`).
    pub per_file: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct SensorSummary {
    /// Every counter at the end.
    pub counters: Counters,
    /// Files that ended early (their whole packets were processed).
    pub truncated: Vec<CaptureError>,
    /// The run was stopped by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Flow workers used.
    pub workers: usize,
    /// Execution provider.
    pub provider: &'static str,
}

impl SensorSummary {
    /// The end-of-run summary table.
    pub fn render(&self) -> String {
        self.counters.render_sensor(self.workers, self.provider)
    }

    /// Records the outputs could not write.
    pub fn records_lost(&self) -> u64 {
        let c = &self.counters;
        c.alerts_out().lost + c.csv_out().map_or(0, |st| st.lost)
    }
}

/// Sink ids for [`SinkProgress`].
const ALERTS: usize = 0;
const CSV: usize = 1;

/// Tells [`SinkProgress`] that a sink stopped, also when its thread
/// panicked (then as failed), so the other sink never waits for it.
struct Finish<'a>(&'a SinkProgress, usize, bool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish(self.1, self.2);
    }
}

/// A stage thread's result, with a panic turned into an internal error.
fn joined<T>(r: std::thread::Result<Result<T, Error>>, stage: &str) -> Result<T, Error> {
    r.map_err(|_| Error::Internal(format!("the {stage} thread panicked")))?
}

/// Runs the sensor on files (`replay`) or an interface (`live`).
pub fn run(cfg: &SensorConfig) -> Result<SensorSummary, Error> {
    let t0 = Instant::now();
    let live = matches!(cfg.source, Source::Live(_));
    let model = Model::load(&cfg.model, cfg.device, cfg.onnxruntime.as_deref())?;
    let bundle = model.bundle.clone();
    let provider = model.provider;
    let profile = bundle.profile;
    let labeler = match &cfg.labels {
        Some(p) => Labeler::load(p)?,
        None => Labeler::default(),
    };
    let mut hook_cfg = cfg.hook.clone();
    if let (Some(h), Source::Live(o)) = (hook_cfg.as_mut(), &cfg.source) {
        // Never block the sensor's own addresses: a retransmitted SYN-ACK of
        // the monitored host can look like a scan from it.
        let own = crate::capture::interface_addresses(&o.iface);
        for a in own
            .iter()
            .filter_map(|ip| ip.to_string().parse::<Cidr>().ok())
        {
            eprintln!(
                "flowsentinel: ips hook: never blocking {a} (an address of {})",
                o.iface
            );
            h.allow.push(a);
        }
    }
    let hook = hook_cfg.map(Hook::new).transpose()?;
    // Open every input first, so a bad one is refused before any output.
    let (files, capture, names) = match &cfg.source {
        Source::Files(paths) => {
            let mut files = Vec::with_capacity(paths.len());
            for path in paths {
                files.push(PcapFile::open(path)?);
            }
            let names = paths.iter().map(|p| p.display().to_string()).collect();
            (files, None, names)
        }
        Source::Live(o) => (Vec::new(), Some(LiveCapture::open_group(o)?), Vec::new()),
    };
    let signals = Signals::install()?;
    let csv = match &cfg.flows_csv {
        None => None,
        Some(p) => {
            let file = OutFile::open(p, live, "flow CSV", cfg.on_output_error)?;
            Some(CsvSink::new(
                file,
                profile,
                labeler,
                Arc::clone(&signals.reopen_csv),
            ))
        }
    };
    let sinks = Sinks {
        alerts: OutFile::open(&cfg.alerts, live, "alerts", cfg.on_output_error)?,
        flow_events: cfg.flow_events,
        aggregator: Aggregator::new(&cfg.aggregation, &bundle.labels)?,
        text: cfg.alerts_format.is_text(&cfg.alerts, cfg.flow_events),
        syslog: cfg
            .syslog
            .clone()
            .map(|(target, format)| SyslogSink::new(target, format)),
        files: names,
        iface: capture
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.iface().to_string()),
        hook,
        stats_interval: cfg.stats_interval.filter(|d| !d.is_zero()),
        stats_at_exit: live || cfg.stats_interval.is_some(),
        reopen: Arc::clone(&signals.reopen_alerts),
        csv: csv.is_some(),
    };
    if let Some(user) = &cfg.user {
        drop_privileges(user)?;
    }
    let mut flow = FlowConfig::new(profile);
    flow.flow_timeout_us = cfg.flow_timeout_us;
    flow.activity_timeout_us = cfg.activity_timeout_us;
    // Workers shard flows by key hash: each holds an equal part of the cap.
    // The config checks every value; a library caller's zero still means one.
    let n = cfg.workers.max(1);
    flow.max_flows = cfg.max_flows.map(|m| m.div_ceil(n));
    let opts = WorkerOpts {
        flow,
        interim_after_us: cfg.interim_after_us,
        score_all: cfg.score_all_flows,
    };
    let batching = Batching {
        size: cfg.batch_size,
        timeout: cfg.batch_timeout,
    };
    let context = bundle.needs_context();
    let metrics = Metrics::new(n);
    let metrics = &metrics;
    let bundle = &bundle;
    let progress = SinkProgress::new(if csv.is_some() { 2 } else { 1 });
    let progress = &progress;

    let (worker_out, order_in) = bounded::<Finished>(4 * n);
    let (order_out, inf_in) = bounded::<Vec<Item>>(1);
    let (to_writer, writer_in) = bounded::<Arc<Batch>>(8);
    let (to_csv, csv_in) = bounded::<Arc<Batch>>(8);
    let mut to_sinks = vec![to_writer];
    if csv.is_some() {
        to_sinks.push(to_csv);
    }
    let (read, mut counters, csv_stats) = std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(n);
        let mut worker_handles = Vec::with_capacity(n);
        for me in 0..n {
            // Live: never block the reader (full queues drop, counted).
            let (tx, rx) = if live {
                unbounded()
            } else {
                bounded::<Epoch>(8)
            };
            to_workers.push(tx);
            let out = worker_out.clone();
            worker_handles.push(scope.spawn(move || worker::run(rx, out, opts, metrics, me)));
        }
        drop(worker_out);
        scope.spawn(move || order::run(order_in, n, context, order_out));
        let inf = scope.spawn(move || inference::run(inf_in, model, to_sinks, batching, metrics));
        let csv_stage = csv.map(|c| {
            scope.spawn(move || {
                let mut done = Finish(progress, CSV, false);
                let r = c.run(csv_in, bundle, metrics, progress, CSV);
                done.2 = r.is_ok();
                r
            })
        });
        let writer = Writer::new(sinks, bundle, metrics, t0);
        let wr = scope.spawn(move || {
            let mut done = Finish(progress, ALERTS, false);
            let r = writer.run(writer_in, progress, ALERTS);
            done.2 = r.is_ok();
            r
        });

        // The reader: this thread. Returning lets the workers go.
        let feeder = Feeder::new(
            to_workers,
            profile,
            live,
            cfg.interim_after_us > 0,
            Arc::clone(&signals.stop),
            metrics,
        );
        let read = match capture {
            Some(mut caps) if caps.len() == 1 => match caps.pop() {
                Some(cap) => feeder.read_live(cap, t0),
                None => Err(Error::Internal("no capture handle".into())),
            },
            Some(caps) => capture_threads::read_live(feeder, caps, t0),
            None => Ok(feeder.read_files(files, cfg.progress, cfg.per_file, t0)),
        };
        for h in worker_handles {
            let _ = h.join();
        }
        let inf_result = joined(inf.join(), "inference");
        let wr_result = joined(wr.join(), "output writer");
        let csv_result = csv_stage.map(|h| joined(h.join(), "flow CSV")).transpose();
        // Sinks' errors come before inference's (a failed sink is why it
        // stopped); of the sinks, the one that failed first.
        let (counters, csv_stats) = if progress.first_failed() == Some(CSV) {
            let csv_stats = csv_result?;
            (wr_result?, csv_stats)
        } else {
            let counters = wr_result?;
            (counters, csv_result?)
        };
        inf_result?;
        Ok::<_, Error>((read?, counters, csv_stats))
    })?;
    let Read {
        truncated,
        interrupted,
    } = read;
    if let Some(st) = csv_stats {
        counters.set_output(CSV_OUTPUT, st);
    }
    counters.elapsed = t0.elapsed();
    counters.set_memory(memory());
    Ok(SensorSummary {
        counters,
        truncated,
        interrupted,
        workers: n,
        provider,
    })
}
