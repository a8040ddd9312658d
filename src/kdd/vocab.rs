//! NSL-KDD's categorical vocabulary: a TCP connection's `flag` from the two
//! endpoints' states (Bro's connection-state rules), and the `service` of a
//! TCP, UDP or ICMP connection. Every value is one NSL-KDD's `header.arff`
//! knows, since a model's one-hot encoder has never seen anything else.
//!
//! Input: endpoint states, ports, ICMP type and code. Output: `&'static str`
//! names of the vocabulary. This is the first piece of the `kdd` profile;
//! the connection records and their windows will build on it.
//!
//! Decisions where KDD.md leaves the data open:
//! - `mtp` is TCP port 57 (its IANA and /etc/services port). `pm_dump` and
//!   `harvest` have no known port and are never produced: those connections
//!   are `private` or `other` like any unnamed port.
//! - Unnamed ports are `private` below 1024 and `other` from 1024 up (the
//!   data, not the tools' 49152).
//! - ICMP types and codes without an NSL name (everything but echo reply,
//!   echo request, redirect, time exceeded, host and port unreachable) are
//!   `other`, the vocabulary's catch-all.

/// A TCP endpoint's state, as Bro tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    /// Nothing seen from it.
    Inactive,
    /// It sent a SYN.
    SynSent,
    /// It answered a SYN with a SYN-ACK.
    SynAckSent,
    /// It sent data or ACKs without a SYN seen.
    Partial,
    /// Its handshake completed.
    Established,
    /// It sent a FIN.
    Closed,
    /// It sent a RST.
    Reset,
}

/// NSL-KDD's `flag` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Anything else (including Bro's RSTRH and SHR, which NSL-KDD lacks).
    Oth,
    /// Connection attempt rejected.
    Rej,
    /// Established, then the originator reset.
    Rsto,
    /// The originator sent a SYN then a RST; no answer.
    Rstos0,
    /// Established, then the responder reset.
    Rstr,
    /// A SYN with no answer.
    S0,
    /// Established, not closed.
    S1,
    /// Established, closed by the originator only.
    S2,
    /// Established, closed by the responder only.
    S3,
    /// Normal establishment and termination (also every UDP and ICMP record).
    Sf,
    /// The originator sent a SYN then a FIN; no answer.
    Sh,
}

impl Flag {
    /// Every value, in `header.arff` order.
    pub const ALL: [Flag; 11] = [
        Flag::Oth,
        Flag::Rej,
        Flag::Rsto,
        Flag::Rstos0,
        Flag::Rstr,
        Flag::S0,
        Flag::S1,
        Flag::S2,
        Flag::S3,
        Flag::Sf,
        Flag::Sh,
    ];

    /// The NSL-KDD spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Flag::Oth => "OTH",
            Flag::Rej => "REJ",
            Flag::Rsto => "RSTO",
            Flag::Rstos0 => "RSTOS0",
            Flag::Rstr => "RSTR",
            Flag::S0 => "S0",
            Flag::S1 => "S1",
            Flag::S2 => "S2",
            Flag::S3 => "S3",
            Flag::Sf => "SF",
            Flag::Sh => "SH",
        }
    }

    /// A TCP connection's flag from its originator's and responder's
    /// states, by Bro's rules tried in order; `bytes` is true when any
    /// payload went either way.
    pub fn of(orig: EndpointState, resp: EndpointState, bytes: bool) -> Flag {
        use EndpointState::*;
        let opening = matches!(orig, SynSent | SynAckSent);
        if resp == Reset {
            return if opening || (orig == Reset && !bytes) {
                Flag::Rej
            } else if orig == Inactive {
                Flag::Oth // RSTRH
            } else {
                Flag::Rstr
            };
        }
        if orig == Reset {
            return if resp == Inactive {
                Flag::Rstos0
            } else {
                Flag::Rsto
            };
        }
        match (orig, resp) {
            (Closed, Closed) => Flag::Sf,
            (Closed, Inactive) => Flag::Sh,
            (Closed, _) => Flag::S2,
            (Inactive, Closed) => Flag::Oth, // SHR
            (_, Closed) => Flag::S3,
            (SynSent, Inactive) => Flag::S0,
            (Established, Established) => Flag::S1,
            _ => Flag::Oth,
        }
    }
}

/// TCP ports with an NSL-KDD service name (source port 20 is also
/// `ftp_data`).
const TCP_PORTS: &[(u16, u16, &str)] = &[
    (5, 5, "rje"),
    (7, 7, "echo"),
    (9, 9, "discard"),
    (11, 11, "systat"),
    (13, 13, "daytime"),
    (15, 15, "netstat"),
    (20, 20, "ftp_data"),
    (21, 21, "ftp"),
    (22, 22, "ssh"),
    (23, 23, "telnet"),
    (25, 25, "smtp"),
    (37, 37, "time"),
    (42, 42, "name"),
    (43, 43, "whois"),
    (53, 53, "domain"),
    (57, 57, "mtp"),
    (66, 66, "sql_net"),
    (70, 70, "gopher"),
    (71, 74, "remote_job"),
    (77, 77, "rje"),
    (79, 79, "finger"),
    (80, 80, "http"),
    (84, 84, "ctf"),
    (95, 95, "supdup"),
    (101, 101, "hostnames"),
    (102, 102, "iso_tsap"),
    (105, 105, "csnet_ns"),
    (109, 109, "pop_2"),
    (110, 110, "pop_3"),
    (111, 111, "sunrpc"),
    (113, 113, "auth"),
    (117, 117, "uucp_path"),
    (119, 119, "nntp"),
    (137, 137, "netbios_ns"),
    (138, 138, "netbios_dgm"),
    (139, 139, "netbios_ssn"),
    (143, 143, "imap4"),
    (150, 150, "sql_net"),
    (175, 175, "vmnet"),
    (179, 179, "bgp"),
    (194, 194, "IRC"),
    (210, 210, "Z39_50"),
    (245, 245, "link"),
    (389, 389, "ldap"),
    (433, 433, "nnsp"),
    (443, 443, "http_443"),
    (512, 512, "exec"),
    (513, 513, "login"),
    (514, 514, "shell"),
    (515, 515, "printer"),
    (520, 520, "efs"),
    (530, 530, "courier"),
    (540, 540, "uucp"),
    (543, 543, "klogin"),
    (544, 544, "kshell"),
    (2784, 2784, "http_2784"),
    (5190, 5190, "aol"),
    (6000, 6063, "X11"),
    (6665, 6669, "IRC"),
    (8001, 8001, "http_8001"),
];

/// `protocol_type` values, in `header.arff` order.
pub const PROTOCOLS: [&str; 3] = ["tcp", "udp", "icmp"];

/// `service` values, in `header.arff` order.
pub const SERVICES: [&str; 70] = [
    "aol",
    "auth",
    "bgp",
    "courier",
    "csnet_ns",
    "ctf",
    "daytime",
    "discard",
    "domain",
    "domain_u",
    "echo",
    "eco_i",
    "ecr_i",
    "efs",
    "exec",
    "finger",
    "ftp",
    "ftp_data",
    "gopher",
    "harvest",
    "hostnames",
    "http",
    "http_2784",
    "http_443",
    "http_8001",
    "imap4",
    "IRC",
    "iso_tsap",
    "klogin",
    "kshell",
    "ldap",
    "link",
    "login",
    "mtp",
    "name",
    "netbios_dgm",
    "netbios_ns",
    "netbios_ssn",
    "netstat",
    "nnsp",
    "nntp",
    "ntp_u",
    "other",
    "pm_dump",
    "pop_2",
    "pop_3",
    "printer",
    "private",
    "red_i",
    "remote_job",
    "rje",
    "shell",
    "smtp",
    "sql_net",
    "ssh",
    "sunrpc",
    "supdup",
    "systat",
    "telnet",
    "tftp_u",
    "tim_i",
    "time",
    "urh_i",
    "urp_i",
    "uucp",
    "uucp_path",
    "vmnet",
    "whois",
    "X11",
    "Z39_50",
];

/// The index of a service name in [`SERVICES`] (that of `other` for a
/// name it lacks, which the service functions never return).
pub fn service_index(name: &str) -> u8 {
    let i = SERVICES.iter().position(|&s| s == name);
    i.or_else(|| SERVICES.iter().position(|&s| s == "other"))
        .map_or(0, |i| i as u8)
}

/// `private` below port 1024, `other` from 1024 up.
fn unnamed(port: u16) -> &'static str {
    if port < 1024 {
        "private"
    } else {
        "other"
    }
}

/// The service of a TCP connection.
pub fn tcp_service(src_port: u16, dst_port: u16) -> &'static str {
    let named = |p: u16| {
        TCP_PORTS
            .iter()
            .find(|&&(lo, hi, _)| (lo..=hi).contains(&p))
            .map(|&(_, _, name)| name)
    };
    named(dst_port)
        .or_else(|| (src_port == 20).then_some("ftp_data"))
        .unwrap_or_else(|| unnamed(dst_port))
}

/// The service of a UDP connection.
pub fn udp_service(dst_port: u16) -> &'static str {
    match dst_port {
        53 => "domain_u",
        69 => "tftp_u",
        123 => "ntp_u",
        p => unnamed(p),
    }
}

/// The service of an ICMP record, by type and code.
pub fn icmp_service(icmp_type: u8, code: u8) -> &'static str {
    match (icmp_type, code) {
        (0, _) => "ecr_i",
        (8, _) => "eco_i",
        (5, _) => "red_i",
        (11, _) => "tim_i",
        (3, 1) => "urh_i",
        (3, 3) => "urp_i",
        _ => "other",
    }
}

/// The service of an ICMPv6 record: the ICMPv4 name of the same message
/// (echo request 128 and reply 129, redirect 137, time exceeded 3, address
/// and port unreachable 1/3 and 1/4), `other` for the rest.
pub fn icmp6_service(icmp_type: u8, code: u8) -> &'static str {
    match (icmp_type, code) {
        (129, _) => "ecr_i",
        (128, _) => "eco_i",
        (137, _) => "red_i",
        (3, _) => "tim_i",
        (1, 3) => "urh_i",
        (1, 4) => "urp_i",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::EndpointState::*;
    use super::*;

    #[test]
    fn flags_follow_the_rules_in_order() {
        // A SYN to a closed port answered by a RST.
        assert_eq!(Flag::of(SynSent, Reset, false), Flag::Rej);
        // A SYN never answered.
        assert_eq!(Flag::of(SynSent, Inactive, false), Flag::S0);
        // A SYN, then the originator's own RST, no answer.
        assert_eq!(Flag::of(Reset, Inactive, false), Flag::Rstos0);
        // A SYN, then a FIN, no answer.
        assert_eq!(Flag::of(Closed, Inactive, false), Flag::Sh);
        assert_eq!(Flag::of(Closed, Closed, true), Flag::Sf);
        assert_eq!(Flag::of(Established, Established, true), Flag::S1);
        assert_eq!(Flag::of(Closed, Established, true), Flag::S2);
        assert_eq!(Flag::of(Established, Closed, true), Flag::S3);
        assert_eq!(Flag::of(Reset, Established, true), Flag::Rsto);
        assert_eq!(Flag::of(Established, Reset, true), Flag::Rstr);
        // Resets from both ends with no bytes either way are a rejection too;
        // an established connection the responder resets is RSTR.
        assert_eq!(Flag::of(Reset, Reset, false), Flag::Rej);
        assert_eq!(Flag::of(Established, Reset, false), Flag::Rstr);
        // Bro's RSTRH and SHR, which NSL-KDD lacks.
        assert_eq!(Flag::of(Inactive, Reset, true), Flag::Oth);
        assert_eq!(Flag::of(Inactive, Closed, true), Flag::Oth);
        assert_eq!(Flag::of(Partial, Partial, true), Flag::Oth);
    }

    #[test]
    fn services_by_port_and_icmp_type() {
        assert_eq!(tcp_service(40000, 80), "http");
        assert_eq!(tcp_service(20, 40000), "ftp_data");
        assert_eq!(tcp_service(40000, 72), "remote_job");
        assert_eq!(tcp_service(40000, 6010), "X11");
        assert_eq!(tcp_service(40000, 6667), "IRC");
        assert_eq!(tcp_service(40000, 1023), "private");
        assert_eq!(tcp_service(40000, 1024), "other");
        assert_eq!(udp_service(53), "domain_u");
        assert_eq!(udp_service(161), "private");
        assert_eq!(udp_service(5353), "other");
        assert_eq!(icmp_service(8, 0), "eco_i");
        assert_eq!(icmp_service(0, 0), "ecr_i");
        assert_eq!(icmp_service(3, 3), "urp_i");
        assert_eq!(icmp_service(3, 1), "urh_i");
        assert_eq!(icmp_service(3, 0), "other");
        assert_eq!(icmp_service(11, 0), "tim_i");
        assert_eq!(icmp_service(5, 1), "red_i");
    }
}
