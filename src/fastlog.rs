//! The terminal view of the alerts: one readable line per written alert, in
//! the spirit of Suricata's `fast.log`, instead of EVE JSON.
//!
//! Input: an [`Alert`] with its label and the count of alerts it stands for
//! (from `threshold`), or a [`Tail`] (alerts folded after the last written
//! one of their kind). Output: one line each, appended to a reused buffer:
//!
//! ```text
//! 2026-11-21 05:44:14.382726  portscan   1.00  TCP 10.66.3.231:40512 → 10.66.1.153:80  [1 alert]
//! 2026-11-21 05:44:15.326594  portscan   ....  10.66.3.66 → 10.66.1.153  [+2047 folded: limit by_both count 1 seconds 60]
//! ```
//!
//! [`AlertsFormat`] decides which view a run writes: `auto` (the default) is
//! text only when the alerts go to standard output and that is a terminal;
//! JSON stays the output of files and pipes.

use crate::alert::{Action, Alert, FlowState};
use crate::error::Error;
use crate::eve::proto_name;
use crate::text::UtcTime;
use crate::threshold::{Tail, TrackKey};
use std::io::IsTerminal;
use std::io::Write as _;
use std::path::Path;

/// What the alerts output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertsFormat {
    /// Text on a terminal (alerts to standard output), else JSON.
    #[default]
    Auto,
    /// EVE JSON lines.
    Json,
    /// One readable line per alert.
    Text,
}

impl std::str::FromStr for AlertsFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(format!("expected json, text or auto, got {s:?}")),
        }
    }
}

impl AlertsFormat {
    /// `--alerts-format` as given (`None`: the default) with `--flow-events`,
    /// which writes EVE events only: forcing text with it is refused.
    pub fn build(given: Option<String>, flow_events: Option<bool>) -> Result<Self, Error> {
        let f: AlertsFormat = given
            .as_deref()
            .unwrap_or(crate::defaults::ALERTS_FORMAT)
            .parse()
            .map_err(|e| Error::Usage(format!("--alerts-format: {e}")))?;
        if f == AlertsFormat::Text && flow_events == Some(true) {
            return Err(Error::Usage(
                "--alerts-format text: --flow-events writes EVE JSON events; use json or auto"
                    .into(),
            ));
        }
        Ok(f)
    }

    /// Whether alerts to `path` (`-`: standard output) are written as text;
    /// `auto` never is with `flow_events`.
    pub fn is_text(self, path: &Path, flow_events: bool) -> bool {
        match self {
            AlertsFormat::Text => true,
            AlertsFormat::Json => false,
            AlertsFormat::Auto => {
                !flow_events && path.as_os_str() == "-" && std::io::stdout().is_terminal()
            }
        }
    }
}

/// `2026-11-21 05:44:14.382726`, UTC.
fn time(ts_us: i64) -> String {
    UtcTime::from_micros(ts_us).iso(' ').to_string()
}

/// Appends an alert's line: time, label (padded to `width`), score, protocol,
/// source → destination, then how many alerts it stands for (when a
/// threshold rule applies), `blocked` and `open flow` when they hold.
pub fn write_alert(
    out: &mut Vec<u8>,
    alert: &Alert,
    label: &str,
    width: usize,
    aggregated: Option<u64>,
) {
    let f = &alert.flow;
    let score = if alert.verdict.score.is_finite() {
        alert.verdict.score
    } else {
        0.0
    };
    let _ = write!(
        out,
        "{}  {label:<width$}  {score:.2}  {} {}:{} → {}:{}",
        time(f.event_us()),
        proto_name(f.key.proto),
        f.src,
        f.src_port,
        f.dst,
        f.dst_port,
    );
    match aggregated {
        Some(1) => out.extend_from_slice(b"  [1 alert]"),
        Some(n) => {
            let _ = write!(out, "  [{n} alerts]");
        }
        None => {}
    }
    if alert.action == Action::Blocked {
        out.extend_from_slice(b"  blocked");
    }
    if matches!(f.state, FlowState::Active { .. }) {
        out.extend_from_slice(b"  (open flow)");
    }
    out.push(b'\n');
}

/// Appends a tail's line: the last folded alert's time, the label, the
/// tracker (its last source → destination for `by_both`), and how many
/// alerts were folded after the last written one of their kind, by which
/// rule.
pub fn write_tail(out: &mut Vec<u8>, tail: &Tail, label: &str, width: usize, rule: &str) {
    let (src, dst) = tail.last;
    let who = match tail.key {
        TrackKey::Src(a) => format!("{a} → any"),
        TrackKey::Dst(a) => format!("any → {a}"),
        TrackKey::Pair(..) => format!("{src} → {dst}"),
        TrackKey::Rule => "any → any".to_string(),
    };
    let _ = writeln!(
        out,
        "{}  {label:<width$}  ....  {who}  [+{} folded: {rule}]",
        time(tail.last_us),
        tail.folded,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Addr;

    #[test]
    fn formats_parse_and_refuse() {
        assert_eq!("text".parse(), Ok(AlertsFormat::Text));
        assert!("yaml".parse::<AlertsFormat>().is_err());
        assert_eq!(
            AlertsFormat::build(None, None).ok(),
            Some(AlertsFormat::Auto)
        );
        let e = AlertsFormat::build(Some("xml".into()), None).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some(r#"--alerts-format: expected json, text or auto, got "xml""#.to_string())
        );
        assert!(AlertsFormat::build(Some("text".into()), Some(true)).is_err());
        // A file is never a terminal; JSON and text are what they say.
        let file = Path::new("/tmp/alerts.json");
        assert!(!AlertsFormat::Auto.is_text(file, false));
        assert!(AlertsFormat::Text.is_text(file, false));
        assert!(!AlertsFormat::Json.is_text(Path::new("-"), false));
        assert!(!AlertsFormat::Auto.is_text(Path::new("-"), true));
    }

    #[test]
    fn tail_line() {
        let tail = Tail {
            label: 0,
            key: TrackKey::Pair(Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2])),
            folded: 2047,
            last_us: 1_795_239_056_022_209,
            last: (Addr::v4([10, 0, 0, 2]), Addr::v4([10, 0, 0, 1])),
        };
        let mut out = Vec::new();
        write_tail(
            &mut out,
            &tail,
            "scan",
            8,
            "limit by_both count 1 seconds 60",
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "2026-11-21 05:30:56.022209  scan      ....  10.0.0.2 → 10.0.0.1  [+2047 folded: limit by_both count 1 seconds 60]\n"
        );
    }
}
