//! `bf16`: the deployable checkpoint (adapters merged, as `merged`) with every tensor cast to
//! bf16, computing in bf16: what `model.to(torch.bfloat16)` and a bf16 safetensors export serve.

use super::{held_bytes, ServeCtx, Served, ServingForm};
use crate::method::{cast, Method};
use crate::model::Decoder;
use anyhow::Result;
use candle_core::DType;

pub struct Bf16;

impl ServingForm for Bf16 {
    fn name(&self) -> &'static str {
        "bf16"
    }
    fn doc(&self) -> &'static str {
        "the merged checkpoint with every tensor cast to bf16, computing in bf16"
    }
    fn not_for(&self, _method: Method) -> Option<&'static str> {
        None
    }
    fn serve(&self, trained: &Decoder, ctx: &ServeCtx) -> Result<Served> {
        let model = cast(&ctx.merged(trained)?, DType::BF16)?;
        Ok(Served {
            bytes: held_bytes(&model),
            model,
            bytes_of: "tensors",
        })
    }
}
