//! Attention probabilities as one differentiable op: scale, causal mask and softmax over the
//! last dimension of the raw scores q·kᵀ.
//!
//! The composed form (multiply by the scale, add a -inf mask, then max, subtract, exp, sum,
//! divide) makes five score-sized temporaries and a mask tensor; this op writes the
//! probabilities directly and never reads the masked entries. Backward uses the output only:
//! ds_j = scale · p_j · (dp_j − Σ_k p_k·dp_k) (zero where masked, since p is).
//!
//! Rows are query positions: the scores are (..., rows, keys) with rows = groups × queries,
//! row r being query position `start + r % queries` (grouped-query attention stacks the query
//! heads of one key/value head along this axis); it sees keys 0..=that position, or with a
//! sliding window w (Mistral, Gemma 2/3's local layers) the last w of them: position − w < key
//! ≤ position, the window transformers applies.

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

const NAME: &str = "ftbench-causal-softmax";

#[derive(Debug, Clone, Copy)]
pub struct CausalSoftmax {
    /// Multiplies the scores before the softmax (1/√head_dim).
    pub scale: f64,
    /// Query positions per group of rows.
    pub queries: usize,
    /// Position of the first query (keys start at position 0).
    pub start: usize,
    /// Keys a query sees counting itself (sliding-window attention); None sees all before it.
    pub window: Option<usize>,
}

impl CausalSoftmax {
    /// Keys visible to row `r` (counted within one (rows, keys) matrix): the range lo..hi.
    fn visible(&self, r: usize, keys: usize) -> std::ops::Range<usize> {
        let hi = (self.start + r % self.queries + 1).min(keys);
        self.window.map_or(0, |w| hi.saturating_sub(w))..hi
    }

    fn dims(&self, l: &Layout) -> Result<(usize, usize)> {
        let dims = l.shape().dims();
        if dims.len() < 2 {
            candle_core::bail!("{NAME}: scores must be at least 2-D, found {:?}", dims);
        }
        let (rows, keys) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        if self.window == Some(0) {
            candle_core::bail!("{NAME}: a sliding window of 0 keys sees nothing");
        }
        if self.queries == 0 || rows % self.queries != 0 || self.start + self.queries > keys {
            candle_core::bail!(
                "{NAME}: scores {:?} do not hold groups of {} queries at positions {}.. over their keys",
                dims,
                self.queries,
                self.start
            );
        }
        Ok((rows, keys))
    }
}

fn forward<T: Elem>(op: &CausalSoftmax, rows: usize, keys: usize, s: &[T]) -> Vec<T> {
    let scale = T::of(op.scale);
    let mut p = vec![T::zero(); s.len()];
    p.par_chunks_mut(keys).zip(s.par_chunks(keys)).enumerate().for_each(|(i, (p, s))| {
        let n = op.visible(i % rows, keys);
        let m = s[n.clone()].iter().fold(T::neg_infinity(), |m, &v| m.maximum(v * scale));
        let mut sum = T::zero();
        for (p, &s) in p[n.clone()].iter_mut().zip(&s[n.clone()]) {
            *p = (s * scale - m).exp();
            sum += *p;
        }
        let inv = T::one() / sum;
        p[n].iter_mut().for_each(|p| *p *= inv);
    });
    p
}

fn backward<T: Elem>(op: &CausalSoftmax, rows: usize, keys: usize, p: &[T], dp: &[T]) -> Vec<T> {
    let scale = T::of(op.scale);
    let mut ds = vec![T::zero(); p.len()];
    ds.par_chunks_mut(keys)
        .zip(p.par_chunks(keys).zip(dp.par_chunks(keys)))
        .enumerate()
        .for_each(|(i, (ds, (p, dp)))| {
            let n = op.visible(i % rows, keys);
            let dot = p[n.clone()].iter().zip(&dp[n.clone()]).map(|(&p, &d)| p * d).sum::<T>();
            for ((ds, &p), &d) in ds[n.clone()].iter_mut().zip(&p[n.clone()]).zip(&dp[n]) {
                *ds = scale * p * (d - dot);
            }
        });
    ds
}

fn fwd_typed<T: Elem>(op: &CausalSoftmax, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
    let (rows, keys) = op.dims(l)?;
    let v = elem::slice::<T>(NAME, "scores", s, l)?;
    Ok((T::storage(forward(op, rows, keys, v)), l.shape().clone()))
}

fn bwd_typed<T: Elem>(op: &CausalSoftmax, p: &Tensor, dp: &Tensor) -> Result<Tensor> {
    let (rows, keys) = op.dims(p.layout())?;
    let ds = elem::with_values::<T, _>(NAME, "probabilities", p, |pv| {
        elem::with_values::<T, _>(NAME, "gradient", dp, |dv| Ok(backward(op, rows, keys, pv, dv)))
    })?;
    elem::tensor(ds, p.shape())
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        per_float!(NAME, s.dtype(), fwd_typed::<T>(self, s, l))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        // The CPU path's shape check: the kernel trusts rows, queries and start.
        self.dims(l)?;
        Ok((
            crate::cuda::rows::causal_softmax_fwd((s, l), self.scale, self.queries, self.start, self.window.unwrap_or(0))?,
            l.shape().clone(),
        ))
    }

    fn bwd(&self, _scores: &Tensor, p: &Tensor, dp: &Tensor) -> Result<Option<Tensor>> {
        #[cfg(feature = "cuda")]
        if p.device().is_cuda() {
            self.dims(p.layout())?;
            if dp.shape() != p.shape() {
                candle_core::bail!("{NAME}: gradient {:?} for probabilities {:?}", dp.shape(), p.shape());
            }
            return crate::cuda::rows::causal_softmax_bwd(p, dp, self.scale).map(Some);
        }
        per_float!(NAME, p.dtype(), bwd_typed::<T>(self, p, dp)).map(Some)
    }
}

/// softmax(scale · scores + causal mask) over the last dimension (see [`CausalSoftmax`]).
pub fn causal_softmax(scores: &Tensor, scale: f64, queries: usize, start: usize, window: Option<usize>) -> Result<Tensor> {
    scores.contiguous()?.apply_op1(CausalSoftmax {
        scale,
        queries,
        start,
        window,
    })
}
