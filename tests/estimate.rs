//! `ftbench estimate` as a user calls it.

use serde_json::Value;
use std::process::{Command, Output};

fn ftbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .args(args)
        .output()
        .expect("ftbench runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `ftbench estimate --json` for Llama-2-7B at batch 4 × 512 with recompute (the article's setting).
fn estimate_7b(method: &str) -> Output {
    ftbench(&[
        "estimate",
        "--model",
        "preset:llama2-7b",
        "--method",
        method,
        "--batch",
        "4",
        "--seq-len",
        "512",
        "--recompute",
        "--json",
    ])
}

#[test]
fn json_has_a_total_and_every_component() {
    let o = estimate_7b("qlora");
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let total = v["total_bytes"].as_u64().unwrap();
    for c in [
        "weights",
        "quant_constants",
        "adapters",
        "gradients",
        "optimizer_states",
        "master_weights",
        "activations",
        "logits",
        "runtime_overhead",
    ] {
        assert!(v[c].is_u64(), "component {c}");
    }
    assert_eq!(
        total,
        v["peak_tensor_bytes"].as_u64().unwrap() + v["runtime_overhead"].as_u64().unwrap()
    );
    assert!(v["views"]["total_bytes"].as_str().unwrap().contains("device-used"));
    assert!(
        (5.0e9..8.0e9).contains(&(v["peak_tensor_bytes"].as_u64().unwrap() as f64)),
        "QLoRA 7B at 4x512 needs 5-8 GB of tensors"
    );
    assert_eq!(v["smallest_fit"], "rtx4060-8gb");
    let fits: Vec<&Value> = v["hardware"].as_array().unwrap().iter().collect();
    assert!(fits.iter().any(|f| f["profile"] == "h200-141gb" && f["fits"] == true));
}

#[test]
fn full_fine_tuning_of_a_7b_model_does_not_fit_a_24_gb_card() {
    let o = estimate_7b("full");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fit = |name: &str| v["hardware"].as_array().unwrap().iter().find(|f| f["profile"] == name).unwrap()["fits"].clone();
    assert_eq!(fit("rtx4090-24gb"), false);
    assert_eq!(fit("a100-80gb"), false, "16 bytes per parameter: 108 GB");
    assert_eq!(fit("h200-141gb"), true);
}

#[test]
fn reads_a_config_json_and_answers_for_every_preset() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = r#"{"architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
        "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16"}"#;
    let path = tmp.path().join("config.json");
    std::fs::write(&path, cfg).unwrap();
    let o = ftbench(&["estimate", "--model", path.to_str().unwrap(), "--method", "lora", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["params_base"], 1_100_048_384u64, "TinyLlama-1.1B's parameter count");
    let dir = format!("hf:{}", tmp.path().display());
    assert!(ftbench(&["estimate", "--model", &dir]).status.success());
    for p in ["tiny", "smollm2-135m", "llama2-7b", "mistral-7b", "llama3-8b"] {
        let o = ftbench(&["estimate", "--model", &format!("preset:{p}"), "--device", "cpu"]);
        assert!(o.status.success() && text(&o).contains("smallest that fits"), "{p}: {}", text(&o));
    }
    let a = ftbench(&["estimate", "--article"]);
    assert!(
        text(&a).contains("PyTorch H200 allocated") && text(&a).contains("108.0"),
        "{}",
        text(&a)
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let o = ftbench(&["estimate", "--model", "preset:llama2-7b", "--batch", "-4"]);
    assert!(!o.status.success() && text(&o).contains("--batch"), "{}", text(&o));
    let o = ftbench(&["estimate", "--model", "preset:llama2-7b", "--method", "sft"]);
    assert!(
        text(&o).contains("unknown method `sft`: expected one of base, full, lora, qlora, dora, qdora, lora-plus"),
        "{}",
        text(&o)
    );
    let o = ftbench(&["estimate", "--model", "preset:gpt5"]);
    assert!(text(&o).contains("unknown preset `gpt5`"), "{}", text(&o));
    let o = ftbench(&["estimate", "--model", "preset:tiny", "--method", "lora", "--lora-targets", "qkv"]);
    assert!(text(&o).contains("unknown module `qkv`"), "{}", text(&o));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.json");
    std::fs::write(&path, r#"{"vocab_size": 10, "hidden_size": 6}"#).unwrap();
    let o = ftbench(&["estimate", "--model", path.to_str().unwrap()]);
    assert!(
        text(&o).contains("config.json: neither `architectures` nor `model_type`"),
        "{}",
        text(&o)
    );
    std::fs::write(&path, r#"{"architectures": ["LlamaForCausalLM"], "vocab_size": 10}"#).unwrap();
    let o = ftbench(&["estimate", "--model", path.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("config.json: missing key"), "{}", text(&o));
    let o = ftbench(&["estimate", "--model", "preset:tiny", "--batch", "0"]);
    assert!(text(&o).contains("batch and seq_len must be positive"), "{}", text(&o));
    // Sizes whose byte counts do not fit 64 bits: an error, not a panic (debug) or a wrapped,
    // absurdly small estimate (release).
    for (batch, seq) in [("18446744073709551615", "2"), ("4", "4294967296")] {
        let o = ftbench(&[
            "estimate",
            "--model",
            "preset:tiny",
            "--method",
            "lora",
            "--batch",
            batch,
            "--seq-len",
            seq,
        ]);
        assert!(
            !o.status.success() && text(&o).contains("too large to estimate"),
            "batch {batch} × seq_len {seq}: {}",
            text(&o)
        );
    }
}

/// Full fine-tuning sharded with ZeRO: per-GPU model states as DeepSpeed counts them, and the
/// smallest set of GPUs that fits where one GPU does not.
#[test]
fn zero_sharding_says_which_gpus_fit_together() {
    let per_gpu = |n: &str, stage: &str| -> f64 {
        let o = ftbench(&[
            "estimate",
            "--model",
            "preset:llama2-7b",
            "--batch",
            "4",
            "--recompute",
            "--zero",
            stage,
            "--gpus",
            n,
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let p = 6_738_415_616f64;
        let states = v["model_states"].as_f64().unwrap();
        let want = match stage {
            "3" => 4.0 * 131_072_000.0 + 18.0 * p / n.parse::<f64>().unwrap(),
            _ => 2.0 * p + 18.0 * p / n.parse::<f64>().unwrap(),
        };
        assert!((states - want).abs() < 2.0, "ZeRO-{stage} × {n}: {states} vs DeepSpeed's {want}");
        v["total_bytes"].as_f64().unwrap() / 1e9
    };
    let gb: Vec<f64> = ["1", "2", "4", "8"].iter().map(|n| per_gpu(n, "3")).collect();
    assert!(gb.windows(2).all(|w| w[1] < w[0]), "more GPUs, less per GPU: {gb:?}");
    per_gpu("4", "2");
    let o = ftbench(&[
        "estimate",
        "--model",
        "preset:llama2-7b",
        "--batch",
        "4",
        "--recompute",
        "--zero",
        "3",
        "--gpus",
        "2",
    ]);
    assert!(text(&o).contains("smallest that fits: 2× a100-80gb"), "{}", text(&o));
    let o = ftbench(&["estimate", "--model", "preset:llama2-7b", "--gpus", "2"]);
    assert!(text(&o).contains("say how the GPUs share the model with --zero"), "{}", text(&o));
    let o = ftbench(&[
        "estimate",
        "--model",
        "preset:llama2-7b",
        "--method",
        "lora",
        "--zero",
        "3",
        "--gpus",
        "2",
    ]);
    assert!(text(&o).contains("ZeRO shards full fine-tuning's model states"), "{}", text(&o));
}
