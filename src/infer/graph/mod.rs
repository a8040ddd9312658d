//! The graph's side of a bundle: how the metadata maps onto the ONNX graph's
//! inputs and outputs, checked once at load.
//!
//! Owns [`Plan`]: either one float32 tensor (`[batch, F]` or
//! `[batch, L, F]`) or one `[batch, 1]` tensor per input column, named after
//! the column (string for an unencoded categorical column, float32, float64
//! or int64 for the rest), and the output to read. Input: a [`Bundle`] and
//! the graph's input and output [`Port`]s. Output: the [`Plan`], or an
//! [`InferError::Field`] naming the metadata field that disagrees with the
//! graph.

use super::bundle::{Bundle, LayoutSpec, OutputKind};
use super::error::InferError;
use ort::value::{Outlet, TensorElementType};

/// A graph input or output as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Its name.
    pub name: String,
    /// Its element type, `None` when it is not a tensor.
    pub ty: Option<TensorElementType>,
    /// Its shape, −1 for a dynamic dimension.
    pub shape: Vec<i64>,
}

impl Port {
    /// The port of an ORT outlet.
    pub fn of(o: &Outlet) -> Port {
        let t = o.dtype();
        Port {
            name: o.name().to_string(),
            ty: t.tensor_type(),
            shape: t.tensor_shape().map(|s| s.to_vec()).unwrap_or_default(),
        }
    }
}

/// The element type a per-column graph input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Strings: the categorical column's value by name.
    Text,
    /// float32.
    F32,
    /// float64.
    F64,
    /// int64 (the preprocessed value truncated toward zero).
    I64,
}

/// One per-column graph input.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnFeed {
    /// The graph input's name.
    pub name: String,
    /// Index of the column in the bundle's inputs.
    pub input: usize,
    /// Its element type.
    pub ty: ColumnType,
}

/// How the graph is fed.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    /// One float32 tensor of every input, by this name.
    Tensor(String),
    /// One `[batch, 1]` tensor per input column.
    Columns(Vec<ColumnFeed>),
}

/// What the checks decided: how to feed the graph, and the output to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The inputs.
    pub feed: Feed,
    /// The output's name.
    pub output: String,
}

/// A shape as messages print it: `[?, 3]`.
pub fn shape_text(d: &[i64]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|&x| if x < 0 { "?".into() } else { x.to_string() })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn names(ports: &[Port]) -> String {
    ports
        .iter()
        .map(|o| format!("{:?}", o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The graph input or output named by the metadata, or the only one when it
/// names none.
fn pick<'a>(
    ports: &'a [Port],
    named: Option<&str>,
    what: &str,
    verb: &str,
) -> Result<&'a Port, String> {
    match (named, ports) {
        (Some(n), _) => ports
            .iter()
            .find(|o| o.name == n)
            .ok_or_else(|| format!("the graph has no {what} {n:?} (it has {})", names(ports))),
        (None, [one]) => Ok(one),
        (None, _) => Err(format!(
            "the graph has {} {what}s ({}); name the one to {verb}",
            ports.len(),
            names(ports)
        )),
    }
}

/// True when the graph takes one input per column: it has several inputs
/// and the metadata names none, or its one input is named exactly like the
/// one column.
fn per_column(b: &Bundle, inputs: &[Port]) -> bool {
    match inputs {
        [one] => {
            b.input_names.len() == 1
                && b.input_names.first().map(|n| n.trim()) == Some(one.name.trim())
        }
        _ => inputs.len() > 1 && b.graph_input.is_none(),
    }
}

/// Checks the graph's inputs and outputs against the metadata.
pub fn plan(b: &Bundle, inputs: &[Port], outputs: &[Port]) -> Result<Plan, InferError> {
    let path = b.dir.join("model.json");
    let field = |field: &str, reason: String| InferError::Field {
        path: path.clone(),
        field: field.into(),
        reason,
    };
    let (feed, tensor_shape) = if per_column(b, inputs) {
        (Feed::Columns(columns(b, inputs, &field)?), None)
    } else {
        let (name, shape) = tensor(b, inputs, &field)?;
        (Feed::Tensor(name), Some(shape))
    };
    let output = output(b, outputs, tensor_shape.as_deref(), &field)?;
    Ok(Plan { feed, output })
}

type FieldFn<'a> = dyn Fn(&str, String) -> InferError + 'a;

/// The single-tensor feed: its name and shape.
fn tensor(b: &Bundle, inputs: &[Port], field: &FieldFn) -> Result<(String, Vec<i64>), InferError> {
    if let Some((i, input)) = b.inputs.iter().enumerate().find(|(_, x)| x.is_text()) {
        let col = input.kdd_col().map_or("?", |c| c.name());
        return Err(field(
            &format!("inputs[{i}]"),
            format!(
                "column {col} is categorical: a float input takes numbers, so give \
                 categories.{col} an encoding (\"onehot\", with inputs named {col}_<value>, or \
                 \"ordinal\"), or export the graph with one input per column named as in \
                 inputs (then {col} is fed as a [batch, 1] string tensor)"
            ),
        ));
    }
    let input = pick(inputs, b.graph_input.as_deref(), "input", "feed")
        .map_err(|reason| field("input_name", reason))?;
    let shape = input.shape.clone();
    let Some(ty) = input.ty else {
        return Err(field(
            "input_name",
            format!("graph input {:?} is not a tensor", input.name),
        ));
    };
    if ty != TensorElementType::Float32 {
        return Err(field(
            "input_name",
            format!("graph input {:?} is {ty:?}, not float32", input.name),
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
                input.name,
                shape.len(),
                shape_text(&shape),
                if want.len() == 2 { "flat" } else { "sequence" },
                if want.len() == 2 {
                    "[batch, F]"
                } else {
                    "[batch, L, F]"
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
                    input.name,
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
                    input.name,
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
                input.name,
                shape_text(&shape)
            ),
        ));
    }
    Ok((input.name.clone(), want))
}

/// The per-column feed: every graph input names one column of `inputs`,
/// every column has one, and each takes `[batch, 1]` of the column's type.
fn columns(b: &Bundle, inputs: &[Port], field: &FieldFn) -> Result<Vec<ColumnFeed>, InferError> {
    let graph_names = names(inputs);
    if b.graph_input.is_some() {
        return Err(field(
            "input_name",
            format!(
                "the graph takes one input per column ({graph_names}); input_name names a \
                 single tensor to feed, so leave it out"
            ),
        ));
    }
    if let LayoutSpec::Sequence { .. } = b.layout {
        return Err(field(
            "layout",
            format!(
                "the graph takes one input per column ({graph_names}), which only a flat \
                 layout feeds; a sequence model takes one [batch, L, F] tensor"
            ),
        ));
    }
    if b.output == OutputKind::Reconstruction {
        return Err(field(
            "output.kind",
            format!(
                "a reconstruction is compared with one input tensor, but the graph takes one \
                 input per column ({graph_names})"
            ),
        ));
    }
    for (i, n) in b.input_names.iter().enumerate() {
        if let Some(j) = b
            .input_names
            .get(..i)
            .and_then(|before| before.iter().position(|m| m.trim() == n.trim()))
        {
            return Err(field(
                &format!("inputs[{i}]"),
                format!(
                    "{:?} is also inputs[{j}]; a graph with one input per column takes each once",
                    n.trim()
                ),
            ));
        }
    }
    if let Some(p) = inputs
        .iter()
        .find(|p| !b.input_names.iter().any(|n| n.trim() == p.name.trim()))
    {
        return Err(field(
            "inputs",
            format!(
                "graph input {:?} names no column in inputs: a graph with several inputs takes \
                 one per column, named exactly as in inputs (or set input_name to feed one \
                 [batch, F] tensor)",
                p.name
            ),
        ));
    }
    let mut feeds = Vec::with_capacity(b.inputs.len());
    for (i, (name, input)) in b.input_names.iter().zip(&b.inputs).enumerate() {
        let f = format!("inputs[{i}]");
        let name = name.trim();
        let port = inputs
            .iter()
            .find(|p| p.name.trim() == name)
            .ok_or_else(|| {
                field(
                    &f,
                    format!(
                        "column {name:?} has no graph input of that name (the graph takes one \
                         input per column: {graph_names})"
                    ),
                )
            })?;
        let text = input.is_text();
        let ty = match (port.ty, text) {
            (Some(TensorElementType::String), true) => ColumnType::Text,
            (Some(TensorElementType::Float32), false) => ColumnType::F32,
            (Some(TensorElementType::Float64), false) => ColumnType::F64,
            (Some(TensorElementType::Int64), false) => ColumnType::I64,
            (ty, _) => {
                let is = ty.map_or("not a tensor".to_string(), |t| format!("{t:?}"));
                let want = if text {
                    format!(
                        "column {name} is categorical with no encoding in categories, so it is \
                         fed by name as a string tensor"
                    )
                } else {
                    format!("column {name} is numeric: float32, float64 or int64")
                };
                return Err(field(
                    &f,
                    format!("graph input {:?} is {is}; {want}", port.name),
                ));
            }
        };
        let shape = &port.shape;
        let ok = shape.len() == 2
            && shape.first().is_some_and(|&d| d < 0)
            && shape.get(1).is_some_and(|&d| d < 0 || d == 1);
        if !ok {
            return Err(field(
                &f,
                format!(
                    "graph input {:?} is {}; a per-column input must be [batch, 1] with a \
                     dynamic batch",
                    port.name,
                    shape_text(shape)
                ),
            ));
        }
        if text {
            if let Some(s) = &b.scaler {
                let shift = s.shift.get(i).copied().unwrap_or(0.0);
                let scale = s.scale.get(i).copied().unwrap_or(1.0);
                if shift != 0.0 || scale != 1.0 {
                    return Err(field(
                        "preprocess.scaler",
                        format!(
                            "column {name} (inputs[{i}]) is fed as strings, which are not \
                             scaled; its entries must leave it as is (min 0, max 1; mean 0, std 1)"
                        ),
                    ));
                }
            }
        }
        feeds.push(ColumnFeed {
            name: port.name.clone(),
            input: i,
            ty,
        });
    }
    Ok(feeds)
}

/// Checks the output; `input_shape` is the single tensor's (with a dynamic
/// batch), which a reconstruction must have.
fn output(
    b: &Bundle,
    outputs: &[Port],
    input_shape: Option<&[i64]>,
    field: &FieldFn,
) -> Result<String, InferError> {
    let output = pick(outputs, b.graph_output.as_deref(), "output", "read")
        .map_err(|reason| field("output.name", reason))?;
    let oname = &output.name;
    let Some(oty) = output.ty else {
        return Err(field(
            "output.name",
            format!(
                "graph output {oname:?} is not a tensor (for scikit-learn models, export with \
                 zipmap disabled)"
            ),
        ));
    };
    let oshape = &output.shape;
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
                        shape_text(oshape)
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
                        shape_text(oshape)
                    ),
                ));
            }
        }
        OutputKind::Reconstruction => {
            let want = input_shape.unwrap_or(&[]);
            if oty != TensorElementType::Float32 || oshape.len() != want.len() {
                return Err(field(
                    "output.kind",
                    format!(
                        "a reconstruction must have the input's shape {}; {oname:?} is {oty:?} {}",
                        shape_text(want),
                        shape_text(oshape)
                    ),
                ));
            }
            for (i, (&g, &w)) in oshape.iter().zip(want).enumerate().skip(1) {
                if g >= 0 && g != w {
                    return Err(field(
                        "output.kind",
                        format!(
                            "a reconstruction must have the input's shape; dimension {i} of \
                             {oname:?} is {g}, not {w}"
                        ),
                    ));
                }
            }
        }
    }
    Ok(oname.clone())
}

#[cfg(test)]
mod tests;
