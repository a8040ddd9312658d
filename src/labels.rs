//! Labels: attack episodes (`labels.csv` of the lab captures) and the rule
//! that labels a flow from them.
//!
//! A flow gets an episode's label when its two endpoints are the episode's
//! attacker and victim (either way round) and it starts inside the episode's
//! time window, both ends included. Other flows get the profile's benign label.
//!
//! `attacker_ip` is an address or a prefix (`10.77.0.0/16`, `2001:db8::/48`):
//! any address in it is the attacker (a flood from spoofed sources). As in
//! the IPS allow-list ([`Cidr`]), an IPv4 prefix also holds the IPv4-mapped
//! IPv6 addresses. `victim_ip` is one address.

use crate::cidr::Cidr;
use crate::decode::Addr;
use crate::profile::Profile;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One attack episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Window start, µs since the epoch.
    pub start_us: i64,
    /// Window end, µs since the epoch.
    pub end_us: i64,
    /// The attacker: an address (a /32 or /128) or a range of them.
    pub attacker: Cidr,
    /// Victim address.
    pub victim: IpAddr,
    /// The lab's label (used by `cic2018` and `fixed`).
    pub label: String,
    /// The nearest CIC-IDS2017 class name (used by `cic2017`).
    pub cic2017_label: String,
    /// The optional `episode_id` column (rows of one episode share it);
    /// empty when the file has none.
    pub episode_id: String,
}

/// A labels file that cannot be used.
#[derive(Debug)]
pub struct LabelsError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for LabelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for LabelsError {}

const REQUIRED: [&str; 6] = [
    "start_ts",
    "end_ts",
    "attacker_ip",
    "victim_ip",
    "label",
    "cic2017_label",
];

/// Episodes loaded from a labels CSV.
#[derive(Debug, Clone, Default)]
pub struct Labeler {
    episodes: Vec<Episode>,
}

/// Parses epoch seconds with up to microsecond precision into µs.
fn parse_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    // "-0.5": the sign is the text's, not the whole part's.
    let negative = whole.starts_with('-');
    let mut micros = 0i64;
    for (i, b) in frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(6)
        .enumerate()
    {
        micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)?
        .checked_add(if negative { -micros } else { micros })
}

impl Labeler {
    /// Reads a labels CSV.
    pub fn load(path: &Path) -> Result<Self, LabelsError> {
        let err = |line: Option<usize>, reason: String| LabelsError {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(None, e.to_string()))?;
        Self::parse(&text).map_err(|(line, reason)| err(line, reason))
    }

    /// Parses labels CSV text; errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (Option<usize>, String)> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((header_i, header)) = lines.next() else {
            return Err((None, "empty labels file: expected a header line".into()));
        };
        // Blank lines before the header are skipped: it is not always line 1.
        let header_n = header_i + 1;
        let names = split_csv(header).map_err(|r| (Some(header_n), r))?;
        let names: Vec<&str> = names.iter().map(|s| s.trim()).collect();
        let mut idx = [0usize; 6];
        for (slot, want) in idx.iter_mut().zip(REQUIRED) {
            *slot = names.iter().position(|n| *n == want).ok_or_else(|| {
                (
                    Some(header_n),
                    format!("missing column `{want}` (need {})", REQUIRED.join(", ")),
                )
            })?;
        }
        let id_col = names.iter().position(|n| *n == "episode_id");
        let mut episodes = Vec::new();
        for (i, line) in lines {
            let n = i + 1;
            let cells = split_csv(line).map_err(|r| (Some(n), r))?;
            let cells: Vec<&str> = cells.iter().map(|s| s.trim()).collect();
            if cells.len() != names.len() {
                return Err((
                    Some(n),
                    format!("{} fields, header has {}", cells.len(), names.len()),
                ));
            }
            let cell = |k: usize| -> Result<&str, (Option<usize>, String)> {
                let col = idx.get(k).copied().unwrap_or(0);
                cells.get(col).copied().ok_or_else(|| {
                    (
                        Some(n),
                        format!("{} fields, header has {}", cells.len(), names.len()),
                    )
                })
            };
            let time = |k: usize| -> Result<i64, (Option<usize>, String)> {
                let v = cell(k)?;
                parse_seconds(v).ok_or_else(|| {
                    (
                        Some(n),
                        format!(
                            "`{}` is not epoch seconds: {v:?}",
                            REQUIRED.get(k).unwrap_or(&"")
                        ),
                    )
                })
            };
            let ip = |k: usize| -> Result<IpAddr, (Option<usize>, String)> {
                let v = cell(k)?;
                v.parse().map_err(|_| {
                    (
                        Some(n),
                        format!(
                            "`{}` is not an IP address: {v:?}",
                            REQUIRED.get(k).unwrap_or(&"")
                        ),
                    )
                })
            };
            let attacker = cell(2).and_then(|v| {
                v.parse::<Cidr>().map_err(|e| {
                    let head = format!("bad CIDR `{v}`: ");
                    let why = e.strip_prefix(&head).unwrap_or(&e);
                    (
                        Some(n),
                        format!("`attacker_ip` is not an IP address or prefix: {v:?} ({why})"),
                    )
                })
            })?;
            let ep = Episode {
                start_us: time(0)?,
                end_us: time(1)?,
                attacker,
                victim: ip(3)?,
                label: cell(4)?.to_string(),
                cic2017_label: cell(5)?.to_string(),
                episode_id: id_col
                    .and_then(|c| cells.get(c))
                    .map_or_else(String::new, |v| v.to_string()),
            };
            if ep.end_us < ep.start_us {
                return Err((Some(n), "end_ts is before start_ts".into()));
            }
            episodes.push(ep);
        }
        Ok(Self { episodes })
    }

    /// The episodes.
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// The label of a flow between `a` and `b` that started at `start_us`.
    pub fn label(&self, a: Addr, b: Addr, start_us: i64, profile: Profile) -> &str {
        let (a, b) = (a.to_ip(), b.to_ip());
        self.episodes
            .iter()
            .find(|e| {
                ((e.attacker.contains(a) && e.victim == b)
                    || (e.attacker.contains(b) && e.victim == a))
                    && (e.start_us..=e.end_us).contains(&start_us)
            })
            .map_or(profile.benign_label(), |e| match profile {
                Profile::Cic2017 => e.cic2017_label.as_str(),
                _ => e.label.as_str(),
            })
    }
}

/// Splits one CSV line into fields (RFC 4180 quoting: a quoted field may hold
/// commas, and `""` inside quotes is one quote).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_exactly() {
        assert_eq!(
            parse_seconds("1795239671.106040"),
            Some(1_795_239_671_106_040)
        );
        assert_eq!(parse_seconds("1.5"), Some(1_500_000));
        assert_eq!(parse_seconds("abc"), None);
        assert_eq!(parse_seconds("1.1234567"), None);
        // Seen while fuzzing: the sign of "-0.5" was lost.
        assert_eq!(parse_seconds("-0.5"), Some(-500_000));
        assert_eq!(parse_seconds("-1.5"), Some(-1_500_000));
    }

    #[test]
    fn labels_by_endpoints_and_window() {
        let text = "start_ts,end_ts,attacker_ip,victim_ip,victim_port_or_range,protocol,label,sublabel,cic2017_label,episode_id,tool\n\
                    10.000000,20.000000,10.0.0.1,10.0.0.2,80,tcp,dos,hulk,DoS Hulk,E1,hulk\n";
        let l = Labeler::parse(text).unwrap_or_default();
        assert_eq!(l.episodes().len(), 1);
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v4([10, 0, 0, 2]);
        let c = Addr::v4([10, 0, 0, 3]);
        assert_eq!(l.label(b, a, 15_000_000, Profile::Cic2017), "DoS Hulk");
        assert_eq!(l.label(a, b, 20_000_000, Profile::Cic2018), "dos");
        assert_eq!(l.label(a, b, 20_000_001, Profile::Cic2018), "No Label");
        assert_eq!(l.label(a, c, 15_000_000, Profile::Cic2017), "BENIGN");
    }

    #[test]
    fn bad_rows_name_the_line() {
        let text =
            "start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n1,2,10.0.0.1,nope,x,y\n";
        let e = Labeler::parse(text).err();
        assert_eq!(e.map(|(l, _)| l), Some(Some(2)));
        assert!(Labeler::parse("a,b\n").is_err());
    }

    #[test]
    fn quoted_port_lists_and_field_counts() {
        let head = "start_ts,end_ts,attacker_ip,victim_ip,victim_port_or_range,protocol,label,sublabel,cic2017_label,episode_id,tool\n";
        let text = format!(
            "{head}1.0,2.0,10.66.3.66,10.66.1.153,\"53,67,69\",udp,portscan,udp,PortScan,E012,nmap\n"
        );
        let l = Labeler::parse(&text).unwrap_or_default();
        assert_eq!(l.episodes().len(), 1);
        assert_eq!(l.episodes()[0].label, "portscan");
        assert_eq!(l.episodes()[0].cic2017_label, "PortScan");
        assert_eq!(l.episodes()[0].episode_id, "E012");
        let short = format!("{head}1.0,2.0,10.66.3.66,10.66.1.153,53,udp,portscan\n");
        assert!(matches!(Labeler::parse(&short), Err((Some(2), _))));
        let open = format!(
            "{head}1.0,2.0,10.66.3.66,10.66.1.153,\"53,udp,portscan,udp,PortScan,E012,nmap\n"
        );
        assert!(Labeler::parse(&open).is_err());
    }

    #[test]
    fn attacker_ranges_label_spoofed_sources() {
        let text = "start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n\
                    10,20,10.77.0.0/16,10.0.0.2,syn_flood,DDoS\n\
                    30,40,2001:db8:aa::/48,2001:db8::2,syn_flood,DDoS\n\
                    50,60,10.0.0.9,10.0.0.2,portscan,PortScan\n\
                    70,80,0.0.0.0/0,10.0.0.3,udp_flood,DDoS\n";
        let l = Labeler::parse(text).unwrap_or_default();
        assert_eq!(l.episodes().len(), 4);
        assert_eq!(l.episodes()[0].attacker.to_string(), "10.77.0.0/16");
        assert_eq!(l.episodes()[2].attacker.to_string(), "10.0.0.9/32");
        let victim = Addr::v4([10, 0, 0, 2]);
        let t = 15_000_000;
        for (src, want) in [
            ([10, 77, 0, 0], "syn_flood"),
            ([10, 77, 255, 255], "syn_flood"),
            ([10, 77, 3, 4], "syn_flood"),
            ([10, 78, 0, 1], "Benign"),
            ([10, 76, 255, 255], "Benign"),
        ] {
            let a = Addr::v4(src);
            assert_eq!(l.label(a, victim, t, Profile::Fixed), want, "{a}");
            // Either way round, as for a single address.
            assert_eq!(l.label(victim, a, t, Profile::Fixed), want, "{a}");
        }
        // The victim stays one address; the window still applies.
        let other = Addr::v4([10, 0, 0, 4]);
        assert_eq!(
            l.label(Addr::v4([10, 77, 1, 1]), other, t, Profile::Fixed),
            "Benign"
        );
        let late = 20_000_001;
        assert_eq!(
            l.label(Addr::v4([10, 77, 1, 1]), victim, late, Profile::Fixed),
            "Benign"
        );
        // IPv6.
        let v6 = |s: &str| match s.parse::<IpAddr>() {
            Ok(IpAddr::V6(a)) => Addr::v6(a.octets()),
            _ => Addr::default(),
        };
        let (inside, outside) = (v6("2001:db8:aa:ffff::7"), v6("2001:db8:ab::7"));
        let v6_victim = v6("2001:db8::2");
        assert_eq!(
            l.label(inside, v6_victim, 35_000_000, Profile::Fixed),
            "syn_flood"
        );
        assert_eq!(
            l.label(outside, v6_victim, 35_000_000, Profile::Fixed),
            "Benign"
        );
        // A single address is itself only; /0 is every IPv4 address, no IPv6.
        let near = Addr::v4([10, 0, 0, 10]);
        assert_eq!(
            l.label(near, victim, 55_000_000, Profile::Cic2017),
            "BENIGN"
        );
        assert_eq!(
            l.label(
                Addr::v4([10, 0, 0, 9]),
                victim,
                55_000_000,
                Profile::Cic2017
            ),
            "PortScan"
        );
        let any = Addr::v4([203, 0, 113, 5]);
        assert_eq!(
            l.label(any, Addr::v4([10, 0, 0, 3]), 75_000_000, Profile::Fixed),
            "udp_flood"
        );
        assert_eq!(
            l.label(inside, Addr::v4([10, 0, 0, 3]), 75_000_000, Profile::Fixed),
            "Benign"
        );
    }

    #[test]
    fn bad_attacker_ranges_name_the_line_and_value() {
        let head = "start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n";
        for (row, why) in [
            ("1,2,10.77.0.0/33,10.0.0.2,x,y", "prefix length `33`"),
            ("1,2,2001:db8::/129,2001:db8::2,x,y", "prefix length `129`"),
            ("1,2,10.77.0.0/x,10.0.0.2,x,y", "prefix length `x`"),
            ("1,2,10.77.0.0/,10.0.0.2,x,y", "prefix length ``"),
            ("1,2,nope/16,10.0.0.2,x,y", "`nope` is not an IP address"),
            ("1,2,,10.0.0.2,x,y", "`` is not an IP address"),
        ] {
            let text = format!("{head}\n{row}\n");
            let (line, reason) = Labeler::parse(&text).err().unwrap_or_default();
            assert_eq!(line, Some(3), "{row}");
            let value = row.split(',').nth(2).unwrap_or_default();
            assert!(reason.contains("`attacker_ip`"), "{reason}");
            assert!(reason.contains(&format!("{value:?}")), "{reason}");
            assert!(reason.contains(why), "{reason}");
        }
        // The victim is one address: a prefix there is refused.
        let text = format!("{head}1,2,10.77.0.0/16,10.0.0.0/24,x,y\n");
        let (line, reason) = Labeler::parse(&text).err().unwrap_or_default();
        assert_eq!(line, Some(2));
        assert!(
            reason.contains("`victim_ip` is not an IP address"),
            "{reason}"
        );
        // And the file is named by `load`.
        let path = std::env::temp_dir().join(format!("labels-{}.csv", std::process::id()));
        let _ = std::fs::write(&path, format!("{head}1,2,10.77.0.0/40,10.0.0.2,x,y\n"));
        let e = Labeler::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        assert!(e.starts_with(&format!("{}:2: ", path.display())), "{e}");
        assert!(e.contains("\"10.77.0.0/40\""), "{e}");
    }

    /// Found by the `labels_csv` fuzz target
    /// (fuzz/regressions/labels_csv/header-after-blank-line): an error in a
    /// header that follows blank lines named line 1, a blank line.
    #[test]
    fn r_fuzz_header_error_names_the_header_line() {
        assert_eq!(Labeler::parse("\nf").err().map(|(l, _)| l), Some(Some(2)));
        let text = "\n  \nstart_ts,end_ts,\"x\n1,2\n";
        assert_eq!(Labeler::parse(text).err().map(|(l, _)| l), Some(Some(3)));
        let text = "\nstart_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n\n1,2,10.0.0.1,nope,x,y\n";
        assert_eq!(Labeler::parse(text).err().map(|(l, _)| l), Some(Some(4)));
    }
}
