//! Helpers the end-to-end tests share: running the binary and reading what it wrote.
#![allow(dead_code)] // each test file uses its own subset

pub mod text_model;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file or folder that a fetch script puts in place (`models/`, `data/`), relative to the
/// repository; `None` when it is absent, saying which script fetches it. With `CI` set (.ci/run
/// runs both scripts first) an absent file fails the test instead: a test that skips in CI checks
/// nothing.
pub fn fetched(relative: &str, script: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and {} is missing: run {script} (.ci/run does)",
        p.display()
    );
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("SKIPPED: {} is missing; run {script} to fetch it\n", p.display()),
    );
    None
}

/// Whether the PyTorch engine's Python (torch, transformers, PEFT, bitsandbytes:
/// scripts/setup-engines.sh) can run here; with CI set, it must.
pub fn engine_python_usable() -> bool {
    let engine = ftbench::engine::EngineRef::lookup("pytorch").unwrap();
    match engine.available() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and the PyTorch engine is not usable: {why}"
            );
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("SKIPPED: the PyTorch engine is not usable: {why}\n"),
            );
            false
        }
    }
}

/// Runs `ftbench ARGS` in `dir`.
pub fn ftbench(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ftbench runs")
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The `*.json` files of a folder, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Every record (`*.json`) of a results folder, parsed.
pub fn records(dir: &Path) -> Vec<serde_json::Value> {
    json_files(dir)
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

/// What ftbench computes for PEFT's reference inputs (`input_ids` of a safetensors file written
/// by a tests/scripts/peft_*.py) with `base` (an HF directory) and the adapter folder `adapter`:
/// its logits (positions × vocab), and the file's tensors.
pub fn logits_with_adapter(
    base: &Path,
    adapter: &Path,
    reference: &Path,
) -> (
    ftbench::runner::InferenceModel,
    candle_core::Tensor,
    std::collections::HashMap<String, candle_core::Tensor>,
) {
    use candle_core::{Device, Tensor};
    let want = candle_core::safetensors::load(reference, &Device::Cpu).unwrap();
    let model = format!("hf:{}", base.display());
    let m = ftbench::runner::load_for_inference(Some(&model), Some(adapter), false, &Device::Cpu).unwrap();
    let ids: Vec<i64> = want["input_ids"].to_vec1().unwrap();
    let ids = Tensor::new(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let dec = &m.built.decoder;
    let logits = dec.logits(&dec.hidden_states(&ids).unwrap()).unwrap().squeeze(0).unwrap();
    (m, logits, want)
}
