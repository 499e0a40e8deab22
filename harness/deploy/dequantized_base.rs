//! `dequantized-base`: a QLoRA (QDoRA) adapter, unmerged, over its base dequantized once from
//! NF4 to the compute dtype — how many serve a QLoRA adapter with PEFT on a dense base. The
//! adapter sees the very weights it trained against (the NF4 codes dequantized), so the score
//! should not move; the speed shows what dequantizing per matmul cost.

use super::{held_bytes, ServeCtx, Served, ServingForm};
use crate::method::{dequantized_bases, frozen_copy, BaseFormat, Method};
use crate::model::Decoder;
use anyhow::Result;

pub struct DequantizedBase;

impl ServingForm for DequantizedBase {
    fn name(&self) -> &'static str {
        "dequantized-base"
    }
    fn doc(&self) -> &'static str {
        "QLoRA/QDoRA: the adapter unmerged over its base dequantized once from NF4 to the compute dtype"
    }
    fn not_for(&self, method: Method) -> Option<&'static str> {
        (method.base_format() != BaseFormat::Nf4 || !method.has_adapters())
            .then_some("only an adapter over an NF4 base has a quantized base to dequantize")
    }
    fn serve(&self, trained: &Decoder, _ctx: &ServeCtx) -> Result<Served> {
        let model = dequantized_bases(&frozen_copy(trained)?)?;
        Ok(Served {
            bytes: held_bytes(&model),
            model,
            bytes_of: "tensors",
        })
    }
}
