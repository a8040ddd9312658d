//! EVE JSON lines: alert and flow events that validate against Suricata's
//! EVE schema, so SIEM pipelines that read Suricata's eve.json read ours
//! unchanged. The one key Suricata has no place for is `ml`, the verdict.
//!
//! Input: an [`Alert`], or (flow events) a flow's summary with its model
//! verdict and the class probabilities (probability models), or why it was
//! not scored, and whether the flow alerted. A flow event of a flow that was
//! not scored has no `ml.label`, `ml.score` or `ml.scores`, and says why in
//! `ml.unscored`. Output: one JSON object per line, starting with
//! `timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port,
//! proto`. ICMP and ICMPv6 events carry `icmp_type` and `icmp_code` instead
//! of ports; `flow.state` and `flow.reason` take Suricata's values, and a TCP
//! flow's exact end (`fin`, `rst`, ...) is its `tcp.state`.

use crate::alert::{Alert, FlowState, FlowSummary};
use crate::community_id;
use crate::flow::EndReason;
use crate::infer::Bundle;
use crate::signature::GID;
use crate::text::UtcTime;
use crate::unscored::Judged;
use serde::Serialize;
use serde_json::Map;

#[derive(Serialize)]
struct Event<'a> {
    timestamp: String,
    flow_id: u64,
    event_type: &'static str,
    src_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    dest_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    proto: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_iface: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_filename: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<AlertPart<'a>>,
    flow: FlowPart,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpPart>,
    ml: MlPart<'a>,
}

#[derive(Serialize)]
struct AlertPart<'a> {
    action: &'static str,
    gid: u32,
    signature_id: u32,
    rev: u32,
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
    age: i64,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerted: Option<bool>,
}

#[derive(Serialize)]
struct TcpPart {
    /// Our exact end: fin, rst, timeout, end_of_input, evicted.
    state: &'static str,
}

#[derive(Serialize)]
struct MlPart<'a> {
    model: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    scores: Map<String, serde_json::Value>,
    /// Why the flow was not scored (flow events of such flows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    unscored: Option<&'static str>,
    /// True for a verdict on a flow still open (written only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    interim: bool,
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
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// What every event of a run shares: the model, where packets come from,
/// and the Community ID seed.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The model bundle (name, version, class labels, signatures).
    pub bundle: &'a Bundle,
    /// The capture interface (live).
    pub iface: Option<&'a str>,
    /// The capture files (replay), indexed by a flow's file.
    pub files: &'a [String],
    /// The seed of `community_id` ([`community_id::DEFAULT_SEED`] unless
    /// configured).
    pub community_id_seed: u16,
}

/// Appends an alert event line (with its newline) to `out`, with `metadata`
/// as `alert.metadata` (left out when empty).
pub fn write_alert(out: &mut Vec<u8>, alert: &Alert, metadata: &Metadata, cx: &Context<'_>) {
    let judged = Judged::Scored(&alert.verdict, &alert.probs);
    let kind = Kind::Alert(alert, metadata);
    write_event(out, kind, &alert.flow, judged, alert.file, cx);
}

/// Appends a flow event line (with its newline) to `out`, with the flow's
/// verdict or why it was not scored; `alerted` says whether the flow raised
/// an alert (`flow.alerted`).
pub fn write_flow(
    out: &mut Vec<u8>,
    flow: &FlowSummary,
    judged: Judged<'_>,
    file: usize,
    alerted: bool,
    cx: &Context<'_>,
) {
    write_event(out, Kind::Flow { alerted }, flow, judged, file, cx);
}

/// Which event: an alert, or a flow event (and whether the flow alerted).
#[derive(Clone, Copy)]
enum Kind<'a> {
    Alert(&'a Alert, &'a Metadata),
    Flow { alerted: bool },
}

/// How an event shows a flow's transport: the protocol it names, the
/// ports, and the ICMP type and code.
struct Transport {
    /// The IP protocol the event names.
    proto: u8,
    ports: Option<(u16, u16)>,
    icmp: Option<(u8, u8)>,
}

/// A flow's transport as events show it. ICMP and ICMPv6 have a type and
/// code, no ports. The compat profiles' protocol 0 (every IPv4 protocol
/// but TCP and UDP, as the era tool lumped them) is shown as ICMP when its
/// first ICMP message is known, else as protocol `0` without ports.
fn transport(flow: &FlowSummary) -> Transport {
    match flow.key.proto {
        6 | 17 | 132 => Transport {
            proto: flow.key.proto,
            ports: Some((flow.src_port, flow.dst_port)),
            icmp: None,
        },
        0 if flow.icmp.is_some() => Transport {
            proto: 1,
            ports: None,
            icmp: flow.icmp,
        },
        p @ (1 | 58) => Transport {
            proto: p,
            ports: None,
            icmp: flow.icmp,
        },
        p => Transport {
            proto: p,
            ports: None,
            icmp: None,
        },
    }
}

/// `flow.state` in Suricata's values: `closed` for a flow that ended by TCP
/// FIN or RST (or a KDD record's end), else `established` once the
/// destination answered, `new` before.
fn flow_state(flow: &FlowSummary) -> &'static str {
    match flow.state {
        FlowState::Closed(EndReason::Fin | EndReason::Rst | EndReason::Record) => "closed",
        _ if flow.packets.1 > 0 => "established",
        _ => "new",
    }
}

/// `flow.reason` in Suricata's values: `timeout` for a flow that timed out
/// or closed (Suricata logs a closed flow when its closed-state timeout
/// ends), `shutdown` at the end of the input, `forced` for a flow evicted to
/// make room; none while the flow is open.
fn flow_reason(state: FlowState) -> Option<&'static str> {
    match state {
        FlowState::Active { .. } => None,
        FlowState::Closed(r) => Some(match r {
            EndReason::Fin | EndReason::Rst | EndReason::Record | EndReason::FlowTimeout => {
                "timeout"
            }
            EndReason::EndOfInput => "shutdown",
            EndReason::Evicted => "forced",
        }),
    }
}

fn write_event(
    out: &mut Vec<u8>,
    kind: Kind<'_>,
    flow: &FlowSummary,
    judged: Judged<'_>,
    file: usize,
    cx: &Context<'_>,
) {
    let (alert, alerted) = match kind {
        Kind::Alert(a, m) => (Some((a, m)), None),
        Kind::Flow { alerted } => (None, Some(alerted)),
    };
    let bundle = cx.bundle;
    let (verdict, probs, unscored) = match judged {
        Judged::Scored(v, probs) => (Some(v), probs, None),
        Judged::Unscored(why) => (None, &[][..], Some(why.label())),
    };
    let label = verdict.map(|v| bundle.label(v.label));
    let mut scores = Map::new();
    for (c, p) in bundle.labels.iter().zip(probs) {
        scores.insert(c.clone(), serde_json::Value::from(f64::from(*p)));
    }
    let t = transport(flow);
    let (src, dst) = (flow.src, flow.dst);
    let id_ports = t
        .ports
        .or(t.icmp.map(|(ty, code)| (ty.into(), code.into())));
    let community_id = match (flow.key.proto, t.icmp) {
        // Protocol 0 without ICMP: the real protocol is not known.
        (0, None) => None,
        _ => community_id::of(cx.community_id_seed, t.proto, src, dst, id_ports),
    };
    let secs = |us: i64| us.div_euclid(1_000_000);
    let ev = Event {
        timestamp: timestamp(flow.event_us()),
        flow_id: flow.flow_id(),
        event_type: if alert.is_some() { "alert" } else { "flow" },
        src_ip: src.to_string(),
        src_port: t.ports.map(|p| p.0),
        dest_ip: dst.to_string(),
        dest_port: t.ports.map(|p| p.1),
        proto: proto_name(t.proto),
        icmp_type: t.icmp.map(|i| i.0),
        icmp_code: t.icmp.map(|i| i.1),
        community_id,
        in_iface: cx.iface,
        pcap_filename: cx.files.get(file).map(String::as_str),
        alert: alert.map(|(a, metadata)| AlertPart {
            action: a.action.label(),
            gid: GID,
            signature_id: bundle.signatures.id(a.verdict.label),
            rev: bundle.signatures.rev,
            signature: format!("flowsentinel {}", bundle.label(a.verdict.label)),
            category: bundle.signatures.category(a.verdict.label),
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
            age: secs(flow.last_us) - secs(flow.start_us),
            state: flow_state(flow),
            reason: flow_reason(flow.state),
            alerted,
        },
        tcp: match flow.state {
            FlowState::Closed(r) if flow.key.proto == 6 => Some(TcpPart { state: r.label() }),
            _ => None,
        },
        ml: MlPart {
            model: &bundle.name,
            model_version: &bundle.version,
            label,
            score: verdict.map(|v| if v.score.is_finite() { v.score } else { 0.0 }),
            scores,
            unscored,
            interim: matches!(flow.state, FlowState::Active { .. }),
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
