//! GGUF tensors by Hugging Face name: `blk.N.attn_q.weight` ↔
//! `model.layers.N.self_attn.q_proj.weight`, dequantized to f32 one at a time, with
//! llama.cpp's Q/K row permutation (Llama) and norm shift (Gemma) undone.
//!
//! llama.cpp's convert script stores q_proj/k_proj for interleaved (GPT-J style) RoPE:
//! `w.reshape(n_head, 2, head_dim/2, in).swapaxes(1, 2).reshape(out, in)`, i.e. row
//! `h·hd + 2i + j` of the GGUF weight is row `h·hd + j·hd/2 + i` of the Hugging Face one.
//! The decoder's RoPE is transformers' half-split `rotate_half`, so the loader inverts it.

use super::gguf::GgufModel;
use crate::model::config::{DecoderConfig, Family};
use crate::model::init::WeightSource;
use anyhow::{bail, Context, Result};
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;

/// The GGUF name of a Hugging Face tensor name (`model.layers.3.self_attn.q_proj.weight` →
/// `blk.3.attn_q.weight`) in a model of `cfg`'s family, as llama.cpp's converter names it.
/// Gemma's four norms: `attn_norm` (input), `post_attention_norm`, `ffn_norm` (its
/// pre-feedforward norm) and `post_ffw_norm`; elsewhere `ffn_norm` is the post-attention norm.
pub fn gguf_name(hf: &str, cfg: &DecoderConfig) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, module) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = module.rsplit_once('.')?;
    let g = match module {
        "input_layernorm" => "attn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.qkv_proj" => "attn_qkv",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "post_attention_layernorm" if cfg.sandwich_norms => "post_attention_norm",
        "post_attention_layernorm" | "pre_feedforward_layernorm" => "ffn_norm",
        "post_feedforward_layernorm" => "post_ffw_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" | "mlp.gate_up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    if !matches!(kind, "weight" | "bias") {
        return None;
    }
    Some(format!("blk.{layer}.{g}.{kind}"))
}

/// llama.cpp's permutation of a q_proj/k_proj weight (out, in) for interleaved RoPE:
/// (n_head, 2, hd/2, in) → swap axes 1 and 2. What convert_hf_to_gguf.py writes.
pub fn llama_cpp_permute(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (out, inp) = w.dims2()?;
    w.reshape((n_head, 2, out / n_head / 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))
}

/// The inverse of [`llama_cpp_permute`]: (n_head, hd/2, 2, in) → swap axes 1 and 2, which
/// gives back the Hugging Face row order (first half of each head, then the second).
pub fn llama_cpp_unpermute(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (out, inp) = w.dims2()?;
    w.reshape((n_head, out / n_head / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))
}

/// [`llama_cpp_unpermute`] of a weight still quantized: GGML blocks run along a row, so the
/// rows move as whole byte runs and the values stay exactly as stored.
pub fn llama_cpp_unpermute_quantized(q: &QTensor, n_head: usize) -> candle_core::Result<QTensor> {
    let (out, inp) = q.shape().dims2()?;
    let ty = q.dtype();
    let row = inp / ty.block_size() * ty.type_size();
    let data = q.data()?;
    let half = out / n_head / 2;
    let mut bytes = Vec::with_capacity(data.len());
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                let r = h * 2 * half + 2 * i + j;
                bytes.extend_from_slice(&data[r * row..(r + 1) * row]);
            }
        }
    }
    candle_core::quantized::ggml_file::qtensor_from_ggml(ty, &bytes, vec![out, inp], &Device::Cpu)
}

/// Hands out a GGUF file's tensors by Hugging Face name, dequantized to f32 in host memory one
/// at a time, in transformers' form: Llama's q/k un-permuted (llama.cpp permutes only the
/// families whose RoPE it runs interleaved), Gemma's norms shifted back by one (llama.cpp
/// stores 1 + w, the scale itself).
pub struct GgufSource {
    model: GgufModel,
    file: BufReader<File>,
    cfg: DecoderConfig,
    taken: HashSet<String>,
}

impl GgufSource {
    pub fn new(model: GgufModel, cfg: &DecoderConfig) -> Result<GgufSource> {
        let file = File::open(&model.path).with_context(|| format!("{}: cannot open", model.path.display()))?;
        Ok(GgufSource {
            file: BufReader::new(file),
            cfg: cfg.clone(),
            model,
            taken: HashSet::new(),
        })
    }
}

impl WeightSource for GgufSource {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let p = self.model.path.display();
        let g = gguf_name(name, &self.cfg).with_context(|| format!("{p}: no GGUF tensor name for `{name}`"))?;
        let info = self
            .model
            .content
            .tensor_infos
            .get(&g)
            .with_context(|| format!("{p}: missing tensor `{g}` (the decoder's `{name}`, shape {shape:?})"))?;
        if info.shape.dims() != shape {
            bail!(
                "{p}: tensor `{g}` (the decoder's `{name}`): expected shape {shape:?}, found {:?}",
                info.shape.dims()
            );
        }
        let q = info
            .read(&mut self.file, self.model.content.tensor_data_offset, &Device::Cpu)
            .with_context(|| format!("{p}: cannot read tensor `{g}`"))?;
        let mut t = q
            .dequantize(&Device::Cpu)
            .with_context(|| format!("{p}: cannot dequantize tensor `{g}`"))?;
        let permuted = self.cfg.family == Family::Llama;
        if permuted && g.ends_with(".attn_q.weight") {
            t = llama_cpp_unpermute(&t, self.cfg.num_attention_heads)?;
        } else if permuted && g.ends_with(".attn_k.weight") {
            t = llama_cpp_unpermute(&t, self.cfg.num_key_value_heads)?;
        } else if self.cfg.norm_plus_one && g.ends_with("norm.weight") {
            t = (t - 1.0)?;
        }
        self.taken.insert(g);
        Ok(t)
    }

    fn finish(&mut self) -> Result<()> {
        let names = self.model.tensor_names();
        let left: Vec<&str> = names.into_iter().filter(|n| !self.taken.contains(*n)).collect();
        if let Some(first) = left.first() {
            bail!(
                "{}: unexpected tensor `{first}` ({} left over): this config has no place for it",
                self.model.path.display(),
                left.len()
            );
        }
        Ok(())
    }
}
