//! `lora-plus`: LoRA+ (Hayou et al. 2024): plain LoRA adapters whose B matrices learn
//! `lora_plus_ratio` times faster than A (PEFT's `create_loraplus_optimizer`, loraplus_lr_ratio;
//! the paper suggests 2⁴ = 16). The adapter on disk is plain LoRA: the ratio is a training
//! choice, not part of the model.

use super::lora::{lora_adapt, Lora, LORA_KNOBS};
use super::{AdaptCtx, FineTuning, MethodConfig};
use crate::nn::Linear;
use anyhow::Result;

pub struct LoraPlus;

impl FineTuning for LoraPlus {
    fn name(&self) -> &'static str {
        "lora-plus"
    }
    fn label(&self) -> &'static str {
        "LoRA+"
    }
    fn doc(&self) -> &'static str {
        "LoRA whose B matrices train at lora_plus_ratio × the learning rate of A (LoRA+); same memory as LoRA"
    }
    fn has_adapters(&self) -> bool {
        true
    }
    fn knobs(&self) -> Vec<&'static str> {
        [LORA_KNOBS, &["lora_plus_ratio"]].concat()
    }
    fn adapt(&self, ctx: &mut AdaptCtx, _module: &str, name: &str, base: Linear) -> Result<Linear> {
        lora_adapt(ctx, name, base)
    }
    fn lr_scale(&self, param: &str, mc: &MethodConfig) -> f64 {
        if param.ends_with(".lora_B.weight") {
            mc.lora_plus_ratio
        } else {
            1.0
        }
    }
    fn adapter_params(&self, out: u64, inp: u64, rank: u64) -> u64 {
        Lora.adapter_params(out, inp, rank)
    }
    fn color(&self) -> (u8, u8, u8) {
        (0xd6, 0x89, 0x10)
    }
}
