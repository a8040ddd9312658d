//! The `flowsentinel` binary: parses the command line, builds the config, runs
//! the pipeline and maps errors to exit codes (0 clean, 1 some input was bad
//! but the run finished, 2 bad usage, config or input refused).
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use cli::{Cli, Command, ExtractArgs, PaddingArg, ProfileArg};
use flowsentinel::features::Profile;
use flowsentinel::flow::FlowConfig;
use flowsentinel::pipeline::{extract, ExtractConfig, Padding};
use flowsentinel::Error;
use std::process::ExitCode;

fn seconds_to_us(name: &str, s: f64) -> Result<i64, Error> {
    if !s.is_finite() || s <= 0.0 || s > 1e9 {
        return Err(Error::Usage(format!(
            "--{name}: expected a positive number of seconds, got {s}"
        )));
    }
    Ok((s * 1e6).round() as i64)
}

fn extract_config(a: ExtractArgs) -> Result<ExtractConfig, Error> {
    let profile = match a.profile {
        ProfileArg::Cic2017 => Profile::Cic2017,
        ProfileArg::Cic2018 => Profile::Cic2018,
        ProfileArg::Fixed => Profile::Fixed,
    };
    let mut flow = FlowConfig::new(profile);
    flow.flow_timeout_us = seconds_to_us("flow-timeout", a.flow_timeout)?;
    flow.activity_timeout_us = seconds_to_us("activity-timeout", a.activity_timeout)?;
    let padding = match a.l2_padding {
        Some(PaddingArg::Count) => Padding::Count,
        Some(PaddingArg::Exclude) => Padding::Exclude,
        None => Padding::default_for(profile),
    };
    Ok(ExtractConfig {
        files: a.files,
        output: a.output,
        flow,
        padding,
        ml_columns: a.ml_columns,
        labels: a.labels,
        per_file: a.per_file,
        progress: !a.quiet,
    })
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Extract(args) => {
            let quiet = args.quiet;
            let cfg = extract_config(args)?;
            let summary = extract(&cfg)?;
            if !quiet {
                eprint!("{}", summary.render());
            }
            if summary.truncated.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Error::Output { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowsentinel: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
