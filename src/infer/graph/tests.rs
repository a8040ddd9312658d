//! Unit tests of the graph checks: per-column feeds mapped by name, and
//! every refusal naming its metadata field.

use super::*;
use std::path::Path;

fn bundle(inputs: &str, extra: &str) -> Bundle {
    Bundle::parse(
        Path::new("b"),
        &format!(
            r#"{{"name":"m","version":"1","profile":"kdd","inputs":[{inputs}],{extra}
            "layout":{{"kind":"flat"}},
            "output":{{"kind":"probabilities","name":"probabilities",
            "classes":["normal","attack"],"benign":"normal"}}}}"#
        ),
    )
    .unwrap()
}

fn port(name: &str, ty: TensorElementType, shape: &[i64]) -> Port {
    Port {
        name: name.into(),
        ty: Some(ty),
        shape: shape.to_vec(),
    }
}

fn outputs() -> Vec<Port> {
    vec![
        port("label", TensorElementType::Int64, &[-1]),
        port("probabilities", TensorElementType::Float32, &[-1, 2]),
    ]
}

const COLS: &str = r#""duration","service","src_bytes""#;

fn ports(service: TensorElementType) -> Vec<Port> {
    vec![
        port("src_bytes", TensorElementType::Int64, &[-1, 1]),
        port("service", service, &[-1, 1]),
        port("duration", TensorElementType::Float32, &[-1, 1]),
    ]
}

fn refused(b: &Bundle, inputs: &[Port], field: &str, says: &str) {
    let e = plan(b, inputs, &outputs()).unwrap_err().to_string();
    assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
    assert!(e.contains(says), "{says}: {e}");
}

#[test]
fn one_input_per_column_maps_by_name() {
    let p = plan(
        &bundle(COLS, ""),
        &ports(TensorElementType::String),
        &outputs(),
    )
    .unwrap();
    let Feed::Columns(cols) = p.feed else {
        panic!("{:?}", p.feed);
    };
    let got: Vec<(usize, &str, ColumnType)> = cols
        .iter()
        .map(|c| (c.input, c.name.as_str(), c.ty))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "duration", ColumnType::F32),
            (1, "service", ColumnType::Text),
            (2, "src_bytes", ColumnType::I64),
        ]
    );
    assert_eq!(p.output, "probabilities");
}

#[test]
fn per_column_refusals_name_the_field() {
    let b = bundle(COLS, "");
    let mut extra = ports(TensorElementType::String);
    extra.push(port("srv", TensorElementType::Float32, &[-1, 1]));
    refused(&b, &extra, "inputs", "graph input \"srv\" names no column");
    let mut missing = ports(TensorElementType::String);
    missing.remove(0);
    refused(
        &b,
        &missing,
        "inputs[2]",
        "column \"src_bytes\" has no graph input",
    );
    refused(
        &b,
        &ports(TensorElementType::Float32),
        "inputs[1]",
        "graph input \"service\" is Float32; column service is categorical",
    );
    let mut text_numeric = ports(TensorElementType::String);
    text_numeric[0].ty = Some(TensorElementType::String);
    refused(
        &b,
        &text_numeric,
        "inputs[2]",
        "column src_bytes is numeric",
    );
    let mut wide = ports(TensorElementType::String);
    wide[2].shape = vec![-1, 3];
    refused(&b, &wide, "inputs[0]", "must be [batch, 1]");
    let seq = Bundle {
        layout: LayoutSpec::Sequence {
            length: 3,
            group_by: Default::default(),
        },
        ..b.clone()
    };
    refused(
        &seq,
        &ports(TensorElementType::String),
        "layout",
        "only a flat layout",
    );
    let scaled = bundle(
        COLS,
        r#""preprocess":{"scaler":{"kind":"standard","mean":[0,5,0],"std":[1,1,1]}},"#,
    );
    refused(
        &scaled,
        &ports(TensorElementType::String),
        "preprocess.scaler",
        "fed as strings",
    );
}

#[test]
fn a_flat_tensor_takes_no_unencoded_category() {
    let b = bundle(COLS, "");
    refused(
        &b,
        &[port("input", TensorElementType::Float32, &[-1, 3])],
        "inputs[1]",
        "column service is categorical: a float input takes numbers",
    );
    let ok = bundle(
        r#""duration","service","src_bytes""#,
        r#""categories":{"service":{"encoding":"ordinal"}},"#,
    );
    let p = plan(
        &ok,
        &[port("input", TensorElementType::Float32, &[-1, 3])],
        &outputs(),
    )
    .unwrap();
    assert_eq!(p.feed, Feed::Tensor("input".into()));
}
