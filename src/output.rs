//! Output: the CICFlowMeter-format flow CSV.
//!
//! Owns number and timestamp rendering. In the compat profiles numbers are
//! spelled as Java's `Double.toString` / `Long.toString` spell them (`1.0`,
//! `1.1527277722826685E8`, `NaN`, `Infinity`) and timestamps as the era tool's
//! `dd/MM/yyyy hh:mm:ss` (a 12-hour clock without AM/PM) in UTC. `fixed`
//! writes `yyyy-MM-dd HH:mm:ss.ffffff` in UTC.
//!
//! Input: finished flows with their feature vectors; output: bytes to any
//! `Write`. One reused line buffer, no per-cell allocation.

use crate::decode::Addr;
use crate::features::{Col, FeatureVector, Kind, Layout};
use crate::flow::FinishedFlow;
use crate::profile::Profile;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Appends `x` as Java's `Double.toString` would print it.
pub fn java_double(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        if x.fract() == 0.0 {
            // Whole numbers are the common case: skip the float formatter.
            push_int(out, x as i64);
            out.push_str(".0");
            return;
        }
        // Plain notation; a non-integer always has a fractional part.
        let _ = write!(out, "{x}");
        return;
    }
    // Scientific: d.dddE[-]n with at least one fractional digit.
    let start = out.len();
    let _ = write!(out, "{x:e}");
    let Some(e) = out[start..].find('e').map(|i| start + i) else {
        return;
    };
    let has_point = out[start..e].contains('.');
    out.replace_range(e..e + 1, if has_point { "E" } else { ".0E" });
}

/// Appends a decimal integer without going through `core::fmt`.
pub fn push_int(out: &mut String, v: i64) {
    if (0..10).contains(&v) {
        out.push(char::from(b'0' + v as u8));
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    while n > 0 && i > 0 {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    if v < 0 {
        out.push('-');
    }
    if let Some(Ok(digits)) = buf.get(i..).map(std::str::from_utf8) {
        out.push_str(digits);
    }
}

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

/// Appends a feature value of `kind` in the profile's spelling.
pub fn number(out: &mut String, x: f64, kind: Kind, profile: Profile) {
    if kind == Kind::Int && x.is_finite() && x.fract() == 0.0 {
        push_int(out, x as i64);
    } else if profile.is_compat() {
        java_double(out, x);
    } else {
        let _ = write!(out, "{x}");
    }
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends a µs timestamp in the profile's format, UTC.
pub fn timestamp(out: &mut String, ts_us: i64, profile: Profile) {
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if profile.is_compat() {
        // era: SimpleDateFormat "dd/MM/yyyy hh:mm:ss", a 12-hour clock with no AM/PM.
        let h12 = if h % 12 == 0 { 12 } else { h % 12 };
        let _ = write!(out, "{d:02}/{mo:02}/{y:04} {h12:02}:{mi:02}:{s:02}");
    } else {
        let _ = write!(
            out,
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06}"
        );
    }
}

impl CsvWriter<Vec<u8>> {
    /// A CSV formatted into memory: [`CsvWriter::get_mut`] takes the rows.
    pub fn in_memory(layout: Layout, profile: Profile, extra: &[&str], header: bool) -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        if header {
            out.extend_from_slice(layout.header().as_bytes());
            for name in extra {
                out.push(b',');
                out.extend_from_slice(name.as_bytes());
            }
            out.push(b'\n');
        }
        Self {
            out,
            cells: cells(layout),
            profile,
            line: String::with_capacity(1024),
        }
    }
}

/// The layout's columns with their kinds, looked up once per writer.
fn cells(layout: Layout) -> Vec<(Col, Kind)> {
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
    profile: Profile,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a CSV: writes the header of `layout`.
    pub fn new(out: W, layout: Layout, profile: Profile) -> io::Result<Self> {
        Self::with_extra_columns(out, layout, profile, &[], true)
    }

    /// Starts a CSV whose rows end with `extra` columns after the layout's
    /// (their values are passed to [`CsvWriter::write_with`]). `header` is
    /// false when appending to a file that already has one.
    pub fn with_extra_columns(
        mut out: W,
        layout: Layout,
        profile: Profile,
        extra: &[&str],
        header: bool,
    ) -> io::Result<Self> {
        if header {
            out.write_all(layout.header().as_bytes())?;
            for name in extra {
                out.write_all(b",")?;
                out.write_all(name.as_bytes())?;
            }
            out.write_all(b"\n")?;
        }
        Ok(Self {
            out,
            cells: cells(layout),
            profile,
            line: String::with_capacity(1024),
        })
    }

    /// Writes one flow with its features and label.
    pub fn write(
        &mut self,
        flow: &FinishedFlow,
        features: &FeatureVector,
        label: &str,
    ) -> io::Result<()> {
        self.write_with(flow, features, label, &[])
    }

    /// Writes one flow, then the extra columns' values.
    pub fn write_with(
        &mut self,
        flow: &FinishedFlow,
        features: &FeatureVector,
        label: &str,
        extra: &[&str],
    ) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        let (src, src_port, dst, dst_port) = flow.endpoints();
        for (i, &(c, kind)) in self.cells.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            match c {
                Col::FlowId => flow.key.write_flow_id(line),
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
        for v in extra {
            line.push(',');
            line.push_str(v);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
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

    fn jd(x: f64) -> String {
        let mut s = String::new();
        java_double(&mut s, x);
        s
    }

    #[test]
    fn java_spelling() {
        assert_eq!(jd(86.0), "86.0");
        assert_eq!(jd(0.21339950372208433), "0.21339950372208433");
        assert_eq!(jd(1.1527277722826685E8), "1.1527277722826685E8");
        assert_eq!(jd(1e7), "1.0E7");
        assert_eq!(jd(0.001), "0.001");
        assert_eq!(jd(0.0001), "1.0E-4");
        assert_eq!(jd(f64::NAN), "NaN");
        assert_eq!(jd(f64::INFINITY), "Infinity");
        assert_eq!(jd(9999999.0), "9999999.0");
        assert_eq!(jd(-12.0), "-12.0");
        assert_eq!(jd(1.5e-7), "1.5E-7");
        assert_eq!(jd(2e10), "2.0E10");
        let mut s = String::new();
        push_int(&mut s, i64::MIN + 1);
        push_int(&mut s, 0);
        assert_eq!(s, format!("{}0", i64::MIN + 1));
    }

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
