//! A gated MLP activation as one differentiable op: y = act(g)·u, with act SiLU (SwiGLU: Llama,
//! Qwen, Phi-3) or GELU's tanh approximation (GeGLU: Gemma's `gelu_pytorch_tanh`).
//!
//! The composed forms keep act(g) and its pieces as separate intermediates (GeGLU: nine
//! gate-sized tensors) and build the derivative from several more; this op keeps only its inputs
//! and computes both gradients in one pass: du = dy·act(g), dg = dy·u·act'(g), with
//!   SiLU:  act = g·σ(g),                      act' = σ(g)·(1 + g·(1 − σ(g)))
//!   GeLU:  act = ½g·(1 + tanh z), z = k·(g + c·g³),  act' = ½(1 + tanh z) + ½g·(1 − tanh² z)·k·(1 + 3c·g²)
//! (k = √(2/π), c = 0.044715).

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

const NAME: &str = "ftbench-gated-activation";
const CHUNK: usize = 1 << 12;

/// The gate's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Silu = 0,
    GeluTanh = 1,
}

pub struct Gated(pub Gate);

fn sigmoid<T: Elem>(g: T) -> T {
    T::one() / (T::one() + (-g).exp())
}

const GELU_K: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_C: f64 = 0.044715;

impl Gate {
    /// act(g).
    fn value<T: Elem>(self, g: T) -> T {
        match self {
            Gate::Silu => g * sigmoid(g),
            Gate::GeluTanh => {
                let z = T::of(GELU_K) * (g + T::of(GELU_C) * g * g * g);
                T::of(0.5) * g * (T::one() + z.tanh())
            }
        }
    }

    /// (act(g), act'(g)).
    fn with_slope<T: Elem>(self, g: T) -> (T, T) {
        match self {
            Gate::Silu => {
                let s = sigmoid(g);
                (g * s, s * (T::one() + g * (T::one() - s)))
            }
            Gate::GeluTanh => {
                let (k, c, half) = (T::of(GELU_K), T::of(GELU_C), T::of(0.5));
                let th = (k * (g + c * g * g * g)).tanh();
                let slope = half * (T::one() + th) + half * g * (T::one() - th * th) * k * (T::one() + T::of(3.0) * c * g * g);
                (half * g * (T::one() + th), slope)
            }
        }
    }
}

fn fwd_typed<T: Elem>(gate: Gate, sg: &CpuStorage, lg: &Layout, su: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
    if lg.shape() != lu.shape() {
        candle_core::bail!("{NAME}: gate {:?} and up {:?} differ in shape", lg.shape(), lu.shape());
    }
    let (g, u) = (elem::slice::<T>(NAME, "gate", sg, lg)?, elem::slice::<T>(NAME, "up", su, lu)?);
    let mut y = vec![T::zero(); g.len()];
    y.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK)))
        .for_each(|(y, (g, u))| {
            for ((y, &g), &u) in y.iter_mut().zip(g).zip(u) {
                *y = gate.value(g) * u;
            }
        });
    Ok((T::storage(y), lg.shape().clone()))
}

fn bwd_typed<T: Elem>(gate: Gate, g: &Tensor, u: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
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
                            let (a, slope) = gate.with_slope(g[i]);
                            du[i] = dy[i] * a;
                            dg[i] = dy[i] * u[i] * slope;
                        }
                    });
                Ok((dg, du))
            })
        })
    })?;
    let keep = |t: &Tensor, v: Vec<T>| t.track_op().then(|| elem::tensor(v, t.shape())).transpose();
    Ok((keep(g, dg)?, keep(u, du)?))
}

impl CustomOp2 for Gated {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, sg: &CpuStorage, lg: &Layout, su: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
        per_float!(NAME, sg.dtype(), fwd_typed::<T>(self.0, sg, lg, su, lu))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sg: &candle_core::CudaStorage,
        lg: &Layout,
        su: &candle_core::CudaStorage,
        lu: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((crate::cuda::rows::gated_fwd(self.0, (sg, lg), (su, lu))?, lg.shape().clone()))
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
            let (dg, du) = crate::cuda::rows::gated_bwd(self.0, &g.contiguous()?, &u.contiguous()?, dy)?;
            return Ok((g.track_op().then_some(dg), u.track_op().then_some(du)));
        }
        per_float!(NAME, g.dtype(), bwd_typed::<T>(self.0, g, u, dy))
    }
}

/// silu(gate) · up, elementwise (see [`Gated`]).
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, Gated(Gate::Silu))
}

/// gelu_tanh(gate) · up, elementwise (see [`Gated`]).
pub fn geglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, Gated(Gate::GeluTanh))
}
