//! LoRA's configuration (rank, α, dropout, targets, rsLoRA, initialisation), shared by every
//! LoRA-family method.

use super::lora_init::Init;

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
    /// How A and B start (lora_init.rs).
    pub init: Init,
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

    /// The target module names, `all-linear` expanded to the linears of `cfg`'s blocks.
    pub fn target_modules(&self, cfg: &crate::model::DecoderConfig) -> Vec<String> {
        if self.targets.iter().any(|t| t == "all-linear") {
            cfg.linears().iter().map(|l| l.name.to_string()).collect()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let c = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: vec!["q_proj".into(), "v_proj".into()],
            rslora: false,
            init: Init::default_init(),
        };
        assert_eq!(c.scale(), 2.0);
        assert_eq!(LoraConfig { rslora: true, ..c.clone() }.scale(), 4.0);
        assert!(c.targets("q_proj") && !c.targets("o_proj"));
        assert!(LoraConfig::check_targets(&["qproj".into()])
            .unwrap_err()
            .contains("unknown module `qproj`"));
    }
}
