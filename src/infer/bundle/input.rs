//! Model input columns: what one input of a bundle reads from a flow.
//!
//! Owns [`Input`] (a feature column, or one of the pseudo-columns: ports,
//! protocol, IPv4 address octets) and [`FlowRow`], what the model sees of one
//! flow. Input: a column name in any of the catalogue's spellings, then a
//! [`FlowRow`]. Output: the input's raw value for that flow, as `f64`
//! (preprocessing is the bundle's).

use crate::decode::Addr;
use crate::features::catalogue::{self, Col};
use crate::features::FeatureVector;
use crate::kdd::KddRow;

/// One model input: where its value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A feature column, as an index into [`FeatureVector`].
    Feature(usize),
    /// The flow's source port.
    SrcPort,
    /// The flow's destination port.
    DstPort,
    /// The IP protocol number.
    Protocol,
    /// Octet 0..=3 of the source IPv4 address (0 for IPv6).
    SrcOctet(usize),
    /// Octet 0..=3 of the destination IPv4 address (0 for IPv6).
    DstOctet(usize),
}

/// What the model sees of one flow before preprocessing.
#[derive(Debug, Clone, Copy)]
pub struct FlowRow {
    /// The 76 features in catalogue order.
    pub features: FeatureVector,
    /// Source address (the flow's first packet's sender).
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// An interim row of a flow still open: scored with its sequence window
    /// as context, but not added to the window (the final row will be).
    pub interim: bool,
    /// The flow's connection context (NSL-KDD features and the per-source
    /// windows); zeros unless the pipeline computes context.
    pub kdd: KddRow,
}

impl Input {
    /// Resolves a column name in any spelling, or a pseudo-column.
    pub fn resolve(name: &str) -> Option<Input> {
        let n = name.trim();
        let lower = n.to_ascii_lowercase();
        for (prefix, src) in [("src ip octet ", true), ("dst ip octet ", false)] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return match rest.trim().parse::<usize>() {
                    Ok(k @ 1..=4) if src => Some(Input::SrcOctet(k - 1)),
                    Ok(k @ 1..=4) => Some(Input::DstOctet(k - 1)),
                    _ => None,
                };
            }
        }
        match catalogue::lookup(n)? {
            Col::SrcPort => Some(Input::SrcPort),
            Col::DstPort => Some(Input::DstPort),
            Col::Protocol => Some(Input::Protocol),
            c => c.feature_index().map(Input::Feature),
        }
    }

    /// This input's raw value for a flow.
    pub fn value(self, row: &FlowRow) -> f64 {
        let octet = |a: &Addr, k: usize| {
            if a.is_v6() {
                0.0
            } else {
                a.octets().get(k).map_or(0.0, |&o| f64::from(o))
            }
        };
        match self {
            Input::Feature(i) => row.features.get(i).copied().unwrap_or(0.0),
            Input::SrcPort => f64::from(row.src_port),
            Input::DstPort => f64::from(row.dst_port),
            Input::Protocol => f64::from(row.proto),
            Input::SrcOctet(k) => octet(&row.src, k),
            Input::DstOctet(k) => octet(&row.dst, k),
        }
    }
}
