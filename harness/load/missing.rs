//! The error for a model file that is not there, and where the default real model comes from.

use std::path::Path;

/// Where the default real model comes from (see scripts/fetch-models.sh).
pub const DEFAULT_REAL_MODEL: &str = "gguf:models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The error for a model path that is not there, saying how to get the default real model.
pub(crate) fn not_found(path: &Path, what: &str) -> anyhow::Error {
    let cwd = match std::env::current_dir() {
        Ok(d) if path.is_relative() => format!(" (relative to {})", d.display()),
        _ => String::new(),
    };
    crate::error::BadInput::new(
        path.display(),
        None,
        format!(
            "no such {what}{cwd}. The default real model (SmolLM2-135M-Instruct, {DEFAULT_REAL_MODEL}) is fetched by \
             running scripts/fetch-models.sh from the repository root; a Hugging Face model directory \
             (config.json, *.safetensors, tokenizer.json) is named as hf:DIR"
        ),
    )
}
