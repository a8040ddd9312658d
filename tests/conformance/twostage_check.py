#!/usr/bin/env python3
"""Conformance for two-stage models (models/twostage.py): a per-flow forest
over CICFlowMeter columns and a context forest over window columns, packed
into one flat graph, scored on real flows with connection context.

    twostage_check.py OUTDIR --csvfixed FLOWS.csv [--flowsentinel BIN [--pcap CAPTURE]]

FLOWS.csv comes from `flowsentinel extract CAPTURE --profile fixed --context`
(with --flowsentinel and --pcap and no --csvfixed, this script runs that
itself, into OUTDIR/flows.csv). Writes OUTDIR/twostage/{model.onnx,
model.json, expected.csv} as make_models.py writes its bundles: expected.csv
is make_models.score_csv's table (onnxruntime on the float32 rows the sensor
feeds), which `flowsentinel model check OUTDIR/twostage --csv FLOWS.csv
--scores OUT.csv` must print.

Checked here: two builds give the same bytes; the graph through onnxruntime
agrees with twostage.predict_proba_reference (scikit-learn and numpy) within
1e-5 on every row; the rule is exercised (rows the gate sends to stage 2 and
rows it does not, stage 2 changing probabilities, no near tie deciding the
gate). With --flowsentinel, also `model check --scores` against the reference
and expected.csv, and, with --pcap, `replay CAPTURE --model OUTDIR/twostage`
(which runs the context stage): each flow it writes must get the label and
score expected.csv has for the same extracted flow.

Labels are synthetic rules on the flows (with seeded noise), trained and
scored on the same flows: this tests the packing, not a detector.
"""

import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "models"))

import make_models  # noqa: E402
import twostage  # noqa: E402

NAME = "twostage"
CLASSES = ["Benign", "portscan", "syn_flood", "udp_flood", "icmp_flood", "http_flood"]
SUBSET = ["portscan", "syn_flood", "udp_flood", "icmp_flood"]
# Stage 1: per-flow CICFlowMeter columns (Flow Byts/s and Flow Pkts/s are
# nonfinite on some flows: replaced by 0 as the bundle says).
STAGE1 = ["Dst Port", "Protocol", "Flow Duration", "Tot Fwd Pkts", "Tot Bwd Pkts",
          "TotLen Fwd Pkts", "Flow Byts/s", "Flow Pkts/s", "SYN Flag Cnt", "RST Flag Cnt"]
# Stage 2: connection-context window columns.
STAGE2 = ["count", "srv_count", "same_srv_rate", "serror_rate", "dst_host_srv_count",
          "src_count", "src_diff_port_count", "src_host_diff_port_count"]
SEED = 31000
NEAR_TIE = 1e-5


def column(x, name):
    return x[:, (STAGE1 + STAGE2).index(name)]


def stage1_labels(x, rs):
    """Rules on protocol, port and packet counts, then 15% of labels redrawn."""
    proto, port = column(x, "Protocol"), column(x, "Dst Port")
    fwd, bwd = column(x, "Tot Fwd Pkts"), column(x, "Tot Bwd Pkts")
    small = (proto == 6) & (fwd <= 2) & (bwd <= 1)
    y = np.full(len(x), "Benign", dtype=object)
    y[small & (port >= 1024)] = "portscan"
    y[small & (port < 1024)] = "syn_flood"
    y[(proto == 17) & ~np.isin(port, [53, 123])] = "udp_flood"
    y[proto == 1] = "icmp_flood"
    y[(proto == 6) & (port == 80) & (fwd > 2)] = "http_flood"
    noise = rs.rand(len(x)) < 0.15
    y[noise] = rs.choice(CLASSES, size=int(noise.sum()))
    return y.astype(str)


def stage2_labels(x, rs):
    """Rules on the windows over SUBSET only, then 10% of labels redrawn."""
    ports = column(x, "src_diff_port_count")
    y = np.full(len(x), "icmp_flood", dtype=object)
    y[column(x, "serror_rate") >= 0.2] = "syn_flood"
    y[ports >= np.median(ports)] = "portscan"
    y[(column(x, "same_srv_rate") >= 0.5) & (column(x, "srv_count") < 20)] = "udp_flood"
    noise = rs.rand(len(x)) < 0.10
    y[noise] = rs.choice(SUBSET, size=int(noise.sum()))
    return y.astype(str)


def fit(x, seed):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    rs = np.random.RandomState(seed)
    f1 = len(STAGE1)
    s1 = ExtraTreesClassifier(n_estimators=8, max_depth=6, random_state=seed)
    s1.fit(x[:, :f1], stage1_labels(x, rs))
    s2 = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=seed + 1)
    s2.fit(x[:, f1:], stage2_labels(x, rs))
    return s1, s2


def meta(seed):
    return {"name": "conformance-twostage", "version": "1",
            "trained_on": f"conformance suite: synthetic rule labels on the flows, seed {seed}",
            "profile": "fixed", "inputs": STAGE1 + STAGE2, "layout": {"kind": "flat"},
            "preprocess": {"nonfinite": "zero", "scaler": None},
            "output": {"kind": "probabilities", "name": "probabilities", "classes": CLASSES,
                       "benign": "Benign", "threshold": 0.5}}


def exercised(x, s1, s2, want):
    """Why these models would not test the rule, or None."""
    f1 = len(STAGE1)
    p1, p2 = twostage.stage_probabilities(s1, s2, x, f1, CLASSES, SUBSET)
    margins = twostage.gate_margins(p1, CLASSES, SUBSET)
    gated = margins > 0
    if np.abs(margins).min() < NEAR_TIE:
        return f"a near tie decides the gate (margin {np.abs(margins).min():.2g})"
    if gated.sum() < 20 or (~gated).sum() < 20:
        return f"{gated.sum()} gated rows of {len(x)}"
    if np.abs(want - p1).max(axis=1)[gated].max() < 0.05:
        return "stage 2 hardly changes the gated rows"
    top = np.sort(want, axis=1)
    if (top[:, -1] - top[:, -2] < NEAR_TIE).any():
        return "a near tie in the final probabilities"
    if len(set(want.argmax(axis=1))) < 3:
        return "fewer than three labels"
    return None


def build_bundle(outdir, flows):
    bdir = os.path.join(outdir, NAME)
    os.makedirs(bdir, exist_ok=True)
    f1, f2 = len(STAGE1), len(STAGE2)
    for seed in range(SEED, SEED + 50):
        m = meta(seed)
        x = make_models.model_input(m, flows)   # float32, exactly what the sensor feeds
        s1, s2 = fit(x, seed)
        want = twostage.predict_proba_reference(s1, s2, x, f1, CLASSES, SUBSET)
        why = exercised(x, s1, s2, want)
        if why is None:
            break
        print(f"{NAME}: seed {seed} skipped: {why}", file=sys.stderr)
    else:
        raise SystemExit(f"{NAME}: no seed exercises the rule")
    proto = twostage.build(s1, s2, f1, f2, CLASSES, SUBSET)
    again = twostage.build(s1, s2, f1, f2, CLASSES, SUBSET)
    assert proto.SerializeToString() == again.SerializeToString(), "two builds differ"
    ort_check = twostage.check(proto, s1, s2, x, f1, CLASSES, SUBSET)
    onnx.save(proto, os.path.join(bdir, "model.onnx"))
    with open(os.path.join(bdir, "model.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    header, rows = make_models.score_csv(bdir, flows)
    got = np.array([r[2:] for r in rows])
    d = float(np.abs(got - want).max())
    assert d <= twostage.TOLERANCE, f"expected.csv vs reference: {d}"
    make_models.write_scores(os.path.join(bdir, "expected.csv"), header, rows)
    sizes = {"bundle": len(proto.SerializeToString()),
             "stage1": len(twostage.convert(s1, f1).SerializeToString()),
             "stage2": len(twostage.convert(s2, f2).SerializeToString())}
    labels = {}
    for r in rows:
        labels[r[0]] = labels.get(r[0], 0) + 1
    print(f"{NAME}: seed {seed}, {len(rows)} rows of {os.path.basename(flows.path)}, "
          f"{ort_check['gated']} gated to stage 2, labels {labels}; onnxruntime vs reference "
          f"max |diff| {ort_check['max_diff']:.3g}; graph {sizes['bundle']} bytes, sub-models "
          f"{sizes['stage1']} + {sizes['stage2']}", file=sys.stderr)
    return bdir, want, header, rows


def sensor(binary, args):
    r = subprocess.run([binary] + args, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"flowsentinel {' '.join(args)} failed ({r.returncode}):\n"
                         f"{r.stdout}{r.stderr}")
    return r


def through_sensor(binary, outdir, bdir, csv_path, pcap, want, header, rows):
    scores = os.path.join(outdir, "scores.csv")
    sensor(binary, ["model", "check", bdir, "--csv", csv_path, "--scores", scores])
    with open(scores, newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == header, f"--scores header {got[0]}, expected {header}"
    assert len(got) - 1 == len(rows), f"{len(got) - 1} score rows, expected {len(rows)}"
    p = np.array([[float(v) for v in r[2:]] for r in got[1:]])
    d = float(np.abs(p - want).max())
    assert d <= twostage.TOLERANCE, f"sensor vs reference differ by {d}"
    bad = [i for i, (a, b) in enumerate(zip(got[1:], rows)) if a[0] != b[0]]
    assert not bad, f"{len(bad)} labels differ from onnxruntime's, first on data row {bad[0] + 1}"
    print(f"{NAME}: model check --scores vs reference max |diff| {d:.3g}", file=sys.stderr)
    if pcap:
        replay_agrees(binary, outdir, bdir, pcap, flows_key(csv_path), rows)


def flows_key(csv_path):
    """(Flow ID, Timestamp) of every row of a flow CSV, in order."""
    with open(csv_path, newline="") as f:
        table = list(csv.reader(f))
    i, t = table[0].index("Flow ID"), table[0].index("Timestamp")
    return [(r[i], r[t]) for r in table[1:] if r]


def replay_agrees(binary, outdir, bdir, pcap, keys, rows):
    """replay runs the context stage for the bundle, and every flow it writes
    gets the label and score that expected.csv has for the extracted flow."""
    flows_out = os.path.join(outdir, "replay-flows.csv")
    events = os.path.join(outdir, "replay-events.json")
    sensor(binary, ["replay", pcap, "--model", bdir, "--flows-csv", flows_out,
                    "--alerts", events, "--alert-limit", "0", "-q"])
    expected = dict(zip(keys, rows))
    assert len(expected) == len(rows), "(Flow ID, Timestamp) repeats in the flow CSV"
    replayed = flows_key(flows_out)
    with open(flows_out, newline="") as f:
        table = list(csv.reader(f))
    assert table[0][-2:] == ["ML Label", "ML Score"], table[0][-2:]
    assert len(replayed) == len(rows), f"replay wrote {len(replayed)} flows, extract {len(rows)}"
    worst = 0.0
    for k, r in zip(replayed, table[1:]):
        assert k in expected, f"replay flow {k} is not in the extracted CSV"
        label, score = expected[k][0], expected[k][1]
        assert r[-2] == label, f"replay labels {k} {r[-2]}, expected {label}"
        worst = max(worst, abs(float(r[-1]) - score))
    assert worst <= twostage.TOLERANCE, f"replay scores differ by {worst}"
    with open(events) as f:
        alerts = sum(1 for line in f if '"event_type":"alert"' in line)
    print(f"{NAME}: replay scored {len(replayed)} flows as model check did (max |diff| "
          f"{worst:.3g}), {alerts} alerts", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--csvfixed", help="flows from extract --profile fixed --context")
    ap.add_argument("--flowsentinel", help="the sensor binary: also score through it")
    ap.add_argument("--pcap", help="the capture: extract from it (without --csvfixed), replay it")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    csv_path = args.csvfixed
    if csv_path is None:
        if not (args.flowsentinel and args.pcap):
            raise SystemExit("give --csvfixed, or --flowsentinel and --pcap")
        csv_path = os.path.join(args.outdir, "flows.csv")
        sensor(args.flowsentinel, ["extract", args.pcap, "--profile", "fixed", "--context",
                                   "-o", csv_path, "-q"])
    flows = make_models.Flows(csv_path)
    bdir, want, header, rows = build_bundle(args.outdir, flows)
    if args.flowsentinel:
        through_sensor(args.flowsentinel, args.outdir, bdir, csv_path, args.pcap, want,
                       header, rows)


if __name__ == "__main__":
    main()
