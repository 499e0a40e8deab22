//! The `precision` knob and device selection, end to end on the CPU: bf16-mixed and pure bf16
//! cells train (the composed ops and the device-side AdamW run, as they do on a GPU), and the
//! record's conditions say what ran; a `cuda:N` cell in a build without CUDA is an error record
//! that says how to get one.

use serde_json::Value;

mod common;
use common::{ftbench, json_files, records, text};

const SUITE: &str = r#"
schema: 1
name: precision
description: each precision on the CPU, full fine-tuning and QLoRA
defaults: {steps: 6, timing_warmup_steps: 1, warmup_steps: 1, batch_size: 2, seq_len: 16, eval_examples: 4, lr: 0.01}
grid:
  models: [preset:tiny]
  methods: [full, qlora]
  together:
    precision:
      - {precision: f32, optimizer: adamw}
      - {precision: bf16-mixed, optimizer: adamw}
      - {precision: bf16, optimizer: adamw-bf16}
"#;

#[test]
fn every_precision_trains_on_the_cpu_and_the_record_says_what_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.yaml"), SUITE).unwrap();
    let run = ftbench(dir, &["run", "p.yaml"]);
    assert!(run.status.success(), "{}", text(&run));
    let recs = records(&dir.join("results/precision"));
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let k = &r["cell"]["knobs"];
        let (method, precision) = (r["cell"]["method"].as_str().unwrap(), k["precision"].as_str().unwrap());
        assert_eq!(r["status"], "ok", "{method} {precision}: {}", r["reason"]);
        let c = &r["conditions"];
        let (compute, master) = match precision {
            "f32" => ("f32", "f32"),
            "bf16-mixed" => ("bf16", "f32"),
            _ => ("bf16", "bf16"),
        };
        assert_eq!(c["compute_dtype"], compute, "{method} {precision}");
        assert_eq!(c["precision"], precision);
        assert_eq!(c["master_dtype"], master, "{method} {precision}");
        // Fused kernels are f32 CPU ops: bf16 runs the composed ops, and the record says so.
        assert_eq!(c["fused_ops"], precision == "f32", "{method} {precision}");
        let state = c["optimizer_state_dtype"].as_str().unwrap();
        assert_eq!(state, if precision == "bf16" { "bf16" } else { "f32" }, "{method} {precision}");
        let losses: Vec<f64> = r["steps"].as_array().unwrap().iter().map(|s| s["loss"].as_f64().unwrap()).collect();
        assert!(losses.iter().all(|l| l.is_finite()), "{method} {precision}: {losses:?}");
        assert!(
            losses.last().unwrap() < &losses[0],
            "{method} {precision} did not learn: {losses:?}"
        );
        // Losses are computed and recorded in f32 whatever the compute dtype: a bf16 loss near
        // 5 moves in steps of 1/32, which would show in every value.
        let on_bf16_grid = |x: f64| half::bf16::from_f64(x).to_f64() == x;
        let held_out = r["eval"]["loss"].as_f64().unwrap();
        assert!(
            !on_bf16_grid(held_out),
            "{method} {precision}: held-out loss {held_out} is a bf16 value"
        );
        assert!(
            !losses.iter().all(|&l| on_bf16_grid(l)),
            "{method} {precision}: {losses:?} are bf16 values"
        );
        // Frozen bases are stored in the frozen dtype: bf16 halves QLoRA's dense remainder and
        // full fine-tuning's weights under pure bf16.
        assert!(r["memory"].get("gpu").is_none(), "no GPU view on the CPU");
    }
    let bytes = |m: &str, p: &str| {
        recs.iter()
            .find(|r| r["cell"]["method"] == m && r["cell"]["knobs"]["precision"] == p)
            .map(|r| r["model"]["weight_bytes"]["dense"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!(bytes("full", "bf16") * 2, bytes("full", "f32"));
    assert_eq!(bytes("full", "bf16-mixed"), bytes("full", "f32"), "mixed keeps f32 masters");
    assert_eq!(
        bytes("qlora", "bf16-mixed") * 2,
        bytes("qlora", "f32"),
        "frozen embeddings and norms in bf16"
    );
}

#[test]
fn unknown_precisions_and_devices_are_named_with_what_was_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bad = "schema: 1\nname: bad\ngrid:\n  models: [preset:tiny]\n  methods: [lora]\n  precision: [fp8]\n";
    std::fs::write(dir.join("bad.yaml"), bad).unwrap();
    let out = ftbench(dir, &["plan", "bad.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown precision `fp8`: expected one of f32, bf16-mixed, bf16"),
        "{}",
        text(&out)
    );
    let bad = "schema: 1\nname: bad2\ngrid:\n  models: [preset:tiny]\n  methods: [lora]\n  hardware: [gpu0]\n";
    std::fs::write(dir.join("bad2.yaml"), bad).unwrap();
    let out = ftbench(dir, &["plan", "bad2.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("expected `cpu` or `cuda:N`"), "{}", text(&out));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_cuda_cell_in_a_cpu_build_is_an_error_record_that_says_how_to_build_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let suite = "schema: 1\nname: gpu\ndefaults: {steps: 3, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2}\ngrid:\n  models: [preset:tiny]\n  methods: [lora]\n  hardware: [cuda:0]\n";
    std::fs::write(dir.join("gpu.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "gpu.yaml"]);
    assert!(run.status.success(), "a failed cell does not fail the suite: {}", text(&run));
    let recs = records(&dir.join("results/gpu"));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "error");
    let reason = recs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("built without the `cuda` feature") && reason.contains("scripts/build-cuda.sh"),
        "{reason}"
    );
}

/// The report's contract for GPU records (what a CUDA cell's child and runner write: the pool and
/// NVML views, a cuda device, MFU): a record of the article's LoRA configuration stands beside
/// PyTorch's figures for it, with the ratios. The record is a CPU run's, its GPU fields written
/// in as a GPU run writes them (this machine has no GPU to produce them).
#[test]
fn a_gpu_record_stands_beside_pytorch_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let suite = "schema: 1\nname: g\ndefaults: {steps: 3, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2}\ngrid:\n  models: [preset:tiny]\n  methods: [lora]\n";
    std::fs::write(dir.join("g.yaml"), suite).unwrap();
    assert!(ftbench(dir, &["run", "g.yaml"]).status.success());
    let file = json_files(&dir.join("results/g")).pop().unwrap();
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    r["cell"]["model"] = "preset:llama2-7b".into();
    r["cell"]["hardware"] = "cuda:0".into();
    r["cell"]["knobs"]["batch_size"] = 4.into();
    r["cell"]["knobs"]["seq_len"] = 512.into();
    r["conditions"]["device"] = "cuda:0 (NVIDIA H200)".into();
    r["conditions"]["precision"] = "bf16-mixed".into();
    r["conditions"]["recompute"] = true.into();
    r["timing"]["tokens_per_s"] = 5000.0.into();
    r["timing"]["mfu"] = 0.3.into();
    r["memory"]["gpu"] = serde_json::json!({
        "gpu": "NVIDIA H200", "pool_peak_bytes": 14_000_000_000u64, "pool_reserved_peak_bytes": 15_000_000_000u64,
        "pool_after_load_bytes": 13_600_000_000u64, "pool_load_peak_bytes": 14_100_000_000u64,
        "pool_first_step_peak_bytes": 13_900_000_000u64, "nvml_before_bytes": 500_000_000u64,
        "nvml_peak_bytes": 16_000_000_000u64, "nvml_after_load_bytes": 14_500_000_000u64,
        "nvml_after_first_step_bytes": 15_800_000_000u64, "nvml_series": [[0.25, 600_000_000u64]],
        "nvml_samples": 1000, "nvml_error": null
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    let rep = ftbench(dir, &["report", "results/g", "--out", "rep"]);
    assert!(rep.status.success(), "{}", text(&rep));
    let csv = std::fs::read_to_string(dir.join("rep/gpu.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let field = |k: &str| row[head.iter().position(|h| *h == k).unwrap()];
    assert_eq!(field("torch_peak_allocated_gb"), "15.5");
    assert_eq!(field("torch_tokens_per_s"), "4885.0");
    let ratio: f64 = field("pool_ratio").parse().unwrap();
    assert!((ratio - 14.0 / 15.5).abs() < 1e-9, "{ratio}");
    let speed: f64 = field("speed_ratio").parse().unwrap();
    assert!((speed - 5000.0 / 4885.0).abs() < 1e-9);
    let html = std::fs::read_to_string(dir.join("rep/index.html")).unwrap();
    assert!(html.contains("GPU cells beside PyTorch") && html.contains("30.0%"), "MFU shown");
    assert!(
        html.contains("allocated (CUDA pool)"),
        "the article table's measured memory is the GPU's for a GPU cell"
    );
}
