//! CIDR networks: [`Cidr`], its parsing from `ADDRESS/PREFIX` or a bare
//! address, and whether it contains an address (IPv4-mapped IPv6 addresses
//! count as IPv4). Used by the IPS allow-list (`--ips-allow`), the suppress
//! rules' `ip` and the attacker ranges of a labels file.
//!
//! Invariant: a [`Cidr`]'s address has its host bits zero, so two spellings
//! of one network are equal and display alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: an address and a prefix length, with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network's address (its host bits zero).
    pub fn network(&self) -> IpAddr {
        self.net
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. An IPv4 network contains no IPv6
    /// address except IPv4-mapped ones (`::ffff:a.b.c.d`); an IPv6 network
    /// contains no IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => net == mask_v4(ip, self.prefix),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| net == mask_v4(ip, self.prefix)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => net == mask_v6(ip, self.prefix),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let shift = 32u32.saturating_sub(u32::from(prefix));
    Ipv4Addr::from(u32::from(ip) & u32::MAX.checked_shl(shift).unwrap_or(0))
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let shift = 128u32.saturating_sub(u32::from(prefix));
    Ipv6Addr::from(u128::from(ip) & u128::MAX.checked_shl(shift).unwrap_or(0))
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `ADDRESS/PREFIX` or a bare address (a /32 or /128); host bits
    /// set in the address are cleared. The error names the text and why.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("bad CIDR `{s}`: `{addr_text}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| {
                format!("bad CIDR `{s}`: prefix length `{p}` is not a number from 0 to {max}")
            })?,
        };
        let net = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(a, prefix)),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(a, prefix)),
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_masks_and_displays() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!(
            "192.168.1.7".parse::<Cidr>().unwrap().to_string(),
            "192.168.1.7/32"
        );
        assert_eq!(
            "2001:db8::1".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert_eq!(
            "2001:db8:ff::/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
    }

    #[test]
    fn cidr_parse_errors_name_the_text_and_why() {
        for (text, why) in [
            ("10.0.0.0/33", "prefix length `33`"),
            ("2001:db8::/129", "prefix length `129`"),
            ("10.0.0.0/x", "prefix length `x`"),
            ("10.0.0.0/", "prefix length ``"),
            ("banana", "`banana` is not an IP address"),
            ("/8", "`` is not an IP address"),
        ] {
            let msg = text.parse::<Cidr>().unwrap_err().to_string();
            assert!(msg.contains(&format!("`{text}`")), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
    }

    #[test]
    fn cidr_contains_v4_v6_and_mapped() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(v4.contains(ip("10.255.0.1")));
        assert!(!v4.contains(ip("11.0.0.1")));
        assert!(v4.contains(ip("::ffff:10.0.0.1")));
        assert!(!v4.contains(ip("::a00:1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("2001:db8::1")));
        assert!("1.2.3.4".parse::<Cidr>().unwrap().contains(ip("1.2.3.4")));
    }
}
