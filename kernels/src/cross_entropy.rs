//! The LM head and the cross-entropy loss as one differentiable op, over vocabulary chunks.
//!
//! loss = mean_i (logsumexp_j (h_i·w_j) − h_i·w_{t_i}) for hidden rows h (n, d), head weight
//! w (vocab, d) and targets t (n). Composed, a 49k vocabulary makes the (n, vocab) logits plus
//! log-softmax temporaries of the same size (max-shifted, exp, log-probs) in forward and as many
//! in backward. Here forward computes the logits one vocabulary chunk at a time and keeps only
//! the per-row log-sum-exp (online, as in flash attention); backward recomputes each chunk's
//! logits (one extra LM-head matmul) and turns them into dlogits = (softmax − onehot)·g/n, so
//! at most one chunk of logits exists at any time and they are never held twice. It returns dh
//! and, when the head trains (a tied embedding under full fine-tuning), dw.

use crate::elem::{self, per_float, Elem};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

const NAME: &str = "ftbench-linear-cross-entropy";
/// Logit values per chunk by default (16 MB in f32): the most ever held at once.
const CHUNK_VALUES: usize = 1 << 22;

pub struct LinearCrossEntropy {
    /// The head weight (vocab, d): the same tensor as the op's second argument, held here so the
    /// forward pass can multiply by it without copying it out of its storage.
    weight: Tensor,
    /// Logit values per chunk.
    chunk_values: usize,
    /// Per-row log-sum-exp of the logits, from forward, for backward.
    lse: Mutex<Vec<f64>>,
    /// The same, from the tensor-op path (devices other than the CPU; cross_entropy_device.rs).
    lse_tensor: Mutex<Option<Tensor>>,
    /// Run the tensor-op path on the CPU too (its tests).
    by_tensor_ops: bool,
}

impl LinearCrossEntropy {
    /// The forward pass in tensor ops (any device): the loss as a scalar in [`loss_dtype`].
    fn fwd_tensors(&self, h: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (n, d) = h.dims2()?;
        let (vocab, wd) = self.weight.dims2()?;
        if wd != d || self.weight.dtype() != h.dtype() {
            candle_core::bail!(
                "{NAME}: hidden rows ({n}, {d}) {:?} against head weight ({vocab}, {wd}) {:?}",
                h.dtype(),
                self.weight.dtype()
            );
        }
        // The CPU path's check, made here too: on a GPU an id outside the vocabulary would be an
        // out-of-bounds read (a device-side fault that poisons the context), not an error.
        check_targets(&targets.to_vec1::<u32>()?, n, vocab)?;
        let (lse, loss) = crate::cross_entropy_device::forward(h, &self.weight, targets, &self.chunks(n)?)?;
        *self
            .lse_tensor
            .lock()
            .map_err(|_| candle_core::Error::Msg(format!("{NAME}: state poisoned")))? = Some(lse);
        loss.to_dtype(loss_dtype(h.dtype()))
    }

    fn chunks(&self, rows: usize) -> Result<Vec<(usize, usize)>> {
        let vocab = self.weight.dim(0)?;
        let step = (self.chunk_values / rows.max(1)).clamp(1, vocab.max(1));
        Ok((0..vocab).step_by(step).map(|a| (a, (a + step).min(vocab))).collect())
    }

    /// Logits of the rows `h` (n, d) for the vocabulary entries a..b: (n, b - a), contiguous.
    fn logits(&self, h: &Tensor, w: &Tensor, (a, b): (usize, usize)) -> Result<Tensor> {
        crate::blas::matmul(h, &w.narrow(0, a, b - a)?, true)?.contiguous()
    }
}

/// The loss's dtype: f32, or f64 for f64 inputs. Never bf16: a bf16 loss near 10.4 moves in
/// steps of 1/16, which a record of losses must not show.
pub fn loss_dtype(hidden: candle_core::DType) -> candle_core::DType {
    match hidden {
        candle_core::DType::F64 => candle_core::DType::F64,
        _ => candle_core::DType::F32,
    }
}

fn check_targets(targets: &[u32], rows: usize, vocab: usize) -> Result<()> {
    if targets.len() != rows {
        candle_core::bail!("{NAME}: {} targets for {rows} hidden rows", targets.len());
    }
    if let Some((i, t)) = targets.iter().enumerate().find(|(_, &t)| t as usize >= vocab) {
        candle_core::bail!("{NAME}: target id {t} at row {i} is outside the vocabulary of {vocab}");
    }
    Ok(())
}

fn fwd_typed<T: Elem>(op: &LinearCrossEntropy, sh: &CpuStorage, lh: &Layout, st: &CpuStorage, lt: &Layout) -> Result<(CpuStorage, Shape)> {
    let (n, d) = lh.shape().dims2()?;
    let (vocab, wd) = op.weight.dims2()?;
    if wd != d || op.weight.dtype() != sh.dtype() {
        candle_core::bail!(
            "{NAME}: hidden rows ({n}, {d}) {:?} against head weight ({vocab}, {wd}) {:?}",
            sh.dtype(),
            op.weight.dtype()
        );
    }
    let targets = elem::slice_u32(NAME, "targets", st, lt)?;
    check_targets(targets, n, vocab)?;
    let h = elem::tensor(elem::slice::<T>(NAME, "hidden", sh, lh)?.to_vec(), (n, d))?;
    // Per row: running max, running Σ exp(x − max), the target's logit.
    let mut state = vec![(f64::NEG_INFINITY, 0.0f64, 0.0f64); n];
    for (a, b) in op.chunks(n)? {
        let logits = op.logits(&h, &op.weight, (a, b))?;
        elem::with_values::<T, _>(NAME, "logits", &logits, |z| {
            state
                .par_iter_mut()
                .zip(z.par_chunks(b - a))
                .enumerate()
                .for_each(|(i, (st, row))| {
                    // exp in the logits' type (f32 exp is twice as fast), sums in f64.
                    let m_t = row.iter().fold(T::neg_infinity(), |m, &v| m.maximum(v));
                    let s: f64 = row.iter().map(|&v| (v - m_t).exp().f64()).sum();
                    let m = m_t.f64();
                    let new_m = st.0.max(m);
                    st.1 = st.1 * (st.0 - new_m).exp() + s * (m - new_m).exp();
                    st.0 = new_m;
                    let t = targets[i] as usize;
                    if (a..b).contains(&t) {
                        st.2 = row[t - a].f64();
                    }
                });
            Ok(())
        })?;
    }
    let lse: Vec<f64> = state.iter().map(|(m, s, _)| m + s.ln()).collect();
    let loss = lse.iter().zip(&state).map(|(l, (_, _, picked))| l - picked).sum::<f64>() / n as f64;
    *op.lse
        .lock()
        .map_err(|_| candle_core::Error::Msg(format!("{NAME}: state poisoned")))? = lse;
    let loss = match loss_dtype(sh.dtype()) {
        candle_core::DType::F64 => CpuStorage::F64(vec![loss]),
        _ => CpuStorage::F32(vec![loss as f32]),
    };
    Ok((loss, Shape::from(())))
}

fn bwd_typed<T: Elem>(
    op: &LinearCrossEntropy,
    h: &Tensor,
    w: &Tensor,
    targets: &Tensor,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (n, d) = h.dims2()?;
    let coef = g.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? / n as f64;
    let lse = op
        .lse
        .lock()
        .map_err(|_| candle_core::Error::Msg(format!("{NAME}: state poisoned")))?
        .clone();
    // The head's gradient only when it trains; rows of it, chunk after chunk, in order.
    let want_dw = w.track_op();
    let mut dw_all: Vec<T> = if want_dw { Vec::with_capacity(w.elem_count()) } else { Vec::new() };
    let (h, w) = (h.detach(), w.detach());
    let targets = elem::with_u32(NAME, "targets", targets, |t| Ok(t.to_vec()))?;
    let mut dh: Option<Tensor> = None;
    for (a, b) in op.chunks(n)? {
        let logits = op.logits(&h, &w, (a, b))?;
        let dl = elem::with_values::<T, _>(NAME, "logits", &logits, |z| {
            let mut dl = vec![T::zero(); z.len()];
            dl.par_chunks_mut(b - a)
                .zip(z.par_chunks(b - a))
                .enumerate()
                .for_each(|(i, (dl, row))| {
                    let (lse, c) = (T::of(lse[i]), T::of(coef));
                    for (dl, &z) in dl.iter_mut().zip(row) {
                        *dl = (z - lse).exp() * c;
                    }
                    let t = targets[i] as usize;
                    if (a..b).contains(&t) {
                        dl[t - a] -= T::of(coef);
                    }
                });
            Ok(dl)
        })?;
        drop(logits);
        let dl = elem::tensor(dl, (n, b - a))?;
        let part = crate::blas::matmul(&dl, &w.narrow(0, a, b - a)?, false)?;
        dh = Some(match dh {
            None => part,
            Some(acc) => (acc + part)?,
        });
        if want_dw {
            let dw_chunk = crate::blas::gemm(&dl, true, &h, false)?;
            elem::with_values::<T, _>(NAME, "dw", &dw_chunk, |v| {
                dw_all.extend_from_slice(v);
                Ok(())
            })?;
        }
    }
    let dw = want_dw.then(|| elem::tensor(dw_all, (w.dim(0)?, d))).transpose()?;
    Ok((dh, dw))
}

impl CustomOp3 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        sh: &CpuStorage,
        lh: &Layout,
        _sw: &CpuStorage,
        _lw: &Layout,
        st: &CpuStorage,
        lt: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if self.by_tensor_ops {
            let (h, t) = (elem::cpu_tensor(NAME, sh, lh)?, elem::cpu_tensor_u32(NAME, st, lt)?);
            return elem::cpu_output(self.fwd_tensors(&h, &t)?, NAME);
        }
        per_float!(NAME, sh.dtype(), fwd_typed::<T>(self, sh, lh, st, lt))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sh: &candle_core::CudaStorage,
        lh: &Layout,
        _sw: &candle_core::CudaStorage,
        _lw: &Layout,
        st: &candle_core::CudaStorage,
        lt: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use crate::cuda::{output, tensor};
        output(self.fwd_tensors(&tensor(sh, lh)?, &tensor(st, lt)?)?, NAME)
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        targets: &Tensor,
        _loss: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.by_tensor_ops || !h.device().is_cpu() {
            let lse = self
                .lse_tensor
                .lock()
                .map_err(|_| candle_core::Error::Msg(format!("{NAME}: state poisoned")))?
                .clone()
                .ok_or_else(|| candle_core::Error::Msg(format!("{NAME}: backward before forward")))?;
            let (hd, wd) = (h.detach(), w.detach());
            let (dh, dw) = crate::cross_entropy_device::backward(&hd, &wd, targets, &lse, g, &self.chunks(h.dim(0)?)?, w.track_op())?;
            return Ok((h.track_op().then_some(dh), dw, None));
        }
        let (dh, dw) = per_float!(NAME, h.dtype(), bwd_typed::<T>(self, h, w, targets, g))?;
        Ok((dh, dw, None))
    }
}

/// Mean cross-entropy of the logits h·wᵀ against `targets`, without ever holding all the
/// logits (see [`LinearCrossEntropy`]). h (n, d), w (vocab, d), targets (n) u32; a scalar in
/// f32 (f64 for f64 inputs), whatever h's dtype.
pub fn linear_cross_entropy(h: &Tensor, w: &Tensor, targets: &Tensor) -> Result<Tensor> {
    linear_cross_entropy_chunked(h, w, targets, CHUNK_VALUES)
}

/// [`linear_cross_entropy`] with at most about `chunk_values` logits per chunk (whole
/// vocabulary rows per chunk, at least one).
pub fn linear_cross_entropy_chunked(h: &Tensor, w: &Tensor, targets: &Tensor, chunk_values: usize) -> Result<Tensor> {
    apply(h, w, targets, chunk_values, false)
}

/// [`linear_cross_entropy_chunked`] through the tensor-op path even on the CPU (what a GPU runs;
/// its tests compare the two).
pub fn linear_cross_entropy_by_tensor_ops(h: &Tensor, w: &Tensor, targets: &Tensor, chunk_values: usize) -> Result<Tensor> {
    apply(h, w, targets, chunk_values, true)
}

fn apply(h: &Tensor, w: &Tensor, targets: &Tensor, chunk_values: usize, by_tensor_ops: bool) -> Result<Tensor> {
    let w = w.contiguous()?;
    let op = LinearCrossEntropy {
        weight: w.clone(),
        chunk_values,
        lse: Mutex::new(Vec::new()),
        lse_tensor: Mutex::new(None),
        by_tensor_ops,
    };
    h.contiguous()?.apply_op3(&w, &targets.contiguous()?, op)
}
