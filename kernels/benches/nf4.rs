//! NF4 quantize / dequantize throughput, in bytes of the f32 matrix (Throughput::Bytes), next to
//! a plain `copy_from_slice` of the same size as the memory-bandwidth baseline.
//!
//! `cargo bench -p ftbench-kernels --bench nf4`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftbench_kernels::nf4::{Nf4Tensor, DEFAULT_BLOCKSIZE};
use std::hint::black_box;
use std::time::Duration;

/// Deterministic, roughly normal weights (like a linear layer's).
fn weights(n: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n).map(|_| ((0..4).map(|_| u()).sum::<f32>() - 2.0) * 0.02).collect()
}

fn bench_shape(c: &mut Criterion, rows: usize, cols: usize) {
    let n = rows * cols;
    let x = weights(n);
    let mut group = c.benchmark_group(format!("nf4_{rows}x{cols}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Bytes((n * std::mem::size_of::<f32>()) as u64));

    group.bench_function("quantize", |b| {
        b.iter(|| Nf4Tensor::quantize(black_box(&x), (rows, cols), DEFAULT_BLOCKSIZE, false).unwrap())
    });
    group.bench_function("quantize_double", |b| {
        b.iter(|| Nf4Tensor::quantize(black_box(&x), (rows, cols), DEFAULT_BLOCKSIZE, true).unwrap())
    });

    let q = Nf4Tensor::quantize(&x, (rows, cols), DEFAULT_BLOCKSIZE, false).unwrap();
    let qd = Nf4Tensor::quantize(&x, (rows, cols), DEFAULT_BLOCKSIZE, true).unwrap();
    let mut out = vec![0.0f32; n];
    group.bench_function("dequantize", |b| {
        b.iter(|| {
            black_box(&q).dequantize_into(&mut out).unwrap();
            black_box(&out);
        })
    });
    group.bench_function("dequantize_double", |b| {
        b.iter(|| {
            black_box(&qd).dequantize_into(&mut out).unwrap();
            black_box(&out);
        })
    });
    let src = x.clone();
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&src));
            black_box(&out);
        })
    });
    group.finish();
}

fn nf4(c: &mut Criterion) {
    bench_shape(c, 2048, 2048);
    bench_shape(c, 1536, 576);
}

criterion_group!(benches, nf4);
criterion_main!(benches);
