//! Measurement: process memory (RSS), GPU memory (the CUDA pool's exact tensor bytes, NVML's
//! device view) and the environment a number was measured in.

mod alloc;
mod env;
mod nvml;
mod pool;
mod rss;
mod stats;

pub use alloc::keep_freed_memory;
pub use env::{Environment, PARK_AT_ONCE, THREAD_COUNT_VARS};
pub use nvml::{gpu_name, NvmlTrace, Sampler as NvmlSampler};
pub use pool::{pool_keep_freed, pool_reset_peaks, read_pool, PoolReading};
pub use rss::{current_rss_bytes, peak_rss_bytes};
pub use stats::{summarize, Summary};
