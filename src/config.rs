//! The config file (`--config FILE`, TOML) and its merge with the command
//! line: every `replay` option can live in the file under the same name as
//! the flag (with `_` for `-`); a flag given on the command line wins.
//! Unknown keys and wrong types are refused with the file, line and key.

use crate::error::Error;
use crate::infer::Device;
use crate::pipeline::replay::ReplayConfig;
use crate::syslog::{SyslogFormat, SyslogTarget};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `replay` settings as typed, from the file or the command line; `None`
/// means "not given here".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// Model bundle directory.
    pub model: Option<PathBuf>,
    /// EVE JSON output path or `-`.
    pub alerts: Option<PathBuf>,
    /// Log every flow as an EVE `flow` event.
    pub flow_events: Option<bool>,
    /// Flow CSV output.
    pub flows_csv: Option<PathBuf>,
    /// Attack episodes CSV.
    pub labels: Option<PathBuf>,
    /// Syslog target.
    pub syslog: Option<String>,
    /// Syslog format (5424 or 3164).
    pub syslog_format: Option<String>,
    /// Flow workers.
    pub workers: Option<usize>,
    /// Inference batch size.
    pub batch_size: Option<usize>,
    /// Inference batch timeout, ms.
    pub batch_timeout_ms: Option<u64>,
    /// cpu, cuda, cuda:N or auto.
    pub device: Option<String>,
    /// ONNX Runtime library.
    pub onnxruntime: Option<PathBuf>,
    /// Flow timeout, seconds.
    pub flow_timeout: Option<f64>,
    /// Activity timeout, seconds.
    pub activity_timeout: Option<f64>,
}

impl ReplaySettings {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<ReplaySettings, Error> {
        let err = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        toml::from_str(&text).map_err(|e| err(e.to_string().trim_end().replace('\n', " ")))
    }

    /// These settings with `over`'s given values taking precedence.
    pub fn overlay(self, over: ReplaySettings) -> ReplaySettings {
        ReplaySettings {
            model: over.model.or(self.model),
            alerts: over.alerts.or(self.alerts),
            flow_events: over.flow_events.or(self.flow_events),
            flows_csv: over.flows_csv.or(self.flows_csv),
            labels: over.labels.or(self.labels),
            syslog: over.syslog.or(self.syslog),
            syslog_format: over.syslog_format.or(self.syslog_format),
            workers: over.workers.or(self.workers),
            batch_size: over.batch_size.or(self.batch_size),
            batch_timeout_ms: over.batch_timeout_ms.or(self.batch_timeout_ms),
            device: over.device.or(self.device),
            onnxruntime: over.onnxruntime.or(self.onnxruntime),
            flow_timeout: over.flow_timeout.or(self.flow_timeout),
            activity_timeout: over.activity_timeout.or(self.activity_timeout),
        }
    }

    /// Validates and fills defaults.
    pub fn build(self, files: Vec<PathBuf>, progress: bool) -> Result<ReplayConfig, Error> {
        let usage = Error::Usage;
        let device: Device = match self.device.as_deref() {
            None => Device::Cpu,
            Some(d) => d.parse().map_err(|e| usage(format!("--device: {e}")))?,
        };
        let syslog = match self.syslog {
            None => None,
            Some(t) => {
                let target: SyslogTarget =
                    t.parse().map_err(|e| usage(format!("--syslog: {e}")))?;
                let format: SyslogFormat = self
                    .syslog_format
                    .as_deref()
                    .unwrap_or("5424")
                    .parse()
                    .map_err(|e| usage(format!("--syslog-format: {e}")))?;
                Some((target, format))
            }
        };
        if self.syslog_format.is_some() && syslog.is_none() {
            return Err(usage("--syslog-format needs --syslog".into()));
        }
        let workers = self.workers.unwrap_or(2);
        if !(1..=256).contains(&workers) {
            return Err(usage(format!("--workers: expected 1..=256, got {workers}")));
        }
        let batch_size = self.batch_size.unwrap_or(256);
        if !(1..=65_536).contains(&batch_size) {
            return Err(usage(format!(
                "--batch-size: expected 1..=65536, got {batch_size}"
            )));
        }
        Ok(ReplayConfig {
            files,
            model: self
                .model
                .unwrap_or_else(|| PathBuf::from("models/default")),
            device,
            onnxruntime: self.onnxruntime,
            alerts: self.alerts.unwrap_or_else(|| PathBuf::from("-")),
            flow_events: self.flow_events.unwrap_or(false),
            flows_csv: self.flows_csv,
            labels: self.labels,
            syslog,
            workers,
            batch_size,
            batch_timeout: Duration::from_millis(self.batch_timeout_ms.unwrap_or(50)),
            flow_timeout_us: seconds_to_us("flow-timeout", self.flow_timeout.unwrap_or(120.0))?,
            activity_timeout_us: seconds_to_us(
                "activity-timeout",
                self.activity_timeout.unwrap_or(5.0),
            )?,
            progress,
        })
    }
}

/// A positive number of seconds as µs, or a usage error naming the option.
pub fn seconds_to_us(name: &str, s: f64) -> Result<i64, Error> {
    if !s.is_finite() || s <= 0.0 || s > 1e9 {
        return Err(Error::Usage(format!(
            "--{name}: expected a positive number of seconds, got {s}"
        )));
    }
    Ok((s * 1e6).round() as i64)
}
