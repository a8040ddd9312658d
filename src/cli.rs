//! The command line as typed: clap definitions only, no I/O.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// flowsentinel: CICFlowMeter-exact flow features from packet captures,
/// scored by ONNX models, with alerts as EVE JSON and syslog.
#[derive(Debug, Parser)]
#[command(name = "flowsentinel", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute CICFlowMeter flow features from pcap/pcapng files into a CSV.
    Extract(ExtractArgs),
    /// Offline IDS: score every flow of pcap/pcapng files with a model and write alerts.
    Replay(Box<ReplayArgs>),
    /// The sensor: capture on an interface (a span or mirror port), score flows, alert, block.
    Live(Box<LiveArgs>),
    /// Model bundles.
    #[command(subcommand)]
    Model(ModelCommand),
}

/// `flowsentinel model ...`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Validate a bundle, print what it expects, and optionally score a flow CSV.
    Check(CheckArgs),
}

/// `flowsentinel model check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The bundle directory (model.onnx + model.json).
    #[arg(value_name = "DIR")]
    pub model: PathBuf,
    /// A flow CSV to score (CIC-IDS2017, CSE-CIC-IDS2018 or CICFlowMeter header).
    #[arg(long, value_name = "FLOWS.csv")]
    pub csv: Option<PathBuf>,
    /// Write `label,score[,per-class probabilities]` per CSV row here (`-`: stdout).
    #[arg(long, value_name = "OUT.csv|-", requires = "csv")]
    pub scores: Option<PathBuf>,
    /// Execution provider: cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: String,
    /// The ONNX Runtime shared library (default: ORT_DYLIB_PATH, the project venv, the system).
    #[arg(long, value_name = "LIB")]
    pub onnxruntime: Option<PathBuf>,
}

/// `flowsentinel replay`. Every option can also be set in the `--config` file
/// (same names, with `_` for `-`); the command line wins.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in order as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Options shared with `live`.
    #[command(flatten)]
    pub common: SensorArgs,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `flowsentinel live`. Every option can also be set in the `--config` file
/// (same names, with `_` for `-`); the command line wins.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// The interface to capture on.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// A BPF capture filter (tcpdump syntax).
    #[arg(long, value_name = "FILTER")]
    pub bpf: Option<String>,
    /// Put the interface in promiscuous mode.
    #[arg(long)]
    pub promisc: bool,
    /// Bytes captured per frame [default: 65535].
    #[arg(long, value_name = "BYTES")]
    pub snaplen: Option<i32>,
    /// Kernel capture buffer in MiB [default: 64].
    #[arg(long = "buffer-mb", value_name = "MIB")]
    pub buffer_mb: Option<u32>,
    /// Switch to this user once the capture and outputs are open (not under systemd).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Options shared with `replay`.
    #[command(flatten)]
    pub common: SensorArgs,
    /// No summary at exit.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of both `replay` and `live`.
#[derive(Debug, clap::Args)]
pub struct SensorArgs {
    /// TOML config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The model bundle directory [default: models/default].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Alerts as EVE JSON lines to this file, or `-` for standard output [default: -].
    #[arg(long, value_name = "PATH|-")]
    pub alerts: Option<PathBuf>,
    /// Also log every scored flow (event_type "flow") to the alerts output.
    #[arg(long = "flow-events")]
    pub flow_events: bool,
    /// Write every flow as CICFlowMeter CSV, with the model's label and score appended.
    #[arg(long = "flows-csv", value_name = "PATH")]
    pub flows_csv: Option<PathBuf>,
    /// Attack episodes CSV that fills the flow CSV's Label column.
    #[arg(long, value_name = "EPISODES.csv")]
    pub labels: Option<PathBuf>,
    /// Send alerts to syslog: unix:PATH, udp:HOST:PORT or tcp:HOST:PORT.
    #[arg(long, value_name = "TARGET")]
    pub syslog: Option<String>,
    /// Syslog message format: 5424 or 3164 [default: 5424].
    #[arg(long = "syslog-format", value_name = "FORMAT")]
    pub syslog_format: Option<String>,
    /// Flow workers (flow-table shards) [default: 2].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Inference batch size B: a batch runs at B flows... [default: 256].
    #[arg(long = "batch-size", value_name = "B")]
    pub batch_size: Option<usize>,
    /// ...or T milliseconds after its first flow arrived [default: 50].
    #[arg(long = "batch-timeout-ms", value_name = "T")]
    pub batch_timeout_ms: Option<u64>,
    /// Execution provider: cpu, cuda, cuda:N or auto [default: cpu].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// The ONNX Runtime shared library (default: ORT_DYLIB_PATH, the project venv, the system).
    #[arg(long, value_name = "LIB")]
    pub onnxruntime: Option<PathBuf>,
    /// Flow timeout in seconds [default: 120].
    #[arg(long = "flow-timeout", value_name = "SECONDS")]
    pub flow_timeout: Option<f64>,
    /// Activity timeout in seconds [default: 5].
    #[arg(long = "activity-timeout", value_name = "SECONDS")]
    pub activity_timeout: Option<f64>,
    /// Score flows still open once they have been active S seconds, and every S seconds after (0: off) [default: 10].
    #[arg(long = "interim-after", value_name = "SECONDS")]
    pub interim_after: Option<f64>,
    /// The most flows open at once; beyond it the least recently active flows end early, with end reason `evicted` (0: no limit) [default: 0 for replay, 1000000 for live].
    #[arg(long = "max-flows", value_name = "N")]
    pub max_flows: Option<usize>,
    /// When writing alerts or the flow CSV fails (disk full, file unwritable): stop the run, or continue and count what is lost [default: stop].
    #[arg(long = "on-output-error", value_name = "stop|continue")]
    pub on_output_error: Option<String>,
    /// Write a stats event every S seconds (0: only at exit) [default: 60 for live, none for replay].
    #[arg(long = "stats-interval", value_name = "SECONDS")]
    pub stats_interval: Option<f64>,
    /// Run this executable (no shell) to block the flagged address: `block SRC_IP SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL`, alert JSON on stdin.
    #[arg(long = "ips-hook", value_name = "PATH")]
    pub ips_hook: Option<PathBuf>,
    /// Seconds a block lasts; then the hook runs with `unblock` [default: 600].
    #[arg(long = "ips-ttl", value_name = "SECONDS")]
    pub ips_ttl: Option<f64>,
    /// Never block addresses in this CIDR (repeatable).
    #[arg(long = "ips-allow", value_name = "CIDR")]
    pub ips_allow: Vec<String>,
    /// Block the flow's source or destination address: src or dst [default: src].
    #[arg(long = "ips-block", value_name = "SIDE")]
    pub ips_block: Option<String>,
    /// Log and count hook calls without running the hook.
    #[arg(long = "ips-dry-run")]
    pub ips_dry_run: bool,
    /// Kill a hook still running after this many seconds [default: 5].
    #[arg(long = "ips-timeout", value_name = "SECONDS")]
    pub ips_timeout: Option<f64>,
    /// Hook calls per second at most [default: 10].
    #[arg(long = "ips-rate", value_name = "PER_SECOND")]
    pub ips_rate: Option<f64>,
}

/// Feature profile on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Dataset-era CICFlowMeter, CIC-IDS2017 layout (85 columns).
    Cic2017,
    /// Dataset-era CICFlowMeter, CSE-CIC-IDS2018 layout (84 columns).
    Cic2018,
    /// Era bugs corrected (2018 layout, IPv6, single-packet flows).
    Fixed,
}

/// Link-layer padding policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaddingArg {
    /// Count Ethernet padding as payload (CIC-IDS2017).
    Count,
    /// Ignore Ethernet padding (CSE-CIC-IDS2018).
    Exclude,
}

/// `flowsentinel extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Capture files (pcap or pcapng); by default one continuous capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output CSV file, or `-` for standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv|-")]
    pub output: PathBuf,
    /// Feature profile.
    #[arg(long, value_enum, default_value = "cic2018")]
    pub profile: ProfileArg,
    /// Ethernet padding policy [default: count for cic2017, exclude otherwise].
    #[arg(long = "l2-padding", value_enum)]
    pub l2_padding: Option<PaddingArg>,
    /// Write the dataset's machine-learning layout (79 columns for 2017, 80 for 2018).
    #[arg(long = "ml-columns")]
    pub ml_columns: bool,
    /// Attack episodes CSV that fills the Label column.
    #[arg(long, value_name = "EPISODES.csv")]
    pub labels: Option<PathBuf>,
    /// Restart the flow table for each file, as CICFlowMeter does.
    #[arg(long = "per-file")]
    pub per_file: bool,
    /// Flow timeout in seconds.
    #[arg(long = "flow-timeout", value_name = "SECONDS", default_value_t = 120.0)]
    pub flow_timeout: f64,
    /// Activity timeout in seconds (separates active and idle periods).
    #[arg(
        long = "activity-timeout",
        value_name = "SECONDS",
        default_value_t = 5.0
    )]
    pub activity_timeout: f64,
    /// The most flows open at once; beyond it the least recently active flows end early (0: no limit).
    #[arg(long = "max-flows", value_name = "N", default_value_t = 0)]
    pub max_flows: usize,
    /// No progress line and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}
