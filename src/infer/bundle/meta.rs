//! Reading `model.json`: the file's serde shape and every check that does
//! not need the ONNX graph.
//!
//! Input: a bundle directory (or metadata text). Output: a validated
//! [`Bundle`] whose inputs are resolved against the column catalogue and the
//! context columns (`categories` expanding the categorical ones), whose
//! scaler arrays have one value per input, whose thresholds name known
//! classes, and whose alert signature ids and categories (optional
//! `signatures` and `alert_categories`) are checked; or an [`InferError`] that names the file and the bad field.

use super::categories::Categories;
use super::input::Input;
use super::{Bundle, LayoutSpec, OutputKind, Scaler};
use crate::infer::error::InferError;
use crate::profile::Profile;
use crate::signature::Signatures;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    version: String,
    #[serde(default)]
    trained_on: Option<String>,
    profile: String,
    inputs: Vec<serde_json::Value>,
    #[serde(default)]
    categories: Option<serde_json::Value>,
    #[serde(default)]
    input_name: Option<String>,
    layout: LayoutSpec,
    #[serde(default)]
    preprocess: Preprocess,
    output: OutputMeta,
    /// Alert signature ids by label (see `crate::signature`).
    #[serde(default)]
    signatures: BTreeMap<String, u64>,
    /// Alert categories by label.
    #[serde(default)]
    alert_categories: BTreeMap<String, String>,
}

/// An input given as `{"name": NAME, "constant": NUMBER}`: a graph input
/// that is no flow feature, fed the same number for every flow.
fn constant(o: &serde_json::Map<String, serde_json::Value>) -> Result<(String, Input), String> {
    if let Some(k) = o
        .keys()
        .find(|k| !["name", "constant"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key {k:?} (a constant input has \"name\" and \"constant\")"
        ));
    }
    let name = match o.get("name") {
        Some(serde_json::Value::String(n)) if !n.trim().is_empty() => n.clone(),
        _ => return Err("a constant input needs a \"name\" (a non-empty string)".into()),
    };
    match o.get("constant").and_then(serde_json::Value::as_f64) {
        Some(x) if x.is_finite() => Ok((name, Input::Constant(x))),
        _ => Err(format!(
            "constant input {name:?} needs \"constant\": a finite number"
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Preprocess {
    #[serde(default)]
    nonfinite: Option<NonFinite>,
    #[serde(default)]
    scaler: Option<ScalerMeta>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NonFinite {
    Number(f64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ScalerMeta {
    Minmax { min: Vec<f64>, max: Vec<f64> },
    Standard { mean: Vec<f64>, std: Vec<f64> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputMeta {
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    classes: Option<Vec<String>>,
    #[serde(default)]
    benign: Option<String>,
    #[serde(default)]
    threshold: Option<Threshold>,
    #[serde(default)]
    alert_label: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Threshold {
    One(f64),
    PerClass(BTreeMap<String, f64>),
}

impl Bundle {
    /// Reads and validates `DIR/model.json`.
    pub fn load(dir: &Path) -> Result<Bundle, InferError> {
        let meta_path = dir.join("model.json");
        if !dir.is_dir() {
            return Err(InferError::Bundle {
                path: dir.to_path_buf(),
                reason: "not a directory (a model bundle is a directory holding model.onnx and model.json)".into(),
            });
        }
        let text = std::fs::read_to_string(&meta_path).map_err(|e| InferError::Bundle {
            path: meta_path.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(dir, &text)
    }

    /// Validates metadata text; `dir` is only used in messages.
    pub fn parse(dir: &Path, text: &str) -> Result<Bundle, InferError> {
        let path = dir.join("model.json");
        let err = |field: &str, reason: String| InferError::Field {
            path: path.clone(),
            field: field.to_string(),
            reason,
        };
        let meta: Meta = serde_json::from_str(text).map_err(|e| InferError::Bundle {
            path: path.clone(),
            reason: format!("not valid bundle metadata: {e}"),
        })?;
        let profile = match meta.profile.as_str() {
            "cic2017" => Profile::Cic2017,
            "cic2018" => Profile::Cic2018,
            "fixed" => Profile::Fixed,
            "kdd" => Profile::Kdd,
            other => {
                return Err(err(
                    "profile",
                    format!("unknown profile {other:?} (expected cic2017, cic2018, fixed or kdd)"),
                ))
            }
        };
        if meta.inputs.is_empty() {
            return Err(err("inputs", "is empty".into()));
        }
        let categories = Categories::parse(meta.categories.as_ref(), profile)
            .map_err(|(field, reason)| err(&field, reason))?;
        let mut inputs = Vec::with_capacity(meta.inputs.len());
        let mut input_names = Vec::with_capacity(meta.inputs.len());
        for (i, entry) in meta.inputs.iter().enumerate() {
            let field = format!("inputs[{i}]");
            let (name, input) = match entry {
                serde_json::Value::String(name) => {
                    let input = categories
                        .resolve(name, profile)
                        .map_err(|reason| err(&field, reason))?;
                    (name.clone(), input)
                }
                serde_json::Value::Object(o) => constant(o).map_err(|reason| err(&field, reason))?,
                other => {
                    return Err(err(
                        &field,
                        format!("expected a column name or {{\"name\": ..., \"constant\": number}}, found {other}"),
                    ))
                }
            };
            input_names.push(name);
            inputs.push(input);
        }
        if let Some((field, reason)) = categories.unused(&inputs) {
            return Err(err(&field, reason));
        }
        let width = inputs.len();
        if let LayoutSpec::Sequence { length, .. } = meta.layout {
            if length == 0 || length > 1024 {
                return Err(err(
                    "layout.length",
                    format!("must be 1..=1024, got {length}"),
                ));
            }
        }
        let nonfinite = match meta.preprocess.nonfinite {
            None => 0.0,
            Some(NonFinite::Word(w)) if w == "zero" => 0.0,
            Some(NonFinite::Word(w)) => {
                return Err(err(
                    "preprocess.nonfinite",
                    format!("expected \"zero\" or a number, got {w:?}"),
                ))
            }
            Some(NonFinite::Number(x)) if x.is_finite() => x,
            Some(NonFinite::Number(x)) => {
                return Err(err(
                    "preprocess.nonfinite",
                    format!("must be finite, got {x}"),
                ))
            }
        };
        let scaler = match meta.preprocess.scaler {
            None => None,
            Some(s) => {
                let (kind, a, b, na, nb) = match s {
                    ScalerMeta::Minmax { min, max } => ("minmax", min, max, "min", "max"),
                    ScalerMeta::Standard { mean, std } => ("standard", mean, std, "mean", "std"),
                };
                for (n, v) in [(na, &a), (nb, &b)] {
                    let field = format!("preprocess.scaler.{n}");
                    if v.len() != width {
                        return Err(err(
                            &field,
                            format!("has {} values but there are {width} inputs", v.len()),
                        ));
                    }
                    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                        return Err(err(&format!("{field}[{i}]"), "is not finite".into()));
                    }
                }
                let scale = if kind == "minmax" {
                    a.iter().zip(&b).map(|(lo, hi)| hi - lo).collect::<Vec<_>>()
                } else {
                    b.clone()
                };
                // A range too wide for f64 (max - min overflows) would scale
                // every value to 0.
                if let Some(i) = scale.iter().position(|x| !x.is_finite()) {
                    return Err(err(
                        &format!("preprocess.scaler.{nb}[{i}]"),
                        format!("gives a {na}..{nb} range too wide to scale by (not finite)"),
                    ));
                }
                let scale = scale
                    .into_iter()
                    .map(|s| if s == 0.0 { 1.0 } else { s })
                    .collect();
                Some(Scaler {
                    kind,
                    shift: a,
                    scale,
                })
            }
        };

        let out = meta.output;
        let kind = match out.kind.as_str() {
            "probabilities" => OutputKind::Probabilities,
            "labels" => OutputKind::Labels,
            "reconstruction" => OutputKind::Reconstruction,
            other => {
                return Err(err(
                    "output.kind",
                    format!(
                        "unknown kind {other:?} (expected probabilities, labels or reconstruction)"
                    ),
                ))
            }
        };
        if kind != OutputKind::Reconstruction && out.alert_label.is_some() {
            return Err(err(
                "output.alert_label",
                "only a reconstruction output has an alert label".into(),
            ));
        }
        let benign_name = out.benign.unwrap_or_else(|| "Benign".to_string());
        let (labels, benign, thresholds) = match kind {
            OutputKind::Probabilities | OutputKind::Labels => {
                let classes = out
                    .classes
                    .ok_or_else(|| err("output.classes", "is required for this kind".into()))?;
                if classes.len() < 2 {
                    return Err(err(
                        "output.classes",
                        format!("needs at least 2 classes, got {}", classes.len()),
                    ));
                }
                for (i, c) in classes.iter().enumerate() {
                    if classes.get(..i).is_some_and(|before| before.contains(c)) {
                        return Err(err(
                            &format!("output.classes[{i}]"),
                            format!("{c:?} appears twice"),
                        ));
                    }
                }
                let benign = classes
                    .iter()
                    .position(|c| *c == benign_name)
                    .ok_or_else(|| {
                        err(
                            "output.benign",
                            format!("{benign_name:?} is not one of output.classes"),
                        )
                    })?;
                let mut thresholds = vec![0.0; classes.len()];
                match out.threshold {
                    None => {}
                    Some(_) if kind == OutputKind::Labels => {
                        return Err(err(
                            "output.threshold",
                            "a labels output has no scores to threshold".into(),
                        ))
                    }
                    Some(Threshold::One(t)) => thresholds.iter_mut().for_each(|x| *x = t),
                    Some(Threshold::PerClass(map)) => {
                        for (class, t) in map {
                            let i = classes.iter().position(|c| *c == class).ok_or_else(|| {
                                err(
                                    "output.threshold",
                                    format!("names {class:?}, which is not one of output.classes"),
                                )
                            })?;
                            if let Some(slot) = thresholds.get_mut(i) {
                                *slot = t;
                            }
                        }
                    }
                }
                if thresholds.iter().any(|t| !t.is_finite()) {
                    return Err(err("output.threshold", "must be finite".into()));
                }
                (classes, benign, thresholds)
            }
            OutputKind::Reconstruction => {
                if out.classes.is_some() {
                    return Err(err(
                        "output.classes",
                        "a reconstruction output has no classes".into(),
                    ));
                }
                let t = match out.threshold {
                    Some(Threshold::One(t)) if t.is_finite() => t,
                    Some(_) => {
                        return Err(err(
                            "output.threshold",
                            "a reconstruction output needs one finite number".into(),
                        ))
                    }
                    None => {
                        return Err(err(
                            "output.threshold",
                            "is required for a reconstruction output".into(),
                        ))
                    }
                };
                let alert = out.alert_label.unwrap_or_else(|| "Anomaly".to_string());
                if alert == benign_name {
                    return Err(err(
                        "output.alert_label",
                        "must differ from output.benign".into(),
                    ));
                }
                (vec![benign_name, alert], 0, vec![f64::INFINITY, t])
            }
        };
        let signatures = Signatures::new(
            &labels,
            &meta.version,
            &meta.signatures,
            &meta.alert_categories,
        )
        .map_err(|(field, reason)| err(&field, reason))?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
            name: meta.name,
            version: meta.version,
            trained_on: meta.trained_on,
            profile,
            input_names,
            inputs,
            graph_input: meta.input_name,
            layout: meta.layout,
            nonfinite,
            scaler,
            output: kind,
            graph_output: out.name,
            labels,
            benign,
            thresholds,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::bundle::Input;

    fn parse(json: &str) -> Result<Bundle, InferError> {
        Bundle::parse(Path::new("b"), json)
    }

    const OK: &str = r#"{"name":"m","version":"1","profile":"cic2017",
        "inputs":[" Flow Duration","Tot Fwd Pkts","Src IP octet 4","Dst Port"],
        "layout":{"kind":"flat"},
        "preprocess":{"nonfinite":-1,"scaler":{"kind":"minmax","min":[0,0,0,0],"max":[10,0,255,65535]}},
        "output":{"kind":"probabilities","classes":["Benign","DoS"],"threshold":{"DoS":0.7}}}"#;

    #[test]
    fn resolves_every_spelling_and_pseudo_columns() {
        let b = parse(OK).unwrap();
        assert_eq!(
            b.inputs,
            vec![
                Input::Feature(0),
                Input::Feature(1),
                Input::SrcOctet(3),
                Input::DstPort
            ]
        );
        assert_eq!(b.thresholds, vec![0.0, 0.7]);
        assert_eq!(b.signatures.id(1), crate::signature::default_sid("DoS"));
        assert_eq!(b.signatures.category(1), "Attempted Denial of Service");
        let given = OK.replace(
            "\"threshold\":{\"DoS\":0.7}}",
            "\"threshold\":{\"DoS\":0.7}},\"signatures\":{\"DoS\":9000001},\"alert_categories\":{\"DoS\":\"Custom\"}",
        );
        let b2 = parse(&given).unwrap();
        assert_eq!(
            (b2.signatures.id(1), b2.signatures.category(1)),
            (9_000_001, "Custom")
        );
        assert_eq!(b.nonfinite, -1.0);
        // A zero range counts as one.
        assert_eq!(
            b.scaler.as_ref().unwrap().scale,
            vec![10.0, 1.0, 255.0, 65535.0]
        );
    }

    #[test]
    fn pandas_duplicates_and_constants() {
        let text = OK.replace(
            "\"Src IP octet 4\",\"Dst Port\"]",
            "\" Fwd Header Length.1\",{\"name\":\"Unnamed: 0\",\"constant\":2.5}]",
        );
        let b = parse(&text).unwrap();
        let fwd = Input::resolve(" Fwd Header Length").unwrap();
        assert_eq!(b.inputs.get(2), Some(&fwd));
        assert_eq!(b.inputs.get(3), Some(&Input::Constant(2.5)));
        assert_eq!(b.input_names.get(3).map(String::as_str), Some("Unnamed: 0"));
    }

    #[test]
    fn names_the_bad_field() {
        for (from, to, field) in [
            ("\"Dst Port\"]", "\"Dst Prt\"]", "inputs[3]"),
            (
                "\"max\":[10,0,255,65535]",
                "\"max\":[10,0,255]",
                "preprocess.scaler.max",
            ),
            // Seen while fuzzing: a range wider than f64 scaled all to 0.
            (
                "\"min\":[0,0,0,0],\"max\":[10,0,255,65535]",
                "\"min\":[-1e308,0,0,0],\"max\":[1e308,0,255,65535]",
                "preprocess.scaler.max[0]",
            ),
            ("{\"DoS\":0.7}", "{\"Dos\":0.7}", "output.threshold"),
            (
                "\"Dst Port\"]",
                "{\"name\":\"x\",\"constant\":\"a\"}]",
                "inputs[3]",
            ),
            (
                "\"Dst Port\"]",
                "{\"name\":\"x\",\"constant\":1,\"scale\":2}]",
                "inputs[3]",
            ),
            ("\"Dst Port\"]", "{\"constant\":1}]", "inputs[3]"),
            ("\"Dst Port\"]", "7]", "inputs[3]"),
            ("\"Dst Port\"]", "\"Dst Port.x\"]", "inputs[3]"),
            (
                "\"threshold\":{\"DoS\":0.7}}",
                "\"threshold\":{\"DoS\":0.7}},\"signatures\":{\"Dos\":9000001}",
                "signatures.Dos",
            ),
            (
                "\"threshold\":{\"DoS\":0.7}}",
                "\"threshold\":{\"DoS\":0.7}},\"signatures\":{\"DoS\":1,\"Benign\":1}",
                "signatures",
            ),
            (
                "\"threshold\":{\"DoS\":0.7}}",
                "\"threshold\":{\"DoS\":0.7}},\"alert_categories\":{\"Dos\":\"x\"}",
                "alert_categories.Dos",
            ),
            ("\"cic2017\"", "\"cic2019\"", "profile"),
            (
                "\"probabilities\",\"classes\"",
                "\"probs\",\"classes\"",
                "output.kind",
            ),
        ] {
            let text = OK.replace(from, to);
            assert_ne!(text, OK, "{from}");
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
