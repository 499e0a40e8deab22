//! Finite-difference checks of every gradient path of the decoder, in f64.
//!
//! candle's fused ops drop gradients without an error (DESIGN.md), so each building block and
//! the whole decoder are checked against central differences: a dropped or wrong backward
//! shows up as a mismatch here.

use candle_core::{DType, Device, Result, Tensor, Var};
use ftbench::data::{Batch, Task, TaskKind};
use ftbench::method::{self, MethodConfig};
use ftbench::model::{ops, preset, random_weights, DecoderConfig};
use ftbench::suite::Method;
use rand::{rngs::StdRng, Rng, SeedableRng};

const EPS: f64 = 1e-6;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Checks d(sum(f(inputs) * R))/d(inputs[i]) for every input against central differences,
/// at up to `max_checks` elements per input.
fn check(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>, max_checks: usize) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors).unwrap();
    let r = randn(out.dims(), 99);
    let loss = |ts: &[Tensor]| -> f64 { (f(ts).unwrap() * &r).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap() };
    let grads = (out * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("input {i}: no gradient at all"))
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = inputs[i].flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let n = base.len();
        let stride = (n / max_checks).max(1);
        for j in (0..n).step_by(stride) {
            let at = |delta: f64| {
                let mut p = base.clone();
                p[j] += delta;
                let mut ts = inputs.to_vec();
                ts[i] = Tensor::from_vec(p, inputs[i].dims(), &Device::Cpu).unwrap();
                loss(&ts)
            };
            let fd = (at(EPS) - at(-EPS)) / (2.0 * EPS);
            let tol = 1e-6 * (1.0 + fd.abs());
            assert!(
                (g[j] - fd).abs() < tol,
                "input {i}, element {j}: autograd {} vs finite difference {fd}",
                g[j]
            );
        }
    }
}

#[test]
fn rms_norm_gradient() {
    check(&[randn(&[2, 3, 8], 1), randn(&[8], 2)], |t| ops::rms_norm(&t[0], &t[1], 1e-5), 48);
}

#[test]
fn rope_gradient() {
    let tables = ops::RopeTables::new(8, 10000.0, 16, DType::F64, &Device::Cpu).unwrap();
    check(&[randn(&[2, 3, 5, 8], 3)], |t| ops::rope(&t[0], &tables), 80);
}

#[test]
fn rope_matches_the_rotation_it_stands_for() {
    // Position p rotates the pair (x_i, x_{i+d/2}) by p·θ^(-2i/d).
    let tables = ops::RopeTables::new(4, 100.0, 4, DType::F64, &Device::Cpu).unwrap();
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0].repeat(4), (1, 1, 4, 4), &Device::Cpu).unwrap();
    let y = ops::rope(&x, &tables)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec3::<f64>()
        .unwrap()
        .remove(0);
    for (p, row) in y.iter().enumerate() {
        for i in 0..2 {
            let a = p as f64 * 100f64.powf(-((2 * i) as f64) / 4.0);
            let (x1, x2) = ([1.0, 2.0][i], [3.0, 4.0][i]);
            assert!((row[i] - (x1 * a.cos() - x2 * a.sin())).abs() < 1e-12);
            assert!((row[i + 2] - (x2 * a.cos() + x1 * a.sin())).abs() < 1e-12);
        }
    }
}

#[test]
fn causal_attention_gradient_with_grouped_heads() {
    // 4 query heads reading 2 key/value heads.
    check(
        &[randn(&[2, 4, 5, 6], 4), randn(&[2, 2, 5, 6], 5), randn(&[2, 2, 5, 6], 6)],
        |t| ops::causal_attention(&t[0], &t[1], &t[2]),
        60,
    );
}

#[test]
fn causal_attention_is_causal_and_matches_repeated_kv() {
    let (q, k, v) = (randn(&[1, 4, 6, 4], 7), randn(&[1, 2, 6, 4], 8), randn(&[1, 2, 6, 4], 9));
    let out = ops::causal_attention(&q, &k, &v).unwrap();
    // Reference: repeat kv heads (head j reads kv head j / 2), plain masked softmax.
    let rep = |t: &Tensor| {
        Tensor::cat(
            &[
                t.narrow(1, 0, 1).unwrap(),
                t.narrow(1, 0, 1).unwrap(),
                t.narrow(1, 1, 1).unwrap(),
                t.narrow(1, 1, 1).unwrap(),
            ],
            1,
        )
        .unwrap()
    };
    let (kr, vr) = (rep(&k), rep(&v));
    let scores = (q.matmul(&kr.t().unwrap()).unwrap() * 0.5).unwrap();
    let mask = ops::causal_mask(1, 6, DType::F64, &Device::Cpu).unwrap();
    let reference = ops::softmax(&scores.broadcast_add(&mask).unwrap()).unwrap().matmul(&vr).unwrap();
    let diff = (out.clone() - reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(diff < 1e-12, "{diff}");
    // Changing the last key/value changes no output before the last position.
    let v2 = v.slice_assign(&[0..1, 0..2, 5..6, 0..4], &randn(&[1, 2, 1, 4], 10)).unwrap();
    let out2 = ops::causal_attention(&q, &k, &v2).unwrap();
    let early = (out.narrow(2, 0, 5).unwrap() - out2.narrow(2, 0, 5).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(early.to_scalar::<f64>().unwrap(), 0.0);
}

#[test]
fn swiglu_gradient() {
    check(&[randn(&[3, 7], 11), randn(&[3, 7], 12)], |t| ops::swiglu(&t[0], &t[1]), 21);
}

#[test]
fn linear_gradient_reaches_input_and_weight() {
    check(
        &[randn(&[2, 3, 5], 13), randn(&[4, 5], 14)],
        |t| ftbench::nn::matmul_t(&t[0], &t[1]),
        30,
    );
}

#[test]
fn trainable_linear_op_gradient_and_value() {
    let (x, w) = (randn(&[2, 3, 5], 40), randn(&[4, 5], 41));
    check(&[x.clone(), w.clone()], |t| ftbench_kernels::linear(&t[0], &t[1]), 30);
    let d = max_diff(&ftbench_kernels::linear(&x, &w).unwrap(), &ftbench::nn::matmul_t(&x, &w).unwrap());
    assert!(d < 1e-14, "{d}");
}

#[test]
fn embedding_gradient() {
    let ids = Tensor::from_vec(vec![0u32, 3, 3, 1, 2, 0], (2, 3), &Device::Cpu).unwrap();
    check(&[randn(&[5, 4], 15)], |t| ops::embedding(&t[0], &ids), 20);
}

#[test]
fn cross_entropy_gradient_and_value() {
    let targets = Tensor::from_vec(vec![2u32, 0, 4], 3, &Device::Cpu).unwrap();
    check(&[randn(&[3, 5], 16)], |t| ops::cross_entropy(&t[0], &targets), 15);
    // Uniform logits: loss = ln(vocab).
    let l = ops::cross_entropy(&Tensor::zeros((3, 5), DType::F64, &Device::Cpu).unwrap(), &targets).unwrap();
    assert!((l.to_scalar::<f64>().unwrap() - 5f64.ln()).abs() < 1e-12);
}

fn tiny(tied: bool) -> DecoderConfig {
    DecoderConfig {
        tie_word_embeddings: tied,
        initializer_range: 0.3,
        num_hidden_layers: 2,
        vocab_size: 32,
        hidden_size: 16,
        intermediate_size: 24,
        ..preset("tiny").unwrap()
    }
}

/// The whole decoder and the masked loss, against finite differences in its parameters, with
/// the fused kernels or the composed ops, with or without activation recompute.
fn decoder_gradient(tied: bool, fused: bool, recompute: bool) {
    decoder_gradient_of(&tiny(tied), fused, recompute);
}

fn decoder_gradient_of(cfg: &DecoderConfig, fused: bool, recompute: bool) {
    let cfg = cfg.clone();
    let dev = Device::Cpu;
    let weights = random_weights(&cfg, 5, DType::F64, &dev).unwrap();
    let built = method::build(
        &cfg,
        &mut weights.clone(),
        &MethodConfig::defaults(Method::named("full"), 0),
        DType::F64,
        &dev,
    )
    .unwrap();
    let (mut model, params) = (built.decoder, built.trainable);
    (model.fused, model.recompute) = (fused, recompute);
    let task = Task::new(TaskKind::Reverse, 10, cfg.vocab_size).unwrap();
    let batch = Batch::new(&task.train_stream(1).take(2).collect::<Vec<_>>(), &dev).unwrap();
    let loss = || ftbench::train::batch_loss(&model, &batch).unwrap().to_scalar::<f64>().unwrap();
    let mut grads = ftbench::train::batch_loss(&model, &batch).unwrap().backward().unwrap();
    assert_eq!(params.len(), ftbench::model::weight_shapes(&cfg).len(), "every tensor trains");
    for p in &params {
        let in_graph = grads.remove(p.var.as_tensor());
        let recomputed = model.take_recomputed_grad(p.var.as_tensor()).unwrap();
        let g = match (in_graph, recomputed) {
            (Some(a), Some(b)) => (a + b).unwrap(),
            (Some(g), None) | (None, Some(g)) => g,
            (None, None) => panic!("{}: no gradient", p.name),
        };
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = p.var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let n = base.len();
        for j in (0..n).step_by((n / 6).max(1)) {
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                p.var.set(&Tensor::from_vec(v, p.var.dims(), &dev).unwrap()).unwrap();
                loss()
            };
            let fd = (at(EPS) - at(-EPS)) / (2.0 * EPS);
            p.var.set(&Tensor::from_vec(base.clone(), p.var.dims(), &dev).unwrap()).unwrap();
            assert!(
                (g[j] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "{}[{j}]: autograd {} vs finite difference {fd}",
                p.name,
                g[j]
            );
        }
    }
}

#[test]
fn decoder_gradient_untied_head() {
    decoder_gradient(false, true, false);
}

#[test]
fn decoder_gradient_tied_head() {
    decoder_gradient(true, true, false);
}

#[test]
fn decoder_gradient_composed_ops() {
    decoder_gradient(false, false, false);
    decoder_gradient(true, false, false);
}

/// The tiny checkpoints' configurations of tests/data/families (transformers' own configs),
/// with wide random weights.
fn family(name: &str) -> DecoderConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/families")
        .join(name)
        .join("config.json");
    let cfg = ftbench::load::hf_config::parse_config(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    DecoderConfig {
        initializer_range: 0.3,
        ..cfg
    }
}

#[test]
fn decoder_gradient_of_every_family() {
    // Biases (Qwen2), q/k norms (Qwen3, Gemma 3), sliding windows (Mistral, Gemma), soft caps
    // and GeGLU (Gemma 2), a local RoPE base (Gemma 3), fused projections (Phi-3); the fused
    // kernels where they apply, and the composed ops.
    for name in ["mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"] {
        let cfg = family(name);
        decoder_gradient_of(&cfg, true, false);
        decoder_gradient_of(&cfg, false, name == "gemma3");
    }
}

#[test]
fn decoder_gradient_under_recompute() {
    decoder_gradient(false, true, true);
    decoder_gradient(true, false, true);
}

// ---- ftbench_kernels' fused ops: gradients against finite differences, values against the
// composed ops they replace.

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap()
}

#[test]
fn fused_rms_norm_gradient_and_value() {
    let (x, w) = (randn(&[2, 3, 8], 21), randn(&[8], 22));
    check(&[x.clone(), w.clone()], |t| ftbench_kernels::rms_norm(&t[0], &t[1], 1e-5), 48);
    let d = max_diff(
        &ftbench_kernels::rms_norm(&x, &w, 1e-5).unwrap(),
        &ops::rms_norm(&x, &w, 1e-5).unwrap(),
    );
    assert!(d < 1e-14, "{d}");
}

#[test]
fn fused_rope_gradient_and_value() {
    // x (batch 2, seq 5, 3 heads of 8), positions from 2 (as a KV-cache step would).
    let tables = ops::RopeTables::new(8, 10000.0, 16, DType::F64, &Device::Cpu).unwrap();
    let rope = |x: &Tensor, start| ftbench_kernels::rope_heads(x, &tables.cos, &tables.sin, 3, start);
    check(&[randn(&[2, 5, 24], 23)], |t| rope(&t[0], 2), 120);
    let x = randn(&[2, 5, 24], 24);
    let heads = x.reshape((2, 5, 3, 8)).unwrap().transpose(1, 2).unwrap();
    for start in [0, 2] {
        let d = max_diff(&rope(&x, start).unwrap(), &ops::rope_at(&heads, &tables, start).unwrap());
        assert!(d < 1e-14, "start {start}: {d}");
    }
    assert!(rope(&x, 12).is_err(), "positions past the tables must be an error");
}

#[test]
fn fused_causal_attention_gradient_and_value() {
    // 4 query heads reading 2 key/value heads; 5 queries at positions 0.. and 3 at 2.. (cached);
    // every key visible, or a sliding window of 2 (Mistral's and Gemma's local layers); a
    // scale other than head_dim^-1/2 (Gemma's query_pre_attn_scalar).
    let s = 1.0 / 6f64.sqrt();
    for window in [None, Some(2)] {
        let f = |t: &[Tensor]| ops::fused_causal_attention_at(&t[0], &t[1], &t[2], 0, s, window);
        check(
            &[randn(&[2, 4, 5, 6], 25), randn(&[2, 2, 5, 6], 26), randn(&[2, 2, 5, 6], 27)],
            f,
            60,
        );
        let g = |t: &[Tensor]| ops::fused_causal_attention_at(&t[0], &t[1], &t[2], 2, 0.3, window);
        check(
            &[randn(&[1, 4, 3, 6], 28), randn(&[1, 2, 5, 6], 29), randn(&[1, 2, 5, 6], 30)],
            g,
            60,
        );
    }
    for (t, start, window) in [(5, 0, None), (3, 2, None), (5, 0, Some(2)), (3, 2, Some(3)), (4, 0, Some(1))] {
        let (q, k, v) = (
            randn(&[2, 4, t, 6], 31),
            randn(&[2, 2, start + t, 6], 32),
            randn(&[2, 2, start + t, 6], 33),
        );
        let d = max_diff(
            &ops::fused_causal_attention_at(&q, &k, &v, start, 0.3, window).unwrap(),
            &ops::causal_attention_at(&q, &k, &v, start, 0.3, window, None).unwrap(),
        );
        assert!(d < 1e-14, "start {start}, window {window:?}: {d}");
    }
}

#[test]
fn windowed_and_soft_capped_attention_gradient() {
    // The composed path Gemma 2 takes: a sliding window and scores capped at 2·tanh(s / 2).
    check(
        &[randn(&[2, 4, 5, 6], 40), randn(&[2, 2, 5, 6], 41), randn(&[2, 2, 5, 6], 42)],
        |t| ops::causal_attention_at(&t[0], &t[1], &t[2], 0, 0.5, Some(3), Some(2.0)),
        60,
    );
    // A window of 1 sees only its own position: the output is v itself.
    let (q, k, v) = (randn(&[1, 2, 4, 6], 43), randn(&[1, 2, 4, 6], 44), randn(&[1, 2, 4, 6], 45));
    let out = ops::causal_attention_at(&q, &k, &v, 0, 0.5, Some(1), None).unwrap();
    assert!(max_diff(&out, &v) < 1e-15);
}

#[test]
fn geglu_gradient_and_value() {
    let (g, u) = (randn(&[3, 7], 46), randn(&[3, 7], 47));
    check(&[g.clone(), u.clone()], |t| ops::geglu(&t[0], &t[1]), 21);
    // transformers' gelu_pytorch_tanh at a few points (torch.nn.functional.gelu(x, approximate="tanh")).
    let x = Tensor::new(&[-3.0f64, -1.0, 0.0, 0.5, 2.0], &Device::Cpu).unwrap();
    let y = ops::geglu(&x, &x.ones_like().unwrap()).unwrap().to_vec1::<f64>().unwrap();
    let torch = [
        -0.0036373920817729943,
        -0.15880800939172324,
        0.0,
        0.34571400982514394,
        1.954597694087775,
    ];
    for (a, b) in y.iter().zip(torch) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn fused_swiglu_gradient_and_value() {
    let (g, u) = (randn(&[3, 7], 34), randn(&[3, 7], 35));
    check(&[g.clone(), u.clone()], |t| ftbench_kernels::swiglu(&t[0], &t[1]), 21);
    let d = max_diff(&ftbench_kernels::swiglu(&g, &u).unwrap(), &ops::swiglu(&g, &u).unwrap());
    assert!(d < 1e-14, "{d}");
}

#[test]
fn fused_geglu_gradient_and_value() {
    let (g, u) = (randn(&[3, 7], 48), randn(&[3, 7], 49));
    let g3 = (&g * 3.0).unwrap(); // the tanh's tails too
    for g in [g, g3] {
        check(&[g.clone(), u.clone()], |t| ftbench_kernels::geglu(&t[0], &t[1]), 21);
        let d = max_diff(&ftbench_kernels::geglu(&g, &u).unwrap(), &ops::geglu(&g, &u).unwrap());
        assert!(d < 1e-14, "{d}");
    }
}

#[test]
fn fused_linear_cross_entropy_gradient_and_value_over_chunks() {
    // vocab 7 in chunks of 2 rows (6 values / 3 rows): 4 chunks, the last one short.
    let targets = Tensor::from_vec(vec![2u32, 0, 6], 3, &Device::Cpu).unwrap();
    for chunk_values in [6, 1 << 20] {
        let f = |t: &[Tensor]| ftbench_kernels::cross_entropy::linear_cross_entropy_chunked(&t[0], &t[1], &targets, chunk_values);
        let (h, w) = (randn(&[3, 5], 36), randn(&[7, 5], 37));
        check(&[h.clone(), w.clone()], f, 35);
        let composed = ops::cross_entropy(&h.matmul(&w.t().unwrap()).unwrap(), &targets).unwrap();
        let d = max_diff(&f(&[h, w]).unwrap(), &composed);
        assert!(d < 1e-14, "chunk {chunk_values}: {d}");
    }
    let bad = Tensor::from_vec(vec![2u32, 0, 7], 3, &Device::Cpu).unwrap();
    let err = ftbench_kernels::linear_cross_entropy(&randn(&[3, 5], 38), &randn(&[7, 5], 39), &bad).unwrap_err();
    assert!(err.to_string().contains("target id 7 at row 2"), "{err}");
}

#[test]
fn fused_and_composed_decoders_agree() {
    let cfg = tiny(true);
    let dev = Device::Cpu;
    let weights = random_weights(&cfg, 6, DType::F64, &dev).unwrap();
    let mut model = method::build(
        &cfg,
        &mut weights.clone(),
        &MethodConfig::defaults(Method::named("lora"), 0),
        DType::F64,
        &dev,
    )
    .unwrap()
    .decoder;
    let task = Task::new(TaskKind::ReverseLm, 12, cfg.vocab_size).unwrap();
    let batch = Batch::new(&task.train_stream(2).take(3).collect::<Vec<_>>(), &dev).unwrap();
    let run = |m: &ftbench::model::Decoder| {
        (
            m.hidden_states(&batch.inputs).unwrap(),
            ftbench::train::batch_loss(m, &batch).unwrap(),
        )
    };
    let (h_fused, l_fused) = run(&model);
    model.fused = false;
    let (h_composed, l_composed) = run(&model);
    assert!(max_diff(&h_fused, &h_composed) < 1e-12);
    assert!(max_diff(&l_fused, &l_composed) < 1e-12);
}
