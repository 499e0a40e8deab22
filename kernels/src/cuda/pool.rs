//! The device's default memory pool, from which candle allocates every tensor
//! (cuMemAllocAsync): its release threshold and its high-water marks. The harness records
//! these (probe/pool.rs); the benches raise the threshold as cells do, so that a timed loop
//! measures kernels rather than the driver re-mapping memory freed at each synchronize.

use candle_core::backend::BackendDevice;
use candle_core::cuda_backend::cudarc::driver::{result, sys};
use candle_core::{CudaDevice, Result};

fn pool(d: &CudaDevice) -> Result<sys::CUmemoryPool> {
    let cu_dev = d.cuda_stream().context().cu_device();
    // SAFETY: a valid device handle of a live context.
    unsafe { result::device::get_default_mem_pool(cu_dev) }.map_err(|e| candle_core::Error::Msg(format!("default memory pool: {e}")))
}

fn get(p: sys::CUmemoryPool, a: sys::CUmemPool_attribute) -> Result<u64> {
    let mut v: u64 = 0;
    // SAFETY: these attributes are 64-bit values.
    unsafe { result::mem_pool::get_attribute(p, a, &mut v as *mut u64 as *mut std::ffi::c_void) }
        .map_err(|e| candle_core::Error::Msg(format!("memory pool attribute {a:?}: {e}")))?;
    Ok(v)
}

fn set(p: sys::CUmemoryPool, a: sys::CUmemPool_attribute, mut v: u64) -> Result<()> {
    // SAFETY: as above.
    unsafe { result::mem_pool::set_attribute(p, a, &mut v as *mut u64 as *mut std::ffi::c_void) }
        .map_err(|e| candle_core::Error::Msg(format!("memory pool attribute {a:?}: {e}")))
}

/// Makes the pool keep freed memory (release threshold = max): it then behaves like a caching
/// allocator, NVML's view only grows, and no synchronize returns memory to the driver.
pub fn keep_freed(d: &CudaDevice) -> Result<()> {
    set(pool(d)?, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, u64::MAX)
}

/// The pool's bytes after a synchronize: (used now, used high-water mark, reserved now,
/// reserved high-water mark).
pub fn read(d: &CudaDevice) -> Result<(u64, u64, u64, u64)> {
    use sys::CUmemPool_attribute::*;
    d.synchronize()?;
    let p = pool(d)?;
    Ok((
        get(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT)?,
        get(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH)?,
        get(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)?,
        get(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)?,
    ))
}

/// Starts both high-water marks again from the current values (0 is the only value the driver
/// accepts; it means "now").
pub fn reset_peaks(d: &CudaDevice) -> Result<()> {
    use sys::CUmemPool_attribute::*;
    let p = pool(d)?;
    set(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH, 0)?;
    set(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, 0)
}
