//! Syslog output for alerts: the option values (`options`: target and
//! format), the wire format (`message`: RFC 5424 or RFC 3164), and the
//! socket to the syslog server with its reconnects (`sink`: unix datagram,
//! UDP or TCP).
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
//!   header is written by `message` because the `syslog` crate's
//!   `Formatter5424` takes its MSGID as a `u32`.
//! * RFC 3164: `<PRI>Mmm dd hh:mm:ss HOST flowsentinel[PID]: JSON`, written by
//!   the crate's `Formatter3164`; its timestamp is UTC without a zone (and the
//!   day is zero-padded, which rsyslog accepts).
//! * Over TCP each message is octet-counted (RFC 6587: `LEN SP MSG`), which
//!   rsyslog's imtcp accepts by default. Over UDP and unix datagram sockets a
//!   message is one datagram.
//!
//! The sink's rules (timeouts, retries, what counts as failed) are in
//! `sink`'s docs.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod message;
mod options;
mod sink;

pub use message::{Severity, APP_NAME, MSGID};
pub use options::{SyslogError, SyslogFormat, SyslogTarget};
pub use sink::{SyslogSink, SyslogStats, CONNECT_TIMEOUT, RETRY_INTERVAL, WRITE_TIMEOUT};
