//! Fused AdamW (decoupled weight decay, Loshchilov & Hutter), as PyTorch's `torch.optim.AdamW`
//! computes it, in one pass over parameter, gradient and both moments.
//!
//! The moments are f32 here ([`Moments`]); [`crate::adamw_state`] keeps them as bf16 or 8-bit
//! blockwise between steps and runs the same per-element update. The parameter is updated in its
//! own dtype (f32 or f64 on the CPU).

use crate::adamw_state::{step_state, AdamState};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// Hyper-parameters of one AdamW step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWHyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// 1-based step number (for bias correction).
    pub step: u64,
    /// Multiplies the gradient before use: the gradient-clipping coefficient (1.0 = no clipping)
    /// times any loss scaling to undo.
    pub grad_scale: f64,
}

/// The f32 first and second moments of one parameter.
#[derive(Debug, Clone)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl Moments {
    pub fn zeros(n: usize) -> Self {
        Moments {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// Bytes held by the two moment buffers.
    pub fn bytes(&self) -> usize {
        (self.m.len() + self.v.len()) * std::mem::size_of::<f32>()
    }
}

/// The per-step constants of the update, folded from the hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct StepConsts {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub grad_scale: f64,
    /// lr / (1 - β1ᵗ)
    pub step_size: f64,
    /// sqrt(1 - β2ᵗ)
    pub bc2_sqrt: f64,
    /// 1 - lr·wd
    pub decay: f64,
}

impl StepConsts {
    /// The constants of step `h.step` (1-based).
    pub fn of(h: &AdamWHyper) -> Self {
        let t = h.step.max(1) as i32;
        StepConsts {
            beta1: h.beta1,
            beta2: h.beta2,
            eps: h.eps,
            grad_scale: h.grad_scale,
            step_size: h.lr / (1.0 - h.beta1.powi(t)),
            bc2_sqrt: (1.0 - h.beta2.powi(t)).sqrt(),
            decay: 1.0 - h.lr * h.weight_decay,
        }
    }
}

/// A float the CPU kernel updates in place, with the arithmetic of its own width: f32
/// parameters update in f32 (as PyTorch's AdamW does for f32 tensors; the compiler vectorizes
/// it, with f32 square roots and divisions), f64 parameters in f64 (exact for the f64 tests).
pub trait Param: Copy + Send + Sync {
    fn update(p: &mut [Self], g: &[Self], m: &mut [f32], v: &mut [f32], c: &StepConsts);
}

impl Param for f32 {
    fn update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &StepConsts) {
        let (b1, b2, eps, gs) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32, c.grad_scale as f32);
        let (step_size, inv_bc2_sqrt, decay) = (c.step_size as f32, (1.0 / c.bc2_sqrt) as f32, c.decay as f32);
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * gs;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p = *p * decay - step_size * *m / (v.sqrt() * inv_bc2_sqrt + eps);
        }
    }
}

impl Param for f64 {
    fn update(p: &mut [f64], g: &[f64], m: &mut [f32], v: &mut [f32], c: &StepConsts) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * c.grad_scale;
            let mi = c.beta1 * *m as f64 + (1.0 - c.beta1) * g;
            let vi = c.beta2 * *v as f64 + (1.0 - c.beta2) * g * g;
            *m = mi as f32;
            *v = vi as f32;
            *p = *p * c.decay - c.step_size * mi / (vi.sqrt() / c.bc2_sqrt + c.eps);
        }
    }
}

const CHUNK: usize = 1 << 14;

/// One AdamW step on slices: `param`, `grad`, `m`, `v` all of the same length.
///
/// m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
/// p ← p·(1 - lr·wd) - lr · (m / (1-β1ᵗ)) / (sqrt(v / (1-β2ᵗ)) + eps)
pub fn step_slices<T: Param>(param: &mut [T], grad: &[T], moments: &mut Moments, h: &AdamWHyper) {
    let n = param.len();
    assert!(
        grad.len() == n && moments.m.len() == n && moments.v.len() == n,
        "adamw: length mismatch"
    );
    let c = StepConsts::of(h);
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(moments.m.par_chunks_mut(CHUNK))
        .zip(moments.v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| T::update(p, g, m, v, &c));
}

/// The candle glue: applies [`step_slices`] to a parameter tensor in place.
struct StepOp<'a> {
    moments: Mutex<&'a mut AdamState>,
    hyper: AdamWHyper,
}

impl InplaceOp2 for StepOp<'_> {
    fn name(&self) -> &'static str {
        "ftbench-adamw"
    }

    fn cpu_fwd(&self, p: &mut CpuStorage, pl: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        let (Some((p0, p1)), Some((g0, g1))) = (pl.contiguous_offsets(), gl.contiguous_offsets()) else {
            candle_core::bail!("ftbench-adamw: parameter and gradient must be contiguous");
        };
        let mut moments = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("adamw state poisoned".into()))?;
        match (p, g) {
            (CpuStorage::F32(p), CpuStorage::F32(g)) => step_state(&mut p[p0..p1], &g[g0..g1], &mut moments, &self.hyper),
            (CpuStorage::F64(p), CpuStorage::F64(g)) => step_state(&mut p[p0..p1], &g[g0..g1], &mut moments, &self.hyper),
            (p, g) => candle_core::bail!(
                "ftbench-adamw: parameter {:?} / gradient {:?}: only f32 and f64 are supported on the CPU",
                p.dtype(),
                g.dtype()
            ),
        }
        Ok(())
    }
}

/// Applies one AdamW step to `param` in place (the tensor's storage is updated: every view of
/// the same `Var` sees the new values), with its state of any kind.
pub fn step(param: &Tensor, grad: &Tensor, moments: &mut AdamState, hyper: &AdamWHyper) -> Result<()> {
    if param.dims() != grad.dims() {
        candle_core::bail!(
            "ftbench-adamw: parameter shape {:?} vs gradient shape {:?}",
            param.dims(),
            grad.dims()
        );
    }
    if moments.len() != param.elem_count() {
        candle_core::bail!(
            "ftbench-adamw: moments hold {} values, parameter has {}",
            moments.len(),
            param.elem_count()
        );
    }
    let grad = if grad.dtype() != param.dtype() {
        grad.to_dtype(param.dtype())?
    } else {
        grad.clone()
    };
    let grad = grad.contiguous()?;
    debug_assert!(matches!(param.dtype(), DType::F32 | DType::F64));
    param.inplace_op2(
        &grad,
        &StepOp {
            moments: Mutex::new(moments),
            hyper: *hyper,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Reference: the textbook AdamW, one element at a time, in f64.
    fn reference(p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], h: &AdamWHyper) {
        let t = h.step as i32;
        for i in 0..p.len() {
            let gi = g[i] * h.grad_scale;
            p[i] -= h.lr * h.weight_decay * p[i];
            m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * gi;
            v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * gi * gi;
            let mhat = m[i] / (1.0 - h.beta1.powi(t));
            let vhat = v[i] / (1.0 - h.beta2.powi(t));
            p[i] -= h.lr * mhat / (vhat.sqrt() + h.eps);
        }
    }

    /// The test's hyper-parameters at `step`, and its gradient of n values.
    fn setting(step: u64, n: usize) -> (AdamWHyper, Vec<f64>) {
        let h = AdamWHyper {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            step,
            grad_scale: 0.5,
        };
        let g = (0..n).map(|i| (((i + step as usize * 13) * 7 % 53) as f64 - 26.0) / 10.0).collect();
        (h, g)
    }

    /// Five steps of the kernel on parameters of type T against the f64 reference: the largest
    /// absolute difference, and the largest distance the parameters moved.
    fn against_reference<T: Param>(to: impl Fn(f64) -> T, from: impl Fn(T) -> f64) -> (f64, f64) {
        let n = 40_000; // spans several parallel chunks
        let p0: Vec<f64> = (0..n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0).collect();
        let mut p: Vec<T> = p0.iter().map(|&x| to(x)).collect();
        let mut pr = p0.clone();
        let (mut mr, mut vr) = (vec![0.0; n], vec![0.0; n]);
        let mut mom = Moments::zeros(n);
        for step in 1..=5u64 {
            let (h, g) = setting(step, n);
            let gt: Vec<T> = g.iter().map(|&x| to(x)).collect();
            step_slices(&mut p, &gt, &mut mom, &h);
            reference(&mut pr, &g, &mut mr, &mut vr, &h);
        }
        let err = p.iter().zip(&pr).map(|(&a, b)| (from(a) - b).abs()).fold(0.0, f64::max);
        let moved = p.iter().zip(&p0).map(|(&a, b)| (from(a) - b).abs()).fold(0.0, f64::max);
        (err, moved)
    }

    #[test]
    fn matches_reference_over_several_steps() {
        // moments live in f32: ~1e-7 relative error per step
        let (err, moved) = against_reference(|x| x, |x| x);
        assert!(err < 1e-6 && moved > 1e-3, "max abs error {err}, moved {moved}");
    }

    #[test]
    fn f32_parameters_update_in_f32_close_to_the_f64_reference() {
        // Relative to the parameters' size (up to 2): f32 rounding of a few operations per step.
        let (err, moved) = against_reference(|x| x as f32, |x| x as f64);
        assert!(err < 2e-6 && moved > 1e-3, "max abs error {err}, moved {moved}");
    }

    #[test]
    fn tensor_update_is_in_place_and_matches_slices() -> Result<()> {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..300).map(|i| (i as f32 - 150.0) / 100.0).collect();
        let grad: Vec<f32> = (0..300).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let var = candle_core::Var::from_vec(init.clone(), (20, 15), &dev)?;
        let view = var.as_tensor().clone();
        let g = Tensor::from_vec(grad.clone(), (15, 20), &dev)?.t()?; // non-contiguous gradient
        let h = AdamWHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 1,
            grad_scale: 1.0,
        };
        let mut mom = AdamState::from(Moments::zeros(300));
        step(var.as_tensor(), &g, &mut mom, &h)?;
        let mut expect = init.clone();
        let g_contig: Vec<f32> = g.contiguous()?.flatten_all()?.to_vec1()?;
        step_slices(&mut expect, &g_contig, &mut Moments::zeros(300), &h);
        assert_eq!(view.flatten_all()?.to_vec1::<f32>()?, expect);
        assert_ne!(expect, init);
        Ok(())
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let dev = Device::Cpu;
        let p = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        let g = Tensor::zeros((3, 2), DType::F32, &dev).unwrap();
        let h = AdamWHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 1,
            grad_scale: 1.0,
        };
        assert!(step(&p, &g, &mut Moments::zeros(6).into(), &h).is_err());
    }
}
