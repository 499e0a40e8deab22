//! RMSNorm as one differentiable op: y = x / sqrt(mean(x²) + eps) · w over the last dimension.
//!
//! The composed form (square, mean, add, sqrt, recip, two broadcast multiplies) allocates five
//! row-sized temporaries in forward and more in backward, each a pass over memory; this op makes
//! one pass each way, keeps nothing but its input and recomputes the per-row 1/rms in backward.
//!
//! Backward, with r = 1/rms(x) and h the width:
//! dx_j = r·w_j·dy_j − x_j · r³/h · Σ_k w_k·dy_k·x_k;  dw_j = Σ_rows dy_j·x_j·r.

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

const NAME: &str = "ftbench-rms-norm";

pub struct RmsNorm {
    pub eps: f64,
}

fn inv_rms<T: Elem>(row: &[T], eps: f64) -> T {
    let ms = row.iter().map(|&v| v * v).sum::<T>() / T::of(row.len() as f64);
    T::one() / (ms + T::of(eps)).sqrt()
}

fn check_width(x: &Layout, w: &Layout) -> Result<usize> {
    let h = w.shape().elem_count();
    if w.shape().rank() != 1 || x.shape().dims().last() != Some(&h) {
        candle_core::bail!(
            "{NAME}: weight {:?} must be 1-D and match the input's last dimension {:?}",
            w.shape(),
            x.shape()
        );
    }
    Ok(h)
}

fn forward<T: Elem>(eps: f64, x: &[T], w: &[T]) -> Vec<T> {
    let h = w.len();
    let mut y = vec![T::zero(); x.len()];
    y.par_chunks_mut(h).zip(x.par_chunks(h)).for_each(|(y, x)| {
        let r = inv_rms(x, eps);
        for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
            *y = x * r * w;
        }
    });
    y
}

/// (dx, dw) for the rows of x; either may be skipped.
fn backward<T: Elem>(eps: f64, x: &[T], w: &[T], dy: &[T], want_dx: bool, want_dw: bool) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let h = w.len();
    let dx = want_dx.then(|| {
        let mut dx = vec![T::zero(); x.len()];
        dx.par_chunks_mut(h)
            .zip(x.par_chunks(h))
            .zip(dy.par_chunks(h))
            .for_each(|((dx, x), dy)| {
                let r = inv_rms(x, eps);
                let dot = x.iter().zip(dy).zip(w).map(|((&x, &dy), &w)| x * dy * w).sum::<T>();
                let c = r * r * r * dot / T::of(h as f64);
                for (((dx, &x), &dy), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
                    *dx = r * w * dy - x * c;
                }
            });
        dx
    });
    let dw = want_dw.then(|| {
        // Rows in blocks, one partial sum per block, then the blocks added.
        x.par_chunks(h * 16)
            .zip(dy.par_chunks(h * 16))
            .map(|(xb, dyb)| {
                let mut acc = vec![T::zero(); h];
                for (x, dy) in xb.chunks(h).zip(dyb.chunks(h)) {
                    let r = inv_rms(x, eps);
                    for ((a, &x), &dy) in acc.iter_mut().zip(x).zip(dy) {
                        *a += dy * x * r;
                    }
                }
                acc
            })
            .reduce(
                || vec![T::zero(); h],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    a
                },
            )
    });
    (dx, dw)
}

fn fwd_typed<T: Elem>(eps: f64, sx: &CpuStorage, lx: &Layout, sw: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
    check_width(lx, lw)?;
    let x = elem::slice::<T>(NAME, "x", sx, lx)?;
    let w = elem::slice::<T>(NAME, "weight", sw, lw)?;
    Ok((T::storage(forward(eps, x, w)), lx.shape().clone()))
}

fn bwd_typed<T: Elem>(eps: f64, x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (want_dx, want_dw) = (x.track_op(), w.track_op());
    let (dx, dw) = elem::with_values::<T, _>(NAME, "x", x, |xs| {
        elem::with_values::<T, _>(NAME, "weight", w, |ws| {
            elem::with_values::<T, _>(NAME, "dy", dy, |dys| Ok(backward(eps, xs, ws, dys, want_dx, want_dw)))
        })
    })?;
    Ok((
        dx.map(|v| elem::tensor(v, x.shape())).transpose()?,
        dw.map(|v| elem::tensor(v, w.shape())).transpose()?,
    ))
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, sx: &CpuStorage, lx: &Layout, sw: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        per_float!(NAME, sx.dtype(), fwd_typed::<T>(self.eps, sx, lx, sw, lw))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sx: &candle_core::CudaStorage,
        lx: &Layout,
        sw: &candle_core::CudaStorage,
        lw: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        // The CPU path's check: the kernel trusts the width.
        check_width(lx, lw)?;
        Ok((crate::cuda::rows::rms_norm_fwd((sx, lx), (sw, lw), self.eps)?, lx.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        #[cfg(feature = "cuda")]
        if x.device().is_cuda() {
            check_width(x.layout(), w.layout())?;
            if dy.shape() != x.shape() {
                candle_core::bail!("{NAME}: gradient {:?} for input {:?}", dy.shape(), x.shape());
            }
            return crate::cuda::rows::rms_norm_bwd(&x.contiguous()?, &w.contiguous()?, dy, self.eps, x.track_op(), w.track_op());
        }
        per_float!(NAME, x.dtype(), bwd_typed::<T>(self.eps, x, w, dy))
    }
}

/// RMSNorm of x (..., h) with weight w (h); f32 or f64 on the CPU, f32 or bf16 on CUDA.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}
