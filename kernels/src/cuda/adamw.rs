//! The fused AdamW step and the sum of squares on the GPU (kernels/cuda/adamw.cuh).

use super::{float_address, func, grid_stride, ptr};
use crate::adamw::{AdamWHyper, StepConsts};
use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::cuda_backend::WrapErr;
use candle_core::{DType, Result, Tensor};

fn dtype_name(d: DType) -> Result<&'static str> {
    match d {
        DType::F32 => Ok("f32"),
        DType::BF16 => Ok("bf16"),
        other => candle_core::bail!("ftbench-adamw (cuda): dtype {other:?} (f32 or bf16)"),
    }
}

/// One AdamW step of `p` in place, with moments `m`, `v` updated in place (all contiguous, on
/// one CUDA device; `g` in p's dtype, moments f32 or bf16).
pub fn step(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: &AdamWHyper) -> Result<()> {
    let n = p.elem_count();
    for (t, what) in [(g, "gradient"), (m, "first moment"), (v, "second moment")] {
        if t.elem_count() != n {
            candle_core::bail!("ftbench-adamw (cuda): {what} has {} values, parameter {n}", t.elem_count());
        }
    }
    if g.dtype() != p.dtype() || m.dtype() != v.dtype() {
        candle_core::bail!("ftbench-adamw (cuda): gradient must be in the parameter's dtype, moments in one dtype");
    }
    let name = format!("adamw_{}_{}", dtype_name(p.dtype())?, dtype_name(m.dtype())?);
    // Raw addresses: the kernel writes p, m and v through them (distinct storages).
    let (pp, dev) = float_address(p, "parameter")?;
    let (pg, _) = float_address(g, "gradient")?;
    let (pm, _) = float_address(m, "first moment")?;
    let (pv, _) = float_address(v, "second moment")?;
    let c = StepConsts::of(h);
    let (b1, b2, eps, gs) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32, c.grad_scale as f32);
    let (step_size, inv_bc2_sqrt, decay) = (c.step_size as f32, (1.0 / c.bc2_sqrt) as f32, c.decay as f32);
    let f = func!(dev, &name)?;
    let mut bl = f.builder();
    bl.arg(&pp);
    bl.arg(&pg);
    bl.arg(&pm);
    bl.arg(&pv);
    bl.arg(&n);
    bl.arg(&b1);
    bl.arg(&b2);
    bl.arg(&eps);
    bl.arg(&gs);
    bl.arg(&step_size);
    bl.arg(&inv_bc2_sqrt);
    bl.arg(&decay);
    // SAFETY: arguments match kernels/cuda/adamw.cuh; n values in each buffer (checked above).
    unsafe { bl.launch(grid_stride(n)) }.w()?;
    Ok(())
}

/// Σ x² of a contiguous f32 or bf16 CUDA tensor, accumulated in f32 per block.
pub fn sum_squares(t: &Tensor) -> Result<f64> {
    let t = t.contiguous()?;
    let n = t.elem_count();
    let name = format!("sum_squares_{}", dtype_name(t.dtype())?);
    let (px, dev) = float_address(&t, "sum_squares")?;
    let stream = dev.cuda_stream();
    let out = dev.alloc_zeros::<f32>(1)?;
    let (po, _go) = ptr(&out, 0, &stream);
    let f = func!(dev, &name)?;
    let mut bl = f.builder();
    bl.arg(&px);
    bl.arg(&n);
    bl.arg(&po);
    // SAFETY: arguments match kernels/cuda/adamw.cuh.
    unsafe { bl.launch(grid_stride(n)) }.w()?;
    drop(_go);
    let v = stream.clone_dtoh(&out).w()?;
    Ok(v[0] as f64)
}
