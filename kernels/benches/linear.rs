//! Frozen linears, forward + backward (input gradient), next to a plain f32 matmul of the same
//! shape measured in the same run: the dense frozen op (what LoRA's base costs) and the NF4 op
//! (what QLoRA's base costs: dequantize in forward and again in backward).
//! The baseline is what candle does for a plain matmul: its backward also computes the weight
//! gradient (2·t·in·out more FLOPs), which the frozen ops never do.
//!
//! `cargo bench -p ftbench-kernels --bench linear`

use candle_core::{Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftbench_kernels::{frozen_linear, DenseWeight, FrozenWeight, Nf4Tensor};
use std::sync::Arc;
use std::time::Duration;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
        })
        .collect()
}

/// Tokens × in → out: the SmolLM2-135M MLP's up projection at 128 tokens, and a 7B-sized
/// projection at 128 tokens.
fn bench_shape(c: &mut Criterion, tokens: usize, inp: usize, out: usize) {
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(out * inp, 7), (out, inp), &dev).unwrap();
    let x = Var::from_vec(values(tokens * inp, 11), (tokens, inp), &dev).unwrap();
    let dense: Arc<dyn FrozenWeight> = Arc::new(DenseWeight(w.clone()));
    let nf4: Arc<dyn FrozenWeight> = Arc::new(Nf4Tensor::quantize(&values(out * inp, 7), (out, inp), 64, true).unwrap());
    let mut g = c.benchmark_group(format!("linear_fwd_bwd_{tokens}x{inp}x{out}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    // forward 2·t·in·out + input gradient 2·t·in·out
    g.throughput(Throughput::Elements((4 * tokens * inp * out) as u64));
    g.bench_function("f32_matmul_baseline", |b| {
        b.iter(|| {
            let y = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.bench_function("frozen_dense", |b| {
        b.iter(|| frozen_linear(x.as_tensor(), &dense).unwrap().sum_all().unwrap().backward().unwrap())
    });
    g.bench_function("frozen_nf4", |b| {
        b.iter(|| frozen_linear(x.as_tensor(), &nf4).unwrap().sum_all().unwrap().backward().unwrap())
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_shape(c, 128, 576, 1536);
    bench_shape(c, 128, 4096, 4096);
}

criterion_group!(linear, benches);
criterion_main!(linear);
