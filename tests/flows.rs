//! Flow lifecycle and features on hand-made packets, with worked examples
//! whose expected values are computed by hand in the comments.

use flowsentinel::decode::{Addr, PacketMeta, TcpFlags};
use flowsentinel::features::{lookup, Col, FeatureVector};
use flowsentinel::flow::{EndReason, FinishedFlow, FlowConfig, FlowKey, FlowTable};
use flowsentinel::profile::Profile;
use proptest::prelude::*;

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

fn pkt(t_us: i64, from_client: bool, flags: u8, payload: u32, hdr: u32, win: i32) -> PacketMeta {
    let (src, dst, sp, dp) = if from_client {
        (C, S, 40000, 80)
    } else {
        (S, C, 80, 40000)
    };
    PacketMeta {
        ts_us: t_us,
        src: Addr::v4(src),
        dst: Addr::v4(dst),
        src_port: sp,
        dst_port: dp,
        proto: 6,
        payload_len: payload,
        padding_len: 0,
        header_len: hdr,
        flags: TcpFlags(flags),
        window: win,
        ..PacketMeta::default()
    }
}

fn run(profile: Profile, cfg: Option<FlowConfig>, pkts: &[PacketMeta]) -> Vec<FinishedFlow> {
    let mut table = FlowTable::new(cfg.unwrap_or_else(|| FlowConfig::new(profile)));
    let mut out = Vec::new();
    for p in pkts {
        table.on_packet(p, &mut |f| out.push(f));
    }
    table.drain(&mut |f| out.push(f));
    out
}

fn f(v: &FeatureVector, name: &str) -> f64 {
    let i = lookup(name)
        .and_then(Col::feature_index)
        .unwrap_or_else(|| panic!("no feature column {name}"));
    v[i]
}

/// The eight flag-count columns, FIN to ECE, as labelled.
fn flag_columns(v: &FeatureVector) -> Vec<f64> {
    [
        "FIN Flag Cnt",
        "SYN Flag Cnt",
        "RST Flag Cnt",
        "PSH Flag Cnt",
        "ACK Flag Cnt",
        "URG Flag Cnt",
        "CWR Flag Count",
        "ECE Flag Cnt",
    ]
    .iter()
    .map(|n| f(v, n))
    .collect()
}

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const PSH: u8 = TcpFlags::PSH;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;

fn handshake() -> Vec<PacketMeta> {
    vec![
        pkt(1_000_000, true, SYN, 0, 40, 64240),
        pkt(1_000_100, false, SYN | ACK, 0, 40, 65160),
        pkt(1_000_300, true, ACK | PSH, 100, 32, 502),
        pkt(1_000_600, false, ACK, 200, 32, 509),
    ]
}

#[test]
fn worked_example_cic2018() {
    let flows = run(Profile::Cic2018, None, &handshake());
    assert_eq!(flows.len(), 1);
    let v = flows[0].record.features();
    assert_eq!(flows[0].reason, EndReason::EndOfInput);
    assert_eq!(f(&v, "Flow Duration"), 600.0);
    assert_eq!((f(&v, "Tot Fwd Pkts"), f(&v, "Tot Bwd Pkts")), (2.0, 2.0));
    assert_eq!(
        (f(&v, "TotLen Fwd Pkts"), f(&v, "TotLen Bwd Pkts")),
        (100.0, 200.0)
    );
    // fwd lengths [0, 100]: mean 50, sample std sqrt(5000).
    assert_eq!(f(&v, "Fwd Pkt Len Mean"), 50.0);
    assert_eq!(f(&v, "Fwd Pkt Len Std"), 5000f64.sqrt());
    // 300 bytes and 4 packets in 600 µs.
    assert_eq!(f(&v, "Flow Byts/s"), 300.0 / 0.0006);
    assert_eq!(f(&v, "Flow Pkts/s"), 4.0 / 0.0006);
    // flow IATs [100, 200, 300].
    assert_eq!(
        (f(&v, "Flow IAT Mean"), f(&v, "Flow IAT Std")),
        (200.0, 100.0)
    );
    assert_eq!((f(&v, "Fwd IAT Tot"), f(&v, "Bwd IAT Tot")), (300.0, 500.0));
    // era: PSH is only counted on the first packet, which is a bare SYN.
    assert_eq!(f(&v, "Fwd PSH Flags"), 0.0);
    assert_eq!(
        (f(&v, "Fwd Header Len"), f(&v, "Bwd Header Len")),
        (72.0, 72.0)
    );
    // era: the first packet's length is counted twice: [0, 0, 0, 100, 200],
    // mean 60, variance 32000 / 4.
    assert_eq!(f(&v, "Pkt Len Mean"), 60.0);
    assert_eq!(f(&v, "Pkt Len Var"), 8000.0);
    // ... but the average packet size divides by the real count: 300 / 4.
    assert_eq!(f(&v, "Pkt Size Avg"), 75.0);
    // era: only the first packet's flags count, and the HashMap order puts the
    // SYN count under "PSH Flag Cnt".
    assert_eq!(flag_columns(&v), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(f(&v, "Down/Up Ratio"), 1.0);
    assert_eq!(
        (f(&v, "Subflow Fwd Pkts"), f(&v, "Subflow Bwd Byts")),
        (2.0, 200.0)
    );
    // era: the backward "initial" window is the last backward packet's.
    assert_eq!(
        (f(&v, "Init Fwd Win Byts"), f(&v, "Init Bwd Win Byts")),
        (64240.0, 509.0)
    );
    // era: the first packet is never counted as a data packet; min header 32.
    assert_eq!(
        (f(&v, "Fwd Act Data Pkts"), f(&v, "Fwd Seg Size Min")),
        (1.0, 32.0)
    );
    assert_eq!((f(&v, "Active Mean"), f(&v, "Idle Mean")), (0.0, 0.0));
}

#[test]
fn worked_example_fixed() {
    let flows = run(Profile::Fixed, None, &handshake());
    assert_eq!(flows.len(), 1);
    let v = flows[0].record.features();
    // [0, 0, 100, 200]: mean 75.
    assert_eq!(f(&v, "Pkt Len Mean"), 75.0);
    assert_eq!(flag_columns(&v), [0.0, 2.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0]);
    assert_eq!(f(&v, "Fwd PSH Flags"), 1.0);
    assert_eq!(f(&v, "Init Bwd Win Byts"), 65160.0);
    assert_eq!(f(&v, "Fwd Act Data Pkts"), 1.0);
    // One active period of 600 µs, closed at the end of the flow.
    assert_eq!(
        (
            f(&v, "Active Mean"),
            f(&v, "Active Max"),
            f(&v, "Idle Mean")
        ),
        (600.0, 600.0, 0.0)
    );
}

#[test]
fn compat_ends_at_first_fin_and_drops_single_packet_flows() {
    let mut p = handshake();
    p.push(pkt(1_000_700, true, FIN | ACK, 0, 32, 502));
    p.push(pkt(1_000_800, false, FIN | ACK, 0, 32, 509));
    p.push(pkt(1_000_900, true, ACK, 0, 32, 502));
    let flows = run(Profile::Cic2018, None, &p);
    // The first FIN ends the flow; the last two packets open a new flow of 2.
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].reason, EndReason::Fin);
    assert_eq!(flows[0].record.packets(), 5);
    assert_eq!(flows[1].record.packets(), 2);
    // A lone trailing packet is never written in compat.
    p.pop();
    let flows = run(Profile::Cic2018, None, &p);
    assert_eq!(flows.len(), 1);
}

#[test]
fn fixed_ends_after_both_fins_and_the_last_ack_or_on_rst() {
    let mut p = handshake();
    p.push(pkt(1_000_700, true, FIN | ACK, 0, 32, 502));
    p.push(pkt(1_000_800, false, FIN | ACK, 0, 32, 509));
    p.push(pkt(1_000_900, true, ACK, 0, 32, 502));
    let flows = run(Profile::Fixed, None, &p);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].reason, EndReason::Fin);
    assert_eq!(flows[0].record.packets(), 7);
    let mut q = handshake();
    q.push(pkt(1_000_700, false, RST, 0, 20, 0));
    let flows = run(Profile::Fixed, None, &q);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].reason, EndReason::Rst);
    // A lone SYN is a flow in fixed (a port scan is made of them).
    let flows = run(Profile::Fixed, None, &[pkt(5, true, SYN, 0, 40, 1024)]);
    assert_eq!(flows.len(), 1);
}

#[test]
fn flow_timeout_restarts_with_era_orientation_in_compat_only() {
    let p = [
        pkt(1_000_000, true, ACK, 10, 32, 1),
        pkt(1_100_000, false, ACK, 10, 32, 1),
        pkt(3_000_000, false, ACK, 10, 32, 1),
        pkt(3_100_000, true, ACK, 10, 32, 1),
    ];
    let mut cfg = FlowConfig::new(Profile::Cic2018);
    cfg.flow_timeout_us = 1_000_000;
    let flows = run(Profile::Cic2018, Some(cfg), &p);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].reason, EndReason::FlowTimeout);
    // era: the new flow keeps the client as source, counts the server's packet
    // as forward, and then the client's as forward too.
    let (src, ..) = flows[1].endpoints();
    assert_eq!(src, Addr::v4(C));
    assert_eq!(flows[1].record.packets_by_direction(), (2, 0));
    cfg.profile = Profile::Fixed;
    let flows = run(Profile::Fixed, Some(cfg), &p);
    let (src, ..) = flows[1].endpoints();
    assert_eq!(src, Addr::v4(S));
    assert_eq!(flows[1].record.packets_by_direction(), (1, 1));
}

#[test]
fn sweep_ends_flows_on_a_quiet_link() {
    let mut table = FlowTable::new(FlowConfig::new(Profile::Cic2018));
    let mut out = Vec::new();
    for p in &handshake() {
        table.on_packet(p, &mut |f| out.push(f));
    }
    table.sweep(1_000_000 + 120_000_000, &mut |f| out.push(f));
    assert!(out.is_empty(), "not yet: exactly the timeout");
    table.sweep(1_000_001 + 120_000_000, &mut |f| out.push(f));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].reason, EndReason::FlowTimeout);
    assert!(table.is_empty());
}

#[test]
fn out_of_order_timestamps_never_wrap() {
    let p = [
        pkt(5_000_000, true, ACK, 1, 32, 1),
        pkt(4_000_000, false, ACK, 1, 32, 1),
        pkt(i64::MIN / 2, true, ACK, 1, 32, 1),
        pkt(6_000_000, false, ACK, 1, 32, 1),
    ];
    for profile in [Profile::Cic2017, Profile::Fixed] {
        let flows = run(profile, None, &p);
        assert_eq!(flows.len(), 1);
        let v = flows[0].record.features();
        if profile == Profile::Fixed {
            // The packet clock is clamped to be monotonic.
            assert_eq!(f(&v, "Flow Duration"), 1_000_000.0);
            assert!(f(&v, "Flow IAT Min") >= 0.0);
            assert!(v.iter().all(|x| x.is_finite()));
        } else {
            // era: signed arithmetic, negative gaps stay negative.
            assert_eq!(f(&v, "Flow Duration"), 1_000_000.0);
            assert!(f(&v, "Flow IAT Min") < 0.0);
        }
    }
}

fn arb_packet() -> impl Strategy<Value = PacketMeta> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u16>(),
        prop_oneof![Just(6u8), Just(17u8), Just(0u8)],
    )
        .prop_map(|(s, d, sp, dp, proto)| PacketMeta {
            src: Addr::v4(s),
            dst: Addr::v4(d),
            src_port: sp,
            dst_port: dp,
            proto,
            window: -1,
            ..PacketMeta::default()
        })
}

fn reversed(p: &PacketMeta) -> PacketMeta {
    PacketMeta {
        src: p.dst,
        dst: p.src,
        src_port: p.dst_port,
        dst_port: p.src_port,
        ..*p
    }
}

proptest! {
    #[test]
    fn flow_key_is_symmetric(p in arb_packet()) {
        let (k, a) = FlowKey::of(&p, Profile::Fixed);
        let (k2, a2) = FlowKey::of(&reversed(&p), Profile::Fixed);
        prop_assert_eq!(k, k2);
        prop_assert!(a != a2 || (p.src, p.src_port) == (p.dst, p.dst_port));
        if p.src != p.dst {
            let (k, _) = FlowKey::of(&p, Profile::Cic2018);
            let (k2, _) = FlowKey::of(&reversed(&p), Profile::Cic2018);
            prop_assert_eq!(k, k2);
        }
    }

    #[test]
    fn random_packet_sequences_keep_flow_invariants(
        seq in proptest::collection::vec((0u8..3, any::<bool>(), any::<u8>(), 0u32..2000, -2_000_000i64..200_000_000), 1..200)
    ) {
        for profile in [Profile::Cic2017, Profile::Cic2018, Profile::Fixed] {
            let mut t = 1_000_000_000i64;
            let pkts: Vec<PacketMeta> = seq.iter().map(|&(host, dir, flags, len, dt)| {
                t += dt;
                let mut p = pkt(t, dir, flags, len, 20, 100);
                p.src_port += u16::from(host);
                if !dir { p = reversed(&p); p.src_port = 80; p.dst_port = 40000 + u16::from(host); }
                p
            }).collect();
            let flows = run(profile, None, &pkts);
            let total: u64 = flows.iter().map(|f| f.record.packets()).sum();
            prop_assert!(total <= pkts.len() as u64);
            if profile == Profile::Fixed {
                prop_assert_eq!(total, pkts.len() as u64, "fixed writes every packet");
            }
            for fl in &flows {
                let v = fl.record.features();
                let (fwd, bwd) = fl.record.packets_by_direction();
                prop_assert_eq!(f(&v, "Tot Fwd Pkts") + f(&v, "Tot Bwd Pkts"), f64::from(fwd) + f64::from(bwd));
                prop_assert!(f(&v, "Tot Fwd Pkts") >= 1.0);
                if profile == Profile::Fixed {
                    prop_assert!(v.iter().all(|x| x.is_finite() && *x >= -1.0), "{:?}", v);
                    prop_assert!(f(&v, "Flow Duration") <= 120_000_000.0 + 200_000_000.0);
                }
            }
        }
    }
}
