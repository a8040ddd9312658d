//! The aggregator: per-tracker state and the decision for each alert.
//!
//! Input: an alert's label, source, destination and timestamp, in the order
//! the alert writer sees them. Output: a [`Decision`] (written, with how
//! many alerts it stands for; folded; suppressed), counts of what was not
//! written, and [`Tail`]s: hits folded after the last written alert of their
//! tracker, reported when the tracker is evicted or at the end.
//!
//! Invariants: every alert is decided once and is written, folded or
//! suppressed; a tracker's `pending` counts its hits since its last written
//! alert, so a written alert's count covers every hit folded before it. At
//! most [`MAX_TRACKERS`] trackers are kept: trackers whose period ended with
//! nothing pending are dropped first; beyond that the least recently hit go
//! (their pending hits become a [`Tail`], and a later hit opens a fresh
//! period, as an expired tracker would). Eviction and tails are ordered by
//! (last hit, label, key), never by hash order, so replay stays
//! deterministic.

use super::{Kind, Rules, SuppressTrack, ThresholdRule, Track};
use crate::cidr::Cidr;
use crate::decode::Addr;
use crate::error::Error;
use std::collections::HashMap;

/// The most trackers kept at once (about 100 bytes each).
pub const MAX_TRACKERS: usize = 65_536;

/// The smallest table that is swept.
const SWEEP_MIN: usize = 1024;

/// What a tracker counts, for one label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrackKey {
    /// `by_src`: the source address.
    Src(Addr),
    /// `by_dst`: the destination address.
    Dst(Addr),
    /// `by_both`: the two addresses, the lower first.
    Pair(Addr, Addr),
    /// `by_rule`: the label alone.
    Rule,
}

impl TrackKey {
    fn of(track: Track, src: Addr, dst: Addr) -> Self {
        match track {
            Track::BySrc => TrackKey::Src(src),
            Track::ByDst => TrackKey::Dst(dst),
            Track::ByBoth => TrackKey::Pair(src.min(dst), src.max(dst)),
            Track::ByRule => TrackKey::Rule,
        }
    }
}

/// What becomes of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Written. `aggregated`: the alerts it stands for (itself and those
    /// its tracker folded since its last written alert); `None` when no
    /// threshold rule applies to the label.
    Write {
        /// Alerts this one stands for.
        aggregated: Option<u64>,
    },
    /// Not written: a threshold rule folded it (counted, and carried by the
    /// tracker's next written alert).
    Fold,
    /// Not written: a suppress rule matched.
    Suppress,
}

/// Hits a tracker folded after its last written alert, reported when the
/// tracker goes (evicted, or at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    /// The label index.
    pub label: usize,
    /// The tracker.
    pub key: TrackKey,
    /// Hits folded since its last written alert.
    pub folded: u64,
    /// The last of them, µs.
    pub last_us: i64,
    /// The last hit's source and destination.
    pub last: (Addr, Addr),
}

#[derive(Debug, Clone, Copy)]
struct Tracker {
    /// The period's first hit (Suricata's `tv1`).
    tv1_us: i64,
    /// Hits in the period (Suricata's `current_count`).
    count: u64,
    /// Hits since the last written alert.
    pending: u64,
    /// The last hit, and its source and destination.
    last_us: i64,
    last: (Addr, Addr),
}

/// A suppress rule with its label resolved.
#[derive(Debug, Clone)]
struct Suppress {
    label: Option<usize>,
    by: Option<(SuppressTrack, Vec<Cidr>)>,
}

impl Suppress {
    fn matches(&self, label: usize, src: Addr, dst: Addr) -> bool {
        if self.label.is_some_and(|l| l != label) {
            return false;
        }
        let Some((track, nets)) = &self.by else {
            return true;
        };
        let hit = |a: Addr| nets.iter().any(|c| c.contains(a.to_ip()));
        match track {
            SuppressTrack::BySrc => hit(src),
            SuppressTrack::ByDst => hit(dst),
            SuppressTrack::ByEither => hit(src) || hit(dst),
        }
    }
}

/// Decides, alert by alert, what the alerts output writes.
#[derive(Debug, Clone)]
pub struct Aggregator {
    /// The threshold rule of each label (by index).
    rules: Vec<Option<ThresholdRule>>,
    /// Its text, for `alert.metadata`.
    texts: Vec<Option<String>>,
    suppress: Vec<Suppress>,
    trackers: HashMap<(usize, TrackKey), Tracker>,
    /// The latest alert time seen.
    clock_us: i64,
    /// Sweep when the table reaches this size.
    sweep_at: usize,
    folded: u64,
    suppressed: u64,
    evicted: Vec<Tail>,
}

/// The index of `label` among `labels`, or an error naming the table.
fn label_index(labels: &[String], label: &str, table: &str) -> Result<usize, Error> {
    labels.iter().position(|l| l == label).ok_or_else(|| {
        Error::Usage(format!(
            "[[{table}]] label: {label:?} is not a class of the model (classes: {})",
            labels.join(", ")
        ))
    })
}

impl Aggregator {
    /// The aggregator of `rules` for a model with these class `labels`; a
    /// rule naming a label the model does not have is refused.
    pub fn new(rules: &Rules, labels: &[String]) -> Result<Self, Error> {
        for r in &rules.threshold {
            if let Some(l) = &r.label {
                label_index(labels, l, "threshold")?;
            }
        }
        let suppress = rules
            .suppress
            .iter()
            .map(|s| {
                let label = match &s.label {
                    Some(l) => Some(label_index(labels, l, "suppress")?),
                    None => None,
                };
                let by = s.by.as_ref().map(|(t, n)| (*t, n.0.clone()));
                Ok(Suppress { label, by })
            })
            .collect::<Result<_, Error>>()?;
        let rules: Vec<Option<ThresholdRule>> =
            labels.iter().map(|l| rules.rule_for(l).cloned()).collect();
        Ok(Aggregator {
            texts: rules
                .iter()
                .map(|r| r.as_ref().map(ToString::to_string))
                .collect(),
            rules,
            suppress,
            trackers: HashMap::new(),
            clock_us: i64::MIN,
            sweep_at: SWEEP_MIN,
            folded: 0,
            suppressed: 0,
            evicted: Vec::new(),
        })
    }

    /// Decides one alert of `label` from `src` to `dst` at `ts_us`. With
    /// `force` (the IPS hook queued a block for it) the alert is written
    /// whatever the rules say, and its tracker counts it as usual.
    pub fn decide(
        &mut self,
        label: usize,
        src: Addr,
        dst: Addr,
        ts_us: i64,
        force: bool,
    ) -> Decision {
        self.clock_us = self.clock_us.max(ts_us);
        if self.suppress.iter().any(|s| s.matches(label, src, dst)) {
            if force {
                return Decision::Write { aggregated: None };
            }
            self.suppressed += 1;
            return Decision::Suppress;
        }
        let Some(rule) = self.rules.get(label).and_then(Option::as_ref) else {
            return Decision::Write { aggregated: None };
        };
        let (kind, n, period) = (rule.kind, u64::from(rule.count.0), rule.seconds.0);
        let key = (label, TrackKey::of(rule.track, src, dst));
        let fresh = !self.trackers.contains_key(&key);
        if fresh && self.trackers.len() >= self.sweep_at {
            self.sweep();
        }
        let t = self.trackers.entry(key).or_insert(Tracker {
            tv1_us: ts_us,
            count: 0,
            pending: 0,
            last_us: ts_us,
            last: (src, dst),
        });
        let alert = if !fresh && ts_us <= t.tv1_us.saturating_add(period) {
            t.count += 1;
            match kind {
                Kind::Limit => t.count <= n,
                Kind::Threshold => t.count >= n,
                Kind::Both => t.count == n,
            }
        } else {
            // A fresh tracker, or the period ended: this hit opens one.
            t.tv1_us = ts_us;
            t.count = 1;
            match kind {
                Kind::Limit => true,
                Kind::Threshold | Kind::Both => n == 1,
            }
        };
        if alert && kind == Kind::Threshold {
            // Suricata resets the count (not the period) at each alert.
            t.count = 0;
        }
        t.pending += 1;
        t.last_us = ts_us;
        t.last = (src, dst);
        if alert || force {
            let aggregated = t.pending;
            t.pending = 0;
            Decision::Write {
                aggregated: Some(aggregated),
            }
        } else {
            self.folded += 1;
            Decision::Fold
        }
    }

    /// Whether the tracker's period holds the latest alert time.
    fn in_period(&self, key: &(usize, TrackKey), t: &Tracker) -> bool {
        let period = self
            .rules
            .get(key.0)
            .and_then(Option::as_ref)
            .map_or(0, |r| r.seconds.0);
        self.clock_us <= t.tv1_us.saturating_add(period)
    }

    /// Drops trackers whose period ended with nothing pending; beyond
    /// [`MAX_TRACKERS`], evicts the least recently hit (pending hits become
    /// tails).
    fn sweep(&mut self) {
        let ended: Vec<(usize, TrackKey)> = self
            .trackers
            .iter()
            .filter(|(k, t)| t.pending == 0 && !self.in_period(k, t))
            .map(|(k, _)| *k)
            .collect();
        for k in ended {
            self.trackers.remove(&k);
        }
        if self.trackers.len() >= MAX_TRACKERS {
            let mut all: Vec<((usize, TrackKey), Tracker)> =
                self.trackers.iter().map(|(k, t)| (*k, *t)).collect();
            // Ended periods first, then by last hit, label and key.
            all.sort_by_key(|(k, t)| (self.in_period(k, t), t.last_us, *k));
            for (k, t) in all.into_iter().take(MAX_TRACKERS / 16) {
                self.trackers.remove(&k);
                if t.pending > 0 {
                    self.evicted.push(tail(k, &t));
                }
            }
        }
        self.sweep_at = (2 * self.trackers.len()).clamp(SWEEP_MIN, MAX_TRACKERS);
    }

    /// The text of the rule that applies to `label`, as in
    /// `alert.metadata` (`limit by_both count 1 seconds 60`).
    pub fn rule_text(&self, label: usize) -> Option<&str> {
        self.texts.get(label).and_then(Option::as_deref)
    }

    /// Alerts folded so far (not written).
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Alerts suppressed so far (not written).
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Trackers in memory now.
    pub fn trackers(&self) -> usize {
        self.trackers.len()
    }

    /// Tails of trackers evicted since the last call.
    pub fn take_evicted(&mut self) -> Vec<Tail> {
        std::mem::take(&mut self.evicted)
    }

    /// At the end: every tracker's tail (hits folded after its last written
    /// alert), ordered by last hit, label and key; the state is emptied.
    pub fn finish(&mut self) -> Vec<Tail> {
        let mut tails = self.take_evicted();
        let mut rest: Vec<Tail> = self
            .trackers
            .drain()
            .filter(|(_, t)| t.pending > 0)
            .map(|(k, t)| tail(k, &t))
            .collect();
        rest.sort_by_key(|t| (t.last_us, t.label, t.key));
        tails.extend(rest);
        tails
    }
}

fn tail((label, key): (usize, TrackKey), t: &Tracker) -> Tail {
    Tail {
        label,
        key,
        folded: t.pending,
        last_us: t.last_us,
        last: t.last,
    }
}
