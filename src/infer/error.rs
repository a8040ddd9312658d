//! The inference stage's error: a model bundle or ONNX Runtime that cannot
//! be used, or a run of the graph that failed.

use std::fmt;
use std::path::PathBuf;

/// A bundle or runtime that cannot be used.
#[derive(Debug)]
pub enum InferError {
    /// The bundle directory or a file in it is unusable.
    Bundle {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A metadata field is wrong or disagrees with the graph.
    Field {
        /// model.json.
        path: PathBuf,
        /// The field, e.g. `inputs[3]` or `output.classes`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// ONNX Runtime could not be loaded or set up.
    Runtime(String),
    /// A run of the graph failed.
    Run(String),
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InferError::Bundle { path, reason } => write!(f, "{}: {reason}", path.display()),
            InferError::Field {
                path,
                field,
                reason,
            } => write!(f, "{}: field `{field}`: {reason}", path.display()),
            InferError::Runtime(m) => write!(f, "ONNX Runtime: {m}"),
            InferError::Run(m) => write!(f, "inference failed: {m}"),
        }
    }
}

impl std::error::Error for InferError {}
