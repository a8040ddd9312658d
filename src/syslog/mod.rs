//! Syslog output for alerts: owns the wire format (RFC 5424 or RFC 3164), the
//! socket to the syslog server (unix datagram, UDP or TCP), and its reconnects.
//!
//! Input: one alert at a time as a [`Severity`] and its EVE JSON line (one line,
//! no newline). Output: one syslog message per alert on the socket, plus the
//! [`SyslogStats`] counters (`sent`, `failed`, `reconnects`).
//!
//! Every message has facility `local0`, APP-NAME `flowsentinel`, this process's
//! PID and the system host name (from `gethostname`, through the `syslog`
//! crate). The alert JSON is the MSG, unchanged.
//!
//! * RFC 5424: `<PRI>1 TIMESTAMP HOST flowsentinel PID alert - JSON`, with a UTC
//!   timestamp in microseconds, MSGID `alert` and no structured data. This
//!   header is written here because the `syslog` crate's `Formatter5424` takes
//!   its MSGID as a `u32`.
//! * RFC 3164: `<PRI>Mmm dd hh:mm:ss HOST flowsentinel[PID]: JSON`, written by
//!   the crate's `Formatter3164`; its timestamp is UTC without a zone (and the
//!   day is zero-padded, which rsyslog accepts).
//! * Over TCP each message is octet-counted (RFC 6587: `LEN SP MSG`), which
//!   rsyslog's imtcp accepts by default. Over UDP and unix datagram sockets a
//!   message is one datagram.
//!
//! Invariants:
//! * [`SyslogSink::send`] never panics and never stalls the caller: a connect
//!   waits at most [`CONNECT_TIMEOUT`] (in all, over every address a name
//!   resolves to), a write at most [`WRITE_TIMEOUT`], so one send returns within
//!   about 400 ms at worst. A new connection is tried at most once per
//!   [`RETRY_INTERVAL`]; while the server is down, messages sent before the next
//!   try is due fail at once. Nothing is queued: a message that cannot be
//!   written now is counted in `failed` and dropped, so memory stays bounded
//!   (two reused buffers).
//! * A connection that fails (refused, reset, broken pipe, closed by the peer,
//!   timed out) is dropped. A TCP connection is checked for a close by the
//!   server before each write, so the first alert after a server restart is not
//!   written into the dead connection. When the server went away (refused,
//!   reset, closed) and a try is due, the sink reconnects at once and writes
//!   the same message on the new connection; after a timeout it waits a full
//!   interval. Each successful connection after the first counts in
//!   `reconnects`.
//! * Limitations: UDP gives no delivery report, so a message sent to a closed
//!   UDP port (or lost on the way) counts as `sent`; Linux may report the port
//!   as refused on a later send, which then counts as `failed`. Host names in
//!   `udp:`/`tcp:` targets are resolved at each connection attempt and that
//!   lookup is not bounded by the timeouts: give an IP address where that
//!   matters. The unix target must be a datagram socket (as rsyslog's imuxsock
//!   and journald's `/dev/log` are). rsyslog truncates messages longer than its
//!   `maxMessageSize` (8 KiB by default).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::syslog::{Facility, Formatter3164, LogFormat};

use crate::text::UtcTime;

/// The APP-NAME (RFC 5424) and TAG (RFC 3164) of every message.
pub const APP_NAME: &str = "flowsentinel";
/// The RFC 5424 MSGID of every alert.
pub const MSGID: &str = "alert";
/// The longest a connection attempt may wait.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// The longest one message's write may wait.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
/// The shortest time between two connection attempts while the server is down.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Facility `local0` (16), shifted into place for the PRI value.
const FACILITY_LOCAL0: u8 = 16 << 3;
/// RFC 5424 allows host names of up to 255 characters.
const MAX_HOSTNAME: usize = 255;
const TARGET_FORMS: &str = "expected unix:PATH, udp:HOST:PORT or tcp:HOST:PORT (IPv6 as [::1]:514)";

/// Where syslog messages go, as given on the command line or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A local unix datagram socket, e.g. `unix:/dev/log`.
    Unix(PathBuf),
    /// A syslog server over UDP, `host:port`, e.g. `udp:10.0.0.1:514`.
    Udp(String),
    /// A syslog server over TCP, `host:port`, e.g. `tcp:[::1]:514`.
    Tcp(String),
}

impl FromStr for SyslogTarget {
    type Err = SyslogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| SyslogError::BadTarget(format!("{s:?}: {why}; {TARGET_FORMS}"));
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(bad("no scheme"));
        };
        match scheme {
            "unix" if rest.is_empty() => Err(bad("empty path")),
            "unix" => Ok(SyslogTarget::Unix(PathBuf::from(rest))),
            "udp" | "tcp" => {
                check_host_port(rest).map_err(bad)?;
                let addr = rest.to_string();
                Ok(if scheme == "udp" {
                    SyslogTarget::Udp(addr)
                } else {
                    SyslogTarget::Tcp(addr)
                })
            }
            _ => Err(bad("unknown scheme")),
        }
    }
}

/// Checks `HOST:PORT`, where an IPv6 HOST is in brackets.
fn check_host_port(s: &str) -> Result<(), &'static str> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err("missing port");
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err("port must be a number from 1 to 65535"),
        Ok(_) => {}
    }
    if host.is_empty() {
        return Err("missing host");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        return if ok { Ok(()) } else { Err("bad IPv6 address") };
    }
    if host.contains(':') {
        return Err("an IPv6 address needs brackets");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err("bad host name");
    }
    Ok(())
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogTarget::Unix(p) => write!(f, "unix:{}", p.display()),
            SyslogTarget::Udp(a) => write!(f, "udp:{a}"),
            SyslogTarget::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// The syslog message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// RFC 5424 (`5424` or `rfc5424`): full timestamp, MSGID `alert`.
    Rfc5424,
    /// RFC 3164, the BSD format (`3164` or `rfc3164`).
    Rfc3164,
}

impl FromStr for SyslogFormat {
    type Err = SyslogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "5424" | "rfc5424" => Ok(SyslogFormat::Rfc5424),
            "3164" | "rfc3164" => Ok(SyslogFormat::Rfc3164),
            _ => Err(SyslogError::BadFormat(format!(
                "{s:?}: expected 5424, rfc5424, 3164 or rfc3164"
            ))),
        }
    }
}

impl fmt::Display for SyslogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyslogFormat::Rfc5424 => "rfc5424",
            SyslogFormat::Rfc3164 => "rfc3164",
        })
    }
}

/// A bad syslog option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogError {
    /// The target string was refused; the text quotes it and lists the forms.
    BadTarget(String),
    /// The format string was refused; the text quotes it and lists the forms.
    BadFormat(String),
}

impl fmt::Display for SyslogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogError::BadTarget(m) => write!(f, "bad syslog target {m}"),
            SyslogError::BadFormat(m) => write!(f, "bad syslog format {m}"),
        }
    }
}

impl std::error::Error for SyslogError {}

/// Syslog severities (RFC 5424 section 6.2.1), most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 0: system is unusable.
    Emergency,
    /// 1: action must be taken immediately.
    Alert,
    /// 2: critical conditions.
    Critical,
    /// 3: error conditions.
    Error,
    /// 4: warning conditions; the default for alerts.
    Warning,
    /// 5: normal but significant condition.
    Notice,
    /// 6: informational messages.
    Informational,
    /// 7: debug-level messages.
    Debug,
}

impl Severity {
    /// The numeric code, 0 (emergency) to 7 (debug).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The syslog severity of an alert's: high → critical, medium →
    /// error, low → warning.
    pub fn of_alert(severity: crate::alert::Severity) -> Severity {
        match severity {
            crate::alert::Severity::High => Severity::Critical,
            crate::alert::Severity::Medium => Severity::Error,
            crate::alert::Severity::Low => Severity::Warning,
        }
    }

    fn to_crate(self) -> ::syslog::Severity {
        match self {
            Severity::Emergency => ::syslog::Severity::LOG_EMERG,
            Severity::Alert => ::syslog::Severity::LOG_ALERT,
            Severity::Critical => ::syslog::Severity::LOG_CRIT,
            Severity::Error => ::syslog::Severity::LOG_ERR,
            Severity::Warning => ::syslog::Severity::LOG_WARNING,
            Severity::Notice => ::syslog::Severity::LOG_NOTICE,
            Severity::Informational => ::syslog::Severity::LOG_INFO,
            Severity::Debug => ::syslog::Severity::LOG_DEBUG,
        }
    }
}

/// What a [`SyslogSink`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyslogStats {
    /// Messages written to the socket (for UDP: handed to the kernel).
    pub sent: u64,
    /// Messages not delivered: no connection, refused, timed out or broken.
    pub failed: u64,
    /// Successful connections after the first one.
    pub reconnects: u64,
}

/// One open socket to the syslog server.
#[derive(Debug)]
enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn open(target: &SyslogTarget) -> io::Result<Conn> {
        match target {
            SyslogTarget::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.connect(path)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Conn::Unix(s))
            }
            SyslogTarget::Udp(addr) => {
                let mut last = not_resolved(addr);
                for a in addr.to_socket_addrs()? {
                    let local = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                    match UdpSocket::bind(local).and_then(|s| s.connect(a).map(|()| s)) {
                        Ok(s) => {
                            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                            return Ok(Conn::Udp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            SyslogTarget::Tcp(addr) => {
                let mut last = not_resolved(addr);
                // One budget for all the addresses a name resolves to.
                let deadline = Instant::now() + CONNECT_TIMEOUT;
                for a in addr.to_socket_addrs()? {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match TcpStream::connect_timeout(&a, left) {
                        Ok(s) => {
                            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                            s.set_nodelay(true)?;
                            return Ok(Conn::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// Whether the server has closed a TCP connection (rsyslog never sends, so
    /// anything readable means end of stream or an error). Checked before each
    /// write, so that the message after a server restart is not written into a
    /// dead connection and lost.
    fn closed_by_peer(&self) -> bool {
        let Conn::Tcp(s) = self else {
            return false;
        };
        if s.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match s.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        closed || s.set_nonblocking(false).is_err()
    }

    /// Writes one framed message.
    fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        let n = match self {
            Conn::Unix(s) => s.send(frame)?,
            Conn::Udp(s) => s.send(frame)?,
            Conn::Tcp(s) => return s.write_all(frame),
        };
        if n == frame.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram truncated",
            ))
        }
    }
}

fn not_resolved(addr: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{addr} resolves to no address"),
    )
}

/// Whether a failed connection is worth one immediate new try: the server went
/// away (and may be back), as opposed to a slow server (timeouts).
fn is_gone(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected
    )
}

/// Sends alerts to one syslog server. Connects lazily on the first message,
/// never blocks longer than its timeouts, and never queues (see the module
/// docs for the rules).
#[derive(Debug)]
pub struct SyslogSink {
    target: SyslogTarget,
    format: SyslogFormat,
    /// Host name for RFC 5424 (`-` when unknown); RFC 3164 uses the formatter's.
    hostname: String,
    pid: u32,
    f3164: Formatter3164,
    /// The formatted message, reused.
    msg: Vec<u8>,
    /// The message as written (TCP adds its octet count), reused.
    frame: Vec<u8>,
    conn: Option<Conn>,
    last_attempt: Option<Instant>,
    ever_connected: bool,
    stats: SyslogStats,
    last_error: Option<io::Error>,
}

impl SyslogSink {
    /// A sink for `target` writing `format`. Never fails: the connection is
    /// opened by the first [`send`](Self::send).
    pub fn new(target: SyslogTarget, format: SyslogFormat) -> SyslogSink {
        // The crate's default formatter asks the system for the host name.
        let hostname = Formatter3164::default()
            .hostname
            .map(|h| sanitize_hostname(&h))
            .filter(|h| !h.is_empty());
        let pid = std::process::id();
        let f3164 = Formatter3164 {
            facility: Facility::LOG_LOCAL0,
            hostname: hostname.clone(),
            process: APP_NAME.to_string(),
            pid,
        };
        SyslogSink {
            target,
            format,
            hostname: hostname.unwrap_or_else(|| "-".to_string()),
            pid,
            f3164,
            msg: Vec::with_capacity(1024),
            frame: Vec::with_capacity(1024),
            conn: None,
            last_attempt: None,
            ever_connected: false,
            stats: SyslogStats::default(),
            last_error: None,
        }
    }

    /// Sends one alert: `msg` is its JSON line (a trailing newline is dropped).
    /// Returns within the timeouts; the outcome is counted in [`stats`](Self::stats).
    pub fn send(&mut self, severity: Severity, msg: &str) {
        let msg = msg.trim_end_matches(['\n', '\r']);
        let result = self
            .render(severity, msg)
            .and_then(|()| self.deliver(Instant::now()));
        match result {
            Ok(()) => self.stats.sent += 1,
            Err(e) => {
                self.stats.failed += 1;
                self.last_error = Some(e);
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> SyslogStats {
        self.stats
    }

    /// The most recent delivery error, for a (rate-limited) log line.
    pub fn last_error(&self) -> Option<&io::Error> {
        self.last_error.as_ref()
    }

    /// Formats the message into `self.frame`, framed for the transport.
    fn render(&mut self, severity: Severity, msg: &str) -> io::Result<()> {
        self.msg.clear();
        match self.format {
            SyslogFormat::Rfc5424 => format_5424(
                &mut self.msg,
                FACILITY_LOCAL0 | severity.code(),
                SystemTime::now(),
                &self.hostname,
                self.pid,
                msg,
            ),
            SyslogFormat::Rfc3164 => self
                .f3164
                .format(&mut self.msg, severity.to_crate(), msg)
                .map_err(|e| io::Error::other(e.to_string()))?,
        }
        self.frame.clear();
        if matches!(self.target, SyslogTarget::Tcp(_)) {
            // RFC 6587 octet counting.
            write!(self.frame, "{} ", self.msg.len())?;
        }
        self.frame.extend_from_slice(&self.msg);
        Ok(())
    }

    /// Writes `self.frame` on the current connection, or on a new one when a
    /// connection attempt is due.
    fn deliver(&mut self, now: Instant) -> io::Result<()> {
        if let Some(conn) = self.conn.as_mut() {
            let result = if conn.closed_by_peer() {
                Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "connection closed by the syslog server",
                ))
            } else {
                conn.write(&self.frame)
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.conn = None;
                    if !is_gone(&e) {
                        // A slow server: wait a full interval before trying again.
                        self.last_attempt = Some(now);
                        return Err(e);
                    }
                }
            }
        }
        let due = match self.last_attempt {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= RETRY_INTERVAL,
        };
        if !due {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "syslog server unreachable; waiting to retry",
            ));
        }
        self.last_attempt = Some(now);
        let mut conn = Conn::open(&self.target)?;
        if self.ever_connected {
            self.stats.reconnects += 1;
        }
        self.ever_connected = true;
        conn.write(&self.frame)?;
        self.conn = Some(conn);
        Ok(())
    }
}

/// Keeps the printable ASCII of a host name, as RFC 5424 requires.
fn sanitize_hostname(h: &str) -> String {
    h.chars()
        .filter(char::is_ascii_graphic)
        .take(MAX_HOSTNAME)
        .collect()
}

/// Writes an RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PID MSGID - MSG`.
fn format_5424(out: &mut Vec<u8>, pri: u8, now: SystemTime, host: &str, pid: u32, msg: &str) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "<{pri}>1 ");
    // A SystemTime's seconds since the epoch always fit an i64.
    let utc = now.duration_since(UNIX_EPOCH).ok().and_then(|d| {
        let secs = i64::try_from(d.as_secs()).ok()?;
        Some(UtcTime::from_secs(secs, d.subsec_micros()))
    });
    match utc {
        Some(t) => {
            let _ = write!(out, "{}Z", t.iso('T'));
        }
        None => out.push(b'-'),
    }
    let _ = write!(out, " {host} {APP_NAME} {pid} {MSGID} - {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::civil_from_days;
    use std::net::TcpListener;

    #[test]
    fn targets_round_trip() {
        for s in [
            "unix:/dev/log",
            "unix:rel/log.sock",
            "udp:127.0.0.1:514",
            "udp:syslog.example.org:10514",
            "tcp:[::1]:514",
        ] {
            let t: SyslogTarget = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            "tcp:[::1]:514".parse::<SyslogTarget>().unwrap(),
            SyslogTarget::Tcp("[::1]:514".into())
        );
    }

    #[test]
    fn bad_targets_quote_the_value() {
        for s in [
            "",
            "/dev/log",
            "unix:",
            "udp:",
            "udp:host",
            "udp::514",
            "udp:host:0",
            "udp:host:65536",
            "tcp:::1:514",
            "tcp:[::1]",
            "tcp:[zz]:514",
            "tcp:a b:514",
            "http:host:80",
        ] {
            let e = s.parse::<SyslogTarget>().unwrap_err().to_string();
            assert!(e.contains(&format!("{s:?}")), "{e}");
            assert!(
                e.contains("unix:PATH, udp:HOST:PORT or tcp:HOST:PORT"),
                "{e}"
            );
        }
    }

    #[test]
    fn formats_parse() {
        assert_eq!("5424".parse(), Ok(SyslogFormat::Rfc5424));
        assert_eq!("RFC3164".parse(), Ok(SyslogFormat::Rfc3164));
        let e = "5425".parse::<SyslogFormat>().unwrap_err().to_string();
        assert!(e.contains("\"5425\"") && e.contains("rfc5424"), "{e}");
    }

    #[test]
    fn eve_severity_maps_to_syslog() {
        use crate::alert::Severity as A;
        assert_eq!(Severity::of_alert(A::High).code(), 2);
        assert_eq!(Severity::of_alert(A::Medium).code(), 3);
        assert_eq!(Severity::of_alert(A::Low).code(), 4);
    }

    #[test]
    fn rfc5424_header() {
        let t = UNIX_EPOCH + Duration::from_micros(1_709_876_543_123_456);
        let mut out = Vec::new();
        format_5424(&mut out, FACILITY_LOCAL0 | 4, t, "vm", 42, r#"{"a":1}"#);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<132>1 2024-03-08T05:42:23.123456Z vm flowsentinel 42 alert - {"a":1}"#
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn unreachable_tcp_fails_fast_and_waits_to_retry() {
        // A port with no listener: bind, then close.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target: SyslogTarget = format!("tcp:127.0.0.1:{port}").parse().unwrap();
        let mut sink = SyslogSink::new(target, SyslogFormat::Rfc5424);
        let start = Instant::now();
        for _ in 0..100 {
            sink.send(Severity::Warning, "{}");
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            sink.stats(),
            SyslogStats {
                sent: 0,
                failed: 100,
                reconnects: 0
            }
        );
        assert_eq!(
            sink.last_error().unwrap().kind(),
            io::ErrorKind::NotConnected
        );
    }
}
