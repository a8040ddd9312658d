//! Frame decoding for every link type and rule set.
//!
//! Input: byte 0 picks the link type (low three bits, modulo 6) and the
//! `DecodeRules` flags (bit 4 `ipv6`, bit 5 `era_quirks`, bit 6
//! `count_padding`); the rest is the frame. `decode` must never panic, a
//! decoded packet must agree with the frame it came from, and each rule must
//! change only what it is for.
#![no_main]

use flowsentinel::capture::{Frame, LinkType};
use flowsentinel::decode::{decode, DecodeRules};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 6] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(selector & 0x07) % LINKS.len()];
    let rules = DecodeRules {
        ipv6: selector & 0x10 != 0,
        era_quirks: selector & 0x20 != 0,
        count_padding: selector & 0x40 != 0,
        kdd: selector & 0x08 != 0 && selector & 0x20 == 0,
    };
    let ts_us = if selector & 0x80 != 0 {
        i64::MIN
    } else {
        1_700_000_000_123_456
    };
    let f = Frame {
        ts_us,
        link,
        data: frame,
    };
    let Ok(m) = decode(&f, rules) else {
        return;
    };

    // `count_padding` only moves the padding into a TCP/UDP payload.
    let other = DecodeRules {
        count_padding: !rules.count_padding,
        ..rules
    };
    let Ok(mut o) = decode(&f, other) else {
        panic!("count_padding changed whether the frame decodes: {m:?}");
    };
    if o.header_len > 0 {
        if other.count_padding {
            o.payload_len -= o.padding_len;
        } else {
            o.payload_len += o.padding_len;
        }
    }
    assert_eq!(o, m, "count_padding changed more than the payload length");
    // `ipv6` only matters to IPv6 datagrams.
    if !m.src.is_v6() {
        let other = DecodeRules {
            ipv6: !rules.ipv6,
            ..rules
        };
        assert_eq!(decode(&f, other), Ok(m), "ipv6 changed an IPv4 packet");
    }

    assert_eq!(m.ts_us, ts_us, "the frame's timestamp is kept");
    assert_eq!(m.src.is_v6(), m.dst.is_v6(), "one address family");
    if !rules.ipv6 {
        assert!(!m.src.is_v6(), "IPv6 decoded although the rules refuse it");
    }

    // Header, payload and padding are disjoint parts of the frame; with
    // `count_padding` the padding is already inside the payload of a TCP/UDP
    // packet.
    let len = frame.len() as u64;
    let (payload, header, padding) = (
        u64::from(m.payload_len),
        u64::from(m.header_len),
        u64::from(m.padding_len),
    );
    let counted_twice = rules.count_padding && header > 0;
    if counted_twice {
        assert!(payload >= padding, "{m:?}");
        assert!(payload + header <= len, "{m:?} from {len} bytes");
    } else {
        assert!(payload + header + padding <= len, "{m:?} from {len} bytes");
    }

    // Transport fields only for TCP/UDP.
    match m.header_len {
        0 => {
            assert_eq!((m.src_port, m.dst_port), (0, 0), "{m:?}");
            assert_eq!(m.window, -1, "{m:?}");
            assert_eq!(m.flags.0, 0, "{m:?}");
        }
        8 if m.proto == 17 => {
            assert_eq!(m.window, -1, "{m:?}");
            assert_eq!(m.flags.0, 0, "{m:?}");
        }
        h => {
            assert_eq!(m.proto, 6, "a {h}-byte transport header must be TCP: {m:?}");
            assert!((20..=60).contains(&h) && h % 4 == 0, "{m:?}");
            assert!((0..=65_535).contains(&m.window), "{m:?}");
        }
    }

    if rules.era_quirks && !m.src.is_v6() {
        // Era rules (IPv4 only, the only family the era tool read; no
        // profile pairs them with `ipv6`): every protocol but TCP and UDP is
        // protocol 0 with no ports and no payload.
        assert!(matches!(m.proto, 0 | 6 | 17), "{m:?}");
        if m.proto == 0 {
            assert_eq!((m.payload_len, m.header_len), (0, 0), "{m:?}");
        }
    }
});
