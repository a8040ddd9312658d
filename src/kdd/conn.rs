//! One connection's own KDD features, kept packet by packet: the two TCP
//! endpoints' states (for `flag`), payload bytes each way, `urgent`,
//! `wrong_fragment` and `logged_in`.
//!
//! Input: the flow stage's packets, each with its direction (from the
//! originator, the first packet's sender, or not). Output: a [`Conn`] the
//! flow carries to its end, and [`Conn::fill`], which writes the record's
//! columns (1–22) into a [`KddRow`].

use super::columns::{KddCol, KddRow};
use super::vocab::{
    icmp6_service, icmp_service, service_index, tcp_service, udp_service, EndpointState, Flag,
};
use crate::decode::{Addr, PacketMeta, TcpFlags};

/// The transport of a connection, as NSL-KDD names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (IPv4) or ICMPv6.
    Icmp,
}

impl Transport {
    /// The transport of IP protocol `proto`; `None` for any other protocol,
    /// which has no KDD record.
    pub fn of(proto: u8) -> Option<Transport> {
        match proto {
            6 => Some(Transport::Tcp),
            17 => Some(Transport::Udp),
            1 | 58 => Some(Transport::Icmp),
            _ => None,
        }
    }
}

/// A connection's own state, updated per packet (about 40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    orig: EndpointState,
    resp: EndpointState,
    src_bytes: u64,
    dst_bytes: u64,
    urgent: u32,
    /// The first packet's ICMP type and code.
    icmp: Option<(u8, u8)>,
    wrong_fragment: u8,
    logged_in: bool,
    answered: bool,
}

impl Default for Conn {
    fn default() -> Self {
        Self {
            orig: EndpointState::Inactive,
            resp: EndpointState::Inactive,
            src_bytes: 0,
            dst_bytes: 0,
            urgent: 0,
            icmp: None,
            wrong_fragment: 0,
            logged_in: false,
            answered: false,
        }
    }
}

/// Moves one TCP endpoint's state for a packet it sent.
fn step(me: &mut EndpointState, peer: &mut EndpointState, f: TcpFlags, data: bool) {
    use EndpointState::*;
    if f.has(TcpFlags::RST) {
        *me = Reset;
        return;
    }
    if matches!(*me, Reset | Closed) {
        return;
    }
    if f.has(TcpFlags::FIN) {
        *me = Closed;
        return;
    }
    let ack = f.has(TcpFlags::ACK);
    if f.has(TcpFlags::SYN) {
        if *me == Inactive {
            *me = if ack { SynAckSent } else { SynSent };
        }
        return;
    }
    match (*me, *peer) {
        // The originator's ACK of a SYN-ACK completes the handshake.
        (SynSent, SynAckSent) if ack => {
            *me = Established;
            *peer = Established;
        }
        // The responder's ACK or data after its SYN-ACK (the originator's
        // ACK was not seen).
        (SynAckSent, SynSent | Established) if ack || data => *me = Established,
        // The originator's ACK after the responder already sent (its own
        // ACK of the SYN-ACK was not seen first).
        (SynSent, Established) if ack => *me = Established,
        (Inactive, _) if ack || data => *me = Partial,
        _ => {}
    }
}

impl Conn {
    /// Adds a packet; `forward` is true when the originator sent it.
    #[inline]
    pub fn add(&mut self, p: &PacketMeta, forward: bool) {
        if self.icmp.is_none() {
            self.icmp = p.icmp;
        }
        let bytes = u64::from(p.payload_len);
        if forward {
            self.src_bytes += bytes;
        } else {
            self.dst_bytes += bytes;
            self.answered = true;
        }
        self.wrong_fragment = self.wrong_fragment.max(p.wrong_fragment);
        if p.proto != 6 {
            return;
        }
        if p.flags.has(TcpFlags::URG) {
            self.urgent += 1;
        }
        if !forward && p.app_ok {
            self.logged_in = true;
        }
        let data = p.payload_len > 0;
        if forward {
            step(&mut self.orig, &mut self.resp, p.flags, data);
        } else {
            step(&mut self.resp, &mut self.orig, p.flags, data);
        }
    }

    /// The type and code of the connection's first ICMP or ICMPv6 message
    /// (`None` for other protocols, or when no ICMP header was seen).
    pub fn icmp(&self) -> Option<(u8, u8)> {
        self.icmp
    }

    /// True once the responder sent anything.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// The connection's `flag`: Bro's rules for TCP, SF for the others.
    pub fn flag(&self, t: Transport) -> Flag {
        match t {
            Transport::Tcp => Flag::of(self.orig, self.resp, self.src_bytes + self.dst_bytes > 0),
            Transport::Udp | Transport::Icmp => Flag::Sf,
        }
    }

    /// The connection's `service` (an index into the vocabulary).
    pub fn service(&self, t: Transport, v6: bool, src_port: u16, dst_port: u16) -> u8 {
        let name = match (t, self.icmp) {
            (Transport::Tcp, _) => tcp_service(src_port, dst_port),
            (Transport::Udp, _) => udp_service(dst_port),
            (Transport::Icmp, Some((ty, code))) if v6 => icmp6_service(ty, code),
            (Transport::Icmp, Some((ty, code))) => icmp_service(ty, code),
            // A later fragment whose datagram's first fragment was not seen.
            (Transport::Icmp, None) => "other",
        };
        service_index(name)
    }

    /// Writes the record's own columns (`duration` .. `is_guest_login`)
    /// into `row`; the content columns nothing computes stay 0.
    pub fn fill(&self, id: &ConnId, row: &mut KddRow) {
        let flag = id.flag;
        // Bro sizes a TCP connection from its sequence numbers, which it only
        // follows once a handshake is seen: attempts, rejections, half-open
        // and mid-stream connections are 0/0 in every NSL-KDD row.
        let sized = id.transport != Transport::Tcp
            || !matches!(flag, Flag::S0 | Flag::Rej | Flag::Sh | Flag::Oth);
        let (src_bytes, dst_bytes) = if sized {
            (self.src_bytes, self.dst_bytes)
        } else {
            (0, 0)
        };
        let duration = id.last_us.saturating_sub(id.start_us).max(0) / 1_000_000;
        let land = id.src == id.dst && id.src_port == id.dst_port;
        row.set(KddCol::Duration, duration as f64);
        row.set(KddCol::ProtocolType, f64::from(id.transport as u8));
        row.set(KddCol::Service, f64::from(id.service));
        row.set(KddCol::Flag, f64::from(flag as u8));
        row.set(KddCol::SrcBytes, src_bytes as f64);
        row.set(KddCol::DstBytes, dst_bytes as f64);
        row.set(KddCol::Land, f64::from(u8::from(land)));
        row.set(KddCol::WrongFragment, f64::from(self.wrong_fragment));
        row.set(KddCol::Urgent, f64::from(self.urgent));
        row.set(KddCol::LoggedIn, f64::from(u8::from(self.logged_in)));
    }
}

/// Who a connection was between and when: what the windows compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnId {
    /// TCP, UDP or ICMP.
    pub transport: Transport,
    /// The originator.
    pub src: Addr,
    /// The responder.
    pub dst: Addr,
    /// The originator's port (0 for ICMP).
    pub src_port: u16,
    /// The responder's port (0 for ICMP).
    pub dst_port: u16,
    /// The service, an index into the vocabulary.
    pub service: u8,
    /// The flag.
    pub flag: Flag,
    /// First packet, µs.
    pub start_us: i64,
    /// Last packet, µs.
    pub last_us: i64,
}

impl ConnId {
    /// The identity of a connection of IP protocol `proto` between `src`
    /// (the originator) and `dst`; `None` for a protocol other than TCP,
    /// UDP and ICMP, which has no KDD record.
    pub fn new(
        conn: &Conn,
        proto: u8,
        (src, src_port): (Addr, u16),
        (dst, dst_port): (Addr, u16),
        start_us: i64,
        last_us: i64,
    ) -> Option<ConnId> {
        let transport = Transport::of(proto)?;
        Some(ConnId {
            transport,
            src,
            dst,
            src_port,
            dst_port,
            service: conn.service(transport, src.is_v6(), src_port, dst_port),
            flag: conn.flag(transport),
            start_us,
            last_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(flags: u8, payload: u32) -> PacketMeta {
        PacketMeta {
            proto: 6,
            flags: TcpFlags(flags),
            payload_len: payload,
            ..PacketMeta::default()
        }
    }

    const S: u8 = TcpFlags::SYN;
    const A: u8 = TcpFlags::ACK;
    const F: u8 = TcpFlags::FIN;
    const R: u8 = TcpFlags::RST;

    fn flag_of(packets: &[(bool, u8, u32)]) -> Flag {
        let mut c = Conn::default();
        for &(fwd, flags, len) in packets {
            c.add(&tcp(flags, len), fwd);
        }
        c.flag(Transport::Tcp)
    }

    #[test]
    fn worked_examples_for_every_flag() {
        // SF: handshake, data, FINs both ways.
        let sf = [
            (true, S, 0),
            (false, S | A, 0),
            (true, A, 0),
            (true, A, 10),
            (false, A, 20),
            (true, F | A, 0),
            (false, F | A, 0),
            (true, A, 0),
        ];
        assert_eq!(flag_of(&sf), Flag::Sf);
        // S0: a SYN nobody answers (a SYN flood, or a filtered port).
        assert_eq!(flag_of(&[(true, S, 0), (true, S, 0)]), Flag::S0);
        // REJ: a SYN to a closed port, answered by RST-ACK.
        assert_eq!(flag_of(&[(true, S, 0), (false, R | A, 0)]), Flag::Rej);
        // RSTOS0: a SYN, then the originator's own RST, no answer.
        assert_eq!(flag_of(&[(true, S, 0), (true, R, 0)]), Flag::Rstos0);
        // SH: a SYN then a FIN, no answer.
        assert_eq!(flag_of(&[(true, S, 0), (true, F, 0)]), Flag::Sh);
        // S1: established, never closed.
        let s1 = [(true, S, 0), (false, S | A, 0), (true, A, 0), (true, A, 5)];
        assert_eq!(flag_of(&s1), Flag::S1);
        // S2 and S3: established, closed by one side.
        let mut s2 = s1.to_vec();
        s2.push((true, F | A, 0));
        assert_eq!(flag_of(&s2), Flag::S2);
        let mut s3 = s1.to_vec();
        s3.push((false, F | A, 0));
        assert_eq!(flag_of(&s3), Flag::S3);
        // RSTO and RSTR: established with data, then a reset.
        let mut rsto = s1.to_vec();
        rsto.push((true, R, 0));
        assert_eq!(flag_of(&rsto), Flag::Rsto);
        let mut rstr = s1.to_vec();
        rstr.push((false, R, 0));
        assert_eq!(flag_of(&rstr), Flag::Rstr);
        // The responder's banner before the originator's ACK: still S1.
        let banner = [
            (true, S, 0),
            (false, S | A, 0),
            (false, A, 50),
            (true, A, 0),
        ];
        assert_eq!(flag_of(&banner), Flag::S1);
        // OTH: mid-stream traffic with no handshake seen.
        assert_eq!(flag_of(&[(true, A, 100), (false, A, 0)]), Flag::Oth);
    }

    #[test]
    fn urgent_logged_in_and_sizes() {
        let mut c = Conn::default();
        c.add(&tcp(S, 0), true);
        c.add(&tcp(S | A, 0), false);
        c.add(&tcp(A | TcpFlags::URG, 3), true);
        let mut reply = tcp(A, 40);
        reply.app_ok = true;
        c.add(&reply, false);
        let id = ConnId {
            transport: Transport::Tcp,
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([10, 0, 0, 2]),
            src_port: 40000,
            dst_port: 80,
            service: c.service(Transport::Tcp, false, 40000, 80),
            flag: c.flag(Transport::Tcp),
            start_us: 0,
            last_us: 2_500_000,
        };
        let mut row = KddRow::default();
        c.fill(&id, &mut row);
        assert_eq!(row.text(KddCol::Service), Some("http"));
        assert_eq!(row.text(KddCol::Flag), Some("S1"));
        assert_eq!(row.get(KddCol::Urgent), 1.0);
        assert_eq!(row.get(KddCol::LoggedIn), 1.0);
        assert_eq!(row.get(KddCol::SrcBytes), 3.0);
        assert_eq!(row.get(KddCol::DstBytes), 40.0);
        assert_eq!(row.get(KddCol::Duration), 2.0);
        // An unanswered SYN carrying data still reports 0 bytes.
        let mut s0 = Conn::default();
        s0.add(&tcp(S, 120), true);
        let mut row = KddRow::default();
        let flag = s0.flag(Transport::Tcp);
        assert_eq!(flag, Flag::S0);
        s0.fill(&ConnId { flag, ..id }, &mut row);
        assert_eq!(row.get(KddCol::SrcBytes), 0.0);
    }
}
