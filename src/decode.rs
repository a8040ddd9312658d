//! Decode: turns a captured [`Frame`] into a [`PacketMeta`], the small `Copy`
//! value the flow stage works on.
//!
//! Owns link-type dispatch (Ethernet with 802.1Q/QinQ, Linux SLL and SLL2,
//! BSD NULL/LOOP, raw IPv4/IPv6), the IP and transport headers (parsed with
//! etherparse slices, never copied), and the per-profile rules of what becomes a
//! flow packet:
//!
//! * compat profiles (`cic2017`, `cic2018`) take IPv4 only, like the era tool;
//!   every IPv4 packet that is not TCP or UDP (ICMP, IGMP, GRE, non-first
//!   fragments, undecodable transport headers) becomes a packet of protocol 0
//!   with ports 0, and an ICMP error quoting a TCP/UDP header becomes a TCP/UDP
//!   packet with the quoted ports, as the era decoder (jnetpcap) did; an
//!   ICMP packet of protocol 0 keeps its type and code (for EVE events only);
//! * `fixed` takes IPv4 and IPv6, keeps the real protocol number, and counts
//!   a malformed transport header as a skipped packet.
//!
//! Invariant: decoding never panics; every frame yields either a packet or a
//! [`SkipReason`] that the caller counts.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::capture::{Frame, LinkType};
use crate::profile::Profile;
use etherparse::{Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice, UdpHeaderSlice};

/// An IPv4 or IPv6 address, stored in 16 bytes (IPv4 in the first four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr {
    bytes: [u8; 16],
    v6: bool,
}

impl Addr {
    /// An IPv4 address.
    pub fn v4(o: [u8; 4]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&o);
        Self { bytes, v6: false }
    }

    /// An IPv6 address.
    pub fn v6(bytes: [u8; 16]) -> Self {
        Self { bytes, v6: true }
    }

    /// True for IPv6.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The address bytes: 4 for IPv4, 16 for IPv6.
    pub fn octets(&self) -> &[u8] {
        if self.v6 {
            &self.bytes
        } else {
            &self.bytes[..4]
        }
    }

    /// All 16 bytes (IPv4 zero-padded), for hashing.
    pub fn octets_padded(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// As a standard library address.
    pub fn to_ip(self) -> std::net::IpAddr {
        if self.v6 {
            std::net::IpAddr::from(self.bytes)
        } else {
            let [a, b, c, d, ..] = self.bytes;
            std::net::IpAddr::from([a, b, c, d])
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_ip().fmt(f)
    }
}

/// TCP flags as a bitset, in the bit positions of TCP header byte 13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// True when `flag` is set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

/// What the flow stage needs of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    /// Capture time in microseconds since the epoch.
    pub ts_us: i64,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port (0 when the protocol has none).
    pub dst_port: u16,
    /// IP protocol number as the profile reports it (0 for "other" in compat).
    pub proto: u8,
    /// Transport payload length in bytes, link-layer padding excluded.
    pub payload_len: u32,
    /// Bytes after the IP datagram in the frame (Ethernet padding, FCS).
    pub padding_len: u32,
    /// Transport header length in bytes (TCP data offset, 8 for UDP, else 0).
    pub header_len: u32,
    /// TCP flags (empty for other protocols).
    pub flags: TcpFlags,
    /// The raw TCP window field, or -1 when the packet is not TCP.
    pub window: i32,
    /// ICMP or ICMPv6 type and code, when the packet carries that header.
    pub icmp: Option<(u8, u8)>,
    /// The IP fragment this packet is, if the datagram was fragmented.
    pub frag: Option<Fragment>,
    /// The TCP payload opens with an application-level success reply: an
    /// HTTP status line, SMTP `250`, POP `+OK` or FTP `230`.
    pub app_ok: bool,
    /// The fragment tracker's verdict (`kdd` only): 3 when the fragment
    /// overlaps another of its datagram, 1 when it reaches past 65,535
    /// bytes, else 0.
    pub wrong_fragment: u8,
}

/// One fragment of a fragmented IP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fragment {
    /// The datagram's identification (IPv4: 16 bits; IPv6: 32).
    pub id: u32,
    /// The fragment's offset in the datagram, bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// Why a frame did not become a flow packet. The label is a metric tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The link layer carried something other than IP (ARP, LLDP, ...).
    NotIp,
    /// IPv6, which the compat profiles ignore like the era tool.
    Ipv6InCompat,
    /// The frame ended inside the link-layer header.
    TruncatedLink,
    /// The IP header was truncated or invalid.
    MalformedIp,
    /// The TCP/UDP header was truncated or invalid (`fixed` profile).
    MalformedTransport,
    /// `kdd`: a protocol with no KDD record (neither TCP, UDP nor ICMP).
    NoKddRecord,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 6] = [
        Self::NotIp,
        Self::Ipv6InCompat,
        Self::TruncatedLink,
        Self::MalformedIp,
        Self::MalformedTransport,
        Self::NoKddRecord,
    ];

    /// A short, stable label.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotIp => "not_ip",
            Self::Ipv6InCompat => "ipv6_in_compat_profile",
            Self::TruncatedLink => "truncated_link_header",
            Self::MalformedIp => "malformed_ip",
            Self::MalformedTransport => "malformed_transport",
            Self::NoKddRecord => "no_kdd_record",
        }
    }
}

/// The decoder's per-profile rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeRules {
    /// Accept IPv6 (`fixed`); otherwise IPv6 is skipped.
    pub ipv6: bool,
    /// Era rules: other protocols become protocol 0, ICMP errors take the quoted ports.
    pub era_quirks: bool,
    /// Count link-layer padding as TCP/UDP payload (`--l2-padding count`).
    pub count_padding: bool,
    /// `kdd`: only TCP, UDP, ICMP and ICMPv6 make records (the rest is
    /// skipped as [`SkipReason::NoKddRecord`]), and the reader tracks IP
    /// fragments for `wrong_fragment`.
    pub kdd: bool,
}

/// Link-layer padding policy (`--l2-padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Padding bytes count as TCP/UDP payload, as in the CIC-IDS2017 CSVs.
    Count,
    /// Padding is ignored, as in CSE-CIC-IDS2018 (jnetpcap 1.4).
    Exclude,
}

impl Padding {
    /// The profile's default.
    pub fn default_for(profile: Profile) -> Self {
        match profile {
            Profile::Cic2017 => Padding::Count,
            Profile::Cic2018 | Profile::Fixed | Profile::Kdd => Padding::Exclude,
        }
    }
}

impl DecodeRules {
    /// The decoding rules of a profile with a padding policy.
    pub fn of(profile: Profile, padding: Padding) -> DecodeRules {
        DecodeRules {
            ipv6: !profile.is_compat(),
            era_quirks: profile.is_compat(),
            count_padding: padding == Padding::Count,
            kdd: profile == Profile::Kdd,
        }
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88A8, 0x9100];
const PROTO_TCP: u8 = 6;
const PROTO_ICMPV6: u8 = 58;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;
/// ICMP types that quote the offending datagram (unreachable, source quench,
/// redirect, time exceeded, parameter problem).
const ICMP_QUOTING: [u8; 5] = [3, 4, 5, 11, 12];

/// Decodes one frame under `rules`.
pub fn decode(frame: &Frame<'_>, rules: DecodeRules) -> Result<PacketMeta, SkipReason> {
    let ip = ip_slice(frame.data, frame.link)?;
    let mut meta = match ip.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(ip, rules)?,
        Some(6) if rules.ipv6 => decode_ipv6(ip)?,
        Some(6) => return Err(SkipReason::Ipv6InCompat),
        _ => return Err(SkipReason::MalformedIp),
    };
    meta.ts_us = frame.ts_us;
    if rules.kdd
        && !matches!(
            meta.proto,
            PROTO_TCP | PROTO_UDP | PROTO_ICMP | PROTO_ICMPV6
        )
    {
        return Err(SkipReason::NoKddRecord);
    }
    if rules.count_padding && meta.header_len > 0 {
        meta.payload_len += meta.padding_len;
    }
    Ok(meta)
}

/// Strips the link layer and returns the IP datagram (with any trailing padding).
fn ip_slice(data: &[u8], link: LinkType) -> Result<&[u8], SkipReason> {
    let (ethertype, rest) = match link {
        LinkType::Ethernet => {
            let mut ethertype = be16(data, 12)?;
            let mut off = 14;
            while ETH_VLAN.contains(&ethertype) {
                ethertype = be16(data, off + 2)?;
                off += 4;
            }
            (Some(ethertype), data.get(off..))
        }
        LinkType::LinuxSll => (Some(be16(data, 14)?), data.get(16..)),
        LinkType::LinuxSll2 => (Some(be16(data, 0)?), data.get(20..)),
        LinkType::Null | LinkType::Loop => (None, data.get(4..)),
        LinkType::Raw => (None, Some(data)),
    };
    let rest = rest.ok_or(SkipReason::TruncatedLink)?;
    match ethertype {
        Some(ETH_IPV4) | Some(ETH_IPV6) | None => Ok(rest),
        Some(_) => Err(SkipReason::NotIp),
    }
}

fn be16(data: &[u8], off: usize) -> Result<u16, SkipReason> {
    match data.get(off..off + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(SkipReason::TruncatedLink),
    }
}

/// Splits an IP datagram's bytes into (payload, padding length), bounding the
/// payload by the header's length field and by what was captured.
fn bound(after_header: &[u8], declared_payload: usize) -> (&[u8], u32) {
    if declared_payload <= after_header.len() {
        let pad = after_header.len() - declared_payload;
        (
            after_header.get(..declared_payload).unwrap_or(after_header),
            pad as u32,
        )
    } else {
        (after_header, 0)
    }
}

fn decode_ipv4(ip: &[u8], rules: DecodeRules) -> Result<PacketMeta, SkipReason> {
    let h = Ipv4HeaderSlice::from_slice(ip).map_err(|_| SkipReason::MalformedIp)?;
    let hlen = h.slice().len();
    let total = usize::from(h.total_len());
    if total < hlen {
        return Err(SkipReason::MalformedIp);
    }
    let after = ip.get(hlen..).unwrap_or(&[]);
    let (payload, padding) = bound(after, total - hlen);
    let mut meta = PacketMeta {
        src: Addr::v4(h.source()),
        dst: Addr::v4(h.destination()),
        proto: h.protocol().0,
        padding_len: padding,
        window: -1,
        ..PacketMeta::default()
    };
    let offset = u32::from(h.fragments_offset().value()) * 8;
    if offset != 0 || h.more_fragments() {
        meta.frag = Some(Fragment {
            id: u32::from(h.identification()),
            offset,
            more: h.more_fragments(),
        });
    }
    let first_fragment = offset == 0;
    if !first_fragment {
        if rules.era_quirks {
            other_as_zero(&mut meta);
        } else {
            meta.payload_len = payload.len() as u32;
        }
        return Ok(meta);
    }
    match (meta.proto, rules.era_quirks) {
        (PROTO_TCP | PROTO_UDP, _) => {
            if transport(&mut meta, payload).is_err() {
                if !rules.era_quirks {
                    return Err(SkipReason::MalformedTransport);
                }
                other_as_zero(&mut meta);
            }
        }
        (PROTO_ICMP, true) => {
            if !icmp_quoted(&mut meta, payload) {
                other_as_zero(&mut meta);
                // Kept for the events only: protocol 0 has no feature
                // that reads it.
                meta.icmp = icmp_header(payload);
            }
        }
        (_, true) => other_as_zero(&mut meta),
        (proto, false) => {
            meta.payload_len = payload.len() as u32;
            if proto == PROTO_ICMP {
                meta.icmp = icmp_header(payload);
            }
        }
    }
    Ok(meta)
}

fn other_as_zero(meta: &mut PacketMeta) {
    meta.proto = 0;
    meta.src_port = 0;
    meta.dst_port = 0;
    meta.payload_len = 0;
    meta.header_len = 0;
    meta.window = -1;
    meta.flags = TcpFlags(0);
}

/// The era decoder's reading of an ICMP error: the quoted TCP/UDP header is
/// taken as the packet's own, with the outer addresses.
fn icmp_quoted(meta: &mut PacketMeta, icmp: &[u8]) -> bool {
    match icmp.first() {
        Some(t) if ICMP_QUOTING.contains(t) => {}
        _ => return false,
    }
    let Some(inner) = icmp.get(8..) else {
        return false;
    };
    let Ok(h) = Ipv4HeaderSlice::from_slice(inner) else {
        return false;
    };
    if h.fragments_offset().value() != 0 {
        return false;
    }
    let hlen = h.slice().len();
    let total = usize::from(h.total_len()).max(hlen);
    let after = inner.get(hlen..).unwrap_or(&[]);
    let (payload, _) = bound(after, total - hlen);
    meta.proto = h.protocol().0;
    if meta.proto != PROTO_TCP && meta.proto != PROTO_UDP {
        return false;
    }
    transport(meta, payload).is_ok()
}

/// The type and code of an ICMP header at the start of `payload`.
fn icmp_header(payload: &[u8]) -> Option<(u8, u8)> {
    match payload {
        [t, c, ..] => Some((*t, *c)),
        _ => None,
    }
}

/// Application-level success replies that open a TCP payload.
const APP_OK: [&[u8]; 6] = [b"HTTP/1.", b"250 ", b"250-", b"+OK", b"230 ", b"230-"];

/// Fills ports, header length, flags, window and payload length from a TCP or
/// UDP header at the start of `payload`.
fn transport(meta: &mut PacketMeta, payload: &[u8]) -> Result<(), ()> {
    if meta.proto == PROTO_TCP {
        let t = TcpHeaderSlice::from_slice(payload).map_err(|_| ())?;
        let hl = t.slice().len();
        meta.src_port = t.source_port();
        meta.dst_port = t.destination_port();
        meta.header_len = hl as u32;
        meta.window = i32::from(t.window_size());
        meta.flags = TcpFlags(t.slice().get(13).copied().unwrap_or(0));
        meta.payload_len = (payload.len() - hl) as u32;
        let data = payload.get(hl..).unwrap_or(&[]);
        meta.app_ok = matches!(data.first(), Some(b'H' | b'2' | b'+'))
            && APP_OK.iter().any(|p| data.starts_with(p));
    } else {
        let u = UdpHeaderSlice::from_slice(payload).map_err(|_| ())?;
        meta.src_port = u.source_port();
        meta.dst_port = u.destination_port();
        meta.header_len = 8;
        meta.payload_len = (payload.len() - 8) as u32;
    }
    Ok(())
}

fn decode_ipv6(ip: &[u8]) -> Result<PacketMeta, SkipReason> {
    let h = Ipv6HeaderSlice::from_slice(ip).map_err(|_| SkipReason::MalformedIp)?;
    let after = ip.get(40..).unwrap_or(&[]);
    let (mut payload, padding) = bound(after, usize::from(h.payload_length()));
    let mut meta = PacketMeta {
        src: Addr::v6(h.source()),
        dst: Addr::v6(h.destination()),
        padding_len: padding,
        window: -1,
        ..PacketMeta::default()
    };
    // Walk the extension headers to the upper-layer protocol.
    let mut next = h.next_header().0;
    let mut fragment_rest = false;
    let mut frag = None;
    loop {
        match next {
            0 | 43 | 60 => {
                let (Some(&nh), Some(&len)) = (payload.first(), payload.get(1)) else {
                    return Err(SkipReason::MalformedIp);
                };
                let skip = (usize::from(len) + 1) * 8;
                payload = payload.get(skip..).ok_or(SkipReason::MalformedIp)?;
                next = nh;
            }
            44 => {
                let (Some(&nh), Some(&[hi, lo]), Some(&[a, b, c, d])) =
                    (payload.first(), payload.get(2..4), payload.get(4..8))
                else {
                    return Err(SkipReason::MalformedIp);
                };
                let offset = u32::from(u16::from_be_bytes([hi, lo]) >> 3) * 8;
                fragment_rest = offset != 0;
                frag = Some(Fragment {
                    id: u32::from_be_bytes([a, b, c, d]),
                    offset,
                    more: lo & 1 == 1,
                });
                payload = payload.get(8..).ok_or(SkipReason::MalformedIp)?;
                next = nh;
            }
            _ => break,
        }
    }
    meta.proto = next;
    meta.frag = frag;
    if !fragment_rest && (next == PROTO_TCP || next == PROTO_UDP) {
        transport(&mut meta, payload).map_err(|_| SkipReason::MalformedTransport)?;
    } else {
        meta.payload_len = payload.len() as u32;
        if !fragment_rest && next == PROTO_ICMPV6 {
            meta.icmp = icmp_header(payload);
        }
    }
    Ok(meta)
}
