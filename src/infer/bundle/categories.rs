//! Categorical context columns in `model.json`: the `categories` key, and
//! the resolution of every name in `inputs` under the bundle's profile.
//!
//! Owns [`Categories`] (per categorical column, its encoding, `onehot` or
//! `ordinal`, and its category list) and the rules of which columns a profile
//! may name. Input: the `categories` JSON value, the profile, then each input
//! name. Output: the resolved [`Input`] (a one-hot `service_http` becomes
//! [`Input::OneHot`], an ordinal `service` [`Input::Ordinal`]), or the field
//! at fault and why.

use super::input::Input;
use crate::kdd::{KddCol, KddKind};
use crate::profile::Profile;
use serde_json::Value;

/// How a categorical column is turned into numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One input per value, `<prefix><value>`: 1 for the row's value, else 0.
    OneHot,
    /// The column's own name: the value's position in the list, −1 if absent.
    Ordinal,
}

/// One categorical column's entry in `categories`.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// The column.
    pub col: KddCol,
    /// Its encoding.
    pub encoding: Encoding,
    /// The category list as written, each value with its vocabulary index.
    pub values: Vec<(String, usize)>,
    /// One-hot input names are this prefix and a value.
    pub prefix: String,
}

/// Every categorical column the metadata encodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Categories(pub Vec<Category>);

/// A metadata problem: the field and what is wrong with it.
pub type FieldError = (String, String);

fn categorical() -> impl Iterator<Item = KddCol> {
    KddCol::ALL.into_iter().filter(|c| c.kind() == KddKind::Cat)
}

fn names_of_categorical() -> String {
    categorical()
        .map(KddCol::name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Categories {
    /// Reads and checks the `categories` value.
    pub fn parse(v: Option<&Value>, profile: Profile) -> Result<Categories, FieldError> {
        let fe = |f: &str, r: String| (f.to_string(), r);
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(Categories::default());
        };
        let Value::Object(map) = v else {
            return Err(fe(
                "categories",
                "must be an object mapping categorical columns to their encodings".into(),
            ));
        };
        if profile != Profile::Kdd && !map.is_empty() {
            return Err(fe(
                "categories",
                format!(
                    "a {} bundle has no categorical columns: only profile kdd computes {}",
                    profile.name(),
                    names_of_categorical()
                ),
            ));
        }
        let mut out = Vec::new();
        for (name, spec) in map {
            let field = format!("categories.{name}");
            let col = KddCol::lookup(name)
                .filter(|c| c.kind() == KddKind::Cat)
                .ok_or_else(|| {
                    fe(
                        &field,
                        format!(
                            "{name:?} is not a categorical column (they are {})",
                            names_of_categorical()
                        ),
                    )
                })?;
            let vocab = col.vocabulary().unwrap_or(&[]);
            let Value::Object(spec) = spec else {
                return Err(fe(
                    &field,
                    "must be an object: {\"encoding\": \"onehot\" | \"ordinal\", \"values\": [...]}"
                        .into(),
                ));
            };
            if let Some(k) = spec
                .keys()
                .find(|k| !matches!(k.as_str(), "encoding" | "values" | "prefix"))
            {
                return Err(fe(
                    &format!("{field}.{k}"),
                    "unknown key (expected encoding, values, prefix)".into(),
                ));
            }
            let encoding = match spec.get("encoding") {
                Some(Value::String(s)) if s == "onehot" => Encoding::OneHot,
                Some(Value::String(s)) if s == "ordinal" => Encoding::Ordinal,
                Some(other) => {
                    return Err(fe(
                        &format!("{field}.encoding"),
                        format!("expected \"onehot\" or \"ordinal\", got {other}"),
                    ))
                }
                None => {
                    return Err(fe(
                        &format!("{field}.encoding"),
                        "is required (\"onehot\" or \"ordinal\")".into(),
                    ))
                }
            };
            let values: Vec<(String, usize)> = match spec.get("values") {
                None => vocab
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.to_string(), i))
                    .collect(),
                Some(Value::Array(list)) => {
                    let mut values: Vec<(String, usize)> = Vec::with_capacity(list.len());
                    for (i, x) in list.iter().enumerate() {
                        let f = format!("{field}.values[{i}]");
                        let Value::String(s) = x else {
                            return Err(fe(
                                &f,
                                format!("the category list must hold strings, got {x}"),
                            ));
                        };
                        let k = vocab.iter().position(|v| v == s).ok_or_else(|| {
                            fe(
                                &f,
                                format!(
                                    "{s:?} is not a value NSL-KDD's {name} takes ({})",
                                    vocab.join(", ")
                                ),
                            )
                        })?;
                        if values.iter().any(|(v, _)| v == s) {
                            return Err(fe(&f, format!("{s:?} appears twice")));
                        }
                        values.push((s.clone(), k));
                    }
                    if values.is_empty() {
                        return Err(fe(&format!("{field}.values"), "is empty".into()));
                    }
                    values
                }
                Some(other) => {
                    return Err(fe(
                        &format!("{field}.values"),
                        format!("the category list must be a list of strings, got {other}"),
                    ))
                }
            };
            let prefix = match (spec.get("prefix"), encoding) {
                (None, _) => format!("{name}_"),
                (Some(Value::String(p)), Encoding::OneHot) if !p.trim().is_empty() => p.clone(),
                (Some(_), Encoding::OneHot) => {
                    return Err(fe(
                        &format!("{field}.prefix"),
                        "must be a non-empty string".into(),
                    ))
                }
                (Some(_), Encoding::Ordinal) => {
                    return Err(fe(
                        &format!("{field}.prefix"),
                        "only a onehot encoding has a prefix".into(),
                    ))
                }
            };
            out.push(Category {
                col,
                encoding,
                values,
                prefix,
            });
        }
        Ok(Categories(out))
    }

    /// The entry of column `c`.
    pub fn get(&self, c: KddCol) -> Option<&Category> {
        self.0.iter().find(|x| x.col == c)
    }

    /// Resolves one name of `inputs` (the reason when it cannot be).
    pub fn resolve(&self, name: &str, profile: Profile) -> Result<Input, String> {
        let n = name.trim();
        // Exact names first, so that a prefix shadows no column.
        let input = match Input::resolve(n) {
            Some(input) => input,
            None => return self.one_hot(n),
        };
        let Input::Kdd(c) = input else {
            return Ok(input);
        };
        if profile != Profile::Kdd && !c.is_window() {
            return Err(format!(
                "column {n} is an NSL-KDD connection feature, which only profile kdd computes; \
                 a {} bundle may name the window columns only (count .. \
                 dst_host_srv_rerror_rate, src_*)",
                profile.name()
            ));
        }
        match self.get(c) {
            Some(cat) if cat.encoding == Encoding::OneHot => Err(format!(
                "column {n} is one-hot encoded (categories.{n}); name its indicator columns, \
                 {}<value>, instead",
                cat.prefix
            )),
            Some(cat) => {
                let mut codes = vec![-1.0; c.vocabulary().map_or(0, <[_]>::len)];
                for (pos, &(_, k)) in cat.values.iter().enumerate() {
                    if let Some(slot) = codes.get_mut(k) {
                        *slot = pos as f64;
                    }
                }
                Ok(Input::Ordinal { col: c, codes })
            }
            None => Ok(input),
        }
    }

    /// A one-hot indicator column `<prefix><value>`.
    fn one_hot(&self, n: &str) -> Result<Input, String> {
        for cat in self.0.iter().filter(|c| c.encoding == Encoding::OneHot) {
            if let Some(value) = n.strip_prefix(cat.prefix.as_str()) {
                let index = cat
                    .values
                    .iter()
                    .find(|(v, _)| v == value)
                    .map(|&(_, k)| k)
                    .ok_or_else(|| {
                        format!(
                            "one-hot column {n:?}: {value:?} is not in categories.{}.values",
                            cat.col.name()
                        )
                    })?;
                return Ok(Input::OneHot {
                    col: cat.col,
                    index,
                });
            }
        }
        let hint = categorical()
            .find(|c| n.starts_with(&format!("{}_", c.name())))
            .map_or(String::new(), |c| {
                format!(
                    "; a one-hot column of {0} needs categories.{0} with \"encoding\": \"onehot\"",
                    c.name()
                )
            });
        Err(format!(
            "unknown column {n:?}: not a feature column in the 2017, 2018 or master \
             spelling, nor Src/Dst Port, Protocol or \"Src/Dst IP octet 1..4\", nor an \
             NSL-KDD or per-source window column (exact name){hint}"
        ))
    }

    /// An entry no input uses, as an error.
    pub fn unused(&self, inputs: &[Input]) -> Option<FieldError> {
        self.0.iter().find_map(|cat| {
            let used = inputs.iter().any(|i| match (i, cat.encoding) {
                (Input::OneHot { col, .. }, Encoding::OneHot) => *col == cat.col,
                (Input::Ordinal { col, .. }, Encoding::Ordinal) => *col == cat.col,
                _ => false,
            });
            (!used).then(|| {
                let name = cat.col.name();
                (
                    format!("categories.{name}"),
                    match cat.encoding {
                        Encoding::OneHot => {
                            format!("no input is one of its columns ({}<value>)", cat.prefix)
                        }
                        Encoding::Ordinal => format!("no input is {name}"),
                    },
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::bundle::Bundle;
    use crate::infer::InferError;
    use std::path::Path;

    fn meta(profile: &str, inputs: &str, categories: &str) -> String {
        format!(
            r#"{{"name":"m","version":"1","profile":"{profile}","inputs":[{inputs}],
            {categories}"layout":{{"kind":"flat"}},
            "output":{{"kind":"probabilities","classes":["normal","attack"],"benign":"normal"}}}}"#
        )
    }

    fn parse(profile: &str, inputs: &str, categories: &str) -> Result<Bundle, InferError> {
        Bundle::parse(Path::new("b"), &meta(profile, inputs, categories))
    }

    fn refused(profile: &str, inputs: &str, categories: &str, field: &str, says: &str) {
        let e = parse(profile, inputs, categories).unwrap_err().to_string();
        assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        assert!(e.contains(says), "{says}: {e}");
    }

    #[test]
    fn kdd_bundles_name_any_context_column_and_cic_features() {
        let b = parse(
            "kdd",
            r#""duration","service","src_bytes","count","src_host_count","Flow Duration""#,
            "",
        )
        .unwrap();
        assert_eq!(
            b.inputs,
            vec![
                Input::Kdd(KddCol::Duration),
                Input::Kdd(KddCol::Service),
                Input::Kdd(KddCol::SrcBytes),
                Input::Kdd(KddCol::Count),
                Input::Kdd(KddCol::SrcHostCount),
                Input::Feature(0),
            ]
        );
        assert!(b.needs_context());
    }

    #[test]
    fn other_profiles_name_window_columns_only() {
        let b = parse(
            "fixed",
            r#""Flow Duration","count","dst_host_srv_rerror_rate","src_same_srv_rate""#,
            "",
        )
        .unwrap();
        assert!(b.needs_context());
        assert!(!parse("fixed", r#""Flow Duration""#, "")
            .unwrap()
            .needs_context());
        for (profile, col) in [
            ("fixed", "flag"),
            ("cic2017", "service"),
            ("cic2018", "src_bytes"),
        ] {
            refused(
                profile,
                &format!(r#""Flow Duration","{col}""#),
                "",
                "inputs[1]",
                &format!("column {col} is an NSL-KDD connection feature, which only profile kdd"),
            );
        }
        refused(
            "fixed",
            r#""count""#,
            r#""categories":{"flag":{"encoding":"ordinal"}},"#,
            "categories",
            "a fixed bundle has no categorical columns",
        );
    }

    #[test]
    fn one_hot_and_ordinal_expansions() {
        let b = parse(
            "kdd",
            r#""service_http","service_ftp_data","flag","protocol_type""#,
            r#""categories":{"service":{"encoding":"onehot","values":["ftp_data","http"]},
               "flag":{"encoding":"ordinal","values":["SF","S0","REJ"]},
               "protocol_type":{"encoding":"ordinal"}},"#,
        )
        .unwrap();
        let vocab = |c: KddCol, v: &str| c.vocabulary().unwrap().iter().position(|s| *s == v);
        assert_eq!(
            b.inputs[0],
            Input::OneHot {
                col: KddCol::Service,
                index: vocab(KddCol::Service, "http").unwrap()
            }
        );
        let Input::Ordinal { col, codes } = &b.inputs[2] else {
            panic!("{:?}", b.inputs[2]);
        };
        assert_eq!(*col, KddCol::Flag);
        assert_eq!(codes[vocab(KddCol::Flag, "S0").unwrap()], 1.0);
        assert_eq!(codes[vocab(KddCol::Flag, "RSTO").unwrap()], -1.0);
        // No list: header.arff's order, the vocabulary index itself.
        let Input::Ordinal { codes, .. } = &b.inputs[3] else {
            panic!("{:?}", b.inputs[3]);
        };
        assert_eq!(codes, &[0.0, 1.0, 2.0]);
    }

    #[test]
    fn mismatches_name_the_field() {
        let onehot = r#""categories":{"service":{"encoding":"onehot","values":["http","smtp"]}},"#;
        refused(
            "kdd",
            r#""service_http","service_xyz""#,
            onehot,
            "inputs[1]",
            "\"xyz\" is not in categories.service.values",
        );
        refused(
            "kdd",
            r#""service_http","service""#,
            onehot,
            "inputs[1]",
            "column service is one-hot encoded",
        );
        refused(
            "kdd",
            r#""service_http""#,
            r#""categories":{"service":{"encoding":"onehot","values":["http",3]}},"#,
            "categories.service.values[1]",
            "must hold strings",
        );
        refused(
            "kdd",
            r#""service_http""#,
            r#""categories":{"service":{"encoding":"onehot","values":"http"}},"#,
            "categories.service.values",
            "must be a list of strings",
        );
        refused(
            "kdd",
            r#""service_http""#,
            r#""categories":{"service":{"encoding":"onehot","values":["http","HTTP"]}},"#,
            "categories.service.values[1]",
            "not a value NSL-KDD's service takes",
        );
        refused(
            "kdd",
            r#""service""#,
            r#""categories":{"service":{"encoding":"binary"}},"#,
            "categories.service.encoding",
            "expected \"onehot\" or \"ordinal\"",
        );
        refused(
            "kdd",
            r#""count""#,
            r#""categories":{"count":{"encoding":"ordinal"}},"#,
            "categories.count",
            "not a categorical column",
        );
        refused(
            "kdd",
            r#""count""#,
            r#""categories":{"flag":{"encoding":"ordinal"}},"#,
            "categories.flag",
            "no input is flag",
        );
        refused(
            "kdd",
            r#""flag_SF""#,
            "",
            "inputs[0]",
            "needs categories.flag with \"encoding\": \"onehot\"",
        );
    }
}
