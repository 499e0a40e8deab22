//! Summary statistics of repeated measurements (step times, seeds).

/// Median, mean and sample standard deviation (None for the deviation of fewer than two values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub stddev: Option<f64>,
    pub min: f64,
    pub max: f64,
}

pub fn summarize(xs: &[f64]) -> Option<Summary> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    let mean = v.iter().sum::<f64>() / n as f64;
    let stddev = (n > 1).then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(Summary {
        n,
        median,
        mean,
        stddev,
        min: v[0],
        max: v[n - 1],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_mean_stddev() {
        let s = super::summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.mean, s.min, s.max), (2.5, 2.5, 1.0, 4.0));
        assert!((s.stddev.unwrap() - 1.2909944487358056).abs() < 1e-12);
        assert_eq!(super::summarize(&[7.0]).unwrap().stddev, None);
        assert!(super::summarize(&[]).is_none());
    }
}
