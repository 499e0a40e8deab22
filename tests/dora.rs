//! DoRA and QDoRA against PEFT, and LoRA+'s learning rates.
//!
//! `tests/data/dora_peft_1.safetensors` (from shared/testdata) holds PEFT 0.21.2's DoRA layer (r = 4, α = 8,
//! one linear 24 → 16, float64): its output and the gradients of A, B and the magnitude. PEFT
//! holds the weight norm ‖W + s·BA‖ constant in backward (DoRA paper §4.3); so does ftbench, so
//! the gradients must equal PEFT's — and a finite difference of the formula with the norm frozen
//! at its forward value.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, weight_norm, DoraLinear, LoraLinear, Method};
use ftbench::model::{preset, random_weights};
use ftbench::nn::{Adapter, Dropout, Linear};
use ftbench_kernels::DenseWeight;
use std::collections::HashMap;
use std::sync::Arc;

fn peft_case() -> HashMap<String, Tensor> {
    // A copy of shared/testdata/dora_peft_1.safetensors (9 KB), so the project carries it.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dora_peft_1.safetensors");
    candle_core::safetensors::load(&p, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// The PEFT case as ftbench's DoRA layer (scale α/r = 2), with dropout `p`.
fn dora_of(t: &HashMap<String, Tensor>, p: f64) -> DoraLinear {
    let lora = LoraLinear {
        base: Linear::Frozen(Arc::new(DenseWeight(t["base_weight"].clone()))),
        a: Var::from_tensor(&t["lora_A"]).unwrap(),
        b: Var::from_tensor(&t["lora_B"]).unwrap(),
        scale: 2.0,
        dropout: Dropout::new(p, 7),
    };
    DoraLinear {
        lora,
        magnitude: Var::from_tensor(&t["magnitude"]).unwrap(),
    }
}

#[test]
fn dora_output_and_gradients_equal_pefts() {
    let t = peft_case();
    let d = dora_of(&t, 0.0);
    let y = d.forward(&t["x"]).unwrap();
    let dy = max_diff(&y, &t["y"]);
    assert!(dy < 1e-12, "output differs from PEFT's by {dy:e}");
    let grads = (y * &t["upstream_grad"]).unwrap().sum_all().unwrap().backward().unwrap();
    for (var, key) in [
        (&d.lora.a, "grad_lora_A"),
        (&d.lora.b, "grad_lora_B"),
        (&d.magnitude, "grad_magnitude"),
    ] {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {key}"));
        let diff = max_diff(g, &t[key]);
        assert!(diff < 1e-11, "{key} differs from PEFT's by {diff:e}");
    }
}

#[test]
fn magnitude_starts_at_the_row_norms_of_the_base() {
    let t = peft_case();
    let mut d = dora_of(&t, 0.0);
    d.lora.b = Var::zeros(d.lora.b.dims(), DType::F64, &Device::Cpu).unwrap();
    let diff = max_diff(&weight_norm(&d.lora).unwrap(), &t["magnitude_at_init"]);
    assert!(diff < 1e-12, "‖W‖ per row differs from PEFT's initial magnitude by {diff:e}");
}

/// y(A, B, m) with the weight norm frozen at n0 (the function PEFT and ftbench differentiate).
fn frozen_norm_forward(t: &HashMap<String, Tensor>, a: &Tensor, b: &Tensor, m: &Tensor, n0: &Tensor) -> f64 {
    let x = &t["x"];
    let w = &t["base_weight"];
    let u = (x.matmul(&w.t().unwrap()).unwrap() + (x.matmul(&a.t().unwrap()).unwrap().matmul(&b.t().unwrap()).unwrap() * 2.0).unwrap())
        .unwrap();
    let g = (m / n0).unwrap();
    (u.broadcast_mul(&g).unwrap() * &t["upstream_grad"])
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn dora_gradients_equal_finite_differences_with_the_norm_held_constant() {
    let t = peft_case();
    let d = dora_of(&t, 0.0);
    let n0 = weight_norm(&d.lora).unwrap();
    let x = Var::from_tensor(&t["x"]).unwrap();
    let y = d.forward(x.as_tensor()).unwrap();
    let grads = (y * &t["upstream_grad"]).unwrap().sum_all().unwrap().backward().unwrap();
    let (a0, b0, m0) = (t["lora_A"].clone(), t["lora_B"].clone(), t["magnitude"].clone());
    let h = 1e-6;
    // Every element of A, B and m, by central differences of the frozen-norm function.
    for which in 0..3 {
        let base = [&a0, &b0, &m0][which];
        let analytic: Vec<f64> = grads
            .get([d.lora.a.as_tensor(), d.lora.b.as_tensor(), d.magnitude.as_tensor()][which])
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let flat: Vec<f64> = base.flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..flat.len() {
            let bump = |delta: f64| {
                let mut v = flat.clone();
                v[i] += delta;
                let p = Tensor::from_vec(v, base.shape(), &Device::Cpu).unwrap();
                let (a, b, m) = match which {
                    0 => (&p, &b0, &m0),
                    1 => (&a0, &p, &m0),
                    _ => (&a0, &b0, &p),
                };
                frozen_norm_forward(&t, a, b, m, &n0)
            };
            let fd = (bump(h) - bump(-h)) / (2.0 * h);
            assert!(
                (fd - analytic[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "tensor {which} element {i}: finite difference {fd} vs gradient {}",
                analytic[i]
            );
        }
    }
    // The input's gradient: the norm does not depend on x, so the plain forward's finite difference.
    let gx: Vec<f64> = grads.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let flat: Vec<f64> = t["x"].flatten_all().unwrap().to_vec1().unwrap();
    for i in (0..flat.len()).step_by(7) {
        let f = |delta: f64| {
            let mut v = flat.clone();
            v[i] += delta;
            let xv = Tensor::from_vec(v, t["x"].shape(), &Device::Cpu).unwrap();
            (d.forward(&xv).unwrap() * &t["upstream_grad"])
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let fd = (f(h) - f(-h)) / (2.0 * h);
        assert!((fd - gx[i]).abs() < 1e-6 * (1.0 + fd.abs()), "x[{i}]: {fd} vs {}", gx[i]);
    }
}

#[test]
fn dora_with_dropout_is_pefts_form() {
    // PEFT: y = W·x + (g − 1) ⊙ W·d(x) + g ⊙ s·B·A·d(x), d the dropout of x.
    let t = peft_case();
    let d = dora_of(&t, 0.5);
    d.lora.dropout.set_training(true);
    let x = &t["x"];
    let from = d.lora.dropout.snapshot().unwrap();
    let y = d.forward(x).unwrap();
    let mask = d.lora.dropout.replay(&from, || d.lora.dropout.mask(x)).unwrap().unwrap().unwrap();
    let xd = (x * &mask).unwrap();
    let w = &t["base_weight"];
    let g = (&t["magnitude"] / weight_norm(&d.lora).unwrap()).unwrap();
    let wx = x.matmul(&w.t().unwrap()).unwrap();
    let wxd = xd.matmul(&w.t().unwrap()).unwrap();
    let bax = (xd
        .matmul(&t["lora_A"].t().unwrap())
        .unwrap()
        .matmul(&t["lora_B"].t().unwrap())
        .unwrap()
        * 2.0)
        .unwrap();
    let want = (wx + wxd.broadcast_mul(&(&g - 1.0).unwrap()).unwrap() + bax.broadcast_mul(&g).unwrap()).unwrap();
    let diff = max_diff(&y, &want);
    assert!(diff < 1e-12, "dropout path differs from PEFT's form by {diff:e}");
    assert!(
        mask.flatten_all().unwrap().to_vec1::<f64>().unwrap().contains(&0.0),
        "dropout dropped something"
    );
}

#[test]
fn dora_merges_into_the_weight_as_peft_does() {
    let t = peft_case();
    let d = dora_of(&t, 0.0);
    let merged = d.merged_weight().unwrap().expect("a dense base merges");
    let direct = t["x"].matmul(&merged.t().unwrap()).unwrap();
    let diff = max_diff(&direct, &t["y"]);
    assert!(diff < 1e-12, "merged weight's output differs from PEFT's by {diff:e}");
}

fn tiny_built(name: &str, k: &ftbench::suite::Knobs) -> method::Built {
    let cfg = preset("tiny").unwrap();
    let mut src = random_weights(&cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let mc = ftbench::suite::Cell::new("preset:tiny", Method::named(name), "cpu", 3, k.clone())
        .plan()
        .unwrap()
        .method;
    method::build(&cfg, &mut src, &mc, DType::F32, &Device::Cpu).unwrap()
}

#[test]
fn qdora_magnitudes_are_the_norms_of_the_dequantized_base_and_dora_adds_one_per_row() {
    let k = ftbench::suite::Knobs::default();
    let lora = tiny_built("lora", &k);
    for (name, nf4) in [("dora", false), ("qdora", true)] {
        let b = tiny_built(name, &k);
        let mags: Vec<_> = b.trainable.iter().filter(|t| t.name.ends_with(".lora_magnitude_vector")).collect();
        assert_eq!(
            mags.len(),
            7 * preset("tiny").unwrap().num_hidden_layers,
            "{name}: one magnitude per adapted linear"
        );
        let rows: u64 = mags.iter().map(|t| t.var.elem_count() as u64).sum();
        assert_eq!(
            b.params_adapters,
            lora.params_adapters + rows,
            "{name}: LoRA's parameters + one per output row"
        );
        assert_eq!(b.bytes.nf4_packed > 0, nf4);
        // At initialisation the DoRA model is the base model: B = 0 and m = ‖W‖ give W' = W.
        let plain = tiny_built(if nf4 { "qlora" } else { "lora" }, &k);
        let ids = Tensor::new(&[[1u32, 5, 9, 2]], &Device::Cpu).unwrap();
        let logits = |d: &ftbench::model::Decoder| d.logits(&d.hidden_states(&ids).unwrap()).unwrap();
        let (y, want) = (logits(&b.decoder), logits(&plain.decoder));
        let diff = max_diff(&y, &want);
        assert!(diff < 1e-4, "{name}: the untrained adapter changes the output by {diff:e}");
    }
}

#[test]
fn lora_plus_trains_b_at_ratio_times_the_learning_rate() {
    use ftbench::train::{Schedule, Trainer, TrainerConfig};
    let mut k = ftbench::suite::Knobs::default();
    let first_b = |ratio: f64, k: &mut ftbench::suite::Knobs| {
        k.lora_plus_ratio = ratio;
        let built = tiny_built("lora-plus", k);
        let scales: Vec<f64> = built.trainable.iter().map(|t| t.lr_scale).collect();
        assert!(built
            .trainable
            .iter()
            .all(|t| t.lr_scale == if t.name.ends_with(".lora_B.weight") { ratio } else { 1.0 }));
        let schedule = Schedule {
            peak: 1e-3,
            warmup_steps: 0,
            total_steps: 1,
            min_ratio: 1.0,
        };
        let mut tr = Trainer::new(built.trainable.clone(), TrainerConfig::adamw(schedule, 0.0)).unwrap();
        let c = preset("tiny").unwrap();
        let task = Task::new(TaskKind::Reverse, 8, c.vocab_size).unwrap();
        let examples: Vec<_> = task.train_stream(1).take(2).collect();
        tr.step(&built.decoder, &[Batch::new(&examples, &Device::Cpu).unwrap()]).unwrap();
        let b: Vec<f32> = built
            .trainable
            .iter()
            .filter(|t| t.name.ends_with(".lora_B.weight"))
            .flat_map(|t| t.var.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect();
        (b, scales)
    };
    let (b1, _) = first_b(1.0, &mut k);
    let (b4, _) = first_b(4.0, &mut k);
    // AdamW's first update from B = 0 is lr·ĝ/(√v̂ + ε) with the same gradient in both runs.
    let moved: Vec<(f32, f32)> = b1.iter().copied().zip(b4.iter().copied()).filter(|(a, _)| a.abs() > 1e-6).collect();
    assert!(moved.len() > 100, "B moved in the first update");
    for (one, four) in moved {
        assert!(
            (four - 4.0 * one).abs() <= 1e-5 * four.abs(),
            "B with ratio 4: {four}, ratio 1: {one}"
        );
    }
}

/// The other direction: an adapter ftbench trained with `method: dora` (tests/data/peft_dora:
/// a random 2-layer HF base written by transformers, the adapter written by ftbench) loads into
/// PEFT 0.21.2 (`PeftModel.from_pretrained`, every tensor taken as written), and PEFT's logits
/// with it are what ftbench computes with the same adapter.
#[test]
fn peft_loads_ftbenchs_dora_adapter_and_gives_the_same_logits() {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/peft_dora");
    let (m, logits, want) = common::logits_with_adapter(&d.join("base"), &d.join("adapter"), &d.join("peft_logits.safetensors"));
    assert_eq!(m.method.as_str(), "dora", "the adapter's method is read back");
    let diff = max_diff(&logits, &want["logits"]);
    assert!(diff < 1e-4, "ftbench's logits with its DoRA adapter differ from PEFT's by {diff:e}");
}
