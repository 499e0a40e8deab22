//! Turning named weights into a decoder for a method, and listing what trains.

use crate::method::Linear;
use crate::model::{Decoder, Layer, LlamaConfig, Weights};
use crate::suite::Method;
use anyhow::{Context, Result};
use candle_core::Var;

/// A trainable parameter, by its Hugging Face name.
#[derive(Debug, Clone)]
pub struct Trainable {
    pub name: String,
    pub var: Var,
}

/// Builds the decoder for `method` from `weights` (consumed, so no weight is held twice),
/// and returns it with its trainable parameters.
pub fn build(cfg: &LlamaConfig, mut weights: Weights, method: Method) -> Result<(Decoder, Vec<Trainable>)> {
    let mut trainable = Vec::new();
    let mut take = |name: &str| -> Result<Var> {
        let t = weights.remove(name).with_context(|| format!("missing weight tensor `{name}`"))?;
        let var = Var::from_tensor(&t).with_context(|| format!("weight `{name}`"))?;
        match method {
            Method::Full => trainable.push(Trainable {
                name: name.to_string(),
                var: var.clone(),
            }),
        }
        Ok(var)
    };
    let embed = take("model.embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let mut lin = |n: &str| -> Result<Linear> { Ok(Linear::Trainable(take(&format!("{p}.{n}.weight"))?)) };
        let q_proj = lin("self_attn.q_proj")?;
        let k_proj = lin("self_attn.k_proj")?;
        let v_proj = lin("self_attn.v_proj")?;
        let o_proj = lin("self_attn.o_proj")?;
        let gate_proj = lin("mlp.gate_proj")?;
        let up_proj = lin("mlp.up_proj")?;
        let down_proj = lin("mlp.down_proj")?;
        let input_norm = take(&format!("{p}.input_layernorm.weight"))?.as_tensor().clone();
        let post_norm = take(&format!("{p}.post_attention_layernorm.weight"))?.as_tensor().clone();
        layers.push(Layer {
            input_norm,
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            post_norm,
            gate_proj,
            up_proj,
            down_proj,
        });
    }
    let norm = take("model.norm.weight")?.as_tensor().clone();
    let lm_head = if cfg.tie_word_embeddings {
        Linear::Trainable(embed.clone())
    } else {
        Linear::Trainable(take("lm_head.weight")?)
    };
    if let Some(extra) = weights.keys().next() {
        anyhow::bail!("unexpected weight tensor `{extra}` for this config ({} left over)", weights.len());
    }
    let decoder = Decoder::new(cfg.clone(), embed.as_tensor().clone(), layers, norm, lm_head)?;
    Ok((decoder, trainable))
}
