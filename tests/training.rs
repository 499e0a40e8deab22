//! The trainer: gradient accumulation, the reported gradient norm, the schedule in use.

use candle_core::{DType, Device, Tensor};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, MethodConfig, Trainable};
use ftbench::model::{preset, random_weights, Decoder, DecoderConfig};
use ftbench::suite::Method;
use ftbench::train::{batch_loss, AdamParams, Schedule, Trainer, TrainerConfig};

fn setup() -> (DecoderConfig, Decoder, Vec<Trainable>) {
    let cfg = DecoderConfig {
        vocab_size: 32,
        hidden_size: 16,
        intermediate_size: 24,
        ..preset("tiny").unwrap()
    };
    let w = random_weights(&cfg, 3, DType::F64, &Device::Cpu).unwrap();
    let b = method::build(
        &cfg,
        &mut w.clone(),
        &MethodConfig::defaults(Method::named("full"), 0),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    (cfg, b.decoder, b.trainable)
}

fn trainer(params: Vec<Trainable>, max_grad_norm: f64) -> Trainer {
    let schedule = Schedule {
        peak: 1e-2,
        warmup_steps: 0,
        total_steps: 4,
        min_ratio: 0.1,
    };
    Trainer::new(
        params,
        TrainerConfig {
            optimizer: ftbench::train::default_optimizer(AdamParams {
                weight_decay: 0.01,
                ..AdamParams::default()
            }),
            ..TrainerConfig::adamw(schedule, max_grad_norm)
        },
    )
    .unwrap()
}

fn values(params: &[Trainable]) -> Vec<Vec<f64>> {
    params
        .iter()
        .map(|p| p.var.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

#[test]
fn accumulating_micro_batches_equals_one_large_batch() {
    let task = Task::new(TaskKind::Reverse, 12, 32).unwrap();
    let ex: Vec<_> = task.train_stream(7).take(2).collect();
    let dev = Device::Cpu;

    let (_, m1, p1) = setup();
    let mut t1 = trainer(p1, 0.0);
    let s1 = t1.step(&m1, &[Batch::new(&ex, &dev).unwrap()]).unwrap();

    let (_, m2, p2) = setup();
    let mut t2 = trainer(p2, 0.0);
    let s2 = t2
        .step(&m2, &[Batch::new(&ex[..1], &dev).unwrap(), Batch::new(&ex[1..], &dev).unwrap()])
        .unwrap();

    assert!((s1.loss - s2.loss).abs() < 1e-12, "{} vs {}", s1.loss, s2.loss);
    assert!((s1.grad_norm - s2.grad_norm).abs() < 1e-10 * s1.grad_norm);
    for (a, b) in values(&t1.params).iter().zip(values(&t2.params).iter()) {
        let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(d < 1e-7, "parameters differ by {d}");
    }
}

#[test]
fn reported_gradient_norm_is_the_global_l2_norm_and_steps_follow_the_schedule() {
    let (_, model, params) = setup();
    let task = Task::new(TaskKind::Reverse, 12, 32).unwrap();
    let batch = Batch::new(&task.train_stream(1).take(2).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let grads = batch_loss(&model, &batch).unwrap().backward().unwrap();
    let expect: f64 = params
        .iter()
        .map(|p| {
            grads
                .get(p.var.as_tensor())
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        })
        .sum::<f64>()
        .sqrt();
    let before = values(&params);
    let mut t = trainer(params, 0.5);
    let s = t.step(&model, &[batch.clone()]).unwrap();
    assert!((s.grad_norm - expect).abs() < 1e-10 * expect, "{} vs {expect}", s.grad_norm);
    assert!(s.grad_norm > 0.5, "this step was clipped");
    assert!(
        (s.lr
            - Schedule {
                peak: 1e-2,
                warmup_steps: 0,
                total_steps: 4,
                min_ratio: 0.1
            }
            .lr(1))
        .abs()
            < 1e-15
    );
    assert_ne!(values(&t.params), before, "the step changed the weights in place");
    let l0 = s.loss;
    for _ in 0..3 {
        t.step(&model, &[batch.clone()]).unwrap();
    }
    let l4 = batch_loss(&model, &batch).unwrap().to_scalar::<f64>().unwrap();
    assert!(l4 < l0, "four steps on one batch lower its loss: {l0} -> {l4}");
}

#[test]
fn a_non_finite_loss_is_an_error_not_a_nan_record() {
    let (_, model, params) = setup();
    let emb = params.iter().find(|p| p.name == "model.embed_tokens.weight").unwrap();
    emb.var.set(&Tensor::full(f64::NAN, emb.var.dims(), &Device::Cpu).unwrap()).unwrap();
    let task = Task::new(TaskKind::Reverse, 12, 32).unwrap();
    let batch = Batch::new(&task.train_stream(1).take(1).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let mut t = trainer(params, 1.0);
    let e = t.step(&model, &[batch]).unwrap_err().to_string();
    assert!(e.contains("loss is not finite"), "{e}");
}
