//! The alert: one alerting verdict on one flow, built once by the alert
//! writer and then rendered by `eve`, sent by `syslog` and acted on by the
//! IPS hook.
//!
//! Input: a flow's [`FlowSummary`] (identity, counters, times and state) and
//! the model's [`Verdict`]. Output: an [`Alert`] that holds everything its
//! consumers need, with its [`Severity`] decided here and nowhere else, and
//! its [`Action`] set once the IPS hook has answered.

use crate::decode::Addr;
use crate::features::FlowRecord;
use crate::flow::{EndReason, FinishedFlow, FlowKey, Snapshot};
use crate::infer::{Bundle, OutputKind, Verdict};
use crate::kdd::Conn;

/// Whether a verdict is about a flow that ended or one still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// The flow ended, for this reason.
    Closed(EndReason),
    /// An interim snapshot of an open flow, taken by the tick at `at_us`.
    Active {
        /// The tick's time, µs.
        at_us: i64,
    },
}

/// What events say about a flow: who talked to whom, how much, when, and
/// whether it has ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowSummary {
    /// The direction-neutral key.
    pub key: FlowKey,
    /// The source (the first packet's sender) and its port.
    pub src: Addr,
    /// Source port.
    pub src_port: u16,
    /// The destination and its port.
    pub dst: Addr,
    /// Destination port.
    pub dst_port: u16,
    /// Packets from the source, and from the destination.
    pub packets: (u32, u32),
    /// Bytes from the source, and from the destination.
    pub bytes: (u64, u64),
    /// The first packet, µs.
    pub start_us: i64,
    /// The last packet, µs.
    pub last_us: i64,
    /// Ended or still open.
    pub state: FlowState,
    /// The type and code of the flow's first ICMP or ICMPv6 message (also
    /// for the compat profiles' protocol 0, which holds IPv4 ICMP).
    pub icmp: Option<(u8, u8)>,
}

impl FlowSummary {
    fn new(
        key: FlowKey,
        src_is_a: bool,
        record: &FlowRecord,
        conn: &Conn,
        state: FlowState,
    ) -> Self {
        let (src, src_port, dst, dst_port) = key.endpoints(src_is_a);
        FlowSummary {
            key,
            src,
            src_port,
            dst,
            dst_port,
            packets: record.packets_by_direction(),
            bytes: record.bytes_by_direction(),
            start_us: record.start_us(),
            last_us: record.last_us(),
            state,
            icmp: conn.icmp(),
        }
    }

    /// The summary of a flow that ended.
    pub fn finished(f: &FinishedFlow) -> Self {
        let state = FlowState::Closed(f.reason);
        Self::new(f.key, f.src_is_a, &f.record, &f.conn, state)
    }

    /// The summary of an interim snapshot.
    pub fn snapshot(s: &Snapshot) -> Self {
        let state = FlowState::Active { at_us: s.at_us };
        Self::new(s.key, s.src_is_a, &s.record, &s.conn, state)
    }

    /// When the verdict was made: the tick for an open flow, else the
    /// flow's last packet.
    pub fn event_us(&self) -> i64 {
        match self.state {
            FlowState::Active { at_us } => at_us,
            FlowState::Closed(_) => self.last_us,
        }
    }

    /// A stable flow id: the same flow gets the same id in every event and
    /// every run (FNV-1a over the key and start time, cut to 51 bits like
    /// Suricata's).
    pub fn flow_id(&self) -> u64 {
        let k = &self.key;
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
        eat(&self.start_us.to_be_bytes());
        h & ((1 << 51) - 1)
    }
}

/// How bad an alert is; 1 is the most severe, as in Suricata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 1: a probability model at least 90% sure.
    High = 1,
    /// 2: at least 70% sure, or a model without probabilities.
    Medium = 2,
    /// 3: a probability model less sure than that.
    Low = 3,
}

impl Severity {
    /// The severity of a verdict: from the score of probability models
    /// (≥ 0.9 high, ≥ 0.7 medium, else low); medium for other outputs.
    pub fn of(bundle: &Bundle, v: &Verdict) -> Severity {
        match bundle.output {
            OutputKind::Probabilities if v.score >= 0.9 => Severity::High,
            OutputKind::Probabilities if v.score >= 0.7 => Severity::Medium,
            OutputKind::Probabilities => Severity::Low,
            _ => Severity::Medium,
        }
    }

    /// The EVE `alert.severity` number.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// What the sensor did about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing blocked (no hook, or the hook did not confirm a block).
    Allowed,
    /// The IPS hook confirmed the block.
    Blocked,
}

impl Action {
    /// EVE's `alert.action`.
    pub fn label(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Blocked => "blocked",
        }
    }
}

/// One alerting verdict on one flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The flow.
    pub flow: FlowSummary,
    /// The model's verdict (label index, score).
    pub verdict: Verdict,
    /// Class probabilities (empty unless the model gives them).
    pub probs: Vec<f32>,
    /// Decided once, from the verdict.
    pub severity: Severity,
    /// `Allowed` until the IPS hook confirms a block.
    pub action: Action,
    /// The capture file the flow was seen in (an index into the run's files).
    pub file: usize,
}

impl Alert {
    /// An alert on `flow`, not (yet) blocked.
    pub fn new(
        bundle: &Bundle,
        flow: FlowSummary,
        verdict: Verdict,
        probs: &[f32],
        file: usize,
    ) -> Self {
        Alert {
            flow,
            verdict,
            probs: probs.to_vec(),
            severity: Severity::of(bundle, &verdict),
            action: Action::Allowed,
            file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_levels() {
        assert_eq!(Severity::High.level(), 1);
        assert_eq!(Severity::Medium.level(), 2);
        assert_eq!(Severity::Low.level(), 3);
        assert_eq!(Action::Blocked.label(), "blocked");
    }
}
