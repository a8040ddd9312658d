//! The `extract` command line: layouts, labels, several files, and bad input.

use crate::util::{cicdiff, data, extract, header, pcap_records, rows, run, tempdir, write_pcap};

fn small_veth() -> std::path::PathBuf {
    data().join("pcaps/small-veth.pcap")
}

#[test]
fn layouts_have_the_dataset_column_counts() {
    let dir = tempdir("layouts");
    for (profile, ml, cols) in [
        ("cic2017", false, 85),
        ("cic2018", false, 84),
        ("cic2017", true, 79),
        ("cic2018", true, 80),
        ("fixed", false, 84),
    ] {
        let out = dir.join(format!("{profile}-{ml}.csv"));
        let mut args = vec!["--profile", profile];
        if ml {
            args.push("--ml-columns");
        }
        extract(&[&small_veth()], &out, &args);
        let h = header(&out);
        assert_eq!(h.len(), cols, "{profile} ml={ml}: {h:?}");
        let r = rows(&out);
        assert!(!r.is_empty());
        assert!(
            r.iter().all(|row| row.len() == cols),
            "{profile} ml={ml}: row width"
        );
        let label = if profile == "cic2017" {
            "BENIGN"
        } else if profile == "cic2018" {
            "No Label"
        } else {
            "Benign"
        };
        assert!(r
            .iter()
            .all(|row| row.last().map(String::as_str) == Some(label)));
    }
    let h = header(&dir.join("cic2017-true.csv"));
    assert_eq!(h.first().map(String::as_str), Some(" Destination Port"));
    assert!(h.iter().any(|c| c == " Fwd Header Length.1"));
    let h = header(&dir.join("cic2018-true.csv"));
    assert_eq!(&h[..3], ["Dst Port", "Protocol", "Timestamp"]);
}

#[test]
fn compat_numbers_are_spelled_as_java_does() {
    let dir = tempdir("spelling");
    let out = dir.join("o.csv");
    extract(
        &[&data().join("pcaps/small-lo.pcap")],
        &out,
        &["--profile", "cic2018"],
    );
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    // Zero-duration flows divide by zero in the era tool.
    assert!(
        text.contains("Infinity") || text.contains("NaN") || text.contains("E"),
        "{text}"
    );
    assert!(!text.contains("inf") && !text.contains("NaN.0"));
}

#[test]
fn labels_fill_the_label_column_from_episodes() {
    let dir = tempdir("labels");
    let episodes = dir.join("labels.csv");
    // Every flow of small-veth is between 10.77.0.1 and 10.77.0.2 on 2026-11-21.
    std::fs::write(
        &episodes,
        "start_ts,end_ts,attacker_ip,victim_ip,victim_port_or_range,protocol,label,sublabel,cic2017_label,episode_id,tool\n\
         0.0,4102444800.0,10.77.0.2,10.77.0.1,any,any,dos,test,DoS Hulk,E1,test\n",
    )
    .unwrap_or_default();
    for (profile, want) in [("cic2017", "DoS Hulk"), ("cic2018", "dos")] {
        let out = dir.join(format!("{profile}.csv"));
        extract(
            &[&small_veth()],
            &out,
            &[
                "--profile",
                profile,
                "--labels",
                episodes.to_str().unwrap_or_default(),
            ],
        );
        let r = rows(&out);
        assert!(!r.is_empty());
        assert!(
            r.iter()
                .all(|row| row.last().map(String::as_str) == Some(want)),
            "{profile}"
        );
    }
    // A window that ends before the capture labels nothing.
    std::fs::write(&episodes, "start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n0,1,10.77.0.2,10.77.0.1,dos,DoS\n").unwrap_or_default();
    let out = dir.join("none.csv");
    extract(
        &[&small_veth()],
        &out,
        &["--labels", episodes.to_str().unwrap_or_default()],
    );
    assert!(rows(&out)
        .iter()
        .all(|row| row.last().map(String::as_str) == Some("No Label")));
    // An attacker range: 10.77.0.0/30 holds 10.77.0.2, 10.77.0.4/30 does not.
    for (range, want) in [("10.77.0.0/30", "dos"), ("10.77.0.4/30", "No Label")] {
        let text = format!(
            "start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n0,4102444800,{range},10.77.0.1,dos,DoS\n"
        );
        std::fs::write(&episodes, text).unwrap_or_default();
        let out = dir.join("range.csv");
        extract(
            &[&small_veth()],
            &out,
            &["--labels", episodes.to_str().unwrap_or_default()],
        );
        let ipv4 = rows(&out)
            .into_iter()
            .filter(|row| row.get(1).is_some_and(|ip| ip.starts_with("10.77.0.")))
            .collect::<Vec<_>>();
        assert!(!ipv4.is_empty());
        assert!(
            ipv4.iter()
                .all(|row| row.last().map(String::as_str) == Some(want)),
            "{range}"
        );
    }
}

#[test]
fn bad_labels_file_is_refused_with_its_name() {
    let dir = tempdir("badlabels");
    let episodes = dir.join("episodes.csv");
    std::fs::write(&episodes, "start_ts,end_ts,attacker_ip\n1,2,10.0.0.1\n").unwrap_or_default();
    let o = run(&[
        "extract",
        small_veth().to_str().unwrap_or_default(),
        "-o",
        "-",
        "--labels",
        episodes.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("episodes.csv") && err.contains("missing column"),
        "{err}"
    );
}

#[test]
fn split_capture_is_one_continuous_capture_and_per_file_restarts() {
    let dir = tempdir("split");
    let (h, recs) = pcap_records(&small_veth());
    let mid = recs.len() / 2;
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    write_pcap(&a, &h, &recs[..mid]);
    write_pcap(&b, &h, &recs[mid..]);
    let whole = dir.join("whole.csv");
    let parts = dir.join("parts.csv");
    extract(&[&small_veth()], &whole, &[]);
    extract(&[&a, &b], &parts, &[]);
    let (ok, text) = cicdiff(&parts, &whole);
    assert!(ok, "split capture differs from the whole:\n{text}");
    // --per-file: every flow open at the split ends there, so the result differs,
    // and the same file twice gives exactly twice the flows.
    let twice = dir.join("twice.csv");
    extract(&[&small_veth(), &small_veth()], &twice, &["--per-file"]);
    assert_eq!(rows(&twice).len(), 2 * rows(&whole).len());
    let per_file = dir.join("per-file.csv");
    extract(&[&a, &b], &per_file, &["--per-file"]);
    assert!(rows(&per_file).len() >= rows(&whole).len());
}

#[test]
fn truncated_capture_keeps_whole_packets_warns_with_offset_and_exits_1() {
    let dir = tempdir("truncated");
    let src = data().join("pcaps/small-lo.pcap");
    let bytes = std::fs::read(&src).unwrap_or_default();
    let (_, recs) = pcap_records(&src);
    // Cut in the middle of record 100.
    let offset: usize = 24 + recs[..99].iter().map(Vec::len).sum::<usize>();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..offset + 30]).unwrap_or_default();
    let out = dir.join("cut.csv");
    let o = run(&[
        "extract",
        cut.to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cut.pcap") && err.contains(&format!("byte offset {offset}")),
        "{err}"
    );
    assert!(err.contains("packets read       99"), "{err}");
    // The 99 whole packets became flows.
    let prefix = dir.join("prefix.pcap");
    let (h, _) = pcap_records(&src);
    write_pcap(&prefix, &h, &recs[..99]);
    let want = dir.join("prefix.csv");
    extract(&[&prefix], &want, &[]);
    let (ok, text) = cicdiff(&out, &want);
    assert!(ok, "{text}");
}

fn refused(name: &str, bytes: &[u8], expect: &str) {
    let dir = tempdir(&format!("refused-{name}"));
    let f = dir.join(name);
    std::fs::write(&f, bytes).unwrap_or_default();
    let o = run(&[
        "extract",
        f.to_str().unwrap_or_default(),
        "-o",
        dir.join("o.csv").to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{name}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{name}: one line expected: {err}");
    assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
    assert!(
        !dir.join("o.csv").exists(),
        "{name}: no output for a refused file"
    );
}

#[test]
fn not_a_capture_empty_file_and_unknown_link_type_are_refused() {
    refused(
        "notes.txt",
        b"this is not a capture file at all\n",
        "not a pcap or pcapng file",
    );
    refused("empty.pcap", b"", "empty file");
    refused(
        "c.pcap.gz",
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4],
        "gzip",
    );
    // A valid pcap header with link type 147 (USER0) and one record.
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 147, 0, 0, 0,
    ];
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]);
    refused("user0.pcap", &b, "unsupported link type 147");
}

#[test]
fn missing_file_and_bad_timeouts_are_usage_errors() {
    let o = run(&["extract", "/nonexistent/x.pcap", "-o", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.pcap"));
    let o = run(&[
        "extract",
        small_veth().to_str().unwrap_or_default(),
        "-o",
        "-",
        "--flow-timeout",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--flow-timeout"));
}

#[test]
fn every_bundled_public_capture_decodes_without_panic() {
    let dir = tempdir("public");
    let mut n = 0;
    for e in std::fs::read_dir(data().join("pcaps/public"))
        .expect("public dir")
        .flatten()
    {
        for profile in ["cic2018", "fixed"] {
            let out = dir.join("o.csv");
            let o = run(&[
                "extract",
                e.path().to_str().unwrap_or_default(),
                "-o",
                out.to_str().unwrap_or_default(),
                "--profile",
                profile,
            ]);
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(1) || code == Some(2),
                "{:?}: {code:?}",
                e.path()
            );
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("panicked"), "{:?}: {err}", e.path());
        }
        n += 1;
    }
    assert!(n >= 70);
}
