//! Seeded random weights for a config, named as in Hugging Face checkpoints.
//!
//! Each tensor draws from its own generator, seeded by (seed, tensor name): the values of a
//! tensor depend on nothing else, so presets are reproducible across versions and thread counts.

use super::config::LlamaConfig;
use candle_core::{DType, Device, Result, Tensor};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Named weight tensors in Hugging Face naming (`model.layers.0.self_attn.q_proj.weight`, ...).
pub type Weights = BTreeMap<String, Tensor>;

/// (name, shape, is a norm weight) for every tensor the config needs.
pub fn weight_shapes(cfg: &LlamaConfig) -> Vec<(String, Vec<usize>, bool)> {
    let (h, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim());
    let (q, kv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let mut v = vec![("model.embed_tokens.weight".to_string(), vec![cfg.vocab_size, h], false)];
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        v.push((format!("{p}.input_layernorm.weight"), vec![h], true));
        v.push((format!("{p}.self_attn.q_proj.weight"), vec![q, h], false));
        v.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h], false));
        v.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h], false));
        v.push((format!("{p}.self_attn.o_proj.weight"), vec![h, q], false));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![h], true));
        v.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h], false));
        v.push((format!("{p}.mlp.up_proj.weight"), vec![i, h], false));
        v.push((format!("{p}.mlp.down_proj.weight"), vec![h, i], false));
    }
    v.push(("model.norm.weight".to_string(), vec![h], true));
    if !cfg.tie_word_embeddings {
        v.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h], false));
    }
    v
}

/// Random weights as transformers initialises them: normal(0, initializer_range) for
/// embeddings and linears, ones for RMSNorm weights.
pub fn random_weights(cfg: &LlamaConfig, seed: u64, dtype: DType, device: &Device) -> Result<Weights> {
    let std = cfg.initializer_range;
    let shapes = weight_shapes(cfg);
    let host: Vec<(String, Vec<usize>, Vec<f32>)> = shapes
        .into_par_iter()
        .map(|(name, shape, is_norm)| {
            let n: usize = shape.iter().product();
            let data = if is_norm {
                vec![1.0f32; n]
            } else {
                let mut h = Sha256::new();
                h.update(seed.to_le_bytes());
                h.update(name.as_bytes());
                let digest = h.finalize();
                let mut rng = StdRng::from_seed(digest.into());
                let normal = Normal::new(0.0f32, std as f32).expect("std is positive");
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            (name, shape, data)
        })
        .collect();
    let mut out = Weights::new();
    for (name, shape, data) in host {
        let t = Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?;
        out.insert(name, t);
    }
    Ok(out)
}
