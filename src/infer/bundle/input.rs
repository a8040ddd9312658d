//! Model input columns: what one input of a bundle reads from a flow.
//!
//! Owns [`Input`] (a feature column; one of the pseudo-columns: ports,
//! protocol, IPv4 address octets; a connection-context column, raw or
//! expanded from a categorical one) and [`FlowRow`], what the model sees of
//! one flow. Input: a column name in any of the catalogue's spellings or an
//! NSL-KDD / per-source window name, then a [`FlowRow`]. Output: the input's
//! raw value for that flow, as `f64` (preprocessing is the bundle's), or for
//! an unencoded categorical column, its name.

use crate::decode::Addr;
use crate::features::catalogue::{self, Col};
use crate::features::FeatureVector;
use crate::kdd::{KddCol, KddKind, KddRow};

/// One model input: where its value comes from.
#[derive(Debug, Clone, PartialEq)]
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
    /// A connection-context column. A categorical one (`protocol_type`,
    /// `service`, `flag`) named without an encoding is fed to a graph input
    /// of its own as its name, a string; its number here is its vocabulary
    /// index.
    Kdd(KddCol),
    /// One-hot indicator: 1 when the categorical column holds vocabulary
    /// entry `index`, else 0.
    OneHot {
        /// The categorical column.
        col: KddCol,
        /// The value's index in the column's vocabulary.
        index: usize,
    },
    /// Ordinal code: the position of the column's value in the bundle's
    /// category list, −1 when the list lacks it.
    Ordinal {
        /// The categorical column.
        col: KddCol,
        /// The code of each vocabulary entry, by vocabulary index.
        codes: Vec<f64>,
    },
    /// A constant, for a graph input that is no flow feature
    /// (`{"name": ..., "constant": x}` in `inputs`).
    Constant(f64),
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
    /// Resolves a column name in any spelling, a pseudo-column, or a
    /// connection-context column by its exact NSL-KDD or per-source name.
    /// Categorical encodings and profile rules are the metadata's
    /// (`categories`).
    pub fn resolve(name: &str) -> Option<Input> {
        let n = name.trim();
        if let Some(c) = KddCol::lookup(n) {
            return Some(Input::Kdd(c));
        }
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
        // pandas reads a duplicated column name as `NAME.1`, `NAME.2`, ...
        // (CIC-IDS2017's second `Fwd Header Length`): the same column.
        let col = catalogue::lookup(n).or_else(|| {
            let (base, k) = n.rsplit_once('.')?;
            let pandas = !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
            pandas.then(|| catalogue::lookup(base)).flatten()
        })?;
        match col {
            Col::SrcPort => Some(Input::SrcPort),
            Col::DstPort => Some(Input::DstPort),
            Col::Protocol => Some(Input::Protocol),
            c => c.feature_index().map(Input::Feature),
        }
    }

    /// The connection-context column this input reads, if any.
    pub fn kdd_col(&self) -> Option<KddCol> {
        match *self {
            Input::Kdd(c) | Input::OneHot { col: c, .. } | Input::Ordinal { col: c, .. } => Some(c),
            _ => None,
        }
    }

    /// True for a categorical column named without an encoding: only a graph
    /// input of its own can take it (as a string).
    pub fn is_text(&self) -> bool {
        matches!(self, Input::Kdd(c) if c.kind() == KddKind::Cat)
    }

    /// The value of an unencoded categorical input: its name (empty when the
    /// row holds no vocabulary entry, which one-hot encoders ignore).
    pub fn text(&self, row: &FlowRow) -> &'static str {
        match *self {
            Input::Kdd(c) => row.kdd.text(c).unwrap_or(""),
            _ => "",
        }
    }

    /// This input's raw value for a flow.
    #[inline]
    pub fn value(&self, row: &FlowRow) -> f64 {
        let octet = |a: &Addr, k: usize| {
            if a.is_v6() {
                0.0
            } else {
                a.octets().get(k).map_or(0.0, |&o| f64::from(o))
            }
        };
        match *self {
            Input::Feature(i) => row.features.get(i).copied().unwrap_or(0.0),
            Input::SrcPort => f64::from(row.src_port),
            Input::DstPort => f64::from(row.dst_port),
            Input::Protocol => f64::from(row.proto),
            Input::SrcOctet(k) => octet(&row.src, k),
            Input::DstOctet(k) => octet(&row.dst, k),
            Input::Constant(x) => x,
            Input::Kdd(c) => row.kdd.get(c),
            Input::OneHot { col, index } => f64::from(u8::from(row.kdd.get(col) == index as f64)),
            Input::Ordinal { col, ref codes } => {
                let v = row.kdd.get(col);
                if v >= 0.0 && v.fract() == 0.0 {
                    codes.get(v as usize).copied().unwrap_or(-1.0)
                } else {
                    -1.0
                }
            }
        }
    }

    /// Where the input's value comes from, for `model check`.
    pub fn source(&self) -> String {
        let vocab = |c: KddCol, i: usize| {
            c.vocabulary()
                .and_then(|v| v.get(i).copied())
                .unwrap_or("?")
        };
        match *self {
            Input::Feature(_) => "CICFlowMeter feature".into(),
            Input::SrcPort => "pseudo-column: source port".into(),
            Input::DstPort => "pseudo-column: destination port".into(),
            Input::Protocol => "pseudo-column: IP protocol number".into(),
            Input::SrcOctet(k) => format!("pseudo-column: source IPv4 octet {}", k + 1),
            Input::DstOctet(k) => format!("pseudo-column: destination IPv4 octet {}", k + 1),
            Input::Constant(x) => format!("constant {x}"),
            Input::Kdd(c) if c.kind() == KddKind::Cat => {
                format!(
                    "KDD connection feature {}, categorical, as its name (string)",
                    c.name()
                )
            }
            Input::Kdd(c) if c >= KddCol::SrcCount => "per-source window".into(),
            Input::Kdd(c) if c.is_window() => "KDD window".into(),
            Input::Kdd(_) => "KDD connection feature".into(),
            Input::OneHot { col, index } => format!(
                "KDD connection feature {}, one-hot: 1 when {}",
                col.name(),
                vocab(col, index)
            ),
            Input::Ordinal { col, ref codes } => {
                format!(
                "KDD connection feature {}, ordinal: codes 0..{} from categories.{}, -1 for others",
                col.name(),
                codes.iter().filter(|&&x| x >= 0.0).count().saturating_sub(1),
                col.name()
            )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdd_names_are_no_catalogue_spelling() {
        for c in KddCol::ALL {
            assert_eq!(catalogue::lookup(c.name()), None, "{}", c.name());
            assert_eq!(Input::resolve(c.name()), Some(Input::Kdd(c)));
        }
    }

    #[test]
    fn encodings_read_the_vocabulary_index() {
        let mut row = FlowRow {
            features: [0.0; crate::features::catalogue::NUM_FEATURES],
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([10, 0, 0, 2]),
            src_port: 1,
            dst_port: 2,
            proto: 6,
            interim: false,
            kdd: KddRow::default(),
        };
        let http = crate::kdd::SERVICES
            .iter()
            .position(|s| *s == "http")
            .unwrap();
        row.kdd.set(KddCol::Service, http as f64);
        let hot = Input::OneHot {
            col: KddCol::Service,
            index: http,
        };
        assert_eq!(hot.value(&row), 1.0);
        let mut codes = vec![-1.0; crate::kdd::SERVICES.len()];
        codes[http] = 4.0;
        let ord = Input::Ordinal {
            col: KddCol::Service,
            codes,
        };
        assert_eq!(ord.value(&row), 4.0);
        row.kdd.set(KddCol::Service, 0.0);
        assert_eq!(hot.value(&row), 0.0);
        assert_eq!(ord.value(&row), -1.0);
        assert_eq!(
            Input::Kdd(KddCol::Service).text(&row),
            crate::kdd::SERVICES[0]
        );
        assert!(Input::Kdd(KddCol::Flag).is_text() && !Input::Kdd(KddCol::Count).is_text());
    }
}
