//! EVE JSON lines: alert and flow events in Suricata's conventions, so SIEM
//! pipelines that read Suricata's eve.json read ours unchanged.
//!
//! Input: an [`Alert`], or (flow events) a flow's summary with its model
//! verdict and (for probability models) the class probabilities. Output: one JSON object per line, starting with
//! `timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port,
//! proto`. The line buffer is reused between events.

use crate::alert::{Alert, FlowState, FlowSummary};
use crate::infer::{Bundle, Verdict};
use crate::text::UtcTime;
use serde::Serialize;
use serde_json::Map;

#[derive(Serialize)]
struct Event<'a> {
    timestamp: String,
    flow_id: u64,
    event_type: &'static str,
    src_ip: String,
    src_port: u16,
    dest_ip: String,
    dest_port: u16,
    proto: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_iface: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_filename: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<AlertPart<'a>>,
    flow: FlowPart,
    ml: MlPart<'a>,
}

#[derive(Serialize)]
struct AlertPart<'a> {
    action: &'static str,
    signature: String,
    category: &'a str,
    severity: u8,
    /// Suricata's rule metadata: keys with arrays of strings (aggregation).
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    metadata: &'a Metadata,
}

/// `alert.metadata`: names with arrays of strings, as Suricata writes a rule's
/// `metadata` keyword (the alert writer puts the aggregation there).
pub type Metadata = std::collections::BTreeMap<String, Vec<String>>;

#[derive(Serialize)]
struct FlowPart {
    pkts_toserver: u32,
    pkts_toclient: u32,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: String,
    end: String,
    /// "active" for an interim verdict on an open flow, else "closed".
    state: &'static str,
    reason: &'static str,
}

#[derive(Serialize)]
struct MlPart<'a> {
    model: &'a str,
    model_version: &'a str,
    label: &'a str,
    score: f64,
    #[serde(skip_serializing_if = "Map::is_empty")]
    scores: Map<String, serde_json::Value>,
}

/// The EVE timestamp: `2026-11-21T05:30:56.022209+0000`, UTC.
pub fn timestamp(ts_us: i64) -> String {
    format!("{}+0000", UtcTime::from_micros(ts_us).iso('T'))
}

/// The protocol as Suricata names it.
pub fn proto_name(p: u8) -> String {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "IPv6-ICMP".into(),
        n => n.to_string(),
    }
}

/// What every event of a run shares: the model, and where packets come from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The model bundle (name, version, class labels).
    pub bundle: &'a Bundle,
    /// The capture interface (live).
    pub iface: Option<&'a str>,
    /// The capture files (replay), indexed by a flow's file.
    pub files: &'a [String],
}

/// Appends an alert event line (with its newline) to `out`, with `metadata`
/// as `alert.metadata` (left out when empty).
pub fn write_alert(out: &mut Vec<u8>, alert: &Alert, metadata: &Metadata, cx: &Context<'_>) {
    write_event(
        out,
        Some((alert, metadata)),
        &alert.flow,
        &alert.verdict,
        &alert.probs,
        alert.file,
        cx,
    );
}

/// Appends a flow event line (with its newline) to `out`.
pub fn write_flow(
    out: &mut Vec<u8>,
    flow: &FlowSummary,
    verdict: &Verdict,
    probs: &[f32],
    file: usize,
    cx: &Context<'_>,
) {
    write_event(out, None, flow, verdict, probs, file, cx);
}

fn write_event(
    out: &mut Vec<u8>,
    alert: Option<(&Alert, &Metadata)>,
    flow: &FlowSummary,
    verdict: &Verdict,
    probs: &[f32],
    file: usize,
    cx: &Context<'_>,
) {
    let bundle = cx.bundle;
    let label = bundle.label(verdict.label);
    let mut scores = Map::new();
    for (c, p) in bundle.labels.iter().zip(probs) {
        scores.insert(c.clone(), serde_json::Value::from(f64::from(*p)));
    }
    let ev = Event {
        timestamp: timestamp(flow.event_us()),
        flow_id: flow.flow_id(),
        event_type: if alert.is_some() { "alert" } else { "flow" },
        src_ip: flow.src.to_string(),
        src_port: flow.src_port,
        dest_ip: flow.dst.to_string(),
        dest_port: flow.dst_port,
        proto: proto_name(flow.key.proto),
        in_iface: cx.iface,
        pcap_filename: cx.files.get(file).map(String::as_str),
        alert: alert.map(|(a, metadata)| AlertPart {
            action: a.action.label(),
            signature: format!("flowsentinel {label}"),
            category: label,
            severity: a.severity.level(),
            metadata,
        }),
        flow: FlowPart {
            pkts_toserver: flow.packets.0,
            pkts_toclient: flow.packets.1,
            bytes_toserver: flow.bytes.0,
            bytes_toclient: flow.bytes.1,
            start: timestamp(flow.start_us),
            end: timestamp(flow.last_us),
            state: match flow.state {
                FlowState::Active { .. } => "active",
                FlowState::Closed(_) => "closed",
            },
            reason: match flow.state {
                FlowState::Active { .. } => "active",
                FlowState::Closed(r) => r.label(),
            },
        },
        ml: MlPart {
            model: &bundle.name,
            model_version: &bundle.version,
            label,
            score: if verdict.score.is_finite() {
                verdict.score
            } else {
                0.0
            },
            scores,
        },
    };
    // Serializing plain structs into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &ev).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eve_timestamp() {
        // 2026-11-21 05:30:56.022209 UTC
        assert_eq!(
            timestamp(1_795_239_056_022_209),
            "2026-11-21T05:30:56.022209+0000"
        );
    }
}
