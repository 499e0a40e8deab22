//! With the `cuda` feature: compiles cuda/ftbench.cu to PTX with nvcc (the toolchain that
//! candle's own kernels need; scripts/cuda-toolchain.sh provides one without a GPU). The PTX is
//! embedded in the crate (`include_str!`) and loaded by candle on first use. Without the feature:
//! nothing (CPU builds and CI need no CUDA).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cuda");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ftbench.ptx");
    // sm_90 = H100/H200; the PTX is JIT-compiled by the driver for the device it runs on.
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| "nvcc".into());
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("-arch=compute_{cap}"))
        .arg("cuda/ftbench.cu")
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{nvcc}` for the `cuda` feature ({e}); see scripts/cuda-toolchain.sh"));
    if !status.success() {
        panic!("`{nvcc}` failed on kernels/cuda/ftbench.cu ({status})");
    }
}
