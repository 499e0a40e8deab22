//! The decoder's configuration, with Hugging Face `config.json` field names (Llama, Mistral,
//! SmolLM2 and Qwen2-style fields), and the built-in shape presets.

use serde::{Deserialize, Serialize};

/// A Llama-family decoder configuration. Field names follow transformers' `LlamaConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); equals `num_attention_heads` for plain MHA.
    pub num_key_value_heads: usize,
    /// Per-head width; `hidden_size / num_attention_heads` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// The LM head reuses the token embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Standard deviation of the random initialisation (transformers' `initializer_range`).
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    /// RoPE frequency scaling (`linear`, `llama3`, `dynamic`); `None` for plain RoPE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Mistral-style sliding-window attention span; the decoder refuses longer sequences
    /// (within the window, attention is plain causal attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
}

/// transformers' `rope_scaling` (rope_parameters) for the types the decoder implements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `linear`, `llama3` or `dynamic` (`default` means none); older configs say `type`.
    #[serde(alias = "type")]
    pub rope_type: String,
    pub factor: f64,
    /// llama3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    /// llama3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    /// llama3 (and dynamic): the context length the model was pretrained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

/// The RoPE scaling types the decoder implements.
pub const ROPE_TYPES: &[&str] = &["default", "linear", "llama3", "dynamic"];

/// The decoder's seven linear modules per block, by their Hugging Face names, in the order of
/// [`LlamaConfig::linears`] and `Layer::linears`: the one list the weight shapes, the builder,
/// the estimator and LoRA's targets read.
pub const LINEAR_NAMES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// One linear of a block: its HF name, the submodule it sits in and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearShape {
    pub name: &'static str,
    /// `self_attn` or `mlp`.
    pub parent: &'static str,
    pub out: usize,
    pub inp: usize,
}

fn default_init() -> f64 {
    0.02
}

impl LlamaConfig {
    /// The seven linears of one block with their shapes, in [`LINEAR_NAMES`] order.
    pub fn linears(&self) -> [LinearShape; 7] {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let shapes = [(q, h), (kv, h), (kv, h), (h, q), (i, h), (i, h), (h, i)];
        std::array::from_fn(|k| LinearShape {
            name: LINEAR_NAMES[k],
            parent: if k < 4 { "self_attn" } else { "mlp" },
            out: shapes[k].0,
            inp: shapes[k].1,
        })
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// Checks the shape constraints the decoder relies on. The error names the field.
    pub fn check(&self) -> Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (k, v) in nonzero {
            if v == 0 {
                return Err(format!("{k}: must be positive, found 0"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(format!(
                "num_key_value_heads: must divide num_attention_heads ({}), found {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size: must be a multiple of num_attention_heads ({}), found {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if self.head_dim == Some(0) {
            return Err("head_dim: must be positive, found 0".into());
        }
        // Every count ftbench makes of this model is a product of these sizes: refuse sizes
        // whose parameter count would not fit (a wrapped count would print as a small model).
        let (h, i, hd) = (self.hidden_size as u128, self.intermediate_size as u128, self.head_dim() as u128);
        let q = self.num_attention_heads as u128 * hd;
        let kv = self.num_key_value_heads as u128 * hd;
        let params = 2 * self.vocab_size as u128 * h + self.num_hidden_layers as u128 * (2 * h * q + 2 * h * kv + 3 * h * i + 2 * h);
        if params > 1u128 << 50 {
            return Err(format!(
                "the sizes give {params} parameters (more than 2^50): hidden_size, intermediate_size, num_hidden_layers or vocab_size is out of range"
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "head_dim: rotary embeddings need an even head width, found {}",
                self.head_dim()
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return Err("rms_norm_eps and rope_theta: must be positive".into());
        }
        if let Some(r) = &self.rope_scaling {
            r.check().map_err(|e| format!("rope_scaling: {e}"))?;
        }
        if self.sliding_window == Some(0) {
            return Err("sliding_window: must be positive, found 0".into());
        }
        Ok(())
    }

    /// RoPE inverse frequencies (head_dim / 2 of them), with the config's scaling applied, as
    /// transformers' `ROPE_INIT_FUNCTIONS` compute them.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2).map(|i| self.rope_theta.powf(-2.0 * i as f64 / d as f64)).collect();
        match &self.rope_scaling {
            None => base,
            Some(r) => r.apply(base),
        }
    }

    /// Parameter count by the shapes (embedding counted once when tied).
    pub fn num_parameters(&self) -> usize {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let q = self.num_attention_heads * hd;
        let kv = self.num_key_value_heads * hd;
        let attn = h * q + 2 * h * kv + q * h;
        let mlp = 3 * h * i;
        let layer = attn + mlp + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + self.num_hidden_layers * layer + h + head
    }
}

impl RopeScaling {
    /// Checks the type is one the decoder implements and its parameters are there.
    pub fn check(&self) -> Result<(), String> {
        if !ROPE_TYPES.contains(&self.rope_type.as_str()) {
            return Err(format!(
                "rope_type `{}` is not supported; expected one of: {}",
                self.rope_type,
                ROPE_TYPES.join(", ")
            ));
        }
        if self.factor.is_nan() || self.factor <= 0.0 {
            return Err(format!("factor: must be positive, found {}", self.factor));
        }
        if self.rope_type == "llama3" {
            let (lo, hi) = (self.low_freq_factor.unwrap_or(0.0), self.high_freq_factor.unwrap_or(0.0));
            if !(lo > 0.0 && hi > lo) {
                return Err(format!(
                    "llama3 needs low_freq_factor > 0 and high_freq_factor > low_freq_factor, found {:?} and {:?}",
                    self.low_freq_factor, self.high_freq_factor
                ));
            }
            if self.original_max_position_embeddings.unwrap_or(0) == 0 {
                return Err("llama3 needs original_max_position_embeddings".into());
            }
        }
        Ok(())
    }

    /// Scales the plain inverse frequencies. `dynamic` (NTK) changes nothing up to
    /// max_position_embeddings, the longest sequence the decoder accepts.
    fn apply(&self, inv_freq: Vec<f64>) -> Vec<f64> {
        match self.rope_type.as_str() {
            "linear" => inv_freq.into_iter().map(|f| f / self.factor).collect(),
            "llama3" => {
                let (lo, hi) = (self.low_freq_factor.unwrap_or(1.0), self.high_freq_factor.unwrap_or(4.0));
                let old = self.original_max_position_embeddings.unwrap_or(8192) as f64;
                let (low_wavelen, high_wavelen) = (old / lo, old / hi);
                inv_freq
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / self.factor
                        } else {
                            let smooth = (old / wavelen - lo) / (hi - lo);
                            (1.0 - smooth) * f / self.factor + smooth * f
                        }
                    })
                    .collect()
            }
            _ => inv_freq,
        }
    }
}

/// Built-in presets: (name, what it is).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "tiny",
        "2 layers, 64 wide, GQA 4/2 heads, vocab 256, untied: tests and quick checks",
    ),
    (
        "smollm2-135m",
        "SmolLM2-135M shape: 30 layers, 576 wide, GQA 9/3, vocab 49152, tied",
    ),
    ("llama2-7b", "Llama-2-7B shape: 32 layers, 4096 wide, MHA 32 heads, vocab 32000"),
    (
        "mistral-7b",
        "Mistral-7B-v0.1 shape: 32 layers, 4096 wide, GQA 32/8, MLP 14336, vocab 32000",
    ),
    (
        "llama3-8b",
        "Llama-3-8B shape: 32 layers, 4096 wide, GQA 32/8, MLP 14336, vocab 128256",
    ),
];

/// The configuration of a preset, or `None` for an unknown name.
pub fn preset(name: &str) -> Option<LlamaConfig> {
    let base = LlamaConfig {
        vocab_size: 32000,
        hidden_size: 4096,
        intermediate_size: 11008,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 32,
        head_dim: None,
        max_position_embeddings: 4096,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_word_embeddings: false,
        initializer_range: 0.02,
        rope_scaling: None,
        sliding_window: None,
    };
    Some(match name {
        "tiny" => LlamaConfig {
            vocab_size: 256,
            hidden_size: 64,
            intermediate_size: 160,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 512,
            ..base
        },
        "smollm2-135m" => LlamaConfig {
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            max_position_embeddings: 8192,
            rope_theta: 100000.0,
            tie_word_embeddings: true,
            initializer_range: 0.041666666666666664,
            ..base
        },
        "llama2-7b" => base,
        "mistral-7b" => LlamaConfig {
            intermediate_size: 14336,
            num_key_value_heads: 8,
            max_position_embeddings: 32768,
            ..base
        },
        "llama3-8b" => LlamaConfig {
            vocab_size: 128256,
            intermediate_size: 14336,
            num_key_value_heads: 8,
            max_position_embeddings: 8192,
            rope_theta: 500000.0,
            ..base
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_parameter_counts_match_the_published_models() {
        // Published totals: SmolLM2-135M 134.5M, Llama-2-7B 6.74B, Mistral-7B 7.24B, Llama-3-8B 8.03B.
        let count = |n| preset(n).unwrap().num_parameters();
        assert_eq!(count("smollm2-135m"), 134_515_008);
        assert_eq!(count("llama2-7b"), 6_738_415_616);
        assert_eq!(count("mistral-7b"), 7_241_732_096);
        assert_eq!(count("llama3-8b"), 8_030_261_248);
        for (name, _) in PRESETS {
            preset(name).unwrap().check().unwrap();
        }
    }

    #[test]
    fn rope_scaling_follows_transformers() {
        let base = preset("llama3-8b").unwrap();
        let plain = base.rope_inv_freq();
        let scaled = |rope_type: &str| LlamaConfig {
            rope_scaling: Some(RopeScaling {
                rope_type: rope_type.into(),
                factor: 8.0,
                low_freq_factor: Some(1.0),
                high_freq_factor: Some(4.0),
                original_max_position_embeddings: Some(8192),
            }),
            ..base.clone()
        };
        let linear = scaled("linear").rope_inv_freq();
        assert!(plain.iter().zip(&linear).all(|(p, l)| (p / 8.0 - l).abs() < 1e-15));
        // llama3 (Llama 3.1): wavelengths under 8192/4 keep their frequency, over 8192/1 are
        // divided by the factor, and those between are blended smoothly.
        let l3 = scaled("llama3").rope_inv_freq();
        for (p, l) in plain.iter().zip(&l3) {
            let wavelen = 2.0 * std::f64::consts::PI / p;
            if wavelen < 2048.0 {
                assert_eq!(p, l);
            } else if wavelen > 8192.0 {
                assert!((p / 8.0 - l).abs() < 1e-15);
            } else {
                assert!(*l < *p && *l > p / 8.0);
            }
        }
        assert!(l3.windows(2).all(|w| w[1] < w[0]), "still decreasing");
        assert_eq!(
            scaled("dynamic").rope_inv_freq(),
            plain,
            "dynamic NTK is plain RoPE within max_position_embeddings"
        );
        assert!(scaled("yarn").check().unwrap_err().contains("yarn"));
    }
}
