//! Every model family the decoder implements, against transformers: tiny random checkpoints
//! saved by transformers' own classes (tests/scripts/families_known_answer.py writes them and
//! their known answers into tests/data/families/) load through `hf:`, give transformers' logits
//! (full sequence, and in two pieces through the KV cache), continue greedily as transformers
//! does, train under every method, and save a checkpoint that loads back to the same logits.

use candle_core::{DType, Device, Tensor};
use ftbench::load::ModelSpec;
use ftbench::method::{self, MethodConfig};
use ftbench::model::{forward_cached_all, greedy, Decoder, KvCache};
use ftbench::suite::Method;
use std::collections::HashMap;
use std::path::PathBuf;

mod common;

const FAMILIES: [&str; 6] = ["mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"];

fn dir(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/families").join(family)
}

fn known(family: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir(family).join("known.safetensors"), &Device::Cpu).unwrap()
}

fn ids(t: &Tensor) -> Vec<u32> {
    t.to_vec1::<i64>().unwrap().into_iter().map(|i| i as u32).collect()
}

/// The checkpoint built for `method` (f32, CPU).
fn built(family: &str, method: &str) -> method::Built {
    let open = ModelSpec::parse(&format!("hf:{}", dir(family).display())).unwrap().open().unwrap();
    let cfg = open.cfg.clone();
    let mut src = open.weights(0).unwrap();
    let mut mc = MethodConfig::defaults(Method::named(method), 0);
    mc.lora.targets = vec!["all-linear".into()];
    mc.nf4_block_size = 16;
    method::build(&cfg, src.as_mut(), &mc, DType::F32, &Device::Cpu).unwrap()
}

fn logits(d: &Decoder, ids: &[u32]) -> Tensor {
    let x = Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    d.logits(&d.hidden_states(&x).unwrap()).unwrap().squeeze(0).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap()
}

#[test]
fn every_family_reproduces_transformers_logits_and_greedy_decoding() {
    for family in FAMILIES {
        let want = known(family);
        let input = ids(&want["input_ids"]);
        for fused in [true, false] {
            let mut d = built(family, "full").decoder;
            d.fused = fused;
            let got = logits(&d, &input);
            let diff = max_diff(&got, &want["logits"]);
            assert!(diff < 1e-4, "{family} (fused {fused}): logits differ from transformers by {diff}");
            // The same positions through the KV cache, 5 then 7: the sliding windows and the
            // per-layer RoPE bases must hold at positions past the first call.
            let mut cache = KvCache::new(&d);
            let piece = |r: std::ops::Range<usize>, cache: &mut KvCache| {
                let x = Tensor::new(&input[r], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
                forward_cached_all(&d, &x, cache).unwrap().squeeze(0).unwrap()
            };
            let cached = Tensor::cat(&[piece(0..5, &mut cache), piece(5..input.len(), &mut cache)], 0).unwrap();
            let diff = max_diff(&cached, &want["logits"]);
            assert!(diff < 1e-4, "{family} (fused {fused}): cached logits differ by {diff}");
        }
        let d = built(family, "full").decoder;
        let out = greedy(&d, &ids(&want["prompt"]), 10, &[]).unwrap();
        assert_eq!(out, ids(&want["greedy"]), "{family}: greedy continuation");
    }
}

#[test]
fn every_method_trains_every_family() {
    use ftbench::train::{Schedule, Trainer, TrainerConfig};
    let batch = ftbench::data::Batch::new(
        &[ftbench::data::Example {
            tokens: vec![3, 17, 42, 5, 33, 60, 11, 8, 21, 7, 50, 2],
            loss_mask: (0..11).map(|i| i >= 4).collect(),
        }],
        &Device::Cpu,
    )
    .unwrap();
    for family in FAMILIES {
        for method in ["full", "lora", "qlora", "dora"] {
            let b = built(family, method);
            let schedule = Schedule {
                peak: 1e-2,
                warmup_steps: 0,
                total_steps: 8,
                min_ratio: 1.0,
            };
            let mut t = Trainer::new(b.trainable.clone(), TrainerConfig::adamw(schedule, 1.0)).unwrap();
            let first = t.step(&b.decoder, &[batch.clone()]).unwrap().loss;
            let mut last = first;
            for _ in 0..7 {
                last = t.step(&b.decoder, &[batch.clone()]).unwrap().loss;
            }
            assert!(
                last < 0.8 * first,
                "{family} {method}: the loss of one repeated batch went {first} -> {last}"
            );
        }
    }
}

/// With FTBENCH_KEEP_CHECKPOINTS=DIR the saved checkpoints stay in DIR/<family>, for the peer
/// check that transformers loads them to the same logits (tests/scripts/families_reload.py).
#[test]
fn a_full_fine_tuned_checkpoint_of_every_family_loads_back() {
    let keep = std::env::var_os("FTBENCH_KEEP_CHECKPOINTS").map(PathBuf::from);
    for family in FAMILIES {
        let b = built(family, "full");
        let tmp = tempfile::tempdir().unwrap();
        let weights: ftbench::model::Weights = b.trainable.iter().map(|t| (t.name.clone(), t.var.as_tensor().clone())).collect();
        ftbench::load::save_hf_dir(tmp.path(), &b.decoder.cfg, &weights, None, None).unwrap();
        if let Some(k) = &keep {
            ftbench::load::save_hf_dir(&k.join(family), &b.decoder.cfg, &weights, None, None).unwrap();
        }
        let again = ModelSpec::parse(&format!("hf:{}", tmp.path().display())).unwrap().open().unwrap();
        assert_eq!(again.cfg, b.decoder.cfg, "{family}: config.json round trip");
        let cfg = again.cfg.clone();
        let mut src = again.weights(0).unwrap();
        let mc = MethodConfig::defaults(Method::named("full"), 0);
        let d = method::build(&cfg, src.as_mut(), &mc, DType::F32, &Device::Cpu).unwrap().decoder;
        let input = ids(&known(family)["input_ids"]);
        assert_eq!(max_diff(&logits(&d, &input), &logits(&b.decoder, &input)), 0.0, "{family}");
    }
}

#[test]
fn gguf_files_of_qwen2_qwen3_and_phi3_give_the_checkpoints_logits() {
    // llama.cpp's layout (tests/scripts/families_gguf.py, confirmed by transformers' GGUF loader):
    // Qwen2's biases, Qwen3's q/k norms, Phi-3's fused attn_qkv and ffn_up, no q/k permutation.
    for family in ["qwen2", "qwen3", "phi3"] {
        let spec = format!("gguf:{}", dir(family).join("model.gguf").display());
        let open = ModelSpec::parse(&spec).unwrap().open().unwrap();
        let hf = ModelSpec::parse(&format!("hf:{}", dir(family).display())).unwrap().open().unwrap();
        assert_eq!(open.cfg.family, hf.cfg.family, "{family}");
        let cfg = open.cfg.clone();
        let mut src = open.weights(0).unwrap();
        let mc = MethodConfig::defaults(Method::named("full"), 0);
        let d = method::build(&cfg, src.as_mut(), &mc, DType::F32, &Device::Cpu).unwrap().decoder;
        let want = known(family);
        let diff = max_diff(&logits(&d, &ids(&want["input_ids"])), &want["logits"]);
        assert!(diff < 1e-4, "{family} (GGUF): logits differ from transformers by {diff}");
    }
}

#[test]
fn peft_loads_ftbench_adapters_of_qwen2_gemma3_and_phi3() {
    // LoRA r4 on all linears (Phi-3: qkv_proj and gate_up_proj), trained and saved by ftbench,
    // loaded by PEFT onto transformers' model (tests/scripts/peft_families.py): the same logits.
    for family in ["qwen2", "gemma3", "phi3"] {
        let peft = dir(family).join("peft");
        let (m, logits, want) = common::logits_with_adapter(&dir(family), &peft.join("adapter"), &peft.join("peft_logits.safetensors"));
        let diff = max_diff(&logits, &want["logits"]);
        let moved = max_diff(&want["logits"], &want["base_logits"]);
        assert!(moved > 1e-2, "{family}: the adapter changes the logits ({moved})");
        assert!(
            diff < 2e-4,
            "{family}: ftbench's logits with its adapter differ from PEFT's by {diff}"
        );
        let out = greedy(&m.built.decoder, &ids(&want["prompt"]), 10, &[]).unwrap();
        assert_eq!(
            out,
            ids(&want["greedy"]),
            "{family}: greedy continuation with the adapter, ftbench vs PEFT"
        );
    }
}

#[test]
fn the_parameter_count_is_the_checkpoints_tensor_bytes() {
    // Biases, q/k norms, Gemma's four norms, tied heads and Phi-3's fused projections all
    // counted: 4 bytes per parameter is exactly what transformers wrote (f32).
    for family in FAMILIES {
        let cfg = ModelSpec::parse(&format!("hf:{}", dir(family).display()))
            .unwrap()
            .open()
            .unwrap()
            .cfg;
        let tensors = candle_core::safetensors::load(dir(family).join("model.safetensors"), &Device::Cpu).unwrap();
        let bytes: usize = tensors.values().map(|t| t.elem_count() * 4).sum();
        assert_eq!(cfg.num_parameters() * 4, bytes, "{family}");
        let est = ftbench::estimate::estimate(
            &cfg,
            &ftbench::estimate::EstimateInput {
                method: Method::named("full"),
                batch: 1,
                seq_len: 8,
                loss_tokens: 8,
                precision: ftbench::model::precision("f32").unwrap(),
                optimizer: ftbench::train::default_optimizer(Default::default()),
                recompute: false,
                lora_rank: 4,
                lora_targets: vec!["all-linear".into()],
                nf4_block_size: 64,
                nf4_double_quant: false,
                implementation: ftbench::estimate::Implementation::Ftbench,
                gpu: false,
                shapes: "test".into(),
            },
        )
        .unwrap();
        assert_eq!(est.get("weights") as usize, bytes, "{family}: the estimate's weights");
    }
}

#[test]
fn every_family_runs_in_bf16_close_to_f32() {
    // bf16 compute on the CPU takes the composed ops (GeGLU, soft caps, windows, biases, q/k
    // norms in bf16; Gemma's (1 + w) norms in f32, cast once, as transformers does).
    for family in FAMILIES {
        let open = ModelSpec::parse(&format!("hf:{}", dir(family).display())).unwrap().open().unwrap();
        let cfg = open.cfg.clone();
        let mut src = open.weights(0).unwrap();
        let mc = MethodConfig::defaults(Method::named("lora"), 0);
        let p = *ftbench::model::precision("bf16-mixed").unwrap();
        let d = method::build(&cfg, src.as_mut(), &mc, p, &Device::Cpu).unwrap().decoder;
        let want = known(family);
        let got = logits(&d, &ids(&want["input_ids"])).to_dtype(DType::F32).unwrap();
        let scale: f32 = want["logits"].abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        let diff = max_diff(&got, &want["logits"]);
        assert!(
            diff < 0.05 * scale.max(1.0),
            "{family}: bf16 logits differ from f32 by {diff} (scale {scale})"
        );
    }
}
