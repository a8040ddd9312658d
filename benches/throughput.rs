//! Throughput figures for `flowsentinel extract` (not a test: it prints).
//!
//! `cargo bench --bench throughput -- FILE...` prints, for each capture:
//!
//! * a bare libpcap read loop (open, `next_packet()`, count packets and bytes,
//!   nothing else): the ceiling any pcap-based extractor can reach here;
//! * the in-process extract pipeline (`flowsentinel::pipeline::extract`), one
//!   thread, profiles `cic2018` and `fixed`, CSV written to a temp file:
//!   packets/s, flows/s and the ratio to the bare loop;
//!
//! and once, the size of the per-flow state (`FlowRecord`). Every figure is the
//! best of `FLOWSENTINEL_BENCH_RUNS` runs (default 3). Lines starting with
//! `RESULT` are key=value pairs for `benches/bench.sh` to read.

use flowsentinel::decode::Padding;
use flowsentinel::features::FlowRecord;
use flowsentinel::flow::FlowConfig;
use flowsentinel::pipeline::counters::Counter;
use flowsentinel::pipeline::{extract, ExtractConfig};
use flowsentinel::profile::Profile;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What one bare read loop saw.
struct Bare {
    packets: u64,
    bytes: u64,
    best: Duration,
}

/// Best of `runs` bare libpcap read loops.
fn bare_loop(path: &Path, runs: u32) -> Result<Bare, String> {
    let mut best: Option<Bare> = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut cap =
            pcap::Capture::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (mut packets, mut bytes) = (0u64, 0u64);
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    packets += 1;
                    bytes += p.data.len() as u64;
                }
                Err(pcap::Error::NoMorePackets) => break,
                Err(e) => return Err(format!("{}: after {packets} packets: {e}", path.display())),
            }
        }
        let elapsed = t0.elapsed();
        if best.as_ref().is_none_or(|b| elapsed < b.best) {
            best = Some(Bare {
                packets,
                bytes,
                best: elapsed,
            });
        }
    }
    best.ok_or_else(|| "no runs".to_string())
}

/// What the best extract run did.
struct Extract {
    packets: u64,
    flows: u64,
    best: Duration,
}

/// Best of `runs` in-process extract runs with `profile`'s defaults.
fn extract_runs(path: &Path, profile: Profile, runs: u32, out: &Path) -> Result<Extract, String> {
    let cfg = ExtractConfig {
        files: vec![path.to_path_buf()],
        output: out.to_path_buf(),
        flow: FlowConfig::new(profile),
        padding: Padding::default_for(profile),
        ml_columns: false,
        kdd_txt: false,
        context: false,
        labels: None,
        per_file: false,
        progress: false,
        threads: 1,
    };
    let mut best: Option<Extract> = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let summary = extract(&cfg).map_err(|e| format!("{}: extract: {e}", path.display()))?;
        let elapsed = t0.elapsed();
        for e in &summary.truncated {
            eprintln!("warning: {e}");
        }
        if best.as_ref().is_none_or(|b| elapsed < b.best) {
            best = Some(Extract {
                packets: summary.counters[Counter::Packets],
                flows: summary.counters[Counter::CsvWritten],
                best: elapsed,
            });
        }
    }
    let _ = std::fs::remove_file(out);
    best.ok_or_else(|| "no runs".to_string())
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// `1234567.8` → `1,234,568`.
fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bench_file(path: &Path, runs: u32) -> Result<(), String> {
    let name = path.display();
    println!("== {name}");
    let bare = bare_loop(path, runs)?;
    let bare_pps = per_sec(bare.packets, bare.best);
    println!(
        "  bare libpcap loop      {:>12} pkt/s   {} packets, {} bytes, best {:.3} s",
        grouped(bare_pps),
        bare.packets,
        bare.bytes,
        bare.best.as_secs_f64()
    );
    println!(
        "RESULT file={name} stage=bare packets={} bytes={} secs={:.6} pps={bare_pps:.0}",
        bare.packets,
        bare.bytes,
        bare.best.as_secs_f64()
    );
    let out = std::env::temp_dir().join(format!("flowsentinel-bench-{}.csv", std::process::id()));
    for profile in [Profile::Cic2018, Profile::Fixed] {
        let r = extract_runs(path, profile, runs, &out)?;
        let pps = per_sec(r.packets, r.best);
        let fps = per_sec(r.flows, r.best);
        let label = format!("extract {}", profile.name());
        println!(
            "  {label:<22} {:>12} pkt/s   {:>10} flows/s   {:.1}% of bare loop   {} flows, best {:.3} s",
            grouped(pps),
            grouped(fps),
            100.0 * pps / bare_pps.max(1e-9),
            r.flows,
            r.best.as_secs_f64()
        );
        println!(
            "RESULT file={name} stage=extract-{} packets={} flows={} secs={:.6} pps={pps:.0} fps={fps:.0} ratio_bare={:.4}",
            profile.name(),
            r.packets,
            r.flows,
            r.best.as_secs_f64(),
            pps / bare_pps.max(1e-9)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; every `--` argument is ignored.
    let files: Vec<PathBuf> = std::env::args_os()
        .skip(1)
        .filter(|a| !a.to_string_lossy().starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let runs = match std::env::var("FLOWSENTINEL_BENCH_RUNS") {
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!(
                    "throughput: FLOWSENTINEL_BENCH_RUNS must be a positive integer, got {v:?}"
                );
                return ExitCode::from(2);
            }
        },
        Err(_) => 3,
    };
    let state = std::mem::size_of::<FlowRecord>();
    println!("per-flow state: size_of::<FlowRecord>() = {state} bytes");
    println!("RESULT stage=state flow_record_bytes={state}");
    if files.is_empty() {
        println!(
            "throughput: no capture given; usage: cargo bench --bench throughput -- FILE.pcap..."
        );
        return ExitCode::SUCCESS;
    }
    println!("best of {runs} runs, one thread");
    let mut failed = false;
    for f in &files {
        if let Err(e) = bench_file(f, runs) {
            eprintln!("throughput: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
