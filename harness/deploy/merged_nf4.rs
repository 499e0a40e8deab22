//! `merged-nf4`: the merged checkpoint re-quantized to NF4 with the cell's block settings — what
//! PEFT's `merge_and_unload` of a 4-bit QLoRA model gives (it dequantizes, adds the adapter, and
//! quantizes the sum again), and what loading any fine-tune with bitsandbytes' `load_in_4bit`
//! serves. Every block linear becomes NF4; the embedding and LM head stay dense, as
//! bitsandbytes leaves them.

use super::{held_bytes, ServeCtx, Served, ServingForm};
use crate::method::{nf4_on, quantize_weight, Method};
use crate::model::Decoder;
use crate::nn::Linear;
use anyhow::{Context, Result};

pub struct MergedNf4;

impl ServingForm for MergedNf4 {
    fn name(&self) -> &'static str {
        "merged-nf4"
    }
    fn doc(&self) -> &'static str {
        "the merged checkpoint re-quantized to NF4 (the cell's block size and double quantization): PEFT's merge of a 4-bit model, or load_in_4bit"
    }
    fn not_for(&self, _method: Method) -> Option<&'static str> {
        None
    }
    fn serve(&self, trained: &Decoder, ctx: &ServeCtx) -> Result<Served> {
        let merged = ctx.merged(trained)?;
        let device = merged.device().clone();
        let mut layers = Vec::with_capacity(merged.layers.len());
        for (i, l) in merged.layers.iter().enumerate() {
            let layer = l.map_linears(|x: &Linear| -> Result<Option<Linear>> {
                let Linear::Frozen(w) = x else {
                    anyhow::bail!("merged-nf4: layer {i} holds a linear that is not frozen ({x:?})");
                };
                let nf4 = quantize_weight(&w.dense(candle_core::DType::F32)?, ctx.nf4_block_size, ctx.nf4_double_quant)
                    .with_context(|| format!("quantizing a linear of layer {i} to NF4"))?;
                nf4_on(nf4, &device).map(Some)
            })?;
            layers.push(layer.context("every linear maps")?);
        }
        let mut model = Decoder::new(
            merged.cfg.clone(),
            merged.embed.clone(),
            layers,
            merged.norm.clone(),
            merged.lm_head.clone(),
        )?
        .computing_in(merged.dtype())?;
        model.fused = merged.fused;
        Ok(Served {
            bytes: held_bytes(&model),
            model,
            bytes_of: "tensors",
        })
    }
}
