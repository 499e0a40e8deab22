//! Writes a dense checkpoint as a Hugging Face model directory transformers loads with
//! `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained`: config.json and
//! model.safetensors (load/hf.rs's writer), tokenizer.json, tokenizer_config.json (the chat
//! template and the end-of-sequence token) and generation_config.json.

use crate::load::{save_hf_dir, Tokenizer};
use crate::model::{DecoderConfig, Weights};
use anyhow::{Context, Result};
use std::path::Path;

pub fn write_hf(dir: &Path, cfg: &DecoderConfig, weights: &Weights, tokenizer: Option<&Tokenizer>, eos: &[u32]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    save_hf_dir(dir, cfg, weights, None, eos.first().copied())?;
    let mut gen = serde_json::json!({"do_sample": false});
    if !eos.is_empty() {
        gen["eos_token_id"] = serde_json::json!(eos);
    }
    crate::atomic::write_json(&dir.join("generation_config.json"), &gen)?;
    let Some(tok) = tokenizer else {
        return Ok(());
    };
    let json = tok
        .inner()
        .to_string(false)
        .map_err(|e| anyhow::anyhow!("{}: cannot serialize the tokenizer: {e}", tok.source))?;
    crate::atomic::write(&dir.join("tokenizer.json"), json.as_bytes())?;
    let mut config = serde_json::json!({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.max_position_embeddings});
    if let Some(name) = eos.first().and_then(|&e| tok.inner().id_to_token(e)) {
        config["eos_token"] = serde_json::json!(name);
    }
    if let Some(name) = tok.add_bos.and_then(|b| tok.inner().id_to_token(b)) {
        config["bos_token"] = serde_json::json!(name);
        config["add_bos_token"] = serde_json::json!(true);
    }
    if let Some(t) = &tok.chat_template {
        config["chat_template"] = serde_json::json!(t);
    }
    crate::atomic::write_json(&dir.join("tokenizer_config.json"), &config)
}
