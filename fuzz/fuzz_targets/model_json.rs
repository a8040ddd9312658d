//! Model bundle metadata (`model.json`): `Bundle::parse` on arbitrary text.
//! A bundle that parses must preprocess a row (with NaN and ±Infinity among
//! its features, every context column set) into finite-or-scaled values
//! without panicking; an error must name the metadata file.
#![no_main]

use flowsentinel::decode::Addr;
use flowsentinel::features::NUM_FEATURES;
use flowsentinel::infer::bundle::{Bundle, FlowRow, Input};
use flowsentinel::kdd::{KddCol, KddRow};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|text: &str| {
    let dir = Path::new("fuzz-bundle");
    let bundle = match Bundle::parse(dir, text) {
        Ok(b) => b,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("model.json"),
                "error does not name the file: {msg}"
            );
            return;
        }
    };
    assert_eq!(bundle.width(), bundle.inputs.len());
    assert_eq!(bundle.inputs.len(), bundle.input_names.len());
    assert!(bundle.benign < bundle.labels.len());
    assert_eq!(bundle.thresholds.len(), bundle.labels.len());
    assert!(bundle.nonfinite.is_finite());
    assert!((1..=1024).contains(&bundle.layout.length()));
    if let Some(s) = &bundle.scaler {
        assert_eq!(s.shift.len(), bundle.width());
        assert_eq!(s.scale.len(), bundle.width());
        assert!(
            s.scale.iter().all(|&x| x != 0.0),
            "a zero scale counts as one"
        );
    }
    for input in &bundle.inputs {
        match *input {
            Input::Feature(i) => assert!(i < NUM_FEATURES),
            Input::SrcOctet(k) | Input::DstOctet(k) => assert!(k < 4),
            Input::OneHot { col, index } => {
                assert!(index < col.vocabulary().map_or(0, <[_]>::len))
            }
            Input::Ordinal { col, ref codes } => {
                assert_eq!(codes.len(), col.vocabulary().map_or(0, <[_]>::len))
            }
            _ => {}
        }
    }

    let mut features = [0.0; NUM_FEATURES];
    for (i, x) in features.iter_mut().enumerate() {
        *x = match i % 5 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => i as f64 * 1000.5,
            _ => -(i as f64),
        };
    }
    // A context row with every column set, categorical ones to a vocabulary
    // index (the last one, or one past it, which no encoding may trip on).
    let mut kdd = KddRow::default();
    for (i, c) in KddCol::ALL.into_iter().enumerate() {
        let v = match c.vocabulary() {
            Some(v) => (v.len() - 1 + i % 2) as f64,
            None => i as f64 * 0.37,
        };
        kdd.set(c, v);
    }
    for (src, dst) in [
        (Addr::v4([10, 0, 0, 1]), Addr::v4([192, 168, 1, 254])),
        (Addr::v6([0x20; 16]), Addr::v6([0xfe; 16])),
    ] {
        let row = FlowRow {
            features,
            src,
            dst,
            src_port: 51_000,
            dst_port: 443,
            proto: 6,
            interim: false,
            kdd,
        };
        let mut out = vec![0f32; bundle.width()];
        bundle.preprocess(&row, &mut out);
        for input in bundle.inputs.iter().filter(|i| i.is_text()) {
            assert!(input.text(&row).len() < 64);
        }
        if bundle.scaler.is_none() {
            // Without a scaler every value is the raw input with the
            // non-finite ones replaced: always a number.
            assert!(out.iter().all(|x| !x.is_nan()), "{out:?}");
        }
    }
});
