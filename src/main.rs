//! The `flowsentinel` binary: parses the command line, builds the config, runs
//! the pipeline and maps errors to exit codes (0 clean, 1 some input was bad
//! but the run finished, 2 bad usage, config or input refused).
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use cli::{CheckArgs, Cli, Command, ExtractArgs, ModelCommand, PaddingArg, ProfileArg, SensorArgs};
use flowsentinel::config::{seconds_to_us, Settings};
use flowsentinel::decode::Padding;
use flowsentinel::defaults;
use flowsentinel::flow::FlowConfig;
use flowsentinel::infer::check::{check, CheckConfig};
use flowsentinel::pipeline::sensor::{run as run_sensor, SensorSummary};
use flowsentinel::pipeline::{extract, ExtractConfig};
use flowsentinel::profile::Profile;
use flowsentinel::Error;
use std::process::ExitCode;

fn extract_config(a: ExtractArgs) -> Result<ExtractConfig, Error> {
    let profile = match a.profile {
        ProfileArg::Cic2017 => Profile::Cic2017,
        ProfileArg::Cic2018 => Profile::Cic2018,
        ProfileArg::Fixed => Profile::Fixed,
        ProfileArg::Kdd => Profile::Kdd,
    };
    if a.kdd_txt && profile != Profile::Kdd {
        return Err(Error::Usage(
            "--kdd-txt writes NSL-KDD rows: it needs --profile kdd".into(),
        ));
    }
    if a.kdd_txt && a.context {
        return Err(Error::Usage(
            "--kdd-txt writes NSL-KDD's 41 columns only: leave out --context".into(),
        ));
    }
    if a.ml_columns && profile == Profile::Kdd {
        return Err(Error::Usage(
            "--ml-columns picks a CICFlowMeter layout: --profile kdd has its own".into(),
        ));
    }
    let mut flow = FlowConfig::new(profile);
    flow.flow_timeout_us = seconds_to_us("flow-timeout", a.flow_timeout)?;
    flow.activity_timeout_us = seconds_to_us("activity-timeout", a.activity_timeout)?;
    flow.max_flows = (a.max_flows > 0).then_some(a.max_flows);
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
        kdd_txt: a.kdd_txt,
        context: a.context,
        labels: a.labels,
        per_file: a.per_file,
        progress: !a.quiet,
        threads: a.threads.map_or_else(defaults::threads, usize::from),
    })
}

/// The options of `replay` and `live` as settings (`None`: not given).
fn sensor_settings(a: &SensorArgs) -> Settings {
    Settings {
        model: a.model.clone(),
        alerts: a.alerts.clone(),
        flow_events: a.flow_events.then_some(true),
        score_all_flows: a.score_all_flows.then_some(true),
        alerts_format: a.alerts_format.clone(),
        alert_limit: a.alert_limit,
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
        interim_after: a.interim_after,
        max_flows: a.max_flows,
        on_output_error: a.on_output_error.clone(),
        stats_interval: a.stats_interval,
        ips_hook: a.ips_hook.clone(),
        ips_ttl: a.ips_ttl,
        ips_allow: (!a.ips_allow.is_empty()).then(|| a.ips_allow.clone()),
        ips_block: a.ips_block.clone(),
        ips_dry_run: a.ips_dry_run.then_some(true),
        ips_timeout: a.ips_timeout,
        ips_rate: a.ips_rate,
        ..Settings::default()
    }
}

/// The config file's settings under the command line's.
fn merged(common: &SensorArgs, cli: Settings) -> Result<Settings, Error> {
    let from_file = match &common.config {
        Some(p) => Settings::load(p)?,
        None => Settings::default(),
    };
    Ok(from_file.overlay(cli))
}

/// Runs `replay` or `live` and prints the summary.
fn sensor(
    settings: Settings,
    files: Option<Vec<std::path::PathBuf>>,
    per_file: bool,
    quiet: bool,
) -> Result<ExitCode, Error> {
    let mut cfg = settings.build(files, !quiet)?;
    cfg.per_file = per_file;
    let summary: SensorSummary = run_sensor(&cfg)?;
    if !quiet {
        eprint!("{}", summary.render());
    }
    Ok(
        if summary.truncated.is_empty() && summary.records_lost() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Replay(args) => {
            let settings = merged(&args.common, sensor_settings(&args.common))?;
            sensor(settings, Some(args.files), args.per_file, args.quiet)
        }
        Command::Live(args) => {
            let cli = Settings {
                interface: args.interface.clone(),
                bpf: args.bpf.clone(),
                promisc: args.promisc.then_some(true),
                snaplen: args.snaplen,
                buffer_mb: args.buffer_mb,
                capture_threads: args.capture_threads,
                user: args.user.clone(),
                ..sensor_settings(&args.common)
            };
            let settings = merged(&args.common, cli)?;
            sensor(settings, None, false, args.quiet)
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
