//! Linear layers with a frozen weight, as candle custom ops whose backward pass returns only
//! the input's gradient.
//!
//! candle's matmul backward computes and keeps a gradient for both operands, even for a weight
//! that never trains (DESIGN.md): a LoRA model built from plain matmuls would pay a full-size
//! gradient for every base weight. These ops compute y = x·Wᵀ with W held by the op, and
//! dx = dy·W in backward; no weight gradient is ever allocated. [`LoraLinear`] fuses the
//! frozen base with a LoRA adapter.

use crate::blas::gemm;
use crate::elem::{cpu_output, cpu_tensor};
use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result, Shape, Tensor};
use std::sync::Arc;

const NAME: &str = "ftbench-lora-linear";

/// Where a frozen linear's weight (out, in) comes from when the op needs it.
pub trait FrozenWeight: Send + Sync {
    /// The dense weight (out, in), in `dtype`. A quantized weight dequantizes here, for the
    /// duration of one forward or backward matmul only.
    fn dense(&self, dtype: DType) -> Result<Tensor>;
    /// (out, in).
    fn shape(&self) -> (usize, usize);
    fn name(&self) -> &'static str;
    /// Bytes the weight is stored in (codes and constants for a quantized one).
    fn stored_bytes(&self) -> usize;
    /// y = x·Wᵀ computed by the weight itself, for weights that only serve (a GGML-quantized
    /// weight runs its own quantized matmul, as llama.cpp does, rather than dequantizing):
    /// Some(y), untracked (nothing upstream of it can train). None, the default: the op
    /// dequantizes with [`FrozenWeight::dense`] and multiplies.
    fn serve(&self, _x: &Tensor) -> Option<Result<Tensor>> {
        None
    }
}

/// A dense frozen weight: a plain (non-`Var`) tensor.
pub struct DenseWeight(pub Tensor);

impl FrozenWeight for DenseWeight {
    fn dense(&self, dtype: DType) -> Result<Tensor> {
        self.0.to_dtype(dtype)
    }
    fn shape(&self) -> (usize, usize) {
        self.0.dims2().expect("frozen linear weights are 2-D")
    }
    fn name(&self) -> &'static str {
        "ftbench-frozen-linear"
    }
    fn stored_bytes(&self) -> usize {
        self.0.elem_count() * self.0.dtype().size_in_bytes()
    }
}

/// x (..., in) · Wᵀ → (..., out), with plain tensor ops (nothing here is tracked for backward).
fn matmul_wt(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let inp = *dims.last().expect("rank >= 1");
    let rows = x.elem_count() / inp;
    let mut out = dims;
    *out.last_mut().expect("rank >= 1") = w.dim(0)?;
    crate::blas::matmul(&x.reshape((rows, inp))?, w, true)?.reshape(out)
}

/// An NF4 weight: packed codes and block constants only; `dense` dequantizes for one matmul.
impl FrozenWeight for crate::nf4::Nf4Tensor {
    fn dense(&self, dtype: DType) -> Result<Tensor> {
        Tensor::from_vec(self.dequantize(), self.shape(), &candle_core::Device::Cpu)?.to_dtype(dtype)
    }
    fn shape(&self) -> (usize, usize) {
        crate::nf4::Nf4Tensor::shape(self)
    }
    fn name(&self) -> &'static str {
        "ftbench-nf4-linear"
    }
    fn stored_bytes(&self) -> usize {
        self.packed().len() + self.absmax().bytes()
    }
}

/// The op: y = x·Wᵀ over the last dimension of a contiguous x, W shared with the layer (candle
/// keeps the op, and so the weight handle, in the graph until backward).
pub struct FrozenLinear(pub Arc<dyn FrozenWeight>);

impl FrozenLinear {
    /// The forward pass on an untracked copy of x, on any device (`cpu_fwd` and `cuda_fwd`).
    fn fwd(&self, x: &Tensor) -> Result<Tensor> {
        let (out, inp) = self.0.shape();
        if x.dim(candle_core::D::Minus1)? != inp {
            candle_core::bail!(
                "{}: input width {} but the weight is {out}x{inp}",
                self.0.name(),
                x.dim(candle_core::D::Minus1)?
            );
        }
        matmul_wt(x, &self.0.dense(x.dtype())?)
    }
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        cpu_output(self.fwd(&cpu_tensor(self.0.name(), s, l)?)?, self.0.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::output(self.fwd(&crate::cuda::tensor(s, l)?)?, self.0.name())
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            // Nothing upstream trains (e.g. the first layer's input under LoRA): no gradient to compute.
            return Ok(None);
        }
        // dx = dy · W: (..., out) · (out, in)
        let w = self.0.dense(dy.dtype())?;
        let dims = dy.dims().to_vec();
        let out = *dims.last().expect("rank >= 1");
        let rows = dy.elem_count() / out;
        let mut shape = dims;
        *shape.last_mut().expect("rank >= 1") = w.dim(1)?;
        Ok(Some(crate::blas::matmul(&dy.reshape((rows, out))?, &w, false)?.reshape(shape)?))
    }
}

/// A linear layer whose weight trains: y = x·Wᵀ for x (rows, in) and W (out, in), both
/// arguments of the op; backward gives dx = dy·W and dW = dyᵀ·x (each only when asked for).
/// It does what candle's matmul does, through [`crate::blas::gemm`], so the `openblas` build
/// runs these matmuls on OpenBLAS too.
pub struct TrainableLinear;

impl candle_core::CustomOp2 for TrainableLinear {
    fn name(&self) -> &'static str {
        "ftbench-linear"
    }

    fn cpu_fwd(&self, sx: &CpuStorage, lx: &Layout, sw: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (cpu_tensor(self.name(), sx, lx)?, cpu_tensor(self.name(), sw, lw)?);
        cpu_output(crate::blas::gemm(&x, false, &w, true)?, self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sx: &candle_core::CudaStorage,
        lx: &Layout,
        sw: &candle_core::CudaStorage,
        lw: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use crate::cuda::{output, tensor};
        output(crate::blas::gemm(&tensor(sx, lx)?, false, &tensor(sw, lw)?, true)?, self.name())
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = x
            .track_op()
            .then(|| crate::blas::gemm(&dy, false, &w.detach(), false))
            .transpose()?;
        let dw = w.track_op().then(|| crate::blas::gemm(&dy, true, &x.detach(), false)).transpose()?;
        Ok((dx, dw))
    }
}

/// `t` in `dtype`: a trainable tensor kept in another dtype (an f32 master weight under bf16
/// compute) is cast at its use, differentiably, so its gradient arrives in its own dtype.
pub fn at_dtype(t: &Tensor, dtype: DType) -> Result<Tensor> {
    if t.dtype() == dtype {
        Ok(t.clone())
    } else {
        t.to_dtype(dtype)
    }
}

/// y = x·Wᵀ for x (..., in) and a trainable W (out, in) (see [`TrainableLinear`]); W is used in
/// x's dtype.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let w = at_dtype(w, x.dtype())?;
    let dims = x.dims().to_vec();
    let inp = *dims.last().expect("rank >= 1");
    let rows = x.elem_count() / inp;
    let mut out = dims;
    *out.last_mut().expect("rank >= 1") = w.dim(0)?;
    x.contiguous()?
        .reshape((rows, inp))?
        .apply_op2(&w.contiguous()?, TrainableLinear)?
        .reshape(out)
}

/// y = x·Wᵀ for a frozen `weight`; only x receives a gradient.
pub fn frozen_linear(x: &Tensor, weight: &Arc<dyn FrozenWeight>) -> Result<Tensor> {
    if let Some(y) = weight.serve(x) {
        return y;
    }
    x.contiguous()?.apply_op1(FrozenLinear(weight.clone()))
}

/// A frozen linear plus a LoRA adapter in one op:
/// y = x·Wᵀ + scale · ((x ⊙ mask)·Aᵀ)·Bᵀ, A (r × in), B (out × r).
///
/// One node in the graph instead of five (base, down, up, scaled, sum): the graph keeps x and
/// y only, and backward recomputes the rank-r intermediate. Backward returns dx (only when x
/// itself needs a gradient), dA and dB; never a gradient for W.
pub struct LoraLinear {
    pub base: Arc<dyn FrozenWeight>,
    pub scale: f64,
    /// Dropout mask on the adapter's input (already scaled by 1/(1-p)), shaped like x.
    pub mask: Option<Tensor>,
}

impl LoraLinear {
    /// The forward pass on untracked copies, on any device (`cpu_fwd` and `cuda_fwd`).
    fn fwd(&self, x: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let y = matmul_wt(x, &self.base.dense(x.dtype())?)?;
        let low = matmul_wt(&matmul_wt(&self.masked(x)?, a)?, b)?;
        y + (low * self.scale)?
    }

    fn masked(&self, x: &Tensor) -> Result<Tensor> {
        match &self.mask {
            Some(m) => x * m.reshape(x.shape())?,
            None => Ok(x.clone()),
        }
    }
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sa: &CpuStorage,
        la: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, a, b) = (cpu_tensor(NAME, sx, lx)?, cpu_tensor(NAME, sa, la)?, cpu_tensor(NAME, sb, lb)?);
        cpu_output(self.fwd(&x, &a, &b)?, self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sx: &candle_core::CudaStorage,
        lx: &Layout,
        sa: &candle_core::CudaStorage,
        la: &Layout,
        sb: &candle_core::CudaStorage,
        lb: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use crate::cuda::{output, tensor};
        output(self.fwd(&tensor(sx, lx)?, &tensor(sa, la)?, &tensor(sb, lb)?)?, NAME)
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x_dims, inp) = (x.dims().to_vec(), x.dim(candle_core::D::Minus1)?);
        let out = dy.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / inp;
        // Computed from detached copies: nothing in backward is itself recorded.
        let (xd, a, b) = (self.masked(&x.detach())?.reshape((rows, inp))?, a.detach(), b.detach());
        let dy = dy.contiguous()?.reshape((rows, out))?;
        let (a, b) = (a.contiguous()?, b.contiguous()?);
        let dy_b = (gemm(&dy, false, &b, false)? * self.scale)?; // (rows, r)
        let da = gemm(&dy_b, true, &xd, false)?; // (r, in)
        let db = (gemm(&dy, true, &gemm(&xd, false, &a, true)?, false)? * self.scale)?; // (out, r)
        let dx = if x.track_op() {
            let through_adapter = gemm(&dy_b, false, &a, false)?.reshape(x_dims.clone())?;
            let through_adapter = match &self.mask {
                Some(m) => (through_adapter * m.reshape(x_dims.clone())?)?,
                None => through_adapter,
            };
            let base = crate::blas::matmul(&dy, &self.base.dense(dy.dtype())?, false)?.reshape(x_dims)?;
            Some((base + through_adapter)?)
        } else {
            None
        };
        Ok((dx, Some(da), Some(db)))
    }
}

/// y = x·Wᵀ + scale·((x ⊙ mask)·Aᵀ)·Bᵀ with W frozen (see [`LoraLinear`]); A and B are used
/// in x's dtype.
pub fn lora_linear(x: &Tensor, base: &Arc<dyn FrozenWeight>, a: &Tensor, b: &Tensor, scale: f64, mask: Option<Tensor>) -> Result<Tensor> {
    let (a, b) = (at_dtype(a, x.dtype())?, at_dtype(b, x.dtype())?);
    x.contiguous()?.apply_op3(
        &a,
        &b,
        LoraLinear {
            base: base.clone(),
            scale,
            mask,
        },
    )
}
