//! The top-level error type and its exit codes: 2 for bad usage, config or
//! input files that are refused; 1 for a run that finished with bad input.

use crate::capture::CaptureError;
use crate::flowcsv::CsvError;
use crate::infer::InferError;
use crate::labels::LabelsError;
use std::fmt;
use std::path::PathBuf;

/// Everything that can stop a command.
#[derive(Debug)]
pub enum Error {
    /// A capture file was refused.
    Capture(CaptureError),
    /// The labels file was refused.
    Labels(LabelsError),
    /// An output file could not be created or written.
    Output {
        /// The file (`-` for standard output).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A bad option value.
    Usage(String),
    /// The config file was refused.
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model bundle or ONNX Runtime was refused, or inference failed.
    Infer(InferError),
    /// A flow CSV was refused.
    Csv(CsvError),
    /// A pipeline thread died (a bug).
    Internal(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Capture(e) if !e.is_fatal() => 1,
            Error::Output { .. } => 1,
            Error::Infer(InferError::Run(_)) | Error::Internal(_) => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Capture(e) => e.fmt(f),
            Error::Labels(e) => e.fmt(f),
            Error::Output { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Usage(m) => f.write_str(m),
            Error::Config { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::Infer(e) => e.fmt(f),
            Error::Csv(e) => e.fmt(f),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<CaptureError> for Error {
    fn from(e: CaptureError) -> Self {
        Error::Capture(e)
    }
}

impl From<LabelsError> for Error {
    fn from(e: LabelsError) -> Self {
        Error::Labels(e)
    }
}

impl From<InferError> for Error {
    fn from(e: InferError) -> Self {
        Error::Infer(e)
    }
}

impl From<CsvError> for Error {
    fn from(e: CsvError) -> Self {
        Error::Csv(e)
    }
}
