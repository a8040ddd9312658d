//! Every identity of KDD.md as a property of `extract --profile kdd`'s
//! output: on the bundled captures always, and on lab seeds 1–3 when the
//! shared data folder is present (skipped with a message otherwise).

use crate::util::{data, extract, shared_data, tempdir};
use flowsentinel::kdd::{self, KddCol, PROTOCOLS, SERVICES};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

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
    let _ = std::fs::remove_dir_all(&dir);
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
        let ok = Command::new("zstd")
            .args(["-dqf", "-o"])
            .arg(&pcap)
            .arg(&zst)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "zstd failed on {}", zst.display());
        check_capture(&pcap, &format!("seed{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
