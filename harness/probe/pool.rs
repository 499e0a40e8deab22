//! The exact tensor bytes of a CUDA cell: the high-water mark of the device's default memory
//! pool. candle allocates every tensor with cuMemAllocAsync from that pool and has no caching
//! allocator of its own, so the pool's `USED_MEM_HIGH` is the peak of live tensor bytes (what
//! PyTorch calls max_memory_allocated) and `RESERVED_MEM_HIGH` the peak the pool held
//! (max_memory_reserved). The CUDA context, module code and cuBLAS workspaces are outside the
//! pool: NVML's device view (probe/nvml.rs) includes them.

use serde::{Deserialize, Serialize};

/// One reading of the pool.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct PoolReading {
    /// Bytes of live allocations now.
    pub used_bytes: u64,
    /// The most live bytes since the last reset.
    pub used_high_bytes: u64,
    pub reserved_bytes: u64,
    pub reserved_high_bytes: u64,
}

#[cfg(feature = "cuda")]
mod imp {
    use super::PoolReading;
    use anyhow::{bail, Result};
    use candle_core::{CudaDevice, Device};
    use ftbench_kernels::cuda::pool;

    fn cuda(device: &Device) -> Result<&CudaDevice> {
        let Device::Cuda(d) = device else { bail!("not a CUDA device") };
        Ok(d)
    }

    pub fn keep_freed(device: &Device) -> Result<()> {
        Ok(pool::keep_freed(cuda(device)?)?)
    }

    pub fn read(device: &Device) -> Result<PoolReading> {
        let (used_bytes, used_high_bytes, reserved_bytes, reserved_high_bytes) = pool::read(cuda(device)?)?;
        Ok(PoolReading {
            used_bytes,
            used_high_bytes,
            reserved_bytes,
            reserved_high_bytes,
        })
    }

    pub fn reset_peaks(device: &Device) -> Result<()> {
        Ok(pool::reset_peaks(cuda(device)?)?)
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::PoolReading;
    use candle_core::Device;

    pub fn keep_freed(_: &Device) -> anyhow::Result<()> {
        Ok(())
    }
    pub fn read(_: &Device) -> anyhow::Result<PoolReading> {
        anyhow::bail!("no CUDA in this build")
    }
    pub fn reset_peaks(_: &Device) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The pool of `device` when it is a CUDA device (None on the CPU).
pub fn read_pool(device: &candle_core::Device) -> anyhow::Result<Option<PoolReading>> {
    if device.is_cpu() {
        return Ok(None);
    }
    imp::read(device).map(Some)
}

/// Makes a CUDA device's pool keep freed memory (release threshold = max: a caching allocator,
/// as PyTorch's; `ftbench_kernels::cuda::pool::keep_freed`); nothing on the CPU.
pub fn pool_keep_freed(device: &candle_core::Device) -> anyhow::Result<()> {
    if device.is_cpu() {
        return Ok(());
    }
    imp::keep_freed(device)
}

/// Restarts a CUDA device's high-water marks from now; nothing on the CPU.
pub fn pool_reset_peaks(device: &candle_core::Device) -> anyhow::Result<()> {
    if device.is_cpu() {
        return Ok(());
    }
    imp::reset_peaks(device)
}
