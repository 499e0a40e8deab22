//! Where a model runs: the suite's `hardware` value (`cpu`, `cuda:N`) and the candle device it
//! opens. The CUDA backend is the cargo feature `cuda` (scripts/build-cuda.sh); a build without
//! it reads `cuda:N` suites but fails such a cell with that reason.

use anyhow::Result;
use candle_core::Device;

/// A device a suite can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl DeviceSpec {
    /// `cpu` or `cuda:N` (N = 0, 1, ...).
    pub fn parse(s: &str) -> std::result::Result<DeviceSpec, String> {
        if s == "cpu" {
            return Ok(DeviceSpec::Cpu);
        }
        match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) if n < 64 => Ok(DeviceSpec::Cuda(n)),
            _ => Err(format!(
                "unknown hardware `{s}`: expected `cpu` or `cuda:N` (a GPU ordinal, e.g. cuda:0)"
            )),
        }
    }

    /// Opens the device (a CUDA context for `cuda:N`).
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => open_cuda(n),
        }
    }

    pub fn is_cuda(self) -> bool {
        matches!(self, DeviceSpec::Cuda(_))
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> Result<Device> {
    use anyhow::Context;
    Device::new_cuda(n)
        .with_context(|| format!("cannot open cuda:{n} (is there a GPU, and libcuda.so.1 with CUDA 13 libraries on LD_LIBRARY_PATH?)"))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(n: usize) -> Result<Device> {
    anyhow::bail!("hardware `cuda:{n}`: this ftbench was built without the `cuda` feature (build it with scripts/build-cuda.sh)")
}
