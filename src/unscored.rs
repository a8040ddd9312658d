//! The flows the sensor does not score: those that cannot be an attack on
//! their own. A flow whose source (the sender of its first packet) is the
//! unspecified address (`0.0.0.0`, `::`: a host that has no address yet,
//! DHCP, IGMP and MLD reports), or whose destination is a multicast group
//! (`224.0.0.0/4`, `ff00::/8`: mDNS, SSDP, LLMNR, IGMP, MLD) or the IPv4
//! limited broadcast (`255.255.255.255`: DHCP, discovery beacons) gets no
//! model verdict: it never alerts and never reaches the IPS hook, and is
//! written to every flow output without a verdict. It still enters the
//! connection context and a sequence model's windows like any other flow.
//! `score_all_flows` turns the rule off.
//!
//! A directed subnet broadcast (`192.168.1.255`) cannot be told from a
//! host address without the netmask, which a capture does not carry: such
//! flows are scored.
//!
//! Input: a flow's source and destination. Output: why it is not scored
//! ([`Unscored`]), or nothing; and [`Judged`], a flow's verdict or that
//! reason, as the outputs take it.

use crate::infer::Verdict;
use std::net::{IpAddr, Ipv4Addr};

/// Why a flow is not scored; the first of these that holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscored {
    /// The source is `0.0.0.0` or `::`.
    UnspecifiedSource,
    /// The destination is in `224.0.0.0/4` or `ff00::/8`.
    MulticastDestination,
    /// The destination is `255.255.255.255`.
    BroadcastDestination,
}

impl Unscored {
    /// Every reason, in the order they are tried.
    pub const ALL: [Unscored; 3] = [
        Unscored::UnspecifiedSource,
        Unscored::MulticastDestination,
        Unscored::BroadcastDestination,
    ];

    /// Why a flow from `src` to `dst` is not scored, if it is not.
    pub fn of(src: IpAddr, dst: IpAddr) -> Option<Unscored> {
        if src.is_unspecified() {
            Some(Unscored::UnspecifiedSource)
        } else if dst.is_multicast() {
            Some(Unscored::MulticastDestination)
        } else if dst == IpAddr::V4(Ipv4Addr::BROADCAST) {
            Some(Unscored::BroadcastDestination)
        } else {
            None
        }
    }

    /// Its name in events and counters.
    pub fn label(self) -> &'static str {
        match self {
            Unscored::UnspecifiedSource => "unspecified_source",
            Unscored::MulticastDestination => "multicast_destination",
            Unscored::BroadcastDestination => "broadcast_destination",
        }
    }

    /// Its name for people (the summary).
    pub fn text(self) -> &'static str {
        match self {
            Unscored::UnspecifiedSource => "unspecified source",
            Unscored::MulticastDestination => "multicast destination",
            Unscored::BroadcastDestination => "broadcast destination",
        }
    }
}

/// What the model said about a flow: its verdict with the class
/// probabilities (empty unless the model gives them), or why it was not
/// asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Judged<'a> {
    /// Scored.
    Scored(&'a Verdict, &'a [f32]),
    /// Not scored, for this reason.
    Unscored(Unscored),
}

impl Judged<'_> {
    /// The verdict, when the flow was scored.
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            Judged::Scored(v, _) => Some(v),
            Judged::Unscored(_) => None,
        }
    }

    /// True when the flow was scored and should raise an alert.
    pub fn alerts(&self) -> bool {
        self.verdict().is_some_and(|v| v.alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(src: &str, dst: &str) -> Option<Unscored> {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        Unscored::of(ip(src), ip(dst))
    }

    #[test]
    fn the_address_rule() {
        use Unscored::*;
        let host = "192.168.1.10";
        // The source: unspecified only.
        assert_eq!(of("0.0.0.0", host), Some(UnspecifiedSource));
        assert_eq!(of("::", "2001:db8::1"), Some(UnspecifiedSource));
        assert_eq!(of("0.0.0.1", host), None);
        assert_eq!(of("::1", "::2"), None);
        // The destination: multicast, both ends of 224.0.0.0/4 and ff00::/8.
        assert_eq!(of(host, "224.0.0.0"), Some(MulticastDestination));
        assert_eq!(of(host, "224.0.0.251"), Some(MulticastDestination));
        assert_eq!(of(host, "239.255.255.250"), Some(MulticastDestination));
        assert_eq!(of(host, "239.255.255.255"), Some(MulticastDestination));
        assert_eq!(of("fe80::1", "ff02::1"), Some(MulticastDestination));
        assert_eq!(of("fe80::1", "ff02::fb"), Some(MulticastDestination));
        assert_eq!(of("2001:db8::1", "ff0e::1"), Some(MulticastDestination));
        assert_eq!(of(host, "223.255.255.255"), None);
        assert_eq!(of(host, "240.0.0.1"), None, "class E is not multicast");
        assert_eq!(of("fe80::1", "fe80::2"), None);
        assert_eq!(of("fe80::1", "feff::1"), None);
        // The limited broadcast; a directed broadcast is not known as one.
        assert_eq!(of(host, "255.255.255.255"), Some(BroadcastDestination));
        assert_eq!(of(host, "192.168.1.255"), None);
        assert_eq!(of(host, "255.255.255.254"), None);
        // A multicast or broadcast source, an unspecified destination: scored.
        assert_eq!(of("224.0.0.1", host), None);
        assert_eq!(of("255.255.255.255", host), None);
        assert_eq!(of(host, "0.0.0.0"), None);
        assert_eq!(of("2001:db8::1", "::"), None);
        // Ordinary unicast, IPv4 and IPv6.
        assert_eq!(of(host, "10.0.0.1"), None);
        assert_eq!(of("2001:db8::1", "2001:db8::2"), None);
        // Several reasons: the first that holds.
        assert_eq!(of("0.0.0.0", "224.0.0.22"), Some(UnspecifiedSource));
        assert_eq!(of("0.0.0.0", "255.255.255.255"), Some(UnspecifiedSource));
        assert_eq!(of("::", "ff02::16"), Some(UnspecifiedSource));
    }

    #[test]
    fn judged_alerts_only_when_scored() {
        let v = Verdict {
            label: 1,
            score: 0.9,
            alert: true,
        };
        assert!(Judged::Scored(&v, &[]).alerts());
        let quiet = Verdict { alert: false, ..v };
        assert!(!Judged::Scored(&quiet, &[]).alerts());
        let u = Judged::Unscored(Unscored::MulticastDestination);
        assert!(!u.alerts() && u.verdict().is_none());
        let labels: Vec<_> = Unscored::ALL.iter().map(|u| u.label()).collect();
        assert_eq!(
            labels,
            [
                "unspecified_source",
                "multicast_destination",
                "broadcast_destination"
            ]
        );
    }
}
