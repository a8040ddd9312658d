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
