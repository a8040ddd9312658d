//! Shutdown without loss in `replay`: SIGTERM in the middle of a capture
//! stops reading, and every flow of the packets read is still scored and
//! written. (The same for `live` is `live::live_sigterm_flushes_every_flow`.)

use crate::util::{self, flow_rows, summary_value, tempdir, wait_for};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PACKETS: usize = 600_000;

/// The flows written after SIGTERM equal, column for column, the flows
/// `extract` finds in the packets `replay` read before it stopped.
#[test]
fn replay_sigterm_writes_every_flow() {
    let dir = tempdir("replay-term");
    let pcap = dir.join("churn.pcap");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_churn.py");
    let st = Command::new("python3")
        .arg(script)
        .arg(&pcap)
        .arg(PACKETS.to_string())
        .status()
        .expect("python3");
    assert!(st.success());
    let (eve, csv, log) = (
        dir.join("eve.json"),
        dir.join("flows.csv"),
        dir.join("replay.log"),
    );
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsentinel"))
        .arg("replay")
        .arg(&pcap)
        .arg("--model")
        .arg(&model)
        .arg("--alerts")
        .arg(&eve)
        .arg("--flows-csv")
        .arg(&csv)
        .args(["--stats-interval", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start replay");
    // Stop it once flows are being written: well before the end of input.
    assert!(
        wait_for(Duration::from_secs(30), || std::fs::metadata(&csv)
            .is_ok_and(|m| m.len() > 200_000)),
        "no flows written"
    );
    util::signal(&child, "TERM");
    let status = child.wait().expect("wait");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(status.success(), "replay exited with {status}: {text}");
    assert!(!text.contains("panicked"), "{text}");
    let read = summary_value(&text, "packets read");
    assert!(
        read > 0 && (read as usize) < PACKETS,
        "SIGTERM was not mid-stream: read {read} of {PACKETS}"
    );

    let extracted = util::extract_prefix(&pcap, read as usize, &dir);
    let ours = flow_rows(&csv, false);
    let theirs = flow_rows(&extracted, false);
    eprintln!(
        "SIGTERM after {read} of {PACKETS} packets: replay wrote {} flows, extract finds {}",
        ours.len(),
        theirs.len()
    );
    let flows = summary_value(&text, "flows scored") + summary_value(&text, "flows not scored");
    assert_eq!(ours.len() as u64, flows);
    assert_eq!(ours.len(), theirs.len());
    assert!(ours == theirs, "replay's flows differ from extract's");
    // Every alert counted was written, and the stats event at exit is last.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&eve)
        .expect("alerts")
        .lines()
        .map(|l| serde_json::from_str(l).expect("EVE JSON"))
        .collect();
    let alerts = lines.iter().filter(|e| e["event_type"] == "alert").count() as u64;
    assert_eq!(alerts, summary_value(&text, "alerts"));
    let last = lines.last().expect("events");
    assert_eq!(last["event_type"], "stats");
    assert_eq!(last["stats"]["decoder"]["pkts"], read);
}
