//! Running statistics with the exact arithmetic of Apache Commons Math's
//! `SummaryStatistics`, which the Java CICFlowMeter uses for every mean and
//! standard deviation.
//!
//! The mean is updated incrementally (`m1 += (x - m1) / n`) and the second
//! moment with Welford's rule (`m2 += (n - 1) * dev * dev / n`), so results
//! agree with the Java tool bit for bit, not only to a tolerance. The count is
//! kept by the caller (it is always derivable from packet counters), which keeps
//! an accumulator at 32 bytes.

/// Mean, second moment, minimum and maximum of a stream of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningStats {
    m1: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for RunningStats {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningStats {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Self {
            m1: 0.0,
            m2: 0.0,
            min: f64::NAN,
            max: f64::NAN,
        }
    }

    /// Adds `x` as the `n`-th value (`n` counts from 1 and includes `x`).
    pub fn push(&mut self, x: f64, n: u64) {
        if n <= 1 {
            self.m1 = x;
            self.m2 = 0.0;
            self.min = x;
            self.max = x;
            return;
        }
        let nf = n as f64;
        let dev = x - self.m1;
        let n_dev = dev / nf;
        self.m1 += n_dev;
        self.m2 += (nf - 1.0) * dev * n_dev;
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    /// The mean of `n` values (NaN when `n` is 0).
    pub fn mean(&self, n: u64) -> f64 {
        if n == 0 {
            f64::NAN
        } else {
            self.m1
        }
    }

    /// The bias-corrected sample variance of `n` values: NaN for none, 0 for one.
    pub fn variance(&self, n: u64) -> f64 {
        match n {
            0 => f64::NAN,
            1 => 0.0,
            _ => self.m2 / (n as f64 - 1.0),
        }
    }

    /// The sample standard deviation of `n` values.
    pub fn std(&self, n: u64) -> f64 {
        self.variance(n).sqrt()
    }

    /// The smallest value (NaN when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The largest value (NaN when empty).
    pub fn max(&self) -> f64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::RunningStats;

    fn naive(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn matches_naive_on_small_sample() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut s = RunningStats::new();
        for (i, &x) in xs.iter().enumerate() {
            s.push(x, i as u64 + 1);
        }
        let (mean, var) = naive(&xs);
        let n = xs.len() as u64;
        assert_eq!(s.mean(n), mean);
        assert!((s.variance(n) - var).abs() < 1e-12);
        assert_eq!(s.min(), 2.0);
        assert_eq!(s.max(), 9.0);
    }

    #[test]
    fn empty_and_single() {
        let mut s = RunningStats::new();
        assert!(s.mean(0).is_nan());
        assert!(s.std(0).is_nan());
        s.push(42.0, 1);
        assert_eq!(s.mean(1), 42.0);
        assert_eq!(s.std(1), 0.0);
    }

    proptest::proptest! {
        #[test]
        fn running_stats_agree_with_naive(xs in proptest::collection::vec(0u32..100_000_000, 2..200)) {
            let xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
            let mut s = RunningStats::new();
            for (i, &x) in xs.iter().enumerate() {
                s.push(x, i as u64 + 1);
            }
            let n = xs.len() as u64;
            let (mean, var) = naive(&xs);
            proptest::prop_assert!((s.mean(n) - mean).abs() <= 1e-9 * mean.abs().max(1.0));
            proptest::prop_assert!((s.variance(n) - var).abs() <= 1e-7 * var.abs().max(1.0));
            let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            proptest::prop_assert_eq!(s.min(), lo);
            proptest::prop_assert_eq!(s.max(), hi);
        }
    }
}
