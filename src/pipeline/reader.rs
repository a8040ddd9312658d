//! The reader stage: capture and decode, for files (`extract`, `replay`)
//! and interfaces (`live`), in one place.
//!
//! [`Reader`] counts and decodes frames, warns about truncated files and
//! shows the progress line. For the sensor, [`Feeder`] shards the decoded
//! packets over the flow workers by a randomly keyed hash of the
//! direction-neutral flow key (both directions of a flow meet in one
//! worker, in order) and cuts the stream into epochs of at most [`EPOCH`]
//! packets; every worker gets every epoch, even an empty one. An epoch may
//! carry a [`Tick`], the time "now": replay ticks once per second of packet
//! time, so its output depends only on the packets; live capture ticks from
//! the wall clock every [`LIVE_CUT`] and also sweeps timed-out flows.
//!
//! Offline replay never drops: full channels block the reader. Live capture
//! never blocks the reader: while [`LIVE_QUEUE_LIMIT`] epochs wait for a
//! worker, that worker's packets are dropped and counted. SIGINT/SIGTERM
//! stop the read; the caller then flushes every open flow.
//!
//! With several capture threads (`capture_threads`), those threads read and
//! decode, and one [`Feeder`] shards and cuts epochs exactly as here.

use super::counters::{Counter, Metrics};
use crate::capture::{CaptureError, Frame, KernelStats, LiveCapture, PcapFile};
use crate::decode::{decode, DecodeRules, PacketMeta, Padding, SkipReason};
use crate::error::Error;
use crate::flow::shard_hash;
use crate::kdd::Fragments;
use crate::profile::Profile;
use crossbeam::channel::Sender;
use std::hash::BuildHasher;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Packets per epoch at most.
pub const EPOCH: usize = 2048;
/// Replay's tick interval, in packet time.
const REPLAY_TICK_US: i64 = 1_000_000;
/// Live capture cuts an epoch, with a wall-clock tick, this often.
pub const LIVE_CUT: Duration = Duration::from_millis(100);
/// Live: epochs queued for one worker before its packets are dropped.
pub const LIVE_QUEUE_LIMIT: usize = 64;

/// Wall-clock µs since the epoch.
pub(super) fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Counts and decodes frames: reads files to their end, counts what it
/// skips, warns about truncated files, and shows the progress line.
pub(super) struct Reader {
    /// Frames read.
    pub(super) packets_read: u64,
    /// Frames that became flow packets.
    pub(super) packets_decoded: u64,
    /// Skipped frames, indexed by reason (`SkipReason::ALL` is in declaration order).
    pub(super) skipped: [u64; SkipReason::ALL.len()],
    /// Files that ended early.
    pub(super) truncated: Vec<CaptureError>,
    progress: Progress,
    t0: Instant,
    /// IP fragments (`kdd`: the decode rules say so).
    fragments: Fragments,
    /// The latest packet time read so far (for the clock check between
    /// files).
    last_us: Option<i64>,
    /// Captures the files were read as: one more each time a file starts
    /// before the packets read so far (or, with `--per-file`, each file).
    pub(super) captures: u64,
}

impl Reader {
    /// A reader whose progress line shows when `progress` is on and stderr is a terminal.
    pub(super) fn new(progress: bool, t0: Instant) -> Self {
        Self {
            packets_read: 0,
            packets_decoded: 0,
            skipped: [0; SkipReason::ALL.len()],
            truncated: Vec::new(),
            progress: Progress::new(progress && std::io::stderr().is_terminal()),
            t0,
            fragments: Fragments::new(),
            last_us: None,
            captures: 0,
        }
    }

    /// Reads file `i` of `n` to its end, handing each decoded packet to
    /// `on_packet` with `true` for the first packet of a new capture;
    /// stops early, returning false, when `on_packet` does.
    ///
    /// Files are one continuous capture (rotated files) unless `per_file`,
    /// or unless a file's first packet is earlier than the latest packet
    /// read before it: such a file is a capture of its own, with its own
    /// clock (one warning line says which file, and by how much). The
    /// caller then ends every open flow and restarts the clock, so no file
    /// is ever clamped to another's time. Without the era rules (`fixed`,
    /// `kdd`) packet times are made monotonic within a capture here.
    pub(super) fn read(
        &mut self,
        i: usize,
        n: usize,
        file: &mut PcapFile,
        rules: DecodeRules,
        per_file: bool,
        mut on_packet: impl FnMut(PacketMeta, bool) -> bool,
    ) -> bool {
        let mut first = true;
        loop {
            let frame = match file.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    self.progress.clear();
                    eprintln!("warning: {e}");
                    self.truncated.push(e);
                    return true;
                }
            };
            if let Some(mut meta) = self.decode(&frame, rules) {
                let restart = first && self.starts_capture(file, meta.ts_us, per_file);
                first = false;
                if restart {
                    self.fragments.clear();
                }
                let latest = self.last_us.map_or(meta.ts_us, |t| t.max(meta.ts_us));
                self.last_us = Some(latest);
                if !rules.era_quirks {
                    // fixed, kdd: packet time is monotonic within a capture,
                    // made so here, before any sharding.
                    meta.ts_us = latest;
                }
                self.fragment(&mut meta, rules);
                if !on_packet(meta, restart) {
                    return false;
                }
            }
            if self.packets_read & 0xffff == 0 {
                self.progress.show(i, n, file, self.packets_read, self.t0);
            }
        }
    }

    /// True when a file whose first packet is at `ts_us` starts a capture
    /// of its own after packets already read; warns when its clock is
    /// behind theirs.
    fn starts_capture(&mut self, file: &PcapFile, ts_us: i64, per_file: bool) -> bool {
        let Some(last) = self.last_us else {
            self.captures = 1;
            return false;
        };
        let behind = last.saturating_sub(ts_us);
        if behind > 0 {
            self.progress.clear();
            eprintln!(
                "warning: {}: starts {:.6} s before the packets read so far; read as a capture of its own (open flows end, the clock restarts)",
                file.path().display(),
                behind as f64 / 1e6
            );
        }
        if behind > 0 || per_file {
            self.captures += 1;
            self.last_us = None;
            return true;
        }
        false
    }

    /// `kdd`: follows IP fragments (wrong_fragment, later fragments' ports).
    pub(super) fn fragment(&mut self, meta: &mut PacketMeta, rules: DecodeRules) {
        if rules.kdd {
            self.fragments.check(meta);
        }
    }

    /// Counts and decodes one frame; `None` when it is skipped.
    pub(super) fn decode(&mut self, frame: &Frame<'_>, rules: DecodeRules) -> Option<PacketMeta> {
        self.packets_read += 1;
        match decode(frame, rules) {
            Ok(meta) => {
                self.packets_decoded += 1;
                Some(meta)
            }
            Err(reason) => {
                if let Some(k) = self.skipped.get_mut(reason as usize) {
                    *k += 1;
                }
                None
            }
        }
    }

    /// Clears the progress line.
    pub(super) fn finish(&mut self) {
        self.progress.clear();
    }
}

/// A one-line progress display on a terminal.
struct Progress {
    on: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(on: bool) -> Self {
        Self { on, last: None }
    }

    fn show(&mut self, i: usize, n: usize, file: &PcapFile, packets: u64, t0: Instant) {
        if !self.on
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let rate = packets as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        let pct = file
            .position()
            .map(|p| 100.0 * p as f64 / file.size().max(1) as f64);
        let bar = pct.map_or(String::new(), |p| {
            let filled = ((p / 5.0) as usize).min(20);
            format!(
                "[{}{}] {p:5.1}% ",
                "#".repeat(filled),
                "-".repeat(20 - filled)
            )
        });
        eprint!(
            "\r\x1b[2Kfile {}/{n} {bar}{packets} packets, {rate:.0} pkt/s",
            i + 1
        );
    }

    fn clear(&mut self) {
        if self.on && self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

/// A tick: the time now, and whether it also ends timed-out flows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tick {
    /// The time, µs (packet time in replay, wall clock live).
    pub(super) now_us: i64,
    /// Also end flows whose flow timeout has passed (live).
    pub(super) sweep: bool,
    /// The capture ends here (a file with its own clock follows): end every
    /// open flow and restart the clocks.
    pub(super) restart: bool,
}

/// A reader → worker message: one epoch's packets for that worker.
pub(super) struct Epoch {
    /// Epochs are numbered from 0; inference releases them in order.
    pub(super) id: u64,
    /// The capture file the packets came from (an epoch never spans two).
    pub(super) file: usize,
    /// This worker's packets.
    pub(super) packets: Vec<PacketMeta>,
    /// The tick that ends the epoch, if any.
    pub(super) tick: Option<Tick>,
}

/// Hands the reader's packets to the flow workers in epochs.
pub(super) struct Feeder<'a> {
    to_workers: Vec<Sender<Epoch>>,
    batches: Vec<Vec<PacketMeta>>,
    in_epoch: usize,
    epoch: u64,
    /// The shard hash's key, random per run.
    seed: u64,
    /// Live: drop a worker's packets while this many epochs wait for it.
    queue_limit: Option<usize>,
    dropped: u64,
    metrics: &'a Metrics,
    stop: Arc<AtomicBool>,
    rules: DecodeRules,
    /// Interim verdicts are on: replay ticks.
    interim: bool,
}

impl<'a> Feeder<'a> {
    /// A feeder for the workers behind `to_workers`.
    pub(super) fn new(
        to_workers: Vec<Sender<Epoch>>,
        profile: Profile,
        live: bool,
        interim: bool,
        stop: Arc<AtomicBool>,
        metrics: &'a Metrics,
    ) -> Self {
        let n = to_workers.len();
        Feeder {
            to_workers,
            batches: (0..n).map(|_| Vec::with_capacity(EPOCH)).collect(),
            in_epoch: 0,
            epoch: 0,
            seed: std::hash::RandomState::new().hash_one(0u64),
            queue_limit: live.then_some(LIVE_QUEUE_LIMIT),
            dropped: 0,
            metrics,
            stop,
            rules: DecodeRules::of(profile, Padding::default_for(profile)),
            interim,
        }
    }

    /// The decode rules of the bundle's profile.
    pub(super) fn rules(&self) -> DecodeRules {
        self.rules
    }

    /// The SIGINT/SIGTERM flag.
    pub(super) fn stop(&self) -> &AtomicBool {
        &self.stop
    }

    /// The run's counters.
    pub(super) fn metrics(&self) -> &'a Metrics {
        self.metrics
    }

    /// Routes one packet; false once the workers are gone.
    pub(super) fn push(&mut self, meta: PacketMeta, file: usize) -> bool {
        let n = self.to_workers.len().max(1) as u64;
        let w = (shard_hash(&meta, self.seed) % n) as usize;
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
    pub(super) fn cut(&mut self, file: usize, tick: Option<Tick>) -> bool {
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

    /// Ends a partly filled epoch without a tick.
    fn flush(&mut self, file: usize) -> bool {
        self.in_epoch == 0 || self.cut(file, None)
    }

    /// Publishes the reader's counters (and the kernel's) for stats events.
    fn publish(&self, reader: &Reader, kernel: Option<KernelStats>) {
        let r = reader;
        self.publish_counts(r.packets_read, r.packets_decoded, &r.skipped, kernel);
    }

    /// Publishes frames read and decoded, skips by reason, the worker-queue
    /// drops and the kernel's counters.
    pub(super) fn publish_counts(
        &self,
        read: u64,
        decoded: u64,
        skipped: &[u64],
        kernel: Option<KernelStats>,
    ) {
        let m = self.metrics;
        m.set(Counter::Packets, read);
        m.set(Counter::Decoded, decoded);
        m.skipped(skipped);
        m.set(Counter::QueueDrops, self.dropped);
        if let Some(k) = kernel {
            m.kernel(k.received, k.dropped, k.if_dropped);
        }
    }

    /// Reads capture files to their end (or until SIGINT/SIGTERM), then
    /// lets the workers go.
    ///
    /// Packet times come monotonic from [`Reader::read`] for the profiles
    /// that clamp (`fixed`, `kdd`), before sharding: a clamp per worker would
    /// depend on which flows share a worker. A file that starts a capture
    /// of its own first ends the epoch with a restart tick, so every open
    /// flow ends and every clock restarts.
    pub(super) fn read_files(
        mut self,
        files: Vec<PcapFile>,
        progress: bool,
        per_file: bool,
        t0: Instant,
    ) -> Read {
        let mut reader = Reader::new(progress, t0);
        let nfiles = files.len();
        let mut interrupted = false;
        let mut next_tick = i64::MIN;
        let stop = Arc::clone(&self.stop);
        let rules = self.rules;
        for (fi, mut file) in files.into_iter().enumerate() {
            let completed = reader.read(fi, nfiles, &mut file, rules, per_file, |meta, restart| {
                if restart {
                    let tick = Tick {
                        now_us: meta.ts_us,
                        sweep: false,
                        restart: true,
                    };
                    if !self.cut(fi, Some(tick)) {
                        return false;
                    }
                    next_tick = i64::MIN;
                }
                if self.interim && meta.ts_us >= next_tick {
                    // Packet time reached the next tick: the epoch so far ends here.
                    let tick = Tick {
                        now_us: meta.ts_us,
                        sweep: false,
                        restart: false,
                    };
                    if next_tick != i64::MIN && !self.cut(fi, Some(tick)) {
                        return false;
                    }
                    next_tick = meta.ts_us.saturating_add(REPLAY_TICK_US);
                }
                // A packet read is a packet processed, also the one read when a
                // stop signal came.
                let more = self.push(meta, fi);
                if stop.load(Relaxed) {
                    interrupted = true;
                    return false;
                }
                more
            });
            // An epoch never spans two files.
            let flushed = self.flush(fi);
            self.publish(&reader, None);
            if !completed || !flushed {
                break;
            }
        }
        reader.finish();
        Read {
            truncated: reader.truncated,
            interrupted,
        }
    }

    /// Reads the interface until SIGINT/SIGTERM or a capture error, then
    /// lets the workers go.
    ///
    /// The capture is non-blocking. The loop reads every frame that is
    /// ready, then waits on the descriptor until the next cut; every
    /// [`LIVE_CUT`] it ends the epoch with a wall-clock tick and publishes
    /// the counters, with the kernel's drop counters once a second.
    pub(super) fn read_live(mut self, mut cap: LiveCapture, t0: Instant) -> Result<Read, Error> {
        let mut reader = Reader::new(false, t0);
        let link = cap.link();
        eprintln!(
            "flowsentinel: capturing on {} ({link:?}); SIGINT/SIGTERM stop and flush, SIGHUP reopens outputs",
            cap.iface()
        );
        let rules = self.rules;
        let wall_tick = || {
            Some(Tick {
                now_us: wall_us(),
                sweep: true,
                restart: false,
            })
        };
        let mut next_cut = Instant::now() + LIVE_CUT;
        let mut next_kernel = Instant::now();
        let mut kernel = cap.stats();
        let mut failure = None;
        let mut downstream = true;
        while !self.stop.load(Relaxed) && downstream {
            // Read what is ready, looking at the clock every 64 frames.
            let mut burst = 0u32;
            loop {
                match cap.next_frame() {
                    Ok(Some(frame)) => {
                        if let Some(mut meta) = reader.decode(&frame, rules) {
                            reader.fragment(&mut meta, rules);
                            if !self.push(meta, 0) {
                                downstream = false;
                                break;
                            }
                        }
                        burst += 1;
                        if burst % 64 == 0 && Instant::now() >= next_cut {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
            let now = Instant::now();
            if now >= next_cut {
                if !self.cut(0, wall_tick()) {
                    break;
                }
                next_cut = now + LIVE_CUT;
                if now >= next_kernel {
                    kernel = cap.stats().or(kernel);
                    next_kernel = now + Duration::from_secs(1);
                }
                self.publish(&reader, kernel);
            } else if burst == 0 {
                cap.wait(next_cut.saturating_duration_since(now));
            }
        }
        // Whatever was read goes to the workers; dropping the senders then ends them.
        kernel = cap.stats().or(kernel);
        self.cut(0, wall_tick());
        self.publish(&reader, kernel);
        if let Some(e) = failure {
            eprintln!("flowsentinel: {e}; stopping and flushing open flows");
            return Err(e.into());
        }
        Ok(Read {
            truncated: Vec::new(),
            interrupted: self.stop.load(Relaxed),
        })
    }
}

/// How a read ended (the counts are in the metrics).
pub(super) struct Read {
    /// Files that ended early (their whole packets were processed).
    pub(super) truncated: Vec<CaptureError>,
    /// The run was stopped by SIGINT or SIGTERM.
    pub(super) interrupted: bool,
}
