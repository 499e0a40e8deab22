//! Launches of the row and elementwise kernels (kernels/cuda/rows.cuh): SwiGLU, RMSNorm and the
//! causal softmax, forward and backward, f32 or bf16. The ops in gated.rs, rms_norm.rs and
//! softmax.rs call these for tensors on a CUDA device.

use super::{address, float_address, func, grid_stride};
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::op::BackpropOp;
use candle_core::{CudaDevice, CudaStorage, DType, Result, Shape, Storage, Tensor};

fn suffix(d: DType, op: &str) -> Result<&'static str> {
    match d {
        DType::F32 => Ok("f32"),
        DType::BF16 => Ok("bf16"),
        other => candle_core::bail!("{op} (cuda): dtype {other:?} (f32 or bf16)"),
    }
}

/// The address of contiguous storage under layout `l`, its device and dtype.
fn storage_address(s: &CudaStorage, l: &candle_core::Layout, what: &str) -> Result<(u64, CudaDevice, DType)> {
    if !l.is_contiguous() {
        candle_core::bail!("{what}: must be contiguous");
    }
    let stream = s.device.cuda_stream();
    let p = match &s.slice {
        candle_core::cuda_backend::CudaStorageSlice::F32(v) => super::ptr(v, l.start_offset(), &stream).0,
        candle_core::cuda_backend::CudaStorageSlice::BF16(v) => super::ptr(v, l.start_offset(), &stream).0,
        _ => candle_core::bail!("{what}: f32 or bf16 only"),
    };
    let dtype = if matches!(s.slice, candle_core::cuda_backend::CudaStorageSlice::F32(_)) {
        DType::F32
    } else {
        DType::BF16
    };
    Ok((p, s.device.clone(), dtype))
}

type In<'a> = (&'a CudaStorage, &'a candle_core::Layout);

fn per_row(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A fresh, uninitialised buffer of n values of `dtype` and its address.
fn alloc(dev: &CudaDevice, dtype: DType, n: usize) -> Result<(CudaStorage, u64)> {
    let stream = dev.cuda_stream();
    // SAFETY: every kernel below writes each element it returns.
    Ok(match dtype {
        DType::F32 => {
            let s = unsafe { dev.alloc::<f32>(n)? };
            let p = super::ptr(&s, 0, &stream).0;
            (CudaStorage::wrap_cuda_slice(s, dev.clone()), p)
        }
        _ => {
            let s = unsafe { dev.alloc::<half::bf16>(n)? };
            let p = super::ptr(&s, 0, &stream).0;
            (CudaStorage::wrap_cuda_slice(s, dev.clone()), p)
        }
    })
}

fn tensor_of(s: CudaStorage, shape: impl Into<Shape>) -> Tensor {
    Tensor::from_storage(Storage::Cuda(s), shape, BackpropOp::none(), false)
}

/// act(g)·u (gated.rs).
pub fn gated_fwd(gate: crate::gated::Gate, g: In, u: In) -> Result<CudaStorage> {
    let n = g.1.shape().elem_count();
    let ((pg, dev, dt), (pu, _, du)) = (storage_address(g.0, g.1, "gate")?, storage_address(u.0, u.1, "up")?);
    if dt != du || g.1.shape() != u.1.shape() {
        candle_core::bail!("ftbench-gated-activation: gate and up differ in dtype or shape");
    }
    let name = format!("gated_fwd_{}", suffix(dt, "ftbench-gated-activation")?);
    let act = gate as i32;
    let (out, py) = alloc(&dev, dt, n)?;
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&pg);
    b.arg(&pu);
    b.arg(&py);
    b.arg(&n);
    b.arg(&act);
    // SAFETY: arguments match rows.cuh; n values each.
    unsafe { b.launch(grid_stride(n)) }.w()?;
    Ok(out)
}

/// (dg, du).
pub fn gated_bwd(gate: crate::gated::Gate, g: &Tensor, u: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    let n = g.elem_count();
    let name = format!("gated_bwd_{}", suffix(g.dtype(), "ftbench-gated-activation")?);
    let act = gate as i32;
    let dy = dy.contiguous()?.to_dtype(g.dtype())?;
    let ((pg, dev), (pu, _), (pd, _)) = (float_address(g, "gate")?, float_address(u, "up")?, float_address(&dy, "dy")?);
    let (out, po) = alloc(&dev, g.dtype(), 2 * n)?;
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&pg);
    b.arg(&pu);
    b.arg(&pd);
    b.arg(&po);
    b.arg(&n);
    b.arg(&act);
    // SAFETY: arguments match rows.cuh; 2n values out.
    unsafe { b.launch(grid_stride(n)) }.w()?;
    let both = tensor_of(out, 2 * n);
    Ok((both.narrow(0, 0, n)?.reshape(g.shape())?, both.narrow(0, n, n)?.reshape(g.shape())?))
}

/// x·r·w over rows of width h = w's length.
pub fn rms_norm_fwd(x: In, w: In, eps: f64) -> Result<CudaStorage> {
    let h = w.1.shape().elem_count();
    let n = x.1.shape().elem_count();
    let rows = n / h;
    let ((px, dev, dt), (pw, _, dw)) = (storage_address(x.0, x.1, "x")?, storage_address(w.0, w.1, "weight")?);
    if dt != dw || x.1.shape().dims().last() != Some(&h) {
        candle_core::bail!("ftbench-rms-norm: weight must match the input's dtype and last dimension");
    }
    let name = format!("rms_norm_fwd_{}", suffix(dt, "ftbench-rms-norm")?);
    let (out, py) = alloc(&dev, dt, n)?;
    let (h32, eps) = (h as u32, eps as f32);
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&px);
    b.arg(&pw);
    b.arg(&py);
    b.arg(&h32);
    b.arg(&eps);
    // SAFETY: arguments match rows.cuh; one block per row.
    unsafe { b.launch(per_row(rows)) }.w()?;
    Ok(out)
}

/// (dx, dw), each only when asked for; dw accumulates in f32 and is returned in w's dtype.
pub fn rms_norm_bwd(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    eps: f64,
    want_dx: bool,
    want_dw: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let h = w.elem_count();
    let rows = x.elem_count() / h;
    let name = format!("rms_norm_bwd_{}", suffix(x.dtype(), "ftbench-rms-norm")?);
    let dy = dy.contiguous()?.to_dtype(x.dtype())?;
    let ((px, dev), (pw, _), (pd, _)) = (float_address(x, "x")?, float_address(w, "weight")?, float_address(&dy, "dy")?);
    let dx = want_dx.then(|| alloc(&dev, x.dtype(), x.elem_count())).transpose()?;
    let dw = want_dw.then(|| Tensor::zeros(h, DType::F32, x.device())).transpose()?;
    let pdx = dx.as_ref().map_or(0u64, |(_, p)| *p);
    let pdw = match &dw {
        Some(t) => address::<f32>(t, "dw")?.0,
        None => 0u64,
    };
    let (h32, eps) = (h as u32, eps as f32);
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&px);
    b.arg(&pw);
    b.arg(&pd);
    b.arg(&pdx);
    b.arg(&pdw);
    b.arg(&h32);
    b.arg(&eps);
    // SAFETY: arguments match rows.cuh; a null dx or dw is skipped by the kernel.
    unsafe { b.launch(per_row(rows)) }.w()?;
    let dx = dx.map(|(s, _)| tensor_of(s, x.shape().clone()));
    let dw = dw.map(|t| t.to_dtype(w.dtype())).transpose()?;
    Ok((dx, dw))
}

/// The probabilities of scores (..., rows, keys) (see softmax.rs).
/// `window` 0 is plain causal attention.
pub fn causal_softmax_fwd(s: In, scale: f64, queries: usize, start: usize, window: usize) -> Result<CudaStorage> {
    let dims = s.1.shape().dims();
    if dims.len() < 2 {
        candle_core::bail!("ftbench-causal-softmax: scores must be at least 2-D");
    }
    let (rows, keys) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let n = s.1.shape().elem_count();
    let all_rows = n / keys;
    let (ps, dev, dt) = storage_address(s.0, s.1, "scores")?;
    let name = format!("causal_softmax_fwd_{}", suffix(dt, "ftbench-causal-softmax")?);
    let (out, pp) = alloc(&dev, dt, n)?;
    let (rows, keys, queries, start, window) = (rows as u32, keys as u32, queries as u32, start as u32, window as u32);
    let scale = scale as f32;
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&ps);
    b.arg(&pp);
    b.arg(&rows);
    b.arg(&keys);
    b.arg(&queries);
    b.arg(&start);
    b.arg(&window);
    b.arg(&scale);
    // SAFETY: arguments match rows.cuh; one block per row.
    unsafe { b.launch(per_row(all_rows)) }.w()?;
    Ok(out)
}

/// d scores from the probabilities p and their gradient dp.
pub fn causal_softmax_bwd(p: &Tensor, dp: &Tensor, scale: f64) -> Result<Tensor> {
    let keys = *p.dims().last().expect("rank >= 2");
    let all_rows = p.elem_count() / keys;
    let name = format!("causal_softmax_bwd_{}", suffix(p.dtype(), "ftbench-causal-softmax")?);
    let dp = dp.contiguous()?.to_dtype(p.dtype())?;
    let p = p.contiguous()?;
    let ((pp, dev), (pd, _)) = (float_address(&p, "probabilities")?, float_address(&dp, "gradient")?);
    let (out, po) = alloc(&dev, p.dtype(), p.elem_count())?;
    let (keys32, scale) = (keys as u32, scale as f32);
    let f = func!(dev, &name)?;
    let mut b = f.builder();
    b.arg(&pp);
    b.arg(&pd);
    b.arg(&po);
    b.arg(&keys32);
    b.arg(&scale);
    // SAFETY: arguments match rows.cuh.
    unsafe { b.launch(per_row(all_rows)) }.w()?;
    Ok(tensor_of(out, p.shape().clone()))
}

/// Rotary embedding with the split into heads (`forward`: x layout → heads layout) or its
/// backward (heads layout → x layout); `src` holds b·t·heads·hd values, the tables (positions,
/// hd) in src's dtype.
#[allow(clippy::too_many_arguments)]
pub fn rope(
    src: In,
    cos: &Tensor,
    sin: &Tensor,
    b: usize,
    t: usize,
    heads: usize,
    hd: usize,
    start: usize,
    forward: bool,
) -> Result<CudaStorage> {
    let (ps, dev, dt) = storage_address(src.0, src.1, "rope input")?;
    if cos.dtype() != dt || sin.dtype() != dt {
        candle_core::bail!("ftbench-rope: tables must be in the input's dtype {dt:?}");
    }
    let name = format!("rope_{}", suffix(dt, "ftbench-rope")?);
    let ((pc, _), (pn, _)) = (float_address(cos, "cos")?, float_address(sin, "sin")?);
    let n = b * t * heads * hd;
    let (out, po) = alloc(&dev, dt, n)?;
    let (b, t, heads, hd, start, fwd) = (b as u32, t as u32, heads as u32, hd as u32, start as u32, i32::from(forward));
    let f = func!(dev, &name)?;
    let mut bl = f.builder();
    bl.arg(&ps);
    bl.arg(&pc);
    bl.arg(&pn);
    bl.arg(&po);
    bl.arg(&b);
    bl.arg(&t);
    bl.arg(&heads);
    bl.arg(&hd);
    bl.arg(&start);
    bl.arg(&fwd);
    // SAFETY: arguments match rows.cuh; every pair of the output is written.
    unsafe { bl.launch(grid_stride(n / 2)) }.w()?;
    Ok(out)
}
