//! Alert aggregation: Suricata's `threshold.config` for the alerts output.
//!
//! Owns the rules ([`ThresholdRule`], [`SuppressRule`]: the config file's
//! `[[threshold]]` and `[[suppress]]` tables and `--alert-limit`), checked
//! once into [`Rules`], and ([`Aggregator`], in `state`) the per-tracker state
//! that decides, alert by alert, whether an alert is written, folded into a
//! later one, or suppressed.
//!
//! Semantics are Suricata's (7.x `detect-engine-threshold.c`), with the
//! model label in the place of the signature:
//! * `limit`: the first `count` hits of a period are written, the rest of the
//!   period folded; `threshold`: every `count`-th hit within a period is
//!   written; `both`: the `count`-th hit of a period is written, every other
//!   hit of the period folded.
//! * A period opens at a tracker's first hit and holds the hits at most
//!   `seconds` after it (both ends included); the first hit after it opens
//!   the next one.
//! * `track`: `by_src` (per source address), `by_dst`, `by_both` (per address
//!   pair, either direction: Suricata's IP pair) or `by_rule` (per label).
//!   Trackers are always per label, also for a rule without a label.
//! * Which rule applies to a label: the last `[[threshold]]` naming it, else
//!   the first one without a label (Suricata: a signature's own threshold
//!   replaces a global one, a global one never replaces another), else the
//!   `--alert-limit` rule (`limit`, `by_both`, count 1).
//! * `[[suppress]]`: an alert whose source (`by_src`), destination (`by_dst`)
//!   or either (`by_either`) is in `ip`, or (no `track`/`ip`) any alert of
//!   the label, is never written; suppress rules are checked first and do not
//!   count as hits.
//!
//! Time is the alert's timestamp (packet time in replay, so replay is
//! deterministic). Nothing is held back: an alert is decided when it comes.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod state;

pub use state::{Aggregator, Decision, Tail, TrackKey, MAX_TRACKERS};

use crate::cidr::Cidr;
use crate::error::Error;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// `type`: how hits of a period become alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The first `count` hits of a period.
    Limit,
    /// Every `count`-th hit of a period.
    Threshold,
    /// The `count`-th hit of a period, once.
    Both,
}

/// `track` of a `[[threshold]]`: what a tracker counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// Per source address.
    BySrc,
    /// Per destination address.
    ByDst,
    /// Per pair of addresses, either direction.
    ByBoth,
    /// One tracker per label.
    ByRule,
}

/// `track` of a `[[suppress]]`: which address `ip` is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressTrack {
    /// The source.
    BySrc,
    /// The destination.
    ByDst,
    /// Either.
    ByEither,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Limit => "limit",
            Kind::Threshold => "threshold",
            Kind::Both => "both",
        }
    }
}

impl Track {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Track::BySrc => "by_src",
            Track::ByDst => "by_dst",
            Track::ByBoth => "by_both",
            Track::ByRule => "by_rule",
        }
    }
}

/// `count`: a whole number of hits, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Count(pub u32);

impl TryFrom<i64> for Count {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        u32::try_from(n)
            .ok()
            .filter(|&n| n >= 1)
            .map(Count)
            .ok_or_else(|| format!("count: expected a whole number from 1 to 4294967295, got {n}"))
    }
}

/// `seconds`: a period, positive, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Seconds(pub i64);

impl TryFrom<f64> for Seconds {
    type Error = String;
    fn try_from(s: f64) -> Result<Self, String> {
        period_us(s)
            .map(Seconds)
            .ok_or_else(|| format!("seconds: expected a positive number of seconds, got {s}"))
    }
}

/// Positive seconds (at most 1e9, at least 1 µs) as µs.
fn period_us(s: f64) -> Option<i64> {
    let us = (s * 1e6).round();
    (s.is_finite() && s > 0.0 && s <= 1e9 && us >= 1.0).then_some(us as i64)
}

/// `ip`: one CIDR or address, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks(pub Vec<Cidr>);

impl<'de> Deserialize<'de> for Networks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Networks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CIDR or an address, or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Networks, E> {
                let c = s
                    .parse::<Cidr>()
                    .map_err(|e| E::custom(format!("ip: {e}")))?;
                Ok(Networks(vec![c]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Networks, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(
                        s.parse::<Cidr>()
                            .map_err(|e| de::Error::custom(format!("ip: {e}")))?,
                    );
                }
                if v.is_empty() {
                    return Err(de::Error::custom("ip: an empty list"));
                }
                Ok(Networks(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `[[threshold]]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// `limit`, `threshold` or `both`.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// What a tracker counts.
    pub track: Track,
    /// Hits.
    pub count: Count,
    /// The period, µs.
    pub seconds: Seconds,
    /// The model label it applies to (none: every label).
    pub label: Option<String>,
}

impl ThresholdRule {
    /// `--alert-limit`'s rule: one alert per address pair and label per
    /// period.
    pub fn alert_limit(period_us: i64) -> Self {
        ThresholdRule {
            kind: Kind::Limit,
            track: Track::ByBoth,
            count: Count(1),
            seconds: Seconds(period_us),
            label: None,
        }
    }
}

impl fmt::Display for ThresholdRule {
    /// `limit by_both count 1 seconds 60`, as in `alert.metadata`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.seconds.0 as f64 / 1e6;
        write!(
            f,
            "{} {} count {} seconds {secs}",
            self.kind.name(),
            self.track.name(),
            self.count.0
        )
    }
}

/// A `[[suppress]]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSuppress")]
pub struct SuppressRule {
    /// Which address is matched, with the networks (none: every alert of
    /// the label).
    pub by: Option<(SuppressTrack, Networks)>,
    /// The model label it applies to (none: every label).
    pub label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuppress {
    track: Option<SuppressTrack>,
    ip: Option<Networks>,
    label: Option<String>,
}

impl TryFrom<RawSuppress> for SuppressRule {
    type Error = String;
    fn try_from(r: RawSuppress) -> Result<Self, String> {
        let by = match (r.track, r.ip) {
            (Some(t), Some(ip)) => Some((t, ip)),
            (None, None) if r.label.is_some() => None,
            (None, None) => {
                return Err("suppress: give `track` and `ip`, or a `label` to suppress".into())
            }
            (Some(_), None) => return Err("suppress: `track` needs `ip`".into()),
            (None, Some(_)) => return Err("suppress: `ip` needs `track`".into()),
        };
        Ok(SuppressRule { by, label: r.label })
    }
}

/// Every aggregation rule of a run, checked (labels are checked against the
/// model by [`Aggregator::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Threshold rules in config order; the `--alert-limit` rule (when on
    /// and no `[[threshold]]` is without a label) last.
    pub threshold: Vec<ThresholdRule>,
    /// Suppress rules.
    pub suppress: Vec<SuppressRule>,
}

impl Rules {
    /// The rules from `--alert-limit` (`None`: not given, the default),
    /// the `[[threshold]]` and the `[[suppress]]` tables. An alert limit of 0
    /// turns every threshold rule off (suppress rules still apply).
    pub fn build(
        alert_limit: Option<f64>,
        threshold: Option<Vec<ThresholdRule>>,
        suppress: Option<Vec<SuppressRule>>,
    ) -> Result<Rules, Error> {
        let threshold = threshold.unwrap_or_default();
        let global = threshold.iter().any(|r| r.label.is_none());
        let limit = alert_limit.unwrap_or(crate::defaults::ALERT_LIMIT.as_secs_f64());
        let mut rules = Rules {
            threshold: Vec::new(),
            suppress: suppress.unwrap_or_default(),
        };
        if limit == 0.0 {
            return Ok(rules);
        }
        let period = period_us(limit).ok_or_else(|| {
            Error::Usage(format!(
                "--alert-limit: expected 0 (off) or a positive number of seconds, got {limit}"
            ))
        })?;
        if global && alert_limit.is_some() {
            return Err(Error::Usage(
                "--alert-limit and a [[threshold]] without a label both set the rule of every label: keep one".into(),
            ));
        }
        rules.threshold = threshold;
        if !global {
            rules.threshold.push(ThresholdRule::alert_limit(period));
        }
        Ok(rules)
    }

    /// The threshold rule that applies to `label`: its last own rule, else
    /// the first rule for every label.
    pub fn rule_for(&self, label: &str) -> Option<&ThresholdRule> {
        let own = self
            .threshold
            .iter()
            .rev()
            .find(|r| r.label.as_deref() == Some(label));
        own.or_else(|| self.threshold.iter().find(|r| r.label.is_none()))
    }
}

#[cfg(test)]
mod tests;
