//! Features: the per-flow accumulators and the column catalogue.
//!
//! A [`FlowRecord`] is the fixed-size state of one flow (no packet lists, no
//! allocation). The flow stage feeds it packets with a [`Direction`]; at the end
//! [`FlowRecord::features`] renders the 76 numeric features as a
//! [`FeatureVector`], each value at its catalogue column's index.
//!
//! What is computed depends on the [`Profile`]:
//! * `cic2017` / `cic2018`: bug-compatible with the dataset-era CICFlowMeter
//!   (commit eaa853d), which wrote CIC-IDS2017 and CSE-CIC-IDS2018. Its quirks
//!   are reproduced on purpose; each is marked `era:` below.
//! * `fixed`: the same columns with the era bugs corrected. Every deviation is
//!   listed in the README's "Profiles" section.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod bulk;
pub mod catalogue;
mod stats;

pub use catalogue::{
    lookup, Col, Column, Kind, Layout, COLUMNS, FIRST_FEATURE, NUM_COLUMNS, NUM_FEATURES,
};
pub use stats::RunningStats;

use crate::decode::{PacketMeta, TcpFlags};
use crate::profile::Profile;
use bulk::{ratio, Bulk, BulkAverages};

/// Which way a packet travels relative to the flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Same direction as the flow's first packet.
    Forward,
    /// The reply direction.
    Backward,
}

/// The numeric features of one flow: the value of feature column `c` is at
/// `c.feature_index()` (catalogue order).
pub type FeatureVector = [f64; NUM_FEATURES];

fn short(x: u32) -> u16 {
    u16::try_from(x).unwrap_or(u16::MAX)
}

/// Stores a table of `Column: value` pairs into a [`FeatureSink`]: each pair
/// becomes one unconditional `set(Col::Column, value)`, in table order. The
/// table is checked at compile time to name every feature column exactly
/// once, so no feature is left unset or set twice.
macro_rules! store_features {
    ($w:ident; $($col:ident: $value:expr,)+) => {
        const _: () = assert!(
            each_feature_once(&[$(Col::$col),+]),
            "store_features! must name every feature column exactly once"
        );
        $($w.set(Col::$col, $value);)+
    };
}

/// True when `cols` holds every feature column exactly once and nothing else.
const fn each_feature_once(mut cols: &[Col]) -> bool {
    let mut seen: u128 = 0;
    while let [col, rest @ ..] = cols {
        match col.feature_index() {
            Some(i) if seen & (1 << i) == 0 => seen |= 1 << i,
            _ => return false,
        }
        cols = rest;
    }
    seen == (1 << NUM_FEATURES) - 1
}

// `each_feature_once` keeps one bit per feature.
const _: () = assert!(NUM_FEATURES < 128);

/// The fixed-size state of one flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    // Times, µs since the epoch.
    start_us: i64,
    last_us: i64,
    fwd_last_us: i64,
    bwd_first_us: i64,
    bwd_last_us: i64,
    /// Start of the current active period; it ends at `last_us`.
    active_start_us: i64,
    // Counters.
    fwd_packets: u32,
    bwd_packets: u32,
    fwd_bytes: u64,
    bwd_bytes: u64,
    fwd_header_bytes: u64,
    bwd_header_bytes: u64,
    first_payload: u32,
    fwd_data_packets: u32,
    /// Smallest forward transport header (at most 60 bytes, so 16 bits).
    fwd_min_header: u16,
    init_win_fwd: i32,
    init_win_bwd: i32,
    active_n: u32,
    idle_n: u32,
    subflows: u32,
    /// Flag counts, indexed by bit position of the TCP flags byte.
    flag_counts: [u32; 8],
    /// Forward PSH/URG counts; backward ones are the flag totals minus these
    /// (`fixed`) or 0 (compat, which counts the first packet only).
    fwd_psh: u32,
    fwd_urg: u32,
    // Running statistics; their counts derive from the packet counters.
    fwd_len: RunningStats,
    bwd_len: RunningStats,
    all_len: RunningStats,
    flow_iat: RunningStats,
    fwd_iat: RunningStats,
    bwd_iat: RunningStats,
    active: RunningStats,
    idle: RunningStats,
    fwd_bulk: Bulk,
    bwd_bulk: Bulk,
    profile: Profile,
}

impl FlowRecord {
    /// Starts a flow with its first packet, which defines the forward direction.
    pub fn new(p: &PacketMeta, profile: Profile) -> Self {
        let ts = p.ts_us;
        let mut r = FlowRecord {
            start_us: ts,
            last_us: ts,
            fwd_last_us: ts,
            bwd_first_us: 0,
            bwd_last_us: 0,
            active_start_us: ts,
            fwd_packets: 1,
            bwd_packets: 0,
            fwd_bytes: u64::from(p.payload_len),
            bwd_bytes: 0,
            fwd_header_bytes: u64::from(p.header_len),
            bwd_header_bytes: 0,
            first_payload: p.payload_len,
            fwd_data_packets: 0,
            fwd_min_header: short(p.header_len),
            init_win_fwd: p.window,
            init_win_bwd: -1,
            active_n: 0,
            idle_n: 0,
            subflows: 1,
            flag_counts: [0; 8],
            fwd_psh: u32::from(p.flags.has(TcpFlags::PSH)),
            fwd_urg: u32::from(p.flags.has(TcpFlags::URG)),
            fwd_len: RunningStats::new(),
            bwd_len: RunningStats::new(),
            all_len: RunningStats::new(),
            flow_iat: RunningStats::new(),
            fwd_iat: RunningStats::new(),
            bwd_iat: RunningStats::new(),
            active: RunningStats::new(),
            idle: RunningStats::new(),
            fwd_bulk: Bulk::default(),
            bwd_bulk: Bulk::default(),
            profile,
        };
        let len = f64::from(p.payload_len);
        r.fwd_len.push(len, 1);
        r.all_len.push(len, 1);
        r.count_flags(p.flags);
        if profile.is_compat() {
            // era: the first packet's length enters the packet-length statistics twice.
            r.all_len.push(len, 2);
            // era: the subflow test compares µs with seconds, so it passes for any
            // real timestamp and the first packet opens the only subflow.
            let t = ts as f64;
            r.subflows = u32::from(t - t / 1e6 > 1.0);
        } else {
            r.fwd_data_packets = u32::from(p.payload_len >= 1);
            r.fwd_bulk.push(ts, p.payload_len, 0);
        }
        r
    }

    /// Start time, µs.
    pub fn start_us(&self) -> i64 {
        self.start_us
    }

    /// Time of the last packet, µs.
    pub fn last_us(&self) -> i64 {
        self.last_us
    }

    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        u64::from(self.fwd_packets) + u64::from(self.bwd_packets)
    }

    /// Packets in each direction.
    pub fn packets_by_direction(&self) -> (u32, u32) {
        (self.fwd_packets, self.bwd_packets)
    }

    /// Payload bytes in each direction.
    pub fn bytes_by_direction(&self) -> (u64, u64) {
        (self.fwd_bytes, self.bwd_bytes)
    }

    fn count_flags(&mut self, flags: TcpFlags) {
        for (bit, count) in self.flag_counts.iter_mut().enumerate() {
            if flags.0 & (1 << bit) != 0 {
                *count = count.saturating_add(1);
            }
        }
    }

    /// Closes the active period when the gap since the last packet exceeds
    /// `threshold_us`, recording the active and idle times.
    pub fn update_active_idle(&mut self, now_us: i64, threshold_us: i64) {
        // The active period ends at the last packet: the caller adds the
        // packet at `now_us` right after this.
        let end = self.last_us;
        if now_us.saturating_sub(end) > threshold_us {
            let active = end.saturating_sub(self.active_start_us);
            if active > 0 {
                self.active_n += 1;
                self.active.push(active as f64, u64::from(self.active_n));
            }
            self.idle_n += 1;
            let idle = now_us.saturating_sub(end);
            self.idle.push(idle as f64, u64::from(self.idle_n));
            self.active_start_us = now_us;
        }
    }

    /// Adds a packet after the first.
    pub fn add(&mut self, p: &PacketMeta, dir: Direction) {
        let ts = p.ts_us;
        let len = f64::from(p.payload_len);
        let compat = self.profile.is_compat();
        let n_all = self.packets() + 1 + u64::from(compat);
        self.all_len.push(len, n_all);
        if !compat {
            self.count_flags(p.flags);
            if ts.saturating_sub(self.last_us) > 1_000_000 {
                self.subflows += 1;
            }
        }
        match dir {
            Direction::Forward => {
                self.fwd_packets += 1;
                self.fwd_data_packets += u32::from(p.payload_len >= 1);
                self.fwd_len.push(len, u64::from(self.fwd_packets));
                self.fwd_header_bytes += u64::from(p.header_len);
                self.fwd_bytes += u64::from(p.payload_len);
                let iat = ts.saturating_sub(self.fwd_last_us) as f64;
                self.fwd_iat.push(iat, u64::from(self.fwd_packets - 1));
                self.fwd_last_us = ts;
                self.fwd_min_header = self.fwd_min_header.min(short(p.header_len));
                if !compat {
                    self.fwd_psh += u32::from(p.flags.has(TcpFlags::PSH));
                    self.fwd_urg += u32::from(p.flags.has(TcpFlags::URG));
                    self.fwd_bulk.push(ts, p.payload_len, self.bwd_bulk.last_us);
                }
            }
            Direction::Backward => {
                self.bwd_packets += 1;
                self.bwd_len.push(len, u64::from(self.bwd_packets));
                if compat || self.bwd_packets == 1 {
                    // era: every backward packet overwrites the "initial" window.
                    self.init_win_bwd = p.window;
                }
                self.bwd_header_bytes += u64::from(p.header_len);
                self.bwd_bytes += u64::from(p.payload_len);
                if self.bwd_packets > 1 {
                    let iat = ts.saturating_sub(self.bwd_last_us) as f64;
                    self.bwd_iat.push(iat, u64::from(self.bwd_packets - 1));
                } else {
                    self.bwd_first_us = ts;
                }
                self.bwd_last_us = ts;
                if !compat {
                    self.bwd_bulk.push(ts, p.payload_len, self.fwd_bulk.last_us);
                }
            }
        }
        let iat = ts.saturating_sub(self.last_us) as f64;
        self.flow_iat.push(iat, self.packets() - 1);
        self.last_us = ts;
    }

    /// Closes the last active period when the flow ends (`fixed` only; the era
    /// tool never did).
    pub fn close(&mut self) {
        if self.profile.is_compat() {
            return;
        }
        let active = self.last_us.saturating_sub(self.active_start_us);
        if active > 0 {
            self.active_n += 1;
            self.active.push(active as f64, u64::from(self.active_n));
        }
        self.active_start_us = self.last_us;
    }

    /// The 76 numeric features, each at its column's
    /// [`Col::feature_index`].
    pub fn features(&self) -> FeatureVector {
        let mut v = [0.0; NUM_FEATURES];
        self.write_features(&mut v);
        v
    }

    /// Computes every feature and hands each to `w` with its column, once:
    /// the values are computed first, then [`store_features!`] stores them
    /// from one table, which must name every feature column exactly once.
    fn write_features(&self, w: &mut impl FeatureSink) {
        let compat = self.profile.is_compat();
        let fwd_n = u64::from(self.fwd_packets);
        let bwd_n = u64::from(self.bwd_packets);
        let total = self.packets();
        let duration = self.last_us.saturating_sub(self.start_us);
        let secs = duration as f64 / 1e6;
        let bytes = (self.fwd_bytes + self.bwd_bytes) as f64;
        // era: Flow Byts/s and Flow Pkts/s divide by zero for zero-length flows.
        let per_sec = |x: f64| {
            if compat || duration != 0 {
                x / secs
            } else {
                0.0
            }
        };
        let per_sec_or_zero = |x: f64| if duration > 0 { x / secs } else { 0.0 };
        let fwd_len = Summary::of(&self.fwd_len, fwd_n);
        let bwd_len = Summary::of(&self.bwd_len, bwd_n);
        let flow_iat = if total > 1 {
            Summary::of(&self.flow_iat, total - 1)
        } else if compat {
            Summary::NAN
        } else {
            Summary::ZERO
        };
        // The IAT totals are 0, like the statistics, without two packets.
        let fwd_gaps = fwd_n.saturating_sub(1);
        let fwd_iat = Summary::of(&self.fwd_iat, fwd_gaps);
        let fwd_iat_total = match fwd_gaps {
            0 => 0.0,
            _ => self.fwd_last_us.saturating_sub(self.start_us) as f64,
        };
        let bwd_gaps = bwd_n.saturating_sub(1);
        let bwd_iat = Summary::of(&self.bwd_iat, bwd_gaps);
        let bwd_iat_total = match bwd_gaps {
            0 => 0.0,
            _ => self.bwd_last_us.saturating_sub(self.bwd_first_us) as f64,
        };
        let f = &self.flag_counts;
        let flag = |bit: u8| -> f64 {
            let i = bit.trailing_zeros() as usize;
            f64::from(f.get(i).copied().unwrap_or(0))
        };
        // era: the backward PSH and URG counts are 0.
        let bwd_only = |total: u8, fwd: u32| {
            if compat {
                0.0
            } else {
                flag(total) - f64::from(fwd)
            }
        };
        let all_n = total + u64::from(compat);
        let all_len = &self.all_len;
        // era: the flag counts come out of a HashMap in its iteration order, so
        // the column labelled FIN holds RST, SYN holds PSH, and so on.
        let [fin, syn, rst, psh, ack, urg, cwr, ece] = if compat {
            [
                TcpFlags::RST,
                TcpFlags::PSH,
                TcpFlags::ECE,
                TcpFlags::SYN,
                TcpFlags::ACK,
                TcpFlags::FIN,
                TcpFlags::URG,
                TcpFlags::CWR,
            ]
        } else {
            [
                TcpFlags::FIN,
                TcpFlags::SYN,
                TcpFlags::RST,
                TcpFlags::PSH,
                TcpFlags::ACK,
                TcpFlags::URG,
                TcpFlags::CWR,
                TcpFlags::ECE,
            ]
        };
        let down_up = if compat {
            // era: integer division before the conversion to double.
            (bwd_n / fwd_n.max(1)) as f64
        } else {
            ratio(bwd_n as f64, fwd_n as f64)
        };
        let all_len_sum = bytes
            + if compat {
                f64::from(self.first_payload)
            } else {
                0.0
            };
        let (fwd_bulk, bwd_bulk) = if compat {
            (BulkAverages::ZERO, BulkAverages::ZERO)
        } else {
            (self.fwd_bulk.averages(), self.bwd_bulk.averages())
        };
        // era: bulk averages are longs; the backward bytes column repeats the forward one.
        let bwd_bulk_bytes = if compat {
            fwd_bulk.bytes
        } else {
            bwd_bulk.bytes
        };
        let subflow = |x: u64| -> f64 {
            match self.subflows {
                0 => 0.0,
                // era: integer division.
                s if compat => (x / u64::from(s)) as f64,
                s => x as f64 / f64::from(s),
            }
        };
        let active = Summary::of(&self.active, u64::from(self.active_n));
        let idle = Summary::of(&self.idle, u64::from(self.idle_n));

        store_features! { w;
            FlowDuration: duration as f64,
            TotFwdPkts: fwd_n as f64,
            TotBwdPkts: bwd_n as f64,
            TotLenFwdPkts: self.fwd_bytes as f64,
            TotLenBwdPkts: self.bwd_bytes as f64,
            FwdPktLenMax: fwd_len.max,
            FwdPktLenMin: fwd_len.min,
            FwdPktLenMean: fwd_len.mean,
            FwdPktLenStd: fwd_len.std,
            BwdPktLenMax: bwd_len.max,
            BwdPktLenMin: bwd_len.min,
            BwdPktLenMean: bwd_len.mean,
            BwdPktLenStd: bwd_len.std,
            FlowBytsPerSec: per_sec(bytes),
            FlowPktsPerSec: per_sec(total as f64),
            FlowIatMean: flow_iat.mean,
            FlowIatStd: flow_iat.std,
            FlowIatMax: flow_iat.max,
            FlowIatMin: flow_iat.min,
            FwdIatTot: fwd_iat_total,
            FwdIatMean: fwd_iat.mean,
            FwdIatStd: fwd_iat.std,
            FwdIatMax: fwd_iat.max,
            FwdIatMin: fwd_iat.min,
            BwdIatTot: bwd_iat_total,
            BwdIatMean: bwd_iat.mean,
            BwdIatStd: bwd_iat.std,
            BwdIatMax: bwd_iat.max,
            BwdIatMin: bwd_iat.min,
            FwdPshFlags: f64::from(self.fwd_psh),
            BwdPshFlags: bwd_only(TcpFlags::PSH, self.fwd_psh),
            FwdUrgFlags: f64::from(self.fwd_urg),
            BwdUrgFlags: bwd_only(TcpFlags::URG, self.fwd_urg),
            FwdHeaderLen: self.fwd_header_bytes as f64,
            BwdHeaderLen: self.bwd_header_bytes as f64,
            FwdPktsPerSec: per_sec_or_zero(fwd_n as f64),
            BwdPktsPerSec: per_sec_or_zero(bwd_n as f64),
            PktLenMin: all_len.min(),
            PktLenMax: all_len.max(),
            PktLenMean: all_len.mean(all_n),
            PktLenStd: all_len.std(all_n),
            PktLenVar: all_len.variance(all_n),
            FinFlagCnt: flag(fin),
            SynFlagCnt: flag(syn),
            RstFlagCnt: flag(rst),
            PshFlagCnt: flag(psh),
            AckFlagCnt: flag(ack),
            UrgFlagCnt: flag(urg),
            CwrFlagCnt: flag(cwr),
            EceFlagCnt: flag(ece),
            DownUpRatio: down_up,
            PktSizeAvg: ratio(all_len_sum, total as f64),
            FwdSegSizeAvg: ratio(self.fwd_bytes as f64, fwd_n as f64),
            BwdSegSizeAvg: ratio(self.bwd_bytes as f64, bwd_n as f64),
            FwdBytsPerBulkAvg: fwd_bulk.bytes,
            FwdPktsPerBulkAvg: fwd_bulk.packets,
            FwdBulkRateAvg: fwd_bulk.rate,
            BwdBytsPerBulkAvg: bwd_bulk_bytes,
            BwdPktsPerBulkAvg: bwd_bulk.packets,
            BwdBulkRateAvg: bwd_bulk.rate,
            SubflowFwdPkts: subflow(fwd_n),
            SubflowFwdByts: subflow(self.fwd_bytes),
            SubflowBwdPkts: subflow(bwd_n),
            SubflowBwdByts: subflow(self.bwd_bytes),
            InitFwdWinByts: f64::from(self.init_win_fwd),
            InitBwdWinByts: f64::from(self.init_win_bwd),
            FwdActDataPkts: f64::from(self.fwd_data_packets),
            FwdSegSizeMin: f64::from(self.fwd_min_header),
            ActiveMean: active.mean,
            ActiveStd: active.std,
            ActiveMax: active.max,
            ActiveMin: active.min,
            IdleMean: idle.mean,
            IdleStd: idle.std,
            IdleMax: idle.max,
            IdleMin: idle.min,
        }
    }
}

/// Mean, standard deviation, maximum and minimum of a [`RunningStats`].
#[derive(Debug, Clone, Copy)]
struct Summary {
    mean: f64,
    std: f64,
    max: f64,
    min: f64,
}

impl Summary {
    const ZERO: Self = Self {
        mean: 0.0,
        std: 0.0,
        max: 0.0,
        min: 0.0,
    };

    const NAN: Self = Self {
        mean: f64::NAN,
        std: f64::NAN,
        max: f64::NAN,
        min: f64::NAN,
    };

    /// The statistics of `n` values, or all 0 when there are none.
    fn of(s: &RunningStats, n: u64) -> Self {
        if n > 0 {
            Self {
                mean: s.mean(n),
                std: s.std(n),
                max: s.max(),
                min: s.min(),
            }
        } else {
            Self::ZERO
        }
    }
}

/// Where [`FlowRecord::write_features`] puts each value: the feature vector,
/// or in tests a recorder of which columns were set.
trait FeatureSink {
    /// Stores `x` as the value of `col`.
    fn set(&mut self, col: Col, x: f64);
}

impl FeatureSink for FeatureVector {
    #[inline(always)]
    fn set(&mut self, col: Col, x: f64) {
        // `col` is a constant at every call, so this folds to one store.
        if let Some(slot) = col.feature_index().and_then(|i| self.get_mut(i)) {
            *slot = x;
        }
    }
}

#[cfg(test)]
mod tests;
