//! `qlora`: LoRA over a base whose decoder linears are quantized to NF4 as they load
//! (bitsandbytes' exact format; embeddings, norms and the LM head stay dense, as bitsandbytes
//! leaves them) and dequantized per matmul.

use super::lora::{lora_adapt, Lora, LORA_KNOBS};
use super::nf4::NF4_KNOBS;
use super::{AdaptCtx, BaseFormat, FineTuning, Published};
use crate::nn::Linear;
use anyhow::Result;

pub struct Qlora;

impl FineTuning for Qlora {
    fn name(&self) -> &'static str {
        "qlora"
    }
    fn label(&self) -> &'static str {
        "QLoRA"
    }
    fn doc(&self) -> &'static str {
        "LoRA adapters over an NF4 base (block 64, double-quantized constants), dequantized per matmul"
    }
    fn has_adapters(&self) -> bool {
        true
    }
    fn base_format(&self) -> BaseFormat {
        BaseFormat::Nf4
    }
    fn knobs(&self) -> Vec<&'static str> {
        [LORA_KNOBS, NF4_KNOBS].concat()
    }
    fn adapt(&self, ctx: &mut AdaptCtx, _module: &str, name: &str, base: Linear) -> Result<Linear> {
        lora_adapt(ctx, name, base)
    }
    fn adapter_params(&self, out: u64, inp: u64, rank: u64) -> u64 {
        Lora.adapter_params(out, inp, rank)
    }
    fn transient_weight_copies(&self) -> u64 {
        1 // the dequantized weight of one matmul
    }
    fn published(&self) -> Option<&'static Published> {
        Some(&Published {
            params_updated: "~1–5%",
            vram_gb: (8.0, 12.0),
            accuracy_loss: "~1–2%",
            accuracy_delta_points: Some((-2.0, -1.0)),
            params_updated_percent: (1.0, 5.0),
            hardware: "1× RTX 4060/3060",
        })
    }
    fn color(&self) -> (u8, u8, u8) {
        (0x2e, 0x9a, 0x55)
    }
}
