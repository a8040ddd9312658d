//! Community ID v1: the flow hash that Suricata, Zeek and most SIEMs share
//! (corelight/community-id-spec), for the `community_id` of alert and flow
//! events.
//!
//! Input: a seed, the IP protocol, the flow's source and destination, and
//! its ports (TCP, UDP, SCTP) or ICMP/ICMPv6 type and code. Output:
//! `1:<base64 of SHA-1>`, the same for both directions of a flow. The hash
//! itself is the `community-id` crate's, which passes the spec's baseline
//! vectors (the unit tests below); this module decides what goes in.

use crate::decode::Addr;

/// The seed of every event unless configured otherwise (the spec's and
/// Suricata's default).
pub const DEFAULT_SEED: u16 = 0;

/// The IP protocols whose Community ID takes ports.
const WITH_PORTS: [u8; 3] = [6, 17, 132];

/// The IP protocols whose Community ID takes an ICMP type and code.
const ICMPS: [u8; 2] = [1, 58];

/// A flow's Community ID: `ports` are (source, destination) for TCP, UDP
/// and SCTP, and (type, code) of the flow's first ICMP message for ICMP and
/// ICMPv6 (the spec maps a type with a counterpart, such as an echo
/// request, to a port pair both directions share; a one-way type, such as
/// an unreachable, keeps its code). Other protocols hash the addresses and
/// protocol only. `None` when what the spec needs is missing (no ports for
/// TCP/UDP/SCTP, no type for ICMP) or the addresses differ in family.
pub fn of(seed: u16, proto: u8, src: Addr, dst: Addr, ports: Option<(u16, u16)>) -> Option<String> {
    if src.is_v6() != dst.is_v6() {
        return None;
    }
    let (sp, dp) = match ports {
        Some((s, d)) if WITH_PORTS.contains(&proto) || ICMPS.contains(&proto) => (Some(s), Some(d)),
        None if WITH_PORTS.contains(&proto) || ICMPS.contains(&proto) => return None,
        _ => (None, None),
    };
    // ICMPv6 over IPv4 and ICMP over IPv6 are refused by the crate.
    community_id::calculate_community_id(seed, src.to_ip(), dst.to_ip(), sp, dp, proto, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn addr(s: &str) -> Addr {
        match s.parse::<IpAddr>().expect("address") {
            IpAddr::V4(a) => Addr::v4(a.octets()),
            IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }

    /// The spec's baseline tables (baseline/README.md: default settings and
    /// seed 1), addresses as written there: seed, protocol, source,
    /// destination, source port or ICMP type, destination port or ICMP code
    /// (`-`: none), Community ID.
    const TABLES: &str = "
0 6 1.2.3.4 5.6.7.8 1122 3344 1:wCb3OG7yAFWelaUydu0D+125CLM=
0 6 5.6.7.8 1.2.3.4 3344 1122 1:wCb3OG7yAFWelaUydu0D+125CLM=
0 17 1.2.3.4 5.6.7.8 1122 3344 1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=
0 17 5.6.7.8 1.2.3.4 3344 1122 1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=
0 132 1.2.3.4 5.6.7.8 1122 3344 1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=
0 132 5.6.7.8 1.2.3.4 3344 1122 1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=
0 1 1.2.3.4 5.6.7.8 8 0 1:crodRHL2FEsHjbv3UkRrfbs4bZ0=
0 1 5.6.7.8 1.2.3.4 0 0 1:crodRHL2FEsHjbv3UkRrfbs4bZ0=
0 1 1.2.3.4 5.6.7.8 11 0 1:f/YiSyWqczrTgfUCZlBUnvHRcPk=
0 58 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D 128 0 1:0bf7hyMJUwt3fMED7z8LIfRpBeo=
0 58 fe80:1011:1213:1415:1617:1819:1A1B:1C1D fe80:0001:0203:0405:0607:0809:0A0B:0C0D 129 0 1:0bf7hyMJUwt3fMED7z8LIfRpBeo=
0 58 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D 146 0 1:fYC8+pz24E+EhANP1EZhpX0Dw10=
0 46 1.2.3.4 5.6.7.8 - - 1:ikv3kmf89luf73WPz1jOs49S768=
0 46 5.6.7.8 1.2.3.4 - - 1:ikv3kmf89luf73WPz1jOs49S768=
0 46 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D - - 1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=
0 46 fe80:1011:1213:1415:1617:1819:1A1B:1C1D fe80:0001:0203:0405:0607:0809:0A0B:0C0D - - 1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=
1 6 1.2.3.4 5.6.7.8 1122 3344 1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=
1 6 5.6.7.8 1.2.3.4 3344 1122 1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=
1 17 1.2.3.4 5.6.7.8 1122 3344 1:OShq+iKDAMVouh/4bMxB9Sz4amw=
1 17 5.6.7.8 1.2.3.4 3344 1122 1:OShq+iKDAMVouh/4bMxB9Sz4amw=
1 132 1.2.3.4 5.6.7.8 1122 3344 1:uitchpn5MMGAQKBJh7bIr/bAr7s=
1 132 5.6.7.8 1.2.3.4 3344 1122 1:uitchpn5MMGAQKBJh7bIr/bAr7s=
1 1 1.2.3.4 5.6.7.8 8 0 1:9pr4ZGTICiuZoIh90RRYE2RyXpU=
1 1 5.6.7.8 1.2.3.4 0 0 1:9pr4ZGTICiuZoIh90RRYE2RyXpU=
1 1 1.2.3.4 5.6.7.8 11 0 1:1DD7cWGC/Yg91YGsQeni8du3pIA=
1 58 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D 128 0 1:IO27GQzPuCtNnwFvjWALMHu5tJE=
1 58 fe80:1011:1213:1415:1617:1819:1A1B:1C1D fe80:0001:0203:0405:0607:0809:0A0B:0C0D 129 0 1:IO27GQzPuCtNnwFvjWALMHu5tJE=
1 58 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D 146 0 1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=
1 46 1.2.3.4 5.6.7.8 - - 1:/buhqeOmaRCopOZFy9HnoJd5XW8=
1 46 5.6.7.8 1.2.3.4 - - 1:/buhqeOmaRCopOZFy9HnoJd5XW8=
1 46 fe80:0001:0203:0405:0607:0809:0A0B:0C0D fe80:1011:1213:1415:1617:1819:1A1B:1C1D - - 1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=
1 46 fe80:1011:1213:1415:1617:1819:1A1B:1C1D fe80:0001:0203:0405:0607:0809:0A0B:0C0D - - 1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=
";

    /// The spec's baseline JSON from its combined capture
    /// (baseline_deflt.json, baseline_seed1.json): protocol, source,
    /// destination, ports (for ICMP: the type, then the code of a one-way
    /// type, which a type with a counterpart ignores), the ID with seed 0 and
    /// with seed 1.
    const CAPTURE: &str = "
58 fe80::200:86ff:fe05:80da fe80::260:97ff:fe07:69ea 135 136 1:dGHyGvjMfljg6Bppwm3bg0LO8TY= 1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=
58 fe80::260:97ff:fe07:69ea fe80::200:86ff:fe05:80da 136 135 1:dGHyGvjMfljg6Bppwm3bg0LO8TY= 1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=
58 fe80::260:97ff:fe07:69ea fe80::200:86ff:fe05:80da 135 136 1:zavyT/cezQr1fmImYCwYnMXbgck= 1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=
58 fe80::200:86ff:fe05:80da fe80::260:97ff:fe07:69ea 136 135 1:zavyT/cezQr1fmImYCwYnMXbgck= 1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=
58 3ffe:501:1800:2345::2 3ffe:507:0:1:200:86ff:fe05:80da 3 0 1:2ObVBgIn28oZvibYZhZMBgh7WdQ= 1:lVEtCZpYu84Xqaa++3lXFyuu2n4=
58 3ffe:501:410:0:2c0:dfff:fe47:33e 3ffe:507:0:1:200:86ff:fe05:80da 1 4 1:hLZd0XGWojozrvxqE0dWB1iM6R0= 1:W8MHwXpWzpoSTD+cGcaJr4u0ys8=
58 3ffe:507:0:1:200:86ff:fe05:80da 3ffe:501:0:1001::2 128 129 1:+TW+HtLHvV1xnGhV1lv7XoJrqQg= 1:GfZxjAkDk2MkegpBYHV6tadtFXQ=
58 3ffe:501:0:1001::2 3ffe:507:0:1:200:86ff:fe05:80da 129 128 1:+TW+HtLHvV1xnGhV1lv7XoJrqQg= 1:GfZxjAkDk2MkegpBYHV6tadtFXQ=
58 fe80::200:86ff:fe05:80da ff02::2 133 134 1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0= 1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=
58 fe80::260:97ff:fe07:69ea ff02::1 134 133 1:pkvHqCL88/tg1k4cPigmZXUtL00= 1:K/ee5UCqAMAQXDorP5nSa2CGLjc=
1 192.168.0.89 192.168.0.1 8 0 1:X0snYXpgwiv9TZtqg64sgzUn6Dk= 1:03g6IloqVBdcZlPyX8r0hgoE7kA=
1 192.168.0.1 192.168.0.89 0 8 1:X0snYXpgwiv9TZtqg64sgzUn6Dk= 1:03g6IloqVBdcZlPyX8r0hgoE7kA=
1 10.0.0.1 10.0.0.2 11 0 1:YHxtAirCG//0OzkcVAukqKQN9xM= 1:XjUibYHaafLQ3pxQeiMI8g25q20=
6 2001:470:e5bf:dead:4957:2174:e82c:4887 2607:f8b0:400c:c03::1a 63943 25 1:/qFaeAR+gFe1KYjMzVDsMv+wgU4= 1:eJYTW6AOzFLlSUoESovMjnu7rMw=
6 2607:f8b0:400c:c03::1a 2001:470:e5bf:dead:4957:2174:e82c:4887 25 63943 1:/qFaeAR+gFe1KYjMzVDsMv+wgU4= 1:eJYTW6AOzFLlSUoESovMjnu7rMw=
132 192.168.170.8 192.168.170.56 7 7 1:MP2EtRCAUIZvTw6MxJHLV7N7JDs= 1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=
132 192.168.170.56 192.168.170.8 7 7 1:MP2EtRCAUIZvTw6MxJHLV7N7JDs= 1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=
6 128.232.110.120 66.35.250.204 34855 80 1:LQU9qZlK+B5F3KDmev6m5PMibrg= 1:3V71V58M3Ksw/yuFALMcW0LAHvc=
6 66.35.250.204 128.232.110.120 80 34855 1:LQU9qZlK+B5F3KDmev6m5PMibrg= 1:3V71V58M3Ksw/yuFALMcW0LAHvc=
17 192.168.1.52 8.8.8.8 54585 53 1:d/FP5EW3wiY1vCndhwleRRKHowQ= 1:Q9We8WO3piVF8yEQBNJF4uiSVrI=
17 8.8.8.8 192.168.1.52 53 54585 1:d/FP5EW3wiY1vCndhwleRRKHowQ= 1:Q9We8WO3piVF8yEQBNJF4uiSVrI=
46 10.1.12.1 10.1.12.2 - - 1:KHlLkgoJW7ifUTyTSgyVfkFHzKw= 1:rYir8gphR31noO9iDRQmF/BteEI=
46 10.1.12.2 10.1.12.1 - - 1:KHlLkgoJW7ifUTyTSgyVfkFHzKw= 1:rYir8gphR31noO9iDRQmF/BteEI=
";

    fn ports(a: &str, b: &str) -> Option<(u16, u16)> {
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    fn check(seed: u16, proto: &str, src: &str, dst: &str, p: Option<(u16, u16)>, want: &str) {
        let proto: u8 = proto.parse().expect("protocol");
        let got = of(seed, proto, addr(src), addr(dst), p);
        assert_eq!(
            got.as_deref(),
            Some(want),
            "seed {seed} proto {proto} {src} -> {dst} {p:?}"
        );
    }

    #[test]
    fn spec_baseline_tables() {
        let mut n = 0;
        for line in TABLES.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [seed, proto, src, dst, sp, dp, want] = f[..] else {
                panic!("bad vector {line}");
            };
            check(
                seed.parse().expect("seed"),
                proto,
                src,
                dst,
                ports(sp, dp),
                want,
            );
            n += 1;
        }
        assert_eq!(n, 32);
    }

    #[test]
    fn spec_baseline_capture() {
        let mut n = 0;
        for line in CAPTURE.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [proto, src, dst, sp, dp, seed0, seed1] = f[..] else {
                panic!("bad vector {line}");
            };
            check(0, proto, src, dst, ports(sp, dp), seed0);
            check(1, proto, src, dst, ports(sp, dp), seed1);
            n += 1;
        }
        assert_eq!(n, 23);
    }

    #[test]
    fn what_is_missing_gives_none() {
        let (a, b) = (addr("1.2.3.4"), addr("5.6.7.8"));
        assert_eq!(of(0, 6, a, b, None), None);
        assert_eq!(of(0, 1, a, b, None), None);
        assert_eq!(of(0, 6, a, addr("::1"), Some((1, 2))), None);
        assert_eq!(of(0, 58, a, b, Some((128, 0))), None);
        // A protocol without ports ignores any given.
        assert_eq!(of(0, 46, a, b, Some((1, 2))), of(0, 46, a, b, None));
    }
}
