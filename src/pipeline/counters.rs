//! Counters: every count a run keeps, in one [`Counters`] snapshot, and the
//! three ways it is shown: the EVE `stats` event, the `stats:` log line and
//! the end-of-run summaries of `replay`/`live` and of `extract`.
//!
//! Every scalar count is one row of the `counters!` table below: its name,
//! its doc and its place in the stats event. That row is the whole of adding
//! a counter: the stage that counts it publishes it into `Metrics`
//! (atomics, per worker where workers count), the snapshot reads every row,
//! and the stats event carries every row that names a place: under `stats`
//! with Suricata's name where Suricata keeps that count (its EVE schema
//! lists them), else under `flowsentinel`. The summary and the `stats:`
//! line, written for people, pick the rows they show.

use super::outfile::OutputStats;
use crate::decode::SkipReason;
use crate::ips::{HookStats, Outcome};
use crate::unscored::Unscored;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Index;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Declares [`Counter`]: one variant per row, with its place in the stats
/// event from its root, under `stats` or `flowsentinel` (`[]`: not in it).
macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident => [$($seg:literal),*],)+) => {
        /// A scalar count of a run.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Counter {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Counter {
            /// Every counter, in table order.
            pub const ALL: [Counter; [$(Counter::$name),+].len()] = [$(Counter::$name),+];

            /// Its place in the stats event (empty: not there).
            pub fn stats_path(self) -> &'static [&'static str] {
                match self {
                    $(Counter::$name => &[$($seg),*],)+
                }
            }
        }
    };
}

counters! {
    /// Frames read.
    Packets => ["stats", "decoder", "pkts"],
    /// Live: frames the kernel handed to the capture.
    KernelPackets => ["stats", "capture", "kernel_packets"],
    /// Live: frames the kernel dropped (capture buffer full).
    KernelDrops => ["stats", "capture", "kernel_drops"],
    /// Live: frames the interface or its driver dropped.
    IfDrops => ["stats", "capture", "kernel_ifdrops"],
    /// Frames that became flow packets.
    Decoded => ["flowsentinel", "decoder", "decoded"],
    /// Live: packets dropped because a flow worker's queue was full.
    QueueDrops => ["flowsentinel", "pipeline", "worker_queue_drops"],
    /// Live, several capture threads: packets dropped because the queue
    /// from the capture threads to the feeder was full.
    CaptureQueueDrops => ["flowsentinel", "pipeline", "capture_queue_drops"],
    /// Flows open now.
    FlowsActive => ["stats", "flow", "active"],
    /// Flows the workers finished.
    FlowsFinished => ["flowsentinel", "flows", "finished"],
    /// Flows ended early by the `max_flows` cap (scored like any other).
    FlowsEvicted => ["flowsentinel", "flows", "evicted"],
    /// Compat only: single-packet flows the era tool never wrote.
    SinglePacketFlows => [],
    /// Interim snapshots of open flows scored.
    InterimScored => ["flowsentinel", "flows", "interim_scored"],
    /// Inference batches run.
    Batches => ["flowsentinel", "inference", "batches"],
    /// Finished flows the alert writer handled and the model scored.
    FlowsScored => [],
    /// Finished flows not scored: the source is unspecified.
    UnscoredSource => ["flowsentinel", "flows", "unscored", "unspecified_source"],
    /// Finished flows not scored: the destination is multicast.
    UnscoredMulticast => ["flowsentinel", "flows", "unscored", "multicast_destination"],
    /// Finished flows not scored: the destination is the limited broadcast.
    UnscoredBroadcast => ["flowsentinel", "flows", "unscored", "broadcast_destination"],
    /// Alert events on open flows.
    InterimAlerts => ["flowsentinel", "alerts", "interim"],
    /// Final verdicts not alerted again: the flow already had an interim
    /// alert with the same label.
    RepeatsSuppressed => ["flowsentinel", "alerts", "repeats_suppressed"],
    /// Alerts a threshold rule folded (not written).
    AlertsAggregated => ["flowsentinel", "alerts", "aggregated"],
    /// Alerts a suppress rule matched (not written).
    AlertsSuppressed => ["stats", "detect", "alerts_suppressed"],
    /// Syslog messages not delivered.
    SyslogLost => ["flowsentinel", "syslog", "lost"],
    /// Syslog reconnects.
    SyslogReconnects => ["flowsentinel", "syslog", "reconnects"],
    /// Alert records written.
    AlertsWritten => [],
    /// Alert records the alerts output could not write.
    AlertsLost => ["flowsentinel", "outputs", "alerts", "lost"],
    /// Failed writes of the alerts output.
    AlertsErrors => ["flowsentinel", "outputs", "alerts", "errors"],
    /// Flow CSV rows written.
    CsvWritten => [],
    /// Flow CSV rows that could not be written.
    CsvLost => ["flowsentinel", "outputs", "flows_csv", "lost"],
    /// Failed writes of the flow CSV.
    CsvErrors => ["flowsentinel", "outputs", "flows_csv", "errors"],
    /// Resident memory now, bytes.
    Rss => ["flowsentinel", "memory", "rss"],
    /// Peak resident memory, bytes.
    PeakRss => ["flowsentinel", "memory", "peak_rss"],
}

impl Counter {
    /// The count of finished flows not scored for `why`.
    pub fn unscored(why: Unscored) -> Counter {
        match why {
            Unscored::UnspecifiedSource => Counter::UnscoredSource,
            Unscored::MulticastDestination => Counter::UnscoredMulticast,
            Unscored::BroadcastDestination => Counter::UnscoredBroadcast,
        }
    }
}

/// The alerts output's counters: written, lost, failed writes.
pub const ALERTS_OUTPUT: [Counter; 3] = [
    Counter::AlertsWritten,
    Counter::AlertsLost,
    Counter::AlertsErrors,
];

/// The flow CSV's counters: written, lost, failed writes.
pub const CSV_OUTPUT: [Counter; 3] = [Counter::CsvWritten, Counter::CsvLost, Counter::CsvErrors];

/// An output's counts from its three counters.
fn output_stats(values: [u64; 3]) -> OutputStats {
    let [written, lost, errors] = values;
    OutputStats {
        written,
        lost,
        errors,
    }
}

/// How many counters there are.
const N: usize = Counter::ALL.len();

/// Every count of a run at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    /// The scalar counts, indexed by [`Counter`].
    values: [u64; N],
    /// Frames skipped, indexed as [`SkipReason::ALL`].
    pub skipped: [u64; SkipReason::ALL.len()],
    /// Live: the kernel's counters were read.
    pub kernel: bool,
    /// A flow CSV is written.
    pub csv: bool,
    /// Alert events per label (interim and final; labels with none left out).
    pub alerts: BTreeMap<String, u64>,
    /// IPS hook outcomes, when there is a hook.
    pub hook: Option<HookStats>,
    /// Time since the start.
    pub elapsed: Duration,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            values: [0; N],
            skipped: [0; SkipReason::ALL.len()],
            kernel: false,
            csv: false,
            alerts: BTreeMap::new(),
            hook: None,
            elapsed: Duration::ZERO,
        }
    }
}

impl Index<Counter> for Counters {
    type Output = u64;
    fn index(&self, c: Counter) -> &u64 {
        self.values.get(c as usize).unwrap_or(&0)
    }
}

impl Counters {
    /// Sets a count.
    pub fn set(&mut self, c: Counter, v: u64) {
        if let Some(slot) = self.values.get_mut(c as usize) {
            *slot = v;
        }
    }

    /// Sets an output's three counts (written, lost, failed writes).
    pub fn set_output(&mut self, [written, lost, errors]: [Counter; 3], st: OutputStats) {
        self.set(written, st.written);
        self.set(lost, st.lost);
        self.set(errors, st.errors);
    }

    /// The alerts output's counts.
    pub fn alerts_out(&self) -> OutputStats {
        output_stats(ALERTS_OUTPUT.map(|c| self[c]))
    }

    /// The flow CSV's counts, when one is written.
    pub fn csv_out(&self) -> Option<OutputStats> {
        self.csv.then(|| output_stats(CSV_OUTPUT.map(|c| self[c])))
    }

    /// Finished flows not scored, for any reason.
    pub fn unscored_total(&self) -> u64 {
        Unscored::ALL
            .map(|u| self[Counter::unscored(u)])
            .iter()
            .sum()
    }

    /// Alert events in all.
    pub fn alerts_total(&self) -> u64 {
        self.alerts.values().sum()
    }

    /// The skip counts by reason, without zeros, in [`SkipReason::ALL`] order.
    pub fn skipped_by_reason(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        SkipReason::ALL
            .iter()
            .zip(self.skipped)
            .filter(|&(_, n)| n > 0)
            .map(|(r, n)| (*r, n))
    }

    fn packets_per_second(&self) -> f64 {
        self[Counter::Packets] as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The IPS hook's outcomes as JSON (empty without a hook).
    pub(super) fn hook_json(&self) -> serde_json::Value {
        let mut hook = serde_json::Map::new();
        if let Some(h) = &self.hook {
            for o in Outcome::ALL {
                hook.insert(o.label().to_string(), h.count(o).into());
            }
            hook.insert("unblocked".into(), h.unblocked.into());
            hook.insert("unblock_failed".into(), h.unblock_failed.into());
            hook.insert("active_blocks".into(), (h.active as u64).into());
            hook.insert("pauses".into(), h.pauses.into());
            hook.insert("in_flight".into(), (h.in_flight as u64).into());
        }
        serde_json::Value::Object(hook)
    }

    /// The `stats:` log line (without its newline).
    pub fn stats_line(&self) -> String {
        format!(
            "stats: packets {} kernel_drops {} if_drops {} capture_queue_drops {} queue_drops {} decoded {} flows active {} finished {} unscored {} evicted {} interim {} alerts {} ({} on open flows) lost: alerts output {} flow CSV {} hook {}",
            self[Counter::Packets],
            self[Counter::KernelDrops],
            self[Counter::IfDrops],
            self[Counter::CaptureQueueDrops],
            self[Counter::QueueDrops],
            self[Counter::Decoded],
            self[Counter::FlowsActive],
            self[Counter::FlowsFinished],
            self.unscored_total(),
            self[Counter::FlowsEvicted],
            self[Counter::InterimScored],
            self.alerts_total(),
            self[Counter::InterimAlerts],
            self[Counter::AlertsLost],
            self[Counter::CsvLost],
            self.hook_json(),
        )
    }

    /// The end-of-run summary table of `replay` and `live`.
    pub fn render_sensor(&self, workers: usize, provider: &str) -> String {
        let mut s = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "{k:<34} {v:>12}");
        };
        row("packets read", self[Counter::Packets].to_string());
        if self.kernel {
            row(
                "dropped by the kernel",
                self[Counter::KernelDrops].to_string(),
            );
            row(
                "dropped by the interface",
                self[Counter::IfDrops].to_string(),
            );
        }
        row("packets decoded", self[Counter::Decoded].to_string());
        for (reason, n) in self.skipped_by_reason() {
            row(
                &format!("dropped at decode: {}", reason.label()),
                n.to_string(),
            );
        }
        if self.kernel {
            let drops = self[Counter::CaptureQueueDrops].to_string();
            row("dropped in the capture queue", drops);
        }
        row("dropped in channels", self[Counter::QueueDrops].to_string());
        if self[Counter::SinglePacketFlows] > 0 {
            row(
                "single-packet flows (era rule)",
                self[Counter::SinglePacketFlows].to_string(),
            );
        }
        row("flows scored", self[Counter::FlowsScored].to_string());
        row(
            "  of them evicted (max flows)",
            self[Counter::FlowsEvicted].to_string(),
        );
        let unscored = self.unscored_total();
        row("flows not scored", unscored.to_string());
        for u in Unscored::ALL.into_iter().filter(|_| unscored > 0) {
            row(
                &format!("  {}", u.text()),
                self[Counter::unscored(u)].to_string(),
            );
        }
        row("interim verdicts", self[Counter::InterimScored].to_string());
        row("inference batches", self[Counter::Batches].to_string());
        row("alerts", self.alerts_total().to_string());
        for (label, n) in &self.alerts {
            row(&format!("  {label}"), n.to_string());
        }
        row(
            "  of them on open flows",
            self[Counter::InterimAlerts].to_string(),
        );
        let folded = self[Counter::AlertsAggregated].to_string();
        row("alerts folded (threshold rules)", folded);
        let suppressed = self[Counter::AlertsSuppressed].to_string();
        row("alerts suppressed (suppress rules)", suppressed);
        row(
            "final verdicts already alerted",
            self[Counter::RepeatsSuppressed].to_string(),
        );
        let (lost, reconnects) = (self[Counter::SyslogLost], self[Counter::SyslogReconnects]);
        if lost > 0 || reconnects > 0 {
            row("syslog messages lost", lost.to_string());
            row("syslog reconnects", reconnects.to_string());
        }
        let outputs = [
            ("alerts output", Some(self.alerts_out())),
            ("flow CSV", self.csv_out()),
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
        row("workers / device", format!("{workers} / {provider}"));
        row(
            "elapsed",
            format!("{:.3} s", self.elapsed.as_secs_f64().max(1e-9)),
        );
        row(
            "peak resident memory",
            format!("{:.1} MiB", self[Counter::PeakRss] as f64 / 1048576.0),
        );
        let pps = format!("{:.0}", self.packets_per_second());
        row("packets per second", pps);
        s
    }

    /// The end-of-run summary of `extract`.
    pub fn render_extract(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "packets read       {}\npackets decoded    {}\n",
            self[Counter::Packets],
            self[Counter::Decoded]
        );
        for (reason, n) in self.skipped_by_reason() {
            let _ = writeln!(s, "skipped {:<26} {n}", reason.label());
        }
        if self[Counter::SinglePacketFlows] > 0 {
            let _ = writeln!(
                s,
                "single-packet flows not written (era rule) {}",
                self[Counter::SinglePacketFlows]
            );
        }
        let written = self[Counter::CsvWritten];
        let _ = writeln!(s, "flows written      {written}");
        if self[Counter::FlowsEvicted] > 0 {
            let evicted = self[Counter::FlowsEvicted];
            let _ = writeln!(s, "  of them evicted (max flows) {evicted}");
        }
        let _ = write!(
            s,
            "elapsed            {:.3} s\npackets per second {:.0}\npeak resident memory {:.1} MiB\n",
            self.elapsed.as_secs_f64().max(1e-9),
            self.packets_per_second(),
            self[Counter::PeakRss] as f64 / 1_048_576.0
        );
        s
    }
}

/// Counts the pipeline's stages publish while running, for stats events:
/// one atomic per [`Counter`] for the whole run, and one per counter and
/// flow worker (summed in the snapshot).
pub(super) struct Metrics {
    run: [AtomicU64; N],
    workers: Vec<[AtomicU64; N]>,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    kernel: AtomicBool,
}

impl Metrics {
    pub(super) fn new(workers: usize) -> Self {
        Self {
            run: std::array::from_fn(|_| AtomicU64::new(0)),
            workers: (0..workers)
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            skipped: Default::default(),
            kernel: AtomicBool::new(false),
        }
    }

    /// Publishes a count of the run.
    pub(super) fn set(&self, c: Counter, v: u64) {
        if let Some(a) = self.run.get(c as usize) {
            a.store(v, Relaxed);
        }
    }

    /// Adds to a count of the run.
    pub(super) fn add(&self, c: Counter, v: u64) {
        if let Some(a) = self.run.get(c as usize) {
            a.fetch_add(v, Relaxed);
        }
    }

    /// Publishes an output's three counts (written, lost, failed writes).
    pub(super) fn set_output(&self, [written, lost, errors]: [Counter; 3], st: OutputStats) {
        self.set(written, st.written);
        self.set(lost, st.lost);
        self.set(errors, st.errors);
    }

    /// Publishes worker `me`'s part of a count.
    pub(super) fn set_worker(&self, me: usize, c: Counter, v: u64) {
        if let Some(a) = self.workers.get(me).and_then(|w| w.get(c as usize)) {
            a.store(v, Relaxed);
        }
    }

    /// Publishes the skip counts by reason.
    pub(super) fn skipped(&self, skipped: &[u64]) {
        for (m, &n) in self.skipped.iter().zip(skipped) {
            m.store(n, Relaxed);
        }
    }

    /// Live: publishes the kernel's counters.
    pub(super) fn kernel(&self, received: u64, dropped: u64, if_dropped: u64) {
        self.set(Counter::KernelPackets, received);
        self.set(Counter::KernelDrops, dropped);
        self.set(Counter::IfDrops, if_dropped);
        self.kernel.store(true, Relaxed);
    }

    /// Every count published so far, and the memory now (`csv`: whether a
    /// flow CSV is written).
    pub(super) fn snapshot(&self, csv: bool) -> Counters {
        let mut c = Counters {
            skipped: std::array::from_fn(|i| self.skipped.get(i).map_or(0, |a| a.load(Relaxed))),
            kernel: self.kernel.load(Relaxed),
            csv,
            ..Counters::default()
        };
        for (i, slot) in c.values.iter_mut().enumerate() {
            let run = self.run.get(i).map_or(0, |a| a.load(Relaxed));
            let workers: u64 = self
                .workers
                .iter()
                .filter_map(|w| w.get(i))
                .map(|a| a.load(Relaxed))
                .sum();
            *slot = run + workers;
        }
        c.set_memory(memory());
        c
    }
}

impl Counters {
    /// Sets the memory counts.
    pub fn set_memory(&mut self, m: Memory) {
        self.set(Counter::Rss, m.rss);
        self.set(Counter::PeakRss, m.peak_rss);
    }
}

/// The process's resident memory, bytes (Linux `/proc/self/status`; zeros
/// where that cannot be read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (VmRSS).
    pub rss: u64,
    /// The peak so far (VmHWM).
    pub peak_rss: u64,
}

/// Reads [`Memory`].
pub fn memory() -> Memory {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |k| k * 1024)
    };
    Memory {
        rss: kib("VmRSS:"),
        peak_rss: kib("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_workers_and_renders_everywhere() {
        let m = Metrics::new(2);
        m.set(Counter::Packets, 10);
        m.set(Counter::Decoded, 8);
        m.skipped(&[1, 0, 1]);
        m.set_worker(0, Counter::FlowsActive, 3);
        m.set_worker(1, Counter::FlowsActive, 2);
        m.set_worker(0, Counter::FlowsEvicted, 1);
        m.set_worker(1, Counter::FlowsEvicted, 4);
        m.add(Counter::FlowsFinished, 5);
        m.add(Counter::InterimScored, 2);
        m.set(Counter::Batches, 3);
        let mut c = m.snapshot(false);
        c.alerts.insert("portscan".into(), 7);
        assert_eq!((c[Counter::FlowsActive], c[Counter::FlowsEvicted]), (5, 5));
        assert!(!c.kernel && c.csv_out().is_none());
        assert!(c.stats_line().contains("evicted 5 interim 2 alerts 7"));
        let table = c.render_sensor(2, "CPU");
        assert!(table.contains("  of them evicted (max flows)"));
        assert!(table.contains("  portscan"));
        assert!(c.render_extract().starts_with("packets read       10\n"));
    }

    #[test]
    fn every_counter_is_in_the_table_once() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        let paths: std::collections::BTreeSet<_> = Counter::ALL
            .iter()
            .map(|c| c.stats_path())
            .filter(|p| !p.is_empty())
            .collect();
        let with_path = Counter::ALL
            .iter()
            .filter(|c| !c.stats_path().is_empty())
            .count();
        assert_eq!(paths.len(), with_path, "two counters share a stats path");
        for c in Counter::ALL {
            let root = c.stats_path().first().copied();
            assert!(
                matches!(root, None | Some("stats" | "flowsentinel")),
                "{c:?}: a counter goes under `stats` (Suricata's name) or `flowsentinel`"
            );
        }
    }
}
