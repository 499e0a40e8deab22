//! The SwiGLU gate as one differentiable op: y = silu(g)·u = g·σ(g)·u.
//!
//! The composed form keeps silu(g) as a separate intermediate and, in backward, builds σ(g)
//! and its derivative from several more; this op keeps only its inputs and computes both
//! gradients in one pass: du = dy·g·σ(g), dg = dy·u·σ(g)·(1 + g·(1 − σ(g))).

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

const NAME: &str = "ftbench-swiglu";
const CHUNK: usize = 1 << 12;

pub struct SwiGlu;

fn sigmoid<T: Elem>(g: T) -> T {
    T::one() / (T::one() + (-g).exp())
}

fn fwd_typed<T: Elem>(sg: &CpuStorage, lg: &Layout, su: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
    if lg.shape() != lu.shape() {
        candle_core::bail!("{NAME}: gate {:?} and up {:?} differ in shape", lg.shape(), lu.shape());
    }
    let (g, u) = (elem::slice::<T>(NAME, "gate", sg, lg)?, elem::slice::<T>(NAME, "up", su, lu)?);
    let mut y = vec![T::zero(); g.len()];
    y.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK)))
        .for_each(|(y, (g, u))| {
            for ((y, &g), &u) in y.iter_mut().zip(g).zip(u) {
                *y = g * sigmoid(g) * u;
            }
        });
    Ok((T::storage(y), lg.shape().clone()))
}

fn bwd_typed<T: Elem>(g: &Tensor, u: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (dg, du) = elem::with_values::<T, _>(NAME, "gate", g, |gv| {
        elem::with_values::<T, _>(NAME, "up", u, |uv| {
            elem::with_values::<T, _>(NAME, "dy", dy, |dyv| {
                let mut dg = vec![T::zero(); gv.len()];
                let mut du = vec![T::zero(); gv.len()];
                dg.par_chunks_mut(CHUNK)
                    .zip(du.par_chunks_mut(CHUNK))
                    .zip(gv.par_chunks(CHUNK).zip(uv.par_chunks(CHUNK)).zip(dyv.par_chunks(CHUNK)))
                    .for_each(|((dg, du), ((g, u), dy))| {
                        for i in 0..g.len() {
                            let s = sigmoid(g[i]);
                            du[i] = dy[i] * g[i] * s;
                            dg[i] = dy[i] * u[i] * s * (T::one() + g[i] * (T::one() - s));
                        }
                    });
                Ok((dg, du))
            })
        })
    })?;
    let keep = |t: &Tensor, v: Vec<T>| t.track_op().then(|| elem::tensor(v, t.shape())).transpose();
    Ok((keep(g, dg)?, keep(u, du)?))
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, sg: &CpuStorage, lg: &Layout, su: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
        per_float!(NAME, sg.dtype(), fwd_typed::<T>(sg, lg, su, lu))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sg: &candle_core::CudaStorage,
        lg: &Layout,
        su: &candle_core::CudaStorage,
        lu: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((crate::cuda::rows::swiglu_fwd((sg, lg), (su, lu))?, lg.shape().clone()))
    }

    fn bwd(&self, g: &Tensor, u: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        #[cfg(feature = "cuda")]
        if g.device().is_cuda() {
            if g.shape() != u.shape() || dy.shape() != g.shape() {
                candle_core::bail!(
                    "{NAME}: gate {:?}, up {:?} and gradient {:?} differ in shape",
                    g.shape(),
                    u.shape(),
                    dy.shape()
                );
            }
            let (dg, du) = crate::cuda::rows::swiglu_bwd(&g.contiguous()?, &u.contiguous()?, dy)?;
            return Ok((g.track_op().then_some(dg), u.track_op().then_some(du)));
        }
        per_float!(NAME, g.dtype(), bwd_typed::<T>(g, u, dy))
    }
}

/// silu(gate) · up, elementwise (see [`SwiGlu`]).
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}
