//! Alert aggregation end to end, on the demo capture and (when `../shared`
//! is present) lab seed 3: the written alerts per track and rule type match
//! Suricata's semantics computed from the unaggregated alerts, suppression,
//! interim alerts, the IPS hook and the flow events unchanged, the config
//! tables' refusals, and the terminal view through a pseudo-terminal.

use crate::util::{data, run, shared_data, tempdir, unzstd};
use flowsentinel::config::Settings;
use flowsentinel::threshold::{Count, Kind, Seconds, ThresholdRule, Track};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/default")
        .display()
        .to_string()
}

/// A replay's alert and flow events, flow CSV and standard error.
struct Replay {
    alerts: Vec<Value>,
    flows: Vec<String>,
    csv: String,
    err: String,
}

fn replay(capture: &Path, dir: &Path, name: &str, extra: &[&str]) -> Replay {
    let (out, csv) = (
        dir.join(format!("{name}.json")),
        dir.join(format!("{name}.csv")),
    );
    let (c, m) = (capture.display().to_string(), model());
    let (o, f) = (out.display().to_string(), csv.display().to_string());
    let mut args = vec!["replay", &c, "--model", &m, "--alerts", &o, "--flow-events"];
    args.extend(["--flows-csv", &f]);
    args.extend_from_slice(extra);
    let r = run(&args);
    let err = String::from_utf8_lossy(&r.stderr).to_string();
    assert!(r.status.success(), "replay {extra:?}: {err}");
    let text = std::fs::read_to_string(&out).expect("read alerts");
    let mut alerts = Vec::new();
    let mut flows = Vec::new();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).expect("EVE JSON");
        match v["event_type"].as_str() {
            Some("alert") => alerts.push(v),
            _ => flows.push(l.to_string()),
        }
    }
    let csv = std::fs::read_to_string(&csv).expect("read csv");
    Replay {
        alerts,
        flows,
        csv,
        err,
    }
}

/// A summary row's number.
fn row(err: &str, name: &str) -> u64 {
    err.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with("  "))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary row {name:?} in\n{err}"))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The tracker of an alert under `track`, with its label.
fn key(track: &str, a: &Value) -> (String, String) {
    let (src, dst) = (s(&a["src_ip"]), s(&a["dest_ip"]));
    let k = match track {
        "by_src" => src,
        "by_dst" => dst,
        "by_both" => format!("{}|{}", src.clone().min(dst.clone()), src.max(dst)),
        _ => String::new(),
    };
    (k, s(&a["ml"]["label"]))
}

fn aggregated(a: &Value) -> u64 {
    let m = &a["alert"]["metadata"]["flowsentinel_aggregated"];
    m[0].as_str()
        .and_then(|n| n.parse().ok())
        .expect("aggregated count")
}

fn config(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("write config");
    p.display().to_string()
}

/// The alerts' flow ids, in output order.
fn ids(alerts: &[Value]) -> Vec<u64> {
    alerts
        .iter()
        .map(|a| a["flow_id"].as_u64().expect("id"))
        .collect()
}

#[test]
fn demo_counts_per_track_and_type() {
    let dir = tempdir("agg-demo");
    let demo = data().join("demo.pcap");
    let all = replay(&demo, &dir, "all", &["--alert-limit", "0"]);
    let n = all.alerts.len() as u64;
    assert_eq!(row(&all.err, "alerts"), n);
    assert!(n > 2000, "{n}");
    // Interim verdicts alert once per flow and label, before aggregation.
    let interim = all
        .alerts
        .iter()
        .filter(|a| a["ml"]["interim"] == true)
        .count();
    assert!(interim > 0);
    assert_eq!(row(&all.err, "  of them on open flows"), interim as u64);
    let pairs: BTreeSet<(u64, String)> = all
        .alerts
        .iter()
        .map(|a| (a["flow_id"].as_u64().unwrap_or(0), s(&a["ml"]["label"])))
        .collect();
    assert_eq!(pairs.len() as u64, n, "a flow alerted twice with one label");
    assert!(all
        .alerts
        .iter()
        .all(|a| a["alert"].get("metadata").is_none()));

    // limit count 1 for each track: the first alert of each tracker (the
    // demo lasts 17.6 s, one period), each standing for itself.
    for track in ["by_src", "by_dst", "by_both", "by_rule"] {
        let cfg = format!(
            "[[threshold]]\ntype = \"limit\"\ntrack = \"{track}\"\ncount = 1\nseconds = 60\n"
        );
        let got = replay(
            &demo,
            &dir,
            track,
            &["--config", &config(&dir, track, &cfg)],
        );
        let mut seen = BTreeSet::new();
        let want: Vec<&Value> = all
            .alerts
            .iter()
            .filter(|a| seen.insert(key(track, a)))
            .collect();
        assert_eq!(
            ids(&got.alerts),
            want.iter()
                .map(|a| a["flow_id"].as_u64().unwrap_or(0))
                .collect::<Vec<_>>(),
            "{track}"
        );
        assert!(got.alerts.iter().all(|a| aggregated(a) == 1));
        assert_eq!(
            row(&got.err, "alerts folded (threshold rules)"),
            n - want.len() as u64
        );
        // Aggregation changes the alerts only: flow events and CSV are the same.
        assert_eq!(got.flows, all.flows, "{track}");
        assert_eq!(got.csv, all.csv, "{track}");
        eprintln!("{track}: {} of {n} alerts written", want.len());
    }
    // threshold count 100 by_rule: every 100th alert of each label, for 100.
    let cfg =
        "[[threshold]]\ntype = \"threshold\"\ntrack = \"by_rule\"\ncount = 100\nseconds = 60\n";
    let got = replay(
        &demo,
        &dir,
        "threshold",
        &["--config", &config(&dir, "threshold", cfg)],
    );
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    let want: Vec<u64> = all
        .alerts
        .iter()
        .filter_map(|a| {
            let c = per.entry(s(&a["ml"]["label"])).or_default();
            *c += 1;
            (*c % 100 == 0).then(|| a["flow_id"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(ids(&got.alerts), want);
    assert!(got.alerts.iter().all(|a| aggregated(a) == 100));
    // both count 50 by_both: the 50th alert of each pair and label, once,
    // standing for the 50 so far.
    let cfg = "[[threshold]]\ntype = \"both\"\ntrack = \"by_both\"\ncount = 50\nseconds = 60\n";
    let got = replay(
        &demo,
        &dir,
        "both",
        &["--config", &config(&dir, "both", cfg)],
    );
    let mut per: BTreeMap<(String, String), u64> = BTreeMap::new();
    let want: Vec<u64> = all
        .alerts
        .iter()
        .filter_map(|a| {
            let c = per.entry(key("by_both", a)).or_default();
            *c += 1;
            (*c == 50).then(|| a["flow_id"].as_u64().unwrap_or(0))
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(&got.alerts), want);
    assert!(got.alerts.iter().all(|a| aggregated(a) == 50));
}

#[test]
fn demo_default_suppression_and_the_hook() {
    let dir = tempdir("agg-suppress");
    let demo = data().join("demo.pcap");
    // A hook that logs its calls (one file per run) and blocks.
    let calls = |name: &str| dir.join(format!("calls-{name}.txt"));
    let with_hook = |name: &str, extra: &[&str]| {
        let hook = dir.join(format!("hook-{name}.sh"));
        let body = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncat > /dev/null\n",
            calls(name).display()
        );
        std::fs::write(&hook, body).expect("hook");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&hook, mode).expect("chmod");
        let h = hook.display().to_string();
        let mut args = vec!["--ips-hook", h.as_str()];
        args.extend_from_slice(extra);
        replay(&demo, &dir, name, &args)
    };
    let all = with_hook("off", &["--alert-limit", "0"]);
    let def = with_hook("on", &[]);
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    assert!(!read(calls("off")).is_empty());
    assert_eq!(read(calls("off")), read(calls("on")), "hook calls differ");
    assert_eq!(def.flows, all.flows);
    // The default: one per address pair and label; blocks always written.
    let mut seen = BTreeSet::new();
    let firsts = all
        .alerts
        .iter()
        .filter(|a| seen.insert(key("by_both", a)))
        .count();
    let blocked = def
        .alerts
        .iter()
        .filter(|a| a["alert"]["action"] == "blocked")
        .count();
    assert!(blocked > 0);
    assert!(
        def.alerts.len() <= firsts + blocked && def.alerts.len() >= firsts,
        "{}",
        def.alerts.len()
    );
    let total: u64 = def.alerts.iter().map(aggregated).sum();
    assert!(total <= all.alerts.len() as u64);
    assert_eq!(
        row(&def.err, "alerts") + row(&def.err, "alerts folded (threshold rules)"),
        all.alerts.len() as u64
    );

    // Suppression: a source by CIDR and a whole label, counted, not hits.
    let cfg = "[[suppress]]\ntrack = \"by_src\"\nip = \"10.66.3.231/32\"\n\n[[suppress]]\nlabel = \"web_attack\"\n";
    let got = replay(
        &demo,
        &dir,
        "suppress",
        &["--config", &config(&dir, "suppress", cfg)],
    );
    // Expected from an unaggregated run without the hook (whose held lines
    // come out of order).
    let all = replay(&demo, &dir, "plain", &["--alert-limit", "0"]);
    let gone = |a: &Value| a["src_ip"] == "10.66.3.231" || a["ml"]["label"] == "web_attack";
    let kept: Vec<&Value> = all.alerts.iter().filter(|a| !gone(a)).collect();
    let mut seen = BTreeSet::new();
    let want: Vec<u64> = kept
        .iter()
        .filter(|a| seen.insert(key("by_both", a)))
        .map(|a| a["flow_id"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(ids(&got.alerts), want);
    let suppressed = all.alerts.len() - kept.len();
    assert!(suppressed > 0);
    assert_eq!(
        row(&got.err, "alerts suppressed (suppress rules)"),
        suppressed as u64
    );
}

#[test]
fn lab_seed3_default_output_is_short_and_changes_nothing_else() {
    let Some(shared) = shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let dir = tempdir("agg-seed3");
    let pcap = dir.join("seed3.pcap");
    assert!(unzstd(&shared.join("lab/seed3/capture.pcap.zst"), &pcap));
    let dry = ["--ips-hook", "/bin/true", "--ips-dry-run"];
    let off = replay(
        &pcap,
        &dir,
        "off",
        &[&dry[..], &["--alert-limit", "0"]].concat(),
    );
    let on = replay(&pcap, &dir, "on", &dry);
    let hook = |err: &str| -> Vec<String> {
        err.lines()
            .filter(|l| l.starts_with("ips hook"))
            .map(String::from)
            .collect()
    };
    assert!(!hook(&off.err).is_empty());
    assert_eq!(hook(&off.err), hook(&on.err), "hook calls differ");
    assert_eq!(off.flows.len(), on.flows.len());
    assert!(off.flows == on.flows, "flow events differ");
    assert!(off.csv == on.csv, "flow CSV differs");
    let by_label = |alerts: &[Value]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for a in alerts {
            *m.entry(s(&a["ml"]["label"])).or_default() += 1;
        }
        m
    };
    eprintln!(
        "seed 3: {} flows; alerts off {} {:?}; default {} {:?}",
        off.flows.len(),
        off.alerts.len(),
        by_label(&off.alerts),
        on.alerts.len(),
        by_label(&on.alerts)
    );
    assert!(on.alerts.len() <= 300, "{}", on.alerts.len());
    assert_eq!(
        by_label(&on.alerts).keys().collect::<Vec<_>>(),
        by_label(&off.alerts).keys().collect::<Vec<_>>(),
        "every label still alerts"
    );
    assert_eq!(
        row(&on.err, "alerts") + row(&on.err, "alerts folded (threshold rules)"),
        off.alerts.len() as u64
    );
}

#[test]
fn the_terminal_view_is_short_and_readable_and_pipes_stay_json() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = env!("CARGO_BIN_EXE_flowsentinel");
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    // The README's demo command, on a pseudo-terminal.
    let cmd = format!("'{bin}' replay tests/data/demo.pcap --model models/default");
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root)
        .output()
        .expect("script");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("2026-11-21 "))
        .collect();
    let alerts: Vec<&&str> = lines.iter().filter(|l| l.contains("[1 alert]")).collect();
    let tails: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("folded: limit by_both count 1 seconds 60]"))
        .collect();
    assert_eq!((alerts.len(), tails.len()), (6, 5), "{text}");
    assert!(
        alerts.iter().any(|l| l.contains("portscan")
            && l.contains("TCP 10.66.3.66:")
            && l.contains(" → 10.66.1.153:")),
        "{text}"
    );
    assert!(
        tails.iter().any(|l| l.contains("portscan")
            && l.contains("10.66.3.66 → 10.66.1.153")
            && l.contains("[+2054 folded")),
        "{text}"
    );
    assert!(!text.contains("{\"timestamp\""), "{text}");
    assert!(
        text.contains("alerts folded (threshold rules)"),
        "the summary follows: {text}"
    );
    // Piped: EVE JSON, every line.
    let o = Command::new(bin)
        .args([
            "replay",
            "tests/data/demo.pcap",
            "--model",
            "models/default",
            "-q",
        ])
        .current_dir(root)
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 6);
    assert!(out
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
    // Forced either way.
    let dir = tempdir("agg-text");
    let f = dir.join("fast.log").display().to_string();
    let o = run(&[
        "replay",
        &format!("{root}/tests/data/demo.pcap"),
        "--model",
        &model(),
        "--alerts",
        &f,
        "--alerts-format",
        "text",
        "-q",
    ]);
    assert!(o.status.success());
    let t = std::fs::read_to_string(&f).expect("read");
    assert_eq!(t.lines().count(), 11, "{t}");
    let cmd = format!(
        "'{bin}' replay tests/data/demo.pcap --model models/default --alerts-format json -q"
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root)
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("{\"timestamp\""))
            .count(),
        6,
        "{text}"
    );
}

#[test]
fn bad_values_are_refused_naming_the_flag_or_the_line_and_key() {
    let demo = data().join("demo.pcap").display().to_string();
    let m = model();
    let refused = |extra: &[&str], want: &str| {
        let mut args = vec![
            "replay",
            demo.as_str(),
            "--model",
            m.as_str(),
            "--alerts",
            "/dev/null",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    };
    refused(
        &["--alert-limit=-5"],
        "--alert-limit: expected 0 (off) or a positive number of seconds, got -5",
    );
    refused(
        &["--alerts-format", "xml"],
        "--alerts-format: expected json, text or auto",
    );
    refused(
        &["--alerts-format", "text", "--flow-events"],
        "--flow-events writes EVE JSON",
    );
    let dir = tempdir("agg-refused");
    let cfg = config(&dir, "label", "[[threshold]]\ntype = \"limit\"\ntrack = \"by_src\"\ncount = 1\nseconds = 1\nlabel = \"dos\"\n");
    refused(
        &["--config", &cfg],
        "[[threshold]] label: \"dos\" is not a class of the model",
    );
    let cfg = config(
        &dir,
        "count",
        "[[threshold]]\ntype = \"limit\"\ntrack = \"by_src\"\ncount = 0\nseconds = 1\n",
    );
    refused(&["--config", &cfg], "count.toml");
    refused(&["--config", &cfg], "line 4");
}

#[test]
fn config_tables_parse_and_bad_values_name_line_and_key() {
    let text = "alert_limit = 30\n\n[[threshold]]\ntype = \"both\"\ntrack = \"by_dst\"\ncount = 5\nseconds = 2.5\nlabel = \"portscan\"\n\n[[suppress]]\ntrack = \"by_either\"\nip = [\"192.0.2.0/24\", \"2001:db8::1\"]\n\n[[suppress]]\nlabel = \"syn_flood\"\n";
    let st = Settings::parse(text).expect("parse");
    let own = ThresholdRule {
        kind: Kind::Both,
        track: Track::ByDst,
        count: Count(5),
        seconds: Seconds(2_500_000),
        label: Some("portscan".into()),
    };
    assert_eq!(
        st.threshold.clone().expect("threshold"),
        std::slice::from_ref(&own)
    );
    let sup = st.suppress.clone().expect("suppress");
    assert_eq!((sup.len(), sup[1].by.is_none()), (2, true));
    let cfg = st.build(Some(vec![]), false).expect("build");
    assert_eq!(
        cfg.aggregation.threshold,
        [own, ThresholdRule::alert_limit(30_000_000)]
    );

    let refused = |body: &str, want: &[&str]| {
        let e = Settings::parse(body).expect_err(body);
        for w in want {
            assert!(e.contains(w), "{body:?}: {e:?} lacks {w:?}");
        }
    };
    let table = |kv: &str| {
        format!(
            "[[threshold]]\ntype = \"limit\"\ntrack = \"by_src\"\ncount = 1\nseconds = 60\n{kv}\n"
        )
    };
    refused(
        &table("").replace("limit", "sometimes"),
        &["line 2", "type", "sometimes"],
    );
    refused(
        &table("").replace("by_src", "by_host"),
        &["line 3", "track", "by_host"],
    );
    refused(
        &table("").replace("count = 1", "count = 0"),
        &["line 4", "count", "got 0"],
    );
    refused(
        &table("").replace("seconds = 60", "seconds = -1"),
        &["line 5", "seconds", "got -1"],
    );
    refused(&table("colour = \"red\""), &["line 6", "colour"]);
    refused(
        "[[threshold]]\ntype = \"limit\"\n",
        &["missing field `track`"],
    );
    refused(
        "[[suppress]]\ntrack = \"by_src\"\nip = \"10.0.0.300\"\n",
        &["line 3", "10.0.0.300"],
    );
    refused(
        "[[suppress]]\ntrack = \"by_src\"\n",
        &["line 1", "`track` needs `ip`"],
    );
    refused("[[suppress]]\nip = \"10.0.0.1\"\n", &["`ip` needs `track`"]);
    refused("[[suppress]]\n", &["give `track` and `ip`, or a `label`"]);
    refused("alert_limit = \"soon\"\n", &["line 1", "alert_limit"]);
}
