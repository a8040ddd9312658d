//! IP fragment anomalies for `wrong_fragment`, tracked where packets are
//! still in capture order (the reader), before they are sharded.
//!
//! Input: decoded packets with their [`Fragment`](crate::decode::Fragment) information. Output: the
//! same packets, a later fragment given its datagram's ports and ICMP
//! header (so it joins its connection) and `wrong_fragment` set to 3 when
//! the fragment overlaps one already seen of its datagram (teardrop) or 1
//! when it ends past 65,535 bytes (ping of death).
//!
//! A datagram is (source, destination, protocol, identification). At most
//! 4,096 datagrams are followed at once; one is forgotten 30 s after its
//! last fragment (Linux's `ipfrag_time`: an identification seen again later
//! is a new datagram), or, when the table is full, the sixteenth seen longest
//! ago goes first. A later fragment that arrives before
//! its first one keeps ports 0.

use crate::decode::{Addr, PacketMeta};

/// foldhash, keyed with a random seed per process (the tracker's choices
/// never depend on iteration order).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The most datagrams followed at once.
pub const MAX_DATAGRAMS: usize = 4096;
/// A datagram is forgotten this long after its last fragment, µs.
pub const DATAGRAM_TIMEOUT_US: i64 = 30_000_000;
/// The largest IP datagram.
const MAX_DATAGRAM: u64 = 65_535;

type Key = (Addr, Addr, u8, u32);

/// What later fragments take from the first: ports and ICMP type and code.
#[derive(Clone, Copy)]
struct Head {
    src_port: u16,
    dst_port: u16,
    icmp: Option<(u8, u8)>,
}

struct Datagram {
    last_us: i64,
    /// The first fragment's ports and ICMP header, once it was seen.
    head: Option<Head>,
    /// Byte ranges seen, [start, end).
    ranges: Vec<(u64, u64)>,
}

/// The fragment tracker.
#[derive(Default)]
pub struct Fragments {
    datagrams: HashMap<Key, Datagram>,
}

impl Fragments {
    /// An empty tracker.
    pub fn new() -> Fragments {
        Fragments::default()
    }

    /// Datagrams followed now.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// True when no datagram is followed.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Checks one packet; anything but a fragment passes untouched.
    pub fn check(&mut self, p: &mut PacketMeta) {
        let Some(f) = p.frag else { return };
        let key = (p.src, p.dst, p.proto, f.id);
        let fresh = Datagram {
            last_us: p.ts_us,
            head: None,
            ranges: Vec::new(),
        };
        match self.datagrams.get_mut(&key) {
            // An identification seen more than the timeout ago is a new
            // datagram (the id wrapped, or the old one never completed).
            Some(d) if p.ts_us.saturating_sub(d.last_us) > DATAGRAM_TIMEOUT_US => *d = fresh,
            Some(_) => {}
            None => {
                self.make_room(p.ts_us);
                self.datagrams.insert(key, fresh);
            }
        }
        let Some(d) = self.datagrams.get_mut(&key) else {
            return;
        };
        d.last_us = d.last_us.max(p.ts_us);
        // The fragment's bytes: transport header and payload.
        let start = u64::from(f.offset);
        let end = start + u64::from(p.header_len) + u64::from(p.payload_len);
        if f.offset == 0 {
            d.head = Some(Head {
                src_port: p.src_port,
                dst_port: p.dst_port,
                icmp: p.icmp,
            });
        } else if let Some(h) = d.head {
            p.src_port = h.src_port;
            p.dst_port = h.dst_port;
            p.icmp = h.icmp;
        }
        if d.ranges.iter().any(|&(s, e)| start < e && s < end) {
            p.wrong_fragment = 3;
        } else if end + if p.src.is_v6() { 0 } else { 20 } > MAX_DATAGRAM {
            p.wrong_fragment = 1;
        }
        if d.ranges.len() < 64 {
            d.ranges.push((start, end));
        }
        if !f.more && f.offset != 0 && d.head.is_some() {
            // The last fragment after the first: done (a last fragment that
            // comes first waits for the rest, or for the timeout).
            self.datagrams.remove(&key);
        }
    }

    /// Forgets every datagram (a new capture starts: its clock is unrelated).
    pub fn clear(&mut self) {
        self.datagrams.clear();
    }

    /// When full: forgets timed-out datagrams, then, if still full, the
    /// sixteenth seen longest ago (a batch, so that a fragment flood costs a
    /// scan of the table per 256 new datagrams, not per fragment).
    fn make_room(&mut self, now_us: i64) {
        if self.datagrams.len() < MAX_DATAGRAMS {
            return;
        }
        self.datagrams
            .retain(|_, d| now_us.saturating_sub(d.last_us) <= DATAGRAM_TIMEOUT_US);
        if self.datagrams.len() >= MAX_DATAGRAMS {
            let mut by_age: Vec<(i64, Key)> = self
                .datagrams
                .iter()
                .map(|(k, d)| (d.last_us, *k))
                .collect();
            let n = MAX_DATAGRAMS / 16;
            by_age.select_nth_unstable(n - 1);
            for (_, k) in by_age.iter().take(n) {
                self.datagrams.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Fragment;

    fn frag(offset: u32, more: bool, len: u32, ports: (u16, u16)) -> PacketMeta {
        PacketMeta {
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([10, 0, 0, 2]),
            proto: 17,
            src_port: ports.0,
            dst_port: ports.1,
            header_len: if offset == 0 { 8 } else { 0 },
            payload_len: len,
            frag: Some(Fragment {
                id: 7,
                offset,
                more,
            }),
            ..PacketMeta::default()
        }
    }

    #[test]
    fn teardrop_overlap_is_3_and_joins_the_connection() {
        let mut t = Fragments::new();
        let mut a = frag(0, true, 28, (1000, 53));
        t.check(&mut a);
        assert_eq!(a.wrong_fragment, 0);
        // Overlaps bytes 24..36 of the first (which covers 0..36).
        let mut b = frag(24, false, 12, (0, 0));
        t.check(&mut b);
        assert_eq!(b.wrong_fragment, 3);
        assert_eq!((b.src_port, b.dst_port), (1000, 53));
        assert!(t.is_empty(), "the last fragment ends the datagram");
    }

    #[test]
    fn ping_of_death_oversize_is_1() {
        let mut t = Fragments::new();
        let mut head = frag(0, true, 1472, (0, 0));
        head.proto = 1;
        head.header_len = 0;
        head.icmp = Some((8, 0));
        t.check(&mut head);
        let mut tail = frag(65_000, false, 1000, (0, 0));
        tail.proto = 1;
        t.check(&mut tail);
        assert_eq!(tail.wrong_fragment, 1);
        assert_eq!(tail.icmp, Some((8, 0)));
    }
}
