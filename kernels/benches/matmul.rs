//! Raw f32 matmul throughput of the backend this build uses (candle's gemm by default, Intel
//! MKL with `--features mkl`), in FLOP/s, at the shapes that dominate training the SmolLM2-135M
//! shape at 128 and 512 tokens. Run it once per backend and compare:
//!
//! `cargo bench -p ftbench-kernels --bench matmul` and `... --features mkl --bench matmul`.
//! With `--features openblas` (Debian's libopenblas-dev) it also measures the OpenBLAS path of
//! `ftbench_kernels::blas` on the same shapes, so the backends can be chosen by numbers.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

/// (tokens, in, out): the MLP's up projection at 128 and 512 tokens, its down projection, the
/// LM head.
const SHAPES: [(usize, usize, usize); 4] = [(128, 576, 1536), (512, 576, 1536), (128, 1536, 576), (128, 576, 49152)];

/// One group: `mm(a, b)` = a·bᵀ for a (tokens, in), b (out, in) at every shape.
fn group(c: &mut Criterion, name: &str, mm: impl Fn(&Tensor, &Tensor) -> Tensor) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in SHAPES {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        g.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
        g.bench_function(format!("{m}x{k}x{n}"), |bench| bench.iter(|| mm(&a, &b)));
    }
    g.finish();
}

/// candle's own matmul: gemm, or MKL in the `mkl` build.
fn bench(c: &mut Criterion) {
    let name = if cfg!(feature = "mkl") {
        "matmul_f32_mkl"
    } else {
        "matmul_f32_gemm"
    };
    group(c, name, |a, b| a.matmul(&b.t().unwrap()).unwrap());
}

/// The OpenBLAS build's matmul (`blas::matmul`: cblas_sgemm into a fresh output tensor, as the
/// linear layers call it).
#[cfg(feature = "openblas")]
fn bench_openblas(c: &mut Criterion) {
    group(c, "matmul_f32_openblas", |a, b| ftbench_kernels::blas::matmul(a, b, true).unwrap());
}

#[cfg(feature = "openblas")]
criterion_group!(matmul, bench, bench_openblas);
#[cfg(not(feature = "openblas"))]
criterion_group!(matmul, bench);
criterion_main!(matmul);
