//! Model bundle metadata: the validated [`Bundle`] read from `model.json`,
//! and preprocessing. The graph checks run when the model is loaded, in
//! [`super::Model::load`].
//!
//! Owns the bundle's description of its graph: the inputs (`input`, with
//! the categorical encodings of `categories`), the layout (flat or sequence), the non-finite replacement and scaler, the
//! output kind, labels and thresholds; reading and validating `model.json`
//! is in `meta`. Input: a bundle directory, then one [`FlowRow`] at a time.
//! Output: a validated [`Bundle`], then each flow's preprocessed inputs as
//! `f32`s. The format is described in `models/README.md`.

mod categories;
mod input;
mod meta;

pub use categories::{Categories, Category, Encoding};
pub use input::{FlowRow, Input};

use crate::profile::Profile;
use crate::signature::Signatures;
use serde::Deserialize;
use std::path::PathBuf;

/// How flows are grouped into sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One sequence over all flows.
    #[default]
    None,
    /// One sequence per source IP.
    SrcIp,
}

/// The graph's input layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayoutSpec {
    /// `[batch, F]`.
    Flat,
    /// `[batch, L, F]`: the flow and the L−1 flows before it.
    Sequence {
        /// L.
        length: usize,
        /// Grouping.
        #[serde(default)]
        group_by: GroupBy,
    },
}

impl LayoutSpec {
    /// Sequence length (1 for flat).
    pub fn length(self) -> usize {
        match self {
            LayoutSpec::Flat => 1,
            LayoutSpec::Sequence { length, .. } => length,
        }
    }
}

/// A per-input affine scaler: `(x - shift) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaler {
    /// `minmax` or `standard`.
    pub kind: &'static str,
    /// Subtracted (min or mean).
    pub shift: Vec<f64>,
    /// Divided by (range or std; zero counts as one).
    pub scale: Vec<f64>,
}

/// What the graph's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `[batch, C]` class probabilities.
    Probabilities,
    /// `[batch]` class indices or names.
    Labels,
    /// An autoencoder's reconstruction of its input.
    Reconstruction,
}

/// A validated bundle's metadata.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Free text on the training data.
    pub trained_on: Option<String>,
    /// Feature profile.
    pub profile: Profile,
    /// Input column names as written.
    pub input_names: Vec<String>,
    /// Resolved inputs.
    pub inputs: Vec<Input>,
    /// The graph input to feed, if named.
    pub graph_input: Option<String>,
    /// Flat or sequence.
    pub layout: LayoutSpec,
    /// Replacement for NaN and ±Infinity.
    pub nonfinite: f64,
    /// Optional scaler.
    pub scaler: Option<Scaler>,
    /// Output kind.
    pub output: OutputKind,
    /// The graph output to read, if named.
    pub graph_output: Option<String>,
    /// Labels: the classes, plus the alert label for reconstruction models.
    pub labels: Vec<String>,
    /// Index in `labels` of the benign label.
    pub benign: usize,
    /// Threshold per label (probabilities: per class; reconstruction: the
    /// threshold at the alert label).
    pub thresholds: Vec<f64>,
    /// Each label's alert signature id and category, and the rev.
    pub signatures: Signatures,
}

impl Bundle {
    /// The name of label `i` (`?` for an index out of range).
    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("?", String::as_str)
    }

    /// Number of inputs per flow (F).
    pub fn width(&self) -> usize {
        self.inputs.len()
    }

    /// True when an input reads connection context (or the profile is
    /// `kdd`): the pipeline must then run the context stage.
    pub fn needs_context(&self) -> bool {
        self.profile == Profile::Kdd || self.inputs.iter().any(|i| i.kdd_col().is_some())
    }

    /// Input `i`'s value for a flow: raw, non-finite replaced, scaled.
    #[inline]
    fn prepared(&self, i: usize, input: &Input, row: &FlowRow) -> f64 {
        let mut x = input.value(row);
        if !x.is_finite() {
            x = self.nonfinite;
        }
        if let Some(s) = &self.scaler {
            let shift = s.shift.get(i).copied().unwrap_or(0.0);
            let scale = s.scale.get(i).copied().unwrap_or(1.0);
            x = (x - shift) / scale;
        }
        x
    }

    /// Writes one flow's preprocessed inputs into `out` (length F), as the
    /// float32 the graph takes.
    pub fn preprocess(&self, row: &FlowRow, out: &mut [f32]) {
        for (i, (input, slot)) in self.inputs.iter().zip(out.iter_mut()).enumerate() {
            *slot = self.prepared(i, input, row) as f32;
        }
    }

    /// Writes one flow's preprocessed inputs into `out` (length F) in 64
    /// bits, for graphs that take one input per column of any numeric type.
    pub fn preprocess_f64(&self, row: &FlowRow, out: &mut [f64]) {
        for (i, (input, slot)) in self.inputs.iter().zip(out.iter_mut()).enumerate() {
            *slot = self.prepared(i, input, row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Addr;
    use crate::features::catalogue::NUM_FEATURES;
    use crate::kdd::KddRow;

    #[test]
    fn preprocess_replaces_nonfinite_then_scales() {
        let b = Bundle {
            dir: PathBuf::from("b"),
            name: "m".into(),
            version: "1".into(),
            trained_on: None,
            profile: Profile::Cic2017,
            input_names: Vec::new(),
            inputs: vec![
                Input::Feature(0),
                Input::Feature(1),
                Input::SrcOctet(3),
                Input::DstPort,
            ],
            graph_input: None,
            layout: LayoutSpec::Flat,
            nonfinite: -1.0,
            scaler: Some(Scaler {
                kind: "minmax",
                shift: vec![0.0; 4],
                scale: vec![10.0, 1.0, 255.0, 65535.0],
            }),
            output: OutputKind::Probabilities,
            graph_output: None,
            labels: vec!["Benign".into(), "DoS".into()],
            benign: 0,
            thresholds: vec![0.0, 0.7],
            signatures: Signatures::default(),
        };
        let mut features = [0.0; NUM_FEATURES];
        features[0] = f64::NAN;
        features[1] = 7.0;
        let row = FlowRow {
            features,
            src: Addr::v4([10, 0, 0, 51]),
            dst: Addr::v4([10, 0, 0, 1]),
            src_port: 1234,
            dst_port: 80,
            proto: 6,
            interim: false,
            kdd: KddRow::default(),
        };
        let mut out = [0f32; 4];
        b.preprocess(&row, &mut out);
        assert_eq!(out, [-0.1, 7.0, 51.0 / 255.0, 80.0 / 65535.0]);
    }
}
