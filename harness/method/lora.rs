//! `lora`: rank-r adapters A (r × in), B (out × r) on the target linears of a frozen dense base,
//! y = base(x) + scale · (dropout(x)·Aᵀ)·Bᵀ (PEFT's LoRA forward); its configuration, PEFT's
//! initialisation, and the adapted linear (over a frozen base one fused op,
//! `ftbench_kernels::lora_linear`, whose graph keeps only its input and output).

use super::{AdaptCtx, FineTuning, Published};
use crate::nn::{matmul_t, Adapter, Dropout, Linear};
use candle_core::{Result, Tensor, Var};
use ftbench_kernels::at_dtype;
use std::sync::Arc;

/// The knobs every LoRA-family method reads.
pub const LORA_KNOBS: &[&str] = &[
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "use_rslora",
    "lora_init",
    "save_adapter",
];

pub struct Lora;

impl FineTuning for Lora {
    fn name(&self) -> &'static str {
        "lora"
    }
    fn label(&self) -> &'static str {
        "LoRA"
    }
    fn doc(&self) -> &'static str {
        "rank-r adapters A, B on `lora_targets` over a frozen dense base; no weight gradient is ever allocated"
    }
    fn has_adapters(&self) -> bool {
        true
    }
    fn knobs(&self) -> Vec<&'static str> {
        LORA_KNOBS.to_vec()
    }
    fn adapt(&self, ctx: &mut AdaptCtx, _module: &str, name: &str, base: Linear) -> anyhow::Result<Linear> {
        lora_adapt(ctx, name, base)
    }
    fn adapter_params(&self, out: u64, inp: u64, rank: u64) -> u64 {
        rank * (out + inp)
    }
    fn published(&self) -> Option<&'static Published> {
        Some(&Published {
            params_updated: "~1–5%",
            vram_gb: (24.0, 32.0),
            accuracy_loss: "<1%",
            accuracy_delta_points: Some((-1.0, f64::INFINITY)),
            params_updated_percent: (1.0, 5.0),
            hardware: "1× RTX 4090/3090",
        })
    }
    fn color(&self) -> (u8, u8, u8) {
        (0x2f, 0x6f, 0xb3)
    }
}

/// A LoRA adapter on `base` at `name`, with PEFT's initialisation; A and B registered to train.
pub fn lora_adapt(ctx: &mut AdaptCtx, name: &str, base: Linear) -> anyhow::Result<Linear> {
    Ok(Linear::Adapted(Arc::new(lora_layer(ctx, name, base)?)))
}

/// The LoRA layer itself (DoRA builds on it).
pub fn lora_layer(ctx: &mut AdaptCtx, name: &str, base: Linear) -> anyhow::Result<LoraLinear> {
    let (a, b) = ctx.initial_adapter()?;
    ctx.train(format!("{name}.lora_A.weight"), &a);
    ctx.train(format!("{name}.lora_B.weight"), &b);
    Ok(LoraLinear {
        base,
        a,
        b,
        scale: ctx.mc.lora.scale(),
        dropout: ctx.dropout.clone(),
    })
}

/// y = base(x) + scale · (dropout(x)·Aᵀ)·Bᵀ, A (r × in), B (out × r).
#[derive(Clone)]
pub struct LoraLinear {
    pub base: Linear,
    pub a: Var,
    pub b: Var,
    pub scale: f64,
    pub dropout: Dropout,
}

impl Adapter for LoraLinear {
    fn base(&self) -> &Linear {
        &self.base
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.base {
            Linear::Frozen(w) => {
                ftbench_kernels::lora_linear(x, w, self.a.as_tensor(), self.b.as_tensor(), self.scale, self.dropout.mask(x)?)
            }
            base => {
                let (a, b) = (at_dtype(self.a.as_tensor(), x.dtype())?, at_dtype(self.b.as_tensor(), x.dtype())?);
                let down = matmul_t(&self.dropout.apply(x)?, &a)?;
                base.forward(x)? + (matmul_t(&down, &b)? * self.scale)?
            }
        }
    }

    fn params(&self) -> Vec<Tensor> {
        vec![self.a.as_tensor().clone(), self.b.as_tensor().clone()]
    }

    fn dropout(&self) -> &Dropout {
        &self.dropout
    }

    fn rebased(&self, base: Linear) -> Arc<dyn Adapter> {
        Arc::new(LoraLinear { base, ..self.clone() })
    }

    /// W + scale·B·A.
    fn merged_weight(&self) -> Result<Option<Tensor>> {
        let Some(w) = self.base.dense_frozen(self.a.dtype())? else {
            return Ok(None);
        };
        Ok(Some((w + (self.b.as_tensor().matmul(self.a.as_tensor())? * self.scale)?)?))
    }

    fn describe(&self) -> String {
        format!("lora(r={})", self.a.dim(0).unwrap_or(0))
    }
}
