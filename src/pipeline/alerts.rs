//! The alert writer stage: turns scored batches into EVE alert and flow
//! events, sends alerts to syslog and the IPS hook, and writes stats
//! events.
//!
//! Every alerting verdict becomes one [`Alert`]. When the IPS hook queues a
//! `block` run for it, the alert is held back and rendered once the run
//! settles, so that `alert.action` is `blocked` only when the script
//! confirmed the block; it then goes to the alerts output and syslog
//! together. A flow never gets the same label twice: an interim alert
//! suppresses a final verdict with the same label (counted).
//!
//! Aggregation comes after that, and after the hook: every alert goes to the
//! IPS hook as before, then the [`Aggregator`] decides whether the alerts
//! output and syslog get it (with `alert.metadata` saying how many alerts it
//! stands for), or it is folded or suppressed (counted). Flow events see
//! every verdict, and every flow that was not scored ([`crate::unscored`]:
//! counted by reason, never an alert). In the terminal view (`text`) the
//! output gets one `fastlog` line per written alert, and at the end one per
//! tracker with alerts folded after its last written one.

use super::counters::{Counter, Counters, Metrics, ALERTS_OUTPUT};
use super::inference::Batch;
use super::outfile::OutFile;
use super::progress::{SinkProgress, Turn};
use super::reader::wall_us;
use super::worker::Item;
use crate::alert::{Action, Alert};
use crate::error::Error;
use crate::eve::{self, Context, Metadata};
use crate::fastlog;
use crate::infer::Bundle;
use crate::ips::{Decision, Hook, HookAlert, JobId, Outcome, Settled};
use crate::syslog::SyslogSink;
use crate::threshold::{self, Aggregator, Tail};
use crate::unscored::{Judged, Unscored};
use crossbeam::channel::{Receiver, RecvTimeoutError, Select, TryRecvError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest the alert writer goes without its housekeeping while it
/// waits for the flow CSV.
const HOUSEKEEPING: Duration = Duration::from_millis(200);

/// The alert writer's outputs and settings.
pub(super) struct Sinks {
    /// EVE JSON lines.
    pub(super) alerts: OutFile,
    /// Log every scored flow as a `flow` event.
    pub(super) flow_events: bool,
    /// Decides which alerts the output and syslog get.
    pub(super) aggregator: Aggregator,
    /// The terminal view: text lines instead of EVE JSON.
    pub(super) text: bool,
    /// Syslog, when configured.
    pub(super) syslog: Option<SyslogSink>,
    /// The capture files' names (replay).
    pub(super) files: Vec<String>,
    /// The capture interface (live).
    pub(super) iface: Option<String>,
    /// The IPS hook.
    pub(super) hook: Option<Hook>,
    /// Write a stats event this often.
    pub(super) stats_interval: Option<Duration>,
    /// Write a stats event at exit.
    pub(super) stats_at_exit: bool,
    /// Set by SIGHUP: reopen the alerts file.
    pub(super) reopen: Arc<AtomicBool>,
    /// A flow CSV is written (its counters are in the stats event).
    pub(super) csv: bool,
}

/// The alert writer.
pub(super) struct Writer<'a> {
    s: Sinks,
    bundle: &'a Bundle,
    metrics: &'a Metrics,
    t0: Instant,
    /// Finished flows scored.
    flows: u64,
    /// Finished flows not scored, per reason ([`Unscored::ALL`] order).
    unscored: [u64; Unscored::ALL.len()],
    /// Alert events per label index.
    alert_counts: Vec<u64>,
    interim_alerts: u64,
    repeats_suppressed: u64,
    /// Flows with an interim alert: flow id → label.
    alerted: HashMap<u64, usize>,
    /// Alerts held back until their IPS hook `block` run settles, with the
    /// alerts each stands for.
    held: HashMap<JobId, (Alert, Option<u64>)>,
    /// The longest label, for the terminal view.
    width: usize,
    buf: Vec<u8>,
    one: Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer to `s` for the model `bundle`.
    pub(super) fn new(s: Sinks, bundle: &'a Bundle, metrics: &'a Metrics, t0: Instant) -> Self {
        Writer {
            s,
            bundle,
            metrics,
            t0,
            flows: 0,
            unscored: [0; Unscored::ALL.len()],
            alert_counts: vec![0; bundle.labels.len()],
            interim_alerts: 0,
            repeats_suppressed: 0,
            alerted: HashMap::new(),
            held: HashMap::new(),
            width: bundle
                .labels
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0),
            buf: Vec::with_capacity(1 << 16),
            one: Vec::with_capacity(1024),
        }
    }

    fn batch(&mut self, batch: &Batch) -> Result<(), Error> {
        self.buf.clear();
        for (item, judged) in batch.judged() {
            let (v, probs) = match judged {
                Judged::Scored(v, probs) => (v, probs),
                Judged::Unscored(why) => {
                    // Never an alert; a flow event all the same.
                    if !item.is_interim() {
                        self.not_scored(item, why);
                    }
                    continue;
                }
            };
            if item.is_interim() {
                if !v.alert {
                    continue;
                }
                let flow = item.summary();
                let id = flow.flow_id();
                if self.alerted.get(&id) == Some(&v.label) {
                    continue;
                }
                self.alerted.insert(id, v.label);
                self.alert(Alert::new(self.bundle, flow, *v, probs, item.file), true);
                continue;
            }
            self.flows += 1;
            let flow = item.summary();
            let prior = if self.alerted.is_empty() {
                None
            } else {
                self.alerted.remove(&flow.flow_id())
            };
            if v.alert {
                if prior == Some(v.label) {
                    self.repeats_suppressed += 1;
                } else {
                    self.alert(Alert::new(self.bundle, flow, *v, probs, item.file), false);
                }
            }
            if self.s.flow_events {
                let cx = context(&self.s, self.bundle);
                let alerted = v.alert || prior.is_some();
                let judged = Judged::Scored(v, probs);
                eve::write_flow(&mut self.buf, &flow, judged, item.file, alerted, &cx);
            }
        }
        let evicted = self.s.aggregator.take_evicted();
        self.tails(&evicted);
        self.s.alerts.write(&self.buf)
    }

    /// A finished flow that was not scored: counted, and its flow event.
    fn not_scored(&mut self, item: &Item, why: Unscored) {
        if let Some(n) = Unscored::ALL
            .iter()
            .position(|&u| u == why)
            .and_then(|i| self.unscored.get_mut(i))
        {
            *n += 1;
        }
        if self.s.flow_events {
            let cx = context(&self.s, self.bundle);
            let flow = item.summary();
            let judged = Judged::Unscored(why);
            eve::write_flow(&mut self.buf, &flow, judged, item.file, false, &cx);
        }
    }

    /// One alert (`interim`: on an open flow). The hook sees it first, then
    /// the aggregator decides whether it is written. When the hook queued a
    /// `block` run, the alert is written (whatever the rules) once the run
    /// settles (its outcome sets `action`); otherwise, if written, now,
    /// `allowed`.
    fn alert(&mut self, alert: Alert, interim: bool) {
        let v = alert.verdict;
        let mut one = std::mem::take(&mut self.one);
        one.clear();
        if self.s.hook.is_some() {
            self.render(&mut one, &alert, None);
        }
        let decision = self.s.hook.as_mut().map(|h| {
            let proto = eve::proto_name(alert.flow.key.proto);
            let json = one.strip_suffix(b"\n").unwrap_or(&one);
            let label = self.bundle.label(v.label);
            h.on_alert(&HookAlert::of(&alert, label, &proto, json), Instant::now())
        });
        let queued = match decision {
            Some(Decision::Queued(id)) => Some(id),
            _ => None,
        };
        // A block is never silent: its alert is written whatever the rules.
        let f = &alert.flow;
        let force = queued.is_some();
        let aggregated = match self
            .s
            .aggregator
            .decide(v.label, f.src, f.dst, f.event_us(), force)
        {
            threshold::Decision::Write { aggregated } => aggregated,
            threshold::Decision::Fold | threshold::Decision::Suppress => {
                self.one = one;
                return;
            }
        };
        if let Some(n) = self.alert_counts.get_mut(v.label) {
            *n += 1;
        }
        self.interim_alerts += u64::from(interim);
        if let Some(id) = queued {
            self.held.insert(id, (alert, aggregated));
        } else {
            one.clear();
            self.render(&mut one, &alert, aggregated);
            let mut buf = std::mem::take(&mut self.buf);
            self.emit(&mut buf, &alert, aggregated, &one);
            self.buf = buf;
        }
        self.one = one;
    }

    /// An alert's EVE JSON line, with `alert.metadata` when a threshold rule
    /// applies to it and it is written (`aggregated`).
    fn render(&self, out: &mut Vec<u8>, alert: &Alert, aggregated: Option<u64>) {
        let mut meta = Metadata::new();
        let rule = self.s.aggregator.rule_text(alert.verdict.label);
        if let (Some(n), Some(rule)) = (aggregated, rule) {
            meta.insert(AGGREGATED.into(), vec![n.to_string()]);
            meta.insert(THRESHOLD.into(), vec![rule.to_string()]);
        }
        eve::write_alert(out, alert, &meta, &context(&self.s, self.bundle));
    }

    /// Appends a written alert to `out` (its JSON `line`, or its text line)
    /// and sends the JSON to syslog.
    fn emit(&mut self, out: &mut Vec<u8>, alert: &Alert, aggregated: Option<u64>, line: &[u8]) {
        if self.s.text {
            let label = self.bundle.label(alert.verdict.label);
            fastlog::write_alert(out, alert, label, self.width, aggregated);
        } else {
            out.extend_from_slice(line);
        }
        syslog(&mut self.s.syslog, alert, line);
    }

    /// The terminal view: a line per tail (alerts folded after the last
    /// written alert of their kind) into the batch buffer.
    fn tails(&mut self, tails: &[Tail]) {
        if !self.s.text {
            return;
        }
        for t in tails {
            let label = self.bundle.label(t.label);
            let rule = self.s.aggregator.rule_text(t.label).unwrap_or_default();
            fastlog::write_tail(&mut self.buf, t, label, self.width, rule);
        }
    }

    /// Writes a held alert whose `block` run settled, to the alerts output
    /// and syslog at once.
    fn release(&mut self, s: Settled) -> Result<(), Error> {
        let Some((mut alert, aggregated)) = self.held.remove(&s.id) else {
            return Ok(());
        };
        if s.outcome == Outcome::Blocked {
            alert.action = Action::Blocked;
        }
        let mut one = std::mem::take(&mut self.one);
        one.clear();
        self.render(&mut one, &alert, aggregated);
        let mut out = Vec::with_capacity(one.len());
        self.emit(&mut out, &alert, aggregated, &one);
        self.one = one;
        self.s.alerts.write(&out)
    }

    /// Writes the alerts whose `block` runs settled since last time.
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
    /// bounded by the timeout) and writes every held alert.
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
    /// runner ends the wait early (`Ok(None)`), so its held alert goes out.
    fn next_batch(
        &self,
        rx: &Receiver<Arc<Batch>>,
        wake: Instant,
    ) -> Result<Option<Arc<Batch>>, RecvTimeoutError> {
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

    /// Every counter now: the other stages' and this writer's.
    fn counters(&self) -> Counters {
        let mut c = self.metrics.snapshot(self.s.csv);
        c.set(Counter::FlowsScored, self.flows);
        for (&why, &n) in Unscored::ALL.iter().zip(&self.unscored) {
            c.set(Counter::unscored(why), n);
        }
        c.alerts = self
            .bundle
            .labels
            .iter()
            .zip(&self.alert_counts)
            .filter(|(_, &n)| n > 0)
            .map(|(l, &n)| (l.clone(), n))
            .collect();
        c.set(Counter::InterimAlerts, self.interim_alerts);
        c.set(Counter::RepeatsSuppressed, self.repeats_suppressed);
        c.set(Counter::AlertsAggregated, self.s.aggregator.folded());
        c.set(Counter::AlertsSuppressed, self.s.aggregator.suppressed());
        if let Some(sys) = &self.s.syslog {
            let st = sys.stats();
            c.set(Counter::SyslogLost, st.failed);
            c.set(Counter::SyslogReconnects, st.reconnects);
        }
        c.hook = self.s.hook.as_ref().map(Hook::stats);
        c.set_output(ALERTS_OUTPUT, self.s.alerts.stats());
        c.elapsed = self.t0.elapsed();
        c
    }

    /// Writes a stats event to the alerts output (not in the terminal view)
    /// and a line to the log.
    fn stats(&mut self) -> Result<(), Error> {
        let c = self.counters();
        eprintln!("{}", c.stats_line());
        if self.s.text {
            return Ok(());
        }
        let ev = c.stats_event(eve::timestamp(wall_us()), self.s.iface.as_deref());
        let mut line = ev.to_string().into_bytes();
        line.push(b'\n');
        self.s.alerts.write(&line)
    }

    /// Between batches: SIGHUP, settled hook runs, hook TTLs, the stats timer.
    fn housekeeping(&mut self, next_stats: &mut Option<Instant>) -> Result<(), Error> {
        if self.s.reopen.swap(false, Relaxed) {
            self.s.alerts.reopen()?;
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

    /// Runs the stage until inference is done; returns every counter at
    /// the end (the flow CSV's are the CSV stage's to report).
    pub(super) fn run(
        mut self,
        rx: Receiver<Arc<Batch>>,
        progress: &SinkProgress,
        id: usize,
    ) -> Result<Counters, Error> {
        let mut next_stats = self.s.stats_interval.map(|d| self.t0 + d);
        let mut k = 0u64;
        'run: loop {
            let mut wake = Instant::now() + Duration::from_secs(1);
            if let Some(t) = next_stats {
                wake = wake.min(t);
            }
            if let Some(t) = self.s.hook.as_ref().and_then(Hook::next_expiry) {
                wake = wake.min(t);
            }
            match self.next_batch(&rx, wake) {
                Ok(None) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Some(batch)) => {
                    // While the flow CSV is too far behind, keep up the
                    // housekeeping (stats, hook TTLs, held alerts, SIGHUP).
                    loop {
                        match progress.wait_turn(id, k, Some(HOUSEKEEPING)) {
                            Turn::Go => break,
                            // Another output failed: stop with it.
                            Turn::Stop => break 'run,
                            Turn::Wait => self.housekeeping(&mut next_stats)?,
                        }
                    }
                    self.batch(&batch)?;
                    progress.wrote(id);
                    k += 1;
                    if progress.must_stop(id, k) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.housekeeping(&mut next_stats)?;
        }
        self.finish_hook()?;
        // Nothing is held back by aggregation: what it folded after the last
        // written alert of its kind is counted, and shown in the terminal view.
        self.buf.clear();
        let tails = self.s.aggregator.finish();
        self.tails(&tails);
        if !self.buf.is_empty() {
            self.s.alerts.write(&self.buf)?;
        }
        if self.s.stats_at_exit {
            self.stats()?;
        }
        Ok(self.counters())
    }
}

/// `alert.metadata` keys: how many alerts a written alert stands for (itself
/// and those folded since the last written alert of its kind), and the
/// threshold rule that folded them.
const AGGREGATED: &str = "flowsentinel_aggregated";
const THRESHOLD: &str = "flowsentinel_threshold";

/// The context every event of the run shares.
fn context<'a>(s: &'a Sinks, bundle: &'a Bundle) -> Context<'a> {
    Context {
        bundle,
        iface: s.iface.as_deref(),
        files: &s.files,
        community_id_seed: crate::community_id::DEFAULT_SEED,
    }
}

/// Sends an alert's line to syslog, if configured.
fn syslog(sink: &mut Option<SyslogSink>, alert: &Alert, line: &[u8]) {
    if let Some(sys) = sink.as_mut() {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line));
        sys.send_alert(alert, &line);
    }
}
