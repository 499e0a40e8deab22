//! The error for a model file that is not there, and where the default real model comes from.

use std::path::Path;

/// Where the default real model comes from (see scripts/fetch-models.sh).
pub const DEFAULT_REAL_MODEL: &str = "gguf:models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The second real model scripts/fetch-models.sh fetches: Gemma-3-270M (Gemma 3 family).
pub const GEMMA3_REAL_MODEL: &str = "gguf:models/gemma-3-270m-q4_k_m.gguf";

/// Checks that `path` is there and is a regular file (`dir: false`) or a directory
/// (`dir: true`): a directory, a device (`/dev/zero`) or a FIFO where a file was expected is
/// named as what it is, not as missing.
pub(crate) fn expect_kind(path: &Path, dir: bool, what: &str) -> anyhow::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(path, what)),
        Err(e) => return Err(crate::error::BadInput::new(path.display(), None, format!("cannot read: {e}"))),
    };
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let is = if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    if (dir && t.is_dir()) || (!dir && t.is_file()) {
        return Ok(());
    }
    Err(crate::error::BadInput::new(path.display(), None, format!("is {is}, not a {what}")))
}

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
            "no such {what}{cwd}. The real models (SmolLM2-135M-Instruct, {DEFAULT_REAL_MODEL}; Gemma-3-270M, \
             {GEMMA3_REAL_MODEL}) are fetched by running scripts/fetch-models.sh from the repository root; a Hugging Face model directory \
             (config.json, *.safetensors, tokenizer.json) is named as hf:DIR"
        ),
    )
}
