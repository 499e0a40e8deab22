//! Gemma's tokenizer rebuilt from GGUF metadata (`tokenizer.ggml.model = llama` in a gemma2 or
//! gemma3 file): a SentencePiece-style BPE with byte fallback over `▁`-spelled text. The file
//! lists tokens and types but no merges, so the merges are recovered from the vocabulary as
//! transformers' GGUF loader does (`gemma_tokenizer` + `generate_merges`): every split of a token
//! into two tokens, ranked by the token's position in the file (Gemma's scores do not follow
//! its merge order), longer left pieces first within a token. Tokens of spaces only are stored
//! with real spaces and looked up as `▁`s. tests/real_model.rs checks the result against
//! transformers' tokenizer of the same file.

use anyhow::Result;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::Vocab;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, SplitDelimiterBehavior};

/// GGUF token types llama.cpp writes.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// Whitespace as Python's `str.isspace` sees it (Rust's adds nothing Python lacks; Python also
/// counts the information separators U+001C..U+001F).
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A token of spaces (and other whitespace, with at least one space) as the tokenizer looks it
/// up: one `▁` per character.
fn respelled(t: &str) -> String {
    if t.contains(' ') && t.chars().all(python_space) {
        "\u{2581}".repeat(t.chars().count())
    } else {
        t.to_string()
    }
}

/// The merges a vocabulary implies: for each token (in order of first appearance), each split
/// into two vocabulary tokens, ordered by the pieces' ids; then all of them best first by the
/// token's rank (its last position in `tokens`), then by longer left piece, longer right piece.
pub fn merges_by_position(tokens: &[String]) -> (Vocab, Vec<(String, String)>) {
    let mut vocab = Vocab::default();
    let mut order: Vec<&str> = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if vocab.insert(t.clone(), i as u32).is_none() {
            order.push(t);
        }
    }
    // (rank, left chars, right chars, left, right); rank = the merged token's id.
    let mut merges: Vec<(u32, usize, usize, &str, &str)> = Vec::new();
    for t in order {
        let rank = vocab[t];
        let start = merges.len();
        for (at, _) in t.char_indices().skip(1) {
            let (l, r) = t.split_at(at);
            if vocab.contains_key(l) && vocab.contains_key(r) {
                merges.push((rank, l.chars().count(), r.chars().count(), l, r));
            }
        }
        merges[start..].sort_by_key(|m| (vocab[m.3], vocab[m.4]));
    }
    // Stable: equal keys keep the order above, as Python's sorted(reverse=True) does.
    merges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let merges = merges.into_iter().map(|m| (m.3.to_string(), m.4.to_string())).collect();
    (vocab, merges)
}

/// The tokenizer of a Gemma GGUF's `tokens` and `types` (without the BOS the caller adds).
pub fn gemma_tokenizer(tokens: &[String], types: &[i64]) -> Result<tokenizers::Tokenizer> {
    let spelled: Vec<String> = tokens.iter().map(|t| respelled(t)).collect();
    let (vocab, merges) = merges_by_position(&spelled);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.clone(), merges)
        .unk_token("<unk>".into())
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the BPE model: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    let space = Replace::new(" ", "\u{2581}").map_err(|e| anyhow::anyhow!("{e}"))?;
    tok.with_normalizer(Some(space)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let split = Split::new(SplitPattern::String(" ".into()), SplitDelimiterBehavior::MergedWithPrevious, false)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tok.with_pre_tokenizer(Some(split));
    let unspace = Replace::new("\u{2581}", " ").map_err(|e| anyhow::anyhow!("{e}"))?;
    tok.with_decoder(Some(DecoderSequence::new(vec![
        DecoderWrapper::Replace(unspace),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ])));
    // Control tokens are special and matched whole; user-defined ones are matched whole too
    // (llama.cpp does), not special, and only those the vocabulary spells as stored.
    let of_type = |ty: i64| tokens.iter().zip(types).filter(move |(_, &t)| t == ty).map(|(s, _)| s);
    let control: Vec<AddedToken> = of_type(CONTROL)
        .map(|s| AddedToken::from(s.clone(), true).normalized(false))
        .collect();
    tok.add_special_tokens(control)
        .map_err(|e| anyhow::anyhow!("cannot add the control tokens: {e}"))?;
    let user: Vec<AddedToken> = of_type(USER_DEFINED)
        .filter(|s| vocab.contains_key(*s))
        .map(|s| AddedToken::from(s.clone(), false).normalized(false))
        .collect();
    tok.add_tokens(user)
        .map_err(|e| anyhow::anyhow!("cannot add the user-defined tokens: {e}"))?;
    Ok(tok)
}
