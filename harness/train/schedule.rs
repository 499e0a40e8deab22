//! Learning-rate schedule: linear warm-up, then cosine decay to a floor.

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub peak: f64,
    pub warmup_steps: u32,
    pub total_steps: u32,
    /// The rate at the last step, as a fraction of `peak`.
    pub min_ratio: f64,
}

impl Schedule {
    /// The rate for 1-based update `step`.
    pub fn lr(&self, step: u32) -> f64 {
        if step <= self.warmup_steps && self.warmup_steps > 0 {
            return self.peak * step as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps.min(step)) as f64 / span).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_floor() {
        let s = Schedule {
            peak: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            min_ratio: 0.1,
        };
        assert_eq!(s.lr(1), 0.25);
        assert_eq!(s.lr(4), 1.0);
        assert!((s.lr(9) - 0.55).abs() < 1e-12, "midpoint of the cosine");
        assert!((s.lr(14) - 0.1).abs() < 1e-12);
        assert!((5..14).all(|i| s.lr(i + 1) < s.lr(i)));
    }
}
