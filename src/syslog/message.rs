//! The syslog wire format: one alert as one RFC 5424 or RFC 3164 message.
//!
//! Owns the [`Severity`] scale, the fixed header fields (facility `local0`,
//! [`APP_NAME`], [`MSGID`]), this process's host name and PID, and the
//! `syslog` crate's `Formatter3164`. Input: a [`Severity`] and the alert's
//! JSON line. Output: the message bytes, unframed (the sink adds TCP's octet
//! count).

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use ::syslog::{Facility, Formatter3164, LogFormat};

use super::options::SyslogFormat;
use crate::text::UtcTime;

/// The APP-NAME (RFC 5424) and TAG (RFC 3164) of every message.
pub const APP_NAME: &str = "flowsentinel";
/// The RFC 5424 MSGID of every alert.
pub const MSGID: &str = "alert";

/// Facility `local0` (16), shifted into place for the PRI value.
const FACILITY_LOCAL0: u8 = 16 << 3;
/// RFC 5424 allows host names of up to 255 characters.
const MAX_HOSTNAME: usize = 255;

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

/// Formats alerts in one syslog format, with this host's name and this
/// process's PID.
#[derive(Debug)]
pub(super) struct MessageFormatter {
    format: SyslogFormat,
    /// Host name for RFC 5424 (`-` when unknown); RFC 3164 uses the formatter's.
    hostname: String,
    pid: u32,
    f3164: Formatter3164,
}

impl MessageFormatter {
    /// A formatter for `format`, with the system host name.
    pub(super) fn new(format: SyslogFormat) -> MessageFormatter {
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
        MessageFormatter {
            format,
            hostname: hostname.unwrap_or_else(|| "-".to_string()),
            pid,
            f3164,
        }
    }

    /// Appends the message for `msg` (one line) at `severity` to `out`.
    pub(super) fn format(
        &self,
        out: &mut Vec<u8>,
        severity: Severity,
        msg: &str,
    ) -> io::Result<()> {
        match self.format {
            SyslogFormat::Rfc5424 => format_5424(
                out,
                FACILITY_LOCAL0 | severity.code(),
                SystemTime::now(),
                &self.hostname,
                self.pid,
                msg,
            ),
            SyslogFormat::Rfc3164 => self
                .f3164
                .format(out, severity.to_crate(), msg)
                .map_err(|e| io::Error::other(e.to_string()))?,
        }
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
    use std::time::Duration;

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
}
