//! A GGUF file served as llama.cpp serves it: norms and the embedding dequantized to f32 (the
//! embedding is a row lookup), every linear kept in its stored GGML blocks and multiplied by
//! candle's quantized matmul (nn/ggml.rs), the LM head the output matrix (or, tied, the
//! embedding's blocks). Llama's q/k rows go back to Hugging Face order as whole quantized rows.

use crate::load::{gguf_name, llama_cpp_unpermute_quantized, GgufModel, GgufSource};
use crate::method::{self, Method, MethodConfig};
use crate::model::config::Family;
use crate::model::Decoder;
use crate::nn::{GgmlWeight, Linear};
use anyhow::{Context, Result};
use candle_core::Device;
use std::path::Path;
use std::sync::Arc;

/// The model in `path`, its linears' blocks placed on `device` (a GPU runs candle's CUDA
/// quantized matmuls).
pub fn read_served_gguf(path: &Path, device: &Device) -> Result<Decoder> {
    let file = GgufModel::open(path)?;
    let cfg = file.config()?;
    let quantized = |hf: &str| -> Result<Linear> {
        let g = gguf_name(hf, &cfg).with_context(|| format!("no GGUF name for `{hf}`"))?;
        let mut q = file.qtensor(&g)?;
        let permuted = matches!(cfg.family, Family::Llama | Family::Mistral);
        if permuted && g.ends_with(".attn_q.weight") {
            q = llama_cpp_unpermute_quantized(&q, cfg.num_attention_heads)?;
        } else if permuted && g.ends_with(".attn_k.weight") {
            q = llama_cpp_unpermute_quantized(&q, cfg.num_key_value_heads)?;
        }
        if !device.is_cpu() {
            let dims = q.shape().dims().to_vec();
            q = candle_core::quantized::ggml_file::qtensor_from_ggml(q.dtype(), &q.data()?, dims, device)?;
        }
        Ok(Linear::Frozen(Arc::new(GgmlWeight::new(q)?)))
    };
    // The dense build gives the norms, embedding and biases (and checks every tensor's name and
    // shape); its dense linears are then replaced by the stored blocks.
    let dense_src = GgufModel::open(path)?;
    let mut src = GgufSource::new(dense_src, &cfg)?;
    let precision = crate::model::precision("f32").map_err(anyhow::Error::msg)?;
    let built = method::build(
        &cfg,
        &mut src,
        &MethodConfig::defaults(Method::named("base"), 0),
        precision,
        &Device::Cpu,
    )?;
    let d = built.decoder;
    let linears = cfg.linears();
    let mut layers = Vec::with_capacity(d.layers.len());
    for (i, l) in d.layers.iter().enumerate() {
        let mut k = 0;
        let layer = l.map_linears(|_| -> Result<Option<Linear>> {
            let s = &linears[k];
            k += 1;
            quantized(&format!("model.layers.{i}.{}.{}.weight", s.parent, s.name)).map(Some)
        })?;
        layers.push(layer.context("every linear maps")?);
    }
    let head = if cfg.tie_word_embeddings {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    };
    let lm_head = quantized(head)?;
    let mut out = Decoder::new(cfg.clone(), d.embed.clone(), layers, d.norm.clone(), lm_head)?;
    out.fused = d.fused;
    Ok(out)
}
