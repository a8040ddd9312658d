//! Reading flow CSVs back: CICFlowMeter CSVs in any of the three header
//! spellings (CIC-IDS2017 with its leading spaces, CSE-CIC-IDS2018, master),
//! tool or machine-learning layout, into [`FlowRow`]s for scoring; and the
//! connection-context columns of a KDD CSV by their exact NSL-KDD and
//! per-source names (numbers, and the categorical names as vocabulary
//! indices).
//!
//! Input: a CSV file. Output: rows in file order. A malformed line refuses the
//! file with its line number and column; columns the model needs but the file
//! lacks are refused up front.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::decode::Addr;
use crate::features::catalogue::{lookup, Col, NUM_COLUMNS, NUM_FEATURES};
use crate::infer::bundle::Input;
use crate::infer::FlowRow;
use crate::kdd::{KddCol, KddKind, KddRow, NUM_KDD};
use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A flow CSV that cannot be read.
#[derive(Debug)]
pub struct CsvError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for CsvError {}

/// Where a CSV column goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Feature(usize),
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Protocol,
    Kdd(KddCol),
    Ignored,
}

/// Reads every row of `path`. `needs` are the model's inputs; a sequence
/// model grouped by source also needs the source IP (`need_src_ip`).
pub fn read(path: &Path, needs: &[Input], need_src_ip: bool) -> Result<Vec<FlowRow>, CsvError> {
    let err = |line: Option<usize>, reason: String| CsvError {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header = match lines.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(err(Some(1), format!("cannot read: {e}"))),
        None => return Err(err(None, "empty file (expected a CSV header)".into())),
    };
    let header = header.trim_start_matches('\u{feff}');
    let mut slots = Vec::new();
    let mut seen = [false; NUM_COLUMNS];
    let mut seen_kdd = [false; NUM_KDD];
    for name in header.split(',') {
        if let Some(c) = KddCol::lookup(name.trim()) {
            let first = seen_kdd
                .get_mut(c as usize)
                .is_some_and(|s| !std::mem::replace(s, true));
            slots.push(if first { Slot::Kdd(c) } else { Slot::Ignored });
            continue;
        }
        let slot = match lookup(name.trim()) {
            Some(c) if seen.get(c.index()).copied().unwrap_or(true) => Slot::Ignored,
            Some(c) => {
                if let Some(s) = seen.get_mut(c.index()) {
                    *s = true;
                }
                match c {
                    Col::SrcIp => Slot::SrcIp,
                    Col::SrcPort => Slot::SrcPort,
                    Col::DstIp => Slot::DstIp,
                    Col::DstPort => Slot::DstPort,
                    Col::Protocol => Slot::Protocol,
                    c => c.feature_index().map_or(Slot::Ignored, Slot::Feature),
                }
            }
            None => Slot::Ignored,
        };
        slots.push(slot);
    }
    let has = |s: Slot| slots.contains(&s);
    for (i, input) in needs.iter().enumerate() {
        let (ok, what) = match input {
            Input::Kdd(c) | Input::OneHot { col: c, .. } | Input::Ordinal { col: c, .. } => {
                (has(Slot::Kdd(*c)), "its KDD column")
            }
            Input::Feature(k) => (has(Slot::Feature(*k)), "its feature column"),
            Input::SrcPort => (has(Slot::SrcPort), "a source port column"),
            Input::DstPort => (has(Slot::DstPort), "a destination port column"),
            Input::Protocol => (has(Slot::Protocol), "a protocol column"),
            Input::SrcOctet(_) => (has(Slot::SrcIp), "a source IP column"),
            Input::DstOctet(_) => (has(Slot::DstIp), "a destination IP column"),
            Input::Constant(_) => (true, "nothing"),
        };
        if !ok {
            return Err(err(
                Some(1),
                format!(
                    "the model's input {i} ({}) needs {what}, which this CSV header lacks",
                    describe(input)
                ),
            ));
        }
    }
    if need_src_ip && !has(Slot::SrcIp) {
        return Err(err(
            Some(1),
            "the model groups sequences by source IP, but this CSV has no source IP column".into(),
        ));
    }

    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let lineno = n + 2;
        let line = line.map_err(|e| err(Some(lineno), format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != slots.len() {
            return Err(err(
                Some(lineno),
                format!(
                    "{} fields, but the header has {}",
                    fields.len(),
                    slots.len()
                ),
            ));
        }
        let mut row = FlowRow {
            features: [0.0; NUM_FEATURES],
            src: Addr::v4([0; 4]),
            dst: Addr::v4([0; 4]),
            src_port: 0,
            dst_port: 0,
            proto: 0,
            interim: false,
            kdd: KddRow::default(),
        };
        for (col, (slot, field)) in slots.iter().zip(&fields).enumerate() {
            let v = field.trim();
            let bad = |what: &str| {
                err(
                    Some(lineno),
                    format!("column {} ({what}): cannot parse {v:?}", col + 1),
                )
            };
            match *slot {
                Slot::Feature(k) => {
                    let x = parse_number(v).ok_or_else(|| bad("number"))?;
                    if let Some(f) = row.features.get_mut(k) {
                        *f = x;
                    }
                }
                Slot::SrcIp => row.src = parse_addr(v).ok_or_else(|| bad("IP address"))?,
                Slot::DstIp => row.dst = parse_addr(v).ok_or_else(|| bad("IP address"))?,
                Slot::SrcPort => row.src_port = v.parse().map_err(|_| bad("port"))?,
                Slot::DstPort => row.dst_port = v.parse().map_err(|_| bad("port"))?,
                Slot::Protocol => row.proto = v.parse().map_err(|_| bad("protocol"))?,
                Slot::Kdd(c) => {
                    let x = match c.vocabulary() {
                        Some(vocab) if c.kind() == KddKind::Cat => {
                            vocab.iter().position(|s| *s == v).ok_or_else(|| {
                                err(
                                    Some(lineno),
                                    format!(
                                        "column {} ({}): unknown value {v:?}, not in NSL-KDD's \
                                         {} vocabulary",
                                        col + 1,
                                        c.name(),
                                        c.name()
                                    ),
                                )
                            })? as f64
                        }
                        _ => parse_number(v).ok_or_else(|| bad(c.name()))?,
                    };
                    row.kdd.set(c, x);
                }
                Slot::Ignored => {}
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// An input as the header error names it.
fn describe(input: &Input) -> String {
    match input.kdd_col() {
        Some(c) => c.name().to_string(),
        None => format!("{input:?}"),
    }
}

/// Parses a number as Java printed it (`NaN`, `Infinity`, `-Infinity`,
/// `1.0E-4`) or as Python/pandas did (`nan`, `inf`).
pub fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok()
}

fn parse_addr(s: &str) -> Option<Addr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(Addr::v4(a.octets())),
        IpAddr::V6(a) => Some(Addr::v6(a.octets())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kdd_csv(name: &str, body: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "flowsentinel-flowcsv-{}-{name}.csv",
            std::process::id()
        ));
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn kdd_columns_by_name_and_vocabulary() {
        let p = kdd_csv(
            "ok",
            "duration,protocol_type,service,flag,same_srv_rate,class,Src IP,Dst Port\n\
             3,udp,domain_u,SF,0.50,normal,10.0.0.9,53\n",
        );
        let needs = [
            Input::Kdd(KddCol::Duration),
            Input::Kdd(KddCol::Service),
            Input::Kdd(KddCol::SameSrvRate),
            Input::DstPort,
        ];
        let rows = read(&p, &needs, true).unwrap();
        let r = rows.first().unwrap();
        assert_eq!(r.kdd.get(KddCol::Duration), 3.0);
        assert_eq!(r.kdd.text(KddCol::ProtocolType), Some("udp"));
        assert_eq!(r.kdd.text(KddCol::Service), Some("domain_u"));
        assert_eq!(r.kdd.text(KddCol::Flag), Some("SF"));
        assert_eq!(r.kdd.get(KddCol::SameSrvRate), 0.5);
        assert_eq!((r.dst_port, r.src), (53, Addr::v4([10, 0, 0, 9])));
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn kdd_errors_name_line_column_and_value() {
        let p = kdd_csv("bad", "duration,service,count\n0,http,1\n0,htttp,2\n");
        let e = read(&p, &[Input::Kdd(KddCol::Count)], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3: column 2 (service): unknown value \"htttp\""),
            "{e}"
        );
        let e = read(&p, &[Input::Kdd(KddCol::Flag)], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(flag) needs its KDD column"), "{e}");
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn java_and_python_spellings() {
        assert_eq!(parse_number("1.0E-4"), Some(1.0e-4));
        assert_eq!(parse_number("Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_number("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_number("NaN").is_some_and(f64::is_nan));
        assert!(parse_number("nan").is_some_and(f64::is_nan));
        assert_eq!(parse_number("12"), Some(12.0));
        assert_eq!(parse_number("x"), None);
    }
}
