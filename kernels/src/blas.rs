//! The CPU matmul backend this binary was built with, and what the MKL build needs to link.

/// "mkl" (Intel MKL, the `mkl` cargo feature) or "gemm" (candle's default pure-Rust gemm).
pub const BACKEND: &str = if cfg!(feature = "mkl") { "mkl" } else { "gemm" };

#[cfg(feature = "mkl")]
extern crate intel_mkl_src;

/// candle's MKL binding references `hgemm_` (f16 matmul), which Debian's MKL 2020.4 lacks. No
/// f16 matmul runs on ftbench's CPU path; this definition only lets the binary link, and says
/// so if anything ever calls it.
#[cfg(feature = "mkl")]
#[no_mangle]
pub extern "C" fn hgemm_() {
    eprintln!("ftbench: f16 matmul (hgemm) is not available in the MKL build");
    std::process::abort();
}
