//! The CUDA side of the kernels (feature `cuda`): ftbench's PTX module (kernels/cuda/*.cu,
//! compiled by build.rs), the glue that lets a custom op's `cuda_fwd` run the same tensor-level
//! code as its `cpu_fwd`, and the launches of the hand-written kernels.
//!
//! Every launch here has a CPU counterpart it must match (tests/cuda_ops.rs checks them on a GPU).

pub mod adamw;
pub mod nf4;
pub mod pool;
pub mod rows;

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaStream, DevicePtr, SyncOnDrop};
use candle_core::op::BackpropOp;
use candle_core::{CudaStorage, Layout, Result, Shape, Storage, Tensor};

/// ftbench's kernels as PTX (compute capability `CUDA_COMPUTE_CAP`, default 90), JIT-compiled
/// by the driver when a module is first loaded on a device.
pub const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/ftbench.ptx"));

/// The kernel `name` of ftbench's module on a `CudaDevice` (the module is loaded once per
/// device). A macro: candle does not export the function handle's type.
macro_rules! func {
    ($dev:expr, $name:expr) => {
        $dev.get_or_load_custom_func($name, "ftbench", $crate::cuda::PTX)
    };
}
pub(crate) use func;

/// A fresh tensor holding a copy of `s` under layout `l` (contiguous), for ops whose `cuda_fwd`
/// runs candle tensor ops on their input (as `elem::cpu_tensor` does for `cpu_fwd`).
pub fn tensor(s: &CudaStorage, l: &Layout) -> Result<Tensor> {
    let shape = l.shape().clone();
    // SAFETY: every element is written by the copy below before the tensor is read.
    let mut dst = unsafe { s.device().alloc_uninit(&shape, s.dtype())? };
    s.copy_strided_src(&mut dst, 0, l)?;
    Ok(Tensor::from_storage(Storage::Cuda(dst), shape, BackpropOp::none(), false))
}

/// The storage of a freshly computed CUDA tensor, as a custom op's output (a contiguous copy).
pub fn output(y: Tensor, op: &str) -> Result<(CudaStorage, Shape)> {
    let shape = y.shape().clone();
    let (storage, layout) = y.storage_and_layout();
    let Storage::Cuda(s) = &*storage else {
        candle_core::bail!("{op}: the output is not on a CUDA device");
    };
    // SAFETY: the copy writes every element.
    let mut dst = unsafe { s.device().alloc_uninit(&shape, s.dtype())? };
    s.copy_strided_src(&mut dst, 0, layout)?;
    Ok((dst, shape))
}

/// The device address of `t`'s first element (contiguous, on a CUDA device, of element type
/// `T`), and its device. The address stays valid while `t` (which owns the storage) lives; all
/// of ftbench's work is on candle's one stream, so no other stream can race the kernel.
pub fn address<T: candle_core::cuda_backend::CudaDType>(t: &Tensor, what: &str) -> Result<(u64, candle_core::CudaDevice)> {
    let (g, l) = t.storage_and_layout();
    let Storage::Cuda(c) = &*g else {
        candle_core::bail!("{what}: expected a tensor on a CUDA device, found {:?}", t.device());
    };
    if !l.is_contiguous() {
        candle_core::bail!("{what}: must be contiguous");
    }
    let stream = c.device.cuda_stream();
    let (p, _sync) = ptr(c.as_cuda_slice::<T>()?, l.start_offset(), &stream);
    Ok((p, c.device.clone()))
}

/// `address` of an f32 or bf16 tensor, by its dtype.
pub fn float_address(t: &Tensor, what: &str) -> Result<(u64, candle_core::CudaDevice)> {
    match t.dtype() {
        candle_core::DType::F32 => address::<f32>(t, what),
        candle_core::DType::BF16 => address::<half::bf16>(t, what),
        other => candle_core::bail!("{what}: dtype {other:?} (f32 or bf16)"),
    }
}

/// A launch for a grid-stride loop over n elements: enough 256-thread blocks to fill the
/// device (132 SMs × 16 on an H100/H200), never more than the work.
pub fn grid_stride(n: usize) -> candle_core::cuda_backend::cudarc::driver::LaunchConfig {
    candle_core::cuda_backend::cudarc::driver::LaunchConfig {
        grid_dim: (n.div_ceil(256).clamp(1, 132 * 16) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The device address of element `offset` of `s`, kept valid (stream-ordered) while the guard lives.
pub fn ptr<'a, T>(s: &'a CudaSlice<T>, offset: usize, stream: &'a CudaStream) -> (u64, SyncOnDrop<'a>) {
    let (p, guard) = s.device_ptr(stream);
    (p + (offset * std::mem::size_of::<T>()) as u64, guard)
}
