//! LoRA's configuration (rank, α, dropout, targets, rsLoRA) and PEFT's initialisation, shared
//! by every LoRA-family method.

use crate::model::seeded_values;
use candle_core::{DType, Device, Result, Tensor, Var};

/// The decoder's linear modules, by their Hugging Face names (the model's one list).
pub const LINEAR_MODULES: &[&str] = &crate::model::LINEAR_NAMES;

#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    /// Module names (see LINEAR_MODULES); `all-linear` expands to all of them.
    pub targets: Vec<String>,
    pub rslora: bool,
}

impl LoraConfig {
    /// α/r, or α/√r for rsLoRA (as PEFT computes `scaling`).
    pub fn scale(&self) -> f64 {
        if self.rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// The target module names, `all-linear` expanded.
    pub fn target_modules(&self) -> Vec<String> {
        if self.targets.iter().any(|t| t == "all-linear") {
            LINEAR_MODULES.iter().map(|s| s.to_string()).collect()
        } else {
            self.targets.clone()
        }
    }

    pub fn targets(&self, module: &str) -> bool {
        self.targets.iter().any(|t| t == "all-linear" || t == module)
    }

    /// Checks target names; the error lists what is accepted.
    pub fn check_targets(targets: &[String]) -> std::result::Result<(), String> {
        if targets.is_empty() {
            return Err("expected at least one module name, or all-linear".into());
        }
        for t in targets {
            if t != "all-linear" && !LINEAR_MODULES.contains(&t.as_str()) {
                return Err(format!(
                    "unknown module `{t}`; expected all-linear or some of: {}",
                    LINEAR_MODULES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// PEFT's default initialisation for the module `name` (out × in): A (r × in) from
    /// Kaiming-uniform with a = √5, i.e. U(-1/√in, 1/√in); B (out × r) zeros, so the adapted
    /// model starts equal to the base. Seeded by (seed, name).
    pub fn init(&self, name: &str, out: usize, inp: usize, seed: u64, dtype: DType, device: &Device) -> Result<(Var, Var)> {
        let bound = 1.0 / (inp as f64).sqrt();
        let uniform =
            rand_distr::Uniform::new_inclusive(-bound as f32, bound as f32).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let a = seeded_values(seed, &format!("{name}.lora_A"), self.rank * inp, uniform);
        let a = Var::from_tensor(&Tensor::from_vec(a, (self.rank, inp), device)?.to_dtype(dtype)?)?;
        let b = Var::zeros((out, self.rank), dtype, device)?;
        Ok((a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_matches_peft() {
        let c = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: vec!["all-linear".into()],
            rslora: false,
        };
        let (a, b) = c.init("m", 6, 100, 1, DType::F32, &Device::Cpu).unwrap();
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        assert!(a.iter().all(|x| x.abs() <= 0.1), "A within ±1/√in");
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!((var - 0.01 / 3.0).abs() < 0.0006, "uniform variance bound²/3: {var}");
        assert!(b.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&x| x == 0.0));
        assert_eq!(c.scale(), 2.0);
        assert_eq!(LoraConfig { rslora: true, ..c }.scale(), 4.0);
    }

    #[test]
    fn targets() {
        let c = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: vec!["q_proj".into(), "v_proj".into()],
            rslora: false,
        };
        assert!(c.targets("q_proj") && !c.targets("o_proj"));
        assert!(LoraConfig::check_targets(&["qproj".into()])
            .unwrap_err()
            .contains("unknown module `qproj`"));
    }
}
