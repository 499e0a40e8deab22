//! Student's t distribution and the intervals the report uses: a 95% interval of a mean over
//! seeds, and Welch's interval of a difference of means (step times in `ftbench compare`).

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; |error| < 1e-13 over the range used here).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b).
fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * beta_inc(0.5 * df, 0.5, df / (df + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection on the CDF).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while t_cdf(hi, df) < p && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// A 95% interval of the mean of `n` values with sample standard deviation `sd` (t-based);
/// none for fewer than two values.
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
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
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
