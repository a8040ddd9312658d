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
use super::conn::{Conn, ConnId};
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

/// How many times each value occurs, kept without a table for the one or
/// two values most groups have (a map only from the third).
#[derive(Debug, Clone, Default)]
struct Counts<K: Hash + Eq + Copy> {
    first: Option<(K, u32)>,
    second: Option<(K, u32)>,
    more: HashMap<K, u32>,
}

impl<K: Hash + Eq + Copy> Counts<K> {
    /// Adds `sign` to `k`'s count; true when `k` appeared (0 → 1) or
    /// vanished (1 → 0).
    fn bump(&mut self, k: K, sign: i32) -> bool {
        for slot in [&mut self.first, &mut self.second] {
            if let Some((key, n)) = slot {
                if *key == k {
                    *n = n.saturating_add_signed(sign);
                    if *n == 0 {
                        *slot = None;
                        return true;
                    }
                    return false;
                }
            }
        }
        if sign > 0 {
            if let Some(n) = self.more.get_mut(&k) {
                *n += 1;
                return false;
            }
            if self.first.is_none() {
                self.first = Some((k, 1));
            } else if self.second.is_none() {
                self.second = Some((k, 1));
            } else {
                self.more.insert(k, 1);
            }
            return true;
        }
        match self.more.get_mut(&k) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.more.remove(&k);
                true
            }
            None => false,
        }
    }

    /// How many distinct values occur.
    fn distinct(&self) -> u32 {
        u32::from(self.first.is_some()) + u32::from(self.second.is_some()) + self.more.len() as u32
    }

    /// `k`'s count.
    fn get(&self, k: K) -> u32 {
        for (key, n) in [self.first, self.second].into_iter().flatten() {
            if key == k {
                return n;
            }
        }
        self.more.get(&k).copied().unwrap_or(0)
    }
}

/// Counts over a group of connections: how many, how many with each error
/// kind.
#[derive(Debug, Clone, Copy, Default)]
struct Agg {
    n: u32,
    serror: u32,
    rerror: u32,
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

/// The connections to one destination host.
#[derive(Debug, Clone, Default)]
struct ToHost {
    agg: Agg,
    services: Counts<u8>,
    src_ports: Counts<u16>,
}

/// The connections from one source.
#[derive(Debug, Clone, Default)]
struct FromSource {
    agg: Agg,
    services: Counts<u8>,
    hosts: Counts<Addr>,
    ports: Counts<u16>,
}

/// The connections to one service, on any host.
#[derive(Debug, Clone, Copy, Default)]
struct ToService {
    agg: Agg,
    /// Distinct destination hosts.
    hosts: u32,
}

/// One window's contents and the counts kept over them: one table by
/// destination and one by source, each entry holding its group's counts.
#[derive(Default)]
struct Window {
    entries: VecDeque<Entry>,
    by_dst: HashMap<Addr, ToHost>,
    by_src: HashMap<Addr, FromSource>,
    by_srv: Vec<ToService>,
    /// Keeps each host's source ports (the host window's
    /// `dst_host_same_src_port_rate`).
    src_ports: bool,
}

/// `v += sign` for a value that appeared or vanished.
fn step(v: &mut u32, changed: bool, sign: i32) {
    if changed {
        *v = v.saturating_add_signed(sign);
    }
}

impl Window {
    fn new(src_ports: bool) -> Window {
        Window {
            by_srv: vec![ToService::default(); SERVICES.len()],
            src_ports,
            ..Window::default()
        }
    }

    fn apply(&mut self, e: &Entry, sign: i32) {
        let dst = self.by_dst.entry(e.dst).or_default();
        dst.agg.add(e, sign);
        let new_srv_on_dst = dst.services.bump(e.service, sign);
        if self.src_ports {
            dst.src_ports.bump(e.src_port, sign);
        }
        if dst.agg.n == 0 {
            self.by_dst.remove(&e.dst);
        }
        if let Some(s) = self.by_srv.get_mut(usize::from(e.service)) {
            s.agg.add(e, sign);
            step(&mut s.hosts, new_srv_on_dst, sign);
        }
        let src = self.by_src.entry(e.src).or_default();
        src.agg.add(e, sign);
        src.services.bump(e.service, sign);
        src.hosts.bump(e.dst, sign);
        src.ports.bump(e.dst_port, sign);
        if src.agg.n == 0 {
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
fn at_least_2(n: u32) -> u32 {
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
        let (none_dst, none_src) = (ToHost::default(), FromSource::default());
        let dst = self.by_dst.get(&e.dst).unwrap_or(&none_dst);
        let srv = self
            .by_srv
            .get(usize::from(e.service))
            .copied()
            .unwrap_or_default();
        let capped = |n: u32| f64::from(n.min(cols.cap));
        let n = dst.agg.n;
        row.set(cols.count, capped(n));
        row.set(cols.srv_count, capped(srv.agg.n));
        row.set(cols.serror, rate(dst.agg.serror, n));
        row.set(cols.srv_serror, rate(srv.agg.serror, srv.agg.n));
        row.set(cols.rerror, rate(dst.agg.rerror, n));
        row.set(cols.srv_rerror, rate(srv.agg.rerror, srv.agg.n));
        row.set(cols.same_srv, rate(dst.services.get(e.service), n));
        row.set(cols.diff_srv, rate(at_least_2(dst.services.distinct()), n));
        row.set(cols.srv_diff_host, rate(at_least_2(srv.hosts), srv.agg.n));
        if let Some(c) = cols.same_src_port {
            row.set(c, rate(dst.src_ports.get(e.src_port), n));
        }
        let src = self.by_src.get(&e.src).unwrap_or(&none_src);
        let m = src.agg.n;
        let [count, same_srv, diff_srv, hosts, ports, serror, rerror] = cols.src;
        row.set(count, capped(m));
        row.set(same_srv, rate(src.services.get(e.service), m));
        row.set(diff_srv, rate(at_least_2(src.services.distinct()), m));
        row.set(hosts, capped(src.hosts.distinct()));
        row.set(ports, capped(src.ports.distinct()));
        row.set(serror, rate(src.agg.serror, m));
        row.set(rerror, rate(src.agg.rerror, m));
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

    /// A connection's whole row: its own columns, then its window columns.
    /// A finished one (`ended`) enters the windows; an open one (an interim
    /// row) only reads them ([`Windows::peek`]).
    pub fn row(&mut self, conn: &Conn, id: &ConnId, ended: bool) -> KddRow {
        let mut row = KddRow::default();
        conn.fill(id, &mut row);
        if ended {
            self.push(id, &mut row);
        } else {
            self.peek(id, &mut row);
        }
        row
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
    /// if it ended now, without keeping it in the windows. The entries its
    /// time would push out leave while it is read, and come back after.
    pub fn peek(&mut self, id: &ConnId, row: &mut KddRow) {
        let e = Entry::of(id, self.clock_us.max(id.last_us));
        let oldest = e.t.saturating_sub(TIME_WINDOW_US);
        let mut out_time = Vec::new();
        while let Some(&f) = self.time.entries.front() {
            if f.t >= oldest && self.time.entries.len() < TIME_WINDOW_MAX {
                break;
            }
            self.time.pop_front();
            out_time.push(f);
        }
        let mut out_host = Vec::new();
        while let Some(&f) = self.host.entries.front() {
            if self.host.entries.len() < HOST_WINDOW {
                break;
            }
            self.host.pop_front();
            out_host.push(f);
        }
        self.time.push(e);
        self.host.push(e);
        self.time.fill(&e, &TIME, row);
        self.host.fill(&e, &HOST, row);
        self.time.pop_back();
        self.host.pop_back();
        for (w, out) in [(&mut self.time, out_time), (&mut self.host, out_host)] {
            for f in out.into_iter().rev() {
                w.apply(&f, 1);
                w.entries.push_front(f);
            }
        }
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
    fn counts_move_between_slots_and_table() {
        let mut c: Counts<u16> = Counts::default();
        assert!(c.bump(1, 1) && c.bump(2, 1) && c.bump(3, 1) && c.bump(4, 1));
        assert!(!c.bump(3, 1));
        assert_eq!((c.distinct(), c.get(3), c.get(9)), (4, 2, 0));
        // A value leaves a slot; a new one takes the slot, not the table.
        assert!(c.bump(1, -1));
        assert!(c.bump(5, 1));
        assert_eq!((c.distinct(), c.get(5), c.get(1)), (4, 1, 0));
        assert!(!c.bump(3, -1) && c.bump(3, -1) && !c.bump(3, -1));
        assert_eq!(c.distinct(), 3);
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
        // A peek far ahead sees an empty time window and leaves the rest.
        let mut row = KddRow::default();
        w.peek(&conn(1, 1, 1005, "http", Flag::Sf, 9000), &mut row);
        assert_eq!(row.get(KddCol::Count), 1.0);
        assert_eq!(w.time_len(), 3);
        assert_eq!(after.get(KddCol::DstHostCount), 4.0);
    }
}
