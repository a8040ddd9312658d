#!/usr/bin/env python3
"""Train the bundled model (models/default) from the project's lab captures
and the real-world benign captures, then judge it on held-out data.

    .venv/bin/python models/train.py                 # train, then evaluate
    .venv/bin/python models/train.py --phase train   # training data only
    .venv/bin/python models/train.py --phase evaluate

The model has two stages packed into one ONNX graph (models/twostage.py):
  1. a per-flow classifier over the CICFlowMeter columns (fixed profile), all
     classes;
  2. a context classifier over connection-context rates (the KDD windows by
     destination and the per-source windows) that settles the classes one flow
     cannot tell apart: portscan, syn_flood and udp_flood. It redistributes the
     probability stage 1 gave those classes whenever stage 1's top class is one
     of them; it never touches Benign or any other class.

Training data: lab runs train11..train13 (models/lab/make_data.sh), the first
lab's seed1 and seed2 (../shared/data/lab), and the real-world captures whose family hashes into the training split
(labdata.realworld_split). Flows the sensor does not score are left out.
Model choice and the alert rule come from out-of-fold predictions of two
cross-validations on the training data only: folds that never split an episode
(or a real-world family, or a benign minute of one run), and folds that hold
out whole attack variants (tool and options). The evaluation phase reads the
bundle and the held-out data (eval21, eval22, eval23, benign31, the first
lab's seed3, the other real-world families) and writes REPORT.md and eval_*.json; it fits nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labdata  # noqa: E402
import report  # noqa: E402
import twostage  # noqa: E402
from labdata import BENIGN, CLASSES, decide  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TRAIN_RUNS = ["train11", "train12", "train13"]
EVAL_RUNS = ["eval21", "eval22", "eval23", "benign31"]
# the first lab's runs (../shared/data/lab): other hosts, other tool versions of the same kinds
SHARED_TRAIN, SHARED_EVAL = ["seed1", "seed2"], ["seed3"]
SETTLED = ["portscan", "syn_flood", "udp_flood"]          # the classes stage 2 decides between
# Stage 2 reads rates and distinct counts only: raw counts follow the attack's rate, which the
# evaluation runs change on purpose.
CONTEXT = ["same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "serror_rate", "rerror_rate",
           "dst_host_same_srv_rate", "dst_host_diff_srv_rate", "dst_host_same_src_port_rate",
           "dst_host_srv_diff_host_rate", "dst_host_serror_rate", "dst_host_rerror_rate",
           "src_same_srv_rate", "src_diff_srv_rate", "src_diff_host_count", "src_diff_port_count",
           "src_serror_rate", "src_rerror_rate", "src_host_same_srv_rate", "src_host_diff_srv_rate",
           "src_host_diff_host_count", "src_host_diff_port_count", "src_host_serror_rate",
           "src_host_rerror_rate"]
# Per-source windows over the last 2 s: keyed by the flow's source, they describe what that one
# host is doing now (a flood's hundreds of connections to one service) and fade within seconds, so
# one attacker's episode cannot colour another host's flows. Stage-1 candidates may read them.
SRC_2S = ["src_count", "src_same_srv_rate", "src_diff_srv_rate", "src_diff_host_count", "src_diff_port_count",
          "src_serror_rate", "src_rerror_rate"]
# KDD's time-window columns by destination, also over the last 2 s: what every host is doing to
# the flow's destination now (a spoofed flood's thousands of one-packet flows to one service).
DST_2S = ["count", "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
          "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate"]
RANDOM_STATE = 20261207
MAX_PER_EPISODE = 1500
FOLDS = 5
# stage-1 candidates: name, kind, trees, depth, benign weight, windows read (0 none, 1 SRC_2S,
# 2 SRC_2S and DST_2S)
GRID = [("et-flow-b1", "et", 60, 24, 1.0, 0), ("et-flow-b4", "et", 60, 24, 4.0, 0),
        ("et-flow+src2s-b1", "et", 60, 24, 1.0, 1), ("et-flow+src2s-b4", "et", 60, 24, 4.0, 1),
        ("et-flow+src2s+dst2s-b1", "et", 60, 24, 1.0, 2), ("et-flow+src2s+dst2s-b4", "et", 60, 24, 4.0, 2)]
THRESHOLDS = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9]
# The rule must meet the targets (benign FPR 0.1 %, real-world alerts 1 %) out of fold with a
# factor 2 to spare: held-out data is harder than folds of the training runs.
FPR_TARGET, RW_TARGET = 0.0005, 0.005


def log(msg):
    print(f"[train] {msg}", flush=True)


def stage1_columns(fl: labdata.Flows) -> list[str]:
    ctx_names = {"count", "srv_count"} | {h for h in fl.numeric if h.startswith(("dst_host_", "src_"))} | \
        {h for h in fl.numeric if h.endswith("_rate")}
    return [h for h in fl.numeric if h not in ctx_names]


def load(binary, runs_dir, rw_files, work, names, tag, shared_lab=None, shared_names=()):
    flows = [labdata.lab_run(binary, runs_dir / n, work) for n in names]
    flows += [labdata.lab_run(binary, shared_lab / n, work) for n in shared_names]
    for fl in flows:
        log(f"{fl.name}: {len(fl.y)} flows, {int(fl.unscored.sum())} not scored, "
            f"{sum(fl.label == BENIGN)} benign")
    rw = labdata.realworld(binary, rw_files, work, tag)
    log(f"real-world {tag}: {len(rw)} files, {sum(len(f.y) for f in rw)} flows")
    return flows, rw


def stack(flows, cols1, rng=None):
    """Scored flows of several captures as one matrix; with rng, each episode
    capped at MAX_PER_EPISODE flows (seeded choice)."""
    parts = []
    for fl in flows:
        keep = ~fl.unscored
        if rng is not None:
            for ep in sorted(set(fl.episode[keep]) - {""}):   # sorted: the draws must not follow str hashing
                idx = np.flatnonzero(keep & (fl.episode == ep))
                if len(idx) > MAX_PER_EPISODE:
                    keep[np.setdiff1d(idx, rng.choice(idx, MAX_PER_EPISODE, replace=False))] = False
        parts.append(dict(x1=fl.matrix(cols1)[keep], x2=fl.matrix(CONTEXT)[keep], y=fl.y[keep],
                          group=fl.group[keep], variant=fl.variant[keep], episode=fl.episode[keep],
                          rw=np.full(keep.sum(), fl.name.startswith("rw/"))))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def fit_stage1(cfg, x, y, jobs):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    _, kind, trees, depth, bw, _ = cfg
    counts = np.bincount(y, minlength=len(CLASSES)).astype(float)
    w = np.sqrt(len(y) / (len(CLASSES) * np.maximum(counts, 1)))[y]
    w[y == 0] *= bw
    cls = ExtraTreesClassifier if kind == "et" else RandomForestClassifier
    clf = cls(n_estimators=trees, max_depth=depth, max_features="sqrt", min_samples_leaf=1,
              random_state=RANDOM_STATE, n_jobs=jobs)
    return clf.fit(x, y, sample_weight=w)


def fit_stage2(x, y, jobs):
    from sklearn.ensemble import RandomForestClassifier
    clf = RandomForestClassifier(n_estimators=40, max_depth=10, min_samples_leaf=5, max_features="sqrt",
                                 class_weight="balanced", random_state=RANDOM_STATE, n_jobs=jobs)
    return clf.fit(x, np.array(CLASSES, dtype=object)[y])      # stage 2 knows its classes by name


def proba(clf, x, n):
    p = np.zeros((len(x), n))
    cols = [CLASSES.index(c) if isinstance(c, str) else int(c) for c in clf.classes_]
    p[:, cols] = clf.predict_proba(x)
    return p


SETTLED_IDX = [CLASSES.index(c) for c in SETTLED]


def combine(p1, p2):
    """The two-stage rule (twostage.py), on probability matrices over CLASSES:
    p2 holds stage 2's probabilities in the SETTLED_IDX columns."""
    top = p1.argmax(axis=1)
    hit = np.isin(top, SETTLED_IDX)
    mass = p1[:, SETTLED_IDX].sum(axis=1)
    out = p1.copy()
    out[np.ix_(hit, SETTLED_IDX)] = mass[hit, None] * p2[np.ix_(hit, SETTLED_IDX)]
    return out


def windows(cfg):
    return [[], SRC_2S, SRC_2S + DST_2S][cfg[5]]


def view(cfg, d):
    """The stage-1 matrix of a candidate: x1 holds the per-flow columns, then SRC_2S, then DST_2S."""
    return d["x1"][:, :d["n_flow"] + len(windows(cfg))]


def oof(cfg, d, folds, jobs, two_stage=True):
    n = len(CLASSES)
    d = dict(d, x1=view(cfg, d))
    p1, p2 = np.zeros((len(d["y"]), n)), np.zeros((len(d["y"]), n))
    for tr, te in folds:
        p1[te] = proba(fit_stage1(cfg, d["x1"][tr], d["y"][tr], jobs), d["x1"][te], n)
        s = tr[np.isin(d["y"][tr], SETTLED_IDX)]
        if two_stage and len(set(d["y"][s])) > 1:
            p2[te] = proba(fit_stage2(d["x2"][s], d["y"][s], jobs), d["x2"][te], n)
    return combine(p1, p2) if two_stage else p1


def folds_by(groups, k):
    from sklearn.model_selection import GroupKFold
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups))


def scores(y, pred, alert, rw):
    from sklearn.metrics import f1_score
    lab = ~rw
    present = sorted(set(y[lab]))
    return dict(macro_f1=float(f1_score(y[lab], pred[lab], labels=present, average="macro", zero_division=0)),
                benign_fpr=float(alert[lab & (y == 0)].mean()),
                benign_alerts=int(alert[lab & (y == 0)].sum()),
                rw_alert_rate=float(alert[rw].mean()) if rw.any() else 0.0,
                recall={CLASSES[c]: float((pred[y == c] == c).mean()) for c in present if c})


def choose(table):
    """Among (config, threshold) rows that meet both benign targets out of
    fold, the best episode-grouped macro-F1; if none meets them, the lowest
    lab benign FPR, then real-world rate."""
    ok = [r for r in table if r["group"]["benign_fpr"] <= FPR_TARGET and r["group"]["rw_alert_rate"] <= RW_TARGET]
    if ok:
        return max(ok, key=lambda r: (round(r["group"]["macro_f1"], 4), r["threshold"]))
    return min(table, key=lambda r: (r["group"]["benign_fpr"], r["group"]["rw_alert_rate"], -r["group"]["macro_f1"]))


def phase_train(args, binary, work):
    t0 = time.time()
    rw_train, _ = labdata.realworld_split(args.realworld)
    flows, rw = load(binary, args.lab, rw_train, work, TRAIN_RUNS, "train", args.shared_lab, SHARED_TRAIN)
    cols1 = stage1_columns(flows[0])
    rng = np.random.default_rng(RANDOM_STATE)
    d = stack(flows + rw, cols1 + SRC_2S + DST_2S, rng)
    d["n_flow"] = len(cols1)
    log(f"training rows: {len(d['y'])} ({dict(zip(CLASSES, np.bincount(d['y'], minlength=len(CLASSES)).tolist()))})")
    grouped = folds_by(d["group"], FOLDS)
    by_variant = folds_by(np.where(d["variant"] != "", d["variant"], d["group"]), FOLDS)
    table, oofs = [], {}
    for cfg in GRID:
        pg = oof(cfg, d, grouped, args.jobs)
        pv = oof(cfg, d, by_variant, args.jobs)
        oofs[cfg[0]] = pg
        for t in THRESHOLDS:
            thr = np.r_[0.0, np.full(len(CLASSES) - 1, t)]
            row = dict(config=cfg[0], threshold=t)
            for name, p in (("group", pg), ("variant", pv)):
                pred, alert = decide(p, thr)
                row[name] = scores(d["y"], pred, alert, d["rw"])
            table.append(row)
            log(f"{cfg[0]} t={t}: grouped F1 {row['group']['macro_f1']:.4f} fpr {row['group']['benign_fpr']:.4%} "
                f"rw {row['group']['rw_alert_rate']:.2%} | variant-out F1 {row['variant']['macro_f1']:.4f}")
    best = choose(table)
    cfg = next(c for c in GRID if c[0] == best["config"])
    # the flat alternative: stage 1 alone, and one model over per-flow + context columns
    flat = {}
    thr = np.r_[0.0, np.full(len(CLASSES) - 1, best["threshold"])]
    for name, folds in (("group", grouped), ("variant", by_variant)):
        pred, alert = decide(oof(cfg, d, folds, args.jobs, two_stage=False), thr)
        flat.setdefault("stage 1 alone", {})[name] = scores(d["y"], pred, alert, d["rw"])
        dd = dict(d, x1=np.hstack([view(cfg, d), d["x2"]]), n_flow=view(cfg, d).shape[1] + d["x2"].shape[1])
        pred, alert = decide(oof(cfg[:5] + (0,), dd, folds, args.jobs, two_stage=False), thr)
        flat.setdefault("one model, per-flow + context columns", {})[name] = scores(d["y"], pred, alert, d["rw"])
    log(f"chosen: {best['config']} threshold {best['threshold']}; flat alternatives: "
        + "; ".join(f"{k}: {v['group']['macro_f1']:.4f}/{v['variant']['macro_f1']:.4f}" for k, v in flat.items()))
    x1 = view(cfg, d)
    cols1 = cols1 + windows(cfg)
    s1 = fit_stage1(cfg, x1, d["y"], args.jobs)
    s = np.isin(d["y"], SETTLED_IDX)
    s2 = fit_stage2(d["x2"][s], d["y"][s], args.jobs)
    model = twostage.build(s1, s2, len(cols1), len(CONTEXT), CLASSES, list(s2.classes_))
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    meta = {
        "name": "flowsentinel-lab", "version": "2",
        "trained_on": "flowsentinel lab runs train11-13, the first lab's seed1 and seed2, and real-world "
                      "benign captures (training families)",
        "profile": "fixed", "inputs": cols1 + CONTEXT, "layout": {"kind": "flat"},
        "preprocess": {"nonfinite": "zero", "scaler": None},
        "output": {"kind": "probabilities", "name": "probabilities", "classes": CLASSES, "benign": BENIGN,
                   "threshold": best["threshold"]},
    }
    (args.out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    check_rows = x1[:2000], d["x2"][:2000]
    twostage.check(model, s1, s2, np.hstack(check_rows), len(cols1), CLASSES, list(s2.classes_))
    training = dict(chosen=best, table=table, flat=flat, rows=int(len(d["y"])),
                    rows_per_class=dict(zip(CLASSES, np.bincount(d["y"], minlength=len(CLASSES)).tolist())),
                    realworld_train_files=len(rw), runs=TRAIN_RUNS + SHARED_TRAIN, grid=[list(c) for c in GRID],
                    stage1_features=len(cols1), stage2_features=CONTEXT, seconds=round(time.time() - t0),
                    model_bytes=onnx_path.stat().st_size, python=platform.python_version())
    (args.out / "training.json").write_text(json.dumps(training, indent=1) + "\n")
    log(f"wrote {onnx_path} ({onnx_path.stat().st_size:,} bytes) in {time.time() - t0:.0f} s")


def phase_evaluate(args, binary, work):
    _, rw_eval = labdata.realworld_split(args.realworld)
    flows, rw = load(binary, args.lab, rw_eval, work, EVAL_RUNS, "eval", args.shared_lab, SHARED_EVAL)
    report.evaluate(args.out, flows, rw, binary)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flowsentinel", type=Path, default=REPO / "target/release/flowsentinel")
    ap.add_argument("--lab", type=Path, default=REPO / "models/lab/runs", help="folder of the lab runs")
    ap.add_argument("--realworld", type=Path, default=REPO / "../shared/data/realworld")
    ap.add_argument("--shared-lab", type=Path, default=REPO / "../shared/data/lab",
                    help="the first lab's runs seed1..seed3")
    ap.add_argument("--out", type=Path, default=REPO / "models/default")
    ap.add_argument("--phase", choices=["train", "evaluate", "all"], default="all")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    binary = args.flowsentinel.resolve()
    if not os.access(binary, os.X_OK):
        labdata.die(f"{binary}: no flowsentinel binary (cargo build --release, or --flowsentinel PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.phase in ("train", "all"):
            phase_train(args, binary, Path(tmp))
        if args.phase in ("evaluate", "all"):
            phase_evaluate(args, binary, Path(tmp))


if __name__ == "__main__":
    main()
