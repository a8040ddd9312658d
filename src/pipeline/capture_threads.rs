//! Live capture on several threads (`live --capture-threads N`, N > 1).
//!
//! Each capture thread owns one libpcap handle of the interface's AF_PACKET
//! fanout group (`crate::capture::LiveCapture::open_group`), which hands
//! each flow to one handle by the kernel's symmetric flow hash. The threads
//! read and decode in parallel, the expensive part, and send batches of
//! decoded packets to the one [`Feeder`], which re-shards them by the
//! flow key's hash and cuts epochs with wall-clock ticks exactly as with
//! one capture thread: epochs, ticks, sweeps and the order stage are
//! unchanged. The kernel's hash is not the feeder's, so no flow is split:
//! all its packets come from one socket, in order, and go through one
//! channel. Except IPv6 fragments: the kernel reassembles IPv4 only before
//! the fanout, so an IPv6 flow's fragmented datagrams (their hash has no
//! ports) may come through another socket than its whole ones; the time
//! merge below keeps them in order.
//!
//! Packets of different sockets come in different batches, up to the
//! kernel's block timeout apart, while a flow worker's packet clock is
//! monotonic (`fixed` and `kdd` clamp to it). So the feeder holds each
//! batch for [`HOLD`] and releases packets merged in time order over the
//! threads; its ticks are the wall clock less [`HOLD`], the time of the
//! packets it has released. A socket whose packets reach the feeder more
//! than [`HOLD`] late (its thread starved of CPU, a burst in its kernel
//! buffer) is merged after newer packets of the other sockets, and the
//! workers' clock clamp then moves its packets' times forward; the order
//! within each flow is kept.
//!
//! Drops, per stage: the kernel's (each handle's buffer; summed over the
//! handles, the interface's counted once), the capture queue's (a capture
//! thread never blocks: a batch that finds the queue to the feeder full is
//! dropped and counted, `capture_queue_drops`), and the worker queues' (as
//! with one thread). SIGINT/SIGTERM stop every capture thread; what they
//! decoded goes through the feeder and is flushed. A capture error on any
//! thread stops them all, is printed with the thread's number, and is the
//! run's error.

use super::counters::Counter;
use super::reader::{wall_us, Feeder, Read, Reader, Tick, LIVE_CUT};
use crate::capture::{CaptureError, KernelStats, LiveCapture};
use crate::decode::{DecodeRules, PacketMeta, SkipReason};
use crate::error::Error;
use crossbeam::channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Decoded packets per batch at most.
const BATCH: usize = 256;
/// Batches the one queue to the feeder holds, per capture thread (the
/// queue is shared: a busy thread may fill it), before the next is dropped.
const QUEUE_PER_THREAD: usize = 256;
/// A capture thread sends what it decoded at least this often, well within
/// [`HOLD`], also while frames keep coming and few become packets.
const FLUSH: Duration = Duration::from_millis(10);
/// How long the feeder holds a batch before it releases its packets in
/// time order: more than the kernel's block timeout (10 ms).
pub const HOLD: Duration = Duration::from_millis(50);

/// What one capture thread counted so far, for the feeder to publish.
#[derive(Default)]
struct Counts {
    read: AtomicU64,
    decoded: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    /// Packets of batches the full capture queue refused.
    dropped: AtomicU64,
    /// The handle's kernel counters (received, dropped, interface drops).
    kernel: [AtomicU64; 3],
    kernel_read: AtomicBool,
}

impl Counts {
    fn publish(&self, reader: &Reader, kernel: Option<KernelStats>) {
        self.read.store(reader.packets_read, Relaxed);
        self.decoded.store(reader.packets_decoded, Relaxed);
        for (a, &n) in self.skipped.iter().zip(&reader.skipped) {
            a.store(n, Relaxed);
        }
        if let Some(k) = kernel {
            for (a, n) in self
                .kernel
                .iter()
                .zip([k.received, k.dropped, k.if_dropped])
            {
                a.store(n, Relaxed);
            }
            self.kernel_read.store(true, Relaxed);
        }
    }
}

/// A capture thread's batch: its number and its packets, in capture order.
type Batch = (usize, Vec<PacketMeta>);

/// Sends the batch so far without blocking; false once the feeder is gone.
fn send(me: usize, batch: &mut Vec<PacketMeta>, tx: &Sender<Batch>, counts: &Counts) -> bool {
    if batch.is_empty() {
        return true;
    }
    let packets = std::mem::replace(batch, Vec::with_capacity(BATCH));
    match tx.try_send((me, packets)) {
        Ok(()) => true,
        Err(TrySendError::Full((_, lost))) => {
            counts.dropped.fetch_add(lost.len() as u64, Relaxed);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// One capture thread: reads and decodes until `halt`, sending batches.
fn capture(
    me: usize,
    mut cap: LiveCapture,
    rules: DecodeRules,
    tx: Sender<Batch>,
    counts: &Counts,
    halt: &AtomicBool,
    t0: Instant,
) -> Result<(), CaptureError> {
    let mut reader = Reader::new(false, t0);
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_publish = Instant::now();
    let mut next_kernel = Instant::now();
    let mut kernel = cap.stats();
    let result = loop {
        if halt.load(Relaxed) {
            break Ok(());
        }
        let mut burst = 0u32;
        let flush_at = Instant::now() + FLUSH;
        let read = loop {
            match cap.next_frame() {
                Ok(Some(frame)) => {
                    if let Some(mut meta) = reader.decode(&frame, rules) {
                        reader.fragment(&mut meta, rules);
                        batch.push(meta);
                        if batch.len() >= BATCH && !send(me, &mut batch, &tx, counts) {
                            break Ok(false);
                        }
                    }
                    burst += 1;
                    if burst % 64 == 0 && Instant::now() >= flush_at.min(next_publish) {
                        break Ok(true);
                    }
                }
                Ok(None) => break Ok(true),
                Err(e) => break Err(e),
            }
        };
        // What is decoded goes now: nothing waits in a quiet thread.
        let feeder = send(me, &mut batch, &tx, counts);
        match read {
            Err(e) => break Err(e),
            Ok(false) => break Ok(()),
            Ok(true) if !feeder => break Ok(()),
            Ok(true) => {}
        }
        let now = Instant::now();
        if now >= next_publish {
            if now >= next_kernel {
                kernel = cap.stats().or(kernel);
                next_kernel = now + Duration::from_secs(1);
            }
            counts.publish(&reader, kernel);
            next_publish = now + LIVE_CUT;
        } else if burst == 0 {
            cap.wait(next_publish.saturating_duration_since(now));
        }
    };
    counts.publish(&reader, cap.stats().or(kernel));
    result
}

/// Sets the halt flag when its thread unwinds from a panic.
struct HaltOnPanic<'a>(&'a AtomicBool);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Relaxed);
        }
    }
}

/// Batches held by the feeder, per capture thread, to be merged in time order.
struct Merge {
    held: Vec<VecDeque<(Instant, std::vec::IntoIter<PacketMeta>)>>,
}

impl Merge {
    fn new(n: usize) -> Self {
        Merge {
            held: (0..n).map(|_| VecDeque::new()).collect(),
        }
    }

    fn hold(&mut self, (me, packets): Batch) {
        if let Some(q) = self.held.get_mut(me) {
            q.push_back((Instant::now(), packets.into_iter()));
        }
    }

    /// Releases, in time order, every packet whose batch was held at least
    /// `hold` (all of them when `hold` is zero); false once `push` is.
    fn release(&mut self, hold: Duration, mut push: impl FnMut(PacketMeta) -> bool) -> bool {
        loop {
            // Drop spent batches; the earliest packet at a thread's front.
            let mut first: Option<(i64, usize, Instant)> = None;
            for (i, q) in self.held.iter_mut().enumerate() {
                while q.front().is_some_and(|(_, p)| p.as_slice().is_empty()) {
                    q.pop_front();
                }
                if let Some((at, p)) = q.front() {
                    let ts = p.as_slice().first().map_or(i64::MAX, |m| m.ts_us);
                    if first.is_none_or(|(t, _, _)| ts < t) {
                        first = Some((ts, i, *at));
                    }
                }
            }
            let Some((_, i, at)) = first else {
                return true;
            };
            if at.elapsed() < hold {
                return true;
            }
            let next = self
                .held
                .get_mut(i)
                .and_then(|q| q.front_mut())
                .and_then(|(_, p)| p.next());
            if let Some(meta) = next {
                if !push(meta) {
                    return false;
                }
            }
        }
    }
}

/// The sum of the capture threads' counts, published through the feeder.
fn publish(feeder: &Feeder<'_>, counts: &[Counts]) {
    let sum = |f: &dyn Fn(&Counts) -> &AtomicU64| counts.iter().map(|c| f(c).load(Relaxed)).sum();
    let skipped: Vec<u64> = (0..SkipReason::ALL.len())
        .map(|i| sum(&|c| &c.skipped[i]))
        .collect();
    let kernel = counts
        .iter()
        .any(|c| c.kernel_read.load(Relaxed))
        .then(|| KernelStats {
            received: sum(&|c| &c.kernel[0]),
            dropped: sum(&|c| &c.kernel[1]),
            // The interface's own counter, the same through every handle.
            if_dropped: counts
                .iter()
                .map(|c| c.kernel[2].load(Relaxed))
                .max()
                .unwrap_or(0),
        });
    feeder.publish_counts(sum(&|c| &c.read), sum(&|c| &c.decoded), &skipped, kernel);
    let dropped = sum(&|c| &c.dropped);
    feeder.metrics().set(Counter::CaptureQueueDrops, dropped);
}

/// Reads the interface through `caps` (one per capture thread) until
/// SIGINT/SIGTERM, a capture error or the workers' end, then lets the
/// workers go.
pub(super) fn read_live(
    mut feeder: Feeder<'_>,
    caps: Vec<LiveCapture>,
    t0: Instant,
) -> Result<Read, Error> {
    let n = caps.len();
    if let Some(c) = caps.first() {
        eprintln!(
            "flowsentinel: capturing on {} ({:?}) with {n} capture threads (AF_PACKET fanout group {:#06x}); SIGINT/SIGTERM stop and flush, SIGHUP reopens outputs",
            c.iface(),
            c.link(),
            c.fanout_group().unwrap_or_default()
        );
    }
    let rules = feeder.rules();
    let counts: Vec<Counts> = (0..n).map(|_| Counts::default()).collect();
    let halt = AtomicBool::new(false);
    let (tx, rx) = bounded::<Batch>(QUEUE_PER_THREAD * n);
    let tick = || {
        Some(Tick {
            now_us: wall_us().saturating_sub(HOLD.as_micros() as i64),
            sweep: true,
            restart: false,
        })
    };
    let mut merge = Merge::new(n);
    std::thread::scope(|s| {
        let threads: Vec<_> = caps
            .into_iter()
            .zip(&counts)
            .enumerate()
            .map(|(me, (cap, c))| {
                let (tx, halt) = (tx.clone(), &halt);
                s.spawn(move || {
                    // A thread that panics stops the others too.
                    let _halt = HaltOnPanic(halt);
                    let r = capture(me, cap, rules, tx, c, halt, t0);
                    if r.is_err() {
                        halt.store(true, Relaxed);
                    }
                    r
                })
            })
            .collect();
        drop(tx);
        let mut next_cut = Instant::now() + LIVE_CUT;
        let mut downstream = true;
        while downstream && !feeder.stop().load(Relaxed) && !halt.load(Relaxed) {
            let wait = next_cut
                .saturating_duration_since(Instant::now())
                .min(HOLD / 5);
            match rx.recv_timeout(wait) {
                Ok(batch) => merge.hold(batch),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            downstream = merge.release(HOLD, |m| feeder.push(m, 0));
            let now = Instant::now();
            if downstream && now >= next_cut {
                downstream = feeder.cut(0, tick());
                next_cut = now + LIVE_CUT;
                publish(&feeder, &counts);
            }
        }
        // Every capture thread stops and sends what it decoded; all of it
        // goes to the workers, in time order, then the last epoch.
        halt.store(true, Relaxed);
        for batch in rx.iter() {
            merge.hold(batch);
        }
        let mut failures = Vec::new();
        for (i, t) in threads.into_iter().enumerate() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push((i, Error::from(e))),
                Err(_) => failures.push((i, Error::Internal("capture thread panicked".into()))),
            }
        }
        if downstream && merge.release(Duration::ZERO, |m| feeder.push(m, 0)) {
            feeder.cut(0, tick());
        }
        publish(&feeder, &counts);
        let per_thread: Vec<String> = counts
            .iter()
            .map(|c| c.read.load(Relaxed).to_string())
            .collect();
        eprintln!(
            "flowsentinel: packets read per capture thread: {}",
            per_thread.join(" ")
        );
        let mut first = None;
        for (i, e) in failures {
            eprintln!(
                "flowsentinel: capture thread {}: {e}; stopping and flushing open flows",
                i + 1
            );
            first.get_or_insert(e);
        }
        match first {
            Some(e) => Err(e),
            None => Ok(Read {
                truncated: Vec::new(),
                interrupted: feeder.stop().load(Relaxed),
            }),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: &[i64]) -> Vec<PacketMeta> {
        ts.iter()
            .map(|&ts_us| PacketMeta {
                ts_us,
                ..PacketMeta::default()
            })
            .collect()
    }

    #[test]
    fn held_batches_are_released_in_time_order_once_old_enough() {
        let mut m = Merge::new(2);
        m.hold((0, at(&[1, 3, 6])));
        m.hold((1, at(&[2, 4])));
        m.hold((0, at(&[7])));
        m.hold((1, at(&[5, 8])));
        // Not held long enough yet: nothing goes.
        let mut out = Vec::new();
        assert!(m.release(Duration::from_secs(60), |p| {
            out.push(p.ts_us);
            true
        }));
        assert!(out.is_empty());
        assert!(m.release(Duration::ZERO, |p| {
            out.push(p.ts_us);
            true
        }));
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        // A thread number out of range is ignored, and a refusing push stops.
        m.hold((9, at(&[0])));
        m.hold((1, at(&[10, 11])));
        assert!(!m.release(Duration::ZERO, |_| false));
        let mut rest = Vec::new();
        assert!(m.release(Duration::ZERO, |p| {
            rest.push(p.ts_us);
            true
        }));
        assert_eq!(rest, [11]);
    }
}
