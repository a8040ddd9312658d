//! The command line as typed: clap definitions only, no I/O.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// flowsentinel: CICFlowMeter-exact flow features from packet captures.
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
    /// No progress line and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}
