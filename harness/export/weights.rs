//! A served decoder's tensors by Hugging Face name, dense, as a checkpoint holds them: the
//! inverse of building a decoder from a weight source (model/init.rs's `weight_shapes`).

use crate::model::config::TensorRole;
use crate::model::init::Weights;
use crate::model::Decoder;
use crate::nn::Linear;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};

/// Every tensor of `d` by Hugging Face name in `dtype`, on the host. The decoder must hold no
/// adapter (merge first: `method::merged_dense`); NF4 and other stored forms are dequantized.
pub fn decoder_weights(d: &Decoder, dtype: DType) -> Result<Weights> {
    let host = |t: &Tensor| -> Result<Tensor> { Ok(t.to_dtype(dtype)?.to_device(&candle_core::Device::Cpu)?) };
    let dense = |l: &Linear, name: &str| -> Result<Tensor> {
        match l {
            Linear::Trainable(v) => host(&v.as_tensor().detach()),
            Linear::Frozen(w) => host(&w.dense(dtype)?),
            Linear::Adapted(a) => bail!("`{name}` still has its adapter ({}): merge before export", a.describe()),
        }
    };
    let cfg = &d.cfg;
    let mut out = Weights::new();
    out.insert("model.embed_tokens.weight".into(), host(&d.embed)?);
    let block = cfg.block_tensors();
    for (i, layer) in d.layers.iter().enumerate() {
        for t in &block {
            let name = format!("model.layers.{i}.{}", t.name);
            let v = match t.role {
                TensorRole::Norm(k) => host(layer.norms.get(k).context("norm slot")?)?,
                TensorRole::Linear(k) => dense(layer.linears.get(k).context("linear slot")?, &name)?,
                TensorRole::Bias(k) => host(
                    layer
                        .biases
                        .get(k)
                        .and_then(Option::as_ref)
                        .with_context(|| format!("`{name}` has no bias"))?,
                )?,
            };
            if v.dims() != t.shape.as_slice() {
                bail!("`{name}`: the decoder holds shape {:?}, the config says {:?}", v.dims(), t.shape);
            }
            out.insert(name, v);
        }
    }
    out.insert("model.norm.weight".into(), host(&d.norm)?);
    if !cfg.tie_word_embeddings {
        out.insert("lm_head.weight".into(), dense(&d.lm_head, "lm_head.weight")?);
    }
    Ok(out)
}
