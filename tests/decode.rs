//! Decoding of every supported link type and the per-profile IP rules, on
//! packets built with etherparse's `PacketBuilder`.

use etherparse::PacketBuilder;
use flowsentinel::capture::{Frame, LinkType};
use flowsentinel::decode::{decode, Addr, DecodeRules, SkipReason, TcpFlags};

const COMPAT: DecodeRules = DecodeRules {
    ipv6: false,
    era_quirks: true,
    count_padding: false,
    kdd: false,
};
const FIXED: DecodeRules = DecodeRules {
    ipv6: true,
    era_quirks: false,
    count_padding: false,
    kdd: false,
};

fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
    Frame {
        ts_us: 1_700_000_000_000_000,
        link,
        data,
    }
}

fn tcp_ipv4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 7, 29200)
        .syn()
        .ack(1);
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("build");
    out
}

fn udp_ipv4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(5353, 53);
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("build");
    out
}

fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

#[test]
fn ethernet_vlan_and_qinq() {
    let ip = tcp_ipv4(b"hello");
    let plain = eth(0x0800, &ip);
    let mut vlan = eth(0x8100, &[0, 10, 0x08, 0x00]);
    vlan.extend_from_slice(&ip);
    let mut qinq = eth(0x88a8, &[0, 20, 0x81, 0x00, 0, 10, 0x08, 0x00]);
    qinq.extend_from_slice(&ip);
    for f in [plain, vlan, qinq] {
        let m = decode(&frame(LinkType::Ethernet, &f), COMPAT).expect("decodes");
        assert_eq!(
            (m.src, m.dst),
            (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]))
        );
        assert_eq!((m.src_port, m.dst_port, m.proto), (40000, 80, 6));
        assert_eq!((m.payload_len, m.header_len, m.window), (5, 20, 29200));
        assert!(m.flags.has(TcpFlags::SYN) && m.flags.has(TcpFlags::ACK));
    }
}

#[test]
fn linux_sll_sll2_null_loop_and_raw() {
    let ip = udp_ipv4(b"abc");
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    let mut null = vec![2, 0, 0, 0];
    null.extend_from_slice(&ip);
    let mut lo = vec![0, 0, 0, 2];
    lo.extend_from_slice(&ip);
    for (link, f) in [
        (LinkType::LinuxSll, sll),
        (LinkType::LinuxSll2, sll2),
        (LinkType::Null, null),
        (LinkType::Loop, lo),
        (LinkType::Raw, ip.clone()),
    ] {
        let m = decode(&frame(link, &f), COMPAT).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(
            (m.src_port, m.dst_port, m.proto, m.payload_len, m.header_len),
            (5353, 53, 17, 3, 8),
            "{link:?}"
        );
    }
    assert_eq!(LinkType::from_dlt(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_dlt(147), None);
}

#[test]
fn non_ip_truncated_and_ipv6_in_compat_are_skipped_by_reason() {
    let arp = eth(0x0806, &[0u8; 28]);
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &arp), COMPAT),
        Err(SkipReason::NotIp)
    );
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &[1, 2, 3]), COMPAT),
        Err(SkipReason::TruncatedLink)
    );
    let mut bad_ip = eth(0x0800, &tcp_ipv4(b""));
    bad_ip.truncate(14 + 10);
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &bad_ip), COMPAT),
        Err(SkipReason::MalformedIp)
    );
    let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4);
    let mut v6 = Vec::new();
    b.write(&mut v6, b"xy").expect("build");
    assert_eq!(
        decode(&frame(LinkType::Raw, &v6), COMPAT),
        Err(SkipReason::Ipv6InCompat)
    );
    let m = decode(&frame(LinkType::Raw, &v6), FIXED).expect("fixed takes IPv6");
    assert_eq!(
        (m.src_port, m.dst_port, m.proto, m.payload_len),
        (1, 2, 6, 2)
    );
    assert!(m.src.is_v6());
}

#[test]
fn truncated_tcp_header_is_protocol_0_in_compat_and_skipped_in_fixed() {
    let mut ip = tcp_ipv4(b"");
    ip.truncate(20 + 10);
    // Keep the IP total length consistent with what is left.
    ip[2..4].copy_from_slice(&30u16.to_be_bytes());
    let m = decode(&frame(LinkType::Raw, &ip), COMPAT).expect("compat keeps it");
    assert_eq!((m.proto, m.src_port, m.payload_len), (0, 0, 0));
    assert_eq!(
        decode(&frame(LinkType::Raw, &ip), FIXED),
        Err(SkipReason::MalformedTransport)
    );
}

#[test]
fn icmp_unreachable_takes_the_quoted_ports_in_compat_only() {
    // The datagram that bounced: 10.0.0.1:5353 -> 10.0.0.2:53.
    let quoted = udp_ipv4(b"query");
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let b = PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64);
    let mut ip = Vec::new();
    b.write(&mut ip, etherparse::IpNumber::ICMP, &icmp)
        .expect("build");
    let m = decode(&frame(LinkType::Raw, &ip), COMPAT).expect("decodes");
    assert_eq!(
        (m.src, m.proto, m.src_port, m.dst_port, m.header_len),
        (Addr::v4([10, 0, 0, 2]), 17, 5353, 53, 8)
    );
    assert_eq!((m.payload_len, m.icmp), (5, None));
    let m = decode(&frame(LinkType::Raw, &ip), FIXED).expect("decodes");
    assert_eq!((m.proto, m.src_port, m.dst_port), (1, 0, 0));
    assert_eq!(m.icmp, Some((3, 3)));
    // An echo request is protocol 0 in compat, with its type and code kept
    // (for the events).
    let mut echo = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"ping")
        .expect("build");
    let m = decode(&frame(LinkType::Raw, &echo), COMPAT).expect("decodes");
    assert_eq!((m.proto, m.src_port, m.payload_len), (0, 0, 0));
    assert_eq!(m.icmp, Some((8, 0)));
    let m = decode(&frame(LinkType::Raw, &echo), FIXED).expect("decodes");
    assert_eq!((m.proto, m.icmp), (1, Some((8, 0))));
}

#[test]
fn later_fragments_have_no_ports() {
    let mut ip = udp_ipv4(&[0u8; 64]);
    // Fragment offset 64 bytes (8 units), no more fragments; recompute nothing:
    // the decoder does not check the IPv4 checksum.
    ip[6..8].copy_from_slice(&8u16.to_be_bytes());
    let m = decode(&frame(LinkType::Raw, &ip), COMPAT).expect("decodes");
    assert_eq!(
        (m.proto, m.src_port, m.dst_port, m.payload_len),
        (0, 0, 0, 0)
    );
    let m = decode(&frame(LinkType::Raw, &ip), FIXED).expect("decodes");
    assert_eq!((m.proto, m.src_port, m.payload_len), (17, 0, 72));
}

#[test]
fn ethernet_padding_counts_only_when_asked() {
    let f = eth(0x0800, &tcp_ipv4(b""));
    let mut padded = f.clone();
    padded.resize(60, 0);
    let m = decode(&frame(LinkType::Ethernet, &padded), COMPAT).expect("decodes");
    assert_eq!((m.payload_len, m.padding_len), (0, 6));
    let count = DecodeRules {
        count_padding: true,
        ..COMPAT
    };
    let m = decode(&frame(LinkType::Ethernet, &padded), count).expect("decodes");
    assert_eq!(m.payload_len, 6);
}

#[test]
fn skip_reasons_are_listed_in_declaration_order() {
    // The pipeline counts skips in an array indexed by the reason.
    for (i, r) in SkipReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i, "{r:?}");
    }
}
