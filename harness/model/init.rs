//! Weight sources: where a method gets each named tensor when it builds the decoder. Tensors
//! are produced one at a time, so a method can turn each into its final form (a `Var`, a
//! frozen tensor, NF4) before the next exists: loading never holds two copies of the model.
//!
//! Random init: each tensor (and each 1M-element chunk of it) draws from its own generator,
//! seeded by (seed, tensor name, chunk), so presets are reproducible across versions and
//! thread counts.

use super::config::DecoderConfig;
use candle_core::{DType, Device, Result, Tensor};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Named weight tensors in Hugging Face naming (`model.layers.0.self_attn.q_proj.weight`, ...).
pub type Weights = BTreeMap<String, Tensor>;

/// Gives the decoder's tensors by Hugging Face name, each once, in host memory and in the dtype
/// they come in (as stored in a file; f32 when drawn or dequantized): whoever takes a tensor
/// casts it and places it where the model runs (method/build.rs does both on the compute
/// device, whose casts are parallel, and quantizes to NF4 on the host, where the values are).
pub trait WeightSource {
    /// The tensor `name`, of `shape`; an error names the tensor and what was expected.
    fn take(&mut self, name: &str, shape: &[usize]) -> anyhow::Result<Tensor>;
    /// Called once every tensor was taken: an error if the source holds tensors nobody used.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// (name, shape) of every tensor the config needs, in build order.
pub fn weight_shapes(cfg: &DecoderConfig) -> Vec<(String, Vec<usize>)> {
    let h = cfg.hidden_size;
    let mut v = vec![("model.embed_tokens.weight".to_string(), vec![cfg.vocab_size, h])];
    let block = cfg.block_tensors();
    for l in 0..cfg.num_hidden_layers {
        v.extend(block.iter().map(|t| (format!("model.layers.{l}.{}", t.name), t.shape.clone())));
    }
    v.push(("model.norm.weight".to_string(), vec![h]));
    if !cfg.tie_word_embeddings {
        v.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h]));
    }
    v
}

/// Seeded random weights as transformers initialises them: normal(0, initializer_range) for
/// embeddings and linear weights, zeros for biases, RMSNorm weights at the identity (ones, or
/// zeros where the family scales by 1 + w); f32, drawn in host memory.
pub struct RandomInit {
    pub std: f64,
    pub seed: u64,
    /// The value of an identity norm weight.
    pub norm_identity: f32,
}

impl RandomInit {
    pub fn new(cfg: &DecoderConfig, seed: u64) -> Self {
        RandomInit {
            std: cfg.initializer_range,
            seed,
            norm_identity: if cfg.norm_plus_one { 0.0 } else { 1.0 },
        }
    }
}

const CHUNK: usize = 1 << 20;

/// `n` values of `dist` for `name`, from per-chunk generators seeded by (seed, name, chunk).
pub fn seeded_values<D: Distribution<f32> + Sync>(seed: u64, name: &str, n: usize, dist: D) -> Vec<f32> {
    let mut out = vec![0f32; n];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        h.update(name.as_bytes());
        h.update((c as u64).to_le_bytes());
        let mut rng = StdRng::from_seed(h.finalize().into());
        chunk.iter_mut().for_each(|x| *x = dist.sample(&mut rng));
    });
    out
}

impl WeightSource for RandomInit {
    fn take(&mut self, name: &str, shape: &[usize]) -> anyhow::Result<Tensor> {
        let n: usize = shape.iter().product();
        let data = if name.ends_with("norm.weight") {
            vec![self.norm_identity; n]
        } else if name.ends_with(".bias") {
            vec![0.0f32; n]
        } else {
            seeded_values(self.seed, name, n, Normal::new(0.0f32, self.std as f32)?)
        };
        Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
    }
}

impl WeightSource for Weights {
    fn take(&mut self, name: &str, shape: &[usize]) -> anyhow::Result<Tensor> {
        let t = self.remove(name).ok_or_else(|| anyhow::anyhow!("missing weight tensor `{name}`"))?;
        if t.dims() != shape {
            anyhow::bail!("weight tensor `{name}`: expected shape {shape:?}, found {:?}", t.dims());
        }
        Ok(t)
    }
    fn finish(&mut self) -> anyhow::Result<()> {
        match self.keys().next() {
            Some(extra) => anyhow::bail!("unexpected weight tensor `{extra}` for this config ({} left over)", self.len()),
            None => Ok(()),
        }
    }
}

/// Every tensor of a random-init model at once, in `dtype` on `device` (tests and small models).
pub fn random_weights(cfg: &DecoderConfig, seed: u64, dtype: DType, device: &Device) -> Result<Weights> {
    let mut src = RandomInit::new(cfg, seed);
    weight_shapes(cfg)
        .into_iter()
        .map(|(name, shape)| {
            let t = src.take(&name, &shape).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            Ok((name, t.to_dtype(dtype)?.to_device(device)?))
        })
        .collect()
}
