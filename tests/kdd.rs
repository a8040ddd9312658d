//! NSL-KDD's vocabulary: every `flag` and `service` flowsentinel can write is
//! one `header.arff` knows, and every service there is produced by some
//! port or ICMP type except the two whose port is unknown (`pm_dump`,
//! `harvest`). Reads `header.arff` from the shared data folder; skips with a
//! message when it is absent.

use flowsentinel::kdd::{
    icmp6_service, icmp_service, tcp_service, udp_service, Flag, PROTOCOLS, SERVICES,
};
use std::collections::BTreeSet;

/// The values of one nominal attribute of `header.arff`.
fn nominal(arff: &str, attribute: &str) -> BTreeSet<String> {
    let line = arff
        .lines()
        .find(|l| l.starts_with(&format!("@attribute '{attribute}'")))
        .unwrap_or_else(|| panic!("no attribute {attribute} in header.arff"));
    let inner = line
        .split_once('{')
        .and_then(|(_, r)| r.split_once('}'))
        .map_or("", |(v, _)| v);
    inner
        .split(',')
        .map(|v| v.trim().trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn every_flag_and_service_is_in_the_nsl_kdd_vocabulary() {
    let Some(path) = crate::util::shared_data().map(|d| d.join("nslkdd/header.arff")) else {
        eprintln!("skipped: the shared data folder is absent");
        return;
    };
    let Ok(arff) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} not found", path.display());
        return;
    };
    let flags = nominal(&arff, "flag");
    let services = nominal(&arff, "service");
    let ours: BTreeSet<String> = Flag::ALL.iter().map(|f| f.name().to_string()).collect();
    assert_eq!(ours, flags);

    let mut produced = BTreeSet::new();
    for port in 0..=u16::MAX {
        produced.insert(tcp_service(40_000, port));
        produced.insert(tcp_service(port, 40_000));
        produced.insert(udp_service(port));
    }
    for t in 0..=u8::MAX {
        for c in 0..=u8::MAX {
            produced.insert(icmp_service(t, c));
            produced.insert(icmp6_service(t, c));
        }
    }
    let produced: BTreeSet<String> = produced.into_iter().map(str::to_string).collect();
    let unknown: Vec<&String> = produced.difference(&services).collect();
    assert!(unknown.is_empty(), "not in header.arff: {unknown:?}");
    let never: Vec<&String> = services.difference(&produced).collect();
    assert_eq!(never, ["harvest", "pm_dump"], "services never produced");
    let listed: BTreeSet<String> = SERVICES.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, services, "SERVICES is header.arff's list");
    let protocols: BTreeSet<String> = PROTOCOLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(protocols, nominal(&arff, "protocol_type"));
}
