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
    use candle_core::cuda_backend::cudarc::driver::{result, sys};
    use candle_core::Device;

    fn pool(device: &Device) -> Result<sys::CUmemoryPool> {
        let Device::Cuda(d) = device else { bail!("not a CUDA device") };
        let cu_dev = d.cuda_stream().context().cu_device();
        // SAFETY: a valid device handle of a live context.
        Ok(unsafe { result::device::get_default_mem_pool(cu_dev) }?)
    }

    fn get(p: sys::CUmemoryPool, a: sys::CUmemPool_attribute) -> Result<u64> {
        let mut v: u64 = 0;
        // SAFETY: these attributes are 64-bit values.
        unsafe { result::mem_pool::get_attribute(p, a, &mut v as *mut u64 as *mut std::ffi::c_void) }?;
        Ok(v)
    }

    fn set(p: sys::CUmemoryPool, a: sys::CUmemPool_attribute, mut v: u64) -> Result<()> {
        // SAFETY: as above.
        unsafe { result::mem_pool::set_attribute(p, a, &mut v as *mut u64 as *mut std::ffi::c_void) }?;
        Ok(())
    }

    /// Makes the pool keep freed memory (release threshold = max): it then behaves like a
    /// caching allocator, NVML's view only grows, and no sync returns memory to the driver.
    pub fn keep_freed(device: &Device) -> Result<()> {
        set(pool(device)?, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, u64::MAX)
    }

    pub fn read(device: &Device) -> Result<PoolReading> {
        use sys::CUmemPool_attribute::*;
        device.synchronize()?;
        let p = pool(device)?;
        Ok(PoolReading {
            used_bytes: get(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT)?,
            used_high_bytes: get(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH)?,
            reserved_bytes: get(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)?,
            reserved_high_bytes: get(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)?,
        })
    }

    /// Starts both high-water marks again from the current values (0 is the only value the
    /// driver accepts; it means "now").
    pub fn reset_peaks(device: &Device) -> Result<()> {
        use sys::CUmemPool_attribute::*;
        let p = pool(device)?;
        set(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH, 0)?;
        set(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, 0)
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

/// Makes a CUDA device's pool keep freed memory (see `imp::keep_freed`); nothing on the CPU.
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
