//! EVE JSON lines: alert and flow events in Suricata's conventions, so SIEM
//! pipelines that read Suricata's eve.json read ours unchanged.
//!
//! Input: a finished flow, its model verdict and (for probability models) the
//! class probabilities. Output: one JSON object per line, starting with
//! `timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port,
//! proto`. The line buffer is reused between events.

use crate::flow::{EndReason, FinishedFlow};
use crate::infer::{Bundle, Verdict};
use crate::text::UtcTime;
use serde::Serialize;
use serde_json::Map;

/// An EVE event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The model flagged the flow; `blocked` once the IPS hook blocked it.
    Alert {
        /// The IPS hook ran and succeeded (`action: "blocked"`).
        blocked: bool,
    },
    /// Every scored flow (`--flow-events`).
    Flow,
}

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
}

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

/// A stable flow id: the same flow gets the same id in every event and run
/// (FNV-1a over the key and start time, cut to 51 bits like Suricata's).
pub fn flow_id(flow: &FinishedFlow) -> u64 {
    let k = &flow.key;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(k.a.octets_padded());
    eat(k.b.octets_padded());
    eat(&k.a_port.to_be_bytes());
    eat(&k.b_port.to_be_bytes());
    eat(&[k.proto]);
    eat(&flow.record.start_us().to_be_bytes());
    h & ((1 << 51) - 1)
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

/// Alert severity (1 is the most severe, as in Suricata): from the score of
/// probability models (≥ 0.9 → 1, ≥ 0.7 → 2, else 3); 2 for other outputs.
pub fn severity(bundle: &Bundle, v: &Verdict) -> u8 {
    match bundle.output {
        crate::infer::OutputKind::Probabilities if v.score >= 0.9 => 1,
        crate::infer::OutputKind::Probabilities if v.score >= 0.7 => 2,
        crate::infer::OutputKind::Probabilities => 3,
        _ => 2,
    }
}

/// Where and when a flow was seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The capture interface (live).
    pub iface: Option<&'a str>,
    /// The capture file (replay).
    pub pcap: Option<&'a str>,
    /// When the verdict was made, µs (interim verdicts: the tick); the
    /// event's `timestamp`. Default: the flow's last packet.
    pub at_us: Option<i64>,
}

/// Appends one event line (with its newline) to `out`.
pub fn write_event(
    out: &mut Vec<u8>,
    kind: EventType,
    flow: &FinishedFlow,
    bundle: &Bundle,
    verdict: &Verdict,
    probs: &[f32],
    origin: Origin<'_>,
) {
    let (src, sport, dst, dport) = flow.endpoints();
    let (pf, pb) = flow.record.packets_by_direction();
    let (bf, bb) = flow.record.bytes_by_direction();
    let label = bundle.labels.get(verdict.label).map_or("?", String::as_str);
    let mut scores = Map::new();
    for (c, p) in bundle.labels.iter().zip(probs) {
        scores.insert(c.clone(), serde_json::Value::from(f64::from(*p)));
    }
    let ev = Event {
        timestamp: timestamp(origin.at_us.unwrap_or(flow.record.last_us())),
        flow_id: flow_id(flow),
        event_type: match kind {
            EventType::Alert { .. } => "alert",
            EventType::Flow => "flow",
        },
        src_ip: src.to_string(),
        src_port: sport,
        dest_ip: dst.to_string(),
        dest_port: dport,
        proto: proto_name(flow.key.proto),
        in_iface: origin.iface,
        pcap_filename: origin.pcap,
        alert: match kind {
            EventType::Alert { blocked } => Some(AlertPart {
                action: if blocked { "blocked" } else { "allowed" },
                signature: format!("flowsentinel {label}"),
                category: label,
                severity: severity(bundle, verdict),
            }),
            EventType::Flow => None,
        },
        flow: FlowPart {
            pkts_toserver: pf,
            pkts_toclient: pb,
            bytes_toserver: bf,
            bytes_toclient: bb,
            start: timestamp(flow.record.start_us()),
            end: timestamp(flow.record.last_us()),
            state: if flow.reason == EndReason::Active {
                "active"
            } else {
                "closed"
            },
            reason: flow.reason.label(),
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
