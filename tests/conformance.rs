//! Conformance: small ONNX models of each kind people train on CICFlowMeter
//! CSVs, with fixed random weights (`tests/conformance/make_models.py`), score
//! the same flows through `flowsentinel model check --scores` and through
//! onnxruntime in Python; every label must match and every number agree to
//! 1e-5.
//!
//! The connection-context bundles (NSL-KDD columns: a scikit-learn Pipeline
//! fed one graph input per column, one-hot and ordinal expansions, CIC
//! features mixed with KDD windows) are scored on CSVs the script writes from
//! the shared NSL-KDD files; without them those tests say so and skip.
//!
//! A two-stage model (`models/twostage.py`: a per-flow forest and a context
//! forest packed into one flat graph) is built by
//! `tests/conformance/twostage_check.py` on the demo capture's flows with
//! their context columns, and scored the same way; replay must give every
//! flow the label and score `model check` gave it.
//!
//! Needs the project venv (`bash .ci/setup.sh`).

use crate::util::{data, extract, replay_outputs, run, shared_data, tempdir, TempDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Captures that give a few dozen flows in every profile, NaN/Infinity rates
/// (single-packet and zero-duration flows), many source IPs, and IPv6 (kept by
/// the `fixed` profile only).
const CAPTURES: &[&str] = &[
    "small-veth.pcap",
    "small-lo.pcap",
    "public/babel_update_oobr.pcap",
    "public/kday4.pcap",
    "public/isakmp4500.pcap",
    "public/l2tp-avp-overflow.pcap",
    "public/pim-packet-assortment.pcap",
    "public/resp_3_malicious.pcap",
    "public/dhcpv4v6-rfc5970-rfc8572.pcap",
    "public/ssh.pcap",
    "public/icmpv6.pcap",
    "public/dcb_ets.pcap",
];

const TOLERANCE: f64 = 1e-5;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let py = manifest().join(".venv/bin/python");
    assert!(
        py.exists(),
        "the conformance tests need the project venv, and {} is missing: run `bash .ci/setup.sh`",
        py.display()
    );
    py
}

/// Builds bundle `name` in a fresh directory, scores its profile's flow CSV
/// with `model check --scores`, and compares with onnxruntime's scores.
fn conformance(name: &str) {
    let dir = tempdir(&format!("conformance-{name}"));
    let caps: Vec<PathBuf> = CAPTURES
        .iter()
        .map(|c| data().join("pcaps").join(c))
        .collect();
    let caps: Vec<&Path> = caps.iter().map(PathBuf::as_path).collect();
    let csvs = [
        ("cic2017", dir.join("flows2017.csv")),
        ("cic2018", dir.join("flows2018.csv")),
        ("fixed", dir.join("flowsfixed.csv")),
    ];
    for (profile, csv) in &csvs {
        extract(&caps, csv, &["--profile", profile]);
    }

    let bundles = dir.join("bundles");
    make_models(
        name,
        &bundles,
        &[
            ("--csv2017", &csvs[0].1),
            ("--csv2018", &csvs[1].1),
            ("--csvfixed", &csvs[2].1),
        ],
    );
    let bundle = bundles.join(name);
    let profile = meta(&bundle)["profile"]
        .as_str()
        .expect("profile")
        .to_string();
    let csv = &csvs
        .iter()
        .find(|(p, _)| *p == profile)
        .unwrap_or_else(|| panic!("{name}: unexpected profile {profile}"))
        .1;
    score_and_compare(name, &bundle, csv, &dir);
}

/// Runs make_models.py for bundle `name` into `bundles` with `args`.
pub fn make_models(name: &str, bundles: &Path, args: &[(&str, &Path)]) {
    let mut cmd = Command::new(python());
    cmd.arg(manifest().join("tests/conformance/make_models.py"))
        .arg(bundles);
    for (flag, path) in args {
        cmd.arg(flag).arg(path);
    }
    let o = cmd
        .args(["--only", name])
        .output()
        .expect("run make_models.py");
    assert!(
        o.status.success(),
        "make_models.py failed for {name}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn meta(bundle: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(bundle.join("model.json")).expect("read model.json"),
    )
    .expect("parse model.json")
}

/// Scores `csv` with `model check --scores` and compares with expected.csv.
fn score_and_compare(name: &str, bundle: &Path, csv: &Path, dir: &Path) {
    let meta = meta(bundle);
    let scores = dir.join("scores.csv");
    let b = bundle.display().to_string();
    let c = csv.display().to_string();
    let s = scores.display().to_string();
    let o = run(&["model", "check", &b, "--csv", &c, "--scores", &s]);
    assert!(
        o.status.success(),
        "{name}: `flowsentinel model check {b} --csv {c} --scores {s}` failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let output = &meta["output"];
    compare(
        name,
        &scores,
        &bundle.join("expected.csv"),
        output["kind"].as_str().expect("output.kind"),
        output["alert_label"].as_str().unwrap_or("Anomaly"),
    );
}

/// The shared NSL-KDD folder, when present.
fn nslkdd() -> Option<PathBuf> {
    let d = shared_data()?.join("nslkdd");
    ["header.arff", "KDDTest+.txt", "KDDTrain+_20Percent.txt"]
        .iter()
        .all(|f| d.join(f).is_file())
        .then_some(d)
}

/// Builds context bundle `name` (with the fixed-profile flows when it mixes
/// CIC features in) and scores the CSV make_models.py wrote for it,
/// `bundles/NAME.csv`. Returns the bundle, or `None` when the NSL-KDD files
/// are absent.
fn conformance_kdd(name: &str, with_flows: bool) {
    conformance_kdd_in(name, name, with_flows);
}

/// [`conformance_kdd`] in the temporary directory `tag`: the directory
/// (removed when dropped) and the bundle in it.
pub fn conformance_kdd_in(name: &str, tag: &str, with_flows: bool) -> Option<(TempDir, PathBuf)> {
    let Some(kdd) = nslkdd() else {
        eprintln!("skipped {name}: the shared NSL-KDD files (../shared/data/nslkdd) are absent");
        return None;
    };
    let dir = tempdir(&format!("conformance-{tag}"));
    let fixed = dir.join("flowsfixed.csv");
    let mut args: Vec<(&str, &Path)> = vec![("--nslkdd", &kdd)];
    if with_flows {
        let caps: Vec<PathBuf> = CAPTURES
            .iter()
            .map(|c| data().join("pcaps").join(c))
            .collect();
        let caps: Vec<&Path> = caps.iter().map(PathBuf::as_path).collect();
        extract(&caps, &fixed, &["--profile", "fixed"]);
        args.push(("--csvfixed", &fixed));
    }
    let bundles = dir.join("bundles");
    make_models(name, &bundles, &args);
    let bundle = bundles.join(name);
    score_and_compare(name, &bundle, &bundles.join(format!("{name}.csv")), &dir);
    Some((dir, bundle))
}

fn read_table(path: &Path) -> (String, Vec<String>) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r').to_string());
    let header = lines.next().unwrap_or_default();
    (header, lines.filter(|l| !l.is_empty()).collect())
}

fn compare(name: &str, ours: &Path, expected: &Path, kind: &str, alert_label: &str) {
    let (h_ours, ours) = read_table(ours);
    let (h_exp, exp) = read_table(expected);
    assert_eq!(
        h_ours, h_exp,
        "{name}: --scores header differs from onnxruntime's"
    );
    assert_eq!(
        ours.len(),
        exp.len(),
        "{name}: {} score rows, onnxruntime has {}",
        ours.len(),
        exp.len()
    );
    assert!(exp.len() > 10, "{name}: only {} rows scored", exp.len());

    let mut bad = Vec::new();
    for (i, (o, e)) in ours.iter().zip(&exp).enumerate() {
        if let Some(why) = row_difference(o, e) {
            bad.push((i, o, e, why));
        }
    }
    if let Some((i, o, e, why)) = bad.first() {
        panic!(
            "{name}: {} of {} rows differ from onnxruntime; first is data row {} ({why}):\n  \
             flowsentinel: {o}\n  onnxruntime:  {e}\n  header:       {h_exp}",
            bad.len(),
            exp.len(),
            i + 1
        );
    }

    // The comparison must have had something to compare.
    let labels: Vec<&str> = exp
        .iter()
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    let scores: Vec<f64> = exp
        .iter()
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let mut distinct = labels.clone();
    distinct.sort_unstable();
    distinct.dedup();
    match kind {
        "reconstruction" => {
            let alerts = labels.iter().filter(|l| **l == alert_label).count();
            assert!(
                alerts > 0 && alerts < labels.len(),
                "{name}: {alerts} of {} rows alert; the test needs both kinds",
                labels.len()
            );
            assert_eq!(distinct.len(), 2, "{name}: labels {distinct:?}");
        }
        "probabilities" => {
            assert!(distinct.len() >= 2, "{name}: a single label {distinct:?}");
            let lo = scores.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            assert!(hi - lo > 0.01, "{name}: scores barely vary ({lo}..{hi})");
        }
        _ => assert!(distinct.len() >= 2, "{name}: a single label {distinct:?}"),
    }
}

/// Why two score rows differ, if they do.
fn row_difference(ours: &str, exp: &str) -> Option<String> {
    let o: Vec<&str> = ours.split(',').collect();
    let e: Vec<&str> = exp.split(',').collect();
    if o.len() != e.len() {
        return Some(format!("{} fields, expected {}", o.len(), e.len()));
    }
    if o[0] != e[0] {
        return Some(format!("label {:?}, expected {:?}", o[0], e[0]));
    }
    for (k, (a, b)) in o.iter().zip(&e).enumerate().skip(1) {
        let want: f64 = b.parse().expect("expected.csv number");
        match a.trim().parse::<f64>() {
            Ok(got) if (got - want).abs() <= TOLERANCE => {}
            Ok(got) => {
                return Some(format!(
                    "field {} is {got}, expected {want} (off by {:e})",
                    k + 1,
                    (got - want).abs()
                ))
            }
            Err(_) => return Some(format!("field {} {a:?} is not a number", k + 1)),
        }
    }
    None
}

/// Random forest (skl2onnx, zipmap off), `probabilities`, cic2018, raw features.
#[test]
fn rf_matches_onnxruntime() {
    conformance("rf");
}

/// The same kind of forest read through its int64 `label` output (`labels`).
#[test]
fn rf_labels_matches_onnxruntime() {
    conformance("rf_labels");
}

/// MLP (skl2onnx), cic2017 spellings with leading spaces, standard scaler,
/// nonfinite -1.
#[test]
fn mlp_matches_onnxruntime() {
    conformance("mlp");
}

/// 1-D CNN over sequences of 3 flows, group_by none.
#[test]
fn cnn_matches_onnxruntime() {
    conformance("cnn");
}

/// LSTM over sequences of 3 flows from the same source IP, minmax scaler.
#[test]
fn lstm_matches_onnxruntime() {
    conformance("lstm");
}

/// GRU over sequences of 3 flows, group_by none.
#[test]
fn gru_matches_onnxruntime() {
    conformance("gru");
}

/// Autoencoder, `reconstruction` output, minmax scaler and a threshold.
#[test]
fn autoencoder_matches_onnxruntime() {
    conformance("autoencoder");
}

/// cic2017 names plus IP octet, port and protocol pseudo-columns.
#[test]
fn rf_octets_matches_onnxruntime() {
    conformance("rf_octets");
}

/// `fixed` profile with IPv6 flows (octets 0), 2017 spellings on a 2018 layout.
#[test]
fn rf_fixed_v6_matches_onnxruntime() {
    conformance("rf_fixed_v6");
}

/// CIC-IDS2017 columns as pandas names them, the repeated one as
/// ` Fwd Header Length.1`.
#[test]
fn rf_pandas_names_matches_onnxruntime() {
    conformance("rf_pandas_names");
}

/// Two graph inputs that are no flow feature, each fed its constant.
#[test]
fn rf_constant_matches_onnxruntime() {
    conformance("rf_constant");
}

/// A scikit-learn Pipeline (OneHotEncoder over protocol_type/service/flag,
/// StandardScaler, LogisticRegression) trained on NSL-KDD and exported with
/// one graph input per column, loaded as exported: model.json lists the
/// columns (in another order than the graph) and nothing else.
#[test]
fn kdd_pipeline_matches_onnxruntime() {
    conformance_kdd("kdd_pipeline", false);
}

/// The same pipeline with its whole-number columns as int64 graph inputs,
/// read through the int64 label output.
#[test]
fn kdd_pipeline_int64_matches_onnxruntime() {
    conformance_kdd("kdd_pipeline_int64", false);
}

/// One graph input per column of every numeric type: float64 rates, int64
/// counts, float32 bytes and seconds.
#[test]
fn kdd_columns_typed_matches_onnxruntime() {
    conformance_kdd("kdd_columns_typed", false);
}

/// One flat float tensor, the categorical columns one-hot from category
/// lists in model.json (services outside the list all zeros).
#[test]
fn kdd_onehot_matches_onnxruntime() {
    conformance_kdd("kdd_onehot", false);
}

/// Ordinal codes from category lists (and header.arff's order when the list
/// is left out), -1 for values a list lacks; standard scaler over them.
#[test]
fn kdd_ordinal_matches_onnxruntime() {
    conformance_kdd("kdd_ordinal", false);
}

/// A fixed-profile bundle over CICFlowMeter features and NSL-KDD window
/// columns, on flows with the window columns appended.
#[test]
fn mixed_windows_matches_onnxruntime() {
    conformance_kdd("mixed_windows", true);
}

/// Data rows of a flow CSV keyed by `Flow ID,Timestamp`, with their fields.
fn flows_by_key(csv: &str) -> Vec<(String, Vec<String>)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let at = |c: &str| {
        header
            .iter()
            .position(|h| *h == c)
            .unwrap_or_else(|| panic!("flow CSV has no column {c}"))
    };
    let (id, ts) = (at("Flow ID"), at("Timestamp"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<String> = l.split(',').map(str::to_string).collect();
            (format!("{},{}", f[id], f[ts]), f)
        })
        .collect()
}

/// A two-stage model (models/twostage.py): a per-flow forest over CIC
/// columns and a context forest over window columns in one flat graph, on
/// the demo capture's flows with the context columns appended. Replay runs
/// the context stage for it and gives every flow what `model check` gave.
#[test]
fn twostage_matches_onnxruntime() {
    let name = "twostage";
    let dir = tempdir("conformance-twostage");
    let demo = data().join("demo.pcap");
    let flows = dir.join("flows.csv");
    extract(&[&demo], &flows, &["--profile", "fixed", "--context"]);
    let bundles = dir.join("bundles");
    let o = Command::new(python())
        .arg(manifest().join("tests/conformance/twostage_check.py"))
        .arg(&bundles)
        .arg("--csvfixed")
        .arg(&flows)
        .output()
        .expect("run twostage_check.py");
    assert!(
        o.status.success(),
        "twostage_check.py failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let bundle = bundles.join(name);
    score_and_compare(name, &bundle, &flows, &dir);

    let extracted = flows_by_key(&std::fs::read_to_string(&flows).expect("read flows"));
    let (_, expected) = read_table(&bundle.join("expected.csv"));
    assert_eq!(extracted.len(), expected.len());
    let want: HashMap<&str, &str> = extracted
        .iter()
        .map(|(k, _)| k.as_str())
        .zip(expected.iter().map(String::as_str))
        .collect();
    assert_eq!(want.len(), expected.len(), "a flow key repeats");
    let (csv, _, _) = replay_outputs(&[demo], &bundle, 2, &[], &dir);
    let replayed = flows_by_key(&csv);
    assert_eq!(
        replayed.len(),
        expected.len(),
        "replay wrote another flow count"
    );
    for (key, f) in &replayed {
        let exp = want
            .get(key.as_str())
            .unwrap_or_else(|| panic!("replay flow {key} was not extracted"));
        let mut e = exp.split(',');
        let label = e.next().expect("label");
        let score: f64 = e.next().expect("score").parse().expect("score");
        let (got_label, got_score) = (&f[f.len() - 2], &f[f.len() - 1]);
        let got_score: f64 = got_score.parse().expect("ML Score");
        assert!(
            got_label == label && (got_score - score).abs() <= TOLERANCE,
            "replay scores {key} {got_label} {got_score}; model check {label} {score}"
        );
    }
}

/// A change to model.json.
type Edit = dyn Fn(&mut serde_json::Value);

/// NSL-KDD's window columns, from `count` on.
fn is_window(col: &str) -> bool {
    const NON_WINDOW: [&str; 22] = [
        "duration",
        "protocol_type",
        "service",
        "flag",
        "src_bytes",
        "dst_bytes",
        "land",
        "wrong_fragment",
        "urgent",
        "hot",
        "num_failed_logins",
        "logged_in",
        "num_compromised",
        "root_shell",
        "su_attempted",
        "num_root",
        "num_file_creations",
        "num_shells",
        "num_access_files",
        "num_outbound_cmds",
        "is_host_login",
        "is_guest_login",
    ];
    !NON_WINDOW.contains(&col)
}

/// `model check` refuses the real pipeline graph under metadata that
/// disagrees with it, naming the field: a graph input naming no column, a
/// column with no graph input, a wrong tensor type, a category list that is
/// not strings, a non-window KDD column in a fixed bundle, a categorical
/// column in a flat float input with no encoding.
#[test]
fn kdd_pipeline_refusals_name_the_field() {
    let Some((_dir, bundle)) = conformance_kdd_in("kdd_pipeline", "kdd_pipeline_refusals", false)
    else {
        return;
    };
    let good = meta(&bundle);
    let inputs: Vec<String> = good["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|v| v.as_str().expect("input").to_string())
        .collect();
    let at = |col: &str| inputs.iter().position(|c| c == col).expect("column");
    let service = at("service");
    let cases: Vec<(&str, Box<Edit>, String, &str)> = vec![
        (
            "graph input naming no column",
            Box::new(|m| {
                let list = m["inputs"].as_array_mut().expect("inputs");
                list.retain(|v| v != "flag");
            }),
            "inputs".into(),
            "graph input \"flag\" names no column",
        ),
        (
            "column with no graph input",
            Box::new(|m| {
                m["inputs"]
                    .as_array_mut()
                    .expect("inputs")
                    .push("hot".into())
            }),
            format!("inputs[{}]", inputs.len()),
            "column \"hot\" has no graph input",
        ),
        (
            "wrong tensor type",
            Box::new(|m| {
                m["categories"] = serde_json::json!({"service": {"encoding": "ordinal"}});
            }),
            format!("inputs[{service}]"),
            "graph input \"service\" is String; column service is numeric",
        ),
        (
            "category list not strings",
            Box::new(|m| {
                m["categories"] =
                    serde_json::json!({"service": {"encoding": "ordinal", "values": [1, 2]}});
            }),
            "categories.service.values[0]".into(),
            "must hold strings",
        ),
        (
            "non-window column in a fixed bundle",
            Box::new(|m| m["profile"] = "fixed".into()),
            format!(
                "inputs[{}]",
                inputs
                    .iter()
                    .position(|c| !is_window(c))
                    .expect("a non-window column")
            ),
            "only profile kdd computes",
        ),
        (
            "categorical column in one flat tensor",
            Box::new(|m| m["input_name"] = "duration".into()),
            format!("inputs[{}]", at("flag")),
            "column flag is categorical",
        ),
    ];
    for (what, edit, field, says) in cases {
        let mut m = good.clone();
        edit(&mut m);
        std::fs::write(
            bundle.join("model.json"),
            serde_json::to_string_pretty(&m).expect("json"),
        )
        .expect("write model.json");
        let o = run(&["model", "check", &bundle.display().to_string()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what}: accepted");
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains(says),
            "{what}: expected field `{field}` and {says:?}, got:\n{err}"
        );
    }
}
