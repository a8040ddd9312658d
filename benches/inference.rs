//! Inference throughput: rows per second of a model bundle at batch sizes 1,
//! 64 and 1024, on real flows read from a CSV, with one intra-op thread.
//!
//!   cargo bench --bench inference -- MODEL_DIR FLOWS.csv
//!
//! Prints one `RESULT` line per batch size; `benches/inference.sh` runs it.

use flowsentinel::flowcsv;
use flowsentinel::infer::{Device, GroupBy, LayoutSpec, Model};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [model, csv] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench inference -- MODEL_DIR FLOWS.csv");
        return ExitCode::from(2);
    };
    let mut m = match Model::load(&PathBuf::from(model), Device::Cpu, None) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("inference bench: {e}");
            return ExitCode::from(2);
        }
    };
    let by_src = matches!(
        m.bundle.layout,
        LayoutSpec::Sequence {
            group_by: GroupBy::SrcIp,
            ..
        }
    );
    let rows = match flowcsv::read(&PathBuf::from(csv), &m.bundle.inputs, by_src) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            eprintln!("inference bench: {csv} has no rows");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("inference bench: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "model {} ({} inputs), {} flows from {csv}, CPU, 1 intra-op thread",
        m.bundle.name,
        m.bundle.width(),
        rows.len()
    );
    for batch in [1usize, 64, 1024] {
        // Warm up, then score for at least two seconds and at least every row once.
        let _ = m.score(&rows[..batch.min(rows.len())]);
        let t0 = Instant::now();
        let mut scored = 0usize;
        let mut alerts = 0usize;
        'outer: loop {
            for chunk in rows.chunks(batch) {
                match m.score(chunk) {
                    Ok(s) => alerts += s.verdicts.iter().filter(|v| v.alert).count(),
                    Err(e) => {
                        eprintln!("inference bench: {e}");
                        return ExitCode::from(1);
                    }
                }
                scored += chunk.len();
                if scored >= rows.len() && t0.elapsed() > Duration::from_secs(2) {
                    break 'outer;
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let rate = scored as f64 / secs;
        println!(
            "batch {batch:>5}: {rate:>12.0} rows/s  {:>8.2} us/row  ({scored} rows, {alerts} alerts)",
            1e6 / rate
        );
        println!("RESULT stage=inference batch={batch} rows_per_s={rate:.0}");
    }
    ExitCode::SUCCESS
}
