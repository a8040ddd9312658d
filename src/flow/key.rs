//! The flow key: a direction-neutral 5-tuple in the profile's canonical
//! endpoint order.
//!
//! Input: a decoded packet and the profile. Output: its [`FlowKey`] and
//! whether the packet's source is the key's first endpoint.

use crate::decode::{Addr, PacketMeta};
use crate::profile::Profile;

/// A direction-neutral flow key: the endpoints in the profile's canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// First endpoint's address.
    pub a: Addr,
    /// Second endpoint's address.
    pub b: Addr,
    /// First endpoint's port.
    pub a_port: u16,
    /// Second endpoint's port.
    pub b_port: u16,
    /// IP protocol as the profile reports it.
    pub proto: u8,
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // One write of the packed key instead of one per field.
        let mut b = [0u8; 37];
        let (a, rest) = b.split_at_mut(16);
        let (bb, rest) = rest.split_at_mut(16);
        a.copy_from_slice(self.a.octets_padded());
        bb.copy_from_slice(self.b.octets_padded());
        rest.copy_from_slice(&[
            self.a_port.to_be_bytes()[0],
            self.a_port.to_be_bytes()[1],
            self.b_port.to_be_bytes()[0],
            self.b_port.to_be_bytes()[1],
            self.proto,
        ]);
        h.write(&b);
    }
}

/// Folded 64 × 64 → 128-bit product: a strong, cheap mix of two words.
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A direction-neutral, keyed hash of a packet's flow, for sharding flows
/// over workers without building the [`FlowKey`]: the key's fields are the
/// packet's own (its two endpoints, in either order, and the protocol), so
/// every packet of one key hashes alike (both directions; the compat
/// profiles' two keys of one host's port pair also share a hash, which only
/// means they share a worker). `seed` is random per run.
pub fn shard_hash(p: &PacketMeta, seed: u64) -> u64 {
    let end = |a: &Addr, port: u16| {
        let v = u128::from_le_bytes(*a.octets_padded());
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        fold(lo ^ seed, hi ^ u64::from(port) ^ 0x9e37_79b9_7f4a_7c15)
    };
    let both = end(&p.src, p.src_port).wrapping_add(end(&p.dst, p.dst_port));
    fold(both ^ u64::from(p.proto), seed ^ 0xc2b2_ae3d_27d4_eb4f)
}

impl FlowKey {
    /// (source address, source port, destination address, destination
    /// port) of a flow whose source is `a` when `src_is_a`.
    pub fn endpoints(&self, src_is_a: bool) -> (Addr, u16, Addr, u16) {
        if src_is_a {
            (self.a, self.a_port, self.b, self.b_port)
        } else {
            (self.b, self.b_port, self.a, self.a_port)
        }
    }

    /// The key of a packet, and whether the packet's source is endpoint `a`.
    ///
    /// The compat profiles order endpoints as the era tool did: by the first
    /// differing address byte compared as a *signed* Java byte, ports ignored,
    /// so a flow between two ports of one host has two keys. `fixed` orders by
    /// (address, port), so both directions always meet.
    pub fn of(p: &PacketMeta, profile: Profile) -> (FlowKey, bool) {
        let src_first = if profile.is_compat() {
            let ord = p
                .src
                .octets()
                .iter()
                .zip(p.dst.octets())
                .map(|(&s, &d)| (s as i8).cmp(&(d as i8)))
                .find(|o| o.is_ne());
            ord != Some(std::cmp::Ordering::Greater)
        } else {
            (p.src, p.src_port) <= (p.dst, p.dst_port)
        };
        let key = if src_first {
            FlowKey {
                a: p.src,
                b: p.dst,
                a_port: p.src_port,
                b_port: p.dst_port,
                proto: p.proto,
            }
        } else {
            FlowKey {
                a: p.dst,
                b: p.src,
                a_port: p.dst_port,
                b_port: p.src_port,
                proto: p.proto,
            }
        };
        (key, src_first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{PacketMeta, TcpFlags};

    fn packet(src: Addr, sp: u16, dst: Addr, dp: u16, proto: u8) -> PacketMeta {
        PacketMeta {
            ts_us: 0,
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            proto,
            payload_len: 0,
            padding_len: 0,
            header_len: 0,
            flags: TcpFlags::default(),
            window: -1,
            icmp: None,
            frag: None,
            app_ok: false,
            wrong_fragment: 0,
        }
    }

    /// Both directions of a flow, in every profile, hash alike; other flows
    /// spread over the shards.
    #[test]
    fn shard_hash_is_direction_neutral_and_spreads() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v4([192, 168, 7, 200]);
        let seed = 0x1234_5678_9abc_def0;
        let fwd = packet(a, 40_000, b, 80, 6);
        let back = packet(b, 80, a, 40_000, 6);
        assert_eq!(shard_hash(&fwd, seed), shard_hash(&back, seed));
        // One host's two ports: the compat profiles' two keys share a hash.
        let p = packet(a, 1, a, 2, 17);
        let q = packet(a, 2, a, 1, 17);
        assert_eq!(shard_hash(&p, seed), shard_hash(&q, seed));
        assert_ne!(
            shard_hash(&fwd, seed),
            shard_hash(&packet(a, 40_001, b, 80, 6), seed)
        );
        assert_ne!(
            shard_hash(&fwd, seed),
            shard_hash(&packet(a, 40_000, b, 80, 17), seed)
        );
        let mut count = [0u32; 4];
        for port in 0..4000u16 {
            let h = shard_hash(&packet(a, 10_000 + port, b, 443, 6), seed);
            if let Some(c) = count.get_mut((h % 4) as usize) {
                *c += 1;
            }
        }
        assert!(count.iter().all(|&c| (850..1150).contains(&c)), "{count:?}");
    }
}
