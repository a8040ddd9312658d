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
pub mod graph;
pub mod runtime;

pub use bundle::{Bundle, FlowRow, GroupBy, LayoutSpec, OutputKind};
pub use error::InferError;
pub use runtime::Device;

use graph::{shape_text, ColumnType, Feed, Plan, Port};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, TensorRef};
use std::borrow::Cow;
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
    plan: Plan,
    windows: Windows,
    row: Vec<f32>,
    input: Vec<f32>,
    /// Per-column feeds: the batch's preprocessed values, row-major.
    values: Vec<f64>,
}

/// Sequence windows: the last L−1 preprocessed vectors, overall or per source.
#[derive(Default)]
struct Windows {
    overall: VecDeque<Vec<f32>>,
    by_src: HashMap<[u8; 16], VecDeque<Vec<f32>>>,
}

impl Windows {
    /// The window `r` is scored in.
    fn of(&mut self, group_by: GroupBy, r: &FlowRow) -> &mut VecDeque<Vec<f32>> {
        match group_by {
            GroupBy::None => &mut self.overall,
            GroupBy::SrcIp => self.by_src.entry(*r.src.octets_padded()).or_default(),
        }
    }
}

/// Adds a finished flow's preprocessed `row` to its window of the last L−1
/// (`len` − 1) rows; an interim row is not added (its final row will be).
fn remember(window: &mut VecDeque<Vec<f32>>, row: &[f32], len: usize, interim: bool) {
    if len <= 1 || interim {
        return;
    }
    // Reuse the oldest vector's buffer once the window is full.
    let mut v = if window.len() + 1 >= len {
        window.pop_front().unwrap_or_default()
    } else {
        Vec::with_capacity(row.len())
    };
    v.clear();
    v.extend_from_slice(row);
    window.push_back(v);
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
        let ports = |o: &[ort::value::Outlet]| o.iter().map(Port::of).collect::<Vec<_>>();
        let plan = graph::plan(&bundle, &ports(session.inputs()), &ports(session.outputs()))?;
        let width = bundle.width();
        Ok(Model {
            provider,
            plan,
            windows: Windows::default(),
            row: vec![0.0; width],
            input: Vec::new(),
            values: Vec::new(),
            session,
            bundle,
        })
    }

    /// How the graph is fed and read, as checked at load.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Scores a batch of flows in order. Sequence windows carry over between
    /// batches.
    pub fn score(&mut self, rows: &[FlowRow]) -> Result<Scored, InferError> {
        self.score_some(rows, &[])
    }

    /// Scores the rows whose entry in `scored` is true (a row past its end
    /// is scored); the others are not scored, but still enter a sequence
    /// model's windows in their place, as the flows of a CSV do in training.
    /// The verdicts are the scored rows', in order.
    pub fn score_some(&mut self, rows: &[FlowRow], scored: &[bool]) -> Result<Scored, InferError> {
        let asked = |i: usize| scored.get(i).copied().unwrap_or(true);
        if let Feed::Columns(_) = self.plan.feed {
            // Flat layouts only: no windows to keep.
            let rows: Vec<&FlowRow> = (0..)
                .zip(rows)
                .filter(|&(i, _)| asked(i))
                .map(|(_, r)| r)
                .collect();
            return self.score_columns(&rows);
        }
        let f = self.bundle.width();
        let len = self.bundle.layout.length();
        self.input.clear();
        self.input.reserve(rows.len() * f * len);
        let mut n = 0;
        for (i, r) in rows.iter().enumerate() {
            let ask = asked(i);
            if !ask && self.bundle.layout == LayoutSpec::Flat {
                continue;
            }
            n += usize::from(ask);
            self.bundle.preprocess(r, &mut self.row);
            match self.bundle.layout {
                LayoutSpec::Flat => self.input.extend_from_slice(&self.row),
                LayoutSpec::Sequence { group_by, .. } if !ask => {
                    let window = self.windows.of(group_by, r);
                    remember(window, &self.row, len, r.interim);
                }
                LayoutSpec::Sequence { group_by, .. } => {
                    let window = self.windows.of(group_by, r);
                    for _ in window.len() + 1..len {
                        self.input.extend(std::iter::repeat_n(0.0, f));
                    }
                    for v in window.iter() {
                        self.input.extend_from_slice(v);
                    }
                    self.input.extend_from_slice(&self.row);
                    remember(window, &self.row, len, r.interim);
                }
            }
        }
        self.run(n)
    }

    /// Scores a batch through a graph that takes one `[batch, 1]` tensor per
    /// column (flat layouts only).
    fn score_columns(&mut self, rows: &[&FlowRow]) -> Result<Scored, InferError> {
        let n = rows.len();
        if n == 0 {
            return Ok(Scored::default());
        }
        let Feed::Columns(columns) = &self.plan.feed else {
            return Err(InferError::Run("the graph takes a single tensor".into()));
        };
        let f = self.bundle.width();
        let run_err = |e: ort::Error| InferError::Run(e.to_string());
        self.values.clear();
        self.values.resize(n * f, 0.0);
        for (r, out) in rows.iter().zip(self.values.chunks_exact_mut(f)) {
            self.bundle.preprocess_f64(r, out);
        }
        let shape = vec![n as i64, 1];
        let mut feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(columns.len());
        for c in columns {
            let column = self.values.iter().skip(c.input).step_by(f.max(1));
            let value: DynValue = match c.ty {
                ColumnType::Text => {
                    let input = self.bundle.inputs.get(c.input);
                    let names: Vec<&str> = rows
                        .iter()
                        .map(|r| input.map_or("", |i| i.text(r)))
                        .collect();
                    Tensor::from_string_array((shape.clone(), names.as_slice()))
                        .map_err(run_err)?
                        .into_dyn()
                }
                ColumnType::F32 => {
                    let v: Vec<f32> = column.map(|&x| x as f32).collect();
                    Tensor::from_array((shape.clone(), v))
                        .map_err(run_err)?
                        .into_dyn()
                }
                ColumnType::F64 => {
                    let v: Vec<f64> = column.copied().collect();
                    Tensor::from_array((shape.clone(), v))
                        .map_err(run_err)?
                        .into_dyn()
                }
                ColumnType::I64 => {
                    let v: Vec<i64> = column.map(|&x| x as i64).collect();
                    Tensor::from_array((shape.clone(), v))
                        .map_err(run_err)?
                        .into_dyn()
                }
            };
            feeds.push((Cow::Borrowed(c.name.as_str()), value.into()));
        }
        let outputs = self.session.run(feeds).map_err(run_err)?;
        let out = outputs
            .get(self.plan.output.as_str())
            .ok_or_else(|| InferError::Run(format!("no output {:?}", self.plan.output)))?;
        verdicts(&self.bundle, &self.plan.output, out, n, &[])
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
        let Feed::Tensor(input_name) = &self.plan.feed else {
            return Err(InferError::Run(
                "the graph takes one input per column".into(),
            ));
        };
        let tensor = TensorRef::from_array_view((shape, self.input.as_slice())).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs![input_name.as_str() => tensor])
            .map_err(run_err)?;
        let out = outputs
            .get(self.plan.output.as_str())
            .ok_or_else(|| InferError::Run(format!("no output {:?}", self.plan.output)))?;
        verdicts(&self.bundle, &self.plan.output, out, n, &self.input)
    }
}

/// The verdicts of `n` flows from the graph's output `out`; `input` is what
/// a reconstruction is compared with.
fn verdicts(
    b: &Bundle,
    output_name: &str,
    out: &DynValue,
    n: usize,
    input: &[f32],
) -> Result<Scored, InferError> {
    let run_err = |e: ort::Error| InferError::Run(e.to_string());
    let f = b.width();
    let len = b.layout.length();
    let mut scored = Scored::default();
    match b.output {
        OutputKind::Probabilities => {
            let (shape, data) = out.try_extract_tensor::<f32>().map_err(run_err)?;
            let c = b.labels.len();
            if shape.len() != 2 || shape.first() != Some(&(n as i64)) || data.len() != n * c {
                return Err(InferError::Run(format!(
                    "output {:?} has shape {}, expected [{n}, {c}] (output.classes)",
                    output_name,
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
                    output_name,
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
            if data.len() != input.len() {
                return Err(InferError::Run(format!(
                    "output {:?} has {} values, the input {}",
                    output_name,
                    data.len(),
                    input.len()
                )));
            }
            let t = b.thresholds.get(1).copied().unwrap_or(f64::INFINITY);
            scored.verdicts = data
                .chunks_exact(per)
                .zip(input.chunks_exact(per))
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
