//! Raw f32 matmul throughput of the backend this build uses (candle's gemm by default, Intel
//! MKL with `--features mkl`), in FLOP/s, at the shapes that dominate training the SmolLM2-135M
//! shape at 128 and 512 tokens. Run it once per backend and compare:
//!
//! `cargo bench -p ftbench-kernels --bench matmul` and `... --features mkl --bench matmul`

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group(format!("matmul_f32_{}", ftbench_kernels::blas::BACKEND));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in [(128, 576, 1536), (512, 576, 1536), (128, 1536, 576), (128, 576, 49152)] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        g.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
        g.bench_function(format!("{m}x{k}x{n}"), |bench| bench.iter(|| a.matmul(&b.t().unwrap()).unwrap()));
    }
    g.finish();
}

criterion_group!(matmul, bench);
criterion_main!(matmul);
