//! The linear-layer variants a method gives the decoder.

use super::dropout::Dropout;
use candle_core::{Result, Tensor, Var};
use ftbench_kernels::{frozen_linear, lora_linear, FrozenWeight};
use std::sync::Arc;

/// A bias-free linear layer y = x·Wᵀ with W of shape (out, in).
#[derive(Clone)]
pub enum Linear {
    /// A dense weight that trains (full fine-tuning): W is a `Var`, its gradient is kept.
    Trainable(Var),
    /// A frozen weight (dense, or NF4 that dequantizes on the fly): a custom op whose backward
    /// pass returns only the input gradient.
    Frozen(Arc<dyn FrozenWeight>),
    /// A frozen base plus a trainable low-rank adapter.
    Lora(Box<LoraLinear>),
}

/// y = base(x) + scale · (dropout(x)·Aᵀ)·Bᵀ, A (r × in), B (out × r): PEFT's LoRA forward.
/// Over a frozen base it runs as one fused op (ftbench_kernels::LoraLinear).
#[derive(Clone)]
pub struct LoraLinear {
    pub base: Linear,
    pub a: Var,
    pub b: Var,
    pub scale: f64,
    pub dropout: Dropout,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (o, i) = self.shape();
        match self {
            Linear::Trainable(_) => write!(f, "Trainable({o}x{i})"),
            Linear::Frozen(w) => write!(f, "Frozen[{}]({o}x{i})", w.name()),
            Linear::Lora(l) => write!(f, "Lora(r={}, {:?})", l.a.dim(0).unwrap_or(0), l.base),
        }
    }
}

impl Linear {
    /// x: (..., in) → (..., out).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Trainable(w) => ftbench_kernels::linear(x, w.as_tensor()),
            Linear::Frozen(w) => frozen_linear(x, w),
            Linear::Lora(l) => match &l.base {
                Linear::Frozen(w) => lora_linear(x, w, l.a.as_tensor(), l.b.as_tensor(), l.scale, l.dropout.mask(x)?),
                base => {
                    let down = matmul_t(&l.dropout.apply(x)?, l.a.as_tensor())?;
                    base.forward(x)? + (matmul_t(&down, l.b.as_tensor())? * l.scale)?
                }
            },
        }
    }

    /// Appends the tensors of this layer that train (`Var`s) to `out`.
    pub fn collect_params(&self, out: &mut Vec<Tensor>) {
        match self {
            Linear::Trainable(w) => out.push(w.as_tensor().clone()),
            Linear::Frozen(_) => {}
            Linear::Lora(l) => {
                l.base.collect_params(out);
                out.push(l.a.as_tensor().clone());
                out.push(l.b.as_tensor().clone());
            }
        }
    }

    /// (out, in).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Linear::Trainable(w) => w.as_tensor().dims2().expect("linear weights are 2-D"),
            Linear::Frozen(w) => w.shape(),
            Linear::Lora(l) => l.base.shape(),
        }
    }
}

/// x·Wᵀ for x of any rank ≥ 2: the leading dimensions are flattened into one matmul.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (inp, rows) = (dims[dims.len() - 1], dims[..dims.len() - 1].iter().product::<usize>());
    let y = x.reshape((rows, inp))?.matmul(&w.t()?)?;
    let mut out = dims;
    *out.last_mut().expect("rank >= 1") = w.dim(0)?;
    y.reshape(out)
}

impl Linear {
    /// The layer with its LoRA adapter merged into the base, W + scale·B·A, as one frozen dense
    /// weight (PEFT's `merge_and_unload`); other layers as they are. None when the base is not
    /// dense (an NF4 base would have to be dequantized, changing what runs).
    pub fn merged(&self) -> Result<Option<Linear>> {
        match self {
            Linear::Lora(l) => match &l.base {
                Linear::Frozen(w) if w.name() == "ftbench-frozen-linear" => {
                    let base = w.dense(l.a.dtype())?;
                    let delta = (l.b.as_tensor().matmul(l.a.as_tensor())? * l.scale)?;
                    Ok(Some(Linear::Frozen(Arc::new(ftbench_kernels::DenseWeight(
                        (base + delta)?.detach(),
                    )))))
                }
                _ => Ok(None),
            },
            other => Ok(Some(other.clone())),
        }
    }
}
