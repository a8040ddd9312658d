//! The window features: NSL-KDD's 2-second time window and host window,
//! and the same windows keyed by source.
//!
//! Input: finished connections ([`ConnId`]) in the pipeline's release order.
//! Output: each connection's window columns (`count` ..
//! `dst_host_srv_rerror_rate`, then the `src_*` ones) in its [`KddRow`].
//!
//! Rules (KDD.md; the open ones decided here):
//! - A connection enters the windows when it is released, at its last
//!   packet; its time is the later of that and the last time already
//!   entered, so the windows move forward in release order and the result
//!   depends only on that order, which is the same for any worker count.
//! - The time window holds the connections whose time is at most 2 s before
//!   the current one's (both edges included), the current one included;
//!   to bound memory it never holds more than 65,536 (the oldest leave
//!   first). The host window holds the last 256 connections, the current
//!   one included.
//! - "SYN error" is S0, S1, S2, S3 or SH; "REJ error" is REJ, RSTO, RSTR or
//!   RSTOS0.
//! - The `diff` rates count distinct values (services, or hosts) among the
//!   connections they look at, the current one included, when there are at
//!   least 2, and 0 otherwise.
//! - Rates are rounded to 0.01 (by [`KddRow::set`]); `count`, `srv_count`
//!   and the time-window per-source counts are capped at 511, the host
//!   window's at 255. Rates use the counts before the cap.

use super::columns::{KddCol, KddRow};
use super::conn::ConnId;
use super::vocab::{Flag, SERVICES};
use crate::decode::Addr;
use std::collections::VecDeque;
use std::hash::Hash;

/// The windows' maps: foldhash, keyed with a random seed per process. No
/// output depends on a map's iteration order.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The time window's span, µs.
pub const TIME_WINDOW_US: i64 = 2_000_000;
/// The most connections the time window holds.
pub const TIME_WINDOW_MAX: usize = 65_536;
/// The host window's size, in connections.
pub const HOST_WINDOW: usize = 256;

/// What the windows keep of one connection.
#[derive(Debug, Clone, Copy)]
struct Entry {
    t: i64,
    src: Addr,
    dst: Addr,
    src_port: u16,
    dst_port: u16,
    service: u8,
    serror: bool,
    rerror: bool,
}

impl Entry {
    fn of(id: &ConnId, t: i64) -> Entry {
        use Flag::*;
        Entry {
            t,
            src: id.src,
            dst: id.dst,
            src_port: id.src_port,
            dst_port: id.dst_port,
            service: id.service,
            serror: matches!(id.flag, S0 | S1 | S2 | S3 | Sh),
            rerror: matches!(id.flag, Rej | Rsto | Rstr | Rstos0),
        }
    }
}

/// Counts over a group of connections: how many, how many with each error
/// kind, and how many distinct values of the group's "other" key.
#[derive(Debug, Clone, Copy, Default)]
struct Agg {
    n: u32,
    serror: u32,
    rerror: u32,
    /// Distinct services (by host, by source) or hosts (by service).
    distinct: u32,
    /// By source: distinct destination hosts.
    hosts: u32,
    /// By source: distinct destination ports.
    ports: u32,
}

impl Agg {
    fn add(&mut self, e: &Entry, sign: i32) {
        self.n = self.n.saturating_add_signed(sign);
        if e.serror {
            self.serror = self.serror.saturating_add_signed(sign);
        }
        if e.rerror {
            self.rerror = self.rerror.saturating_add_signed(sign);
        }
    }
}

/// Adds `sign` to a pair's count, dropping it at 0; true when the pair
/// appeared (0 → 1) or vanished (1 → 0).
fn bump<K: Hash + Eq>(map: &mut HashMap<K, u32>, k: K, sign: i32) -> bool {
    if sign > 0 {
        let n = map.entry(k).or_insert(0);
        *n += 1;
        *n == 1
    } else {
        match map.get_mut(&k) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                map.remove(&k);
                true
            }
            None => false,
        }
    }
}

/// One window's contents and the counts kept over them.
#[derive(Default)]
struct Window {
    entries: VecDeque<Entry>,
    by_dst: HashMap<Addr, Agg>,
    by_srv: Vec<Agg>,
    by_dst_srv: HashMap<(Addr, u8), u32>,
    by_dst_sport: HashMap<(Addr, u16), u32>,
    by_src: HashMap<Addr, Agg>,
    by_src_srv: HashMap<(Addr, u8), u32>,
    by_src_dst: HashMap<(Addr, Addr), u32>,
    by_src_dport: HashMap<(Addr, u16), u32>,
    /// Keeps `by_dst_sport` (the host window's `dst_host_same_src_port_rate`).
    src_ports: bool,
}

/// `a.distinct += sign` for a pair that appeared or vanished.
fn step(v: &mut u32, changed: bool, sign: i32) {
    if changed {
        *v = v.saturating_add_signed(sign);
    }
}

impl Window {
    fn new(src_ports: bool) -> Window {
        Window {
            by_srv: vec![Agg::default(); SERVICES.len()],
            src_ports,
            ..Window::default()
        }
    }

    fn apply(&mut self, e: &Entry, sign: i32) {
        let svc = usize::from(e.service);
        let new_srv_on_dst = bump(&mut self.by_dst_srv, (e.dst, e.service), sign);
        if self.src_ports {
            bump(&mut self.by_dst_sport, (e.dst, e.src_port), sign);
        }
        let dst = self.by_dst.entry(e.dst).or_default();
        dst.add(e, sign);
        step(&mut dst.distinct, new_srv_on_dst, sign);
        if dst.n == 0 {
            self.by_dst.remove(&e.dst);
        }
        if let Some(s) = self.by_srv.get_mut(svc) {
            s.add(e, sign);
            step(&mut s.distinct, new_srv_on_dst, sign);
        }
        let srv = bump(&mut self.by_src_srv, (e.src, e.service), sign);
        let host = bump(&mut self.by_src_dst, (e.src, e.dst), sign);
        let port = bump(&mut self.by_src_dport, (e.src, e.dst_port), sign);
        let src = self.by_src.entry(e.src).or_default();
        src.add(e, sign);
        step(&mut src.distinct, srv, sign);
        step(&mut src.hosts, host, sign);
        step(&mut src.ports, port, sign);
        if src.n == 0 {
            self.by_src.remove(&e.src);
        }
    }

    fn push(&mut self, e: Entry) {
        self.apply(&e, 1);
        self.entries.push_back(e);
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.apply(&e, -1);
        }
    }

    fn pop_back(&mut self) {
        if let Some(e) = self.entries.pop_back() {
            self.apply(&e, -1);
        }
    }
}

/// `numerator / denominator`, 0 for an empty denominator.
fn rate(numerator: u32, denominator: u32) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        f64::from(numerator) / f64::from(denominator)
    }
}

/// A distinct-value numerator: the count when at least 2, else 0.
fn distinct(n: u32) -> u32 {
    if n >= 2 {
        n
    } else {
        0
    }
}

/// The column names of one window's values, so that the time and host
/// windows share one filling routine.
struct Cols {
    count: KddCol,
    srv_count: KddCol,
    serror: KddCol,
    srv_serror: KddCol,
    rerror: KddCol,
    srv_rerror: KddCol,
    same_srv: KddCol,
    diff_srv: KddCol,
    srv_diff_host: KddCol,
    same_src_port: Option<KddCol>,
    src: [KddCol; 7],
    cap: u32,
}

const TIME: Cols = Cols {
    count: KddCol::Count,
    srv_count: KddCol::SrvCount,
    serror: KddCol::SerrorRate,
    srv_serror: KddCol::SrvSerrorRate,
    rerror: KddCol::RerrorRate,
    srv_rerror: KddCol::SrvRerrorRate,
    same_srv: KddCol::SameSrvRate,
    diff_srv: KddCol::DiffSrvRate,
    srv_diff_host: KddCol::SrvDiffHostRate,
    same_src_port: None,
    src: [
        KddCol::SrcCount,
        KddCol::SrcSameSrvRate,
        KddCol::SrcDiffSrvRate,
        KddCol::SrcDiffHostCount,
        KddCol::SrcDiffPortCount,
        KddCol::SrcSerrorRate,
        KddCol::SrcRerrorRate,
    ],
    cap: 511,
};

const HOST: Cols = Cols {
    count: KddCol::DstHostCount,
    srv_count: KddCol::DstHostSrvCount,
    serror: KddCol::DstHostSerrorRate,
    srv_serror: KddCol::DstHostSrvSerrorRate,
    rerror: KddCol::DstHostRerrorRate,
    srv_rerror: KddCol::DstHostSrvRerrorRate,
    same_srv: KddCol::DstHostSameSrvRate,
    diff_srv: KddCol::DstHostDiffSrvRate,
    srv_diff_host: KddCol::DstHostSrvDiffHostRate,
    same_src_port: Some(KddCol::DstHostSameSrcPortRate),
    src: [
        KddCol::SrcHostCount,
        KddCol::SrcHostSameSrvRate,
        KddCol::SrcHostDiffSrvRate,
        KddCol::SrcHostDiffHostCount,
        KddCol::SrcHostDiffPortCount,
        KddCol::SrcHostSerrorRate,
        KddCol::SrcHostRerrorRate,
    ],
    cap: 255,
};

impl Window {
    /// Writes the window's columns for `e`, which is in the window.
    fn fill(&self, e: &Entry, cols: &Cols, row: &mut KddRow) {
        let none = Agg::default();
        let dst = self.by_dst.get(&e.dst).unwrap_or(&none);
        let srv = self.by_srv.get(usize::from(e.service)).unwrap_or(&none);
        let pair = |m: &HashMap<(Addr, u8), u32>, k| m.get(&k).copied().unwrap_or(0);
        let same_srv = pair(&self.by_dst_srv, (e.dst, e.service));
        let capped = |n: u32| f64::from(n.min(cols.cap));
        row.set(cols.count, capped(dst.n));
        row.set(cols.srv_count, capped(srv.n));
        row.set(cols.serror, rate(dst.serror, dst.n));
        row.set(cols.srv_serror, rate(srv.serror, srv.n));
        row.set(cols.rerror, rate(dst.rerror, dst.n));
        row.set(cols.srv_rerror, rate(srv.rerror, srv.n));
        row.set(cols.same_srv, rate(same_srv, dst.n));
        row.set(cols.diff_srv, rate(distinct(dst.distinct), dst.n));
        row.set(cols.srv_diff_host, rate(distinct(srv.distinct), srv.n));
        if let Some(c) = cols.same_src_port {
            let same = self
                .by_dst_sport
                .get(&(e.dst, e.src_port))
                .copied()
                .unwrap_or(0);
            row.set(c, rate(same, dst.n));
        }
        let src = self.by_src.get(&e.src).unwrap_or(&none);
        let same = pair(&self.by_src_srv, (e.src, e.service));
        let [count, same_srv, diff_srv, hosts, ports, serror, rerror] = cols.src;
        row.set(count, capped(src.n));
        row.set(same_srv, rate(same, src.n));
        row.set(diff_srv, rate(distinct(src.distinct), src.n));
        row.set(hosts, capped(src.hosts));
        row.set(ports, capped(src.ports));
        row.set(serror, rate(src.serror, src.n));
        row.set(rerror, rate(src.rerror, src.n));
    }
}

/// The context stage's state: both windows.
pub struct Windows {
    time: Window,
    host: Window,
    clock_us: i64,
}

impl Default for Windows {
    fn default() -> Self {
        Self::new()
    }
}

impl Windows {
    /// Empty windows.
    pub fn new() -> Windows {
        Windows {
            time: Window::new(false),
            host: Window::new(true),
            clock_us: i64::MIN,
        }
    }

    /// Connections in the time window now.
    pub fn time_len(&self) -> usize {
        self.time.entries.len()
    }

    /// Enters a finished connection and writes its window columns.
    pub fn push(&mut self, id: &ConnId, row: &mut KddRow) {
        self.clock_us = self.clock_us.max(id.last_us);
        let e = Entry::of(id, self.clock_us);
        let oldest = self.clock_us.saturating_sub(TIME_WINDOW_US);
        while self
            .time
            .entries
            .front()
            .is_some_and(|f| f.t < oldest || self.time.entries.len() >= TIME_WINDOW_MAX)
        {
            self.time.pop_front();
        }
        while self.host.entries.len() >= HOST_WINDOW {
            self.host.pop_front();
        }
        self.time.push(e);
        self.host.push(e);
        self.time.fill(&e, &TIME, row);
        self.host.fill(&e, &HOST, row);
    }

    /// The window columns of a connection still open (an interim row): as
    /// if it ended now, without keeping it in the windows.
    pub fn peek(&mut self, id: &ConnId, row: &mut KddRow) {
        let clock = self.clock_us;
        let e = Entry::of(id, clock.max(id.last_us));
        self.time.push(e);
        self.host.push(e);
        self.time.fill(&e, &TIME, row);
        self.host.fill(&e, &HOST, row);
        self.time.pop_back();
        self.host.pop_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdd::{service_index, Transport};

    fn conn(src: u8, dst: u8, sport: u16, service: &str, flag: Flag, t_ms: i64) -> ConnId {
        ConnId {
            transport: Transport::Tcp,
            src: Addr::v4([10, 0, 0, src]),
            dst: Addr::v4([10, 0, 1, dst]),
            src_port: sport,
            dst_port: 80,
            service: service_index(service),
            flag,
            start_us: t_ms * 1000,
            last_us: t_ms * 1000,
        }
    }

    fn push(w: &mut Windows, c: ConnId) -> KddRow {
        let mut row = KddRow::default();
        w.push(&c, &mut row);
        row
    }

    #[test]
    fn current_connection_counts_and_distinct_numerators() {
        let mut w = Windows::new();
        let first = push(&mut w, conn(1, 1, 1000, "http", Flag::Sf, 0));
        assert_eq!(first.get(KddCol::Count), 1.0);
        assert_eq!(first.get(KddCol::SameSrvRate), 1.0);
        assert_eq!(first.get(KddCol::DiffSrvRate), 0.0);
        push(&mut w, conn(1, 1, 1001, "http", Flag::S0, 10));
        let third = push(&mut w, conn(2, 1, 1000, "smtp", Flag::Rej, 20));
        assert_eq!(third.get(KddCol::Count), 3.0);
        assert_eq!(third.get(KddCol::SameSrvRate), 0.33);
        // Two distinct services over three connections, not 1 - 0.33.
        assert_eq!(third.get(KddCol::DiffSrvRate), 0.67);
        assert_eq!(third.get(KddCol::SerrorRate), 0.33);
        assert_eq!(third.get(KddCol::RerrorRate), 0.33);
        assert_eq!(third.get(KddCol::DstHostSameSrcPortRate), 0.67);
        // Its own source sent one connection.
        assert_eq!(third.get(KddCol::SrcCount), 1.0);
        // Another host on the same service: two distinct hosts.
        let other = push(&mut w, conn(1, 2, 1002, "http", Flag::Sf, 30));
        assert_eq!(other.get(KddCol::Count), 1.0);
        assert_eq!(other.get(KddCol::SrvCount), 3.0);
        assert_eq!(other.get(KddCol::SrvDiffHostRate), 0.67);
        assert_eq!(other.get(KddCol::SrcCount), 3.0);
        assert_eq!(other.get(KddCol::SrcDiffHostCount), 2.0);
        assert_eq!(other.get(KddCol::SrcSameSrvRate), 1.0);
    }

    #[test]
    fn the_time_window_keeps_both_edges_and_peek_leaves_no_trace() {
        let mut w = Windows::new();
        push(&mut w, conn(1, 1, 1000, "http", Flag::Sf, 0));
        let edge = push(&mut w, conn(1, 1, 1001, "http", Flag::Sf, 2000));
        assert_eq!(edge.get(KddCol::Count), 2.0, "exactly 2 s apart");
        let past = push(&mut w, conn(1, 1, 1002, "http", Flag::Sf, 2001));
        assert_eq!(past.get(KddCol::Count), 2.0);
        let mut row = KddRow::default();
        w.peek(&conn(1, 1, 1003, "http", Flag::Sf, 2002), &mut row);
        assert_eq!(row.get(KddCol::Count), 3.0);
        let after = push(&mut w, conn(1, 1, 1004, "http", Flag::Sf, 2003));
        assert_eq!(after.get(KddCol::Count), 3.0, "the peeked row left");
        assert_eq!(after.get(KddCol::DstHostCount), 4.0);
    }
}
