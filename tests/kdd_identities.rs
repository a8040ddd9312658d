//! Every identity of KDD.md as a property of `extract --profile kdd`'s
//! output: on the bundled captures always, and on lab seeds 1–3 when the
//! shared data folder is present (skipped with a message otherwise).

use crate::util::{data, extract, shared_data, tempdir, unzstd};
use flowsentinel::kdd::{self, KddCol, PROTOCOLS, SERVICES};
use std::collections::BTreeMap;
use std::path::Path;

/// One row of the KDD CSV, by column name.
struct Row<'a> {
    f: Vec<&'a str>,
}

impl Row<'_> {
    fn s(&self, c: KddCol) -> &str {
        self.f.get(c as usize).copied().unwrap_or("")
    }

    fn x(&self, c: KddCol) -> f64 {
        self.s(c)
            .parse()
            .unwrap_or_else(|_| panic!("{} is not a number: {:?}", c.name(), self.s(c)))
    }
}

/// Checks every row of a KDD CSV; returns the broken identities with how
/// many rows break each, and the number of rows.
pub fn check_identities(csv: &str) -> (BTreeMap<String, usize>, usize) {
    use KddCol::*;
    let mut broken: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    let names: Vec<&str> = KddCol::nsl().map(KddCol::name).collect();
    assert!(header.starts_with(&names.join(",")), "header: {header}");
    let flags: Vec<&str> = kdd::Flag::ALL.iter().map(|f| f.name()).collect();
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let r = Row {
            f: line.split(',').collect(),
        };
        let mut fail = |what: &str, ok: bool| {
            if !ok {
                *broken.entry(what.to_string()).or_default() += 1;
            }
        };
        let proto = r.s(ProtocolType);
        let flag = r.s(Flag);
        fail("protocol_type in vocabulary", PROTOCOLS.contains(&proto));
        fail("service in vocabulary", SERVICES.contains(&r.s(Service)));
        fail("flag in vocabulary", flags.contains(&flag));
        fail("UDP and ICMP are SF", proto == "tcp" || flag == "SF");
        if proto == "icmp" {
            fail("ICMP duration 0", r.x(Duration) == 0.0);
            fail("ICMP dst_bytes 0", r.x(DstBytes) == 0.0);
            fail("ICMP src_bytes >= 8", r.x(SrcBytes) >= 8.0);
        }
        if matches!(flag, "S0" | "REJ" | "SH" | "OTH") {
            fail(
                "S0/REJ/SH/OTH bytes 0/0",
                r.x(SrcBytes) == 0.0 && r.x(DstBytes) == 0.0,
            );
        }
        let wf = r.x(WrongFragment);
        fail("wrong_fragment in {0,1,3}", [0.0, 1.0, 3.0].contains(&wf));
        fail("wrong_fragment 0 on TCP", proto != "tcp" || wf == 0.0);
        for c in [Land, LoggedIn, IsHostLogin, IsGuestLogin] {
            fail("0/1 columns", [0.0, 1.0].contains(&r.x(c)));
        }
        fail(
            "logged_in 0 off TCP",
            proto == "tcp" || r.x(LoggedIn) == 0.0,
        );
        fail("num_outbound_cmds 0", r.x(NumOutboundCmds) == 0.0);
        fail("duration whole seconds", r.x(Duration).fract() == 0.0);
        let count = r.x(Count);
        let srv = r.x(SrvCount);
        let host = r.x(DstHostCount);
        let host_srv = r.x(DstHostSrvCount);
        fail("count in 1..=511", (1.0..=511.0).contains(&count));
        fail("srv_count in 1..=511", (1.0..=511.0).contains(&srv));
        fail("dst_host_count in 1..=255", (1.0..=255.0).contains(&host));
        fail(
            "dst_host_srv_count in 1..=255",
            (1.0..=255.0).contains(&host_srv),
        );
        if count == 1.0 {
            fail("count 1 -> same_srv_rate 1.00", r.s(SameSrvRate) == "1.00");
            fail("count 1 -> diff_srv_rate 0.00", r.s(DiffSrvRate) == "0.00");
        }
        // Each rate is k / its denominator for a whole k (rounded to 0.01),
        // where the denominator is small enough for the test to tell.
        let table = [
            (
                count,
                &[SerrorRate, RerrorRate, SameSrvRate, DiffSrvRate][..],
            ),
            (srv, &[SrvSerrorRate, SrvRerrorRate, SrvDiffHostRate][..]),
            (
                host,
                &[
                    DstHostSameSrvRate,
                    DstHostDiffSrvRate,
                    DstHostSameSrcPortRate,
                    DstHostSerrorRate,
                    DstHostRerrorRate,
                ][..],
            ),
            (
                host_srv,
                &[
                    DstHostSrvDiffHostRate,
                    DstHostSrvSerrorRate,
                    DstHostSrvRerrorRate,
                ][..],
            ),
        ];
        for (den, rates) in table {
            for &c in rates {
                let v = r.s(c);
                fail(
                    "rates have two decimals",
                    v.len() == 4 && v.as_bytes().get(1) == Some(&b'.'),
                );
                let x = r.x(c);
                fail("rates in [0, 1]", (0.0..=1.0).contains(&x));
                if den <= 50.0 {
                    let k = (0..=den as u32)
                        .find(|&k| ((f64::from(k) / den * 100.0).round() / 100.0 - x).abs() < 1e-9);
                    fail("rate = k / its denominator", k.is_some());
                    if matches!(
                        c,
                        DiffSrvRate | SrvDiffHostRate | DstHostDiffSrvRate | DstHostSrvDiffHostRate
                    ) {
                        fail("distinct numerators are 0 or >= 2", k != Some(1));
                    }
                }
            }
        }
        // Where rounding cannot hide a second service.
        if count <= 50.0 {
            let same = r.x(SameSrvRate);
            let diff = r.x(DiffSrvRate);
            fail("one service -> diff_srv_rate 0", same < 1.0 || diff == 0.0);
            fail(
                "two services -> diff_srv_rate > 0",
                same == 1.0 || diff > 0.0,
            );
        }
        fail(
            "serror + rerror <= 1",
            r.x(SerrorRate) + r.x(RerrorRate) <= 1.0 + 1e-9,
        );
    }
    (broken, rows)
}

/// Extracts `pcap` with the kdd profile and checks it.
fn check_capture(pcap: &Path, tag: &str) -> usize {
    let dir = tempdir(&format!("kdd-identities-{tag}"));
    let out = dir.join("kdd.csv");
    extract(&[pcap], &out, &["--profile", "kdd"]);
    let text = std::fs::read_to_string(&out).expect("read CSV");
    let (broken, rows) = check_identities(&text);
    assert!(rows > 0, "{tag}: no rows");
    assert!(broken.is_empty(), "{tag}: {rows} rows, broken: {broken:#?}");
    eprintln!("{tag}: {rows} connections, every identity holds");
    rows
}

#[test]
fn bundled_captures_obey_every_identity() {
    let d = data();
    for name in ["demo.pcap", "pcaps/small-lo.pcap", "pcaps/small-veth.pcap"] {
        check_capture(&d.join(name), &name.replace('/', "-"));
    }
}

#[test]
fn lab_seeds_obey_every_identity() {
    let Some(shared) = shared_data() else {
        eprintln!("skipped: the shared data folder is absent");
        return;
    };
    for seed in 1..=3 {
        let zst = shared.join(format!("lab/seed{seed}/capture.pcap.zst"));
        if !zst.exists() {
            eprintln!("skipped seed {seed}: {} absent", zst.display());
            continue;
        }
        let dir = tempdir(&format!("kdd-seed{seed}"));
        let pcap = dir.join("capture.pcap");
        assert!(unzstd(&zst, &pcap), "zstd failed on {}", zst.display());
        check_capture(&pcap, &format!("seed{seed}"));
    }
}

/// Random connections (random TCP, UDP and ICMP packet sequences between a
/// few hosts and services, at random gaps) through the library's own
/// stages: every row they make keeps every identity.
mod random {
    use super::check_identities;
    use flowsentinel::decode::{Addr, PacketMeta, TcpFlags};
    use flowsentinel::kdd::{Conn, ConnId, KddCol, KddRow, Windows};
    use proptest::prelude::*;

    /// One connection: protocol, hosts, ports, ICMP type, packets
    /// (direction, TCP flags, payload) and the gap before it (ms).
    type Spec = (u8, u8, u8, u16, u8, Vec<(bool, u8, u16)>, u32);

    fn spec() -> impl Strategy<Value = Spec> {
        let packet = (
            any::<bool>(),
            any::<u8>(),
            prop_oneof![Just(0u16), 1u16..1500],
        );
        (
            0u8..3,
            0u8..4,
            0u8..4,
            prop_oneof![Just(80u16), Just(21), Just(53), Just(161), 1u16..65535],
            prop_oneof![Just(0u8), Just(8), Just(3), Just(11), any::<u8>()],
            proptest::collection::vec(packet, 1..12),
            0u32..1500,
        )
    }

    fn rows(specs: &[Spec]) -> String {
        let mut csv: String = KddCol::nsl()
            .map(KddCol::name)
            .collect::<Vec<_>>()
            .join(",");
        csv.push('\n');
        let mut windows = Windows::new();
        let mut t_us = 0i64;
        for (i, (proto, src, dst, port, icmp, packets, gap)) in specs.iter().enumerate() {
            t_us += i64::from(*gap) * 1000;
            let proto = [6u8, 17, 1][usize::from(*proto)];
            let (src, dst) = (Addr::v4([10, 0, 0, *src]), Addr::v4([10, 0, 1, *dst]));
            let sport = 40_000 + i as u16;
            let dport = if proto == 1 { 0 } else { *port };
            let mut conn = Conn::default();
            let packets = if proto == 1 {
                &packets[..1]
            } else {
                &packets[..]
            };
            for (k, &(forward, flags, len)) in packets.iter().enumerate() {
                let forward = forward || k == 0;
                let p = PacketMeta {
                    ts_us: t_us,
                    proto,
                    flags: TcpFlags(if proto == 6 { flags } else { 0 }),
                    payload_len: u32::from(len) + if proto == 1 { 8 } else { 0 },
                    icmp: (proto == 1).then_some((*icmp, 3)),
                    ..PacketMeta::default()
                };
                conn.add(&p, forward);
            }
            let id = ConnId::new(&conn, proto, (src, sport), (dst, dport), t_us, t_us)
                .expect("TCP, UDP and ICMP have records");
            let mut row = KddRow::default();
            conn.fill(&id, &mut row);
            windows.push(&id, &mut row);
            let cells: Vec<String> = KddCol::nsl()
                .map(|c| {
                    let mut s = String::new();
                    row.push_value(c, &mut s);
                    s
                })
                .collect();
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
        csv
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_connections_keep_every_identity(specs in proptest::collection::vec(spec(), 1..400)) {
            let (broken, n) = check_identities(&rows(&specs));
            prop_assert_eq!(n, specs.len());
            prop_assert!(broken.is_empty(), "broken: {:?}", broken);
        }
    }
}
