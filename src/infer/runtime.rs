//! ONNX Runtime: finding and loading the shared library (once per process)
//! and choosing the execution provider.
//!
//! The library is searched, in order: the config's `onnxruntime` path,
//! `ORT_DYLIB_PATH`, the project's own Python venv (`.venv`, where
//! `bash .ci/setup.sh` installs the `onnxruntime` wheel), then the system
//! loader (`libonnxruntime.so`).

use super::error::InferError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where inference runs (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on this GPU; failure to register is an error.
    Cuda(i32),
    /// CUDA when it registers, otherwise the CPU.
    Auto,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad device {s:?}: expected cpu, cuda, cuda:N or auto");
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            "auto" => Ok(Device::Auto),
            _ => match s.strip_prefix("cuda:").map(str::parse::<i32>) {
                Some(Ok(n)) if n >= 0 => Ok(Device::Cuda(n)),
                _ => Err(bad()),
            },
        }
    }
}

const HOW_TO_INSTALL: &str = "install it with `bash .ci/setup.sh` (puts the onnxruntime==1.31.1 \
     wheel in the project's .venv), or `pip install onnxruntime==1.31.1` and point ORT_DYLIB_PATH \
     (or `onnxruntime` in the config) at <site-packages>/onnxruntime/capi/libonnxruntime.so.1.31.1";

/// Candidate library paths, in search order, each with where it came from.
pub fn candidates(configured: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(p) = configured {
        out.push((p.to_path_buf(), "--onnxruntime or the config"));
        return out;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), "ORT_DYLIB_PATH"));
        return out;
    }
    // The project venv: next to the working directory or above the binary
    // (target/release/flowsentinel sits two levels below the checkout).
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    for root in roots {
        if let Some(lib) = venv_library(&root.join(".venv")) {
            if !out.iter().any(|(p, _)| *p == lib) {
                out.push((lib, "the project venv"));
            }
        }
    }
    out.push((PathBuf::from("libonnxruntime.so"), "the system loader"));
    out
}

fn venv_library(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .filter_map(|capi| std::fs::read_dir(capi).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
        .collect();
    found.sort();
    found.pop()
}

static LOADED: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment and the
/// library's path. Later calls return the first result, whatever they ask for.
pub fn init(
    configured: Option<&Path>,
) -> Result<(&'static ort::environment::Environment, &'static Path), InferError> {
    let loaded = LOADED.get_or_init(|| {
        let mut tried = Vec::new();
        // A configured path or ORT_DYLIB_PATH is the only candidate.
        for (path, from) in candidates(configured) {
            if path.components().count() > 1 && !path.exists() {
                tried.push(format!("{} (from {from}): no such file", path.display()));
                continue;
            }
            match ort::init_from(&path) {
                Ok(builder) => match builder.with_name("flowsentinel").build() {
                    Ok(env) => return Ok((path, env)),
                    Err(e) => tried.push(format!("{} (from {from}): {e}", path.display())),
                },
                Err(e) => {
                    // The cause of a dlopen failure is only in the source chain.
                    let mut msg = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        msg.push_str(&format!(": {s}"));
                        src = s.source();
                    }
                    tried.push(format!("{} (from {from}): {msg}", path.display()));
                }
            }
        }
        Err(format!(
            "cannot load the ONNX Runtime library; tried {}. To fix: {HOW_TO_INSTALL}",
            tried.join("; ")
        ))
    });
    match loaded {
        Ok((path, env)) => Ok((env, path.as_path())),
        Err(m) => Err(InferError::Runtime(m.clone())),
    }
}

/// A session builder with the execution provider for `device` registered,
/// and the provider's name.
pub fn session_builder(
    ort_lib: Option<&Path>,
    device: Device,
) -> Result<(ort::session::builder::SessionBuilder, &'static str), InferError> {
    let (env, _) = init(ort_lib)?;
    let new = || {
        ort::session::Session::builder(env)
            .map_err(|e| InferError::Runtime(format!("session builder: {e}")))
    };
    let builder = new()?;
    match device {
        Device::Cpu => Ok((builder, "CPU")),
        Device::Cuda(n) => register_cuda(builder, n).map(|b| (b, "CUDA")),
        Device::Auto => {
            // Registration consumes the builder; a fresh one stands in on failure.
            match register_cuda(builder, 0) {
                Ok(b) => Ok((b, "CUDA")),
                Err(e) => {
                    eprintln!("flowsentinel: device auto: CUDA unavailable ({e}); using the CPU");
                    Ok((new()?, "CPU"))
                }
            }
        }
    }
}

#[cfg(feature = "cuda")]
fn register_cuda(
    builder: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, InferError> {
    let ep = ort::ep::CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure();
    builder.with_execution_providers([ep]).map_err(|e| {
        InferError::Runtime(format!(
            "cannot register the CUDA execution provider on GPU {device_id}: {e} \
             (needs the onnxruntime-gpu build, the CUDA 13 runtime and cuDNN 9)"
        ))
    })
}

#[cfg(not(feature = "cuda"))]
fn register_cuda(
    _builder: ort::session::builder::SessionBuilder,
    _device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, InferError> {
    Err(InferError::Runtime(
        "this flowsentinel was built without CUDA support; rebuild with `cargo build --release --features cuda`"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_spellings() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        assert_eq!("auto".parse(), Ok(Device::Auto));
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:-1".parse::<Device>().is_err());
    }
}
