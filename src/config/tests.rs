//! The config's unit tests: refusals name the option, the merge order,
//! and the example config documenting each default as it is.

use super::*;

/// `build`'s usage error for these settings.
fn refused(s: Settings, files: Option<Vec<PathBuf>>) -> String {
    match s.build(files, false) {
        Err(Error::Usage(m)) => m,
        other => panic!("not a usage error: {other:?}"),
    }
}

fn live() -> Settings {
    Settings {
        interface: Some("eth0".into()),
        ..Settings::default()
    }
}

fn with_hook() -> Settings {
    Settings {
        ips_hook: Some("hook.sh".into()),
        ..Settings::default()
    }
}

#[test]
fn defaults_fill_what_is_not_given() {
    let c = Settings::default().build(Some(vec![]), false).unwrap();
    assert_eq!(c.model, PathBuf::from("models/default"));
    assert_eq!(c.alerts, PathBuf::from("-"));
    assert_eq!(
        (c.device, c.on_output_error),
        (Device::Cpu, OnOutputError::Stop)
    );
    assert_eq!((c.workers, c.batch_size), (2, 256));
    assert_eq!(c.batch_timeout, Duration::from_millis(50));
    assert_eq!(
        (c.flow_timeout_us, c.activity_timeout_us),
        (120_000_000, 5_000_000)
    );
    assert_eq!(c.interim_after_us, 10_000_000);
    assert_eq!((c.max_flows, c.stats_interval), (None, None));
    assert!(c.hook.is_none() && c.syslog.is_none());
    assert!(!c.score_all_flows);
    let toml = "score_all_flows = true";
    let file = Settings::parse(toml).unwrap();
    assert!(file.build(Some(vec![]), false).unwrap().score_all_flows);
    let e = Settings::parse("score_all_flows = 1").unwrap_err();
    assert!(e.contains("score_all_flows"), "{e}");

    let c = live().build(None, false).unwrap();
    assert_eq!(c.max_flows, Some(1_000_000));
    assert_eq!(c.stats_interval, Some(Duration::from_secs(60)));
    match c.source {
        Source::Live(o) => assert_eq!(
            (o.snaplen, o.buffer_mb, o.promisc, o.capture_threads),
            (65_535, 64, false, 1)
        ),
        Source::Files(_) => panic!("not live"),
    }

    let h = with_hook()
        .build(Some(vec![]), false)
        .unwrap()
        .hook
        .unwrap();
    assert_eq!(
        (h.ttl, h.timeout),
        (Duration::from_secs(600), Duration::from_secs(5))
    );
    assert_eq!(
        (h.rate_per_sec, h.side, h.dry_run),
        (10.0, BlockSide::Src, false)
    );
    let s = Settings {
        syslog: Some("udp:127.0.0.1:514".into()),
        ..Settings::default()
    };
    let (_, format) = s.build(Some(vec![]), false).unwrap().syslog.unwrap();
    assert_eq!(format, SyslogFormat::Rfc5424);
}

#[test]
fn capture_threads_are_checked_and_live_only() {
    let threads = |n: usize| Settings {
        capture_threads: Some(n),
        ..live()
    };
    for n in [0, MAX_CAPTURE_THREADS + 1] {
        assert_eq!(
            refused(threads(n), None),
            format!("--capture-threads: expected 1..=128, got {n}")
        );
    }
    match threads(4).build(None, false).unwrap().source {
        Source::Live(o) => assert_eq!(o.capture_threads, 4),
        Source::Files(_) => panic!("not live"),
    }
    let file = Settings::parse("capture_threads = 2").unwrap();
    assert_eq!(
        refused(file, Some(vec![])),
        "--capture-threads applies to `live` only"
    );
}

#[test]
fn the_flow_engine_and_the_config_share_the_defaults() {
    let c = Settings::default().build(Some(vec![]), false).unwrap();
    let f = crate::flow::FlowConfig::new(crate::profile::Profile::Cic2018);
    assert_eq!(
        (c.flow_timeout_us, c.activity_timeout_us),
        (f.flow_timeout_us, f.activity_timeout_us)
    );
}

#[test]
fn ips_values_are_refused_naming_the_option() {
    for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let s = Settings {
            ips_rate: Some(r),
            ..with_hook()
        };
        let want = format!("--ips-rate: expected a positive number of calls per second, got {r}");
        assert_eq!(refused(s, Some(vec![])), want);
    }
    let ttl = |t: f64| Settings {
        ips_ttl: Some(t),
        ..with_hook()
    };
    assert_eq!(
        refused(ttl(0.0), Some(vec![])),
        "--ips-ttl: expected a positive number of seconds, got 0"
    );
    // Over ten years (but under the 1e9 s every time option allows).
    assert_eq!(
        refused(ttl(4e8), Some(vec![])),
        "IPS hook TTL must be more than 0 and at most 10 years"
    );
    let ten_years = MAX_TTL.as_secs_f64();
    assert_eq!(
        ttl(ten_years)
            .build(Some(vec![]), false)
            .unwrap()
            .hook
            .unwrap()
            .ttl,
        MAX_TTL
    );
    let s = Settings {
        ips_timeout: Some(0.0),
        ..with_hook()
    };
    assert_eq!(
        refused(s, Some(vec![])),
        "--ips-timeout: expected a positive number of seconds, got 0"
    );
    let s = Settings {
        ips_rate: Some(0.0),
        ..Settings::default()
    };
    assert_eq!(
        refused(s, Some(vec![])),
        "the --ips-* options need --ips-hook"
    );
}

/// The `Default: ...` of `key` in the example config, on one line.
fn documented_default(toml: &str, key: &str) -> String {
    let head = format!("# {key}: ");
    let doc: Vec<&str> = toml
        .lines()
        .skip_while(|l| !l.starts_with(&head))
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let text = doc.join(" ");
    let (_, rest) = text
        .split_once("Default: ")
        .unwrap_or_else(|| panic!("{key}: no `Default:` in {text:?}"));
    rest.to_string()
}

#[test]
fn the_example_config_documents_each_default_as_it_is() {
    let toml = include_str!("../../systemd/flowsentinel.toml");
    let secs = |d: Duration| d.as_secs_f64().to_string();
    let quoted = |s: &str| format!("{s:?}");
    let expected = [
        ("snaplen", defaults::SNAPLEN.to_string()),
        ("buffer_mb", defaults::BUFFER_MB.to_string()),
        ("capture_threads", defaults::CAPTURE_THREADS.to_string()),
        ("model", defaults::MODEL.to_string()),
        ("device", quoted(defaults::DEVICE)),
        ("alerts", quoted(defaults::ALERTS)),
        ("syslog_format", quoted(defaults::SYSLOG_FORMAT)),
        ("stats_interval", secs(defaults::LIVE_STATS_INTERVAL)),
        ("workers", "the number of cores".to_string()),
        ("batch_size", defaults::BATCH_SIZE.to_string()),
        (
            "batch_timeout_ms",
            defaults::BATCH_TIMEOUT.as_millis().to_string(),
        ),
        ("flow_timeout", secs(defaults::FLOW_TIMEOUT)),
        ("activity_timeout", secs(defaults::ACTIVITY_TIMEOUT)),
        ("interim_after", secs(defaults::INTERIM_AFTER)),
        (
            "max_flows",
            format!(
                "{} for live, {} for replay",
                defaults::LIVE_MAX_FLOWS,
                defaults::MAX_FLOWS
            ),
        ),
        ("on_output_error", quoted(defaults::ON_OUTPUT_ERROR)),
        ("ips_ttl", secs(defaults::IPS_TTL)),
        ("ips_block", quoted(defaults::IPS_BLOCK)),
        ("ips_timeout", secs(defaults::IPS_TIMEOUT)),
        ("ips_rate", defaults::IPS_RATE.to_string()),
        ("score_all_flows", "false".to_string()),
    ];
    for (key, value) in expected {
        let doc = documented_default(toml, key);
        let ends = doc.strip_prefix(&value).and_then(|r| r.chars().next());
        assert!(
            matches!(ends, Some('.' | ' ')),
            "{key}: documented `Default: {doc}`, the default is {value}"
        );
    }
}
