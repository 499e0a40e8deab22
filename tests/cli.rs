//! End-to-end runs of the `ftbench` binary on tiny models, in temporary folders.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod common;
use common::{ftbench, records, text};

const SUITE: &str = r#"
schema: 1
name: e2e
description: tiny end-to-end run with one impossible cell
defaults: {steps: 4, timing_warmup_steps: 1, warmup_steps: 1, batch_size: 2, eval_examples: 4, lr: 0.01}
grid:
  models: [preset:tiny]
  methods: [full]
  seeds: [0, 1]
  together:
    length:
      - {seq_len: 16}
      - {seq_len: 600}   # tiny has max_position_embeddings 512: this cell must fail
exclude:
  - {seq_len: 600, seed: 1}
"#;

#[test]
fn suite_runs_end_to_end_records_failures_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("e2e.yaml"), SUITE).unwrap();

    let plan = ftbench(dir, &["plan", "e2e.yaml"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert_eq!(text(&plan).matches("pending").count(), 3, "{}", text(&plan));

    let run = ftbench(dir, &["run", "e2e.yaml"]);
    let out = text(&run);
    assert!(run.status.success(), "a failed cell does not fail the suite: {out}");
    assert!(out.contains("3 cells run (2 ok, 1 failed)"), "{out}");

    let recs = records(&dir.join("results/e2e"));
    assert_eq!(recs.len(), 3);
    let failed: Vec<&Value> = recs.iter().filter(|r| r["status"] != "ok").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], "error");
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("seq_len 600 exceeds the model's max_position_embeddings (512)"),
        "{reason}"
    );
    assert_eq!(failed[0]["cell"]["knobs"]["seq_len"], 600);
    assert_eq!(
        failed[0]["failure"]["kind"], "internal",
        "the child reported its failure as a typed event"
    );

    for r in recs.iter().filter(|r| r["status"] == "ok") {
        assert_eq!(r["schema_version"], 1);
        assert_eq!(r["steps"].as_array().unwrap().len(), 4);
        assert_eq!(r["timing"]["warmup_step_s"].as_array().unwrap().len(), 1);
        assert_eq!(r["timing"]["steady_step_s"].as_array().unwrap().len(), 3);
        assert!(r["timing"]["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(r["conditions"]["tokens_per_step"], 32);
        assert_eq!(r["conditions"]["recompute"], false);
        assert!(r["memory"]["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
        assert!(r["memory"]["peak_rss_bytes"].as_u64() >= r["memory"]["after_load_rss_bytes"].as_u64());
        assert!(r["environment"]["threads"].as_u64().unwrap() >= 1);
        assert!(!r["environment"]["cpu_model"].as_str().unwrap().is_empty());
        // The candle the binary links, as Cargo.lock pins it (not a literal that goes stale).
        let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
        let candle = r["environment"]["candle_version"].as_str().unwrap();
        assert!(
            lock.contains(&format!("name = \"candle-core\"\nversion = \"{candle}\"")),
            "candle_version {candle} is not Cargo.lock's"
        );
        assert!(r["model"]["params_trainable"] == r["model"]["params_total"]);
        let estimate = r["estimate"]["total_bytes"]
            .as_u64()
            .expect("the estimate made before the run is in the record");
        assert!(estimate > 0 && r["estimate"]["components"].as_array().unwrap().len() == 9);
        let eval = &r["eval"];
        assert_eq!(eval["examples"], 4);
        assert!(eval["loss"].as_f64().unwrap().is_finite());
        let losses: Vec<f64> = r["steps"].as_array().unwrap().iter().map(|s| s["loss"].as_f64().unwrap()).collect();
        assert!(losses.iter().all(|l| l.is_finite()));
        assert!(losses[3] < losses[0], "training lowers the loss: {losses:?}");
        assert!(dir.join("results/e2e").join(r["log"].as_str().unwrap()).exists());
    }

    // The report lists every cell and the failure with its reason.
    let html = std::fs::read_to_string(dir.join("reports/e2e/index.html")).unwrap();
    assert!(
        html.contains("Failed cells") && html.contains("exceeds the model&#x27;s max_position_embeddings"),
        "escaped reason in the HTML"
    );
    assert_eq!(
        html.matches("<td class=\"bad\">error</td>").count(),
        2,
        "in the cell table and the failures table"
    );
    let csv = std::fs::read_to_string(dir.join("reports/e2e/cells.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("suite,cell_id,label,model,method"));
    let summary = std::fs::read_to_string(dir.join("reports/e2e/summary.csv")).unwrap();
    assert!(
        summary.contains(",2,2,0 1,"),
        "the 16-token configuration groups two ok seeds: {summary}"
    );

    // A second run skips recorded cells and leaves their records alone.
    let before = std::fs::read_to_string(
        dir.join("results/e2e")
            .join(format!("{}.json", recs[0]["cell"]["id"].as_str().unwrap())),
    )
    .unwrap();
    let again = ftbench(dir, &["run", "e2e.yaml"]);
    assert!(
        text(&again).contains("0 cells run") && text(&again).contains("3 already recorded"),
        "{}",
        text(&again)
    );
    let after = std::fs::read_to_string(
        dir.join("results/e2e")
            .join(format!("{}.json", recs[0]["cell"]["id"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(before, after);

    // --retry-failed re-runs only the failed cell; --force re-runs all, with the same losses (seeded).
    let retry = ftbench(dir, &["run", "e2e.yaml", "--retry-failed"]);
    assert!(
        text(&retry).contains("1 cells run (0 ok, 1 failed), 2 already recorded"),
        "{}",
        text(&retry)
    );
    let forced = ftbench(dir, &["run", "e2e.yaml", "--force"]);
    assert!(text(&forced).contains("3 cells run"), "{}", text(&forced));
    let recs2 = records(&dir.join("results/e2e"));
    for (a, b) in recs.iter().zip(&recs2) {
        let losses = |r: &Value| {
            r["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["loss"].as_f64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(losses(a), losses(b), "same seed, same losses");
        assert_eq!(a["eval"], b["eval"]);
    }
    let plan = ftbench(dir, &["plan", "e2e.yaml"]);
    assert_eq!(text(&plan).matches(" ok ").count(), 2, "{}", text(&plan));
}

#[test]
fn a_cell_past_its_timeout_is_recorded_as_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let suite =
        "schema: 1\nname: slow\ndefaults: {steps: 100000, timeout_s: 2, seq_len: 32}\ngrid: {models: [preset:tiny], methods: [full]}\n";
    std::fs::write(dir.join("slow.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "slow.yaml"]);
    assert!(run.status.success(), "{}", text(&run));
    let r = &records(&dir.join("results/slow"))[0];
    assert_eq!(r["status"], "timeout");
    assert!(r["reason"].as_str().unwrap().contains("timeout_s"));
    assert!(!r["steps"].as_array().unwrap().is_empty(), "steps done before the kill are kept");
    assert!(
        r["memory"]["peak_rss_bytes"].as_u64().unwrap() > 0,
        "peak RSS of a killed child comes from wait4"
    );
    assert!(r["wall_s"].as_f64().unwrap() < 30.0);
}

#[test]
fn bad_inputs_get_clear_errors_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("bad.yaml"),
        "schema: 1\nname: bad\ngrid:\n  models: [preset:tiny]\n  methods: [full]\n  seq_len: [0]\n",
    )
    .unwrap();
    let v = ftbench(dir, &["validate", "bad.yaml"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        text(&v).starts_with("error: bad.yaml: grid.seq_len: cell [preset:tiny · full]: seq_len must be at least 8 tokens, found 0"),
        "{}",
        text(&v)
    );
    let missing = ftbench(dir, &["run", "nope.yaml"]);
    assert!(text(&missing).contains("nope.yaml: cannot read"), "{}", text(&missing));

    // A corrupt record is reported and skipped; the report still renders the others.
    std::fs::create_dir_all(dir.join("results/x")).unwrap();
    std::fs::write(dir.join("results/x/broken.json"), "{\"schema_version\": 1, \"suite\": ").unwrap();
    std::fs::write(dir.join("results/x/future.json"), "{\"schema_version\": 9}").unwrap();
    let rep = ftbench(dir, &["report", "results/x"]);
    assert!(rep.status.success(), "{}", text(&rep));
    assert!(text(&rep).contains("broken.json: skipped: not JSON"), "{}", text(&rep));
    assert!(text(&rep).contains("future.json: skipped: record schema v9"), "{}", text(&rep));
    let html = std::fs::read_to_string(dir.join("reports/x/index.html")).unwrap();
    assert!(html.contains("Unreadable records") && html.contains("broken.json"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .arg("cell")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"{not json").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error: the cell on stdin is not valid JSON"), "{}", text(&out));
}

#[test]
fn lora_and_qlora_cells_record_what_they_hold_and_save_peft_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let suite = "schema: 1\nname: methods\ndefaults: {steps: 3, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4, save_adapter: true}\n\
                 grid:\n  models: [preset:tiny]\n  methods: [full, lora, qlora]\n  lora_targets: [[q_proj, v_proj], [all-linear]]\n";
    std::fs::write(dir.join("m.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "m.yaml"]);
    // full runs once: lora_targets means nothing to it.
    assert!(text(&run).contains("5 cells run (5 ok, 0 failed)"), "{}", text(&run));
    let recs = records(&dir.join("results/methods"));
    let full = recs.iter().find(|r| r["cell"]["method"] == "full").unwrap();
    assert!(full["adapter"].is_null(), "full fine-tuning has no adapter to save");
    for r in recs.iter().filter(|r| r["cell"]["method"] != "full") {
        let m = &r["model"];
        let trainable = m["params_trainable"].as_u64().unwrap();
        assert_eq!(trainable, m["params_adapters"].as_u64().unwrap());
        assert_eq!(m["params_total"].as_u64().unwrap(), m["params_base"].as_u64().unwrap() + trainable);
        assert!(m["trainable_percent"].as_f64().unwrap() < 50.0);
        assert_eq!(m["grad_bytes"].as_u64().unwrap(), 4 * trainable);
        assert_eq!(m["optimizer_state_bytes"].as_u64().unwrap(), 8 * trainable);
        let nf4 = m["weight_bytes"]["nf4_packed"].as_u64().unwrap();
        assert_eq!(nf4 > 0, r["cell"]["method"] == "qlora");
        let adapter = dir.join("results/methods").join(r["adapter"].as_str().unwrap());
        assert!(adapter.join("adapter_config.json").exists() && adapter.join("adapter_model.safetensors").exists());
        let cfg: Value = serde_json::from_str(&std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap()).unwrap();
        assert_eq!(cfg["r"], 4);
        assert_eq!(cfg["base_model_name_or_path"], "preset:tiny");
    }
    let html = std::fs::read_to_string(dir.join("reports/methods/index.html")).unwrap();
    assert!(html.contains("NF4") && html.contains("adapters"), "the report shows bytes by kind");
}

/// The methods added through the method seam run in a suite like the first three: DoRA, QDoRA
/// and LoRA+, and full fine-tuning with 8-bit AdamW state, each with its stored estimate, its
/// adapter in PEFT's layout (DoRA: `use_dora` and one magnitude vector per adapted linear) and
/// its column in the report's article table.
#[test]
fn dora_qdora_lora_plus_and_8bit_adamw_run_in_a_suite_and_reach_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let suite = "schema: 1\nname: seams\ndefaults: {steps: 3, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4, save_adapter: true, lora_plus_ratio: 8}\n\
                 grid:\n  models: [preset:tiny]\n  together:\n    run:\n      - {method: dora, optimizer: adamw}\n      - {method: qdora, optimizer: adamw}\n      - {method: lora-plus, optimizer: adamw}\n      - {method: full, optimizer: adamw-8bit}\n";
    std::fs::write(dir.join("s.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "s.yaml"]);
    assert!(text(&run).contains("4 cells run (4 ok, 0 failed)"), "{}", text(&run));
    let recs = records(&dir.join("results/seams"));
    let layers = 2 * 7; // preset:tiny: 2 layers × 7 linears
    for r in &recs {
        let method = r["cell"]["method"].as_str().unwrap();
        let est = &r["estimate"];
        assert!(est["total_bytes"].as_u64().unwrap() > 0, "{method}: the estimate was stored");
        if method == "full" {
            assert_eq!(r["conditions"]["optimizer"], "adamw-8bit");
            assert!(r["conditions"]["optimizer_state_dtype"]
                .as_str()
                .unwrap()
                .starts_with("8-bit blockwise"));
            continue;
        }
        let adapter = dir.join("results/seams").join(r["adapter"].as_str().unwrap());
        let cfg: Value = serde_json::from_str(&std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap()).unwrap();
        let dora = method != "lora-plus";
        assert_eq!(cfg["use_dora"], dora, "{method}");
        let bytes = std::fs::read(adapter.join("adapter_model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mags = st.names().into_iter().filter(|n| n.ends_with(".lora_magnitude_vector")).count();
        assert_eq!(mags, if dora { layers } else { 0 }, "{method}");
        assert_eq!(st.names().len(), 2 * layers + mags, "{method}: A, B (+ magnitudes)");
        // The estimate counts DoRA's magnitudes with its adapters, as the model holds them.
        let m = &r["model"];
        assert_eq!(m["params_trainable"], m["params_adapters"]);
    }
    let html = std::fs::read_to_string(dir.join("reports/seams/index.html")).unwrap();
    for label in ["DoRA", "QDoRA", "LoRA+", "Full fine-tuning"] {
        assert!(html.contains(&format!(">{label}</th>")), "the article table has a {label} column");
    }
    let cells = std::fs::read_to_string(dir.join("reports/seams/cells.csv")).unwrap();
    assert!(cells.lines().any(|l| l.contains(",lora-plus,")) && cells.lines().any(|l| l.contains(",qdora,")));
}

fn recs_of(dir: &Path) -> Vec<Value> {
    records(&dir.join("results/bad-input"))
}

/// A cell's process reports bad input as a typed failure naming the file and the line (or the
/// missing file), and the parent records it as such without reading the child's stderr.
#[test]
fn bad_input_is_a_typed_failure_with_its_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("mine.jsonl"),
        "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\", \"completion\": 7}\n",
    )
    .unwrap();
    let c = common::text_model::cfg(true);
    common::text_model::write_hf(&dir.join("m"), &c, &common::text_model::weights(&c), None);
    let suite = "schema: 1\nname: bad-input\ndefaults: {steps: 2, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 1}\n\
                 grid:\n  together:\n    case:\n      - {model: gguf:nowhere.gguf, task: reverse}\n      - {model: hf:m, task: jsonl:mine.jsonl}\n      - {model: gguf:corrupt.gguf, task: reverse}\n      - {model: hf:badcfg, task: reverse}\n  methods: [lora]\n";
    std::fs::write(dir.join("corrupt.gguf"), b"GGUF\x03\x00\x00\x00not really").unwrap();
    std::fs::create_dir_all(dir.join("badcfg")).unwrap();
    let mut cfg_json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("m/config.json")).unwrap()).unwrap();
    cfg_json["hidden_size"] = serde_json::json!("wide");
    std::fs::write(dir.join("badcfg/config.json"), cfg_json.to_string()).unwrap();
    std::fs::write(dir.join("b.yaml"), suite).unwrap();
    let run = ftbench(dir, &["run", "b.yaml"]);
    assert!(text(&run).contains("4 cells run (0 ok, 4 failed)"), "{}", text(&run));
    let corrupt = recs_of(dir)
        .into_iter()
        .find(|r| r["cell"]["model"] == "gguf:corrupt.gguf")
        .unwrap();
    assert_eq!(corrupt["failure"]["kind"], "bad_input", "{}", corrupt["reason"]);
    assert_eq!(corrupt["failure"]["file"], "corrupt.gguf");
    let bad = recs_of(dir).into_iter().find(|r| r["cell"]["model"] == "hf:badcfg").unwrap();
    assert_eq!(bad["failure"]["kind"], "bad_input", "{}", bad["reason"]);
    assert_eq!(bad["failure"]["key"], "key `hidden_size`");
    let recs = records(&dir.join("results/bad-input"));
    let missing = recs.iter().find(|r| r["cell"]["model"] == "gguf:nowhere.gguf").unwrap();
    assert_eq!(missing["status"], "error");
    assert_eq!(missing["failure"]["kind"], "bad_input");
    assert_eq!(missing["failure"]["file"], "nowhere.gguf");
    let line = recs.iter().find(|r| r["cell"]["model"] == "hf:m").unwrap();
    assert_eq!(line["failure"]["kind"], "bad_input", "{}", line["reason"]);
    assert_eq!(line["failure"]["file"], "mine.jsonl");
    assert_eq!(line["failure"]["key"], "line 2: field `completion`");
    assert!(missing["reason"].as_str().unwrap().contains("scripts/fetch-models.sh"));
}
