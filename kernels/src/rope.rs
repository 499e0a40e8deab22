//! Rotary position embedding fused with the split into heads, as one differentiable op.
//!
//! A projection's output x (batch, seq, heads·head_dim) becomes (batch, heads, seq, head_dim)
//! with each head rotated by its position: in transformers' half-split layout, the pair
//! (x_i, x_{i+d/2}) turns by the angle of frequency i. The composed form (reshape, transpose,
//! two narrows, negate, concatenate, two broadcast multiplies, add, then a contiguous copy)
//! makes six temporaries; this op reads x once and writes the rotated heads once. Backward is
//! the inverse rotation written back in x's layout: dx_i = c·dy_i + s·dy_{i+d/2},
//! dx_{i+d/2} = c·dy_{i+d/2} − s·dy_i.

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

const NAME: &str = "ftbench-rope";

/// The op; `cos` and `sin` are (positions, head_dim) tables with both halves equal (cat(f, f)).
pub struct RopeHeads {
    pub cos: Tensor,
    pub sin: Tensor,
    pub heads: usize,
    /// Position of the first token of x.
    pub start: usize,
}

struct Dims {
    b: usize,
    t: usize,
    heads: usize,
    hd: usize,
}

impl RopeHeads {
    fn dims(&self, shape: &Shape) -> Result<Dims> {
        let (b, t, width) = shape.dims3()?;
        let (positions, hd) = self.cos.dims2()?;
        if self.heads == 0 || width != self.heads * hd || hd % 2 != 0 {
            candle_core::bail!(
                "{NAME}: input width {width} is not {} heads of the tables' even head_dim {hd}",
                self.heads
            );
        }
        if self.start + t > positions {
            candle_core::bail!(
                "{NAME}: positions {}..{} exceed the {positions} in the tables",
                self.start,
                self.start + t
            );
        }
        Ok(Dims {
            b,
            t,
            heads: self.heads,
            hd,
        })
    }

    /// Rotates (sign = 1, x layout → head layout) or rotates back (sign = -1, head layout →
    /// x layout).
    fn apply<T: Elem>(&self, d: &Dims, src: &[T], sign: T) -> Result<Vec<T>> {
        let (hd, t, heads) = (d.hd, d.t, d.heads);
        elem::with_values::<T, _>(NAME, "cos", &self.cos, |cos| {
            elem::with_values::<T, _>(NAME, "sin", &self.sin, |sin| {
                let table = |ti: usize| {
                    let at = (self.start + ti) * hd;
                    (&cos[at..at + hd], &sin[at..at + hd])
                };
                let mut out = vec![T::zero(); src.len()];
                if sign > T::zero() {
                    // One (batch, head) block of the output per task: t rows of hd.
                    out.par_chunks_mut(t * hd).enumerate().for_each(|(bh, block)| {
                        let (bi, hi) = (bh / heads, bh % heads);
                        for (ti, row) in block.chunks_mut(hd).enumerate() {
                            let from = (bi * t + ti) * heads * hd + hi * hd;
                            let (c, s) = table(ti);
                            rotate(row, &src[from..from + hd], c, s, sign);
                        }
                    });
                } else {
                    // One token's row of the output (all heads) per task.
                    out.par_chunks_mut(heads * hd).enumerate().for_each(|(row, x_row)| {
                        let (bi, ti) = (row / t, row % t);
                        let (c, s) = table(ti);
                        for (hi, head) in x_row.chunks_mut(hd).enumerate() {
                            let from = ((bi * heads + hi) * t + ti) * hd;
                            rotate(head, &src[from..from + hd], c, s, sign);
                        }
                    });
                }
                Ok(out)
            })
        })
    }
}

/// out = the pairs (x_i, x_{i+d/2}) of `x` turned by the angles whose cosines and sines are
/// c_i, sign·s_i.
fn rotate<T: Elem>(out: &mut [T], x: &[T], c: &[T], s: &[T], sign: T) {
    let half = x.len() / 2;
    for i in 0..half {
        let (a, b, si) = (x[i], x[i + half], s[i] * sign);
        out[i] = a * c[i] - b * si;
        out[i + half] = b * c[i] + a * si;
    }
}

fn fwd_typed<T: Elem>(op: &RopeHeads, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
    let d = op.dims(l.shape())?;
    let x = elem::slice::<T>(NAME, "x", s, l)?;
    let y = op.apply(&d, x, T::one())?;
    Ok((T::storage(y), Shape::from((d.b, d.heads, d.t, d.hd))))
}

fn bwd_typed<T: Elem>(op: &RopeHeads, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let d = op.dims(x.shape())?;
    let dx = elem::with_values::<T, _>(NAME, "dy", dy, |dy| op.apply(&d, dy, -T::one()))?;
    elem::tensor(dx, x.shape())
}

impl CustomOp1 for RopeHeads {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        per_float!(NAME, s.dtype(), fwd_typed::<T>(self, s, l))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        let d = self.dims(l.shape())?;
        let y = crate::cuda::rows::rope((s, l), &self.cos, &self.sin, d.b, d.t, d.heads, d.hd, self.start, true)?;
        Ok((y, Shape::from((d.b, d.heads, d.t, d.hd))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        #[cfg(feature = "cuda")]
        if x.device().is_cuda() {
            let d = self.dims(x.shape())?;
            if dy.dims() != [d.b, d.heads, d.t, d.hd] {
                candle_core::bail!(
                    "{NAME}: gradient {:?} for heads ({}, {}, {}, {})",
                    dy.shape(),
                    d.b,
                    d.heads,
                    d.t,
                    d.hd
                );
            }
            let dy = dy.contiguous()?.to_dtype(x.dtype())?;
            let (g, l) = dy.storage_and_layout();
            let candle_core::Storage::Cuda(s) = &*g else {
                candle_core::bail!("{NAME}: gradient not on the input's CUDA device");
            };
            let dx = crate::cuda::rows::rope((s, l), &self.cos, &self.sin, d.b, d.t, d.heads, d.hd, self.start, false)?;
            return Ok(Some(Tensor::from_storage(
                candle_core::Storage::Cuda(dx),
                x.shape().clone(),
                candle_core::op::BackpropOp::none(),
                false,
            )));
        }
        per_float!(NAME, x.dtype(), bwd_typed::<T>(self, x, dy)).map(Some)
    }
}

/// x (batch, seq, heads·head_dim) → rotated heads (batch, heads, seq, head_dim), contiguous,
/// for positions start..start+seq (see [`RopeHeads`]).
pub fn rope_heads(x: &Tensor, cos: &Tensor, sin: &Tensor, heads: usize, start: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(RopeHeads {
        cos: cos.contiguous()?,
        sin: sin.contiguous()?,
        heads,
        start,
    })
}
