//! The flow table under every profile: arbitrary packet sequences (a small
//! address and port space so that flows collide; timestamps that go
//! backwards, repeat, jump and hit the i64 extremes; arbitrary TCP flags and
//! lengths), arbitrary timeouts and table limits, with `sweep` and `interim`
//! interleaved and a final `drain`.
//!
//! Checked on every flow handed out: direction counts add up, counts and
//! lengths are not negative, the duration keeps to the profile's clock rules,
//! and the features are finite except where the compat profiles documentedly
//! are not (README, "Profiles"). After `drain`, every packet is in exactly one
//! finished flow or in a single-packet flow the compat profiles discard.
#![no_main]

use arbitrary::Arbitrary;
use flowsentinel::decode::{Addr, PacketMeta, TcpFlags};
use flowsentinel::features::{lookup, Col, FlowRecord};
use flowsentinel::flow::{EndReason, FinishedFlow, FlowConfig, FlowTable, Snapshot};
use flowsentinel::profile::Profile;
use libfuzzer_sys::fuzz_target;
use std::fmt::Debug;
use std::sync::OnceLock;

const PROFILES: [Profile; 4] = [
    Profile::Cic2017,
    Profile::Cic2018,
    Profile::Fixed,
    Profile::Kdd,
];

/// Addresses whose first bytes straddle 0x80, where the era key order (signed
/// bytes) and the plain order disagree.
const V4: [[u8; 4]; 4] = [[10, 0, 0, 1], [10, 0, 0, 2], [200, 0, 0, 1], [128, 0, 0, 0]];
const PORTS: [u16; 4] = [80, 443, 50_000, 0];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    /// A step from the previous packet's time (negative: backwards).
    Step(i32),
    /// The previous packet's time again.
    Same,
    /// A large jump either way.
    Jump(bool, u32),
    /// Any value.
    Absolute(i64),
    Min,
    Max,
    Zero,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Span {
    Micros(u32),
    Seconds(u8),
    Zero,
    Negative(u32),
    Min,
    Max,
}

impl Span {
    fn us(self) -> i64 {
        match self {
            Span::Micros(n) => i64::from(n),
            Span::Seconds(s) => i64::from(s) * 1_000_000,
            Span::Zero => 0,
            Span::Negative(n) => -i64::from(n),
            Span::Min => i64::MIN,
            Span::Max => i64::MAX,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Packet {
    time: Time,
    /// Low two bits: source address; next two: destination; bit 4: IPv6
    /// (`fixed` only: the compat decoders never produce IPv6).
    endpoints: u8,
    /// Low two bits: source port; next two: destination port.
    ports: u8,
    proto: Proto,
    payload_len: u32,
    /// TCP data offset in words (5..=15 used).
    data_offset: u8,
    padding_len: u16,
    flags: u8,
    window: u16,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Packet(Packet),
    Sweep(Time),
    Interim(Time, Span),
}

#[derive(Arbitrary, Debug)]
struct Input {
    flow_timeout: Span,
    activity_timeout: Span,
    /// `Some(n)`: at most n flows open.
    max_flows: Option<u8>,
    ops: Vec<Op>,
}

fn advance(prev: i64, t: Time) -> i64 {
    match t {
        Time::Step(d) => prev.saturating_add(i64::from(d)),
        Time::Same => prev,
        Time::Jump(up, n) => {
            let d = i64::from(n) * 1_000_000_000;
            if up {
                prev.saturating_add(d)
            } else {
                prev.saturating_sub(d)
            }
        }
        Time::Absolute(x) => x,
        Time::Min => i64::MIN,
        Time::Max => i64::MAX,
        Time::Zero => 0,
    }
}

/// The packet as the profile's decoder would hand it over.
fn meta(p: &Packet, ts_us: i64, profile: Profile) -> PacketMeta {
    let compat = profile.is_compat();
    let v6 = !compat && p.endpoints & 0x10 != 0;
    let addr = |i: u8| {
        let o = V4[usize::from(i & 3)];
        if v6 {
            let mut b = [0u8; 16];
            b[0] = 0x20;
            b[1] = 0x01;
            b[12..].copy_from_slice(&o);
            Addr::v6(b)
        } else {
            Addr::v4(o)
        }
    };
    let mut m = PacketMeta {
        ts_us,
        src: addr(p.endpoints),
        dst: addr(p.endpoints >> 2),
        src_port: PORTS[usize::from(p.ports & 3)],
        dst_port: PORTS[usize::from((p.ports >> 2) & 3)],
        proto: 0,
        payload_len: p.payload_len,
        padding_len: u32::from(p.padding_len),
        header_len: 0,
        flags: TcpFlags(0),
        window: -1,
        ..PacketMeta::default()
    };
    match p.proto {
        Proto::Tcp => {
            m.proto = 6;
            m.header_len = 4 * u32::from(p.data_offset.clamp(5, 15));
            m.flags = TcpFlags(p.flags);
            m.window = i32::from(p.window);
        }
        Proto::Udp => {
            m.proto = 17;
            m.header_len = 8;
        }
        Proto::Icmp | Proto::Other(_) if compat => {
            // era: protocol 0, no ports, no payload.
            m.src_port = 0;
            m.dst_port = 0;
            m.payload_len = 0;
        }
        Proto::Icmp => {
            m.proto = 1;
            m.src_port = 0;
            m.dst_port = 0;
            m.icmp = Some((p.flags, p.ports));
        }
        Proto::Other(n) => {
            m.proto = if n == 6 || n == 17 { 0 } else { n };
            m.src_port = 0;
            m.dst_port = 0;
        }
    }
    m
}

fn col(name: &str) -> usize {
    lookup(name)
        .and_then(Col::feature_index)
        .unwrap_or_else(|| panic!("no feature column {name:?}"))
}

struct Columns {
    duration: usize,
    fwd_pkts: usize,
    bwd_pkts: usize,
    byts_s: usize,
    pkts_s: usize,
    flow_iat: [usize; 4],
    init_win: [usize; 2],
    /// Counts, sums and sizes: never negative in any profile.
    non_negative: Vec<usize>,
}

impl Columns {
    fn new() -> Self {
        let non_negative = [
            "Tot Fwd Pkts",
            "Tot Bwd Pkts",
            "TotLen Fwd Pkts",
            "TotLen Bwd Pkts",
            "Fwd Pkt Len Max",
            "Fwd Pkt Len Min",
            "Fwd Pkt Len Mean",
            "Fwd Pkt Len Std",
            "Bwd Pkt Len Max",
            "Bwd Pkt Len Min",
            "Bwd Pkt Len Mean",
            "Bwd Pkt Len Std",
            "Fwd PSH Flags",
            "Bwd PSH Flags",
            "Fwd URG Flags",
            "Bwd URG Flags",
            "Fwd Header Len",
            "Bwd Header Len",
            "Pkt Len Min",
            "Pkt Len Max",
            "Pkt Len Mean",
            "Pkt Len Std",
            "Pkt Len Var",
            "FIN Flag Cnt",
            "SYN Flag Cnt",
            "RST Flag Cnt",
            "PSH Flag Cnt",
            "ACK Flag Cnt",
            "URG Flag Cnt",
            "CWE Flag Count",
            "ECE Flag Cnt",
            "Down/Up Ratio",
            "Pkt Size Avg",
            "Fwd Seg Size Avg",
            "Bwd Seg Size Avg",
            "Fwd Byts/b Avg",
            "Fwd Pkts/b Avg",
            "Fwd Blk Rate Avg",
            "Bwd Byts/b Avg",
            "Bwd Pkts/b Avg",
            "Bwd Blk Rate Avg",
            "Subflow Fwd Pkts",
            "Subflow Fwd Byts",
            "Subflow Bwd Pkts",
            "Subflow Bwd Byts",
            "Fwd Act Data Pkts",
            "Fwd Seg Size Min",
            "Active Mean",
            "Active Std",
            "Active Max",
            "Active Min",
        ]
        .iter()
        .map(|n| col(n))
        .collect();
        Self {
            duration: col("Flow Duration"),
            fwd_pkts: col("Tot Fwd Pkts"),
            bwd_pkts: col("Tot Bwd Pkts"),
            byts_s: col("Flow Byts/s"),
            pkts_s: col("Flow Pkts/s"),
            flow_iat: [
                col("Flow IAT Mean"),
                col("Flow IAT Std"),
                col("Flow IAT Max"),
                col("Flow IAT Min"),
            ],
            init_win: [col("Init Fwd Win Byts"), col("Init Bwd Win Byts")],
            non_negative,
        }
    }
}

struct Check<'a> {
    profile: Profile,
    cfg: FlowConfig,
    cols: &'a Columns,
    /// Packets in finished (not interim) flows.
    packets: u64,
    finished: u64,
    evicted: u64,
}

impl Check<'_> {
    fn flow(&mut self, f: &FinishedFlow) {
        self.record(&f.record, Some(f.reason), f);
    }

    fn snapshot(&mut self, s: &Snapshot) {
        self.record(&s.record, None, s);
    }

    /// Checks a finished flow's record (`reason`), or an interim
    /// snapshot's (`None`); `f` is what a failure prints.
    fn record(&mut self, r: &FlowRecord, reason: Option<EndReason>, f: &dyn Debug) {
        let compat = self.profile.is_compat();
        let n = r.packets();
        let (fwd, bwd) = r.packets_by_direction();
        assert_eq!(u64::from(fwd) + u64::from(bwd), n);
        assert!(fwd >= 1, "the first packet is forward: {f:?}");
        if reason.is_none() {
            assert!(n >= 1);
        } else {
            self.packets += n;
            self.finished += 1;
            if compat {
                assert!(n >= 2, "compat never writes a single-packet flow: {f:?}");
            }
        }
        if reason == Some(EndReason::Evicted) {
            assert!(self.cfg.max_flows.is_some(), "evicted without a limit");
            self.evicted += 1;
        }

        // Every packet of a flow is at most the flow timeout after its
        // start (the packet after that opens a new flow).
        let duration = r.last_us().saturating_sub(r.start_us());
        assert!(
            duration <= self.cfg.flow_timeout_us.max(0),
            "duration {duration} > flow timeout {}",
            self.cfg.flow_timeout_us
        );
        if !compat {
            // `fixed` clamps the clock: time never runs backwards.
            assert!(
                duration >= 0,
                "negative duration {duration} in fixed: {f:?}"
            );
        }

        let v = r.features();
        let c = self.cols;
        assert_eq!(v[c.duration], duration as f64);
        assert_eq!(v[c.fwd_pkts] + v[c.bwd_pkts], n as f64);
        for &i in &c.non_negative {
            assert!(
                !(v[i] < 0.0),
                "feature {i} = {} < 0 ({:?}): {f:?}",
                v[i],
                self.profile
            );
        }
        for &i in &c.init_win {
            assert!(v[i] >= -1.0 && v[i] <= 65_535.0, "window {}", v[i]);
        }
        for (i, x) in v.iter().enumerate() {
            if x.is_finite() {
                if !compat && !c.init_win.contains(&i) {
                    assert!(*x >= 0.0, "feature {i} = {x} < 0 in fixed: {f:?}");
                }
                continue;
            }
            // README "Profiles": in the compat profiles, zero-duration flows
            // have Flow Byts/s and Flow Pkts/s of Infinity or NaN. An interim
            // snapshot of a compat flow that still has one packet has no
            // inter-arrival time (NaN), a row no finished flow produces.
            let documented = compat
                && ((duration == 0 && (i == c.byts_s || i == c.pkts_s))
                    || (reason.is_none() && n < 2 && c.flow_iat.contains(&i)));
            assert!(
                documented,
                "feature {i} = {x} ({:?}, duration {duration}, {n} packets): {f:?}",
                self.profile
            );
        }
    }
}

fuzz_target!(|input: Input| {
    // Looked up once per process: name lookups would dominate every run.
    static COLUMNS: OnceLock<Columns> = OnceLock::new();
    let cols = COLUMNS.get_or_init(Columns::new);
    for profile in PROFILES {
        let mut cfg = FlowConfig::new(profile);
        cfg.flow_timeout_us = input.flow_timeout.us();
        cfg.activity_timeout_us = input.activity_timeout.us();
        cfg.max_flows = input.max_flows.map(usize::from);
        let mut table = FlowTable::new(cfg);
        let mut check = Check {
            profile,
            cfg,
            cols,
            packets: 0,
            finished: 0,
            evicted: 0,
        };
        let mut now = 1_700_000_000_000_000i64;
        let mut added = 0u64;
        for op in &input.ops {
            let mut out = |f: FinishedFlow| check.flow(&f);
            match *op {
                Op::Packet(ref p) => {
                    now = advance(now, p.time);
                    table.on_packet(&meta(p, now, profile), &mut out);
                    added += 1;
                }
                Op::Sweep(t) => table.sweep(advance(now, t), &mut out),
                Op::Interim(t, every) => {
                    table.interim(advance(now, t), every.us(), &mut |s: Snapshot| {
                        check.snapshot(&s)
                    })
                }
            }
            if let Some(max) = cfg.max_flows {
                assert!(
                    table.len() <= max.max(1),
                    "{} flows open, limit {max}",
                    table.len()
                );
            }
        }
        table.drain(&mut |f: FinishedFlow| check.flow(&f));
        assert!(table.is_empty());

        let stats = table.stats();
        let discarded = stats.single_packet_discarded;
        if !profile.is_compat() {
            assert_eq!(discarded, 0);
        }
        assert_eq!(
            check.packets + discarded,
            added,
            "{profile:?}: packets in finished flows + discarded single packets != packets added"
        );
        assert_eq!(stats.finished, check.finished, "{profile:?}");
        assert_eq!(stats.started, stats.finished + discarded, "{profile:?}");
        // Compat counts the evicted single-packet flows it then discards.
        if profile.is_compat() {
            assert!(stats.evicted >= check.evicted, "{profile:?}");
        } else {
            assert_eq!(stats.evicted, check.evicted, "{profile:?}");
        }
        if cfg.max_flows.is_none() {
            assert_eq!(stats.evicted, 0, "{profile:?}");
        }
    }
});
