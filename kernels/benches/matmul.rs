//! Raw f32 matmul throughput of the backend this build uses (candle's gemm by default, Intel
//! MKL with `--features mkl`), in FLOP/s, at the shapes that dominate training the SmolLM2-135M
//! shape at 128 and 512 tokens. Run it once per backend and compare:
//!
//! `cargo bench -p ftbench-kernels --bench matmul` and `... --features mkl --bench matmul`.
//! With `--features openblas` (Debian's libopenblas-dev) it also measures OpenBLAS's
//! `cblas_sgemm` called directly on the same shapes, so the backends can be chosen by numbers.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

/// (tokens, in, out): the MLP's up projection at 128 and 512 tokens, its down projection, the
/// LM head.
const SHAPES: [(usize, usize, usize); 4] = [(128, 576, 1536), (512, 576, 1536), (128, 1536, 576), (128, 576, 49152)];

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group(format!("matmul_f32_{}", ftbench_kernels::blas::BACKEND));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in SHAPES {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        g.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
        g.bench_function(format!("{m}x{k}x{n}"), |bench| bench.iter(|| a.matmul(&b.t().unwrap()).unwrap()));
    }
    g.finish();
}

#[cfg(feature = "openblas")]
mod openblas {
    use super::*;

    const ROW_MAJOR: i32 = 101;
    const NO_TRANS: i32 = 111;
    const TRANS: i32 = 112;

    #[link(name = "openblas")]
    extern "C" {
        fn cblas_sgemm(
            order: i32,
            trans_a: i32,
            trans_b: i32,
            m: i32,
            n: i32,
            k: i32,
            alpha: f32,
            a: *const f32,
            lda: i32,
            b: *const f32,
            ldb: i32,
            beta: f32,
            c: *mut f32,
            ldc: i32,
        );
    }

    /// c (m, n) = a (m, k) · bᵀ for b (n, k), as the linear layers compute.
    fn sgemm_nt(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
        assert!(a.len() == m * k && b.len() == n * k && c.len() == m * n);
        // SAFETY: the slices hold exactly the (m, k), (n, k) and (m, n) row-major matrices.
        unsafe {
            cblas_sgemm(
                ROW_MAJOR,
                NO_TRANS,
                TRANS,
                m as i32,
                n as i32,
                k as i32,
                1.0,
                a.as_ptr(),
                k as i32,
                b.as_ptr(),
                k as i32,
                0.0,
                c.as_mut_ptr(),
                n as i32,
            )
        }
    }

    pub fn bench(c: &mut Criterion) {
        let mut g = c.benchmark_group("matmul_f32_openblas");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (m, k, n) in SHAPES {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
            let b: Vec<f32> = (0..n * k).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
            // Check the call against candle's matmul once before timing it.
            let mut out = vec![0f32; m * n];
            sgemm_nt(&a, &b, &mut out, m, k, n);
            let ta = Tensor::from_slice(&a, (m, k), &Device::Cpu).unwrap();
            let tb = Tensor::from_slice(&b, (n, k), &Device::Cpu).unwrap();
            let want: Vec<f32> = ta.matmul(&tb.t().unwrap()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let err = want.iter().zip(&out).map(|(w, o)| (w - o).abs()).fold(0f32, f32::max);
            assert!(err < 1e-2, "OpenBLAS and candle disagree by {err} at {m}x{k}x{n}");
            g.throughput(Throughput::Elements((2 * m * k * n) as u64));
            g.bench_function(format!("{m}x{k}x{n}"), |bench| {
                bench.iter(|| {
                    // A fresh output each call, as a matmul op allocates its result.
                    let mut c = vec![0f32; m * n];
                    sgemm_nt(&a, &b, &mut c, m, k, n);
                    c
                })
            });
        }
        g.finish();
    }
}

#[cfg(feature = "openblas")]
criterion_group!(matmul, bench, openblas::bench);
#[cfg(not(feature = "openblas"))]
criterion_group!(matmul, bench);
criterion_main!(matmul);
