//! Counters: every count a run keeps, in one [`Counters`] snapshot, and the
//! three ways it is shown: the EVE `stats` event, the `stats:` log line and
//! the end-of-run summaries of `replay`/`live` and of `extract`.
//!
//! Stages publish into `Metrics` (atomics, shared by reference) as they
//! go; `Metrics::snapshot` reads them into a `Counters`, and the alert
//! writer adds what it counts itself ([`Counters`]' alert and output
//! fields). Nothing else renders a counter.

use super::outfile::OutputStats;
use crate::capture::KernelStats;
use crate::decode::SkipReason;
use crate::ips::{HookStats, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Every counter of a run at one moment.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Frames read.
    pub packets: u64,
    /// Frames that became flow packets.
    pub decoded: u64,
    /// Frames skipped, indexed as [`SkipReason::ALL`].
    pub skipped: [u64; SkipReason::ALL.len()],
    /// Live: the kernel's counters.
    pub kernel: Option<KernelStats>,
    /// Live: packets dropped because a flow worker's queue was full.
    pub queue_drops: u64,
    /// Flows open now.
    pub flows_active: u64,
    /// Flows the workers finished.
    pub flows_finished: u64,
    /// Flows ended early by the `max_flows` cap (scored like any other).
    pub flows_evicted: u64,
    /// Compat only: single-packet flows the era tool never wrote.
    pub single_packet_flows: u64,
    /// Interim snapshots of open flows scored.
    pub interim_scored: u64,
    /// Inference batches run.
    pub batches: u64,
    /// Finished flows the alert writer handled (scored).
    pub flows_scored: u64,
    /// Alert events per label (interim and final; labels with none left out).
    pub alerts: BTreeMap<String, u64>,
    /// Alert events on open flows.
    pub interim_alerts: u64,
    /// Final verdicts not alerted again: the flow already had an interim
    /// alert with the same label.
    pub repeats_suppressed: u64,
    /// Syslog messages not delivered.
    pub syslog_lost: u64,
    /// Syslog reconnects.
    pub syslog_reconnects: u64,
    /// IPS hook outcomes, when there is a hook.
    pub hook: Option<HookStats>,
    /// The alerts output (replay, live).
    pub alerts_out: OutputStats,
    /// The flow CSV, when one is written.
    pub csv_out: Option<OutputStats>,
    /// Resident memory.
    pub memory: Memory,
    /// Time since the start.
    pub elapsed: Duration,
}

impl Counters {
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
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The EVE `stats` event (without its newline).
    pub fn stats_event(&self, timestamp: String, iface: Option<&str>) -> serde_json::Value {
        let skipped: serde_json::Map<String, serde_json::Value> = SkipReason::ALL
            .iter()
            .zip(self.skipped)
            .map(|(r, n)| (r.label().to_string(), n.into()))
            .collect();
        let kernel = self.kernel.unwrap_or_default();
        let csv = self.csv_out.unwrap_or_default();
        serde_json::json!({
            "timestamp": timestamp,
            "event_type": "stats",
            "in_iface": iface,
            "stats": {
                "uptime": self.elapsed.as_secs(),
                "capture": {
                    "packets": self.packets,
                    "kernel_packets": kernel.received,
                    "kernel_drops": kernel.dropped,
                    "if_drops": kernel.if_dropped,
                },
                "decoder": { "decoded": self.decoded, "skipped": skipped },
                "pipeline": { "worker_queue_drops": self.queue_drops },
                "flows": {
                    "active": self.flows_active,
                    "finished": self.flows_finished,
                    "evicted": self.flows_evicted,
                    "interim_scored": self.interim_scored,
                },
                "inference": { "batches": self.batches },
                "memory": { "rss": self.memory.rss, "peak_rss": self.memory.peak_rss },
                "alerts": {
                    "total": self.alerts_total(),
                    "interim": self.interim_alerts,
                    "repeats_suppressed": self.repeats_suppressed,
                    "by_label": self.alerts,
                },
                "syslog": { "lost": self.syslog_lost, "reconnects": self.syslog_reconnects },
                "outputs": {
                    "alerts": { "lost": self.alerts_out.lost, "errors": self.alerts_out.errors },
                    "flows_csv": { "lost": csv.lost, "errors": csv.errors },
                },
                "ips": self.hook_json(),
            }
        })
    }

    fn hook_json(&self) -> serde_json::Value {
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
        let kernel = self.kernel.unwrap_or_default();
        format!(
            "stats: packets {} kernel_drops {} if_drops {} queue_drops {} decoded {} flows active {} finished {} evicted {} interim {} alerts {} ({} on open flows) lost: alerts output {} flow CSV {} hook {}",
            self.packets,
            kernel.dropped,
            kernel.if_dropped,
            self.queue_drops,
            self.decoded,
            self.flows_active,
            self.flows_finished,
            self.flows_evicted,
            self.interim_scored,
            self.alerts_total(),
            self.interim_alerts,
            self.alerts_out.lost,
            self.csv_out.unwrap_or_default().lost,
            self.hook_json(),
        )
    }

    /// The end-of-run summary table of `replay` and `live`.
    pub fn render_sensor(&self, workers: usize, provider: &str) -> String {
        let mut s = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "{k:<34} {v:>12}");
        };
        row("packets read", self.packets.to_string());
        if let Some(k) = self.kernel {
            row("dropped by the kernel", k.dropped.to_string());
            row("dropped by the interface", k.if_dropped.to_string());
        }
        row("packets decoded", self.decoded.to_string());
        for (reason, n) in self.skipped_by_reason() {
            row(
                &format!("dropped at decode: {}", reason.label()),
                n.to_string(),
            );
        }
        row("dropped in channels", self.queue_drops.to_string());
        if self.single_packet_flows > 0 {
            row(
                "single-packet flows (era rule)",
                self.single_packet_flows.to_string(),
            );
        }
        row("flows scored", self.flows_scored.to_string());
        row(
            "  of them evicted (max flows)",
            self.flows_evicted.to_string(),
        );
        row("interim verdicts", self.interim_scored.to_string());
        row("inference batches", self.batches.to_string());
        row("alerts", self.alerts_total().to_string());
        for (label, n) in &self.alerts {
            row(&format!("  {label}"), n.to_string());
        }
        row("  of them on open flows", self.interim_alerts.to_string());
        row(
            "final verdicts already alerted",
            self.repeats_suppressed.to_string(),
        );
        if self.syslog_lost > 0 || self.syslog_reconnects > 0 {
            row("syslog messages lost", self.syslog_lost.to_string());
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
        row("workers / device", format!("{workers} / {provider}"));
        row(
            "elapsed",
            format!("{:.3} s", self.elapsed.as_secs_f64().max(1e-9)),
        );
        row(
            "peak resident memory",
            format!("{:.1} MiB", self.memory.peak_rss as f64 / 1048576.0),
        );
        row(
            "packets per second",
            format!("{:.0}", self.packets_per_second()),
        );
        s
    }

    /// The end-of-run summary of `extract`.
    pub fn render_extract(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "packets read       {}\npackets decoded    {}\n",
            self.packets, self.decoded
        );
        for (reason, n) in self.skipped_by_reason() {
            let _ = writeln!(s, "skipped {:<26} {n}", reason.label());
        }
        if self.single_packet_flows > 0 {
            let _ = writeln!(
                s,
                "single-packet flows not written (era rule) {}",
                self.single_packet_flows
            );
        }
        let written = self.csv_out.unwrap_or_default().written;
        let _ = writeln!(s, "flows written      {written}");
        if self.flows_evicted > 0 {
            let _ = writeln!(s, "  of them evicted (max flows) {}", self.flows_evicted);
        }
        let _ = write!(
            s,
            "elapsed            {:.3} s\npackets per second {:.0}\npeak resident memory {:.1} MiB\n",
            self.elapsed.as_secs_f64().max(1e-9),
            self.packets_per_second(),
            self.memory.peak_rss as f64 / 1_048_576.0
        );
        s
    }
}

/// Counters the pipeline's stages publish while running, for stats events.
pub(super) struct Metrics {
    packets: AtomicU64,
    decoded: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    /// Set once live capture has read the kernel's counters.
    kernel_seen: AtomicU64,
    kernel_received: AtomicU64,
    kernel_dropped: AtomicU64,
    if_dropped: AtomicU64,
    queue_drops: AtomicU64,
    /// Open flows, per worker.
    active: Vec<AtomicU64>,
    /// Flows evicted by the `max_flows` cap, per worker.
    evicted: Vec<AtomicU64>,
    /// Single-packet flows not scored (era rule), per worker.
    single_packet: Vec<AtomicU64>,
    finished: AtomicU64,
    interim: AtomicU64,
    batches: AtomicU64,
    /// The flow CSV's rows written, lost, and its failed writes.
    csv_written: AtomicU64,
    csv_lost: AtomicU64,
    csv_errors: AtomicU64,
}

fn sum(v: &[AtomicU64]) -> u64 {
    v.iter().map(|a| a.load(Relaxed)).sum()
}

impl Metrics {
    pub(super) fn new(workers: usize) -> Self {
        let per_worker = || (0..workers).map(|_| AtomicU64::new(0)).collect();
        Self {
            packets: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            skipped: Default::default(),
            kernel_seen: AtomicU64::new(0),
            kernel_received: AtomicU64::new(0),
            kernel_dropped: AtomicU64::new(0),
            if_dropped: AtomicU64::new(0),
            queue_drops: AtomicU64::new(0),
            active: per_worker(),
            evicted: per_worker(),
            single_packet: per_worker(),
            finished: AtomicU64::new(0),
            interim: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            csv_written: AtomicU64::new(0),
            csv_lost: AtomicU64::new(0),
            csv_errors: AtomicU64::new(0),
        }
    }

    /// Publishes the reader's counters.
    pub(super) fn reader(&self, packets: u64, decoded: u64, skipped: &[u64], queue_drops: u64) {
        self.packets.store(packets, Relaxed);
        self.decoded.store(decoded, Relaxed);
        for (m, &n) in self.skipped.iter().zip(skipped) {
            m.store(n, Relaxed);
        }
        self.queue_drops.store(queue_drops, Relaxed);
    }

    /// Publishes the kernel's counters (live).
    pub(super) fn kernel(&self, k: KernelStats) {
        self.kernel_received.store(k.received, Relaxed);
        self.kernel_dropped.store(k.dropped, Relaxed);
        self.if_dropped.store(k.if_dropped, Relaxed);
        self.kernel_seen.store(1, Relaxed);
    }

    /// Publishes worker `me`'s table: open, evicted, single-packet flows.
    pub(super) fn table(&self, me: usize, active: u64, evicted: u64, single_packet: u64) {
        for (v, n) in [
            (&self.active, active),
            (&self.evicted, evicted),
            (&self.single_packet, single_packet),
        ] {
            if let Some(a) = v.get(me) {
                a.store(n, Relaxed);
            }
        }
    }

    /// Adds flows a worker finished and interim snapshots it took.
    pub(super) fn flows(&self, finished: u64, interim: u64) {
        self.finished.fetch_add(finished, Relaxed);
        self.interim.fetch_add(interim, Relaxed);
    }

    /// Publishes the inference batches run so far.
    pub(super) fn batches(&self, n: u64) {
        self.batches.store(n, Relaxed);
    }

    /// Publishes the flow CSV's counters.
    pub(super) fn csv(&self, st: OutputStats) {
        self.csv_written.store(st.written, Relaxed);
        self.csv_lost.store(st.lost, Relaxed);
        self.csv_errors.store(st.errors, Relaxed);
    }

    /// The counters published so far; the alert writer's own fields are
    /// left at their defaults (`csv`: whether a flow CSV is written).
    pub(super) fn snapshot(&self, csv: bool) -> Counters {
        let get = |a: &AtomicU64| a.load(Relaxed);
        Counters {
            packets: get(&self.packets),
            decoded: get(&self.decoded),
            skipped: std::array::from_fn(|i| self.skipped.get(i).map_or(0, get)),
            kernel: (get(&self.kernel_seen) > 0).then(|| KernelStats {
                received: get(&self.kernel_received),
                dropped: get(&self.kernel_dropped),
                if_dropped: get(&self.if_dropped),
            }),
            queue_drops: get(&self.queue_drops),
            flows_active: sum(&self.active),
            flows_finished: get(&self.finished),
            flows_evicted: sum(&self.evicted),
            single_packet_flows: sum(&self.single_packet),
            interim_scored: get(&self.interim),
            batches: get(&self.batches),
            csv_out: csv.then(|| OutputStats {
                written: get(&self.csv_written),
                lost: get(&self.csv_lost),
                errors: get(&self.csv_errors),
            }),
            memory: memory(),
            ..Counters::default()
        }
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
        m.reader(10, 8, &[1, 1], 0);
        m.table(0, 3, 1, 0);
        m.table(1, 2, 4, 0);
        m.flows(5, 2);
        m.batches(3);
        let mut c = m.snapshot(false);
        c.alerts.insert("portscan".into(), 7);
        assert_eq!((c.flows_active, c.flows_evicted), (5, 5));
        assert!(c.kernel.is_none() && c.csv_out.is_none());
        let ev = c.stats_event("t".into(), None);
        assert_eq!(ev["stats"]["flows"]["evicted"], 5);
        assert_eq!(ev["stats"]["alerts"]["total"], 7);
        assert_eq!(ev["stats"]["alerts"]["by_label"]["portscan"], 7);
        assert!(c.stats_line().contains("evicted 5 interim 2 alerts 7"));
        let table = c.render_sensor(2, "CPU");
        assert!(table.contains("  of them evicted (max flows)"));
        assert!(table.contains("  portscan"));
        assert!(c.render_extract().starts_with("packets read       10\n"));
    }
}
