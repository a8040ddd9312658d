//! Features: the per-flow accumulators and the column catalogue.
//!
//! A [`FlowRecord`] is the fixed-size state of one flow (no packet lists, no
//! allocation). The flow stage feeds it packets with a [`Direction`]; at the end
//! [`FlowRecord::features`] renders the 76 numeric features as a
//! [`FeatureVector`], each value at its catalogue column's index.
//!
//! What is computed depends on the [`Profile`](crate::profile::Profile):
//! * `cic2017` / `cic2018`: bug-compatible with the dataset-era CICFlowMeter
//!   (commit eaa853d), which wrote CIC-IDS2017 and CSE-CIC-IDS2018. Its quirks
//!   are reproduced on purpose; each is marked `era:` below.
//! * `fixed`: the same columns with the era bugs corrected. Every deviation is
//!   listed in the README's "Profiles" section.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod catalogue;
mod stats;

pub use catalogue::{
    lookup, Col, Column, Kind, Layout, COLUMNS, FIRST_FEATURE, NUM_COLUMNS, NUM_FEATURES,
};
pub use stats::RunningStats;

// TODO(restructure): remove once pipeline imports crate::profile
pub use crate::profile::Profile;

use crate::decode::{PacketMeta, TcpFlags};

/// Which way a packet travels relative to the flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Same direction as the flow's first packet.
    Forward,
    /// The reply direction.
    Backward,
}

/// The numeric features of one flow, in catalogue order.
pub type FeatureVector = [f64; NUM_FEATURES];

/// Bulk-transfer state of one direction (used by `fixed` only; the era tool
/// never updated it after the first packet, so its bulk columns are always 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bulk {
    /// Completed bulks: total duration (µs), bytes, packets, count.
    duration_us: i64,
    bytes: u64,
    packets: u32,
    count: u32,
    /// The candidate bulk in progress (its bytes matter only until it has
    /// four packets, so 32 bits are plenty; they saturate).
    start_us: i64,
    last_us: i64,
    helper_bytes: u32,
    helper_packets: u32,
}

impl Bulk {
    /// Adds a data packet at `ts`; `other_last` is the other direction's last
    /// bulk packet time, which breaks a candidate bulk.
    fn push(&mut self, ts: i64, size: u32, other_last: i64) {
        if other_last > self.start_us {
            self.start_us = 0;
        }
        if size == 0 {
            return;
        }
        if self.start_us == 0 || ts.saturating_sub(self.last_us) > 1_000_000 {
            self.start_us = ts;
            self.last_us = ts;
            self.helper_packets = 1;
            self.helper_bytes = size;
            return;
        }
        self.helper_packets = self.helper_packets.saturating_add(1);
        self.helper_bytes = self.helper_bytes.saturating_add(size);
        if self.helper_packets == 4 {
            self.count += 1;
            self.packets += 4;
            self.bytes += u64::from(self.helper_bytes);
            self.duration_us += ts.saturating_sub(self.start_us);
        } else if self.helper_packets > 4 {
            self.packets += 1;
            self.bytes += u64::from(size);
            self.duration_us += ts.saturating_sub(self.last_us);
        }
        self.last_us = ts;
    }

    fn avg_bytes(&self) -> f64 {
        ratio(self.bytes as f64, f64::from(self.count))
    }

    fn avg_packets(&self) -> f64 {
        ratio(f64::from(self.packets), f64::from(self.count))
    }

    fn rate(&self) -> f64 {
        ratio(self.bytes as f64, self.duration_us as f64 / 1e6)
    }
}

fn short(x: u32) -> u16 {
    u16::try_from(x).unwrap_or(u16::MAX)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 {
        a / b
    } else {
        0.0
    }
}

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

    /// The 76 numeric features, in catalogue order.
    pub fn features(&self) -> FeatureVector {
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
        let all_n = total + u64::from(compat);
        let all_len_sum = bytes
            + if compat {
                f64::from(self.first_payload)
            } else {
                0.0
            };
        let stats4 = |s: &RunningStats, n: u64| {
            if n > 0 {
                [s.max(), s.min(), s.mean(n), s.std(n)]
            } else {
                [0.0; 4]
            }
        };
        let iat5 = |s: &RunningStats, n: u64, sum: i64| {
            if n > 0 {
                [sum as f64, s.mean(n), s.std(n), s.max(), s.min()]
            } else {
                [0.0; 5]
            }
        };
        let f = &self.flag_counts;
        let flag = |bit: u8| -> f64 {
            let i = bit.trailing_zeros() as usize;
            f64::from(f.get(i).copied().unwrap_or(0))
        };
        // era: the flag counts come out of a HashMap in its iteration order, so
        // the column labelled FIN holds RST, SYN holds PSH, and so on.
        let flags: [u8; 8] = if compat {
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
        let (bulk_f, bulk_b) = if compat {
            ([0.0; 3], [0.0; 3])
        } else {
            (
                [
                    self.fwd_bulk.avg_bytes(),
                    self.fwd_bulk.avg_packets(),
                    self.fwd_bulk.rate(),
                ],
                [
                    self.bwd_bulk.avg_bytes(),
                    self.bwd_bulk.avg_packets(),
                    self.bwd_bulk.rate(),
                ],
            )
        };
        let subflow = |x: u64| -> f64 {
            match self.subflows {
                0 => 0.0,
                // era: integer division.
                s if compat => (x / u64::from(s)) as f64,
                s => x as f64 / f64::from(s),
            }
        };
        let active_n = u64::from(self.active_n);
        let idle_n = u64::from(self.idle_n);
        let mm = |s: &RunningStats, n: u64| {
            if n > 0 {
                [s.mean(n), s.std(n), s.max(), s.min()]
            } else {
                [0.0; 4]
            }
        };
        let flow_iat = if total > 1 {
            let n = total - 1;
            [
                self.flow_iat.mean(n),
                self.flow_iat.std(n),
                self.flow_iat.max(),
                self.flow_iat.min(),
            ]
        } else if compat {
            [f64::NAN; 4]
        } else {
            [0.0; 4]
        };
        let len5 = {
            let s = &self.all_len;
            [
                s.min(),
                s.max(),
                s.mean(all_n),
                s.std(all_n),
                s.variance(all_n),
            ]
        };

        let mut v = [0.0; NUM_FEATURES];
        let mut w = Writer { v: &mut v, i: 0 };
        w.put(duration as f64);
        w.put(fwd_n as f64);
        w.put(bwd_n as f64);
        w.put(self.fwd_bytes as f64);
        w.put(self.bwd_bytes as f64);
        w.all(&stats4(&self.fwd_len, fwd_n));
        w.all(&stats4(&self.bwd_len, bwd_n));
        w.put(per_sec(bytes));
        w.put(per_sec(total as f64));
        w.all(&flow_iat);
        w.all(&iat5(
            &self.fwd_iat,
            fwd_n.saturating_sub(1),
            self.fwd_last_us.saturating_sub(self.start_us),
        ));
        w.all(&iat5(
            &self.bwd_iat,
            bwd_n.saturating_sub(1),
            self.bwd_last_us.saturating_sub(self.bwd_first_us),
        ));
        let bwd_only = |total: u8, fwd: u32| {
            if compat {
                0.0
            } else {
                flag(total) - f64::from(fwd)
            }
        };
        w.put(f64::from(self.fwd_psh));
        w.put(bwd_only(TcpFlags::PSH, self.fwd_psh));
        w.put(f64::from(self.fwd_urg));
        w.put(bwd_only(TcpFlags::URG, self.fwd_urg));
        w.put(self.fwd_header_bytes as f64);
        w.put(self.bwd_header_bytes as f64);
        w.put(per_sec_or_zero(fwd_n as f64));
        w.put(per_sec_or_zero(bwd_n as f64));
        w.all(&len5);
        for bit in flags {
            w.put(flag(bit));
        }
        w.put(down_up);
        w.put(ratio(all_len_sum, total as f64));
        w.put(ratio(self.fwd_bytes as f64, fwd_n as f64));
        w.put(ratio(self.bwd_bytes as f64, bwd_n as f64));
        if compat {
            // era: bulk averages are longs; the backward bytes column repeats the forward one.
            w.all(&bulk_f);
            w.all(&[bulk_f[0], bulk_b[1], bulk_b[2]]);
        } else {
            w.all(&bulk_f);
            w.all(&bulk_b);
        }
        w.put(subflow(fwd_n));
        w.put(subflow(self.fwd_bytes));
        w.put(subflow(bwd_n));
        w.put(subflow(self.bwd_bytes));
        w.put(f64::from(self.init_win_fwd));
        w.put(f64::from(self.init_win_bwd));
        w.put(f64::from(self.fwd_data_packets));
        w.put(f64::from(self.fwd_min_header));
        w.all(&mm(&self.active, active_n));
        w.all(&mm(&self.idle, idle_n));
        debug_assert_eq!(w.i, NUM_FEATURES);
        v
    }
}

struct Writer<'a> {
    v: &'a mut FeatureVector,
    i: usize,
}

impl Writer<'_> {
    fn put(&mut self, x: f64) {
        if let Some(slot) = self.v.get_mut(self.i) {
            *slot = x;
        }
        self.i += 1;
    }

    fn all(&mut self, xs: &[f64]) {
        for &x in xs {
            self.put(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_flow_state_fits_in_512_bytes() {
        let size = std::mem::size_of::<super::FlowRecord>();
        println!("FlowRecord: {size} bytes");
        assert!(size <= 512, "{size}");
    }

    /// Found by the `flow_engine` fuzz target
    /// (fuzz/regressions/flow_engine/iat-total-overflow): the compat clock is
    /// raw packet time, so a packet at i64::MIN after one near the epoch's
    /// "now" overflowed the Fwd/Bwd IAT Tot subtraction (a panic with overflow
    /// checks, a wrapped value without). The totals saturate like the
    /// per-packet gaps and the duration.
    #[test]
    fn r_fuzz_iat_total_saturates_on_extreme_times() {
        let p = |ts_us: i64, src: u8| PacketMeta {
            ts_us,
            src: crate::decode::Addr::v4([10, 0, 0, src]),
            dst: crate::decode::Addr::v4([10, 0, 0, 3 - src]),
            proto: 6,
            header_len: 20,
            window: 1024,
            ..PacketMeta::default()
        };
        for profile in [Profile::Cic2017, Profile::Cic2018, Profile::Fixed] {
            let mut r = FlowRecord::new(&p(1_700_000_000_000_000, 1), profile);
            r.add(&p(i64::MIN, 1), Direction::Forward);
            r.add(&p(i64::MAX, 2), Direction::Backward);
            r.add(&p(i64::MIN, 2), Direction::Backward);
            let v = r.features();
            let col = |name: &str| v[lookup(name).and_then(Col::feature_index).unwrap()];
            assert_eq!(col("Fwd IAT Tot"), i64::MIN as f64, "{profile:?}");
            assert_eq!(col("Bwd IAT Tot"), i64::MIN as f64, "{profile:?}");
        }
    }
}
