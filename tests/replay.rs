//! `replay` and `model check` end to end with the default model and a real
//! ONNX Runtime: alerts on the demo capture, worker-count independence,
//! config merging, and every refusal a user can meet at start-up.

use crate::util::{data, rows, run, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;

fn default_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn demo() -> String {
    data().join("demo.pcap").display().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read alerts")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Replays the demo with `workers`; returns (alerts path, flows CSV path).
fn replay_demo(dir: &Path, workers: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let alerts = dir.join(format!("alerts-{workers}.json"));
    let flows = dir.join(format!("flows-{workers}.csv"));
    let model = default_model();
    let mut args = vec![
        "replay".to_string(),
        demo(),
        "--model".into(),
        model.display().to_string(),
        "--alerts".into(),
        alerts.display().to_string(),
        "--flows-csv".into(),
        flows.display().to_string(),
        "--workers".into(),
        workers.into(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    assert!(o.status.success(), "replay failed: {}", stderr(&o));
    (alerts, flows)
}

#[test]
fn demo_replay_alerts_are_eve_json() {
    let dir = tempdir("replay-demo");
    // Every alert written (no aggregation), so each is checked.
    let (alerts, flows) = replay_demo(&dir, "2", &["--flow-events", "--alert-limit", "0"]);
    let events = json_lines(&alerts);
    let flow_rows = rows(&flows);
    let alerts: Vec<_> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .collect();
    let flow_events = events.iter().filter(|e| e["event_type"] == "flow").count();
    assert_eq!(flow_events, flow_rows.len(), "one flow event per CSV row");
    assert!(
        alerts.len() > 100,
        "the demo holds a port scan: {} alerts",
        alerts.len()
    );
    // Suricata's leading keys, in order.
    let first = std::fs::read_to_string(dir.join("alerts-2.json")).expect("read");
    let line = first
        .lines()
        .find(|l| l.contains("\"event_type\":\"alert\"") && l.contains("\"proto\":\"TCP\""))
        .expect("a TCP alert line");
    let keys = [
        "\"timestamp\"",
        "\"flow_id\"",
        "\"event_type\"",
        "\"src_ip\"",
        "\"src_port\"",
        "\"dest_ip\"",
        "\"dest_port\"",
        "\"proto\"",
    ];
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| line.find(k).unwrap_or(usize::MAX))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "key order in {line}");
    let labels: std::collections::BTreeSet<&str> = alerts
        .iter()
        .map(|a| a["ml"]["label"].as_str().expect("label"))
        .collect();
    assert!(labels.contains("portscan"), "{labels:?}");
    for a in &alerts {
        assert_eq!(a["alert"]["action"], "allowed");
        assert_ne!(a["ml"]["label"], "Benign");
        // gid, signature id and category from the bundle (src/signature.rs).
        let label = a["ml"]["label"].as_str().expect("label");
        assert_eq!(a["alert"]["gid"], flowsentinel::signature::GID);
        assert_eq!(
            a["alert"]["signature_id"],
            flowsentinel::signature::default_sid(label)
        );
        assert_eq!(
            a["alert"]["category"],
            flowsentinel::signature::default_category(label)
        );
        assert_eq!(
            (&a["alert"]["rev"], &a["ml"]["model_version"]),
            (&2.into(), &"2".into())
        );
        let score = a["ml"]["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&score));
        let ts = a["timestamp"].as_str().expect("timestamp");
        assert!(
            ts.starts_with("2026-11-21T") && ts.ends_with("+0000"),
            "{ts}"
        );
        assert!(a["flow"]["pkts_toserver"].as_u64().expect("pkts") >= 1);
    }
    // The flow CSV ends with the model's label and score; its alerting rows
    // match the alert count.
    let header = crate::util::header(&flows);
    assert_eq!(&header[header.len() - 2..], ["ML Label", "ML Score"]);
    let flagged = flow_rows
        .iter()
        .filter(|r| r[r.len() - 2] != "Benign")
        .count();
    assert!(flagged >= alerts.len());
}

#[test]
fn results_do_not_depend_on_worker_count() {
    let dir = tempdir("replay-workers");
    let (a1, f1) = replay_demo(&dir, "1", &["--flow-events", "--batch-size", "7"]);
    let (a4, f4) = replay_demo(&dir, "4", &["--flow-events", "--batch-size", "1000"]);
    let (c1, c4) = (
        std::fs::read_to_string(&f1).expect("read"),
        std::fs::read_to_string(&f4).expect("read"),
    );
    assert!(c1.lines().count() > 1000, "demo gives many flows");
    assert!(c1 == c4, "flow records differ between 1 and 4 workers");
    let strip = |p: &Path| -> Vec<serde_json::Value> { json_lines(p) };
    assert_eq!(
        strip(&a1),
        strip(&a4),
        "events differ between 1 and 4 workers"
    );
}

#[test]
fn replay_flow_records_equal_extract() {
    // The engine is shared: replay's CSV, minus the appended columns, holds
    // the same records as extract's (possibly in another order for flows
    // that end on the same packet time).
    let dir = tempdir("replay-vs-extract");
    let (_, flows) = replay_demo(&dir, "3", &[]);
    let ex = dir.join("extract.csv");
    crate::util::extract(&[&data().join("demo.pcap")], &ex, &["--profile", "fixed"]);
    let mut a: Vec<String> = rows(&flows)
        .into_iter()
        .map(|r| r[..r.len() - 2].join(","))
        .collect();
    let mut b: Vec<String> = rows(&ex).into_iter().map(|r| r.join(",")).collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), b.len());
    assert!(a == b, "replay and extract disagree on flow records");
}

#[test]
fn config_file_and_command_line() {
    let dir = tempdir("replay-config");
    let cfg = dir.join("sensor.toml");
    let from_file = dir.join("from-file.json");
    std::fs::write(
        &cfg,
        format!(
            "model = {:?}\nalerts = {:?}\nworkers = 3\nflow_events = true\n",
            default_model().display().to_string(),
            from_file.display().to_string()
        ),
    )
    .expect("write config");
    let o = run(&[
        "replay",
        &demo(),
        "--config",
        cfg.to_str().expect("utf8"),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let n_file = json_lines(&from_file).len();
    assert!(n_file > 0);
    // The command line wins over the file.
    let from_cli = dir.join("from-cli.json");
    let o = run(&[
        "replay",
        &demo(),
        "--config",
        cfg.to_str().expect("utf8"),
        "--alerts",
        from_cli.to_str().expect("utf8"),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_lines(&from_cli).len(), n_file);

    // Unknown keys and wrong types are refused, naming the file and key.
    for (text, word) in [
        ("workerz = 3\n", "workerz"),
        ("workers = \"three\"\n", "workers"),
        ("device = \"gpu\"\n", "gpu"),
    ] {
        std::fs::write(&cfg, text).expect("write");
        let o = run(&["replay", &demo(), "--config", cfg.to_str().expect("utf8")]);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let e = stderr(&o);
        assert!(e.contains(word), "{text}: {e}");
        if word != "gpu" {
            assert!(e.contains("sensor.toml"), "{e}");
        }
    }
}

/// Copies the default bundle into `dir/name` for tampering.
fn bundle_copy(dir: &Path, name: &str) -> PathBuf {
    let b = dir.join(name);
    std::fs::create_dir_all(&b).expect("mkdir");
    for f in ["model.onnx", "model.json"] {
        std::fs::copy(default_model().join(f), b.join(f)).expect("copy bundle");
    }
    b
}

fn refused(args: &[&str], env: &[(&str, &str)], words: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_flowsentinel"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    assert!(e.starts_with("flowsentinel: error: "), "{e}");
    for w in words {
        assert!(e.contains(w), "{args:?}: expected {w:?} in {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let dir = tempdir("replay-bad-models");
    let demo = demo();
    let missing = dir.join("no-such-model");
    refused(
        &["replay", &demo, "--model", missing.to_str().expect("utf8")],
        &[],
        &["no-such-model", "not a directory"],
    );

    let corrupt = bundle_copy(&dir, "corrupt");
    std::fs::write(corrupt.join("model.onnx"), b"this is not a protobuf").expect("write");
    refused(
        &["model", "check", corrupt.to_str().expect("utf8")],
        &[],
        &["corrupt/model.onnx", "not a usable ONNX model"],
    );

    let no_onnx = bundle_copy(&dir, "no-onnx");
    std::fs::remove_file(no_onnx.join("model.onnx")).expect("rm");
    refused(
        &["model", "check", no_onnx.to_str().expect("utf8")],
        &[],
        &["model.onnx", "missing"],
    );

    // Metadata that disagrees with the graph: one input fewer than the graph takes.
    let meta_path = default_model().join("model.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).expect("read")).expect("json");
    let edit = |name: &str, f: &dyn Fn(&mut serde_json::Value)| -> PathBuf {
        let b = bundle_copy(&dir, name);
        let mut m = meta.clone();
        f(&mut m);
        std::fs::write(b.join("model.json"), m.to_string()).expect("write");
        b
    };
    let short = edit("short-inputs", &|m| {
        m["inputs"].as_array_mut().expect("inputs").pop();
    });
    refused(
        &["model", "check", short.to_str().expect("utf8")],
        &[],
        &["field `inputs`", "columns but graph input"],
    );
    let classes = edit("extra-class", &|m| {
        m["output"]["classes"]
            .as_array_mut()
            .expect("classes")
            .push("Martian".into());
    });
    refused(
        &["model", "check", classes.to_str().expect("utf8")],
        &[],
        &["field `output.classes`", "classes but graph output"],
    );
    let unknown = edit("unknown-input", &|m| {
        m["inputs"][0] = "Flow Smell".into();
    });
    refused(
        &["model", "check", unknown.to_str().expect("utf8")],
        &[],
        &["field `inputs[0]`", "Flow Smell"],
    );
    let rank = edit("rank", &|m| {
        m["layout"] = serde_json::json!({"kind": "sequence", "length": 3});
    });
    refused(
        &["model", "check", rank.to_str().expect("utf8")],
        &[],
        &["field `layout`", "rank 2"],
    );
    let scaler = edit("scaler", &|m| {
        m["preprocess"]["scaler"] =
            serde_json::json!({"kind": "standard", "mean": [0.0], "std": [1.0]});
    });
    refused(
        &["model", "check", scaler.to_str().expect("utf8")],
        &[],
        &["field `preprocess.scaler.mean`", "1 values"],
    );
    let output = edit("output-name", &|m| {
        m["output"]["name"] = "logits".into();
    });
    refused(
        &["model", "check", output.to_str().expect("utf8")],
        &[],
        &["field `output.name`", "no output \"logits\""],
    );
}

#[test]
fn missing_onnx_runtime_says_how_to_install() {
    let model = default_model();
    let m = model.to_str().expect("utf8");
    refused(
        &["model", "check", m],
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")],
        &["ORT_DYLIB_PATH", "no such file", "bash .ci/setup.sh"],
    );
    let dir = tempdir("replay-bad-ort");
    let fake = dir.join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared object").expect("write");
    refused(
        &[
            "replay",
            &demo(),
            "--model",
            m,
            "--onnxruntime",
            fake.to_str().expect("utf8"),
        ],
        &[],
        &[
            "libonnxruntime.so (from --onnxruntime or the config)",
            "pip install onnxruntime",
        ],
    );
}

#[test]
fn cuda_without_a_gpu_build_is_an_error_not_a_fallback() {
    if cfg!(feature = "cuda") {
        return;
    }
    let model = default_model();
    refused(
        &[
            "model",
            "check",
            model.to_str().expect("utf8"),
            "--device",
            "cuda",
        ],
        &[],
        &["without CUDA support"],
    );
    // `auto` falls back to the CPU and says so.
    let o = run(&[
        "model",
        "check",
        model.to_str().expect("utf8"),
        "--device",
        "auto",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("using the CPU"), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("CPU execution provider"));
}

/// Seconds since the epoch of a `fixed`-profile timestamp
/// (`yyyy-MM-dd HH:mm:ss.ffffff`, UTC).
fn fixed_ts(s: &str) -> f64 {
    let (date, time) = s.split_once(' ').expect("timestamp");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let t: Vec<f64> = time.split(':').map(|x| x.parse().expect("time")).collect();
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// The alert threshold of `class` in a model.json `output.threshold`: one
/// number for every class, or an object by class (absent classes 0).
fn class_threshold(threshold: &serde_json::Value, class: &str) -> f64 {
    match threshold {
        serde_json::Value::Object(m) => m.get(class).and_then(|v| v.as_f64()).unwrap_or(0.0),
        v => v.as_f64().unwrap_or(0.0),
    }
}

/// `replay` of the held-out lab run eval23 (tests/data/lab, made by
/// models/lab with variants training never used) with the default model
/// reproduces the figures models/train.py wrote for it in
/// models/default/eval_eval23.json and REPORT.md: flows, confusion matrix,
/// macro-F1, benign alerts and episodes detected.
#[test]
fn lab_eval23_replay_reproduces_the_report() {
    let lab = data().join("lab");
    let dir = tempdir("replay-eval23");
    let pcap = dir.join("eval23.pcap");
    let st = Command::new("zstd")
        .args(["-d", "-q", "-f"])
        .arg(lab.join("eval23.pcap.zst"))
        .arg("-o")
        .arg(&pcap)
        .status()
        .expect("zstd (bash .ci/setup.sh installs it)");
    assert!(st.success());
    let flows = dir.join("flows.csv");
    let model = default_model();
    let labels_csv = lab.join("eval23.labels.csv");
    let o = run(&[
        "replay",
        pcap.to_str().expect("utf8"),
        "--model",
        model.to_str().expect("utf8"),
        "--labels",
        labels_csv.to_str().expect("utf8"),
        "--flows-csv",
        flows.to_str().expect("utf8"),
        "--alerts",
        dir.join("alerts.json").to_str().expect("utf8"),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_file(&pcap);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(model.join(name)).expect(name)).expect("json")
    };
    let (eval, meta) = (read("eval_eval23.json"), read("model.json"));
    let classes: Vec<String> = meta["output"]["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| c.as_str().expect("class").to_string())
        .collect();
    let idx = |l: &str| classes.iter().position(|c| c == l).expect("known class");
    let header = crate::util::header(&flows);
    let col = |n: &str| header.iter().position(|h| h == n).expect("column");
    let (truth, label, score) = (col("Label"), col("ML Label"), col("ML Score"));
    let (src, dst, ts) = (col("Src IP"), col("Dst IP"), col("Timestamp"));
    // The report leaves out the flows the sensor does not score (no ML Label).
    let rows: Vec<Vec<String>> = rows(&flows)
        .into_iter()
        .filter(|r| !r[label].is_empty())
        .collect();
    assert_eq!(rows.len() as u64, eval["flows"].as_u64().expect("flows"));
    let n = classes.len();
    let mut cm = vec![vec![0u64; n]; n];
    let mut alerting = Vec::new();
    for r in &rows {
        let alert = r[label] != "Benign"
            && r[score].parse::<f64>().expect("score")
                >= class_threshold(&meta["output"]["threshold"], &r[label]);
        let pred = if alert { idx(&r[label]) } else { idx("Benign") };
        cm[idx(&r[truth])][pred] += 1;
        alerting.push(alert);
    }
    let want: Vec<Vec<u64>> = eval["confusion_matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("count"))
                .collect()
        })
        .collect();
    assert_eq!(cm, want, "confusion matrix differs from REPORT.md");
    // Macro-F1 over the classes present in the capture.
    let present: Vec<usize> = (0..n).filter(|&k| cm[k].iter().sum::<u64>() > 0).collect();
    let f1: f64 = present
        .iter()
        .map(|&k| {
            let tp = cm[k][k] as f64;
            let pred: u64 = (0..n).map(|t| cm[t][k]).sum();
            let real: u64 = cm[k].iter().sum();
            let (p, r) = (tp / pred.max(1) as f64, tp / real.max(1) as f64);
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / present.len() as f64;
    let want_f1 = eval["macro_f1"].as_f64().expect("macro_f1");
    assert!((f1 - want_f1).abs() < 1e-5, "macro-F1 {f1} vs {want_f1}");
    let benign_alerts = cm[idx("Benign")].iter().sum::<u64>() - cm[idx("Benign")][idx("Benign")];
    assert_eq!(
        benign_alerts,
        eval["benign_alerts"].as_u64().expect("benign_alerts")
    );
    // Episodes detected: one of the episode's flows alerts.
    let labels = flowsentinel::labels::Labeler::load(&labels_csv).expect("labels");
    let mut detected = std::collections::BTreeSet::new();
    for e in labels.episodes() {
        let hit = rows.iter().zip(&alerting).any(|(r, &a)| {
            let (s, d) = (
                r[src].parse().expect("ip"),
                r[dst].parse::<std::net::IpAddr>().expect("ip"),
            );
            let t = (fixed_ts(&r[ts]) * 1e6).round() as i64;
            a && ((e.attacker.contains(s) && d == e.victim)
                || (e.attacker.contains(d) && s == e.victim))
                && (e.start_us..=e.end_us).contains(&t)
        });
        if hit {
            detected.insert(e.episode_id.clone());
        }
    }
    assert_eq!(
        detected.len() as u64,
        eval["episodes_detected"]
            .as_u64()
            .expect("episodes_detected")
    );
}
