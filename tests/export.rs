//! `ftbench export` round trips: a LoRA adapter trained on a tiny text model (the SmolLM2
//! layout: Llama, tied embeddings, a byte-level BPE tokenizer with a chat template) is merged and
//! written as a Hugging Face directory and as GGUF files in f32, f16, Q8_0 and Q4_K_M. ftbench
//! reads every file back (the f32 ones give the merged model's logits); transformers reads the
//! Hugging Face directory and every GGUF (its GGUF loader) and must give ftbench's logits on
//! the same file within 1e-3 and the same greedy continuation (tests/scripts/export_roundtrip.py,
//! with the engine's Python: skipped without it, failed without it in CI).

mod common;

use candle_core::{Device, Tensor};
use common::text_model::{cfg, weights, write_hf};
use common::{ftbench, records, text};
use ftbench::model::Decoder;
use ftbench::runner::load_for_inference;
use std::collections::HashMap;
use std::path::Path;

const CHAT: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}";
const PROMPT: [u32; 9] = [1, 40, 72, 3, 100, 266, 20, 55, 9];
const NEW: usize = 12;

fn logits(d: &Decoder) -> Tensor {
    let ids = Tensor::new(&PROMPT[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    d.logits(&d.hidden_states(&ids).unwrap()).unwrap().squeeze(0).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Trains a LoRA adapter on the tiny text model with the CLI; returns (base dir, adapter dir).
fn trained_adapter(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let c = cfg(true);
    let base = dir.join("m");
    write_hf(&base, &c, &weights(&c), None);
    std::fs::write(
        base.join("tokenizer_config.json"),
        serde_json::json!({ "chat_template": CHAT }).to_string(),
    )
    .unwrap();
    let suite = "schema: 1\nname: ex\ndefaults: {steps: 4, timing_warmup_steps: 1, batch_size: 2, seq_len: 16, eval_examples: 2, lr: 0.05, task: reverse, lora_targets: [all-linear], save_adapter: true, save_checkpoint: true}\ngrid: {models: [hf:m], methods: [lora, full]}\n";
    std::fs::write(dir.join("ex.yaml"), suite).unwrap();
    let out = ftbench(dir, &["run", "ex.yaml"]);
    let recs = records(&dir.join("results/ex"));
    assert_eq!(recs.len(), 2, "{}", text(&out));
    let lora = recs.iter().find(|r| r["cell"]["method"] == "lora").unwrap();
    assert!(lora.get("checkpoint").is_none(), "only full fine-tuning saves a checkpoint");
    let adapter = dir
        .join("results/ex")
        .join(lora["adapter"].as_str().expect("the adapter was saved"));
    (base, adapter)
}

/// The record of the cell trained with `method`.
fn record_of(dir: &Path, method: &str) -> std::path::PathBuf {
    common::json_files(&dir.join("results/ex"))
        .into_iter()
        .find(|f| std::fs::read_to_string(f).unwrap().contains(&format!("\"method\": \"{method}\"")))
        .unwrap()
}

#[test]
fn a_full_fine_tune_saves_its_checkpoint_and_exports_from_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    trained_adapter(dir);
    let record = record_of(dir, "full");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let ckpt = dir
        .join("results/ex")
        .join(r["checkpoint"].as_str().expect("the checkpoint was saved"));
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
        assert!(ckpt.join(f).is_file(), "{f}");
    }
    let saved = load_for_inference(Some(&format!("hf:{}", ckpt.display())), None, true, &Device::Cpu).unwrap();
    let base = load_for_inference(Some(&format!("hf:{}", dir.join("m").display())), None, false, &Device::Cpu).unwrap();
    assert!(
        max_diff(&logits(&saved.built.decoder), &logits(&base.built.decoder)) > 1e-3,
        "the checkpoint holds the trained weights"
    );
    let out = dir.join("full.gguf");
    let o = ftbench(
        dir,
        &[
            "export",
            record.to_str().unwrap(),
            "--format",
            "gguf",
            "--quant",
            "f32",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let back = load_for_inference(Some(&format!("gguf:{}", out.display())), None, true, &Device::Cpu).unwrap();
    let d = max_diff(&logits(&back.built.decoder), &logits(&saved.built.decoder));
    assert!(d < 1e-4, "the exported full fine-tune reads back {d} away from its checkpoint");
}

#[test]
fn exports_read_back_the_same_in_ftbench_and_in_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (base, adapter) = trained_adapter(dir);
    let record = record_of(dir, "lora");
    let m = load_for_inference(Some(&format!("hf:{}", base.display())), Some(&adapter), true, &Device::Cpu).unwrap();
    let merged = ftbench::method::merged_dense(&m.built.decoder).unwrap();
    let want = logits(&merged);
    // The adapter changed the model (else a lost merge would pass).
    let base_logits = logits(
        &load_for_inference(Some(&format!("hf:{}", base.display())), None, false, &Device::Cpu)
            .unwrap()
            .built
            .decoder,
    );
    assert!(max_diff(&want, &base_logits) > 1e-3);

    let mut expect: HashMap<String, Tensor> = HashMap::new();
    let mut models = Vec::new();
    let exports = [
        ("hf", "f32"),
        ("gguf", "f32"),
        ("gguf", "f16"),
        ("gguf", "Q8_0"),
        ("gguf", "Q4_K_M"),
    ];
    for (i, (format, quant)) in exports.into_iter().enumerate() {
        let name = format!("{format}-{quant}");
        // Each GGUF alone in its folder: transformers would take a tokenizer.json beside it.
        let folder = dir.join(&name);
        let out = if format == "hf" {
            folder.clone()
        } else {
            folder.join(format!("model-{quant}.gguf"))
        };
        std::fs::create_dir_all(&folder).unwrap();
        // The source by adapter folder, or by the cell's record.
        let source = if i % 2 == 0 { adapter.clone() } else { record.clone() };
        let o = ftbench(
            dir,
            &[
                "export",
                source.to_str().unwrap(),
                "--format",
                format,
                "--quant",
                quant,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{name}: {}", text(&o));
        let spec = format!("{}:{}", if format == "hf" { "hf" } else { "gguf" }, out.display());
        let back = load_for_inference(Some(&spec), None, true, &Device::Cpu).unwrap();
        let got = logits(&back.built.decoder);
        let tol = match quant {
            "f32" => 1e-4,
            "f16" => 2e-2,
            _ => 0.5,
        };
        let d = max_diff(&got, &want);
        assert!(d < tol, "{name}: ftbench reads its own export {d} away from the merged model");
        // The tokenizer travels: the same ids, the same chat template.
        let tok = back.tokenizer.as_ref().unwrap();
        let text_in = "the tea in an a ant";
        assert_eq!(
            tok.encode_plain(text_in).unwrap(),
            m.tokenizer.as_ref().unwrap().encode_plain(text_in).unwrap(),
            "{name}"
        );
        assert_eq!(tok.chat_template.as_deref(), Some(CHAT), "{name}");
        assert_eq!(back.eos.first(), m.eos.first(), "{name}");
        let greedy = ftbench::model::greedy(&back.built.decoder, &PROMPT, NEW, &[]).unwrap();
        expect.insert(format!("{name}.logits"), got);
        expect.insert(
            format!("{name}.greedy"),
            Tensor::new(greedy.iter().map(|&x| x as i64).collect::<Vec<_>>(), &Device::Cpu).unwrap(),
        );
        models.push(serde_json::json!({"name": name, "format": format, "dir": folder, "file": out.file_name().unwrap().to_str()}));
    }
    // GGUF served from its blocks (the gguf:Q8_0 serving form) stays close to its dequantized reading.
    let served = ftbench::deploy::read_served_gguf(&dir.join("gguf-Q8_0/model-Q8_0.gguf"), &Device::Cpu).unwrap();
    let d = max_diff(&logits(&served), &expect["gguf-Q8_0.logits"]);
    assert!(d < 0.2, "quantized matmuls {d} away from the dequantized weights");
    // Bad requests are refused by name.
    let o = ftbench(
        dir,
        &[
            "export",
            adapter.to_str().unwrap(),
            "--format",
            "hf",
            "--quant",
            "Q8_0",
            "--out",
            "x",
        ],
    );
    assert!(!o.status.success() && text(&o).contains("f32, f16 or bf16"), "{}", text(&o));
    let o = ftbench(dir, &["export", "nowhere", "--out", "x.gguf"]);
    assert!(!o.status.success() && text(&o).contains("nowhere"), "{}", text(&o));

    if !common::engine_python_usable() {
        return;
    }
    expect.insert(
        "input_ids".into(),
        Tensor::new(PROMPT.iter().map(|&x| x as i64).collect::<Vec<_>>(), &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&expect, dir.join("expect.safetensors")).unwrap();
    let manifest = serde_json::json!({"models": models, "new_tokens": NEW, "text": "the tea in an a ant", "text_ids": m.tokenizer.as_ref().unwrap().encode_plain("the tea in an a ant").unwrap(), "chat_template": CHAT});
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let (py, _) = ftbench::engine::python::interpreter();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/export_roundtrip.py");
    let o = std::process::Command::new(py).arg(script).arg(dir).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "transformers disagrees with ftbench's exports:\n{said}");
    eprintln!("{said}");
}
