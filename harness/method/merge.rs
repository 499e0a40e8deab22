//! Merging trained LoRA adapters into the frozen weights, for inference: the merged decoder
//! runs plain dense linears, as PEFT's `merge_and_unload` gives.

use crate::model::{Decoder, Layer};
use anyhow::Result;
use candle_core::Tensor;

/// The decoder with every adapter merged into its layer's weight; None when some base is not
/// dense (QLoRA's NF4) or there is nothing to merge.
pub fn merge_adapters(d: &Decoder) -> Result<Option<Decoder>> {
    let mut any = false;
    let mut layers = Vec::with_capacity(d.layers.len());
    for l in &d.layers {
        let merged = l.map_linears(|x: &crate::nn::Linear| -> Result<Option<crate::nn::Linear>> {
            any |= matches!(x, crate::nn::Linear::Adapted(_));
            x.merged().map_err(Into::into)
        })?;
        let Some(layer) = merged else {
            return Ok(None);
        };
        layers.push(layer);
    }
    if !any {
        return Ok(None);
    }
    let mut out = Decoder::new(d.cfg.clone(), d.embed.clone(), layers, d.norm.clone(), d.lm_head.clone())?.computing_in(d.dtype())?;
    out.fused = d.fused;
    Ok(Some(out))
}

/// The decoder with every trainable weight (`Var`) replaced by a frozen copy sharing its
/// storage: what a full fine-tuning checkpoint is once saved and loaded for inference.
/// Adapters stay as they are (see [`merge_adapters`] for merging them).
pub fn frozen_copy(d: &Decoder) -> Result<Decoder> {
    use crate::nn::Linear;
    use std::sync::Arc;
    let freeze = |x: &Linear| -> Linear {
        match x {
            Linear::Trainable(v) => Linear::Frozen(Arc::new(ftbench_kernels::DenseWeight(v.as_tensor().detach()))),
            other => other.clone(),
        }
    };
    let layers = d
        .layers
        .iter()
        .map(|l| Layer {
            norms: l.norms.iter().map(Tensor::detach).collect(),
            linears: l.linears.iter().map(freeze).collect(),
            biases: l.biases.iter().map(|b| b.as_ref().map(Tensor::detach)).collect(),
        })
        .collect();
    // In the trained model's compute dtype: Decoder::new would take the embedding's (the f32
    // master under bf16-mixed) and evaluate a bf16-trained model in f32.
    let mut out = Decoder::new(d.cfg.clone(), d.embed.detach(), layers, d.norm.detach(), freeze(&d.lm_head))?.computing_in(d.dtype())?;
    out.fused = d.fused;
    Ok(out)
}
