//! A differentiable decoder-only transformer for every family the loaders read: token embedding
//! (scaled by √hidden for Gemma), pre-norm blocks of grouped-query causal self-attention (q, k, v
//! separate or fused, with biases for Qwen2, per-head q/k norms for Qwen3 and Gemma 3, sliding
//! windows per layer, a local RoPE base for Gemma 3, soft-capped scores for Gemma 2) and a gated
//! MLP (SwiGLU or GeGLU, gate and up separate or fused), Gemma's norms on the attention's and
//! the MLP's outputs, a final norm (RMSNorm, or (1 + w)-scaled for Gemma), and a tied or untied
//! LM head (soft-capped for Gemma 2). What a family does is read from its config
//! (model/config.rs); the Llama path is the one all options off. Full-sequence, cache-free
//! (training and teacher-forced evaluation); greedy decoding with a KV cache lives in
//! generate.rs and reuses the pieces of [`Decoder::block`].
//!
//! Two switches trade speed and memory without changing the mathematics (tests check both
//! against the plain path): `fused` runs RMSNorm, rotary embedding, causal softmax (with its
//! sliding window), SwiGLU/GeGLU and the LM-head cross-entropy as single ftbench_kernels ops (f32/f64
//! on the CPU, f32/bf16 on a CUDA GPU; other dtypes, devices and options fall back to the
//! composed ops), and `recompute` keeps only each block's input in the graph and re-runs the
//! block during backward (checkpoint.rs).

use super::checkpoint::{self, RecomputedGrads};
use super::config::{Activation, DecoderConfig};
use super::ops::{self, RopeTables};
use super::rope_cache::RopeCache;
use crate::nn::{Dropout, Linear};
use candle_core::{DType, Device, Result, Tensor, D};
use std::sync::Arc;

/// One decoder block: its norms in `cfg.norms()` order, its linears in `cfg.linears()` order,
/// and each linear's bias where the config has one.
#[derive(Debug, Clone)]
pub struct Layer {
    pub norms: Vec<Tensor>,
    pub linears: Vec<Linear>,
    pub biases: Vec<Option<Tensor>>,
}

/// Where each piece sits in a block's lists, from the config (decoder.rs's one reading of
/// `cfg.norms()` and `cfg.linears()`).
#[derive(Debug, Clone, Copy)]
struct Slots {
    pre_mlp: usize,
    post_attn: Option<usize>,
    post_mlp: Option<usize>,
    q_norm: Option<usize>,
    k_norm: Option<usize>,
    o: usize,
    down: usize,
}

impl Slots {
    fn of(cfg: &DecoderConfig) -> Slots {
        let norms = cfg.norms();
        let norm = |name: &str| norms.iter().position(|n| n.hf_name == name);
        let pre_mlp = if cfg.sandwich_norms {
            "pre_feedforward_layernorm"
        } else {
            "post_attention_layernorm"
        };
        let linears = cfg.linears();
        let linear = |name: &str| linears.iter().position(|l| l.name == name).unwrap_or(usize::MAX);
        Slots {
            pre_mlp: norm(pre_mlp).unwrap_or(1),
            post_attn: norm("post_attention_layernorm").filter(|_| cfg.sandwich_norms),
            post_mlp: norm("post_feedforward_layernorm"),
            q_norm: norm("self_attn.q_norm"),
            k_norm: norm("self_attn.k_norm"),
            o: linear("o_proj"),
            down: linear("down_proj"),
        }
    }
}

/// The decoder; its weights come from a method (see `method::build`).
#[derive(Debug, Clone)]
pub struct Decoder {
    pub cfg: DecoderConfig,
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    pub norm: Tensor,
    /// The LM head; for tied embeddings it wraps the embedding matrix itself.
    pub lm_head: Linear,
    /// The rotary tables of the full-attention layers, and of the sliding layers when they
    /// have a base of their own (Gemma 3), grown to the longest sequence seen (rope_cache.rs).
    rope: Arc<RopeCache>,
    rope_local: Option<Arc<RopeCache>>,
    slots: Slots,
    /// Fused kernels where they apply (default on); off = the composed candle ops, the
    /// unfused baseline the benches compare against.
    pub fused: bool,
    /// Activation recompute (gradient checkpointing) of every block (default off).
    pub recompute: bool,
    /// The dtype activations and matmuls run in; weights kept in another dtype (f32 masters
    /// under bf16 compute) are cast at their use.
    compute: DType,
    /// Gradients of the parameters inside recomputed blocks, which the outer graph never sees.
    recomputed: RecomputedGrads,
}

impl Decoder {
    pub fn new(cfg: DecoderConfig, embed: Tensor, layers: Vec<Layer>, norm: Tensor, lm_head: Linear) -> Result<Self> {
        let compute = embed.dtype();
        let (rope, rope_local) = tables(&cfg, compute, embed.device())?;
        Ok(Decoder {
            slots: Slots::of(&cfg),
            cfg,
            embed,
            layers,
            norm,
            lm_head,
            rope,
            rope_local,
            fused: true,
            recompute: false,
            compute,
            recomputed: RecomputedGrads::default(),
        })
    }

    /// The same decoder computing in `dtype` (the rotary tables rebuilt in it).
    pub fn computing_in(mut self, dtype: DType) -> Result<Self> {
        if dtype != self.compute {
            (self.rope, self.rope_local) = tables(&self.cfg, dtype, self.embed.device())?;
            self.compute = dtype;
        }
        Ok(self)
    }

    /// Whether the fused kernels run here: on the CPU in f32/f64 (weights in the compute
    /// dtype), on a CUDA GPU in f32/bf16 (ftbench's CUDA kernels). Elsewhere the composed ops
    /// run (candle's ops, differentiable).
    pub fn fused_here(&self) -> bool {
        let cpu = self.device().is_cpu() && matches!(self.compute, DType::F32 | DType::F64) && self.embed.dtype() == self.compute;
        let gpu = self.device().is_cuda() && matches!(self.compute, DType::F32 | DType::BF16);
        self.fused && (cpu || gpu)
    }

    /// Takes the gradient a recomputed block left for `param` during the last backward pass.
    pub fn take_recomputed_grad(&self, param: &Tensor) -> Result<Option<Tensor>> {
        self.recomputed.take(param)
    }

    /// The compute dtype (activations, matmuls).
    pub fn dtype(&self) -> DType {
        self.compute
    }

    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// The rotary tables of layer `i`, covering positions 0..len.
    pub fn rope(&self, i: usize, len: usize) -> Result<Arc<RopeTables>> {
        match (&self.rope_local, self.cfg.layer_window(i)) {
            (Some(local), Some(_)) => local.covering(len),
            _ => self.rope.covering(len),
        }
    }

    /// Errors unless positions 0..len fit the model (max_position_embeddings).
    pub fn check_len(&self, len: usize) -> Result<()> {
        if len > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {len} tokens exceeds max_position_embeddings ({})",
                self.cfg.max_position_embeddings
            );
        }
        Ok(())
    }

    /// Token embeddings of ids (batch, seq) in the compute dtype, scaled by √hidden where the
    /// family does (in the compute dtype, as transformers' Gemma does).
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        // Rows are looked up in the table's dtype, then cast: never a cast copy of the whole table.
        let x = ftbench_kernels::at_dtype(&ops::embedding(&self.embed, ids)?, self.compute)?;
        if !self.cfg.scale_embeddings {
            return Ok(x);
        }
        let s = Tensor::new((self.cfg.hidden_size as f64).sqrt(), self.device())?.to_dtype(self.compute)?;
        x.broadcast_mul(&s)
    }

    /// ids (batch, seq) u32 → final hidden states (batch, seq, hidden), after the last norm.
    pub fn hidden_states(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        self.check_len(t)?;
        let mut x = self.embed_tokens(ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = if self.recompute {
                checkpoint::recomputed_block(std::sync::Arc::new(self.clone()), i, &x)?
            } else {
                self.block(i, layer, &x)?
            };
        }
        self.rms_norm(&x, &self.norm)
    }

    /// RMSNorm with this model's epsilon; a (1 + w) scale for the families that store w so,
    /// formed and applied in f32 at least and cast once (transformers' GemmaRMSNorm: in bf16,
    /// 1 + w would keep only 8 bits of w).
    pub fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        if self.cfg.norm_plus_one {
            let wide = ops::widened(x)?;
            let w = (ftbench_kernels::at_dtype(weight, wide.dtype())? + 1.0)?;
            return self.plain_rms_norm(&wide, &w)?.to_dtype(x.dtype());
        }
        self.plain_rms_norm(x, &ftbench_kernels::at_dtype(weight, x.dtype())?)
    }

    /// x / rms(x) · w, x and w of one dtype: the fused kernel where the compute dtype runs fused,
    /// or for a norm widened to f32 under half-precision compute (the kernel takes f32 on every
    /// device); else the composed ops.
    fn plain_rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let widened = x.dtype() == DType::F32 && self.compute != DType::F32;
        if self.fused_here() || (self.fused && widened) {
            ftbench_kernels::rms_norm(x, weight, self.cfg.rms_norm_eps)
        } else {
            ops::rms_norm(x, weight, self.cfg.rms_norm_eps)
        }
    }

    /// Causal grouped-query attention of layer `i` for queries at positions start.. (see ops):
    /// the config's scale, the layer's window, Gemma 2's soft cap. The fused softmax takes the
    /// scale and the window; a soft cap runs the composed ops.
    pub fn attention(&self, i: usize, q: &Tensor, k: &Tensor, v: &Tensor, start: usize) -> Result<Tensor> {
        let (scale, window, cap) = (
            self.cfg.attention_scale(),
            self.cfg.layer_window(i),
            self.cfg.attn_logit_softcapping,
        );
        if self.fused_here() && cap.is_none() {
            ops::fused_causal_attention_at(q, k, v, start, scale, window)
        } else {
            ops::causal_attention_at(q, k, v, start, scale, window, cap)
        }
    }

    /// One pre-norm block: x + attn(norm(x)), then + mlp(norm(·)) (with Gemma's norms on both
    /// outputs).
    pub fn block(&self, i: usize, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let (q, k, v) = self.qkv(i, l, x, 0)?;
        let a = self.attention(i, &q, &k, &v, 0)?;
        self.block_out(l, x, &a)
    }

    /// Linear `k` of a block on x, plus its bias.
    fn project(&self, l: &Layer, k: usize, x: &Tensor) -> Result<Tensor> {
        let y = l.linears[k].forward(x)?;
        match &l.biases[k] {
            Some(b) => y.broadcast_add(&ftbench_kernels::at_dtype(b, y.dtype())?),
            None => Ok(y),
        }
    }

    /// The attention inputs of layer `i` for x (batch, seq, hidden) at positions
    /// start..start+seq: q (batch, heads, seq, head_dim) and k, v (batch, kv_heads, seq,
    /// head_dim), q and k normalised per head where the family does and rotated; all contiguous.
    pub fn qkv(&self, i: usize, l: &Layer, x: &Tensor, start: usize) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, hd) = (self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim());
        let n = self.rms_norm(x, &l.norms[0])?;
        // Projections in q, k, v order (adapter dropout draws its masks in this order).
        let (q, k, v) = if self.cfg.fused_projections {
            let y = self.project(l, 0, &n)?;
            (
                y.narrow(D::Minus1, 0, h * hd)?,
                y.narrow(D::Minus1, h * hd, kvh * hd)?,
                y.narrow(D::Minus1, (h + kvh) * hd, kvh * hd)?,
            )
        } else {
            (self.project(l, 0, &n)?, self.project(l, 1, &n)?, self.project(l, 2, &n)?)
        };
        let head_norm = |y: Tensor, nh: usize, slot: Option<usize>| -> Result<Tensor> {
            match slot {
                Some(s) => self.rms_norm(&y.reshape((b, t, nh, hd))?, &l.norms[s])?.reshape((b, t, nh * hd)),
                None => Ok(y),
            }
        };
        let (q, k) = (head_norm(q, h, self.slots.q_norm)?, head_norm(k, kvh, self.slots.k_norm)?);
        let heads = |y: Tensor, nh: usize| y.contiguous()?.reshape((b, t, nh, hd))?.transpose(1, 2);
        let v = heads(v, kvh)?.contiguous()?;
        let rope = self.rope(i, start + t)?;
        if self.fused_here() {
            // Rotation and the split into heads in one pass, output contiguous.
            let rot = |y: &Tensor, nh: usize| ftbench_kernels::rope_heads(y, &rope.cos, &rope.sin, nh, start);
            return Ok((rot(&q, h)?, rot(&k, kvh)?, v));
        }
        let q = ops::rope_at(&heads(q, h)?, &rope, start)?;
        let k = ops::rope_at(&heads(k, kvh)?, &rope, start)?;
        Ok((q.contiguous()?, k.contiguous()?, v))
    }

    /// The rest of a block once attention `a` (batch, heads, seq, head_dim) is known:
    /// x + o_proj(a) (normalised first for Gemma), then + mlp(norm(·)) (likewise).
    pub fn block_out(&self, l: &Layer, x: &Tensor, a: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let s = self.slots;
        let a = a
            .transpose(1, 2)?
            .reshape((b, t, self.cfg.num_attention_heads * self.cfg.head_dim()))?;
        let mut o = self.project(l, s.o, &a)?;
        if let Some(k) = s.post_attn {
            o = self.rms_norm(&o, &l.norms[k])?;
        }
        let x = (x + o)?;
        let n = self.rms_norm(&x, &l.norms[s.pre_mlp])?;
        let mut m = self.project(l, s.down, &self.gated(l, &n)?)?;
        if let Some(k) = s.post_mlp {
            m = self.rms_norm(&m, &l.norms[k])?;
        }
        x + m
    }

    /// The MLP's gated activation act(gate)·up, gate and up separate or fused.
    fn gated(&self, l: &Layer, n: &Tensor) -> Result<Tensor> {
        let (gate, up) = if self.cfg.fused_projections {
            let y = self.project(l, 2, n)?;
            let i = self.cfg.intermediate_size;
            (y.narrow(D::Minus1, 0, i)?.contiguous()?, y.narrow(D::Minus1, i, i)?.contiguous()?)
        } else {
            (self.project(l, 4, n)?, self.project(l, 5, n)?)
        };
        match self.cfg.activation {
            Activation::Silu if self.fused_here() => ftbench_kernels::swiglu(&gate, &up),
            Activation::Silu => ops::swiglu(&gate, &up),
            Activation::GeluTanh if self.fused_here() => ftbench_kernels::geglu(&gate, &up),
            Activation::GeluTanh => ops::geglu(&gate, &up),
        }
    }

    /// Hidden rows (n, hidden) → logits (n, vocab), soft-capped where the family does.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let z = self.lm_head.forward(hidden)?;
        match self.cfg.final_logit_softcapping {
            Some(cap) => ops::softcap(&z, cap),
            None => Ok(z),
        }
    }

    /// Mean cross-entropy of the logits of hidden rows (n, hidden) against targets (n) u32, in
    /// f32 whatever the compute dtype (f64 in f64). Fused, the LM head and the loss run over
    /// vocabulary chunks and the full logits never exist; an LM head with an adapter, or
    /// soft-capped logits, take the composed path.
    pub fn loss(&self, hidden: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let fused = self.fused_here() && self.cfg.final_logit_softcapping.is_none();
        let head = match &self.lm_head {
            Linear::Trainable(w) if fused => Some(ftbench_kernels::at_dtype(w.as_tensor(), self.compute)?),
            Linear::Frozen(w) if fused => Some(w.dense(self.dtype())?),
            _ => None,
        };
        match head {
            Some(w) => ftbench_kernels::linear_cross_entropy(hidden, &w, targets),
            // Log-softmax over the vocabulary in f32 at least (ops::cross_entropy widens).
            None => ops::cross_entropy(&self.logits(hidden)?, targets),
        }
    }
}

/// The rotary tables of the global layers, and of the sliding layers when they have their own
/// base, each grown on demand up to max_position_embeddings.
fn tables(cfg: &DecoderConfig, dtype: DType, dev: &Device) -> Result<(Arc<RopeCache>, Option<Arc<RopeCache>>)> {
    let len = cfg.max_position_embeddings;
    let global = Arc::new(RopeCache::new(cfg.rope_inv_freq(), len, dtype, dev));
    let local = match (
        cfg.rope_local_theta,
        (0..cfg.num_hidden_layers).find(|&i| cfg.layer_window(i).is_some()),
    ) {
        (Some(_), Some(i)) => Some(Arc::new(RopeCache::new(cfg.layer_rope_inv_freq(i), len, dtype, dev))),
        _ => None,
    };
    Ok((global, local))
}

impl Layer {
    /// The block's trainable tensors (`Var`s): weights and biases under full fine-tuning,
    /// adapters under LoRA/QLoRA.
    pub fn params(&self) -> Vec<Tensor> {
        let mut v: Vec<Tensor> = self
            .norms
            .iter()
            .chain(self.biases.iter().flatten())
            .filter(|t| t.is_variable())
            .cloned()
            .collect();
        for l in &self.linears {
            l.collect_params(&mut v);
        }
        v
    }

    /// The adapters' dropout, if the block has adapters.
    pub fn dropout(&self) -> Option<&Dropout> {
        self.linears.iter().find_map(Linear::dropout)
    }

    /// The same block with every linear replaced by `f(linear)` (None from `f`: None), its
    /// norms and biases shared.
    pub fn map_linears<E>(
        &self,
        mut f: impl FnMut(&Linear) -> std::result::Result<Option<Linear>, E>,
    ) -> std::result::Result<Option<Layer>, E> {
        let mut linears = Vec::with_capacity(self.linears.len());
        for l in &self.linears {
            match f(l)? {
                Some(x) => linears.push(x),
                None => return Ok(None),
            }
        }
        Ok(Some(Layer {
            norms: self.norms.clone(),
            linears,
            biases: self.biases.clone(),
        }))
    }
}

impl checkpoint::Blocks for Decoder {
    fn run_block(&self, layer: usize, x: &Tensor) -> Result<Tensor> {
        self.block(layer, &self.layers[layer], x)
    }
    fn block_params(&self, layer: usize) -> Vec<Tensor> {
        self.layers[layer].params()
    }
    fn block_dropout(&self, layer: usize) -> Option<&Dropout> {
        self.layers[layer].dropout()
    }
    fn recomputed_grads(&self) -> &RecomputedGrads {
        &self.recomputed
    }
}
