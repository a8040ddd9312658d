#!/usr/bin/env python3
"""Pack a two-stage classifier into one flat ONNX graph that the sensor runs
as an ordinary `probabilities` bundle (see models/README.md, "Two-stage
models").

Stage 1 is a per-flow classifier fitted on feature columns [0, f1) (CICFlowMeter
columns) over the classes C. Stage 2 is a context classifier fitted on columns
[f1, f1 + f2) (connection-context window columns) over S, a subset of C with at
least two classes. For every row, with p1 the stage-1 probabilities over C:

    if argmax(p1) (the first on a tie) is in S:
        m = sum of p1 over S
        p[k] = m * p2[k]   for k in S     (p2: stage-2 probabilities over S)
        p[k] = p1[k]       for k not in S
    else:
        p = p1

The graph takes one float tensor `input` [N, f1 + f2] and writes
`probabilities` [N, |C|] in C's order (rows still sum to 1).

    import twostage
    proto = twostage.build(stage1, stage2, f1, f2, classes, subset)
    twostage.check(proto, stage1, stage2, x, f1, classes, subset)   # onnxruntime vs numpy
    onnx.save(proto, "bundle/model.onnx")

The two models are converted with skl2onnx (zipmap off, opsets of
models/train.py), each sub-graph gets a prefix (`stage1_`, `stage2_`) and only
the nodes its probabilities need, and the combination is plain ONNX: Slice,
MatMul with 0/1 matrices, ArgMax, Gather, Mul, Add, Where. The bytes depend on
the fitted models and the arguments only (building twice gives the same file).

Class labels: a model's `classes_` that are strings name classes of `classes`
(stage 1) or of `subset` (stage 2); integer labels are positions in those lists.
A class the model never saw gets probability 0.

`python models/twostage.py` runs a self-test on synthetic data.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = {"": 17, "ai.onnx.ml": 3}   # what models/train.py gives skl2onnx
IR_VERSION = 8                      # the IR of opset 17
PRODUCER = "flowsentinel-twostage"
PREFIXES = ("stage1_", "stage2_")
TOLERANCE = 1e-5


# --------------------------------------------------------------------------- classes

def _label(v):
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"boolean class label {v!r}")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (str, np.str_)):
        return str(v)
    raise ValueError(f"class label {v!r} is neither a string nor an integer")


def _positions(model, names: list[str], which: str) -> list[int]:
    """Index in `names` of each entry of model.classes_, in classes_ order."""
    out = []
    for v in getattr(model, "classes_", []):
        lab = _label(v)
        if isinstance(lab, int):
            if not 0 <= lab < len(names):
                raise ValueError(f"{which}: class {lab} is no position in {names}")
            out.append(lab)
        elif lab in names:
            out.append(names.index(lab))
        else:
            raise ValueError(f"{which}: class {lab!r} is not one of {names}")
    if not out:
        raise ValueError(f"{which}: not a fitted classifier (no classes_)")
    if len(set(out)) != len(out):
        raise ValueError(f"{which}: classes_ {list(model.classes_)} name a class twice")
    return out


def _validate(stage1, stage2, f1, f2, classes, subset):
    classes, subset = [str(c) for c in classes], [str(c) for c in subset]
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes {classes} hold a name twice")
    if len(set(subset)) != len(subset) or len(subset) < 2:
        raise ValueError(f"subset {subset} must hold at least two distinct classes")
    missing = [s for s in subset if s not in classes]
    if missing:
        raise ValueError(f"subset classes {missing} are not in classes {classes}")
    for model, n, which in ((stage1, f1, "stage1"), (stage2, f2, "stage2")):
        if int(n) != n or n < 1:
            raise ValueError(f"{which}: {n} feature columns")
        seen = getattr(model, "n_features_in_", n)
        if seen != n:
            raise ValueError(f"{which} was fitted on {seen} columns, not {n}")
    pos1 = _positions(stage1, classes, "stage1")
    pos2 = [classes.index(subset[i]) for i in _positions(stage2, subset, "stage2")]
    return classes, subset, pos1, pos2


def _scatter(positions: list[int], width: int) -> np.ndarray:
    """0/1 matrix [len(positions), width] that moves column i to positions[i]."""
    m = np.zeros((len(positions), width), dtype=np.float32)
    m[np.arange(len(positions)), positions] = 1.0
    return m


# --------------------------------------------------------------------------- reference

def stage_probabilities(stage1, stage2, x, f1, classes, subset):
    """(p1, p2): each stage's sklearn probabilities [N, |C|] in C's order
    (float64; p2 is 0 outside the subset), from the float32 rows the graph gets."""
    classes, subset = [str(c) for c in classes], [str(c) for c in subset]
    x = np.asarray(x, dtype=np.float32)
    f2 = getattr(stage2, "n_features_in_", x.shape[1] - f1)
    _, _, pos1, pos2 = _validate(stage1, stage2, f1, f2, classes, subset)
    p1 = np.zeros((len(x), len(classes)))
    p1[:, pos1] = stage1.predict_proba(x[:, :f1])
    p2 = np.zeros((len(x), len(classes)))
    p2[:, pos2] = stage2.predict_proba(x[:, f1:f1 + f2])
    return p1, p2


def combine(p1, p2, classes, subset):
    """The two-stage rule on probability arrays in C's order. The argmax is taken
    over p1 rounded to float32, the precision the graph computes in."""
    in_s = np.array([c in subset for c in classes])
    top = np.asarray(p1, dtype=np.float32).argmax(axis=1)       # first on a tie
    gate = in_s[top][:, None]
    mass = p1[:, in_s].sum(axis=1, keepdims=True)
    return np.where(gate, np.where(in_s, mass * p2, p1), p1)


def predict_proba_reference(stage1, stage2, x, f1, classes, subset) -> np.ndarray:
    """The combined probabilities [N, |C|] from the sklearn models, in numpy."""
    p1, p2 = stage_probabilities(stage1, stage2, x, f1, classes, subset)
    return combine(p1, p2, [str(c) for c in classes], [str(c) for c in subset])


def gate_margins(p1, classes, subset) -> np.ndarray:
    """Per row: the best stage-1 probability in the subset minus the best outside
    it. Rows near 0 are near ties where float rounding decides the gate."""
    in_s = np.array([c in subset for c in classes])
    return p1[:, in_s].max(axis=1) - p1[:, ~in_s].max(axis=1, initial=0.0)


# --------------------------------------------------------------------------- graph

def convert(model, n_features: int) -> onnx.ModelProto:
    """One fitted classifier as skl2onnx exports it here: input `input` float
    [N, n_features], zipmap off, the opsets of models/train.py."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    return convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_features]))],
                           options={id(model): {"zipmap": False}}, target_opset=dict(OPSET))


def _probabilities_output(m: onnx.ModelProto) -> str:
    outs = [o for o in m.graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT
            and len(o.type.tensor_type.shape.dim) == 2]
    named = [o for o in outs if o.name == "probabilities"]
    if len(named) == 1:
        return named[0].name
    if len(outs) == 1:
        return outs[0].name
    raise ValueError(f"{m.graph.name}: no single probabilities output "
                     f"among {[o.name for o in m.graph.output]}")


def _prune(graph: onnx.GraphProto, keep: str) -> list[onnx.NodeProto]:
    """The nodes `keep` depends on, in graph order."""
    need, nodes = {keep}, []
    for node in reversed(graph.node):
        if need.intersection(node.output):
            nodes.append(node)
            need.update(i for i in node.input if i)
            for a in node.attribute:
                if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                    raise ValueError(f"node {node.name} has a sub-graph; not supported")
    return nodes[::-1]


def _stage(model, n_features: int, prefix: str):
    """(nodes, initializers, probabilities tensor, opsets, functions) of one
    sub-model whose input tensor is `<prefix>input`."""
    m = convert(model, n_features)
    if len(m.graph.input) != 1:
        raise ValueError(f"{prefix}: skl2onnx gave {len(m.graph.input)} graph inputs")
    m = onnx.compose.add_prefix(m, prefix)
    src = m.graph.input[0].name
    if src != prefix + "input":
        raise ValueError(f"{prefix}: unexpected graph input {src!r}")
    proba = _probabilities_output(m)
    nodes = _prune(m.graph, proba)
    used = {i for n in nodes for i in n.input}
    inits = [t for t in m.graph.initializer if t.name in used]
    if m.graph.sparse_initializer:
        raise ValueError(f"{prefix}: sparse initializers are not supported")
    opsets = [(o.domain, o.version) for o in m.opset_import]
    return nodes, inits, proba, opsets, list(m.functions)


def build(stage1, stage2, f1: int, f2: int, classes: list[str], subset: list[str],
          name: str = "twostage") -> onnx.ModelProto:
    """One ONNX graph: `input` float [N, f1 + f2] -> `probabilities` float
    [N, len(classes)] by the two-stage rule (module docstring)."""
    classes, subset, pos1, pos2 = _validate(stage1, stage2, f1, f2, classes, subset)
    c = len(classes)
    in_s = np.array([k in subset for k in classes])
    n1, i1, proba1, ops1, fn1 = _stage(stage1, f1, PREFIXES[0])
    n2, i2, proba2, ops2, fn2 = _stage(stage2, f2, PREFIXES[1])

    def const(tname, a, dtype):
        return numpy_helper.from_array(np.asarray(a, dtype=dtype), tname)

    inits = [
        const("ts_axis1", [1], np.int64),
        const("ts_stage1_start", [0], np.int64), const("ts_stage1_end", [f1], np.int64),
        const("ts_stage2_start", [f1], np.int64), const("ts_stage2_end", [f1 + f2], np.int64),
        const("ts_stage2_to_classes", _scatter(pos2, c), np.float32),
        const("ts_gate", in_s.reshape(c, 1), np.bool_),
        const("ts_subset_sum", in_s.reshape(c, 1), np.float32),
        const("ts_outside_subset", ~in_s, np.float32),
    ]
    node = helper.make_node
    nodes = [
        node("Slice", ["input", "ts_stage1_start", "ts_stage1_end", "ts_axis1"],
             [PREFIXES[0] + "input"], name="ts_slice_stage1"),
        node("Slice", ["input", "ts_stage2_start", "ts_stage2_end", "ts_axis1"],
             [PREFIXES[1] + "input"], name="ts_slice_stage2"),
    ] + n1 + n2
    p1 = proba1
    if pos1 != list(range(c)):   # stage 1's classes_ differ from C (order or count)
        inits.append(const("ts_stage1_to_classes", _scatter(pos1, c), np.float32))
        nodes.append(node("MatMul", [proba1, "ts_stage1_to_classes"], ["ts_p1"],
                          name="ts_stage1_in_classes"))
        p1 = "ts_p1"
    nodes += [
        node("MatMul", [proba2, "ts_stage2_to_classes"], ["ts_p2"], name="ts_stage2_in_classes"),
        node("ArgMax", [p1], ["ts_top"], axis=1, keepdims=0, select_last_index=0,
             name="ts_top_class"),
        node("Gather", ["ts_gate", "ts_top"], ["ts_top_in_subset"], axis=0, name="ts_gate"),
        node("MatMul", [p1, "ts_subset_sum"], ["ts_mass"], name="ts_subset_mass"),
        node("Mul", [p1, "ts_outside_subset"], ["ts_kept"], name="ts_keep_outside"),
        node("Mul", ["ts_mass", "ts_p2"], ["ts_moved"], name="ts_redistribute"),
        node("Add", ["ts_kept", "ts_moved"], ["ts_blended"], name="ts_blend"),
        node("Where", ["ts_top_in_subset", "ts_blended", p1], ["probabilities"],
             name="ts_select"),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, f1 + f2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, c])],
        initializer=inits + i1 + i2,
        doc_string=(f"two-stage: stage 1 on columns [0, {f1}) over {classes}; stage 2 on "
                    f"columns [{f1}, {f1 + f2}) over {subset}"))
    versions = dict(OPSET)
    for dom, ver in ops1 + ops2:
        versions[dom] = max(ver, versions.get(dom, 0))
    model = helper.make_model(graph, producer_name=PRODUCER, producer_version="1",
                              opset_imports=[helper.make_opsetid(d, v)
                                             for d, v in sorted(versions.items())],
                              functions=fn1 + fn2)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"twostage.classes": ",".join(classes),
                                   "twostage.subset": ",".join(subset),
                                   "twostage.columns": f"{f1},{f2}"})
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- check

def run(model: onnx.ModelProto, x) -> np.ndarray:
    """The graph's probabilities through onnxruntime (CPU, one thread)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(["probabilities"], {"input": np.asarray(x, dtype=np.float32)})[0]


def check(model: onnx.ModelProto, stage1, stage2, x, f1, classes, subset,
          tol: float = TOLERANCE) -> dict:
    """Runs the graph through onnxruntime and asserts that every probability is
    within `tol` of predict_proba_reference. Returns what it measured:
    max_diff, rows, gated (rows stage 2 redistributed), min_gate_margin."""
    classes, subset = [str(c) for c in classes], [str(c) for c in subset]
    x = np.asarray(x, dtype=np.float32)
    got = run(model, x)
    p1, p2 = stage_probabilities(stage1, stage2, x, f1, classes, subset)
    want = combine(p1, p2, classes, subset)
    assert got.shape == want.shape, f"graph gives {got.shape}, expected {want.shape}"
    diff = np.abs(got.astype(np.float64) - want)
    worst = int(diff.max(axis=1).argmax()) if len(x) else 0
    margins = gate_margins(p1, classes, subset)
    top = np.asarray(p1, dtype=np.float32).argmax(axis=1)
    gated = np.isin(np.array(classes)[top], subset)
    if len(x) and diff.max() > tol:
        raise AssertionError(
            f"row {worst}: onnxruntime and the reference differ by {diff[worst].max():.3g} "
            f"(tolerance {tol}); gate margin {margins[worst]:.3g}"
            f"{' (a near tie: rounding decides the gate)' if abs(margins[worst]) < 1e-5 else ''}"
            f"\n  onnxruntime: {got[worst].tolist()}\n  reference:   {want[worst].tolist()}")
    sums = got.astype(np.float64).sum(axis=1)
    assert np.all(np.abs(sums - 1.0) <= 1e-5), f"a row sums to {sums[np.abs(sums - 1).argmax()]}"
    return {"max_diff": float(diff.max()) if len(x) else 0.0, "rows": len(x),
            "gated": int(gated.sum()),
            "min_gate_margin": float(np.abs(margins).min()) if len(x) else float("inf")}


# --------------------------------------------------------------------------- self-test

def _self_test() -> None:
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    rs = np.random.RandomState(7)
    classes = ["Benign", "portscan", "syn_flood", "udp_flood", "icmp_flood", "http_flood"]
    subset = ["udp_flood", "portscan", "syn_flood"]
    x = rs.normal(size=(600, 9)).astype(np.float32)
    y1 = np.array(classes)[np.digitize(x[:, 0] + 0.5 * rs.normal(size=600), [-1, -.5, 0, .5, 1])]
    y2 = np.array(subset)[np.digitize(x[:, 6] + 0.3 * rs.normal(size=600), [-.4, .4])]
    cases = [
        (ExtraTreesClassifier(n_estimators=6, max_depth=5, random_state=1),
         RandomForestClassifier(n_estimators=4, max_depth=4, random_state=2), 5),
        (LogisticRegression(max_iter=500),
         RandomForestClassifier(n_estimators=3, max_depth=3, random_state=3), 6),
    ]
    # Stage 1 never sees icmp_flood; stage 2 has integer labels (positions in
    # subset) and never sees position 0.
    cases.append((RandomForestClassifier(n_estimators=5, max_depth=6, random_state=4),
                  ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=5), 4))
    for k, (s1, s2, f1) in enumerate(cases):
        t1 = np.where(y1 == "icmp_flood", "Benign", y1) if k == 2 else y1
        t2 = np.maximum(1, np.array([subset.index(v) for v in y2])) if k == 2 else y2
        s1.fit(x[:, :f1], t1)
        s2.fit(x[:, f1:], t2)
        a = build(s1, s2, f1, x.shape[1] - f1, classes, subset)
        b = build(s1, s2, f1, x.shape[1] - f1, classes, subset)
        assert a.SerializeToString() == b.SerializeToString(), "two builds differ"
        r = check(a, s1, s2, x, f1, classes, subset)
        print(f"{type(s1).__name__} + {type(s2).__name__}: {r}")
        assert 0 < r["gated"] < r["rows"], r


if __name__ == "__main__":
    _self_test()
