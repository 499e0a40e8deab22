//! The CUDA kernels against their baselines on the GPU (feature `cuda`):
//! - NF4 dequantization of an 11008 × 4096 weight to bf16, in bytes moved (packed codes read +
//!   bf16 written, bitsandbytes' accounting: 834 GB/s on the H200), beside a bf16 copy of the
//!   same matrix (the bandwidth ceiling; 3.39 TB/s there). Goal: ≥ 2 × 834 GB/s.
//! - The NF4 linear at 2048 tokens (dequantize + bf16 matmul, the frozen-linear op) beside the
//!   bf16 matmul alone (bitsandbytes: 1.65 ×). Goal: ≤ 1.3 ×.
//!
//! Timing: the pool keeps freed memory (release threshold = max, as every cell sets it), and
//! each sample times `LAUNCHES` calls between two synchronizes, so a launch's host overhead
//! overlaps the previous kernel and no synchronize returns memory to the driver: the figures are
//! the kernels', not the allocator's or the host's.
//!
//! `scripts/build-cuda.sh` builds it; `scripts/gpu-check.sh` runs it (`.gpu/cuda_bench --bench`).

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftbench_kernels::{frozen_linear, FrozenWeight, Nf4Device, Nf4Tensor};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls per synchronize in one timed sample.
const LAUNCHES: u64 = 20;

fn weights(n: usize) -> Vec<f32> {
    (0..n).map(|i| (((i * 7919) % 2003) as f32 - 1001.0) / 50_000.0).collect()
}

fn bench(c: &mut Criterion) {
    let Ok(dev) = Device::new_cuda(0) else {
        eprintln!("no CUDA device: nothing to measure");
        return;
    };
    if let Device::Cuda(d) = &dev {
        ftbench_kernels::cuda::pool::keep_freed(d).expect("the default pool's release threshold");
    }
    let (out, inp, tokens) = (11008, 4096, 2048);
    let n = out * inp;
    let q = Nf4Tensor::quantize(&weights(n), (out, inp), 64, true).unwrap();
    let d = Nf4Device::upload(&q, &dev).unwrap();
    let dense = Tensor::from_vec(q.dequantize(), (out, inp), &dev)
        .unwrap()
        .to_dtype(DType::BF16)
        .unwrap();
    let sync = || dev.synchronize().unwrap();
    // `iters` calls of `f`, LAUNCHES between synchronizes; each result dropped after the next
    // call is queued (stream-ordered frees, as in training).
    let timed = |iters: u64, f: &dyn Fn() -> Tensor| {
        sync();
        let t = Instant::now();
        let mut done = 0;
        while done < iters {
            let k = LAUNCHES.min(iters - done);
            let mut last = None;
            for _ in 0..k {
                last = Some(f());
            }
            sync();
            drop(last);
            done += k;
        }
        t.elapsed()
    };

    let mut g = c.benchmark_group("cuda_nf4_dequantize_11008x4096");
    g.sample_size(50);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Bytes((n / 2 + 2 * n) as u64));
    g.bench_function("nf4_to_bf16", |b| {
        b.iter_custom(|iters| timed(iters, &|| d.dense(DType::BF16).unwrap()))
    });
    g.throughput(Throughput::Bytes((4 * n) as u64)); // read + write of the bf16 matrix
    g.bench_function("bf16_copy", |b| b.iter_custom(|iters| timed(iters, &|| dense.copy().unwrap())));
    g.finish();

    let x = Tensor::from_vec(weights(tokens * inp), (tokens, inp), &dev)
        .unwrap()
        .to_dtype(DType::BF16)
        .unwrap();
    let w: Arc<dyn FrozenWeight> = Arc::new(d);
    let mut g = c.benchmark_group("cuda_linear_2048x4096x11008");
    g.sample_size(50);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements((2 * tokens * inp * out) as u64)); // FLOPs
    g.bench_function("bf16_matmul", |b| {
        b.iter_custom(|iters| timed(iters, &|| x.matmul(&dense.t().unwrap()).unwrap()))
    });
    g.bench_function("nf4_linear", |b| {
        b.iter_custom(|iters| timed(iters, &|| frozen_linear(&x, &w).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
