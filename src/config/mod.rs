//! The config file (`--config FILE`, TOML) and its merge with the command line: every `replay`
//! and `live` option can live in the file under the same name as the flag (with `_` for `-`); a
//! flag given on the command line wins. Unknown keys and wrong types are refused with the file,
//! line and key. `systemd/flowsentinel.toml` documents every key.
//!
//! [`Settings::build`] is where every value is checked, once, given or
//! default (the defaults are in [`crate::defaults`]), in a fixed order; the
//! first refused value is the error, naming its option. Nothing downstream
//! checks a value again.

use crate::capture::LiveOptions;
use crate::cidr::Cidr;
use crate::defaults;
use crate::error::Error;
use crate::fastlog::AlertsFormat;
use crate::infer::Device;
use crate::ips::{BlockSide, HookConfig, MAX_TTL};
use crate::pipeline::outfile::OnOutputError;
use crate::pipeline::sensor::{SensorConfig, Source};
use crate::syslog::{SyslogFormat, SyslogTarget};
use crate::threshold::{Rules, SuppressRule, ThresholdRule};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most capture threads (`--capture-threads`): each has its own kernel
/// buffer, and old kernels allow 256 members in a fanout group.
const MAX_CAPTURE_THREADS: usize = 128;

/// `replay` and `live` settings as typed, from the file or the command line;
/// `None` means "not given here".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
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
    /// Score open flows every this many seconds (0: off).
    pub interim_after: Option<f64>,
    /// The most flows open at once (0: no limit).
    pub max_flows: Option<usize>,
    /// What a failing output does: stop or continue.
    pub on_output_error: Option<String>,
    /// Seconds between stats events (0: only at exit).
    pub stats_interval: Option<f64>,
    /// IPS hook executable.
    pub ips_hook: Option<PathBuf>,
    /// Seconds a block lasts.
    pub ips_ttl: Option<f64>,
    /// CIDRs never blocked.
    pub ips_allow: Option<Vec<String>>,
    /// Which address to block: src or dst.
    pub ips_block: Option<String>,
    /// Log hook calls without running them.
    pub ips_dry_run: Option<bool>,
    /// Seconds before a hanging hook is killed.
    pub ips_timeout: Option<f64>,
    /// Hook calls per second at most.
    pub ips_rate: Option<f64>,
    /// Live: the interface.
    pub interface: Option<String>,
    /// Live: BPF filter.
    pub bpf: Option<String>,
    /// Live: promiscuous mode.
    pub promisc: Option<bool>,
    /// Live: bytes captured per frame.
    pub snaplen: Option<i32>,
    /// Live: kernel capture buffer, MiB.
    pub buffer_mb: Option<u32>,
    /// Live: capture threads (one fanout group when more than one).
    pub capture_threads: Option<usize>,
    /// Live: the user to switch to once the capture is open.
    pub user: Option<String>,
    /// One alert per address pair and label per this many seconds (0: off).
    pub alert_limit: Option<f64>,
    /// `[[threshold]]` tables: Suricata threshold rules for the alerts.
    pub threshold: Option<Vec<ThresholdRule>>,
    /// `[[suppress]]` tables: Suricata suppress rules for the alerts.
    pub suppress: Option<Vec<SuppressRule>>,
    /// The alerts output: json, text or auto.
    pub alerts_format: Option<String>,
    /// Score every flow, also those the address rule leaves unscored.
    pub score_all_flows: Option<bool>,
}

/// `over.field.or(self.field)` for each field.
macro_rules! overlay {
    ($base:expr, $over:expr, $($f:ident),+ $(,)?) => {
        Settings { $($f: $over.$f.or($base.$f)),+ }
    };
}

impl Settings {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Settings, Error> {
        let err = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses TOML config text; the error is one line.
    pub fn parse(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
    }

    /// These settings with `over`'s given values taking precedence.
    pub fn overlay(self, over: Settings) -> Settings {
        overlay!(
            self,
            over,
            model,
            alerts,
            flow_events,
            flows_csv,
            labels,
            syslog,
            syslog_format,
            workers,
            batch_size,
            batch_timeout_ms,
            device,
            onnxruntime,
            flow_timeout,
            activity_timeout,
            interim_after,
            max_flows,
            on_output_error,
            stats_interval,
            ips_hook,
            ips_ttl,
            ips_allow,
            ips_block,
            ips_dry_run,
            ips_timeout,
            ips_rate,
            interface,
            bpf,
            promisc,
            snaplen,
            buffer_mb,
            capture_threads,
            user,
            alert_limit,
            threshold,
            suppress,
            alerts_format,
            score_all_flows,
        )
    }

    /// Validates and fills defaults: `replay` of `files`, or `live` when
    /// `files` is `None`.
    pub fn build(self, files: Option<Vec<PathBuf>>, progress: bool) -> Result<SensorConfig, Error> {
        let usage = Error::Usage;
        let live = files.is_none();
        let device: Device = self
            .device
            .as_deref()
            .unwrap_or(defaults::DEVICE)
            .parse()
            .map_err(|e| usage(format!("--device: {e}")))?;
        let syslog = match self.syslog {
            None => None,
            Some(t) => {
                let target: SyslogTarget =
                    t.parse().map_err(|e| usage(format!("--syslog: {e}")))?;
                let format: SyslogFormat = self
                    .syslog_format
                    .as_deref()
                    .unwrap_or(defaults::SYSLOG_FORMAT)
                    .parse()
                    .map_err(|e| usage(format!("--syslog-format: {e}")))?;
                Some((target, format))
            }
        };
        if self.syslog_format.is_some() && syslog.is_none() {
            return Err(usage("--syslog-format needs --syslog".into()));
        }
        let workers = self.workers.unwrap_or_else(defaults::threads);
        if !(1..=256).contains(&workers) {
            return Err(usage(format!("--workers: expected 1..=256, got {workers}")));
        }
        let batch_size = self.batch_size.unwrap_or(defaults::BATCH_SIZE);
        if !(1..=65_536).contains(&batch_size) {
            return Err(usage(format!(
                "--batch-size: expected 1..=65536, got {batch_size}"
            )));
        }
        let interim_after = self
            .interim_after
            .unwrap_or(defaults::INTERIM_AFTER.as_secs_f64());
        let interim_after_us = match interim_after {
            0.0 => 0,
            s => seconds_to_us("interim-after", s)?,
        };
        let default_max_flows = if live {
            defaults::LIVE_MAX_FLOWS
        } else {
            defaults::MAX_FLOWS
        };
        let max_flows = match self.max_flows.unwrap_or(default_max_flows) {
            0 => None,
            n if n < workers => {
                return Err(usage(format!(
                    "--max-flows: expected 0 (no limit) or at least one flow per worker ({workers}), got {n}"
                )))
            }
            n => Some(n),
        };
        let on_output_error: OnOutputError = self
            .on_output_error
            .as_deref()
            .unwrap_or(defaults::ON_OUTPUT_ERROR)
            .parse()
            .map_err(|e| usage(format!("--on-output-error: {e}")))?;
        let live_stats = defaults::LIVE_STATS_INTERVAL.as_secs_f64();
        let stats_interval = match self.stats_interval.or(live.then_some(live_stats)) {
            None => None,
            Some(0.0) => Some(Duration::ZERO),
            Some(s) => Some(duration("stats-interval", s)?),
        };
        let hook = match self.ips_hook {
            None => {
                let given = self.ips_ttl.is_some()
                    || self.ips_allow.is_some()
                    || self.ips_block.is_some()
                    || self.ips_dry_run.is_some()
                    || self.ips_timeout.is_some()
                    || self.ips_rate.is_some();
                if given {
                    return Err(usage("the --ips-* options need --ips-hook".into()));
                }
                None
            }
            Some(path) => Some(HookConfig {
                path,
                ttl: ips_ttl(self.ips_ttl.unwrap_or(defaults::IPS_TTL.as_secs_f64()))?,
                allow: self
                    .ips_allow
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        c.parse::<Cidr>()
                            .map_err(|e| usage(format!("--ips-allow: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
                side: self
                    .ips_block
                    .as_deref()
                    .unwrap_or(defaults::IPS_BLOCK)
                    .parse::<BlockSide>()
                    .map_err(|e| usage(format!("--ips-block: {e}")))?,
                dry_run: self.ips_dry_run.unwrap_or(false),
                timeout: duration(
                    "ips-timeout",
                    self.ips_timeout
                        .unwrap_or(defaults::IPS_TIMEOUT.as_secs_f64()),
                )?,
                rate_per_sec: ips_rate(self.ips_rate.unwrap_or(defaults::IPS_RATE))?,
            }),
        };
        let source = match files {
            Some(files) => {
                let live_only = [
                    ("interface", self.interface.is_some()),
                    ("bpf", self.bpf.is_some()),
                    ("promisc", self.promisc.is_some()),
                    ("snaplen", self.snaplen.is_some()),
                    ("buffer-mb", self.buffer_mb.is_some()),
                    ("capture-threads", self.capture_threads.is_some()),
                    ("user", self.user.is_some()),
                ];
                if let Some((name, _)) = live_only.iter().find(|(_, given)| *given) {
                    return Err(usage(format!("--{name} applies to `live` only")));
                }
                Source::Files(files)
            }
            None => {
                let iface = self
                    .interface
                    .ok_or_else(|| usage("live needs an interface: -i IFACE".into()))?;
                let snaplen = self.snaplen.unwrap_or(defaults::SNAPLEN);
                if !(64..=262_144).contains(&snaplen) {
                    return Err(usage(format!(
                        "--snaplen: expected 64..=262144, got {snaplen}"
                    )));
                }
                let buffer_mb = self.buffer_mb.unwrap_or(defaults::BUFFER_MB);
                if !(1..=2047).contains(&buffer_mb) {
                    return Err(usage(format!(
                        "--buffer-mb: expected 1..=2047, got {buffer_mb}"
                    )));
                }
                let capture_threads = self.capture_threads.unwrap_or(defaults::CAPTURE_THREADS);
                if !(1..=MAX_CAPTURE_THREADS).contains(&capture_threads) {
                    return Err(usage(format!(
                        "--capture-threads: expected 1..={MAX_CAPTURE_THREADS}, got {capture_threads}"
                    )));
                }
                Source::Live(LiveOptions {
                    iface,
                    bpf: self.bpf,
                    promisc: self.promisc.unwrap_or(false),
                    snaplen,
                    buffer_mb,
                    capture_threads,
                })
            }
        };
        Ok(SensorConfig {
            source,
            model: self.model.unwrap_or_else(|| PathBuf::from(defaults::MODEL)),
            device,
            onnxruntime: self.onnxruntime,
            alerts: self
                .alerts
                .unwrap_or_else(|| PathBuf::from(defaults::ALERTS)),
            flow_events: self.flow_events.unwrap_or(false),
            aggregation: Rules::build(self.alert_limit, self.threshold, self.suppress)?,
            alerts_format: AlertsFormat::build(self.alerts_format, self.flow_events)?,
            flows_csv: self.flows_csv,
            labels: self.labels,
            syslog,
            workers,
            batch_size,
            batch_timeout: self
                .batch_timeout_ms
                .map_or(defaults::BATCH_TIMEOUT, Duration::from_millis),
            flow_timeout_us: seconds_to_us(
                "flow-timeout",
                self.flow_timeout
                    .unwrap_or(defaults::FLOW_TIMEOUT.as_secs_f64()),
            )?,
            activity_timeout_us: seconds_to_us(
                "activity-timeout",
                self.activity_timeout
                    .unwrap_or(defaults::ACTIVITY_TIMEOUT.as_secs_f64()),
            )?,
            interim_after_us,
            score_all_flows: self.score_all_flows.unwrap_or(false),
            max_flows,
            on_output_error,
            stats_interval,
            hook,
            user: self.user,
            progress,
            per_file: false,
        })
    }
}

/// `--ips-ttl`: a positive number of seconds, at most [`MAX_TTL`].
fn ips_ttl(s: f64) -> Result<Duration, Error> {
    let ttl = duration("ips-ttl", s)?;
    if ttl > MAX_TTL {
        return Err(Error::Usage(
            "IPS hook TTL must be more than 0 and at most 10 years".into(),
        ));
    }
    Ok(ttl)
}

/// `--ips-rate`: a finite number of calls per second, more than 0.
fn ips_rate(r: f64) -> Result<f64, Error> {
    if r.is_finite() && r > 0.0 {
        return Ok(r);
    }
    Err(Error::Usage(format!(
        "--ips-rate: expected a positive number of calls per second, got {r}"
    )))
}

/// A positive number of seconds as a duration, or a usage error naming the option.
fn duration(name: &str, s: f64) -> Result<Duration, Error> {
    let us = seconds_to_us(name, s)?;
    Ok(Duration::from_micros(us.unsigned_abs()))
}

/// A positive number of seconds as µs, or a usage error naming the option.
pub fn seconds_to_us(name: &str, s: f64) -> Result<i64, Error> {
    if !s.is_finite() || s <= 0.0 || s > 1e9 {
        return Err(Error::Usage(format!(
            "--{name}: expected a positive number of seconds, got {s}"
        )));
    }
    let us = (s * 1e6).round() as i64;
    if us < 1 {
        return Err(Error::Usage(format!(
            "--{name}: expected at least one microsecond, got {s} s"
        )));
    }
    Ok(us)
}

#[cfg(test)]
mod tests;
