//! The CUDA path against the CPU path, on a GPU (feature `cuda`; built by scripts/build-cuda.sh
//! and run by scripts/gpu-check.sh on the GPU machine, which has no cargo). Each test runs the
//! same op or training step on both devices and compares: NF4 dequantization bit for bit, the
//! fused AdamW step and the sum of squares to f32 rounding, the linear ops forward and backward,
//! and whole training steps of every method through the decoder.
//!
//! Without a GPU these tests have nothing to compare and pass with a note, unless
//! FTBENCH_REQUIRE_GPU=1 (gpu-check.sh sets it), which makes a missing GPU a failure.
#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor, Var};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, MethodConfig};
use ftbench::model::{preset, random_weights, DecoderConfig};
use ftbench::suite::Method;
use ftbench::train::{Schedule, Trainer, TrainerConfig};
use ftbench_kernels::{adamw, AdamState, AdamWHyper, DeviceMoments, FrozenWeight, Moments, Nf4Device, Nf4Tensor};
use std::sync::Arc;

fn gpu() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(std::env::var("FTBENCH_REQUIRE_GPU").as_deref() != Ok("1"), "no GPU: {e}");
            eprintln!("no CUDA device ({e}): nothing to compare");
            None
        }
    }
}

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 500.0)
        .collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a: Vec<f32> = a.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn nf4_dequantization_on_the_gpu_is_the_cpu_bit_for_bit() {
    let Some(dev) = gpu() else { return };
    // The 7B MLP shape, and an odd one with a partial last block and a byte tail not a multiple of 4.
    for (shape, block) in [((11008, 4096), 64), ((7, 90), 64), ((3, 10), 16)] {
        let n = shape.0 * shape.1;
        for double in [false, true] {
            let t = Nf4Tensor::quantize(&values(n, 1), shape, block, double).unwrap();
            let want = t.dequantize();
            let d = Nf4Device::upload(&t, &dev).unwrap();
            let got: Vec<f32> = d.dense(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert!(got == want, "{shape:?} double_quant {double}: f32 values differ");
            let got16: Vec<half::bf16> = d.dense(DType::BF16).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let want16: Vec<half::bf16> = want.iter().map(|&x| half::bf16::from_f32(x)).collect();
            assert!(got16 == want16, "{shape:?} double_quant {double}: bf16 values differ");
        }
    }
}

fn hyper(step: u64) -> AdamWHyper {
    AdamWHyper {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.1,
        step,
        grad_scale: 0.5,
    }
}

#[test]
fn the_fused_cuda_adamw_follows_the_cpu_kernel() {
    let Some(dev) = gpu() else { return };
    let n = 300_001;
    let p0 = values(n, 2);
    let cpu = Tensor::from_vec(p0.clone(), n, &Device::Cpu).unwrap();
    let mut state = AdamState::from(Moments::zeros(n));
    for (pd, sd) in [
        (DType::F32, DType::F32),
        (DType::F32, DType::BF16),
        (DType::BF16, DType::F32),
        (DType::BF16, DType::BF16),
    ] {
        let p = Var::from_tensor(&Tensor::from_vec(p0.clone(), n, &dev).unwrap().to_dtype(pd).unwrap()).unwrap();
        let m = DeviceMoments::zeros(p.as_tensor(), sd).unwrap();
        let ref_p = Var::from_tensor(&Tensor::from_vec(p0.clone(), n, &Device::Cpu).unwrap().to_dtype(pd).unwrap()).unwrap();
        let ref_m = DeviceMoments::zeros(ref_p.as_tensor(), sd).unwrap();
        for t in 1..=5 {
            let g = Tensor::from_vec(values(n, 10 + t as usize), n, &Device::Cpu).unwrap();
            if (pd, sd) == (DType::F32, DType::F32) {
                adamw::step(&cpu, &g, &mut state, &hyper(t)).unwrap();
            }
            ftbench_kernels::adamw_device::step_composed(&ref_p, &g.to_dtype(pd).unwrap(), &ref_m, &hyper(t)).unwrap();
            ftbench_kernels::adamw_device::step_device(&p, &g.to_device(&dev).unwrap(), &m, &hyper(t)).unwrap();
        }
        let got = p.as_tensor().to_device(&Device::Cpu).unwrap();
        // f32: the CPU's arithmetic up to fused multiply-adds; bf16: within one bf16 rounding.
        let tol = if pd == DType::F32 && sd == DType::F32 { 1e-5 } else { 2e-2 };
        let d = max_abs_diff(&got, ref_p.as_tensor());
        assert!(d < tol, "{pd:?} params, {sd:?} moments: {d} from the composed step");
        if (pd, sd) == (DType::F32, DType::F32) {
            let d = max_abs_diff(&got, &cpu);
            assert!(d < 1e-5, "{d} from the CPU kernel");
        }
    }
}

#[test]
fn the_gpu_sum_of_squares_is_the_cpu_sum() {
    let Some(dev) = gpu() else { return };
    let v = values(5_000_003, 3);
    let want: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
    for dt in [DType::F32, DType::BF16] {
        let t = Tensor::from_vec(v.clone(), v.len(), &dev).unwrap().to_dtype(dt).unwrap();
        let got = ftbench_kernels::sum_squares(&t).unwrap();
        let cpu = ftbench_kernels::sum_squares(&t.to_device(&Device::Cpu).unwrap()).unwrap();
        assert!((got - cpu).abs() < 1e-4 * cpu, "{dt:?}: {got} vs CPU {cpu}");
        if dt == DType::F32 {
            assert!((got - want).abs() < 1e-4 * want);
        }
    }
}

#[test]
fn linear_ops_forward_and_backward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let (rows, inp, out, r) = (96, 256, 192, 16);
    let on = |v: Vec<f32>, s: (usize, usize), d: &Device| Tensor::from_vec(v, s, d).unwrap();
    let mut grads = Vec::new();
    for d in [Device::Cpu, dev.clone()] {
        let x = Var::from_tensor(&on(values(rows * inp, 4), (rows, inp), &d)).unwrap();
        let w: Arc<dyn FrozenWeight> = Arc::new(ftbench_kernels::DenseWeight(on(values(out * inp, 5), (out, inp), &d)));
        let a = Var::from_tensor(&(on(values(r * inp, 6), (r, inp), &d) * 0.1).unwrap()).unwrap();
        let b = Var::from_tensor(&(on(values(out * r, 7), (out, r), &d) * 0.1).unwrap()).unwrap();
        let tw = Var::from_tensor(&on(values(out * inp, 8), (out, inp), &d)).unwrap();
        let y1 = ftbench_kernels::frozen_linear(x.as_tensor(), &w).unwrap();
        let y2 = ftbench_kernels::lora_linear(x.as_tensor(), &w, a.as_tensor(), b.as_tensor(), 2.0, None).unwrap();
        let y3 = ftbench_kernels::linear(x.as_tensor(), tw.as_tensor()).unwrap();
        let loss = ((y1.sqr().unwrap().sum_all().unwrap() + y2.sqr().unwrap().sum_all().unwrap()).unwrap()
            + y3.sqr().unwrap().sum_all().unwrap())
        .unwrap();
        let g = loss.backward().unwrap();
        let cpu = |t: &Tensor| t.to_device(&Device::Cpu).unwrap();
        grads.push(vec![
            cpu(&y1),
            cpu(&y2),
            cpu(&y3),
            cpu(g.get(x.as_tensor()).unwrap()),
            cpu(g.get(a.as_tensor()).unwrap()),
            cpu(g.get(b.as_tensor()).unwrap()),
            cpu(g.get(tw.as_tensor()).unwrap()),
        ]);
    }
    for (i, (c, g)) in grads[0].iter().zip(&grads[1]).enumerate() {
        let scale = c.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0);
        let d = max_abs_diff(c, g);
        assert!(d < 1e-4 * scale, "output {i}: {d} (scale {scale})");
    }
}

/// Three training steps of `method` on the tiny preset, on `dev`, in f32: the losses.
fn losses(method: &str, dev: &Device, precision: &str) -> Vec<f64> {
    let cfg = DecoderConfig {
        vocab_size: 64,
        ..preset("tiny").unwrap()
    };
    let p = ftbench::model::precision(precision).unwrap();
    let mut w = random_weights(&cfg, 5, p.master, dev).unwrap();
    let built = method::build(&cfg, &mut w, &MethodConfig::defaults(Method::named(method), 0), p, dev).unwrap();
    let mut model = built.decoder;
    model.recompute = true;
    let schedule = Schedule {
        peak: 1e-2,
        warmup_steps: 0,
        total_steps: 3,
        min_ratio: 0.1,
    };
    let mut t = Trainer::new(built.trainable.clone(), TrainerConfig::adamw(schedule, 1.0)).unwrap();
    let task = Task::new(TaskKind::Reverse, 16, 64).unwrap();
    let mut stream = task.train_stream(3);
    (0..3)
        .map(|_| {
            let b = Batch::new(&stream.by_ref().take(4).collect::<Vec<_>>(), dev).unwrap();
            t.step(&model, &[b]).unwrap().loss
        })
        .collect()
}

#[test]
fn every_method_trains_on_the_gpu_as_on_the_cpu() {
    let Some(dev) = gpu() else { return };
    for m in ["full", "lora", "qlora", "dora", "qdora", "lora-plus"] {
        let (c, g) = (losses(m, &Device::Cpu, "f32"), losses(m, &dev, "f32"));
        for (a, b) in c.iter().zip(&g) {
            assert!((a - b).abs() < 1e-3 * a.abs().max(1.0), "{m}: CPU {c:?} vs GPU {g:?}");
        }
        // bf16 on the GPU: the same run within bf16's rounding.
        let h = losses(m, &dev, "bf16-mixed");
        assert!((h[0] - c[0]).abs() < 0.05 * c[0], "{m} bf16-mixed: {h:?} vs f32 {c:?}");
        assert!(h.iter().all(|l| l.is_finite()));
    }
}

#[test]
fn the_pool_high_water_mark_sees_a_tensor_come_and_go() {
    let Some(dev) = gpu() else { return };
    ftbench::probe::pool_keep_freed(&dev).unwrap();
    ftbench::probe::pool_reset_peaks(&dev).unwrap();
    let before = ftbench::probe::read_pool(&dev).unwrap().unwrap();
    let t = Tensor::zeros((256, 1024, 1024), DType::F32, &dev).unwrap(); // 1 GiB
    drop(t);
    let after = ftbench::probe::read_pool(&dev).unwrap().unwrap();
    assert!(after.used_high_bytes >= before.used_bytes + (1 << 30), "{before:?} → {after:?}");
    assert!(after.used_bytes < before.used_bytes + (1 << 20), "freed: {after:?}");
    assert!(after.reserved_bytes >= 1 << 30, "the pool keeps what was freed: {after:?}");
}

#[test]
fn the_fused_row_ops_forward_and_backward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    const B: usize = 2;
    const KVH: usize = 3;
    const REP: usize = 2;
    const T: usize = 37;
    const H: usize = 200;
    // Each op as a closure over (device, dtype): its output and its inputs' gradients.
    type Run = dyn Fn(&Device, DType) -> Vec<Tensor>;
    let rms: &Run = &|d, dt| {
        let x = Var::from_tensor(&Tensor::from_vec(values(B * T * H, 11), (B, T, H), d).unwrap().to_dtype(dt).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::from_vec(values(H, 12), H, d).unwrap().to_dtype(dt).unwrap()).unwrap();
        let y = ftbench_kernels::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap();
        let g = (y.to_dtype(DType::F32).unwrap().sqr().unwrap().sum_all().unwrap())
            .backward()
            .unwrap();
        vec![y, g.get(x.as_tensor()).unwrap().clone(), g.get(w.as_tensor()).unwrap().clone()]
    };
    // SwiGLU (Llama, Qwen, Phi-3) and GeGLU (Gemma): one kernel, the activation an argument.
    fn gated(d: &Device, dt: DType, act: fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>) -> Vec<Tensor> {
        let g0 = Var::from_tensor(&Tensor::from_vec(values(T * H, 13), (T, H), d).unwrap().to_dtype(dt).unwrap()).unwrap();
        let u0 = Var::from_tensor(&Tensor::from_vec(values(T * H, 14), (T, H), d).unwrap().to_dtype(dt).unwrap()).unwrap();
        let y = act(g0.as_tensor(), u0.as_tensor()).unwrap();
        let g = (y.to_dtype(DType::F32).unwrap().sqr().unwrap().sum_all().unwrap())
            .backward()
            .unwrap();
        vec![y, g.get(g0.as_tensor()).unwrap().clone(), g.get(u0.as_tensor()).unwrap().clone()]
    }
    let swiglu: &Run = &|d, dt| gated(d, dt, ftbench_kernels::swiglu);
    let geglu: &Run = &|d, dt| gated(d, dt, ftbench_kernels::geglu);
    // Plain causal, and Gemma's local layers: a sliding window of 5 keys over T = 37 positions.
    fn softmax_in(d: &Device, dt: DType, window: Option<usize>) -> Vec<Tensor> {
        let n = B * KVH * REP * T * T;
        let s = Var::from_tensor(
            &Tensor::from_vec(values(n, 15), (B, KVH, REP * T, T), d)
                .unwrap()
                .to_dtype(dt)
                .unwrap(),
        )
        .unwrap();
        let p = ftbench_kernels::causal_softmax(s.as_tensor(), 0.125, T, 0, window).unwrap();
        let wts = Tensor::from_vec(values(n, 16), (B, KVH, REP * T, T), d)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let g = (p.to_dtype(DType::F32).unwrap() * wts)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        vec![p, g.get(s.as_tensor()).unwrap().clone()]
    }
    let softmax: &Run = &|d, dt| softmax_in(d, dt, None);
    let softmax_window: &Run = &|d, dt| softmax_in(d, dt, Some(5));
    let rope: &Run = &|d, dt| {
        let (heads, hd, positions, start) = (KVH, 64, T + 5, 3);
        let x = Var::from_tensor(
            &Tensor::from_vec(values(B * T * heads * hd, 17), (B, T, heads * hd), d)
                .unwrap()
                .to_dtype(dt)
                .unwrap(),
        )
        .unwrap();
        let angle = |i: usize| (i % hd) as f32 * 0.01 + (i / hd) as f32 * 0.3;
        let cos = Tensor::from_vec((0..positions * hd).map(|i| angle(i).cos()).collect::<Vec<_>>(), (positions, hd), d)
            .unwrap()
            .to_dtype(dt)
            .unwrap();
        let sin = Tensor::from_vec((0..positions * hd).map(|i| angle(i).sin()).collect::<Vec<_>>(), (positions, hd), d)
            .unwrap()
            .to_dtype(dt)
            .unwrap();
        let y = ftbench_kernels::rope_heads(x.as_tensor(), &cos, &sin, heads, start).unwrap();
        let wts = Tensor::from_vec(values(y.elem_count(), 18), y.shape(), d).unwrap();
        let g = (y.to_dtype(DType::F32).unwrap() * wts)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        vec![y, g.get(x.as_tensor()).unwrap().clone()]
    };
    for (name, run) in [
        ("rms_norm", rms),
        ("swiglu", swiglu),
        ("geglu", geglu),
        ("causal_softmax", softmax),
        ("sliding_window", softmax_window),
        ("rope", rope),
    ] {
        let cpu = run(&Device::Cpu, DType::F32);
        for (dt, tol) in [(DType::F32, 1e-4f32), (DType::BF16, 3e-2)] {
            let got = run(&dev, dt);
            for (i, (c, g)) in cpu.iter().zip(&got).enumerate() {
                let scale = c.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0);
                let d = max_abs_diff(c, &g.to_device(&Device::Cpu).unwrap());
                assert!(d < tol * scale, "{name} {dt:?} output {i}: {d} (scale {scale})");
            }
        }
    }
}

#[test]
fn the_chunked_lm_head_loss_on_the_gpu_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let (n, d, vocab) = (300, 64, 5003);
    let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % vocab as u32).collect();
    let run = |device: &Device, dt: DType| {
        let h = Var::from_tensor(&Tensor::from_vec(values(n * d, 21), (n, d), device).unwrap().to_dtype(dt).unwrap()).unwrap();
        let w = Var::from_tensor(
            &(Tensor::from_vec(values(vocab * d, 22), (vocab, d), device).unwrap() * 0.1)
                .unwrap()
                .to_dtype(dt)
                .unwrap(),
        )
        .unwrap();
        let t = Tensor::from_vec(targets.clone(), n, device).unwrap();
        let loss = ftbench_kernels::cross_entropy::linear_cross_entropy_chunked(h.as_tensor(), w.as_tensor(), &t, 64 * 1024).unwrap();
        let g = loss.backward().unwrap();
        let cpu = |x: &Tensor| x.to_device(&Device::Cpu).unwrap();
        vec![cpu(&loss), cpu(g.get(h.as_tensor()).unwrap()), cpu(g.get(w.as_tensor()).unwrap())]
    };
    let want = run(&Device::Cpu, DType::F32);
    for (dt, tol) in [(DType::F32, 1e-4f32), (DType::BF16, 3e-2)] {
        let got = run(&dev, dt);
        for (i, (c, g)) in want.iter().zip(&got).enumerate() {
            let scale = c.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-3);
            let diff = max_abs_diff(c, g);
            assert!(diff < tol * scale.max(1.0), "{dt:?} output {i}: {diff} (scale {scale})");
        }
    }
}

#[test]
fn the_gpu_ops_refuse_what_the_cpu_ops_refuse_and_the_context_survives() {
    let Some(dev) = gpu() else { return };
    // The CPU's fused ops run in f32; the GPU's in bf16, as cells do.
    for (d, dt) in [(Device::Cpu, DType::F32), (dev.clone(), DType::BF16)] {
        let on = |v: Vec<f32>, shape: &[usize]| Tensor::from_vec(v, shape, &d).unwrap().to_dtype(dt).unwrap();
        // A target id outside the vocabulary: an error, not a device-side out-of-bounds read.
        let (h, w) = (on(values(4 * 8, 1), &[4, 8]), on(values(10 * 8, 2), &[10, 8]));
        let bad = Tensor::from_vec(vec![0u32, 1, 2, 10], 4, &d).unwrap();
        let e = ftbench_kernels::linear_cross_entropy(&h, &w, &bad).unwrap_err().to_string();
        assert!(e.contains("outside the vocabulary"), "{d:?}: {e}");
        // Scores that do not hold the queries the op is told of.
        let s = on(values(3 * 5, 3), &[3, 5]);
        assert!(
            ftbench_kernels::causal_softmax(&s, 1.0, 2, 0, None).is_err(),
            "{d:?}: 3 rows, groups of 2"
        );
        assert!(
            ftbench_kernels::causal_softmax(&s, 1.0, 3, 3, None).is_err(),
            "{d:?}: positions 3..6 over 5 keys"
        );
        // An RMSNorm weight of the wrong width.
        let x = on(values(2 * 6, 4), &[2, 6]);
        assert!(
            ftbench_kernels::rms_norm(&x, &on(values(5, 5), &[5]), 1e-5).is_err(),
            "{d:?}: width 5 for 6"
        );
        // The loss is f32 (bf16 inputs included).
        let good = Tensor::from_vec(vec![0u32, 1, 2, 9], 4, &d).unwrap();
        assert_eq!(ftbench_kernels::linear_cross_entropy(&h, &w, &good).unwrap().dtype(), DType::F32);
    }
    // The context is still usable: no sticky error was left behind.
    let t = Tensor::from_vec(values(1000, 6), 1000, &dev).unwrap();
    assert!(t.sum_all().unwrap().to_scalar::<f32>().unwrap().is_finite());
}
