//! Tokenizers of real models, through the `tokenizers` crate (pure Rust, fancy-regex): a
//! Hugging Face `tokenizer.json`, or a byte-level BPE tokenizer rebuilt from GGUF metadata
//! (`tokenizer.ggml.model = gpt2`: tokens + merges, as llama.cpp stores them).
//!
//! Training never needs one (the tasks are over raw token ids); `ftbench generate` and the
//! parity tests do.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

/// A tokenizer with what generation needs to know about it.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Where it came from (a file path, or `FILE (GGUF metadata)`), for error messages.
    pub source: String,
    /// Prepend this id when encoding (GGUF `tokenizer.ggml.add_bos_token`); a tokenizer.json
    /// adds its own special tokens through its post-processor.
    pub add_bos: Option<u32>,
    /// The model's chat template (Jinja), from GGUF `tokenizer.chat_template` or
    /// tokenizer_config.json's `chat_template`, when it has one.
    pub chat_template: Option<String>,
}

/// Pre-tokenizer layouts a GGUF `tokenizer.ggml.pre` can name, for byte-level BPE.
pub const GGUF_PRE_TOKENIZERS: &[&str] = &["default", "gpt2", "gpt-2", "smollm", "llama-bpe", "llama3"];

/// Llama 3's split regex (llama.cpp's `llama-bpe`).
const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl Tokenizer {
    /// Reads a Hugging Face `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| anyhow::anyhow!("{}: not a valid tokenizer.json: {e}", path.display()))?;
        Ok(Tokenizer {
            inner,
            source: path.display().to_string(),
            add_bos: None,
            chat_template: chat_template_next_to(path)?,
        })
    }

    /// Wraps a tokenizer built elsewhere.
    pub fn from_inner(inner: tokenizers::Tokenizer, source: impl Into<String>, add_bos: Option<u32>) -> Tokenizer {
        Tokenizer {
            inner,
            source: source.into(),
            add_bos,
            chat_template: None,
        }
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Text → ids, with the tokenizer's own special tokens (and the GGUF BOS when asked for).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("{}: cannot encode the text: {e}", self.source))?;
        let mut ids = Vec::with_capacity(enc.get_ids().len() + 1);
        ids.extend(self.add_bos);
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Text → ids with no special token added (a continuation encoded on its own).
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("{}: cannot encode the text: {e}", self.source))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids → text, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| anyhow::anyhow!("{}: cannot decode ids: {e}", self.source))
    }

    /// The id of a token, if it has one.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Errors unless every id the tokenizer can produce is below `vocab_size` (the model's
    /// embedding rows). A smaller tokenizer is fine: models often pad their vocabulary.
    pub fn check_fits(&self, vocab_size: usize, model: &str) -> Result<()> {
        let vocab = self.inner.get_vocab(true);
        if let Some((tok, &id)) = vocab.iter().max_by_key(|(_, &id)| id) {
            if id as usize >= vocab_size {
                bail!(
                    "{}: the tokenizer does not fit the model: token `{tok}` has id {id}, but the model ({model}) has vocab_size {vocab_size}",
                    self.source
                );
            }
        }
        Ok(())
    }
}

/// tokenizer_config.json's `chat_template` beside a tokenizer.json (a string; the list form
/// with named templates takes the one named `default`).
fn chat_template_next_to(path: &Path) -> Result<Option<String>> {
    let p = path.with_file_name("tokenizer_config.json");
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", p.display()))?;
    Ok(match v.get("chat_template") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        Some(other) => bail!("{}: key `chat_template`: expected a string, found {other}", p.display()),
    })
}

/// A byte-level BPE tokenizer (GPT-2 family: SmolLM2, Llama 3, ...) from its vocabulary (id =
/// index), merges, and the special tokens (ids) that must never be split.
///
/// `pre` names the pre-tokenizer layout as llama.cpp's `tokenizer.ggml.pre` does (see
/// [`GGUF_PRE_TOKENIZERS`]): `smollm` splits digits one by one before GPT-2's regex, as
/// SmolLM2's tokenizer.json does.
pub fn byte_level_bpe(tokens: &[String], merges: &[(String, String)], pre: &str, special: &[u32]) -> Result<tokenizers::Tokenizer> {
    let mut vocab = Vocab::default();
    for (id, t) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(t.clone(), id as u32) {
            bail!("token `{t}` appears twice in the vocabulary (ids {first} and {id})");
        }
    }
    for (i, (a, b)) in merges.iter().enumerate() {
        for t in [a, b] {
            if !vocab.contains_key(t) {
                bail!("merge {i} (`{a} {b}`): token `{t}` is not in the vocabulary");
            }
        }
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges.to_vec())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the BPE model: {e}"))?;
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "default" | "gpt2" | "gpt-2" => byte_level.into(),
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
        "llama-bpe" | "llama3" => {
            let split = Split::new(SplitPattern::Regex(LLAMA3_SPLIT.into()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| anyhow::anyhow!("cannot build the llama3 split regex: {e}"))?;
            Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into()
        }
        other => bail!(
            "pre-tokenizer `{other}` is not supported; expected one of: {}",
            GGUF_PRE_TOKENIZERS.join(", ")
        ),
    };
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(pre_tokenizer));
    tok.with_decoder(Some(ByteLevel::default()));
    let specials: Vec<AddedToken> = special
        .iter()
        .map(|&id| {
            tokens
                .get(id as usize)
                .map(|t| AddedToken::from(t.clone(), true))
                .with_context(|| format!("special token id {id} is outside the vocabulary ({} tokens)", tokens.len()))
        })
        .collect::<Result<_>>()?;
    tok.add_special_tokens(specials)
        .map_err(|e| anyhow::anyhow!("cannot add the special tokens: {e}"))?;
    Ok(tok)
}
