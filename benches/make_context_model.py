#!/usr/bin/env python3
"""Build a bundle that reads context columns, for benches/context.sh.

    .venv/bin/python benches/make_context_model.py FLOWS.csv OUT_DIR

FLOWS.csv is `flowsentinel extract --profile fixed --context --labels ...`
output. The bundle takes the default model's 78 CICFlowMeter inputs plus every
window column the CSV carries (NSL-KDD's 19 and the 14 per-source ones), and
is the default model's recipe (ExtraTrees, 50 trees, max_depth 24), so that
the two replays differ by the context stage and 33 more inputs, not by the
model's size. It is a benchmark subject, not a detector: models/ holds those.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import ExtraTreesClassifier

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    flows, out = Path(sys.argv[1]), Path(sys.argv[2])
    default = json.loads((REPO / "models/default/model.json").read_text())
    with flows.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        data = list(rows)
    window = header[header.index("Label") + 1:]
    if len(window) != 33:
        sys.exit(f"{flows}: expected 33 context columns after Label, found {len(window)}")
    inputs = list(default["inputs"]) + window
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in inputs if c not in index]
    if missing:
        sys.exit(f"{flows}: columns missing: {missing}")
    cols = [index[c] for c in inputs]
    x = np.array([[float(r[c]) for c in cols] for r in data], dtype=np.float64)
    x[~np.isfinite(x)] = 0.0
    x = x.astype(np.float32)
    classes = default["output"]["classes"]
    labels = [r[index["Label"]] for r in data]
    y = np.array([classes.index(l) if l in classes else 0 for l in labels])
    model = ExtraTreesClassifier(n_estimators=50, max_depth=24, random_state=1, n_jobs=-1)
    model.fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(onx.SerializeToString())
    meta = dict(default)
    meta.update(name="bench-context", version="1", inputs=inputs,
                trained_on=f"benchmark subject: {flows.name}, default recipe plus context columns")
    meta["output"] = dict(default["output"], classes=[classes[i] for i in model.classes_])
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{out}: {len(inputs)} inputs ({len(window)} context), {len(data)} training flows")


if __name__ == "__main__":
    main()
