"""Judges a bundle on held-out flows and writes REPORT.md and eval_*.json.

The bundle's graph is run with onnxruntime on the columns its model.json
names (float32, as the sensor feeds them) and the sensor's rule decides: the
top class alerts when it is not Benign and reaches its threshold; flows the
sensor does not score never alert. Nothing is fitted here.

Flows the sensor does not score (an unspecified source, a multicast or
limited-broadcast destination) are left out of every figure; their number is
reported beside them.

An episode is detected when one of its flows alerts (under any attack label;
the table also says whether its own label was among them). Its first-alert
delay is the time from the episode's start to the last packet of the first
alerting flow: when the flow's final verdict can come at the earliest (a flow
that ends by timeout alerts later; an interim verdict on a flow still open,
every `--interim-after` seconds, can come earlier).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from labdata import BENIGN, CLASSES, decide


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, c - h), min(1.0, c + h)


class Scorer:
    def __init__(self, bundle: Path):
        import onnxruntime as ort
        self.meta = json.loads((bundle / "model.json").read_text())
        self.inputs = [c if isinstance(c, str) else c["name"] for c in self.meta["inputs"]]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.sess = ort.InferenceSession(str(bundle / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        out = self.meta["output"]
        self.classes = out["classes"]
        if self.classes != CLASSES:
            raise SystemExit(f"{bundle}: classes {self.classes} are not {CLASSES}")
        t = out.get("threshold", 0)
        self.thr = np.array([0.0] + [float(t.get(c, 0)) if isinstance(t, dict) else float(t) for c in CLASSES[1:]])
        self.sha = hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()

    def __call__(self, fl):
        x = fl.matrix(self.inputs).astype(np.float32)
        name = self.sess.get_inputs()[0].name
        p = np.concatenate([self.sess.run(["probabilities"], {name: x[i:i + 4096]})[0]
                            for i in range(0, len(x), 4096)]) if len(x) else np.zeros((0, len(CLASSES)))
        pred, alert = decide(p, self.thr)
        alert &= ~fl.unscored                 # the sensor does not score these
        return np.where(alert, pred, 0), alert, p


def per_class(cm):
    """(class, flows, precision, recall, F1) for each class present in the
    truth rows of a confusion matrix."""
    out = []
    for c in range(len(cm)):
        real = cm[c].sum()
        if not real:
            continue
        tp, npred = cm[c, c], cm[:, c].sum()
        p_, r_ = (tp / npred if npred else 0.0), tp / real
        out.append((c, int(real), float(p_), float(r_), float(2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0)))
    return out


def run_metrics(fl, pred, alert):
    keep = ~fl.unscored
    y, pred, alert = fl.y[keep], pred[keep], alert[keep]
    episode, end_us = fl.episode[keep], fl.end_us[keep]
    n = len(CLASSES)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    rows = per_class(cm)
    present = [c for c, *_ in rows]
    f1s = [f1 for *_, f1 in rows]
    by_class = {CLASSES[c]: dict(flows=real, precision=round(p_, 6), recall=round(r_, 6), f1=round(f1, 6))
                for c, real, p_, r_, f1 in rows}
    benign = y == 0
    k, nb = int(alert[benign].sum()), int(benign.sum())
    lo, hi = wilson(k, nb)
    episodes = []
    for e in fl.episodes:
        eid = f"{fl.name}/{e['episode_id']}"
        if any(x["id"] == eid for x in episodes):
            continue
        idx = np.flatnonzero(episode == eid)
        hit = idx[alert[idx]]
        first = int(hit[np.argmin(end_us[hit])]) if len(hit) else None
        episodes.append(dict(
            id=eid, label=e["label"], variant=f"{e['label']}/{e['sublabel']}", tool=e["tool"], flows=int(len(idx)),
            alerts=int(len(hit)), own_label=int((pred[idx] == CLASSES.index(e["label"])).sum()),
            detected=bool(len(hit)),
            first_alert_s=round((end_us[first] - e["start_us"]) / 1e6, 3) if first is not None else None))
    return dict(run=fl.name, flows=int(len(y)), unscored=int(fl.unscored.sum()),
                macro_f1=round(float(np.mean(f1s)), 6), classes_present=[CLASSES[c] for c in present],
                benign_flows=nb, benign_alerts=k, benign_fpr=k / nb if nb else 0.0, benign_fpr_ci95=[lo, hi],
                per_class=by_class, confusion_matrix=cm.tolist(), episodes=episodes,
                episodes_detected=sum(e["detected"] for e in episodes), episodes_total=len(episodes),
                alerts_total=int(alert.sum()))


def evaluate(bundle: Path, flows, rw, binary):
    score = Scorer(bundle)
    results = []
    for fl in flows:
        pred, alert, _ = score(fl)
        m = run_metrics(fl, pred, alert)
        m["model_sha256"] = score.sha
        results.append(m)
        (bundle / f"eval_{fl.name}.json").write_text(json.dumps(m, indent=1) + "\n")
        print(f"[eval] {fl.name}: flows {m['flows']} macro-F1 {m['macro_f1']:.4f} benign FPR "
              f"{m['benign_fpr']:.4%} ({m['benign_alerts']}/{m['benign_flows']}) episodes "
              f"{m['episodes_detected']}/{m['episodes_total']}", flush=True)
    rw_rows = []
    for fl in rw:
        pred, alert, p = score(fl)
        rw_rows.append(dict(file=fl.name[3:], flows=int((~fl.unscored).sum()), unscored=int(fl.unscored.sum()),
                            alerts=int(alert.sum()),
                            labels={CLASSES[c]: int((pred[alert] == c).sum()) for c in set(pred[alert].tolist())}))
    total = sum(r["flows"] for r in rw_rows)
    alerts = sum(r["alerts"] for r in rw_rows)
    rw_summary = dict(files=len(rw_rows), flows=total, unscored=sum(r["unscored"] for r in rw_rows), alerts=alerts,
                      alert_rate=alerts / total if total else 0.0, files_alerting=[r for r in rw_rows if r["alerts"]])
    (bundle / "eval_realworld.json").write_text(json.dumps(rw_summary, indent=1) + "\n")
    print(f"[eval] real-world evaluation families: {alerts}/{total} scored flows alert "
          f"({rw_summary['alert_rate']:.2%}; {rw_summary['unscored']} not scored)")
    training = json.loads((bundle / "training.json").read_text())
    (bundle / "REPORT.md").write_text(render(score, results, rw_summary, training))


def pct(x):
    return f"{100 * x:.3f}%"


def render(score, results, rw, training):
    meta = score.meta
    out = ["# models/default: the two-stage lab model\n",
           "Written by `models/train.py` (`.venv/bin/python models/train.py`, from the repository root) "
           "from the captures `bash models/lab/make_data.sh` makes. Everything below the line *Held-out "
           "results* is computed by its evaluation phase, which fits nothing.\n",
           f"- model.onnx: {training['model_bytes']:,} bytes, sha256 `{score.sha}`",
           f"- inputs: stage 1 reads {training['stage1_features']} columns (per-flow columns and 2-s windows), "
           f"stage 2 {len(training['stage2_features'])} context columns; classes: " + ", ".join(CLASSES),
           f"- alert rule: top class not Benign with probability >= {meta['output']['threshold']}; flows from an "
           "unspecified source or to a multicast/broadcast address are not scored",
           f"- training: {training['rows']:,} rows from {', '.join(training['runs'])} and "
           f"{training['realworld_train_files']} real-world files; took {training['seconds']} s\n"]
    out.append("## Held-out results\n")
    out.append("| capture | flows | macro-F1 | benign FPR (alerts/flows) | 95% CI | episodes detected |")
    out.append("|---|---:|---:|---|---|---:|")
    for m in results:
        lo, hi = m["benign_fpr_ci95"]
        out.append(f"| {m['run']} | {m['flows']:,} | {m['macro_f1']:.4f} | {pct(m['benign_fpr'])} "
                   f"({m['benign_alerts']}/{m['benign_flows']:,}) | {pct(lo)} - {pct(hi)} | "
                   f"{m['episodes_detected']}/{m['episodes_total']} |")
    nb = sum(m["benign_flows"] for m in results)
    kb = sum(m["benign_alerts"] for m in results)
    lo, hi = wilson(kb, nb)
    out.append(f"| all lab benign | {nb:,} | | {pct(kb / nb)} ({kb}/{nb:,}) | {pct(lo)} - {pct(hi)} | |")
    out.append(f"| real-world, evaluation families ({rw['files']} files, each alone; {rw['unscored']} flows "
               f"not scored) | {rw['flows']:,} | | {rw['alerts']} alert ({pct(rw['alert_rate'])}) | | |\n")
    out.append("### Per class (all lab evaluation runs together)\n")
    n = len(CLASSES)
    cm = np.sum([np.array(m["confusion_matrix"]) for m in results], axis=0)
    out.append("| class | flows | precision | recall | F1 |")
    out.append("|---|---:|---:|---:|---:|")
    rows = per_class(cm)
    for c, real, p_, r_, f1 in rows:
        out.append(f"| {CLASSES[c]} | {real:,} | {p_:.4f} | {r_:.4f} | {f1:.4f} |")
    out.append(f"\nMacro-F1 over the runs pooled: {np.mean([r[4] for r in rows]):.4f}\n")
    out.append("### Confusion matrix (rows: truth, columns: verdict; all lab evaluation runs)\n")
    out.append("| | " + " | ".join(CLASSES) + " |")
    out.append("|---" * (n + 1) + "|")
    for c in range(n):
        out.append(f"| {CLASSES[c]} | " + " | ".join(f"{v:,}" for v in cm[c]) + " |")
    out.append("\n### Episodes\n")
    out.append("| episode | variant | tool | flows | alerts | under its own label | first alert after |")
    out.append("|---|---|---|---:|---:|---:|---:|")
    for m in results:
        for e in m["episodes"]:
            d = f"{e['first_alert_s']:.3f} s" if e["first_alert_s"] is not None else "missed"
            out.append(f"| {e['id']} | {e['variant']} | {e['tool']} | {e['flows']:,} | {e['alerts']:,} | "
                       f"{e['own_label']:,} | {d} |")
    out.append("\n### Real-world files that alert (evaluation families)\n")
    out.append("| file | flows | alerts | labels |")
    out.append("|---|---:|---:|---|")
    for r in rw["files_alerting"]:
        out.append(f"| {r['file']} | {r['flows']} | {r['alerts']} | "
                   + ", ".join(f"{k} {v}" for k, v in sorted(r["labels"].items())) + " |")
    out.append("\n## How the design and the rule were chosen (training data only)\n")
    out.append("Out-of-fold scores on the training runs. *grouped*: folds never split an episode, a real-world "
               "family or a benign minute of one run; *variant out*: each fold holds out whole attack variants "
               "(tool and options). Lab benign FPR and real-world alert rate are out of fold too.\n")
    out.append("| stage 1 | threshold | grouped macro-F1 | grouped FPR | real-world alerts | variant-out macro-F1 |"
               " variant-out FPR |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in training["table"]:
        g, v = r["group"], r["variant"]
        out.append(f"| {r['config']} | {r['threshold']} | {g['macro_f1']:.4f} | {pct(g['benign_fpr'])} | "
                   f"{pct(g['rw_alert_rate'])} | {v['macro_f1']:.4f} | {pct(v['benign_fpr'])} |")
    ch = training["chosen"]
    out.append(f"\nChosen before any evaluation run was read: **{ch['config']}, threshold {ch['threshold']}**.\n")
    out.append("The flat alternatives, with the chosen stage 1 and threshold:\n")
    out.append("| design | grouped macro-F1 | grouped FPR | variant-out macro-F1 | variant-out FPR |")
    out.append("|---|---:|---:|---:|---:|")
    out.append(f"| two stages (chosen) | {ch['group']['macro_f1']:.4f} | {pct(ch['group']['benign_fpr'])} | "
               f"{ch['variant']['macro_f1']:.4f} | {pct(ch['variant']['benign_fpr'])} |")
    for k, v in training["flat"].items():
        out.append(f"| {k} | {v['group']['macro_f1']:.4f} | {pct(v['group']['benign_fpr'])} | "
                   f"{v['variant']['macro_f1']:.4f} | {pct(v['variant']['benign_fpr'])} |")
    notes = Path(__file__).resolve().parent / "default" / "NOTES.md"
    if notes.is_file():
        out.append("\n" + notes.read_text())
    return "\n".join(out) + "\n"
