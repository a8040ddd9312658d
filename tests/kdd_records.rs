//! KDD connection records on crafted captures, through `extract --profile
//! kdd`: a worked example for every `flag`, ICMP one record per message,
//! UDP request and answer, fragments with overlap (teardrop) and oversize
//! (ping of death), `land`, `urgent`, `logged_in`, and windows at their caps.

use crate::util::{extract, tempdir};
use std::collections::BTreeMap;
use std::path::Path;

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const URG: u8 = 0x20;

/// An Ethernet frame carrying an IPv4 datagram; `frag` is the IPv4 flags
/// and fragment offset word.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + body.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(body);
    f
}

fn tcp(sport: u16, dport: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0x20, 0, 0, 0, 0, 0]);
    t.extend_from_slice(data);
    t
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    u
}

fn icmp(t: u8, code: u8, data: &[u8]) -> Vec<u8> {
    let mut i = vec![t, code, 0, 0, 0, 1, 0, 1];
    i.extend_from_slice(data);
    i
}

/// A TCP frame from `src` to `dst`.
fn seg(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    ipv4(src, dst, 6, 1, 0, &tcp(sp, dp, flags, data))
}

/// Writes a classic Ethernet pcap of (time in s, frame).
fn pcap(path: &Path, frames: &[(f64, Vec<u8>)]) {
    let mut b: Vec<u8> = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (t, f) in frames {
        let us = (t * 1e6).round() as u64 + 1_700_000_000_000_000;
        b.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).expect("write pcap");
}

/// Extracts `frames` with the kdd profile; every row by column name.
fn records(tag: &str, frames: &[(f64, Vec<u8>)]) -> Vec<BTreeMap<String, String>> {
    let dir = tempdir(&format!("kdd-records-{tag}"));
    let p = dir.join("in.pcap");
    pcap(&p, frames);
    let out = dir.join("out.csv");
    extract(&[&p], &out, &["--profile", "kdd", "--context"]);
    let text = std::fs::read_to_string(&out).expect("read CSV");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect();
    rows
}

/// The rows whose `dst_port` is `port`.
fn by_port(rows: &[BTreeMap<String, String>], port: u16) -> Vec<&BTreeMap<String, String>> {
    rows.iter()
        .filter(|r| r["dst_port"] == port.to_string())
        .collect()
}

#[test]
fn every_flag_from_packets() {
    let mut f = Vec::new();
    let mut t = 0.0;
    let mut at = |frame: Vec<u8>| {
        t += 0.01;
        (t, frame)
    };
    // SF on port 21: handshake, data both ways, FINs both ways, last ACK.
    for (src, dst, sp, dp, fl, d) in [
        (C, S, 40021, 21, SYN, &b""[..]),
        (S, C, 21, 40021, SYN | ACK, b""),
        (C, S, 40021, 21, ACK, b""),
        (S, C, 21, 40021, PSH | ACK, b"230 Login successful.\r\n"),
        (C, S, 40021, 21, PSH | ACK | URG, b"QUIT\r\n"),
        (C, S, 40021, 21, FIN | ACK, b""),
        (S, C, 21, 40021, FIN | ACK, b""),
        (C, S, 40021, 21, ACK, b""),
    ] {
        f.push(at(seg(src, dst, sp, dp, fl, d)));
    }
    // S0 against a closed port whose RSTs were not captured (a SYN flood).
    f.push(at(seg(C, S, 40001, 1001, SYN, b"")));
    // REJ: a SYN to a closed port answered by RST-ACK.
    f.push(at(seg(C, S, 40002, 1002, SYN, b"")));
    f.push(at(seg(S, C, 1002, 40002, RST | ACK, b"")));
    // RSTOS0: a SYN, then the originator's own RST, no answer.
    f.push(at(seg(C, S, 40003, 1003, SYN, b"")));
    f.push(at(seg(C, S, 40003, 1003, RST, b"")));
    // SH: a SYN, then a FIN, no answer.
    f.push(at(seg(C, S, 40004, 1004, SYN, b"")));
    f.push(at(seg(C, S, 40004, 1004, FIN, b"")));
    // S1: established with data, never closed.
    f.push(at(seg(C, S, 40005, 80, SYN, b"")));
    f.push(at(seg(S, C, 80, 40005, SYN | ACK, b"")));
    f.push(at(seg(C, S, 40005, 80, ACK, b"GET / HTTP/1.1\r\n\r\n")));
    f.push(at(seg(S, C, 80, 40005, ACK, b"HTTP/1.1 200 OK\r\n\r\n")));
    // S2 and S3: established, closed by one side only.
    for (sp, dp, closer_is_client) in [(40006, 1006, true), (40007, 1007, false)] {
        f.push(at(seg(C, S, sp, dp, SYN, b"")));
        f.push(at(seg(S, C, dp, sp, SYN | ACK, b"")));
        f.push(at(seg(C, S, sp, dp, ACK, b"x")));
        if closer_is_client {
            f.push(at(seg(C, S, sp, dp, FIN | ACK, b"")));
        } else {
            f.push(at(seg(S, C, dp, sp, FIN | ACK, b"")));
        }
    }
    // RSTO and RSTR: established with data, then a reset.
    for (sp, dp, client_resets) in [(40008, 1008, true), (40009, 1009, false)] {
        f.push(at(seg(C, S, sp, dp, SYN, b"")));
        f.push(at(seg(S, C, dp, sp, SYN | ACK, b"")));
        f.push(at(seg(C, S, sp, dp, ACK, b"data")));
        if client_resets {
            f.push(at(seg(C, S, sp, dp, RST, b"")));
        } else {
            f.push(at(seg(S, C, dp, sp, RST, b"")));
        }
    }
    // OTH: mid-stream, no handshake seen.
    f.push(at(seg(C, S, 40010, 1010, ACK, b"late")));
    // land: same address and port both ends.
    f.push(at(seg(C, C, 139, 139, SYN, b"")));
    let rows = records("flags", &f);
    let flag = |port: u16| by_port(&rows, port)[0]["flag"].clone();
    let expect = [
        (21, "SF"),
        (1001, "S0"),
        (1002, "REJ"),
        (1003, "RSTOS0"),
        (1004, "SH"),
        (80, "S1"),
        (1006, "S2"),
        (1007, "S3"),
        (1008, "RSTO"),
        (1009, "RSTR"),
        (1010, "OTH"),
    ];
    for (port, want) in expect {
        assert_eq!(flag(port), want, "port {port}");
    }
    let ftp = by_port(&rows, 21)[0];
    assert_eq!(ftp["service"], "ftp");
    assert_eq!(ftp["logged_in"], "1", "FTP 230 from the server");
    assert_eq!(ftp["urgent"], "1");
    assert_eq!(
        (ftp["src_bytes"].as_str(), ftp["dst_bytes"].as_str()),
        ("6", "23")
    );
    let http = by_port(&rows, 80)[0];
    assert_eq!(
        (http["service"].as_str(), http["logged_in"].as_str()),
        ("http", "1")
    );
    let oth = by_port(&rows, 1010)[0];
    assert_eq!(oth["src_bytes"], "0", "OTH rows are 0/0");
    let land = by_port(&rows, 139)[0];
    assert_eq!(
        (land["land"].as_str(), land["service"].as_str()),
        ("1", "netbios_ssn")
    );
    assert_eq!(by_port(&rows, 1002)[0]["service"], "private");
}

#[test]
fn icmp_is_one_record_per_message_and_udp_a_request_with_its_answer() {
    let mut f = Vec::new();
    for k in 0..3 {
        let t = f64::from(k) * 0.1;
        f.push((t, ipv4(C, S, 1, 10 + k as u16, 0, &icmp(8, 0, &[0; 56]))));
        f.push((
            t + 0.01,
            ipv4(S, C, 1, 20 + k as u16, 0, &icmp(0, 0, &[0; 56])),
        ));
    }
    // A port unreachable quoting a UDP probe, and a timestamp request.
    f.push((0.5, ipv4(S, C, 1, 30, 0, &icmp(3, 3, &[0; 28]))));
    f.push((0.6, ipv4(C, S, 1, 31, 0, &icmp(13, 0, &[0; 12]))));
    // DNS: query, answer, query, answer on one 5-tuple: two records.
    f.push((1.0, ipv4(C, S, 17, 40, 0, &udp(5353, 53, &[1; 30]))));
    f.push((1.01, ipv4(S, C, 17, 41, 0, &udp(53, 5353, &[2; 90]))));
    f.push((1.2, ipv4(C, S, 17, 42, 0, &udp(5353, 53, &[3; 31]))));
    f.push((1.21, ipv4(S, C, 17, 43, 0, &udp(53, 5353, &[4; 91]))));
    // SNMP, one way: private, no answer.
    f.push((1.5, ipv4(C, S, 17, 44, 0, &udp(40000, 161, &[5; 40]))));
    let rows = records("icmp-udp", &f);
    let icmp: Vec<_> = rows
        .iter()
        .filter(|r| r["protocol_type"] == "icmp")
        .collect();
    let services: Vec<&str> = icmp.iter().map(|r| r["service"].as_str()).collect();
    assert_eq!(
        services,
        ["eco_i", "ecr_i", "eco_i", "ecr_i", "eco_i", "ecr_i", "urp_i", "other"]
    );
    for r in &icmp {
        assert_eq!(
            (r["duration"].as_str(), r["dst_bytes"].as_str()),
            ("0", "0")
        );
        assert_eq!(r["flag"], "SF");
    }
    assert_eq!(icmp[0]["src_bytes"], "64", "the 8-byte header counts");
    let dns = by_port(&rows, 53);
    let sizes: Vec<(&str, &str)> = dns
        .iter()
        .map(|r| (r["src_bytes"].as_str(), r["dst_bytes"].as_str()))
        .collect();
    assert_eq!(sizes, [("30", "90"), ("31", "91")]);
    assert!(dns.iter().all(|r| r["service"] == "domain_u"));
    let snmp = by_port(&rows, 161);
    assert_eq!(snmp.len(), 1);
    assert_eq!(
        (snmp[0]["service"].as_str(), snmp[0]["dst_bytes"].as_str()),
        ("private", "0")
    );
}

#[test]
fn fragments_with_overlap_and_oversize() {
    const MF: u16 = 0x2000;
    // Teardrop: a UDP datagram whose second fragment overlaps the first.
    let whole = udp(7000, 7001, &[9; 28]); // 36 bytes
    let first = ipv4(C, S, 17, 77, MF, &whole);
    let second = ipv4(C, S, 17, 77, 3, &[9; 12]); // bytes 24..36 again
                                                  // Ping of death: an echo request whose last fragment ends past 65,535.
    let head = ipv4(C, S, 1, 88, MF, &icmp(8, 0, &[0; 1472]));
    let middle = ipv4(C, S, 1, 88, MF | 185, &[0; 1480]);
    let tail = ipv4(C, S, 1, 88, 8189, &[0; 100]);
    // An ordinary fragmented datagram: no anomaly.
    let ok1 = ipv4(C, S, 17, 99, MF, &udp(7100, 7101, &[1; 16]));
    let ok2 = ipv4(C, S, 17, 99, 3, &[1; 8]);
    let f = vec![
        (0.0, first),
        (0.01, second),
        (0.1, head),
        (0.11, middle),
        (0.12, tail),
        (0.2, ok1),
        (0.21, ok2),
    ];
    let rows = records("fragments", &f);
    let teardrop = by_port(&rows, 7001);
    assert_eq!(teardrop.len(), 1, "the later fragment joins its datagram");
    assert_eq!(teardrop[0]["wrong_fragment"], "3");
    let pod: Vec<_> = rows
        .iter()
        .filter(|r| r["protocol_type"] == "icmp")
        .collect();
    assert_eq!(pod.len(), 1, "one ICMP message, three fragments");
    assert_eq!(pod[0]["service"], "eco_i");
    assert_eq!(pod[0]["wrong_fragment"], "1");
    let fine = by_port(&rows, 7101);
    assert_eq!(fine.len(), 1);
    assert_eq!(fine[0]["wrong_fragment"], "0");
}

#[test]
fn windows_reach_their_caps_and_expire() {
    let mut f = Vec::new();
    // 600 unanswered SYNs to one service of one host within 0.6 s.
    for k in 0..600u16 {
        f.push((f64::from(k) * 0.001, seg(C, S, 10_000 + k, 80, SYN, b"")));
    }
    // One more, 3 s after the last: the time window has emptied.
    f.push((3.7, seg(C, S, 20_000, 80, SYN, b"")));
    let rows = records("caps", &f);
    assert_eq!(rows.len(), 601);
    let at = |i: usize| &rows[i];
    let first = at(0);
    assert_eq!(
        (first["count"].as_str(), first["same_srv_rate"].as_str()),
        ("1", "1.00")
    );
    let full = at(599);
    assert_eq!(full["count"], "511");
    assert_eq!(full["srv_count"], "511");
    assert_eq!(full["dst_host_count"], "255");
    assert_eq!(full["dst_host_srv_count"], "255");
    assert_eq!(full["serror_rate"], "1.00");
    assert_eq!(full["src_count"], "511");
    assert_eq!(full["src_diff_port_count"], "1");
    assert_eq!(full["src_host_count"], "255");
    let below = at(299);
    assert_eq!(below["count"], "300");
    assert_eq!(below["dst_host_count"], "255");
    assert_eq!(below["dst_host_same_src_port_rate"], "0.00");
    let late = at(600);
    assert_eq!(late["count"], "1", "the 2 s window is empty again");
    assert_eq!(late["dst_host_count"], "255", "the host window is by count");
}
