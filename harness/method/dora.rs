//! `dora`: weight-decomposed LoRA (Liu et al. 2024, "DoRA"), as PEFT's `use_dora: true`. The
//! adapted weight is split into a trainable magnitude per output row and a direction:
//!
//!   W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖   (row norms; m starts at ‖W‖, B at 0, so W' = W)
//!
//! The row norm is treated as a constant in backward — detached, as the paper advises (§4.3)
//! and PEFT does — so gradients match PEFT's, not a finite difference of the formula (which
//! differs by the norm's derivative). Forward, with g = m / ‖W + s·BA‖ (detached norm):
//!
//! - no dropout: y = g ⊙ (W·x + s·B·A·x), the fused LoRA op scaled per output feature;
//! - dropout d(x): y = W·x + (g − 1) ⊙ W·d(x) + g ⊙ s·B·A·d(x), PEFT's form, computed as
//!   W·x − W·d(x) + g ⊙ (W·d(x) + s·B·A·d(x)).
//!
//! The norm needs W + s·BA densely once per forward (one out × in copy; an NF4 base dequantizes
//! for it, see `qdora`). On disk: PEFT's layout with `use_dora: true` and one
//! `…lora_magnitude_vector` tensor (out) per adapted linear.

use super::lora::{lora_layer, Lora, LoraLinear, LORA_KNOBS};
use super::{AdaptCtx, FineTuning};
use crate::nn::{Adapter, Dropout, Linear};
use anyhow::{Context, Result};
use candle_core::{Tensor, Var};
use std::sync::Arc;

pub struct Dora;

impl FineTuning for Dora {
    fn name(&self) -> &'static str {
        "dora"
    }
    fn label(&self) -> &'static str {
        "DoRA"
    }
    fn doc(&self) -> &'static str {
        "weight-decomposed LoRA (PEFT use_dora): LoRA's A, B plus a trained magnitude per output row over a frozen dense base; the weight norm is recomputed every forward and held constant in backward"
    }
    fn has_adapters(&self) -> bool {
        true
    }
    fn knobs(&self) -> Vec<&'static str> {
        LORA_KNOBS.to_vec()
    }
    fn adapt(&self, ctx: &mut AdaptCtx, _module: &str, name: &str, base: Linear) -> Result<Linear> {
        dora_adapt(ctx, name, base)
    }
    fn peft_config(&self, config: &mut serde_json::Map<String, serde_json::Value>) {
        config.insert("use_dora".into(), true.into());
    }
    fn adapter_params(&self, out: u64, inp: u64, rank: u64) -> u64 {
        Lora.adapter_params(out, inp, rank) + out
    }
    fn transient_weight_copies(&self) -> u64 {
        2 // s·B·A and W + s·B·A while the norm is taken
    }
    fn kept_per_output(&self) -> u64 {
        1 // the LoRA output before the per-row scale g, for g's gradient
    }
    fn color(&self) -> (u8, u8, u8) {
        (0x8e, 0x44, 0xad)
    }
}

/// A DoRA adapter on `base` at `name`: LoRA's A and B with PEFT's initialisation, and the
/// magnitude initialised to the base's row norms; all three registered to train.
pub fn dora_adapt(ctx: &mut AdaptCtx, name: &str, base: Linear) -> Result<Linear> {
    let lora = lora_layer(ctx, name, base)?;
    let norm = weight_norm(&lora).with_context(|| format!("the weight norm of `{name}`"))?;
    let magnitude = Var::from_tensor(&norm)?;
    ctx.train(format!("{name}.lora_magnitude_vector"), &magnitude);
    Ok(Linear::Adapted(Arc::new(DoraLinear { lora, magnitude })))
}

/// ‖W + s·B·A‖ per output row (out), detached from the graph.
pub fn weight_norm(l: &LoraLinear) -> candle_core::Result<Tensor> {
    let dtype = l.a.dtype();
    let w = match &l.base {
        Linear::Frozen(w) => w.dense(dtype)?,
        other => candle_core::bail!("DoRA needs a frozen base linear, found {other:?}"),
    };
    let delta = (l.b.as_tensor().detach().matmul(&l.a.as_tensor().detach())? * l.scale)?;
    let sum = (w + delta)?;
    sum.sqr()?.sum(1)?.sqrt()
}

/// LoRA plus a magnitude vector m (out): y = (m / ‖W + s·BA‖) ⊙ (W·x + s·B·A·x).
pub struct DoraLinear {
    pub lora: LoraLinear,
    pub magnitude: Var,
}

impl DoraLinear {
    /// g = m / ‖W + s·BA‖ (out), with m's gradient; the norm a constant.
    fn scale(&self) -> candle_core::Result<Tensor> {
        self.magnitude.as_tensor().div(&weight_norm(&self.lora)?)
    }
}

impl Adapter for DoraLinear {
    fn base(&self) -> &Linear {
        &self.lora.base
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // The scale in the activations' dtype (an f32 master magnitude under bf16 compute).
        let g = ftbench_kernels::at_dtype(&self.scale()?, x.dtype())?;
        let l = &self.lora;
        let Linear::Frozen(w) = &l.base else {
            candle_core::bail!("DoRA needs a frozen base linear")
        };
        let lora = |x: &Tensor| ftbench_kernels::lora_linear(x, w, l.a.as_tensor(), l.b.as_tensor(), l.scale, None);
        match l.dropout.mask(x)? {
            None => lora(x)?.broadcast_mul(&g),
            Some(mask) => {
                let xd = (x * mask)?;
                let base = ftbench_kernels::frozen_linear(x, w)?;
                let base_d = ftbench_kernels::frozen_linear(&xd, w)?;
                (base - base_d)? + lora(&xd)?.broadcast_mul(&g)?
            }
        }
    }

    fn params(&self) -> Vec<Tensor> {
        let mut v = self.lora.params();
        v.push(self.magnitude.as_tensor().clone());
        v
    }

    fn dropout(&self) -> &Dropout {
        &self.lora.dropout
    }

    fn rebased(&self, base: Linear) -> Arc<dyn Adapter> {
        Arc::new(DoraLinear {
            lora: LoraLinear { base, ..self.lora.clone() },
            magnitude: self.magnitude.clone(),
        })
    }

    /// (m / ‖W + s·BA‖) ⊙ (W + s·BA), row by row (PEFT's merge).
    fn merged_weight(&self) -> candle_core::Result<Option<Tensor>> {
        let Some(merged) = self.lora.merged_weight()? else {
            return Ok(None);
        };
        let g = self.scale()?.detach();
        Ok(Some(merged.broadcast_mul(&g.unsqueeze(1)?)?))
    }

    fn describe(&self) -> String {
        format!("dora(r={})", self.lora.a.dim(0).unwrap_or(0))
    }
}
