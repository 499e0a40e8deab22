//! `qdora`: DoRA over QLoRA's NF4 base (the frozen linears quantized as they load). The weight
//! norm ‖W + s·BA‖ is taken over the dequantized base, as PEFT does for a bitsandbytes 4-bit
//! layer; the adapter on disk is DoRA's.

use super::dora::{dora_adapt, Dora};
use super::lora::LORA_KNOBS;
use super::nf4::NF4_KNOBS;
use super::{AdaptCtx, BaseFormat, FineTuning};
use crate::nn::Linear;
use anyhow::Result;

pub struct Qdora;

impl FineTuning for Qdora {
    fn name(&self) -> &'static str {
        "qdora"
    }
    fn label(&self) -> &'static str {
        "QDoRA"
    }
    fn doc(&self) -> &'static str {
        "DoRA over an NF4 base (as qlora): the magnitude and the weight norm use the dequantized base"
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
        dora_adapt(ctx, name, base)
    }
    // DoRA's adapter, on disk and in memory.
    fn peft_config(&self, config: &mut serde_json::Map<String, serde_json::Value>) {
        Dora.peft_config(config)
    }
    fn adapter_params(&self, out: u64, inp: u64, rank: u64) -> u64 {
        Dora.adapter_params(out, inp, rank)
    }
    fn transient_weight_copies(&self) -> u64 {
        Dora.transient_weight_copies() + 1 // + the dequantized base the norm is taken over
    }
    fn kept_per_output(&self) -> u64 {
        Dora.kept_per_output()
    }
    fn color(&self) -> (u8, u8, u8) {
        (0x16, 0xa0, 0x85)
    }
}
