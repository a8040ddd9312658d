//! Inference: a model bundle on ONNX Runtime.
//!
//! Owns the bundle metadata ([`bundle`]), the ORT library and execution
//! provider ([`runtime`]), one ORT session, and the sequence windows of
//! sequence models. Input: batches of [`FlowRow`]s in the order the flows
//! finished. Output: one [`Verdict`] per flow, plus class probabilities for
//! `probabilities` models.
//!
//! Invariants: the bundle is refused at load when its metadata and graph
//! disagree; a flow's sequence holds it and the L−1 flows scored before it
//! (overall or from its source IP), with zero vectors before the window fills.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod bundle;
pub mod check;
pub mod error;
pub mod runtime;

pub use bundle::{Bundle, FlowRow, GroupBy, LayoutSpec, OutputKind};
pub use error::InferError;
pub use runtime::Device;

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// The model's decision on one flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Index into [`Bundle::labels`].
    pub label: usize,
    /// Probability of the label, reconstruction error, or 1 for label outputs.
    pub score: f64,
    /// True when the flow should raise an alert.
    pub alert: bool,
}

/// Verdicts for a batch, with class probabilities for `probabilities` models
/// (`probs[i * classes .. (i + 1) * classes]` belongs to flow `i`).
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// One per flow, in input order.
    pub verdicts: Vec<Verdict>,
    /// Row-major probabilities; empty unless the output is `probabilities`.
    pub probs: Vec<f32>,
    /// Number of classes in `probs`.
    pub classes: usize,
}

impl Scored {
    /// Probabilities of flow `i` (empty unless `probabilities`).
    pub fn probs_of(&self, i: usize) -> &[f32] {
        self.probs
            .get(i * self.classes..(i + 1) * self.classes)
            .unwrap_or(&[])
    }
}

/// A loaded, validated model with its session and sequence state.
pub struct Model {
    /// The metadata.
    pub bundle: Bundle,
    /// The execution provider in use ("CPU" or "CUDA").
    pub provider: &'static str,
    session: Session,
    input_name: String,
    output_name: String,
    windows: Windows,
    row: Vec<f32>,
    input: Vec<f32>,
}

/// Sequence windows: the last L−1 preprocessed vectors, overall or per source.
#[derive(Default)]
struct Windows {
    overall: VecDeque<Vec<f32>>,
    by_src: HashMap<[u8; 16], VecDeque<Vec<f32>>>,
}

fn dims(t: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    Some((t.tensor_type()?, t.tensor_shape()?.to_vec()))
}

fn shape_text(d: &[i64]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|&x| if x < 0 { "?".into() } else { x.to_string() })
        .collect();
    format!("[{}]", parts.join(", "))
}

impl Model {
    /// Loads `DIR/model.json` and `DIR/model.onnx`, checks them against each
    /// other, and opens a session on `device` with one intra-op thread.
    pub fn load(dir: &Path, device: Device, ort_lib: Option<&Path>) -> Result<Model, InferError> {
        let bundle = Bundle::load(dir)?;
        let onnx = dir.join("model.onnx");
        if !onnx.is_file() {
            return Err(InferError::Bundle {
                path: onnx,
                reason: "missing (a bundle holds model.onnx and model.json)".into(),
            });
        }
        let (builder, provider) = runtime::session_builder(ort_lib, device)?;
        let session = builder
            .with_intra_threads(1)
            .map_err(|e| InferError::Runtime(e.to_string()))?
            .commit_from_file(&onnx)
            .map_err(|e| InferError::Bundle {
                path: onnx.clone(),
                reason: format!("not a usable ONNX model: {e}"),
            })?;
        let (input_name, output_name) = check_graph(&bundle, &session)?;
        let width = bundle.width();
        Ok(Model {
            provider,
            input_name,
            output_name,
            windows: Windows::default(),
            row: vec![0.0; width],
            input: Vec::new(),
            session,
            bundle,
        })
    }

    /// Scores a batch of flows in order. Sequence windows carry over between
    /// batches.
    pub fn score(&mut self, rows: &[FlowRow]) -> Result<Scored, InferError> {
        let f = self.bundle.width();
        let len = self.bundle.layout.length();
        self.input.clear();
        self.input.reserve(rows.len() * f * len);
        for r in rows {
            self.bundle.preprocess(r, &mut self.row);
            match self.bundle.layout {
                LayoutSpec::Flat => self.input.extend_from_slice(&self.row),
                LayoutSpec::Sequence { group_by, .. } => {
                    let window = match group_by {
                        GroupBy::None => &mut self.windows.overall,
                        GroupBy::SrcIp => self
                            .windows
                            .by_src
                            .entry(*r.src.octets_padded())
                            .or_default(),
                    };
                    for _ in window.len() + 1..len {
                        self.input.extend(std::iter::repeat_n(0.0, f));
                    }
                    for v in window.iter() {
                        self.input.extend_from_slice(v);
                    }
                    self.input.extend_from_slice(&self.row);
                    if len > 1 && !r.interim {
                        // Reuse the oldest vector's buffer once the window is full.
                        let mut v = if window.len() + 1 >= len {
                            window.pop_front().unwrap_or_default()
                        } else {
                            Vec::with_capacity(f)
                        };
                        v.clear();
                        v.extend_from_slice(&self.row);
                        window.push_back(v);
                    }
                }
            }
        }
        self.run(rows.len())
    }

    fn run(&mut self, n: usize) -> Result<Scored, InferError> {
        if n == 0 {
            return Ok(Scored::default());
        }
        let f = self.bundle.width();
        let len = self.bundle.layout.length();
        let run_err = |e: ort::Error| InferError::Run(e.to_string());
        let shape: Vec<i64> = match self.bundle.layout {
            LayoutSpec::Flat => vec![n as i64, f as i64],
            LayoutSpec::Sequence { .. } => vec![n as i64, len as i64, f as i64],
        };
        let tensor = TensorRef::from_array_view((shape, self.input.as_slice())).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(run_err)?;
        let out = outputs
            .get(self.output_name.as_str())
            .ok_or_else(|| InferError::Run(format!("no output {:?}", self.output_name)))?;
        let b = &self.bundle;
        let mut scored = Scored::default();
        match b.output {
            OutputKind::Probabilities => {
                let (shape, data) = out.try_extract_tensor::<f32>().map_err(run_err)?;
                let c = b.labels.len();
                if shape.len() != 2 || shape.first() != Some(&(n as i64)) || data.len() != n * c {
                    return Err(InferError::Run(format!(
                        "output {:?} has shape {}, expected [{n}, {c}] (output.classes)",
                        self.output_name,
                        shape_text(shape)
                    )));
                }
                scored.verdicts = data
                    .chunks_exact(c)
                    .map(|p| {
                        let mut best = 0;
                        for (i, &x) in p.iter().enumerate() {
                            if x > p.get(best).copied().unwrap_or(f32::NEG_INFINITY) {
                                best = i;
                            }
                        }
                        let score = f64::from(p.get(best).copied().unwrap_or(0.0));
                        let t = b.thresholds.get(best).copied().unwrap_or(0.0);
                        Verdict {
                            label: best,
                            score,
                            alert: best != b.benign && score >= t,
                        }
                    })
                    .collect();
                scored.probs = data.to_vec();
                scored.classes = c;
            }
            OutputKind::Labels => {
                let idx: Vec<usize> = match out.dtype().tensor_type() {
                    Some(TensorElementType::String) => {
                        let (_, names) = out.try_extract_strings().map_err(run_err)?;
                        names
                            .iter()
                            .map(|s| {
                                b.labels.iter().position(|l| l == s).ok_or_else(|| {
                                    InferError::Run(format!(
                                        "the graph predicted {s:?}, which is not one of output.classes"
                                    ))
                                })
                            })
                            .collect::<Result<_, _>>()?
                    }
                    _ => {
                        let (_, data) = out.try_extract_tensor::<i64>().map_err(run_err)?;
                        data.iter()
                            .map(|&k| {
                                usize::try_from(k)
                                    .ok()
                                    .filter(|&k| k < b.labels.len())
                                    .ok_or_else(|| {
                                        InferError::Run(format!(
                                            "the graph predicted class {k}, outside output.classes"
                                        ))
                                    })
                            })
                            .collect::<Result<_, _>>()?
                    }
                };
                if idx.len() != n {
                    return Err(InferError::Run(format!(
                        "output {:?} gave {} labels for {n} flows",
                        self.output_name,
                        idx.len()
                    )));
                }
                scored.verdicts = idx
                    .into_iter()
                    .map(|label| Verdict {
                        label,
                        score: 1.0,
                        alert: label != b.benign,
                    })
                    .collect();
            }
            OutputKind::Reconstruction => {
                let (_, data) = out.try_extract_tensor::<f32>().map_err(run_err)?;
                let per = f * len;
                if data.len() != self.input.len() {
                    return Err(InferError::Run(format!(
                        "output {:?} has {} values, the input {}",
                        self.output_name,
                        data.len(),
                        self.input.len()
                    )));
                }
                let t = b.thresholds.get(1).copied().unwrap_or(f64::INFINITY);
                scored.verdicts = data
                    .chunks_exact(per)
                    .zip(self.input.chunks_exact(per))
                    .map(|(o, x)| {
                        let sum: f64 = o
                            .iter()
                            .zip(x)
                            .map(|(&a, &b)| {
                                let d = f64::from(a) - f64::from(b);
                                d * d
                            })
                            .sum();
                        let score = sum / per as f64;
                        let alert = score >= t;
                        Verdict {
                            label: usize::from(alert),
                            score,
                            alert,
                        }
                    })
                    .collect();
            }
        }
        Ok(scored)
    }
}

/// The graph input or output named by the metadata, or the only one when it
/// names none.
fn pick<'a>(
    outlets: &'a [ort::value::Outlet],
    named: Option<&str>,
    what: &str,
    verb: &str,
) -> Result<&'a ort::value::Outlet, String> {
    let names = || {
        outlets
            .iter()
            .map(|o| format!("{:?}", o.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (named, outlets) {
        (Some(n), _) => outlets
            .iter()
            .find(|o| o.name() == n)
            .ok_or_else(|| format!("the graph has no {what} {n:?} (it has {})", names())),
        (None, [one]) => Ok(one),
        (None, _) => Err(format!(
            "the graph has {} {what}s ({}); name the one to {verb}",
            outlets.len(),
            names()
        )),
    }
}

/// Checks the graph's input and output against the metadata; returns the
/// names to feed and read.
fn check_graph(b: &Bundle, s: &Session) -> Result<(String, String), InferError> {
    let path = b.dir.join("model.json");
    let field = |field: &str, reason: String| InferError::Field {
        path: path.clone(),
        field: field.into(),
        reason,
    };
    let input = pick(s.inputs(), b.graph_input.as_deref(), "input", "feed")
        .map_err(|reason| field("input_name", reason))?;
    let (ty, shape) = dims(input.dtype()).ok_or_else(|| {
        field(
            "input_name",
            format!("graph input {:?} is not a tensor", input.name()),
        )
    })?;
    if ty != TensorElementType::Float32 {
        return Err(field(
            "input_name",
            format!("graph input {:?} is {ty:?}, not float32", input.name()),
        ));
    }
    let f = b.width() as i64;
    let want: Vec<i64> = match b.layout {
        LayoutSpec::Flat => vec![-1, f],
        LayoutSpec::Sequence { length, .. } => vec![-1, length as i64, f],
    };
    if shape.len() != want.len() {
        return Err(field(
            "layout",
            format!(
                "graph input {:?} has rank {} {}, but layout {} feeds {}",
                input.name(),
                shape.len(),
                shape_text(&shape),
                if want.len() == 2 { "flat" } else { "sequence" },
                if want.len() == 2 {
                    "[batch, F]".to_string()
                } else {
                    "[batch, L, F]".to_string()
                }
            ),
        ));
    }
    if let (Some(&w), Some(&g)) = (want.last(), shape.last()) {
        if g >= 0 && g != w {
            return Err(field(
                "inputs",
                format!(
                    "lists {w} columns but graph input {:?} {} takes {g}",
                    input.name(),
                    shape_text(&shape)
                ),
            ));
        }
    }
    if let (Some(&l), Some(&g)) = (want.get(1).filter(|_| want.len() == 3), shape.get(1)) {
        if g >= 0 && g != l {
            return Err(field(
                "layout.length",
                format!(
                    "is {l} but graph input {:?} {} takes sequences of {g}",
                    input.name(),
                    shape_text(&shape)
                ),
            ));
        }
    }
    if shape.first().is_some_and(|&d| d >= 0) {
        return Err(field(
            "input_name",
            format!(
                "graph input {:?} {} has a fixed batch size; it must be dynamic",
                input.name(),
                shape_text(&shape)
            ),
        ));
    }

    let output = pick(s.outputs(), b.graph_output.as_deref(), "output", "read")
        .map_err(|reason| field("output.name", reason))?;
    let (oty, oshape) = dims(output.dtype()).ok_or_else(|| {
        field(
            "output.name",
            format!(
                "graph output {:?} is not a tensor (for scikit-learn models, export with zipmap disabled)",
                output.name()
            ),
        )
    })?;
    let oname = output.name();
    match b.output {
        OutputKind::Probabilities => {
            if oty != TensorElementType::Float32 {
                return Err(field(
                    "output.kind",
                    format!("probabilities need a float32 output; {oname:?} is {oty:?}"),
                ));
            }
            if oshape.len() != 2 {
                return Err(field(
                    "output.kind",
                    format!(
                        "probabilities need a [batch, C] output; {oname:?} is {}",
                        shape_text(&oshape)
                    ),
                ));
            }
            let c = b.labels.len() as i64;
            if let Some(&g) = oshape.get(1) {
                if g >= 0 && g != c {
                    return Err(field(
                        "output.classes",
                        format!("lists {c} classes but graph output {oname:?} gives {g}"),
                    ));
                }
            }
        }
        OutputKind::Labels => {
            if !matches!(oty, TensorElementType::Int64 | TensorElementType::String) {
                return Err(field(
                    "output.kind",
                    format!("labels need an int64 or string output; {oname:?} is {oty:?}"),
                ));
            }
            if oshape.len() != 1 {
                return Err(field(
                    "output.kind",
                    format!(
                        "labels need a [batch] output; {oname:?} is {}",
                        shape_text(&oshape)
                    ),
                ));
            }
        }
        OutputKind::Reconstruction => {
            if oty != TensorElementType::Float32 || oshape.len() != shape.len() {
                return Err(field(
                    "output.kind",
                    format!(
                        "a reconstruction must have the input's shape {}; {oname:?} is {oty:?} {}",
                        shape_text(&shape),
                        shape_text(&oshape)
                    ),
                ));
            }
            for (i, (&g, &w)) in oshape.iter().zip(&want).enumerate().skip(1) {
                if g >= 0 && g != w {
                    return Err(field(
                        "output.kind",
                        format!(
                            "a reconstruction must have the input's shape; dimension {i} of {oname:?} is {g}, not {w}"
                        ),
                    ));
                }
            }
        }
    }
    Ok((input.name().to_string(), oname.to_string()))
}
