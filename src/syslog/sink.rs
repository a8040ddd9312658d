//! The socket to the syslog server: [`SyslogSink`] opens it (unix datagram,
//! UDP or TCP), frames and writes each message, and reconnects.
//!
//! Input: one alert at a time as a [`Severity`] and its EVE JSON line, for a
//! [`SyslogTarget`] in a [`SyslogFormat`]. Output: one message per alert on
//! the socket, and the [`SyslogStats`] counters.
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

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use super::message::{MessageFormatter, Severity};
use super::options::{SyslogFormat, SyslogTarget};

/// The longest a connection attempt may wait.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// The longest one message's write may wait.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
/// The shortest time between two connection attempts while the server is down.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    formatter: MessageFormatter,
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
        SyslogSink {
            target,
            formatter: MessageFormatter::new(format),
            msg: Vec::with_capacity(1024),
            frame: Vec::with_capacity(1024),
            conn: None,
            last_attempt: None,
            ever_connected: false,
            stats: SyslogStats::default(),
            last_error: None,
        }
    }

    /// Sends an alert: `line` is its EVE JSON line, sent at the syslog
    /// severity of the alert's.
    pub fn send_alert(&mut self, alert: &crate::alert::Alert, line: &str) {
        self.send(Severity::of_alert(alert.severity), line);
    }

    /// Sends one message: `msg` is an alert's JSON line (a trailing newline
    /// is dropped). Returns within the timeouts; the outcome is counted in
    /// [`stats`](Self::stats).
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
        self.formatter.format(&mut self.msg, severity, msg)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
