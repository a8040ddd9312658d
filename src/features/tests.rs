//! Unit tests of the feature accumulators: every feature column is written
//! exactly once in every profile, and the values the flow shapes reach.

use super::*;
use crate::decode::Addr;

#[test]
fn per_flow_state_fits_in_512_bytes() {
    let size = std::mem::size_of::<super::FlowRecord>();
    println!("FlowRecord: {size} bytes");
    assert!(size <= 512, "{size}");
}

/// Found by the `flow_engine` fuzz target
/// (fuzz/regressions/flow_engine/iat-total-overflow): the compat clock is
/// raw packet time, so a packet at i64::MIN after one near the epoch's
/// "now" overflowed the Fwd/Bwd IAT Tot subtraction (a panic with overflow
/// checks, a wrapped value without). The totals saturate like the
/// per-packet gaps and the duration.
#[test]
fn r_fuzz_iat_total_saturates_on_extreme_times() {
    let p = |ts_us: i64, src: u8| PacketMeta {
        ts_us,
        src: crate::decode::Addr::v4([10, 0, 0, src]),
        dst: crate::decode::Addr::v4([10, 0, 0, 3 - src]),
        proto: 6,
        header_len: 20,
        window: 1024,
        ..PacketMeta::default()
    };
    for profile in [Profile::Cic2017, Profile::Cic2018, Profile::Fixed] {
        let mut r = FlowRecord::new(&p(1_700_000_000_000_000, 1), profile);
        r.add(&p(i64::MIN, 1), Direction::Forward);
        r.add(&p(i64::MAX, 2), Direction::Backward);
        r.add(&p(i64::MIN, 2), Direction::Backward);
        let v = r.features();
        let col = |name: &str| v[lookup(name).and_then(Col::feature_index).unwrap()];
        assert_eq!(col("Fwd IAT Tot"), i64::MIN as f64, "{profile:?}");
        assert_eq!(col("Bwd IAT Tot"), i64::MIN as f64, "{profile:?}");
    }
}

/// A sink that counts the writes to every catalogue column (identifiers
/// and label included) and keeps the values at their feature index.
struct Recorder {
    writes: [u32; NUM_COLUMNS],
    values: FeatureVector,
}

impl FeatureSink for Recorder {
    fn set(&mut self, col: Col, x: f64) {
        self.writes[col.index()] += 1;
        if let Some(i) = col.feature_index() {
            self.values[i] = x;
        }
    }
}

/// Flows of every shape whose values take different branches: one
/// packet, one direction only, zero duration, a handshake with data and
/// flags both ways, idle gaps (active/idle periods, subflows), and bulks.
fn flow_shapes(profile: Profile) -> Vec<FlowRecord> {
    const T0: i64 = 1_700_000_000_000_000;
    let p = |dt_us: i64, fwd: bool, flags: u8, payload: u32| {
        let (a, b) = (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        PacketMeta {
            ts_us: T0 + dt_us,
            src: if fwd { a } else { b },
            dst: if fwd { b } else { a },
            src_port: if fwd { 40000 } else { 80 },
            dst_port: if fwd { 80 } else { 40000 },
            proto: 6,
            payload_len: payload,
            header_len: 20,
            flags: TcpFlags(flags),
            window: if fwd { 1024 } else { 512 },
            ..PacketMeta::default()
        }
    };
    let (syn, ack, psh, urg, fin) = (
        TcpFlags::SYN,
        TcpFlags::ACK,
        TcpFlags::PSH | TcpFlags::ACK,
        TcpFlags::URG | TcpFlags::ACK,
        TcpFlags::FIN | TcpFlags::ACK,
    );
    let mut bulk = vec![p(0, true, syn, 0), p(10, false, syn | ack, 0)];
    bulk.extend((0..6).map(|i| p(100 + i * 1000, true, psh, 1400)));
    bulk.extend((0..6).map(|i| p(9_000 + i * 1000, false, psh, 1400)));
    let shapes = [
        vec![p(0, true, syn, 0)],
        vec![p(0, true, 0, 512), p(0, true, 0, 512)],
        vec![
            p(0, true, 0, 100),
            p(3_000, true, 0, 0),
            p(7_000, true, 0, 9),
        ],
        vec![
            p(0, true, syn, 0),
            p(50, false, syn | ack, 0),
            p(90, true, ack, 0),
            p(200, true, psh, 300),
            p(400, false, urg, 1200),
            p(450, false, psh, 80),
            p(500, true, urg, 1),
            p(900, true, fin, 0),
            p(950, false, fin, 0),
            p(990, true, TcpFlags::RST | TcpFlags::ECE | TcpFlags::CWR, 0),
        ],
        vec![
            p(0, true, psh, 10),
            p(20_000_000, false, psh, 20),
            p(20_500_000, true, ack, 0),
            p(40_000_000, false, psh, 30),
            p(90_000_000, true, fin, 0),
        ],
        bulk,
    ];
    shapes
        .iter()
        .map(|pkts| {
            let mut r = FlowRecord::new(&pkts[0], profile);
            for q in &pkts[1..] {
                r.update_active_idle(q.ts_us, 5_000_000);
                let fwd = q.src == pkts[0].src;
                let dir = if fwd {
                    Direction::Forward
                } else {
                    Direction::Backward
                };
                r.add(q, dir);
            }
            r.close();
            r
        })
        .collect()
}

/// Every feature column is written exactly once, and nothing else is,
/// in every profile and for every flow shape; and the vector that
/// `features` returns holds each value at its column's index.
///
/// The recorder sees exactly the `set` calls the feature vector sees
/// (the same generic `write_features`), so a column set twice, set in
/// only some profiles or flows, or never set, or a value sent to an
/// identifier column, shows up as a count other than 1 (or 0 for the
/// identifier columns and the label). `store_features!` already proves at
/// compile time that its table names each feature once; this also
/// catches a `set` added outside the table, behind a branch.
#[test]
fn every_feature_column_is_written_exactly_once() {
    for profile in [Profile::Cic2017, Profile::Cic2018, Profile::Fixed] {
        for (shape, r) in flow_shapes(profile).iter().enumerate() {
            let mut rec = Recorder {
                writes: [0; NUM_COLUMNS],
                values: [f64::NAN; NUM_FEATURES],
            };
            r.write_features(&mut rec);
            let wrong: Vec<(Col, u32)> = Col::ALL
                .into_iter()
                .map(|c| (c, rec.writes[c.index()]))
                .filter(|&(c, n)| n != u32::from(c.feature_index().is_some()))
                .collect();
            assert!(
                wrong.is_empty(),
                "{profile:?}, shape {shape}: columns written a wrong number of times: {wrong:?}"
            );
            let v = r.features();
            for c in Col::features() {
                let i = c.feature_index().unwrap();
                assert_eq!(
                    v[i].to_bits(),
                    rec.values[i].to_bits(),
                    "{profile:?}, shape {shape}: {c:?}"
                );
            }
        }
    }
}

/// The shapes reach the branches they are there for.
#[test]
fn flow_shapes_cover_the_value_branches() {
    let col = |v: &FeatureVector, c: Col| v[c.feature_index().unwrap()];
    let fixed: Vec<FeatureVector> = flow_shapes(Profile::Fixed)
        .iter()
        .map(FlowRecord::features)
        .collect();
    assert!(fixed.iter().any(|v| col(v, Col::TotBwdPkts) == 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::FlowDuration) == 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::IdleMean) > 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::ActiveMean) > 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::FwdBytsPerBulkAvg) > 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::BwdBytsPerBulkAvg) > 0.0));
    assert!(fixed.iter().any(|v| col(v, Col::BwdUrgFlags) > 0.0));
    assert!(fixed
        .iter()
        .any(|v| col(v, Col::SubflowFwdPkts) < col(v, Col::TotFwdPkts)));
    let era: Vec<FeatureVector> = flow_shapes(Profile::Cic2017)
        .iter()
        .map(FlowRecord::features)
        .collect();
    assert!(era.iter().any(|v| col(v, Col::FlowIatMean).is_nan()));
    assert!(era.iter().any(|v| col(v, Col::FlowBytsPerSec).is_nan()));
}

#[test]
fn each_feature_once_accepts_only_a_permutation_of_the_features() {
    let mut cols: Vec<Col> = Col::features().collect();
    assert!(each_feature_once(&cols));
    cols.reverse();
    assert!(each_feature_once(&cols));
    let last = cols.pop().unwrap();
    assert!(!each_feature_once(&cols), "one missing");
    cols.push(cols[0]);
    assert!(!each_feature_once(&cols), "one missing, one twice");
    cols.pop();
    cols.push(last);
    cols.push(Col::Label);
    assert!(!each_feature_once(&cols), "a non-feature column");
    cols.pop();
    cols.push(Col::FlowDuration);
    assert!(!each_feature_once(&cols), "one twice");
}
