//! The standard error of an accuracy over an evaluation sample, as lm-evaluation-harness
//! reports it: the sample standard deviation of the per-item 0/1 scores over √n,
//! √(p(1−p)/(n−1)).

/// Standard error of the mean of `n` 0/1 scores of which `right` are 1. None below 2 items.
pub fn binomial_stderr(right: usize, n: usize) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let p = right as f64 / n as f64;
    Some((p * (1.0 - p) / (n - 1) as f64).sqrt())
}

/// sd(d)/√n of n ≥ 2 values.
fn stderr_of_mean(d: &[f64]) -> f64 {
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt()
}

/// Standard error of the mean of paired differences a_i − b_i of 0/1 scores (the same items
/// scored twice): sd(d)/√n. None below 2 items or for lists of different lengths.
pub fn paired_stderr(a: &[bool], b: &[bool]) -> Option<f64> {
    let n = a.len();
    if n < 2 || b.len() != n {
        return None;
    }
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(u8::from(x)) - f64::from(u8::from(y)))
        .collect();
    Some(stderr_of_mean(&d))
}

/// The standard error over items of the difference of paired runs averaged over seeds: each
/// item's difference a_is − b_is is averaged over the seeds s first, then
/// sd_i(d̄_i)/√n. A run's own misses at items other seeds get right average out this way, while
/// items every seed gets wrong (the sample of items itself) do not; with one seed it is
/// `paired_stderr`. None unless every run scored the same n ≥ 2 items.
pub fn seed_averaged_paired_stderr(pairs: &[(Vec<bool>, Vec<bool>)]) -> Option<f64> {
    let n = pairs.first()?.0.len();
    if n < 2 || pairs.iter().any(|(a, b)| a.len() != n || b.len() != n) {
        return None;
    }
    let k = pairs.len() as f64;
    let d: Vec<f64> = (0..n)
        .map(|i| {
            pairs
                .iter()
                .map(|(a, b)| f64::from(u8::from(a[i])) - f64::from(u8::from(b[i])))
                .sum::<f64>()
                / k
        })
        .collect();
    Some(stderr_of_mean(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_closed_form() {
        // 50 of 100: sqrt(0.25 / 99)
        assert!((binomial_stderr(50, 100).unwrap() - (0.25f64 / 99.0).sqrt()).abs() < 1e-15);
        assert_eq!(binomial_stderr(0, 10), Some(0.0));
        assert_eq!(binomial_stderr(1, 1), None);
    }

    #[test]
    fn paired_differences() {
        let a = [true, true, false, true];
        assert_eq!(paired_stderr(&a, &a), Some(0.0), "identical runs differ by nothing");
        // d = 1,0,0,0: mean .25, sample var = (.5625 + 3 × .0625) / 3 = .25
        let b = [false, true, false, true];
        assert!((paired_stderr(&a, &b).unwrap() - (0.25f64 / 4.0).sqrt()).abs() < 1e-15);
        assert_eq!(paired_stderr(&a, &b[..3]), None);
    }

    #[test]
    fn seeds_average_out_run_specific_misses_but_not_the_items() {
        let a = vec![true, true, true, true, false, false, true, true];
        let b = vec![true; 8];
        // One seed: the paired standard error itself.
        let one = seed_averaged_paired_stderr(&[(a.clone(), b.clone())]).unwrap();
        assert!((one - paired_stderr(&a, &b).unwrap()).abs() < 1e-12);
        // The same misses at every seed: nothing averages out.
        let same = seed_averaged_paired_stderr(&[(a.clone(), b.clone()), (a.clone(), b.clone())]).unwrap();
        assert!((same - one).abs() < 1e-12);
        // Misses at other items in the second seed: half as large a difference per item.
        let mut c = vec![true; 8];
        c[0] = false;
        c[1] = false;
        let other = seed_averaged_paired_stderr(&[(a, b.clone()), (c, b)]).unwrap();
        assert!(other < 0.75 * one, "{other} vs {one}");
    }
}
