//! A byte-level BPE tokenizer as GGUF metadata (`tokenizer.ggml.*`), as llama.cpp's
//! convert_hf_to_gguf.py writes it: every token by id (padded to the model's vocabulary with
//! `[PADi]`), its type (1 normal, 3 control for special added tokens, 4 user-defined for other
//! added tokens, 5 unused for padding), the merges by rank as `a b`, the pre-tokenizer's llama.cpp
//! name, the end-of-sequence (and, when the tokenizer prepends one, the beginning) id, and the
//! chat template.
//!
//! The pre-tokenizer name is found the way convert_hf_to_gguf.py finds it (by how a probe text
//! tokenizes), but against ftbench's own GGUF reader: the tokenizer that reader rebuilds from
//! these tokens and merges under each name it knows must give the same ids on the probe as the
//! source tokenizer. No name that does is an error, so a file is never written whose tokenizer
//! llama.cpp would rebuild differently.

use crate::load::{byte_level_bpe, Tokenizer, GGUF_PRE_TOKENIZERS};
use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::Value;

/// Text with what pre-tokenizers split differently: digits runs, contractions, spaces, newlines,
/// punctuation, non-ASCII letters.
const PROBE: &str =
    "Hello world! It's 2026: 12345 apples, 3.14159 pies.\n\n  Indented\tTabbed ÄÖÜ naïve café 你好 don't I'll we've\r\n1+1=2 ##$$ ...";

/// The metadata entries for `tok` in a model of `vocab_size` embedding rows.
pub fn tokenizer_metadata(tok: &Tokenizer, vocab_size: usize, eos: &[u32]) -> Result<Vec<(String, Value)>> {
    let src = &tok.source;
    let inner = tok.inner();
    let model = serde_json::to_value(inner.get_model()).with_context(|| format!("{src}: cannot read the tokenizer model"))?;
    if model.get("type").and_then(|t| t.as_str()) != Some("BPE") {
        bail!(
            "{src}: GGUF export writes byte-level BPE tokenizers (tokenizer.ggml.model = gpt2); this one is {}",
            model["type"]
        );
    }
    let vocab = inner.get_vocab(true);
    if vocab.len() > vocab_size {
        bail!(
            "{src}: the tokenizer has {} tokens, more than the model's vocab_size {vocab_size}",
            vocab.len()
        );
    }
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    for (t, &id) in &vocab {
        let slot = tokens
            .get_mut(id as usize)
            .with_context(|| format!("{src}: token `{t}` has id {id}, outside the model's vocab_size {vocab_size}"))?;
        *slot = Some(t.clone());
    }
    let added = inner.get_added_tokens_decoder();
    let mut types = Vec::with_capacity(vocab_size);
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = match (&t, added.get(&(i as u32))) {
                (None, _) => 5,
                (Some(_), Some(a)) if a.special => 3,
                (Some(_), Some(_)) => 4,
                (Some(_), None) => 1,
            };
            types.push(Value::I32(ty));
            t.unwrap_or_else(|| format!("[PAD{i}]"))
        })
        .collect();
    let merges = merges_of(&model).with_context(|| format!("{src}: the BPE merges"))?;
    let special: Vec<u32> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t, Value::I32(3 | 4)))
        .map(|(i, _)| i as u32)
        .collect();
    let pre = pre_tokenizer_name(tok, &tokens, &merges, &special)?;
    let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    let mut m = vec![
        ("tokenizer.ggml.model".to_string(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".to_string(), Value::String(pre.into())),
        ("tokenizer.ggml.tokens".to_string(), strings(tokens)),
        ("tokenizer.ggml.token_type".to_string(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".to_string(),
            strings(merges.iter().map(|(a, b)| format!("{a} {b}")).collect()),
        ),
        ("tokenizer.ggml.add_bos_token".to_string(), Value::Bool(tok.add_bos.is_some())),
    ];
    if let Some(&e) = eos.first() {
        m.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(e)));
    }
    if let Some(b) = tok.add_bos {
        m.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(b)));
    }
    if let Some(t) = &tok.chat_template {
        m.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
    }
    Ok(m)
}

/// The merges by rank, from a serialized BPE model (`[a, b]` pairs or `"a b"` strings).
fn merges_of(model: &serde_json::Value) -> Result<Vec<(String, String)>> {
    let list = model.get("merges").and_then(|m| m.as_array()).context("no `merges` list")?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let pair = match m {
                serde_json::Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                serde_json::Value::Array(p) if p.len() == 2 => {
                    Some((p[0].as_str().unwrap_or_default().into(), p[1].as_str().unwrap_or_default().into()))
                }
                _ => None,
            };
            pair.with_context(|| format!("merge {i}: expected two tokens, found {m}"))
        })
        .collect()
}

/// The llama.cpp pre-tokenizer name under which ftbench's GGUF reader tokenizes the probe as
/// `tok` does.
fn pre_tokenizer_name(tok: &Tokenizer, tokens: &[String], merges: &[(String, String)], special: &[u32]) -> Result<&'static str> {
    let want = tok.encode_plain(PROBE)?;
    for &pre in GGUF_PRE_TOKENIZERS.iter().filter(|p| !matches!(**p, "default" | "gpt2" | "llama3")) {
        let rebuilt = byte_level_bpe(tokens, merges, pre, special)?;
        let got = rebuilt.encode(PROBE, false).map_err(|e| anyhow::anyhow!("{e}"))?;
        if got.get_ids() == want.as_slice() {
            return Ok(pre);
        }
    }
    bail!(
        "{}: its pre-tokenizer matches none llama.cpp names that ftbench can check ({}): a GGUF file would tokenize differently",
        tok.source,
        GGUF_PRE_TOKENIZERS.join(", ")
    )
}
