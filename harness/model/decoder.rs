//! A differentiable Llama-family decoder: token embedding, pre-norm blocks of grouped-query
//! causal self-attention with rotary embeddings and a SwiGLU MLP, final RMSNorm, and a tied or
//! untied LM head. Full-sequence, cache-free (training and teacher-forced evaluation); greedy
//! decoding with a KV cache lives in generate.rs and reuses the pieces of [`Decoder::block`].

use super::config::LlamaConfig;
use super::ops::{self, RopeTables};
use crate::method::Linear;
use candle_core::{DType, Device, Result, Tensor};

/// One decoder block.
#[derive(Debug, Clone)]
pub struct Layer {
    pub input_norm: Tensor,
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub post_norm: Tensor,
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

/// The decoder; its weights come from a method (see `method::build`).
#[derive(Debug, Clone)]
pub struct Decoder {
    pub cfg: LlamaConfig,
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    pub norm: Tensor,
    /// The LM head; for tied embeddings it wraps the embedding matrix itself.
    pub lm_head: Linear,
    rope: RopeTables,
}

impl Decoder {
    pub fn new(cfg: LlamaConfig, embed: Tensor, layers: Vec<Layer>, norm: Tensor, lm_head: Linear) -> Result<Self> {
        let rope = RopeTables::from_inv_freq(
            &cfg.rope_inv_freq(),
            cfg.max_position_embeddings.min(1 << 16),
            embed.dtype(),
            embed.device(),
        )?;
        Ok(Decoder {
            cfg,
            embed,
            layers,
            norm,
            lm_head,
            rope,
        })
    }

    pub fn dtype(&self) -> DType {
        self.embed.dtype()
    }

    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// The rotary tables (positions 0..min(max_position_embeddings, 65536)).
    pub fn rope(&self) -> &RopeTables {
        &self.rope
    }

    /// Errors unless positions 0..len fit the model (rotary tables, sliding window).
    pub fn check_len(&self, len: usize) -> Result<()> {
        if len > self.rope.len() {
            candle_core::bail!(
                "sequence of {len} tokens exceeds max_position_embeddings ({})",
                self.cfg.max_position_embeddings
            );
        }
        if let Some(w) = self.cfg.sliding_window.filter(|&w| len > w) {
            candle_core::bail!(
                "sequence of {len} tokens exceeds the sliding attention window ({w}), which this decoder does not implement"
            );
        }
        Ok(())
    }

    /// ids (batch, seq) u32 → final hidden states (batch, seq, hidden), after the last norm.
    pub fn hidden_states(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        self.check_len(t)?;
        let mut x = ops::embedding(&self.embed, ids)?;
        for layer in &self.layers {
            x = self.block(layer, &x)?;
        }
        ops::rms_norm(&x, &self.norm, self.cfg.rms_norm_eps)
    }

    /// One pre-norm block: x + attn(norm(x)), then + mlp(norm(·)).
    pub fn block(&self, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let (q, k, v) = self.qkv(l, x, 0)?;
        let a = ops::causal_attention(&q, &k, &v)?;
        self.block_out(l, x, &a)
    }

    /// The attention inputs of a block for x (batch, seq, hidden) at positions start..start+seq:
    /// q (batch, heads, seq, head_dim) and k, v (batch, kv_heads, seq, head_dim), rotary
    /// embeddings applied to q and k; all contiguous.
    pub fn qkv(&self, l: &Layer, x: &Tensor, start: usize) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, hd) = (self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim());
        let n = ops::rms_norm(x, &l.input_norm, self.cfg.rms_norm_eps)?;
        let heads = |y: Tensor, nh: usize| y.reshape((b, t, nh, hd))?.transpose(1, 2);
        let q = ops::rope_at(&heads(l.q_proj.forward(&n)?, h)?, &self.rope, start)?;
        let k = ops::rope_at(&heads(l.k_proj.forward(&n)?, kvh)?, &self.rope, start)?;
        let v = heads(l.v_proj.forward(&n)?, kvh)?.contiguous()?;
        Ok((q.contiguous()?, k.contiguous()?, v))
    }

    /// The rest of a block once attention `a` (batch, heads, seq, head_dim) is known:
    /// x + o_proj(a), then + mlp(norm(·)).
    pub fn block_out(&self, l: &Layer, x: &Tensor, a: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let a = a
            .transpose(1, 2)?
            .reshape((b, t, self.cfg.num_attention_heads * self.cfg.head_dim()))?;
        let x = (x + l.o_proj.forward(&a)?)?;
        let n = ops::rms_norm(&x, &l.post_norm, self.cfg.rms_norm_eps)?;
        let m = ops::swiglu(&l.gate_proj.forward(&n)?, &l.up_proj.forward(&n)?)?;
        x + l.down_proj.forward(&m)?
    }

    /// Hidden rows (n, hidden) → logits (n, vocab).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }
}
