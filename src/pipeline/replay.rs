//! `replay`: the offline IDS. Threads joined by bounded channels, data one way:
//!
//! ```text
//! reader (capture + decode) ──PacketMeta batches──▶ N flow workers (shards)
//!     ──finished flows + features──▶ inference (ordering, batching, ORT)
//!     ──scored batches──▶ writer (EVE JSON, syslog, flow CSV)
//! ```
//!
//! The reader picks a worker from a randomly keyed hash of the direction-neutral
//! flow key, so both directions of a flow meet in one worker, in order. It cuts
//! the packet stream into epochs of [`EPOCH`] packets and sends every worker
//! every epoch, even an empty one; workers answer each epoch with the flows it
//! finished. Inference releases an epoch once every worker has answered, sorted
//! by (last packet, first packet, key). Flow records, their order, and so the
//! windows of sequence models, are therefore the same for any worker count.
//!
//! Offline replay never drops: full channels block the reader. When a later
//! stage fails, its receiver goes away, every upstream send fails, and the
//! stages stop in order.

use super::{decode_rules, Padding, Reader};
use crate::capture::{CaptureError, PcapFile};
use crate::decode::{PacketMeta, SkipReason};
use crate::error::Error;
use crate::eve::{self, EventType, Origin};
use crate::features::{FeatureVector, Layout, Profile};
use crate::flow::{FinishedFlow, FlowConfig, FlowKey, FlowTable};
use crate::infer::{Device, FlowRow, Model, Scored};
use crate::labels::Labeler;
use crate::output::CsvWriter;
use crate::syslog::{Severity, SyslogFormat, SyslogSink, SyslogTarget};
use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Packets per epoch (see the module docs).
pub const EPOCH: usize = 2048;

/// Everything `replay` needs.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Capture files, read in order as one capture.
    pub files: Vec<PathBuf>,
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
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Frames read.
    pub packets_read: u64,
    /// Frames that became flow packets.
    pub packets_decoded: u64,
    /// Frames skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Flows scored.
    pub flows: u64,
    /// Compat only: single-packet flows the era tool never wrote (not scored).
    pub single_packet_flows: u64,
    /// Alerts per label.
    pub alerts: BTreeMap<String, u64>,
    /// Inference batches run.
    pub batches: u64,
    /// Syslog messages not delivered.
    pub syslog_failed: u64,
    /// Syslog reconnects.
    pub syslog_reconnects: u64,
    /// Files that ended early (their whole packets were processed).
    pub truncated: Vec<CaptureError>,
    /// Flow workers used.
    pub workers: usize,
    /// Execution provider.
    pub provider: &'static str,
    /// Wall time.
    pub elapsed: Duration,
}

impl ReplaySummary {
    /// The end-of-run summary table.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = String::new();
        let mut row = |k: &str, v: String| s.push_str(&format!("{k:<34} {v:>12}\n"));
        row("packets read", self.packets_read.to_string());
        row("packets decoded", self.packets_decoded.to_string());
        for (reason, n) in &self.skipped {
            row(
                &format!("dropped at decode: {}", reason.label()),
                n.to_string(),
            );
        }
        row("dropped in channels", "0".into());
        if self.single_packet_flows > 0 {
            row(
                "single-packet flows (era rule)",
                self.single_packet_flows.to_string(),
            );
        }
        row("flows scored", self.flows.to_string());
        row("inference batches", self.batches.to_string());
        let total: u64 = self.alerts.values().sum();
        row("alerts", total.to_string());
        for (label, n) in &self.alerts {
            row(&format!("  {label}"), n.to_string());
        }
        if self.syslog_failed > 0 || self.syslog_reconnects > 0 {
            row("syslog messages lost", self.syslog_failed.to_string());
            row("syslog reconnects", self.syslog_reconnects.to_string());
        }
        row(
            "workers / device",
            format!("{} / {}", self.workers, self.provider),
        );
        row("elapsed", format!("{secs:.3} s"));
        row(
            "packets per second",
            format!("{:.0}", self.packets_read as f64 / secs),
        );
        s
    }
}

/// A reader → worker message: one epoch's packets for that worker.
struct Epoch {
    id: u64,
    file: usize,
    packets: Vec<PacketMeta>,
}

/// A finished flow with its features and the file it ended in.
struct Item {
    flow: FinishedFlow,
    features: FeatureVector,
    file: usize,
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

fn worker(rx: Receiver<Epoch>, tx: Sender<Finished>, cfg: FlowConfig) -> u64 {
    let mut table = FlowTable::new(cfg);
    let mut last = (0u64, 0usize);
    for e in rx.iter() {
        let mut items = Vec::new();
        let file = e.file;
        for p in &e.packets {
            table.on_packet(p, &mut |flow: FinishedFlow| {
                let features = flow.record.features();
                items.push(Item {
                    flow,
                    features,
                    file,
                });
            });
        }
        last = (e.id, e.file);
        if tx.send(Finished { epoch: e.id, items }).is_err() {
            return table.stats().single_packet_discarded;
        }
    }
    let mut items = Vec::new();
    table.drain(&mut |flow: FinishedFlow| {
        let features = flow.record.features();
        items.push(Item {
            flow,
            features,
            file: last.1,
        });
    });
    let _ = tx.send(Finished {
        epoch: u64::MAX,
        items,
    });
    table.stats().single_packet_discarded
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
) -> Result<u64, Error> {
    let mut pending: BTreeMap<u64, (usize, Vec<Item>)> = BTreeMap::new();
    let mut ready: Vec<Item> = Vec::new();
    let mut since: Option<Instant> = None;
    let mut batches = 0u64;
    let mut run = |ready: &mut Vec<Item>, model: &mut Model| -> Result<bool, Error> {
        while !ready.is_empty() {
            let n = ready.len().min(batch_size);
            let items: Vec<Item> = ready.drain(..n).collect();
            let rows: Vec<FlowRow> = items.iter().map(row_of).collect();
            let scored = model.score(&rows)?;
            batches += 1;
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
                slot.1.extend(f.items);
                while let Some(first) = pending.first_entry() {
                    if first.get().0 < workers {
                        break;
                    }
                    let (_, mut items) = first.remove();
                    items.sort_unstable_by_key(sort_key);
                    ready.extend(items);
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
        ready.extend(items);
    }
    run(&mut ready, &mut model)?;
    Ok(batches)
}

/// The output side of the writer thread.
struct Sinks {
    alerts: Box<dyn Write + Send>,
    alerts_path: PathBuf,
    flow_events: bool,
    syslog: Option<SyslogSink>,
    files: Vec<String>,
    /// The flow CSV stage, when there is one: batches move on to it.
    to_csv: Option<Sender<Batch>>,
}

/// The flow CSV stage's state.
struct CsvSink {
    csv: CsvWriter<Box<dyn Write + Send>>,
    path: PathBuf,
    labeler: Labeler,
    profile: Profile,
}

struct Written {
    flows: u64,
    alerts: BTreeMap<String, u64>,
    syslog_failed: u64,
    syslog_reconnects: u64,
}

fn writer(
    rx: Receiver<Batch>,
    mut s: Sinks,
    bundle: crate::infer::Bundle,
) -> Result<Written, Error> {
    let mut w = Written {
        flows: 0,
        alerts: BTreeMap::new(),
        syslog_failed: 0,
        syslog_reconnects: 0,
    };
    let mut alert_counts = vec![0u64; bundle.labels.len()];
    let mut buf = Vec::with_capacity(1 << 16);
    let mut one = Vec::with_capacity(1024);
    for batch in rx.iter() {
        buf.clear();
        for (i, (item, v)) in batch.items.iter().zip(&batch.scored.verdicts).enumerate() {
            w.flows += 1;
            let probs = batch.scored.probs_of(i);
            let origin = Origin {
                iface: None,
                pcap: s.files.get(item.file).map(String::as_str),
            };
            if v.alert {
                if let Some(n) = alert_counts.get_mut(v.label) {
                    *n += 1;
                }
                one.clear();
                eve::write_event(
                    &mut one,
                    EventType::Alert,
                    &item.flow,
                    &bundle,
                    v,
                    probs,
                    origin,
                );
                buf.extend_from_slice(&one);
                if let Some(sys) = s.syslog.as_mut() {
                    let line = String::from_utf8_lossy(one.strip_suffix(b"\n").unwrap_or(&one));
                    sys.send(
                        Severity::from_eve(u64::from(eve::severity(&bundle, v))),
                        &line,
                    );
                }
            }
            if s.flow_events {
                eve::write_event(
                    &mut buf,
                    EventType::Flow,
                    &item.flow,
                    &bundle,
                    v,
                    probs,
                    origin,
                );
            }
        }
        s.alerts
            .write_all(&buf)
            .and_then(|()| s.alerts.flush())
            .map_err(|source| Error::Output {
                path: s.alerts_path.clone(),
                source,
            })?;
        if let Some(tx) = &s.to_csv {
            if tx.send(batch).is_err() {
                // The CSV stage failed; its error is reported from there.
                break;
            }
        }
    }
    for (label, n) in bundle.labels.iter().zip(alert_counts) {
        if n > 0 {
            w.alerts.insert(label.clone(), n);
        }
    }
    if let Some(sys) = &s.syslog {
        let st = sys.stats();
        w.syslog_failed = st.failed;
        w.syslog_reconnects = st.reconnects;
    }
    Ok(w)
}

/// The last stage: every flow as a CSV row with the model's label and score.
fn csv_writer(
    rx: Receiver<Batch>,
    mut c: CsvSink,
    bundle: &crate::infer::Bundle,
) -> Result<(), Error> {
    let out_err = |path: &PathBuf, source| Error::Output {
        path: path.clone(),
        source,
    };
    let mut score = String::new();
    for batch in rx.iter() {
        for (item, v) in batch.items.iter().zip(&batch.scored.verdicts) {
            let (src, _, dst, _) = item.flow.endpoints();
            let truth = c
                .labeler
                .label(src, dst, item.flow.record.start_us(), c.profile);
            let label = bundle.labels.get(v.label).map_or("", String::as_str);
            score.clear();
            score.push_str(&v.score.to_string());
            c.csv
                .write_with(&item.flow, &item.features, truth, &[label, &score])
                .map_err(|e| out_err(&c.path, e))?;
        }
    }
    c.csv.finish().map_err(|e| out_err(&c.path, e))?;
    Ok(())
}

/// A stage thread's result, with a panic turned into an internal error.
fn joined<T>(r: std::thread::Result<Result<T, Error>>, stage: &str) -> Result<T, Error> {
    r.map_err(|_| Error::Internal(format!("the {stage} thread panicked")))?
}

fn create(path: &PathBuf) -> Result<Box<dyn Write + Send>, Error> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let f = std::fs::File::create(path).map_err(|source| Error::Output {
        path: path.clone(),
        source,
    })?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 16, f)))
}

/// Runs `replay`.
pub fn replay(cfg: &ReplayConfig) -> Result<ReplaySummary, Error> {
    let t0 = Instant::now();
    let model = Model::load(&cfg.model, cfg.device, cfg.onnxruntime.as_deref())?;
    let bundle = model.bundle.clone();
    let profile = bundle.profile;
    let labeler = match &cfg.labels {
        Some(p) => Labeler::load(p)?,
        None => Labeler::default(),
    };
    let mut files = Vec::with_capacity(cfg.files.len());
    for path in &cfg.files {
        files.push(PcapFile::open(path)?);
    }
    let csv = match &cfg.flows_csv {
        None => None,
        Some(p) => {
            let layout = if profile == Profile::Cic2017 {
                Layout::Tool2017
            } else {
                Layout::Tool2018
            };
            let w = CsvWriter::with_extra_columns(
                create(p)?,
                layout,
                profile,
                &["ML Label", "ML Score"],
            )
            .map_err(|source| Error::Output {
                path: p.clone(),
                source,
            })?;
            Some(CsvSink {
                csv: w,
                path: p.clone(),
                labeler,
                profile,
            })
        }
    };
    let (to_csv, csv_in) = bounded::<Batch>(8);
    let sinks = Sinks {
        alerts: create(&cfg.alerts)?,
        alerts_path: cfg.alerts.clone(),
        flow_events: cfg.flow_events,
        to_csv: csv.is_some().then_some(to_csv),
        syslog: cfg
            .syslog
            .clone()
            .map(|(target, format)| SyslogSink::new(target, format)),
        files: cfg.files.iter().map(|p| p.display().to_string()).collect(),
    };
    let mut flow_cfg = FlowConfig::new(profile);
    flow_cfg.flow_timeout_us = cfg.flow_timeout_us;
    flow_cfg.activity_timeout_us = cfg.activity_timeout_us;
    let rules = decode_rules(profile, Padding::default_for(profile));
    let n = cfg.workers.max(1);
    let mut summary = ReplaySummary {
        workers: n,
        provider: model.provider,
        ..ReplaySummary::default()
    };
    let mut reader = Reader::new(cfg.progress, t0);
    let hasher = std::hash::RandomState::new();

    let (worker_out, inf_in) = bounded::<Finished>(4 * n);
    let (inf_out, writer_in) = bounded::<Batch>(8);
    let mut to_workers = Vec::with_capacity(n);
    let result = std::thread::scope(|scope| -> Result<(u64, Written, u64), Error> {
        let mut worker_handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = bounded::<Epoch>(8);
            to_workers.push(tx);
            let out = worker_out.clone();
            worker_handles.push(scope.spawn(move || worker(rx, out, flow_cfg)));
        }
        drop(worker_out);
        let (b, t) = (cfg.batch_size.max(1), cfg.batch_timeout);
        let inf = scope.spawn(move || inference(inf_in, n, model, inf_out, b, t));
        let csv_bundle = bundle.clone();
        let csv_stage = csv.map(|c| scope.spawn(move || csv_writer(csv_in, c, &csv_bundle)));
        let wr = scope.spawn(move || writer(writer_in, sinks, bundle));

        // The reader: this thread.
        let mut epoch = 0u64;
        let mut batches: Vec<Vec<PacketMeta>> = (0..n).map(|_| Vec::with_capacity(EPOCH)).collect();
        let mut in_epoch = 0usize;
        let nfiles = files.len();
        let send_epoch = |batches: &mut Vec<Vec<PacketMeta>>, file: usize, epoch: &mut u64| {
            let mut ok = true;
            for (tx, b) in to_workers.iter().zip(batches.iter_mut()) {
                let packets = std::mem::replace(b, Vec::with_capacity(EPOCH / n + 16));
                ok &= tx
                    .send(Epoch {
                        id: *epoch,
                        file,
                        packets,
                    })
                    .is_ok();
            }
            *epoch += 1;
            ok
        };
        for (fi, mut file) in files.into_iter().enumerate() {
            let completed = reader.read(fi, nfiles, &mut file, rules, |meta| {
                let (key, _) = FlowKey::of(&meta, profile);
                let w = (hasher.hash_one(key) % n as u64) as usize;
                if let Some(b) = batches.get_mut(w) {
                    b.push(meta);
                }
                in_epoch += 1;
                if in_epoch < EPOCH {
                    return true;
                }
                in_epoch = 0;
                send_epoch(&mut batches, fi, &mut epoch)
            });
            // An epoch never spans two files, so `pcap_filename` is exact.
            let flushed = in_epoch == 0 || send_epoch(&mut batches, fi, &mut epoch);
            in_epoch = 0;
            if !completed || !flushed {
                break;
            }
        }
        reader.finish();
        to_workers.clear();
        let mut single = 0;
        for h in worker_handles {
            single += h.join().unwrap_or(0);
        }
        let inf_result = inf.join();
        let wr_result = wr.join();
        // Later stages' errors come first: they are why earlier stages stopped.
        if let Some(h) = csv_stage {
            joined(h.join(), "flow CSV")?;
        }
        let written = joined(wr_result, "output writer")?;
        let batches = joined(inf_result, "inference")?;
        Ok((single, written, batches))
    });
    let (single, written, batches) = result?;
    summary.single_packet_flows = single;
    summary.flows = written.flows;
    summary.alerts = written.alerts;
    summary.batches = batches;
    summary.syslog_failed = written.syslog_failed;
    summary.syslog_reconnects = written.syslog_reconnects;
    summary.packets_read = reader.packets_read;
    summary.packets_decoded = reader.packets_decoded;
    summary.skipped = reader.skipped();
    summary.truncated = reader.truncated;
    summary.elapsed = t0.elapsed();
    Ok(summary)
}
