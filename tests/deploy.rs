//! Serving forms end to end (`deploy`): a tiny text model trained by full fine-tuning, LoRA and
//! QLoRA on a multiple-choice task, each served in every form that applies to it — made from
//! the trained model, scored on the same held-out items with a paired Δ, timed and sized — and
//! the report's serving table.

mod common;

use common::text_model::{cfg, weights, write_hf};
use common::{ftbench, records, text};
use serde_json::Value;
use std::path::Path;

const ALL_FORMS: &str = r#"[as-trained, merged, bf16, dequantized-base, merged-nf4, "gguf:Q8_0", "gguf:Q4_K_M"]"#;

fn mc_file(dir: &Path, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        s += &format!("{{\"query\": \"Which is number {i}?\", \"choices\": [\"the first one\", \"two\", \"a third, longer answer\"], \"gold\": {}}}\n", i % 3);
    }
    std::fs::write(dir.join("mc.jsonl"), s).unwrap();
}

fn form<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["deploy"].as_array().unwrap().iter().find(|f| f["form"] == name)
}

fn forms(r: &Value) -> Vec<String> {
    r["deploy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["form"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_form_that_applies_is_scored_timed_and_sized_against_the_trained_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let c = cfg(true);
    write_hf(&dir.join("m"), &c, &weights(&c), None);
    mc_file(dir, 48);
    let suite = format!(
        r#"
schema: 1
name: dep
defaults: {{steps: 3, timing_warmup_steps: 1, batch_size: 4, seq_len: 48, eval_examples: 12, lr: 0.01, task: "mc-jsonl:mc.jsonl", lora_targets: [all-linear], deploy: {ALL_FORMS}}}
grid:
  models: [hf:m]
  methods: [full, lora, qlora]
"#
    );
    std::fs::write(dir.join("dep.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "dep.yaml"]);
    let out = text(&run);
    assert!(run.status.success() && out.contains("3 cells run (3 ok, 0 failed)"), "{out}");
    let recs = records(&dir.join("results/dep"));
    let by = |m: &str| recs.iter().find(|r| r["cell"]["method"] == m).unwrap();
    let (full, lora, qlora) = (by("full"), by("lora"), by("qlora"));
    // Forms that do not apply to a method are left out of its cell.
    assert_eq!(forms(full), ["as-trained", "bf16", "merged-nf4", "gguf:Q8_0", "gguf:Q4_K_M"]);
    assert_eq!(
        forms(lora),
        ["as-trained", "merged", "bf16", "merged-nf4", "gguf:Q8_0", "gguf:Q4_K_M"]
    );
    assert_eq!(forms(qlora).len(), 7);
    for r in &recs {
        let trained = &r["eval"];
        let at = form(r, "as-trained").unwrap();
        assert_eq!(&at["eval"], trained, "as-trained is the cell's own evaluation");
        assert!(trained["score"]["n"].as_u64().unwrap() >= 8, "{}", trained["score"]);
        assert_eq!(at["delta"]["delta"], 0.0);
        assert_eq!(at["delta"]["items_changed"], 0);
        for f in r["deploy"].as_array().unwrap() {
            let name = f["form"].as_str().unwrap();
            assert_eq!(
                f["eval"]["score"]["n"], trained["score"]["n"],
                "{name}: scored on the cell's held-out items"
            );
            assert_eq!(
                f["eval"]["score"]["data"]["held_out_ids"], trained["score"]["data"]["held_out_ids"],
                "{name}"
            );
            let d = &f["delta"];
            let (lo, hi) = (d["ci95"][0].as_f64().unwrap(), d["ci95"][1].as_f64().unwrap());
            assert!(
                lo <= d["delta"].as_f64().unwrap() && d["delta"].as_f64().unwrap() <= hi,
                "{name}: {d}"
            );
            assert!(f["prefill_tokens_per_s"].as_f64().unwrap() > 0.0 && f["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
            assert!(f["bytes"].as_u64().unwrap() > 0);
            assert_eq!(f["bytes_of"], if name.starts_with("gguf:") { "file" } else { "tensors" }, "{name}");
        }
        let bytes = |n: &str| form(r, n).unwrap()["bytes"].as_u64().unwrap();
        assert!(bytes("gguf:Q4_K_M") < bytes("gguf:Q8_0"), "Q4_K_M is smaller than Q8_0");
        assert_eq!(form(r, "bf16").unwrap()["compute_dtype"], "bf16");
        // The peak RSS is training's and evaluation's: the forms made afterwards do not count.
        assert!(r["memory"]["peak_rss_bytes"].as_u64().is_some());
    }
    // Merging is exact up to rounding: the same answers, the same loss.
    let merged = form(lora, "merged").unwrap();
    assert_eq!(merged["delta"]["items_changed"], 0, "{merged}");
    assert!(merged["delta_loss"].as_f64().unwrap().abs() < 1e-4, "{merged}");
    // The full fine-tune's f32 weights take twice bf16's.
    let fb = |n: &str| form(full, n).unwrap()["bytes"].as_f64().unwrap();
    assert!((fb("as-trained") / fb("bf16") - 2.0).abs() < 1e-9);
    // QLoRA over its dequantized base computes what it trained on: the NF4 codes, dequantized.
    for n in ["dequantized-base", "merged"] {
        let f = form(qlora, n).unwrap();
        assert!(f["delta_loss"].as_f64().unwrap().abs() < 1e-4, "{n}: {f}");
        assert_eq!(f["delta"]["items_changed"], 0, "{n}: {f}");
    }
    // The report's serving table and chart.
    let report = dir.join("reports/dep");
    let csv = std::fs::read_to_string(report.join("serving.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5 + 6 + 7, "{csv}");
    assert!(report.join("serving-1.svg").exists());
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("id=\"serving-table\"") && html.contains("gguf:Q4_K_M"));
}

#[test]
fn an_unknown_or_repeated_form_is_refused_by_name_and_another_engine_refuses_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (forms, says) in [
        ("[gguf:Q3_K]", "unknown serving form `gguf:Q3_K`"),
        ("[bf16, bf16]", "`bf16` is listed twice"),
    ] {
        let suite = format!("schema: 1\nname: bad\ndefaults: {{deploy: {forms}}}\ngrid: {{models: [preset:tiny], methods: [lora]}}\n");
        std::fs::write(dir.join("bad.yaml"), suite).unwrap();
        let out = ftbench(dir, &["validate", "bad.yaml"]);
        let t = text(&out);
        assert!(!out.status.success() && t.contains("deploy") && t.contains(says), "{t}");
    }
    let suite = "schema: 1\nname: eng\ndefaults: {steps: 2, timing_warmup_steps: 1, engine: pytorch, deploy: [merged]}\ngrid: {models: [preset:tiny], methods: [lora]}\n";
    std::fs::write(dir.join("eng.yaml"), suite).unwrap();
    let out = ftbench(dir, &["run", "eng.yaml"]);
    let recs = records(&dir.join("results/eng"));
    assert_eq!(recs.len(), 1, "{}", text(&out));
    assert_eq!(recs[0]["failure"]["kind"], "unsupported", "{}", recs[0]);
    assert_eq!(recs[0]["failure"]["key"], "deploy");
}
