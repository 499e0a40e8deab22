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

/// The decoder with every frozen base that is not stored dense (NF4, GGML) dequantized into a
/// dense frozen weight of the compute dtype, adapters kept unmerged over it: QLoRA served over
/// its dequantized base. Dense bases, norms and embeddings are shared.
pub fn dequantized_bases(d: &Decoder) -> Result<Decoder> {
    let dtype = d.dtype();
    map_linears(d, |l| dense_base(l, dtype))
}

/// What a user deploys from a trained cell as one dense checkpoint: every trainable weight
/// frozen, every adapter merged into its base (an NF4 base dequantized first, in the compute
/// dtype); a model with nothing to merge as it is.
pub fn merged_dense(d: &Decoder) -> Result<Decoder> {
    let dense = dequantized_bases(&frozen_copy(d)?)?;
    Ok(merge_adapters(&dense)?.unwrap_or(dense))
}

/// The decoder with every tensor (embeddings, norms, biases, linear weights, adapters merged or
/// not) stored in `dtype`, computing in it.
pub fn cast(d: &Decoder, dtype: candle_core::DType) -> Result<Decoder> {
    use crate::nn::Linear;
    use std::sync::Arc;
    let linear = |l: &Linear| -> Result<Linear> {
        Ok(match l {
            Linear::Adapted(_) => anyhow::bail!("cast: merge the adapters first"),
            l => Linear::Frozen(Arc::new(ftbench_kernels::DenseWeight(dense_weight(l, dtype)?))),
        })
    };
    let layers = d
        .layers
        .iter()
        .map(|l| -> Result<Layer> {
            Ok(Layer {
                norms: l.norms.iter().map(|t| t.to_dtype(dtype)).collect::<candle_core::Result<_>>()?,
                linears: l.linears.iter().map(linear).collect::<Result<_>>()?,
                biases: l
                    .biases
                    .iter()
                    .map(|b| b.as_ref().map(|b| b.to_dtype(dtype)).transpose())
                    .collect::<candle_core::Result<_>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Decoder::new(
        d.cfg.clone(),
        d.embed.to_dtype(dtype)?,
        layers,
        d.norm.to_dtype(dtype)?,
        linear(&d.lm_head)?,
    )?
    .computing_in(dtype)?;
    out.fused = d.fused;
    Ok(out)
}

/// The dense (out, in) weight of a frozen or trainable linear, in `dtype` (NF4 dequantized).
fn dense_weight(l: &crate::nn::Linear, dtype: candle_core::DType) -> Result<Tensor> {
    use crate::nn::Linear;
    Ok(match l {
        Linear::Trainable(v) => v.as_tensor().detach().to_dtype(dtype)?,
        Linear::Frozen(w) => w.dense(dtype)?,
        Linear::Adapted(a) => anyhow::bail!("{}: an adapted linear has no single dense weight", a.describe()),
    })
}

/// A linear over a dense frozen base: NF4 (or other stored forms) dequantized to `dtype`.
fn dense_base(l: &crate::nn::Linear, dtype: candle_core::DType) -> Result<crate::nn::Linear> {
    use crate::nn::Linear;
    use std::sync::Arc;
    let dense = |w: &Arc<dyn ftbench_kernels::FrozenWeight>| -> Result<Linear> {
        Ok(Linear::Frozen(Arc::new(ftbench_kernels::DenseWeight(w.dense(dtype)?))))
    };
    Ok(match l {
        Linear::Frozen(w) if w.name() != "ftbench-frozen-linear" => dense(w)?,
        Linear::Adapted(a) => match a.base() {
            Linear::Frozen(w) if w.name() != "ftbench-frozen-linear" => Linear::Adapted(a.rebased(dense(w)?)),
            _ => l.clone(),
        },
        other => other.clone(),
    })
}

/// The decoder with every block linear replaced by `f(linear)` (the LM head too), everything
/// else shared.
fn map_linears(d: &Decoder, mut f: impl FnMut(&crate::nn::Linear) -> Result<crate::nn::Linear>) -> Result<Decoder> {
    let mut layers = Vec::with_capacity(d.layers.len());
    for l in &d.layers {
        let layer = l.map_linears(|x| f(x).map(Some))?;
        layers.push(layer.ok_or_else(|| anyhow::anyhow!("a block linear did not map"))?);
    }
    let mut out = Decoder::new(d.cfg.clone(), d.embed.clone(), layers, d.norm.clone(), f(&d.lm_head)?)?.computing_in(d.dtype())?;
    out.fused = d.fused;
    Ok(out)
}
