//! The environment a cell ran in, stored in every record.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    pub ftbench_version: String,
    /// Commit the binary was built from (`git describe --always --dirty`), or "unknown".
    pub git_commit: String,
    pub os: String,
    pub kernel: String,
    pub cpu_model: String,
    /// Logical CPUs the machine has.
    pub logical_cpus: usize,
    /// Compute threads the cell used (rayon pool and candle's matmul threads).
    pub threads: usize,
    pub total_memory_bytes: Option<u64>,
    pub candle_version: String,
    /// CPU matmul backend: "gemm" (candle's default), "gemm+openblas" or "mkl".
    #[serde(default)]
    pub blas: String,
    /// The thread variables ([`THREAD_COUNT_VARS`], [`PARK_AT_ONCE`]) as set for the cell.
    #[serde(default)]
    pub thread_env: String,
    /// Allocator settings the cell ran with (probe::keep_freed_memory); "" = the libc default.
    #[serde(default)]
    pub allocator: String,
}

impl Environment {
    /// The environment of this process (call it in the cell's process, after thread setup).
    pub fn detect(allocator: &str) -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let total_memory_bytes = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l["MemTotal:".len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024);
        Environment {
            ftbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("FTBENCH_GIT_COMMIT").to_string(),
            os: std::env::consts::OS.to_string(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            threads: rayon::current_num_threads(),
            total_memory_bytes,
            candle_version: env!("FTBENCH_CANDLE_VERSION").to_string(),
            blas: ftbench_kernels::blas::BACKEND.to_string(),
            allocator: allocator.to_string(),
            thread_env: THREAD_COUNT_VARS
                .iter()
                .chain(PARK_AT_ONCE.iter().map(|(var, _)| var))
                .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The variables that set each thread pool's size: rayon (candle's ops, ftbench's kernels),
/// OpenMP/MKL (the MKL build) and OpenBLAS (the openblas build). The runner sets all of them to a
/// cell's `threads` so the pools don't oversubscribe the cores.
pub const THREAD_COUNT_VARS: [&str; 4] = ["RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"];

/// Thread pools told to park at once instead of spinning after each op (unless the user set
/// the variable): MKL's OpenMP threads spin for 200 ms after each matmul, stealing the cores
/// candle's rayon threads need (measured: full fine-tuning 19 vs 38 tokens/s); candle's
/// elementwise pool spins 25 000 pause instructions after every op (perf: 19% of a LoRA step in
/// its spin loop).
pub const PARK_AT_ONCE: [(&str, &str); 2] = [("KMP_BLOCKTIME", "0"), ("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1")];
