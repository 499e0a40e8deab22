//! Writes a dense checkpoint as a GGUF file llama.cpp reads: `general.*` and `<arch>.*`
//! metadata (the keys ftbench's reader, transformers' GGUF loader and llama.cpp take), the
//! tokenizer (gguf_tokenizer.rs), and every tensor under llama.cpp's name, quantized per
//! gguf_quant.rs with candle's quantizers; Llama's q/k rows permuted for llama.cpp's
//! interleaved RoPE (`llama_cpp_permute`, what convert_hf_to_gguf.py does). Written atomically:
//! a failed export leaves no file.

use super::gguf_quant::GgufQuant;
use super::gguf_tokenizer::tokenizer_metadata;
use crate::load::{gguf_name, llama_cpp_permute, Tokenizer};
use crate::model::config::Family;
use crate::model::{DecoderConfig, Weights};
use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::QTensor;
use std::path::Path;

/// Families whose GGUF layout the writer knows (and the reader reads back the same).
pub const GGUF_EXPORT_FAMILIES: &[Family] = &[Family::Llama, Family::Mistral, Family::Qwen2, Family::Qwen3];

/// What goes into the file besides the weights.
pub struct GgufHeader<'a> {
    /// `general.name`.
    pub name: &'a str,
    pub tokenizer: Option<&'a Tokenizer>,
    pub eos: &'a [u32],
}

/// Writes `weights` (Hugging Face names and layout, any float dtype) of a `cfg` model to `path`
/// as `quant`; returns the file's size in bytes.
pub fn write_gguf(path: &Path, cfg: &DecoderConfig, weights: &Weights, quant: GgufQuant, header: &GgufHeader) -> Result<u64> {
    if !GGUF_EXPORT_FAMILIES.contains(&cfg.family) {
        bail!(
            "GGUF export of a {:?} model is not supported; ftbench writes the {} families",
            cfg.family,
            GGUF_EXPORT_FAMILIES.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    let metadata = metadata(cfg, quant, header)?;
    let tensors = quantized_tensors(cfg, weights, quant)?;
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    crate::atomic::write_with(path, |w| {
        candle_core::quantized::gguf_file::write(w, &meta, &tens).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .with_context(|| format!("{}: cannot write the GGUF file", path.display()))?;
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{}: cannot stat", path.display()))?
        .len())
}

/// The tensors by GGUF name, in the types `quant` gives them (in Hugging Face name order).
fn quantized_tensors(cfg: &DecoderConfig, weights: &Weights, quant: GgufQuant) -> Result<Vec<(String, QTensor)>> {
    let permuted = cfg.family == Family::Llama || cfg.family == Family::Mistral;
    let mut out = Vec::with_capacity(weights.len());
    for (hf, t) in weights {
        let g = gguf_name(hf, cfg).with_context(|| format!("tensor `{hf}` has no GGUF name"))?;
        let mut t = t.to_dtype(candle_core::DType::F32)?;
        if permuted && g.ends_with(".attn_q.weight") {
            t = llama_cpp_permute(&t, cfg.num_attention_heads)?;
        } else if permuted && g.ends_with(".attn_k.weight") {
            t = llama_cpp_permute(&t, cfg.num_key_value_heads)?;
        }
        let ty = quant.tensor_type(&g, t.dims(), cfg.num_hidden_layers, cfg.tie_word_embeddings);
        let q = QTensor::quantize(&t, ty).with_context(|| format!("quantizing `{g}` {:?} to {ty:?}", t.dims()))?;
        out.push((g, q));
    }
    Ok(out)
}

fn metadata(cfg: &DecoderConfig, quant: GgufQuant, header: &GgufHeader) -> Result<Vec<(String, Value)>> {
    let arch = cfg.family.gguf_architecture();
    let u = |v: usize| Value::U32(v as u32);
    let mut m = vec![
        ("general.architecture".to_string(), Value::String(arch.into())),
        ("general.name".to_string(), Value::String(header.name.into())),
        ("general.file_type".to_string(), Value::U32(quant.file_type())),
        ("general.quantization_version".to_string(), Value::U32(2)),
    ];
    let mut arch_key = |k: &str, v: Value| m.push((format!("{arch}.{k}"), v));
    arch_key("vocab_size", u(cfg.vocab_size));
    arch_key("context_length", u(cfg.max_position_embeddings));
    arch_key("embedding_length", u(cfg.hidden_size));
    arch_key("block_count", u(cfg.num_hidden_layers));
    arch_key("feed_forward_length", u(cfg.intermediate_size));
    arch_key("attention.head_count", u(cfg.num_attention_heads));
    arch_key("attention.head_count_kv", u(cfg.num_key_value_heads));
    arch_key("attention.layer_norm_rms_epsilon", Value::F32(cfg.rms_norm_eps as f32));
    arch_key("rope.freq_base", Value::F32(cfg.rope_theta as f32));
    arch_key("rope.dimension_count", u(cfg.head_dim()));
    if cfg.head_dim.is_some() {
        arch_key("attention.key_length", u(cfg.head_dim()));
        arch_key("attention.value_length", u(cfg.head_dim()));
    }
    match &cfg.rope_scaling {
        None => {}
        Some(s) if s.rope_type == "linear" => {
            arch_key("rope.scaling.type", Value::String("linear".into()));
            arch_key("rope.scaling.factor", Value::F32(s.factor as f32));
        }
        Some(s) => bail!("GGUF export: RoPE scaling `{}` is not supported (none or linear)", s.rope_type),
    }
    if let Some(tok) = header.tokenizer {
        m.extend(tokenizer_metadata(tok, cfg.vocab_size, header.eos)?);
    }
    Ok(m)
}
