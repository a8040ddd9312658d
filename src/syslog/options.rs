//! Syslog option values, as given on the command line or in the config:
//! where messages go ([`SyslogTarget`]) and their format ([`SyslogFormat`]).
//!
//! Input: option strings (`unix:PATH`, `udp:HOST:PORT`, `tcp:HOST:PORT`;
//! `5424`, `rfc3164`, ...). Output: the parsed values, which display as the
//! canonical option string, or a [`SyslogError`] that quotes the value and
//! lists the accepted forms. Nothing here opens a socket.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
