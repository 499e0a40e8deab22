//! NF4 dequantization on the GPU (kernels/cuda/nf4.cuh): 8 values per thread.

use super::{address, func, ptr};
use crate::nf4_device::{DeviceScales, Nf4Device};
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, DType, Layout, Result};

/// The dense values of `w` (its packed codes are `s` under `l`) as `dtype` (f32 or bf16).
pub fn dequantize(w: &Nf4Device, s: &CudaStorage, l: &Layout, dtype: DType) -> Result<CudaStorage> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("ftbench-nf4-dequant: packed codes must be contiguous");
    };
    let dev = s.device.clone();
    let stream = dev.cuda_stream();
    let nbytes = b - a;
    let packed = s.as_cuda_slice::<u8>()?;
    let (p_packed, _g0) = ptr(packed, a, &stream);
    // Plain: absmax, and no double-quant arrays (the kernel tests absmax != null).
    let (p_am, p_codes, p_am2, p_code2, offset, blocksize2) = match &w.scales {
        DeviceScales::Plain(am) => (address::<f32>(am, "absmax")?.0, 0u64, 0u64, 0u64, 0f32, 1usize),
        DeviceScales::Double {
            codes,
            absmax2,
            code2,
            offset,
            blocksize2,
        } => (
            0u64,
            address::<u8>(codes, "absmax codes")?.0,
            address::<f32>(absmax2, "absmax2")?.0,
            address::<f32>(code2, "code2")?.0,
            *offset,
            *blocksize2,
        ),
    };
    let n = nbytes * 2;
    let threads = nbytes.div_ceil(4);
    let cfg = LaunchConfig {
        grid_dim: (threads.div_ceil(256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (blocksize, blocksize2) = (w.blocksize() as u32, blocksize2 as u32);
    macro_rules! launch {
        ($t:ty, $name:literal) => {{
            // SAFETY: the kernel writes all n values before the storage is read.
            let out = unsafe { dev.alloc::<$t>(n)? };
            let (p_out, g_out) = ptr(&out, 0, &stream);
            let f = func!(dev, $name)?;
            let mut bl = f.builder();
            bl.arg(&p_packed);
            bl.arg(&nbytes);
            bl.arg(&p_am);
            bl.arg(&p_codes);
            bl.arg(&p_am2);
            bl.arg(&p_code2);
            bl.arg(&offset);
            bl.arg(&blocksize);
            bl.arg(&blocksize2);
            bl.arg(&p_out);
            // SAFETY: arguments match the kernel's signature (kernels/cuda/nf4.cuh).
            unsafe { bl.launch(cfg) }.w()?;
            drop(g_out);
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    Ok(match dtype {
        DType::BF16 => launch!(half::bf16, "nf4_dequant_bf16"),
        DType::F32 => launch!(f32, "nf4_dequant_f32"),
        other => candle_core::bail!("ftbench-nf4-dequant: output dtype {other:?} (f32 or bf16)"),
    })
}
