//! Flow: the flow key, the flow table and the flow lifecycle.
//!
//! Input: [`PacketMeta`] values in capture order, plus time ticks; output:
//! [`FinishedFlow`]s handed to a callback. The table owns each flow's
//! [`FlowRecord`] and decides when a flow ends:
//!
//! * compat profiles follow the era tool exactly: a flow ends at the first
//!   packet with FIN (that packet included), or when a packet arrives more than
//!   the flow timeout after the flow's start (that packet opens a new flow which,
//!   era bug, keeps the old flow's source and destination); at end of input the
//!   open flows are written; flows of a single packet are never written.
//! * `fixed` ends a flow on RST, on the ACK that follows FINs from both sides,
//!   or on the flow timeout; the new flow takes its own direction; single-packet
//!   flows are written; the packet clock is clamped to be monotonic.
//! * `kdd` keeps `fixed`'s rules and adds KDD's records: an ICMP message is a
//!   record of its own (its fragments included), and a UDP record is a
//!   request with its answer: the originator's next packet after an answer
//!   opens the next record.
//!
//! Every flow also keeps its connection's own KDD state ([`Conn`]), from
//! which the context stage computes its KDD row.
//!
//! Live capture calls [`FlowTable::sweep`] on wall-clock ticks so that flows on
//! a quiet link still end: a flow whose flow timeout has passed is finished then
//! with exactly the packets it would have had.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::decode::{Addr, PacketMeta, TcpFlags};
use crate::defaults;
use crate::features::{Direction, FlowRecord};
use crate::kdd::{Conn, ConnId, Transport};

mod entry;
mod key;
mod slab;

use entry::{Entry, Rules};
use slab::Slab;

use crate::profile::Profile;
pub use key::{shard_hash, FlowKey};
use std::time::Duration;

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// TCP FIN (compat: the first FIN; fixed: the ACK after both FINs).
    Fin,
    /// TCP RST (fixed).
    Rst,
    /// The flow timeout passed since the flow's first packet.
    FlowTimeout,
    /// The input ended with the flow still open.
    EndOfInput,
    /// Ended early to keep the table within `max_flows`: the least recently
    /// active flows go first.
    Evicted,
    /// `kdd`: a record ended by KDD's rules (an ICMP message; a UDP request
    /// and its answer, ended by the next request).
    Record,
}

impl EndReason {
    /// A short, stable label.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::FlowTimeout => "timeout",
            EndReason::EndOfInput => "end_of_input",
            EndReason::Evicted => "evicted",
            EndReason::Record => "record",
        }
    }
}

/// A flow that has ended, with everything needed to compute its features.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedFlow {
    /// The flow key.
    pub key: FlowKey,
    /// True when the flow's source (first packet's sender) is `key.a`.
    pub src_is_a: bool,
    /// The accumulated state.
    pub record: FlowRecord,
    /// The connection's own KDD state.
    pub conn: Conn,
    /// Why it ended.
    pub reason: EndReason,
    /// The input its first packet came from ([`FlowTable::set_source`]).
    pub source: u32,
}

impl FinishedFlow {
    /// (source address, source port, destination address, destination port).
    pub fn endpoints(&self) -> (Addr, u16, Addr, u16) {
        self.key.endpoints(self.src_is_a)
    }

    /// The flow's connection identity; `None` when its protocol has no KDD
    /// record.
    pub fn conn_id(&self) -> Option<ConnId> {
        conn_id(&self.key, self.src_is_a, &self.record, &self.conn)
    }
}

fn conn_id(key: &FlowKey, src_is_a: bool, record: &FlowRecord, conn: &Conn) -> Option<ConnId> {
    let (src, sp, dst, dp) = key.endpoints(src_is_a);
    let (start, last) = (record.start_us(), record.last_us());
    ConnId::new(conn, key.proto, (src, sp), (dst, dp), start, last)
}

/// An interim snapshot of a flow that is still open: its record so far,
/// closed as if the flow ended at its last packet ([`FlowTable::interim`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The flow key.
    pub key: FlowKey,
    /// True when the flow's source (first packet's sender) is `key.a`.
    pub src_is_a: bool,
    /// A closed copy of the flow's state.
    pub record: FlowRecord,
    /// The connection's own KDD state so far.
    pub conn: Conn,
    /// The tick that took it, µs.
    pub at_us: i64,
    /// The input its first packet came from.
    pub source: u32,
}

impl Snapshot {
    /// The flow's connection identity so far (see [`FinishedFlow::conn_id`]).
    pub fn conn_id(&self) -> Option<ConnId> {
        conn_id(&self.key, self.src_is_a, &self.record, &self.conn)
    }
}

/// Flow-stage settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Feature and lifecycle rules.
    pub profile: Profile,
    /// A flow ends this long after its first packet (µs).
    pub flow_timeout_us: i64,
    /// A gap longer than this separates active periods (µs).
    pub activity_timeout_us: i64,
    /// The most flows open at once; a new flow beyond it first evicts the
    /// least recently active sixteenth of the table. `None`: no limit.
    pub max_flows: Option<usize>,
}

impl FlowConfig {
    /// The defaults ([`defaults::FLOW_TIMEOUT`] and
    /// [`defaults::ACTIVITY_TIMEOUT`], the era tool's 120 s and 5 s), with no
    /// limit on open flows.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            flow_timeout_us: micros(defaults::FLOW_TIMEOUT),
            activity_timeout_us: micros(defaults::ACTIVITY_TIMEOUT),
            max_flows: None,
        }
    }
}

/// A duration in µs, the flow stage's unit (`i64::MAX` beyond it).
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Counters of the flow stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows opened.
    pub started: u64,
    /// Flows handed on.
    pub finished: u64,
    /// Compat only: flows of one packet, which the era tool never wrote.
    pub single_packet_discarded: u64,
    /// Flows ended early by the `max_flows` limit (counted whether or not
    /// the era rule then discards them as single-packet flows).
    pub evicted: u64,
}

impl std::ops::AddAssign for FlowStats {
    /// Sums two tables' counters (the shards of one run).
    fn add_assign(&mut self, o: FlowStats) {
        self.started += o.started;
        self.finished += o.finished;
        self.single_packet_discarded += o.single_packet_discarded;
        self.evicted += o.evicted;
    }
}

/// The flow table of one worker.
///
/// Flows live in a slab whose hash index holds only slot numbers; a flow's
/// 512-byte record is built only once it has more than three packets, or
/// when it is snapshotted or ends (until then its packets are kept in 20
/// bytes each, and replayed through the same update).
pub struct FlowTable {
    cfg: FlowConfig,
    flows: Slab,
    clock_us: i64,
    stats: FlowStats,
    /// The input packets come from now (a capture file's index).
    source: u32,
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> Self {
        Self {
            cfg,
            flows: Slab::with_capacity(1024),
            clock_us: i64::MIN,
            stats: FlowStats::default(),
            source: 0,
        }
    }

    /// Names the input the next packets come from: a flow remembers the
    /// input of its first packet (`pcap_filename`).
    pub fn set_source(&mut self, source: u32) {
        self.source = source;
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Flows currently open.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no flow is open.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    fn slot(&mut self, i: u32) -> Option<&mut Entry> {
        self.flows.get_mut(i)
    }

    /// Removes a flow from the table and returns its entry.
    fn remove(&mut self, key: &FlowKey) -> Option<Entry> {
        self.flows.remove(key)
    }

    /// What the entries of flow `key` build their full state with.
    fn rules(&self, key: &FlowKey) -> Rules {
        Rules {
            profile: self.cfg.profile,
            activity_timeout_us: self.cfg.activity_timeout_us,
            proto: key.proto,
        }
    }

    fn emit(
        &mut self,
        key: FlowKey,
        e: Entry,
        reason: EndReason,
        out: &mut impl FnMut(FinishedFlow),
    ) {
        if self.cfg.profile.is_compat() && e.packets() < 2 {
            self.stats.single_packet_discarded += 1;
            return;
        }
        let (src_is_a, source) = (e.src_is_a, e.source);
        let Some(mut full) = e.into_full(&self.rules(&key)) else {
            return;
        };
        full.record.close();
        self.stats.finished += 1;
        out(FinishedFlow {
            key,
            src_is_a,
            record: full.record,
            conn: full.conn,
            reason,
            source,
        });
    }

    fn new_entry(&mut self, key: &FlowKey, p: &PacketMeta, src_is_a: bool) -> Entry {
        self.stats.started += 1;
        Entry::new(p, src_is_a, self.source, &self.rules(key))
    }

    /// Why a flow's first packet already ends it, if it does (`fixed`: a
    /// lone RST; `kdd`: also an ICMP message that is not the first fragment
    /// of several).
    fn ends_at_once(&self, p: &PacketMeta) -> Option<EndReason> {
        if self.cfg.profile.is_compat() {
            None
        } else if p.flags.has(TcpFlags::RST) {
            Some(EndReason::Rst)
        } else if self.kdd_message_ends(p) {
            Some(EndReason::Record)
        } else {
            None
        }
    }

    /// `kdd`: true for an ICMP packet that ends its message (not followed by
    /// more fragments).
    fn kdd_message_ends(&self, p: &PacketMeta) -> bool {
        self.cfg.profile == Profile::Kdd
            && Transport::of(p.proto) == Some(Transport::Icmp)
            && !p.frag.is_some_and(|f| f.more)
    }

    fn open(
        &mut self,
        key: FlowKey,
        p: &PacketMeta,
        src_is_a: bool,
        out: &mut impl FnMut(FinishedFlow),
    ) {
        let entry = self.new_entry(&key, p, src_is_a);
        if let Some(reason) = self.ends_at_once(p) {
            self.emit(key, entry, reason, out);
            return;
        }
        if self
            .cfg
            .max_flows
            .is_some_and(|max| self.flows.len() >= max)
        {
            self.evict(out);
        }
        self.flows.insert(key, entry);
    }

    /// Ends the least recently active sixteenth of the open flows (at least
    /// one), oldest last packet first, with reason [`EndReason::Evicted`].
    /// Ending a batch at a time keeps the cost per evicted flow small.
    fn evict(&mut self, out: &mut impl FnMut(FinishedFlow)) {
        let mut open: Vec<(i64, FlowKey)> = self
            .flows
            .iter()
            .map(|(_, k, e)| (e.last_us(), *k))
            .collect();
        let n = (open.len() / 16).max(1);
        if n < open.len() {
            open.select_nth_unstable(n - 1);
            open.truncate(n);
        }
        open.sort_unstable();
        for (_, key) in open {
            if let Some(e) = self.remove(&key) {
                self.stats.evicted += 1;
                self.emit(key, e, EndReason::Evicted, out);
            }
        }
    }

    /// Adds one packet; flows it ends are passed to `out`.
    pub fn on_packet(&mut self, p: &PacketMeta, out: &mut impl FnMut(FinishedFlow)) {
        let compat = self.cfg.profile.is_compat();
        let mut p = *p;
        if !compat {
            self.clock_us = self.clock_us.max(p.ts_us);
            p.ts_us = self.clock_us;
        }
        let (key, pkt_src_is_a) = FlowKey::of(&p, self.cfg.profile);
        let Some(i) = self.flows.find(&key) else {
            self.open(key, &p, pkt_src_is_a, out);
            return;
        };
        let flow_timeout_us = self.cfg.flow_timeout_us;
        let rules = self.rules(&key);
        let Some(entry) = self.slot(i) else { return };
        if p.ts_us.saturating_sub(entry.start_us()) > flow_timeout_us {
            // era: the new flow keeps the old flow's source and destination.
            let src_is_a = if compat { entry.src_is_a } else { pkt_src_is_a };
            let fresh = self.new_entry(&key, &p, src_is_a);
            let ends_at_once = self.ends_at_once(&p);
            // The new flow takes the old one's slot: the index is not touched.
            let Some(slot) = self.slot(i) else { return };
            let old = std::mem::replace(slot, fresh);
            self.emit(key, old, EndReason::FlowTimeout, out);
            if let Some(reason) = ends_at_once {
                if let Some(done) = self.remove(&key) {
                    self.emit(key, done, reason, out);
                }
            }
            return;
        }
        let kdd = self.cfg.profile == Profile::Kdd;
        let Some(entry) = self.slot(i) else { return };
        if kdd && p.proto == 17 && pkt_src_is_a == entry.src_is_a && entry.answered() {
            // kdd: the originator's next request ends the answered record.
            if let Some(done) = self.remove(&key) {
                self.emit(key, done, EndReason::Record, out);
            }
            self.open(key, &p, pkt_src_is_a, out);
            return;
        }
        let dir = if compat {
            // era: direction is decided by the source address alone.
            let flow_src = if entry.src_is_a { key.a } else { key.b };
            if p.src == flow_src {
                Direction::Forward
            } else {
                Direction::Backward
            }
        } else if pkt_src_is_a == entry.src_is_a {
            Direction::Forward
        } else {
            Direction::Backward
        };
        let fin = p.flags.has(TcpFlags::FIN);
        entry.add(&p, dir, &rules);
        let end = if compat {
            fin.then_some(EndReason::Fin)
        } else {
            let both_fins = entry.fins == 3;
            if fin {
                entry.fins |= if dir == Direction::Forward { 1 } else { 2 };
            }
            if p.flags.has(TcpFlags::RST) {
                Some(EndReason::Rst)
            } else if both_fins && p.flags.has(TcpFlags::ACK) {
                Some(EndReason::Fin)
            } else if kdd && self.kdd_message_ends(&p) {
                Some(EndReason::Record)
            } else {
                None
            }
        };
        if let Some(reason) = end {
            if let Some(done) = self.remove(&key) {
                self.emit(key, done, reason, out);
            }
        }
    }

    /// Ends every flow whose flow timeout has passed at `now_us` (live
    /// capture's wall-clock tick, or a periodic sweep of packet time).
    pub fn sweep(&mut self, now_us: i64, out: &mut impl FnMut(FinishedFlow)) {
        let timeout = self.cfg.flow_timeout_us;
        let expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, _, e)| now_us.saturating_sub(e.start_us()) > timeout)
            .map(|(_, k, _)| *k)
            .collect();
        for key in expired {
            if let Some(e) = self.remove(&key) {
                self.emit(key, e, EndReason::FlowTimeout, out);
            }
        }
    }

    /// Interim snapshots of the open flows that
    /// have been active another `every_us` since their start: a flow is
    /// snapshotted once `now_us` reaches start + k·every_us for the next k,
    /// at most once per call, and only when it had a packet since its
    /// previous snapshot: an idle flow's own features would be the same
    /// again (only its connection-context columns could move), so a spoofed
    /// flood's thousands of one-packet flows are scored early once, not every
    /// `every_us` until they time out. The flows stay open.
    pub fn interim(&mut self, now_us: i64, every_us: i64, out: &mut impl FnMut(Snapshot)) {
        if every_us <= 0 {
            return;
        }
        let (profile, activity_timeout_us) = (self.cfg.profile, self.cfg.activity_timeout_us);
        for (key, e) in self.flows.iter_mut() {
            let age = now_us.saturating_sub(e.start_us());
            let due = every_us.saturating_mul(i64::from(e.interims) + 1);
            if age < due {
                continue;
            }
            // Skip the multiples that passed unseen (a late tick): one snapshot.
            e.interims = u32::try_from(age / every_us).unwrap_or(u32::MAX);
            if !e.mark_snapped() {
                continue;
            }
            let rules = Rules {
                profile,
                activity_timeout_us,
                proto: key.proto,
            };
            let Some(mut full) = e.snapshot(&rules) else {
                continue;
            };
            full.record.close();
            out(Snapshot {
                key: *key,
                src_is_a: e.src_is_a,
                record: full.record,
                conn: full.conn,
                at_us: now_us,
                source: e.source,
            });
        }
    }

    /// Ends every open flow (end of input, or of a capture), oldest first,
    /// and restarts the clock.
    pub fn drain(&mut self, out: &mut impl FnMut(FinishedFlow)) {
        self.drain_sorted(false, out);
    }

    /// [`FlowTable::drain`], but in the order the sensor releases flows: by
    /// last packet, then first packet and key. The worker can then hand its
    /// flows on a part at a time, and the order stage merge them.
    pub fn drain_by_last(&mut self, out: &mut impl FnMut(FinishedFlow)) {
        self.drain_sorted(true, out);
    }

    fn drain_sorted(&mut self, by_last: bool, out: &mut impl FnMut(FinishedFlow)) {
        self.clock_us = i64::MIN;
        // Sort (time, slot) pairs by (time, [start,] key): the keys stay in
        // their slots, so the sort needs 16 bytes a flow, not 64.
        let mut open: Vec<(i64, u32)> = self
            .flows
            .iter()
            .map(|(i, _, e)| (if by_last { e.last_us() } else { e.start_us() }, i))
            .collect();
        let flows = &self.flows;
        let start = |i: u32| flows.get(i).map(Entry::start_us);
        open.sort_unstable_by(|x, y| {
            let tie = || {
                if by_last {
                    start(x.1).cmp(&start(y.1))
                } else {
                    std::cmp::Ordering::Equal
                }
            };
            x.0.cmp(&y.0)
                .then_with(tie)
                .then_with(|| flows.key(x.1).cmp(&flows.key(y.1)))
        });
        for (_, i) in open {
            if let Some((key, e)) = self.flows.take(i) {
                self.emit(key, e, EndReason::EndOfInput, out);
            }
        }
        self.flows.clear();
    }
}
