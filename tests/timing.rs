//! Adversarial packet time: timestamps that jump back, jump forward by
//! years, or repeat the same microsecond for thousands of packets. Each
//! profile handles them as documented (`fixed` clamps its packet clock to be
//! monotonic; the compat profiles keep the era tool's signed arithmetic),
//! with no overflow, wrap-around or panic; property tests over the flow
//! table, and one replay of a capture with such timestamps.

use crate::util::{data, pcap_records, run, summary_value, tempdir, write_pcap};
use flowsentinel::decode::{Addr, PacketMeta, TcpFlags};
use flowsentinel::features::{lookup, Col, FeatureVector};
use flowsentinel::flow::{FinishedFlow, FlowConfig, FlowTable};
use flowsentinel::profile::Profile;
use proptest::prelude::*;

const PROFILES: [Profile; 3] = [Profile::Cic2017, Profile::Cic2018, Profile::Fixed];
const YEAR_US: i64 = 365 * 86_400 * 1_000_000;

/// One TCP connection's packet (ACK only: nothing ends the flow but time).
fn pkt(ts_us: i64, from_client: bool, payload: u32) -> PacketMeta {
    let (c, s) = (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
    let (src, dst, sp, dp) = if from_client {
        (c, s, 40000, 80)
    } else {
        (s, c, 80, 40000)
    };
    PacketMeta {
        ts_us,
        src,
        dst,
        src_port: sp,
        dst_port: dp,
        proto: 6,
        payload_len: payload,
        padding_len: 0,
        header_len: 20,
        flags: TcpFlags(TcpFlags::ACK),
        window: 1000,
        ..PacketMeta::default()
    }
}

/// Runs packets through a table (with sweeps and interim snapshots at the
/// packets' own times, as the pipeline's ticks do), then drains it.
fn flows(profile: Profile, pkts: &[PacketMeta]) -> (Vec<FinishedFlow>, u64) {
    let mut table = FlowTable::new(FlowConfig::new(profile));
    let mut out = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        table.on_packet(p, &mut |f| out.push(f));
        if i % 7 == 0 {
            table.interim(p.ts_us, 1_000_000, &mut |_| {});
            table.sweep(p.ts_us, &mut |f| out.push(f));
        }
    }
    table.drain(&mut |f| out.push(f));
    (out, table.stats().single_packet_discarded)
}

fn f(v: &FeatureVector, name: &str) -> f64 {
    let i = lookup(name)
        .and_then(Col::feature_index)
        .unwrap_or_else(|| panic!("no feature column {name}"));
    v[i]
}

/// Columns the era tool divides by a zero duration (Infinity or NaN there).
const RATES: [&str; 2] = ["Flow Byts/s", "Flow Pkts/s"];

/// The invariants every flow keeps, whatever the timestamps:
/// forward + backward = total, counts never negative, and for `fixed` a
/// duration within the packets' time span and every value finite.
fn check(profile: Profile, fl: &FinishedFlow, span_us: i128) -> Result<(), TestCaseError> {
    let v = fl.record.features();
    let (fwd, bwd) = fl.record.packets_by_direction();
    prop_assert_eq!(u64::from(fwd) + u64::from(bwd), fl.record.packets());
    prop_assert!(f(&v, "Tot Fwd Pkts") >= 1.0);
    prop_assert!(f(&v, "Tot Bwd Pkts") >= 0.0);
    prop_assert!(f(&v, "TotLen Fwd Pkts") >= 0.0);
    let duration = f(&v, "Flow Duration");
    if profile == Profile::Fixed {
        prop_assert!(
            v.iter().all(|x| x.is_finite()),
            "fixed: every value finite: {:?}",
            v
        );
        prop_assert!(duration >= 0.0 && duration as i128 <= span_us);
        prop_assert!(f(&v, "Flow IAT Min") >= 0.0);
        prop_assert!(f(&v, "Idle Min") >= 0.0 && f(&v, "Active Min") >= 0.0);
    } else {
        // era: signed gaps, and rates that divide by a zero duration; all
        // else finite.
        prop_assert!((duration.abs() as i128) <= span_us);
        for (i, x) in v.iter().enumerate() {
            let rate = RATES
                .iter()
                .any(|r| lookup(r).and_then(Col::feature_index) == Some(i));
            prop_assert!(
                rate || x.is_finite(),
                "{:?} = {}",
                Col::features().nth(i),
                x
            );
        }
    }
    Ok(())
}

fn span(ts: &[i64]) -> i128 {
    let lo = ts.iter().copied().min().unwrap_or(0);
    let hi = ts.iter().copied().max().unwrap_or(0);
    i128::from(hi) - i128::from(lo)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Time that jumps back by up to a day (and once to the far past):
    /// `fixed` never goes backwards, the compat profiles keep the era's
    /// signed gaps; every packet is accounted for.
    #[test]
    fn time_jumping_back(
        steps in proptest::collection::vec((any::<bool>(), -86_400_000_000i64..2_000_000, 0u32..1500), 2..300),
        far_past in any::<bool>(),
    ) {
        let mut t = 1_700_000_000_000_000i64;
        let mut ts = Vec::new();
        let pkts: Vec<PacketMeta> = steps.iter().enumerate().map(|(i, &(dir, dt, len))| {
            t += dt;
            let at = if far_past && i == steps.len() / 2 { 0 } else { t };
            ts.push(at);
            pkt(at, dir || i == 0, len)
        }).collect();
        for profile in PROFILES {
            let (out, discarded) = flows(profile, &pkts);
            let total: u64 = out.iter().map(|f| f.record.packets()).sum();
            if profile == Profile::Fixed {
                prop_assert_eq!(total, pkts.len() as u64);
            } else {
                prop_assert_eq!(total + discarded, pkts.len() as u64);
            }
            for fl in &out {
                check(profile, fl, span(&ts))?;
            }
        }
    }

    /// Time that jumps forward by up to a century per packet, up to the
    /// largest timestamps a capture can hold: every jump past the flow
    /// timeout ends the flow, and nothing overflows.
    #[test]
    fn time_jumping_forward_by_years(
        steps in proptest::collection::vec((any::<bool>(), 0i64..100 * YEAR_US, 0u32..1500), 2..100),
        start in prop_oneof![Just(0i64), Just(1_700_000_000_000_000i64), Just(i64::MAX - 200 * 100 * YEAR_US)],
    ) {
        let mut t = start;
        let mut ts = Vec::new();
        let pkts: Vec<PacketMeta> = steps.iter().map(|&(dir, dt, len)| {
            t = t.saturating_add(dt);
            ts.push(t);
            pkt(t, dir, len)
        }).collect();
        for profile in PROFILES {
            let (out, discarded) = flows(profile, &pkts);
            let total: u64 = out.iter().map(|f| f.record.packets()).sum();
            prop_assert_eq!(total + discarded, pkts.len() as u64);
            // Flows never outlive the flow timeout (their first packet
            // starts the clock) plus the largest gap.
            for fl in &out {
                check(profile, fl, span(&ts))?;
                prop_assert!(f(&fl.record.features(), "Flow Duration") <= 120_000_000.0);
            }
        }
    }

    /// Thousands of packets in the same microsecond: zero gaps, zero
    /// duration; `fixed` reports zero rates, the era tool divides by zero.
    #[test]
    fn the_same_microsecond_for_thousands_of_packets(
        n in 1000usize..5000,
        at in prop_oneof![Just(0i64), Just(1_700_000_000_000_000i64), Just(i64::MAX)],
        len in 0u32..1500,
    ) {
        let pkts: Vec<PacketMeta> = (0..n).map(|i| pkt(at, i % 3 != 1, len)).collect();
        for profile in PROFILES {
            let (out, _) = flows(profile, &pkts);
            prop_assert_eq!(out.len(), 1);
            let fl = &out[0];
            prop_assert_eq!(fl.record.packets(), n as u64);
            check(profile, fl, 0)?;
            let v = fl.record.features();
            prop_assert_eq!(f(&v, "Flow Duration"), 0.0);
            prop_assert_eq!(f(&v, "Flow IAT Max"), 0.0);
            prop_assert_eq!(f(&v, "Fwd IAT Tot"), 0.0);
            if profile == Profile::Fixed {
                prop_assert_eq!(f(&v, "Flow Pkts/s"), 0.0);
            } else {
                prop_assert!(f(&v, "Flow Pkts/s").is_infinite());
            }
        }
    }
}

/// A real capture whose timestamps jump back, jump forward by decades and
/// repeat: `extract` in every profile and `replay` read it to the end with
/// no panic, and `fixed` writes only non-negative durations.
#[test]
fn replay_and_extract_survive_adversarial_timestamps() {
    let dir = tempdir("timing");
    let (header, mut records) = pcap_records(&data().join("pcaps/small-veth.pcap"));
    records.truncate(600);
    let n = records.len();
    for (i, r) in records.iter_mut().enumerate() {
        let secs: u32 = match i % 6 {
            0 => 1_700_000_000 - (i as u32) * 1000, // back
            1 => 4_000_000_000,                     // forward ~ 70 years
            2 | 3 => 1_700_000_000,                 // repeated
            4 => 0,                                 // the epoch
            _ => u32::MAX,                          // the end of pcap time
        };
        r[..4].copy_from_slice(&secs.to_le_bytes());
        r[4..8].copy_from_slice(&((i as u32 % 3) * 999_999 / 2).to_le_bytes());
    }
    let pcap = dir.join("time.pcap");
    write_pcap(&pcap, &header, &records);
    for profile in ["cic2017", "cic2018", "fixed"] {
        let out = dir.join(format!("{profile}.csv"));
        let o = run(&[
            "extract",
            pcap.to_str().expect("utf8"),
            "-o",
            out.to_str().expect("utf8"),
            "--profile",
            profile,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{profile}: {err}");
        assert_eq!(summary_value(&err, "packets read"), n as u64, "{err}");
        if profile == "fixed" {
            let rows = crate::util::rows(&out);
            let header = crate::util::header(&out);
            let d = header
                .iter()
                .position(|h| h == "Flow Duration")
                .expect("column");
            assert!(!rows.is_empty());
            for r in &rows {
                let v: f64 = r[d].parse().expect("duration");
                assert!(v >= 0.0, "negative duration {v}");
            }
        }
    }
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let o = run(&[
        "replay",
        pcap.to_str().expect("utf8"),
        "--model",
        model.to_str().expect("utf8"),
        "--alerts",
        dir.join("eve.json").to_str().expect("utf8"),
        "--interim-after",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Interim snapshots: a flow is snapshotted when another interval has passed
/// since its start, and only when it had a packet since its previous
/// snapshot (an idle flow, such as a spoofed flood's lone SYN, is scored
/// early once, not every interval until it times out).
#[test]
fn interim_snapshots_only_flows_with_new_packets() {
    let mut table = FlowTable::new(FlowConfig::new(Profile::Fixed));
    let mut finished = Vec::new();
    let mut snaps = Vec::new();
    let tick = |table: &mut FlowTable, now: i64, snaps: &mut Vec<i64>| {
        table.interim(now, 1_000_000, &mut |s| snaps.push(s.at_us));
    };
    table.on_packet(&pkt(0, true, 10), &mut |f| finished.push(f));
    tick(&mut table, 500_000, &mut snaps);
    assert!(snaps.is_empty(), "before the first interval");
    tick(&mut table, 1_000_000, &mut snaps);
    assert_eq!(snaps, [1_000_000], "the first interval");
    // Idle: no packet since, so no second snapshot at 2 s or 3 s.
    tick(&mut table, 2_000_000, &mut snaps);
    tick(&mut table, 3_000_000, &mut snaps);
    assert_eq!(snaps.len(), 1, "an idle flow is not snapshotted again");
    // A new packet, then the next interval: snapshotted again, once.
    table.on_packet(&pkt(3_200_000, false, 5), &mut |f| finished.push(f));
    tick(&mut table, 3_500_000, &mut snaps);
    assert_eq!(snaps.len(), 1, "not before the next interval");
    tick(&mut table, 4_000_000, &mut snaps);
    tick(&mut table, 4_500_000, &mut snaps);
    assert_eq!(snaps, [1_000_000, 4_000_000]);
    assert!(finished.is_empty());
}
