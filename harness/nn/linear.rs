//! The linear-layer variants a method gives the decoder.

use super::dropout::Dropout;
use candle_core::{Result, Tensor, Var};
use ftbench_kernels::{frozen_linear, FrozenWeight};
use std::sync::Arc;

/// A bias-free linear layer y = x·Wᵀ with W of shape (out, in).
#[derive(Clone)]
pub enum Linear {
    /// A dense weight that trains (full fine-tuning): W is a `Var`, its gradient is kept.
    Trainable(Var),
    /// A frozen weight (dense, or NF4 that dequantizes on the fly): a custom op whose backward
    /// pass returns only the input gradient.
    Frozen(Arc<dyn FrozenWeight>),
    /// A frozen base with a method's trainable adapter (LoRA, DoRA, ...).
    Adapted(Arc<dyn Adapter>),
}

/// A method's adapter over a frozen base linear: its forward pass, what trains, and (for
/// inference) the weight it merges into. Each adapter method implements it in its own file.
pub trait Adapter: Send + Sync {
    /// The frozen layer the adapter sits on.
    fn base(&self) -> &Linear;
    /// x: (..., in) → (..., out).
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    /// The adapter's trainable tensors (`Var`s), in a fixed order.
    fn params(&self) -> Vec<Tensor>;
    /// The adapter's dropout (recompute replays its masks).
    fn dropout(&self) -> &Dropout;
    /// The base with the adapter merged in, as one dense weight (out, in), for inference; None
    /// when the base is not dense (an NF4 base would have to be dequantized, changing what runs).
    fn merged_weight(&self) -> Result<Option<Tensor>>;
    /// The same adapter (sharing its trained tensors) over another frozen base: the base as
    /// served (an NF4 base dequantized, for instance).
    fn rebased(&self, base: Linear) -> Arc<dyn Adapter>;
    /// A short description for debugging (`lora(r=16)`).
    fn describe(&self) -> String;
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (o, i) = self.shape();
        match self {
            Linear::Trainable(_) => write!(f, "Trainable({o}x{i})"),
            Linear::Frozen(w) => write!(f, "Frozen[{}]({o}x{i})", w.name()),
            Linear::Adapted(a) => write!(f, "{}, {:?}", a.describe(), a.base()),
        }
    }
}

impl Linear {
    /// x: (..., in) → (..., out).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Trainable(w) => ftbench_kernels::linear(x, w.as_tensor()),
            Linear::Frozen(w) => frozen_linear(x, w),
            Linear::Adapted(a) => a.forward(x),
        }
    }

    /// Appends the tensors of this layer that train (`Var`s) to `out`.
    pub fn collect_params(&self, out: &mut Vec<Tensor>) {
        match self {
            Linear::Trainable(w) => out.push(w.as_tensor().clone()),
            Linear::Frozen(_) => {}
            Linear::Adapted(a) => {
                a.base().collect_params(out);
                out.extend(a.params());
            }
        }
    }

    /// (out, in).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Linear::Trainable(w) => w.as_tensor().dims2().expect("linear weights are 2-D"),
            Linear::Frozen(w) => w.shape(),
            Linear::Adapted(a) => a.base().shape(),
        }
    }

    /// The adapter's dropout, if the layer has an adapter.
    pub fn dropout(&self) -> Option<&Dropout> {
        match self {
            Linear::Adapted(a) => Some(a.dropout()),
            _ => None,
        }
    }

    /// The layer with its adapter merged into the base as one frozen dense weight (PEFT's
    /// `merge_and_unload`); other layers as they are. None when an adapter's base is not dense.
    pub fn merged(&self) -> Result<Option<Linear>> {
        match self {
            Linear::Adapted(a) => Ok(a
                .merged_weight()?
                .map(|w| Linear::Frozen(Arc::new(ftbench_kernels::DenseWeight(w.detach()))))),
            other => Ok(Some(other.clone())),
        }
    }

    /// The dense weight of a frozen base (out, in) as `dtype`, None for an NF4 or other base
    /// that is not stored dense.
    pub fn dense_frozen(&self, dtype: candle_core::DType) -> Result<Option<Tensor>> {
        match self {
            Linear::Frozen(w) if w.name() == "ftbench-frozen-linear" => Ok(Some(w.dense(dtype)?)),
            _ => Ok(None),
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
