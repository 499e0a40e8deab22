//! Turning a weight source into a decoder for a method, and listing what trains.

use super::kind::{AdaptCtx, BaseFormat, MethodConfig};
use super::lora_init::InitInput;
use super::{nf4_on, quantize_weight, Trainable};
use crate::model::config::TensorRole;
use crate::model::Precision;
use crate::model::{Decoder, DecoderConfig, Layer, WeightSource};
use crate::nn::{Dropout, Linear};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor, Var};
use ftbench_kernels::DenseWeight;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Tensor bytes of what the model holds, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightBytes {
    /// Dense weights (trainable or frozen), tied embeddings counted once.
    pub dense: u64,
    /// NF4 codes, two per byte.
    pub nf4_packed: u64,
    /// NF4 block constants (absmax, or its 8-bit codes + second-level constants).
    pub quant_constants: u64,
    /// Adapters (LoRA's A and B, DoRA's magnitude vectors).
    pub adapters: u64,
}

impl WeightBytes {
    pub fn total(&self) -> u64 {
        self.dense + self.nf4_packed + self.quant_constants + self.adapters
    }
}

/// A decoder ready to train.
pub struct Built {
    pub decoder: Decoder,
    pub trainable: Vec<Trainable>,
    /// The adapters' dropout (set training on before training, off before evaluation).
    pub dropout: Dropout,
    pub bytes: WeightBytes,
    /// Parameters of the base model (logical count, whatever their storage).
    pub params_base: u64,
    /// Parameters of the adapters.
    pub params_adapters: u64,
}

/// Builds the decoder for `mc.method` at `precision` (trainable tensors in its master dtype,
/// frozen dense ones in its frozen dtype, the decoder computing in its compute dtype), taking
/// each tensor from `src` once and turning it into its final form before the next is taken.
/// The source hands out host tensors: a dense one is copied to `device` as it comes and cast
/// there (a GPU casts in parallel; candle's host casts run on one core), an NF4 base is
/// quantized on the host, where the values are, and only its codes and constants are copied:
/// no weight makes the trip host → device → host.
pub fn build(
    cfg: &DecoderConfig,
    src: &mut dyn WeightSource,
    mc: &MethodConfig,
    precision: impl Into<Precision>,
    device: &Device,
) -> Result<Built> {
    let precision: Precision = precision.into();
    let mut b = Builder {
        src,
        mc,
        p: precision,
        device,
        dropout: Dropout::new(mc.lora.dropout, mc.seed),
        trainable: Vec::new(),
        bytes: WeightBytes::default(),
    };
    let h = cfg.hidden_size;
    let (embed, embed_var) = b.plain("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
    check_targets(cfg, mc)?;
    let (block, norms, linears) = (cfg.block_tensors(), cfg.norms().len(), cfg.linears());
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let mut layer = (vec![None; norms], vec![None; linears.len()], vec![None; linears.len()]);
        // In the weights' order (DecoderConfig::block_tensors).
        for t in &block {
            let name = format!("{p}.{}", t.name);
            match t.role {
                TensorRole::Norm(k) => layer.0[k] = Some(b.plain(&name, &t.shape)?.0),
                TensorRole::Bias(k) => layer.2[k] = Some(b.plain(&name, &t.shape)?.0),
                TensorRole::Linear(k) => {
                    let lin = &linears[k];
                    layer.1[k] = Some(b.linear(&format!("{p}.{}", lin.parent), lin.name, lin.out, lin.inp)?)
                }
            }
        }
        let all = |what: &str| anyhow::anyhow!("block {l}: a {what} missing from DecoderConfig::block_tensors");
        layers.push(Layer {
            norms: layer.0.into_iter().map(|n| n.ok_or_else(|| all("norm"))).collect::<Result<_>>()?,
            linears: layer.1.into_iter().map(|n| n.ok_or_else(|| all("linear"))).collect::<Result<_>>()?,
            biases: layer.2,
        });
    }
    let norm = b.plain("model.norm.weight", &[h])?.0;
    // The LM head stays dense (QLoRA quantizes only the decoder's linears, as bitsandbytes does).
    let lm_head = match (cfg.tie_word_embeddings, embed_var) {
        (true, Some(v)) => Linear::Trainable(v),
        (true, None) => Linear::Frozen(Arc::new(DenseWeight(embed.clone()))),
        (false, _) => match b.plain("lm_head.weight", &[cfg.vocab_size, h])? {
            (_, Some(v)) => Linear::Trainable(v),
            (t, None) => Linear::Frozen(Arc::new(DenseWeight(t))),
        },
    };
    b.src.finish()?;
    let params_adapters = if mc.method.trains_base() {
        0
    } else {
        b.trainable.iter().map(|t| t.var.elem_count() as u64).sum()
    };
    let decoder = Decoder::new(cfg.clone(), embed, layers, norm, lm_head)?.computing_in(precision.compute)?;
    Ok(Built {
        decoder,
        trainable: b.trainable,
        dropout: b.dropout,
        bytes: b.bytes,
        params_base: cfg.num_parameters() as u64,
        params_adapters,
    })
}

/// Errors when the method's adapter targets name no linear of this family (Phi-3 fuses q, k, v
/// into `qkv_proj` and gate, up into `gate_up_proj`: `q_proj` matches nothing there).
fn check_targets(cfg: &DecoderConfig, mc: &MethodConfig) -> Result<()> {
    if !mc.method.has_adapters() {
        return Ok(());
    }
    let names: Vec<&str> = cfg.linears().iter().map(|l| l.name).collect();
    if names.iter().any(|n| mc.lora.targets(n)) {
        return Ok(());
    }
    anyhow::bail!(
        "lora.target_modules matches no linear of this {} model; its linears are: {}",
        cfg.family.name(),
        names.join(", ")
    )
}

struct Builder<'a> {
    src: &'a mut dyn WeightSource,
    mc: &'a MethodConfig,
    p: Precision,
    device: &'a Device,
    dropout: Dropout,
    trainable: Vec<Trainable>,
    bytes: WeightBytes,
}

/// Tensor bytes of `t` as stored.
fn bytes_of(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

impl Builder<'_> {
    /// `t` (from the source) on the model's device in `dtype`.
    fn place(&self, t: Tensor, dtype: candle_core::DType) -> Result<Tensor> {
        Ok(ftbench_kernels::at_dtype(&t.to_device(self.device)?, dtype)?)
    }

    /// `t` (from the source) as a frozen tensor is stored.
    fn frozen(&self, t: Tensor) -> Result<Tensor> {
        self.place(t, self.p.frozen)
    }

    fn trainable_var(&mut self, name: &str, t: &Tensor) -> Result<Var> {
        let v = Var::from_tensor(t).with_context(|| format!("weight `{name}`"))?;
        self.trainable.push(Trainable {
            name: name.to_string(),
            var: v.clone(),
            lr_scale: 1.0,
        });
        Ok(v)
    }

    /// A plain tensor (embedding, norm, LM head): a Var when the method trains the base, frozen
    /// otherwise.
    fn plain(&mut self, name: &str, shape: &[usize]) -> Result<(Tensor, Option<Var>)> {
        let t = self.src.take(name, shape)?;
        if !self.mc.method.trains_base() {
            let t = self.frozen(t)?;
            self.bytes.dense += bytes_of(&t);
            return Ok((t, None));
        }
        let t = self.place(t, self.p.master)?;
        self.bytes.dense += bytes_of(&t);
        let v = self.trainable_var(name, &t)?;
        Ok((v.as_tensor().clone(), Some(v)))
    }

    /// One of the decoder's linears, `module` under `prefix`, as the method wants it.
    fn linear(&mut self, prefix: &str, module: &str, out: usize, inp: usize) -> Result<Linear> {
        let name = format!("{prefix}.{module}");
        let mut w = self.src.take(&format!("{name}.weight"), &[out, inp])?;
        let method = self.mc.method;
        // The adapter starts from the dense weight, before the base is stored: an initialisation
        // may move part of it into the adapter (PiSSA), and the base keeps the rest.
        let adapted = method.has_adapters() && self.mc.lora.targets(module);
        let initial = if adapted {
            let lora = &self.mc.lora;
            let x = InitInput {
                name: &name,
                weight: &w,
                rank: lora.rank,
                scale: lora.scale(),
                seed: self.mc.seed,
            };
            let i = lora
                .init
                .init(&x)
                .with_context(|| format!("initialising the adapter of `{name}` ({})", lora.init.name()))?;
            if let Some(r) = i.residual {
                w = r;
            }
            Some((i.a, i.b))
        } else {
            None
        };
        if method.trains_base() {
            let w = self.place(w, self.p.master)?;
            self.bytes.dense += bytes_of(&w);
            return Ok(Linear::Trainable(self.trainable_var(&format!("{name}.weight"), &w)?));
        }
        let base = match method.base_format() {
            BaseFormat::Dense => {
                let w = self.frozen(w)?;
                self.bytes.dense += bytes_of(&w);
                Linear::Frozen(Arc::new(DenseWeight(w)))
            }
            BaseFormat::Nf4 => {
                // Quantized from the source's values (bitsandbytes quantizes the bf16 or f32
                // weight it is given; ftbench always from f32).
                let nf4 = quantize_weight(&w, self.mc.nf4_block_size, self.mc.nf4_double_quant)
                    .with_context(|| format!("quantizing `{name}.weight` to NF4"))?;
                drop(w);
                self.bytes.nf4_packed += nf4.packed_bytes() as u64;
                self.bytes.quant_constants += nf4.constants_bytes() as u64;
                nf4_on(nf4, self.device)?
            }
        };
        if !adapted {
            return Ok(base);
        }
        let mut ctx = AdaptCtx::new(
            self.mc,
            self.p.master,
            self.device,
            &self.dropout,
            initial,
            &mut self.trainable,
            &mut self.bytes.adapters,
        );
        method.adapt(&mut ctx, module, &name, base)
    }
}
