//! `merged`: PEFT's `merge_and_unload` in the compute dtype — every adapter folded into its
//! base, W + s·BA (DoRA: the magnitude-scaled merge), so the model runs plain dense linears. A
//! QLoRA adapter merges into its base dequantized from NF4 (PEFT's merge of a 4-bit layer would
//! re-quantize the sum: that is `merged-nf4`).

use super::{held_bytes, ServeCtx, Served, ServingForm};
use crate::method::Method;
use crate::model::Decoder;
use anyhow::Result;

pub struct Merged;

impl ServingForm for Merged {
    fn name(&self) -> &'static str {
        "merged"
    }
    fn doc(&self) -> &'static str {
        "adapters merged into the weights (PEFT's merge_and_unload) in the compute dtype; a QLoRA adapter into its base dequantized from NF4"
    }
    fn not_for(&self, method: Method) -> Option<&'static str> {
        (!method.has_adapters()).then_some("no adapter to merge")
    }
    fn serve(&self, trained: &Decoder, ctx: &ServeCtx) -> Result<Served> {
        let model = ctx.merged(trained)?;
        Ok(Served {
            bytes: held_bytes(&model),
            model,
            bytes_of: "tensors",
        })
    }
}
