//! Generation for exact match: greedy decoding with the KV cache until a stop sequence, an
//! end-of-sequence token or `max_new` tokens, timing prefill and decode apart.

use crate::load::Tokenizer;
use crate::model::{forward_cached, Decoder, KvCache};
use anyhow::{bail, Result};
use candle_core::{Tensor, D};
use std::time::Instant;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Stop,
    Eos,
    MaxNewTokens,
}

#[derive(Debug, Clone)]
pub struct Generation {
    /// The generated text up to (not including) the stop sequence or the eos token.
    pub text: String,
    pub new_tokens: usize,
    pub ended: Ended,
    /// Seconds for the prompt's forward pass (which also gives the first token).
    pub prefill_s: f64,
    /// Seconds for the other new tokens, one forward pass each.
    pub decode_s: f64,
}

/// Greedy continuation of `ctx`. Without a tokenizer no text is made and no stop sequence
/// checked (the inference-speed measurement).
pub fn generate_until(
    model: &Decoder,
    tok: Option<&Tokenizer>,
    ctx: &[u32],
    max_new: usize,
    stop: &[String],
    eos: &[u32],
) -> Result<Generation> {
    if ctx.is_empty() {
        bail!("generation needs a prompt of at least one token");
    }
    let dev = model.device();
    let mut cache = KvCache::new(model);
    let mut ids: Vec<u32> = Vec::with_capacity(max_new);
    let t0 = Instant::now();
    let mut input = Tensor::new(ctx, dev)?.unsqueeze(0)?;
    let mut prefill_s = 0.0;
    let mut ended = Ended::MaxNewTokens;
    let mut text = String::new();
    while ids.len() < max_new {
        if cache.len() + input.dim(1)? > model.cfg.max_position_embeddings {
            break;
        }
        let logits = forward_cached(model, &input, &mut cache)?;
        if ids.is_empty() {
            prefill_s = t0.elapsed().as_secs_f64();
        }
        let next = logits.argmax(D::Minus1)?.flatten_all()?.get(0)?.to_scalar::<u32>()?;
        if eos.contains(&next) {
            ended = Ended::Eos;
            break;
        }
        ids.push(next);
        let Some(tok) = tok else {
            input = Tensor::new(&[next], dev)?.unsqueeze(0)?;
            continue;
        };
        text = tok.decode(&ids)?;
        if let Some(cut) = stop_at(&text, stop) {
            text.truncate(cut);
            ended = Ended::Stop;
            break;
        }
        input = Tensor::new(&[next], dev)?.unsqueeze(0)?;
    }
    let total = t0.elapsed().as_secs_f64();
    Ok(Generation {
        text,
        new_tokens: ids.len() + usize::from(ended == Ended::Eos),
        ended,
        prefill_s,
        decode_s: total - prefill_s,
    })
}

/// Where the first of the stop sequences begins in `text` (None: none occurs).
pub fn stop_at(text: &str, stop: &[String]) -> Option<usize> {
    stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min()
}
