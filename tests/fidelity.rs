//! Fidelity: `cic2018` and `cic2017` output equals the dataset-era Java
//! CICFlowMeter's on every flow and every cell (checked with cicdiff).

use crate::util::{
    capture_for, cicdiff, cicdiff_with, data, extract, rows, shared_data, tempdir, unzstd,
};

fn references(profile: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data().join("reference/era"))
        .expect("reference dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(&format!(".{profile}.csv")))
        .collect();
    v.sort();
    v
}

fn check_profile(profile: &str, extra: &[&str]) {
    let dir = tempdir(&format!("fidelity-{profile}"));
    let refs = references(profile);
    assert!(
        refs.len() >= 40,
        "expected the bundled references, found {}",
        refs.len()
    );
    let mut failures = Vec::new();
    for r in &refs {
        let name = r
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .trim_end_matches(&format!(".{profile}.csv"))
            .to_string();
        let pcap = capture_for(&name).unwrap_or_else(|| panic!("no capture for reference {name}"));
        let out = dir.join(format!("{name}.csv"));
        let mut args = vec!["--profile", profile];
        args.extend_from_slice(extra);
        extract(&[&pcap], &out, &args);
        if rows(r).is_empty() {
            // cicdiff refuses an empty reference; the era tool wrote no flow, so neither may we.
            if !rows(&out).is_empty() {
                failures.push(format!(
                    "{name}: reference has no flows, ours has {}",
                    rows(&out).len()
                ));
            }
            continue;
        }
        let (ok, text) = cicdiff(&out, r);
        if !ok {
            failures.push(format!("{name}:\n{text}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cic2018_equals_era_reference_on_every_bundled_capture() {
    check_profile("cic2018", &[]);
}

#[test]
fn cic2017_equals_era_reference_on_every_bundled_capture() {
    // The era references were written by jnetpcap 1.4, which trims Ethernet padding.
    check_profile("cic2017", &["--l2-padding", "exclude"]);
}

#[test]
fn cic2018_equals_era_reference_on_lab_captures() {
    let Some(shared) = shared_data() else {
        eprintln!("skipped: the shared lab captures are not present beside the repository");
        return;
    };
    let dir = tempdir("fidelity-lab");
    for seed in 1..=3 {
        let cap = shared.join(format!("lab/seed{seed}/capture.pcap.zst"));
        let reference = shared.join(format!("reference/era/lab-seed{seed}.cic2018.csv.zst"));
        if !cap.exists() || !reference.exists() {
            eprintln!("skipped seed{seed}: capture or reference missing");
            continue;
        }
        let pcap = dir.join(format!("seed{seed}.pcap"));
        let refcsv = dir.join(format!("ref{seed}.csv"));
        assert!(
            unzstd(&cap, &pcap) && unzstd(&reference, &refcsv),
            "zstd failed"
        );
        let out = dir.join(format!("ours{seed}.csv"));
        extract(&[&pcap], &out, &["--profile", "cic2018"]);
        let (ok, text) = cicdiff(&out, &refcsv);
        assert!(ok, "lab seed{seed} differs:\n{text}");
        // The 2017 layout carries the same flows, with the 2017 placeholder label.
        let out17 = dir.join(format!("ours{seed}-2017.csv"));
        extract(
            &[&pcap],
            &out17,
            &["--profile", "cic2017", "--l2-padding", "exclude"],
        );
        let (ok, text) = cicdiff_with(&out17, &refcsv, &["--ignore", "Label"]);
        assert!(ok, "lab seed{seed} (2017 layout) differs:\n{text}");
        let _ = std::fs::remove_file(&pcap);
    }
}

#[test]
fn pcapng_and_nanosecond_variants_give_the_same_flows() {
    let dir = tempdir("variants");
    let base = dir.join("base.csv");
    extract(
        &[&data().join("pcaps/small-veth.pcap")],
        &base,
        &["--profile", "fixed"],
    );
    for v in ["small-veth-ng.pcapng", "small-veth-nsec.pcap"] {
        let out = dir.join(format!("{v}.csv"));
        extract(
            &[&data().join("pcaps").join(v)],
            &out,
            &["--profile", "fixed"],
        );
        let (ok, text) = cicdiff(&out, &base);
        assert!(ok, "{v} differs from the pcap:\n{text}");
    }
}
