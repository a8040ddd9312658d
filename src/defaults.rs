//! The default of every `replay`, `live` and `extract` option, in one place.
//!
//! The command line (`cli.rs`: `default_value_t` and the `[default: ...]` of
//! the help), the config file ([`crate::config::Settings::build`]) and the
//! engine ([`crate::flow::FlowConfig::new`]) take their defaults from here;
//! `systemd/flowsentinel.toml` documents each key with the same value, so a
//! change here goes there too. The values are as a user gives them: a time as
//! a [`Duration`] (typed in seconds, or milliseconds where the option says
//! `_ms`), a count, or the text the option takes (parsed like a given value).
//! Nothing is checked here: every value, given or default, is checked once,
//! in [`crate::config`] (`seconds_to_us` for the timeouts of `extract`).

use std::time::Duration;

/// `--model`: the bundle directory, relative to the working directory.
pub const MODEL: &str = "models/default";
/// `--device` (also of `model check`): where the model runs.
pub const DEVICE: &str = "cpu";
/// `--alerts`: standard output.
pub const ALERTS: &str = "-";
/// `--alert-limit`: one alert per address pair and label per this long
/// (Suricata's `limit`, `by_both`, count 1); 0 turns aggregation off.
pub const ALERT_LIMIT: Duration = Duration::from_secs(60);
/// `--alerts-format`: text on a terminal, else EVE JSON.
pub const ALERTS_FORMAT: &str = "auto";
/// `--syslog-format`: RFC 5424.
pub const SYSLOG_FORMAT: &str = "5424";
/// `--on-output-error`: a failing output ends the run.
pub const ON_OUTPUT_ERROR: &str = "stop";

/// `--batch-size`: flows per inference batch.
pub const BATCH_SIZE: usize = 256;
/// `--batch-timeout-ms`: a batch runs this long after its first flow at the
/// latest.
pub const BATCH_TIMEOUT: Duration = Duration::from_millis(50);

/// `--flow-timeout`: a flow ends this long after its first packet (the era
/// tool's 120 s).
pub const FLOW_TIMEOUT: Duration = Duration::from_secs(120);
/// `--activity-timeout`: a longer gap separates active periods (the era
/// tool's 5 s).
pub const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(5);
/// `--max-flows` of `replay` and `extract`: 0, no limit.
pub const MAX_FLOWS: usize = 0;
/// `--max-flows` of `live`: about 700 MB of flow state at most.
pub const LIVE_MAX_FLOWS: usize = 1_000_000;
/// `--interim-after`: early verdicts on flows open this long, and again
/// every this long (0 turns them off).
pub const INTERIM_AFTER: Duration = Duration::from_secs(10);
/// `--stats-interval` of `live` (`replay` writes no stats events unless
/// asked).
pub const LIVE_STATS_INTERVAL: Duration = Duration::from_secs(60);

/// `--snaplen`: bytes captured per frame.
pub const SNAPLEN: i32 = 65_535;
/// `--buffer-mb`: the kernel capture buffer, MiB.
pub const BUFFER_MB: u32 = 64;
/// `--capture-threads`: one libpcap handle, read on one thread (no fanout).
pub const CAPTURE_THREADS: usize = 1;

/// `--ips-ttl`: how long a block lasts.
pub const IPS_TTL: Duration = Duration::from_secs(600);
/// `--ips-block`: which address of an alert is blocked.
pub const IPS_BLOCK: &str = "src";
/// `--ips-timeout`: a hook run still running after this long is killed.
pub const IPS_TIMEOUT: Duration = Duration::from_secs(5);
/// `--ips-rate`: hook calls per second at most.
pub const IPS_RATE: f64 = 10.0;

/// `--threads` of `extract` and `--workers` (alias `--threads`) of `replay`
/// and `live`: the number of cores (1 when it cannot be told).
/// At most 256, the most `--workers` takes.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(256))
}

/// `--profile` of `extract`.
pub const EXTRACT_PROFILE: &str = "cic2018";
