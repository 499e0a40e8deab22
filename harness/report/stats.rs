//! Student's t distribution and the intervals the report uses: a 95% interval of a mean over
//! seeds, and Welch's interval of a difference of means (step times in `ftbench compare`).

/// The `p` quantile of Student's t with `df` degrees of freedom (df may be fractional, as
/// Welch's is), from `statrs`.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// A 95% interval of the mean of `n` values with sample standard deviation `sd` (t-based);
/// none for fewer than two values.
/// The mean of `xs` (NaN for none).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The sample standard deviation (n − 1); None below two values.
pub fn sample_sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs);
    Some((xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt())
}

pub fn mean_ci95(mean: f64, sd: Option<f64>, n: usize) -> Option<(f64, f64)> {
    let sd = sd?;
    if n < 2 || !sd.is_finite() {
        return None;
    }
    let half = t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
    Some((mean - half, mean + half))
}

/// Welch's 95% interval of mean(new) − mean(base).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub base_mean: f64,
    pub new_mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Difference {
    pub fn diff(&self) -> f64 {
        self.new_mean - self.base_mean
    }
    /// Whether the interval contains no change.
    pub fn within_noise(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's t interval of the difference of means; none unless both sides have two values.
pub fn welch_ci95(base: &[f64], new: &[f64]) -> Option<Difference> {
    if base.len() < 2 || new.len() < 2 {
        return None;
    }
    let (mb, vb) = mean_var(base);
    let (mn, vn) = mean_var(new);
    let (sb, sn) = (vb / base.len() as f64, vn / new.len() as f64);
    let se = (sb + sn).sqrt();
    let d = mn - mb;
    if se == 0.0 {
        return Some(Difference {
            base_mean: mb,
            new_mean: mn,
            low: d,
            high: d,
        });
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = (sb + sn).powi(2) / (sb.powi(2) / (base.len() as f64 - 1.0) + sn.powi(2) / (new.len() as f64 - 1.0));
    let half = t_quantile(0.975, df) * se;
    Some(Difference {
        base_mean: mb,
        new_mean: mn,
        low: d - half,
        high: d + half,
    })
}

/// The median of the values (the mean of the middle two for an even count); None for none.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        for (df, q) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (4.0, 2.776),
            (10.0, 2.228),
            (30.0, 2.042),
            (1e6, 1.960),
        ] {
            assert!((t_quantile(0.975, df) - q).abs() < 1e-3, "df {df}: {}", t_quantile(0.975, df));
        }
        assert_eq!(t_quantile(0.5, 3.0), 0.0);
        assert!((t_quantile(0.025, 5.0) + 2.571).abs() < 1e-3);
    }

    #[test]
    fn intervals() {
        let (lo, hi) = mean_ci95(10.0, Some(2.0), 4).unwrap();
        assert!((hi - 10.0 - 3.182 * 1.0).abs() < 1e-3 && (10.0 - lo - 3.182).abs() < 1e-3);
        assert!(mean_ci95(1.0, None, 1).is_none());
        let same = welch_ci95(&[1.0, 1.1, 0.9, 1.0], &[1.02, 0.98, 1.05, 0.95]).unwrap();
        assert!(same.within_noise());
        let slower = welch_ci95(&[1.0, 1.01, 0.99, 1.0], &[1.5, 1.52, 1.49, 1.5]).unwrap();
        assert!(!slower.within_noise() && slower.low > 0.4 && slower.high < 0.6);
        assert!(welch_ci95(&[1.0], &[1.0, 2.0]).is_none());
    }
}
