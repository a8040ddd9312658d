//! Attack-episode CSVs: `Labeler::parse` on arbitrary text. An error names a
//! line of the text that is not blank; when it parses,
//! every episode's window is ordered, and `label` answers for a few address
//! pairs and times (inside, at and around each window; the attacker's
//! network address when it is a range) under every profile.
#![no_main]

use flowsentinel::decode::Addr;
use flowsentinel::labels::Labeler;
use flowsentinel::profile::Profile;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

const PROFILES: [Profile; 3] = [Profile::Cic2017, Profile::Cic2018, Profile::Fixed];

fn addr(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(a) => Addr::v4(a.octets()),
        IpAddr::V6(a) => Addr::v6(a.octets()),
    }
}

fuzz_target!(|text: &str| {
    let labeler = match Labeler::parse(text) {
        Ok(l) => l,
        Err((line, reason)) => {
            assert!(!reason.is_empty());
            // The line named is one of the text's (1-based), and not blank:
            // blank lines are skipped, so no error can be on one.
            if let Some(n) = line {
                let named = n.checked_sub(1).and_then(|i| text.lines().nth(i));
                assert!(
                    named.is_some_and(|l| !l.trim().is_empty()),
                    "error {reason:?} names line {n}: {named:?}"
                );
            }
            return;
        }
    };
    let mut probes: Vec<(Addr, Addr, i64)> = vec![
        (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]), 0),
        (Addr::v4([10, 0, 0, 1]), Addr::v6([0; 16]), i64::MIN),
        (Addr::v6([0; 16]), Addr::v6([0; 16]), i64::MAX),
    ];
    for e in labeler.episodes().iter().take(8) {
        assert!(e.start_us <= e.end_us, "{e:?}");
        assert!(e.attacker.contains(e.attacker.network()), "{e:?}");
        let (a, v) = (addr(e.attacker.network()), addr(e.victim));
        for t in [
            e.start_us,
            e.end_us,
            e.start_us.saturating_sub(1),
            e.end_us.saturating_add(1),
            e.start_us / 2 + e.end_us / 2,
        ] {
            probes.push((a, v, t));
            probes.push((v, a, t));
        }
    }
    for profile in PROFILES {
        for &(a, b, t) in &probes {
            let label = labeler.label(a, b, t, profile);
            let inside = labeler.episodes().iter().any(|e| {
                let (ea, ev) = (&e.attacker, addr(e.victim));
                let (ai, bi) = (a.to_ip(), b.to_ip());
                ((ea.contains(ai) && ev == b) || (ea.contains(bi) && ev == a))
                    && e.start_us <= t
                    && t <= e.end_us
            });
            if !inside {
                assert_eq!(label, profile.benign_label(), "{a} {b} {t}");
            }
        }
    }
});
