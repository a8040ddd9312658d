//! Every alert, flow and stats event validates against Suricata's EVE schema
//! (`../shared/data/suricata/eve-schema.json`, read from there and never
//! copied into the repository) with exactly two extension keys at the top
//! level: `ml` (the verdict, on alert and flow events) and `flowsentinel`
//! (the stats counters Suricata has no name for, on stats events).
//!
//! How the schema treats unknown keys: `additionalProperties: false` at the
//! top level and in `alert`, `flow`, `tcp`, `stats` and most other objects;
//! a few objects (`alert.metadata`, `alert.context`) are open, and some
//! nested ones say nothing (so allow anything). The check is therefore: the
//! event without `ml` and `flowsentinel` must validate against the schema as
//! it is (so any other unknown top-level key fails), and also against a copy
//! tightened in memory, where every object that lists its properties and
//! says nothing of others gets `additionalProperties: false`.
//! `FLOWSENTINEL_SHARED_DATA` points elsewhere than `../shared/data`;
//! without the schema the tests say so and pass.

use crate::util::{data, run, shared_data, tempdir};
use jsonschema::Validator;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The only top-level keys our events add to Suricata's schema.
const EXTENSIONS: [&str; 2] = ["ml", "flowsentinel"];

/// Suricata's `flow.state` and `flow.reason` values (src/output-json-flow.c).
const FLOW_STATES: [&str; 4] = ["new", "established", "closed", "bypassed"];
const FLOW_REASONS: [&str; 5] = ["timeout", "forced", "shutdown", "tcp_reuse", "unknown"];

/// The schema as it is, and tightened.
struct Schema {
    as_is: Validator,
    tight: Validator,
}

/// Every object schema that lists `properties` and says nothing of others
/// gets `additionalProperties: false`.
fn tighten(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".into(), Value::Bool(false));
            }
            o.values_mut().for_each(tighten);
        }
        Value::Array(a) => a.iter_mut().for_each(tighten),
        _ => {}
    }
}

/// The schema from `../shared`, or `None` (with a message) without it.
fn schema() -> Option<Schema> {
    let path = shared_data().map(|d| d.join("suricata/eve-schema.json"));
    let Some(path) = path.filter(|p| p.is_file()) else {
        eprintln!(
            "eve_schema: skipped: Suricata's schema (../shared/data/suricata/eve-schema.json) is not here"
        );
        return None;
    };
    let text = std::fs::read_to_string(&path).expect("read the schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    // What the check relies on: the schema refuses unknown top-level keys.
    assert_eq!(schema["additionalProperties"], false, "{}", path.display());
    for k in EXTENSIONS {
        assert!(
            schema["properties"].get(k).is_none(),
            "Suricata now has {k}"
        );
    }
    let as_is = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let mut tight = schema;
    tighten(&mut tight);
    let tight = jsonschema::draft202012::new(&tight).expect("tightened schema compiles");
    Some(Schema { as_is, tight })
}

/// The event's schema errors (empty: valid): the event less the two
/// extension keys, against the schema as it is and tightened.
fn errors(s: &Schema, ev: &Value) -> Vec<String> {
    let mut core = ev.clone();
    if let Some(o) = core.as_object_mut() {
        for k in EXTENSIONS {
            o.remove(k);
        }
    }
    let mut out = Vec::new();
    for (which, v) in [("schema", &s.as_is), ("tightened schema", &s.tight)] {
        for e in v.iter_errors(&core) {
            out.push(format!("{which}: {} at {}", e, e.instance_path()));
        }
    }
    out
}

/// Checks every event: the schema, where the extension keys go, and
/// Suricata's flow states and reasons. Returns the count per event type.
fn check_all(s: &Schema, events: &[Value], what: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for ev in events {
        let t = ev["event_type"].as_str().expect("event_type").to_string();
        let errs = errors(s, ev);
        assert!(errs.is_empty(), "{what}: {errs:#?}\nin {ev}");
        let (ml, ours) = (ev.get("ml"), ev.get("flowsentinel"));
        match t.as_str() {
            "alert" | "flow" => {
                assert!(ml.is_some_and(Value::is_object) && ours.is_none(), "{ev}");
                let state = ev["flow"]["state"].as_str().expect("flow.state");
                assert!(FLOW_STATES.contains(&state), "{ev}");
                if let Some(r) = ev["flow"].get("reason") {
                    assert!(FLOW_REASONS.contains(&r.as_str().unwrap_or("")), "{ev}");
                }
                let icmp = matches!(ev["proto"].as_str(), Some("ICMP" | "IPv6-ICMP"));
                assert_eq!(icmp, ev.get("icmp_type").is_some(), "{ev}");
                assert!(!icmp || ev.get("src_port").is_none(), "{ev}");
            }
            "stats" => {
                assert!(ours.is_some_and(Value::is_object) && ml.is_none(), "{ev}");
                let live = ev["stats"].get("capture").is_some();
                assert_eq!(live, ev.get("in_iface").is_some(), "{ev}");
            }
            other => panic!("{what}: unexpected event type {other}"),
        }
        *counts.entry(t).or_insert(0) += 1;
    }
    counts
}

/// Checks `events` (as [`check_all`] does) when the schema is here; for
/// the other tests' events.
pub fn assert_valid(events: &[Value], what: &str) {
    if let Some(s) = schema() {
        let counts = check_all(&s, events, what);
        eprintln!("eve_schema: {what}: validated {counts:?}");
    }
}

/// Replays `pcap` with the bundle `model` and `args`; returns the events.
fn replay(dir: &Path, pcap: &Path, model: &Path, args: &[&str]) -> Vec<Value> {
    let out = dir.join("events.json");
    let (pcap, model, out_s) = (pcap.display(), model.display(), out.display());
    let (pcap, model, out_s) = (pcap.to_string(), model.to_string(), out_s.to_string());
    let mut a = vec!["replay", &pcap, "--model", &model, "--alerts", &out_s, "-q"];
    a.extend_from_slice(args);
    let o = run(&a);
    assert!(
        o.status.success(),
        "{a:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(&out)
        .expect("read events")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn demo_events_validate_against_suricatas_schema() {
    let Some(s) = schema() else { return };
    let dir = tempdir("eve-schema-demo");
    let events = replay(
        &dir,
        &data().join("demo.pcap"),
        &repo("models/default"),
        &["--flow-events", "--stats-interval", "1"],
    );
    let counts = check_all(&s, &events, "demo");
    eprintln!("eve_schema: demo: validated {counts:?}");
    for t in ["alert", "flow", "stats"] {
        assert!(
            counts.get(t).is_some_and(|&n| n > 0),
            "no {t} event: {counts:?}"
        );
    }
    assert!(events.iter().any(|e| e["proto"] == "ICMP"));
    assert!(events.iter().any(|e| e["tcp"]["state"] == "fin"));
    // Every alert unaggregated: interim alerts (no flow.reason yet) too.
    let every = replay(
        &dir,
        &data().join("demo.pcap"),
        &repo("models/default"),
        &["--alert-limit", "0"],
    );
    let counts = check_all(&s, &every, "demo, --alert-limit 0");
    eprintln!("eve_schema: demo, --alert-limit 0: validated {counts:?}");
    assert!(every
        .iter()
        .any(|e| e["event_type"] == "alert" && e["flow"].get("reason").is_none()));
}

#[test]
fn every_profile_and_icmpv6_validate() {
    let Some(s) = schema() else { return };
    let dir = tempdir("eve-schema-profiles");
    // A compat bundle: the default model's graph read with cic2017 features
    // (meaningless verdicts, real compat events: ICMP is protocol 0 there).
    let compat = dir.join("cic2017");
    std::fs::create_dir_all(&compat).expect("mkdir");
    std::fs::copy(repo("models/default/model.onnx"), compat.join("model.onnx")).expect("copy");
    let mut meta: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("models/default/model.json")).expect("model.json"),
    )
    .expect("json");
    meta["profile"] = "cic2017".into();
    std::fs::write(compat.join("model.json"), meta.to_string()).expect("write");
    let veth = data().join("pcaps/small-veth.pcap");
    let mut protos = BTreeMap::new();
    for (name, model) in [
        ("fixed", repo("models/default")),
        ("cic2017", compat),
        ("kdd", repo("models/nslkdd")),
    ] {
        let events = replay(&dir, &veth, &model, &["--flow-events"]);
        let counts = check_all(&s, &events, name);
        eprintln!("eve_schema: small-veth, {name}: validated {counts:?}");
        if name == "fixed" {
            // IPv6 neighbour discovery and MLD reports: flows not scored.
            assert!(events.iter().any(|e| e["ml"]["unscored"].is_string()));
        }
        for e in &events {
            let key = (name, e["proto"].as_str().unwrap_or("").to_string());
            *protos.entry(key).or_insert(0) += 1;
        }
    }
    for (profile, proto) in [
        ("fixed", "IPv6-ICMP"),
        ("fixed", "ICMP"),
        ("cic2017", "ICMP"),
        ("kdd", "IPv6-ICMP"),
        ("kdd", "UDP"),
    ] {
        assert!(
            protos.contains_key(&(profile, proto.to_string())),
            "{profile}: no {proto} event: {protos:?}"
        );
    }
}

#[test]
fn the_check_refuses_anything_else() {
    let Some(s) = schema() else { return };
    let dir = tempdir("eve-schema-strict");
    let events = replay(
        &dir,
        &data().join("demo.pcap"),
        &repo("models/default"),
        &["--flow-events"],
    );
    let alert = events
        .iter()
        .find(|e| e["event_type"] == "alert" && e["proto"] == "TCP")
        .expect("a TCP alert");
    assert!(errors(&s, alert).is_empty());
    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut ev = alert.clone();
        edit(&mut ev);
        !errors(&s, &ev).is_empty()
    };
    assert!(bad(&|e| e["mlx"] = Value::Null), "an unknown top-level key");
    assert!(bad(&|e| e["in_iface"] = Value::Null), "in_iface null");
    assert!(bad(&|e| e["alert"]["label"] = "x".into()), "alert.label");
    assert!(
        bad(&|e| e["flow"]["alerted"] = "yes".into()),
        "alerted not bool"
    );
    assert!(bad(&|e| e["tcp"]["end"] = "fin".into()), "tcp.end");
    // Without the exception the extension itself is refused.
    assert!(
        s.as_is.iter_errors(alert).next().is_some(),
        "ml is not Suricata's"
    );
}

#[test]
fn a_live_stats_event_validates() {
    use flowsentinel::pipeline::counters::{Counter, Counters};
    let Some(s) = schema() else { return };
    let mut c = Counters::default();
    c.kernel = true;
    c.hook = Some(flowsentinel::ips::HookStats::default());
    c.set(Counter::KernelDrops, 3);
    c.alerts.insert("portscan".into(), 2);
    let ev = c.stats_event("2026-11-21T05:30:56.022209+0000".into(), Some("eth1"));
    assert_eq!(
        (&ev["in_iface"], &ev["stats"]["capture"]["kernel_drops"]),
        (&"eth1".into(), &3.into())
    );
    let errs = errors(&s, &ev);
    assert!(errs.is_empty(), "{errs:#?}\nin {ev}");
    let mut wrong = ev.clone();
    wrong["stats"]["alerts"] = serde_json::json!({"total": 2});
    assert!(
        !errors(&s, &wrong).is_empty(),
        "a counter Suricata has no name for"
    );
}
