//! The article's comparison, computed: full fine-tuning (mixed and pure bf16), LoRA r16 and
//! QLoRA r16 of 7B models at batch 4 × 512 with gradient checkpointing, next to the published
//! ranges and to PyTorch + PEFT + bitsandbytes measured on an H200 (shared/gpu/README.md).

use super::input::Shapes;
use super::memory::{estimate, EstimateInput, Implementation};
use crate::method::Method;
use crate::model::preset;
use crate::suite::{Cell, Knobs};
use serde::Serialize;

/// One row of the table. GB are 1e9 bytes.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleRow {
    pub model: String,
    pub method: String,
    pub setting: String,
    /// The article's range for the method (full fine-tuning has one range for both precisions).
    pub published_gb: (f64, f64),
    /// Estimated peak tensor bytes (peak allocated view).
    pub estimate_tensor_gb: f64,
    /// Estimate + CUDA context (device-used view, with no caching-allocator reserve).
    pub estimate_device_gb: f64,
    /// PyTorch measured on an H200: peak allocated (tensor bytes), GB.
    pub reference_allocated_gb: Option<f64>,
    /// The same run's device used (NVML), GB.
    pub reference_device_gb: Option<f64>,
}

/// (setting label, method, precision, optimizer, reference allocated / device used for
/// Llama-2-7B): the PyTorch + PEFT + bitsandbytes runs on an H200 (shared/gpu/README.md).
const SETTINGS: &[(&str, &str, &str, &str, f64, f64)] = &[
    (
        "full, f32 master + f32 AdamW, bf16 autocast",
        "full",
        "bf16-mixed",
        "adamw",
        108.0,
        119.3,
    ),
    ("full, pure bf16 (bf16 AdamW state)", "full", "bf16", "adamw-bf16", 54.1, 56.1),
    ("LoRA r16 all linear, bf16 base", "lora", "bf16-mixed", "adamw", 15.5, 29.6),
    ("QLoRA NF4 + double quant, r16 all linear", "qlora", "bf16-mixed", "adamw", 5.9, 8.4),
];

/// The article's setting as a cell's plan: batch 4 × 512 tokens, gradient checkpointing, LoRA r16
/// on every linear, NF4 with double quantization, on a GPU, counted with PyTorch's activations.
pub fn article_input(method: Method, precision: &str, optimizer: &str) -> EstimateInput {
    let knobs = Knobs {
        batch_size: 4,
        seq_len: 512,
        recompute: true,
        lora_rank: 16,
        lora_targets: vec!["all-linear".into()],
        nf4_double_quant: true,
        precision: precision.into(),
        optimizer: optimizer.into(),
        ..Knobs::default()
    };
    let plan = Cell::new("preset:llama2-7b", method, "cuda:0", 0, knobs)
        .plan()
        .unwrap_or_else(|(k, e)| unreachable!("the article's settings are valid ({k}: {e})"));
    let shapes = Shapes {
        batch: 4,
        seq_len: 512,
        loss_tokens: 4 * 512,
        how: "the article's batch 4 × 512".into(),
    };
    let mut x = EstimateInput::of_plan(&plan, shapes);
    x.implementation = Implementation::Pytorch;
    x
}

pub fn article_rows() -> Vec<ArticleRow> {
    let mut rows = Vec::new();
    for model in ["llama2-7b", "mistral-7b"] {
        let cfg = preset(model).expect("built-in preset");
        for &(setting, method, precision, optimizer, alloc, device) in SETTINGS {
            let method = Method::named(method);
            let x = article_input(method, precision, optimizer);
            let e = estimate(&cfg, &x).expect("article settings are valid");
            let claim = method.published().expect("the article makes a claim for each of its methods");
            let measured = model == "llama2-7b";
            rows.push(ArticleRow {
                model: format!("preset:{model}"),
                method: method.to_string(),
                setting: setting.to_string(),
                published_gb: claim.vram_gb,
                estimate_tensor_gb: e.peak_tensor_bytes as f64 / 1e9,
                estimate_device_gb: e.total_bytes as f64 / 1e9,
                reference_allocated_gb: measured.then_some(alloc),
                reference_device_gb: measured.then_some(device),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    /// The estimator reproduces PyTorch's measured peak allocated on Llama-2-7B within 10%.
    #[test]
    fn estimates_track_the_h200_reference() {
        for r in super::article_rows().iter().filter(|r| r.reference_allocated_gb.is_some()) {
            let reference = r.reference_allocated_gb.unwrap();
            let err = (r.estimate_tensor_gb - reference) / reference;
            assert!(
                err.abs() < 0.10,
                "{} {}: estimate {:.1} GB vs measured {reference} GB ({:+.1}%)",
                r.model,
                r.setting,
                r.estimate_tensor_gb,
                100.0 * err
            );
        }
    }
}
