//! A tiny text model the tests write themselves: the tiny preset's shape with a vocabulary
//! that fits a small byte-level BPE tokenizer, as a Hugging Face directory (config.json,
//! model.safetensors, tokenizer.json, generation_config.json).

use candle_core::{DType, Device};
use ftbench::load::save_hf_dir;
use ftbench::load::tokenizer::byte_level_bpe;
use ftbench::model::{preset, random_weights, DecoderConfig, Weights};
use std::path::Path;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

pub const SEED: u64 = 7;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [(&str, &str); 6] = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("a", "n")];

/// The tiny preset with a vocabulary that fits the test tokenizer (3 specials + 256 bytes +
/// 6 merges = 265 tokens).
pub fn cfg(tied: bool) -> DecoderConfig {
    DecoderConfig {
        vocab_size: 272,
        tie_word_embeddings: tied,
        ..preset("tiny").unwrap()
    }
}

/// A small byte-level BPE vocabulary: specials, the 256 byte symbols, merges.
pub fn vocab() -> (Vec<String>, Vec<(String, String)>) {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort();
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    let merges: Vec<(String, String)> = MERGES.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    tokens.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
    (tokens, merges)
}

pub fn tokenizer() -> tokenizers::Tokenizer {
    let (tokens, merges) = vocab();
    byte_level_bpe(&tokens, &merges, "smollm", &[0, 1, 2]).unwrap()
}

pub fn weights(c: &DecoderConfig) -> Weights {
    random_weights(c, SEED, DType::F32, &Device::Cpu).unwrap()
}

/// Writes an HF directory for `c` (optionally sharded) with tokenizer and generation config.
pub fn write_hf(dir: &Path, c: &DecoderConfig, w: &Weights, shard: Option<usize>) {
    save_hf_dir(dir, c, w, shard, Some(2)).unwrap();
    tokenizer().save(dir.join("tokenizer.json"), false).unwrap();
    std::fs::write(dir.join("generation_config.json"), r#"{"eos_token_id": [2, 0]}"#).unwrap();
}
