//! Unit tests of the threshold rules and the aggregator: Suricata's
//! `limit`, `threshold` and `both` hit by hit, every track, rule precedence,
//! suppression, the refusals, and the bounded state.

use super::*;
use crate::decode::Addr;

const S: i64 = 1_000_000;

fn labels() -> Vec<String> {
    ["Benign", "portscan", "syn_flood"]
        .map(String::from)
        .to_vec()
}

fn rule(kind: Kind, track: Track, count: u32, secs: i64, label: Option<&str>) -> ThresholdRule {
    ThresholdRule {
        kind,
        track,
        count: Count(count),
        seconds: Seconds(secs * S),
        label: label.map(String::from),
    }
}

fn agg(threshold: Vec<ThresholdRule>, suppress: Vec<SuppressRule>) -> Aggregator {
    let rules = Rules {
        threshold,
        suppress,
    };
    Aggregator::new(&rules, &labels()).unwrap()
}

fn ip(last: u8) -> Addr {
    Addr::v4([10, 0, 0, last])
}

/// Hits of label 1 from 10.0.0.1 to 10.0.0.2 at these times (µs): 'W<n>'
/// written standing for n, 'F' folded, 'S' suppressed.
fn run(a: &mut Aggregator, times: &[i64]) -> Vec<String> {
    times
        .iter()
        .map(|&t| match a.decide(1, ip(1), ip(2), t, false) {
            Decision::Write { aggregated } => format!("W{}", aggregated.unwrap_or(0)),
            Decision::Fold => "F".into(),
            Decision::Suppress => "S".into(),
        })
        .collect()
}

#[test]
fn limit_writes_the_first_count_hits_of_each_period() {
    let mut a = agg(vec![rule(Kind::Limit, Track::BySrc, 2, 10, None)], vec![]);
    // The period holds hits up to 10 s after its first, both ends included.
    let got = run(&mut a, &[0, S, 2 * S, 10 * S, 10 * S + 1, 11 * S, 12 * S]);
    assert_eq!(got, ["W1", "W1", "F", "F", "W3", "W1", "F"]);
    assert_eq!(a.folded(), 3);
}

#[test]
fn threshold_writes_every_count_th_hit_and_keeps_its_period() {
    let mut a = agg(
        vec![rule(Kind::Threshold, Track::BySrc, 3, 10, None)],
        vec![],
    );
    // 0,1,2: the third is written; the count restarts, the period does not:
    // 9 and 10 are its hits 1 and 2; 10.000001 opens a new period.
    let got = run(
        &mut a,
        &[0, 1, 2 * S, 9 * S, 10 * S, 10 * S + 1, 11 * S, 12 * S],
    );
    assert_eq!(got, ["F", "F", "W3", "F", "F", "F", "F", "W5"]);
    // Count 1: every hit.
    let mut a = agg(
        vec![rule(Kind::Threshold, Track::BySrc, 1, 10, None)],
        vec![],
    );
    assert_eq!(run(&mut a, &[0, 1, 20 * S]), ["W1", "W1", "W1"]);
}

#[test]
fn both_writes_the_count_th_hit_once_per_period() {
    let mut a = agg(vec![rule(Kind::Both, Track::BySrc, 3, 10, None)], vec![]);
    let got = run(
        &mut a,
        &[0, S, 2 * S, 3 * S, 4 * S, 11 * S, 12 * S, 13 * S, 14 * S],
    );
    assert_eq!(got, ["F", "F", "W3", "F", "F", "F", "F", "W5", "F"]);
    let mut a = agg(vec![rule(Kind::Both, Track::ByRule, 1, 10, None)], vec![]);
    assert_eq!(run(&mut a, &[0, S, 11 * S, 12 * S]), ["W1", "F", "W2", "F"]);
}

#[test]
fn tracks_key_by_source_destination_pair_or_label() {
    let one = |track| agg(vec![rule(Kind::Limit, track, 1, 60, None)], vec![]);
    let pairs = [(1, 2), (2, 1), (1, 3), (4, 2)];
    let written = |mut a: Aggregator| {
        let mut w: Vec<bool> = pairs
            .iter()
            .map(|&(s, d)| matches!(a.decide(1, ip(s), ip(d), 0, false), Decision::Write { .. }))
            .collect();
        // Another label has trackers of its own.
        w.push(matches!(
            a.decide(2, ip(1), ip(2), 0, false),
            Decision::Write { .. }
        ));
        w
    };
    assert_eq!(written(one(Track::BySrc)), [true, true, false, true, true]);
    assert_eq!(written(one(Track::ByDst)), [true, true, true, false, true]);
    // by_both: the pair either way round, as Suricata's IP pair.
    assert_eq!(written(one(Track::ByBoth)), [true, false, true, true, true]);
    assert_eq!(
        written(one(Track::ByRule)),
        [true, false, false, false, true]
    );
}

#[test]
fn a_label_s_own_rule_wins_then_the_first_for_every_label() {
    let global1 = rule(Kind::Limit, Track::ByRule, 1, 60, None);
    let global2 = rule(Kind::Limit, Track::ByRule, 5, 60, None);
    let own1 = rule(Kind::Both, Track::BySrc, 2, 60, Some("portscan"));
    let own2 = rule(Kind::Threshold, Track::ByDst, 3, 60, Some("portscan"));
    let rules = Rules {
        threshold: vec![own1, global1.clone(), own2.clone(), global2],
        suppress: vec![],
    };
    assert_eq!(rules.rule_for("portscan"), Some(&own2));
    assert_eq!(rules.rule_for("syn_flood"), Some(&global1));
    // The default: --alert-limit's rule, last, unless a rule is for every label.
    let r = Rules::build(None, Some(vec![own2.clone()]), None).unwrap();
    assert_eq!(
        r.threshold,
        [own2.clone(), ThresholdRule::alert_limit(60 * S)]
    );
    assert_eq!(
        r.rule_for("syn_flood").map(|r| r.to_string()).as_deref(),
        Some("limit by_both count 1 seconds 60")
    );
    let r = Rules::build(Some(2.5), None, None).unwrap();
    assert_eq!(r.threshold, [ThresholdRule::alert_limit(2_500_000)]);
    let r = Rules::build(None, Some(vec![global1.clone()]), None).unwrap();
    assert_eq!(r.threshold, std::slice::from_ref(&global1));
    // 0 turns every threshold rule off.
    assert!(Rules::build(Some(0.0), Some(vec![own2]), None)
        .unwrap()
        .threshold
        .is_empty());
    let e = Rules::build(Some(30.0), Some(vec![global1]), None).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("--alert-limit and a [[threshold]] without a label"));
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let e = Rules::build(Some(bad), None, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("--alert-limit: expected 0 (off) or a positive number of seconds, got {bad}")
        );
    }
}

#[test]
fn suppress_matches_before_thresholds_and_is_not_a_hit() {
    let net = |s: &str| Networks(vec![s.parse().unwrap()]);
    let sup = |t, n: &str, label: Option<&str>| SuppressRule {
        by: Some((t, net(n))),
        label: label.map(String::from),
    };
    let limit = || vec![rule(Kind::Limit, Track::ByRule, 1, 60, None)];
    let mut a = agg(
        limit(),
        vec![sup(SuppressTrack::BySrc, "10.0.0.0/30", None)],
    );
    assert_eq!(a.decide(1, ip(1), ip(9), 0, false), Decision::Suppress);
    // Not a hit: the first unsuppressed alert is still the first of its period.
    assert_eq!(
        a.decide(1, ip(9), ip(1), 0, false),
        Decision::Write {
            aggregated: Some(1)
        }
    );
    assert_eq!(a.suppressed(), 1);
    let mut a = agg(
        limit(),
        vec![sup(SuppressTrack::ByDst, "10.0.0.1", Some("syn_flood"))],
    );
    assert_eq!(a.decide(2, ip(9), ip(1), 0, false), Decision::Suppress);
    assert_eq!(
        a.decide(1, ip(9), ip(1), 0, false),
        Decision::Write {
            aggregated: Some(1)
        }
    );
    let mut a = agg(vec![], vec![sup(SuppressTrack::ByEither, "10.0.0.1", None)]);
    assert_eq!(a.decide(1, ip(9), ip(1), 0, false), Decision::Suppress);
    assert_eq!(a.decide(1, ip(1), ip(9), 0, false), Decision::Suppress);
    // No rule applies: written, standing for itself only.
    assert_eq!(
        a.decide(1, ip(8), ip(9), 0, false),
        Decision::Write { aggregated: None }
    );
    let whole = SuppressRule {
        by: None,
        label: Some("portscan".into()),
    };
    let mut a = agg(vec![], vec![whole]);
    assert_eq!(a.decide(1, ip(8), ip(9), 0, false), Decision::Suppress);
    assert_eq!(
        a.decide(2, ip(8), ip(9), 0, false),
        Decision::Write { aggregated: None }
    );
}

#[test]
fn labels_must_be_the_model_s() {
    let rules = Rules {
        threshold: vec![rule(Kind::Limit, Track::BySrc, 1, 1, Some("dos"))],
        suppress: vec![],
    };
    let e = Aggregator::new(&rules, &labels()).unwrap_err().to_string();
    assert_eq!(
        e,
        r#"[[threshold]] label: "dos" is not a class of the model (classes: Benign, portscan, syn_flood)"#
    );
}

#[test]
fn state_is_bounded_and_tails_are_ordered() {
    // `both` count 2: each source's first hit is folded and stays pending.
    let mut a = agg(vec![rule(Kind::Both, Track::BySrc, 2, 60, None)], vec![]);
    let n = MAX_TRACKERS + 5000;
    for i in 0..n {
        let src = Addr::v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        assert_eq!(a.decide(1, src, ip(1), i as i64, false), Decision::Fold);
        assert!(a.trackers() <= MAX_TRACKERS);
    }
    let mut tails = a.take_evicted();
    assert!(!tails.is_empty());
    tails.extend(a.finish());
    assert_eq!(tails.iter().map(|t| t.folded).sum::<u64>(), n as u64);
    assert!(tails.windows(2).all(|w| w[0].last_us <= w[1].last_us));
    assert_eq!(a.trackers(), 0);
    // A block is never silent: forced alerts are written, and still counted
    // as hits of their tracker.
    let mut a = agg(vec![rule(Kind::Limit, Track::ByRule, 1, 60, None)], vec![]);
    assert_eq!(
        a.decide(1, ip(1), ip(2), 0, false),
        Decision::Write {
            aggregated: Some(1)
        }
    );
    assert_eq!(a.decide(1, ip(1), ip(2), 1, false), Decision::Fold);
    assert_eq!(
        a.decide(1, ip(1), ip(2), 2, true),
        Decision::Write {
            aggregated: Some(2)
        }
    );
    assert_eq!(a.decide(1, ip(1), ip(2), 3, false), Decision::Fold);
    assert_eq!(a.folded(), 2);
    // Trackers whose period ended with nothing pending are dropped.
    let mut a = agg(vec![rule(Kind::Limit, Track::BySrc, 1, 1, None)], vec![]);
    for i in 0..10_000i64 {
        let src = Addr::v4([10, 1, (i >> 8) as u8, i as u8]);
        a.decide(1, src, ip(1), i * S, false);
    }
    assert!(a.trackers() < 2048, "{}", a.trackers());
}
