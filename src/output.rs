//! Output: the flow CSV, in a CICFlowMeter layout or NSL-KDD's.
//!
//! Owns the CSV layout and the spelling of each cell: the Flow ID, addresses,
//! and in the compat profiles numbers as Java's `Double.toString` /
//! `Long.toString` spell them (`1.0`, `1.1527277722826685E8`, `NaN`,
//! `Infinity`) and timestamps as the era tool's `dd/MM/yyyy hh:mm:ss` (a
//! 12-hour clock without AM/PM) in UTC. `fixed` writes
//! `yyyy-MM-dd HH:mm:ss.ffffff` in UTC. The date and number spellings
//! themselves live in [`crate::text`].
//!
//! The `kdd` format is a header line, NSL-KDD's 41 features in `header.arff`
//! order, `class`, then the connection's identity (`src_ip`, `src_port`,
//! `dst_ip`, `dst_port`, `start_time`); its `txt` variant is
//! `KDDTrain+.txt`'s rows: no header, the 41 features, the class and the
//! difficulty level, which only NSL-KDD's authors could grade and is
//! written 0.
//!
//! Input: finished flows with their feature vectors (and KDD rows); output:
//! bytes to any `Write`. One reused line buffer, no per-cell allocation.

use crate::decode::Addr;
use crate::features::{Col, FeatureVector, Kind, Layout};
use crate::flow::{FinishedFlow, FlowKey};
use crate::kdd::{KddCol, KddRow};
use crate::profile::Profile;
use crate::text::{is_whole, java_double, push_int, push_plain, UtcTime, PLAIN};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Appends an address: dotted quad for IPv4 (without `core::fmt`), RFC 5952 for IPv6.
pub fn push_addr(out: &mut String, a: Addr) {
    match a.octets() {
        &[b0, b1, b2, b3] => {
            for (i, b) in [b0, b1, b2, b3].into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, i64::from(b));
            }
        }
        _ => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Appends the CICFlowMeter Flow ID of `key`, `A-B-portA-portB-proto`.
fn push_flow_id(out: &mut String, key: &FlowKey) {
    push_addr(out, key.a);
    out.push('-');
    push_addr(out, key.b);
    for n in [key.a_port, key.b_port, u16::from(key.proto)] {
        out.push('-');
        push_int(out, i64::from(n));
    }
}

/// Appends a feature value of `kind` in the profile's spelling.
pub fn number(out: &mut String, x: f64, kind: Kind, profile: Profile) {
    if kind == Kind::Int && is_whole(x) {
        push_int(out, x as i64);
    } else if profile.is_compat() {
        java_double(out, x);
    } else if PLAIN.contains(&x.abs()) && !is_whole(x) {
        push_plain(out, x);
    } else {
        let _ = write!(out, "{x}");
    }
}

/// Appends a µs timestamp in the profile's format, UTC.
pub fn timestamp(out: &mut String, ts_us: i64, profile: Profile) {
    let t = UtcTime::from_micros(ts_us);
    let _ = if profile.is_compat() {
        write!(out, "{}", t.era())
    } else {
        write!(out, "{}", t.iso(' '))
    };
}

/// A flow CSV's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A CICFlowMeter layout.
    Cic(Layout),
    /// NSL-KDD's columns with a header and identity columns, or (`txt`)
    /// exactly as `KDDTrain+.txt`.
    Kdd {
        /// `KDDTrain+.txt`'s rows: no header, difficulty 0, no identity.
        txt: bool,
    },
}

impl From<Layout> for Format {
    fn from(l: Layout) -> Format {
        Format::Cic(l)
    }
}

impl Format {
    /// The format a profile writes (see [`Layout::for_profile`]).
    pub fn for_profile(profile: Profile, ml_columns: bool) -> Format {
        match profile {
            Profile::Kdd => Format::Kdd { txt: false },
            _ => Format::Cic(Layout::for_profile(profile, ml_columns)),
        }
    }

    /// False for the header-less `txt` rows.
    pub fn has_header(self) -> bool {
        self != Format::Kdd { txt: true }
    }
}

/// The identity columns of the `kdd` format, after `class`.
const KDD_IDENTITY: [&str; 5] = ["src_ip", "src_port", "dst_ip", "dst_port", "start_time"];

impl CsvWriter<Vec<u8>> {
    /// A CSV formatted into memory: [`CsvWriter::get_mut`] takes the rows.
    pub fn in_memory(format: Format, profile: Profile, extra: &[&str], header: bool) -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        if header && format.has_header() {
            out.extend_from_slice(header_line(format, &[], extra).as_bytes());
        }
        Self::with_output(out, format, profile, Vec::new())
    }
}

/// The header line of `format`, then the `extra` columns' names.
fn header_line(format: Format, context: &[KddCol], extra: &[&str]) -> String {
    let mut line = match format {
        Format::Cic(layout) => layout.header(),
        Format::Kdd { .. } => {
            let mut names: Vec<&str> = KddCol::nsl().map(KddCol::name).collect();
            names.push("class");
            names.extend(KDD_IDENTITY);
            names.join(",")
        }
    };
    for name in context
        .iter()
        .map(|c| c.name())
        .chain(extra.iter().copied())
    {
        line.push(',');
        line.push_str(name);
    }
    line.push('\n');
    line
}

/// The context columns a `context` CSV appends: every window column after
/// a CICFlowMeter layout; the per-source ones after the `kdd` format, which
/// has NSL-KDD's own already.
fn context_columns(format: Format, context: bool) -> Vec<KddCol> {
    if !context {
        return Vec::new();
    }
    let own = match format {
        Format::Cic(_) => 0,
        Format::Kdd { .. } => crate::kdd::NUM_NSL,
    };
    KddCol::ALL
        .into_iter()
        .skip(own)
        .filter(|c| c.is_window())
        .collect()
}

/// The layout's columns with their kinds, looked up once per writer
/// (none for the `kdd` format).
fn cells(format: Format) -> Vec<(Col, Kind)> {
    let Format::Cic(layout) = format else {
        return Vec::new();
    };
    layout
        .columns()
        .into_iter()
        .map(|c| (c, c.column().kind))
        .collect()
}

/// Writes flows as CSV rows in one layout.
pub struct CsvWriter<W: Write> {
    out: W,
    /// The layout's columns, each with its kind.
    cells: Vec<(Col, Kind)>,
    /// Context columns appended to every row.
    context: Vec<KddCol>,
    format: Format,
    profile: Profile,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a CSV: writes the header of `format`, if it has one. With
    /// `context`, the connection-context columns follow the format's own.
    pub fn new(
        mut out: W,
        format: impl Into<Format>,
        profile: Profile,
        context: bool,
    ) -> io::Result<Self> {
        let format = format.into();
        let context = context_columns(format, context);
        if format.has_header() {
            out.write_all(header_line(format, &context, &[]).as_bytes())?;
        }
        Ok(Self::with_output(out, format, profile, context))
    }

    /// A writer to `out`, whose header is written or not needed.
    fn with_output(out: W, format: Format, profile: Profile, context: Vec<KddCol>) -> Self {
        Self {
            out,
            cells: cells(format),
            context,
            format,
            profile,
            line: String::with_capacity(1024),
        }
    }

    /// Writes one flow with its features (or KDD row) and label.
    pub fn write(
        &mut self,
        flow: &FinishedFlow,
        features: &FeatureVector,
        kdd: &KddRow,
        label: &str,
    ) -> io::Result<()> {
        self.write_with(flow, features, kdd, label, &[])
    }

    /// Writes one flow, then the extra columns' values.
    pub fn write_with(
        &mut self,
        flow: &FinishedFlow,
        features: &FeatureVector,
        kdd: &KddRow,
        label: &str,
        extra: &[&str],
    ) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        let (src, src_port, dst, dst_port) = flow.endpoints();
        if let Format::Kdd { txt } = self.format {
            for c in KddCol::nsl() {
                kdd.push_value(c, line);
                line.push(',');
            }
            line.push_str(label);
            if txt {
                line.push_str(",0");
            } else {
                for (i, port) in [(src, src_port), (dst, dst_port)] {
                    line.push(',');
                    push_addr(line, i);
                    line.push(',');
                    push_int(line, i64::from(port));
                }
                line.push(',');
                timestamp(line, flow.record.start_us(), self.profile);
            }
        }
        for (i, &(c, kind)) in self.cells.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            match c {
                Col::FlowId => push_flow_id(line, &flow.key),
                Col::SrcIp => push_addr(line, src),
                Col::SrcPort => push_int(line, i64::from(src_port)),
                Col::DstIp => push_addr(line, dst),
                Col::DstPort => push_int(line, i64::from(dst_port)),
                Col::Protocol => push_int(line, i64::from(flow.key.proto)),
                Col::Timestamp => timestamp(line, flow.record.start_us(), self.profile),
                Col::Label => line.push_str(label),
                _ => {
                    let x = c.feature_index().and_then(|k| features.get(k)).copied();
                    number(line, x.unwrap_or(0.0), kind, self.profile);
                }
            }
        }
        for &c in &self.context {
            line.push(',');
            kdd.push_value(c, line);
        }
        for v in extra {
            line.push(',');
            line.push_str(v);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }

    /// The layout written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The inner writer (a memory buffer's rows, to be written elsewhere).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn era_timestamp_is_12_hour() {
        let mut s = String::new();
        // 2026-11-21 17:30:56 UTC
        timestamp(&mut s, 1_795_800_000_000_000, Profile::Cic2018);
        assert_eq!(s.len(), 19);
        let mut t = String::new();
        timestamp(&mut t, 1_795_800_000_000_000, Profile::Fixed);
        assert!(t.starts_with("2026-"));
        assert_eq!(&t[11..13], "17");
        assert_eq!(&s[11..13], "05");
        assert_eq!(s, "27/11/2026 05:20:00");
    }
}
