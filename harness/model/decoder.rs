//! A differentiable Llama-family decoder: token embedding, pre-norm blocks of grouped-query
//! causal self-attention with rotary embeddings and a SwiGLU MLP, final RMSNorm, and a tied or
//! untied LM head. Full-sequence, cache-free (training and teacher-forced evaluation); greedy
//! decoding with a KV cache lives in generate.rs and reuses the pieces of [`Decoder::block`].
//!
//! Two switches trade speed and memory without changing the mathematics (tests check both
//! against the plain path): `fused` runs RMSNorm, rotary embedding, causal softmax, SwiGLU and
//! the LM-head cross-entropy as single ftbench_kernels ops (f32/f64 on the CPU, f32/bf16 on a
//! CUDA GPU; other dtypes and devices fall back to the composed ops), and `recompute` keeps only each block's input in the
//! graph and re-runs the block during backward (checkpoint.rs).

use super::checkpoint::{self, RecomputedGrads};
use super::config::LlamaConfig;
use super::ops::{self, RopeTables};
use crate::nn::{Dropout, Linear};
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
    pub fn new(cfg: LlamaConfig, embed: Tensor, layers: Vec<Layer>, norm: Tensor, lm_head: Linear) -> Result<Self> {
        let rope = RopeTables::from_inv_freq(
            &cfg.rope_inv_freq(),
            cfg.max_position_embeddings.min(1 << 16),
            embed.dtype(),
            embed.device(),
        )?;
        let compute = embed.dtype();
        Ok(Decoder {
            cfg,
            embed,
            layers,
            norm,
            lm_head,
            rope,
            fused: true,
            recompute: false,
            compute,
            recomputed: RecomputedGrads::default(),
        })
    }

    /// The same decoder computing in `dtype` (the rotary tables rebuilt in it).
    pub fn computing_in(mut self, dtype: DType) -> Result<Self> {
        if dtype != self.compute {
            self.rope = RopeTables::from_inv_freq(
                &self.cfg.rope_inv_freq(),
                self.cfg.max_position_embeddings.min(1 << 16),
                dtype,
                self.embed.device(),
            )?;
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
        // Rows are looked up in the table's dtype, then cast: never a cast copy of the whole table.
        let mut x = ftbench_kernels::at_dtype(&ops::embedding(&self.embed, ids)?, self.compute)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = if self.recompute {
                checkpoint::recomputed_block(std::sync::Arc::new(self.clone()), i, &x)?
            } else {
                self.block(layer, &x)?
            };
        }
        self.rms_norm(&x, &self.norm)
    }

    /// RMSNorm with this model's epsilon.
    pub fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let weight = &ftbench_kernels::at_dtype(weight, x.dtype())?;
        if self.fused_here() {
            ftbench_kernels::rms_norm(x, weight, self.cfg.rms_norm_eps)
        } else {
            ops::rms_norm(x, weight, self.cfg.rms_norm_eps)
        }
    }

    /// Causal grouped-query attention for queries at positions start.. (see ops).
    pub fn attention(&self, q: &Tensor, k: &Tensor, v: &Tensor, start: usize) -> Result<Tensor> {
        if self.fused_here() {
            ops::fused_causal_attention_at(q, k, v, start)
        } else {
            ops::causal_attention_at(q, k, v, start)
        }
    }

    /// One pre-norm block: x + attn(norm(x)), then + mlp(norm(·)).
    pub fn block(&self, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let (q, k, v) = self.qkv(l, x, 0)?;
        let a = self.attention(&q, &k, &v, 0)?;
        self.block_out(l, x, &a)
    }

    /// The attention inputs of a block for x (batch, seq, hidden) at positions start..start+seq:
    /// q (batch, heads, seq, head_dim) and k, v (batch, kv_heads, seq, head_dim), rotary
    /// embeddings applied to q and k; all contiguous.
    pub fn qkv(&self, l: &Layer, x: &Tensor, start: usize) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, hd) = (self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim());
        let n = self.rms_norm(x, &l.input_norm)?;
        // Projections in q, k, v order (adapter dropout draws its masks in this order).
        let (q, k, v) = (l.q_proj.forward(&n)?, l.k_proj.forward(&n)?, l.v_proj.forward(&n)?);
        let heads = |y: Tensor, nh: usize| y.reshape((b, t, nh, hd))?.transpose(1, 2);
        let v = heads(v, kvh)?.contiguous()?;
        if self.fused_here() {
            // Rotation and the split into heads in one pass, output contiguous.
            let rope = |y: &Tensor, nh: usize| ftbench_kernels::rope_heads(y, &self.rope.cos, &self.rope.sin, nh, start);
            return Ok((rope(&q, h)?, rope(&k, kvh)?, v));
        }
        let q = ops::rope_at(&heads(q, h)?, &self.rope, start)?;
        let k = ops::rope_at(&heads(k, kvh)?, &self.rope, start)?;
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
        let n = self.rms_norm(&x, &l.post_norm)?;
        let (gate, up) = (l.gate_proj.forward(&n)?, l.up_proj.forward(&n)?);
        let m = if self.fused_here() {
            ftbench_kernels::swiglu(&gate, &up)?
        } else {
            ops::swiglu(&gate, &up)?
        };
        x + l.down_proj.forward(&m)?
    }

    /// Hidden rows (n, hidden) → logits (n, vocab).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }

    /// Mean cross-entropy of the logits of hidden rows (n, hidden) against targets (n) u32, in
    /// f32 whatever the compute dtype (f64 in f64).
    /// Fused, the LM head and the loss run over vocabulary chunks and the full logits never
    /// exist; an LM head with an adapter takes the composed path.
    pub fn loss(&self, hidden: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let head = match &self.lm_head {
            Linear::Trainable(w) if self.fused_here() => Some(ftbench_kernels::at_dtype(w.as_tensor(), self.compute)?),
            Linear::Frozen(w) if self.fused_here() => Some(w.dense(self.dtype())?),
            _ => None,
        };
        match head {
            Some(w) => ftbench_kernels::linear_cross_entropy(hidden, &w, targets),
            // Log-softmax over the vocabulary in f32 at least (ops::cross_entropy widens).
            None => ops::cross_entropy(&self.logits(hidden)?, targets),
        }
    }
}

impl Layer {
    /// The block's trainable tensors (`Var`s): weights under full fine-tuning, adapters under
    /// LoRA/QLoRA.
    pub fn params(&self) -> Vec<Tensor> {
        let mut v: Vec<Tensor> = [&self.input_norm, &self.post_norm]
            .into_iter()
            .filter(|t| t.is_variable())
            .cloned()
            .collect();
        for l in self.linears() {
            l.collect_params(&mut v);
        }
        v
    }

    /// The adapters' dropout, if the block has adapters.
    pub fn dropout(&self) -> Option<&Dropout> {
        self.linears().into_iter().find_map(Linear::dropout)
    }

    /// A block from its norms and its seven linears in `LINEAR_NAMES` order.
    pub fn new(input_norm: Tensor, post_norm: Tensor, linears: [Linear; 7]) -> Layer {
        let [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj] = linears;
        Layer {
            input_norm,
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            post_norm,
            gate_proj,
            up_proj,
            down_proj,
        }
    }

    /// The same block with every linear replaced by `f(linear)` (None from `f`: None).
    pub fn map_linears<E>(
        &self,
        mut f: impl FnMut(&Linear) -> std::result::Result<Option<Linear>, E>,
    ) -> std::result::Result<Option<Layer>, E> {
        let mut out = Vec::with_capacity(7);
        for l in self.linears() {
            match f(l)? {
                Some(x) => out.push(x),
                None => return Ok(None),
            }
        }
        let linears: [Linear; 7] = out.try_into().unwrap_or_else(|_| unreachable!("seven linears in, seven out"));
        Ok(Some(Layer::new(self.input_norm.clone(), self.post_norm.clone(), linears)))
    }

    /// The seven linears in `LINEAR_NAMES` order.
    pub fn linears(&self) -> [&Linear; 7] {
        [
            &self.q_proj,
            &self.k_proj,
            &self.v_proj,
            &self.o_proj,
            &self.gate_proj,
            &self.up_proj,
            &self.down_proj,
        ]
    }
}

impl checkpoint::Blocks for Decoder {
    fn run_block(&self, layer: usize, x: &Tensor) -> Result<Tensor> {
        self.block(&self.layers[layer], x)
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
