//! The decoder's training work on the SmolLM2-135M shape at batch 1 × 128 (f32, CPU): one
//! decoder layer forward + backward, and the whole training step (forward, backward, AdamW),
//! each with ftbench's fused kernels beside the composed candle ops, measured in the same run.
//! The step also runs under activation recompute (fused), which trades one more forward pass
//! per block for memory. The process runs with the allocator and thread-pool settings of a cell.
//!
//! `cargo bench --bench train_step` (about 4 minutes on 2 cores)

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, Built, MethodConfig};
use ftbench::model::{preset, DecoderConfig, RandomInit};
use ftbench::suite::Method;
use ftbench::train::{Schedule, Trainer, TrainerConfig};
use std::time::Duration;

const SEQ: usize = 128;

fn build(cfg: &DecoderConfig, method: Method) -> Built {
    let dev = Device::Cpu;
    let mut src = RandomInit::new(cfg, 0);
    method::build(cfg, &mut src, &MethodConfig::defaults(method, 0), DType::F32, &dev).unwrap()
}

fn trainer(built: &Built) -> Trainer {
    let schedule = Schedule {
        peak: 1e-4,
        warmup_steps: 0,
        total_steps: 1_000_000,
        min_ratio: 1.0,
    };
    let cfg = TrainerConfig::adamw(schedule, 1.0);
    Trainer::new(built.trainable.clone(), cfg).expect("f32 AdamW on the CPU")
}

/// The process settings a cell runs with (runner/child.rs, probe::keep_freed_memory), applied
/// before candle starts its thread pool.
fn cell_settings() {
    for (var, value) in ftbench::runner::PARK_AT_ONCE {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, value);
        }
    }
    ftbench::probe::keep_freed_memory();
}

fn layer(c: &mut Criterion) {
    cell_settings();
    let cfg = preset("smollm2-135m").unwrap();
    let mut built = build(&cfg, Method::named("full"));
    let x = Var::randn(0f32, 1.0, (1, SEQ, cfg.hidden_size), &Device::Cpu).unwrap();
    let r = Tensor::randn(0f32, 1.0, (1, SEQ, cfg.hidden_size), &Device::Cpu).unwrap();
    let mut g = c.benchmark_group("decoder_layer_fwd_bwd_smollm2_1x128");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(SEQ as u64));
    for fused in [false, true] {
        built.decoder.fused = fused;
        let model = &built.decoder;
        let name = if fused { "fused" } else { "composed" };
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let y = model.block(0, &model.layers[0], x.as_tensor()).unwrap();
                (y * &r).unwrap().sum_all().unwrap().backward().unwrap()
            })
        });
    }
    g.finish();
}

fn step(c: &mut Criterion) {
    let cfg = preset("smollm2-135m").unwrap();
    let task = Task::new(TaskKind::ReverseLm, SEQ, cfg.vocab_size).unwrap();
    let batch = Batch::new(&task.train_stream(0).take(1).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let mut g = c.benchmark_group("train_step_smollm2_1x128");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(25))
        .throughput(Throughput::Elements(SEQ as u64));
    for method in [Method::named("full"), Method::named("lora")] {
        let mut built = build(&cfg, method);
        let mut trainer = trainer(&built);
        for (fused, recompute) in [(false, false), (true, false), (true, true)] {
            (built.decoder.fused, built.decoder.recompute) = (fused, recompute);
            let name = format!(
                "{}/{}{}",
                method.as_str(),
                if fused { "fused" } else { "composed" },
                if recompute { "+recompute" } else { "" }
            );
            let model = &built.decoder;
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| trainer.step(model, std::slice::from_ref(&batch)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, layer, step);
criterion_main!(benches);
