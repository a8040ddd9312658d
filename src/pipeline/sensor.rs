//! The IDS pipeline behind `replay` (files) and `live` (an interface).
//! Threads joined by channels, data one way:
//!
//! ```text
//! reader (capture + decode) ──PacketMeta epochs──▶ N flow workers (shards)
//!     ──finished flows + features──▶ inference (ordering, batching, ORT)
//!     ──scored batches──▶ writer (EVE JSON, syslog, IPS hook, stats)
//!     ──scored batches──▶ flow CSV
//! ```
//!
//! The reader picks a worker from a randomly keyed hash of the direction-neutral
//! flow key, so both directions of a flow meet in one worker, in order. It cuts
//! the packet stream into epochs of at most [`EPOCH`] packets and sends every
//! worker every epoch, even an empty one; workers answer each epoch with the
//! flows it finished. Inference releases an epoch once every worker has
//! answered, sorted by (last packet, first packet, key). Flow records, their
//! order, and so the windows of sequence models, are therefore the same for
//! any worker count.
//!
//! An epoch may carry a tick, the time "now": on it, workers take interim
//! snapshots of flows open for another `interim_after` (early verdicts), and
//! live capture also ends flows whose flow timeout has passed. Replay ticks
//! once per second of packet time, so its output depends only on the packets;
//! live capture ticks from the wall clock every [`LIVE_CUT`].
//!
//! Offline replay never drops: full channels block the reader. Live capture
//! never blocks the reader: a worker whose queue is full loses packets, which
//! are counted. When a later stage fails, its receiver goes away, every
//! upstream send fails, and the stages stop in order. SIGINT/SIGTERM stop the
//! reader; everything read so far is flushed through every stage.

use super::outfile::{OutFile, OutputStats};
use super::{decode_rules, memory, Padding, Reader};
use crate::capture::{CaptureError, KernelStats, LiveOptions, PcapFile};
use crate::decode::{PacketMeta, SkipReason};
use crate::error::Error;
use crate::eve::{self, EventType, Origin};
use crate::features::{FeatureVector, Layout, Profile};
use crate::flow::{EndReason, FinishedFlow, FlowConfig, FlowKey, FlowStats, FlowTable};
use crate::infer::{Bundle, Device, FlowRow, Model, Scored};
use crate::ips::{Decision, Hook, HookAlert, HookConfig, HookStats, JobId, Outcome, Settled};
use crate::labels::Labeler;
use crate::output::CsvWriter;
use crate::syslog::{Severity, SyslogFormat, SyslogSink, SyslogTarget};
use crossbeam::channel::{
    bounded, unbounded, Receiver, RecvTimeoutError, Select, Sender, TryRecvError,
};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Packets per epoch at most (see the module docs).
pub const EPOCH: usize = 2048;
/// Replay's tick interval, in packet time.
const REPLAY_TICK_US: i64 = 1_000_000;
/// Live capture cuts an epoch, with a wall-clock tick, this often.
pub const LIVE_CUT: Duration = Duration::from_millis(100);
/// Live: epochs queued for one worker before its packets are dropped.
const LIVE_QUEUE_LIMIT: usize = 64;

/// What a failing output (alerts file, flow CSV) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnOutputError {
    /// Log the error, flush what can be flushed and end the run with an error.
    #[default]
    Stop,
    /// Log the error, count every record that could not be written, and keep
    /// trying: writing resumes once the output works again.
    Continue,
}

impl std::str::FromStr for OnOutputError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stop" => Ok(Self::Stop),
            "continue" => Ok(Self::Continue),
            _ => Err(format!("expected stop or continue, got {s:?}")),
        }
    }
}

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
}

/// What a run did.
#[derive(Debug, Default)]
pub struct SensorSummary {
    /// Frames read.
    pub packets_read: u64,
    /// Frames that became flow packets.
    pub packets_decoded: u64,
    /// Frames skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Live: the kernel's counters.
    pub kernel: Option<KernelStats>,
    /// Live: packets dropped because a flow worker's queue was full.
    pub queue_dropped: u64,
    /// Flows scored (finished flows; interim snapshots not included).
    pub flows: u64,
    /// Interim snapshots of open flows scored.
    pub interim_scored: u64,
    /// Compat only: single-packet flows the era tool never wrote (not scored).
    pub single_packet_flows: u64,
    /// Flows ended early by the `max_flows` cap (scored like any other).
    pub evicted: u64,
    /// The process's peak resident memory, bytes (Linux; 0 where unknown).
    pub peak_rss: u64,
    /// Alert events per label (interim and final).
    pub alerts: BTreeMap<String, u64>,
    /// Alert events on open flows.
    pub interim_alerts: u64,
    /// Final verdicts not alerted again: the flow already had an interim
    /// alert with the same label.
    pub repeats_suppressed: u64,
    /// Inference batches run.
    pub batches: u64,
    /// Syslog messages not delivered.
    pub syslog_failed: u64,
    /// Syslog reconnects.
    pub syslog_reconnects: u64,
    /// IPS hook outcomes.
    pub hook: Option<HookStats>,
    /// The alerts output: records written and lost.
    pub alerts_out: OutputStats,
    /// The flow CSV, when written: rows written and lost.
    pub csv_out: Option<OutputStats>,
    /// Files that ended early (their whole packets were processed).
    pub truncated: Vec<CaptureError>,
    /// The run was stopped by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Flow workers used.
    pub workers: usize,
    /// Execution provider.
    pub provider: &'static str,
    /// Wall time.
    pub elapsed: Duration,
}

impl SensorSummary {
    /// The end-of-run summary table.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = String::new();
        let mut row = |k: &str, v: String| s.push_str(&format!("{k:<34} {v:>12}\n"));
        row("packets read", self.packets_read.to_string());
        if let Some(k) = self.kernel {
            row("dropped by the kernel", k.dropped.to_string());
            row("dropped by the interface", k.if_dropped.to_string());
        }
        row("packets decoded", self.packets_decoded.to_string());
        for (reason, n) in &self.skipped {
            row(
                &format!("dropped at decode: {}", reason.label()),
                n.to_string(),
            );
        }
        row("dropped in channels", self.queue_dropped.to_string());
        if self.single_packet_flows > 0 {
            row(
                "single-packet flows (era rule)",
                self.single_packet_flows.to_string(),
            );
        }
        row("flows scored", self.flows.to_string());
        row("  of them evicted (max flows)", self.evicted.to_string());
        row("interim verdicts", self.interim_scored.to_string());
        row("inference batches", self.batches.to_string());
        let total: u64 = self.alerts.values().sum();
        row("alerts", total.to_string());
        for (label, n) in &self.alerts {
            row(&format!("  {label}"), n.to_string());
        }
        row("  of them on open flows", self.interim_alerts.to_string());
        row(
            "final verdicts already alerted",
            self.repeats_suppressed.to_string(),
        );
        if self.syslog_failed > 0 || self.syslog_reconnects > 0 {
            row("syslog messages lost", self.syslog_failed.to_string());
            row("syslog reconnects", self.syslog_reconnects.to_string());
        }
        let outputs = [
            ("alerts output", Some(self.alerts_out)),
            ("flow CSV", self.csv_out),
        ];
        for (what, st) in outputs {
            if let Some(st) = st.filter(|st| st.errors > 0) {
                row(&format!("{what}: records lost"), st.lost.to_string());
                row(&format!("{what}: failed writes"), st.errors.to_string());
            }
        }
        if let Some(h) = &self.hook {
            for o in Outcome::ALL {
                let n = h.count(o);
                if n > 0 {
                    row(&format!("ips hook: {}", o.label()), n.to_string());
                }
            }
            row("ips hook: unblocked", h.unblocked.to_string());
            if h.unblock_failed > 0 {
                row("ips hook: unblock failed", h.unblock_failed.to_string());
            }
            if h.pauses > 0 {
                row("ips hook: pauses", h.pauses.to_string());
            }
        }
        row(
            "workers / device",
            format!("{} / {}", self.workers, self.provider),
        );
        row("elapsed", format!("{secs:.3} s"));
        row(
            "peak resident memory",
            format!("{:.1} MiB", self.peak_rss as f64 / 1048576.0),
        );
        row(
            "packets per second",
            format!("{:.0}", self.packets_read as f64 / secs),
        );
        s
    }
}

/// Counters every stage publishes, for stats events while running.
struct Metrics {
    received: AtomicU64,
    decoded: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    kernel_received: AtomicU64,
    kernel_dropped: AtomicU64,
    if_dropped: AtomicU64,
    queue_dropped: AtomicU64,
    /// Open flows, per worker.
    active: Vec<AtomicU64>,
    /// Flows evicted by the `max_flows` cap, per worker.
    evicted: Vec<AtomicU64>,
    /// The flow CSV's rows lost and failed writes.
    csv_lost: AtomicU64,
    csv_errors: AtomicU64,
    finished: AtomicU64,
    interim: AtomicU64,
    batches: AtomicU64,
}

impl Metrics {
    fn new(workers: usize) -> Self {
        Self {
            received: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            skipped: Default::default(),
            kernel_received: AtomicU64::new(0),
            kernel_dropped: AtomicU64::new(0),
            if_dropped: AtomicU64::new(0),
            queue_dropped: AtomicU64::new(0),
            active: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            evicted: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            csv_lost: AtomicU64::new(0),
            csv_errors: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            interim: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    /// Publishes the reader's counters.
    fn reader(&self, r: &Reader, queue_dropped: u64) {
        self.received.store(r.packets_read, Relaxed);
        self.decoded.store(r.packets_decoded, Relaxed);
        for (m, n) in self.skipped.iter().zip(r.skipped_by_index()) {
            m.store(n, Relaxed);
        }
        self.queue_dropped.store(queue_dropped, Relaxed);
    }

    fn kernel(&self, k: KernelStats) {
        self.kernel_received.store(k.received, Relaxed);
        self.kernel_dropped.store(k.dropped, Relaxed);
        self.if_dropped.store(k.if_dropped, Relaxed);
    }
}

/// SIGINT/SIGTERM (stop) and SIGHUP (reopen outputs), as flags.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Set by SIGINT or SIGTERM.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP; cleared by the stage that reopens its files.
    pub reopen: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. A second SIGINT or SIGTERM while stopping
    /// ends the process at once.
    pub fn install() -> Result<Signals, Error> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reopen: Arc::new(AtomicBool::new(false)),
        };
        let err =
            |e: std::io::Error| Error::Internal(format!("cannot install signal handlers: {e}"));
        for sig in [SIGINT, SIGTERM] {
            flag::register_conditional_shutdown(sig, 130, Arc::clone(&s.stop)).map_err(err)?;
            flag::register(sig, Arc::clone(&s.stop)).map_err(err)?;
        }
        flag::register(SIGHUP, Arc::clone(&s.reopen)).map_err(err)?;
        Ok(s)
    }
}

/// A tick: the time now, and whether it also ends timed-out flows.
#[derive(Debug, Clone, Copy)]
struct Tick {
    now_us: i64,
    sweep: bool,
}

/// A reader → worker message: one epoch's packets for that worker.
struct Epoch {
    id: u64,
    file: usize,
    packets: Vec<PacketMeta>,
    tick: Option<Tick>,
}

/// A finished flow (or an interim snapshot) with its features and the file
/// it ended in.
struct Item {
    flow: FinishedFlow,
    features: FeatureVector,
    file: usize,
    /// Interim snapshots: the tick that took them.
    at_us: Option<i64>,
}

impl Item {
    fn interim(&self) -> bool {
        self.flow.reason == EndReason::Active
    }
}

/// A worker → inference message.
struct Finished {
    epoch: u64,
    items: Vec<Item>,
}

/// An inference → writer message.
struct Batch {
    items: Vec<Item>,
    scored: Scored,
}

fn sort_key(i: &Item) -> (i64, i64, FlowKey) {
    (
        i.flow.record.last_us(),
        i.flow.record.start_us(),
        i.flow.key,
    )
}

/// Hands the reader's packets to the workers in epochs.
struct Feeder {
    to_workers: Vec<Sender<Epoch>>,
    batches: Vec<Vec<PacketMeta>>,
    in_epoch: usize,
    epoch: u64,
    hasher: std::hash::RandomState,
    profile: Profile,
    /// Live: drop a worker's packets while this many epochs wait for it.
    queue_limit: Option<usize>,
    dropped: u64,
}

impl Feeder {
    /// Routes one packet; false once the workers are gone.
    fn push(&mut self, meta: PacketMeta, file: usize) -> bool {
        let n = self.to_workers.len() as u64;
        let (key, _) = FlowKey::of(&meta, self.profile);
        let w = (self.hasher.hash_one(key) % n) as usize;
        if let (Some(limit), Some(tx)) = (self.queue_limit, self.to_workers.get(w)) {
            if tx.len() >= limit {
                self.dropped += 1;
                return true;
            }
        }
        if let Some(b) = self.batches.get_mut(w) {
            b.push(meta);
        }
        self.in_epoch += 1;
        self.in_epoch < EPOCH || self.cut(file, None)
    }

    /// Sends the epoch so far (possibly empty) to every worker.
    fn cut(&mut self, file: usize, tick: Option<Tick>) -> bool {
        let n = self.to_workers.len();
        let mut ok = true;
        for (tx, b) in self.to_workers.iter().zip(self.batches.iter_mut()) {
            let packets = std::mem::replace(b, Vec::with_capacity(EPOCH / n + 16));
            ok &= tx
                .send(Epoch {
                    id: self.epoch,
                    file,
                    packets,
                    tick,
                })
                .is_ok();
        }
        self.epoch += 1;
        self.in_epoch = 0;
        ok
    }
}

/// Flow worker settings.
#[derive(Debug, Clone, Copy)]
struct WorkerOpts {
    flow: FlowConfig,
    interim_after_us: i64,
}

fn worker(
    rx: Receiver<Epoch>,
    tx: Sender<Finished>,
    opts: WorkerOpts,
    metrics: &Metrics,
    me: usize,
) -> FlowStats {
    let mut table = FlowTable::new(opts.flow);
    let mut last_file = 0usize;
    for e in rx.iter() {
        let mut items = Vec::new();
        let file = e.file;
        let at_us = e.tick.map(|t| t.now_us);
        let mut emit = |flow: FinishedFlow| {
            let features = flow.record.features();
            let at_us = if flow.reason == EndReason::Active {
                at_us
            } else {
                None
            };
            items.push(Item {
                flow,
                features,
                file,
                at_us,
            });
        };
        for p in &e.packets {
            table.on_packet(p, &mut emit);
        }
        if let Some(t) = e.tick {
            if t.sweep {
                table.sweep(t.now_us, &mut emit);
            }
            table.interim(t.now_us, opts.interim_after_us, &mut emit);
        }
        last_file = e.file;
        let interim = items.iter().filter(|i| i.interim()).count() as u64;
        metrics.interim.fetch_add(interim, Relaxed);
        metrics
            .finished
            .fetch_add(items.len() as u64 - interim, Relaxed);
        if let Some(a) = metrics.active.get(me) {
            a.store(table.len() as u64, Relaxed);
        }
        if let Some(a) = metrics.evicted.get(me) {
            a.store(table.stats().evicted, Relaxed);
        }
        if tx.send(Finished { epoch: e.id, items }).is_err() {
            return table.stats();
        }
    }
    let mut items = Vec::with_capacity(table.len());
    table.drain(&mut |flow: FinishedFlow| {
        let features = flow.record.features();
        items.push(Item {
            flow,
            features,
            file: last_file,
            at_us: None,
        });
    });
    metrics.finished.fetch_add(items.len() as u64, Relaxed);
    if let Some(a) = metrics.active.get(me) {
        a.store(0, Relaxed);
    }
    let _ = tx.send(Finished {
        epoch: u64::MAX,
        items,
    });
    table.stats()
}

fn row_of(i: &Item) -> FlowRow {
    let (src, src_port, dst, dst_port) = i.flow.endpoints();
    FlowRow {
        features: i.features,
        src,
        dst,
        src_port,
        dst_port,
        proto: i.flow.key.proto,
        interim: i.interim(),
    }
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

/// Orders finished flows across workers and scores them in batches.
fn inference(
    rx: Receiver<Finished>,
    workers: usize,
    mut model: Model,
    tx: Sender<Batch>,
    batch_size: usize,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<u64, Error> {
    let mut pending: BTreeMap<u64, (usize, Vec<Item>)> = BTreeMap::new();
    let mut ready: Vec<Item> = Vec::new();
    let mut since: Option<Instant> = None;
    let mut batches = 0u64;
    let mut run = |ready: &mut Vec<Item>, model: &mut Model| -> Result<bool, Error> {
        // Batches are taken off the front by moving out, never by shifting
        // the rest: the drain at the end of input can hold millions of flows.
        let mut all = std::mem::take(ready).into_iter();
        loop {
            let items: Vec<Item> = all.by_ref().take(batch_size).collect();
            if items.is_empty() {
                break;
            }
            let rows: Vec<FlowRow> = items.iter().map(row_of).collect();
            let scored = model.score(&rows)?;
            batches += 1;
            metrics.batches.store(batches, Relaxed);
            if tx.send(Batch { items, scored }).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    };
    loop {
        let msg = match since {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout(timeout.saturating_sub(t.elapsed())),
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
                    items.sort_unstable_by_key(sort_key);
                    append(&mut ready, items);
                }
                if !ready.is_empty() && since.is_none() {
                    since = Some(Instant::now());
                }
                if ready.len() >= batch_size {
                    let full = ready.len() - ready.len() % batch_size;
                    let mut head: Vec<Item> = ready.drain(..full).collect();
                    if !run(&mut head, &mut model)? {
                        return Ok(batches);
                    }
                    since = (!ready.is_empty()).then(Instant::now);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !run(&mut ready, &mut model)? {
                    return Ok(batches);
                }
                since = None;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Every worker has finished: whatever is pending is complete.
    for (_, (_, mut items)) in std::mem::take(&mut pending) {
        items.sort_unstable_by_key(sort_key);
        append(&mut ready, items);
    }
    run(&mut ready, &mut model)?;
    Ok(batches)
}

/// The writer stage's settings and sinks.
struct Sinks {
    alerts: OutFile,
    flow_events: bool,
    syslog: Option<SyslogSink>,
    files: Vec<String>,
    iface: Option<String>,
    hook: Option<Hook>,
    stats_interval: Option<Duration>,
    /// Write a stats event at exit.
    stats_at_exit: bool,
    reopen: Option<Arc<AtomicBool>>,
    /// The flow CSV stage, when there is one: batches move on to it.
    to_csv: Option<Sender<Batch>>,
    /// Tells the flow CSV stage to reopen its file.
    csv_reopen: Arc<AtomicBool>,
}

/// The flow CSV stage's state.
struct CsvSink {
    /// Formats a batch's rows into memory; `file` then writes them whole.
    csv: CsvWriter<Vec<u8>>,
    file: OutFile,
    layout: Layout,
    labeler: Labeler,
    profile: Profile,
    reopen: Arc<AtomicBool>,
}

#[derive(Default)]
struct Written {
    flows: u64,
    alerts: BTreeMap<String, u64>,
    interim_alerts: u64,
    repeats_suppressed: u64,
    syslog_failed: u64,
    syslog_reconnects: u64,
    hook: Option<HookStats>,
    /// The alerts output's counters.
    alerts_out: OutputStats,
    /// The flow CSV's counters, when there is one.
    csv: Option<OutputStats>,
}

/// The writer: alert and flow events, syslog, the IPS hook, stats events.
struct Writer<'a> {
    s: Sinks,
    bundle: &'a Bundle,
    metrics: &'a Metrics,
    t0: Instant,
    alert_counts: Vec<u64>,
    w: Written,
    /// Flows with an interim alert: flow id → label.
    alerted: HashMap<u64, usize>,
    /// Alert lines held back until their IPS hook `block` run settles.
    held: HashMap<JobId, Held>,
    buf: Vec<u8>,
    one: Vec<u8>,
}

/// An alert line waiting for its `block` run: both renderings, so that
/// `alert.action` says what the hook did.
struct Held {
    allowed: Vec<u8>,
    blocked: Vec<u8>,
    severity: Severity,
}

impl Writer<'_> {
    fn batch(&mut self, batch: &Batch) -> Result<(), Error> {
        self.buf.clear();
        for (i, (item, v)) in batch.items.iter().zip(&batch.scored.verdicts).enumerate() {
            let probs = batch.scored.probs_of(i);
            if item.interim() {
                if !v.alert {
                    continue;
                }
                let id = eve::flow_id(&item.flow);
                if self.alerted.get(&id) == Some(&v.label) {
                    continue;
                }
                self.alerted.insert(id, v.label);
                self.w.interim_alerts += 1;
                self.alert(item, v, probs);
                continue;
            }
            self.w.flows += 1;
            let prior = if self.alerted.is_empty() {
                None
            } else {
                self.alerted.remove(&eve::flow_id(&item.flow))
            };
            if v.alert {
                if prior == Some(v.label) {
                    self.w.repeats_suppressed += 1;
                } else {
                    self.alert(item, v, probs);
                }
            }
            if self.s.flow_events {
                let origin = Origin {
                    iface: self.s.iface.as_deref(),
                    pcap: self.s.files.get(item.file).map(String::as_str),
                    at_us: item.at_us,
                };
                eve::write_event(
                    &mut self.buf,
                    EventType::Flow,
                    &item.flow,
                    self.bundle,
                    v,
                    probs,
                    origin,
                );
            }
        }
        self.s.alerts.write(&self.buf)
    }

    /// One alert: the hook decides first. When it queued a `block` run, the
    /// line is held back until the run settles (its outcome sets `action`);
    /// otherwise it is written now, `allowed`.
    fn alert(&mut self, item: &Item, v: &crate::infer::Verdict, probs: &[f32]) {
        if let Some(n) = self.alert_counts.get_mut(v.label) {
            *n += 1;
        }
        let mut one = std::mem::take(&mut self.one);
        let origin = Origin {
            iface: self.s.iface.as_deref(),
            pcap: self.s.files.get(item.file).map(String::as_str),
            at_us: item.at_us,
        };
        let bundle = self.bundle;
        let render = |one: &mut Vec<u8>, blocked: bool| {
            one.clear();
            eve::write_event(
                one,
                EventType::Alert { blocked },
                &item.flow,
                bundle,
                v,
                probs,
                origin,
            );
        };
        render(&mut one, false);
        let label = self.bundle.labels.get(v.label).map_or("?", String::as_str);
        let severity = Severity::from_eve(u64::from(eve::severity(self.bundle, v)));
        let decision = self.s.hook.as_mut().map(|h| {
            let (src, src_port, dst, dst_port) = item.flow.endpoints();
            let proto = eve::proto_name(item.flow.key.proto);
            let alert = HookAlert {
                src: src.to_ip(),
                src_port,
                dst: dst.to_ip(),
                dst_port,
                proto: &proto,
                label,
                score: v.score,
                json: one.strip_suffix(b"\n").unwrap_or(&one),
            };
            h.on_alert(&alert, Instant::now())
        });
        if let Some(Decision::Queued(id)) = decision {
            let mut blocked = Vec::with_capacity(one.len() + 8);
            render(&mut blocked, true);
            let allowed = std::mem::replace(&mut one, Vec::with_capacity(1024));
            let held = Held {
                allowed,
                blocked,
                severity,
            };
            self.held.insert(id, held);
        } else {
            self.buf.extend_from_slice(&one);
            self.syslog(severity, &one);
        }
        self.one = one;
    }

    /// Sends one alert line to syslog, if configured.
    fn syslog(&mut self, severity: Severity, line: &[u8]) {
        if let Some(sys) = self.s.syslog.as_mut() {
            let line = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line));
            sys.send(severity, &line);
        }
    }

    /// Writes the held line of an alert whose `block` run settled, to the
    /// alerts output and syslog at once.
    fn release(&mut self, s: Settled) -> Result<(), Error> {
        let Some(held) = self.held.remove(&s.id) else {
            return Ok(());
        };
        let line = if s.outcome == Outcome::Blocked {
            held.blocked
        } else {
            held.allowed
        };
        self.syslog(held.severity, &line);
        self.s.alerts.write(&line)
    }

    /// Writes the lines of the `block` runs that settled since last time.
    fn settle_hook(&mut self) -> Result<(), Error> {
        let settled = match self.s.hook.as_mut() {
            Some(h) => h.poll(Instant::now()),
            None => return Ok(()),
        };
        for s in settled {
            self.release(s)?;
        }
        Ok(())
    }

    /// At the end: waits for every hook run still queued or running (each
    /// bounded by the timeout) and writes every held line.
    fn finish_hook(&mut self) -> Result<(), Error> {
        let Some(mut hook) = self.s.hook.take() else {
            return Ok(());
        };
        let mut result = Ok(());
        hook.finish(|s| {
            let r = self.release(s);
            if result.is_ok() {
                result = r;
            }
        });
        self.s.hook = Some(hook);
        result
    }

    /// Waits until `wake` for the next batch; a report of the IPS hook's
    /// runner ends the wait early (`Ok(None)`), so its held line goes out.
    fn next_batch(
        &self,
        rx: &Receiver<Batch>,
        wake: Instant,
    ) -> Result<Option<Batch>, RecvTimeoutError> {
        let Some(reports) = self.s.hook.as_ref().and_then(Hook::reports) else {
            return rx.recv_deadline(wake).map(Some);
        };
        let mut sel = Select::new();
        let batches = sel.recv(rx);
        sel.recv(reports);
        match sel.ready_deadline(wake) {
            Ok(i) if i == batches => match rx.try_recv() {
                Ok(batch) => Ok(Some(batch)),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            },
            Ok(_) => Ok(None),
            Err(_) => Err(RecvTimeoutError::Timeout),
        }
    }

    fn counts_by_label(&self) -> BTreeMap<String, u64> {
        self.bundle
            .labels
            .iter()
            .zip(&self.alert_counts)
            .filter(|(_, &n)| n > 0)
            .map(|(l, &n)| (l.clone(), n))
            .collect()
    }

    /// Writes a stats event to the alerts output and a line to the log.
    fn stats(&mut self) -> Result<(), Error> {
        let m = self.metrics;
        let get = |a: &AtomicU64| a.load(Relaxed);
        let skipped: serde_json::Map<String, serde_json::Value> = SkipReason::ALL
            .iter()
            .zip(&m.skipped)
            .map(|(r, n)| (r.label().to_string(), get(n).into()))
            .collect();
        let active: u64 = m.active.iter().map(get).sum();
        let evicted: u64 = m.evicted.iter().map(get).sum();
        let mem = memory();
        let out = self.s.alerts.stats();
        let alerts: u64 = self.alert_counts.iter().sum();
        let mut hook = serde_json::Map::new();
        if let Some(h) = self.s.hook.as_ref().map(Hook::stats) {
            for o in Outcome::ALL {
                hook.insert(o.label().to_string(), h.count(o).into());
            }
            hook.insert("unblocked".into(), h.unblocked.into());
            hook.insert("unblock_failed".into(), h.unblock_failed.into());
            hook.insert("active_blocks".into(), (h.active as u64).into());
            hook.insert("pauses".into(), h.pauses.into());
            hook.insert("in_flight".into(), (h.in_flight as u64).into());
        }
        let (sys_lost, sys_reconnects) = self
            .s
            .syslog
            .as_ref()
            .map_or((0, 0), |s| (s.stats().failed, s.stats().reconnects));
        let now_us = super::live::wall_us();
        let ev = serde_json::json!({
            "timestamp": eve::timestamp(now_us),
            "event_type": "stats",
            "in_iface": self.s.iface,
            "stats": {
                "uptime": self.t0.elapsed().as_secs(),
                "capture": {
                    "packets": get(&m.received),
                    "kernel_packets": get(&m.kernel_received),
                    "kernel_drops": get(&m.kernel_dropped),
                    "if_drops": get(&m.if_dropped),
                },
                "decoder": { "decoded": get(&m.decoded), "skipped": skipped },
                "pipeline": { "worker_queue_drops": get(&m.queue_dropped) },
                "flows": {
                    "active": active,
                    "finished": get(&m.finished),
                    "evicted": evicted,
                    "interim_scored": get(&m.interim),
                },
                "inference": { "batches": get(&m.batches) },
                "memory": { "rss": mem.rss, "peak_rss": mem.peak_rss },
                "alerts": {
                    "total": alerts,
                    "interim": self.w.interim_alerts,
                    "repeats_suppressed": self.w.repeats_suppressed,
                    "by_label": self.counts_by_label(),
                },
                "syslog": { "lost": sys_lost, "reconnects": sys_reconnects },
                "outputs": {
                    "alerts": { "lost": out.lost, "errors": out.errors },
                    "flows_csv": { "lost": get(&m.csv_lost), "errors": get(&m.csv_errors) },
                },
                "ips": hook,
            }
        });
        eprintln!(
            "stats: packets {} kernel_drops {} if_drops {} queue_drops {} decoded {} flows active {} finished {} evicted {} interim {} alerts {} ({} on open flows) lost: alerts output {} flow CSV {} hook {}",
            get(&m.received),
            get(&m.kernel_dropped),
            get(&m.if_dropped),
            get(&m.queue_dropped),
            get(&m.decoded),
            active,
            get(&m.finished),
            evicted,
            get(&m.interim),
            alerts,
            self.w.interim_alerts,
            out.lost,
            get(&m.csv_lost),
            serde_json::Value::Object(hook),
        );
        let mut line = ev.to_string().into_bytes();
        line.push(b'\n');
        self.s.alerts.write(&line)
    }

    /// Between batches: SIGHUP, settled hook runs, hook TTLs, the stats timer.
    fn housekeeping(&mut self, next_stats: &mut Option<Instant>) -> Result<(), Error> {
        if self
            .s
            .reopen
            .as_ref()
            .is_some_and(|r| r.swap(false, Relaxed))
        {
            self.s.alerts.reopen()?;
            self.s.csv_reopen.store(true, Relaxed);
            eprintln!("flowsentinel: SIGHUP: output files reopened");
        }
        self.settle_hook()?;
        let now = Instant::now();
        if let Some(h) = self.s.hook.as_mut() {
            h.expire(now);
        }
        if let (Some(t), Some(every)) = (*next_stats, self.s.stats_interval) {
            if now >= t {
                self.stats()?;
                *next_stats = Some(t + every);
            }
        }
        Ok(())
    }

    fn run(mut self, rx: Receiver<Batch>) -> Result<Written, Error> {
        let mut next_stats = self.s.stats_interval.map(|d| self.t0 + d);
        loop {
            let mut wake = Instant::now() + Duration::from_secs(1);
            if let Some(t) = next_stats {
                wake = wake.min(t);
            }
            if let Some(t) = self.s.hook.as_ref().and_then(Hook::next_expiry) {
                wake = wake.min(t);
            }
            match self.next_batch(&rx, wake) {
                Ok(None) => {}
                Ok(Some(batch)) => {
                    self.batch(&batch)?;
                    if let Some(tx) = &self.s.to_csv {
                        if tx.send(batch).is_err() {
                            // The CSV stage failed; its error is reported from there.
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.housekeeping(&mut next_stats)?;
        }
        self.finish_hook()?;
        if self.s.stats_at_exit {
            self.stats()?;
        }
        self.w.alerts = self.counts_by_label();
        if let Some(sys) = &self.s.syslog {
            let st = sys.stats();
            self.w.syslog_failed = st.failed;
            self.w.syslog_reconnects = st.reconnects;
        }
        self.w.hook = self.s.hook.as_ref().map(Hook::stats);
        self.w.alerts_out = self.s.alerts.stats();
        Ok(self.w)
    }
}

/// The last stage: every finished flow as a CSV row with the model's label
/// and score.
fn csv_writer(
    rx: Receiver<Batch>,
    mut c: CsvSink,
    bundle: &Bundle,
    metrics: &Metrics,
) -> Result<OutputStats, Error> {
    let mut score = String::new();
    for batch in rx.iter() {
        if c.reopen.swap(false, Relaxed) {
            c.file.reopen()?;
            if c.file.is_empty() {
                c.csv = CsvWriter::in_memory(c.layout, c.profile, &CSV_EXTRA, true);
            }
        }
        for (item, v) in batch.items.iter().zip(&batch.scored.verdicts) {
            if item.interim() {
                continue;
            }
            let (src, _, dst, _) = item.flow.endpoints();
            let truth = c
                .labeler
                .label(src, dst, item.flow.record.start_us(), c.profile);
            let label = bundle.labels.get(v.label).map_or("", String::as_str);
            score.clear();
            score.push_str(&v.score.to_string());
            // Writing into memory cannot fail.
            let _ = c
                .csv
                .write_with(&item.flow, &item.features, truth, &[label, &score]);
        }
        let r = c.file.write(c.csv.get_mut());
        c.csv.get_mut().clear();
        metrics.csv_lost.store(c.file.stats().lost, Relaxed);
        metrics.csv_errors.store(c.file.stats().errors, Relaxed);
        r?;
    }
    Ok(c.file.stats())
}

const CSV_EXTRA: [&str; 2] = ["ML Label", "ML Score"];

/// The addresses of a capture interface, as single-address CIDRs.
fn own_addresses(iface: &str) -> Vec<crate::ips::Cidr> {
    pcap::Device::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.name == iface)
        .flat_map(|d| d.addresses)
        .filter_map(|a| a.addr.to_string().parse().ok())
        .collect()
}

/// A stage thread's result, with a panic turned into an internal error.
fn joined<T>(r: std::thread::Result<Result<T, Error>>, stage: &str) -> Result<T, Error> {
    r.map_err(|_| Error::Internal(format!("the {stage} thread panicked")))?
}

/// What the reader did, for the summary.
pub(super) struct ReaderResult {
    pub(super) reader: Reader,
    pub(super) kernel: Option<KernelStats>,
    pub(super) queue_dropped: u64,
    pub(super) interrupted: bool,
}

/// The reader's side of the pipeline, handed to the source's read loop.
pub(super) struct Feed<'a> {
    feeder: Feeder,
    metrics: &'a Metrics,
    /// SIGINT/SIGTERM.
    pub(super) stop: Arc<AtomicBool>,
    /// The profile's decoding rules.
    pub(super) rules: crate::decode::DecodeRules,
    /// Interim verdicts are on.
    pub(super) interim: bool,
}

impl Feed<'_> {
    /// Routes a packet to its worker; false once the workers are gone.
    pub(super) fn push(&mut self, meta: PacketMeta, file: usize) -> bool {
        self.feeder.push(meta, file)
    }

    /// Ends the epoch, with a tick at `now_us` (`sweep`: also end timed-out flows).
    pub(super) fn cut(&mut self, file: usize, now_us: Option<i64>, sweep: bool) -> bool {
        let tick = now_us.map(|now_us| Tick { now_us, sweep });
        self.feeder.cut(file, tick)
    }

    /// Ends a partly filled epoch without a tick.
    fn flush(&mut self, file: usize) -> bool {
        self.feeder.in_epoch == 0 || self.feeder.cut(file, None)
    }

    /// Publishes the reader's counters (and the kernel's) for stats events.
    pub(super) fn publish(&self, reader: &Reader, kernel: Option<KernelStats>) {
        self.metrics.reader(reader, self.feeder.dropped);
        if let Some(k) = kernel {
            self.metrics.kernel(k);
        }
    }

    /// Packets dropped at full worker queues.
    pub(super) fn dropped(&self) -> u64 {
        self.feeder.dropped
    }
}

/// Reads capture files to their end (or until SIGINT/SIGTERM).
fn read_files(
    files: Vec<PcapFile>,
    feed: &mut Feed<'_>,
    progress: bool,
    t0: Instant,
) -> Result<ReaderResult, Error> {
    let mut reader = Reader::new(progress, t0);
    let nfiles = files.len();
    let mut interrupted = false;
    let mut next_tick = i64::MIN;
    for (fi, mut file) in files.into_iter().enumerate() {
        let stop = Arc::clone(&feed.stop);
        let rules = feed.rules;
        let completed = reader.read(fi, nfiles, &mut file, rules, |meta| {
            if feed.interim && meta.ts_us >= next_tick {
                // Packet time reached the next tick: the epoch so far ends here.
                if next_tick != i64::MIN && !feed.cut(fi, Some(meta.ts_us), false) {
                    return false;
                }
                next_tick = meta.ts_us.saturating_add(REPLAY_TICK_US);
            }
            // A packet read is a packet processed, also the one read when a
            // stop signal came.
            let more = feed.push(meta, fi);
            if stop.load(Relaxed) {
                interrupted = true;
                return false;
            }
            more
        });
        // An epoch never spans two files, so `pcap_filename` is exact.
        let flushed = feed.flush(fi);
        feed.publish(&reader, None);
        if !completed || !flushed {
            break;
        }
    }
    reader.finish();
    Ok(ReaderResult {
        reader,
        kernel: None,
        queue_dropped: 0,
        interrupted,
    })
}

/// Runs the sensor on files (`replay`) or an interface (`live`).
pub fn run(cfg: &SensorConfig) -> Result<SensorSummary, Error> {
    let t0 = Instant::now();
    let live = matches!(cfg.source, Source::Live(_));
    let model = Model::load(&cfg.model, cfg.device, cfg.onnxruntime.as_deref())?;
    let bundle = model.bundle.clone();
    let profile = bundle.profile;
    let labeler = match &cfg.labels {
        Some(p) => Labeler::load(p)?,
        None => Labeler::default(),
    };
    let mut hook_cfg = cfg.hook.clone();
    if let (Some(h), Source::Live(o)) = (hook_cfg.as_mut(), &cfg.source) {
        // Never block the sensor's own addresses: a retransmitted SYN-ACK of
        // the monitored host can look like a scan from it.
        for a in own_addresses(&o.iface) {
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
        Source::Live(o) => (
            Vec::new(),
            Some(crate::capture::LiveCapture::open(o)?),
            Vec::new(),
        ),
    };
    let csv_reopen = Arc::new(AtomicBool::new(false));
    let layout = if profile == Profile::Cic2017 {
        Layout::Tool2017
    } else {
        Layout::Tool2018
    };
    let csv = match &cfg.flows_csv {
        None => None,
        Some(p) => Some({
            let file = OutFile::open(p, live, "flow CSV", cfg.on_output_error)?;
            // A header only at the start of a file, also when appending.
            let header = file.is_empty();
            CsvSink {
                csv: CsvWriter::in_memory(layout, profile, &CSV_EXTRA, header),
                file,
                layout,
                labeler,
                profile,
                reopen: Arc::clone(&csv_reopen),
            }
        }),
    };
    let signals = Signals::install()?;
    let (to_csv, csv_in) = bounded::<Batch>(8);
    let sinks = Sinks {
        alerts: OutFile::open(&cfg.alerts, live, "alerts", cfg.on_output_error)?,
        flow_events: cfg.flow_events,
        to_csv: csv.is_some().then_some(to_csv),
        syslog: cfg
            .syslog
            .clone()
            .map(|(target, format)| SyslogSink::new(target, format)),
        files: names,
        iface: capture.as_ref().map(|c| c.iface().to_string()),
        hook,
        stats_interval: cfg.stats_interval.filter(|d| !d.is_zero()),
        stats_at_exit: live || cfg.stats_interval.is_some(),
        reopen: Some(Arc::clone(&signals.reopen)),
        csv_reopen,
    };
    if let Some(user) = &cfg.user {
        super::live::drop_privileges(user)?;
    }
    let mut flow = FlowConfig::new(profile);
    flow.flow_timeout_us = cfg.flow_timeout_us;
    flow.activity_timeout_us = cfg.activity_timeout_us;
    // Workers shard flows by key hash: each holds an equal part of the cap.
    flow.max_flows = cfg.max_flows.map(|m| m.div_ceil(cfg.workers.max(1)));
    let opts = WorkerOpts {
        flow,
        interim_after_us: cfg.interim_after_us,
    };
    let n = cfg.workers.max(1);
    let metrics = Metrics::new(n);
    let mut summary = SensorSummary {
        workers: n,
        provider: model.provider,
        ..SensorSummary::default()
    };
    let mut feed = Feed {
        feeder: Feeder {
            to_workers: Vec::with_capacity(n),
            batches: (0..n).map(|_| Vec::with_capacity(EPOCH)).collect(),
            in_epoch: 0,
            epoch: 0,
            hasher: std::hash::RandomState::new(),
            profile,
            queue_limit: live.then_some(LIVE_QUEUE_LIMIT),
            dropped: 0,
        },
        metrics: &metrics,
        stop: Arc::clone(&signals.stop),
        rules: decode_rules(profile, Padding::default_for(profile)),
        interim: cfg.interim_after_us > 0,
    };

    let (worker_out, inf_in) = bounded::<Finished>(4 * n);
    let (inf_out, writer_in) = bounded::<Batch>(8);
    let metrics = &metrics;
    let result = std::thread::scope(
        |scope| -> Result<(ReaderResult, FlowStats, Written, u64), Error> {
            let mut worker_handles = Vec::with_capacity(n);
            for me in 0..n {
                // Live: never block the reader (full queues drop, counted).
                let (tx, rx) = if live {
                    unbounded()
                } else {
                    bounded::<Epoch>(8)
                };
                feed.feeder.to_workers.push(tx);
                let out = worker_out.clone();
                worker_handles.push(scope.spawn(move || worker(rx, out, opts, metrics, me)));
            }
            drop(worker_out);
            let (b, t) = (cfg.batch_size.max(1), cfg.batch_timeout);
            let inf = scope.spawn(move || inference(inf_in, n, model, inf_out, b, t, metrics));
            let csv_bundle = bundle.clone();
            let csv_stage =
                csv.map(|c| scope.spawn(move || csv_writer(csv_in, c, &csv_bundle, metrics)));
            let bundle = &bundle;
            let wr = scope.spawn(move || {
                Writer {
                    s: sinks,
                    bundle,
                    metrics,
                    t0,
                    alert_counts: vec![0; bundle.labels.len()],
                    w: Written::default(),
                    alerted: HashMap::new(),
                    held: HashMap::new(),
                    buf: Vec::with_capacity(1 << 16),
                    one: Vec::with_capacity(1024),
                }
                .run(writer_in)
            });

            // The reader: this thread.
            let read = match capture {
                Some(cap) => super::live::read_live(cap, &mut feed, t0),
                None => read_files(files, &mut feed, cfg.progress, t0),
            };
            feed.feeder.to_workers.clear();
            let mut flow_stats = FlowStats::default();
            for h in worker_handles {
                let st = h.join().unwrap_or_default();
                flow_stats.single_packet_discarded += st.single_packet_discarded;
                flow_stats.evicted += st.evicted;
            }
            let inf_result = inf.join();
            let wr_result = wr.join();
            // Later stages' errors come first: they are why earlier stages stopped.
            let csv_stats = match csv_stage {
                Some(h) => Some(joined(h.join(), "flow CSV")?),
                None => None,
            };
            let mut written = joined(wr_result, "output writer")?;
            written.csv = csv_stats;
            let batches = joined(inf_result, "inference")?;
            Ok((read?, flow_stats, written, batches))
        },
    );
    let (read, flow_stats, written, batches) = result?;
    summary.single_packet_flows = flow_stats.single_packet_discarded;
    summary.evicted = flow_stats.evicted;
    summary.flows = written.flows;
    summary.alerts = written.alerts;
    summary.interim_alerts = written.interim_alerts;
    summary.repeats_suppressed = written.repeats_suppressed;
    summary.hook = written.hook;
    summary.alerts_out = written.alerts_out;
    summary.csv_out = written.csv;
    summary.batches = batches;
    summary.interim_scored = metrics.interim.load(Relaxed);
    summary.syslog_failed = written.syslog_failed;
    summary.syslog_reconnects = written.syslog_reconnects;
    summary.packets_read = read.reader.packets_read;
    summary.packets_decoded = read.reader.packets_decoded;
    summary.skipped = read.reader.skipped();
    summary.kernel = read.kernel;
    summary.queue_dropped = read.queue_dropped;
    summary.interrupted = read.interrupted;
    summary.truncated = read.reader.truncated;
    summary.elapsed = t0.elapsed();
    summary.peak_rss = memory().peak_rss;
    Ok(summary)
}
