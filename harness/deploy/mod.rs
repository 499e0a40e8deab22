//! Serving forms: what a trained cell becomes when it is deployed — the adapters merged, the
//! weights cast to bf16, the QLoRA base dequantized, the merge re-quantized to NF4, a GGUF file
//! for llama.cpp — each built from the trained model (no training again), then scored on the
//! cell's held-out items and timed like the trained model (child/deploy.rs).
//!
//! Each form is one file and one line in [`FORMS`]: its name (the `deploy` knob's value), which
//! methods it applies to, and how it is made from the trained decoder.

mod as_trained;
mod bf16;
mod dequantized_base;
mod gguf;
mod gguf_read;
mod merged;
mod merged_nf4;
mod size;

pub use gguf_read::read_served_gguf;
pub use size::held_bytes;

use crate::load::Tokenizer;
use crate::method::Method;
use crate::model::Decoder;
use anyhow::Result;
use std::path::Path;

/// One way of serving a trained model.
pub trait ServingForm: Sync {
    /// The `deploy` knob's value (`merged`, `gguf:Q4_K_M`).
    fn name(&self) -> &'static str;
    /// What the form is, for `ftbench list` and the report.
    fn doc(&self) -> &'static str;
    /// Why the form does not apply to a model trained by `method`; None: it applies.
    fn not_for(&self, method: Method) -> Option<&'static str>;
    /// The served model, made from the trained one, and its size.
    fn serve(&self, trained: &Decoder, ctx: &ServeCtx) -> Result<Served>;
}

/// What making a form may need besides the trained model.
pub struct ServeCtx<'a> {
    /// NF4 settings of the cell (re-quantizing uses the same).
    pub nf4_block_size: usize,
    pub nf4_double_quant: bool,
    /// The model's tokenizer and end-of-sequence ids (a GGUF file carries them).
    pub tokenizer: Option<&'a Tokenizer>,
    pub eos: &'a [u32],
    /// The model's name, for files' metadata.
    pub name: &'a str,
    /// A folder for files the form writes (removed by the caller).
    pub scratch: &'a Path,
    /// The trained model merged into one dense checkpoint, made by the first form that asks
    /// (`ServeCtx::merged`) and shared by the others (construct it empty).
    pub merged: std::cell::OnceCell<Decoder>,
}

impl ServeCtx<'_> {
    /// `trained` as one dense checkpoint, adapters merged (`method::merged_dense`), made once
    /// per cell: the forms served from the merge (merged, bf16, merged-nf4, GGUF) share it.
    pub fn merged(&self, trained: &Decoder) -> Result<Decoder> {
        if let Some(m) = self.merged.get() {
            return Ok(m.clone());
        }
        let m = crate::method::merged_dense(trained)?;
        Ok(self.merged.get_or_init(|| m).clone())
    }
}

/// A served model and what it takes to store it.
pub struct Served {
    pub model: Decoder,
    pub bytes: u64,
    /// `file`: the size of the file written (GGUF); `tensors`: the bytes of the tensors as the
    /// form stores them (dense weights in their dtype, NF4 codes and constants, adapters), what a
    /// safetensors file of them holds less its header (< 0.1%).
    pub bytes_of: &'static str,
}

/// Every serving form, in the order the report lists them.
pub static FORMS: &[&dyn ServingForm] = &[
    &as_trained::AsTrained,
    &merged::Merged,
    &bf16::Bf16,
    &dequantized_base::DequantizedBase,
    &merged_nf4::MergedNf4,
    &gguf::Q8_0,
    &gguf::Q4_K_M,
];

/// The form named `name`.
pub fn form(name: &str) -> Result<&'static dyn ServingForm, String> {
    FORMS
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| format!("unknown serving form `{name}`; expected one of: {}", form_names().join(", ")))
}

pub fn form_names() -> Vec<&'static str> {
    FORMS.iter().map(|f| f.name()).collect()
}

/// The form every other is compared with: the model as it was trained and evaluated.
pub const AS_TRAINED: &str = "as-trained";
