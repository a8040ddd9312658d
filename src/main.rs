//! The `flowsentinel` binary: parses the command line, builds the config, runs
//! the pipeline and maps errors to exit codes (0 clean, 1 some input was bad
//! but the run finished, 2 bad usage, config or input refused).
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use cli::{CheckArgs, Cli, Command, ExtractArgs, ModelCommand, PaddingArg, ProfileArg, ReplayArgs};
use flowsentinel::config::{seconds_to_us, ReplaySettings};
use flowsentinel::features::Profile;
use flowsentinel::flow::FlowConfig;
use flowsentinel::pipeline::check::{check, CheckConfig};
use flowsentinel::pipeline::replay::replay;
use flowsentinel::pipeline::{extract, ExtractConfig, Padding};
use flowsentinel::Error;
use std::process::ExitCode;

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

fn replay_settings(a: &ReplayArgs) -> ReplaySettings {
    ReplaySettings {
        model: a.model.clone(),
        alerts: a.alerts.clone(),
        flow_events: a.flow_events.then_some(true),
        flows_csv: a.flows_csv.clone(),
        labels: a.labels.clone(),
        syslog: a.syslog.clone(),
        syslog_format: a.syslog_format.clone(),
        workers: a.workers,
        batch_size: a.batch_size,
        batch_timeout_ms: a.batch_timeout_ms,
        device: a.device.clone(),
        onnxruntime: a.onnxruntime.clone(),
        flow_timeout: a.flow_timeout,
        activity_timeout: a.activity_timeout,
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Replay(args) => {
            let from_file = match &args.config {
                Some(p) => ReplaySettings::load(p)?,
                None => ReplaySettings::default(),
            };
            let settings = from_file.overlay(replay_settings(&args));
            let cfg = settings.build(args.files, !args.quiet)?;
            let summary = replay(&cfg)?;
            if !args.quiet {
                eprint!("{}", summary.render());
            }
            Ok(if summary.truncated.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Model(ModelCommand::Check(a)) => {
            let CheckArgs {
                model,
                csv,
                scores,
                device,
                onnxruntime,
            } = a;
            let device = device
                .parse()
                .map_err(|e| Error::Usage(format!("--device: {e}")))?;
            let cfg = CheckConfig {
                model,
                device,
                onnxruntime,
                csv,
                scores,
            };
            check(&cfg, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
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
