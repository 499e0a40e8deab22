//! Inference speed of the trained model (`inference_speed`): prefill and decode tokens/s with a
//! KV cache at batch 1, as trained and, for adapters, merged into the weights.

use crate::eval::generate_until;
use crate::method::{merge_adapters, Method};
use crate::model::{Decoder, DecoderConfig};
use crate::record::InferenceSpeed;
use anyhow::{Context, Result};

/// Prompt and generation lengths of the inference-speed measurement, and its repeats (median).
const PROMPT_TOKENS: usize = 128;
pub const NEW_TOKENS: usize = 32;
pub const REPEATS: usize = 3;

/// The fixed prompt the speed is measured on (every engine gets the same).
pub fn speed_prompt(cfg: &DecoderConfig) -> Vec<u32> {
    let prompt_len = PROMPT_TOKENS.min(cfg.max_position_embeddings.saturating_sub(NEW_TOKENS + 1)).max(1);
    let vocab = cfg.vocab_size as u32;
    (0..prompt_len as u32).map(|i| (i * 7919 + 13) % vocab).collect()
}

/// (prefill tokens/s, decode tokens/s): median of REPEATS greedy runs over a fixed prompt,
/// running to NEW_TOKENS (no stop).
pub(super) fn speed_of(model: &Decoder) -> Result<(f64, f64, usize)> {
    let prompt = speed_prompt(&model.cfg);
    let prompt_len = prompt.len();
    let mut pre = Vec::new();
    let mut dec = Vec::new();
    for _ in 0..REPEATS {
        let g = generate_until(model, None, &prompt, NEW_TOKENS, &[], &[])?;
        pre.push(prompt_len as f64 / g.prefill_s);
        dec.push((g.new_tokens.saturating_sub(1)) as f64 / g.decode_s.max(1e-9));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(&mut pre), median(&mut dec), prompt_len))
}

pub fn speed(model: &Decoder, method: Method) -> Result<InferenceSpeed> {
    let (prefill, decode, prompt_tokens) = speed_of(model).context("measuring inference speed")?;
    let merged = if method.has_adapters() {
        match merge_adapters(model)? {
            Some(m) => Some(speed_of(&m)?),
            None => None,
        }
    } else {
        None
    };
    Ok(InferenceSpeed {
        prompt_tokens,
        new_tokens: NEW_TOKENS,
        repeats: REPEATS,
        prefill_tokens_per_s: prefill,
        decode_tokens_per_s: decode,
        merged_prefill_tokens_per_s: merged.map(|m| m.0),
        merged_decode_tokens_per_s: merged.map(|m| m.1),
    })
}
