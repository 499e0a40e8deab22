//! What the method produces: the trained adapter written in PEFT's layout (`save_adapter`), a
//! full fine-tune's checkpoint as a Hugging Face directory (`save_checkpoint`), and
//! the size of the artifact — the adapter file as written, or the safetensors file of the
//! trained tensors as it would be written.

use super::build::CellModel;
use super::emit::Emitter;
use super::events::Event;
use super::CellJob;
use crate::method::{self, Built, Method};
use crate::record::Artifact;
use crate::suite::Plan;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

pub fn save(plan: &Plan, c: &CellModel, job: &CellJob, emit: &mut Emitter<impl Write>) -> Result<()> {
    let m = plan.method.method;
    if !m.trains() {
        return Ok(());
    }
    let dir = job.adapter_dir.as_deref().filter(|_| plan.save_adapter && m.has_adapters());
    if let Some(dir) = dir {
        method::save_adapter(dir, &c.built, &plan.method, &job.cell.model).context("saving the adapter")?;
        emit.send(Event::AdapterSaved {
            dir: dir.display().to_string(),
        })?;
    }
    let checkpoint = job.checkpoint_dir.as_deref().filter(|_| plan.save_checkpoint && m.trains_base());
    if let Some(dir) = checkpoint {
        save_checkpoint(dir, plan, c).context("saving the checkpoint")?;
        emit.send(Event::CheckpointSaved {
            dir: dir.display().to_string(),
        })?;
    }
    emit.send(Event::Artifact {
        artifact: artifact(&c.built, m, dir)?,
    })
}

/// The trained weights as a Hugging Face directory (in the master dtype, with the tokenizer),
/// written beside `dir` and moved into place whole.
fn save_checkpoint(dir: &Path, plan: &Plan, c: &CellModel) -> Result<()> {
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    let weights = crate::export::decoder_weights(&c.built.decoder, plan.precision.master)?;
    // The model's tokenizer travels with it, also where the task did not need it (a preset has
    // none).
    let opened = match &c.tokenizer {
        Some(_) => None,
        None => plan.model.open().ok().and_then(|m| m.tokenizer().ok()),
    };
    crate::export::write_hf(&tmp, &c.cfg, &weights, c.tokenizer.as_ref().or(opened.as_ref()), &c.eos)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot move the checkpoint into {}", dir.display()))
}

/// The size of what the method produces: the adapter file as written, or (not written) the
/// safetensors file of the trained tensors in their dtypes: an 8-byte length, the JSON header
/// padded to 8 bytes, the data.
pub fn artifact(built: &Built, method: Method, written: Option<&Path>) -> Result<Artifact> {
    let kind = if method.trains_base() { "checkpoint" } else { "adapter" };
    if let Some(dir) = written {
        let f = dir.join("adapter_model.safetensors");
        let bytes = std::fs::metadata(&f)
            .with_context(|| format!("{}: cannot stat", f.display()))?
            .len();
        return Ok(Artifact {
            kind: kind.into(),
            bytes,
            how: "written".into(),
            tensors: built.trainable.len(),
        });
    }
    let mut header = serde_json::Map::new();
    let mut data = 0u64;
    for t in &built.trainable {
        let n = (t.var.elem_count() * t.var.dtype().size_in_bytes()) as u64;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": safetensors_dtype(t.var.dtype()), "shape": t.var.dims(), "data_offsets": [data, data + n]}),
        );
        data += n;
    }
    let header = serde_json::to_vec(&header)?.len() as u64;
    Ok(Artifact {
        kind: kind.into(),
        bytes: 8 + header.div_ceil(8) * 8 + data,
        how: "computed".into(),
        tensors: built.trainable.len(),
    })
}

/// The safetensors name of a dtype (`F32`, `BF16`, ...).
fn safetensors_dtype(d: candle_core::DType) -> String {
    format!("{d:?}").to_uppercase()
}
