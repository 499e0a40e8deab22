//! `lora_init: pissa`: PiSSA (Meng et al. 2024, "PiSSA: Principal Singular Values and Singular
//! Vectors Adaptation of Large Language Models"; PEFT's `init_lora_weights="pissa"`). The adapter
//! starts as the weight's r principal components and the base keeps the rest: with W = U S Vᵀ,
//! A = diag(√(Sᵣ/s))·Vᵣᵀ, B = Uᵣ·diag(√(Sᵣ/s)) and the base W − s·B·A, s the adapter's scale —
//! the model starts exactly as before, and training moves the principal directions instead of a
//! zero-initialised detour. Under an NF4 base (QPiSSA) the residual is what is quantized, whose
//! quantization error is smaller than the whole weight's.
//!
//! PEFT re-runs the same SVD when it loads an adapter whose config says `init_lora_weights:
//! "pissa"` on the original base (the residual is then rebuilt) and takes A and B from the file,
//! so an adapter ftbench trained loads there as it ran here. Checked against PEFT's own
//! initialisation (tests/data/pissa_peft_1.safetensors) in tests/pissa.rs.

use super::lora_init::{InitInput, Initial, LoraInit};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};

pub struct Pissa;

impl LoraInit for Pissa {
    fn name(&self) -> &'static str {
        "pissa"
    }
    fn doc(&self) -> &'static str {
        "PiSSA: A and B from the weight's r principal singular components, the base keeps the residual (QPiSSA over NF4: the residual is quantized); an SVD per adapted linear at load"
    }
    fn peft_value(&self) -> serde_json::Value {
        serde_json::Value::from("pissa")
    }
    fn init(&self, x: &InitInput) -> Result<Initial> {
        let w = x.weight.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
        let (out, inp) = w.dims2()?;
        if x.rank > out.min(inp) {
            anyhow::bail!(
                "PiSSA takes the {} leading singular components of a {out} × {inp} weight, which has {}",
                x.rank,
                out.min(inp)
            );
        }
        let t = crate::nn::top_singular(&w, x.rank)?;
        let r = t.s.len();
        // √(Sᵣ / scale), shared by A and B.
        let root: Vec<f32> = t.s.iter().map(|s| (s / x.scale as f32).max(0.0).sqrt()).collect();
        let root = Tensor::from_vec(root, r, &Device::Cpu)?;
        let a = t.v.t()?.broadcast_mul(&root.unsqueeze(1)?)?.contiguous()?; // (r, in)
        let b = t.u.broadcast_mul(&root.unsqueeze(0)?)?.contiguous()?; // (out, r)
        let residual = (&w - (b.matmul(&a)? * x.scale)?)?;
        Ok(Initial {
            a,
            b,
            residual: Some(residual.to_dtype(x.weight.dtype())?),
        })
    }
}
