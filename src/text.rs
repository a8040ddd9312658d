//! Text: how flowsentinel spells dates and numbers, for every output.
//!
//! Owns the one civil-date conversion ([`civil_from_days`], proleptic
//! Gregorian, UTC) and the spellings built on it, plus the number spellings
//! the compat CSVs share with the era tool:
//!
//! * [`UtcTime`] breaks a time (µs since the epoch, or whole seconds and µs)
//!   into civil fields. [`UtcTime::iso`] spells `yyyy-MM-ddTHH:mm:ss.ffffff`
//!   with the date–time separator the caller picks (the `fixed` CSV a space,
//!   EVE and syslog a `T`, each then adding its own zone suffix);
//!   [`UtcTime::era`] spells the era tool's `dd/MM/yyyy hh:mm:ss`, a 12-hour
//!   clock without AM/PM.
//! * [`java_double`] spells a double as Java's `Double.toString` does;
//!   [`push_int`] a decimal integer, without `core::fmt`.
//!
//! Input: times as `i64` µs (negative before 1970) and plain numbers. Output:
//! text appended to a caller's buffer, or a [`std::fmt::Display`] value to
//! write anywhere. Invariants: every `i64` time has a spelling (no panic, no
//! overflow); a year is printed with at least four digits and a sign when
//! negative (`-001`, `0000`, `294247`), as `{:04}` prints it.

use std::fmt::{self, Write as _};

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`). Exact for every day count whose year
/// fits an `i64`, which covers every `i64` count of seconds.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
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

/// A UTC time broken into civil fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (proleptic Gregorian; 0 is 1 BC).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Microseconds, 0 to 999 999.
    pub micros: u32,
}

impl UtcTime {
    /// The time `ts_us` µs after the epoch (before it when negative).
    pub fn from_micros(ts_us: i64) -> Self {
        // rem_euclid(1_000_000) is in 0..1_000_000.
        Self::from_secs(
            ts_us.div_euclid(1_000_000),
            ts_us.rem_euclid(1_000_000) as u32,
        )
    }

    /// The time `secs` whole seconds and `micros` µs (below one second)
    /// after the epoch.
    pub fn from_secs(secs: i64, micros: u32) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        // rem_euclid(86_400) is in 0..86_400.
        let sod = secs.rem_euclid(86_400) as u32;
        Self {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            second: sod % 60,
            micros,
        }
    }

    /// `yyyy-MM-dd` `sep` `HH:mm:ss.ffffff`, with no zone.
    pub fn iso(self, sep: char) -> Iso {
        Iso { t: self, sep }
    }

    /// The era tool's `dd/MM/yyyy hh:mm:ss` (Java `SimpleDateFormat` with
    /// `hh`: a 12-hour clock, 12 for hour 0, and no AM/PM marker).
    pub fn era(self) -> Era {
        Era(self)
    }
}

/// [`UtcTime::iso`]'s spelling.
#[derive(Debug, Clone, Copy)]
pub struct Iso {
    t: UtcTime,
    sep: char,
}

impl fmt::Display for Iso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.t;
        write!(
            f,
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}.{:06}",
            t.year, t.month, t.day, self.sep, t.hour, t.minute, t.second, t.micros
        )
    }
}

/// [`UtcTime::era`]'s spelling.
#[derive(Debug, Clone, Copy)]
pub struct Era(UtcTime);

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.0;
        let h12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
        write!(
            f,
            "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
            t.day, t.month, t.year, h12, t.minute, t.second
        )
    }
}

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
    if PLAIN.contains(&x.abs()) {
        if is_whole(x) {
            // Whole numbers are the common case: skip the float formatter.
            push_int(out, x as i64);
            out.push_str(".0");
        } else {
            // Plain notation; a non-integer always has a fractional part.
            push_plain(out, x);
        }
        return;
    }
    // Scientific: d.dddE[-]n with at least one fractional digit. core::fmt,
    // not ryu: where a double lies exactly halfway between two shortest
    // spellings (627793833539031.25, whose ulp is 0.125) the two round the
    // last digit differently, and this is the spelling the fidelity tests
    // hold. None was found in the plain range above (see the unit test).
    let start = out.len();
    let _ = write!(out, "{x:e}");
    let Some(e) = out[start..].find('e').map(|i| start + i) else {
        return;
    };
    let has_point = out[start..e].contains('.');
    out.replace_range(e..e + 1, if has_point { "E" } else { ".0E" });
}

/// True when `x` is finite with no fractional part: `x.fract() == 0.0`
/// without a libm call (`trunc` is a function call on baseline x86-64).
/// From 2^52 up every finite double is whole.
pub fn is_whole(x: f64) -> bool {
    if x.abs() < 4_503_599_627_370_496.0 {
        (x as i64) as f64 == x
    } else {
        x.is_finite()
    }
}

/// Magnitudes that Java's `Double.toString` (and `{x}` for the `fixed`
/// profile's non-integers, through [`push_plain`]) spells in plain notation.
pub const PLAIN: std::ops::Range<f64> = 1e-3..1e7;

/// Appends a non-integer in (-1e7, -1e-3] or [1e-3, 1e7) in its shortest
/// round-trip digits, plain notation. In this range ryu spells it as `{x}`
/// does (and as Java's `Double.toString`), without going through core::fmt.
///
/// Except at exact ties: a double whose exact value has 17 or 18
/// significant digits (8388608.0009765625, 1234.00006103515625) can lie
/// halfway between two 16- or 17-digit spellings that both round-trip;
/// ryu picks the even one, core::fmt the upper one, and core::fmt's is the
/// spelling the fidelity tests hold. Shorter spellings are never that near
/// a double (two n-digit neighbours are 10^(16-n) ulps or more apart), and
/// no shortest spelling needs more than 17 digits.
pub fn push_plain(out: &mut String, x: f64) {
    if exact_tie_digits(x) {
        let _ = write!(out, "{x}");
    } else {
        out.push_str(ryu::Buffer::new().format_finite(x));
    }
}

/// Powers of ten from 1e-2 to 1e7: the decimal exponent of a value in
/// [1e-3, 1e7) is the count it reaches, minus 3.
const TENS: [f64; 10] = [1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];

/// True when `x` (finite, |x| in [1e-3, 1e7), not whole) has an exact
/// decimal value of 17 or 18 significant digits: x = odd × 2^-f has f
/// fractional decimal digits, and floor(log10 |x|) + 1 before them.
fn exact_tie_digits(x: f64) -> bool {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 || exp == 0x7ff {
        return false;
    }
    let m = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let e = exp - 1075 + m.trailing_zeros() as i32;
    if e >= 0 {
        return false;
    }
    let a = x.abs();
    let reached = TENS.iter().take_while(|&&t| a >= t).count() as i32;
    // floor(log10 a) = reached - 3; digits = f + floor(log10 a) + 1.
    matches!(-e + reached - 2, 17 | 18)
}

/// Appends a decimal integer (`itoa`: no `core::fmt`, no allocation).
pub fn push_int(out: &mut String, v: i64) {
    // Most cells of a flow CSV are one digit (zeros above all): a push
    // without itoa's buffer and copy.
    if let Ok(d @ 0..=9) = u8::try_from(v) {
        out.push(char::from(b'0' + d));
        return;
    }
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jd(x: f64) -> String {
        let mut s = String::new();
        java_double(&mut s, x);
        s
    }

    /// ryu's plain spelling is core::fmt's for every non-integer in
    /// [1e-3, 1e7), where java_double uses it.
    #[test]
    fn ryu_spells_plain_doubles_as_core_fmt_does() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut checked = 0;
        while checked < 200_000 {
            // xorshift64, a fixed seed: the same values every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Log-uniform over the range: every decade alike.
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let v = 10f64.powf(-3.0 + 10.0 * u);
            if !(1e-3..1e7).contains(&v) || v.fract() == 0.0 {
                continue;
            }
            assert_eq!(ryu::Buffer::new().format_finite(v), format!("{v}"), "{v:e}");
            assert_eq!(ryu::Buffer::new().format_finite(-v), format!("{}", -v));
            checked += 1;
        }
    }

    /// Doubles whose exact value has 17 or 18 significant digits: two
    /// shortest spellings can be equally near, and push_plain must spell
    /// them as core::fmt does (ryu alone rounds 8388608.0009765625 to ...562).
    #[test]
    fn plain_ties_are_spelt_as_core_fmt_does() {
        let mut s = String::new();
        push_plain(&mut s, 8_388_608.0 + 1.0 / 1024.0);
        assert_eq!(s, "8388608.000976563");
        s.clear();
        push_plain(&mut s, 1234.0 + 1.0 / 16384.0);
        assert_eq!(s, "1234.0000610351563");
        let mut ties = 0;
        for k in 1..=40u32 {
            let step =
                1.0 / f64::from(2u32.pow(k.min(31))) / f64::from(2u32.pow(k.saturating_sub(31)));
            for whole in [
                0.0,
                1.0,
                7.0,
                99.0,
                1234.0,
                65_535.0,
                524_288.0,
                8_388_607.0,
                9_999_998.0,
            ] {
                for j in [1.0, 3.0, 5.0, 7.0, 1023.0, 4097.0] {
                    let v = whole + j * step;
                    if !(1e-3..1e7).contains(&v) || is_whole(v) {
                        continue;
                    }
                    ties += usize::from(exact_tie_digits(v));
                    for x in [v, -v] {
                        let mut s = String::new();
                        push_plain(&mut s, x);
                        assert_eq!(s, format!("{x}"), "{x:e}");
                    }
                }
            }
        }
        assert!(ties > 10, "{ties} values with 17 or 18 exact digits");
    }

    #[test]
    fn whole_is_fract_zero() {
        let edge = 4_503_599_627_370_496.0;
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1e-300,
            123_456.0,
            123_456.25,
            edge - 0.5,
            edge - 1.0,
            edge,
            edge + 1.0,
            1e18,
            9.3e18,
            -9.3e18,
            1e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(is_whole(x), x.fract() == 0.0, "{x:e}");
        }
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
    fn integers_and_doubles_at_the_edges() {
        for v in [
            0,
            9,
            10,
            -1,
            -9,
            -10,
            99,
            100,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut s = String::from("x");
            push_int(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
        assert_eq!(jd(-0.0), "-0.0");
        assert_eq!(jd(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(jd(-1e7), "-1.0E7");
        assert_eq!(jd(-0.001), "-0.001");
        assert_eq!(jd(0.0009999), "9.999E-4");
        assert_eq!(jd(f64::MAX), "1.7976931348623157E308");
        assert_eq!(jd(f64::MIN_POSITIVE), "2.2250738585072014E-308");
        // Shortest digits: Java 8 prints "4.9E-324" here, a subnormal no
        // flow feature reaches.
        assert_eq!(jd(5e-324), "5.0E-324");
        // Appends, after what the buffer holds.
        let mut s = String::from("a,");
        java_double(&mut s, 2e10);
        assert_eq!(s, "a,2.0E10");
    }

    fn iso(ts_us: i64) -> String {
        UtcTime::from_micros(ts_us).iso('T').to_string()
    }

    fn era(ts_us: i64) -> String {
        UtcTime::from_micros(ts_us).era().to_string()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(-719_469), (0, 2, 29));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-25_508), (1900, 3, 1));
        assert_eq!(civil_from_days(-25_509), (1900, 2, 28));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
        assert_eq!(civil_from_days(2_932_897), (10000, 1, 1));
        // Every day of 1600..2400 follows the one before it.
        let mut prev = civil_from_days(-135_140);
        assert_eq!(prev, (1600, 1, 1));
        for days in -135_139..157_054 {
            let (y, m, d) = civil_from_days(days);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                [next_day, next_month, next_year].contains(&(y, m, d)),
                "{days}: {prev:?} then {:?}",
                (y, m, d)
            );
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            assert!((1..=len[m as usize - 1]).contains(&d), "{y}-{m}-{d}");
            prev = (y, m, d);
        }
        assert_eq!(prev, (2399, 12, 31));
    }

    #[test]
    fn iso_at_the_edges() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000000");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999999");
        assert_eq!(iso(-1_000_000), "1969-12-31T23:59:59.000000");
        assert_eq!(iso(-1_000_001), "1969-12-31T23:59:58.999999");
        assert_eq!(iso(951_782_400_000_000), "2000-02-29T00:00:00.000000");
        assert_eq!(iso(1_709_251_199_999_999), "2024-02-29T23:59:59.999999");
        assert_eq!(iso(4_107_542_400_000_000), "2100-03-01T00:00:00.000000");
        assert_eq!(iso(253_402_300_799_999_999), "9999-12-31T23:59:59.999999");
        assert_eq!(iso(253_402_300_800_000_000), "10000-01-01T00:00:00.000000");
        assert_eq!(iso(-62_167_219_200_000_000), "0000-01-01T00:00:00.000000");
        assert_eq!(iso(-62_167_219_200_000_001), "-001-12-31T23:59:59.999999");
        assert_eq!(iso(i64::MAX), "294247-01-10T04:00:54.775807");
        assert_eq!(iso(i64::MIN), "-290308-12-21T19:59:05.224192");
        assert_eq!(
            UtcTime::from_micros(1_795_239_056_022_209)
                .iso(' ')
                .to_string(),
            "2026-11-21 05:30:56.022209"
        );
        // Whole seconds and µs give the same fields as µs.
        for ts in [0, -1, 1_709_876_543_123_456, i64::MAX, i64::MIN] {
            let t = UtcTime::from_micros(ts);
            let (s, us) = (ts.div_euclid(1_000_000), ts.rem_euclid(1_000_000));
            assert_eq!(UtcTime::from_secs(s, us as u32), t);
        }
        // The largest time a SystemTime holds.
        assert_eq!(
            UtcTime::from_secs(i64::MAX, 999_999).iso('T').to_string(),
            "292277026596-12-04T15:30:07.999999"
        );
    }

    #[test]
    fn era_clock_has_12_hours_and_no_marker() {
        assert_eq!(era(0), "01/01/1970 12:00:00");
        assert_eq!(era(3_600_000_000), "01/01/1970 01:00:00");
        assert_eq!(era(43_200_000_000), "01/01/1970 12:00:00");
        assert_eq!(era(46_800_000_000), "01/01/1970 01:00:00");
        assert_eq!(era(86_399_999_999), "01/01/1970 11:59:59");
        assert_eq!(era(-1), "31/12/1969 11:59:59");
        assert_eq!(era(951_825_600_000_000), "29/02/2000 12:00:00");
        assert_eq!(era(-62_167_219_200_000_001), "31/12/-001 11:59:59");
        assert_eq!(era(i64::MAX), "10/01/294247 04:00:54");
        assert_eq!(era(i64::MIN), "21/12/-290308 07:59:05");
    }
}
