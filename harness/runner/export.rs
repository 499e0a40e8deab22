//! `ftbench export`: a trained model as the file a serving stack reads — the adapter a cell
//! saved (or the one a cell's record names) merged into its base, or a model spec as it is
//! (a full fine-tune saved as a Hugging Face directory, a base model) — written as a Hugging
//! Face directory or a GGUF file (crate::export).

use super::generate::load_for_inference;
use crate::export::{decoder_weights, write_gguf, write_hf, GgufHeader, GgufQuant};
use crate::method::merged_dense;
use crate::record::read_record;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// What `ftbench export` was asked.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportRequest {
    /// A trained adapter folder (a cell with `save_adapter: true` writes one), a full fine-tune's
    /// checkpoint (`save_checkpoint: true`), or a cell's record (results/SUITE/ID.json) that saved
    /// either. Omit it to export --model as it is.
    pub source: Option<PathBuf>,
    /// preset:NAME, hf:DIR or gguf:FILE (default: the adapter's base model).
    #[arg(long)]
    pub model: Option<String>,
    /// `hf` (a Hugging Face directory) or `gguf` (one llama.cpp file).
    #[arg(long, default_value = "gguf")]
    pub format: String,
    /// gguf: f32, f16, Q8_0 or Q4_K_M (llama-quantize's mix); hf: the safetensors dtype, f32,
    /// f16 or bf16.
    #[arg(long, default_value = "f16")]
    pub quant: String,
    /// The file (gguf) or folder (hf) to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs an export; returns what to print.
pub fn run_export(req: &ExportRequest) -> Result<String> {
    let (adapter, model) = match req.source.as_deref().map(source_of).transpose()? {
        Some(Source::Adapter(dir)) => (Some(dir), req.model.clone()),
        Some(Source::Checkpoint(dir)) => (None, Some(format!("hf:{}", dir.display()))),
        None => (None, req.model.clone()),
    };
    let m = load_for_inference(model.as_deref(), adapter.as_deref(), true, &Device::Cpu)?;
    let merged = merged_dense(&m.built.decoder).context("merging the adapter")?;
    let cfg = merged.cfg.clone();
    let name = m.spec.to_string();
    match req.format.as_str() {
        "gguf" => {
            let quant = GgufQuant::parse(&req.quant).map_err(|e| anyhow::anyhow!("--quant: {e}"))?;
            let weights = decoder_weights(&merged, DType::F32)?;
            drop(merged);
            let header = GgufHeader {
                name: &name,
                tokenizer: m.tokenizer.as_ref(),
                eos: &m.eos,
            };
            let bytes = write_gguf(&req.out, &cfg, &weights, quant, &header)?;
            Ok(format!(
                "wrote {} ({} GGUF, {:.1} MB)",
                req.out.display(),
                quant.name(),
                bytes as f64 / 1e6
            ))
        }
        "hf" => {
            let dtype = match req.quant.to_ascii_lowercase().as_str() {
                "f32" => DType::F32,
                "f16" => DType::F16,
                "bf16" => DType::BF16,
                other => bail!("--quant `{other}`: a Hugging Face export is written in f32, f16 or bf16 (quantized forms are GGUF's)"),
            };
            let weights = decoder_weights(&merged, dtype)?;
            write_hf(&req.out, &cfg, &weights, m.tokenizer.as_ref(), &m.eos)?;
            Ok(format!(
                "wrote {} (Hugging Face directory, {})",
                req.out.display(),
                req.quant.to_ascii_lowercase()
            ))
        }
        other => bail!("--format `{other}`: expected hf or gguf"),
    }
}

/// What a source names: a trained adapter, or a full fine-tune's checkpoint.
enum Source {
    Adapter(PathBuf),
    Checkpoint(PathBuf),
}

/// A folder (an adapter, or a checkpoint: it has config.json), or what a record names.
fn source_of(source: &Path) -> Result<Source> {
    if source.is_dir() {
        return Ok(if source.join("config.json").is_file() {
            Source::Checkpoint(source.to_path_buf())
        } else {
            Source::Adapter(source.to_path_buf())
        });
    }
    let record = read_record(source)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}: neither an adapter folder nor a readable record", source.display()))?;
    // Records name what they saved relative to their results folder.
    let folder = source.parent().unwrap_or(Path::new("."));
    match (record.adapter, record.checkpoint) {
        (Some(dir), _) => Ok(Source::Adapter(folder.join(dir))),
        (None, Some(dir)) => Ok(Source::Checkpoint(folder.join(dir))),
        (None, None) => bail!(
            "{}: the cell ({} · {}) saved no adapter or checkpoint; run it with `save_adapter: true` (adapter methods) or `save_checkpoint: true` (full), or export a model with --model",
            source.display(),
            record.cell.model,
            record.cell.method
        ),
    }
}
