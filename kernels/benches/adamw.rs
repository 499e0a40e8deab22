//! The fused AdamW step over a parameter the size of SmolLM2-135M's embedding (28.3M values):
//! f32 parameters (f32 arithmetic, what training runs) beside f64 parameters (f64 arithmetic,
//! the exact path of the gradient tests), and f32 parameters with bf16 and 8-bit blockwise state
//! (`adamw_state`), in the same run.
//!
//! `cargo bench -p ftbench-kernels --bench adamw`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftbench_kernels::adamw::{step_slices, AdamWHyper, Moments};
use ftbench_kernels::adamw_state::{step_state, AdamState, StateKind};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let n = 49152 * 576;
    let mut p: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32 - 500.0) / 1e4).collect();
    // Pseudo-random gradients (a multiplicative hash): a periodic pattern would let a branch
    // predictor learn the 8-bit state's code search, which real gradients never do.
    let g: Vec<f32> = (0..n)
        .map(|i| (((i as u64).wrapping_mul(2654435761) % 997) as f32 - 498.0) / 1e5)
        .collect();
    let mut m = Moments::zeros(n);
    let mut h = AdamWHyper {
        lr: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 1,
        grad_scale: 1.0,
    };
    let mut group = c.benchmark_group("adamw_f32_28M");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(n as u64));
    group.bench_function("f32", |b| {
        b.iter(|| {
            h.step += 1;
            step_slices(&mut p, &g, &mut m, &h)
        })
    });
    let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
    let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
    group.bench_function("f64", |b| {
        b.iter(|| {
            h.step += 1;
            step_slices(&mut p64, &g64, &mut m, &h)
        })
    });
    for (name, kind) in [("f32_bf16_state", StateKind::Bf16), ("f32_8bit_state", StateKind::Blockwise8)] {
        let mut s = AdamState::zeros(kind, n);
        group.bench_function(name, |b| {
            b.iter(|| {
                h.step += 1;
                step_state(&mut p, &g, &mut s, &h)
            })
        });
    }
    group.finish();
}

criterion_group!(adamw, bench);
criterion_main!(adamw);
