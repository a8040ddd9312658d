//! The command line as typed: clap definitions only, no I/O.
//!
//! Defaults come from [`flowsentinel::defaults`]. An option of `replay` and
//! `live` is an `Option` (not given: the config file or the default fills it,
//! in `config`), so clap must not fill it: its help ends with the default,
//! spelled by [`help`] from the same constant. An option of `extract` or
//! `model check` takes its default from clap (`default_value_t`), which
//! prints it.

use clap::{Parser, Subcommand, ValueEnum};
use flowsentinel::defaults;
use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

/// The help of an option whose default `config` fills in: `text [default:
/// default]`.
fn help(text: &str, default: impl Display) -> String {
    format!("{text} [default: {default}]")
}

/// A default time as the seconds an option takes (`120`, `0.05`).
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

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
    #[arg(long, value_name = "DEVICE", default_value = defaults::DEVICE)]
    pub device: String,
    /// The ONNX Runtime shared library (default: ORT_DYLIB_PATH, the project venv, the system).
    #[arg(long, value_name = "LIB")]
    pub onnxruntime: Option<PathBuf>,
}

/// `flowsentinel replay`. Every option can also be set in the `--config` file
/// (same names, with `_` for `-`); the command line wins.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in order as one capture (a file
    /// whose clock is behind the packets before it starts a capture of its own).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read every file as a capture of its own: open flows end between files.
    #[arg(long = "per-file")]
    pub per_file: bool,
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
    #[arg(long, value_name = "BYTES",
        help = help("Bytes captured per frame", defaults::SNAPLEN))]
    pub snaplen: Option<i32>,
    #[arg(long = "buffer-mb", value_name = "MIB",
        help = help("Kernel capture buffer in MiB", defaults::BUFFER_MB))]
    pub buffer_mb: Option<u32>,
    #[arg(long = "capture-threads", value_name = "N",
        help = help("Capture threads, each with its own libpcap handle and kernel buffer in one AF_PACKET fanout group (by flow hash): they read and decode in parallel (1..=128)", defaults::CAPTURE_THREADS))]
    pub capture_threads: Option<usize>,
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

/// Options of both `replay` and `live`; those with a default name it in
/// their help, built by [`help`] from [`defaults`].
#[derive(Debug, clap::Args)]
pub struct SensorArgs {
    /// TOML config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR",
        help = help("The model bundle directory", defaults::MODEL))]
    pub model: Option<PathBuf>,
    #[arg(long, value_name = "PATH|-",
        help = help("Alerts as EVE JSON lines to this file, or `-` for standard output", defaults::ALERTS))]
    pub alerts: Option<PathBuf>,
    #[arg(long = "alerts-format", value_name = "json|text|auto",
        help = help("Alerts as EVE JSON, or one readable line each (text); auto: text when standard output is a terminal and is the alerts output", defaults::ALERTS_FORMAT))]
    pub alerts_format: Option<String>,
    #[arg(long = "alert-limit", value_name = "SECONDS",
        help = help("Write one alert per address pair and label per S seconds, each saying how many it stands for (Suricata's limit, by_both, count 1; 0: every alert; [[threshold]] tables in --config for more)", secs(defaults::ALERT_LIMIT)))]
    pub alert_limit: Option<f64>,
    /// Also log every flow (event_type "flow") to the alerts output.
    #[arg(long = "flow-events")]
    pub flow_events: bool,
    /// Score every flow, also those from an unspecified source (0.0.0.0, ::) or to a multicast group or 255.255.255.255, which are otherwise written without a verdict and never alert.
    #[arg(long = "score-all-flows")]
    pub score_all_flows: bool,
    /// Write every flow as CICFlowMeter CSV, with the model's label and score appended.
    #[arg(long = "flows-csv", value_name = "PATH")]
    pub flows_csv: Option<PathBuf>,
    /// Attack episodes CSV that fills the flow CSV's Label column.
    #[arg(long, value_name = "EPISODES.csv")]
    pub labels: Option<PathBuf>,
    /// Send alerts to syslog: unix:PATH, udp:HOST:PORT or tcp:HOST:PORT.
    #[arg(long, value_name = "TARGET")]
    pub syslog: Option<String>,
    #[arg(long = "syslog-format", value_name = "FORMAT",
        help = help("Syslog message format: 5424 or 3164", defaults::SYSLOG_FORMAT))]
    pub syslog_format: Option<String>,
    #[arg(long, visible_alias = "threads", value_name = "N",
        help = help("Flow workers (flow-table shards)", "the number of cores"))]
    pub workers: Option<usize>,
    #[arg(long = "batch-size", value_name = "B",
        help = help("Inference batch size B: a batch runs at B flows...", defaults::BATCH_SIZE))]
    pub batch_size: Option<usize>,
    #[arg(long = "batch-timeout-ms", value_name = "T",
        help = help("...or T milliseconds after its first flow arrived", defaults::BATCH_TIMEOUT.as_millis()))]
    pub batch_timeout_ms: Option<u64>,
    #[arg(long, value_name = "DEVICE",
        help = help("Execution provider: cpu, cuda, cuda:N or auto", defaults::DEVICE))]
    pub device: Option<String>,
    /// The ONNX Runtime shared library (default: ORT_DYLIB_PATH, the project venv, the system).
    #[arg(long, value_name = "LIB")]
    pub onnxruntime: Option<PathBuf>,
    #[arg(long = "flow-timeout", value_name = "SECONDS",
        help = help("Flow timeout in seconds", secs(defaults::FLOW_TIMEOUT)))]
    pub flow_timeout: Option<f64>,
    #[arg(long = "activity-timeout", value_name = "SECONDS",
        help = help("Activity timeout in seconds", secs(defaults::ACTIVITY_TIMEOUT)))]
    pub activity_timeout: Option<f64>,
    #[arg(long = "interim-after", value_name = "SECONDS",
        help = help("Score flows still open once they have been active S seconds, and every S seconds after (0: off)", secs(defaults::INTERIM_AFTER)))]
    pub interim_after: Option<f64>,
    #[arg(long = "max-flows", value_name = "N",
        help = help("The most flows open at once; beyond it the least recently active flows end early, with end reason `evicted` (0: no limit)",
            format!("{} for replay, {} for live", defaults::MAX_FLOWS, defaults::LIVE_MAX_FLOWS)))]
    pub max_flows: Option<usize>,
    #[arg(long = "on-output-error", value_name = "stop|continue",
        help = help("When writing alerts or the flow CSV fails (disk full, file unwritable): stop the run, or continue and count what is lost", defaults::ON_OUTPUT_ERROR))]
    pub on_output_error: Option<String>,
    #[arg(long = "stats-interval", value_name = "SECONDS",
        help = help("Write a stats event every S seconds (0: only at exit)",
            format!("{} for live, none for replay", secs(defaults::LIVE_STATS_INTERVAL))))]
    pub stats_interval: Option<f64>,
    /// Run this executable (no shell) to block the flagged address: `block SRC_IP SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL`, alert JSON on stdin.
    #[arg(long = "ips-hook", value_name = "PATH")]
    pub ips_hook: Option<PathBuf>,
    #[arg(long = "ips-ttl", value_name = "SECONDS",
        help = help("Seconds a block lasts; then the hook runs with `unblock`", secs(defaults::IPS_TTL)))]
    pub ips_ttl: Option<f64>,
    /// Never block addresses in this CIDR (repeatable).
    #[arg(long = "ips-allow", value_name = "CIDR")]
    pub ips_allow: Vec<String>,
    #[arg(long = "ips-block", value_name = "SIDE",
        help = help("Block the flow's source or destination address: src or dst", defaults::IPS_BLOCK))]
    pub ips_block: Option<String>,
    /// Log and count hook calls without running the hook.
    #[arg(long = "ips-dry-run")]
    pub ips_dry_run: bool,
    #[arg(long = "ips-timeout", value_name = "SECONDS",
        help = help("Kill a hook still running after this many seconds", secs(defaults::IPS_TIMEOUT)))]
    pub ips_timeout: Option<f64>,
    #[arg(long = "ips-rate", value_name = "PER_SECOND",
        help = help("Hook calls per second at most", defaults::IPS_RATE))]
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
    /// NSL-KDD's 41 connection features and class (KDDTrain+ order).
    Kdd,
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
    #[arg(long, value_enum, default_value = defaults::EXTRACT_PROFILE)]
    pub profile: ProfileArg,
    /// Ethernet padding policy [default: count for cic2017, exclude otherwise].
    #[arg(long = "l2-padding", value_enum)]
    pub l2_padding: Option<PaddingArg>,
    /// Write the dataset's machine-learning layout (79 columns for 2017, 80 for 2018).
    #[arg(long = "ml-columns")]
    pub ml_columns: bool,
    /// With `--profile kdd`: rows exactly as NSL-KDD's KDDTrain+.txt (no header; 41 features, class, difficulty 0).
    #[arg(long = "kdd-txt")]
    pub kdd_txt: bool,
    /// Append the connection-context columns: NSL-KDD's window columns and the per-source ones (with --profile kdd, the per-source ones).
    #[arg(long)]
    pub context: bool,
    /// Attack episodes CSV that fills the Label column.
    #[arg(long, value_name = "EPISODES.csv")]
    pub labels: Option<PathBuf>,
    /// Restart the flow table for each file, as CICFlowMeter does.
    #[arg(long = "per-file")]
    pub per_file: bool,
    /// Flow timeout in seconds.
    #[arg(long = "flow-timeout", value_name = "SECONDS",
        default_value_t = secs(defaults::FLOW_TIMEOUT))]
    pub flow_timeout: f64,
    /// Activity timeout in seconds (separates active and idle periods).
    #[arg(long = "activity-timeout", value_name = "SECONDS",
        default_value_t = secs(defaults::ACTIVITY_TIMEOUT))]
    pub activity_timeout: f64,
    /// The most flows open at once; beyond it the least recently active flows end early (0: no limit).
    #[arg(long = "max-flows", value_name = "N", default_value_t = defaults::MAX_FLOWS)]
    pub max_flows: usize,
    /// Threads for the flow table and the rendering; 1 runs every stage on one thread [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// No progress line and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}
