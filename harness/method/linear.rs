//! The linear-layer variants a method can give the decoder.

use candle_core::{Result, Tensor, Var};

/// A bias-free linear layer y = x·Wᵀ with W of shape (out, in).
#[derive(Debug, Clone)]
pub enum Linear {
    /// A dense weight that trains (full fine-tuning): W is a `Var`, its gradient is kept.
    Trainable(Var),
}

impl Linear {
    /// x: (..., in) → (..., out).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Trainable(w) => matmul_t(x, w.as_tensor()),
        }
    }

    /// (out, in).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Linear::Trainable(w) => w.as_tensor().dims2().expect("linear weights are 2-D"),
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
