//! Loaders on small files the tests write themselves: a Hugging Face directory (config.json,
//! model.safetensors or shards + index, tokenizer.json) and a GGUF file (metadata, Q/K
//! permuted as llama.cpp writes them, tokenizer in the metadata), each written from a preset's
//! random weights and loaded back to the same logits; then every kind of bad input, each a
//! clear error naming the file and the tensor or key.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use ftbench::load::tokenizer::byte_level_bpe;
use ftbench::load::ModelSpec;
use ftbench::load::{gguf_name, llama_cpp_permute, llama_cpp_unpermute};
use ftbench::method::{self, MethodConfig};
use ftbench::model::generate::all_logits;
use ftbench::model::{DecoderConfig, Weights};
use ftbench::suite::Method;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::text_model::{cfg, tokenizer, vocab, weights, write_hf, SEED};

/// Builds `spec` (full fine-tuning: plain tensors) and returns its logits for a fixed prompt,
/// or the load error as text.
fn logits_of(spec: &str) -> Result<Tensor, String> {
    let open = ModelSpec::parse(spec)
        .map_err(|e| e.to_string())?
        .open()
        .map_err(|e| format!("{e:#}"))?;
    let c = open.cfg.clone();
    let mut src = open.weights(SEED).map_err(|e| format!("{e:#}"))?;
    let mc = MethodConfig::defaults(Method::named("full"), 0);
    let b = method::build(&c, src.as_mut(), &mc, DType::F32, &Device::Cpu).map_err(|e| format!("{e:#}"))?;
    Ok(all_logits(&b.decoder, &[5, 17, 3, 200, 42, 9, 11]).unwrap())
}

fn reference_logits(c: &DecoderConfig) -> Tensor {
    let mc = MethodConfig::defaults(Method::named("full"), 0);
    let b = method::build(c, &mut weights(c), &mc, DType::F32, &Device::Cpu).unwrap();
    all_logits(&b.decoder, &[5, 17, 3, 200, 42, 9, 11]).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap()
}

fn expect_err(spec: &str, needles: &[&str]) -> String {
    let e = match logits_of(spec) {
        Ok(_) => panic!("{spec}: expected an error"),
        Err(e) => e,
    };
    for n in needles {
        assert!(e.contains(n), "error for {spec} should mention {n:?}: {e}");
    }
    e
}

#[test]
fn hf_directory_round_trips_random_weights() {
    for tied in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tied);
        write_hf(tmp.path(), &c, &weights(&c), None);
        let spec = format!("hf:{}", tmp.path().display());
        let open = ModelSpec::parse(&spec).unwrap().open().unwrap();
        assert_eq!(open.cfg, c, "config.json round trip");
        assert_eq!(open.eos_ids().unwrap(), vec![2, 0], "eos ids from generation_config.json");
        let tok = open.tokenizer().unwrap();
        let ids = tok.encode("<|im_start|>the tin 2024").unwrap();
        let pieces: Vec<String> = ids.iter().map(|&i| tok.inner().id_to_token(i).unwrap()).collect();
        // The special token whole, merges by rank, digits one by one (the `smollm` layout).
        assert_eq!(pieces, ["<|im_start|>", "t", "he", "Ġt", "in", "Ġ", "2", "0", "2", "4"]);
        assert_eq!(tok.decode(&ids).unwrap(), "the tin 2024");
        assert_eq!(
            max_diff(&logits_of(&spec).unwrap(), &reference_logits(&c)),
            0.0,
            "tied={tied}: same logits"
        );
    }
}

#[test]
fn sharded_hf_directory_loads_through_its_index() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(false);
    write_hf(tmp.path(), &c, &weights(&c), Some(60_000));
    let shards = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("model-0"))
        .count();
    assert!(shards >= 3, "{shards} shards");
    assert!(tmp.path().join("model.safetensors.index.json").is_file());
    let spec = format!("hf:{}", tmp.path().display());
    assert_eq!(max_diff(&logits_of(&spec).unwrap(), &reference_logits(&c)), 0.0);
}

#[test]
fn half_precision_checkpoints_load_as_f32() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(true);
    let w: Weights = weights(&c)
        .into_iter()
        .map(|(k, t)| (k, t.to_dtype(DType::BF16).unwrap()))
        .collect();
    write_hf(tmp.path(), &c, &w, None);
    let diff = max_diff(&logits_of(&format!("hf:{}", tmp.path().display())).unwrap(), &reference_logits(&c));
    assert!(diff > 0.0 && diff < 0.05, "bf16 weights give nearly the same logits: {diff}");
}

#[test]
fn llama_cpp_permutation_is_undone() {
    // 2 heads of head_dim 4, 3 inputs: row r of w holds r.
    let w = Tensor::arange(0f32, 8.0, &Device::Cpu)
        .unwrap()
        .unsqueeze(1)
        .unwrap()
        .repeat((1, 3))
        .unwrap();
    let p = llama_cpp_permute(&w, 2).unwrap();
    let rows: Vec<f32> = p.narrow(1, 0, 1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    // Per head: GGUF row 2i + j is HF row j·hd/2 + i (interleaved pairs from the two halves).
    assert_eq!(rows, vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    assert_eq!(max_diff(&llama_cpp_unpermute(&p, 2).unwrap(), &w), 0.0);
    let llama = cfg(false);
    assert_eq!(
        gguf_name("model.layers.3.self_attn.q_proj.weight", &llama).as_deref(),
        Some("blk.3.attn_q.weight")
    );
    assert_eq!(gguf_name("model.embed_tokens.weight", &llama).as_deref(), Some("token_embd.weight"));
    assert_eq!(gguf_name("model.layers.x.mlp.up_proj.weight", &llama), None);
    // The norm after attention is `ffn_norm` in Llama's blocks, `post_attention_norm` in Gemma's
    // (whose `ffn_norm` is the pre-feedforward one).
    let gemma = ftbench::model::config::Family::Gemma3.configure(llama.clone());
    let name = |hf: &str, c: &DecoderConfig| gguf_name(hf, c).unwrap();
    assert_eq!(
        name("model.layers.0.post_attention_layernorm.weight", &llama),
        "blk.0.ffn_norm.weight"
    );
    assert_eq!(
        name("model.layers.0.post_attention_layernorm.weight", &gemma),
        "blk.0.post_attention_norm.weight"
    );
    assert_eq!(
        name("model.layers.0.pre_feedforward_layernorm.weight", &gemma),
        "blk.0.ffn_norm.weight"
    );
    assert_eq!(name("model.layers.2.self_attn.q_proj.bias", &llama), "blk.2.attn_q.bias");
}

/// GGUF metadata for `c` (llama.cpp's keys) with the test tokenizer.
fn gguf_metadata(c: &DecoderConfig) -> Vec<(String, Value)> {
    let (tokens, merges) = vocab();
    let u = |x: usize| Value::U32(x as u32);
    let mut token_type = vec![Value::I32(1); tokens.len()];
    for t in token_type.iter_mut().take(3) {
        *t = Value::I32(3);
    }
    vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("llama.block_count".into(), u(c.num_hidden_layers)),
        ("llama.context_length".into(), u(c.max_position_embeddings)),
        ("llama.embedding_length".into(), u(c.hidden_size)),
        ("llama.feed_forward_length".into(), u(c.intermediate_size)),
        ("llama.attention.head_count".into(), u(c.num_attention_heads)),
        ("llama.attention.head_count_kv".into(), u(c.num_key_value_heads)),
        ("llama.rope.freq_base".into(), Value::F32(c.rope_theta as f32)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(c.rms_norm_eps as f32)),
        ("llama.vocab_size".into(), u(c.vocab_size)),
        ("llama.rope.dimension_count".into(), u(c.head_dim())),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(token_type)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(merges.iter().map(|(a, b)| Value::String(format!("{a} {b}"))).collect()),
        ),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ]
}

/// Writes `w` for `c` as llama.cpp would (GGUF names, Q/K permuted, f32 tensors).
fn write_gguf(path: &Path, c: &DecoderConfig, w: &Weights, meta: &[(String, Value)], dtype: GgmlDType) {
    let tensors: Vec<(String, QTensor)> = w
        .iter()
        .map(|(name, t)| {
            let mut t = t.clone();
            if name.ends_with("q_proj.weight") {
                t = llama_cpp_permute(&t, c.num_attention_heads).unwrap();
            } else if name.ends_with("k_proj.weight") {
                t = llama_cpp_permute(&t, c.num_key_value_heads).unwrap();
            }
            let q = if t.rank() == 1 { GgmlDType::F32 } else { dtype };
            (gguf_name(name, c).unwrap(), QTensor::quantize(&t, q).unwrap())
        })
        .collect();
    let mut f = std::fs::File::create(path).unwrap();
    let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut f, &meta, &tensors).unwrap();
}

fn gguf_file(dir: &Path, c: &DecoderConfig) -> PathBuf {
    let p = dir.join("tiny.gguf");
    write_gguf(&p, c, &weights(c), &gguf_metadata(c), GgmlDType::F32);
    p
}

#[test]
fn gguf_round_trips_random_weights_and_its_tokenizer() {
    for tied in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tied);
        let p = gguf_file(tmp.path(), &c);
        let spec = format!("gguf:{}", p.display());
        let open = ModelSpec::parse(&spec).unwrap().open().unwrap();
        assert_eq!(open.cfg.tie_word_embeddings, tied, "tied iff no output.weight");
        assert_eq!(
            (open.cfg.vocab_size, open.cfg.num_key_value_heads, open.cfg.head_dim()),
            (c.vocab_size, c.num_key_value_heads, c.head_dim())
        );
        assert_eq!(open.eos_ids().unwrap(), vec![2]);
        // The tokenizer rebuilt from metadata encodes as the tokenizer.json one does.
        let tok = open.tokenizer().unwrap();
        for text in ["the tin 2024", "<|im_start|>an ant<|im_end|>", "  spaces\nand\ttabs é"] {
            let a = tok.encode(text).unwrap();
            assert_eq!(a, tokenizer().encode(text, true).unwrap().get_ids(), "{text:?}");
        }
        // f32 GGUF: exactly the preset's logits once Q/K are un-permuted.
        assert_eq!(max_diff(&logits_of(&spec).unwrap(), &reference_logits(&c)), 0.0, "tied={tied}");
    }
}

#[test]
fn quantized_gguf_gives_nearly_the_same_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(true);
    let p = tmp.path().join("q8.gguf");
    write_gguf(&p, &c, &weights(&c), &gguf_metadata(&c), GgmlDType::Q8_0);
    let diff = max_diff(&logits_of(&format!("gguf:{}", p.display())).unwrap(), &reference_logits(&c));
    assert!(diff > 0.0 && diff < 0.02, "Q8_0: {diff}");
}

// ---- bad inputs ----

#[test]
fn missing_model_files_say_how_to_fetch_them() {
    let e = expect_err(
        "gguf:models/no-such-model.gguf",
        &["models/no-such-model.gguf", "scripts/fetch-models.sh"],
    );
    assert!(e.contains("no such GGUF file"), "{e}");
    expect_err("hf:/nonexistent/dir", &["/nonexistent/dir", "scripts/fetch-models.sh", "hf:"]);
    let tmp = tempfile::tempdir().unwrap();
    expect_err(&format!("hf:{}", tmp.path().display()), &["no config.json"]);
    assert!(ModelSpec::parse("gguf:").unwrap_err().contains("needs a path"));
    assert!(ModelSpec::parse("onnx:x").unwrap_err().contains("`hf:DIR` or `gguf:FILE`"));
}

#[test]
fn truncated_or_corrupt_safetensors_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(false);
    write_hf(tmp.path(), &c, &weights(&c), None);
    let file = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let spec = format!("hf:{}", tmp.path().display());
    expect_err(&spec, &["model.safetensors", "not a valid safetensors file"]);
    std::fs::write(&file, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    expect_err(&spec, &["model.safetensors", "not a valid safetensors file"]);
    std::fs::write(&file, b"").unwrap();
    expect_err(&spec, &["model.safetensors"]);
}

#[test]
fn truncated_or_corrupt_gguf_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(false);
    let p = gguf_file(tmp.path(), &c);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 1000]).unwrap();
    let spec = format!("gguf:{}", p.display());
    expect_err(&spec, &["tiny.gguf", "truncated", "tensor `"]);
    std::fs::write(&p, &bytes[..200]).unwrap();
    expect_err(&spec, &["tiny.gguf", "not a valid GGUF file"]);
    std::fs::write(&p, b"GGML this is not gguf").unwrap();
    expect_err(&spec, &["tiny.gguf", "not a valid GGUF file"]);
}

#[test]
fn unsupported_architectures_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(false);
    write_hf(tmp.path(), &c, &weights(&c), None);
    let cfg_path = tmp.path().join("config.json");
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    j["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
    j["model_type"] = serde_json::json!("qwen2");
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    let spec = format!("hf:{}", tmp.path().display());
    // A Llama checkpoint relabelled Qwen2: the q/k/v biases Qwen2 has are missing, by name.
    expect_err(&spec, &["model.safetensors: missing tensor `model.layers.0.self_attn.q_proj.bias`"]);
    j["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    j["model_type"] = serde_json::json!("gpt2");
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    expect_err(
        &spec,
        &[
            "config.json",
            "unsupported architecture `GPT2LMHeadModel`",
            "LlamaForCausalLM",
            "Gemma3ForCausalLM",
            "Phi3ForCausalLM",
        ],
    );
    j["architectures"] = serde_json::json!(["Gemma3ForConditionalGeneration"]);
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    expect_err(&spec, &["multimodal", "Gemma3ForCausalLM"]);
    j["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    j["attention_bias"] = serde_json::json!(true);
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    expect_err(&spec, &["config.json", "attention_bias"]);
    j["attention_bias"] = serde_json::json!(false);
    j["rope_scaling"] = serde_json::json!({"rope_type": "yarn", "factor": 4.0});
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    expect_err(&spec, &["config.json", "rope_scaling", "yarn"]);
    j["rope_scaling"] = serde_json::Value::Null;
    j["hidden_size"] = serde_json::json!("wide");
    std::fs::write(&cfg_path, j.to_string()).unwrap();
    expect_err(&spec, &["config.json", "key `hidden_size`", "non-negative integer"]);

    let p = tmp.path().join("gpt2.gguf");
    let mut meta = gguf_metadata(&c);
    meta[0].1 = Value::String("gpt2".into());
    write_gguf(&p, &c, &weights(&c), &meta, GgmlDType::F32);
    expect_err(
        &format!("gguf:{}", p.display()),
        &["gpt2.gguf", "general.architecture", "`gpt2` is not supported"],
    );
    let mut meta = gguf_metadata(&c);
    meta.retain(|(k, _)| k != "llama.feed_forward_length");
    write_gguf(&p, &c, &weights(&c), &meta, GgmlDType::F32);
    expect_err(
        &format!("gguf:{}", p.display()),
        &["gpt2.gguf", "missing metadata key `llama.feed_forward_length`"],
    );
}

#[test]
fn missing_extra_and_misshapen_tensors_are_named() {
    let c = cfg(false);
    let case = |edit: &dyn Fn(&mut Weights), needles: &[&str]| {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = weights(&c);
        edit(&mut w);
        write_hf(tmp.path(), &c, &w, None);
        expect_err(&format!("hf:{}", tmp.path().display()), needles);
        let p = tmp.path().join("m.gguf");
        write_gguf(&p, &c, &w, &gguf_metadata(&c), GgmlDType::F32);
        expect_err(&format!("gguf:{}", p.display()), &[&["m.gguf"], &needles[1..]].concat());
    };
    case(
        &|w| {
            w.remove("model.layers.1.mlp.up_proj.weight");
        },
        &["model.safetensors", "missing tensor", "up_proj", "[160, 64]"],
    );
    case(
        &|w| {
            w.insert(
                "model.layers.0.self_attn.k_proj.weight".into(),
                Tensor::zeros((64, 64), DType::F32, &Device::Cpu).unwrap(),
            );
        },
        &["model.safetensors", "k_proj", "expected shape [32, 64], found [64, 64]"],
    );
    // An extra layer: a tensor this config has no place for.
    let tmp = tempfile::tempdir().unwrap();
    let mut w = weights(&c);
    w.insert(
        "model.layers.2.input_layernorm.weight".into(),
        Tensor::ones(64, DType::F32, &Device::Cpu).unwrap(),
    );
    write_hf(tmp.path(), &c, &w, None);
    expect_err(
        &format!("hf:{}", tmp.path().display()),
        &["model.safetensors", "unexpected tensor `model.layers.2.input_layernorm.weight`"],
    );
    let p = tmp.path().join("m.gguf");
    write_gguf(&p, &c, &w, &gguf_metadata(&c), GgmlDType::F32);
    expect_err(
        &format!("gguf:{}", p.display()),
        &["m.gguf", "unexpected tensor `blk.2.attn_norm.weight`"],
    );
}

#[test]
fn broken_shard_index_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(false);
    write_hf(tmp.path(), &c, &weights(&c), Some(60_000));
    let spec = format!("hf:{}", tmp.path().display());
    let index = tmp.path().join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&text).unwrap();
    // A tensor listed in the wrong shard.
    let first = j["weight_map"]["model.norm.weight"].as_str().unwrap().to_string();
    let other = j["weight_map"]["lm_head.weight"].as_str().unwrap().to_string();
    assert_ne!(first, other);
    j["weight_map"]["model.norm.weight"] = serde_json::json!(other);
    std::fs::write(&index, j.to_string()).unwrap();
    expect_err(&spec, &["model.safetensors.index.json", "model.norm.weight", "found in"]);
    // A missing shard.
    std::fs::write(&index, &text).unwrap();
    std::fs::remove_file(tmp.path().join(&other)).unwrap();
    expect_err(&spec, &["model.safetensors.index.json", &other, "missing"]);
    std::fs::write(&index, "{").unwrap();
    expect_err(&spec, &["model.safetensors.index.json", "not valid JSON"]);
    // An index that lists no tensor (this panicked once, indexing the first of no files).
    std::fs::write(&index, r#"{"metadata": {}, "weight_map": {}}"#).unwrap();
    expect_err(&spec, &["model.safetensors.index.json", "`weight_map` is empty"]);
}

#[test]
fn a_tokenizer_that_does_not_fit_the_vocabulary_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DecoderConfig {
        vocab_size: 260,
        ..cfg(false)
    };
    write_hf(tmp.path(), &c, &weights(&c), None);
    let open = ModelSpec::parse(&format!("hf:{}", tmp.path().display())).unwrap().open().unwrap();
    let e = format!("{:#}", open.tokenizer().err().expect("an error"));
    assert!(
        e.contains("tokenizer.json") && e.contains("vocab_size 260") && e.contains("id 264"),
        "{e}"
    );
    let p = tmp.path().join("t.gguf");
    write_gguf(&p, &c, &weights(&c), &gguf_metadata(&c), GgmlDType::F32);
    let open = ModelSpec::parse(&format!("gguf:{}", p.display())).unwrap().open().unwrap();
    let e = format!("{:#}", open.tokenizer().err().expect("an error"));
    assert!(e.contains("t.gguf") && e.contains("vocab_size 260"), "{e}");
    // A corrupt tokenizer.json names the file.
    std::fs::write(tmp.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let open = ModelSpec::parse(&format!("hf:{}", tmp.path().display())).unwrap().open().unwrap();
    let e = format!("{:#}", open.tokenizer().err().expect("an error"));
    assert!(e.contains("tokenizer.json") && e.contains("not a valid tokenizer.json"), "{e}");
    // A merge of tokens not in the vocabulary.
    let (tokens, _) = vocab();
    let e = byte_level_bpe(&tokens, &[("x".into(), "zz".into())], "smollm", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("merge 0") && e.contains("`zz`"), "{e}");
}

fn ftbench(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn suites_train_hf_and_gguf_models_and_record_a_missing_file_as_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DecoderConfig {
        max_position_embeddings: 64,
        ..cfg(true)
    };
    write_hf(&tmp.path().join("tiny-hf"), &c, &weights(&c), None);
    write_gguf(&tmp.path().join("tiny.gguf"), &c, &weights(&c), &gguf_metadata(&c), GgmlDType::F32);
    let suite = r#"
schema: 1
name: loaders
description: real-model specs end to end
defaults: {steps: 2, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4, save_adapter: true}
grid:
  models: [hf:tiny-hf, gguf:tiny.gguf, gguf:models/absent.gguf]
  methods: [lora]
"#;
    std::fs::write(tmp.path().join("s.yaml"), suite).unwrap();
    let out = ftbench(tmp.path(), &["run", "s.yaml"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("3 cells run (2 ok, 1 failed)"), "{text}");
    let mut statuses = Vec::new();
    for e in std::fs::read_dir(tmp.path().join("results/loaders")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            statuses.push((
                r["cell"]["model"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r.clone(),
            ));
        }
    }
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    let absent = &statuses[0];
    assert_eq!((absent.0.as_str(), absent.1.as_str()), ("gguf:models/absent.gguf", "error"));
    let reason = absent.2.to_string();
    assert!(
        reason.contains("scripts/fetch-models.sh") && reason.contains("models/absent.gguf"),
        "{reason}"
    );
    assert!(statuses[1..].iter().all(|s| s.1 == "ok"), "{statuses:?}");

    // The saved adapter generates through `ftbench generate` (base model from its metadata),
    // and agrees with the ids-in, ids-out path.
    let adapters: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("results/loaders/adapters"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(adapters.len(), 2);
    for a in &adapters {
        let a = a.to_str().unwrap();
        let text = ftbench(
            tmp.path(),
            &["generate", "--adapter", a, "--prompt", "the tin", "--max-new-tokens", "5"],
        );
        assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
        let ids = ftbench(
            tmp.path(),
            &["generate", "--adapter", a, "--prompt", "the tin", "--max-new-tokens", "5", "--ids"],
        );
        let ids = String::from_utf8_lossy(&ids.stdout).trim().to_string();
        assert!(!ids.is_empty() && ids.split(' ').all(|i| i.parse::<u32>().is_ok()), "{ids}");
    }
    let e = ftbench(tmp.path(), &["generate", "--model", "preset:tiny", "--prompt", "hi"]);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("has no tokenizer"));
    let ok = ftbench(
        tmp.path(),
        &[
            "generate",
            "--model",
            "preset:tiny",
            "--prompt-ids",
            "1,5,6",
            "--max-new-tokens",
            "3",
            "--ids",
        ],
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).split_whitespace().count(), 3);
}
