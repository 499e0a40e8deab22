//! Merging trained LoRA adapters into the frozen weights, for inference: the merged decoder
//! runs plain dense linears, as PEFT's `merge_and_unload` gives.

use crate::model::{Decoder, Layer};
use anyhow::Result;

/// The decoder with every adapter merged into its layer's weight; None when some base is not
/// dense (QLoRA's NF4) or there is nothing to merge.
pub fn merge_adapters(d: &Decoder) -> Result<Option<Decoder>> {
    let mut any = false;
    let mut layers = Vec::with_capacity(d.layers.len());
    for l in &d.layers {
        let mut m = |x: &crate::nn::Linear| -> Result<Option<crate::nn::Linear>> {
            any |= matches!(x, crate::nn::Linear::Adapted(_));
            x.merged().map_err(Into::into)
        };
        let (Some(q), Some(k), Some(v), Some(o), Some(g), Some(u), Some(dn)) = (
            m(&l.q_proj)?,
            m(&l.k_proj)?,
            m(&l.v_proj)?,
            m(&l.o_proj)?,
            m(&l.gate_proj)?,
            m(&l.up_proj)?,
            m(&l.down_proj)?,
        ) else {
            return Ok(None);
        };
        layers.push(Layer {
            input_norm: l.input_norm.clone(),
            q_proj: q,
            k_proj: k,
            v_proj: v,
            o_proj: o,
            post_norm: l.post_norm.clone(),
            gate_proj: g,
            up_proj: u,
            down_proj: dn,
        });
    }
    if !any {
        return Ok(None);
    }
    let mut out = Decoder::new(d.cfg.clone(), d.embed.clone(), layers, d.norm.clone(), d.lm_head.clone())?;
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
            input_norm: l.input_norm.detach(),
            q_proj: freeze(&l.q_proj),
            k_proj: freeze(&l.k_proj),
            v_proj: freeze(&l.v_proj),
            o_proj: freeze(&l.o_proj),
            post_norm: l.post_norm.detach(),
            gate_proj: freeze(&l.gate_proj),
            up_proj: freeze(&l.up_proj),
            down_proj: freeze(&l.down_proj),
        })
        .collect();
    let mut out = Decoder::new(d.cfg.clone(), d.embed.detach(), layers, d.norm.detach(), freeze(&d.lm_head))?;
    out.fused = d.fused;
    Ok(out)
}
