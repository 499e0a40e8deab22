//! LoRA and QLoRA: gradients only where they belong, PEFT's start state, finite differences,
//! and adapters that round-trip through PEFT's on-disk layout.

use candle_core::{DType, Device, Tensor, Var};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, Built, MethodConfig};
use ftbench::model::{preset, random_weights, DecoderConfig};
use ftbench::suite::Method;
use ftbench::train::{batch_loss, target_logits, Schedule, Trainer, TrainerConfig};
use ftbench_kernels::{frozen_linear, DenseWeight, FrozenWeight};
use std::sync::Arc;

fn cfg() -> DecoderConfig {
    DecoderConfig {
        vocab_size: 32,
        hidden_size: 16,
        intermediate_size: 24,
        tie_word_embeddings: true,
        initializer_range: 0.3,
        ..preset("tiny").unwrap()
    }
}

fn built(method: Method, dtype: DType, rank: usize) -> Built {
    let c = cfg();
    let mut mc = MethodConfig::defaults(method, 4);
    mc.lora.rank = rank;
    mc.nf4_block_size = 16;
    method::build(
        &c,
        &mut random_weights(&c, 9, dtype, &Device::Cpu).unwrap(),
        &mc,
        dtype,
        &Device::Cpu,
    )
    .unwrap()
}

fn batch() -> Batch {
    let task = Task::new(TaskKind::Reverse, 12, 32).unwrap();
    Batch::new(&task.train_stream(2).take(2).collect::<Vec<_>>(), &Device::Cpu).unwrap()
}

/// Sets B to small random values so every adapter path carries gradient to A as well.
fn perturb_b(b: &Built) {
    for (i, t) in b.trainable.iter().filter(|t| t.name.ends_with("lora_B.weight")).enumerate() {
        let n = t.var.elem_count();
        let v: Vec<f64> = (0..n).map(|j| (((i * 31 + j * 17) % 13) as f64 - 6.0) / 40.0).collect();
        t.var
            .set(
                &Tensor::from_vec(v, t.var.dims(), &Device::Cpu)
                    .unwrap()
                    .to_dtype(t.var.dtype())
                    .unwrap(),
            )
            .unwrap();
    }
}

#[test]
fn lora_with_b_zero_leaves_the_logits_unchanged() {
    let b = batch();
    let logits = |built: &Built| target_logits(&built.decoder, &b).unwrap();
    let max_abs = |t: Tensor| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    // LoRA over the dense base: exactly the untouched model.
    let diff =
        max_abs((logits(&built(Method::named("base"), DType::F32, 4)) - logits(&built(Method::named("lora"), DType::F32, 4))).unwrap());
    assert_eq!(diff, 0.0, "lora: B = 0 adds exactly nothing");
    // QLoRA over its NF4 base: the untouched model whose linears are the same NF4 weights,
    // dequantized (the packed matmul sums in another order, hence the tolerance).
    let c = cfg();
    let mc = MethodConfig::defaults(Method::named("qlora"), 4);
    let mut weights = random_weights(&c, 9, DType::F32, &Device::Cpu).unwrap();
    for (name, w) in weights.iter_mut() {
        if method::LINEAR_MODULES.iter().any(|m| name.ends_with(&format!(".{m}.weight"))) {
            *w = method::quantize_weight(w, 16, mc.nf4_double_quant)
                .unwrap()
                .dequantize_tensor(&Device::Cpu)
                .unwrap();
        }
    }
    let mut base_mc = MethodConfig::defaults(Method::named("base"), 4);
    base_mc.nf4_block_size = 16;
    let nf4_base = method::build(&c, &mut weights, &base_mc, DType::F32, &Device::Cpu).unwrap();
    let (x, y) = (logits(&nf4_base), logits(&built(Method::named("qlora"), DType::F32, 4)));
    let scale = max_abs(x.clone());
    let diff = max_abs((x - y).unwrap());
    assert!(
        diff <= 1e-5 * scale,
        "qlora: B = 0 changed the logits by {diff} (max |logit| {scale})"
    );
}

#[test]
fn no_base_weight_gets_a_gradient() {
    let task = Task::new(TaskKind::Reverse, 12, 32).unwrap();
    let bt = Batch::new(&task.train_stream(2).take(3).collect::<Vec<_>>(), &Device::Cpu).unwrap(); // 36 rows: no activation has a weight's shape
    let weight_shapes: Vec<Vec<usize>> = ftbench::model::weight_shapes(&cfg())
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.len() == 2)
        .collect();
    for m in [Method::named("lora"), Method::named("qlora")] {
        let b = built(m, DType::F32, 4);
        // 2 layers × 7 linears × (A, B)
        assert_eq!(b.trainable.len(), 28);
        assert!(b.trainable.iter().all(|t| t.name.contains(".lora_")));
        let grads = batch_loss(&b.decoder, &bt).unwrap().backward().unwrap();
        for t in &b.trainable {
            assert!(grads.get(t.var.as_tensor()).is_some(), "{m}: {} has a gradient", t.name);
        }
        assert!(grads.get(&b.decoder.embed).is_none(), "{m}: the frozen embedding has no gradient");
        let adapter_ids: Vec<_> = b.trainable.iter().map(|t| t.var.as_tensor().id()).collect();
        for id in grads.get_ids().filter(|id| !adapter_ids.contains(id)) {
            let g = grads.get_id(*id).unwrap();
            assert!(
                !weight_shapes.contains(&g.dims().to_vec()),
                "{m}: a gradient of shape {:?} (a base weight's) was kept",
                g.dims()
            );
        }
    }
}

#[test]
fn frozen_linear_gradient_matches_finite_differences_and_the_dense_path() {
    let x = Tensor::from_vec(
        (0..30).map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0).collect::<Vec<_>>(),
        (2, 3, 5),
        &Device::Cpu,
    )
    .unwrap();
    let w = Tensor::from_vec(
        (0..20).map(|i| ((i * 3) % 7) as f64 / 3.0 - 1.0).collect::<Vec<_>>(),
        (4, 5),
        &Device::Cpu,
    )
    .unwrap();
    let r = Tensor::from_vec(
        (0..24).map(|i| ((i * 5) % 9) as f64 - 4.0).collect::<Vec<_>>(),
        (2, 3, 4),
        &Device::Cpu,
    )
    .unwrap();
    let weight: Arc<dyn FrozenWeight> = Arc::new(DenseWeight(w.clone()));
    let xv = Var::from_tensor(&x).unwrap();
    let y = frozen_linear(xv.as_tensor(), &weight).unwrap();
    assert_eq!(
        y.to_vec3::<f64>().unwrap(),
        ftbench::nn::matmul_t(&x, &w).unwrap().to_vec3::<f64>().unwrap()
    );
    let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = g.get(xv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let f = |v: Vec<f64>| {
        let xt = Tensor::from_vec(v, (2, 3, 5), &Device::Cpu).unwrap();
        (ftbench::nn::matmul_t(&xt, &w).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    for j in 0..base.len() {
        let (mut p, mut m) = (base.clone(), base.clone());
        p[j] += 1e-6;
        m[j] -= 1e-6;
        let fd = (f(p) - f(m)) / 2e-6;
        assert!((gx[j] - fd).abs() < 1e-6 * (1.0 + fd.abs()), "x[{j}]: {} vs {fd}", gx[j]);
    }
}

/// Finite differences of the loss in every adapter tensor (a sample of elements), in f64.
/// DoRA's A and B are left out here: its weight norm is a constant in backward (as in PEFT),
/// so their gradient is not the loss's derivative; tests/dora.rs checks them against PEFT and
/// against finite differences with the norm held constant. Its magnitudes are checked here.
fn adapter_gradients(m: Method) {
    let b = built(m, DType::F64, 2);
    perturb_b(&b);
    let bt = batch();
    let loss = || batch_loss(&b.decoder, &bt).unwrap().to_scalar::<f64>().unwrap();
    let grads = batch_loss(&b.decoder, &bt).unwrap().backward().unwrap();
    let dora = b.trainable.iter().any(|t| t.name.ends_with(".lora_magnitude_vector"));
    for t in b.trainable.iter().filter(|t| !dora || t.name.ends_with(".lora_magnitude_vector")) {
        let g = grads
            .get(t.var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = t.var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for j in (0..base.len()).step_by((base.len() / 4).max(1)) {
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                t.var.set(&Tensor::from_vec(v, t.var.dims(), &Device::Cpu).unwrap()).unwrap();
                loss()
            };
            let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
            t.var
                .set(&Tensor::from_vec(base.clone(), t.var.dims(), &Device::Cpu).unwrap())
                .unwrap();
            assert!(
                (g[j] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "{m} {}[{j}]: autograd {} vs finite difference {fd}",
                t.name,
                g[j]
            );
        }
    }
}

#[test]
fn lora_adapter_gradients_match_finite_differences() {
    adapter_gradients(Method::named("lora"));
}

#[test]
fn qlora_adapter_gradients_match_finite_differences() {
    adapter_gradients(Method::named("qlora"));
}

#[test]
fn dora_and_qdora_magnitude_gradients_match_finite_differences_through_the_decoder() {
    adapter_gradients(Method::named("dora"));
    adapter_gradients(Method::named("qdora"));
}

#[test]
fn lora_plus_gradients_match_finite_differences() {
    adapter_gradients(Method::named("lora-plus"));
}

#[test]
fn record_counts_and_bytes() {
    let c = cfg();
    let (full, lora, qlora) = (
        built(Method::named("full"), DType::F32, 4),
        built(Method::named("lora"), DType::F32, 4),
        built(Method::named("qlora"), DType::F32, 4),
    );
    let base = c.num_parameters() as u64;
    // per layer: q (16→16), k, v (16→8), o (16→16), gate, up (16→24), down (24→16); A: r×in, B: out×r
    let per_layer: u64 = [(16, 16), (8, 16), (8, 16), (16, 16), (24, 16), (24, 16), (16, 24)]
        .iter()
        .map(|(o, i)| 4 * (o + i))
        .sum();
    assert_eq!(lora.params_adapters, 2 * per_layer);
    assert_eq!(qlora.params_adapters, lora.params_adapters);
    assert_eq!(full.bytes.dense, 4 * base);
    assert_eq!(lora.bytes.dense, 4 * base);
    assert_eq!(lora.bytes.adapters, 4 * lora.params_adapters);
    let linear_params: u64 = 2 * [(16, 16), (8, 16), (8, 16), (16, 16), (24, 16), (24, 16), (16, 24)]
        .iter()
        .map(|(o, i)| o * i)
        .sum::<u64>();
    assert_eq!(qlora.bytes.nf4_packed, linear_params / 2, "two NF4 codes per byte");
    assert_eq!(qlora.bytes.dense, 4 * (base - linear_params), "embedding and norms stay dense");
    assert!(qlora.bytes.quant_constants > 0);
}

#[test]
fn adapters_round_trip_through_the_peft_layout() {
    let b = built(Method::named("lora"), DType::F32, 4);
    let schedule = Schedule {
        peak: 1e-2,
        warmup_steps: 0,
        total_steps: 3,
        min_ratio: 1.0,
    };
    let mut t = Trainer::new(b.trainable.clone(), TrainerConfig::adamw(schedule, 1.0)).unwrap();
    let bt = batch();
    for _ in 0..3 {
        t.step(&b.decoder, &[bt.clone()]).unwrap();
    }
    let trained = target_logits(&b.decoder, &bt).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("adapter");
    let mut mc = MethodConfig::defaults(Method::named("lora"), 4);
    mc.lora.rank = 4;
    method::save_adapter(&dir, &b, &mc, "preset:tiny").unwrap();

    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(config["target_modules"].as_array().unwrap().len(), 7);
    let tensors = candle_core::safetensors::load(dir.join("adapter_model.safetensors"), &Device::Cpu).unwrap();
    assert!(tensors.contains_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    assert!(tensors.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    assert_eq!(
        tensors["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"].dims(),
        &[8, 4]
    );

    let info = method::load_adapter(&dir).unwrap();
    assert_eq!(
        (info.base_model.as_deref(), info.base_seed, info.lora.rank),
        (Some("preset:tiny"), Some(4), 4)
    );
    let fresh = built(Method::named("lora"), DType::F32, 4);
    assert_ne!(
        target_logits(&fresh.decoder, &bt).unwrap().to_vec2::<f32>().unwrap(),
        trained.to_vec2::<f32>().unwrap()
    );
    info.apply(&fresh).unwrap();
    assert_eq!(
        target_logits(&fresh.decoder, &bt).unwrap().to_vec2::<f32>().unwrap(),
        trained.to_vec2::<f32>().unwrap()
    );

    // A model with other adapters is refused with the tensor named.
    let other = built(Method::named("lora"), DType::F32, 2);
    let e = info.apply(&other).unwrap_err().to_string();
    assert!(e.contains("expected shape [2, 16], found [4, 16]"), "{e}");
}

#[test]
fn fused_lora_op_with_dropout_matches_the_composed_ops() {
    let dev = Device::Cpu;
    let seq = |n: usize, k: usize| (0..n).map(|i| (((i * k) % 17) as f64 - 8.0) / 9.0).collect::<Vec<f64>>();
    let x = Tensor::from_vec(seq(2 * 3 * 6, 5), (2, 3, 6), &dev).unwrap();
    let w = Tensor::from_vec(seq(4 * 6, 7), (4, 6), &dev).unwrap();
    let mask = Tensor::from_vec(
        (0..36).map(|i| if i % 3 == 0 { 0.0 } else { 1.5 }).collect::<Vec<f64>>(),
        (2, 3, 6),
        &dev,
    )
    .unwrap();
    let (a, b) = (
        Var::from_vec(seq(2 * 6, 3), (2, 6), &dev).unwrap(),
        Var::from_vec(seq(4 * 2, 11), (4, 2), &dev).unwrap(),
    );
    let xv = Var::from_tensor(&x).unwrap();
    let r = Tensor::from_vec(seq(24, 13), (2, 3, 4), &dev).unwrap();
    let weight: Arc<dyn FrozenWeight> = Arc::new(DenseWeight(w.clone()));
    let fused = ftbench_kernels::lora_linear(xv.as_tensor(), &weight, a.as_tensor(), b.as_tensor(), 0.75, Some(mask.clone())).unwrap();
    let composed = (ftbench::nn::matmul_t(xv.as_tensor(), &w).unwrap()
        + (ftbench::nn::matmul_t(
            &ftbench::nn::matmul_t(&(xv.as_tensor() * &mask).unwrap(), a.as_tensor()).unwrap(),
            b.as_tensor(),
        )
        .unwrap()
            * 0.75)
            .unwrap())
    .unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let close = |p: Vec<f64>, q: Vec<f64>, what: &str| {
        assert!(p.iter().zip(&q).all(|(u, v)| (u - v).abs() < 1e-12), "{what}: {p:?} vs {q:?}");
    };
    close(flat(&fused), flat(&composed), "output");
    let g1 = (fused * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let g2 = (composed * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (t, what) in [(xv.as_tensor(), "dx"), (a.as_tensor(), "dA"), (b.as_tensor(), "dB")] {
        close(flat(g1.get(t).unwrap()), flat(g2.get(t).unwrap()), what);
    }
}

/// Activation recompute changes what is kept, never the update: one training step with and
/// without it gives the same parameters, for every method, with adapter dropout on (the re-run
/// must draw the same masks) and with the composed ops too.
#[test]
fn recompute_gives_the_same_update_for_every_method() {
    for method in Method::all().filter(|m| m.trains()) {
        for fused in [true, false] {
            let run = |recompute: bool| {
                let c = cfg();
                let mut mc = MethodConfig::defaults(method, 4);
                mc.lora.dropout = 0.2;
                mc.nf4_block_size = 16;
                let mut b = method::build(
                    &c,
                    &mut random_weights(&c, 9, DType::F64, &Device::Cpu).unwrap(),
                    &mc,
                    DType::F64,
                    &Device::Cpu,
                )
                .unwrap();
                perturb_b(&b);
                (b.decoder.fused, b.decoder.recompute) = (fused, recompute);
                b.dropout.set_training(true);
                let schedule = Schedule {
                    peak: 1e-2,
                    warmup_steps: 0,
                    total_steps: 2,
                    min_ratio: 1.0,
                };
                let cfg = TrainerConfig::adamw(schedule, 0.0);
                let mut t = Trainer::new(b.trainable.clone(), cfg).unwrap();
                let s = t.step(&b.decoder, &[batch()]).unwrap();
                let params: Vec<Vec<f64>> = b
                    .trainable
                    .iter()
                    .map(|p| p.var.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
                    .collect();
                (s.grad_norm, params)
            };
            let (norm_plain, plain) = run(false);
            let (norm_re, re) = run(true);
            assert!(
                (norm_plain - norm_re).abs() < 1e-10 * norm_plain,
                "{method:?} fused={fused}: gradient norm {norm_plain} vs {norm_re} under recompute"
            );
            for (a, b) in plain.iter().flatten().zip(re.iter().flatten()) {
                assert!((a - b).abs() < 1e-10, "{method:?} fused={fused}: {a} vs {b}");
            }
        }
    }
}
